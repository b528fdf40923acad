//! The trial loop: coordinate ascent over parameter groups, one trial at a
//! time (port check, start, readiness, eval runs, stop, record), reacting to
//! commands at every wait.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::process::Child;
use tokio::sync::mpsc;

use super::config::Config;
use super::eval::{EvalSpec, round3, run_once};
use super::event::{Command, Event, Outcome, TrialPhase};
use super::process::{self, exit_code, proc_info};
use super::record::{EvalRun, Record, now_ts, status, summarize};
use super::search::{Params, SearchSpace, trial_key};
use super::service::{self, ServiceState};
use super::store;

/// How often readiness is probed.
pub const READY_POLL: Duration = Duration::from_millis(50);

/// Sends each event to every subscriber (front ends, status writer, alerts).
/// Unbounded channels: emitting never waits, so a slow consumer cannot slow
/// the trials.
#[derive(Default, Clone)]
pub struct EventSink {
    subs: Vec<mpsc::UnboundedSender<Arc<Event>>>,
}

impl EventSink {
    /// A sink with no subscribers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a subscriber.
    pub fn subscribe(&mut self) -> mpsc::UnboundedReceiver<Arc<Event>> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.subs.push(tx);
        rx
    }

    /// Publishes an event.
    pub fn emit(&self, e: Event) {
        let e = Arc::new(e);
        for s in &self.subs {
            let _ = s.send(e.clone());
        }
    }
}

/// A request to leave the current wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Skip,
    Abort,
    Interrupt(i32),
}

impl Stop {
    fn outcome(self) -> Outcome {
        match self {
            Stop::Interrupt(s) => Outcome::Interrupted(s),
            _ => Outcome::Aborted,
        }
    }
}

struct Control {
    rx: mpsc::UnboundedReceiver<Command>,
    paused: bool,
}

impl Control {
    fn apply(&mut self, c: Command, sink: &EventSink) -> Option<Stop> {
        match c {
            Command::Skip => Some(Stop::Skip),
            Command::Abort => Some(Stop::Abort),
            Command::Interrupt(s) => Some(Stop::Interrupt(s)),
            Command::TogglePause => {
                self.paused = !self.paused;
                sink.emit(Event::Paused(self.paused));
                None
            }
        }
    }

    /// Waits for skip, abort or a signal; pause toggles are applied on the way.
    async fn next_stop(&mut self, sink: &EventSink) -> Stop {
        loop {
            match self.rx.recv().await {
                Some(c) => {
                    if let Some(s) = self.apply(c, sink) {
                        return s;
                    }
                }
                None => std::future::pending::<()>().await,
            }
        }
    }
}

/// How a trial ended.
enum TrialEnd {
    Done(Box<Record>),
    Stopped(Stop),
}

/// The engine: state of one tuning run.
pub struct Engine {
    cfg: Config,
    sink: EventSink,
    ctl: Control,
    client: reqwest::Client,
    done: HashMap<String, Arc<Record>>,
    best_seen: Option<f64>,
    next_index: u32,
    base: Params,
}

/// Runs a whole tuning run and returns how it ended. The last event is
/// always [`Event::RunFinished`].
pub async fn run(
    cfg: Config,
    sink: EventSink,
    commands: mpsc::UnboundedReceiver<Command>,
) -> Outcome {
    let base = cfg.base.clone();
    let mut e = Engine {
        cfg,
        sink,
        ctl: Control {
            rx: commands,
            paused: false,
        },
        client: service::probe_client(),
        done: HashMap::new(),
        best_seen: None,
        next_index: 1,
        base,
    };
    let outcome = match e.run_inner().await {
        Ok(o) => o,
        Err(msg) => Outcome::Error(msg),
    };
    e.sink.emit(Event::RunFinished {
        outcome: outcome.clone(),
        best: e.base.clone(),
    });
    outcome
}

impl Engine {
    fn warn(&self, msg: impl Into<String>) {
        self.sink.emit(Event::Warning(msg.into()));
    }

