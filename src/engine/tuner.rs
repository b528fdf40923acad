//! The engine loop: asks the planner what to measure, has the trial state
//! machine run it, appends the record, tells the planner, and publishes what
//! happens. Commands (keys and signals alike) are applied at every wait.
//!
//! Up to `--slots` trials run at once, each in its own slot (devices, port,
//! state file). Records are appended as trials end and reported to the
//! planner, which decides a group only when all of it is in, in plan order:
//! for the same measurements the choices are the same whatever the number
//! of slots. Early stopping is the exception: a trial is judged against
//! the group's leader known when it starts, and with several slots less is
//! known, so a losing trial may run to its end where one slot would have
//! stopped it (its figures then differ; `tests/slots.rs` compares choices).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use futures_util::future::BoxFuture;
use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::sync::{mpsc, watch};

use super::best::BestRule;
use super::choice::{self, SearchSetup};
use super::config::Config;
use super::event::{Command, Event, Outcome};
use super::exec::{Executor, Job, Launched, Local};
use super::noise::PooledNoise;
use super::outcome::{Files, RunSummary, summarize_run_for};
use super::progress::{Counts, Spending, Tracker};
use super::record::{Record, now_ts};
use super::remote;
use super::search::coordinate::{Step, TrialSpec};
use super::search::trial_key;
use super::search::{Params, Searcher};
use super::service;
use super::sink::EventSink;
use super::slot;
use super::store::{self, StoreError};
use super::trial::{self, EvalWatch, RecordVerdict, Stop, TrialEnd, TrialError};

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
    /// The channel is closed (no front end, no signals): never wait on it.
    closed: bool,
}

/// What a command asks of the running trials.
enum Ask {
    /// Nothing (a pause toggle).
    Nothing,
    /// Stop every running trial this way.
    All(Stop),
    /// Skip the trial of one slot.
    SkipSlot(usize),
}

impl Control {
    fn apply(&mut self, c: Command, sink: &EventSink) -> Ask {
        match c {
            Command::Skip => Ask::All(Stop::Skip),
            Command::SkipSlot(n) => Ask::SkipSlot(n),
            Command::Abort => Ask::All(Stop::Abort),
            Command::Interrupt(s) => Ask::All(Stop::Interrupt(s)),
            Command::TogglePause => {
                self.paused = !self.paused;
                sink.emit(Event::Paused(self.paused));
                Ask::Nothing
            }
        }
    }

    /// The next command; never returns once the channel is closed.
    async fn next(&mut self) -> Command {
        if !self.closed {
            if let Some(c) = self.rx.recv().await {
                return c;
            }
            self.closed = true;
            // Nobody can resume a run whose commands are gone.
            self.paused = false;
        }
        std::future::pending().await
    }
}

/// What a trial future returns: its slot, its spec and how it ended.
type TrialDone = (usize, TrialSpec, Result<(TrialEnd, u32), TrialError>);

/// A trial in flight.
struct InFlight {
    stop: watch::Sender<Option<Stop>>,
    /// When it started (the engine's clock: paused in the loop's tests).
    started: tokio::time::Instant,
}

impl InFlight {
    /// Asks the trial to stop ([`trial::ask`]: never weakening an earlier
    /// request).
    fn ask(&self, s: Stop) {
        trial::ask(&self.stop, s);
    }
}

/// The trials in flight and how the run is ending.
#[derive(Default)]
struct Flight {
    /// The running trials by slot.
    running: BTreeMap<usize, InFlight>,
    /// Their futures.
    futs: FuturesUnordered<BoxFuture<'static, TrialDone>>,
    /// Slots resting after a trial (`--cooldown`).
    cooling: FuturesUnordered<BoxFuture<'static, usize>>,
    resting: BTreeSet<usize>,
    /// How the run ends once the trials in flight have stopped.
    ending: Option<Result<Outcome, EngineError>>,
    /// The pause was said while the run actually waits.
    said_paused: bool,
}

impl Flight {
    /// Asks every running trial to stop this way.
    fn ask_all(&self, s: Stop) {
        for f in self.running.values() {
            f.ask(s);
        }
    }
}

