//! One rule for the winner: the search's own choice. The engine publishes
//! it as it goes; a reader of a finished (or interrupted) results file gets
//! it by replaying the search from the file's records through the same
//! planner, with the setup the run recorded in its status file
//! ([`SearchSetup`], `search_setup` in `tune_status.json`). `autotune best`,
//! the report, browse and a resumed run's start line all name this one
//! configuration; none of them re-ranks records by a rule of its own.
//!
//! Only a file without a recorded setup (written by `auto_tune.py` or an
//! older autotune) falls back to ranking its records
//! ([`super::best::BestRule`]), as the plain search would.

use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::config::Config;
use super::event::Stage;
use super::explore::SearchPlan;
use super::goal::{Direction, Goal, Op};
use super::noise::{NoisePolicy, Samples, samples_of, t_quantile};
use super::record::Record;
use super::search::coordinate::{PlanConfig, Planner, Step, TrialSpec};
use super::search::pooled::Pooled;
use super::search::{Params, SearchSpace, Searcher, SearcherKind, trial_key};
use super::stats::mean_sd;

/// What a search needs to be replayed from its records: the space, the
/// start, the policy and the goal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchSetup {
    /// The search space, in exploration order.
    pub space: SearchSpace,
    /// The starting configuration.
    pub base: Params,
    /// Eval runs per trial.
    pub eval_runs: u32,
    /// The noise policy (`None`: `--search_policy plain`).
    pub policy: Option<NoisePolicy>,
    /// Passes, budget, refinement.
    pub search: SearchPlan,
    /// What the search optimises and must meet.
    pub goal: Goal,
    /// Which searcher (absent in older status files: coordinate ascent).
    #[serde(default)]
    pub searcher: SearcherKind,
}

impl SearchSetup {
    /// The setup of a run.
    pub fn of(cfg: &Config) -> Self {
        SearchSetup {
            space: cfg.space.clone(),
            base: cfg.base.clone(),
            eval_runs: cfg.eval_runs,
            policy: cfg.search_policy,
            search: cfg.search,
            goal: cfg.goal.clone(),
            searcher: cfg.searcher,
        }
    }

    /// The searcher of this setup, knowing `records` (reusing every done
    /// one with `skip_existing`, as a replay and a resumed run do).
    pub fn searcher(
        &self,
        records: impl IntoIterator<Item = Arc<Record>>,
        skip_existing: bool,
    ) -> Box<dyn Searcher> {
        if let SearcherKind::Pooled(setup) = self.searcher {
            return Box::new(Pooled::new(
                &self.space,
                &self.base,
                self.goal.clone(),
                skip_existing,
                setup,
                records,
            ));
        }
        Box::new(Planner::new(
            PlanConfig {
                space: self.space.clone(),
                base: self.base.clone(),
                goal: self.goal.clone(),
                skip_existing,
                eval_runs: self.eval_runs,
                policy: self.policy,
                search: self.search,
            },
            records,
        ))
    }
}

/// The search's choice and the evidence for it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Choice {
    /// The chosen configuration.
    pub params: Params,
    /// Its trial key.
    pub key: String,
    /// The running index of its latest record, if it has one.
    pub index: Option<u32>,
    /// The objective's mean over every ok run of the configuration.
    pub objective: Option<f64>,
    /// Half-width of the objective mean's 95 % interval (`None` under 2 runs).
    pub objective_pm: Option<f64>,
    /// The accuracy's (the first constraint's) mean over the same runs.
    pub accuracy: Option<f64>,
    /// Ok runs pooled.
    pub runs: usize,
    /// Records of the configuration pooled.
    pub records: usize,
    /// Whether the choice moved from the start (a record of it beat the
    /// start under the search's rule).
    pub changed: bool,
    /// Whether it may be called the best: measured, and either taken by
    /// the search over the start or the start meeting the goal by its
    /// latest record (a start under the bar that nothing beat is no
    /// winner).
    pub stands: bool,
    /// Whether the whole search was replayed (`false`: the file stops
    /// where the search would measure something it does not hold).
    pub complete: bool,
}

impl Choice {
    /// The choice `params`, with the evidence of `records` (every record
    /// known; those of its key are pooled).
    pub fn of(params: Params, start: &Params, goal: &Goal, records: &[Arc<Record>]) -> Self {
        let key = trial_key(&params);
        let mut pooled = Samples::default();
        let mut index = None;
        let mut n = 0;
        let mut latest_qualifies = false;
        for r in records.iter().filter(|r| r.trial_key == key) {
            pooled.extend(&samples_of(r, goal));
            index = r.index().or(index);
            latest_qualifies = goal.qualifies(r);
            n += 1;
        }
        let runs = pooled.n();
        // The samples hold "higher is better" figures: undo the flips.
        let flip = |v: f64, max: bool| if max { v } else { -v };
        let obj_max = goal.objective.dir == Direction::Max;
        let acc_max = goal.constraints.first().is_none_or(|c| c.op == Op::Ge);
        let obj: Vec<f64> = pooled.objective.iter().map(|v| flip(*v, obj_max)).collect();
        let (objective, objective_pm) = match mean_sd(&obj) {
            Some((m, Some(sd))) if runs > 1 => (
                Some(m),
                Some(t_quantile(0.975, runs - 1) * sd / (runs as f64).sqrt()),
            ),
            Some((m, _)) => (Some(m), None),
            None => (None, None),
        };
        let changed = params != *start;
        Choice {
            stands: runs > 0 && (changed || latest_qualifies),
            changed,
            accuracy: (runs > 0).then(|| flip(pooled.constraint_mean(), acc_max)),
            params,
            key,
            index,
            objective,
            objective_pm,
            runs,
            records: n,
            complete: true,
        }
    }

