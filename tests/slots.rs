//! Several trials at once on one machine (`--gpus`, `--slots`): the same
//! choices as one slot, each slot with its own devices, port and state
//! file, skip of every running trial, recovery of every slot's service
//! after a crash, and `autotune trial`.

mod common;
mod slots_support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{
    alive, bin, free_port, procs_with_env, records, run, sim_repo, space, text, wait_for,
};
use slots_support::{check_concurrent_devices, choices, fast_run, logged_devices};

fn cmdline(pid: i32) -> String {
    String::from_utf8_lossy(&std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default())
        .replace('\0', " ")
}

/// A space of three groups: a crash (0.99), then groups of 5 and 4 values.
const SPACE: &str = r#"{"GPU_MEMORY_UTILIZATION": ["0.97", "0.98", "0.99"],
 "VLLM_MAX_NUM_BATCHED_TOKENS": ["65536", "98304", "131072", "196608", "262144"],
 "OUTPUT_MAX_SENTENCES": ["2", "4", "6", "8"]}"#;

fn with_space(c: &mut Command, dir: &Path) {
    let s = space(dir, SPACE);
    c.args(common::space_args(&s));
}

#[test]
fn four_gpus_choose_what_one_slot_chooses_each_slot_on_its_device_and_port() {
    let one = tempfile::tempdir().unwrap();
    let mut c = fast_run(one.path(), free_port());
    with_space(&mut c, one.path());
    let o = run(c);
    assert!(o.status.success(), "{}", text(&o));

    let four = tempfile::tempdir().unwrap();
    // Far from other tests' ports: slots use port, port+10, ... port+30.
    let port = free_port();
    let mut c = fast_run(four.path(), port);
    with_space(&mut c, four.path());
    c.args(["--gpus", "0,1,2,3", "--port_env", "VLLM_PORT=30100"]);
    let o = run(c);
    let out = text(&o);
    assert!(o.status.success(), "{out}");

    assert_eq!(choices(one.path()), choices(four.path()));
    let most = check_concurrent_devices(&out);
    assert!(most >= 3, "at most {most} trials ran at once:\n{out}");
    for r in records(&four.path().join("tune_results.jsonl")) {
        let slot = r["slot"].as_u64().expect("a record names its slot") as u16;
        let log = four.path().join(r["server_log"].as_str().unwrap());
        assert_eq!(logged_devices(&log), Some(slot.to_string()), "{r}");
        let log_text = std::fs::read_to_string(&log).unwrap();
        assert!(
            log_text.contains(&format!("starting on port {}", port + 10 * slot)),
            "{log_text}"
        );
    }
    // Every service was stopped and forgotten.
    let left: Vec<_> = std::fs::read_dir(four.path())
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(".autotune_service")
        })
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn sigusr1_skips_every_running_trial_and_the_run_goes_on() {
    let d = tempfile::tempdir().unwrap();
    let tag = format!("slots-usr1-{}", std::process::id());
    let mut c = fast_run(d.path(), free_port());
    let s = space(d.path(), r#"{"MAX_NEW_TOKENS": ["32", "64", "96"]}"#);
    c.args(common::space_args(&s))
        .args(["--slots", "3", "--startup_timeout", "120"])
        .env("SIM_STARTUP_S", "100")
        .env("AUTOTUNE_TEST_TAG", &tag)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = c.spawn().unwrap();
    let pid = child.id() as i32;
    // Three services in their start-up at once.
    wait_for("three services", Duration::from_secs(60), || {
        (procs_with_env(&tag)
            .iter()
            .filter(|p| cmdline(**p).contains("sim-serve"))
            .count()
            >= 3)
            .then_some(())
    });
    // The status file lists every running trial, not just the latest.
    let status = d.path().join("tune_status.json");
    let read_status = || -> Option<serde_json::Value> {
        serde_json::from_str(&std::fs::read_to_string(&status).ok()?).ok()
    };
    let st = wait_for(
        "three running trials in the status file",
        Duration::from_secs(30),
        || read_status().filter(|v| v["running"].as_array().is_some_and(|r| r.len() == 3)),
    );
    assert_eq!(st["slots"], 3, "{st}");
    let running = st["running"].as_array().unwrap();
    let mut in_slots: Vec<u64> = running
        .iter()
        .map(|t| t["slot"].as_u64().unwrap())
        .collect();
    in_slots.sort();
    assert_eq!(in_slots, [0, 1, 2], "{st}");
    for t in running {
        let v = t["value"].as_str().unwrap();
        // What each changes from the base (the base's own value: nothing).
        let changed = t["changed"].as_object().unwrap();
        assert!(changed.is_empty() || changed["MAX_NEW_TOKENS"] == v, "{st}");
        assert!(t["phase"].is_string() && t["started"].is_string(), "{st}");
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGUSR1,
    )
    .unwrap();
    let o = child.wait_with_output().unwrap();
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    // The start line says how many trials run at once.
    assert!(out.contains("3 trials planned (3 at once)"), "{out}");
    assert_eq!(read_status().unwrap()["running"], serde_json::json!([]));
    let recs = records(&d.path().join("tune_results.jsonl"));
    assert_eq!(recs.len(), 3, "{out}");
    assert!(recs.iter().all(|r| r["status"] == "skipped"), "{recs:?}");
    let mut slots: Vec<u64> = recs.iter().map(|r| r["slot"].as_u64().unwrap()).collect();
    slots.sort();
    assert_eq!(slots, [0, 1, 2]);
    assert!(procs_with_env(&tag).is_empty());
}

/// A launcher like `srun`: the trial runs apart (a session of its own, as
/// on another node) and hears only the signals the launcher passes on. A
/// skip (SIGUSR1) is noted but not passed on, so the trial keeps running.
/// SIGTERM and SIGINT are noted and, with `$2` = `forward`, passed on (the
/// launcher then waits for the trial); with `$2` = `quit` the launcher
/// just exits, leaving the trial running. Each signal seen goes to `$1`.
const LAUNCHER: &str = r#"log="$1"; mode="$2"; shift 2
setsid "$@" &
pid=$!
trap 'echo usr1 >> "$log"' USR1
if [ "$mode" = forward ]; then
    trap 'echo term >> "$log"; kill -TERM $pid' TERM INT
else
    trap 'echo term >> "$log"; exit 0' TERM INT
fi
while kill -0 $pid 2>/dev/null; do wait $pid; done
"#;

/// Two trials run through [`LAUNCHER`] in `mode`; SIGUSR1 skips them (the
/// launchers do not stop them), then SIGTERM aborts the run before they
/// have stopped. The abort reaches every launcher, the run ends
/// interrupted with nothing recorded, and no process of the run survives.
fn abort_after_a_skip_through_a_launcher(mode: &str) {
    let d = tempfile::tempdir().unwrap();
    let tag = format!("slots-launch-{mode}-{}", std::process::id());
    let launcher = d.path().join("launch.sh");
    std::fs::write(&launcher, LAUNCHER).unwrap();
    let seen = d.path().join("launcher.log");
    let mut c = fast_run(d.path(), free_port());
    let s = space(d.path(), r#"{"MAX_NEW_TOKENS": ["32"]}"#);
    c.args(common::space_args(&s))
        .args(["--slots", "2", "--startup_timeout", "120", "--launcher"])
        .arg(format!(
            "bash {} {} {mode}",
            launcher.display(),
            seen.display()
        ))
        .env("SIM_STARTUP_S", "100")
        .env("AUTOTUNE_TEST_TAG", &tag)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    // How many launchers noted `what`.
    let said = |what: &str| {
        std::fs::read_to_string(&seen)
            .unwrap_or_default()
            .lines()
            .filter(|l| *l == what)
            .count()
    };
    let services = || {
        procs_with_env(&tag)
            .iter()
            .filter(|p| cmdline(**p).contains("sim-serve"))
            .count()
    };
    wait_for("both launched services", Duration::from_secs(60), || {
        (services() == 2).then_some(())
    });
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGUSR1).unwrap();
    wait_for(
        "the skip to reach both launchers",
        Duration::from_secs(30),
        || (said("usr1") == 2).then_some(()),
    );
    // The launchers kept the trials running: still starting up.
    assert_eq!(services(), 2);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    wait_for(
        "the abort to reach both launchers",
        Duration::from_secs(30),
        || (said("term") == 2).then_some(()),
    );
    let status = wait_for("the tuner to end", Duration::from_secs(60), || {
        child.try_wait().unwrap()
    });
    let o = child.wait_with_output().unwrap();
    let out = text(&o);
    assert_eq!(status.code(), Some(128 + 15), "{out}");
    assert!(out.contains("interrupted by signal 15"), "{out}");
    // An abort is not a result.
    assert!(
        records(&d.path().join("tune_results.jsonl")).is_empty(),
        "{out}"
    );
    wait_for(
        "every process of the run to be gone",
        Duration::from_secs(10),
        || procs_with_env(&tag).is_empty().then_some(()),
    );
}

/// The launcher passes the abort on: the trials stop their services.
#[test]
fn an_abort_after_a_skip_reaches_every_launched_trial_and_nothing_survives() {
    abort_after_a_skip_through_a_launcher("forward");
}

/// The launcher dies on the abort without passing it on: what it left
/// running here (the trials, their services) is stopped by the tuner.
#[test]
fn what_a_launcher_leaves_running_after_an_abort_is_stopped() {
    abort_after_a_skip_through_a_launcher("quit");
}

/// A launcher that leaves a helper behind (double-forked, in a session of
/// its own: `script`) and runs the trial: the run finishes, and once it has
/// ended nothing it started survives.
fn what_a_launcher_leaves_behind(script: &str, name: &str) {
    let d = tempfile::tempdir().unwrap();
    let tag = format!("slots-leftover-{name}-{}", std::process::id());
    let launcher = d.path().join("launch.sh");
    std::fs::write(&launcher, script).unwrap();
    let mut c = fast_run(d.path(), free_port());
    let s = space(d.path(), r#"{"MAX_NEW_TOKENS": ["32"]}"#);
    c.args(common::space_args(&s))
        .args(["--launcher"])
        .arg(format!("bash {}", launcher.display()))
        .env("AUTOTUNE_TEST_TAG", &tag);
    let o = c.output().unwrap();
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    let recs = records(&d.path().join("tune_results.jsonl"));
    assert_eq!(recs.len(), 2, "{out}");
    assert!(recs.iter().all(|r| r["status"] == "ok"), "{recs:?}");
    wait_for(
        "every process of the run to be gone",
        Duration::from_secs(10),
        || procs_with_env(&tag).is_empty().then_some(()),
    );
}

/// A launcher that prints bytes that are not UTF-8 before the trial's
/// output: the trial's record is still read.
#[test]
fn a_launcher_printing_bytes_that_are_not_utf8_does_not_lose_the_record() {
    what_a_launcher_leaves_behind("printf 'banner \\377\\376\\n'\nexec \"$@\"\n", "bytes");
}

/// The helper lets go of the launcher's output: it is stopped when the
/// finished run ends.
#[test]
fn what_a_launcher_leaves_behind_is_stopped_after_a_finished_run() {
    what_a_launcher_leaves_behind(
        "(setsid sleep 1000 </dev/null >/dev/null 2>&1 &)\nexec \"$@\"\n",
        "quiet",
    );
}

/// The helper keeps the launcher's output open: the trial's record is read
/// anyway, the helper stopped, and the run does not wait on it for ever.
#[test]
fn a_leftover_holding_the_launchers_output_does_not_hang_the_run() {
    what_a_launcher_leaves_behind("(setsid sleep 1000 &)\nexec \"$@\"\n", "pipe");
}

#[test]
fn a_killed_tuner_leaves_services_in_every_slot_that_the_next_run_stops() {
    let d = tempfile::tempdir().unwrap();
    let tag = format!("slots-kill-{}", std::process::id());
    let port = free_port();
    let mut c = fast_run(d.path(), port);
    let s = space(d.path(), r#"{"MAX_NEW_TOKENS": ["32", "64"]}"#);
    c.args(common::space_args(&s))
        .args(["--slots", "2", "--startup_timeout", "120"])
        .env("SIM_STARTUP_S", "100")
        .env("AUTOTUNE_TEST_TAG", &tag)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = c.spawn().unwrap();
    let state0 = d.path().join(".autotune_service.json");
    let state1 = d.path().join(".autotune_service.slot1.json");
    wait_for("both state files", Duration::from_secs(60), || {
        (state0.exists() && state1.exists()).then_some(())
    });
    let pgids: Vec<i32> = [&state0, &state1]
        .iter()
        .map(|f| {
            let v: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(f).unwrap()).unwrap();
            v["pgid"].as_i64().unwrap() as i32
        })
        .collect();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        pgids.iter().all(|p| alive(*p)),
        "services survive the tuner"
    );

    // The next run, with one slot, stops both before anything else.
    let mut c = fast_run(d.path(), port);
    c.args(common::space_args(&s))
        .args(["--startup_timeout", "120"])
        .env("SIM_STARTUP_S", "0.2");
    let o = run(c);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    // Found by the earlier run's token: the first state file read stops
    // every process of that run, both slots' services included.
    assert!(
        out.contains("stopped the service left running by an earlier tuner"),
        "{out}"
    );
    for p in pgids {
        wait_for("the leftover to be gone", Duration::from_secs(30), || {
            (!alive(p)).then_some(())
        });
    }
    assert!(!state1.exists());
}

#[test]
fn autotune_trial_runs_one_trial_and_prints_its_record() {
    let d = tempfile::tempdir().unwrap();
    sim_repo(d.path());
    let port = free_port();
    let spec = r#"{"ordinal": 7, "param": "MAX_NEW_TOKENS", "value": "96",
        "params": {"MAX_NEW_TOKENS": "96", "GPU_MEMORY_UTILIZATION": "0.97"}, "index": 5}"#;
    let mut c = Command::new(bin());
    c.current_dir(d.path())
        .env("SIM_STARTUP_S", "0.2")
        .env("SIM_EVAL_S", "0.02")
        .env("SIM_EVAL_FAIL_RATE", "0")
        .env("SIM_NOISE", "0")
        .args(["trial", "--repo"])
        .arg(d.path())
        .args([
            "--port",
            &port.to_string(),
            "--eval_cmd",
            "bash eval_local.sh",
        ])
        .args(["--eval_runs", "2", "--trial_env", "VLLM_PORT=31234"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), spec.as_bytes()).unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    let rec: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(rec["status"], "ok", "{rec}");
    assert_eq!(rec["eval_ok_n"], 2);
    assert_eq!(rec["params"]["MAX_NEW_TOKENS"], "96");
    assert_eq!(rec["trial_index"], 5);
    assert_eq!(rec["server_log"], "tune_server_logs/trial_00005.log");
    // Progress went to stderr, for the engine that launched it.
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("@autotune {\"kind\":\"started\""),
        "{stderr}"
    );
    // Nothing of a tuning run: no results file, no status file.
    assert!(!d.path().join("tune_results.jsonl").exists());
    assert!(!d.path().join("tune_status.json").exists());
}

