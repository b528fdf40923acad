//! A pooled, model-based search (`--search_policy pooled`): every run of
//! every trial goes into one model of each parameter's effect on log tok/s
//! and on accuracy, so a level's effect rests on all the runs that set it,
//! not on 5 runs against 5 (see `../shared/SEARCH.md` for the prototype this
//! follows).
//!
//! The budget, in nominal GPU-seconds (start 60 s, eval run 30 s, crash
//! 20 s, hang 600 s), is spent in phases: the defaults (1 trial);
//! screening (every start-up level never tried, in the base's start-up
//! context, with every per-request parameter at its least-used level);
//! Thompson sampling with top-two until what is left pays for the last two
//! phases; confirmation (3 trials of the posterior-mean optimum, its
//! accuracy 1 sd over the bar); certification (the best candidate whose
//! accuracy is 2.33 sds over the bar, restarted for 8 fresh runs, kept only
//! if their mean is 2.33 standard errors over the bar, else the next). Every
//! trial runs 3 eval runs.
//!
//! Pure and replayable: proposal `k` is a function of the records of trials
//! `1..=k-batch` (`batch`: the trials in flight, the slots), the seed and
//! `k`, so a results file replayed (each record in as soon as it is asked
//! for) makes the same proposals as the run that wrote it, and proposals
//! come without a group barrier: with `batch` slots the search waits only
//! for the result `batch` trials back.

pub mod beliefs;
mod certify;
mod coding;
mod failures;
mod knowledge;
mod model;
mod optimise;
mod phases;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use coding::{Coding, Levels};
use knowledge::Knowledge;

use super::coordinate::{Step, TrialSpec};
use super::{Changes, Params, SearchSpace, trial_key};
use crate::engine::goal::Goal;
use crate::engine::noise::{Judge, NoisePolicy, PooledNoise, primary_bar, samples_of};
use crate::engine::record::{Record, Status};
use crate::engine::simulate::Gauss;

/// Nominal GPU-seconds of a start (the budget's cost model).
pub const START_S: f64 = 60.0;
/// Nominal GPU-seconds of an eval run.
pub const EVAL_S: f64 = 30.0;
/// Nominal GPU-seconds of a crash during start-up.
pub const CRASH_S: f64 = 20.0;
/// Nominal GPU-seconds of a hang (the start-up timeout).
pub const HANG_S: f64 = 600.0;
/// Eval runs of a trial.
pub const RUNS: u32 = 3;
/// Eval runs of the certification of the winner.
pub const CERTIFY_RUNS: u32 = 8;
/// Certifications the budget reserves (a second when the first fails).
const CERTIFICATIONS: f64 = 2.0;
/// Trials of the posterior-mean optimum before certification.
const CONFIRMATIONS: usize = 3;
/// An accuracy this close under the bar is on it (a difference in the
/// last bits is no difference; a run without noise certifies a
/// configuration that sits exactly on the bar).
const BAR_TIE: f64 = 1e-6;
/// The screening's share of a small budget at least.
const SCREENING_SHARE: f64 = 0.25;
/// The screening trials the built-in space's design wants.
const SCREENING_TRIALS: usize = 12;

/// How a pooled search is set up (recorded in the run's setup).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PooledSetup {
    /// The budget in nominal GPU-seconds.
    pub budget_s: f64,
    /// The seed of the sampling.
    pub seed: u64,
    /// Trials in flight at most (the slots): proposal `k` sees the records
    /// of trials `1..=k-batch`.
    pub batch: usize,
    /// Stop a trial whose accuracy is surely under the bar after two runs
    /// (`--no_prune`: never). A setup recorded before there was pruning
    /// had none.
    #[serde(default)]
    pub prune: bool,
}

impl PooledSetup {
    /// The default budget: the plain pass's GPU time (`trials` of it, each
    /// `eval_runs` runs).
    pub fn plain_pass_s(trials: usize, eval_runs: u32) -> f64 {
        trials as f64 * (START_S + eval_runs as f64 * EVAL_S)
    }

    /// Eval runs of a trial.
    pub const RUNS: u32 = RUNS;
    /// Eval runs of the certification of the winner.
    pub const CERTIFY_RUNS: u32 = CERTIFY_RUNS;

