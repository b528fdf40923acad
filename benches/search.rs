//! Search policies compared over many seeds through the simulated executor
//! (no processes: the planner replays whole searches in milliseconds).
//!
//! Run: `cargo bench --bench search` (add `-- SEEDS` for another count).
//! Prints, for each policy, the final configuration's true throughput
//! against what the same search reaches without noise, how often it ends
//! truly under the accuracy bar, and the GPU time spent against today's
//! plain search. Asserts nothing: the numbers go in the README.

use autotune::landscape::demo_truth;
use autotune::{
    Cost, Noise, NoisePolicy, Params, PlanConfig, Planner, SearchSpace, Truth, default_params,
    simulate,
};

const THRESHOLD: f64 = 0.88;
const RUNS: u32 = 5;
const NOISE: Noise = Noise {
    tps_rel_sd: 0.02,
    acc_abs_sd: 0.003,
};

fn truth_of(p: &Params) -> (f64, f64) {
    match demo_truth(p) {
        Truth::Serves { accuracy, tps } => (accuracy, tps),
        _ => (0.0, 0.0),
    }
}

fn config(policy: Option<NoisePolicy>) -> PlanConfig {
    PlanConfig {
        space: SearchSpace::builtin(),
        base: default_params(),
        threshold: THRESHOLD,
        skip_existing: false,
        eval_runs: RUNS,
        policy,
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
    name: &str,
    policy: Option<NoisePolicy>,
    seeds: u64,
    reference_tps: f64,
    plain_gpu: f64,
) -> Row {
    let mut gaps = Vec::new();
    let (mut under, mut gpu, mut trials, mut runs) = (0, 0.0, 0.0, 0.0);
    for seed in 0..seeds {
        let rep = simulate(
            Planner::new(config(policy), []),
            &demo_truth,
            RUNS,
            NOISE,
            Cost::default(),
            seed,
        );
        let (acc, tps) = truth_of(&rep.best);
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
    // Today's plain search without noise: the reference configuration.
    let exact = simulate(
        Planner::new(config(None), []),
        &demo_truth,
        RUNS,
        Noise::NONE,
        Cost::default(),
        0,
    );
    let (_, reference_tps) = truth_of(&exact.best);
    let plain_gpu = {
        let mut g = 0.0;
        for seed in 0..seeds {
            g += simulate(
                Planner::new(config(None), []),
                &demo_truth,
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
        &demo_truth,
        RUNS,
        Noise::NONE,
        Cost::default(),
        0,
    );
    println!(
        "demo landscape, built-in space, {RUNS} runs, noise {}% tok/s and {} accuracy per run, {seeds} seeds",
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
    variants.push(("noise-aware (default)".into(), Some(d)));
    variants.push((
        "  no pruning".into(),
        Some(NoisePolicy { prune: false, ..d }),
    ));
    variants.push(("  no gate".into(), Some(NoisePolicy { gate: false, ..d })));
    variants.push((
        "  close calls to 10 runs".into(),
        Some(NoisePolicy { max_runs: 10, ..d }),
    ));
    variants.push((
        "  confidence 0.8".into(),
        Some(NoisePolicy {
            confidence: 0.8,
            ..d
        }),
    ));
    variants.push((
        "  confidence 0.9".into(),
        Some(NoisePolicy {
            confidence: 0.9,
            ..d
        }),
    ));
    variants.push((
        "  conf 0.8, close to 10".into(),
        Some(NoisePolicy {
            confidence: 0.8,
            max_runs: 10,
            ..d
        }),
    ));
    println!(
        "{:<26} {:>9} {:>9} {:>6} {:>8} {:>7} {:>7}",
        "policy", "mean gap", "worst", "under", "GPU", "trials", "runs"
    );
    for (name, p) in variants {
        let r = evaluate(&name, p, seeds, reference_tps, plain_gpu);
        println!(
            "{:<26} {:>8.2}% {:>8.2}% {:>6} {:>7.0}% {:>7.1} {:>7.1}",
            r.name, r.mean_gap, r.worst_gap, r.under_bar, r.gpu, r.trials, r.runs
        );
    }
}