#[test]
fn slot_flags_are_checked() {
    let d = tempfile::tempdir().unwrap();
    sim_repo(d.path());
    for (args, want) in [
        (
            &["--gpus", "0,1,2", "--gpus_per_trial", "2"][..],
            "not a multiple of --gpus_per_trial",
        ),
        (
            &["--gpus", "0,1", "--slots", "3"][..],
            "gives only 2 slot(s)",
        ),
        (&["--gpus", "0,,1"][..], "--gpus"),
        (&["--slots", "0"][..], "--slots: must be at least 1"),
        (&["--slots", "2", "--port_stride", "0"][..], "--port_stride"),
        (
            &["--port_env", "NO_SUCH_PORT_VAR_X"][..],
            "--port_env NO_SUCH_PORT_VAR_X",
        ),
        (
            &["--gpus", "0,1", "--launcher", "srun"][..],
            "--gpus and --launcher",
        ),
    ] {
        let o = Command::new(bin())
            .args(["--headless", "--repo"])
            .arg(d.path())
            .args(["--eval_cmd", "bash eval_local.sh"])
            .args(args)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
        assert!(text(&o).contains(want), "{args:?}: {}", text(&o));
    }
}

/// `autotune demo --gpus 2` shows two trials at once on simulated devices.
#[test]
fn the_demo_runs_on_simulated_gpus() {
    let d = tempfile::tempdir().unwrap();
    let o = Command::new(bin())
        .env("SIM_NOISE", "0")
        .env("SIM_EVAL_FAIL_RATE", "0")
        .env("SIM_STARTUP_S", "0.05")
        .env("SIM_EVAL_S", "0.01")
        .args([
            "demo",
            "--headless",
            "--eval_runs",
            "1",
            "--gpus",
            "2",
            "--dir",
        ])
        .arg(d.path())
        .output()
        .unwrap();
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    let recs = records(&d.path().join("tune_results.jsonl"));
    for slot in [0, 1] {
        assert!(
            recs.iter().any(|r| r["slot"] == slot),
            "no record from slot {slot}:\n{out}"
        );
    }
    assert!(out.contains("devices 1"), "{out}");
}

