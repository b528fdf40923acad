//! Trials through a real Slurm cluster (`--launcher 'srun ...'`): the
//! one-node cluster of tests/slurm/start.sh (tests/run.sh starts it), four
//! fake GPUs handed out by Slurm. Fails, rather than skipping, when the
//! cluster is not up.

mod common;
mod slots_support;

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::{free_port, procs_with_env, records, run, space, text, wait_for};
use slots_support::{check_concurrent_devices, choices, fast_run, logged_devices};

/// The cluster's configuration: `SLURM_CONF`, or where start.sh puts it.
fn slurm_conf() -> PathBuf {
    std::env::var_os("SLURM_CONF")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(
                std::env::var("AUTOTUNE_SLURM_DIR").unwrap_or("/tmp/autotune-slurm".into()),
            )
            .join("slurm.conf")
        })
}

fn slurm(cmd: &str, args: &[&str]) -> Output {
    Command::new(cmd)
        .env("SLURM_CONF", slurm_conf())
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("{cmd}: {e}; start the test cluster with `bash tests/slurm/start.sh`")
        })
}

/// Panics with the way to start the cluster unless its node answers.
/// The cluster has four GPUs: tests that fill them must not overlap.
static CLUSTER: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Takes the cluster for one test (a failed test's poison is no reason to
/// fail the next).
fn cluster() -> std::sync::MutexGuard<'static, ()> {
    CLUSTER.lock().unwrap_or_else(|e| e.into_inner())
}

fn require_cluster() {
    let o = slurm("sinfo", &["-h", "-o", "%T"]);
    let state = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success() && state.lines().any(|l| !l.contains("down") && !l.is_empty()),
        "no Slurm cluster answers (SLURM_CONF={}): run `bash tests/slurm/start.sh` first\n{}",
        slurm_conf().display(),
        text(&o)
    );
}

/// Jobs named `name` in the queue (pending or running).
fn queued(name: &str) -> Vec<String> {
    let o = slurm("squeue", &["-h", "-n", name, "-o", "%i %T"]);
    assert!(o.status.success(), "{}", text(&o));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn four_slots_through_srun_choose_what_one_slot_chooses() {
    let _cluster = cluster();
    require_cluster();
    let one = tempfile::tempdir().unwrap();
    let o = run(fast_run(one.path(), free_port()));
    assert!(o.status.success(), "{}", text(&o));

    let four = tempfile::tempdir().unwrap();
    let job = format!("autotune-test-{}", std::process::id());
    let mut c = fast_run(four.path(), free_port());
    c.env("SLURM_CONF", slurm_conf()).args([
        "--slots",
        "4",
        "--launcher",
        &format!("srun --ntasks=1 --gres=gpu:1 --job-name={job}"),
    ]);
    let o = run(c);
    let out = text(&o);
    assert!(o.status.success(), "{out}");

    assert_eq!(choices(one.path()), choices(four.path()), "{out}");
    // Slurm gave each running trial its own device, and every service log
    // shows the device it was given.
    let most = check_concurrent_devices(&out);
    assert!(most >= 3, "at most {most} trials ran at once:\n{out}");
    for r in records(&four.path().join("tune_results.jsonl")) {
        if r["status"] == "crashed" || r["status"] == "ok" || r["status"] == "timeout" {
            let log = four.path().join(r["server_log"].as_str().unwrap());
            let dev = logged_devices(&log).unwrap_or_default();
            assert!(
                ["0", "1", "2", "3"].contains(&dev.as_str()),
                "{dev:?} in {log:?}"
            );
        }
        assert!(r["slot"].as_u64().unwrap() < 4, "{r}");
    }
    assert!(queued(&job).is_empty(), "jobs left: {:?}", queued(&job));
}

#[test]
fn abort_stops_the_launched_trials_and_cancels_the_jobs_of_the_run() {
    let _cluster = cluster();
    require_cluster();
    let d = tempfile::tempdir().unwrap();
    let tag = format!("slurm-abort-{}", std::process::id());
    let job = format!("autotune-abort-{}", std::process::id());
    let mut c = fast_run(d.path(), free_port());
    // Six values, four slots: two jobs wait in the queue behind the four
    // GPUs while four services are in a long start-up.
    let s = space(
        d.path(),
        r#"{"MAX_NEW_TOKENS": ["16", "32", "48", "64", "80", "96"]}"#,
    );
    c.args(common::space_args(&s))
        .env("SLURM_CONF", slurm_conf())
        .env("SIM_STARTUP_S", "100")
        .env("AUTOTUNE_TEST_TAG", &tag)
        .args(["--startup_timeout", "120", "--slots", "6"])
        .args([
            "--launcher",
            &format!("srun --ntasks=1 --gres=gpu:1 --job-name={job}"),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = c.spawn().unwrap();
    wait_for("four services starting", Duration::from_secs(90), || {
        let serving = procs_with_env(&tag)
            .into_iter()
            .filter(|p| {
                std::fs::read(format!("/proc/{p}/cmdline"))
                    .is_ok_and(|c| String::from_utf8_lossy(&c).contains("sim-serve"))
            })
            .count();
        (serving >= 4 && queued(&job).len() >= 6).then_some(())
    });
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGQUIT,
    )
    .unwrap();
    let o = child.wait_with_output().unwrap();
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("aborted"), "{out}");
    // Nothing recorded: an abort is not a result.
    assert!(records(&d.path().join("tune_results.jsonl")).is_empty());
    wait_for("the queue to empty", Duration::from_secs(60), || {
        queued(&job).is_empty().then_some(())
    });
    wait_for("the services to stop", Duration::from_secs(60), || {
        procs_with_env(&tag)
            .into_iter()
            .all(|p| {
                !std::fs::read(format!("/proc/{p}/cmdline"))
                    .is_ok_and(|c| String::from_utf8_lossy(&c).contains("sim-serve"))
            })
            .then_some(())
    });
}
