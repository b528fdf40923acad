//! Trials run elsewhere: `autotune trial` runs one trial where it is
//! launched (a Slurm job step, another machine) and the engine runs it
//! through `--launcher`, a command prefix such as `srun --gres=gpu:1`.
//!
//! The launched trial speaks a small line protocol: progress on stderr as
//! `@autotune {json}` lines (the engine re-publishes them as the slot's
//! events; anything else there is the launcher's own talk), and the record
//! as one JSON line on stdout. Stopping works by signals, which `srun`
//! forwards to the job step: SIGUSR1 skips (the trial stops its service and
//! still prints its `skipped` record), SIGTERM ends it without a record.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use nix::sys::signal::Signal;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::watch;

use super::config::{Config, Launcher};
use super::event::{Event, TrialPhase};
use super::noise::Judge;
use super::process::{self, signal_group, spawn_in_group};
use super::record::{EvalRun, Record};
use super::search::Params;
use super::search::coordinate::TrialSpec;
use super::service;
use super::sink::EventSink;
use super::slot::Slot;
use super::trial::{self, Ctx, Stop, StopRx, TrialEnd, TrialError, stop_beyond};

/// Prefix of a progress line on a launched trial's stderr.
pub const WIRE_PREFIX: &str = "@autotune ";

/// Exit status of `autotune trial` stopped without a record (abort, signal).
pub const EXIT_STOPPED: i32 = 3;

/// The trial `autotune trial` is asked to run (its `--spec`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrialRequest {
    /// 1-based position in the plan.
    pub ordinal: usize,
    /// 1-based group number.
    #[serde(default)]
    pub group: usize,
    /// What the trial changes, as its record's `param_under_test` says it
    /// (`A+B` for a joint move: [`super::search::Changes::param_text`]).
    pub param: String,
    /// Its value in the same format (`4+48`).
    pub value: String,
    /// The base's value it replaces (a one-parameter trial).
    #[serde(default)]
    pub base_value: Option<String>,
    /// Every parameter of the trial.
    pub params: Params,
    /// The trial key (computed from `params` when absent).
    #[serde(default)]
    pub key: String,
    /// The first log number free to use.
    #[serde(default = "one")]
    pub index: u32,
    /// A re-measure of a close call.
    #[serde(default)]
    pub recheck: bool,
    /// How to judge the trial while it runs (early stopping).
    #[serde(default)]
    pub judge: Option<Judge>,
    /// The run's whole configuration (commands, timeouts, patterns, goal,
    /// paths...), so the trial runs exactly as this run would whatever
    /// flags it was given; `None` from an older tuner (the flags of
    /// `autotune trial` then say it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<Box<Config>>,
}

fn one() -> u32 {
    1
}

impl TrialRequest {
    /// The request for a planned trial.
    pub fn new(spec: &TrialSpec, index: u32) -> Self {
        TrialRequest {
            ordinal: spec.ordinal,
            group: spec.group,
            // The results file's texts: the request is a wire format an
            // older `autotune trial` reads too.
            param: spec.changes.param_text(),
            value: spec.changes.value_text(),
            base_value: spec.base_value.clone(),
            params: spec.params.clone(),
            key: spec.key.clone(),
            index,
            recheck: spec.recheck,
            judge: spec.judge.clone(),
            config: None,
        }
    }

    /// The request carrying `cfg`, as a launched trial should run it: one
    /// slot (the engine chose the port and its variables), no launcher.
    pub fn with_config(mut self, cfg: &Config) -> Self {
        let mut c = cfg.clone();
        c.launcher = None;
        // One slot; its devices and port variables arrive as --trial_env
        // (the device variable's name, `gpu_env`, stays: the trial reads
        // its devices from it).
        c.layout = super::slot::SlotLayout {
            slots: 1,
            gpus: Vec::new(),
            port_env: Vec::new(),
            ..c.layout
        };
        self.config = Some(Box::new(c));
        self
    }

    fn spec(&self) -> TrialSpec {
        let key = if self.key.is_empty() {
            super::search::trial_key(&self.params)
        } else {
            self.key.clone()
        };
        TrialSpec {
            ordinal: self.ordinal,
            group: self.group,
            changes: super::search::Changes::from_record(&self.param, &self.value, &self.params),
            base_value: self.base_value.clone(),
            params: self.params.clone(),
            key,
            recheck: self.recheck,
            judge: self.judge.clone(),
        }
    }
}

