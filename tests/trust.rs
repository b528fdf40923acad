//! Never record a lie (issue #11), against the real binary with service
//! twins: a foreign listener is never ready, environment failures stop the
//! run unrecorded (exit 3), eval output is kept, leftovers are found by
//! their token, nohup is honoured, the watchdog resumes with
//! --skip_existing, and records are read as Python reads them.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

fn status_text(d: &Path) -> String {
    std::fs::read_to_string(d.join("tune_status.json")).unwrap_or_default()
}

/// A foreign HTTP server on `port`, in its own session; killed on drop.
struct Foreign(Child);

impl Foreign {
    fn start(port: u16, dir: &Path) -> Foreign {
        let c = Command::new("python3")
            .args([
                "-m",
                "http.server",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
            ])
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let f = Foreign(c);
        wait_for("the foreign server", Duration::from_secs(20), || {
            std::net::TcpStream::connect(("127.0.0.1", port))
                .ok()
                .map(|_| ())
        });
        f
    }
    fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Foreign {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn results(d: &Path) -> Vec<serde_json::Value> {
    records(&d.join("tune_results.jsonl"))
}

fn wait_exit(c: &mut Child, limit: Duration) -> std::process::ExitStatus {
    wait_for("exit", limit, || c.try_wait().unwrap())
}

fn output_of(c: Child) -> String {
    let o = c.wait_with_output().unwrap();
    text(&o)
}

#[test]
fn a_foreign_listener_is_never_ready_and_the_run_stops_unrecorded() {
    let d = tempfile::tempdir().unwrap();
    let sp = space(d.path(), r#"{"MAX_NEW_TOKENS": ["64"]}"#);
    let port = free_port();
    // The twin takes 3 s to start, then serves with python: it cannot bind
    // when someone else took the port meanwhile.
    std::fs::write(
        d.path().join("svc.sh"),
        "echo twin starting; sleep 3; exec python3 -m http.server \"$PORT\" --bind 127.0.0.1\n",
    )
    .unwrap();
    let mut c = Command::new(bin());
    c.current_dir(d.path())
        .args(["--headless", "--repo"])
        .arg(d.path())
        .args(["--port", &port.to_string()])
        .args(["--server_cmd", "bash svc.sh", "--eval_cmd", "echo never"])
        .args(["--startup_timeout", "30", "--kill_grace_s", "2"])
        .args(space_args(&sp))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    wait_for("the twin starting", Duration::from_secs(20), || {
        status_text(d.path())
            .contains("\"trial_phase\": \"starting\"")
            .then_some(())
    });
    let foreign = Foreign::start(port, d.path());
    let st = wait_exit(&mut child, Duration::from_secs(60));
    let out = output_of(child);
    assert_eq!(st.code(), Some(3), "{out}");
    assert!(
        !out.contains("ready after"),
        "a foreign server was taken as ready: {out}"
    );
    assert!(
        out.contains(&format!("held by pid {}", foreign.pid())) && out.contains("http.server"),
        "{out}"
    );
    assert!(
        results(d.path()).is_empty(),
        "an environment failure was recorded"
    );
    let s = status(d.path());
    assert_eq!(s["phase"], "environment_error");
    assert!(s["error"].as_str().unwrap().contains("http.server"));
    // The foreign server was left alone.
    assert!(alive(foreign.pid() as i32));
}

/// Each wait for a busy port names who holds it, as it waits (issue #23),
/// not only the reason given when the waits are over.
#[test]
fn every_wait_for_a_busy_port_names_the_holder() {
    let d = tempfile::tempdir().unwrap();
    sim_repo(d.path());
    let sp = space(d.path(), r#"{"MAX_NEW_TOKENS": ["64"]}"#);
    let port = free_port();
    let foreign = Foreign::start(port, d.path());
    let mut c = tune_cmd(d.path(), port);
    c.args(space_args(&sp))
        .args(["--port_busy_retries", "2", "--port_busy_wait_s", "0.3"]);
    let o = run(c);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let waits: Vec<&str> = out.lines().filter(|l| l.contains("port busy")).collect();
    assert_eq!(waits.len(), 2, "{out}");
    let held = format!("port busy (held by pid {} (", foreign.pid());
    for w in &waits {
        assert!(w.contains(&held) && w.contains("http.server"), "{w}\n{out}");
    }
    assert!(waits[0].ends_with("waiting up to 0.3s (1/2)"), "{out}");
    assert!(waits[1].ends_with("waiting up to 0.3s (2/2)"), "{out}");
}

#[test]
fn a_port_held_past_the_waits_records_nothing_and_skip_existing_runs_it_later() {
    let d = tempfile::tempdir().unwrap();
    sim_repo(d.path());
    let sp = space(d.path(), r#"{"MAX_NEW_TOKENS": ["64"]}"#);
    let port = free_port();
    let foreign = Foreign::start(port, d.path());
    let mut c = tune_cmd(d.path(), port);
    c.args(space_args(&sp))
        .args(["--port_busy_retries", "1", "--port_busy_wait_s", "0.3"])
        .arg("--skip_existing");
    let o = run(c);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(
        text(&o).contains(&format!("pid {}", foreign.pid())),
        "{}",
        text(&o)
    );
    assert!(results(d.path()).is_empty());
    assert_eq!(status(d.path())["phase"], "environment_error");
    drop(foreign);
    let mut c = tune_cmd(d.path(), port);
    c.args(space_args(&sp)).arg("--skip_existing");
    let o = run(c);
    assert!(o.status.success(), "{}", text(&o));
    let recs = results(d.path());
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0]["status"], "ok");
}

#[test]
fn two_tuners_never_share_a_port_and_the_repo_lock_ignores_the_status_file() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    sim_repo(a.path());
    sim_repo(b.path());
    let sp = space(a.path(), r#"{"MAX_NEW_TOKENS": ["64"]}"#);
    let port = free_port();
    let mut c = tune_cmd(a.path(), port);
    c.env("SIM_EVAL_S", "3").args(space_args(&sp));
    c.stdout(Stdio::null());
    let mut first = c.spawn().unwrap();
    wait_for("the first tuner's eval", Duration::from_secs(20), || {
        status_text(a.path()).contains("eval 1/2").then_some(())
    });
    // Another repo, the same port.
    let mut c = tune_cmd(b.path(), port);
    c.args(space_args(&sp));
    let o = run(c);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!("--port {port}")) && err.contains(&format!("pid {}", first.id())),
        "{err}"
    );
    assert!(
        !b.path().join("tune_server_logs").exists(),
        "the second tuner started a trial"
    );
    // The same repo with another status file (and another port).
    let mut c = tune_cmd(a.path(), free_port());
    c.args(space_args(&sp))
        .args(["--status_file", "other_status.json"]);
    let o = run(c);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr)
            .contains(&format!("another autotune (pid {})", first.id())),
        "{}",
        text(&o)
    );
    let st = wait_exit(&mut first, Duration::from_secs(30));
    assert!(st.success());
    assert_eq!(results(a.path()).len(), 1);
}

