//! The engine's whole public interface: the [`Event`]s it publishes and the
//! [`Command`]s it takes.

use std::path::PathBuf;
use std::sync::Arc;

use super::goal::Goal;
use super::noise::{NoisePolicy, PooledNoise};
use super::outcome::RunSummary;
use super::record::{EvalRun, Record};
use super::search::{Changes, Params};

/// What a front end may ask of the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Stop every running trial now and record them `skipped`.
    Skip,
    /// Stop the trial running in this slot (0-based) and record it
    /// `skipped`; the other slots go on.
    SkipSlot(usize),
    /// Stop the service and end the run (status phase `aborted`).
    Abort,
    /// Start no new trial (running ones finish), or resume.
    TogglePause,
    /// A signal arrived: stop the service and end the run.
    Interrupt(i32),
}

/// Where a running trial is.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum TrialPhase {
    /// The port is held by another process; `attempt` of `retries`.
    PortBusy {
        /// Which wait this is (1-based).
        attempt: u32,
        /// How many waits there will be.
        retries: u32,
        /// Seconds per wait.
        wait_s: f64,
        /// Who holds the port, as [`crate::process::PortOwner::describe`]
        /// says it (`pid 123 (python3 -m http.server 8000)`), looked up
        /// at the start of this wait; `None` when no listener was found.
        #[serde(default)]
        holder: Option<String>,
    },
    /// The service was started; waiting for it to answer.
    Starting {
        /// Process group of the service.
        pgid: i32,
        /// The start-up timeout, seconds.
        timeout_s: f64,
    },
    /// The service answered after `startup_s`.
    Ready {
        /// Seconds from spawn to the first good answer.
        startup_s: f64,
        /// The readiness message.
        health: String,
    },
    /// Eval run `run` of `of` is running.
    Eval {
        /// 1-based run number.
        run: u32,
        /// Number of runs.
        of: u32,
        /// The eval timeout, seconds.
        timeout_s: f64,
    },
    /// Stopping the service.
    Stopping,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Every group was explored.
    Done,
    /// The user aborted.
    Aborted,
    /// A signal ended the run.
    Interrupted(i32),
    /// The engine could not go on (a file could not be read...).
    Error(String),
    /// The environment, not the configuration, failed (the port held by a
    /// foreign process, an eval command that cannot run, an output file that
    /// cannot be written): the run stopped and recorded nothing for the
    /// trial, so a later `--skip_existing` run measures it again.
    Environment(String),
}

/// Where a search stands when it opens a group of trials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Pass `k` (1-based) of coordinate ascent over the groups.
    Pass(usize),
    /// Refinement round `r` (1-based): joint moves after the passes.
    Refinement(usize),
}

impl std::fmt::Display for Stage {
    /// `pass 2`, `refinement 1` (as the status file's `stage` says it).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stage::Pass(k) => write!(f, "pass {k}"),
            Stage::Refinement(r) => write!(f, "refinement {r}"),
        }
    }
}