/// One progress line of a launched trial.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Wire {
    Started {
        index: u32,
        log_path: PathBuf,
        devices: Option<String>,
    },
    Phase {
        phase: TrialPhase,
    },
    Eval {
        run: EvalRun,
    },
    Warning {
        text: String,
    },
}

/// Runs one trial here, for `autotune trial`: progress lines on stderr, the
/// record on stdout. Returns the exit status (0 with a record,
/// [`EXIT_STOPPED`] stopped without one, 1 when the trial could not be set
/// up). `env` is the slot's environment as the engine gives it
/// (`--trial_env`).
pub async fn run_here(cfg: Config, req: TrialRequest, env: Vec<(String, String)>) -> i32 {
    use tokio::signal::unix::{SignalKind, signal};
    process::become_subreaper();
    let mut sink = EventSink::new();
    let mut rx = sink.subscribe();
    let printer = tokio::spawn(async move {
        while let Some(e) = rx.recv().await {
            let w = match &*e {
                Event::TrialStarted {
                    index,
                    log_path,
                    devices,
                    ..
                } => Wire::Started {
                    index: *index,
                    log_path: log_path.clone(),
                    devices: devices.clone(),
                },
                Event::Phase { phase, .. } => Wire::Phase {
                    phase: phase.clone(),
                },
                Event::EvalRunFinished { run, .. } => Wire::Eval { run: run.clone() },
                Event::Warning(text) => Wire::Warning { text: text.clone() },
                _ => continue,
            };
            let line = serde_json::to_string(&w).expect("serializable");
            eprintln!("{WIRE_PREFIX}{line}");
        }
    });
    let (tx, stop) = watch::channel(None);
    for (kind, s) in [
        (SignalKind::user_defined1(), Stop::Skip),
        (SignalKind::terminate(), Stop::Abort),
        (SignalKind::interrupt(), Stop::Interrupt(2)),
        (SignalKind::hangup(), Stop::Interrupt(1)),
    ] {
        let tx = tx.clone();
        if let Ok(mut sig) = signal(kind) {
            tokio::spawn(async move {
                while sig.recv().await.is_some() {
                    trial::ask(&tx, s);
                }
            });
        }
    }
    let mut slot = cfg.slot(0);
    // The scheduler owns this process tree; a pid recorded here means
    // nothing to a tuner on another node.
    slot.state_file = None;
    // The slot's strided port variables, as the engine computed them.
    slot.env.extend(env);
    // What the launcher gave this trial (srun sets CUDA_VISIBLE_DEVICES).
    if slot.devices.is_none() {
        slot.devices = std::env::var(&cfg.layout.gpu_env).ok();
    }
    let client = service::probe_client();
    let spec = req.spec();
    let res = {
        let mut ctx = Ctx {
            cfg: &cfg,
            sink: &sink,
            client: &client,
            stop,
            slot: &slot,
        };
        trial::run(&mut ctx, &spec, req.index).await
    };
    drop(sink);
    let _ = printer.await;
    match res {
        Ok((TrialEnd::Done(rec), _)) => {
            println!("{}", serde_json::to_string(&*rec).expect("serializable"));
            0
        }
        Ok((TrialEnd::Stopped(_), _)) => EXIT_STOPPED,
        Ok((TrialEnd::Environment(m), _)) => {
            eprintln!("autotune trial: stopped by the environment: {m}");
            1
        }
        Err(e) => {
            eprintln!("autotune trial: {e}");
            1
        }
    }
}

