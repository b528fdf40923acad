//! Hostile input refused before anything runs or is written (issue #22),
//! against the real binary: an output path naming another of the run's
//! files, clashing devices and variables, bad space files, patterns and
//! constraints; quoted eval commands accepted; lock files never followed
//! through a symlink and removed when the run ends.

mod common;

use std::path::Path;
use std::process::Output;

use common::*;

fn autotune(dir: &Path, args: &[&str]) -> Output {
    std::process::Command::new(bin())
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap()
}

fn assert_usage_error(o: &Output, needles: &[&str]) {
    assert_eq!(o.status.code(), Some(2), "{}", text(o));
    let err = String::from_utf8_lossy(&o.stderr);
    for n in needles {
        assert!(err.contains(n), "expected {n:?} in: {err}");
    }
}

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap()
}

/// A finished one-trial run of the simulated service in `dir`.
fn short_run(dir: &Path) {
    sim_repo(dir);
    let sp = space(dir, r#"{"MAX_NEW_TOKENS": ["64"]}"#);
    let mut c = tune_cmd(dir, free_port());
    c.args(space_args(&sp));
    let o = run(c);
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn an_output_path_naming_another_of_the_runs_files_is_refused_before_anything_is_written() {
    let d = tempfile::tempdir().unwrap();
    short_run(d.path());
    let results = d.path().join("tune_results.jsonl");
    let best = d.path().join("best_params.json");
    let status = d.path().join("tune_status.json");
    let (r0, b0, s0) = (read(&results), read(&best), read(&status));
    let unchanged = || {
        assert_eq!(read(&results), r0, "the results were overwritten");
        assert_eq!(read(&best), b0, "the best params were overwritten");
        assert_eq!(read(&status), s0, "the status file was overwritten");
    };
    // The report over its own results or the best file beside them, by
    // any spelling of the path.
    let o = autotune(
        d.path(),
        &["report", "tune_results.jsonl", "-o", "tune_results.jsonl"],
    );
    assert_usage_error(&o, &["-o tune_results.jsonl", "the results file"]);
    unchanged();
    let abs = results.display().to_string();
    let o = autotune(d.path(), &["report", "tune_results.jsonl", "-o", &abs]);
    assert_usage_error(&o, &["the results file"]);
    unchanged();
    let o = autotune(
        d.path(),
        &["report", "tune_results.jsonl", "-o", "best_params.json"],
    );
    assert_usage_error(&o, &["-o best_params.json", "best_params.json beside it"]);
    unchanged();
    // A run whose files name each other (the directory `sub` makes
    // `sub/..` another spelling of the repo).
    std::fs::create_dir(d.path().join("sub")).unwrap();
    let sp = d.path().join("space.json");
    for (args, needles) in [
        (
            vec!["--status_file", "tune_results.jsonl"],
            vec![
                "--status_file tune_results.jsonl",
                "--results tune_results.jsonl",
            ],
        ),
        (
            vec!["--status_file", "sub/../tune_results.jsonl"],
            vec!["--status_file sub/../tune_results.jsonl", "--results"],
        ),
        (
            vec!["--results", "tune_status.json"],
            vec![
                "--results tune_status.json",
                "--status_file tune_status.json",
            ],
        ),
        (
            vec!["--results", "best_params.json"],
            vec!["--results best_params.json", "--best best_params.json"],
        ),
        (
            vec!["--best", "space.json"],
            vec!["--best space.json", "--search_space_file"],
        ),
        (
            vec!["--best", "tune_report.html"],
            vec!["--best tune_report.html", "the report"],
        ),
    ] {
        let mut c = tune_cmd(d.path(), free_port());
        c.args(space_args(&sp)).arg("--skip_existing").args(&args);
        assert_usage_error(&run(c), &needles);
        unchanged();
    }
}

#[test]
fn duplicate_devices_and_clashing_slot_variables_are_refused() {
    let d = tempfile::tempdir().unwrap();
    let with = |args: &[&str]| {
        let mut v = vec!["--dry_run"];
        v.extend_from_slice(args);
        autotune(d.path(), &v)
    };
    assert_usage_error(
        &with(&["--gpus", "0,0,1"]),
        &["--gpus", "device 0 is listed twice"],
    );
    assert_usage_error(
        &with(&["--gpus", "0,1,01"]),
        &["--gpus", "device 01 is listed twice"],
    );
    assert_usage_error(
        &with(&["--gpus", "0,1", "--gpu_env", "PORT"]),
        &["--gpu_env PORT"],
    );
    assert_usage_error(
        &with(&[
            "--gpus",
            "0,1",
            "--gpu_env",
            "VLLM_PORT",
            "--port_env",
            "VLLM_PORT=9000",
        ]),
        &["--port_env VLLM_PORT and --gpu_env VLLM_PORT"],
    );
    assert_usage_error(
        &with(&["--port_env", "A_PORT=9000", "--port_env", "A_PORT=9100"]),
        &["--port_env A_PORT: given twice"],
    );
    assert_usage_error(
        &with(&["--gpu_env", "AUTOTUNE_RUN"]),
        &["--gpu_env AUTOTUNE_RUN", "reserved"],
    );
    assert_usage_error(
        &with(&["--port_env", "AUTOTUNE_TRIAL=9000"]),
        &["--port_env AUTOTUNE_TRIAL", "reserved"],
    );
    for bad in ["CUDA DEVICES", "A=B", "1GPU"] {
        assert_usage_error(
            &with(&["--gpu_env", bad]),
            &["--gpu_env", "not an environment variable name"],
        );
    }
    assert_usage_error(
        &with(&["--port_env", "bad-name=9000"]),
        &[
            "--port_env \"bad-name\"",
            "not an environment variable name",
        ],
    );
    // What the checks are not about still runs.
    let o = with(&[
        "--gpus",
        "0,1",
        "--gpu_env",
        "HIP_VISIBLE_DEVICES",
        "--port_env",
        "VLLM_PORT=9000",
        "--port_env",
        "_METRICS_PORT=9500",
    ]);
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn a_space_file_with_a_repeated_key_or_an_unpassable_value_is_refused_naming_file_and_key() {
    let d = tempfile::tempdir().unwrap();
    let check = |json: &str, needles: &[&str]| {
        let sp = space(d.path(), json);
        let sp = sp.to_str().unwrap();
        let o = autotune(
            d.path(),
            &["--dry_run", "--no_builtin_space", "--search_space_file", sp],
        );
        let mut n = vec!["--search_space_file", sp];
        n.extend_from_slice(needles);
        assert_usage_error(&o, &n);
    };
    // Today's last-wins would drop the first list without a word.
    check(
        r#"{"MAX_NEW_TOKENS": ["32", "48"], "OTHER": "1", "MAX_NEW_TOKENS": ["64"]}"#,
        &["\"MAX_NEW_TOKENS\" is a key twice"],
    );
    check(
        r#"{"STOP_STRINGS": ["a", "b\u0000c"]}"#,
        &["\"STOP_STRINGS\"", "NUL"],
    );
    let long = "x".repeat(128 * 1024);
    check(
        &format!(r#"{{"STOP_STRINGS": ["a", "{long}"]}}"#),
        &["\"STOP_STRINGS\"", "131072 bytes", "128 KiB"],
    );
    // Just under the limit is a value like any other.
    let fits = "x".repeat(128 * 1024 - "STOP_STRINGS=".len() - 1);
    let sp = space(d.path(), &format!(r#"{{"STOP_STRINGS": ["a", "{fits}"]}}"#));
    let o = autotune(
        d.path(),
        &[
            "--dry_run",
            "--no_builtin_space",
            "--search_space_file",
            sp.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn a_pattern_with_two_groups_and_contradictory_constraints_are_refused() {
    let d = tempfile::tempdir().unwrap();
    let with = |args: &[&str]| {
        let mut v = vec!["--dry_run"];
        v.extend_from_slice(args);
        autotune(d.path(), &v)
    };
    // The number is read from the first group: with two, every run fails.
    assert_usage_error(
        &with(&["--metric", "p99=(P99|p99) TTFT: ([0-9.]+)"]),
        &["--metric p99", "exactly one capture group", "it has 2"],
    );
    assert_usage_error(
        &with(&["--acc_regex", "(acc|accuracy)=([0-9.]+)"]),
        &["--acc_regex", "exactly one capture group"],
    );
    // No group at all keeps its own message; a non-capturing group is fine.
    assert_usage_error(
        &with(&["--metric", "p99=p99=[0-9.]+"]),
        &["--metric p99", "needs a capture group"],
    );
    let ok = with(&["--metric", "p99=(?:P99|p99) TTFT: ([0-9.]+)"]);
    assert!(ok.status.success(), "{}", text(&ok));
    // No value meets both bounds.
    let p99 = ["--metric", "p99=p99=([0-9.]+)"];
    let mut args = p99.to_vec();
    args.extend(["--constraint", "p99<=1", "--constraint", "p99>=2"]);
    assert_usage_error(
        &with(&args),
        &[
            "--constraint",
            "p99 >= 2 and p99 <= 1 contradict each other",
        ],
    );
    assert_usage_error(
        &with(&[
            "--constraint",
            "accuracy>=0.9",
            "--constraint",
            "accuracy<=0.5",
        ]),
        &["accuracy >= 0.9 and accuracy <= 0.5 contradict each other"],
    );
    // A point is a bound like any other.
    let mut args = p99.to_vec();
    args.extend(["--constraint", "p99<=1", "--constraint", "p99>=1"]);
    let ok = with(&args);
    assert!(ok.status.success(), "{}", text(&ok));
    // The report and the deploy command judge by the same rule.
    for cmd in ["report", "best"] {
        let o = autotune(
            d.path(),
            &[cmd, "--constraint", "p99<=1", "--constraint", "p99>=2"],
        );
        assert_usage_error(&o, &["p99 >= 2 and p99 <= 1 contradict each other"]);
    }
}

#[test]
fn quoted_script_names_are_accepted_and_missing_scripts_still_refused() {
    let d = tempfile::tempdir().unwrap();
    sim_repo(d.path());
    std::fs::copy(d.path().join("eval_local.sh"), d.path().join("my eval.sh")).unwrap();
    let sp = space(d.path(), r#"{"MAX_NEW_TOKENS": ["64"]}"#);
    // Refused before: the quotes were taken as part of the file name.
    for (i, (server, eval)) in [
        ("bash 'run_model.sh'", r#"bash "eval_local.sh""#),
        ("bash run_model.sh", r#"bash "my eval.sh""#),
        ("bash run_model.sh", r"bash my\ eval.sh --batch"),
        ("bash run_model.sh", r#"bash "$PWD/eval_local.sh""#),
    ]
    .into_iter()
    .enumerate()
    {
        let mut c = tune_cmd(d.path(), free_port());
        c.args(space_args(&sp))
            .args(["--server_cmd", server, "--eval_cmd", eval])
            .args(["--results", &format!("r{i}.jsonl")]);
        let o = run(c);
        assert!(o.status.success(), "{server} / {eval}: {}", text(&o));
        let recs = records(&d.path().join(format!("r{i}.jsonl")));
        assert_eq!(recs.len(), 1, "{eval}: {}", text(&o));
        assert_eq!(recs[0]["status"], "ok", "{eval}: {}", text(&o));
    }
    // What the check is for: a script that is not there.
    for (eval, missing) in [
        (r#"python3 "eval_locl.py""#, "eval_locl.py not found"),
        ("bash 'my evl.sh'", "my evl.sh not found"),
        ("python3 eval_locl.py --batch", "eval_locl.py not found"),
    ] {
        let mut c = tune_cmd(d.path(), free_port());
        c.args(space_args(&sp)).args(["--eval_cmd", eval]);
        assert_usage_error(&run(c), &["--eval_cmd", missing]);
    }
}

/// The lock files of `dir`.
fn lock_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("autotune-port-"))
        .collect()
}

#[test]
fn lock_files_are_never_followed_through_a_symlink_or_a_hard_link() {
    let d = tempfile::tempdir().unwrap();
    let locks = tempfile::tempdir().unwrap();
    sim_repo(d.path());
    let sp = space(d.path(), r#"{"MAX_NEW_TOKENS": ["64"]}"#);
    let victim = d.path().join("victim.txt");
    std::fs::write(&victim, "precious\n").unwrap();
    let port = free_port();
    let tune = || {
        let mut c = tune_cmd(d.path(), port);
        c.env("AUTOTUNE_LOCK_DIR", locks.path())
            .args(space_args(&sp));
        run(c)
    };
    // Another user's link in the shared lock directory.
    let link = locks.path().join(format!("autotune-port-{port}.lock"));
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    let o = tune();
    assert_usage_error(
        &o,
        &[&format!("autotune-port-{port}.lock"), "symbolic link"],
    );
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    assert!(link.is_symlink(), "the planted link was touched");
    assert!(!d.path().join("tune_server_logs").exists(), "a trial ran");
    std::fs::remove_file(&link).unwrap();
    // A hard link to the victim is another name of it.
    std::fs::hard_link(&victim, &link).unwrap();
    let o = tune();
    assert_usage_error(&o, &[&format!("autotune-port-{port}.lock"), "hard link"]);
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    std::fs::remove_file(&link).unwrap();
    // The repo's lock: neither an existing target nor a new one.
    for target in [victim.clone(), d.path().join("made_by_link")] {
        let link = d.path().join(".autotune.lock");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let o = tune();
        assert_usage_error(&o, &[".autotune.lock", "symbolic link"]);
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
        assert!(!d.path().join("made_by_link").exists());
        assert!(!d.path().join("tune_server_logs").exists(), "a trial ran");
    }
}

#[test]
fn a_run_removes_its_port_lock_files_and_leaves_a_held_one_alone() {
    let d = tempfile::tempdir().unwrap();
    let locks = tempfile::tempdir().unwrap();
    sim_repo(d.path());
    let sp = space(d.path(), r#"{"MAX_NEW_TOKENS": ["64", "80"]}"#);
    // Two slots: two ports, two lock files while the run lasts.
    let mut c = tune_cmd(d.path(), free_port());
    c.env("AUTOTUNE_LOCK_DIR", locks.path())
        .args(space_args(&sp))
        .args(["--slots", "2"]);
    let o = run(c);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(records(&d.path().join("tune_results.jsonl")).len(), 2);
    assert_eq!(lock_files(locks.path()), Vec::<String>::new());
    // A port another process holds: refused, and its lock file kept.
    let port = free_port();
    let held = locks.path().join(format!("autotune-port-{port}.lock"));
    let f = std::fs::File::create(&held).unwrap();
    let _lock = nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusiveNonblock).unwrap();
    let mut c = tune_cmd(d.path(), port);
    c.env("AUTOTUNE_LOCK_DIR", locks.path())
        .args(space_args(&sp));
    assert_usage_error(&run(c), &[&format!("--port {port}")]);
    assert!(held.exists(), "a lock another process holds was removed");
}
