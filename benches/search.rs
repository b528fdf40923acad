//! Search policies compared over many seeds through the simulated executor
//! (no processes: the planner replays whole searches in milliseconds).
//!
//! Run: `cargo bench --bench search` (add `-- SEEDS` for another count).
//! Prints, for each policy, the final configuration's true throughput
//! against what the same search reaches without noise, how often it ends
//! truly under the accuracy bar, and the GPU time spent against today's
//! plain search. Asserts nothing: the numbers go in
//! docs/noise-aware-search.md.
//! `DIAG=1` prints instead which parameters end away from the noise-free
//! choice, in how many seeds, and what each costs (separable landscape).
//! Both compare one pass: the #13 policies, not the later passes.
//! `LOOP=1` runs the same searches through the engine loop users run
//! (`simulate_loop`: the engine, its files and the simulated executor)
//! beside the in-process planner loop (`simulate`), to show the figures
//! hold for the real loop.

use autotune::landscape::{demo_truth, separable_truth};
use autotune::{
    Cost, Goal, Noise, NoisePolicy, Params, PlanConfig, Planner, SearchPlan, SearchSpace, Truth,
    default_params, simulate, simulate_loop,
};

const THRESHOLD: f64 = 0.88;
const RUNS: u32 = 5;
const NOISE: Noise = Noise {
    tps_rel_sd: 0.02,
    tps_abs_sd: 0.0,
    acc_abs_sd: 0.003,
    start_rel_sd: 0.0,
    start_acc_sd: 0.0,
};

type Landscape = fn(&Params) -> Truth;

fn truth_of(l: Landscape, p: &Params) -> (f64, f64) {
    match l(p) {
        Truth::Serves { accuracy, tps } => (accuracy, tps),
        _ => (0.0, 0.0),
    }
}

fn config(policy: Option<NoisePolicy>) -> PlanConfig {
    config_runs(policy, RUNS)
}

fn config_runs(policy: Option<NoisePolicy>, runs: u32) -> PlanConfig {
    config_plan(policy, runs, SearchPlan::ONE_PASS)
}

fn config_plan(policy: Option<NoisePolicy>, runs: u32, search: SearchPlan) -> PlanConfig {
    PlanConfig {
        space: SearchSpace::builtin(),
        base: default_params(),
        goal: Goal::default_for(THRESHOLD),
        skip_existing: false,
        eval_runs: runs,
        policy,
        search,
    }
}

struct Row {
    name: String,
    mean_gap: f64,
    worst_gap: f64,
    under_bar: usize,
    gpu: f64,
    trials: f64,
    runs: f64,
}

fn evaluate(
    l: Landscape,
    name: &str,
    policy: Option<NoisePolicy>,
    search: SearchPlan,
    seeds: u64,
    reference_tps: f64,
    plain_gpu: f64,
) -> Row {
    let mut gaps = Vec::new();
    let (mut under, mut gpu, mut trials, mut runs) = (0, 0.0, 0.0, 0.0);
    for seed in 0..seeds {
        let rep = simulate(
            Planner::new(config_plan(policy, RUNS, search), []),
            &l,
            RUNS,
            NOISE,
            Cost::default(),
            seed,
        );
        let (acc, tps) = truth_of(l, &rep.best);
        if acc < THRESHOLD {
            under += 1;
        }
        gaps.push((tps / reference_tps - 1.0) * 100.0);
        gpu += rep.gpu_s;
        trials += rep.trials as f64;
        runs += rep.eval_runs as f64;
    }
    let n = seeds as f64;
    Row {
        name: name.to_string(),
        mean_gap: gaps.iter().sum::<f64>() / n,
        worst_gap: gaps.iter().cloned().fold(f64::INFINITY, f64::min),
        under_bar: under,
        gpu: gpu / n / plain_gpu * 100.0,
        trials: trials / n,
        runs: runs / n,
    }
}

fn main() {
    let seeds: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(100);
    if std::env::var("DIAG").is_ok() {
        diag(separable_truth, seeds);
        return;
    }
    if std::env::var("LOOP").is_ok() {
        for (name, l) in [
            ("separable", separable_truth as Landscape),
            ("demo", demo_truth),
        ] {
            engine_loop(name, l, seeds);
        }
        return;
    }
    if std::env::var("PRICE").is_ok() {
        println!("separable landscape:");
        price(separable_truth, seeds);
        println!("demo landscape:");
        price(demo_truth, seeds);
        return;
    }
    let landscapes: [(&str, Landscape); 2] = [
        (
            "separable landscape (accuracy clearly above or under the bar)",
            separable_truth,
        ),
        (
            "demo landscape (its optimum sits 0.0005 above the bar)",
            demo_truth,
        ),
    ];
    for (name, l) in landscapes {
        compare(name, l, seeds);
        println!();
    }
}