/// Everything the engine tells its front ends.
#[derive(Debug, Clone)]
pub enum Event {
    /// The run begins.
    RunStarted {
        /// The tuned repository.
        repo: PathBuf,
        /// The results file.
        results: PathBuf,
        /// Estimated number of trials (the plan with the initial base).
        total_estimate: usize,
        /// Records found in the results file.
        existing_records: usize,
        /// The starting base.
        base: Params,
        /// Best objective value (total tokens/s) already in the results file,
        /// among records that may be shown as the best
        /// ([`crate::engine::best::BestRule`]).
        best_seen_tps: Option<f64>,
        /// The search's choice replayed from the results file's records
        /// (a resumed run's "best so far"), if it measured one.
        choice: Option<Arc<crate::engine::choice::Choice>>,
        /// What the search is, recorded so a reader of the results file
        /// replays its choice ([`crate::engine::choice`]).
        setup: Option<Arc<crate::engine::choice::SearchSetup>>,
        /// What the run optimises and must meet (screens show its metrics
        /// by name when it is not today's).
        goal: Goal,
        /// The noise policy (`None`: `--search_policy plain`): front ends
        /// judge the best as the search does ([`crate::engine::best`]).
        policy: Option<NoisePolicy>,
        /// Trials that may run at once (`--slots`, `--gpus`).
        slots: usize,
    },
    /// A parameter group begins.
    GroupStarted {
        /// The parameter varied.
        param: String,
        /// Values tried, base value first.
        values: Vec<String>,
        /// 1-based group number.
        group: usize,
        /// Number of groups.
        groups: usize,
        /// Where the search is: `pass 1`, `pass 2`, `refinement 1`...
        stage: Stage,
        /// Trials the budget still allows (`None`: no budget).
        budget_left: Option<usize>,
    },
    /// A trial was not started: an earlier crash or time-out predicts it
    /// fails the same way. Nothing is recorded (it is not a measurement).
    TrialPredicted {
        /// 1-based position in the plan.
        ordinal: usize,
        /// What it changes from its base.
        changes: Changes,
        /// All params of the trial.
        params: Params,
        /// Which earlier failure predicts it, and why.
        reason: String,
    },
    /// A trial was not run because its key already has a done record; that
    /// record counts in the group.
    TrialReused {
        /// 1-based position in the plan.
        ordinal: usize,
        /// What it changes from its base (in the group it counts in).
        changes: Changes,
        /// The record reused.
        record: Arc<Record>,
    },
    /// A trial starts.
    TrialStarted {
        /// The slot it runs in (0-based; always 0 with one slot).
        slot: usize,
        /// The devices it was given (`--gpus`), if any.
        devices: Option<String>,
        /// 1-based position in the plan.
        ordinal: usize,
        /// The running index (the log file's number).
        index: u32,
        /// What it changes from its base.
        changes: Changes,
        /// The base's value of the one parameter it changes, if the base
        /// has one (`None` for a joint move, the base, a design point).
        base_value: Option<String>,
        /// All params of the trial.
        params: Params,
        /// The trial key.
        key: String,
        /// The service log file.
        log_path: PathBuf,
        /// A close call's re-measure of the incumbent (not a candidate).
        recheck: bool,
    },
    /// The trial running in `slot` moved on.
    Phase {
        /// The slot (0-based).
        slot: usize,
        /// Where its trial is now.
        phase: TrialPhase,
    },
    /// One eval run of the trial in `slot` ended.
    EvalRunFinished {
        /// The slot (0-based).
        slot: usize,
        /// The run.
        run: EvalRun,
    },
    /// A trial ended and its record was appended (the record names its
    /// slot: [`crate::engine::slot::record_slot`]).
    TrialFinished {
        /// 1-based position in the plan.
        ordinal: usize,
        /// The record written.
        record: Arc<Record>,
    },
    /// A group ended; `winner` is the best qualifying record, if any.
    GroupBest {
        /// The parameter varied.
        param: String,
        /// The winning record.
        winner: Option<Arc<Record>>,
        /// The base from now on.
        base: Params,
    },
    /// The search's pooled run-to-run noise changed (sent before the
    /// trial that changed it is announced): what a best record's accuracy
    /// must clear the bar beyond ([`crate::engine::best::BestRule`]).
    Noise(PooledNoise),
    /// What the search's model believes around its choice (the pooled
    /// search, after each result).
    Beliefs(Arc<crate::engine::search::pooled::beliefs::Beliefs>),
    /// How far the run is against the search's budget, and the time left
    /// (after the work handed out or a trial's end changed it).
    Progress(crate::engine::progress::Progress),
    /// A trial beat every record of the results file that may be shown as
    /// the best ([`crate::engine::best::BestRule`]: under the noise-aware
    /// policy, accuracy above the bar beyond the noise).
    NewBest {
        /// The record.
        record: Arc<Record>,
        /// The previous best total tokens/s.
        previous_tps: Option<f64>,
    },
    /// Paused (true) or resumed (false).
    Paused(bool),
    /// Something the user should know that does not stop the run.
    Warning(String),
    /// The run ended.
    RunFinished {
        /// How.
        outcome: Outcome,
        /// The base at the end.
        best: Params,
        /// What the run achieved, for the end screen and the last lines.
        summary: Arc<RunSummary>,
    },
}
