//! `autotune watchdog`: reruns `autotune --headless --skip_existing <args>`
//! after an abnormal exit, replacing `run_autotune_forever.sh`. Stops when
//! the run finishes or is aborted (exit 0), on a usage error (exit 2) or an
//! environment error (exit 3: a restart would fail the same way), forwards
//! SIGTERM/SIGINT/SIGHUP to the child (SIGHUP stays ignored under `nohup`),
//! backs off when the child dies again at once, and keeps a pid file while
//! it runs.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use clap::Args;
use nix::sys::signal::Signal;
use tokio::signal::unix::{SignalKind, signal};

/// Flags of `autotune watchdog`.
#[derive(Debug, Args)]
pub struct WatchdogArgs {
    /// Seconds to wait before a restart (doubled, up to 10 minutes, while the
    /// child keeps dying within a minute of its start).
    #[arg(
        long = "restart_delay",
        alias = "restart-delay",
        default_value_t = 10.0,
        env = "RESTART_DELAY"
    )]
    pub restart_delay: f64,
    /// Pid file (default: autotune.watchdog.pid in the repo).
    #[arg(long = "pid_file", alias = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// Give up after this many restarts (0: never).
    #[arg(long = "max_restarts", alias = "max-restarts", default_value_t = 0)]
    pub max_restarts: u32,
    /// The autotune flags, after `--`.
    #[arg(last = true)]
    pub args: Vec<String>,
}

fn say(msg: &str) {
    eprintln!(
        "{} watchdog: {msg}",
        chrono::Local::now().format("%Y-%m-%d %H:%M:%S")
    );
}

/// The `--repo` among the child's flags, if any.
fn repo_of(args: &[String]) -> PathBuf {
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--repo" {
            if let Some(r) = it.next() {
                return PathBuf::from(r);
            }
        } else if let Some(r) = a.strip_prefix("--repo=") {
            return PathBuf::from(r);
        }
    }
    PathBuf::from(".")
}

/// The child's flags: the user's, plus `--skip_existing` when missing, so a
/// restart never measures again a trial that is already recorded.
pub fn child_args(user: &[String]) -> Vec<String> {
    let mut args = user.to_vec();
    let has = user
        .iter()
        .any(|a| a == "--skip_existing" || a == "--skip-existing");
    if !has {
        args.push("--skip_existing".to_string());
    }
    args
}

/// Removes the pid file when dropped.
struct PidFile(PathBuf);

impl Drop for PidFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Runs the watchdog; returns the exit status.
pub fn run(a: WatchdogArgs) -> i32 {
    if !a.restart_delay.is_finite() || a.restart_delay < 0.0 {
        eprintln!("autotune: error: --restart_delay: expected a non-negative number of seconds");
        return 2;
    }
    let pid_path = a
        .pid_file
        .clone()
        .unwrap_or_else(|| repo_of(&a.args).join("autotune.watchdog.pid"));
    if let Ok(old) = std::fs::read_to_string(&pid_path)
        && let Ok(pid) = old.trim().parse::<i32>()
        && pid != std::process::id() as i32
        && autotune::process::proc_info(pid).is_some_and(|p| p.state != 'Z')
        && autotune::process::cmdline(pid).contains("watchdog")
    {
        eprintln!(
            "autotune: error: another watchdog (pid {pid}) runs for this repo ({})",
            pid_path.display()
        );
        return 2;
    }
    // Atomic: a reader never sees the file created but still empty.
    if let Err(e) =
        autotune::store::write_atomic(&pid_path, format!("{}\n", std::process::id()).as_bytes())
    {
        eprintln!("autotune: error: --pid_file {}: {e}", pid_path.display());
        return 2;
    }
    let _pid = PidFile(pid_path);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(supervise(a))
}

