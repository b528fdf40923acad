//! The planner: decides which trials to run next from the records so far.
//! Pure: no I/O, no clock, no randomness. The real engine and the simulated
//! executor drive the same planner, so a whole search can be replayed in
//! milliseconds with the same choices a real run makes.
//!
//! Today's policy is `auto_tune.py`'s coordinate ascent: parameter groups in
//! the space's order; each group tries the base's value first, then every
//! other candidate; the group's winner (the highest mean total tokens/s among
//! `ok` records meeting the accuracy bar, the first on a tie) becomes the
//! base for the next group.
//!
//! With a noise policy ([`NoisePolicy`], the default of the tool) three
//! things change: a configuration measured in this run is never started
//! again (the next group's base is the previous winner, already measured);
//! each trial carries a [`Judge`] that stops it early when it cannot win and
//! runs a close call longer; and a challenger replaces the incumbent only
//! when it is faster beyond the pooled run-to-run noise. Without one
//! ([`Planner::new`] with `policy: None`), the choices are exactly
//! `auto_tune.py`'s.
//!
//! Within a group every trial is independent (same base, one value changed),
//! so the planner hands out all of a group's trials before it needs any
//! result ([`Step::Run`] until the group is issued, then [`Step::Wait`]); the
//! choice is made only when every result is in, in plan order, so it does not
//! depend on the order in which results arrive. (A trial's [`Judge`] is
//! built when it is handed out, from the results in by then: with several
//! slots early stopping sees less, which changes figures, not the rule.)

use std::collections::HashMap;
use std::sync::Arc;

pub use super::explore::SearchPlan;
use super::explore::{Effects, Failure, Move, Seen, joint_moves, neighbours, predicts_failure};
use super::goal::{Direction, Goal, Op};
use super::noise::{
    Judge, NoisePolicy, PooledNoise, Samples, Scale, above_bar, above_tie, beats, primary_bar,
    samples_of, t_quantile,
};
use super::record::{Phase, Record, Status};
use super::search::{Params, SearchSpace, trial_key};

/// One trial the planner wants measured.
#[derive(Debug, Clone, PartialEq)]
pub struct TrialSpec {
    /// 1-based position in the plan (reused trials count too).
    pub ordinal: usize,
    /// 1-based group number.
    pub group: usize,
    /// The parameter under test.
    pub param: String,
    /// Its value in this trial.
    pub value: String,
    /// The base's value it replaces, if the base has one.
    pub base_value: Option<String>,
    /// Every parameter of the trial.
    pub params: Params,
    /// The trial key of `params`.
    pub key: String,
    /// A re-measure of a close call: fresh runs pooled with the earlier
    /// ones (autotune only; the record says `"recheck": true`).
    pub recheck: bool,
    /// How to judge the trial while it runs (none: run every planned eval
    /// run, as `auto_tune.py` does).
    pub judge: Option<Judge>,
}

/// What the planner wants next.
#[derive(Debug, Clone)]
pub enum Step {
    /// A parameter group (or a refinement batch) begins.
    Group {
        /// The parameter varied (`refinement` for a batch of joint moves).
        param: String,
        /// Values tried, base value first.
        values: Vec<String>,
        /// 1-based group number (the round of a refinement).
        group: usize,
        /// Number of groups.
        groups: usize,
        /// Where the search is: `pass 1`, `pass 2`, `refinement 1`...
        stage: String,
        /// Trials the budget still allows (`None`: no budget).
        budget_left: Option<usize>,
    },
    /// A done record of the same key exists: it counts in the group without
    /// running (`--skip_existing`, or measured earlier in this run).
    Reuse {
        /// The trial.
        spec: TrialSpec,
        /// The record reused.
        record: Arc<Record>,
    },
    /// Run this trial and report its record with [`Planner::record`].
    Run(TrialSpec),
    /// Not started: an earlier crash or time-out predicts this one fails
    /// the same way. Not a measurement: nothing is recorded, it just never
    /// wins.
    Predicted {
        /// The trial not started.
        spec: TrialSpec,
        /// Which earlier failure predicts it, and why.
        reason: String,
    },
    /// Every trial of the group is out; report their records first.
    Wait,
    /// A group ended.
    Decided {
        /// The parameter varied.
        param: String,
        /// The winning record, if any qualified.
        winner: Option<Arc<Record>>,
        /// The base from now on.
        base: Params,
        /// Whether the base changed.
        changed: bool,
    },
    /// The search is over.
    Finished,
}

/// One trial of a group: what it changes and its place in the plan.
#[derive(Debug, Clone)]
struct Slot {
    param: String,
    value: String,
    params: Params,
    ordinal: usize,
}

/// The group being explored.
#[derive(Debug, Clone)]
struct GroupState {
    /// Index into the space's groups (`None`: a refinement batch).
    index: Option<usize>,
    /// The parameter shown (`refinement` for joint moves).
    label: String,
    /// The trials in plan order, the base first.
    slots: Vec<Slot>,
    /// How many trials have been handed out.
    issued: usize,
    /// Records by position in `slots`.
    results: Vec<Option<Arc<Record>>>,
    /// Re-measures of a close call: ordinal, the record re-measured, and
    /// its record.
    rechecks: Vec<(usize, Arc<Record>, Option<Arc<Record>>)>,
    /// Re-measures handed out.
    rechecks_issued: usize,
    /// A close call was looked for already.
    rechecked: bool,
    /// Only the neighbours of the current value were handed out (a later
    /// pass): the rest follows if they do not behave as measured before.
    probe: bool,
    /// The base when the group began.
    base: Params,
    /// Every value of the parameter was measured (not only probes).
    full: bool,
}

/// Where the search is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Pass k (1-based) over the groups.
    Pass(usize),
    /// Refinement round r (1-based).
    Refine(usize),
    /// Nothing more.
    Done,
}

/// What the planner is asked to do.
#[derive(Debug, Clone)]
pub struct PlanConfig {
    /// The space, in exploration order.
    pub space: SearchSpace,
    /// The starting base.
    pub base: Params,
    /// The accuracy bar.
    pub threshold: f64,
    /// Reuse done records of the results file.
    pub skip_existing: bool,
    /// Planned eval runs per trial.
    pub eval_runs: u32,
    /// The noise policy; `None` is `auto_tune.py`'s plain search.
    pub policy: Option<NoisePolicy>,
    /// Passes, refinement, crash prediction and the budget.
    pub search: SearchPlan,
}

impl PlanConfig {
    /// `auto_tune.py`'s plain search with 5 eval runs: one pass.
    pub fn plain(space: SearchSpace, base: Params, threshold: f64, skip_existing: bool) -> Self {
        PlanConfig {
            space,
            base,
            threshold,
            skip_existing,
            eval_runs: 5,
            policy: None,
            search: SearchPlan::ONE_PASS,
        }
    }
}

/// An effect beyond this many standard errors is one (see
/// [`Planner::effect_size`]).
const INTERACTION_Z: f64 = 2.0;
/// A probe of a later pass that disagrees with what its value did before
/// by more than this many standard errors shows an interaction (the whole
/// group is measured again). Three, not two: a pass probes some 25 values,
/// and at two standard errors a landscape without any interaction would
/// show one in most passes (two-sided 5 % each), each costing a group and
/// usually another pass. On the benchmarks three costs a tenth less GPU
/// time on the separable and demo landscapes, at the same quality on the
/// interacting one (whose interactions are 5-16 %).
const PROBE_Z: f64 = 3.0;
/// Joint moves per refinement round at most (the budget bounds them too):
/// the whole radius-2 neighbourhood of three or four interacting
/// parameters.
const REFINE_MOVES: usize = 8;
/// Joint moves per round among parameters shown to interact, on top of
/// [`REFINE_MOVES`]: the radius-2 neighbourhood of three interacting
/// parameters.
const INTERACTING_MOVES: usize = 16;
/// Trades against the accuracy bar per round, on top (see
/// [`Planner::bar_trades`]).
const TRADE_MOVES: usize = 8;
/// Parameters changed at once, at most: on the interacting landscape,
/// steepest ascent over every move of two system parameters at once
/// reaches the best configuration from every start (noise-free), one at a
/// time does not.
const REFINE_RADIUS: usize = 2;
/// The parameters with the largest effects that take part in joint moves
/// even without a sign of interaction (a local optimum shows none). Ten,
/// not five: a trade against the accuracy bar (a small tok/s gain that
/// costs accuracy given back for a larger one elsewhere) pairs a large
/// effect with a small one; the moves per round stay capped, best
/// predicted first, so more parameters cost few trials.
const REFINE_TOP: usize = 10;
/// A tok/s ratio that moved less than this between passes is no
/// interaction for the refinement (see [`Planner::interaction_size`]).
const MIN_INTERACTION: f64 = 0.005;
/// An accuracy difference that moved less than this between passes is no
/// interaction for the refinement.
const MIN_ACC_INTERACTION: f64 = 0.001;
/// Refinement rounds at most.
const REFINE_ROUNDS: usize = 6;
/// A joint move predicted this far under the accuracy bar is not tried
/// (interactions may lift accuracy a little, not a lot).
const ACC_SLACK: f64 = 0.005;
/// A joint move predicted (additively) this far below the base is not
/// tried: between parameters that interact, the additive prediction of a
/// good joint move can be several percent low, not more than this.
const REFINE_FLOOR: f64 = 0.97;
/// The floor of a joint move among parameters shown to interact: there
/// the additive prediction of a good move can be several percent low (on
/// the interacting landscape, up to 16 % for a move that gains).
const INTERACTING_FLOOR: f64 = 0.80;