    async fn run_inner(&mut self) -> Result<Outcome, String> {
        let loaded = store::load_results(&self.cfg.results).map_err(|e| e.to_string())?;
        if let Some(w) = loaded.warning(&self.cfg.results) {
            self.warn(w);
        }
        if loaded.torn_tail {
            self.warn(format!(
                "{}: the last line is torn (an interrupted write); it is kept and the next record starts on a new line",
                self.cfg.results.display()
            ));
        }
        for r in &loaded.records {
            if status::is_done(&r.status) && !r.trial_key.is_empty() {
                self.done.insert(r.trial_key.clone(), Arc::new(r.clone()));
            }
            self.beats_best(r);
        }
        let cfg = &self.cfg;
        self.next_index = store::highest_trial_index(&cfg.server_log_dir, &loaded.records) + 1;
        if let Some(msg) = service::recover_leftover(&cfg.service_state_file, cfg.kill_grace).await
        {
            self.warn(msg);
        }
        let plan_len = self.cfg.space.plan(&self.base).len();
        self.sink.emit(Event::RunStarted {
            repo: self.cfg.repo.clone(),
            results: self.cfg.results.clone(),
            total_estimate: plan_len,
            existing_records: loaded.records.len(),
            base: self.base.clone(),
            threshold: self.cfg.accuracy_threshold,
            best_seen_tps: self.best_seen,
        });

        let groups = self.cfg.space.groups.clone();
        let mut ordinal = 0;
        for (gi, (name, cands)) in groups.iter().enumerate() {
            let values = SearchSpace::group_values(&self.base, name, cands);
            self.sink.emit(Event::GroupStarted {
                param: name.clone(),
                values: values.clone(),
                group: gi + 1,
                groups: groups.len(),
            });
            let mut group: Vec<Arc<Record>> = Vec::new();
            for value in values {
                ordinal += 1;
                let mut params = self.base.clone();
                params.insert(name.clone(), value.clone());
                let key = trial_key(&params);
                if self.cfg.skip_existing
                    && let Some(r) = self.done.get(&key)
                {
                    self.sink.emit(Event::TrialReused {
                        ordinal,
                        param: name.clone(),
                        value: value.clone(),
                        record: r.clone(),
                    });
                    group.push(r.clone());
                    continue;
                }
                if let Some(stop) = self.between_trials().await {
                    return Ok(stop.outcome());
                }
                let rec = match self.run_trial(ordinal, name, &value, params, key).await? {
                    TrialEnd::Done(r) => Arc::new(*r),
                    TrialEnd::Stopped(stop) => return Ok(stop.outcome()),
                };
                match store::append_record(&self.cfg.results, &rec) {
                    Ok(true) => self.warn(format!(
                        "{}: the last line was torn (no newline); kept it and started a new line",
                        self.cfg.results.display()
                    )),
                    Ok(false) => {}
                    Err(e) => {
                        return Err(format!(
                            "{e}; stopping rather than tuning without recording"
                        ));
                    }
                }
                if status::is_done(&rec.status) {
                    self.done.insert(rec.trial_key.clone(), rec.clone());
                }
                self.sink.emit(Event::TrialFinished {
                    ordinal,
                    record: rec.clone(),
                });
                if let Some(previous_tps) = self.beats_best(&rec) {
                    self.sink.emit(Event::NewBest {
                        record: rec.clone(),
                        previous_tps,
                    });
                }
                group.push(rec);
                if !self.cfg.cooldown.is_zero() {
                    tokio::select! {
                        s = self.ctl.next_stop(&self.sink) => if s != Stop::Skip { return Ok(s.outcome()) },
                        _ = tokio::time::sleep(self.cfg.cooldown) => {}
                    }
                }
            }
            let winner = pick_best(&group, self.cfg.accuracy_threshold);
            if let Some(w) = &winner {
                self.base = w.params.clone();
                store::write_best(&self.cfg.best, &self.base).map_err(|e| e.to_string())?;
            }
            self.sink.emit(Event::GroupBest {
                param: name.clone(),
                winner,
                base: self.base.clone(),
            });
        }
        Ok(Outcome::Done)
    }

    /// Counts a record towards the best figure of the results file: when it
    /// meets the bar and beats it, returns the previous best.
    fn beats_best(&mut self, r: &Record) -> Option<Option<f64>> {
        if !r.qualifies(self.cfg.accuracy_threshold) {
            return None;
        }
        let tps = r.avg_total_tps().unwrap_or(0.0);
        self.best_seen
            .is_none_or(|b| tps > b)
            .then(|| self.best_seen.replace(tps))
    }

