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

pub use crate::engine::explore::SearchPlan;
use crate::engine::explore::{
    Effects, Failure, Move, Seen, joint_moves, neighbours, predicts_failure,
};
use crate::engine::goal::{Direction, Goal, Op};
use crate::engine::noise::{
    Judge, NoisePolicy, PooledNoise, RobustNoise, Samples, Scale, above_bar, above_tie, beats,
    primary_bar, samples_of, t_quantile,
};
use crate::engine::record::{Phase, Record, Status};
use crate::engine::search::{Changes, Params, SearchSpace, trial_key};

/// One trial the planner wants measured.
#[derive(Debug, Clone, PartialEq)]
pub struct TrialSpec {
    /// 1-based position in the plan (reused trials count too).
    pub ordinal: usize,
    /// 1-based group number.
    pub group: usize,
    /// What it changes from its base.
    pub changes: Changes,
    /// The base's value of the one parameter it changes, if the base has
    /// one (`None` for a joint move, the base, a design point).
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

impl TrialSpec {
    /// The event of this trial's start: in `slot` on `devices`, under the
    /// running `index`, its service logging to `log_path`.
    pub fn started(
        &self,
        slot: usize,
        devices: Option<String>,
        index: u32,
        log_path: std::path::PathBuf,
    ) -> crate::engine::event::Event {
        crate::engine::event::Event::TrialStarted {
            slot,
            devices,
            ordinal: self.ordinal,
            index,
            changes: self.changes.clone(),
            base_value: self.base_value.clone(),
            params: self.params.clone(),
            key: self.key.clone(),
            log_path,
            recheck: self.recheck,
        }
    }
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
        stage: crate::engine::event::Stage,
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
    changes: Changes,
    params: Params,
    ordinal: usize,
}

impl Slot {
    /// Its value of the group's parameter (a pass group's trials change
    /// that one).
    fn value(&self) -> &str {
        self.changes.single().map_or("", |(_, v)| v)
    }
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
    /// What the search optimises and must meet (its first constraint is
    /// the bar the noise rules judge).
    pub goal: Goal,
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
    /// `auto_tune.py`'s plain search with 5 eval runs: one pass, for the
    /// highest total tok/s with accuracy at least `threshold`.
    pub fn plain(space: SearchSpace, base: Params, threshold: f64, skip_existing: bool) -> Self {
        PlanConfig {
            space,
            base,
            goal: Goal::default_for(threshold),
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
    /// Done records of the results file, each key's in file order (reused
    /// with `skip_existing`: the last one, or under a noise policy the
    /// first, which a resumed noise-aware run replays: the figures the
    /// original run had when it first measured the key). A record that
    /// lacks a metric of the goal is never reused.
    done: HashMap<String, Vec<Arc<Record>>>,
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
    /// The pool of every configuration but those whose spread is far out
    /// of line ([`RobustNoise`]): what the judgements use.
    noise: PooledNoise,
    /// The pool's parts, and which configurations are kept out of it.
    robust: RobustNoise,
    /// What the search has to say (a configuration kept out of the pool),
    /// not yet taken by [`Planner::take_notes`].
    notes: Vec<String>,
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
            threshold: primary_bar(&cfg.goal),
            goal: cfg.goal,
            skip_existing: cfg.skip_existing,
            eval_runs: cfg.eval_runs,
            policy: cfg.policy,
            search: cfg.search,
            max_trials: 0,
            spent: 0,
            done: HashMap::new(),
            absorbed: Default::default(),
            kept: Vec::new(),
            prior_rechecks: Vec::new(),
            measured: HashMap::new(),
            failures: Vec::new(),
            noise: PooledNoise::default(),
            robust: RobustNoise::new(
                cfg.policy
                    .map_or(NoisePolicy::default().min_df, |p| p.min_df),
            ),
            notes: Vec::new(),
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
                p.done.entry(r.trial_key.clone()).or_default().push(r);
            }
        }
        p
    }

    /// What the search optimises.
    pub fn goal(&self) -> &Goal {
        &self.goal
    }

    /// The pooled run-to-run noise learned so far.
    pub fn noise(&self) -> &PooledNoise {
        &self.noise
    }

    /// What the search has said since last asked (once each): a
    /// configuration kept out of the pooled noise.
    pub fn take_notes(&mut self) -> Vec<String> {
        std::mem::take(&mut self.notes)
    }

    /// Trials the budget still allows (`None`: no budget).
    pub fn budget_left(&self) -> Option<usize> {
        (self.max_trials != usize::MAX).then(|| self.max_trials.saturating_sub(self.spent))
    }