/// The engine: state of one tuning run.
struct Engine {
    cfg: Arc<Config>,
    sink: EventSink,
    ctl: Control,
    /// Where trials run: here, through the launcher, or simulated.
    exec: Arc<dyn Executor>,
    /// What may be shown as the best, as the search sees it now (its noise
    /// and its incumbent): the "new best" notice follows it.
    rule: BestRule,
    next_index: u32,
    /// Every record known: the results file's, then this run's.
    all: Vec<Arc<Record>>,
    /// This run's records.
    ran: Vec<Arc<Record>>,
    /// Records of the results file this run reused, each once (a
    /// configuration measured earlier in this run, handed out again, is
    /// not a trial and not counted).
    reused: Vec<Arc<Record>>,
    /// Trials that ran but were not recorded (an eval command that cannot
    /// work failed them): the outcome counts them.
    dropped: Vec<Arc<Record>>,
    /// The objective of the search's choice replayed at the start (the
    /// "previous best" of the first new best).
    best_seen: Option<f64>,
    /// The configuration last announced as the best (under a noise policy:
    /// the search's incumbent once a group chose it).
    announced: Option<String>,
    /// Watches for an eval command that cannot work.
    watch: EvalWatch,
    /// A record held back by `watch`, appended once the next trial clears it
    /// or the run ends for any other reason than the eval proved broken.
    held: Option<(TrialSpec, Arc<Record>)>,
    /// This run's id (launched jobs are named after it).
    run_id: String,
    /// Trial times and the share of the budget shown.
    progress: Tracker,
    /// The progress last published (without the running trials' time).
    said: Option<(usize, usize, u64, usize, usize, usize)>,
    /// The spending last published, and the running trials' seconds then
    /// (a record told after the loop is counted against them).
    spent: Spending,
    running_s: Vec<f64>,
    /// What the search said a larger budget would add, once it finished.
    outlook: Option<String>,
}

/// Runs a whole tuning run and returns what it achieved (with how it
/// ended). The last event is always [`Event::RunFinished`].
pub async fn run(
    cfg: Config,
    sink: EventSink,
    commands: mpsc::UnboundedReceiver<Command>,
) -> Arc<RunSummary> {
    let run_id = format!(
        "{}-{}",
        std::process::id(),
        now_ts().replace([':', '-', 'T'], "")
    );
    let exec: Arc<dyn Executor> = if cfg.launcher.is_some() {
        Arc::new(Launched::new(run_id.clone()))
    } else {
        Arc::new(Local::new())
    };
    run_with(cfg, exec, run_id, sink, commands).await
}