    /// Applies queued commands between trials and waits while paused.
    async fn between_trials(&mut self) -> Option<Stop> {
        while let Ok(c) = self.ctl.rx.try_recv() {
            match self.ctl.apply(c, &self.sink) {
                Some(Stop::Skip) | None => {}
                Some(s) => return Some(s),
            }
        }
        if self.ctl.paused {
            // Said again now that the run actually waits, so the status file
            // shows `paused` rather than the last trial's phase.
            self.sink.emit(Event::Paused(true));
        }
        while self.ctl.paused {
            match self.ctl.rx.recv().await {
                Some(c) => match self.ctl.apply(c, &self.sink) {
                    Some(Stop::Skip) | None => {}
                    Some(s) => return Some(s),
                },
                None => self.ctl.paused = false,
            }
        }
        None
    }

    /// A record of this trial; `run_trial` sets its time and duration.
    fn new_record(&self, name: &str, params: Params, key: String, st: &str, phase: &str) -> Record {
        Record {
            trial_key: key,
            status: st.to_string(),
            phase: phase.to_string(),
            param_under_test: Some(name.to_string()),
            params,
            ..Default::default()
        }
    }

    /// Waits for the port to be free; `Err` carries the trial's end when it
    /// stays busy or the user stops.
    async fn wait_port(&mut self) -> Result<(), (Option<String>, Option<Stop>)> {
        let port = self.cfg.port;
        if !process::port_open(port).await {
            return Ok(());
        }
        if self.cfg.port_busy_kill {
            let killed = process::kill_uvicorn_listeners(port).await;
            if !killed.is_empty() {
                self.warn(format!("port {port}: stopped uvicorn serve:app listener(s) {killed:?} (--port_busy_kill)"));
            }
        }
        let mut attempt = 0;
        while process::port_open(port).await {
            if attempt >= self.cfg.port_busy_retries {
                let holders: Vec<String> = process::listeners(port)
                    .into_iter()
                    .map(|p| format!("pid {p} ({})", process::cmdline(p)))
                    .collect();
                let by = if holders.is_empty() {
                    String::new()
                } else {
                    format!(", held by {}", holders.join(", "))
                };
                return Err((
                    Some(format!(
                        "port {port} busy after {attempt} wait(s) of {}s{by}",
                        self.cfg.port_busy_wait.as_secs_f64()
                    )),
                    None,
                ));
            }
            attempt += 1;
            self.sink.emit(Event::Phase(TrialPhase::PortBusy {
                attempt,
                retries: self.cfg.port_busy_retries,
                wait_s: self.cfg.port_busy_wait.as_secs_f64(),
            }));
            tokio::select! {
                s = self.ctl.next_stop(&self.sink) => return Err((None, Some(s))),
                _ = process::wait_port_closed(port, self.cfg.port_busy_wait) => {}
            }
        }
        Ok(())
    }

    /// Runs one trial; a record's time and duration are set here, once.
    async fn run_trial(
        &mut self,
        ordinal: usize,
        name: &str,
        value: &str,
        params: Params,
        key: String,
    ) -> Result<TrialEnd, String> {
        let t0 = Instant::now();
        let mut end = self
            .trial_body(ordinal, name, value, params, key, t0)
            .await?;
        if let TrialEnd::Done(r) = &mut end {
            r.ts = now_ts();
            r.total_s = Some(round3(t0.elapsed().as_secs_f64()));
        }
        Ok(end)
    }

