//! Any eval, any objective: a real tuning run whose eval prints
//! `vllm bench serve`'s summary, tuned for output tok/s under a p99 TTFT
//! limit with `--metric`, `--objective` and `--constraint`. The eval is a
//! shell script whose figures follow VLLM_MAX_NUM_SEQS exactly: both output
//! throughput and p99 TTFT grow with it, so the limit binds and the winner
//! is the fastest configuration within it, not the fastest overall. Bad
//! goal flags exit 2 naming the flag.

mod common;

use std::path::Path;

use common::*;

/// `vllm bench serve`'s summary, as vLLM prints it, with figures that
/// depend on VLLM_MAX_NUM_SEQS: output tok/s = 10 x seqs, p99 TTFT =
/// 2 x seqs ms.
const BENCH: &str = r#"#!/bin/bash
s=${VLLM_MAX_NUM_SEQS:?}
out=$((s * 10)); ttft=$((s * 2)); mean=$((s + 5))
echo "Starting initial single prompt test run..."
echo "============ Serving Benchmark Result ============"
printf '%-40s %-10s\n' "Successful requests:" 200
printf '%-40s %-10.2f\n' "Benchmark duration (s):" 12.5
printf '%-40s %-10s\n' "Total input tokens:" 51200
printf '%-40s %-10s\n' "Total generated tokens:" 25600
printf '%-40s %-10.2f\n' "Request throughput (req/s):" "$((s / 8))"
printf '%-40s %-10.2f\n' "Output token throughput (tok/s):" "$out"
printf '%-40s %-10.2f\n' "Peak output token throughput (tok/s):" "$((out * 2))"
printf '%-40s %-10.2f\n' "Total Token throughput (tok/s):" "$((out * 3))"
echo "---------------Time to First Token----------------"
printf '%-40s %-10.2f\n' "Mean TTFT (ms):" "$mean"
printf '%-40s %-10.2f\n' "Median TTFT (ms):" "$s"
printf '%-40s %-10.2f\n' "P99 TTFT (ms):" "$ttft"
echo "-----Time per Output Token (excl. 1st token)------"
printf '%-40s %-10.2f\n' "Mean TPOT (ms):" 20
printf '%-40s %-10.2f\n' "Median TPOT (ms):" 19
printf '%-40s %-10.2f\n' "P99 TPOT (ms):" 31
echo "---------------Inter-token Latency----------------"
printf '%-40s %-10.2f\n' "Mean ITL (ms):" 20
printf '%-40s %-10.2f\n' "Median ITL (ms):" 18
printf '%-40s %-10.2f\n' "P99 ITL (ms):" 60
echo "=================================================="
"#;

/// The `--metric` flags for the summary's fields.
const METRICS: &[&str] = &[
    r"req_per_s=Request throughput \(req/s\):\s*([0-9.]+)",
    r"output_tps=(?m)^Output token throughput \(tok/s\):\s*([0-9.]+)",
    r"mean_ttft_ms=Mean TTFT \(ms\):\s*([0-9.]+)",
    r"median_ttft_ms=Median TTFT \(ms\):\s*([0-9.]+)",
    r"p99_ttft_ms=P99 TTFT \(ms\):\s*([0-9.]+)",
    r"mean_tpot_ms=Mean TPOT \(ms\):\s*([0-9.]+)",
    r"p99_itl_ms=P99 ITL \(ms\):\s*([0-9.]+)",
];