/// Quotes a word for bash.
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,@%+".contains(&b))
    {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// The launcher prefix with `{run}` and `{slot}` filled in; an `srun`
/// without a job name gets `--job-name=autotune-{run}`, so the jobs of this
/// run can be found and cancelled.
pub fn prefix(template: &str, run_id: &str, slot: usize) -> String {
    let mut t = template.trim().to_string();
    let words: Vec<&str> = t.split_whitespace().collect();
    if words.first() == Some(&"srun")
        && !words
            .iter()
            .any(|w| *w == "-J" || w.starts_with("--job-name"))
    {
        t = format!("srun --job-name=autotune-{{run}}{}", &t[4..]);
    }
    t.replace("{run}", run_id)
        .replace("{slot}", &slot.to_string())
}

/// The job name the launcher prefix gives (`--job-name=X`, `--job-name X`
/// or `-J X`).
pub fn job_name(prefix: &str) -> Option<String> {
    let words: Vec<&str> = prefix.split_whitespace().collect();
    for (i, w) in words.iter().enumerate() {
        if let Some(n) = w.strip_prefix("--job-name=") {
            return Some(n.trim_matches(['\'', '"']).to_string());
        }
        if (*w == "--job-name" || *w == "-J")
            && let Some(n) = words.get(i + 1)
        {
            return Some(n.trim_matches(['\'', '"']).to_string());
        }
    }
    None
}

/// The whole command a slot runs for one trial.
pub fn command(
    cfg: &Config,
    l: &Launcher,
    run_id: &str,
    slot: &Slot,
    spec: &TrialSpec,
    index: u32,
) -> String {
    let req = serde_json::to_string(&TrialRequest::new(spec, index).with_config(cfg))
        .expect("serializable");
    let mut words = vec![
        shell_quote(&l.exe.to_string_lossy()),
        "trial".to_string(),
        "--spec".to_string(),
        shell_quote(&req),
        "--port".to_string(),
        slot.port.to_string(),
    ];
    for (k, v) in &slot.env {
        words.push("--trial_env".into());
        words.push(shell_quote(&format!("{k}={v}")));
    }
    format!(
        "exec {} {}",
        prefix(&l.template, run_id, slot.n),
        words.join(" ")
    )
}

/// Cleans up after a run that did not finish (an abort, a signal or an
/// error): stops what launched trials left running on this machine (their
/// processes come back to the tuner, a subreaper, once their launcher is
/// gone), and cancels the jobs of this run left in the scheduler. Returns
/// what went wrong, if anything.
pub async fn cancel_leftovers(
    l: &Launcher,
    run_id: &str,
    slots: usize,
    grace: Duration,
) -> Option<String> {
    stop_orphans(grace).await;
    if !l.template.trim_start().starts_with("srun") {
        return None;
    }
    cancel_jobs(l, run_id, slots).await
}

/// Stops every process adopted by the tuner: after the run's trials have
/// all ended, each is a leftover of a launched one. A trial stopped this
/// way stops its service in turn (SIGTERM, up to `grace` plus a margin),
/// and whatever is left then comes back to us: a few rounds.
pub(crate) async fn stop_orphans(grace: Duration) {
    for _ in 0..3 {
        let left = process::adopted_orphans();
        if left.is_empty() {
            return;
        }
        process::stop_pids(&left, grace + Duration::from_secs(5)).await;
    }
}

/// Cancels the jobs of this run left in Slurm's queue (`scancel --name`).
async fn cancel_jobs(l: &Launcher, run_id: &str, slots: usize) -> Option<String> {
    // A template may name each slot's jobs apart (`-J tune-{run}-{slot}`).
    let mut names: Vec<String> = (0..slots.max(1))
        .filter_map(|n| job_name(&prefix(&l.template, run_id, n)))
        .collect();
    names.dedup();
    let mut errors = Vec::new();
    for name in names {
        let out = tokio::process::Command::new("scancel")
            .arg("--name")
            .arg(&name)
            .stdin(Stdio::null())
            .output()
            .await;
        match out {
            Ok(o) if o.status.success() => {}
            Ok(o) => errors.push(format!(
                "scancel --name {name}: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            )),
            Err(e) => errors.push(format!("scancel --name {name}: {e}")),
        }
    }
    (!errors.is_empty()).then(|| errors.join("; "))
}

/// Runs a trial through the launcher in `slot`, passing stop requests on as
/// signals, and re-publishing its progress as the slot's events. A launch
/// that yields no record (the launcher failed, the job was cancelled) is a
/// failure of the environment: it ends the run rather than being recorded.
#[allow(clippy::too_many_arguments)]
pub async fn run_launched(
    cfg: &Config,
    l: &Launcher,
    run_id: &str,
    sink: &EventSink,
    slot: &Slot,
    spec: &TrialSpec,
    index: u32,
    mut stop: StopRx,
) -> Result<(TrialEnd, u32), TrialError> {
    let cmd = command(cfg, l, run_id, slot, spec, index);
    let launch_err = |m: String| TrialError::Launch(format!("slot {}: {m}", slot.n));
    // The launcher and what it starts here carry this run's id (the
    // launched trial hands it on to its service and eval), so a tuner
    // restarted after a crash finds and stops them.
    let token = [(process::RUN_ENV.to_string(), process::run_id().to_string())];
    let mut child = spawn_in_group(&cmd, &cfg.repo, &token, Stdio::piped(), Stdio::piped())
        .map_err(|e| launch_err(format!("cannot run the launcher: {e}")))?;
    let pgid = child
        .id()
        .map(|p| p as i32)
        .ok_or_else(|| launch_err("the launcher exited before it could be watched".into()))?;
    let out = child.stdout.take().expect("piped");
    let err = child.stderr.take().expect("piped");
    // This trial's pipes, to find who still holds them once the launcher
    // is gone (and only them: other slots' trials may still be running).
    let pipes_of_trial: Vec<String> = {
        use std::os::fd::AsRawFd;
        [out.as_raw_fd(), err.as_raw_fd()]
            .iter()
            .filter_map(|fd| std::fs::read_link(format!("/proc/self/fd/{fd}")).ok())
            .map(|l| l.to_string_lossy().into_owned())
            .filter(|l| l.starts_with("pipe:"))
            .collect()
    };
    let (stdout, out_buf) = keep_stdout(out);
    let stderr = relay_stderr(err, sink.clone(), slot.clone(), spec.clone());
    let mut asked: Option<Stop> = None;
    let mut deadline: Option<tokio::time::Instant> = None;
    // What the launcher had started here when a stop was asked (pid and
    // start time): a trial in a session of its own outlives a launcher
    // that exits without passing the stop on.
    let mut apart: Vec<(i32, u64)> = Vec::new();
    let status = loop {
        let hard = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            st = child.wait() => break st,
            // A trial already skipping still hears an abort: the launcher
            // may not have passed the skip on, or the trial may still be
            // stopping, and the run is ending now.
            s = stop_beyond(&mut stop, asked), if asked.is_none_or(|a| a == Stop::Skip) => {
                asked = Some(s);
                apart = started_here(pgid);
                signal_group(pgid, if s == Stop::Skip { Signal::SIGUSR1 } else { Signal::SIGTERM });
                // The trial stops its service within the kill grace; the
                // launcher may take a while longer to report back.
                deadline = Some(tokio::time::Instant::now() + cfg.kill_grace + Duration::from_secs(30));
            }
            _ = hard => {
                // Whatever the launcher started here goes too, also what
                // left its group (a trial in a session of its own).
                let escaped = process::descendants(pgid);
                signal_group(pgid, Signal::SIGKILL);
                process::signal_pids(&escaped, Signal::SIGKILL);
                deadline = None;
            }
        }
    };
    // The launcher is gone: what it left running here is stopped as asked
    // (the trial then stops its service), and it lets go of the pipes.
    let left: Vec<i32> = apart
        .iter()
        .filter(|(p, t)| process::proc_info(*p).is_some_and(|i| i.start_ticks == *t))
        .map(|(p, _)| *p)
        .collect();
    if !left.is_empty() {
        process::stop_pids(&left, cfg.kill_grace + Duration::from_secs(5)).await;
    }
    let (other, starts) = release_pipes(stdout, stderr, &pipes_of_trial, cfg.kill_grace).await;
    let text = out_buf.lock().map(|b| b.clone()).unwrap_or_default();
    if let Some(s) = asked
        && s != Stop::Skip
    {
        return Ok((TrialEnd::Stopped(s), index));
    }
    // A launcher that ran the trial more than once (`srun --ntasks=2`, a
    // wrapper that starts it twice) measured it under contention with a
    // copy of itself: no result, and the run stops until it is fixed.
    let copies = starts.max(
        text.lines()
            .filter_map(|l| serde_json::from_str::<Record>(l.trim()).ok())
            .filter(|r| r.trial_key == spec.key)
            .count(),
    );
    if copies > 1 {
        return Err(launch_err(format!(
            "the launcher ran the trial {copies} times at once (it must run `autotune trial` once: srun --ntasks=1); nothing was recorded for it"
        )));
    }
    launched_record(&text, spec, index, asked, status, &other).map_err(launch_err)
}

/// The processes the launcher of group `pgid` started here, whatever their
/// group, with their start times (a pid alone may be reused).
fn started_here(pgid: i32) -> Vec<(i32, u64)> {
    process::descendants(pgid)
        .into_iter()
        .filter_map(|p| process::proc_info(p).map(|i| (p, i.start_ticks)))
        .collect()
}

/// Reads the launcher's stdout into a buffer the run keeps: a helper the
/// launcher left behind may hold the pipe open after the launcher is gone.
/// Bytes that are not UTF-8 are kept as replacement characters, never stop
/// the reading.
fn keep_stdout(
    mut out: tokio::process::ChildStdout,
) -> (tokio::task::JoinHandle<()>, Arc<std::sync::Mutex<String>>) {
    let out_buf = Arc::new(std::sync::Mutex::new(String::new()));
    let out_buf2 = out_buf.clone();
    let task = tokio::spawn(async move {
        let mut r = BufReader::new(&mut out);
        let mut line = Vec::new();
        loop {
            line.clear();
            match r.read_until(b'\n', &mut line).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    if let Ok(mut b) = out_buf2.lock() {
                        b.push_str(&String::from_utf8_lossy(&line));
                    }
                }
            }
        }
    });
    (task, out_buf)
}