    /// The budget of the run (`None`: none).
    pub fn max_trials(&self) -> Option<usize> {
        (self.max_trials != usize::MAX).then_some(self.max_trials)
    }

    /// Trials started or taken from the results file, and the most it
    /// will start: the budget, or without one (`--search_policy plain`)
    /// the plan; once the search is over, what it started.
    pub fn spending(&self) -> crate::engine::progress::Spending {
        let over = matches!(self.stage, Stage::Done) && self.current.is_none();
        let at_most = if over {
            self.spent
        } else if self.max_trials != usize::MAX {
            self.max_trials
        } else {
            self.estimate()
        };
        crate::engine::progress::Spending {
            trials: self.spent,
            trials_at_most: at_most.max(self.spent),
            nominal_s: None,
            over,
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

    fn stage_name(&self) -> crate::engine::event::Stage {
        use crate::engine::event::Stage as Public;
        match self.stage {
            Stage::Pass(k) => Public::Pass(k),
            Stage::Refine(r) => Public::Refinement(r),
            // No group opens once the search is done.
            Stage::Done => Public::Refinement(self.refined),
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
                                changes: Changes::one(name.clone(), v.clone()),
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
                        changes: Changes::base(),
                        params: self.base.clone(),
                        ordinal: 0,
                    }];
                    for m in moves.into_iter().take(left) {
                        let mut params = self.base.clone();
                        for (k, v) in &m.changes {
                            params.insert(k.clone(), v.clone());
                        }
                        slots.push(Slot {
                            changes: Changes::moves(m.changes),
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
        // As the group's records will say them (`value_under_test`): a
        // round lists `base` and its joint moves' joined values (`4+48`).
        let values = slots.iter().map(|s| s.changes.value_text()).collect();
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

    /// Hands out trial `pos` of the open group.
    fn issue(&mut self, pos: usize) -> Step {
        let g = self.current.as_ref().expect("a group is open");
        let s = g.slots[pos].clone();
        let base_value = s.changes.single().and_then(|(p, _)| g.base.get(p).cloned());
        let mut spec = TrialSpec {
            ordinal: s.ordinal,
            group: g.index.map_or(0, |i| i + 1),
            changes: s.changes,
            base_value,
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
        // A configuration kept out of the pool is judged by its own spread.
        if let Some(j) = spec.judge.as_mut()
            && self.robust.is_excluded(&spec.key)
        {
            j.noise = self.robust.own(&spec.key);
            j.policy.min_df = 1;
        }
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
            if g.probe && self.probed() {
                // The rest of the group was added: hand it out.
                continue;
            }
            self.plan_recheck();
            if let Some(step) = self.issue_recheck() {
                return step;
            }
            let g = self.current.as_ref().expect("a group is open");
            if g.rechecks.iter().any(|(_, _, r)| r.is_none()) {
                return Step::Wait;
            }
            return self.decide();
        }
    }

    /// The probes of a group are in: when they agree with what the effects
    /// predicted (or the budget cannot pay for more) they stand for the
    /// group; else the parameter interacts with what changed since and the
    /// rest of its values are added at this base. Returns whether values
    /// were added.
    fn probed(&mut self) -> bool {
        let agree = self.probes_agree(self.current.as_ref().expect("open"));
        let g = self.current.as_mut().expect("a group is open");
        g.probe = false;
        let index = g.index.expect("probes are of a group");
        let (name, cands) = self.space.groups[index].clone();
        // Measuring the whole group again takes trials the budget may not
        // have: then the probes stand for it.
        let room = self.max_trials.saturating_sub(self.spent);
        let rest = cands
            .len()
            .saturating_sub(self.current.as_ref().expect("open").slots.len());
        if agree || rest > room {
            self.record_effects(false);
            return false;
        }
        if self.interaction_size(self.current.as_ref().expect("open")) {
            self.interacting.insert(index);
        }
        let g = self.current.as_ref().expect("open");
        let have: Vec<String> = g.slots.iter().map(|s| s.value().to_string()).collect();
        let base = g.base.clone();
        let mut more = Vec::new();
        for v in SearchSpace::group_values(&base, &name, &cands) {
            if !have.contains(&v) {
                let mut params = base.clone();
                params.insert(name.clone(), v.clone());
                more.push(Slot {
                    changes: Changes::one(name.clone(), v),
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
        true
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

mod judge;
mod known;
mod moves;
#[cfg(test)]
mod tests;

pub use judge::pick_best;