/// Coordinate ascent over a search space, passes until stable, then
/// joint moves.
#[derive(Debug, Clone)]
pub struct Planner {
    space: SearchSpace,
    base: Params,
    /// The bar of the goal's first constraint, as the noise rules see it
    /// ([`primary_bar`]); the accuracy threshold under today's goal.
    threshold: f64,
    /// What the search optimises and must respect.
    goal: Goal,
    skip_existing: bool,
    eval_runs: u32,
    policy: Option<NoisePolicy>,
    search: SearchPlan,
    /// Trials the run may start (reused records of the results file count:
    /// a resumed run makes the same choices as one that never stopped).
    max_trials: usize,
    /// Trials started or taken from the results file so far.
    spent: usize,
    /// Done records of the results file (reused with `skip_existing`).
    done: HashMap<String, Arc<Record>>,
    /// The first done record of each key in the results file: what a
    /// resumed noise-aware run replays (the figures the original run had
    /// when it first measured the key).
    first_done: HashMap<String, Arc<Record>>,
    /// Records whose runs are in the noise pool and `pooled` (by address):
    /// each counts once, when the search first meets it. `kept` holds them
    /// so that no address is reused by another record.
    absorbed: std::collections::HashSet<usize>,
    kept: Vec<Arc<Record>>,
    /// Re-measures found in the results file, not yet replayed (a resumed
    /// run reuses them instead of measuring again).
    prior_rechecks: Vec<Arc<Record>>,
    /// Done records of this run (reused under a noise policy and in later
    /// passes).
    measured: HashMap<String, Arc<Record>>,
    /// Configurations that crashed or timed out (results file and this
    /// run), with the status.
    failures: Vec<Failure>,
    noise: PooledNoise,
    /// Every ok run of each key measured or reused in this run.
    pooled: HashMap<String, Samples>,
    /// Close-call re-measures left.
    rechecks_left: usize,
    stage: Stage,
    next_group: usize,
    /// Groups decided (or skipped) without a change since the last change.
    quiet: usize,
    /// The base (but the group's own parameter) of each group's latest
    /// evaluation.
    evaluated: HashMap<usize, Params>,
    effects: Effects,
    current: Option<GroupState>,
    next_ordinal: usize,
    /// The latest pass begun.
    pass: usize,
    /// Refinement rounds decided.
    refined: usize,
    /// Groups whose probes in a later pass disagreed with what their
    /// values did before (the parameter interacts with another): the
    /// refinement's joint moves are among these.
    interacting: std::collections::BTreeSet<usize>,
}

/// The base without one parameter.
fn without(p: &Params, name: &str) -> Params {
    let mut q = p.clone();
    q.remove(name);
    q
}

/// Whether a record's configuration served (its runs have figures).
fn served(r: &Record) -> bool {
    matches!(r.status, Status::Ok | Status::Partial | Status::Pruned)
}

impl Planner {
    /// A planner starting from `base`. `known` are the records already in
    /// the results file; with `skip_existing`, a trial whose key has a done
    /// record is reused instead of run.
    pub fn new(cfg: PlanConfig, known: impl IntoIterator<Item = Arc<Record>>) -> Self {
        let mut p = Planner {
            space: cfg.space,
            base: cfg.base,
            threshold: cfg.threshold,
            goal: Goal::default_for(cfg.threshold),
            skip_existing: cfg.skip_existing,
            eval_runs: cfg.eval_runs,
            policy: cfg.policy,
            search: cfg.search,
            max_trials: 0,
            spent: 0,
            done: HashMap::new(),
            first_done: HashMap::new(),
            absorbed: Default::default(),
            kept: Vec::new(),
            prior_rechecks: Vec::new(),
            measured: HashMap::new(),
            failures: Vec::new(),
            noise: PooledNoise::default(),
            pooled: HashMap::new(),
            rechecks_left: cfg.policy.map_or(0, |p| p.recheck_budget),
            stage: Stage::Pass(1),
            next_group: 0,
            quiet: 0,
            evaluated: HashMap::new(),
            effects: Effects::default(),
            current: None,
            next_ordinal: 1,
            pass: 1,
            refined: 0,
            interacting: Default::default(),
        };
        p.max_trials = cfg
            .search
            .max_trials
            .unwrap_or_else(|| (p.estimate() as f64 * SearchPlan::BUDGET_FACTOR).ceil() as usize);
        // A resumed run (--skip_existing) learns from the records of the
        // file as the search meets them (reused), in the order the original
        // run did, so that it judges and chooses exactly as the run it
        // resumes; a new run learns of the failures from them all.
        for r in known {
            // A failure kept when an environment failure stopped its run:
            // not a result to reuse or learn from.
            if r.extra.get("unconfirmed").and_then(|v| v.as_bool()) == Some(true) {
                continue;
            }
            if !p.skip_existing {
                p.note_failure(&r);
            }
            if r.extra.get("recheck").and_then(|v| v.as_bool()) == Some(true) {
                p.prior_rechecks.push(r.clone());
            }
            if r.status.is_done() && !r.trial_key.is_empty() {
                p.first_done
                    .entry(r.trial_key.clone())
                    .or_insert_with(|| r.clone());
                p.done.insert(r.trial_key.clone(), r);
            }
        }
        p
    }

    /// Optimises `goal` instead of today's (total tok/s with accuracy at
    /// least the threshold).
    pub fn with_goal(mut self, goal: Goal) -> Self {
        self.threshold = primary_bar(&goal);
        self.goal = goal;
        self
    }

    /// What the search optimises.
    pub fn goal(&self) -> &Goal {
        &self.goal
    }

    /// The pooled run-to-run noise learned so far.
    pub fn noise(&self) -> &PooledNoise {
        &self.noise
    }

    /// Trials the budget still allows (`None`: no budget).
    pub fn budget_left(&self) -> Option<usize> {
        (self.max_trials != usize::MAX).then(|| self.max_trials.saturating_sub(self.spent))
    }

    /// The budget of the run (`None`: none).
    pub fn max_trials(&self) -> Option<usize> {
        (self.max_trials != usize::MAX).then_some(self.max_trials)
    }

    fn note_failure(&mut self, r: &Record) {
        if matches!(r.status, Status::Crashed | Status::Timeout) && !r.params.is_empty() {
            let cause = r
                .param_under_test
                .as_deref()
                .map(|p| p.split('+').map(str::to_string).collect())
                .unwrap_or_default();
            self.failures.push(Failure {
                params: r.params.clone(),
                status: r.status.as_str().to_string(),
                cause,
                startup: r.phase == Phase::Startup,
            });
        }
    }

    /// Why an earlier crash or time-out predicts that `p` fails too.
    fn predicted(&self, p: &Params) -> Option<String> {
        if !self.search.predict {
            return None;
        }
        self.failures.iter().find_map(|f| {
            let startup_settings = f.of_startup_settings(
                &self.space.request,
                self.measured
                    .values()
                    .filter(|r| served(r))
                    .map(|r| &r.params),
            );
            predicts_failure(f, startup_settings, &self.space.request, p).map(|why| {
                let verb = if f.status == "timeout" {
                    "timed out"
                } else {
                    "crashed"
                };
                format!("predicted to fail: a configuration that {verb} had {why}")
            })
        })
    }

    /// A done record of `key` that may stand in for running it.
    fn reusable(&self, key: &str) -> Option<&Arc<Record>> {
        if (self.policy.is_some() || self.stage != Stage::Pass(1))
            && let Some(r) = self.measured.get(key)
        {
            return Some(r);
        }
        if self.skip_existing {
            if self.policy.is_some() {
                return self.first_done.get(key);
            }
            return self.done.get(key).or_else(|| self.measured.get(key));
        }
        None
    }

    /// The judge of a trial handed out now: the group's leader so far.
    fn judge(&self, g: &GroupState) -> Option<Judge> {
        let policy = self.policy?;
        let leader = g
            .results
            .iter()
            .flatten()
            .filter(|r| self.goal.qualifies(r))
            .map(|r| samples_of(r, &self.goal))
            .filter(|s| s.n() > 0)
            .fold(None::<Samples>, |best, s| match best {
                Some(b) if b.tps_mean() >= s.tps_mean() => Some(b),
                _ => Some(s),
            });
        Some(Judge {
            policy,
            threshold: self.threshold,
            runs: self.eval_runs,
            leader,
            noise: self.noise,
            goal: (!self.goal.is_default()).then(|| self.goal.clone()),
        })
    }

    /// Every ok run of the record's configuration in this run (its own
    /// runs for a record of the results file).
    fn samples(&self, r: &Record) -> Samples {
        self.pooled
            .get(&r.trial_key)
            .filter(|s| s.n() > 0)
            .cloned()
            .unwrap_or_else(|| samples_of(r, &self.goal))
    }

    /// The means of a record without runs (auto_tune.py's) as the goal
    /// sees them (as `push_run` turns a run's): objective, first
    /// constraint.
    fn means(&self, r: &Record) -> Option<(f64, f64)> {
        let obj = self.goal.objective_mean(r)?;
        let obj = match self.goal.objective.dir {
            Direction::Max => obj,
            Direction::Min => -obj,
        };
        let primary = match self.goal.constraints.first() {
            None => 0.0,
            Some(c) => {
                let v = Goal::mean(r, &c.name)?;
                if c.op == Op::Le { -v } else { v }
            }
        };
        Some((obj, primary))
    }