fn compare(lname: &str, l: Landscape, seeds: u64) {
    // Today's plain search without noise: the reference configuration.
    let exact = simulate(
        Planner::new(config(None), []),
        &l,
        RUNS,
        Noise::NONE,
        Cost::default(),
        0,
    );
    let (_, reference_tps) = truth_of(l, &exact.best);
    let plain_gpu = {
        let mut g = 0.0;
        for seed in 0..seeds {
            g += simulate(
                Planner::new(config(None), []),
                &l,
                RUNS,
                NOISE,
                Cost::default(),
                seed,
            )
            .gpu_s;
        }
        g / seeds as f64
    };
    // Without noise, the noise-aware search must end on the same configuration.
    let aware_exact = simulate(
        Planner::new(config(Some(NoisePolicy::default())), []),
        &l,
        RUNS,
        Noise::NONE,
        Cost::default(),
        0,
    );
    println!(
        "{lname}, built-in space, {RUNS} runs, noise {}% tok/s and {} accuracy per run, {seeds} seeds",
        NOISE.tps_rel_sd * 100.0,
        NOISE.acc_abs_sd
    );
    println!(
        "without noise: plain ends at {:.1} tok/s; noise-aware ends on the same configuration: {} ({} trials, {:.0}% of plain's GPU time)",
        reference_tps,
        aware_exact.best == exact.best,
        aware_exact.trials,
        aware_exact.gpu_s / exact.gpu_s * 100.0
    );
    let mut variants: Vec<(String, Option<NoisePolicy>)> = vec![("plain (today)".into(), None)];
    let d = NoisePolicy::default();
    let table: [(&str, NoisePolicy); 10] = [
        ("noise-aware, one pass", d),
        ("  no pruning", NoisePolicy { prune: false, ..d }),
        (
            "  no re-measures",
            NoisePolicy {
                recheck_budget: 0,
                ..d
            },
        ),
        (
            "  re-measures 4",
            NoisePolicy {
                recheck_budget: 4,
                ..d
            },
        ),
        (
            "  re-measures 16",
            NoisePolicy {
                recheck_budget: 16,
                ..d
            },
        ),
        (
            "  prune at 80 %",
            NoisePolicy {
                confidence: 0.8,
                ..d
            },
        ),
        (
            "  close calls to 10 runs",
            NoisePolicy { max_runs: 10, ..d },
        ),
        ("  change only at 90 %", NoisePolicy { gate: 0.9, ..d }),
        ("  change only at 70 %", NoisePolicy { gate: 0.7, ..d }),
        (
            "  no accuracy guard",
            NoisePolicy {
                acc_guard: 0.5,
                ..d
            },
        ),
    ];
    for (name, p) in table {
        variants.push((name.to_string(), Some(p)));
    }
    println!(
        "{:<26} {:>9} {:>9} {:>6} {:>8} {:>7} {:>7}",
        "policy", "mean gap", "worst", "under", "GPU", "trials", "runs"
    );
    let mut rows: Vec<(String, Option<NoisePolicy>, SearchPlan)> = variants
        .into_iter()
        .map(|(n, p)| (n, p, SearchPlan::ONE_PASS))
        .collect();
    // The whole default: the same policy, passes until stable and the
    // refinement on top (#14), which spend more to find more.
    rows.push((
        "default: + passes, refine".into(),
        Some(d),
        SearchPlan::default(),
    ));
    for (name, p, search) in rows {
        let r = evaluate(l, &name, p, search, seeds, reference_tps, plain_gpu);
        println!(
            "{:<26} {:>8.2}% {:>8.2}% {:>6} {:>7.0}% {:>7.1} {:>7.1}",
            r.name, r.mean_gap, r.worst_gap, r.under_bar, r.gpu, r.trials, r.runs
        );
    }
}

/// Which parameters end away from the noise-free choice, and what it costs.
fn diag(l: Landscape, seeds: u64) {
    let exact = simulate(
        Planner::new(config(None), []),
        &l,
        RUNS,
        Noise::NONE,
        Cost::default(),
        0,
    );
    println!("reference: {:?}", truth_of(l, &exact.best));
    for (name, p) in [("plain", None), ("aware", Some(NoisePolicy::default()))] {
        let mut diff: std::collections::BTreeMap<String, (usize, f64)> = Default::default();
        for seed in 0..seeds {
            let rep = simulate(
                Planner::new(config(p), []),
                &l,
                RUNS,
                NOISE,
                Cost::default(),
                seed,
            );
            for (k, v) in &rep.best {
                if exact.best.get(k) != Some(v) {
                    let mut q = exact.best.clone();
                    q.insert(k.clone(), v.clone());
                    let (_, t) = truth_of(l, &q);
                    let e = diff.entry(format!("{k}={v}")).or_default();
                    e.0 += 1;
                    e.1 += (t / truth_of(l, &exact.best).1 - 1.0) * 100.0;
                }
            }
        }
        println!("{name}:");
        for (k, (n, g)) in diff {
            println!("  {k:<40} {n:>4} seeds, {:+.2}% each", g / n as f64);
        }
    }
}