    /// A budget of `n` trials of [`RUNS`] runs.
    pub fn trials_s(n: usize) -> f64 {
        n as f64 * trial_cost(RUNS)
    }

    /// The trials of [`RUNS`] runs the budget pays for, and the nominal
    /// GPU-seconds of one.
    pub fn trials(&self) -> (usize, f64) {
        let each = trial_cost(RUNS);
        ((self.budget_s / each).floor() as usize, each)
    }
}

/// Nominal GPU-seconds of a trial of `runs` runs that serves.
fn trial_cost(runs: u32) -> f64 {
    START_S + runs as f64 * EVAL_S
}

/// What certification keeps of the budget.
fn certify_reserve() -> f64 {
    CERTIFICATIONS * trial_cost(CERTIFY_RUNS)
}

/// What the confirmation and the certification keep of the budget.
fn reserve() -> f64 {
    CONFIRMATIONS as f64 * trial_cost(RUNS) + certify_reserve()
}

/// Where the search is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    Defaults,
    Screening,
    Sampling,
    Confirming,
    Certifying,
}

impl Phase {
    fn name(self) -> &'static str {
        match self {
            Phase::Defaults => "defaults",
            Phase::Screening => "screening",
            Phase::Sampling => "sampling",
            Phase::Confirming => "confirmation",
            Phase::Certifying => "certification",
        }
    }
}

/// One trial handed out.
#[derive(Debug, Clone)]
struct Trial {
    levels: Levels,
    phase: Phase,
    runs: u32,
    /// Its record (reused or reported).
    record: Option<Arc<Record>>,
    /// Not started: predicted to fail.
    predicted: bool,
}

impl Trial {
    fn resolved(&self) -> bool {
        self.predicted || self.record.is_some()
    }

    /// Nominal GPU-seconds: as measured when its record is known and
    /// `known`, else as planned.
    fn cost(&self, known: bool) -> f64 {
        if self.predicted {
            return 0.0;
        }
        match (&self.record, known) {
            (Some(r), true) => match r.status {
                Status::Crashed => CRASH_S,
                Status::Timeout => HANG_S,
                _ => {
                    let runs = r
                        .eval
                        .as_ref()
                        .and_then(|e| e.eval_runs.as_ref())
                        .map_or(0, |v| v.len());
                    START_S + runs as f64 * EVAL_S
                }
            },
            _ => trial_cost(self.runs),
        }
    }
}

/// What to do next.
enum Next {
    Propose(Phase, Levels, u32),
    Wait,
    End,
}

/// The pooled, model-based searcher.
#[derive(Debug, Clone)]
pub struct Pooled {
    coding: Coding,
    goal: Goal,
    bar: f64,
    skip_existing: bool,
    setup: PooledSetup,
    /// Done records of the results file by key, in file order: each stands
    /// for one trial of its key (a resumed run and a replay reuse them).
    known: HashMap<String, VecDeque<Arc<Record>>>,
    trials: Vec<Trial>,
    screening: Vec<Levels>,
    /// Configurations whose certification failed.
    refused: Vec<Levels>,
    choice: Params,
    /// The choice's levels.
    chosen: Levels,
    /// What a larger budget would likely add, said at the end.
    outlook: Option<String>,
    noise: PooledNoise,
    queue: VecDeque<Step>,
    finished: bool,
}