#[test]
fn a_broken_eval_command_stops_the_run_and_records_nothing() {
    let d = tempfile::tempdir().unwrap();
    sim_repo(d.path());
    let sp = space(d.path(), r#"{"MAX_NEW_TOKENS": ["64", "48", "80"]}"#);
    let port = free_port();
    let mut c = tune_cmd(d.path(), port);
    c.args(space_args(&sp))
        .args(["--eval_cmd", "pyhton3 eval.py"])
        .arg("--skip_existing");
    let o = run(c);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(3), "{out}");
    assert!(out.contains("exit code 127"), "{out}");
    // The eval's own words, in the headless lines.
    assert!(
        out.contains("| bash: line 1: pyhton3: command not found"),
        "{out}"
    );
    assert!(results(d.path()).is_empty(), "{out}");
    let s = status(d.path());
    assert_eq!(s["phase"], "environment_error");
    assert!(s["error"].as_str().unwrap().contains("eval command"), "{s}");
    // Fixed: everything is measured, nothing reused from the broken run.
    let mut c = tune_cmd(d.path(), port);
    c.args(space_args(&sp)).arg("--skip_existing");
    let o = run(c);
    assert!(o.status.success(), "{}", text(&o));
    let recs = results(d.path());
    assert_eq!(recs.len(), 3);
    assert!(recs.iter().all(|r| r["status"] == "ok"));
}

