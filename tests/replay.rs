//! The planner replayed in-process by the simulated executor ends on the
//! same configuration as a real run of `autotune demo` (without noise), and
//! the run ends by telling its outcome.

mod common;

use common::*;

/// Where the demo's built-in search ends without noise; the in-process
/// replay (src/sim.rs, `planner_replays_the_demo_search`) asserts the same.
const DEMO_BEST: &[(&str, &str)] = &[
    ("GPU_MEMORY_UTILIZATION", "0.98"),
    ("VLLM_MAX_NUM_BATCHED_TOKENS", "196608"),
    ("VLLM_MAX_NUM_SEQS", "768"),
    ("STOP_ON_DOUBLE_NEWLINE", "1"),
    ("OUTPUT_MAX_SENTENCES", "4"),
    ("FREQUENCY_PENALTY", "0.00"),
];

#[test]
fn real_demo_run_ends_where_the_simulated_replay_does() {
    let d = tempfile::tempdir().unwrap();
    let o = std::process::Command::new(bin())
        .env("SIM_NOISE", "0")
        .env("SIM_EVAL_FAIL_RATE", "0")
        .env("SIM_STARTUP_S", "0.05")
        .env("SIM_EVAL_S", "0.01")
        .args(["demo", "--headless", "--eval_runs", "2", "--dir"])
        .arg(d.path())
        .output()
        .unwrap();
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    let best: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.path().join("best_params.json")).unwrap())
            .unwrap();
    let defaults: Vec<(String, String)> = autotune::DEFAULT_PARAMS
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    for (k, v) in &defaults {
        let want = DEMO_BEST
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.to_string())
            .unwrap_or_else(|| v.clone());
        assert_eq!(best[k], want.as_str(), "{k} in best_params.json\n{out}");
    }
    // The outcome is the last thing said: the winner's changes, its figures
    // against the start, the gain, and where the files are.
    let tail: Vec<&str> = out.lines().rev().take(14).collect();
    let tail = tail.into_iter().rev().collect::<Vec<_>>().join("\n");
    assert!(tail.contains("search finished"), "{tail}");
    assert!(
        tail.contains("VLLM_MAX_NUM_SEQS=768   (was 1024)"),
        "{tail}"
    );
    assert!(tail.contains("gain:    +"), "{tail}");
    assert!(tail.contains("beyond noise"), "{tail}");
    assert!(
        tail.contains("1 crashed") && tail.contains("1 timeout"),
        "{tail}"
    );
    assert!(tail.contains("16 reused (already measured)"), "{tail}");
    assert!(tail.contains("best_params.json"), "{tail}");
}
