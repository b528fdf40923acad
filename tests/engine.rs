//! The engine and headless mode against the real binary and the simulated
//! service (and real misbehaving processes).

mod common;

use std::time::Duration;

use common::*;
use serde_json::Value;

fn tag() -> String {
    // Marks the processes of one test so leftovers can be found by env.
    format!("AT_TEST_{}_{}", std::process::id(), fastrand_u64())
}

fn fastrand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0);
    h.finish()
}

#[test]
fn crash_hang_and_ok_trials_with_group_bests() {
    let d = tempfile::tempdir().unwrap();
    sim_repo(d.path());
    let sp = space(
        d.path(),
        r#"{"GPU_MEMORY_UTILIZATION": ["0.97", "0.99", "0.98"], "VLLM_MAX_NUM_SEQS": ["1024", "1536", "768"]}"#,
    );
    let t = tag();
    let mut c = tune_cmd(d.path(), free_port());
    // auto_tune.py's plain search: the base is measured again in the
    // second group, so the records line up with its files.
    c.env("AT_TAG", &t).args(space_args(&sp)).args([
        "--startup_timeout",
        "1.5",
        "--search_policy",
        "plain",
    ]);
    let o = run(c);
    assert!(o.status.success(), "{}", text(&o));
    let recs = records(&d.path().join("tune_results.jsonl"));
    let st: Vec<&str> = recs.iter().map(|r| r["status"].as_str().unwrap()).collect();
    // 0.97, 0.99 (OOM), 0.98; then base value, 1536 (hang), 768.
    assert_eq!(
        st,
        ["ok", "crashed", "ok", "ok", "timeout", "ok"],
        "{}",
        text(&o)
    );
    let crashed = &recs[1];
    assert_eq!(crashed["phase"], "startup");
    assert_eq!(crashed["exit_code"], 1);
    // Crash noticed at once, not after the start-up timeout: recorded as
    // crashed (a time-out would say timeout), and sooner than the hang
    // that did wait the whole timeout (no threshold in seconds: CI is busy).
    assert!(
        crashed["startup_s"].as_f64().unwrap() < recs[4]["startup_s"].as_f64().unwrap(),
        "{crashed}"
    );
    assert!(crashed["log_tail"].to_string().contains("OutOfMemoryError"));
    let hung = &recs[4];
    assert_eq!(hung["phase"], "startup");
    assert!(hung["startup_s"].as_f64().unwrap() >= 1.5);
    let ok = &recs[0];
    assert_eq!(ok["eval_ok_n"], 2);
    assert_eq!(ok["eval_runs"].as_array().unwrap().len(), 2);
    assert!(ok["avg_total_tps"].as_f64().unwrap() > 1000.0);
    assert_eq!(ok["server_log"], "tune_server_logs/trial_00001.log");
    assert!(ok["health"].as_str().unwrap().starts_with("health=200"));
    // Keys are the sorted params.
    let key = ok["trial_key"].as_str().unwrap();
    assert!(key.starts_with("FREQUENCY_PENALTY=0.1|GPU_MEMORY_UTILIZATION=0.97|"));
    // The best file holds the params of a winning ok trial, and the second
    // group started from the first group's winner.
    let best: Value =
        serde_json::from_str(&std::fs::read_to_string(d.path().join("best_params.json")).unwrap())
            .unwrap();
    let g1_winner = recs[..3]
        .iter()
        .filter(|r| r["status"] == "ok")
        .max_by(|a, b| {
            a["avg_total_tps"]
                .as_f64()
                .partial_cmp(&b["avg_total_tps"].as_f64())
                .unwrap()
        })
        .unwrap();
    assert_eq!(
        recs[3]["params"]["GPU_MEMORY_UTILIZATION"],
        g1_winner["params"]["GPU_MEMORY_UTILIZATION"]
    );
    assert!(best["VLLM_MAX_NUM_SEQS"] == "1024" || best["VLLM_MAX_NUM_SEQS"] == "768");
    assert_eq!(status(d.path())["phase"], "done");
    // Logs exist for every started trial; nothing left running.
    for i in 1..=6 {
        assert!(
            d.path()
                .join(format!("tune_server_logs/trial_{i:05}.log"))
                .exists()
        );
    }
    assert_eq!(procs_with_env(&t), Vec::<i32>::new());
    // Headless prints one line per trial with its result.
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("GPU_MEMORY_UTILIZATION=0.99 crashed"), "{out}");
    assert!(
        out.contains("[ 2/6] GPU_MEMORY_UTILIZATION=0.99 start"),
        "{out}"
    );
}

