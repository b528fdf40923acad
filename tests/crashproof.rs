//! Crash-proofing with real processes: kill -9 of the tuner, torn results,
//! write errors, the watchdog, secrets never written anywhere.

mod common;

use std::time::Duration;

use common::*;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

fn status_text(d: &std::path::Path) -> String {
    std::fs::read_to_string(d.join("tune_status.json")).unwrap_or_default()
}

#[test]
fn kill_9_then_plain_restart_stops_the_orphan_service_and_completes() {
    let d = tempfile::tempdir().unwrap();
    sim_repo(d.path());
    let sp = space(d.path(), r#"{"MAX_NEW_TOKENS": ["64", "48", "80"]}"#);
    let port = free_port();
    let mut c = tune_cmd(d.path(), port);
    c.env("SIM_EVAL_S", "0.5")
        .args(space_args(&sp))
        .arg("--skip_existing");
    c.stdout(std::process::Stdio::null());
    let mut child = c.spawn().unwrap();
    // Kill the tuner while the second trial's eval runs: its service is up.
    wait_for("second trial eval", Duration::from_secs(20), || {
        let s = status_text(d.path());
        (s.contains("\"trial_ordinal\": 2") && s.contains("eval 1/2")).then_some(())
    });
    let pgid: i32 = serde_json::from_str::<serde_json::Value>(
        &std::fs::read_to_string(d.path().join(".autotune_service.json")).unwrap(),
    )
    .unwrap()["pgid"]
        .as_i64()
        .unwrap() as i32;
    kill(Pid::from_raw(child.id() as i32), Signal::SIGKILL).unwrap();
    child.wait().unwrap();
    assert!(
        alive(pgid),
        "the orphaned service should still be up after kill -9"
    );
    // A plain restart: same flags, no --port_busy_kill.
    let mut c = tune_cmd(d.path(), port);
    c.args(space_args(&sp)).arg("--skip_existing");
    let o = run(c);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout)
            .contains("stopped the service left running by an earlier tuner"),
        "{}",
        text(&o)
    );
    assert!(!alive(pgid));
    let recs = records(&d.path().join("tune_results.jsonl"));
    let keys: Vec<&str> = recs
        .iter()
        .map(|r| r["trial_key"].as_str().unwrap())
        .collect();
    let mut uniq = keys.clone();
    uniq.sort();
    uniq.dedup();
    assert_eq!(uniq.len(), keys.len(), "a trial was recorded twice");
    assert_eq!(recs.len(), 3, "the search completed");
    assert_eq!(status(d.path())["phase"], "done");
}

#[test]
fn torn_results_line_is_kept_and_warned_about() {
    let d = tempfile::tempdir().unwrap();
    sim_repo(d.path());
    let sp = space(d.path(), r#"{"MAX_NEW_TOKENS": ["64"]}"#);
    let torn = "{\"ts\": \"2026-11-28T00:00:00\", \"trial_key\": \"X=1\", \"status\": \"o";
    std::fs::write(d.path().join("tune_results.jsonl"), torn).unwrap();
    let mut c = tune_cmd(d.path(), free_port());
    c.args(space_args(&sp));
    let o = run(c);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("1 unreadable line(s)"), "{out}");
    assert!(out.contains("torn"), "{out}");
    let t = std::fs::read_to_string(d.path().join("tune_results.jsonl")).unwrap();
    assert!(t.starts_with(&format!("{torn}\n{{")), "{t}");
    assert_eq!(records(&d.path().join("tune_results.jsonl")).len(), 1);
}