    /// `5406.2 ± 31.0 tok/s over 10 runs` (the objective's name is given).
    pub fn evidence(&self, unit: &str) -> String {
        match (self.objective, self.objective_pm) {
            (Some(m), Some(pm)) => format!("{m:.1} ± {pm:.1} {unit} over {} runs", self.runs),
            (Some(m), None) => format!("{m:.1} {unit} over {} run", self.runs),
            _ => "not measured".into(),
        }
    }
}

/// One trial of a decision, as the replay met it.
#[derive(Debug, Clone)]
pub struct ReplayedTrial {
    /// What it changes from the decision's base (several parameters for
    /// a joint move, none for a refinement's base).
    pub changes: crate::engine::search::Changes,
    /// Every parameter of the trial.
    pub params: Params,
    /// A close call's re-measure of the incumbent.
    pub recheck: bool,
    /// The record that stands for it: run in this group, or reused (a
    /// configuration measured before); `None` for a trial predicted to
    /// fail (never started).
    pub record: Option<Arc<Record>>,
    /// Whether the record stands for a configuration measured earlier in
    /// the search (no trial of its own here).
    pub reused: bool,
}

/// One decision of the search: a parameter group of a pass, or a
/// refinement round of joint moves, from its start to its choice.
#[derive(Debug, Clone)]
pub struct Decision {
    /// The parameter varied (`refinement` for a round of joint moves).
    pub param: String,
    /// Where the search was: `pass 2`, `refinement 1`...
    pub stage: Stage,
    /// The incumbent when it began.
    pub before: Params,
    /// Its trials in plan order (the base's value first), then any
    /// re-measure.
    pub trials: Vec<ReplayedTrial>,
    /// The incumbent after it: the search's choice at this step (the
    /// configuration it began with while undecided).
    pub after: Params,
    /// Whether the search decided (`false`: the file stops inside it).
    pub decided: bool,
}

/// The search replayed: each decision in order, where it ended, and
/// whether it ran to its end.
#[derive(Debug, Clone)]
pub struct Replayed {
    /// Every group and round, in the order the search made them.
    pub decisions: Vec<Decision>,
    /// The configuration the search stands on.
    pub params: Params,
    /// Whether the whole search was replayed.
    pub complete: bool,
}

/// Replays the search of `setup` from `records`: every trial it would run
/// is taken from the records (a done one reused, as `--skip_existing`
/// does; another, such as a skipped trial, fed back as the run fed it),
/// until it finishes or wants a trial the records do not hold. Returns the
/// configuration it stands on then.
pub fn replay(setup: &SearchSetup, records: &[Arc<Record>]) -> (Params, bool) {
    let r = replay_decisions(setup, records);
    (r.params, r.complete)
}