#[test]
fn sigterm_mid_trial_stops_everything_and_exits_143() {
    let d = tempfile::tempdir().unwrap();
    sim_repo(d.path());
    let sp = space(d.path(), r#"{"MAX_NEW_TOKENS": ["64", "48"]}"#);
    let t = tag();
    let mut c = tune_cmd(d.path(), free_port());
    c.env("AT_TAG", &t)
        .env("SIM_EVAL_S", "30")
        .args(space_args(&sp));
    c.stdout(std::process::Stdio::null());
    let mut child = c.spawn().unwrap();
    // Wait until the eval runs (service up, worker forked).
    wait_for("the eval phase", Duration::from_secs(20), || {
        let s = std::fs::read_to_string(d.path().join("tune_status.json")).ok()?;
        s.contains("eval 1/2").then_some(())
    });
    assert!(
        procs_with_env(&t).len() >= 3,
        "service, worker and eval should run"
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let st = wait_for("exit", Duration::from_secs(15), || {
        child.try_wait().unwrap()
    });
    assert_eq!(st.code(), Some(143));
    assert_eq!(
        procs_with_env(&t),
        Vec::<i32>::new(),
        "processes left running"
    );
    let s = status(d.path());
    assert_eq!(s["phase"], "interrupted");
    assert_eq!(s["signal"], 15);
    // The interrupted trial is not recorded as done.
    assert!(records(&d.path().join("tune_results.jsonl")).is_empty());
}

#[test]
fn resumes_auto_tune_py_results_without_rerunning_done_trials() {
    let d = tempfile::tempdir().unwrap();
    copy_fixture(d.path());
    sim_repo(d.path());
    let before = std::fs::read(d.path().join("tune_results.jsonl")).unwrap();
    let old = records(&d.path().join("tune_results.jsonl"));
    let done: std::collections::HashSet<String> = old
        .iter()
        .filter(|r| ["ok", "failed", "crashed", "timeout"].contains(&r["status"].as_str().unwrap()))
        .map(|r| r["trial_key"].as_str().unwrap().to_string())
        .collect();
    let mut c = tune_cmd(d.path(), free_port());
    c.env("SIM_STARTUP_S", "0.05").env("SIM_EVAL_S", "0").args([
        "--skip_existing",
        "--eval_runs",
        "1",
        "--startup_timeout",
        "1",
    ]);
    let o = run(c);
    assert!(o.status.success(), "{}", text(&o));
    let after = std::fs::read(d.path().join("tune_results.jsonl")).unwrap();
    assert_eq!(
        &after[..before.len()],
        &before[..],
        "old records must stay byte for byte"
    );
    let all = records(&d.path().join("tune_results.jsonl"));
    let new = &all[old.len()..];
    assert!(!new.is_empty());
    for r in new {
        assert!(
            !done.contains(r["trial_key"].as_str().unwrap()),
            "re-ran a done trial: {}",
            r["trial_key"]
        );
    }
    // Numbering continues after the highest existing log (25), old logs untouched.
    assert_eq!(new[0]["server_log"], "tune_server_logs/trial_00026.log");
    let fixture_log = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/auto_tune_py/tune_server_logs/trial_00025.log"),
    )
    .unwrap();
    assert_eq!(
        std::fs::read(d.path().join("tune_server_logs/trial_00025.log")).unwrap(),
        fixture_log
    );
    // Each key is recorded done at most once over old and new records
    // (a deliberate re-measure of a close call says so).
    let mut seen = std::collections::HashSet::new();
    for r in all
        .iter()
        .filter(|r| r["status"] != "partial" && r["recheck"] != true)
    {
        assert!(
            seen.insert(r["trial_key"].as_str().unwrap().to_string()),
            "recorded twice: {}",
            r["trial_key"]
        );
    }
    // The start line names the search's own choice replayed from the old
    // records: the start, until this search measures the first challenger
    // (the old run's fastest record, 5109.9 tok/s, is another search's).
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("best so far 4993.3"), "{out}");
    assert!(!out.contains("best so far 5109.9"), "{out}");
    assert!(out.contains("reused"), "{out}");
}