async fn supervise(a: WatchdogArgs) -> i32 {
    let exe = std::env::current_exe().unwrap_or_else(|_| "autotune".into());
    let base_delay = Duration::from_secs_f64(a.restart_delay);
    let mut delay = base_delay;
    let mut restarts = 0u32;
    // Under nohup, SIGHUP stays ignored here and in the child (which
    // inherits the ignored disposition): a handler would undo nohup.
    let hup_ignored = autotune::process::sighup_ignored();
    let (mut term, mut int) = match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(t), Ok(i)) => (t, i),
        _ => {
            eprintln!("autotune: error: cannot listen for signals");
            return 1;
        }
    };
    let mut hup = if hup_ignored {
        None
    } else {
        match signal(SignalKind::hangup()) {
            Ok(h) => Some(h),
            Err(_) => {
                eprintln!("autotune: error: cannot listen for signals");
                return 1;
            }
        }
    };
    let args = child_args(&a.args);
    loop {
        let started = Instant::now();
        let mut cmd = tokio::process::Command::new(&exe);
        cmd.arg("--headless")
            .args(&args)
            .stdin(Stdio::null())
            .process_group(0);
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                say(&format!("cannot start {}: {e}", exe.display()));
                return 1;
            }
        };
        let pid = child.id().unwrap_or(0) as i32;
        say(&format!("started autotune (pid {pid})"));
        let forwarded = |sig: Signal| {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig);
            sig as i32
        };
        let (status, by_signal) = tokio::select! {
            s = child.wait() => (s, None),
            _ = term.recv() => (Ok(Default::default()), Some(forwarded(Signal::SIGTERM))),
            _ = int.recv() => (Ok(Default::default()), Some(forwarded(Signal::SIGINT))),
            _ = hangup(&mut hup) => (Ok(Default::default()), Some(forwarded(Signal::SIGHUP))),
        };
        if let Some(sig) = by_signal {
            // The child stops its service first; wait for that.
            let _ = child.wait().await;
            say(&format!(
                "got signal {sig}; forwarded it to autotune, which has stopped"
            ));
            return 128 + sig;
        }
        let ran = started.elapsed();
        let what = match &status {
            Ok(s) if s.success() => {
                say("autotune finished (exit 0); not restarting");
                return 0;
            }
            Ok(s) if s.code() == Some(2) => {
                say("autotune rejected its flags (exit 2); not restarting");
                return 2;
            }
            Ok(s) if s.code() == Some(crate::run::EXIT_ENVIRONMENT) => {
                say(&format!(
                    "autotune stopped on an environment error (exit {}); a restart would fail the same way; not restarting",
                    crate::run::EXIT_ENVIRONMENT
                ));
                return crate::run::EXIT_ENVIRONMENT;
            }
            Ok(s) => match (s.code(), std::os::unix::process::ExitStatusExt::signal(s)) {
                (Some(c), _) => format!("exit status {c}"),
                (None, Some(sig)) => format!("signal {sig}"),
                _ => "unknown status".into(),
            },
            Err(e) => format!("wait failed: {e}"),
        };
        if a.max_restarts > 0 && restarts >= a.max_restarts {
            say(&format!(
                "autotune ended with {what}; {restarts} restarts done, giving up"
            ));
            return 1;
        }
        restarts += 1;
        // Back off while the child dies again at once; reset after a good run.
        if ran < Duration::from_secs(60) && restarts > 1 {
            delay = (delay * 2).min(Duration::from_secs(600)).max(base_delay);
        } else {
            delay = base_delay;
        }
        say(&format!(
            "autotune ended with {what} after {:.0}s; restart {restarts} in {:.0}s",
            ran.as_secs_f64(),
            delay.as_secs_f64()
        ));
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = term.recv() => return 128 + 15,
            _ = int.recv() => return 128 + 2,
            _ = hangup(&mut hup) => return 128 + 1,
        }
    }
}

/// The next SIGHUP, or never when it is ignored.
async fn hangup(hup: &mut Option<tokio::signal::unix::Signal>) {
    match hup {
        Some(h) => {
            h.recv().await;
        }
        None => std::future::pending().await,
    }
}