#[test]
fn unwritable_results_stop_the_run_with_a_clear_error() {
    let d = tempfile::tempdir().unwrap();
    sim_repo(d.path());
    let sp = space(d.path(), r#"{"MAX_NEW_TOKENS": ["64", "48"]}"#);
    // A directory where the results file should be appended makes every write fail.
    std::fs::create_dir(d.path().join("res")).unwrap();
    std::fs::create_dir(d.path().join("res/r.jsonl")).unwrap();
    let mut c = tune_cmd(d.path(), free_port());
    c.args(space_args(&sp)).args(["--results", "res/r.jsonl"]);
    let o = run(c);
    // Rejected up front: it is a directory.
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    std::fs::remove_dir(d.path().join("res/r.jsonl")).unwrap();
    // The results directory disappears mid-run (a removed mount, a cleanup
    // script): the append fails.
    let t = format!("AT_TEST_WF_{}", std::process::id());
    let mut c = tune_cmd(d.path(), free_port());
    c.env("AT_TAG", &t)
        .env("SIM_EVAL_S", "0.5")
        .args(space_args(&sp))
        .args(["--results", "res/r.jsonl"]);
    c.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    wait_for("eval", Duration::from_secs(20), || {
        status_text(d.path()).contains("eval 1/2").then_some(())
    });
    std::fs::remove_dir_all(d.path().join("res")).unwrap();
    let st = wait_for("exit", Duration::from_secs(20), || {
        child.try_wait().unwrap()
    });
    let mut err = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
    // A file that cannot be written is the environment's failure (exit 3).
    assert_eq!(st.code(), Some(3), "{err}");
    assert!(
        err.contains("res/r.jsonl")
            && err.contains("stopping rather than tuning without recording"),
        "{err}"
    );
    let s = status(d.path());
    assert_eq!(s["phase"], "environment_error");
    assert!(s["error"].as_str().unwrap().contains("r.jsonl"));
    assert_eq!(procs_with_env(&t), Vec::<i32>::new());
}

#[test]
fn watchdog_restarts_after_kill_9_and_finishes() {
    let d = tempfile::tempdir().unwrap();
    sim_repo(d.path());
    let sp = space(d.path(), r#"{"MAX_NEW_TOKENS": ["64", "48", "80"]}"#);
    let port = free_port().to_string();
    let dir = d.path().to_str().unwrap().to_string();
    let mut c = std::process::Command::new(bin());
    c.current_dir(d.path())
        .env("SIM_STARTUP_S", "0.2")
        .env("SIM_EVAL_S", "0.4")
        .env("SIM_EVAL_FAIL_RATE", "0")
        .args(["watchdog", "--restart_delay", "0.2", "--"])
        .args([
            "--repo",
            &dir,
            "--port",
            &port,
            "--eval_cmd",
            "bash eval_local.sh",
            "--eval_runs",
            "2",
            "--skip_existing",
        ])
        .args([
            "--no_builtin_space",
            "--search_space_file",
            sp.to_str().unwrap(),
            "--kill_grace_s",
            "2",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let mut wd = c.spawn().unwrap();
    let pid_file = d.path().join("autotune.watchdog.pid");
    wait_for("pid file", Duration::from_secs(5), || {
        pid_file.exists().then_some(())
    });
    assert_eq!(
        std::fs::read_to_string(&pid_file).unwrap().trim(),
        wd.id().to_string()
    );
    let tuner = wait_for("tuner in eval", Duration::from_secs(20), || {
        let s: serde_json::Value = serde_json::from_str(&status_text(d.path())).ok()?;
        (s["trial_phase"] == "eval 1/2").then(|| s["pid"].as_i64().unwrap() as i32)
    });
    kill(Pid::from_raw(tuner), Signal::SIGKILL).unwrap();
    let st = wait_for("watchdog exit", Duration::from_secs(60), || {
        wd.try_wait().unwrap()
    });
    let mut err = String::new();
    std::io::Read::read_to_string(wd.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert_eq!(st.code(), Some(0), "{err}");
    assert!(
        err.contains("signal 9") && err.contains("restart 1"),
        "{err}"
    );
    assert!(!pid_file.exists(), "pid file left behind");
    assert_eq!(status(d.path())["phase"], "done");
    assert_eq!(records(&d.path().join("tune_results.jsonl")).len(), 3);
}

#[test]
fn watchdog_forwards_sigterm() {
    let d = tempfile::tempdir().unwrap();
    sim_repo(d.path());
    let sp = space(d.path(), r#"{"MAX_NEW_TOKENS": ["64", "48"]}"#);
    let t = format!("AT_TEST_WDT_{}", std::process::id());
    let mut c = std::process::Command::new(bin());
    c.current_dir(d.path())
        .env("AT_TAG", &t)
        .env("SIM_STARTUP_S", "30")
        .args([
            "watchdog",
            "--restart_delay",
            "0",
            "--",
            "--repo",
            d.path().to_str().unwrap(),
            "--port",
            &free_port().to_string(),
        ])
        .args([
            "--eval_cmd",
            "bash eval_local.sh",
            "--no_builtin_space",
            "--search_space_file",
            sp.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut wd = c.spawn().unwrap();
    wait_for("service starting", Duration::from_secs(10), || {
        status_text(d.path())
            .contains("\"trial_phase\": \"starting\"")
            .then_some(())
    });
    kill(Pid::from_raw(wd.id() as i32), Signal::SIGTERM).unwrap();
    let st = wait_for("watchdog exit", Duration::from_secs(20), || {
        wd.try_wait().unwrap()
    });
    assert_eq!(st.code(), Some(143));
    assert_eq!(status(d.path())["phase"], "interrupted");
    assert_eq!(procs_with_env(&t), Vec::<i32>::new());
    assert!(!d.path().join("autotune.watchdog.pid").exists());
}

#[test]
fn a_second_tuner_on_the_same_repo_is_refused_and_leaves_the_first_alone() {
    let d = tempfile::tempdir().unwrap();
    sim_repo(d.path());
    let sp = space(d.path(), r#"{"MAX_NEW_TOKENS": ["64"]}"#);
    let port = free_port();
    let mut c = tune_cmd(d.path(), port);
    c.env("SIM_EVAL_S", "3").args(space_args(&sp));
    c.stdout(std::process::Stdio::null());
    let mut first = c.spawn().unwrap();
    wait_for("the first tuner's eval", Duration::from_secs(20), || {
        status_text(d.path()).contains("eval 1/2").then_some(())
    });
    let mut c = tune_cmd(d.path(), port);
    c.args(space_args(&sp));
    let o = run(c);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr)
            .contains(&format!("another autotune (pid {})", first.id())),
        "{}",
        text(&o)
    );
    // The first run was not disturbed.
    let st = wait_for("the first tuner", Duration::from_secs(30), || {
        first.try_wait().unwrap()
    });
    assert!(st.success());
    let recs = records(&d.path().join("tune_results.jsonl"));
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0]["status"], "ok");
}
