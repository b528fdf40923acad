//! Which records may be shown as the best: the rule the search's own
//! choice follows ([`super::planner`]'s `choose`), so that no front end
//! names as the best a configuration the search refused as a winner. The
//! live screen's best table, the "new best" notice (and so the status
//! file's `best_record` and the alerts) and `autotune best` from a results
//! file all rank through [`BestRule`].
//!
//! Under the noise-aware policy a challenger wins only when its accuracy
//! (the goal's first constraint) clears the bar beyond the pooled noise
//! ([`above_bar`]): a mean just over the bar is as likely a lucky draw of a
//! configuration under it. The search's incumbent (its base) is kept without
//! proving it again, so it stays presentable. Without a policy
//! (`--search_policy plain`) the means decide, as in `auto_tune.py`.

use std::sync::Arc;

use super::goal::Goal;
use super::noise::{NoisePolicy, PooledNoise, RobustNoise, above_bar, primary_bar, samples_of};
use super::record::Record;

/// What a record must meet to be shown as the best, as the search sees it
/// now.
#[derive(Debug, Clone, PartialEq)]
pub struct BestRule {
    /// The goal: its constraints hold on the record's means, its objective
    /// ranks.
    pub goal: Goal,
    /// The noise policy; `None` is the plain search (the means decide).
    pub policy: Option<NoisePolicy>,
    /// The run-to-run noise as the search pooled it.
    pub noise: PooledNoise,
    /// The trial key of the search's incumbent (its base), which the search
    /// keeps without proving its accuracy again.
    pub incumbent: Option<String>,
}

impl BestRule {
    /// The plain rule of `goal`: the means decide.
    pub fn plain(goal: Goal) -> Self {
        BestRule {
            goal,
            policy: None,
            noise: PooledNoise::default(),
            incumbent: None,
        }
    }