    /// (objective level, mean accuracy, runs) of a record, if it served.
    /// The level is what the effects compare by ratio: the mean objective,
    /// higher better, and a negative one (a minimised figure) as the
    /// reciprocal of its size. Ratios mean something only while the
    /// figures seen are of one sign: otherwise no effect is learnt
    /// ([`Planner::effects_apply`]).
    fn figures(&self, r: &Record) -> Option<(f64, f64, usize)> {
        if !served(r) {
            return None;
        }
        let level = |t: f64| if t < 0.0 { -1.0 / t } else { t };
        let s = self.samples(r);
        if s.n() > 0 {
            return Some((level(s.tps_mean()), s.acc_mean(), s.n()));
        }
        let (obj, primary) = self.means(r)?;
        Some((level(obj), primary, 1))
    }

    /// Whether what the values of a parameter did can be told as ratios of
    /// the objective (every figure seen of one sign). When it cannot, no
    /// effect is learnt or used: later passes measure whole groups and
    /// there is no refinement, which costs trials, never a choice.
    fn effects_apply(&self) -> bool {
        self.noise.one_signed()
    }

    /// The incumbent of a group, when its order against the fastest
    /// challenger is left open by the noise (within the policy's recheck
    /// level either way): it is measured again, fresh, so that the
    /// winner's curse of its own group does not decide this one.
    fn close_call(&self, group: &[Arc<Record>]) -> Option<Arc<Record>> {
        let policy = self.policy?;
        if self.noise.df() < policy.min_df {
            return None;
        }
        let inc = group
            .iter()
            .find(|r| r.params == self.base && self.goal.qualifies(r))?;
        let is = self.samples(inc);
        let other = group
            .iter()
            .filter(|r| !Arc::ptr_eq(r, inc) && self.goal.qualifies(r))
            .map(|r| self.samples(r))
            .filter(|s| s.n() > 0 && above_bar(&policy, &self.noise, s, self.threshold))
            .max_by(|a, b| a.tps_mean().total_cmp(&b.tps_mean()))?;
        let q = t_quantile(policy.recheck_level, self.noise.df());
        let spread = match self.noise.scale(&[&is, &other]) {
            Scale::Relative => q * self.noise.tps_rel_sd() * is.tps_mean(),
            Scale::Absolute => q * self.noise.tps_abs_sd(),
        };
        let half = spread * (1.0 / is.n().max(1) as f64 + 1.0 / other.n().max(1) as f64).sqrt();
        // Without noise a tie is a tie: nothing to re-measure.
        (half > TIE * is.tps_mean().abs() && (other.tps_mean() - is.tps_mean()).abs() <= half)
            .then(|| inc.clone())
    }

    /// The group's choice under the policy: the qualifying record with
    /// the highest mean tok/s, unless the incumbent (the base's own record)
    /// qualifies and that one is not faster beyond the noise.
    ///
    /// The incumbent's figures are the ones that made it win its own group:
    /// the highest of several noisy means, so biased upwards (the winner's
    /// curse). When it was re-measured in this group (a close call), its
    /// fresh runs alone stand for it.
    fn choose(&self, group: &[Arc<Record>], fresh: &[Arc<Record>]) -> Option<Arc<Record>> {
        let Some(policy) = &self.policy else {
            return pick_best_goal(group, &self.goal);
        };
        let incumbent = group
            .iter()
            .find(|r| r.params == self.base && self.goal.qualifies(r));
        let est = |r: &Arc<Record>| -> Samples {
            if incumbent.is_some_and(|i| Arc::ptr_eq(i, r))
                && let Some(f) = fresh.iter().find(|f| f.trial_key == r.trial_key)
            {
                let s = samples_of(f, &self.goal);
                if s.n() > 0 {
                    return s;
                }
            }
            self.samples(r)
        };
        // A challenger must be above the bar beyond the noise: a mean just
        // over it is as likely a lucky draw of a configuration under it.
        // Stricter after the first pass: many more decisions near the bar.
        let guard = policy.for_stage(self.stage == Stage::Pass(1));
        let mut best: Option<(&Arc<Record>, Samples)> = None;
        for r in group.iter().filter(|r| self.goal.qualifies(r)) {
            let s = est(r);
            let is_inc = incumbent.is_some_and(|i| Arc::ptr_eq(i, r));
            if s.n() == 0 || (!is_inc && !above_bar(&guard, &self.noise, &s, self.threshold)) {
                continue;
            }
            // Means that differ in the last bits (runs pooled in another
            // order) are a tie: the first in plan order keeps it.
            if best
                .as_ref()
                .is_none_or(|(_, b)| above_tie(s.tps_mean(), b.tps_mean(), TIE))
            {
                best = Some((r, s));
            }
        }
        let (best, bs) = best?;
        match incumbent {
            Some(inc) if !Arc::ptr_eq(inc, best) && !beats(policy, &self.noise, &bs, &est(inc)) => {
                Some(inc.clone())
            }
            _ => Some(best.clone()),
        }
    }

    /// The current base: the starting one, then each group's winner.
    pub fn base(&self) -> &Params {
        &self.base
    }

    /// The number of trials of the plan if the base never changed (what
    /// `--dry_run` and the header estimate).
    pub fn estimate(&self) -> usize {
        self.space.plan(&self.base).len()
    }

    fn remember(&mut self, r: Arc<Record>) {
        if !self.absorbed.insert(Arc::as_ptr(&r) as usize) {
            return;
        }
        self.kept.push(r.clone());
        let s = samples_of(&r, &self.goal);
        self.noise.add(&s);
        if s.n() == 0
            && served(&r)
            && let Some((obj, _)) = self.means(&r)
        {
            self.noise.note_level(obj);
        }
        self.pooled
            .entry(r.trial_key.clone())
            .or_default()
            .extend(&s);
        self.note_failure(&r);
        if r.status.is_done() && !r.trial_key.is_empty() {
            self.measured.insert(r.trial_key.clone(), r);
        }
    }

    /// Whether changes of `name` moved throughput or accuracy beyond the
    /// pooled noise (or made the service fail) when last measured; a
    /// parameter never measured may matter.
    fn matters(&self, name: &str) -> bool {
        self.effect_size(name).is_none_or(|e| e > 0.0)
    }

    /// The largest change of `name`'s values beyond the noise, in relative
    /// tok/s (infinite for a failure, 0 when nothing moved beyond the
    /// noise); `None` if never measured.
    fn effect_size(&self, name: &str) -> Option<f64> {
        if !self.effects_apply() {
            return None;
        }
        let m = self.effects.0.get(name)?;
        let cur = self.base.get(name)?;
        let Some(Some((rc, dc, nc))) = m.get(cur) else {
            return Some(f64::INFINITY);
        };
        let mut size: f64 = 0.0;
        for e in m.values() {
            let Some((r, d, n)) = e else {
                size = f64::INFINITY;
                continue;
            };
            let se = (1.0 / *n as f64 + 1.0 / *nc as f64).sqrt();
            let dt = (r / rc - 1.0).abs();
            if dt > INTERACTION_Z * self.noise.tps_rel_sd() * se + 1e-9 {
                size = size.max(dt);
            }
            if (d - dc).abs() > INTERACTION_Z * self.noise.acc_sd() * se + 1e-9 {
                size = size.max(dt.max(1e-6));
            }
        }
        Some(size)
    }

