//! One trial as an explicit state machine: wait for the port → start the
//! service → wait until it is ready → eval runs → stop. Each step is a small
//! function with a typed result; [`run`] chains them and builds the record.
//! A stop request (skip, abort, a signal) is seen in every wait.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use tokio::process::Child;
use tokio::sync::watch;

use super::config::Config;
use super::eval::{EvalSpec, round3, run_once};
use super::event::{Event, TrialPhase};
use super::noise::{Samples, Verdict, push_run};
use super::process::{self, exit_code, proc_info};
use super::record::{EvalRun, EvalSummary, Phase, Record, Status, now_ts, summarize};
use super::search::coordinate::TrialSpec;
use super::service::{self, ServiceState};
use super::sink::EventSink;
use super::slot::Slot;
use super::store::StoreError;

/// How often readiness is probed.
pub const READY_POLL: Duration = Duration::from_millis(50);

/// A request to leave the current wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// End this trial and record it `skipped`.
    Skip,
    /// End the run.
    Abort,
    /// A signal ended the run.
    Interrupt(i32),
}

/// How a trial ended.
#[derive(Debug)]
pub enum TrialEnd {
    /// It has a record to append.
    Done(Box<Record>),
    /// The run must end (abort or signal); nothing is recorded.
    Stopped(Stop),
    /// The environment failed, not the configuration (a foreign process
    /// holds the port): the run must end and nothing is recorded.
    Environment(String),
}

