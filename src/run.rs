//! Wiring of a tuning run: the engine task, its consumers (front end, status
//! file writer), and signals turned into engine commands.

use std::io::{IsTerminal, Write};
use std::sync::Arc;

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

use crate::alerts::{self, AlertConfig, Notice};
use crate::headless::LineLog;
use crate::ui::printable;
use autotune::Config;
use autotune::EventSink;
use autotune::StatusWriter;
use autotune::exec::Executor;
use autotune::process::become_subreaper;
use autotune::{Command, Outcome};

/// Exit status of a run stopped by its environment (see
/// [`Outcome::Environment`]); the watchdog does not restart after it.
pub const EXIT_ENVIRONMENT: i32 = 3;

/// Exit status for an outcome: 0 done or aborted, 128 + signal, 1 error,
/// 3 environment failure.
pub fn exit_status(o: &Outcome) -> i32 {
    match o {
        Outcome::Done | Outcome::Aborted => 0,
        Outcome::Interrupted(s) => 128 + s,
        Outcome::Error(_) => 1,
        Outcome::Environment(_) => EXIT_ENVIRONMENT,
    }
}

/// Whether to run headless: asked for, stdout is not a terminal, or the
/// terminal says it cannot draw (`TERM=dumb`: no cursor movement).
pub fn want_headless(flag: bool) -> bool {
    flag || !std::io::stdout().is_terminal()
        || std::env::var_os("TERM").is_some_and(|t| t == "dumb")
}

