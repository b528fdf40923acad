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
//! depend on the order in which results arrive.

use std::collections::HashMap;
use std::sync::Arc;

use super::noise::{Judge, NoisePolicy, PooledNoise, Samples, above_bar, beats, t_quantile};
use super::record::Record;
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
    /// A parameter group begins.
    Group {
        /// The parameter varied.
        param: String,
        /// Values tried, base value first.
        values: Vec<String>,
        /// 1-based group number.
        group: usize,
        /// Number of groups.
        groups: usize,
    },
    /// A done record of the same key exists: it counts in the group without
    /// running (`--skip_existing`).
    Reuse {
        /// The trial.
        spec: TrialSpec,
        /// The record reused.
        record: Arc<Record>,
    },
    /// Run this trial and report its record with [`Planner::record`].
    Run(TrialSpec),
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

/// The group being explored.
#[derive(Debug, Clone)]
struct GroupState {
    /// Index into the space's groups.
    index: usize,
    /// Values in plan order.
    values: Vec<String>,
    /// How many values have been handed out.
    issued: usize,
    /// Ordinal of the group's first value.
    first_ordinal: usize,
    /// Records by position in `values`.
    results: Vec<Option<Arc<Record>>>,
    /// Re-measures of a close call: ordinal, the record re-measured, how
    /// many have been handed out, and their records.
    rechecks: Vec<(usize, Arc<Record>, Option<Arc<Record>>)>,
    /// Re-measures handed out.
    rechecks_issued: usize,
    /// A close call was looked for already.
    rechecked: bool,
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
}

impl PlanConfig {
    /// `auto_tune.py`'s plain search with 5 eval runs.
    pub fn plain(space: SearchSpace, base: Params, threshold: f64, skip_existing: bool) -> Self {
        PlanConfig {
            space,
            base,
            threshold,
            skip_existing,
            eval_runs: 5,
            policy: None,
        }
    }
}