/// A trial whose eval failed is held back until the next trial says
/// whether the eval itself is broken. When the run stops on another
/// environment failure instead (here a foreign listener takes trial 2's
/// port), nothing proves either way: trial 1's failure is kept in the file
/// (nothing the user has is lost) marked `"unconfirmed": true`, as the same
/// fault may have failed its eval, and a resumed run measures it again.
#[test]
fn a_held_back_failure_is_recorded_when_the_port_stops_the_run() {
    let d = tempfile::tempdir().unwrap();
    sim_repo(d.path());
    let sp = space(d.path(), r#"{"MAX_NEW_TOKENS": ["64", "48"]}"#);
    let port = free_port();
    // Trial 2's service waits until the foreign server holds the port
    // (the test says so with a file), then starts: no race with a clock.
    std::fs::write(
        d.path().join("svc.sh"),
        "if [ \"$MAX_NEW_TOKENS\" != 64 ]; then echo twin starting; while [ ! -e foreign_up ]; do sleep 0.1; done; fi\nexec bash run_model.sh\n",
    )
    .unwrap();
    let eval = "echo \"bad tokens $MAX_NEW_TOKENS\" >&2; exit 1";
    let mut c = tune_cmd(d.path(), port);
    c.args(space_args(&sp))
        .args(["--server_cmd", "bash svc.sh", "--startup_timeout", "30"])
        .args(["--eval_cmd", eval])
        .arg("--skip_existing")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    wait_for("trial 2 starting", Duration::from_secs(30), || {
        let s: serde_json::Value = serde_json::from_str(&status_text(d.path())).ok()?;
        (s["trial_ordinal"] == 2 && s["trial_phase"] == "starting").then_some(())
    });
    let foreign = Foreign::start(port, d.path());
    std::fs::write(d.path().join("foreign_up"), "").unwrap();
    let st = wait_exit(&mut child, Duration::from_secs(60));
    let out = output_of(child);
    assert_eq!(st.code(), Some(3), "{out}");
    assert!(
        out.contains(&format!("held by pid {}", foreign.pid())),
        "{out}"
    );
    assert_eq!(status(d.path())["phase"], "environment_error");
    let recs = results(d.path());
    assert_eq!(recs.len(), 1, "the held-back record was dropped: {out}");
    assert_eq!(recs[0]["params"]["MAX_NEW_TOKENS"], "64");
    assert_eq!(recs[0]["status"], "failed");
    assert_eq!(recs[0]["eval_runs"][0]["output_tail"][0], "bad tokens 64");
    assert_eq!(recs[0]["unconfirmed"], true);
    // The port is free again: trial 1 is measured again, then trial 2.
    drop(foreign);
    let mut c = tune_cmd(d.path(), port);
    c.args(space_args(&sp))
        .args(["--eval_cmd", eval])
        .arg("--skip_existing");
    let o = run(c);
    assert!(o.status.success(), "{}", text(&o));
    let values: Vec<String> = results(d.path())
        .iter()
        .map(|r| r["params"]["MAX_NEW_TOKENS"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(values, ["64", "64", "48"]);
    assert!(
        results(d.path())[1..]
            .iter()
            .all(|r| r.get("unconfirmed").is_none())
    );
}

#[test]
fn failures_that_differ_by_config_are_recorded_with_their_output_redacted() {
    let d = tempfile::tempdir().unwrap();
    sim_repo(d.path());
    let sp = space(d.path(), r#"{"MAX_NEW_TOKENS": ["64", "48"]}"#);
    let secret = "s3cr3t-smtp-password";
    std::fs::write(d.path().join("leak.txt"), format!("password={secret}\n")).unwrap();
    let mut c = tune_cmd(d.path(), free_port());
    c.env("TUNE_SMTP_PASS", secret).args(space_args(&sp)).args([
        "--eval_cmd",
        "cat leak.txt; echo \"bad tokens $MAX_NEW_TOKENS\" >&2; exit 1",
    ]);
    let o = run(c);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(!out.contains(secret), "{out}");
    assert!(out.contains("| bad tokens 64"), "{out}");
    let recs = results(d.path());
    assert_eq!(recs.len(), 2, "{out}");
    let run1 = &recs[0]["eval_runs"][0];
    assert_eq!(run1["ok"], false);
    let tail: Vec<&str> = run1["output_tail"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert_eq!(tail, vec!["password=***", "bad tokens 64"]);
    let raw = std::fs::read_to_string(d.path().join("tune_results.jsonl")).unwrap();
    assert!(!raw.contains(secret));
}

#[test]
fn impossible_figures_fail_the_eval_run() {
    let d = tempfile::tempdir().unwrap();
    sim_repo(d.path());
    let sp = space(d.path(), r#"{"MAX_NEW_TOKENS": ["64", "48"]}"#);
    std::fs::write(
        d.path().join("eval.sh"),
        "if [ \"$MAX_NEW_TOKENS\" = 64 ]; then acc=1e9; tps=100; else acc=0.9; tps=-5; fi\n\
         echo \"Accuracy (RougeL-F1 mean, RAW): $acc\"\n\
         echo \"Throughput RAW: answer_tokens/s=1, (prompt+answer)_tokens/s=$tps\"\n",
    )
    .unwrap();
    let mut c = tune_cmd(d.path(), free_port());
    c.args(space_args(&sp))
        .args(["--eval_cmd", "bash eval.sh", "--eval_runs", "1"]);
    let o = run(c);
    assert!(o.status.success(), "{}", text(&o));
    let recs = results(d.path());
    assert_eq!(recs.len(), 2);
    for r in &recs {
        assert_eq!(r["status"], "failed", "{r}");
    }
    let err = |i: usize| {
        recs[i]["eval_runs"][0]["error"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert!(err(0).contains("outside [0, 1]"), "{}", err(0));
    assert!(err(1).contains("negative"), "{}", err(1));
    assert!(!d.path().join("best_params.json").exists());
}

#[test]
fn unwritable_outputs_are_found_before_the_first_trial() {
    let d = tempfile::tempdir().unwrap();
    sim_repo(d.path());
    let sp = space(d.path(), r#"{"MAX_NEW_TOKENS": ["64"]}"#);
    // /proc takes no new directories, even from root.
    let logs = format!("/proc/autotune_trust_logs_{}", std::process::id());
    let mut c = tune_cmd(d.path(), free_port());
    c.args(space_args(&sp)).args(["--server_log_dir", &logs]);
    let o = run(c);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains(&logs), "{}", text(&o));
    assert!(
        !text(&o).contains("start (trial_"),
        "a trial ran: {}",
        text(&o)
    );
    assert!(results(d.path()).is_empty());
    assert_eq!(status(d.path())["phase"], "environment_error");
}

#[test]
fn a_full_disk_stops_the_run_and_the_watchdog_does_not_burn_trials() {
    let d = tempfile::tempdir().unwrap();
    sim_repo(d.path());
    let sp = space(d.path(), r#"{"MAX_NEW_TOKENS": ["64", "48"]}"#);
    // A file size limit of 4 KiB plays the full disk: the results file is
    // filled up to just below it, so the first record does not fit (a
    // symlink to /dev/full is refused up front as not a regular file).
    let pad = format!(
        "{{\"trial_key\": \"PAD=1\", \"status\": \"failed\", \"pad\": \"{}\"}}\n",
        "x".repeat(3900)
    );
    std::fs::write(d.path().join("tune_results.jsonl"), &pad).unwrap();
    let mut c = Command::new("bash");
    c.current_dir(d.path())
        .env("SIM_STARTUP_S", "0.2")
        .env("SIM_EVAL_S", "0.02")
        .env("SIM_EVAL_FAIL_RATE", "0")
        .args(["-c", "trap '' XFSZ; ulimit -f 4; exec \"$@\"", "limited"])
        .arg(bin())
        .args(["watchdog", "--restart_delay", "0", "--", "--repo"])
        .arg(d.path())
        .args(["--port", &free_port().to_string()])
        .args(["--eval_cmd", "bash eval_local.sh", "--eval_runs", "1"])
        .args(space_args(&sp))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut wd = c.spawn().unwrap();
    let st = wait_exit(&mut wd, Duration::from_secs(60));
    let out = output_of(wd);
    assert_eq!(st.code(), Some(3), "{out}");
    assert!(out.contains("not restarting"), "{out}");
    assert!(out.contains("tune_results.jsonl"), "{out}");
    // One trial was run, once: no restart burnt another.
    let logs = std::fs::read_dir(d.path().join("tune_server_logs"))
        .unwrap()
        .count();
    assert_eq!(logs, 1, "{out}");
    // Nothing was recorded, not even a torn part of the record.
    assert_eq!(
        std::fs::read_to_string(d.path().join("tune_results.jsonl")).unwrap(),
        pad
    );
    let s = status(d.path());
    assert_eq!(s["phase"], "environment_error");
    assert!(s["error"].as_str().unwrap().contains("tune_results.jsonl"));
}

#[test]
fn kill_9_leftovers_are_found_by_token_and_strangers_are_left_alone() {
    let d = tempfile::tempdir().unwrap();
    sim_repo(d.path());
    let sp = space(d.path(), r#"{"MAX_NEW_TOKENS": ["64", "48"]}"#);
    let port = free_port();
    let tag = format!("AT_TRUST_K9_{}", std::process::id());
    // An eval that starts a helper leaving its group, then waits long.
    std::fs::write(
        d.path().join("eval.sh"),
        "setsid sleep 300 & echo started > eval_running; sleep 300\n",
    )
    .unwrap();
    let mut c = tune_cmd(d.path(), port);
    c.env("AT_TAG", &tag)
        .env("SIM_SETSID_HELPER", "1")
        .args(space_args(&sp))
        .args(["--eval_cmd", "bash eval.sh", "--eval_timeout", "600"])
        .stdout(Stdio::null());
    let mut child = c.spawn().unwrap();
    wait_for("the eval", Duration::from_secs(20), || {
        d.path().join("eval_running").exists().then_some(())
    });
    let state: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(d.path().join(".autotune_service.json")).unwrap(),
    )
    .unwrap();
    assert!(!state["run"].as_str().unwrap().is_empty(), "{state}");
    kill(Pid::from_raw(child.id() as i32), Signal::SIGKILL).unwrap();
    child.wait().unwrap();
    wait_for("the escaped helpers", Duration::from_secs(10), || {
        (procs_with_env(&tag).len() >= 4).then_some(())
    });
    // A stranger in its own group, named by a forged state file whose
    // leader start time is wrong and which carries no token.
    let mut stranger = Command::new("setsid")
        .args(["sleep", "300"])
        .spawn()
        .unwrap();
    let spid = stranger.id() as i32;
    wait_for("the stranger's group", Duration::from_secs(5), || {
        std::fs::read_to_string(format!("/proc/{spid}/stat"))
            .ok()
            .filter(|s| s.contains("sleep"))
            .map(|_| ())
    });
    let mut forged = state.clone();
    // The restart still finds the real leftovers by the recorded run token.
    forged["pgid"] = spid.into();
    forged["start_ticks"] = 1.into();
    std::fs::write(
        d.path().join(".autotune_service.json"),
        serde_json::to_string(&forged).unwrap(),
    )
    .unwrap();
    let mut c = tune_cmd(d.path(), port);
    c.args(space_args(&sp)).arg("--skip_existing");
    let o = run(c);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("stopped the service left running by an earlier tuner"),
        "{}",
        text(&o)
    );
    assert_eq!(
        procs_with_env(&tag),
        Vec::<i32>::new(),
        "leftovers survived"
    );
    assert!(alive(spid), "a process named only by number was signalled");
    let _ = stranger.kill();
    let _ = stranger.wait();
}

#[test]
fn a_state_file_naming_group_0_or_1_signals_nothing() {
    let d = tempfile::tempdir().unwrap();
    sim_repo(d.path());
    let sp = space(d.path(), r#"{"MAX_NEW_TOKENS": ["64"]}"#);
    for pgid in [0, 1] {
        std::fs::write(
            d.path().join(".autotune_service.json"),
            format!(
                r#"{{"pgid": {pgid}, "start_ticks": 0, "tuner_pid": 1, "port": 1, "log": "x", "run": "nobody-0", "trial": 1}}"#
            ),
        )
        .unwrap();
        let mut c = tune_cmd(d.path(), free_port());
        c.args(space_args(&sp)).arg("--skip_existing");
        let o = run(c);
        // Signalling group 0 would have killed the tuner itself.
        assert!(o.status.success(), "pgid {pgid}: {}", text(&o));
    }
}

#[test]
fn nohup_keeps_the_tuner_and_the_watchdog_running_through_sighup() {
    let d = tempfile::tempdir().unwrap();
    sim_repo(d.path());
    let sp = space(d.path(), r#"{"MAX_NEW_TOKENS": ["64", "48"]}"#);
    let mut c = Command::new("nohup");
    c.current_dir(d.path())
        .env("SIM_STARTUP_S", "0.2")
        .env("SIM_EVAL_S", "1")
        .env("SIM_EVAL_FAIL_RATE", "0")
        .arg(bin())
        .args(["watchdog", "--restart_delay", "0", "--", "--repo"])
        .arg(d.path())
        .args(["--port", &free_port().to_string()])
        .args(["--eval_cmd", "bash eval_local.sh", "--eval_runs", "2"])
        .args(space_args(&sp))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut wd = c.spawn().unwrap();
    let tuner = wait_for("the tuner in eval", Duration::from_secs(20), || {
        let s: serde_json::Value = serde_json::from_str(&status_text(d.path())).ok()?;
        (s["trial_phase"] == "eval 1/2").then(|| s["pid"].as_i64().unwrap() as i32)
    });
    // The session closes: both get SIGHUP.
    kill(Pid::from_raw(tuner), Signal::SIGHUP).unwrap();
    kill(Pid::from_raw(wd.id() as i32), Signal::SIGHUP).unwrap();
    let st = wait_exit(&mut wd, Duration::from_secs(60));
    let out = output_of(wd);
    assert_eq!(st.code(), Some(0), "{out}");
    assert!(
        !out.contains("restart 1"),
        "the tuner died of SIGHUP: {out}"
    );
    assert_eq!(status(d.path())["phase"], "done");
    assert_eq!(results(d.path()).len(), 2);
}

#[test]
fn the_watchdog_resumes_with_skip_existing_even_when_not_asked() {
    let d = tempfile::tempdir().unwrap();
    sim_repo(d.path());
    let sp = space(d.path(), r#"{"MAX_NEW_TOKENS": ["64", "48", "80"]}"#);
    let mut c = Command::new(bin());
    c.current_dir(d.path())
        .env("SIM_STARTUP_S", "0.2")
        .env("SIM_EVAL_S", "0.4")
        .env("SIM_EVAL_FAIL_RATE", "0")
        .args(["watchdog", "--restart_delay", "0", "--", "--repo"])
        .arg(d.path())
        .args(["--port", &free_port().to_string()])
        .args(["--eval_cmd", "bash eval_local.sh", "--eval_runs", "2"])
        .args(space_args(&sp))
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut wd = c.spawn().unwrap();
    let tuner = wait_for("the second trial's eval", Duration::from_secs(30), || {
        let s: serde_json::Value = serde_json::from_str(&status_text(d.path())).ok()?;
        (s["trial_ordinal"] == 2 && s["trial_phase"] == "eval 1/2")
            .then(|| s["pid"].as_i64().unwrap() as i32)
    });
    assert!(
        autotune::process::cmdline(tuner).contains("--skip_existing"),
        "{}",
        autotune::process::cmdline(tuner)
    );
    kill(Pid::from_raw(tuner), Signal::SIGKILL).unwrap();
    let st = wait_exit(&mut wd, Duration::from_secs(60));
    assert_eq!(st.code(), Some(0));
    let keys: Vec<String> = results(d.path())
        .iter()
        .map(|r| r["trial_key"].as_str().unwrap().to_string())
        .collect();
    let mut uniq = keys.clone();
    uniq.sort();
    uniq.dedup();
    assert_eq!(
        uniq.len(),
        keys.len(),
        "a trial was recorded twice: {keys:?}"
    );
    assert_eq!(keys.len(), 3);
}

#[test]
fn results_are_read_as_python_reads_them() {
    let d = tempfile::tempdir().unwrap();
    sim_repo(d.path());
    let sp = space(d.path(), r#"{"MAX_NEW_TOKENS": ["64"]}"#);
    let line = |key: &str, tps: &str, acc: &str| {
        format!(
            "{{\"ts\": \"2026-01-01T00:00:00\", \"trial_key\": \"{key}\", \"status\": \"ok\", \"phase\": \"eval\", \"param_under_test\": \"X\", \"params\": {{\"X\": \"1\"}}, \"eval_ok_n\": 1, \"eval_runs\": [], \"avg_accuracy\": {acc}, \"avg_total_tps\": {tps}, \"avg_answer_tps\": null, \"avg_total_time_s\": null}}\n"
        )
    };
    let mut body = String::from("\u{feff}");
    body += &line("X=1", "123.4", "0.9"); // BOM line: read
    body += &line("", "99999", "0.9"); // no key: never the best
    body += &line("X=2", "\"fast\"", "0.9"); // wrong type: unreadable
    body += &line("X=3", "NaN", "Infinity"); // Python's constants: read
    body += &line("X=4", "-Infinity", "0.9");
    std::fs::write(d.path().join("tune_results.jsonl"), &body).unwrap();
    // auto_tune.py's records carry no runs: the plain search judges them by
    // their means (the noise-aware one never takes a record without runs
    // as a winner, so it shows none as the best either).
    let mut c = tune_cmd(d.path(), free_port());
    c.args(space_args(&sp))
        .args(["--accuracy_threshold", "0.5", "--search_policy", "plain"]);
    let o = run(c);
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(o.status.success(), "{}", text(&o));
    assert!(out.contains("4 records in"), "{out}");
    // The BOM line is read: the first new best beats it. The start line
    // names the search's own choice, which no record of this file holds.
    assert!(out.contains("(was 123.4)"), "{out}");
    assert!(out.contains("best so far none"), "{out}");
    assert!(
        out.contains("1 unreadable line(s) ignored (line 3)"),
        "{out}"
    );
}

/// An eval printing `tps` (a shell expression of `$KNOB`) as total
/// tokens/s and accuracy 0.9.
fn knob_eval(d: &Path, tps: &str) {
    std::fs::write(
        d.join("eval.sh"),
        format!(
            "echo \"Accuracy (RougeL-F1 mean, RAW): 0.9\"\n\
             echo \"Throughput RAW: answer_tokens/s=1, (prompt+answer)_tokens/s={tps}\"\n"
        ),
    )
    .unwrap();
}

/// Parameter values holding terminal control sequences (a title change,
/// a screen clear) and a newline (a forged line): every line the headless
/// run and its outcome print shows them escaped.
#[test]
fn control_characters_in_values_never_reach_the_terminal_raw() {
    let d = tempfile::tempdir().unwrap();
    sim_repo(d.path());
    let evil = "x\u{1b}]0;pwned\u{7}\u{1b}[2J\nforged: done, every group explored";
    let sp = space(
        d.path(),
        &serde_json::json!({ "KNOB": ["plain", evil] }).to_string(),
    );
    knob_eval(
        d.path(),
        "$(if [ \"$KNOB\" = plain ]; then echo 100; else echo 200; fi)",
    );
    let mut c = tune_cmd(d.path(), free_port());
    c.args(space_args(&sp)).args(["--eval_cmd", "bash eval.sh"]);
    let o = run(c);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    // The value did win (so the outcome names it) and was measured as given.
    let recs = results(d.path());
    assert_eq!(recs.len(), 2, "{out}");
    assert_eq!(recs[1]["params"]["KNOB"], evil);
    assert!(out.contains("KNOB=x?]0;pwned??[2J?forged"), "{out}");
    assert!(!out.contains('\u{1b}') && !out.contains('\u{7}'), "{out:?}");
    assert!(
        !out.lines().any(|l| l.starts_with("forged")),
        "a forged line: {out}"
    );
}

/// An eval reporting 1.7e308 tok/s in each run: the mean overflows to
/// infinity. That is a failed trial with a reason, never the winner, and
/// the report draws no NaN.
#[test]
fn figures_that_overflow_are_a_failed_trial_not_a_winner() {
    let d = tempfile::tempdir().unwrap();
    sim_repo(d.path());
    let sp = space(d.path(), r#"{"KNOB": ["a", "b"]}"#);
    knob_eval(
        d.path(),
        "$(if [ \"$KNOB\" = a ]; then echo 100; else echo 1.7e308; fi)",
    );
    let mut c = tune_cmd(d.path(), free_port());
    c.args(space_args(&sp)).args(["--eval_cmd", "bash eval.sh"]);
    let o = run(c);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    let recs = results(d.path());
    assert_eq!(recs.len(), 2, "{out}");
    assert_eq!(recs[0]["status"], "ok", "{}", recs[0]);
    assert_eq!(recs[1]["status"], "failed", "{}", recs[1]);
    assert!(
        recs[1]["reason"].as_str().unwrap().contains("non-finite"),
        "{}",
        recs[1]
    );
    let best = std::fs::read_to_string(d.path().join("best_params.json")).unwrap();
    let best: serde_json::Value = serde_json::from_str(&best).unwrap();
    assert_eq!(best["KNOB"], "a", "{best}");
    let report = std::fs::read_to_string(d.path().join("tune_report.html")).unwrap();
    assert!(!report.contains("NaN"), "the report draws NaN");
    assert!(!report.to_lowercase().contains("inf tok"), "{report}");
}

/// An eval that exits 0 but prints nothing the patterns parse, from the
/// first trial on, is broken: the run stops after that trial (exit 3),
/// records nothing, names the pattern and shows the output. Fixed, every
/// configuration is measured.
#[test]
fn an_eval_whose_output_never_parses_stops_the_run_after_one_trial() {
    let d = tempfile::tempdir().unwrap();
    sim_repo(d.path());
    let sp = space(d.path(), r#"{"MAX_NEW_TOKENS": ["64", "48", "80"]}"#);
    let port = free_port();
    let mut c = tune_cmd(d.path(), port);
    c.args(space_args(&sp))
        .args(["--eval_cmd", "echo 'acc: 0.91 tps: 5000'"])
        .arg("--skip_existing");
    let o = run(c);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(3), "{out}");
    assert!(results(d.path()).is_empty(), "{out}");
    assert_eq!(out.matches(" start (trial_").count(), 1, "{out}");
    assert!(
        out.contains(r"Accuracy \(RougeL-F1 mean, RAW\)") && out.contains("acc: 0.91 tps: 5000"),
        "{out}"
    );
    assert_eq!(status(d.path())["phase"], "environment_error");
    let mut c = tune_cmd(d.path(), port);
    c.args(space_args(&sp)).arg("--skip_existing");
    let o = run(c);
    assert!(o.status.success(), "{}", text(&o));
    let recs = results(d.path());
    assert_eq!(recs.len(), 3);
    assert!(recs.iter().all(|r| r["status"] == "ok"));
}

/// Runs `c` with stdout and stderr into one file, as a terminal shows
/// them (`2>&1`), and returns its exit code and everything printed.
fn run_into_one_file(mut c: Command, d: &Path) -> (Option<i32>, String) {
    let path = d.join("printed.txt");
    let f = std::fs::File::create(&path).unwrap();
    c.stdout(f.try_clone().unwrap()).stderr(f);
    let st = c.status().unwrap();
    (st.code(), std::fs::read_to_string(&path).unwrap())
}

/// What an outcome after an environment failure may not say: files that
/// do not exist, a winner that nothing was compared against, no trials.
fn assert_truthful_outcome(out: &str, d: &Path) {
    let at = out.find("autotune: stopped").expect(out);
    let out = &out[at..];
    for f in ["best_params.json", "tune_report.html", "tune_results.jsonl"] {
        assert!(!d.join(f).exists(), "{f} exists");
        assert!(!out.contains(f), "{f} named but absent: {out}");
    }
    assert!(!out.contains("no change beat it"), "{out}");
    assert!(!out.contains("not measured"), "{out}");
    assert!(out.contains("  measured: nothing"), "{out}");
    assert!(
        out.contains("  next:    fix the cause and run again\n"),
        "{out}"
    );
}

/// After a broken eval command the outcome says once what stopped the
/// run, that the two trials ran but were not recorded, and names only
/// files that exist (issue #23).
#[test]
fn after_a_broken_eval_the_outcome_says_once_what_stopped_it_and_names_only_real_files() {
    let d = tempfile::tempdir().unwrap();
    sim_repo(d.path());
    let sp = space(d.path(), r#"{"MAX_NEW_TOKENS": ["64", "48", "80"]}"#);
    let mut c = tune_cmd(d.path(), free_port());
    c.args(space_args(&sp))
        .args(["--eval_cmd", "pyhton3 eval.py"]);
    let (code, out) = run_into_one_file(c, d.path());
    assert_eq!(code, Some(3), "{out}");
    assert_eq!(out.matches("it looks broken").count(), 1, "{out}");
    assert!(
        out.contains("autotune: stopped: the environment failed, not the configuration: the eval command failed"),
        "{out}"
    );
    assert!(
        out.contains("  trials:  2 run (2 not recorded); GPU time"),
        "{out}"
    );
    assert_truthful_outcome(&out, d.path());
    assert!(out.contains("  logs:    "), "{out}");
}

/// A foreign listener on the port: nothing ran, and the outcome says so
/// once.
#[test]
fn after_a_busy_port_the_outcome_says_once_that_nothing_ran() {
    let d = tempfile::tempdir().unwrap();
    sim_repo(d.path());
    let sp = space(d.path(), r#"{"MAX_NEW_TOKENS": ["64"]}"#);
    let port = free_port();
    let foreign = Foreign::start(port, d.path());
    let mut c = tune_cmd(d.path(), port);
    c.args(space_args(&sp))
        .args(["--port_busy_retries", "1", "--port_busy_wait_s", "0.3"]);
    let (code, out) = run_into_one_file(c, d.path());
    assert_eq!(code, Some(3), "{out}");
    let held = format!("held by pid {}", foreign.pid());
    // What stopped the run, said once; the wait before it names the
    // holder too (while waiting, not only at the end).
    assert_eq!(out.matches("busy after 1 wait(s)").count(), 1, "{out}");
    assert_eq!(out.matches(&held).count(), 2, "{out}");
    assert!(out.contains(&format!("port busy ({held}")), "{out}");
    assert!(out.contains("  trials:  none run; GPU time"), "{out}");
    assert_truthful_outcome(&out, d.path());
}