/// A launcher that runs the trial twice at once (`srun --ntasks=2`, a
/// wrapper starting it twice): the figures were measured against a copy of
/// the trial. Nothing is recorded, the run stops (exit 3) saying so, and
/// nothing it started survives.
#[test]
fn a_launcher_that_runs_the_trial_twice_is_caught_and_nothing_is_recorded() {
    let d = tempfile::tempdir().unwrap();
    let tag = format!("slots-twice-{}", std::process::id());
    let launcher = d.path().join("launch.sh");
    std::fs::write(&launcher, "\"$@\" &\n\"$@\"\nwait\n").unwrap();
    let mut c = fast_run(d.path(), free_port());
    let s = space(d.path(), r#"{"MAX_NEW_TOKENS": ["32"]}"#);
    c.args(common::space_args(&s))
        .args(["--port_busy_retries", "0", "--launcher"])
        .arg(format!("bash {}", launcher.display()))
        .env("AUTOTUNE_TEST_TAG", &tag);
    let o = c.output().unwrap();
    let out = text(&o);
    assert_eq!(o.status.code(), Some(3), "{out}");
    assert!(out.contains("ran the trial 2 times"), "{out}");
    assert!(
        records(&d.path().join("tune_results.jsonl")).is_empty(),
        "{out}"
    );
    wait_for(
        "every process of the run to be gone",
        Duration::from_secs(10),
        || procs_with_env(&tag).is_empty().then_some(()),
    );
}

/// kill -9 of the tuner while a launched trial runs: the `autotune trial`,
/// its service and the launcher keep running, holding the port. The next
/// tuner on the repo finds them by the run id they carry, stops them, says
/// so, and tunes (instead of stopping at its busy port).
#[test]
fn a_launched_trial_left_by_a_killed_tuner_is_stopped_by_the_next() {
    let d = tempfile::tempdir().unwrap();
    let first = format!("slots-kill9-{}", std::process::id());
    let launcher = d.path().join("launch.sh");
    std::fs::write(&launcher, "exec \"$@\"\n").unwrap();
    let port = free_port();
    let s = space(d.path(), r#"{"MAX_NEW_TOKENS": ["32"]}"#);
    let run = |tag: &str| {
        let mut c = fast_run(d.path(), port);
        c.args(common::space_args(&s))
            .args(["--startup_timeout", "120", "--launcher"])
            .arg(format!("bash {}", launcher.display()))
            .env("AUTOTUNE_TEST_TAG", tag);
        c
    };
    let services = |tag: &str| {
        procs_with_env(tag)
            .iter()
            .filter(|p| cmdline(**p).contains("sim-serve"))
            .count()
    };
    // A service that takes long to start: the tuner is killed meanwhile.
    let mut c = run(&first);
    c.env("SIM_STARTUP_S", "100")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut tuner = c.spawn().unwrap();
    wait_for("the launched service", Duration::from_secs(60), || {
        (services(&first) == 1).then_some(())
    });
    tuner.kill().unwrap();
    tuner.wait().unwrap();
    assert_eq!(services(&first), 1, "the launched trial outlives its tuner");
    let o = run(&format!("{first}-again")).output().unwrap();
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("left running by an earlier tuner"), "{out}");
    assert_eq!(
        records(&d.path().join("tune_results.jsonl")).len(),
        2,
        "{out}"
    );
    wait_for(
        "everything the killed tuner's trial started to be gone",
        Duration::from_secs(20),
        || procs_with_env(&first).is_empty().then_some(()),
    );
}