    /// Trials of `params` the budget pays for: not measured in this run,
    /// not predicted to fail (a record of the results file counts, as the
    /// run that made it paid for it).
    fn new_trials<'a>(&self, params: impl Iterator<Item = &'a Params>) -> usize {
        params
            .filter(|p| {
                let k = trial_key(p);
                !(self.stage != Stage::Pass(1) || self.policy.is_some())
                    || !self.measured.contains_key(&k) && self.predicted(p).is_none()
            })
            .count()
    }

    fn stage_name(&self) -> String {
        match self.stage {
            Stage::Pass(k) => format!("pass {k}"),
            Stage::Refine(r) => format!("refinement {r}"),
            Stage::Done => "done".into(),
        }
    }

    /// The passes are over (stable, out of passes or of budget): refine or
    /// stop.
    fn end_passes(&mut self) {
        let round = self.refined + 1;
        self.stage = if self.search.refine && round <= REFINE_ROUNDS {
            Stage::Refine(round)
        } else {
            Stage::Done
        };
    }

    /// Opens the next group, or says the search is over.
    fn open_next(&mut self) -> Option<Step> {
        let n = self.space.groups.len();
        loop {
            match self.stage {
                Stage::Done => return None,
                Stage::Pass(k) => {
                    self.pass = k;
                    if self.quiet >= n && n > 0 {
                        self.end_passes();
                        continue;
                    }
                    if self.next_group >= n {
                        if self.search.passes.is_some_and(|m| k >= m) || n == 0 {
                            self.end_passes();
                        } else {
                            self.stage = Stage::Pass(k + 1);
                            self.next_group = 0;
                        }
                        continue;
                    }
                    let index = self.next_group;
                    self.next_group += 1;
                    let (name, cands) = self.space.groups[index].clone();
                    let mut probe = false;
                    let values = if let Some(at) = self.evaluated.get(&index) {
                        // Measured before: nothing to learn unless another
                        // parameter moved since, and only if it matters.
                        if *at == without(&self.base, &name) || !self.matters(&name) {
                            self.quiet += 1;
                            continue;
                        }
                        let cur = self.base.get(&name).cloned().unwrap_or_default();
                        let near = neighbours(&cands, &cur);
                        let known = self.effects_apply()
                            && near
                                .iter()
                                .all(|v| self.effects.relative(&name, &cur, v).is_some());
                        if known && !near.is_empty() {
                            probe = true;
                            let mut v = vec![cur];
                            v.extend(near);
                            v
                        } else {
                            SearchSpace::group_values(&self.base, &name, &cands)
                        }
                    } else {
                        SearchSpace::group_values(&self.base, &name, &cands)
                    };
                    let slots: Vec<Slot> = values
                        .iter()
                        .map(|v| {
                            let mut params = self.base.clone();
                            params.insert(name.clone(), v.clone());
                            Slot {
                                param: name.clone(),
                                value: v.clone(),
                                params,
                                ordinal: 0,
                            }
                        })
                        .collect();
                    if self.new_trials(slots.iter().map(|s| &s.params))
                        > self.max_trials.saturating_sub(self.spent)
                    {
                        self.end_passes();
                        continue;
                    }
                    return Some(self.open(Some(index), name, slots, probe, index + 1, n));
                }
                Stage::Refine(r) => {
                    let moves = self.refinement();
                    let left = self.max_trials.saturating_sub(self.spent);
                    if moves.is_empty() || left == 0 {
                        self.stage = Stage::Done;
                        continue;
                    }
                    let mut slots = vec![Slot {
                        param: "base".into(),
                        value: "base".into(),
                        params: self.base.clone(),
                        ordinal: 0,
                    }];
                    for m in moves.into_iter().take(left) {
                        let mut params = self.base.clone();
                        for (k, v) in &m.changes {
                            params.insert(k.clone(), v.clone());
                        }
                        slots.push(Slot {
                            param: m.param(),
                            value: m.value(),
                            params,
                            ordinal: 0,
                        });
                    }
                    return Some(self.open(
                        None,
                        "refinement".into(),
                        slots,
                        false,
                        r,
                        REFINE_ROUNDS,
                    ));
                }
            }
        }
    }

    fn open(
        &mut self,
        index: Option<usize>,
        label: String,
        mut slots: Vec<Slot>,
        probe: bool,
        group: usize,
        groups: usize,
    ) -> Step {
        for s in &mut slots {
            s.ordinal = self.next_ordinal;
            self.next_ordinal += 1;
        }
        let values = slots.iter().map(|s| s.value.clone()).collect();
        let n = slots.len();
        self.current = Some(GroupState {
            index,
            label: label.clone(),
            slots,
            issued: 0,
            results: vec![None; n],
            rechecks: Vec::new(),
            rechecks_issued: 0,
            rechecked: false,
            probe,
            base: self.base.clone(),
            full: !probe,
        });
        Step::Group {
            param: label,
            values,
            group,
            groups,
            stage: self.stage_name(),
            budget_left: self.budget_left(),
        }
    }

    /// The joint moves of the next refinement round: 2 to
    /// [`REFINE_RADIUS`] at once of the parameters shown to interact (with
    /// an effect beyond the noise), ranked by what their measured effects
    /// predict,
    /// without those measured already, predicted to fail or predicted
    /// clearly under the accuracy bar.
    fn refinement(&self) -> Vec<Move> {
        if !self.effects_apply() {
            return Vec::new();
        }
        let Some(base_rec) = self.measured.get(&trial_key(&self.base)) else {
            return Vec::new();
        };
        let Some((_, acc0, _)) = self.figures(base_rec) else {
            return Vec::new();
        };
        let mut sized: Vec<(f64, usize)> = self
            .space
            .groups
            .iter()
            .enumerate()
            .filter_map(|(i, (name, _))| {
                self.effect_size(name).filter(|e| *e > 0.0).map(|e| (e, i))
            })
            .collect();
        sized.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        // The parameters with the largest effects (a local optimum shows
        // no interaction), and those a later pass showed to interact: its
        // probes disagreed with what their values did before.
        let mut chosen: Vec<usize> = sized
            .iter()
            .enumerate()
            .filter(|(k, (_, i))| *k < REFINE_TOP || self.interacting.contains(i))
            .map(|x| x.1.1)
            .collect();
        chosen.sort();
        let inter: Vec<&str> = self
            .interacting
            .iter()
            .map(|&i| self.space.groups[i].0.as_str())
            .collect();
        let among = |m: &Move| m.changes.iter().all(|(k, _)| inter.contains(&k.as_str()));
        let params: Vec<(String, Vec<String>)> = chosen
            .iter()
            .map(|&i| self.space.groups[i].clone())
            .collect();
        let trades = self.bar_trades(acc0);
        let mut seen_moves = std::collections::BTreeSet::new();
        joint_moves(&params, &self.base, &self.effects, REFINE_RADIUS)
            .into_iter()
            .chain(trades)
            .filter(|m| seen_moves.insert(m.changes.clone()))
            .filter(|m| {
                // Between parameters shown to interact the additive
                // prediction may be far off: a wider floor.
                let floor = if among(m) {
                    INTERACTING_FLOOR
                } else {
                    REFINE_FLOOR
                };
                acc0 + m.acc >= self.threshold - ACC_SLACK && m.tps >= floor
            })
            .filter(|m| {
                let mut p = self.base.clone();
                for (k, v) in &m.changes {
                    p.insert(k.clone(), v.clone());
                }
                let k = trial_key(&p);
                // A record of the results file is reused when the move is
                // handed out: a resumed run picks the moves the run that
                // made it picked.
                !self.measured.contains_key(&k) && self.predicted(&p).is_none()
            })
            .scan((0, 0, 0), |(plain, joint, trade), m| {
                let (n, cap) = if among(&m) {
                    (joint, INTERACTING_MOVES)
                } else if m.trade {
                    (trade, TRADE_MOVES)
                } else {
                    (plain, REFINE_MOVES)
                };
                *n += 1;
                Some((*n <= cap).then_some(m))
            })
            .flatten()
            .collect()
    }

    /// Trades against the accuracy bar: a value that gains tok/s but took
    /// accuracy under the bar, paired with a value of another parameter
    /// that gives accuracy back for less tok/s than the first gains (four
    /// sentences instead of six, with a repetition penalty that restores
    /// the answers). The second is often a parameter of small tok/s effect,
    /// outside the largest effects the other joint moves pair, and neither
    /// move alone is better than the base, so only the pair finds it.
    /// Predicted by the measured effects, best first.
    fn bar_trades(&self, acc0: f64) -> Vec<Move> {
        // Every other value of every parameter with what it did, relative
        // to the base's value: (group, value, tok/s ratio, accuracy).
        // An accuracy given back within one standard error of the noise
        // of two means is no trade (about half of the parameters without
        // an effect would qualify). The gain is not gated: a refused gain
        // is often measured in the two runs of a pruned trial, and gating
        // it lost the trade in a tenth of the near-noise-free benchmark
        // seeds for no fewer trials.
        let mut vals: Vec<(usize, &str, f64, f64, bool, bool)> = Vec::new();
        for (i, (name, cands)) in self.space.groups.iter().enumerate() {
            let Some(cur) = self.base.get(name) else {
                continue;
            };
            for v in cands.iter().filter(|v| *v != cur) {
                if let Some((r, d, n, nc)) = self.effects.relative(name, cur, v) {
                    let se = (1.0 / n as f64 + 1.0 / nc as f64).sqrt();
                    let gains = r > 1.0;
                    let gives = d > self.noise.acc_sd() * se + 1e-9;
                    vals.push((i, v, r, d, gains, gives));
                }
            }
        }
        let mut out = Vec::new();
        for &(i, vi, ri, di, gains, _) in &vals {
            // A gain the bar refused.
            if !(gains && acc0 + di < self.threshold) {
                continue;
            }
            for &(j, vj, rj, dj, _, gives) in &vals {
                // Accuracy given back, for less than the gain.
                if j == i || !gives || acc0 + di + dj < self.threshold || ri * rj <= 1.0 {
                    continue;
                }
                let mut changes = vec![
                    (i, self.space.groups[i].0.clone(), vi.to_string()),
                    (j, self.space.groups[j].0.clone(), vj.to_string()),
                ];
                changes.sort();
                out.push(Move {
                    changes: changes.into_iter().map(|(_, k, v)| (k, v)).collect(),
                    tps: ri * rj,
                    acc: di + dj,
                    trade: true,
                });
            }
        }
        out.sort_by(|a, b| {
            b.tps
                .total_cmp(&a.tps)
                .then_with(|| a.changes.cmp(&b.changes))
        });
        out
    }

    /// Whether the probes of a later pass behave as their values did the
    /// last time (the same ratio to the current value, the same accuracy
    /// difference, within the noise): if not, the parameter interacts with
    /// what changed since, and the whole group is measured again.
    fn probes_agree(&self, g: &GroupState) -> bool {
        if !self.effects_apply() {
            return false;
        }
        let name = &g.slots[0].param;
        let cur = &g.slots[0].value;
        let Some((t0, a0, n0)) = g.results[0].as_ref().and_then(|r| self.figures(r)) else {
            return false;
        };
        for (s, r) in g.slots.iter().zip(&g.results).skip(1) {
            let now = r.as_ref().and_then(|r| self.figures(r));
            let was = self.effects.relative(name, cur, &s.value);
            let (Some((t, a, n)), Some((rw, dw, nw, ncw))) = (now, was) else {
                if now.is_some() || was.is_some() {
                    return false;
                }
                continue;
            };
            let se = (1.0 / n as f64 + 1.0 / n0 as f64 + 1.0 / nw as f64 + 1.0 / ncw as f64).sqrt();
            if ((t / t0) / rw - 1.0).abs() > PROBE_Z * self.noise.tps_rel_sd() * se + 1e-9 {
                return false;
            }
            if ((a - a0) - dw).abs() > PROBE_Z * self.noise.acc_sd() * se + 1e-9 {
                return false;
            }
        }
        true
    }

    /// Whether probes that disagreed show an interaction large enough for
    /// the refinement's wider floor: a value that served then and fails now
    /// (or the reverse), a tok/s ratio off by more than
    /// [`MIN_INTERACTION`], or an accuracy difference off by more than
    /// [`MIN_ACC_INTERACTION`]. Without noise any deviation disagrees, and
    /// figures read back from a service's output are rounded: those are
    /// not interactions worth joint moves.
    fn interaction_size(&self, g: &GroupState) -> bool {
        let name = &g.slots[0].param;
        let cur = &g.slots[0].value;
        let Some((t0, a0, _)) = g.results[0].as_ref().and_then(|r| self.figures(r)) else {
            return true;
        };
        g.slots.iter().zip(&g.results).skip(1).any(|(s, r)| {
            let now = r.as_ref().and_then(|r| self.figures(r));
            match (now, self.effects.relative(name, cur, &s.value)) {
                (Some((t, a, _)), Some((rw, dw, _, _))) => {
                    ((t / t0) / rw - 1.0).abs() > MIN_INTERACTION
                        || ((a - a0) - dw).abs() > MIN_ACC_INTERACTION
                }
                (None, None) => false,
                _ => true,
            }
        })
    }

    /// Hands out trial `pos` of the open group.
    fn issue(&mut self, pos: usize) -> Step {
        let g = self.current.as_ref().expect("a group is open");
        let s = g.slots[pos].clone();
        let base_value = if g.index.is_some() {
            g.base.get(&s.param).cloned()
        } else {
            Some(
                s.param
                    .split('+')
                    .map(|k| g.base.get(k).cloned().unwrap_or_default())
                    .collect::<Vec<_>>()
                    .join("+"),
            )
        };
        let mut spec = TrialSpec {
            ordinal: s.ordinal,
            group: g.index.map_or(0, |i| i + 1),
            param: s.param.clone(),
            base_value,
            value: s.value.clone(),
            key: trial_key(&s.params),
            params: s.params,
            recheck: false,
            judge: None,
        };
        if let Some(r) = self.reusable(&spec.key).cloned() {
            if !self.measured.contains_key(&r.trial_key) {
                // Taken from the results file: it stands for a trial this
                // run would have started.
                self.spent += 1;
            }
            self.remember(r.clone());
            if let Some(g) = &mut self.current {
                g.results[pos] = Some(r.clone());
            }
            return Step::Reuse { spec, record: r };
        }
        if let Some(reason) = self.predicted(&spec.params) {
            // Stands in the group as a failure of its own, never written.
            let placeholder = Arc::new(Record {
                trial_key: spec.key.clone(),
                params: spec.params.clone(),
                status: Status::Crashed,
                reason: Some(reason.clone()),
                ..Default::default()
            });
            if let Some(g) = &mut self.current {
                g.results[pos] = Some(placeholder);
            }
            return Step::Predicted { spec, reason };
        }
        self.spent += 1;
        spec.judge = self.current.as_ref().and_then(|g| self.judge(g));
        Step::Run(spec)
    }

    /// What to do next.
    pub fn step(&mut self) -> Step {
        loop {
            if self.current.is_none() {
                return self.open_next().unwrap_or(Step::Finished);
            }
            let g = self.current.as_mut().expect("a group is open");
            if g.issued < g.slots.len() {
                let pos = g.issued;
                g.issued += 1;
                return self.issue(pos);
            }
            if g.results.iter().any(Option::is_none) {
                return Step::Wait;
            }
            if g.probe {
                let agree = self.probes_agree(self.current.as_ref().expect("open"));
                let g = self.current.as_mut().expect("a group is open");
                g.probe = false;
                let index = g.index.expect("probes are of a group");
                let (name, cands) = self.space.groups[index].clone();
                // Measuring the whole group again takes trials the budget
                // may not have: then the probes stand for it.
                let room = self.max_trials.saturating_sub(self.spent);
                let rest = cands
                    .len()
                    .saturating_sub(self.current.as_ref().expect("open").slots.len());
                if agree || rest > room {
                    self.record_effects(false);
                } else {
                    if self.interaction_size(self.current.as_ref().expect("open")) {
                        self.interacting.insert(index);
                    }
                    // The parameter interacts with what changed since: the
                    // rest of its values, at this base.
                    let g = self.current.as_ref().expect("open");
                    let have: Vec<String> = g.slots.iter().map(|s| s.value.clone()).collect();
                    let base = g.base.clone();
                    let mut more = Vec::new();
                    for v in SearchSpace::group_values(&base, &name, &cands) {
                        if !have.contains(&v) {
                            let mut params = base.clone();
                            params.insert(name.clone(), v.clone());
                            more.push(Slot {
                                param: name.clone(),
                                value: v,
                                params,
                                ordinal: 0,
                            });
                        }
                    }
                    let g = self.current.as_mut().expect("open");
                    g.full = true;
                    for mut s in more {
                        s.ordinal = self.next_ordinal;
                        self.next_ordinal += 1;
                        g.slots.push(s);
                        g.results.push(None);
                    }
                    continue;
                }
            }
            let g = self.current.as_mut().expect("a group is open");
            if !g.rechecked {
                g.rechecked = true;
                let group: Vec<Arc<Record>> = g.results.iter().flatten().cloned().collect();
                // A re-measure is a trial: within the budget only.
                if self.rechecks_left > 0
                    && self.spent < self.max_trials
                    && let Some(inc) = self.close_call(&group)
                {
                    self.rechecks_left -= 1;
                    let g = self.current.as_mut().expect("a group is open");
                    g.rechecks.push((self.next_ordinal, inc, None));
                    self.next_ordinal += 1;
                }
            }
            let g = self.current.as_mut().expect("a group is open");
            if g.rechecks_issued < g.rechecks.len() {
                let (ordinal, r, _) = &g.rechecks[g.rechecks_issued];
                g.rechecks_issued += 1;
                let (param, value) = match g.index {
                    Some(i) => {
                        let name = self.space.groups[i].0.clone();
                        (
                            name.clone(),
                            r.params.get(&name).cloned().unwrap_or_default(),
                        )
                    }
                    None => ("base".to_string(), "base".to_string()),
                };
                let spec = TrialSpec {
                    ordinal: *ordinal,
                    group: g.index.map_or(0, |i| i + 1),
                    base_value: Some(value.clone()),
                    value,
                    param,
                    params: r.params.clone(),
                    key: r.trial_key.clone(),
                    recheck: true,
                    judge: None,
                };
                let slot = g.rechecks_issued - 1;
                self.spent += 1;
                if self.skip_existing
                    && let Some(i) = self.prior_rechecks.iter().position(|p| {
                        p.trial_key == spec.key
                            && p.param_under_test.as_deref() == Some(spec.param.as_str())
                    })
                {
                    let prior = self.prior_rechecks.remove(i);
                    self.remember(prior.clone());
                    let g = self.current.as_mut().expect("a group is open");
                    g.rechecks[slot].2 = Some(prior.clone());
                    return Step::Reuse {
                        spec,
                        record: prior,
                    };
                }
                return Step::Run(spec);
            }
            if g.rechecks.iter().any(|(_, _, r)| r.is_none()) {
                return Step::Wait;
            }
            return self.decide();
        }
    }

    /// Notes what each value of the open group did (pass groups only).
    fn record_effects(&mut self, full: bool) {
        if !self.effects_apply() {
            return;
        }
        let g = self.current.as_ref().expect("open");
        let Some(index) = g.index else { return };
        let name = self.space.groups[index].0.clone();
        let Some(cur) = g.base.get(&name).cloned() else {
            return;
        };
        let seen: Vec<Seen> = g
            .slots
            .iter()
            .zip(&g.results)
            .map(|(s, r)| (s.value.clone(), r.as_ref().and_then(|r| self.figures(r))))
            .collect();
        self.effects.update(&name, &cur, &seen, full);
    }

    /// Ends the open group: its choice, what it taught, where the search
    /// goes next.
    fn decide(&mut self) -> Step {
        let g = self.current.as_ref().expect("open");
        // A group whose probes agreed recorded its effects already.
        if g.full {
            self.record_effects(true);
        }
        let g = self.current.take().expect("a group is open");
        let fresh: Vec<Arc<Record>> = g.rechecks.iter().filter_map(|x| x.2.clone()).collect();
        let group: Vec<Arc<Record>> = g.results.into_iter().flatten().collect();
        let winner = self.choose(&group, &fresh);
        let mut changed = false;
        if let Some(w) = &winner {
            changed = w.params != self.base;
            self.base = w.params.clone();
        }
        match g.index {
            Some(i) => {
                let name = &self.space.groups[i].0;
                self.evaluated.insert(i, without(&g.base, name));
                if changed {
                    self.quiet = 1;
                } else {
                    self.quiet += 1;
                }
            }
            None => {
                self.refined += 1;
                if changed {
                    // Passes again from the new base, then refine again.
                    let k = self.pass;
                    if self.search.passes.is_none_or(|m| k < m) {
                        self.stage = Stage::Pass(k + 1);
                        self.next_group = 0;
                        self.quiet = 0;
                    } else {
                        self.end_passes();
                    }
                } else {
                    self.stage = Stage::Done;
                }
            }
        }
        Step::Decided {
            param: g.label,
            winner,
            base: self.base.clone(),
            changed,
        }
    }

    /// Reports the record of a trial handed out by [`Step::Run`].
    pub fn record(&mut self, ordinal: usize, record: Arc<Record>) {
        self.remember(record.clone());
        if let Some(g) = &mut self.current
            && let Some(slot) = g.rechecks.iter_mut().find(|(o, _, _)| *o == ordinal)
        {
            slot.2 = Some(record);
            return;
        }
        if let Some(g) = &mut self.current
            && let Some(pos) = g.slots.iter().position(|s| s.ordinal == ordinal)
        {
            g.results[pos] = Some(record);
        }
    }
}