    /// The rule for records read after the run (`autotune best` from a
    /// results file): the noise pooled over every record's ok runs, as the
    /// search pools the records it meets; `incumbent` is where the search
    /// ended (its best file), if known.
    pub fn for_records<'a>(
        goal: Goal,
        policy: Option<NoisePolicy>,
        records: impl IntoIterator<Item = &'a Record>,
        incumbent: Option<String>,
    ) -> Self {
        // Robust as the search's: a configuration whose spread is far out
        // of line with the others' is kept out of the pool.
        let mut noise = PooledNoise::default();
        if let Some(p) = &policy {
            let mut robust = RobustNoise::new(p.min_df);
            for r in records {
                robust.add(&r.trial_key, &samples_of(r, &goal));
            }
            noise = *robust.pooled();
        }
        BestRule {
            goal,
            policy,
            noise,
            incumbent,
        }
    }

    /// Whether `r` meets the goal by its means (and names its trial: a
    /// keyless line matches no trial and proves nothing).
    fn qualifies(&self, r: &Record) -> bool {
        !r.trial_key.trim().is_empty() && self.goal.qualifies(r)
    }

    /// Whether `r` may be shown as the best: it meets the goal by its means
    /// and, under a noise policy, its accuracy clears the bar beyond the
    /// noise (or it is the incumbent). Under a policy a record without runs
    /// (an `auto_tune.py` line) is not (the search never takes one as a
    /// winner); without one its means decide.
    pub fn admits(&self, r: &Record) -> bool {
        if !self.qualifies(r) {
            return false;
        }
        let Some(policy) = &self.policy else {
            return true;
        };
        if self.incumbent.as_deref() == Some(r.trial_key.as_str()) {
            return true;
        }
        let s = samples_of(r, &self.goal);
        s.n() > 0 && above_bar(policy, &self.noise, &s, primary_bar(&self.goal))
    }

    /// Whether `r` meets the bar by its mean only within the noise: the
    /// search does not take it as a winner (front ends say why it is not
    /// the best).
    pub fn within_noise(&self, r: &Record) -> bool {
        self.qualifies(r) && !self.admits(r)
    }

    /// The objective's mean of `r`.
    pub fn objective(&self, r: &Record) -> Option<f64> {
        self.goal.objective_mean(r)
    }

    /// The admitted records, best on the objective first (the first of
    /// equals first, as the search's strict comparison keeps it).
    pub fn rank(&self, records: &[Arc<Record>]) -> Vec<Arc<Record>> {
        let mut out: Vec<(Arc<Record>, f64)> = records
            .iter()
            .filter(|r| self.admits(r))
            .filter_map(|r| self.objective(r).map(|v| (r.clone(), v)))
            .collect();
        out.sort_by(|(_, a), (_, b)| {
            if self.goal.better(*a, *b) {
                std::cmp::Ordering::Less
            } else if self.goal.better(*b, *a) {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        });
        out.into_iter().map(|(r, _)| r).collect()
    }

    /// The best admitted record (the first of equals).
    pub fn best<'a>(&self, records: impl IntoIterator<Item = &'a Record>) -> Option<&'a Record> {
        let mut best: Option<(&Record, f64)> = None;
        for r in records {
            if !self.admits(r) {
                continue;
            }
            let Some(v) = self.objective(r) else {
                continue;
            };
            if best.is_none_or(|(_, b)| self.goal.better(v, b)) {
                best = Some((r, v));
            }
        }
        best.map(|(r, _)| r)
    }

    /// Whether `r`, just measured, is a new best among `earlier`: admitted
    /// and better than every admitted earlier record. Returns the earlier
    /// best objective value (`None` when there was none).
    pub fn new_best<'a>(
        &self,
        earlier: impl IntoIterator<Item = &'a Record>,
        r: &Record,
    ) -> Option<Option<f64>> {
        if !self.admits(r) {
            return None;
        }
        let v = self.objective(r)?;
        let previous = self.best(earlier).and_then(|b| self.objective(b));
        previous
            .is_none_or(|p| self.goal.better(v, p))
            .then_some(previous)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::noise::Samples;
    use crate::engine::record::{EvalRun, Measured, Status, summarize};

    fn rec(key: &str, acc: &[f64], tps: f64) -> Arc<Record> {
        let runs = acc
            .iter()
            .enumerate()
            .map(|(i, a)| EvalRun {
                i: i as u32 + 1,
                ok: true,
                measured: Some(Measured {
                    accuracy: Some(*a),
                    total_tps: Some(tps),
                    ..Default::default()
                }),
                ..Default::default()
            })
            .collect();
        Arc::new(Record {
            trial_key: key.into(),
            status: Status::Ok,
            eval: Some(summarize(runs)),
            ..Default::default()
        })
    }

    /// Noise learned from 4 trials of 5 runs: accuracy sd about 0.01.
    fn informed() -> PooledNoise {
        let mut p = PooledNoise::default();
        for _ in 0..4 {
            let mut s = Samples::default();
            for (a, t) in [
                (0.90, 100.0),
                (0.91, 101.0),
                (0.89, 99.0),
                (0.92, 100.0),
                (0.88, 100.0),
            ] {
                s.push(a, t);
            }
            p.add(&s);
        }
        p
    }

    fn guarded() -> BestRule {
        BestRule {
            goal: Goal::default_for(0.88),
            policy: Some(NoisePolicy::default()),
            noise: informed(),
            incumbent: Some("start".into()),
        }
    }

    #[test]
    fn a_mean_just_over_the_bar_within_noise_is_not_the_best_under_the_guard() {
        // Mean 0.882 over 5 runs against a bar of 0.88, with an accuracy
        // spread of about 0.016 per run: within the noise.
        let lucky = rec("lucky", &[0.86, 0.90, 0.87, 0.89, 0.89], 900.0);
        let clear = rec("clear", &[0.95, 0.96, 0.94, 0.95, 0.95], 500.0);
        let rule = guarded();
        assert!(!rule.admits(&lucky));
        assert!(rule.within_noise(&lucky));
        assert!(rule.admits(&clear) && !rule.within_noise(&clear));
        let all = vec![lucky.clone(), clear.clone()];
        assert_eq!(rule.rank(&all), vec![clear.clone()]);
        assert_eq!(rule.best(all.iter().map(|r| &**r)), Some(&*clear));
        assert_eq!(rule.new_best([&*clear], &lucky), None);

        // The plain search takes the mean: the faster one is the best.
        let plain = BestRule::plain(Goal::default_for(0.88));
        assert!(plain.admits(&lucky) && !plain.within_noise(&lucky));
        assert_eq!(plain.rank(&all), vec![lucky.clone(), clear.clone()]);
        assert_eq!(plain.new_best([&*clear], &lucky), Some(Some(500.0)));

        // Before the noise is known, the mean decides under the guard too
        // (as the search's choice does).
        let early = BestRule {
            noise: PooledNoise::default(),
            ..guarded()
        };
        assert!(early.admits(&lucky));
    }

    #[test]
    fn the_incumbent_stays_presentable_and_failures_never_are() {
        let rule = guarded();
        let start = rec("start", &[0.86, 0.90, 0.87, 0.89, 0.89], 700.0);
        assert!(rule.admits(&start), "the search keeps its base");
        let under = rec("under", &[0.80, 0.81, 0.80, 0.79, 0.80], 2000.0);
        assert!(!rule.admits(&under) && !rule.within_noise(&under));
        let mut crashed = (*rec("c", &[0.95; 5], 3000.0)).clone();
        crashed.status = Status::Crashed;
        assert!(!rule.admits(&crashed));
        let keyless = rec(" ", &[0.95; 5], 3000.0);
        assert!(!rule.admits(&keyless));
        // A first admitted record is a new best with nothing before it.
        assert_eq!(rule.new_best([&*under], &start), Some(None));
    }
}