/// [`run`] with trials run by `exec` (the simulated executor in the demo's
/// replay, the benchmarks and the tests); `run_id` names launched jobs.
pub async fn run_with(
    cfg: Config,
    exec: Arc<dyn Executor>,
    run_id: String,
    sink: EventSink,
    commands: mpsc::UnboundedReceiver<Command>,
) -> Arc<RunSummary> {
    let mut best = cfg.base.clone();
    let rule = BestRule::plain(cfg.goal.clone());
    let goal_patterns = cfg
        .goal
        .required_metrics()
        .into_iter()
        .filter_map(|n| {
            let flag = match n {
                "accuracy" => "--acc_regex",
                "total_tps" => "--total_tps_regex",
                "answer_tps" => "--answer_tps_regex",
                "total_time_s" => "--total_time_regex",
                _ => "--metric",
            };
            Some((format!("{n} ({flag})"), cfg.patterns.source(n)?.to_string()))
        })
        .collect();
    let mut e = Engine {
        cfg: Arc::new(cfg),
        sink,
        ctl: Control {
            rx: commands,
            paused: false,
            closed: false,
        },
        exec,
        rule,
        next_index: 1,
        all: Vec::new(),
        ran: Vec::new(),
        reused: Vec::new(),
        dropped: Vec::new(),
        watch: EvalWatch::new(goal_patterns),
        announced: None,
        best_seen: None,
        held: None,
        run_id,
        progress: Tracker::default(),
        said: None,
        spent: Spending::default(),
        running_s: Vec::new(),
        outlook: None,
    };
    let mut outcome = match e.run_inner(&mut best).await {
        Ok(o) => o,
        Err(err) => err.outcome(),
    };
    // A record still held back was never proved an environment failure:
    // only the same failure on the next trial proves that (and then the
    // watch has dropped it already). Whatever else ended the run, another
    // environment failure included (a foreign listener, a file that cannot
    // be written, a launcher that failed), it is a result of its own, and
    // dropping it would lose it. After an environment failure or an error
    // it is marked `"unconfirmed": true`: the same fault may have failed its
    // eval, so a resumed run measures it again instead of reusing it.
    if let Some((spec, mut rec)) = e.held.take()
        && let Err(err) = {
            if matches!(outcome, Outcome::Environment(_) | Outcome::Error(_)) {
                // The same fault may have failed its eval too: kept in the
                // file, but a resumed run measures it again.
                Arc::make_mut(&mut rec)
                    .extra
                    .insert("unconfirmed".into(), true.into());
            }
            e.finish_trial(&spec, &rec)
        }
    {
        match outcome {
            // The run ends on its first failure; this one is said too.
            Outcome::Environment(_) | Outcome::Error(_) => e.warn(err.to_string()),
            _ => outcome = err.outcome(),
        }
    }
    if outcome != Outcome::Done
        && let Some(l) = &e.cfg.launcher
        && let Some(msg) =
            remote::cancel_leftovers(l, &e.run_id, e.cfg.layout.slots, e.cfg.kill_grace).await
    {
        e.warn(msg);
    }
    // Every trial has ended: whatever a launcher left on this machine (a
    // helper it double-forked) is stopped after a finished run too.
    if outcome == Outcome::Done && e.cfg.launcher.is_some() {
        remote::stop_orphans(e.cfg.kill_grace).await;
    }
    if e.cfg.launcher.is_some() {
        service::clear_state(&slot::launched_state_file(&e.cfg.service_state_file));
    }
    let cfg = &e.cfg;
    let summary = summarize_run_for(
        &cfg.goal,
        outcome.clone(),
        &cfg.base,
        &best,
        &e.all,
        &e.ran,
        e.reused.len(),
        Files {
            results: cfg.results.clone(),
            best: cfg.best.clone(),
            status: cfg.status_file.clone(),
            logs: cfg.server_log_dir.clone(),
            report: cfg.report.clone(),
        }
        // The report is written when the results file holds a record.
        .existing(!e.all.is_empty()),
    )
    .with_unrecorded(&e.dropped)
    .with_outlook(e.outlook.take());
    let summary = Arc::new(summary);
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

    /// Follows the planner's noise and incumbent; a change of the noise is
    /// published before anything judged by it.
    fn sync_rule(&mut self, planner: &mut dyn Searcher) {
        for note in planner.take_notes() {
            self.warn(note);
        }
        let noise: PooledNoise = *planner.noise();
        if noise != self.rule.noise {
            self.sink.emit(Event::Noise(noise));
        }
        self.rule.noise = noise;
        self.rule.incumbent = Some(trial_key(planner.choice()));
    }

    /// Publishes the progress when the spending, the trials timed or the
    /// trials running changed.
    fn publish_progress(&mut self, planner: &dyn Searcher, fl: &Flight) {
        let running: Vec<f64> = fl
            .running
            .values()
            .map(|f| f.started.elapsed().as_secs_f64())
            .collect();
        self.publish(planner.spending(), &running);
    }

    /// Publishes the progress at `s` with `running` the seconds each
    /// running trial has run, when it changed.
    fn publish(&mut self, s: Spending, running: &[f64]) {
        self.spent = s;
        self.running_s = running.to_vec();
        let p = self
            .progress
            .progress(s, running, self.cfg.layout.slots.max(1));
        let key = (
            p.trials,
            p.trials_at_most,
            p.fraction.to_bits(),
            self.progress.timed(),
            running.len(),
            p.counts.total(),
        );
        if self.said != Some(key) {
            self.said = Some(key);
            self.sink.emit(Event::Progress(p));
        }
    }

    /// Reads the results file, recovers what a crashed tuner left, builds
    /// the searcher from the run's setup, and announces the run (with the
    /// search's choice replayed from the records).
    async fn prepare(&mut self) -> Result<Box<dyn Searcher>, EngineError> {
        let cfg = self.cfg.clone();
        let loaded = store::load_results(&cfg.results)?;
        if let Some(w) = loaded.warning(&cfg.results) {
            self.warn(w);
        }
        if loaded.torn_tail {
            self.warn(format!(
                "{}: the last line is torn (an interrupted write); it is kept and the next record starts on a new line",
                cfg.results.display()
            ));
        }
        store::check_writable(
            &cfg.results,
            &cfg.best,
            &cfg.status_file,
            &cfg.server_log_dir,
        )
        .map_err(EngineError::Unwritable)?;
        self.next_index = store::highest_trial_index(&cfg.server_log_dir, &loaded.records) + 1;
        // A crashed tuner may have left a service in any of its slots, and
        // it may have had more slots than this run.
        for f in slot::state_files(&cfg.service_state_file) {
            if let Some(msg) = service::recover_leftover(&f, cfg.kill_grace).await {
                self.warn(msg);
            }
        }
        // Launched trials leave no state file of their own here: the run
        // records its id, which whatever they start on this machine carries.
        if cfg.launcher.is_some() {
            service::save_state(
                &slot::launched_state_file(&cfg.service_state_file),
                &service::ServiceState {
                    pgid: 0,
                    start_ticks: 0,
                    tuner_pid: std::process::id(),
                    port: cfg.port,
                    log: String::new(),
                    run: super::process::run_id().to_string(),
                    trial: 0,
                },
            )?;
        }
        if cfg.skip_existing {
            // Records measured for another goal (a new --objective or
            // --metric): said once, and their configurations measured again.
            let mut lacking: BTreeMap<&str, usize> = BTreeMap::new();
            for r in loaded.records.iter().filter(|r| r.status.is_done()) {
                if let Some(m) = cfg.goal.missing_metric(r) {
                    *lacking.entry(m).or_default() += 1;
                }
            }
            for (m, n) in lacking {
                self.warn(format!(
                    "{}: {n} record(s) lack the metric {m} that --objective/--constraint ask for (measured before it was asked for); --skip_existing measures their configurations again instead of reusing them",
                    cfg.results.display()
                ));
            }
        }
        let existing_records = loaded.records.len();
        self.all = loaded.records.into_iter().map(Arc::new).collect();
        // The search, behind the searcher seam, built from the setup the
        // run records (so a reader replays the same search).
        let setup = Arc::new(SearchSetup::of(&cfg));
        let planner = setup.searcher(self.all.iter().cloned(), cfg.skip_existing);
        self.rule = BestRule {
            goal: cfg.goal.clone(),
            policy: cfg.search_policy,
            noise: *planner.noise(),
            incumbent: Some(trial_key(planner.choice())),
        };
        // The best so far is the search's own choice, replayed from the
        // records through the same searcher (not a re-ranking of records:
        // that would name one the search refused).
        let choice = choice::of_records(Some(&setup), &cfg.goal, &self.all)
            .filter(|c| c.stands)
            .map(Arc::new);
        self.best_seen = choice.as_ref().and_then(|c| c.objective);
        self.sink.emit(Event::RunStarted {
            repo: cfg.repo.clone(),
            results: cfg.results.clone(),
            total_estimate: planner.estimate(),
            existing_records,
            base: cfg.base.clone(),
            best_seen_tps: self.best_seen,
            choice,
            setup: Some(setup),
            goal: cfg.goal.clone(),
            policy: cfg.search_policy,
            slots: cfg.layout.slots.max(1),
        });
        if self.rule.noise != PooledNoise::default() {
            self.sink.emit(Event::Noise(self.rule.noise));
        }
        // A rerun without --skip_existing measures everything again: said
        // before the first trial, with how to resume instead.
        if !cfg.skip_existing && existing_records > 0 {
            self.warn(format!(
                "{} holds {existing_records} record{} that will not be reused (measured again); add --skip_existing to resume",
                cfg.results.display(),
                if existing_records == 1 { "" } else { "s" },
            ));
        }
        Ok(planner)
    }

    /// The loop: hands out work while a slot is free, then waits for a
    /// trial to end, a slot to rest, or a command.
    async fn run_inner(&mut self, best: &mut Params) -> Result<Outcome, EngineError> {
        let mut planner = self.prepare().await?;
        let mut fl = Flight::default();
        loop {
            let end = self.hand_out(&mut *planner, &mut fl, best);
            self.publish_progress(&*planner, &fl);
            if let Some(end) = end {
                return end;
            }
            if fl.running.is_empty() {
                if let Some(end) = fl.ending.take() {
                    return end;
                }
                if self.ctl.paused && !fl.said_paused {
                    // Said again now that the run actually waits, so the
                    // status file shows `paused` rather than the last
                    // trial's phase.
                    self.sink.emit(Event::Paused(true));
                    fl.said_paused = true;
                }
            }
            tokio::select! {
                Some((n, spec, res)) = fl.futs.next(), if !fl.futs.is_empty() => {
                    self.trial_ended(n, spec, res, &mut *planner, &mut fl);
                }
                Some(n) = fl.cooling.next(), if !fl.cooling.is_empty() => {
                    fl.resting.remove(&n);
                }
                c = self.ctl.next() => {
                    if let Some(end) = self.command(c, &mut fl) {
                        return end;
                    }
                }
            }
        }
    }

    /// Asks the searcher for work while a slot is free and the run goes
    /// on. Returns how the run ends when it ends here (the search finished
    /// with nothing running).
    fn hand_out(
        &mut self,
        planner: &mut dyn Searcher,
        fl: &mut Flight,
        best: &mut Params,
    ) -> Option<Result<Outcome, EngineError>> {
        let slots = self.cfg.layout.slots.max(1);
        while fl.ending.is_none() && !self.ctl.paused {
            let free =
                (0..slots).find(|n| !fl.running.contains_key(n) && !fl.resting.contains(n))?;
            let step = planner.step();
            // A reused record adds to the noise; a decided group moves the
            // incumbent.
            self.sync_rule(planner);
            match step {
                Step::Group {
                    param,
                    values,
                    group,
                    groups,
                    stage,
                    budget_left,
                } => self.sink.emit(Event::GroupStarted {
                    param,
                    values,
                    group,
                    groups,
                    stage,
                    budget_left,
                }),
                Step::Predicted { spec, reason } => self.sink.emit(Event::TrialPredicted {
                    ordinal: spec.ordinal,
                    changes: spec.changes,
                    params: spec.params,
                    reason,
                }),
                Step::Reuse { spec, record } => {
                    if !self.ran.iter().any(|r| Arc::ptr_eq(r, &record))
                        && !self.reused.iter().any(|r| Arc::ptr_eq(r, &record))
                    {
                        self.reused.push(record.clone());
                        self.progress.count(Counts::REUSED);
                    }
                    self.sink.emit(Event::TrialReused {
                        ordinal: spec.ordinal,
                        changes: spec.changes,
                        record,
                    })
                }
                Step::Run(spec) => {
                    let (tx, rx) = watch::channel(None);
                    fl.futs.push(self.start_trial(spec, free, rx));
                    fl.running.insert(
                        free,
                        InFlight {
                            stop: tx,
                            started: tokio::time::Instant::now(),
                        },
                    );
                }
                // Every trial of the group is out: wait for a result.
                Step::Wait => return None,
                Step::Decided {
                    param,
                    winner,
                    base,
                    ..
                } => {
                    if let Err(e) = self.decided(param, winner, base, best) {
                        fl.ending = Some(Err(e));
                        return None;
                    }
                    // The model's view around the new choice.
                    if let Some(b) = planner.beliefs() {
                        self.sink.emit(Event::Beliefs(Arc::new(b)));
                    }
                }
                Step::Finished => {
                    self.outlook = planner.outlook();
                    return fl.running.is_empty().then_some(Ok(Outcome::Done));
                }
            }
        }
        None
    }

    /// A group was decided: the best file follows the search's choice, a
    /// winner measured in this run is news, and the front ends hear it.
    fn decided(
        &mut self,
        param: String,
        winner: Option<Arc<Record>>,
        base: Params,
        best: &mut Params,
    ) -> Result<(), EngineError> {
        if winner.is_some() {
            store::write_best(&self.cfg.best, &base)?;
        }
        // Only a winner measured in this run is news: a resumed run
        // replaying its records announces nothing again (nor alerts).
        if self.rule.policy.is_some()
            && let Some(w) = &winner
            && self.ran.iter().any(|r| r.trial_key == w.trial_key)
            && self.announced.as_deref() != Some(w.trial_key.as_str())
        {
            let previous = self.announced.replace(w.trial_key.clone());
            let previous_tps = match previous {
                Some(k) => self
                    .all
                    .iter()
                    .rev()
                    .find(|r| r.trial_key == k)
                    .and_then(|r| self.rule.objective(r)),
                None => self.best_seen,
            };
            self.sink.emit(Event::NewBest {
                record: w.clone(),
                previous_tps,
            });
        }
        *best = base.clone();
        self.sink.emit(Event::GroupBest {
            param,
            winner,
            base,
        });
        Ok(())
    }

    /// A trial ended: its record is judged (an eval that cannot work is
    /// held back, then ends the run), told to the searcher, appended, and
    /// its slot rests (`--cooldown`); a stop or an environment failure
    /// ends the run once the others have stopped.
    fn trial_ended(
        &mut self,
        n: usize,
        spec: TrialSpec,
        res: Result<(TrialEnd, u32), TrialError>,
        planner: &mut dyn Searcher,
        fl: &mut Flight,
    ) {
        let started = fl.running.remove(&n).map(|f| f.started);
        let (end, next) = match res {
            Err(e) => {
                if fl.ending.is_none() {
                    // Stop the others before giving up.
                    fl.ask_all(Stop::Abort);
                }
                fl.ending = Some(Err(e.into()));
                return;
            }
            Ok(r) => r,
        };
        self.next_index = self.next_index.max(next);
        let mut rec = match end {
            TrialEnd::Done(rec) => {
                // The trial's own time (a simulated trial's too), else the
                // engine's clock.
                let took = rec
                    .total_s
                    .or_else(|| started.map(|t| t.elapsed().as_secs_f64()));
                if let Some(secs) = took {
                    self.progress.ended(secs);
                }
                rec
            }
            TrialEnd::Stopped(stop) => {
                if fl.ending.is_none() {
                    fl.ending = Some(Ok(stop.outcome()));
                }
                return;
            }
            TrialEnd::Environment(m) => {
                fl.ask_all(Stop::Abort);
                fl.ending = Some(Ok(Outcome::Environment(m)));
                return;
            }
        };
        if self.cfg.layout.slots.max(1) > 1 || self.cfg.launcher.is_some() {
            slot::set_record_slot(&mut rec, n);
        }
        // Whoever ran it (a launched trial knows no secret), no secret is
        // kept or shown.
        super::eval::redact_record(&mut rec);
        let rec = Arc::new(*rec);
        // A measurement that ended while the run was ending is still a
        // measurement; an eval command that cannot work is not (held back,
        // then the run stops).
        let verdict = self.watch.judge(&rec);
        if !matches!(
            verdict,
            RecordVerdict::Environment(_) | RecordVerdict::Unparsable(_)
        ) {
            // The searcher first: the record is announced judged by the
            // noise its own runs are part of, as the search judges it.
            planner.record(spec.ordinal, rec.clone());
            self.sync_rule(planner);
            if let Some(b) = planner.beliefs() {
                self.sink.emit(Event::Beliefs(Arc::new(b)));
            }
        }
        let written = match verdict {
            RecordVerdict::Environment(m) => {
                // Neither this trial nor the one held back is a result; they
                // ran all the same.
                self.dropped.extend(self.held.take().map(|(_, r)| r));
                self.dropped.push(rec.clone());
                Err(Ok(Outcome::Environment(m)))
            }
            // A record held back stays one: the run's end releases it.
            RecordVerdict::Unparsable(m) => Err(Ok(Outcome::Environment(m))),
            RecordVerdict::Hold => {
                self.held = Some((spec.clone(), rec.clone()));
                Ok(())
            }
            RecordVerdict::Record => {
                let held = self.held.take();
                self.publish_progress(planner, fl);
                held.map_or(Ok(()), |(s, r)| self.finish_trial(&s, &r))
                    .and_then(|()| self.finish_trial(&spec, &rec))
                    .map_err(Err)
            }
        };
        if let Err(end) = written {
            fl.ask_all(Stop::Abort);
            if fl.ending.as_ref().is_none_or(|e| e.is_ok()) {
                fl.ending = Some(end);
            }
            return;
        }
        if !self.cfg.cooldown.is_zero() && fl.ending.is_none() {
            fl.resting.insert(n);
            let d = self.cfg.cooldown;
            fl.cooling.push(Box::pin(async move {
                tokio::time::sleep(d).await;
                n
            }));
        }
    }

    /// Applies a command (a key or a signal) to the running trials; returns
    /// how the run ends when it ends now (a stop with nothing running).
    fn command(&mut self, c: Command, fl: &mut Flight) -> Option<Result<Outcome, EngineError>> {
        match self.ctl.apply(c, &self.sink) {
            Ask::Nothing => {
                if !self.ctl.paused {
                    fl.said_paused = false;
                }
            }
            // A skip with nothing running has nothing to skip.
            Ask::All(Stop::Skip) => fl.ask_all(Stop::Skip),
            Ask::SkipSlot(n) => {
                if let Some(f) = fl.running.get(&n) {
                    f.ask(Stop::Skip);
                }
            }
            Ask::All(s) => {
                // The trials stop their services and report how they
                // ended; the run ends after them.
                fl.ask_all(s);
                if fl.ending.is_none() {
                    fl.ending = Some(Ok(s.outcome()));
                }
                if fl.running.is_empty() {
                    return fl.ending.take();
                }
            }
        }
        None
    }

    /// Starts a trial in slot `n` through the executor. The future owns
    /// what it needs, so trials of several slots run together.
    fn start_trial(
        &mut self,
        spec: TrialSpec,
        n: usize,
        stop: trial::StopRx,
    ) -> BoxFuture<'static, TrialDone> {
        let index = self.next_index;
        // Concurrent trials take the next numbers; a log file is never
        // overwritten anyway (created exclusively).
        self.next_index += 1;
        let run = self.exec.run(Job {
            cfg: self.cfg.clone(),
            sink: self.sink.clone(),
            slot: self.cfg.slot(n),
            spec: spec.clone(),
            index,
            stop,
        });
        Box::pin(async move {
            let res = run.await;
            (n, spec, res)
        })
    }

    /// Appends the record, counts it and tells the front ends (the
    /// progress first: a trial's line says how far the run is with it).
    fn finish_trial(&mut self, spec: &TrialSpec, rec: &Arc<Record>) -> Result<(), EngineError> {
        match store::append_record(&self.cfg.results, rec) {
            Ok(true) => self.warn(format!(
                "{}: the last line was torn (no newline); kept it and started a new line",
                self.cfg.results.display()
            )),
            Ok(false) => {}
            Err(e) => return Err(EngineError::Append(e)),
        }
        // Under a noise policy the best is the search's own choice: "new
        // best" is said when a group moves the incumbent (see the Decided
        // step), never for a single record (a lucky re-measure of the
        // incumbent, or a challenger the search did not take).
        let new_best = if self.rule.policy.is_some() {
            None
        } else {
            self.rule.new_best(self.all.iter().map(|r| &**r), rec)
        };
        self.all.push(rec.clone());
        self.ran.push(rec.clone());
        self.progress.count(&rec.status.to_string());
        // The running trials' times as last published: this one ended.
        let running = self.running_s.clone();
        self.publish(self.spent, &running);
        self.sink.emit(Event::TrialFinished {
            ordinal: spec.ordinal,
            record: rec.clone(),
        });
        if let Some(previous_tps) = new_best {
            self.sink.emit(Event::NewBest {
                record: rec.clone(),
                previous_tps,
            });
        }
        Ok(())
    }
}
