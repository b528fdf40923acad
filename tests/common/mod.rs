//! Helpers for integration tests: a repo with the simulated service, free
//! ports, polling with deadlines, and /proc checks.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// A private tmux server running one command in session `s`; killed on drop.
pub struct Tmux {
    socket: String,
    wait: Duration,
}

impl Tmux {
    /// Starts `cmd` in a detached `w` x `h` session; `wait` bounds each
    /// [`Tmux::wait_screen`].
    pub fn start(name: &str, w: u16, h: u16, cmd: &str, wait: Duration) -> Tmux {
        let t = Tmux {
            socket: format!("autotune-{name}-{}", std::process::id()),
            wait,
        };
        t.cmd(&[
            "new-session",
            "-d",
            "-s",
            "s",
            "-x",
            &w.to_string(),
            "-y",
            &h.to_string(),
            cmd,
        ]);
        t
    }

    /// Runs a tmux command against this server; returns its stdout.
    pub fn cmd(&self, args: &[&str]) -> String {
        let o = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("tmux (installed by tests/run.sh)");
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Types a key into the session.
    pub fn keys(&self, key: &str) {
        self.cmd(&["send-keys", "-t", "s", key]);
    }

    /// The screen's text.
    pub fn screen(&self) -> String {
        self.cmd(&["capture-pane", "-p", "-t", "s"])
    }

    /// Waits until the screen shows `what`; returns the screen.
    pub fn wait_screen(&self, what: &str) -> String {
        wait_for(&format!("{what:?} on screen"), self.wait, || {
            let s = self.screen();
            s.contains(what).then_some(s)
        })
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        self.cmd(&["kill-server"]);
    }
}

/// The flags that make a run search only `space` (a search space file).
pub fn space_args(space: &Path) -> [std::ffi::OsString; 3] {
    [
        "--no_builtin_space".into(),
        "--search_space_file".into(),
        space.into(),
    ]
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_autotune")
}

/// A port nothing listens on and no tuner has a lock file for (another
/// autotune on the machine, a demo left open, may hold a port it does not
/// listen on between trials).
pub fn free_port() -> u16 {
    loop {
        let p = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if !autotune::store::port_lock_path(p).exists() {
            return p;
        }
    }
}

/// Lays out the simulated service in `dir` (run_model.sh, eval_local.sh).
pub fn sim_repo(dir: &Path) {
    std::fs::write(
        dir.join("run_model.sh"),
        format!("exec '{}' sim-serve\n", bin()),
    )
    .unwrap();
    std::fs::write(
        dir.join("eval_local.sh"),
        format!("exec '{}' sim-eval\n", bin()),
    )
    .unwrap();
}

/// A search space file in `dir`.
pub fn space(dir: &Path, json: &str) -> PathBuf {
    let p = dir.join("space.json");
    std::fs::write(&p, json).unwrap();
    p
}

/// An autotune command on the simulated repo with fast defaults.
pub fn tune_cmd(dir: &Path, port: u16) -> Command {
    let mut c = Command::new(bin());
    c.current_dir(dir)
        .env("SIM_STARTUP_S", "0.2")
        .env("SIM_EVAL_S", "0.02")
        .env("SIM_EVAL_FAIL_RATE", "0")
        .args(["--headless", "--repo"])
        .arg(dir)
        .args([
            "--port",
            &port.to_string(),
            "--eval_cmd",
            "bash eval_local.sh",
            "--eval_runs",
            "2",
        ])
        .args([
            "--startup_timeout",
            "3",
            "--eval_timeout",
            "10",
            "--kill_grace_s",
            "2",
        ]);
    c
}

pub fn run(mut c: Command) -> Output {
    c.output().unwrap()
}

pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Polls `f` every 20 ms until it returns Some, or panics after `limit`.
pub fn wait_for<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn records(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

pub fn status(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("tune_status.json")).unwrap()).unwrap()
}

/// Live (non-zombie) processes whose environment or command line mention `needle`.
pub fn procs_with_env(needle: &str) -> Vec<i32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        if stat
            .rsplit(')')
            .next()
            .is_some_and(|r| r.trim_start().starts_with('Z'))
        {
            continue;
        }
        let env = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
        if String::from_utf8_lossy(&env).contains(needle) {
            out.push(pid);
        }
    }
    out
}

/// Whether a pid is alive (and not a zombie).
pub fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            !s.rsplit(')')
                .next()
                .is_some_and(|r| r.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

/// Copies the auto_tune.py fixture into `dir`.
pub fn copy_fixture(dir: &Path) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/auto_tune_py");
    copy_dir(&src, dir);
}

fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(src).unwrap().flatten() {
        let to = dst.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to);
        } else {
            std::fs::copy(e.path(), &to).unwrap();
        }
    }
}