/// [`replay`], telling each decision the search made on the way: what it
/// measured or reused, and what it chose.
pub fn replay_decisions(setup: &SearchSetup, records: &[Arc<Record>]) -> Replayed {
    // The plain search measures its base again in every group: each of
    // its trials is fed the next record of its key in file order (the
    // last done one of the key would give an earlier group a later
    // group's figures, and a replay that parts from the run's choices).
    let in_order = setup.policy.is_none() && setup.searcher == SearcherKind::Coordinate;
    let mut planner = setup.searcher(records.iter().cloned(), !in_order);
    // Records not reused as done, in file order, by key: fed to the trial
    // the search starts for that key, as the run that wrote them did.
    let mut pending: Vec<&Arc<Record>> = records
        .iter()
        .filter(|r| (in_order || !r.status.is_done()) && !r.trial_key.is_empty())
        .collect();
    // A trial of a plain run whose key has no record left: the run was
    // resumed with --skip_existing and reused the key's latest done one.
    let reused_done = |key: &str| {
        records
            .iter()
            .rev()
            .find(|r| r.trial_key == key && r.status.is_done())
            .cloned()
    };
    let mut decisions: Vec<Decision> = Vec::new();
    // The group or round under way.
    let mut open: Option<Decision> = None;
    let mut waiting = 0usize;
    // Keys the search has met: under a noise policy, and after the first
    // pass, it reuses a configuration measured earlier instead of running
    // it again (the plain first pass runs the base again in every group).
    let mut met = std::collections::HashSet::new();
    let mut trial = |spec: &TrialSpec, stage: Stage, record: Option<Arc<Record>>| {
        let again = !met.insert(spec.key.clone());
        ReplayedTrial {
            changes: spec.changes.clone(),
            params: spec.params.clone(),
            recheck: spec.recheck,
            reused: again && !spec.recheck && (setup.policy.is_some() || stage != Stage::Pass(1)),
            record,
        }
    };
    let end = |planner: &dyn Searcher,
               mut decisions: Vec<Decision>,
               open: Option<Decision>,
               complete: bool| {
        if let Some(d) = open {
            decisions.push(d);
        }
        Replayed {
            decisions,
            params: planner.choice().clone(),
            complete,
        }
    };
    // Bounded: each step of a real search either spends a trial or moves
    // the plan on; a replay never runs longer than the plan allows.
    for _ in 0..1_000_000 {
        match planner.step() {
            Step::Group { param, stage, .. } => {
                if let Some(d) = open.take() {
                    decisions.push(d);
                }
                let before = planner.choice().clone();
                open = Some(Decision {
                    param,
                    stage,
                    after: before.clone(),
                    before,
                    trials: Vec::new(),
                    decided: false,
                });
            }
            Step::Decided { base, .. } => {
                if let Some(mut d) = open.take() {
                    d.after = base;
                    d.decided = true;
                    decisions.push(d);
                }
            }
            Step::Predicted { spec, .. } => {
                if let Some(d) = &mut open {
                    d.trials.push(trial(&spec, d.stage, None));
                }
            }
            Step::Reuse { spec, record } => {
                if let Some(d) = &mut open {
                    d.trials.push(trial(&spec, d.stage, Some(record)));
                }
            }
            Step::Run(spec) => {
                let rec = match pending.iter().position(|r| r.trial_key == spec.key) {
                    Some(pos) => pending.remove(pos).clone(),
                    None => match reused_done(&spec.key).filter(|_| in_order) {
                        Some(r) => r,
                        None => return end(planner.as_ref(), decisions, open, false),
                    },
                };
                if let Some(d) = &mut open {
                    d.trials.push(trial(&spec, d.stage, Some(rec.clone())));
                }
                planner.record(spec.ordinal, rec);
                waiting += 1;
            }
            Step::Wait => {
                if waiting == 0 {
                    return end(planner.as_ref(), decisions, open, false);
                }
                waiting = 0;
            }
            Step::Finished => return end(planner.as_ref(), decisions, open, true),
        }
    }
    end(planner.as_ref(), decisions, open, false)
}

/// The choice of a results file: replayed when its run's setup is known
/// and judged by the same goal; else `None` (the caller ranks records).
pub fn of_records(
    setup: Option<&SearchSetup>,
    goal: &Goal,
    records: &[Arc<Record>],
) -> Option<Choice> {
    let setup = setup.filter(|s| &s.goal == goal)?;
    let (params, complete) = replay(setup, records);
    let mut c = Choice::of(params, &setup.base, goal, records);
    c.complete = complete;
    Some(c)
}

/// The setup the run that wrote `results` recorded (`search_setup` in the
/// `tune_status.json` beside it), if any.
pub fn recorded_setup(results: &Path) -> Option<SearchSetup> {
    let dir = results
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let text = std::fs::read_to_string(dir.join("tune_status.json")).ok()?;
    let doc: serde_json::Value = serde_json::from_str(&text).ok()?;
    serde_json::from_value(doc.get("search_setup")?.clone()).ok()
}

/// The choice of the search that wrote `records` (read from `results`),
/// judged by `goal`: replayed when the run recorded its setup for the same
/// goal, else `None`.
pub fn of_file(results: &Path, goal: &Goal, records: &[Arc<Record>]) -> Option<Choice> {
    of_records(recorded_setup(results).as_ref(), goal, records)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Status files written before the goal replaced the threshold carry
    /// `threshold` beside the goal: they still give their setup (the goal
    /// holds the bar), so their choice still replays.
    #[test]
    fn a_setup_recorded_with_a_threshold_beside_the_goal_still_reads() {
        let setup = SearchSetup {
            space: crate::engine::search::SearchSpace::builtin(),
            base: crate::engine::search::default_params(),
            eval_runs: 5,
            policy: None,
            search: crate::engine::explore::SearchPlan::ONE_PASS,
            goal: Goal::default_for(0.88),
            searcher: Default::default(),
        };
        let mut old = serde_json::to_value(&setup).unwrap();
        old["threshold"] = serde_json::json!(0.88);
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join("tune_status.json"),
            serde_json::json!({ "search_setup": old }).to_string(),
        )
        .unwrap();
        let read = recorded_setup(&d.path().join("tune_results.jsonl"));
        assert_eq!(read, Some(setup));
    }
}
