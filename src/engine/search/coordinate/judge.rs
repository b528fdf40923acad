//! The coordinate search's judgements under the noise policy: how a trial
//! is judged while it runs (early stopping), what a record's figures are
//! (fresh re-measures standing for the incumbent), close calls, and the
//! choice of a group.

use super::*;

impl Planner {
    /// Once per group: a close call between the incumbent and the fastest
    /// challenger is measured again (a trial: within the budget only).
    pub(super) fn plan_recheck(&mut self) {
        let g = self.current.as_mut().expect("a group is open");
        if g.rechecked {
            return;
        }
        g.rechecked = true;
        let group: Vec<Arc<Record>> = g.results.iter().flatten().cloned().collect();
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

    /// The next re-measure of the group to hand out, if any: reused from
    /// the results file when a resumed run has it.
    pub(super) fn issue_recheck(&mut self) -> Option<Step> {
        let g = self.current.as_mut().expect("a group is open");
        if g.rechecks_issued >= g.rechecks.len() {
            return None;
        }
        let (ordinal, r, _) = &g.rechecks[g.rechecks_issued];
        g.rechecks_issued += 1;
        // The incumbent again: its value of the group's parameter, the base
        // of a round; it replaces nothing.
        let (changes, base_value) = match g.index {
            Some(i) => {
                let name = self.space.groups[i].0.clone();
                let value = r.params.get(&name).cloned().unwrap_or_default();
                (Changes::one(name, value.clone()), Some(value))
            }
            None => (Changes::base(), None),
        };
        let spec = TrialSpec {
            ordinal: *ordinal,
            group: g.index.map_or(0, |i| i + 1),
            changes,
            base_value,
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
                    && p.param_under_test.as_deref() == Some(spec.changes.param_text().as_str())
                    && self.goal.missing_metric(p).is_none()
            })
        {
            let prior = self.prior_rechecks.remove(i);
            self.remember(prior.clone());
            let g = self.current.as_mut().expect("a group is open");
            g.rechecks[slot].2 = Some(prior.clone());
            return Some(Step::Reuse {
                spec,
                record: prior,
            });
        }
        Some(Step::Run(spec))
    }

    /// The judge of a trial handed out now: the group's leader so far.
    pub(super) fn judge(&self, g: &GroupState) -> Option<Judge> {
        let policy = self.policy?;
        let leader = g
            .results
            .iter()
            .flatten()
            .filter(|r| self.goal.qualifies(r) && !self.robust.is_excluded(&r.trial_key))
            .map(|r| samples_of(r, &self.goal))
            .filter(|s| s.n() > 0)
            .fold(None::<Samples>, |best, s| match best {
                Some(b) if b.objective_mean() >= s.objective_mean() => Some(b),
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

    /// The noise `records` are judged by, and the policy to judge them
    /// under: the pool, or when one of them is kept out of it (its spread
    /// far out of line with the others'), the spread of its own runs,
    /// judged however few degrees of freedom it has.
    pub(super) fn noise_for(
        &self,
        records: &[&Record],
        policy: &NoisePolicy,
    ) -> (PooledNoise, NoisePolicy) {
        let out: Vec<&str> = records
            .iter()
            .map(|r| r.trial_key.as_str())
            .filter(|k| self.robust.is_excluded(k))
            .collect();
        if out.is_empty() {
            return (self.noise, *policy);
        }
        (
            self.robust.own_of(&out),
            NoisePolicy {
                min_df: 1,
                ..*policy
            },
        )
    }

    /// Every ok run of the record's configuration in this run (its own
    /// runs for a record of the results file).
    pub(super) fn samples(&self, r: &Record) -> Samples {
        self.pooled
            .get(&r.trial_key)
            .filter(|s| s.n() > 0)
            .cloned()
            .unwrap_or_else(|| samples_of(r, &self.goal))
    }

    /// The means of a record without runs (auto_tune.py's) as the goal
    /// sees them (as `push_run` turns a run's): objective, first
    /// constraint.
    pub(super) fn means(&self, r: &Record) -> Option<(f64, f64)> {
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
    pub(super) fn figures(&self, r: &Record) -> Option<(f64, f64, usize)> {
        if !served(r) {
            return None;
        }
        let level = |t: f64| if t < 0.0 { -1.0 / t } else { t };
        let s = self.samples(r);
        if s.n() > 0 {
            return Some((level(s.objective_mean()), s.constraint_mean(), s.n()));
        }
        let (obj, primary) = self.means(r)?;
        Some((level(obj), primary, 1))
    }

    /// Whether what the values of a parameter did can be told as ratios of
    /// the objective (every figure seen of one sign). When it cannot, no
    /// effect is learnt or used: later passes measure whole groups and
    /// there is no refinement, which costs trials, never a choice.
    pub(super) fn effects_apply(&self) -> bool {
        self.noise.one_signed()
    }

    /// The incumbent of a group, when its order against the fastest
    /// challenger is left open by the noise (within the policy's recheck
    /// level either way): it is measured again, fresh, so that the
    /// winner's curse of its own group does not decide this one.
    pub(super) fn close_call(&self, group: &[Arc<Record>]) -> Option<Arc<Record>> {
        let policy = self.policy?;
        if self.noise.df() < policy.min_df {
            return None;
        }
        // A configuration kept out of the pool is judged by its own
        // spread: no close call to re-measure.
        let inc = group.iter().find(|r| {
            r.params == self.base
                && self.goal.qualifies(r)
                && !self.robust.is_excluded(&r.trial_key)
        })?;
        let is = self.samples(inc);
        let other = group
            .iter()
            .filter(|r| {
                !Arc::ptr_eq(r, inc)
                    && self.goal.qualifies(r)
                    && !self.robust.is_excluded(&r.trial_key)
            })
            .map(|r| self.samples(r))
            .filter(|s| s.n() > 0 && above_bar(&policy, &self.noise, s, self.threshold))
            .max_by(|a, b| a.objective_mean().total_cmp(&b.objective_mean()))?;
        let q = t_quantile(policy.recheck_level, self.noise.df());
        let spread = match self.noise.scale(&[&is, &other]) {
            Scale::Relative => q * self.noise.tps_rel_sd() * is.objective_mean(),
            Scale::Absolute => q * self.noise.tps_abs_sd(),
        };
        let half = spread * (1.0 / is.n().max(1) as f64 + 1.0 / other.n().max(1) as f64).sqrt();
        // Without noise a tie is a tie: nothing to re-measure.
        (half > TIE * is.objective_mean().abs()
            && (other.objective_mean() - is.objective_mean()).abs() <= half)
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
    pub(super) fn choose(
        &self,
        group: &[Arc<Record>],
        fresh: &[Arc<Record>],
    ) -> Option<Arc<Record>> {
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
            let (noise, guard) = self.noise_for(&[r], &guard);
            if s.n() == 0 || (!is_inc && !above_bar(&guard, &noise, &s, self.threshold)) {
                continue;
            }
            // Means that differ in the last bits (runs pooled in another
            // order) are a tie: the first in plan order keeps it.
            if best
                .as_ref()
                .is_none_or(|(_, b)| above_tie(s.objective_mean(), b.objective_mean(), TIE))
            {
                best = Some((r, s));
            }
        }
        let (best, bs) = best?;
        match incumbent {
            Some(inc) if !Arc::ptr_eq(inc, best) => {
                let (noise, policy) = self.noise_for(&[best, inc], policy);
                if beats(&policy, &noise, &bs, &est(inc)) {
                    Some(best.clone())
                } else {
                    Some(inc.clone())
                }
            }
            _ => Some(best.clone()),
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
