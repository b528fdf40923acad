//! Flags, bad input (exit 2 with a message naming the flag or file),
//! --dry_run and --selftest.

mod common;

use common::*;

fn autotune(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(bin())
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap()
}

fn assert_usage_error(o: &std::process::Output, needle: &str) {
    assert_eq!(o.status.code(), Some(2), "{}", text(o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(needle), "expected {needle:?} in: {err}");
}

#[test]
fn dry_run_prints_55_trials_and_50_keys() {
    let d = tempfile::tempdir().unwrap();
    sim_repo(d.path());
    let o = autotune(
        d.path(),
        &[
            "--dry_run",
            "--server_cmd",
            "bash run_model.sh",
            "--eval_cmd",
            "bash eval_local.sh",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "[dry_run] trials~=55");
    assert_eq!(lines.len(), 51);
    assert!(lines[1].starts_with("FREQUENCY_PENALTY=0.1|GPU_MEMORY_UTILIZATION=0.97|"));
    // Nothing was written.
    assert!(!d.path().join("tune_results.jsonl").exists());
    assert!(!d.path().join("tune_status.json").exists());
}

#[test]
fn dry_run_with_merged_space_and_best_file() {
    let d = tempfile::tempdir().unwrap();
    sim_repo(d.path());
    let sp = space(
        d.path(),
        r#"{"MAX_MODEL_LEN": ["4096"], "NEW_KNOB": ["a", "b"]}"#,
    );
    std::fs::write(
        d.path().join("best_params.json"),
        r#"{"MAX_MODEL_LEN": "2048", "GPU_MEMORY_UTILIZATION": "0.98"}"#,
    )
    .unwrap();
    let o = std::process::Command::new(bin())
        .current_dir(d.path())
        .env("TUNE_SEARCH_SPACE_FILE", &sp)
        .args(["--dry_run", "--eval_cmd", "bash eval_local.sh"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    // As auto_tune.py: the base is the best file alone. 55, plus 4096 for
    // MAX_MODEL_LEN, plus two NEW_KNOB values, less FREQUENCY_PENALTY's
    // "0.1" (not in the base any more, not a candidate).
    assert!(out.starts_with("[dry_run] trials~=57\n"), "{out}");
    // The base comes from best_params.json.
    assert!(
        out.lines()
            .nth(1)
            .unwrap()
            .starts_with("GPU_MEMORY_UTILIZATION=0.98|MAX_MODEL_LEN=2048"),
        "{out}"
    );
    let o = autotune(
        d.path(),
        &[
            "--dry_run",
            "--eval_cmd",
            "bash eval_local.sh",
            "--no_builtin_space",
            "--search_space_file",
            sp.to_str().unwrap(),
        ],
    );
    assert!(
        String::from_utf8_lossy(&o.stdout).starts_with("[dry_run] trials~=4\n"),
        "{}",
        text(&o)
    );
}

#[test]
fn selftest_passes() {
    let d = tempfile::tempdir().unwrap();
    sim_repo(d.path());
    let o = autotune(
        d.path(),
        &["--selftest", "--eval_cmd", "bash eval_local.sh"],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("[selftest] OK"));
    assert!(
        !d.path().join("tune_results.jsonl").exists(),
        "selftest must not touch the results"
    );
}

#[test]
fn bad_input_exits_2_naming_the_flag_or_file() {
    let d = tempfile::tempdir().unwrap();
    sim_repo(d.path());
    let ev = ["--eval_cmd", "bash eval_local.sh"];
    let with = |extra: &[&str]| {
        let mut a: Vec<&str> = ev.to_vec();
        a.extend_from_slice(extra);
        autotune(d.path(), &a)
    };
    std::fs::write(d.path().join("bad.json"), "{\"A\": [1, 2,\n").unwrap();
    assert_usage_error(
        &with(&["--search_space_file", "bad.json", "--dry_run"]),
        "bad.json",
    );
    std::fs::write(d.path().join("empty.json"), "{\"A\": []}").unwrap();
    assert_usage_error(
        &with(&["--search_space_file", "empty.json", "--dry_run"]),
        "\"A\": the candidate list is empty",
    );
    assert_usage_error(
        &with(&["--repo", "/nonexistent/repo", "--dry_run"]),
        "--repo",
    );
    assert_usage_error(
        &autotune(d.path(), &["--dry_run"]),
        "eval_local.py not found",
    );
    std::fs::remove_file(d.path().join("run_model.sh")).unwrap();
    assert_usage_error(&with(&["--dry_run"]), "run_model.sh not found");
    sim_repo(d.path());
    assert_usage_error(&with(&["--eval_runs", "five"]), "--eval_runs");
    assert_usage_error(
        &with(&["--startup_timeout=-1", "--dry_run"]),
        "--startup_timeout",
    );
    assert_usage_error(&with(&["--port", "99999"]), "--port");
    assert_usage_error(
        &with(&["--acc_regex", "acc=[0-9.]+", "--dry_run"]),
        "--acc_regex",
    );
    assert_usage_error(
        &with(&["--no_builtin_space", "--dry_run"]),
        "--no_builtin_space",
    );
    std::fs::write(d.path().join("best_params.json"), "[1,").unwrap();
    assert_usage_error(&with(&["--dry_run"]), "best_params.json");
    // The bad best file was left as it was.
    assert_eq!(
        std::fs::read_to_string(d.path().join("best_params.json")).unwrap(),
        "[1,"
    );
}

#[test]
fn env_fallbacks_and_kebab_aliases() {
    let d = tempfile::tempdir().unwrap();
    sim_repo(d.path());
    let o = std::process::Command::new(bin())
        .current_dir(d.path())
        .env("TUNE_PORT_BUSY_RETRIES", "x")
        .args(["--dry-run", "--eval-cmd", "bash eval_local.sh"])
        .output()
        .unwrap();
    assert_usage_error(&o, "port_busy_retries");
}