/// What stops a trial from going on that is not the trial's own doing.
#[derive(Debug, thiserror::Error)]
pub enum TrialError {
    /// No log file could be created.
    #[error("cannot create a log in {dir}: {source}")]
    Log {
        /// The log directory.
        dir: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The service state file could not be written.
    #[error(transparent)]
    State(#[from] StoreError),
    /// A trial run through `--launcher` gave no record (the launcher or
    /// the scheduler failed): not a result of the trial.
    #[error("{0}")]
    Launch(String),
}

/// Where a trial's stop requests come from: the engine sets the value.
pub type StopRx = watch::Receiver<Option<Stop>>;

/// Waits until the engine asks this trial to stop.
pub(crate) async fn stop_requested(rx: &mut StopRx) -> Stop {
    loop {
        if let Some(s) = *rx.borrow_and_update() {
            return s;
        }
        if rx.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

impl Stop {
    /// Whether this request asks for more than `asked` already did: any
    /// request when none was made, an abort or a signal after a skip (the
    /// run is ending now, not just this trial).
    pub fn exceeds(self, asked: Option<Stop>) -> bool {
        match asked {
            None => true,
            Some(Stop::Skip) => self != Stop::Skip,
            Some(_) => false,
        }
    }
}

/// Asks a trial to stop through its channel without ever weakening an
/// earlier request (a skip after an abort is still an abort; an abort
/// after a skip is passed on).
pub(crate) fn ask(tx: &watch::Sender<Option<Stop>>, s: Stop) {
    tx.send_if_modified(|v| {
        let more = s.exceeds(*v);
        if more {
            *v = Some(s);
        }
        more
    });
}

/// Waits until the engine asks this trial for more than `asked` (see
/// [`Stop::exceeds`]): a trial already skipping still hears an abort.
pub(crate) async fn stop_beyond(rx: &mut StopRx, asked: Option<Stop>) -> Stop {
    loop {
        if let Some(s) = *rx.borrow_and_update()
            && s.exceeds(asked)
        {
            return s;
        }
        if rx.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// What the shared parts of the engine lend a trial.
pub struct Ctx<'a> {
    /// The configuration.
    pub cfg: &'a Config,
    /// Where events go.
    pub sink: &'a EventSink,
    /// The readiness probe client.
    pub client: &'a reqwest::Client,
    /// Stop requests for this trial.
    pub stop: StopRx,
    /// Where it runs: its port, devices and state file.
    pub slot: &'a Slot,
}

impl Ctx<'_> {
    fn warn(&self, msg: impl Into<String>) {
        self.sink.emit(Event::Warning(msg.into()));
    }

    fn phase(&self, phase: TrialPhase) {
        self.sink.emit(Event::Phase {
            slot: self.slot.n,
            phase,
        });
    }
}

/// Step 1: the port.
enum PortWait {
    Free,
    Busy(String),
    Stopped(Stop),
}

/// Step 2 and 3: the service started, then its start-up.
struct Running {
    child: Child,
    pgid: i32,
    log_path: PathBuf,
    /// The trial's index, carried by its processes as `AUTOTUNE_TRIAL`.
    index: u32,
}

enum Startup {
    Ready(String),
    Exited(i64),
    TimedOut,
    Stopped(Stop),
}

/// Step 4: the eval runs.
enum EvalEnd {
    Completed,
    Pruned(String),
    ServiceDied(i64),
    Stopped(Stop),
}

/// Runs one trial. `index` is the first log number free to use; the one
/// used is returned with the end (the next trial starts after it).
pub async fn run(
    ctx: &mut Ctx<'_>,
    spec: &TrialSpec,
    index: u32,
) -> Result<(TrialEnd, u32), TrialError> {
    let t0 = Instant::now();
    let (mut end, next) = body(ctx, spec, index, t0).await?;
    if let TrialEnd::Done(r) = &end
        && let Some(why) = full_disk(ctx.cfg, r)
    {
        // A service that could not write its log died of the disk, not of
        // its configuration: record nothing, stop the run.
        end = TrialEnd::Environment(why);
    }
    if let TrialEnd::Done(r) = &mut end {
        r.ts = now_ts();
        r.total_s = Some(round3(t0.elapsed().as_secs_f64()));
    }
    Ok((end, next))
}

/// Why a failed trial's failure may be the disk's: its log (or the repo,
/// where the eval writes) is on a full file system. Only for a trial whose
/// service was started and that did not end well.
fn full_disk(cfg: &Config, r: &Record) -> Option<String> {
    if !matches!(
        r.status,
        Status::Crashed | Status::Timeout | Status::Failed | Status::Partial
    ) {
        return None;
    }
    let log = r.server_log.as_ref()?;
    let log = cfg.repo.join(log);
    crate::engine::store::full_file_system(&log)
        .or_else(|| crate::engine::store::full_file_system(&cfg.repo))
}

pub(crate) fn new_record(spec: &TrialSpec) -> Record {
    let mut r = Record {
        trial_key: spec.key.clone(),
        status: Status::Failed,
        phase: Phase::Startup,
        param_under_test: Some(spec.changes.param_text()),
        params: spec.params.clone(),
        ..Default::default()
    };
    if spec.recheck {
        r.extra.insert("recheck".into(), true.into());
    }
    r
}

async fn body(
    ctx: &mut Ctx<'_>,
    spec: &TrialSpec,
    index: u32,
    t0: Instant,
) -> Result<(TrialEnd, u32), TrialError> {
    let mut rec = new_record(spec);
    let done = |r: Record, next| Ok((TrialEnd::Done(Box::new(r)), next));
    match wait_port(ctx).await {
        PortWait::Free => {}
        PortWait::Stopped(Stop::Skip) => {
            rec.status = Status::Skipped;
            return done(rec, index);
        }
        PortWait::Stopped(s) => return Ok((TrialEnd::Stopped(s), index)),
        // Someone else's process on the port says nothing of this config.
        PortWait::Busy(reason) => return Ok((TrialEnd::Environment(reason), index)),
    }

    let cfg = ctx.cfg;
    let (index, log_path, log) =
        service::create_log(&cfg.server_log_dir, index).map_err(|source| TrialError::Log {
            dir: cfg.server_log_dir.clone(),
            source,
        })?;
    let next = index + 1;
    let server_log = cfg.rel(&log_path);
    ctx.sink.emit(spec.started(
        ctx.slot.n,
        ctx.slot.devices.clone(),
        index,
        log_path.clone(),
    ));
    rec.server_log = Some(server_log.clone());
    rec.trial_index = Some(index);

    let mut svc = match start(ctx, spec, index, log, log_path, server_log).await? {
        Ok(s) => s,
        Err(reason) => {
            rec.reason = Some(reason);
            return done(rec, next);
        }
    };

    let startup = wait_ready(ctx, &mut svc).await;
    let startup_s = round3(t0.elapsed().as_secs_f64());
    rec.startup_s = Some(startup_s);
    let health = match startup {
        Startup::Ready(h) => h,
        other => return Ok((startup_failed(ctx, &mut svc, other, rec).await, next)),
    };
    ctx.phase(TrialPhase::Ready {
        startup_s,
        health: health.clone(),
    });
    rec.health = Some(health);
    rec.phase = Phase::Eval;
    Ok((measure(ctx, spec, &mut svc, rec).await, next))
}

/// A start-up that did not end ready ends the trial, its service stopped:
/// an environment failure when another process holds the port (the
/// service could not bind, or answered nobody: not its fault), a stop, or
/// a record (skipped, crashed with its log's last lines, timed out).
async fn startup_failed(
    ctx: &mut Ctx<'_>,
    svc: &mut Running,
    startup: Startup,
    mut rec: Record,
) -> TrialEnd {
    if matches!(startup, Startup::Exited(_) | Startup::TimedOut)
        && let Some(reason) = foreign_holder(ctx.slot.port, svc)
    {
        stop_service(ctx, svc).await;
        return TrialEnd::Environment(reason);
    }
    stop_service(ctx, svc).await;
    match startup {
        Startup::Ready(_) => unreachable!("a ready service did not fail"),
        Startup::Stopped(s) if s != Stop::Skip => return TrialEnd::Stopped(s),
        Startup::Stopped(_) => rec.status = Status::Skipped,
        Startup::Exited(code) => {
            rec.status = Status::Crashed;
            rec.health = Some(format!("exited during start-up with code {code}"));
            rec.exit_code = Some(code);
            rec.extra.insert(
                "log_tail".into(),
                service::log_tail(&svc.log_path, 5).into(),
            );
        }
        Startup::TimedOut => {
            rec.status = Status::Timeout;
            rec.health = Some("timeout".into());
            rec.exit_code = svc.child.try_wait().ok().flatten().map(exit_code);
        }
    }
    TrialEnd::Done(Box::new(rec))
}

/// The eval runs of a ready service, then the service stopped and the
/// record judged (a stop other than a skip records nothing).
async fn measure(
    ctx: &mut Ctx<'_>,
    spec: &TrialSpec,
    svc: &mut Running,
    mut rec: Record,
) -> TrialEnd {
    let mut runs = Vec::new();
    let end = eval_runs(ctx, spec, svc, &mut runs).await;
    stop_service(ctx, svc).await;
    match &end {
        EvalEnd::Stopped(s) if *s != Stop::Skip => return TrialEnd::Stopped(*s),
        EvalEnd::ServiceDied(code) => {
            rec.exit_code = Some(*code);
            rec.extra.insert(
                "log_tail".into(),
                service::log_tail(&svc.log_path, 5).into(),
            );
        }
        EvalEnd::Pruned(why) => rec.reason = Some(why.clone()),
        EvalEnd::Stopped(_) | EvalEnd::Completed => {}
    }
    judge_eval(
        &mut rec,
        matches!(end, EvalEnd::Stopped(Stop::Skip)),
        matches!(end, EvalEnd::Pruned(_)),
        summarize(runs),
        planned_runs(spec, ctx.cfg.eval_runs),
    );
    TrialEnd::Done(Box::new(rec))
}

/// The eval runs a trial plans: its judge's (a search may plan its own,
/// as the pooled one does), else `--eval_runs`.
pub(crate) fn planned_runs(spec: &TrialSpec, eval_runs: u32) -> u32 {
    spec.judge.as_ref().map_or(eval_runs, |j| j.runs)
}

/// Puts the eval's summary in the record with its status
/// ([`eval_status`]); figures whose mean or interval overflowed would win
/// every comparison (and draw nothing sensible): a failure, with the
/// reason. The local trial and the simulated executor judge alike.
pub(crate) fn judge_eval(
    rec: &mut Record,
    skipped: bool,
    pruned: bool,
    summary: EvalSummary,
    n: u32,
) {
    rec.status = eval_status(skipped, pruned, &summary, n);
    if matches!(rec.status, Status::Ok | Status::Partial)
        && let Some(why) = summary.non_finite()
    {
        rec.status = Status::Failed;
        rec.reason = Some(why);
    }
    rec.eval = Some(summary);
}

/// The status of a trial whose service served and whose eval ended: skipped
/// or pruned as asked, else by its ok runs against the `n` asked for. The
/// local trial and the simulated executor judge alike.
pub(crate) fn eval_status(skipped: bool, pruned: bool, summary: &EvalSummary, n: u32) -> Status {
    let ok_n = summary.eval_ok_n.unwrap_or(0);
    let ran = summary.eval_runs.as_ref().map_or(0, |r| r.len() as u32);
    if skipped {
        Status::Skipped
    } else if pruned {
        Status::Pruned
    } else if ok_n == ran && ran >= n {
        Status::Ok
    } else if ok_n > 0 {
        Status::Partial
    } else {
        Status::Failed
    }
}

/// "port 8000 is held by pid 12 (python3 -m http.server)" when a process
/// that is not this trial's listens on the port.
fn foreign_holder(port: u16, svc: &Running) -> Option<String> {
    match process::port_owner(port, svc.pgid, svc.index) {
        owner @ process::PortOwner::Foreign(_) => Some(format!(
            "port {port} is held by {}, not by this trial's service",
            owner.describe()
        )),
        _ => None,
    }
}

/// Waits for the port to be free (stopping `uvicorn serve:app` listeners
/// first with `--port_busy_kill`).
async fn wait_port(ctx: &mut Ctx<'_>) -> PortWait {
    let cfg = ctx.cfg;
    let port = ctx.slot.port;
    if !process::port_open(port).await {
        return PortWait::Free;
    }
    if cfg.port_busy_kill {
        let killed = process::kill_uvicorn_listeners(port).await;
        if !killed.is_empty() {
            ctx.warn(format!(
                "port {port}: stopped uvicorn serve:app listener(s) {killed:?} (--port_busy_kill)"
            ));
        }
    }
    let mut attempt = 0;
    while process::port_open(port).await {
        if attempt >= cfg.port_busy_retries {
            let owner = process::port_owner(port, 0, 0);
            let by = match owner {
                process::PortOwner::Foreign(_) => format!(", held by {}", owner.describe()),
                _ => String::new(),
            };
            return PortWait::Busy(format!(
                "port {port} busy after {attempt} wait(s) of {}s{by}",
                cfg.port_busy_wait.as_secs_f64()
            ));
        }
        attempt += 1;
        // Who holds it, said while waiting (not only when giving up).
        let holder = match process::port_owner(port, 0, 0) {
            owner @ process::PortOwner::Foreign(_) => Some(owner.describe()),
            _ => None,
        };
        ctx.phase(TrialPhase::PortBusy {
            attempt,
            retries: cfg.port_busy_retries,
            wait_s: cfg.port_busy_wait.as_secs_f64(),
            holder,
        });
        tokio::select! {
            s = stop_requested(&mut ctx.stop) => return PortWait::Stopped(s),
            _ = process::wait_port_closed(port, cfg.port_busy_wait) => {}
        }
    }
    PortWait::Free
}

/// Starts the service and records its process group so a restarted tuner
/// can stop it. The outer error ends the run; the inner one is the trial's.
async fn start(
    ctx: &Ctx<'_>,
    spec: &TrialSpec,
    index: u32,
    log: std::fs::File,
    log_path: PathBuf,
    server_log: String,
) -> Result<Result<Running, String>, TrialError> {
    let cfg = ctx.cfg;
    let mut env = service::service_env(&spec.params, ctx.slot.port);
    env.extend(ctx.slot.env.iter().cloned());
    env.extend(process::token_env(index));
    let child = match service::start(&cfg.server_cmd, &cfg.repo, &env, log) {
        Ok(c) => c,
        Err(e) => return Ok(Err(format!("cannot start the server command: {e}"))),
    };
    let pgid = child.id().map(|p| p as i32).unwrap_or(0);
    let mut svc = Running {
        child,
        pgid,
        log_path,
        index,
    };
    let state = ServiceState {
        pgid,
        start_ticks: proc_info(pgid).map(|p| p.start_ticks).unwrap_or(0),
        tuner_pid: std::process::id(),
        port: ctx.slot.port,
        log: server_log,
        run: process::run_id().to_string(),
        trial: index,
    };
    if let Some(f) = &ctx.slot.state_file
        && let Err(e) = service::save_state(f, &state)
    {
        stop_service(ctx, &mut svc).await;
        return Err(e.into());
    }
    ctx.phase(TrialPhase::Starting {
        pgid,
        timeout_s: cfg.startup_timeout.as_secs_f64(),
    });
    Ok(Ok(svc))
}

/// Whichever comes first of a stop request, the service's exit, the
/// start-up timeout and a good answer.
async fn wait_ready(ctx: &mut Ctx<'_>, svc: &mut Running) -> Startup {
    let cfg = ctx.cfg;
    tokio::select! {
        biased;
        s = stop_requested(&mut ctx.stop) => Startup::Stopped(s),
        st = svc.child.wait() => Startup::Exited(st.map(exit_code).unwrap_or(-1)),
        _ = tokio::time::sleep(cfg.startup_timeout) => Startup::TimedOut,
        h = service::wait_ready(ctx.client, ctx.slot.port, &cfg.health_path, READY_POLL, svc.pgid, svc.index) => Startup::Ready(h),
    }
}

/// Runs the eval `--eval_runs` times, unless the service dies or a stop
/// request comes first. Finished runs are pushed to `runs`.
async fn eval_runs(
    ctx: &mut Ctx<'_>,
    spec: &TrialSpec,
    svc: &mut Running,
    runs: &mut Vec<EvalRun>,
) -> EvalEnd {
    let cfg = ctx.cfg;
    let n = planned_runs(spec, cfg.eval_runs);
    // The eval sees the trial's params too, so client-side settings (max
    // tokens, temperature) can be tuned like server ones.
    let mut env: Vec<(String, String)> = spec
        .params
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    env.push(("PORT".to_string(), ctx.slot.port.to_string()));
    env.extend(ctx.slot.env.iter().cloned());
    env.extend(process::token_env(svc.index));
    let eval = EvalSpec {
        cmd: &cfg.eval_cmd,
        cwd: &cfg.repo,
        env: &env,
        timeout: cfg.eval_timeout,
        patterns: &cfg.patterns,
        goal: &cfg.goal,
    };
    let mut ok = Samples::default();
    let mut i = 0;
    loop {
        i += 1;
        ctx.phase(TrialPhase::Eval {
            run: i,
            of: n.max(i),
            timeout_s: cfg.eval_timeout.as_secs_f64(),
        });
        tokio::select! {
            biased;
            s = stop_requested(&mut ctx.stop) => return EvalEnd::Stopped(s),
            st = svc.child.wait() => {
                let code = st.map(exit_code).unwrap_or(-1);
                runs.push(EvalRun {
                    i,
                    ok: false,
                    error: Some(format!("the service exited during the eval (exit code {code})")),
                    ..Default::default()
                });
                return EvalEnd::ServiceDied(code);
            }
            (run, _text) = run_once(i, &eval) => {
                ctx.sink.emit(Event::EvalRunFinished {
                    slot: ctx.slot.n,
                    run: run.clone(),
                });
                push_run(&mut ok, &run, &cfg.goal);
                runs.push(run);
            }
        }
        let verdict = match &spec.judge {
            Some(j) => j.verdict(&ok, i),
            None if i < n => Verdict::Continue,
            None => Verdict::Stop,
        };
        match verdict {
            Verdict::Continue | Verdict::Extend => {}
            Verdict::Prune(why) => return EvalEnd::Pruned(why),
            Verdict::Stop => return EvalEnd::Completed,
        }
    }
}

/// Stops the service's group (and escaped helpers), waits for the port to
/// close, and forgets the service.
async fn stop_service(ctx: &Ctx<'_>, svc: &mut Running) {
    let cfg = ctx.cfg;
    ctx.phase(TrialPhase::Stopping);
    let r = process::stop_trial_group(
        svc.pgid,
        Some(&mut svc.child),
        cfg.kill_grace,
        Some(svc.index),
    )
    .await;
    if r.killed {
        ctx.warn(format!(
            "the service ignored SIGTERM for {}s and was killed",
            cfg.kill_grace.as_secs_f64()
        ));
    }
    // Processes of this trial that left the group and were not adopted by
    // us (setsid under another subreaper): found by their token.
    let marked = process::procs_with_token(process::run_id(), Some(svc.index));
    if process::stop_pids(&marked, cfg.kill_grace).await {
        ctx.warn(format!(
            "helpers of trial {} ignored SIGTERM and were killed: {marked:?}",
            svc.index
        ));
    }
    if r.survivors {
        ctx.warn(format!(
            "process group {} still has processes after SIGKILL",
            svc.pgid
        ));
    }
    let port = ctx.slot.port;
    // A foreign listener will not go away because ours stopped: no wait.
    let foreign = matches!(
        process::port_owner(port, svc.pgid, svc.index),
        process::PortOwner::Foreign(_)
    );
    if !foreign && !process::wait_port_closed(port, Duration::from_secs(8)).await {
        ctx.warn(format!(
            "port {port} still open 8 s after the service stopped"
        ));
    }
    if let Some(f) = &ctx.slot.state_file {
        service::clear_state(f);
    }
}

/// What to do with a finished trial's record, as judged by [`EvalWatch`].
#[derive(Debug, Clone, PartialEq)]
pub enum RecordVerdict {
    /// Append it (after any record held back).
    Record,
    /// Hold it back until the next trial says whether the eval command
    /// itself is broken.
    Hold,
    /// The eval command cannot work: stop the run, record neither.
    Environment(String),
    /// The eval's output cannot be parsed at all, and no trial's has been
    /// yet: stop the run, record this trial not. A record held back stays
    /// a result (nothing proved its failure the eval's).
    Unparsable(String),
}

/// Tells an eval command that cannot work (a typo, a missing script, a
/// syntax error) from configurations that fail.
///
/// The rule: until some eval run of this tuner has succeeded, a trial is
/// *suspect* when it reached the eval and every one of its eval runs failed
/// with the same non-zero exit code and the same output. The first suspect
/// trial is held back (not appended); when the next trial is suspect with
/// the same exit code and output, the run stops with an environment error
/// and neither is recorded. Any other next trial releases the held record,
/// and so does the end of the run for any other reason (another failure of
/// the environment proves nothing of the eval). Once the eval is proved
/// broken, a later suspect trial (one still running then, with several
/// slots) is not recorded either.
///
/// An eval that exits 0 but prints nothing any pattern parses is broken
/// too, not a result, as long as no trial of the run has produced a figure:
/// the first trial whose every eval run did so stops the run, unrecorded,
/// naming the patterns the goal needs and showing the output. Once a trial
/// has parsed, unparsable output is that configuration's failure.
#[derive(Debug, Default)]
pub struct EvalWatch {
    any_ok: bool,
    held: Option<(i64, Vec<String>)>,
    broken: Option<String>,
    /// Some eval run of this tuner produced a figure.
    any_parsed: bool,
    /// The goal's metrics with their patterns, for the message.
    patterns: Vec<(String, String)>,
}

impl EvalWatch {
    /// A watch that names `patterns` (metric name, regular expression: the
    /// ones the goal needs) when an eval's output never parses.
    pub fn new(patterns: Vec<(String, String)>) -> Self {
        EvalWatch {
            patterns,
            ..Default::default()
        }
    }

    /// Judges a finished trial's record.
    pub fn judge(&mut self, rec: &Record) -> RecordVerdict {
        let runs = rec
            .eval
            .as_ref()
            .and_then(|e| e.eval_runs.as_deref())
            .unwrap_or(&[]);
        if runs.iter().any(|r| r.ok) {
            self.any_ok = true;
        }
        if runs.iter().any(parsed_any) {
            self.any_parsed = true;
        }
        if !self.any_parsed && nothing_parsed(rec, runs) {
            return RecordVerdict::Unparsable(self.unparsable_message(runs));
        }
        let sig = if self.any_ok {
            None
        } else {
            eval_failure_signature(runs)
        };
        if let (Some(_), Some(m)) = (&sig, &self.broken) {
            return RecordVerdict::Environment(m.clone());
        }
        let held = self.held.take();
        match (sig, held) {
            (Some(sig), Some(h)) if sig == h => {
                let m = format!(
                    "the eval command failed the same way in every run of two trials with different params (exit code {}{}); it looks broken, not the configurations",
                    sig.0,
                    sig.1
                        .last()
                        .map(|l| format!(", last output: {l}"))
                        .unwrap_or_else(|| ", no output".to_string())
                );
                self.broken = Some(m.clone());
                RecordVerdict::Environment(m)
            }
            (Some(sig), None) => {
                self.held = Some(sig);
                RecordVerdict::Hold
            }
            _ => RecordVerdict::Record,
        }
    }
}

impl EvalWatch {
    fn unparsable_message(&self, runs: &[EvalRun]) -> String {
        let patterns: Vec<String> = self
            .patterns
            .iter()
            .map(|(name, re)| format!("{name} /{re}/"))
            .collect();
        let tail = runs
            .last()
            .and_then(|r| r.output_tail.as_deref())
            .unwrap_or(&[]);
        let shown: Vec<String> = tail[tail.len().saturating_sub(3)..]
            .iter()
            .map(|l| {
                let l: String = l
                    .chars()
                    .map(|c| if c.is_control() { '?' } else { c })
                    .collect();
                if l.chars().count() > 160 {
                    format!("{}...", l.chars().take(160).collect::<String>())
                } else {
                    l
                }
            })
            .collect();
        format!(
            "the eval command exited 0 but printed nothing its patterns parse, and no trial has produced a figure yet: it looks broken, not the configuration (no match for {}); its output ended: {}",
            if patterns.is_empty() {
                "any pattern".to_string()
            } else {
                patterns.join(", ")
            },
            if shown.is_empty() {
                "(no output)".to_string()
            } else {
                shown.join(" | ")
            }
        )
    }
}

/// Whether an eval run produced any figure at all.
fn parsed_any(r: &EvalRun) -> bool {
    r.measured.as_ref().is_some_and(|m| {
        m.accuracy.is_some()
            || m.total_tps.is_some()
            || m.answer_tps.is_some()
            || m.total_time_s.is_some()
    }) || r.metrics.as_ref().is_some_and(|m| !m.is_empty())
}

/// Whether a trial failed only because its eval's output held no figure:
/// it reached the eval (its service did not die), and every eval run exited
/// 0, in time, without a figure.
fn nothing_parsed(rec: &Record, runs: &[EvalRun]) -> bool {
    rec.status == Status::Failed
        && rec.exit_code.is_none()
        && !runs.is_empty()
        && runs.iter().all(|r| {
            !r.ok
                && r.timeout != Some(true)
                && r.measured.as_ref().and_then(|m| m.returncode) == Some(0)
                && !parsed_any(r)
        })
}

/// `(exit code, output tail)` when every eval run failed with that same
/// non-zero code and output; `None` otherwise.
fn eval_failure_signature(runs: &[EvalRun]) -> Option<(i64, Vec<String>)> {
    let mut sig: Option<(i64, Vec<String>)> = None;
    for r in runs {
        let code = r.measured.as_ref().and_then(|m| m.returncode)?;
        if r.ok || r.timeout == Some(true) || code == 0 {
            return None;
        }
        let this = (code, r.output_tail.clone().unwrap_or_default());
        match &sig {
            Some(s) if *s != this => return None,
            _ => sig = Some(this),
        }
    }
    sig
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::record::{EvalSummary, Measured};

    fn failed(code: i64, out: &str, n: u32) -> Record {
        let runs = (1..=n)
            .map(|i| EvalRun {
                i,
                ok: false,
                measured: Some(Measured {
                    returncode: Some(code),
                    ..Default::default()
                }),
                output_tail: Some(vec![out.to_string()]),
                ..Default::default()
            })
            .collect();
        Record {
            eval: Some(EvalSummary {
                eval_runs: Some(runs),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn two_identical_failing_trials_are_the_environment() {
        let mut w = EvalWatch::default();
        assert_eq!(w.judge(&failed(127, "not found", 2)), RecordVerdict::Hold);
        assert!(matches!(
            w.judge(&failed(127, "not found", 2)),
            RecordVerdict::Environment(m) if m.contains("exit code 127") && m.contains("not found")
        ));
        // A trial that ends after the eval was proved broken (another
        // slot's) is not a result either, whatever its failure.
        assert!(matches!(
            w.judge(&failed(2, "other", 1)),
            RecordVerdict::Environment(m) if m.contains("exit code 127")
        ));
    }

    /// A failed trial whose eval runs exited 0 with `out` and no figure.
    fn unparsed(out: &str) -> Record {
        let mut r = failed(0, out, 2);
        r.status = Status::Failed;
        r
    }

    #[test]
    fn output_that_never_parsed_stops_at_once_and_after_a_figure_is_a_result() {
        let mut w = EvalWatch::new(vec![("accuracy".into(), "acc=([0-9.]+)".into())]);
        assert!(matches!(
            w.judge(&unparsed("hello\u{1b}[2J")),
            RecordVerdict::Unparsable(m) if m.contains("accuracy /acc=([0-9.]+)/") && m.contains("hello?[2J")
        ));
        // A run that parsed a figure (even a failed one) ends the rule.
        let mut w = EvalWatch::default();
        let mut some = unparsed("acc=2");
        some.eval.as_mut().unwrap().eval_runs.as_mut().unwrap()[0]
            .measured
            .as_mut()
            .unwrap()
            .accuracy = Some(2.0);
        assert_eq!(w.judge(&some), RecordVerdict::Record);
        assert_eq!(w.judge(&unparsed("hello")), RecordVerdict::Record);
        // A service that died under the eval is that configuration's crash.
        let mut died = unparsed("hello");
        died.exit_code = Some(137);
        assert_eq!(EvalWatch::default().judge(&died), RecordVerdict::Record);
    }

    #[test]
    fn failures_that_differ_are_results() {
        let mut w = EvalWatch::default();
        assert_eq!(w.judge(&failed(1, "bad 64", 2)), RecordVerdict::Hold);
        assert_eq!(w.judge(&failed(1, "bad 48", 2)), RecordVerdict::Record);
        // Runs of one trial that differ are not suspect at all.
        let mut mixed = failed(1, "a", 1);
        if let Some(runs) = mixed.eval.as_mut().and_then(|e| e.eval_runs.as_mut()) {
            runs.push(failed(2, "a", 1).eval.unwrap().eval_runs.unwrap()[0].clone());
        }
        assert_eq!(EvalWatch::default().judge(&mixed), RecordVerdict::Record);
        // After a success, identical failures are the configs' own.
        let mut w = EvalWatch::default();
        let mut ok = failed(0, "", 1);
        ok.eval.as_mut().unwrap().eval_runs.as_mut().unwrap()[0].ok = true;
        assert_eq!(w.judge(&ok), RecordVerdict::Record);
        assert_eq!(w.judge(&failed(127, "x", 1)), RecordVerdict::Record);
        assert_eq!(w.judge(&failed(127, "x", 1)), RecordVerdict::Record);
    }
}