/// Coordinate ascent over a search space.
#[derive(Debug, Clone)]
pub struct Planner {
    space: SearchSpace,
    base: Params,
    threshold: f64,
    skip_existing: bool,
    eval_runs: u32,
    policy: Option<NoisePolicy>,
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
    /// Done records of this run (reused under a noise policy).
    measured: HashMap<String, Arc<Record>>,
    noise: PooledNoise,
    /// Every ok run of each key measured or reused in this run.
    pooled: HashMap<String, Samples>,
    /// Close-call re-measures left.
    rechecks_left: usize,
    /// Re-measures found in the results file, not yet replayed (a resumed
    /// run reuses them instead of measuring again).
    prior_rechecks: Vec<Arc<Record>>,
    next_group: usize,
    current: Option<GroupState>,
    next_ordinal: usize,
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
            skip_existing: cfg.skip_existing,
            eval_runs: cfg.eval_runs,
            policy: cfg.policy,
            done: HashMap::new(),
            first_done: HashMap::new(),
            absorbed: Default::default(),
            kept: Vec::new(),
            measured: HashMap::new(),
            noise: PooledNoise::default(),
            pooled: HashMap::new(),
            rechecks_left: cfg.policy.map_or(0, |p| p.recheck_budget),
            prior_rechecks: Vec::new(),
            next_group: 0,
            current: None,
            next_ordinal: 1,
        };
        // The records of the file are learned from as the search meets
        // them (reused), in the order the original run did: a resumed run
        // then judges and chooses exactly as the run it resumes.
        for r in known {
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

    /// The pooled run-to-run noise learned so far.
    pub fn noise(&self) -> &PooledNoise {
        &self.noise
    }

    /// A done record of `key` that may stand in for running it.
    fn reusable(&self, key: &str) -> Option<&Arc<Record>> {
        if self.policy.is_some()
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
            .filter(|r| r.qualifies(self.threshold))
            .map(|r| Samples::of(r))
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
        })
    }

    /// Every ok run of the record's configuration in this run (its own
    /// runs for a record of the results file).
    fn samples(&self, r: &Record) -> Samples {
        self.pooled
            .get(&r.trial_key)
            .filter(|s| s.n() > 0)
            .cloned()
            .unwrap_or_else(|| Samples::of(r))
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
            .find(|r| r.params == self.base && r.qualifies(self.threshold))?;
        let is = self.samples(inc);
        let other = group
            .iter()
            .filter(|r| !Arc::ptr_eq(r, inc) && r.qualifies(self.threshold))
            .map(|r| self.samples(r))
            .filter(|s| s.n() > 0 && above_bar(&policy, &self.noise, s, self.threshold))
            .max_by(|a, b| a.tps_mean().total_cmp(&b.tps_mean()))?;
        let half = t_quantile(policy.recheck_level, self.noise.df())
            * self.noise.tps_rel_sd()
            * is.tps_mean()
            * (1.0 / is.n().max(1) as f64 + 1.0 / other.n().max(1) as f64).sqrt();
        // Without noise a tie is a tie: nothing to re-measure.
        (half > TIE * is.tps_mean() && (other.tps_mean() - is.tps_mean()).abs() <= half)
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
            return pick_best(group, self.threshold);
        };
        let incumbent = group
            .iter()
            .find(|r| r.params == self.base && r.qualifies(self.threshold));
        let est = |r: &Arc<Record>| -> Samples {
            if incumbent.is_some_and(|i| Arc::ptr_eq(i, r))
                && let Some(f) = fresh.iter().find(|f| f.trial_key == r.trial_key)
            {
                let s = Samples::of(f);
                if s.n() > 0 {
                    return s;
                }
            }
            self.samples(r)
        };
        // A challenger must be above the bar beyond the noise: a mean just
        // over it is as likely a lucky draw of a configuration under it.
        let mut best: Option<(&Arc<Record>, Samples)> = None;
        for r in group.iter().filter(|r| r.qualifies(self.threshold)) {
            let s = est(r);
            let is_inc = incumbent.is_some_and(|i| Arc::ptr_eq(i, r));
            if s.n() == 0 || (!is_inc && !above_bar(policy, &self.noise, &s, self.threshold)) {
                continue;
            }
            // Means that differ in the last bits (runs pooled in another
            // order) are a tie: the first in plan order keeps it.
            if best
                .as_ref()
                .is_none_or(|(_, b)| s.tps_mean() > b.tps_mean() * (1.0 + TIE))
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
        let s = Samples::of(&r);
        self.noise.add(&s);
        self.pooled
            .entry(r.trial_key.clone())
            .or_default()
            .extend(&s);
        if r.status.is_done() && !r.trial_key.is_empty() {
            self.measured.insert(r.trial_key.clone(), r);
        }
    }

    /// What to do next.
    pub fn step(&mut self) -> Step {
        let Some(g) = &mut self.current else {
            if self.next_group >= self.space.groups.len() {
                return Step::Finished;
            }
            let index = self.next_group;
            self.next_group += 1;
            let (name, cands) = &self.space.groups[index];
            let values = SearchSpace::group_values(&self.base, name, cands);
            let n = values.len();
            self.current = Some(GroupState {
                index,
                values: values.clone(),
                issued: 0,
                first_ordinal: self.next_ordinal,
                results: vec![None; n],
                rechecks: Vec::new(),
                rechecks_issued: 0,
                rechecked: false,
            });
            self.next_ordinal += n;
            return Step::Group {
                param: name.clone(),
                values,
                group: index + 1,
                groups: self.space.groups.len(),
            };
        };
        if g.issued < g.values.len() {
            let pos = g.issued;
            g.issued += 1;
            let name = self.space.groups[g.index].0.clone();
            let value = g.values[pos].clone();
            let mut params = self.base.clone();
            params.insert(name.clone(), value.clone());
            let key = trial_key(&params);
            let mut spec = TrialSpec {
                ordinal: g.first_ordinal + pos,
                group: g.index + 1,
                param: name.clone(),
                base_value: self.base.get(&name).cloned(),
                value,
                params,
                key,
                recheck: false,
                judge: None,
            };
            if let Some(r) = self.reusable(&spec.key).cloned() {
                self.remember(r.clone());
                if let Some(g) = &mut self.current {
                    g.results[pos] = Some(r.clone());
                }
                return Step::Reuse { spec, record: r };
            }
            spec.judge = self.current.as_ref().and_then(|g| self.judge(g));
            return Step::Run(spec);
        }
        if g.results.iter().any(Option::is_none) {
            return Step::Wait;
        }
        if !g.rechecked {
            g.rechecked = true;
            let group: Vec<Arc<Record>> = g.results.iter().flatten().cloned().collect();
            if self.rechecks_left > 0
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
            let name = self.space.groups[g.index].0.clone();
            let spec = TrialSpec {
                ordinal: *ordinal,
                group: g.index + 1,
                value: r.params.get(&name).cloned().unwrap_or_default(),
                base_value: self.base.get(&name).cloned(),
                param: name,
                params: r.params.clone(),
                key: r.trial_key.clone(),
                recheck: true,
                judge: None,
            };
            let slot = g.rechecks_issued - 1;
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
        let g = self.current.take().expect("a group is open");
        let fresh: Vec<Arc<Record>> = g.rechecks.iter().filter_map(|x| x.2.clone()).collect();
        let group: Vec<Arc<Record>> = g.results.into_iter().flatten().collect();
        let winner = self.choose(&group, &fresh);
        let mut changed = false;
        if let Some(w) = &winner {
            changed = w.params != self.base;
            self.base = w.params.clone();
        }
        Step::Decided {
            param: self.space.groups[g.index].0.clone(),
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
            && ordinal >= g.first_ordinal
            && ordinal < g.first_ordinal + g.values.len()
        {
            g.results[ordinal - g.first_ordinal] = Some(record);
        }
    }
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
                    Step::Group { .. } | Step::Reuse { .. } => {}
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

    /// A run resumed over its own records (`--skip_existing`) replays every
    /// step, re-measures of close calls included, and runs nothing again.
    #[test]
    fn a_resumed_noisy_run_runs_nothing_again() {
        let cfg = PlanConfig {
            policy: Some(NoisePolicy::default()),
            ..PlanConfig::plain(SearchSpace::builtin(), default_params(), 0.88, true)
        };
        let noise = Noise {
            tps_rel_sd: 0.02,
            acc_abs_sd: 0.003,
        };
        let first = simulate(
            Planner::new(cfg.clone(), []),
            &crate::engine::landscape::separable_truth,
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
            &crate::engine::landscape::separable_truth,
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
}
