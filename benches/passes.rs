//! The search beyond one pass, through the simulated executor: one pass of
//! coordinate ascent, passes until stable, and passes plus the refinement's
//! joint moves (the default), on a landscape whose system parameters
//! interact (`interacting_truth`: the best token budget follows the number
//! of sequences, the KV-cache room sets the best number of sequences, a
//! short model length truncates long answers, a high memory share with a
//! large token budget runs out of memory), the built-in candidates, 2 % run
//! noise on tok/s and 0.3 % on accuracy, and on the separable and demo
//! landscapes without noise.
//!
//! Run: `cargo bench --profile dev --bench passes [-- SEEDS]`. With
//! `EXPORT=file.json` it also writes sample points of the interacting
//! landscape, its brute-force best and the trial budget for
//! `benches/optuna_tpe.py`, whose table has the same columns
//! (`benches/compare_search.sh` runs both). With `GAPS=1` it prints, per
//! seed of the default search, the parameters that end away from the
//! brute-force best and the single moves that would still gain. Asserts
//! nothing: the numbers go in docs/passes-and-joint-moves.md.

use autotune::landscape::{
    INTERACTING_PARAMS, demo_truth, interacting_model, interacting_truth, separable_truth,
};
use autotune::{
    Cost, Noise, NoisePolicy, Params, PlanConfig, Planner, SearchPlan, SearchSpace, Status, Truth,
    default_params, simulate,
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

fn config(search: SearchPlan) -> PlanConfig {
    config_runs(search, RUNS)
}

fn config_runs(search: SearchPlan, runs: u32) -> PlanConfig {
    PlanConfig {
        space: SearchSpace::builtin(),
        base: default_params(),
        goal: autotune::Goal::default_for(THRESHOLD),
        skip_existing: false,
        eval_runs: runs,
        policy: Some(NoisePolicy::default()),
        search,
    }
}

/// The best qualifying configuration among the built-in candidates of the
/// parameters the interacting landscape reads (the rest at the defaults).
fn brute_force() -> (f64, Params) {
    let space = SearchSpace::builtin();
    let dims: Vec<(String, Vec<String>)> = INTERACTING_PARAMS
        .iter()
        .map(|n| space.groups.iter().find(|(k, _)| k == n).unwrap().clone())
        .collect();
    let defaults = default_params();
    let mut idx = vec![0usize; dims.len()];
    let mut best = (0.0, Params::new());
    loop {
        let get = |n: &str| -> String {
            match dims.iter().position(|(k, _)| k == n) {
                Some(i) => dims[i].1[idx[i]].clone(),
                None => defaults.get(n).cloned().unwrap_or_default(),
            }
        };
        if let Truth::Serves { accuracy, tps } = interacting_model(&get)
            && accuracy >= THRESHOLD
            && tps > best.0
        {
            let mut p = defaults.clone();
            for (i, (k, vs)) in dims.iter().enumerate() {
                p.insert(k.clone(), vs[idx[i]].clone());
            }
            best = (tps, p);
        }
        let mut k = 0;
        loop {
            if k == idx.len() {
                return best;
            }
            idx[k] += 1;
            if idx[k] < dims[k].1.len() {
                break;
            }
            idx[k] = 0;
            k += 1;
        }
    }
}

struct Row {
    gap: f64,
    worst: f64,
    within1: usize,
    within05: usize,
    under: usize,
    trials: f64,
    failed: f64,
    predicted: f64,
    gpu_s: f64,
}

fn evaluate(l: Landscape, search: SearchPlan, noise: Noise, seeds: u64, best: f64) -> Row {
    evaluate_runs(l, search, noise, seeds, best, RUNS)
}

fn evaluate_runs(
    l: Landscape,
    search: SearchPlan,
    noise: Noise,
    seeds: u64,
    best: f64,
    runs: u32,
) -> Row {
    let mut r = Row {
        gap: 0.0,
        worst: 0.0,
        within1: 0,
        within05: 0,
        under: 0,
        trials: 0.0,
        failed: 0.0,
        predicted: 0.0,
        gpu_s: 0.0,
    };
    for seed in 0..seeds {
        let rep = simulate(
            Planner::new(config_runs(search, runs), []),
            &l,
            runs,
            noise,
            Cost::default(),
            seed,
        );
        let (acc, tps) = truth_of(l, &rep.best);
        let gap = (1.0 - tps / best) * 100.0;
        r.gap += gap;
        r.worst = r.worst.max(gap);
        r.within1 += usize::from(gap <= 1.0 && acc >= THRESHOLD);
        r.within05 += usize::from(gap <= 0.5 && acc >= THRESHOLD);
        r.under += usize::from(acc < THRESHOLD);
        r.trials += rep.trials as f64;
        // Started trials that crashed or hung: the same count as Optuna's
        // failed trials in benches/optuna_tpe.py.
        r.failed += rep
            .records
            .iter()
            .filter(|x| matches!(x.status, Status::Crashed | Status::Timeout))
            .count() as f64;
        r.predicted += rep.predicted as f64;
        r.gpu_s += rep.gpu_s;
        if std::env::var("GAPS").is_ok() && search == SearchPlan::default() {
            // Where the gap comes from: the parameters that end away from
            // the brute-force best, and the single moves that would still
            // gain (noise in the decisions) or none (a local optimum).
            static BEST: std::sync::OnceLock<Params> = std::sync::OnceLock::new();
            let bp = BEST.get_or_init(|| brute_force().1);
            let d: Vec<String> = bp
                .iter()
                .filter(|(k, v)| rep.best.get(*k) != Some(*v))
                .map(|(k, v)| format!("{k}={} (best {v})", rep.best[k]))
                .collect();
            let space = SearchSpace::builtin();
            let mut better1 = Vec::new();
            for (k, vs) in &space.groups {
                for v in vs {
                    let mut q = rep.best.clone();
                    q.insert(k.clone(), v.clone());
                    let (a, t) = truth_of(l, &q);
                    if a >= THRESHOLD && t > tps * 1.001 {
                        better1.push(format!("{k}={v} +{:.1}%", (t / tps - 1.0) * 100.0));
                    }
                }
            }
            println!(
                "seed {seed} gap {gap:.2}% trials {} away from the best: {} | single moves up: {}",
                rep.trials,
                d.join(", "),
                better1.join(", ")
            );
        }
    }
    let n = seeds as f64;
    r.gap /= n;
    r.trials /= n;
    r.failed /= n;
    r.predicted /= n;
    r.gpu_s /= n;
    r
}

fn main() {
    let seeds: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(100);
    let (best_tps, best) = brute_force();
    if let Ok(t) = std::env::var("TRACE") {
        // TRACE=seed,runs: every trial of one noisy search.
        // TRACE=seed,runs,landscape (interacting, separable, demo; add
        // ",exact" for no noise).
        let v: Vec<&str> = t.split(',').collect();
        let l: Landscape = match v.get(2).copied().unwrap_or("interacting") {
            "separable" => separable_truth,
            "demo" => demo_truth,
            _ => interacting_truth,
        };
        let noise = if v.get(3) == Some(&"exact") {
            Noise::NONE
        } else {
            NOISE
        };
        let runs: u32 = v[1].parse().unwrap();
        let rep = simulate(
            Planner::new(config_runs(SearchPlan::default(), runs), []),
            &l,
            runs,
            noise,
            Cost::default(),
            v[0].parse().unwrap(),
        );
        for r in &rep.records {
            let truth = truth_of(l, &r.params).1;
            println!(
                "{:<60} {:<40} {:?} {:.1} (true {:.1})",
                r.param_under_test.clone().unwrap_or_default(),
                r.value_under_test().unwrap_or_default(),
                r.status,
                r.avg_total_tps().unwrap_or(0.0),
                truth
            );
        }
        return;
    }
    if std::env::var("PRICE").is_ok() {
        price(seeds, best_tps);
        return;
    }
    let changed: Vec<String> = best
        .iter()
        .filter(|(k, v)| default_params().get(*k) != Some(*v))
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    println!(
        "interacting landscape: best among the candidates {best_tps:.1} tok/s ({})",
        changed.join(" ")
    );
    let until_stable = SearchPlan {
        refine: false,
        ..SearchPlan::default()
    };
    let variants = [
        ("one pass", SearchPlan::ONE_PASS),
        ("passes until stable", until_stable),
        ("passes + refinement (default)", SearchPlan::default()),
    ];
    let one = evaluate(
        interacting_truth,
        SearchPlan::ONE_PASS,
        NOISE,
        seeds,
        best_tps,
    );
    println!(
        "{seeds} seeds, {}% tok/s and {} accuracy noise per run, {RUNS} runs",
        NOISE.tps_rel_sd * 100.0,
        NOISE.acc_abs_sd
    );
    println!(
        "{:<32} {:>8} {:>8} {:>8} {:>8} {:>6} {:>7} {:>9} {:>9} {:>9}",
        "search",
        "mean gap",
        "worst",
        "<=1 %",
        "<=0.5 %",
        "under",
        "trials",
        "x 1 pass",
        "failed",
        "predicted"
    );
    let mut budget = 0.0;
    for (name, s) in variants {
        let r = evaluate(interacting_truth, s, NOISE, seeds, best_tps);
        if s == SearchPlan::default() {
            budget = r.trials;
        }
        println!(
            "{:<32} {:>7.2}% {:>7.2}% {:>7.0}% {:>7.0}% {:>6} {:>7.1} {:>8.2}x {:>9.1} {:>9.1}",
            name,
            r.gap,
            r.worst,
            r.within1 as f64 / seeds as f64 * 100.0,
            r.within05 as f64 / seeds as f64 * 100.0,
            r.under,
            r.trials,
            r.trials / one.trials,
            r.failed,
            r.predicted
        );
    }
    println!();
    for (lname, l) in [
        ("separable", separable_truth as Landscape),
        ("demo", demo_truth as Landscape),
        ("interacting", interacting_truth as Landscape),
    ] {
        let one = simulate(
            Planner::new(config(SearchPlan::ONE_PASS), []),
            &l,
            RUNS,
            Noise::NONE,
            Cost::default(),
            0,
        );
        let all = simulate(
            Planner::new(config(SearchPlan::default()), []),
            &l,
            RUNS,
            Noise::NONE,
            Cost::default(),
            0,
        );
        println!(
            "{lname} landscape without noise: one pass {:.1} tok/s in {} trials; default {:.1} tok/s in {} trials ({:.2}x), same configuration: {}",
            truth_of(l, &one.best).1,
            one.trials,
            truth_of(l, &all.best).1,
            all.trials,
            all.trials as f64 / one.trials as f64,
            one.best == all.best
        );
    }
    if std::env::var("DIAG").is_ok() {
        let rep = simulate(
            Planner::new(config(SearchPlan::default()), []),
            &(interacting_truth as Landscape),
            RUNS,
            Noise::NONE,
            Cost::default(),
            0,
        );
        for r in &rep.records {
            let d: Vec<String> = r
                .params
                .iter()
                .filter(|(k, v)| default_params().get(*k) != Some(*v))
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            println!(
                "{:?} {:?} {:.1} {:.4} {}",
                r.param_under_test,
                r.status,
                r.avg_total_tps().unwrap_or(0.0),
                r.avg_accuracy().unwrap_or(0.0),
                d.join(" ")
            );
        }
    }
    if let Ok(path) = std::env::var("EXPORT") {
        // Points for the Python reimplementation to check against, and the
        // budget Optuna gets.
        let space = SearchSpace::builtin();
        let mut rng = fastrand::Rng::with_seed(1);
        let mut points = Vec::new();
        for _ in 0..300 {
            let mut p = default_params();
            for (k, vs) in &space.groups {
                p.insert(k.clone(), vs[rng.usize(..vs.len())].clone());
            }
            let t = match interacting_truth(&p) {
                Truth::Serves { accuracy, tps } => {
                    serde_json::json!({"accuracy": accuracy, "tps": tps})
                }
                Truth::Crashes => serde_json::json!("crashes"),
                Truth::Hangs => serde_json::json!("hangs"),
            };
            points.push(serde_json::json!({"params": p, "truth": t}));
        }
        let doc = serde_json::json!({
            "budget": budget,
            "one_pass_trials": one.trials,
            "seeds": seeds,
            "best_tps": best_tps,
            "best": best,
            "space": space.groups,
            "defaults": default_params(),
            "points": points,
        });
        std::fs::write(&path, serde_json::to_string_pretty(&doc).unwrap()).unwrap();
        println!("wrote {path}");
    }
}

/// What the aims would cost: the default search given more eval
/// runs per trial (less noise in each mean), against one pass at 5 runs.
fn price(seeds: u64, best_tps: f64) {
    let one = evaluate(
        interacting_truth,
        SearchPlan::ONE_PASS,
        NOISE,
        seeds,
        best_tps,
    );
    println!(
        "{:>5} {:>8} {:>8} {:>8} {:>8} {:>6} {:>9} {:>9}",
        "runs", "mean gap", "worst", "<=1 %", "<=0.5 %", "under", "x trials", "x GPU"
    );
    for runs in std::env::var("RUNS")
        .map(|r| {
            r.split(",")
                .map(|x| x.parse().unwrap())
                .collect::<Vec<u32>>()
        })
        .unwrap_or(vec![5, 10, 20, 40, 80, 500])
    {
        let r = evaluate_runs(
            interacting_truth,
            SearchPlan::default(),
            NOISE,
            seeds,
            best_tps,
            runs,
        );
        println!(
            "{:>5} {:>7.2}% {:>7.2}% {:>7.0}% {:>7.0}% {:>6} {:>8.2}x {:>8.2}x",
            runs,
            r.gap,
            r.worst,
            r.within1 as f64 / seeds as f64 * 100.0,
            r.within05 as f64 / seeds as f64 * 100.0,
            r.under,
            r.trials / one.trials,
            r.gpu_s / one.gpu_s
        );
    }
}