    async fn trial_body(
        &mut self,
        ordinal: usize,
        name: &str,
        value: &str,
        params: Params,
        key: String,
        t0: Instant,
    ) -> Result<TrialEnd, String> {
        match self.wait_port().await {
            Ok(()) => {}
            Err((_, Some(Stop::Skip))) => {
                return Ok(TrialEnd::Done(Box::new(self.new_record(
                    name,
                    params,
                    key,
                    status::SKIPPED,
                    "startup",
                ))));
            }
            Err((_, Some(s))) => return Ok(TrialEnd::Stopped(s)),
            Err((reason, None)) => {
                let mut r = self.new_record(name, params, key, status::FAILED, "startup");
                r.reason = reason;
                return Ok(TrialEnd::Done(Box::new(r)));
            }
        }

        let (index, log_path, log) = service::create_log(&self.cfg.server_log_dir, self.next_index)
            .map_err(|e| {
                format!(
                    "cannot create a log in {}: {e}",
                    self.cfg.server_log_dir.display()
                )
            })?;
        self.next_index = index + 1;
        let server_log = self.cfg.rel(&log_path);
        self.sink.emit(Event::TrialStarted {
            ordinal,
            index,
            param: name.to_string(),
            value: value.to_string(),
            base_value: self.base.get(name).cloned(),
            params: params.clone(),
            key: key.clone(),
            log_path: log_path.clone(),
        });
        let mut rec = self.new_record(name, params.clone(), key, status::FAILED, "startup");
        rec.server_log = Some(server_log.clone());
        rec.trial_index = Some(index);
        let env = service::service_env(&params, self.cfg.port);
        let mut child = match service::start(&self.cfg.server_cmd, &self.cfg.repo, &env, log) {
            Ok(c) => c,
            Err(e) => {
                rec.reason = Some(format!("cannot start the server command: {e}"));
                return Ok(TrialEnd::Done(Box::new(rec)));
            }
        };
        let pgid = child.id().map(|p| p as i32).unwrap_or(0);
        let state = ServiceState {
            pgid,
            start_ticks: proc_info(pgid).map(|p| p.start_ticks).unwrap_or(0),
            tuner_pid: std::process::id(),
            port: self.cfg.port,
            log: server_log,
        };
        if let Err(e) = service::save_state(&self.cfg.service_state_file, &state) {
            self.stop_service(pgid, &mut child).await;
            return Err(e.to_string());
        }
        self.sink.emit(Event::Phase(TrialPhase::Starting {
            pgid,
            timeout_s: self.cfg.startup_timeout.as_secs_f64(),
        }));

        // Start-up: whichever comes first of a command, the service's exit,
        // the timeout and a good answer.
        enum Up {
            Ready(String),
            Exited(i64),
            TimedOut,
            Stop(Stop),
        }
        let up = tokio::select! {
            biased;
            s = self.ctl.next_stop(&self.sink) => Up::Stop(s),
            st = child.wait() => Up::Exited(st.map(exit_code).unwrap_or(-1)),
            _ = tokio::time::sleep(self.cfg.startup_timeout) => Up::TimedOut,
            h = service::wait_ready(&self.client, self.cfg.port, &self.cfg.health_path, READY_POLL) => Up::Ready(h),
        };
        let startup_s = round3(t0.elapsed().as_secs_f64());
        let health = match up {
            Up::Ready(h) => h,
            Up::Stop(s) => {
                self.stop_service(pgid, &mut child).await;
                if s != Stop::Skip {
                    return Ok(TrialEnd::Stopped(s));
                }
                rec.status = status::SKIPPED.into();
                rec.startup_s = Some(startup_s);
                return Ok(TrialEnd::Done(Box::new(rec)));
            }
            Up::Exited(code) => {
                self.stop_service(pgid, &mut child).await;
                rec.status = status::CRASHED.into();
                rec.health = Some(format!("exited during start-up with code {code}"));
                rec.exit_code = Some(code);
                rec.startup_s = Some(startup_s);
                rec.extra
                    .insert("log_tail".into(), service::log_tail(&log_path, 5).into());
                return Ok(TrialEnd::Done(Box::new(rec)));
            }
            Up::TimedOut => {
                self.stop_service(pgid, &mut child).await;
                rec.status = status::TIMEOUT.into();
                rec.health = Some("timeout".into());
                rec.exit_code = child.try_wait().ok().flatten().map(exit_code);
                rec.startup_s = Some(startup_s);
                return Ok(TrialEnd::Done(Box::new(rec)));
            }
        };
        self.sink.emit(Event::Phase(TrialPhase::Ready {
            startup_s,
            health: health.clone(),
        }));
        rec.health = Some(health);
        rec.phase = "eval".into();
        rec.startup_s = Some(startup_s);

        let n = self.cfg.eval_runs;
        // The eval sees the trial's params too, so client-side settings
        // (max tokens, temperature) can be tuned like server ones.
        let mut eval_env: Vec<(String, String)> =
            params.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        eval_env.push(("PORT".to_string(), self.cfg.port.to_string()));
        let mut runs: Vec<EvalRun> = Vec::new();
        let mut stopped = None;
        for i in 1..=n {
            self.sink.emit(Event::Phase(TrialPhase::Eval {
                run: i,
                of: n,
                timeout_s: self.cfg.eval_timeout.as_secs_f64(),
            }));
            let spec = EvalSpec {
                cmd: &self.cfg.eval_cmd,
                cwd: &self.cfg.repo,
                env: &eval_env,
                timeout: self.cfg.eval_timeout,
                patterns: &self.cfg.patterns,
            };
            tokio::select! {
                biased;
                s = self.ctl.next_stop(&self.sink) => { stopped = Some(s); break; }
                st = child.wait() => {
                    let code = st.map(exit_code).unwrap_or(-1);
                    runs.push(EvalRun { i, ok: false, error: Some(format!("the service exited during the eval (exit code {code})")), ..Default::default() });
                    rec.exit_code = Some(code);
                    rec.extra.insert("log_tail".into(), service::log_tail(&log_path, 5).into());
                    break;
                }
                (run, _text) = run_once(i, &spec) => {
                    self.sink.emit(Event::EvalRunFinished(run.clone()));
                    runs.push(run);
                }
            }
        }
        self.stop_service(pgid, &mut child).await;
        if let Some(s) = stopped
            && s != Stop::Skip
        {
            return Ok(TrialEnd::Stopped(s));
        }
        let summary = summarize(runs);
        let ok_n = summary.eval_ok_n.unwrap_or(0);
        rec.status = if stopped == Some(Stop::Skip) {
            status::SKIPPED
        } else if ok_n == n {
            status::OK
        } else if ok_n > 0 {
            status::PARTIAL
        } else {
            status::FAILED
        }
        .into();
        rec.eval = Some(summary);
        Ok(TrialEnd::Done(Box::new(rec)))
    }