/// What the aim would cost: the same searches given more eval runs
/// per trial, so each mean has less noise. The gap and the GPU time are
/// against the noise-free plain search and plain's GPU time at 5 runs.
fn price(l: Landscape, seeds: u64) {
    let exact = simulate(
        Planner::new(config(None), []),
        &l,
        RUNS,
        Noise::NONE,
        Cost::default(),
        0,
    );
    let reference_tps = truth_of(l, &exact.best).1;
    let plain_gpu = (0..seeds)
        .map(|seed| {
            simulate(
                Planner::new(config(None), []),
                &l,
                RUNS,
                NOISE,
                Cost::default(),
                seed,
            )
            .gpu_s
        })
        .sum::<f64>()
        / seeds as f64;
    println!(
        "{:<12} {:>5} {:>9} {:>9} {:>9} {:>6} {:>8}",
        "policy", "runs", "mean gap", "worst", ">1% off", "under", "GPU"
    );
    for runs in [5u32, 10, 20, 40, 80] {
        for (name, p) in [
            ("plain", None),
            ("noise-aware", Some(NoisePolicy::default())),
        ] {
            let mut gaps = Vec::new();
            let (mut under, mut gpu) = (0, 0.0);
            for seed in 0..seeds {
                let rep = simulate(
                    Planner::new(config_runs(p, runs), []),
                    &l,
                    runs,
                    NOISE,
                    Cost::default(),
                    seed,
                );
                let (acc, tps) = truth_of(l, &rep.best);
                under += usize::from(acc < THRESHOLD);
                gaps.push((tps / reference_tps - 1.0) * 100.0);
                gpu += rep.gpu_s;
            }
            let n = seeds as f64;
            println!(
                "{:<12} {:>5} {:>8.2}% {:>8.2}% {:>9} {:>6} {:>7.0}%",
                name,
                runs,
                gaps.iter().sum::<f64>() / n,
                gaps.iter().cloned().fold(f64::INFINITY, f64::min),
                gaps.iter().filter(|g| **g < -1.0).count(),
                under,
                gpu / n / plain_gpu * 100.0
            );
        }
    }
}

/// The plain pass and the noise-aware pass through both loops: the planner
/// driven in-process (`simulate`, what the tables above use) and the
/// engine loop with the simulated executor (`simulate_loop`, what users
/// run). Their noise draws differ (one stream against one per trial), so
/// they agree within the seeds' spread, not seed by seed.
fn engine_loop(lname: &str, l: Landscape, seeds: u64) {
    let exact = simulate(
        Planner::new(config(None), []),
        &l,
        RUNS,
        Noise::NONE,
        Cost::default(),
        0,
    );
    let (_, reference) = truth_of(l, &exact.best);
    println!(
        "{lname} landscape, one pass, {RUNS} runs, {seeds} seeds: planner loop against engine loop"
    );
    println!("policy        loop     mean gap  worst gap  under bar  trials  eval runs");
    for (pname, policy) in [
        ("plain", None),
        ("noise-aware", Some(NoisePolicy::default())),
    ] {
        for engine in [false, true] {
            let (mut gaps, mut under, mut trials, mut runs) = (Vec::new(), 0, 0.0, 0.0);
            for seed in 0..seeds {
                let rep = if engine {
                    simulate_loop(
                        config(policy),
                        std::sync::Arc::new(l),
                        NOISE,
                        Cost::default(),
                        seed,
                        1,
                    )
                } else {
                    simulate(
                        Planner::new(config(policy), []),
                        &l,
                        RUNS,
                        NOISE,
                        Cost::default(),
                        seed,
                    )
                };
                let (acc, tps) = truth_of(l, &rep.best);
                under += usize::from(acc < THRESHOLD);
                gaps.push((tps / reference - 1.0) * 100.0);
                trials += rep.trials as f64;
                runs += rep.eval_runs as f64;
            }
            let n = seeds as f64;
            println!(
                "{pname:<13} {:<8} {:>7.2} % {:>8.2} % {:>10} {:>7.1} {:>10.1}",
                if engine { "engine" } else { "planner" },
                gaps.iter().sum::<f64>() / n,
                gaps.iter().cloned().fold(f64::INFINITY, f64::min),
                under,
                trials / n,
                runs / n
            );
        }
    }
    println!();
}