/// Once a trial's output parsed, output that does not is that
/// configuration's failure and the run goes on (an eval whose output never
/// parsed stops the run instead: tests/trust.rs).
#[test]
fn unparsable_eval_output_after_a_parsed_trial_fails_that_trial_and_the_run_goes_on() {
    let d = tempfile::tempdir().unwrap();
    sim_repo(d.path());
    std::fs::write(
        d.path().join("eval_bad.sh"),
        "if [ \"$MAX_NEW_TOKENS\" = 48 ]; then echo 'no summary here'; exit 0; fi\nexec bash eval_local.sh\n",
    )
    .unwrap();
    let sp = space(d.path(), r#"{"MAX_NEW_TOKENS": ["64", "48"]}"#);
    let mut c = tune_cmd(d.path(), free_port());
    c.args(space_args(&sp))
        .args(["--eval_cmd", "bash eval_bad.sh"]);
    let o = run(c);
    assert!(o.status.success(), "{}", text(&o));
    let recs = records(&d.path().join("tune_results.jsonl"));
    assert_eq!(recs.len(), 2);
    assert_eq!(recs[0]["status"], "ok");
    let r = &recs[1];
    assert_eq!(r["status"], "failed");
    assert_eq!(r["eval_ok_n"], 0);
    assert_eq!(r["eval_runs"][0]["returncode"], 0);
    assert!(r["avg_accuracy"].is_null());
    assert_eq!(status(d.path())["phase"], "done");
}

#[test]
fn foreign_process_on_the_port_is_reported_and_never_killed() {
    let d = tempfile::tempdir().unwrap();
    sim_repo(d.path());
    let sp = space(d.path(), r#"{"MAX_NEW_TOKENS": ["64"]}"#);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut c = tune_cmd(d.path(), port);
    c.args(space_args(&sp)).args([
        "--port_busy_retries",
        "2",
        "--port_busy_wait_s",
        "0.2",
        "--port_busy_kill",
    ]);
    let o = run(c);
    // Someone else's port is the environment's failure, not the config's:
    // the run stops (exit 3) and nothing is recorded (issue #11).
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(records(&d.path().join("tune_results.jsonl")).is_empty());
    let s = status(d.path());
    assert_eq!(s["phase"], "environment_error");
    let reason = s["error"].as_str().unwrap();
    assert!(reason.contains(&format!("port {port} busy")), "{reason}");
    assert!(
        reason.contains(&format!("pid {}", std::process::id())),
        "{reason}"
    );
    // Each wait names the holder (this test process) as it waits.
    let out = String::from_utf8_lossy(&o.stdout);
    let held = format!("port busy (held by pid {} (", std::process::id());
    assert_eq!(out.matches(&held).count(), 2, "{out}");
    drop(listener);
}

#[test]
fn sigusr1_skips_the_running_trial() {
    let d = tempfile::tempdir().unwrap();
    sim_repo(d.path());
    let sp = space(d.path(), r#"{"MAX_NEW_TOKENS": ["64", "48"]}"#);
    let t = tag();
    let mut c = tune_cmd(d.path(), free_port());
    c.env("AT_TAG", &t)
        .env("SIM_STARTUP_S", "60")
        .args(space_args(&sp))
        .args(["--startup_timeout", "120"]);
    c.stdout(std::process::Stdio::null());
    let mut child = c.spawn().unwrap();
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    for n in 1..=2 {
        wait_for("trial start", Duration::from_secs(10), || {
            let s = std::fs::read_to_string(d.path().join("tune_status.json")).ok()?;
            (s.contains("\"trial_phase\": \"starting\"")
                && s.contains(&format!("\"trial_ordinal\": {n}")))
            .then_some(())
        });
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGUSR1).unwrap();
        wait_for("skip record", Duration::from_secs(5), || {
            (records(&d.path().join("tune_results.jsonl")).len() == n).then_some(())
        });
    }
    let st = wait_for("exit", Duration::from_secs(10), || {
        child.try_wait().unwrap()
    });
    assert!(st.success());
    let recs = records(&d.path().join("tune_results.jsonl"));
    assert!(recs.iter().all(|r| r["status"] == "skipped"));
    assert_eq!(procs_with_env(&t), Vec::<i32>::new());
    // Skipped counts as done on resume.
    let mut c = tune_cmd(d.path(), free_port());
    c.args(space_args(&sp)).arg("--skip_existing");
    let o = run(c);
    assert!(o.status.success());
    assert_eq!(records(&d.path().join("tune_results.jsonl")).len(), 2);
}

#[test]
fn term_ignoring_service_and_escaped_helper_are_stopped() {
    let d = tempfile::tempdir().unwrap();
    sim_repo(d.path());
    let sp = space(d.path(), r#"{"MAX_NEW_TOKENS": ["64"]}"#);
    let t = tag();
    let mut c = tune_cmd(d.path(), free_port());
    c.env("AT_TAG", &t)
        .env("SIM_IGNORE_TERM", "1")
        .env("SIM_SETSID_HELPER", "1")
        .env("SIM_PID_DIR", d.path())
        .args(space_args(&sp))
        .args(["--kill_grace_s", "0.5"]);
    let o = run(c);
    assert!(o.status.success(), "{}", text(&o));
    let recs = records(&d.path().join("tune_results.jsonl"));
    assert_eq!(recs[0]["status"], "ok");
    let helper: i32 = std::fs::read_to_string(d.path().join("helper.pid"))
        .unwrap()
        .parse()
        .unwrap();
    assert!(!alive(helper), "the setsid helper outlived the trial");
    assert_eq!(procs_with_env(&t), Vec::<i32>::new());
    assert!(String::from_utf8_lossy(&o.stdout).contains("ignored SIGTERM"));
}

#[test]
fn sigusr2_pauses_between_trials_and_sigquit_aborts() {
    let d = tempfile::tempdir().unwrap();
    sim_repo(d.path());
    let sp = space(d.path(), r#"{"MAX_NEW_TOKENS": ["64", "48", "80"]}"#);
    let t = tag();
    let mut c = tune_cmd(d.path(), free_port());
    c.env("AT_TAG", &t)
        .env("SIM_EVAL_S", "0.3")
        .args(space_args(&sp));
    c.stdout(std::process::Stdio::null());
    let mut child = c.spawn().unwrap();
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    wait_for("first trial", Duration::from_secs(10), || {
        std::fs::read_to_string(d.path().join("tune_status.json"))
            .ok()?
            .contains("eval 1/2")
            .then_some(())
    });
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGUSR2).unwrap();
    // The running trial finishes, then the run waits.
    wait_for("one record", Duration::from_secs(10), || {
        (records(&d.path().join("tune_results.jsonl")).len() == 1).then_some(())
    });
    wait_for("paused status", Duration::from_secs(5), || {
        (status(d.path())["phase"] == "paused").then_some(())
    });
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        records(&d.path().join("tune_results.jsonl")).len(),
        1,
        "a trial started while paused"
    );
    assert_eq!(status(d.path())["phase"], "paused");
    // Resume, then abort during the next trial.
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGUSR2).unwrap();
    wait_for("second trial", Duration::from_secs(10), || {
        std::fs::read_to_string(d.path().join("tune_status.json"))
            .ok()?
            .contains("\"trial_ordinal\": 2")
            .then_some(())
    });
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGQUIT).unwrap();
    let st = wait_for("exit", Duration::from_secs(10), || {
        child.try_wait().unwrap()
    });
    assert_eq!(st.code(), Some(0));
    assert_eq!(status(d.path())["phase"], "aborted");
    assert_eq!(
        records(&d.path().join("tune_results.jsonl")).len(),
        1,
        "the aborted trial is not recorded"
    );
    assert_eq!(procs_with_env(&t), Vec::<i32>::new());
}

