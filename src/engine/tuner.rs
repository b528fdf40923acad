//! The engine loop: asks the planner what to measure, has the trial state
//! machine run it, appends the record, tells the planner, and publishes what
//! happens. Commands (keys and signals alike) are applied at every wait.

use std::sync::Arc;

use tokio::sync::{mpsc, watch};

use super::config::Config;
use super::event::{Command, Event, Outcome};
use super::outcome::{Files, RunSummary, summarize_run};
use super::planner::{PlanConfig, Planner, Step, TrialSpec};
use super::record::Record;
use super::service;
use super::sink::EventSink;
use super::store::{self, StoreError};
use super::trial::{self, Ctx, EvalWatch, RecordVerdict, Stop, TrialEnd, TrialError};

/// Why the engine could not go on.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A results, best or state file could not be read or written.
    #[error("{0}")]
    Store(#[from] StoreError),
    /// A trial could not be set up (log file, state file).
    #[error("{0}")]
    Trial(#[from] TrialError),
    /// The record could not be appended: tuning without recording would
    /// waste the trials.
    #[error("{0}; stopping rather than tuning without recording")]
    Append(StoreError),
    /// An output file cannot be written (checked before the first trial).
    #[error("{0}")]
    Unwritable(String),
}

impl EngineError {
    /// Files that cannot be written fail the environment, not the run's
    /// logic: their own outcome (and exit status), so the watchdog does not
    /// burn a trial per restart on them.
    fn outcome(&self) -> Outcome {
        match self {
            EngineError::Store(e) if e.what.starts_with("cannot read") => {
                Outcome::Error(self.to_string())
            }
            _ => Outcome::Environment(self.to_string()),
        }
    }
}

impl Stop {
    fn outcome(self) -> Outcome {
        match self {
            Stop::Interrupt(s) => Outcome::Interrupted(s),
            _ => Outcome::Aborted,
        }
    }
}

/// The command channel and the pause state.
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

    /// Waits for skip, abort or a signal; pause toggles are applied on the
    /// way.
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

    /// Applies queued commands between trials and waits while paused. A
    /// skip between trials has nothing to skip.
    async fn between_trials(&mut self, sink: &EventSink) -> Option<Stop> {
        while let Ok(c) = self.rx.try_recv() {
            match self.apply(c, sink) {
                Some(Stop::Skip) | None => {}
                Some(s) => return Some(s),
            }
        }
        if self.paused {
            // Said again now that the run actually waits, so the status file
            // shows `paused` rather than the last trial's phase.
            sink.emit(Event::Paused(true));
        }
        while self.paused {
            match self.rx.recv().await {
                Some(c) => match self.apply(c, sink) {
                    Some(Stop::Skip) | None => {}
                    Some(s) => return Some(s),
                },
                None => self.paused = false,
            }
        }
        None
    }
}

/// The engine: state of one tuning run.
struct Engine {
    cfg: Config,
    sink: EventSink,
    ctl: Control,
    client: reqwest::Client,
    best_seen: Option<f64>,
    next_index: u32,
    /// Every record known: the results file's, then this run's.
    all: Vec<Arc<Record>>,
    /// This run's records.
    ran: Vec<Arc<Record>>,
    /// Trials reused from the results file.
    reused: usize,
    /// Watches for an eval command that cannot work.
    watch: EvalWatch,
    /// A record held back by `watch`, appended once the next trial clears it.
    held: Option<(TrialSpec, Arc<Record>)>,
}

/// Runs a whole tuning run and returns what it achieved (with how it
/// ended). The last event is always [`Event::RunFinished`].
pub async fn run(
    cfg: Config,
    sink: EventSink,
    commands: mpsc::UnboundedReceiver<Command>,
) -> Arc<RunSummary> {
    let mut best = cfg.base.clone();
    let mut e = Engine {
        cfg,
        sink,
        ctl: Control {
            rx: commands,
            paused: false,
        },
        client: service::probe_client(),
        best_seen: None,
        next_index: 1,
        all: Vec::new(),
        ran: Vec::new(),
        reused: 0,
        watch: EvalWatch::default(),
        held: None,
    };
    let mut outcome = match e.run_inner(&mut best).await {
        Ok(o) => o,
        Err(err) => err.outcome(),
    };
    // A record still held back was never proved an environment failure.
    if !matches!(outcome, Outcome::Environment(_))
        && let Some((spec, rec)) = e.held.take()
        && let Err(err) = e.finish_trial(&spec, &rec)
    {
        outcome = err.outcome();
    }
    let cfg = &e.cfg;
    let summary = Arc::new(summarize_run(
        outcome.clone(),
        &cfg.base,
        &best,
        &e.all,
        &e.ran,
        e.reused,
        Files {
            results: cfg.results.clone(),
            best: cfg.best.clone(),
            status: cfg.status_file.clone(),
            logs: cfg.server_log_dir.clone(),
        },
    ));
    e.sink.emit(Event::RunFinished {
        outcome,
        best,
        summary: summary.clone(),
    });
    summary
}

impl Engine {
    fn warn(&self, msg: impl Into<String>) {
        self.sink.emit(Event::Warning(msg.into()));
    }