/// Relays the launched trial's events from its stderr (wire lines) as this
/// slot's; returns the last 20 other lines (what the launcher said).
fn relay_stderr(
    err: tokio::process::ChildStderr,
    sink: EventSink,
    slot: Slot,
    spec: TrialSpec,
) -> tokio::task::JoinHandle<(Vec<String>, usize)> {
    let n = slot.n;
    tokio::spawn(async move {
        let mut lines = BufReader::new(err).lines();
        let mut other: Vec<String> = Vec::new();
        // How many copies of the trial started (a launcher must run one).
        let mut starts = 0usize;
        while let Ok(Some(line)) = lines.next_line().await {
            let Some(w) = line
                .strip_prefix(WIRE_PREFIX)
                .and_then(|j| serde_json::from_str::<Wire>(j).ok())
            else {
                other.push(line);
                if other.len() > 20 {
                    other.remove(0);
                }
                continue;
            };
            if matches!(w, Wire::Started { .. }) {
                starts += 1;
                if starts > 1 {
                    // A second copy: said once the trial ends.
                    continue;
                }
            }
            sink.emit(match w {
                Wire::Started {
                    index,
                    log_path,
                    devices,
                } => spec.started(n, devices.or(slot.devices.clone()), index, log_path),
                Wire::Phase { phase } => Event::Phase { slot: n, phase },
                Wire::Eval { mut run } => {
                    super::eval::redact_run(&mut run);
                    Event::EvalRunFinished { slot: n, run }
                }
                Wire::Warning { text } => Event::Warning(format!("slot {n}: {text}")),
            });
        }
        (other, starts)
    })
}

