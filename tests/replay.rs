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
    let tail: Vec<&str> = out.lines().rev().take(16).collect();
    let tail = tail.into_iter().rev().collect::<Vec<_>>().join("\n");
    assert!(tail.contains("search finished"), "{tail}");
    assert!(
        tail.contains("VLLM_MAX_NUM_SEQS=768   (was 1024)"),
        "{tail}"
    );
    assert!(tail.contains("gain:    +"), "{tail}");
    assert!(tail.contains("beyond noise"), "{tail}");
    // Beyond the one pass the replay makes, the default search's later
    // passes and joint moves end on the same configuration; they try the
    // crashing memory share again with a smaller token budget (a crash
    // predicts only configurations asking at least as much of what is read
    // at start-up), but not the hanging sequence count with only a
    // per-request value changed, and its later passes reuse what was
    // measured.
    assert!(
        tail.contains("2 crashed") && tail.contains("1 timeout"),
        "{tail}"
    );
    // Configurations measured earlier in the run and handed out again are
    // not trials: a run without a results file reused nothing.
    assert!(!tail.contains("reused (already measured)"), "{tail}");
    // The crash says why, in the service log's words, on the headless line.
    assert!(
        out.lines()
            .skip_while(|l| !l.contains("GPU_MEMORY_UTILIZATION=0.99 crashed"))
            .skip(1)
            .take_while(|l| l.trim_start().starts_with("| "))
            .any(|l| l.contains("CUDA out of memory")),
        "{out}"
    );
    assert!(tail.contains("best_params.json"), "{tail}");
    // The report the outcome names was written, and opens as HTML.
    let report = std::fs::read_to_string(d.path().join("tune_report.html")).unwrap();
    assert!(report.starts_with("<!DOCTYPE html>") && report.contains("<svg"));
    assert!(tail.contains("tune_report.html"), "{tail}");
}

/// A hopeless trial is stopped after its second eval run, recorded
/// `pruned` with its reason, and never measured twice: the base of the
/// second group is the first group's winner, reused.
#[test]
fn hopeless_trials_are_pruned_and_nothing_is_measured_twice() {
    let d = tempfile::tempdir().unwrap();
    sim_repo(d.path());
    let sp = space(
        d.path(),
        r#"{"GPU_MEMORY_UTILIZATION": ["0.97", "0.98"], "VLLM_MAX_NUM_BATCHED_TOKENS": ["131072", "65536"]}"#,
    );
    let mut c = tune_cmd(d.path(), free_port());
    c.env("SIM_NOISE", "0.5")
        .args(space_args(&sp))
        .args(["--eval_runs", "5"]);
    let o = run(c);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    let recs = records(&d.path().join("tune_results.jsonl"));
    let keys: Vec<&str> = recs
        .iter()
        .map(|r| r["trial_key"].as_str().unwrap())
        .collect();
    let mut unique = keys.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(keys.len(), unique.len(), "a key measured twice: {keys:?}");
    assert_eq!(recs.len(), 3, "{out}");
    let pruned = &recs[2];
    assert_eq!(pruned["status"], "pruned", "{pruned}\n{out}");
    assert_eq!(
        pruned["eval_runs"].as_array().unwrap().len(),
        2,
        "stopped after its second run: {pruned}"
    );
    assert!(
        pruned["reason"].as_str().unwrap().contains("leader"),
        "{pruned}"
    );
    // Every record with two runs or more carries its 95 % interval.
    assert!(recs[0]["ci95_total_tps"].as_f64().unwrap() > 0.0);
    // A pruned trial never wins: the best file keeps the group's leader.
    let best: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.path().join("best_params.json")).unwrap())
            .unwrap();
    assert_eq!(best["VLLM_MAX_NUM_BATCHED_TOKENS"], "131072");
    // --search_policy plain runs the old way: the base is measured again.
    let d2 = tempfile::tempdir().unwrap();
    sim_repo(d2.path());
    let sp = space(
        d2.path(),
        r#"{"GPU_MEMORY_UTILIZATION": ["0.97", "0.98"], "VLLM_MAX_NUM_BATCHED_TOKENS": ["131072", "65536"]}"#,
    );
    let mut c = tune_cmd(d2.path(), free_port());
    c.env("SIM_NOISE", "0.5").args(space_args(&sp)).args([
        "--eval_runs",
        "5",
        "--search_policy",
        "plain",
    ]);
    let o = run(c);
    assert!(o.status.success(), "{}", text(&o));
    let recs = records(&d2.path().join("tune_results.jsonl"));
    assert_eq!(recs.len(), 4);
    assert!(recs.iter().all(|r| r["status"] == "ok"));
}