/// A repo with the simulated service and the bench script, searching
/// VLLM_MAX_NUM_SEQS only.
fn bench_repo(dir: &Path) -> std::path::PathBuf {
    sim_repo(dir);
    std::fs::write(dir.join("bench.sh"), BENCH).unwrap();
    space(dir, r#"{"VLLM_MAX_NUM_SEQS": [64, 128, 256, 512]}"#)
}

fn goal_cmd(dir: &Path, space: &Path, extra: &[&str]) -> std::process::Command {
    let mut c = tune_cmd(dir, free_port());
    c.args(space_args(space))
        .args(["--eval_cmd", "bash bench.sh", "--search_policy", "plain"]);
    for m in METRICS {
        c.args(["--metric", m]);
    }
    c.args(extra);
    c
}

#[test]
fn tunes_output_throughput_under_a_p99_ttft_limit() {
    let d = tempfile::tempdir().unwrap();
    let space = bench_repo(d.path());
    let o = run(goal_cmd(
        d.path(),
        &space,
        &[
            "--objective",
            "output_tps:max",
            "--constraint",
            "p99_ttft_ms<=600",
        ],
    ));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    // The end-of-run summary says the goal.
    assert!(
        text(&o).contains("goal:    max output_tps subject to p99_ttft_ms <= 600"),
        "{}",
        text(&o)
    );

    // Every run parsed every metric; the records keep them and their means,
    // and the built-in fields are still there (empty: the bench prints no
    // accuracy), so a run without accuracy is ok under this goal.
    let recs = records(&d.path().join("tune_results.jsonl"));
    let mut seen = Vec::new();
    for r in &recs {
        assert_eq!(r["status"], "ok", "{r}");
        let seqs: f64 = r["params"]["VLLM_MAX_NUM_SEQS"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        seen.push(seqs as u32);
        for run in r["eval_runs"].as_array().unwrap() {
            assert_eq!(run["ok"], true, "{run}");
            let m = &run["metrics"];
            assert_eq!(m["output_tps"], seqs * 10.0, "{run}");
            assert_eq!(m["p99_ttft_ms"], seqs * 2.0, "{run}");
            assert_eq!(m["mean_ttft_ms"], seqs + 5.0, "{run}");
            assert_eq!(m["mean_tpot_ms"], 20.0, "{run}");
            assert_eq!(m["p99_itl_ms"], 60.0, "{run}");
            assert!(run["accuracy"].is_null(), "{run}");
        }
        let avg = &r["avg_metrics"];
        assert_eq!(avg["output_tps"], seqs * 10.0, "{r}");
        assert_eq!(avg["p99_ttft_ms"], seqs * 2.0, "{r}");
        assert!(r["avg_accuracy"].is_null(), "{r}");
        assert!(r.get("avg_total_tps").is_some(), "{r}");
    }
    // The new field comes after every older one, as written.
    let raw = std::fs::read_to_string(d.path().join("tune_results.jsonl")).unwrap();
    for line in raw.lines() {
        let (Some(new), Some(old)) = (line.find("\"avg_metrics\""), line.find("\"trial_index\""))
        else {
            panic!("{line}");
        };
        assert!(new > old, "{line}");
    }
    for v in [64, 128, 256, 512] {
        assert!(seen.contains(&v), "{v} not measured: {seen:?}");
    }

    // The status file says the goal and the best record by it: 256 is the
    // fastest within p99 TTFT <= 600 ms (512 is faster but 1024 ms).
    let st = status(d.path());
    assert_eq!(
        st["goal_text"], "max output_tps subject to p99_ttft_ms <= 600",
        "{st}"
    );
    assert_eq!(st["goal"]["constraints"][0]["op"], "<=", "{st}");
    assert_eq!(
        st["best_record"]["params"]["VLLM_MAX_NUM_SEQS"], "256",
        "{st}"
    );
    assert_eq!(st["best_record"]["objective"], 2560.0, "{st}");

    // Waits for the planner to choose by the goal: the winner (the base at
    // the end, best_params.json) is 256, not 512.
    let best = std::fs::read_to_string(d.path().join("best_params.json")).unwrap_or_else(|e| {
        panic!(
            "best_params.json ({e}): no winner was chosen; the planner must decide groups by the goal\n{}",
            text(&o)
        )
    });
    let best: serde_json::Value = serde_json::from_str(&best).unwrap();
    assert_eq!(best["VLLM_MAX_NUM_SEQS"], "256", "{best}\n{}", text(&o));
}

#[test]
fn a_run_missing_a_constrained_metric_is_not_ok() {
    let d = tempfile::tempdir().unwrap();
    let space = space(d.path(), r#"{"VLLM_MAX_NUM_SEQS": [64]}"#);
    sim_repo(d.path());
    std::fs::write(
        d.path().join("bench.sh"),
        "echo 'Output token throughput (tok/s):   640.00'\n",
    )
    .unwrap();
    let o = run(goal_cmd(
        d.path(),
        &space,
        &[
            "--objective",
            "output_tps",
            "--constraint",
            "p99_ttft_ms<=600",
        ],
    ));
    let recs = records(&d.path().join("tune_results.jsonl"));
    assert!(!recs.is_empty(), "{}", text(&o));
    for r in &recs {
        assert_eq!(r["status"], "failed", "{r}");
        for run in r["eval_runs"].as_array().unwrap() {
            assert_eq!(run["ok"], false, "{run}");
            assert_eq!(run["metrics"]["output_tps"], 640.0, "{run}");
            assert!(
                run["error"]
                    .as_str()
                    .unwrap()
                    .contains("p99_ttft_ms not found"),
                "{run}"
            );
        }
    }
}

#[test]
fn bad_goal_flags_exit_2_naming_the_flag() {
    let d = tempfile::tempdir().unwrap();
    let space = bench_repo(d.path());
    for (args, needle) in [
        (&["--metric", "p99_ttft_ms"][..], "--metric"),
        (&["--metric", "9x=a([0-9]+)"], "--metric"),
        (&["--metric", "x-y=a([0-9]+)"], "identifier"),
        (&["--metric", "x=no group"], "--metric x"),
        (&["--metric", "x=(["], "--metric x"),
        (&["--metric", "x=a(1)", "--metric", "x=b(2)"], "--metric x"),
        (&["--objective", "nope"], "--objective"),
        (&["--objective", "output_tps:up"], "--objective"),
        (&["--objective_dir", "sideways"], "--objective_dir"),
        (
            &["--objective", "output_tps:max", "--objective_dir", "min"],
            "--objective_dir",
        ),
        (&["--constraint", "p99_ttft_ms<600"], "--constraint"),
        (&["--constraint", "p99_ttft_ms<=fast"], "--constraint"),
        (&["--constraint", "unknown<=3"], "--constraint"),
    ] {
        let mut c = goal_cmd(d.path(), &space, args);
        c.arg("--dry_run");
        let o = run(c);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains(needle),
            "{args:?}: expected {needle:?} in {err}"
        );
    }
    assert!(!d.path().join("tune_results.jsonl").exists());
}

#[test]
fn dry_run_says_the_goal() {
    let d = tempfile::tempdir().unwrap();
    let space = bench_repo(d.path());
    let mut c = goal_cmd(
        d.path(),
        &space,
        &[
            "--objective",
            "output_tps",
            "--constraint",
            "p99_ttft_ms<=600",
            "--accuracy_threshold",
            "0.5",
        ],
    );
    c.arg("--dry_run");
    let o = run(c);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains("max output_tps subject to p99_ttft_ms <= 600, accuracy >= 0.5"),
        "{}",
        text(&o)
    );
    // Today's goal by default.
    let mut c = tune_cmd(d.path(), free_port());
    c.args(space_args(&space)).arg("--dry_run");
    let o = run(c);
    assert!(
        text(&o).contains("max total_tps subject to accuracy >= 0.88"),
        "{}",
        text(&o)
    );
}