/// A rerun without --skip_existing on a results file with records says so
/// before its first trial, and how to resume instead (issue #23); with
/// --skip_existing it does not.
#[test]
fn a_rerun_without_skip_existing_says_the_records_are_not_reused() {
    let d = tempfile::tempdir().unwrap();
    sim_repo(d.path());
    let sp = space(d.path(), r#"{"MAX_NEW_TOKENS": ["64", "48"]}"#);
    let port = free_port();
    let o = run({
        let mut c = tune_cmd(d.path(), port);
        c.args(space_args(&sp));
        c
    });
    assert!(o.status.success(), "{}", text(&o));
    let n = records(&d.path().join("tune_results.jsonl")).len();
    assert!(n > 0, "{}", text(&o));
    let said = format!(
        "warning: {} holds {n} records that will not be reused (measured again); add --skip_existing to resume",
        d.path().join("tune_results.jsonl").display()
    );
    assert!(!text(&o).contains("will not be reused"), "{}", text(&o));

    let o = run({
        let mut c = tune_cmd(d.path(), port);
        c.args(space_args(&sp));
        c
    });
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let at = out
        .find(&said)
        .unwrap_or_else(|| panic!("{said:?} not in {out}"));
    assert!(at < out.find(" start (trial_").expect(&out), "{out}");
    assert_eq!(out.matches("will not be reused").count(), 1, "{out}");

    let o = run({
        let mut c = tune_cmd(d.path(), port);
        c.args(space_args(&sp)).arg("--skip_existing");
        c
    });
    assert!(o.status.success(), "{}", text(&o));
    assert!(!text(&o).contains("will not be reused"), "{}", text(&o));
}