/// Waits for the launched trial's pipes to close (the launcher and what it
/// started are gone); a helper it left behind (double-forked, adopted by
/// us) that holds them is stopped, and the run does not wait on it for
/// ever. Returns what the launcher said on stderr besides its events.
async fn release_pipes(
    stdout: tokio::task::JoinHandle<()>,
    stderr: tokio::task::JoinHandle<(Vec<String>, usize)>,
    pipes_of_trial: &[String],
    grace: Duration,
) -> (Vec<String>, usize) {
    let settle = grace + Duration::from_secs(5);
    let (out_abort, err_abort) = (stdout.abort_handle(), stderr.abort_handle());
    let mut pipes = Box::pin(async { tokio::join!(stdout, stderr).1 });
    match tokio::time::timeout(settle, &mut pipes).await {
        Ok(o) => o.unwrap_or_default(),
        Err(_) => {
            let holders: Vec<i32> = process::adopted_orphans()
                .into_iter()
                .filter(|&p| process::holds_any(p, |l| pipes_of_trial.iter().any(|t| t == l)))
                .flat_map(|p| std::iter::once(p).chain(process::descendants(p)))
                .collect();
            process::stop_pids(&holders, settle).await;
            let o = tokio::time::timeout(Duration::from_secs(2), &mut pipes)
                .await
                .ok()
                .and_then(Result::ok)
                .unwrap_or_default();
            out_abort.abort();
            err_abort.abort();
            o
        }
    }
}