    async fn run_inner(
        &mut self,
        best: &mut crate::engine::search::Params,
    ) -> Result<Outcome, EngineError> {
        let cfg = &self.cfg;
        let loaded = store::load_results(&cfg.results)?;
        if let Some(w) = loaded.warning(&cfg.results) {
            self.warn(w);
        }
        if loaded.torn_tail {
            self.warn(format!(
                "{}: the last line is torn (an interrupted write); it is kept and the next record starts on a new line",
                self.cfg.results.display()
            ));
        }
        for r in &loaded.records {
            self.beats_best(r);
        }
        let cfg = &self.cfg;
        store::check_writable(
            &cfg.results,
            &cfg.best,
            &cfg.status_file,
            &cfg.server_log_dir,
        )
        .map_err(EngineError::Unwritable)?;
        self.next_index = store::highest_trial_index(&cfg.server_log_dir, &loaded.records) + 1;
        if let Some(msg) = service::recover_leftover(&cfg.service_state_file, cfg.kill_grace).await
        {
            self.warn(msg);
        }
        let existing_records = loaded.records.len();
        self.all = loaded.records.into_iter().map(Arc::new).collect();
        let mut planner = Planner::new(
            PlanConfig {
                space: cfg.space.clone(),
                base: cfg.base.clone(),
                threshold: cfg.accuracy_threshold,
                skip_existing: cfg.skip_existing,
                eval_runs: cfg.eval_runs,
                policy: cfg.search_policy,
            },
            self.all.iter().cloned(),
        );
        self.sink.emit(Event::RunStarted {
            repo: cfg.repo.clone(),
            results: cfg.results.clone(),
            total_estimate: planner.estimate(),
            existing_records,
            base: cfg.base.clone(),
            threshold: cfg.accuracy_threshold,
            best_seen_tps: self.best_seen,
        });

        loop {
            match planner.step() {
                Step::Group {
                    param,
                    values,
                    group,
                    groups,
                } => self.sink.emit(Event::GroupStarted {
                    param,
                    values,
                    group,
                    groups,
                }),
                Step::Reuse { spec, record } => {
                    self.reused += 1;
                    self.sink.emit(Event::TrialReused {
                        ordinal: spec.ordinal,
                        param: spec.param,
                        value: spec.value,
                        record,
                    })
                }
                Step::Run(spec) => {
                    if let Some(stop) = self.ctl.between_trials(&self.sink).await {
                        return Ok(stop.outcome());
                    }
                    let rec = match self.run_trial(&spec).await? {
                        TrialEnd::Done(r) => Arc::new(*r),
                        TrialEnd::Stopped(stop) => return Ok(stop.outcome()),
                        TrialEnd::Environment(m) => return Ok(Outcome::Environment(m)),
                    };
                    match self.watch.judge(&rec) {
                        RecordVerdict::Environment(m) => return Ok(Outcome::Environment(m)),
                        RecordVerdict::Hold => self.held = Some((spec.clone(), rec.clone())),
                        RecordVerdict::Record => {
                            if let Some((s, r)) = self.held.take() {
                                self.finish_trial(&s, &r)?;
                            }
                            self.finish_trial(&spec, &rec)?;
                        }
                    }
                    planner.record(spec.ordinal, rec);
                    if !self.cfg.cooldown.is_zero() {
                        tokio::select! {
                            s = self.ctl.next_stop(&self.sink) => if s != Stop::Skip { return Ok(s.outcome()) },
                            _ = tokio::time::sleep(self.cfg.cooldown) => {}
                        }
                    }
                }
                // One trial at a time: every result is in by now.
                Step::Wait => {
                    unreachable!("one slot: each trial ends before the next is asked for")
                }
                Step::Decided {
                    param,
                    winner,
                    base,
                    ..
                } => {
                    if winner.is_some() {
                        store::write_best(&self.cfg.best, &base).map_err(EngineError::Append)?;
                    }
                    *best = base.clone();
                    self.sink.emit(Event::GroupBest {
                        param,
                        winner,
                        base,
                    });
                }
                Step::Finished => return Ok(Outcome::Done),
            }
        }
    }

    /// Runs one trial, passing stop requests from the command channel on to
    /// it while it runs.
    async fn run_trial(&mut self, spec: &TrialSpec) -> Result<TrialEnd, EngineError> {
        let (stop_tx, stop_rx) = watch::channel(None);
        let mut ctx = Ctx {
            cfg: &self.cfg,
            sink: &self.sink,
            client: &self.client,
            stop: stop_rx,
        };
        let fut = trial::run(&mut ctx, spec, self.next_index);
        tokio::pin!(fut);
        let (end, next) = loop {
            tokio::select! {
                r = &mut fut => break r?,
                s = self.ctl.next_stop(&self.sink) => {
                    // The trial stops the service and reports how it ended.
                    stop_tx.send_replace(Some(s));
                }
            }
        };
        self.next_index = next;
        Ok(end)
    }

    /// Appends the record and tells the front ends.
    fn finish_trial(&mut self, spec: &TrialSpec, rec: &Arc<Record>) -> Result<(), EngineError> {
        match store::append_record(&self.cfg.results, rec) {
            Ok(true) => self.warn(format!(
                "{}: the last line was torn (no newline); kept it and started a new line",
                self.cfg.results.display()
            )),
            Ok(false) => {}
            Err(e) => return Err(EngineError::Append(e)),
        }
        self.all.push(rec.clone());
        self.ran.push(rec.clone());
        self.sink.emit(Event::TrialFinished {
            ordinal: spec.ordinal,
            record: rec.clone(),
        });
        if let Some(previous_tps) = self.beats_best(rec) {
            self.sink.emit(Event::NewBest {
                record: rec.clone(),
                previous_tps,
            });
        }
        Ok(())
    }

    /// Counts a record towards the best figure of the results file: when it
    /// meets the bar and beats it, returns the previous best.
    fn beats_best(&mut self, r: &Record) -> Option<Option<f64>> {
        if !r.eligible_for_best(self.cfg.accuracy_threshold) {
            return None;
        }
        let tps = r.avg_total_tps().unwrap_or(0.0);
        self.best_seen
            .is_none_or(|b| tps > b)
            .then(|| self.best_seen.replace(tps))
    }
}