impl Pooled {
    /// A pooled search of `space` from `base` for `goal`; `known` are the
    /// records of the results file (reused with `skip_existing`).
    pub fn new(
        space: &SearchSpace,
        base: &Params,
        goal: Goal,
        skip_existing: bool,
        setup: PooledSetup,
        known: impl IntoIterator<Item = Arc<Record>>,
    ) -> Self {
        let coding = Coding::new(space, base);
        let mut rng = fastrand::Rng::with_seed(setup.seed);
        let reserve = reserve();
        let room = (setup.budget_s - trial_cost(RUNS) - reserve).max(0.0);
        // The screening's design wants about 12 trials (every new start-up
        // level once); a small budget gets a quarter of what it has for
        // the search, or half of it up to those 12 trials if more.
        let twelve = SCREENING_TRIALS as f64 * trial_cost(RUNS);
        let n = ((room * SCREENING_SHARE).max(room.min(twelve) / 2.0) / trial_cost(RUNS)) as usize;
        let screening = phases::screening(&coding, &mut rng, n);
        let mut by_key: HashMap<String, VecDeque<Arc<Record>>> = HashMap::new();
        if skip_existing {
            for r in known {
                if r.extra.get("unconfirmed").and_then(|v| v.as_bool()) == Some(true) {
                    continue;
                }
                if r.status.is_done() && !r.trial_key.is_empty() {
                    by_key.entry(r.trial_key.clone()).or_default().push_back(r);
                }
            }
        }
        Pooled {
            choice: coding.decode(&coding.base_levels()),
            chosen: coding.base_levels(),
            outlook: None,
            bar: primary_bar(&goal) - BAR_TIE,
            coding,
            goal,
            skip_existing,
            setup,
            known: by_key,
            trials: Vec::new(),
            screening,
            refused: Vec::new(),
            noise: PooledNoise::default(),
            queue: VecDeque::new(),
            finished: false,
        }
    }

    /// The trials the budget pays for at [`RUNS`] runs each.
    pub fn estimate(&self) -> usize {
        self.setup.trials().0
    }

    /// What it has spent (nominal GPU-seconds of the trials handed out)
    /// and the trials of [`RUNS`] runs the rest of the budget pays for.
    pub fn spending(&self) -> crate::engine::progress::Spending {
        let spent = self.spent(self.trials.len());
        let trials = self.trials.iter().filter(|t| !t.predicted).count();
        let over = self.finished && self.queue.is_empty();
        let more = if over {
            0
        } else {
            ((self.setup.budget_s - spent).max(0.0) / trial_cost(RUNS)).floor() as usize
        };
        crate::engine::progress::Spending {
            trials,
            trials_at_most: trials + more,
            nominal_s: Some((spent, self.setup.budget_s)),
            over,
        }
    }

    /// What the records of the first `n` trials say.
    fn knowledge(&self, n: usize) -> Knowledge {
        Knowledge::of(
            &self.coding,
            &self.goal,
            self.trials[..n]
                .iter()
                .filter_map(|t| t.record.as_ref().map(|r| (&t.levels, r))),
        )
    }

    /// Nominal GPU-seconds spent by the trials handed out, the first
    /// `visible` as measured.
    fn spent(&self, visible: usize) -> f64 {
        self.trials
            .iter()
            .enumerate()
            .map(|(i, t)| t.cost(i < visible))
            .sum()
    }