/// The record a launched trial printed (its last JSON line naming this
/// trial's key). A skip the launcher did not pass on as one (or that it had
/// to be killed for) is still a skip: recorded so, not a failure of the
/// run. No record otherwise is the launcher's failure (the message).
fn launched_record(
    text: &str,
    spec: &TrialSpec,
    index: u32,
    asked: Option<Stop>,
    status: std::io::Result<std::process::ExitStatus>,
    other: &[String],
) -> Result<(TrialEnd, u32), String> {
    let rec = text
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str::<Record>(l.trim()).ok())
        .filter(|r| r.trial_key == spec.key);
    match rec {
        Some(r) => {
            let next = r.trial_index.map(|i| i + 1).unwrap_or(index);
            Ok((TrialEnd::Done(Box::new(r)), next))
        }
        // A skip the launcher did not pass on as one (or that it had to be
        // killed for) is still a skip: recorded so, not a failure of the run.
        None if asked == Some(Stop::Skip) => {
            let mut r = trial::new_record(spec);
            r.status = crate::engine::record::Status::Skipped;
            Ok((TrialEnd::Done(Box::new(r)), index))
        }
        None => {
            let code = status.map(process::exit_code).unwrap_or(-1);
            Err(format!(
                "the launched trial gave no record (exit code {code}){}",
                if other.is_empty() {
                    String::new()
                } else {
                    format!(": {}", other.join(" | "))
                }
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::search::Changes;

    #[test]
    fn srun_gets_a_job_name_of_the_run() {
        let p = prefix("srun --ntasks=1 --gres=gpu:1", "42", 3);
        assert_eq!(p, "srun --job-name=autotune-42 --ntasks=1 --gres=gpu:1");
        assert_eq!(job_name(&p).as_deref(), Some("autotune-42"));
        let p = prefix("srun -J tune-{run}-{slot} -n1", "7", 2);
        assert_eq!(job_name(&p).as_deref(), Some("tune-7-2"));
        assert_eq!(prefix("ssh gpu-box", "7", 0), "ssh gpu-box");
    }

    #[test]
    fn quoting_survives_bash() {
        let nasty = r#"{"a": "it's $HOME `x`"}"#;
        let out = std::process::Command::new("bash")
            .arg("-c")
            .arg(format!("printf %s {}", shell_quote(nasty)))
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), nasty);
    }

    /// A launched trial's request keeps the results file's texts (an older
    /// `autotune trial` reads them), and the trial it runs writes the same
    /// `param_under_test` as a local one: a joint move, the base, a pooled
    /// search's point.
    #[test]
    fn a_request_carries_the_record_texts_of_its_changes() {
        let params: Params = [("A", "4"), ("B", "4+8")]
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .into();
        let joint = Changes::moves([("A".into(), "4".into()), ("B".into(), "4+8".into())]);
        for (changes, param, value) in [
            (joint, "A+B", "4+4+8"),
            (Changes::base(), "base", "base"),
            (Changes::one("A", "4"), "A", "4"),
            (
                Changes::point("screening", "A=4 1 per-request"),
                "screening",
                "A=4 1 per-request",
            ),
        ] {
            let spec = TrialSpec {
                ordinal: 1,
                group: 0,
                changes,
                base_value: None,
                key: crate::engine::search::trial_key(&params),
                params: params.clone(),
                recheck: false,
                judge: None,
            };
            let req = TrialRequest::new(&spec, 1);
            assert_eq!((req.param.as_str(), req.value.as_str()), (param, value));
            let wire: TrialRequest =
                serde_json::from_str(&serde_json::to_string(&req).unwrap()).unwrap();
            let back = wire.spec().changes;
            assert_eq!(back.param_text(), param);
            // A joint move's values come back from the params, never split
            // from the joined text; a point reads back as its texts.
            if spec.changes.as_point().is_none() {
                assert_eq!(back, spec.changes);
            }
        }
    }

    #[test]
    fn wire_lines_round_trip() {
        let w = Wire::Phase {
            phase: TrialPhase::Eval {
                run: 2,
                of: 5,
                timeout_s: 1.0,
            },
        };
        let j = serde_json::to_string(&w).unwrap();
        assert_eq!(serde_json::from_str::<Wire>(&j).unwrap(), w);
    }
}