/// The group's choice under a goal: among records meeting it, the best
/// objective mean (the first on a tie). With today's goal, [`pick_best`].
pub fn pick_best_goal(group: &[Arc<Record>], goal: &Goal) -> Option<Arc<Record>> {
    let mut best: Option<(&Arc<Record>, f64)> = None;
    for r in group.iter().filter(|r| goal.qualifies(r)) {
        let Some(v) = goal.objective_mean(r) else {
            continue;
        };
        if best.is_none_or(|(_, b)| goal.better(v, b)) {
            best = Some((r, v));
        }
    }
    best.map(|(r, _)| r.clone())
}

/// Relative difference under which two means are the same figure.
const TIE: f64 = 1e-9;

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
    use crate::engine::record::{EvalSummary, Status};
    use crate::engine::search::default_params;

    fn rec(st: &str, acc: f64, tps: f64) -> Arc<Record> {
        Arc::new(Record {
            status: Status::parse(st),
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

    fn measured(spec: &TrialSpec, tps: f64) -> Arc<Record> {
        Arc::new(Record {
            trial_key: spec.key.clone(),
            params: spec.params.clone(),
            param_under_test: Some(spec.param.clone()),
            status: Status::Ok,
            eval: Some(EvalSummary {
                avg_accuracy: Some(0.9),
                avg_total_tps: Some(tps),
                ..Default::default()
            }),
            ..Default::default()
        })
    }

    /// Results reported in reverse order give the same choice as in order.
    #[test]
    fn choice_does_not_depend_on_arrival_order() {
        let space =
            SearchSpace::from_json_str(r#"{"A": ["1", "2", "3"], "B": ["x", "y"]}"#).unwrap();
        let run = |reverse: bool| {
            let mut p = Planner::new(
                PlanConfig::plain(space.clone(), Params::new(), 0.5, false),
                [],
            );
            let mut out = Vec::new();
            let mut pending = Vec::new();
            loop {
                match p.step() {
                    Step::Run(s) => pending.push(s),
                    Step::Wait => {
                        if reverse {
                            pending.reverse();
                        }
                        for s in pending.drain(..) {
                            let tps = if s.value == "2" || s.value == "y" {
                                10.0
                            } else {
                                5.0
                            };
                            p.record(s.ordinal, measured(&s, tps));
                        }
                    }
                    Step::Decided { base, .. } => out.push(base),
                    Step::Finished => return out,
                    Step::Group { .. } | Step::Reuse { .. } | Step::Predicted { .. } => {}
                }
            }
        };
        let a = run(false);
        assert_eq!(a, run(true));
        assert_eq!(a.last().unwrap()["A"], "2");
        assert_eq!(a.last().unwrap()["B"], "y");
    }

    /// The plan of the built-in space with a base that never changes.
    #[test]
    fn builtin_plan_order_and_reuse() {
        let mut p = Planner::new(
            PlanConfig::plain(SearchSpace::builtin(), default_params(), 0.88, true),
            [],
        );
        assert_eq!(p.estimate(), 55);
        let Step::Group { param, values, .. } = p.step() else {
            panic!("a group first")
        };
        assert_eq!(param, "GPU_MEMORY_UTILIZATION");
        assert_eq!(values, ["0.97", "0.98", "0.99"]);
        let Step::Run(first) = p.step() else {
            panic!("a trial")
        };
        assert_eq!(first.ordinal, 1);
        assert_eq!(first.base_value.as_deref(), Some("0.97"));
        // The same key reported done is reused by the next group's base trial.
        p.record(1, measured(&first, 100.0));
        let Step::Run(s2) = p.step() else { panic!() };
        let Step::Run(s3) = p.step() else { panic!() };
        assert!(matches!(p.step(), Step::Wait));
        p.record(s3.ordinal, measured(&s3, 50.0));
        p.record(s2.ordinal, measured(&s2, 90.0));
        let Step::Decided { changed, .. } = p.step() else {
            panic!()
        };
        assert!(!changed);
        assert!(matches!(p.step(), Step::Group { .. }));
        match p.step() {
            Step::Reuse { spec, record } => {
                assert_eq!(spec.ordinal, 4);
                assert_eq!(record.trial_key, first.key);
            }
            other => panic!("expected reuse, got {other:?}"),
        }
    }
}
#[cfg(test)]
mod replay_tests {
    use super::*;
    use crate::engine::landscape::demo_truth;
    use crate::engine::search::default_params;
    use crate::engine::simulate::{Cost, Noise, simulate};

    /// Under another goal (minimise latency, throughput at least X), the
    /// planner decides by it: the lowest latency among the trials meeting
    /// the throughput floor, not the fastest.
    #[test]
    fn decides_by_the_goal() {
        use crate::engine::goal::{Constraint, Direction, Goal, Objective, Op};
        use crate::engine::record::{EvalRun, Measured, Status, summarize};
        let goal = Goal {
            objective: Objective {
                name: "p99_ms".into(),
                dir: Direction::Min,
            },
            constraints: vec![Constraint {
                name: "total_tps".into(),
                op: Op::Ge,
                bound: 1000.0,
            }],
        };
        let space =
            SearchSpace::from_json_str(r#"{"SEQS": ["256", "512", "1024", "64"]}"#).unwrap();
        let base: Params = [("SEQS".to_string(), "256".to_string())].into();
        let cfg = PlanConfig {
            policy: Some(NoisePolicy::default()),
            ..PlanConfig::plain(space, base, 0.0, false)
        };
        // Latency and throughput both grow with the sequences; 64 is too
        // slow for the floor.
        let figures = |seqs: f64| (seqs * 0.5, seqs * 5.0);
        let mut p = Planner::new(cfg, []).with_goal(goal);
        let mut chosen = None;
        loop {
            match p.step() {
                Step::Run(spec) => {
                    let seqs: f64 = spec.params["SEQS"].parse().unwrap();
                    let (lat, tps) = figures(seqs);
                    let runs: Vec<EvalRun> = (1..=3)
                        .map(|i| EvalRun {
                            i,
                            ok: true,
                            measured: Some(Measured {
                                total_tps: Some(tps),
                                ..Default::default()
                            }),
                            metrics: Some([("p99_ms".to_string(), lat)].into()),
                            ..Default::default()
                        })
                        .collect();
                    let rec = Record {
                        trial_key: spec.key.clone(),
                        params: spec.params.clone(),
                        status: Status::Ok,
                        eval: Some(summarize(runs)),
                        ..Default::default()
                    };
                    p.record(spec.ordinal, Arc::new(rec));
                }
                Step::Decided { base, .. } => chosen = Some(base),
                Step::Finished => break,
                _ => {}
            }
        }
        // 256 (128 ms, 1280 tok/s) meets the floor with the lowest latency;
        // 64 is faster to answer but under the floor.
        assert_eq!(chosen.unwrap()["SEQS"], "256");
    }

    /// A minimised objective whose figures cross 0 (a latency delta in ms,
    /// run-to-run noise 0.1 ms whatever the figure), searched with the
    /// noise rules: every seed ends on the truly smallest configuration,
    /// and no configuration at least as good as the chosen one is stopped
    /// early, though early stopping does stop others.
    #[test]
    fn a_minimised_objective_around_zero_picks_the_truly_smallest() {
        use crate::engine::goal::{Constraint, Direction, Goal, Objective, Op};
        use crate::engine::simulate::Truth;
        let goal = Goal {
            objective: Objective {
                name: "delta_ms".into(),
                dir: Direction::Min,
            },
            constraints: vec![Constraint {
                name: "accuracy".into(),
                op: Op::Ge,
                bound: 0.5,
            }],
        };
        let space = SearchSpace::from_json_str(
            r#"{"A": ["1", "2", "3", "4", "5"], "B": ["1", "2", "3", "4"]}"#,
        )
        .unwrap();
        let base: Params = [("A", "3"), ("B", "2")]
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .into();
        // Separable, from -1.1 (A=2, B=3) to 2.1 ms; the start is 0.3 ms.
        let delta = |p: &Params| {
            let a = [0.8, -0.4, 0.3, 1.0, 1.6][p["A"].parse::<usize>().unwrap() - 1];
            let b = [0.5, 0.0, -0.7, 0.4][p["B"].parse::<usize>().unwrap() - 1];
            a + b
        };
        let land = |p: &Params| Truth::Serves {
            accuracy: 0.9,
            tps: delta(p),
        };
        let noise = Noise {
            tps_rel_sd: 0.0,
            tps_abs_sd: 0.1,
            acc_abs_sd: 0.003,
        };
        let smallest: Params = [("A", "2"), ("B", "3")]
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .into();
        let mut pruned = 0;
        for seed in 0..16 {
            let cfg = PlanConfig {
                policy: Some(NoisePolicy::default()),
                eval_runs: 3,
                search: SearchPlan::default(),
                ..PlanConfig::plain(space.clone(), base.clone(), 0.0, false)
            };
            let rep = simulate(
                Planner::new(cfg, []).with_goal(goal.clone()),
                &land,
                3,
                noise,
                Cost::default(),
                seed,
            );
            assert_eq!(rep.best, smallest, "seed {seed}");
            for r in rep.records.iter().filter(|r| r.status == Status::Pruned) {
                pruned += 1;
                assert!(
                    delta(&r.params) > delta(&smallest),
                    "seed {seed}: {} was stopped: {:?}",
                    r.trial_key,
                    r.reason
                );
            }
        }
        assert!(pruned > 0, "early stopping never judged");
    }

    /// A run resumed over its own records (`--skip_existing`) replays every
    /// step, re-measures of close calls and later passes included, and runs
    /// nothing again.
    #[test]
    fn a_resumed_noisy_run_runs_nothing_again() {
        let cfg = PlanConfig {
            policy: Some(NoisePolicy::default()),
            ..PlanConfig::plain(SearchSpace::builtin(), default_params(), 0.88, true)
        };
        let noise = Noise {
            tps_rel_sd: 0.02,
            tps_abs_sd: 0.0,
            acc_abs_sd: 0.003,
        };
        let land = crate::engine::landscape::separable_truth;
        let first = simulate(
            Planner::new(cfg.clone(), []),
            &land,
            5,
            noise,
            Cost::default(),
            3,
        );
        assert!(
            first
                .records
                .iter()
                .any(|r| r.extra.contains_key("recheck")),
            "this seed re-measures a close call"
        );
        assert!(
            first
                .records
                .iter()
                .any(|r| r.status == crate::engine::record::Status::Pruned)
        );
        let again = simulate(
            Planner::new(cfg, first.records.clone()),
            &land,
            5,
            noise,
            Cost::default(),
            4,
        );
        assert_eq!(
            again.trials,
            0,
            "ran again: {:?}",
            again.records.first().map(|r| &r.trial_key)
        );
        assert_eq!(again.best, first.best);
    }

    /// Without noise the noise-aware policy ends where the plain one does.
    #[test]
    fn noise_free_policy_matches_plain_on_the_demo() {
        let cfg = |policy| PlanConfig {
            policy,
            ..PlanConfig::plain(SearchSpace::builtin(), default_params(), 0.88, false)
        };
        let plain = simulate(
            Planner::new(cfg(None), []),
            &demo_truth,
            5,
            Noise::NONE,
            Cost::default(),
            1,
        );
        let aware = simulate(
            Planner::new(cfg(Some(NoisePolicy::default())), []),
            &demo_truth,
            5,
            Noise::NONE,
            Cost::default(),
            1,
        );
        let diff: Vec<_> = plain
            .best
            .iter()
            .filter(|(k, v)| aware.best.get(*k) != Some(v))
            .map(|(k, v)| format!("{k}: plain {v}, aware {:?}", aware.best.get(k)))
            .collect();
        assert!(diff.is_empty(), "{diff:?}");
        assert!(aware.gpu_s < plain.gpu_s);
    }
}

#[cfg(test)]
mod search_tests {
    use super::*;
    use crate::engine::simulate::{Cost, Noise, Truth, simulate};

    fn cfg(space: &str, base: &[(&str, &str)], search: SearchPlan) -> PlanConfig {
        // The plain choice: these records carry means, not runs.
        PlanConfig {
            search,
            ..PlanConfig::plain(
                SearchSpace::from_json_str(space).unwrap(),
                base.iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                0.5,
                false,
            )
        }
    }

    fn serves(tps: f64) -> Truth {
        Truth::Serves { accuracy: 0.9, tps }
    }

    /// Every step of a whole search, with its records made by `l`.
    fn steps(mut p: Planner, l: &dyn Fn(&Params) -> Truth) -> (Vec<String>, Params) {
        let mut log = Vec::new();
        let mut pending = Vec::new();
        loop {
            match p.step() {
                Step::Group { param, stage, .. } => log.push(format!("group {param} {stage}")),
                Step::Reuse { spec, .. } => {
                    log.push(format!("reuse {}={}", spec.param, spec.value))
                }
                Step::Predicted { spec, .. } => {
                    log.push(format!("predicted {}={}", spec.param, spec.value))
                }
                Step::Run(s) => {
                    log.push(format!("run {}={} @{}", s.param, s.value, s.key));
                    pending.push(s);
                }
                Step::Wait => {
                    for s in pending.drain(..) {
                        let mut r = Record {
                            trial_key: s.key.clone(),
                            params: s.params.clone(),
                            ..Default::default()
                        };
                        match l(&s.params) {
                            Truth::Serves { accuracy, tps } => {
                                r.status = Status::Ok;
                                r.eval = Some(crate::engine::record::EvalSummary {
                                    avg_accuracy: Some(accuracy),
                                    avg_total_tps: Some(tps),
                                    ..Default::default()
                                });
                            }
                            Truth::Crashes => r.status = Status::Crashed,
                            Truth::Hangs => r.status = Status::Timeout,
                        }
                        p.record(s.ordinal, Arc::new(r));
                    }
                }
                Step::Decided { .. } => {}
                Step::Finished => return (log, p.base().clone()),
            }
        }
    }

    fn get<'a>(p: &'a Params, k: &str) -> &'a str {
        p.get(k).map(String::as_str).unwrap_or("")
    }

    /// B's best value depends on A, which is chosen after it: a second pass
    /// moves B, reusing the base it measured, and a third pass changes
    /// nothing.
    #[test]
    fn passes_until_stable_reuse_what_was_measured() {
        let l = |p: &Params| {
            let (a, b) = (get(p, "A"), get(p, "B"));
            serves(match (a, b) {
                ("1", "1") => 100.0,
                ("1", "2") => 95.0,
                ("2", "1") => 110.0,
                ("2", "2") => 130.0,
                _ => 1.0,
            })
        };
        let space = r#"{"B": ["1", "2"], "A": ["1", "2"]}"#;
        let one = steps(
            Planner::new(
                cfg(space, &[("A", "1"), ("B", "1")], SearchPlan::ONE_PASS),
                [],
            ),
            &l,
        );
        assert_eq!((get(&one.1, "A"), get(&one.1, "B")), ("2", "1"));
        let plan = SearchPlan {
            refine: false,
            ..SearchPlan::default()
        };
        let (log, best) = steps(
            Planner::new(cfg(space, &[("A", "1"), ("B", "1")], plan), []),
            &l,
        );
        assert_eq!((get(&best, "A"), get(&best, "B")), ("2", "2"), "{log:#?}");
        let pass2 = log
            .iter()
            .position(|s| s == "group B pass 2")
            .expect("pass 2");
        assert_eq!(log[pass2 + 1], "reuse B=1", "{log:#?}");
        // Nothing measured is run again in a later pass.
        let mut seen = std::collections::HashSet::new();
        for (i, s) in log.iter().enumerate() {
            if let Some((_, t)) = s.split_once(" @") {
                let first = seen.insert(t.to_string());
                assert!(
                    first || i < pass2,
                    "{t} run again in a later pass: {log:#?}"
                );
            }
        }
    }

    /// Only a move of both parameters at once leaves (1, 1): the passes
    /// stop there, the refinement tries the joint move and takes it.
    #[test]
    fn refinement_makes_joint_moves() {
        let l = |p: &Params| {
            serves(match (get(p, "A"), get(p, "B")) {
                ("1", "1") => 100.0,
                ("2", "1") => 99.0,
                ("1", "2") => 98.5,
                ("2", "2") => 120.0,
                _ => 1.0,
            })
        };
        let space = r#"{"A": ["1", "2"], "B": ["1", "2"]}"#;
        let base = [("A", "1"), ("B", "1")];
        let (log, best) = steps(
            Planner::new(cfg(space, &base, SearchPlan::default()), []),
            &l,
        );
        assert!(
            log.iter().any(|s| s.starts_with("run A+B=2+2 ")),
            "{log:#?}"
        );
        assert!(log.contains(&"group refinement refinement 1".to_string()));
        assert_eq!((get(&best, "A"), get(&best, "B")), ("2", "2"), "{log:#?}");
        let plan = SearchPlan {
            refine: false,
            ..SearchPlan::default()
        };
        let (_, stuck) = steps(Planner::new(cfg(space, &base, plan), []), &l);
        assert_eq!((get(&stuck, "A"), get(&stuck, "B")), ("1", "1"));
    }

    /// Later passes show that A and B interact (their probes disagree with
    /// what their values did in pass 1); the passes stop at (2, 2, 2). The
    /// joint move of A and B to (1, 1) is predicted additively at 0.81 of
    /// the base, far below the floor of other joint moves, but between
    /// parameters shown to interact it is tried, and gains. A move as bad
    /// by prediction that involves C (no sign of interaction) is not tried.
    #[test]
    fn joint_moves_of_interacting_parameters_are_tried_beyond_the_floor() {
        let l = |p: &Params| {
            serves(match (get(p, "A"), get(p, "B"), get(p, "C")) {
                ("1", "1", "1") => 100.0,
                ("2", "1", "1") => 110.0,
                ("2", "2", "1") => 120.0,
                ("2", "2", "2") => 130.0,
                ("1", "2", "2") => 117.0,
                ("2", "1", "2") => 117.0,
                ("1", "1", "2") => 140.0,
                _ => 50.0,
            })
        };
        let space = r#"{"A": ["1", "2"], "B": ["1", "2"], "C": ["1", "2"]}"#;
        let base = [("A", "1"), ("B", "1"), ("C", "1")];
        let (log, best) = steps(
            Planner::new(cfg(space, &base, SearchPlan::default()), []),
            &l,
        );
        assert!(
            log.iter().any(|s| s.starts_with("run A+B=1+1 ")),
            "{log:#?}"
        );
        assert!(
            !log.iter().any(|s| s.starts_with("run A+C=1+1 ")),
            "{log:#?}"
        );
        assert_eq!(
            (get(&best, "A"), get(&best, "B"), get(&best, "C")),
            ("1", "1", "2"),
            "{log:#?}"
        );
    }

    /// A gain the accuracy bar refused is paired with the value of another
    /// parameter that gives the accuracy back, even when that parameter's
    /// tok/s effect is the smallest of all (outside the largest effects the
    /// other joint moves pair).
    #[test]
    fn a_trade_against_the_bar_pairs_a_refused_gain_with_accuracy_given_back() {
        let l = |p: &Params| {
            let mut tps = 100.0;
            let mut accuracy = 0.9;
            for i in 1..=10 {
                if get(p, &format!("P{i}")) == "2" {
                    tps *= 1.0 - (4.0 + i as f64) / 100.0;
                }
            }
            if get(p, "A") == "2" {
                tps *= 1.10;
                accuracy -= 0.02;
            }
            if get(p, "B") == "2" {
                tps *= 0.995;
                accuracy += 0.03;
            }
            Truth::Serves { accuracy, tps }
        };
        let mut names: Vec<String> = (1..=10).map(|i| format!("P{i}")).collect();
        names.extend(["A".to_string(), "B".to_string()]);
        let space = format!(
            "{{{}}}",
            names
                .iter()
                .map(|n| format!(r#""{n}": ["1", "2"]"#))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let base: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "1")).collect();
        let (log, best) = steps(
            Planner::new(
                PlanConfig {
                    threshold: 0.89,
                    ..cfg(&space, &base, SearchPlan::default())
                },
                [],
            ),
            &l,
        );
        assert!(
            log.iter().any(|s| s.starts_with("run A+B=2+2 ")),
            "{log:#?}"
        );
        assert_eq!((get(&best, "A"), get(&best, "B")), ("2", "2"), "{log:#?}");
        // Not a pairing of everything: no trade gives accuracy back with a
        // value that costs it.
        assert!(!log.iter().any(|s| s.starts_with("run A+P")), "{log:#?}");
    }

    /// The default search (noise-aware, passes, refinement) over `space`
    /// from `base`, noise-free, through the simulated executor.
    fn exact_aware(
        space: SearchSpace,
        base: &[(&str, &str)],
        l: &dyn Fn(&Params) -> Truth,
    ) -> crate::engine::simulate::SimReport {
        let cfg = PlanConfig {
            space,
            base: base
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            threshold: 0.5,
            skip_existing: false,
            eval_runs: 5,
            policy: Some(NoisePolicy::default()),
            search: SearchPlan::default(),
        };
        simulate(Planner::new(cfg, []), l, 5, Noise::NONE, Cost::default(), 0)
    }

    /// A start-up crash is not paid for again in a later pass when only a
    /// parameter read per request moved lower since; it is when that
    /// parameter is not known to be read per request.
    #[test]
    fn a_start_up_crash_is_not_run_again_for_a_request_parameter() {
        let l = |p: &Params| {
            if get(p, "A") == "2" {
                Truth::Crashes
            } else {
                serves(if get(p, "S") == "4" { 105.0 } else { 100.0 })
            }
        };
        let crashes = |request: &[&str]| {
            let mut space =
                SearchSpace::from_json_str(r#"{"A": ["1", "2"], "S": ["6", "4"]}"#).unwrap();
            space.request = request.iter().map(|k| k.to_string()).collect();
            let rep = exact_aware(space, &[("A", "1"), ("S", "6")], &l);
            assert_eq!(get(&rep.best, "S"), "4");
            (
                rep.records
                    .iter()
                    .filter(|r| r.status == Status::Crashed)
                    .count(),
                rep.predicted,
            )
        };
        assert_eq!(crashes(&["S"]), (1, 1));
        assert_eq!(crashes(&[]).0, 2);
    }

    /// A start-up crash of a trial that tested a per-request value (or a
    /// flaky start of settings that served) predicts nothing about other
    /// per-request values: the faster one is still found.
    #[test]
    fn a_crash_of_a_per_request_value_does_not_block_the_others() {
        let l = |p: &Params| {
            if get(p, "SENT") == "4" {
                Truth::Crashes
            } else {
                serves(if get(p, "MNT") == "48" { 120.0 } else { 100.0 })
            }
        };
        let mut space =
            SearchSpace::from_json_str(r#"{"SENT": ["6", "4"], "MNT": ["64", "48"]}"#).unwrap();
        space.request = ["SENT".to_string(), "MNT".to_string()].into();
        let rep = exact_aware(space, &[("SENT", "6"), ("MNT", "64")], &l);
        assert_eq!(get(&rep.best, "MNT"), "48");
        assert_eq!(rep.predicted, 0);
    }

    /// The budget caps the trials started.
    #[test]
    fn the_budget_bounds_trials() {
        let l = |p: &Params| serves(100.0 + get(p, "A").parse::<f64>().unwrap_or(0.0));
        let space = r#"{"A": ["1", "2", "3", "4"], "B": ["1", "2", "3"]}"#;
        let plan = SearchPlan {
            max_trials: Some(4),
            ..SearchPlan::default()
        };
        let p = Planner::new(cfg(space, &[("A", "1"), ("B", "1")], plan), []);
        let (log, _) = steps(p, &l);
        let runs = log.iter().filter(|s| s.starts_with("run")).count();
        assert_eq!(runs, 4, "{log:#?}");
    }

    /// A crash at 0.99 with 131072 tokens predicts one at 0.99 with 196608,
    /// not at 0.98: the first is reported and not run.
    #[test]
    fn an_earlier_crash_predicts_larger_configurations() {
        let l = |p: &Params| {
            if get(p, "GPU_MEMORY_UTILIZATION") == "0.99" {
                Truth::Crashes
            } else {
                serves(100.0 + get(p, "VLLM_MAX_NUM_BATCHED_TOKENS").len() as f64)
            }
        };
        let space = r#"{"GPU_MEMORY_UTILIZATION": ["0.98", "0.99"], "VLLM_MAX_NUM_BATCHED_TOKENS": ["131072", "196608"]}"#;
        let crash = Arc::new(Record {
            status: Status::Crashed,
            params: [
                ("GPU_MEMORY_UTILIZATION", "0.99"),
                ("VLLM_MAX_NUM_BATCHED_TOKENS", "131072"),
            ]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
            trial_key: "old".into(),
            ..Default::default()
        });
        let base = [
            ("GPU_MEMORY_UTILIZATION", "0.98"),
            ("VLLM_MAX_NUM_BATCHED_TOKENS", "196608"),
        ];
        let (log, best) = steps(
            Planner::new(cfg(space, &base, SearchPlan::default()), [crash]),
            &l,
        );
        assert!(
            log.contains(&"predicted GPU_MEMORY_UTILIZATION=0.99".to_string()),
            "{log:#?}"
        );
        assert!(
            !log.iter()
                .any(|s| s.starts_with("run GPU_MEMORY_UTILIZATION=0.99 "))
        );
        assert!(
            log.iter()
                .any(|s| s.starts_with("run GPU_MEMORY_UTILIZATION=0.98 "))
        );
        assert_eq!(get(&best, "GPU_MEMORY_UTILIZATION"), "0.98");
    }

    /// The same measurements give the same steps, noise included.
    #[test]
    fn same_records_same_steps() {
        let run = || {
            let rep = simulate(
                Planner::new(
                    PlanConfig {
                        policy: Some(NoisePolicy::default()),
                        search: SearchPlan::default(),
                        ..PlanConfig::plain(
                            SearchSpace::builtin(),
                            crate::engine::search::default_params(),
                            0.88,
                            false,
                        )
                    },
                    [],
                ),
                &crate::engine::landscape::interacting_truth,
                5,
                Noise {
                    tps_rel_sd: 0.02,
                    tps_abs_sd: 0.0,
                    acc_abs_sd: 0.003,
                },
                Cost::default(),
                3,
            );
            (
                rep.records
                    .iter()
                    .map(|r| r.trial_key.clone())
                    .collect::<Vec<_>>(),
                rep.best,
            )
        };
        let a = run();
        assert!(a.0.len() > 55, "beyond one pass: {}", a.0.len());
        assert_eq!(a, run());
    }
}