    /// What proposal `k = trials + 1` is, from the records of trials
    /// `1..=k-batch` (all of them for the certification).
    fn next(&mut self) -> Next {
        let k = self.trials.len() + 1;
        if k == 1 {
            return Next::Propose(Phase::Defaults, self.coding.base_levels(), RUNS);
        }
        let visible = k.saturating_sub(self.setup.batch.max(1));
        if !self.trials[..visible].iter().all(Trial::resolved) {
            return Next::Wait;
        }
        let left = self.setup.budget_s - self.spent(visible);
        let reserve = reserve();
        let phase = self.trials.last().map_or(Phase::Defaults, |t| t.phase);
        let screened = self
            .trials
            .iter()
            .filter(|t| t.phase == Phase::Screening)
            .count();
        let fits = left - trial_cost(RUNS) >= reserve;
        if phase <= Phase::Screening && screened < self.screening.len() && fits {
            return Next::Propose(Phase::Screening, self.screening[screened].clone(), RUNS);
        }
        let know = self.knowledge(visible);
        let model = know.model(&self.coding);
        if let Some(c) = phases::best_measured(&self.coding, &know, &model, self.bar, &[]) {
            self.choose(&c, "model");
        }
        let mut rng = Gauss(fastrand::Rng::with_seed(
            self.setup.seed ^ (k as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
        ));
        if phase <= Phase::Sampling
            && fits
            && let Some(c) = phases::thompson(&self.coding, &know, &model, self.bar, &mut rng)
        {
            return Next::Propose(Phase::Sampling, c, RUNS);
        }
        let confirmed = self
            .trials
            .iter()
            .filter(|t| t.phase == Phase::Confirming)
            .count();
        if phase <= Phase::Confirming
            && confirmed < CONFIRMATIONS
            && left - trial_cost(RUNS) >= certify_reserve()
        {
            let allowed = |c: &[u16]| know.failures.allowed(&self.coding, c);
            if let Some(b) =
                phases::mean_optimum(&self.coding, &model, self.bar, phases::Z_CONFIRM, &allowed)
            {
                return Next::Propose(Phase::Confirming, b.levels, RUNS);
            }
        }
        self.certify()
    }

    /// The certification: all results in, the last certification judged,
    /// then the next candidate or the end.
    fn certify(&mut self) -> Next {
        if !self.trials.iter().all(Trial::resolved) {
            return Next::Wait;
        }
        let all = self.trials.len();
        let know = self.knowledge(all);
        let model = know.model(&self.coding);
        if let Some(t) = self.trials.last().filter(|t| t.phase == Phase::Certifying) {
            let s = t
                .record
                .as_ref()
                .map(|r| samples_of(r, &self.goal))
                .unwrap_or_default();
            let sigma = model.sigma_a / (s.n().max(1) as f64).sqrt();
            if s.n() > 0 && s.constraint_mean() - phases::Z_CERTIFY * sigma >= self.bar {
                let c = t.levels.clone();
                self.choose(&c, "certification");
                self.outlook = Some(self.outlook_of(&know, &model));
                return Next::End;
            }
            let c = t.levels.clone();
            self.refused.push(c);
        }
        let left = self.setup.budget_s - self.spent(all);
        let first = !self.trials.iter().any(|t| t.phase == Phase::Certifying);
        // Always one certification; more while the budget pays for them.
        let attempts = ((left / trial_cost(CERTIFY_RUNS)).floor() as usize).max(usize::from(first));
        // Without a certification: the best measured configuration that
        // clears the bar by its own runs and the model, else the base.
        let fallback = phases::best_measured(&self.coding, &know, &model, self.bar, &self.refused)
            .unwrap_or_else(|| self.coding.base_levels());
        let worth = certify::value(&self.coding, &know, &model, &fallback);
        if attempts > 0
            && let Some(c) = certify::next(
                &self.coding,
                &know,
                &model,
                self.bar,
                CERTIFY_RUNS,
                &self.refused,
                attempts,
                worth,
            )
        {
            return Next::Propose(Phase::Certifying, c, CERTIFY_RUNS);
        }
        self.choose(&fallback, "end");
        self.outlook = Some(self.outlook_of(&know, &model));
        Next::End
    }

    /// What a larger budget would likely add: the model's posterior-mean
    /// optimum (its accuracy a posterior sd over the bar, among what may
    /// start) against the choice, with the 95 % interval of the
    /// difference. The model's guess, not a measurement: said as one.
    fn outlook_of(&self, know: &Knowledge, model: &model::Model) -> String {
        let Some((changes, f)) = beliefs::guess(&self.coding, know, model, self.bar, &self.chosen)
        else {
            return "the model sees no configuration better than the winner that meets the bar (interactions beyond its one pair it cannot see)".into();
        };
        let changes: Vec<String> = changes.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let what = if changes.len() > 4 {
            format!("{} and {} more", changes[..4].join(", "), changes.len() - 4)
        } else {
            changes.join(", ")
        };
        let (gain, half) = (f.value, f.half);
        let obj = &self.goal.objective.name;
        if gain - half <= 0.0 {
            format!(
                "the model's best guess ({what}) is predicted {gain:+.1} ± {half:.1} % in {obj} against the winner: no clear gain left as the model sees it"
            )
        } else {
            format!(
                "the model predicts {gain:+.1} ± {half:.1} % in {obj} for {what} (uncertified: a larger --budget would measure it; such predictions ran high on the benchmarks)"
            )
        }
    }

    /// Makes `c` the choice, announcing a change.
    fn choose(&mut self, c: &Levels, why: &str) {
        let params = self.coding.decode(c);
        self.chosen = c.clone();
        if params == self.choice {
            return;
        }
        let key = trial_key(&params);
        let winner = self
            .trials
            .iter()
            .rev()
            .filter_map(|t| t.record.as_ref())
            .find(|r| r.trial_key == key)
            .cloned();
        self.choice = params.clone();
        self.queue.push_back(Step::Decided {
            param: why.to_string(),
            winner,
            base: params,
            changed: true,
        });
    }

    /// The judge of a trial of `runs` runs: run them all, but (with
    /// pruning) stop one whose accuracy is surely under the bar once the
    /// pooled noise is known. No leader: a slower configuration still
    /// teaches the model (its two runs are kept), one under the bar is
    /// never chosen, so its third run would be spent for nothing.
    fn judge(&self, runs: u32) -> Judge {
        Judge {
            policy: NoisePolicy {
                prune: self.setup.prune,
                max_runs: 0,
                ..NoisePolicy::default()
            },
            // The bar itself (the tie is the certification's).
            threshold: primary_bar(&self.goal),
            runs,
            leader: None,
            noise: self.noise,
            goal: (!self.goal.is_default()).then(|| self.goal.clone()),
        }
    }

    /// Hands out trial `k` of `levels`: reused, predicted to fail, or run.
    fn issue(&mut self, phase: Phase, levels: Levels, runs: u32) -> Step {
        let ordinal = self.trials.len() + 1;
        let params = self.coding.decode(&levels);
        let key = trial_key(&params);
        let spec = TrialSpec {
            ordinal,
            group: 0,
            changes: Changes::point(phase.name(), self.coding.describe(&levels)),
            base_value: None,
            key: key.clone(),
            params,
            recheck: false,
            judge: Some(self.judge(runs)),
        };
        let mut trial = Trial {
            levels,
            phase,
            runs,
            record: None,
            predicted: false,
        };
        if self.skip_existing
            && let Some(r) = self.known.get_mut(&key).and_then(VecDeque::pop_front)
        {
            trial.record = Some(r.clone());
            self.noise.add(&samples_of(&r, &self.goal));
            self.trials.push(trial);
            return Step::Reuse { spec, record: r };
        }
        // Screening designs its trials up front: one a failure since
        // predicts is not started.
        let visible = ordinal.saturating_sub(self.setup.batch.max(1));
        if phase == Phase::Screening
            && let Some(reason) = self
                .knowledge(visible)
                .failures
                .why_not(&self.coding, &trial.levels)
        {
            trial.predicted = true;
            self.trials.push(trial);
            return Step::Predicted { spec, reason };
        }
        self.trials.push(trial);
        Step::Run(spec)
    }

    /// What the search wants next.
    pub fn step(&mut self) -> Step {
        loop {
            if let Some(s) = self.queue.pop_front() {
                return s;
            }
            if self.finished {
                return Step::Finished;
            }
            match self.next() {
                Next::Propose(phase, levels, runs) => {
                    let s = self.issue(phase, levels, runs);
                    if let Some(d) = self.queue.pop_front() {
                        self.queue.push_back(s);
                        return d;
                    }
                    return s;
                }
                Next::Wait => return self.queue.pop_front().unwrap_or(Step::Wait),
                Next::End => self.finished = true,
            }
        }
    }

    /// The record of trial `ordinal`.
    pub fn record(&mut self, ordinal: usize, record: Arc<Record>) {
        if let Some(t) = ordinal.checked_sub(1).and_then(|i| self.trials.get_mut(i))
            && t.record.is_none()
        {
            self.noise.add(&samples_of(&record, &self.goal));
            t.record = Some(record);
        }
    }
}

impl super::Searcher for Pooled {
    fn step(&mut self) -> Step {
        Pooled::step(self)
    }
    fn record(&mut self, ordinal: usize, record: Arc<Record>) {
        Pooled::record(self, ordinal, record)
    }
    fn choice(&self) -> &Params {
        &self.choice
    }
    fn noise(&self) -> &PooledNoise {
        &self.noise
    }
    fn goal(&self) -> &Goal {
        &self.goal
    }
    fn estimate(&self) -> usize {
        Pooled::estimate(self)
    }
    fn spending(&self) -> crate::engine::progress::Spending {
        Pooled::spending(self)
    }
    fn outlook(&self) -> Option<String> {
        self.outlook.clone()
    }
    fn beliefs(&self) -> Option<beliefs::Beliefs> {
        let know = self.knowledge(self.trials.len());
        beliefs::of_knowledge(&self.coding, &self.goal, &know, &self.chosen)
    }
}
