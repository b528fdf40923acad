//! Serves a benchmark landscape's truths over a line protocol, so peers in
//! other languages (benches/peers.py: Optuna, SMAC3) search the very same
//! landscapes as benches/pooled.rs without reimplementing them.
//!
//! Run: `cargo run --release --example landscape -- separable|interacting|demo [PLAIN_SEEDS]`.
//!
//! First line out: one JSON object describing the landscape:
//! - `space`: `[[name, [values...]], ...]`, the built-in space with each
//!   parameter's base value first (`SearchSpace::group_values` over
//!   `default_params()`, as the planner's plan and the brute force use);
//! - `defaults`: the base configuration;
//! - `bar`, `best_tps`, `best_params`: the brute-force best meeting the bar
//!   over every level of `INTERACTING_PARAMS` (the others at the base), as
//!   in benches/pooled.rs; `reachable_tps`: the same at bar + 0.0005;
//! - `cost`: the benches' cost model (start, eval run, crash, hang seconds);
//! - `plain_gpu_s`: the mean GPU-seconds of the plain 5-run pass over seeds
//!   0..PLAIN_SEEDS (default 100) under 2 % tok/s and 0.003 accuracy noise,
//!   the unit of benches/pooled.rs's budgets.
//!
//! Then, per line in: a JSON object of parameters (merged over the base; a
//! value may be a string or a number); per line out:
//! `{"serves":true,"accuracy":..,"tps":..}` or
//! `{"serves":false,"kind":"crash"|"hang"}`; a line that is not a JSON
//! object gets `{"error":"..."}`. Ends at end of input.

use std::io::{BufRead, Write};

use autotune::landscape::{demo_truth, interacting_truth, separable_truth};
use autotune::{
    Cost, Noise, Params, PlanConfig, Planner, SearchPlan, SearchSpace, Truth, default_params,
    simulate,
};
use serde_json::{Value, json};

const BAR: f64 = 0.88;
const NOISE: Noise = Noise {
    tps_rel_sd: 0.02,
    tps_abs_sd: 0.0,
    acc_abs_sd: 0.003,
    start_rel_sd: 0.0,
    start_acc_sd: 0.0,
};

type Landscape = fn(&Params) -> Truth;

/// Mean GPU-seconds of the plain 5-run pass (benches/pooled.rs's unit).
fn plain_gpu_s(l: Landscape, seeds: u64) -> f64 {
    let total: f64 = (0..seeds)
        .map(|seed| {
            let planner = Planner::new(
                PlanConfig {
                    space: SearchSpace::builtin(),
                    base: default_params(),
                    goal: autotune::Goal::default_for(BAR),
                    skip_existing: false,
                    eval_runs: 5,
                    policy: None,
                    search: SearchPlan::ONE_PASS,
                },
                [],
            );
            simulate(planner, &l, 5, NOISE, Cost::default(), seed).gpu_s
        })
        .sum();
    total / seeds.max(1) as f64
}

fn answer(l: Landscape, line: &str) -> Value {
    let Ok(Value::Object(obj)) = serde_json::from_str::<Value>(line) else {
        return json!({"error": "expected one JSON object of parameters per line"});
    };
    let mut p = default_params();
    for (k, v) in obj {
        let v = match v {
            Value::String(s) => s,
            other => other.to_string(),
        };
        p.insert(k, v);
    }
    match l(&p) {
        Truth::Serves { accuracy, tps } => {
            json!({"serves": true, "accuracy": accuracy, "tps": tps})
        }
        Truth::Crashes => json!({"serves": false, "kind": "crash"}),
        Truth::Hangs => json!({"serves": false, "kind": "hang"}),
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let name = args.next().unwrap_or_default();
    let l: Landscape = match name.as_str() {
        "separable" => separable_truth,
        "interacting" => interacting_truth,
        "demo" => demo_truth,
        _ => {
            eprintln!("usage: landscape separable|interacting|demo [PLAIN_SEEDS]");
            std::process::exit(2);
        }
    };
    let plain_seeds: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(100);
    let base = default_params();
    let space: Vec<(String, Vec<String>)> = SearchSpace::builtin()
        .groups
        .iter()
        .map(|(k, c)| (k.clone(), SearchSpace::group_values(&base, k, c)))
        .collect();
    let (best_tps, best_params) = autotune::landscape::brute_force(&l, BAR);
    let (reachable_tps, _) = autotune::landscape::brute_force(&l, BAR + 0.0005);
    let cost = Cost::default();
    let header = json!({
        "landscape": name,
        "space": space,
        "defaults": base,
        "bar": BAR,
        "best_tps": best_tps,
        "best_params": best_params,
        "reachable_tps": reachable_tps,
        "cost": {
            "start_s": cost.start_s,
            "eval_run_s": cost.eval_run_s,
            "crash_s": cost.crash_s,
            "hang_s": cost.timeout_s,
        },
        "eval_runs": 5,
        "noise": {"tps_rel_sd": NOISE.tps_rel_sd, "acc_abs_sd": NOISE.acc_abs_sd},
        "plain_gpu_s": plain_gpu_s(l, plain_seeds),
        "plain_seeds": plain_seeds,
    });
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    writeln!(out, "{header}").unwrap();
    out.flush().unwrap();
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        if line.trim().is_empty() {
            continue;
        }
        if writeln!(out, "{}", answer(l, &line))
            .and_then(|_| out.flush())
            .is_err()
        {
            break;
        }
    }
}