    /// Stops the service's group (and escaped helpers), waits for the port
    /// to close, and forgets the service.
    async fn stop_service(&self, pgid: i32, child: &mut Child) {
        self.sink.emit(Event::Phase(TrialPhase::Stopping));
        let r = process::stop_group(pgid, Some(child), self.cfg.kill_grace).await;
        if r.killed {
            self.warn(format!(
                "the service ignored SIGTERM for {}s and was killed",
                self.cfg.kill_grace.as_secs_f64()
            ));
        }
        if r.survivors {
            self.warn(format!(
                "process group {pgid} still has processes after SIGKILL"
            ));
        }
        if !process::wait_port_closed(self.cfg.port, Duration::from_secs(8)).await {
            self.warn(format!(
                "port {} still open 8 s after the service stopped",
                self.cfg.port
            ));
        }
        service::clear_state(&self.cfg.service_state_file);
    }
}

/// The group's choice: among records meeting the bar, the highest mean total
/// tokens/s (the first on a tie).
pub fn pick_best(group: &[Arc<Record>], threshold: f64) -> Option<Arc<Record>> {
    let mut best: Option<&Arc<Record>> = None;
    for r in group.iter().filter(|r| r.qualifies(threshold)) {
        if best.is_none_or(|b| r.avg_total_tps() > b.avg_total_tps()) {
            best = Some(r);
        }
    }
    best.cloned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::record::EvalSummary;

    fn rec(st: &str, acc: f64, tps: f64) -> Arc<Record> {
        Arc::new(Record {
            status: st.into(),
            eval: Some(EvalSummary {
                avg_accuracy: Some(acc),
                avg_total_tps: Some(tps),
                ..Default::default()
            }),
            ..Default::default()
        })
    }

    #[test]
    fn best_is_fastest_ok_over_threshold() {
        let g = vec![
            rec("ok", 0.9, 100.0),
            rec("ok", 0.87, 500.0),
            rec("partial", 0.95, 900.0),
            rec("ok", 0.88, 200.0),
            rec("ok", 0.95, 200.0),
        ];
        let b = pick_best(&g, 0.88).unwrap();
        assert_eq!(b.avg_total_tps(), Some(200.0));
        assert!(Arc::ptr_eq(&b, &g[3]), "ties keep the first");
        assert!(pick_best(&g[1..3], 0.88).is_none());
    }
}