/// Runs a whole tuning run and returns the process exit status.
pub fn tune(
    cfg: Config,
    alerts: AlertConfig,
    headless: bool,
    exec: Option<Arc<dyn Executor>>,
) -> i32 {
    // The notification secrets, flags included, are kept out of every tail
    // the run stores or shows, as the `TUNE_*` variables' values are.
    autotune::add_secrets(alerts.secrets());
    // Two tuners on the same files would interleave records, and the second
    // would stop the first one's service as a leftover.
    // The lock lives in the repo, whatever --status_file says: two tuners
    // on one repo (with different status files) are still refused.
    let lock_path = cfg.repo.join(".autotune.lock");
    let _lock = match autotune::store::lock_repo(&lock_path) {
        Ok(l) => l,
        Err(m) => {
            eprintln!("autotune: error: {m}");
            return 2;
        }
    };
    // Two tuners in different repos naming one results or best file would
    // both measure the same configurations: the files themselves are
    // locked too.
    let mut _file_locks = Vec::new();
    for (what, file) in [("--results", &cfg.results), ("--best", &cfg.best)] {
        match autotune::store::lock_output(file, what) {
            Ok(l) => _file_locks.push(l),
            Err(autotune::store::OutputLockError::Refused(m)) => {
                eprintln!("autotune: error: {m}");
                return 2;
            }
            Err(autotune::store::OutputLockError::Io(m)) => {
                eprintln!("autotune: stopped: the environment failed: {m}");
                return EXIT_ENVIRONMENT;
            }
        }
    }
    // Two tuners on one port would take each other's service for their own:
    // every slot's port is locked.
    let mut _port_locks = Vec::new();
    for n in 0..cfg.layout.slots.max(1) {
        match autotune::store::lock_port(cfg.slot(n).port) {
            Ok(l) => _port_locks.push(l),
            Err(m) => {
                eprintln!("autotune: error: {m}");
                return 2;
            }
        }
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(tune_async(cfg, alerts, headless, exec))
}

async fn tune_async(
    cfg: Config,
    alert_cfg: AlertConfig,
    headless: bool,
    exec: Option<Arc<dyn Executor>>,
) -> i32 {
    become_subreaper();
    let mut sink = EventSink::new();
    let (notice_tx, notice_rx) = mpsc::unbounded_channel();
    let status_notices = notice_tx.clone();
    let status = tokio::spawn(
        StatusWriter::new(cfg.status_file.clone())
            .with_goal(cfg.goal.clone())
            .run(sink.subscribe(), move |e| {
                let _ = status_notices.send(Notice::StatusFile(e));
            }),
    );
    let sink_rx = sink.subscribe();
    let alerts = alert_cfg.any().then(|| {
        tokio::spawn(alerts::run(
            alert_cfg,
            sink.subscribe(),
            notice_tx,
            std::time::Duration::from_secs(20),
        ))
    });
    let (tx, rx) = mpsc::unbounded_channel();
    let slots = cfg.layout.slots;
    // Before the live screen is up: a failure to listen goes to stderr,
    // which would tear the screen later on.
    forward_signals(tx.clone());
    let front = if headless {
        tokio::spawn(async move {
            LineLog::new(slots).run(sink_rx, notice_rx).await;
            Ok(())
        })
    } else {
        tokio::spawn(crate::ui::app::run(sink_rx, notice_rx, tx, slots))
    };
    let report_to = cfg.report.clone();
    let results = cfg.results.clone();
    let goal = cfg.goal.clone();
    let summary = match exec {
        Some(exec) => {
            let run_id = format!("sim-{}", std::process::id());
            autotune::run_with(cfg, exec, run_id, sink, rx).await
        }
        None => autotune::run(cfg, sink, rx).await,
    };
    let outcome = summary.outcome.clone();
    // The report the outcome names, while the end screen is up; a failure
    // is said after the screen is gone (nothing may print under it).
    let report_said: Vec<String> = match report_to.map(|to| write_report(&results, &to, &goal)) {
        None => Vec::new(),
        Some(Ok(warnings)) => warnings
            .into_iter()
            .map(|w| format!("autotune: warning: report: {w}"))
            .collect(),
        Some(Err(e)) => vec![format!(
            "autotune: warning: the report was not written: {e}"
        )],
    };
    let _ = status.await;
    if let Some(a) = alerts {
        let _ = a.await;
    }
    match front.await {
        Ok(Err(e)) => eprintln!("autotune: the live screen failed: {e}"),
        Err(e) => eprintln!("autotune: the live screen failed: {e}"),
        Ok(Ok(())) => {}
    }
    if !headless {
        // The live screen is gone: leave the outcome in the terminal.
        // Not println!: a terminal that went away must not panic here.
        // Each line printable: a value holding control characters shows
        // them as `?` and cannot forge a line.
        let lines: Vec<String> = summary.lines().iter().map(|l| printable(l)).collect();
        let _ = writeln!(std::io::stdout(), "{}", lines.join("\n"));
    }
    for l in report_said {
        eprintln!("{}", printable(&l));
    }
    // What stopped the run is the outcome's first line, on stdout; on
    // stderr too when that is somewhere else (stdout to a file), never
    // twice in one place.
    if matches!(outcome, Outcome::Error(_) | Outcome::Environment(_))
        && !stdout_is_stderr()
        && let Some(first) = summary.lines().first()
    {
        eprintln!("{}", printable(first));
    }
    exit_status(&outcome)
}

/// Whether stdout and stderr are the same file (one terminal, `2>&1`).
fn stdout_is_stderr() -> bool {
    use std::os::fd::AsFd;
    let id =
        |fd: std::os::fd::BorrowedFd| nix::sys::stat::fstat(fd).ok().map(|s| (s.st_dev, s.st_ino));
    let (out, err) = (std::io::stdout(), std::io::stderr());
    matches!((id(out.as_fd()), id(err.as_fd())), (Some(a), Some(b)) if a == b)
}

/// Writes the HTML report of `results` to `to` (nothing when the file holds
/// no record yet: a run stopped before its first trial).
fn write_report(
    results: &std::path::Path,
    to: &std::path::Path,
    goal: &autotune::Goal,
) -> Result<Vec<String>, String> {
    if autotune::store::load_results(results).map_or(true, |l| l.records.is_empty()) {
        return Ok(Vec::new());
    }
    let mut warnings = Vec::new();
    let page = crate::report::page_with(
        results,
        crate::report::model::Criteria::of_goal(goal),
        &mut |w| warnings.push(w),
    )?;
    autotune::store::write_atomic(to, page.as_bytes()).map_err(|e| e.to_string())?;
    Ok(warnings)
}

/// SIGINT, SIGTERM and SIGHUP end the run; SIGUSR1 skips the running trial;
/// SIGUSR2 pauses after the current trial or resumes; SIGQUIT (Ctrl-\\)
/// aborts (exit 0, status `aborted`). Under `nohup` (SIGHUP ignored when we
/// started) SIGHUP stays ignored: listening for it would undo `nohup`.
fn forward_signals(tx: mpsc::UnboundedSender<Command>) {
    let hup_ignored = autotune::process::sighup_ignored();
    let table = [
        (SignalKind::interrupt(), Command::Interrupt(2)),
        (SignalKind::terminate(), Command::Interrupt(15)),
        (SignalKind::hangup(), Command::Interrupt(1)),
        (SignalKind::user_defined1(), Command::Skip),
        (SignalKind::user_defined2(), Command::TogglePause),
        (SignalKind::quit(), Command::Abort),
    ];
    for (kind, cmd) in table {
        if hup_ignored && kind == SignalKind::hangup() {
            continue;
        }
        let tx = tx.clone();
        match signal(kind) {
            Ok(mut s) => {
                tokio::spawn(async move {
                    while s.recv().await.is_some() {
                        if tx.send(cmd).is_err() {
                            return;
                        }
                    }
                });
            }
            Err(e) => eprintln!("autotune: cannot listen for a signal: {e}"),
        }
    }
}
