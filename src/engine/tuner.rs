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
use super::record::{Record, now_ts};
use super::remote;
use super::search::Searcher;
use super::search::coordinate::{Step, TrialSpec};
use super::search::trial_key;
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
}

impl InFlight {
    /// Asks the trial to stop ([`trial::ask`]: never weakening an earlier
    /// request).
    fn ask(&self, s: Stop) {
        trial::ask(&self.stop, s);
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
    /// Trials reused: already measured in this run or the results file.
    reused: usize,
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
        reused: 0,
        watch: EvalWatch::default(),
        announced: None,
        held: None,
        run_id,
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
    let cfg = &e.cfg;
    let summary = Arc::new(summarize_run_for(
        &cfg.goal,
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
            report: cfg.report.clone(),
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

    async fn run_inner(
        &mut self,
        best: &mut crate::engine::search::Params,
    ) -> Result<Outcome, EngineError> {
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
        let mut planner = setup.searcher(self.all.iter().cloned(), cfg.skip_existing);
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
        let best_seen = choice.as_ref().and_then(|c| c.objective);
        let slots = cfg.layout.slots.max(1);
        self.sink.emit(Event::RunStarted {
            repo: cfg.repo.clone(),
            results: cfg.results.clone(),
            total_estimate: planner.estimate(),
            existing_records,
            base: cfg.base.clone(),
            threshold: cfg.accuracy_threshold,
            best_seen_tps: best_seen,
            choice,
            setup: Some(setup),
            goal: cfg.goal.clone(),
            policy: cfg.search_policy,
            slots,
        });
        if self.rule.noise != PooledNoise::default() {
            self.sink.emit(Event::Noise(self.rule.noise));
        }

        let mut running: BTreeMap<usize, InFlight> = BTreeMap::new();
        let mut futs: FuturesUnordered<BoxFuture<'static, TrialDone>> = FuturesUnordered::new();
        // Slots resting after a trial (--cooldown).
        let mut cooling: FuturesUnordered<BoxFuture<'static, usize>> = FuturesUnordered::new();
        let mut resting: BTreeSet<usize> = BTreeSet::new();
        // How the run ends once the trials in flight have stopped.
        let mut ending: Option<Result<Outcome, EngineError>> = None;
        let mut said_paused = false;

        loop {
            // Hand out work while a slot is free and the run goes on.
            while ending.is_none() && !self.ctl.paused {
                let Some(free) =
                    (0..slots).find(|n| !running.contains_key(n) && !resting.contains(n))
                else {
                    break;
                };
                let step = planner.step();
                // A reused record adds to the noise; a decided group moves
                // the incumbent.
                self.sync_rule(&mut *planner);
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
                        param: spec.param,
                        value: spec.value,
                        params: spec.params,
                        reason,
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
                        let (tx, rx) = watch::channel(None);
                        futs.push(self.start_trial(spec, free, rx));
                        running.insert(free, InFlight { stop: tx });
                    }
                    // Every trial of the group is out: wait for a result.
                    Step::Wait => break,
                    Step::Decided {
                        param,
                        winner,
                        base,
                        ..
                    } => {
                        if winner.is_some()
                            && let Err(e) = store::write_best(&cfg.best, &base)
                        {
                            ending = Some(Err(e.into()));
                            break;
                        }
                        // Only a winner measured in this run is news: a
                        // resumed run replaying its records announces
                        // nothing again (nor alerts).
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
                                None => best_seen,
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
                    }
                    Step::Finished => {
                        if running.is_empty() {
                            return Ok(Outcome::Done);
                        }
                        break;
                    }
                }
            }
            if running.is_empty() {
                if let Some(end) = ending.take() {
                    return end;
                }
                if self.ctl.paused && !said_paused {
                    // Said again now that the run actually waits, so the
                    // status file shows `paused` rather than the last
                    // trial's phase.
                    self.sink.emit(Event::Paused(true));
                    said_paused = true;
                }
            }
            tokio::select! {
                Some((n, spec, res)) = futs.next(), if !futs.is_empty() => {
                    running.remove(&n);
                    match res {
                        Err(e) => {
                            if ending.is_none() {
                                // Stop the others before giving up.
                                for f in running.values() {
                                    f.ask(Stop::Abort);
                                }
                            }
                            ending = Some(Err(e.into()));
                        }
                        Ok((end, next)) => {
                            self.next_index = self.next_index.max(next);
                            match end {
                                TrialEnd::Done(mut rec) => {
                                    if slots > 1 || cfg.launcher.is_some() {
                                        slot::set_record_slot(&mut rec, n);
                                    }
                                    let rec = Arc::new(*rec);
                                    // A measurement that ended while the run
                                    // was ending is still a measurement;
                                    // an eval command that cannot work is
                                    // not (held back, then the run stops).
                                    let verdict = self.watch.judge(&rec);
                                    if !matches!(verdict, RecordVerdict::Environment(_)) {
                                        // The planner first: the record is
                                        // announced judged by the noise its
                                        // own runs are part of, as the
                                        // search judges it.
                                        planner.record(spec.ordinal, rec.clone());
                                        self.sync_rule(&mut *planner);
                                    }
                                    let written = match verdict {
                                        RecordVerdict::Environment(m) => {
                                            self.held = None;
                                            Err(Ok(Outcome::Environment(m)))
                                        }
                                        RecordVerdict::Hold => {
                                            self.held = Some((spec.clone(), rec.clone()));
                                            Ok(())
                                        }
                                        RecordVerdict::Record => {
                                            let held = self.held.take();
                                            held.map_or(Ok(()), |(s, r)| self.finish_trial(&s, &r))
                                                .and_then(|()| self.finish_trial(&spec, &rec))
                                                .map_err(Err)
                                        }
                                    };
                                    if let Err(end) = written {
                                        for f in running.values() {
                                            f.ask(Stop::Abort);
                                        }
                                        if ending.as_ref().is_none_or(|e| e.is_ok()) {
                                            ending = Some(end);
                                        }
                                        continue;
                                    }
                                    if !cfg.cooldown.is_zero() && ending.is_none() {
                                        resting.insert(n);
                                        let d = cfg.cooldown;
                                        cooling.push(Box::pin(async move {
                                            tokio::time::sleep(d).await;
                                            n
                                        }));
                                    }
                                }
                                TrialEnd::Stopped(stop) => {
                                    if ending.is_none() {
                                        ending = Some(Ok(stop.outcome()));
                                    }
                                }
                                TrialEnd::Environment(m) => {
                                    for f in running.values() {
                                        f.ask(Stop::Abort);
                                    }
                                    ending = Some(Ok(Outcome::Environment(m)));
                                }
                            }
                        }
                    }
                }
                Some(n) = cooling.next(), if !cooling.is_empty() => {
                    resting.remove(&n);
                }
                c = self.ctl.next() => {
                    match self.ctl.apply(c, &self.sink) {
                        Ask::Nothing => {
                            if !self.ctl.paused {
                                said_paused = false;
                            }
                        }
                        // A skip with nothing running has nothing to skip.
                        Ask::All(Stop::Skip) => {
                            for f in running.values() {
                                f.ask(Stop::Skip);
                            }
                        }
                        Ask::SkipSlot(n) => {
                            if let Some(f) = running.get(&n) {
                                f.ask(Stop::Skip);
                            }
                        }
                        Ask::All(s) => {
                            // The trials stop their services and report
                            // how they ended; the run ends after them.
                            for f in running.values() {
                                f.ask(s);
                            }
                            if ending.is_none() {
                                ending = Some(Ok(s.outcome()));
                            }
                            if running.is_empty() {
                                return ending.take().expect("just set");
                            }
                        }
                    }
                }
            }
        }
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
