//! The search path the report draws: its steps (a group's decision, a
//! refinement round), each with the base before and after and the value
//! chosen, from the search's own decisions replayed with the setup the run
//! recorded, or (a file without its setup) from the groups and the best
//! file.

use std::collections::HashMap;
use std::sync::Arc;

use autotune::choice::Decision;
use autotune::{Changes, Params, Record, trial_key};

use super::model::{Config, Criteria, axis_order};

/// How a group's chosen value is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chosen {
    /// The search's own decision, replayed from the records with the
    /// setup the run recorded ([`autotune::choice::replay_decisions`]).
    Replayed,
    /// The next group's trials carry it (what the search did).
    NextGroup,
    /// `best_params.json` beside the results file carries it.
    BestFile,
    /// Worked out from the figures (the file's last group, no best file).
    Figures,
}

/// Where a step belongs in the search.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// A parameter group of pass `k` (1-based).
    Pass(usize),
    /// Refinement round `r` (1-based): joint moves around the incumbent.
    Round(usize),
    /// A parameter group whose pass is not known (a file read without the
    /// run's setup).
    Group,
}

/// One joint move of a refinement round.
#[derive(Debug, Clone)]
pub struct Move {
    /// Every parameter it changes, with its value.
    pub changes: Vec<(String, String)>,
    /// The whole configuration.
    pub params: Params,
    /// Its configuration (index into [`Report::configs`]), if recorded.
    pub config: Option<usize>,
}

impl Move {
    /// `MAX_NUM_SEQS=1536, MAX_MODEL_LEN=2048`.
    pub fn text(&self) -> String {
        self.changes
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// One step of the search: a parameter group, or a refinement round of
/// joint moves.
#[derive(Debug, Clone)]
pub struct Step {
    /// The parameter varied (`refinement` for a round).
    pub param: String,
    /// The pass or round it belongs to.
    pub stage: Stage,
    /// A round's joint moves, in plan order (empty for a group). Its
    /// [`Step::values`] are `base` then `#1`, `#2`... for them, and its
    /// chosen value is one of these labels.
    pub moves: Vec<Move>,
    /// The base when the group began.
    pub base_before: Params,
    /// The base's value of the parameter, if it had one.
    pub base_value: Option<String>,
    /// The value the group chose.
    pub chosen: Option<String>,
    /// How the choice is known.
    pub how: Chosen,
    /// The values of the group (the base's and every one tried), in axis
    /// order, each with its configuration (index into [`Report::configs`])
    /// if anything of it was recorded.
    pub values: Vec<(String, Option<usize>)>,
    /// Records of the group's own trials.
    pub trials: usize,
    /// The base after the group: the search's choice at this step.
    pub base_after: Params,
}

impl Step {
    /// Whether this is a refinement round.
    pub fn is_round(&self) -> bool {
        matches!(self.stage, Stage::Round(_))
    }

    /// The round's move chosen, if the search took one.
    pub fn chosen_move(&self) -> Option<&Move> {
        let c = self.chosen.as_deref()?.strip_prefix('#')?;
        self.moves.get(c.parse::<usize>().ok()?.checked_sub(1)?)
    }

    /// What a row or a tooltip names it by: the parameter, or
    /// `refinement 2`.
    pub fn name(&self) -> String {
        match self.stage {
            Stage::Round(r) => format!("refinement {r}"),
            _ => self.param.clone(),
        }
    }

    /// What the step chose, in words: `64 → 48`, `kept 64`, for a round
    /// `kept the base` or the move's changes.
    pub fn choice_text(&self) -> String {
        if self.is_round() {
            return match (&self.chosen, self.chosen_move()) {
                (_, Some(m)) => m.text(),
                (Some(_), None) => "kept the base".into(),
                (None, _) => "no choice".into(),
            };
        }
        match (&self.base_value, &self.chosen) {
            (Some(b), Some(c)) if b == c => format!("kept {c}"),
            (b, Some(c)) => format!("{} → {c}", b.as_deref().unwrap_or("unset")),
            _ => "no choice".into(),
        }
    }
}

fn with(base: &Params, k: &str, v: &str) -> Params {
    let mut p = base.clone();
    p.insert(k.to_string(), v.to_string());
    p
}

/// The label of a refinement round's segment (its records vary `A+B`,
/// or re-measure its `base`).
const ROUND: &str = "refinement";

/// Whether a record is one of a refinement round's: a joint move (`A+B`)
/// or a re-measure of the round's base.
fn of_round(param: &str) -> bool {
    param.contains('+') || param == "base"
}

/// The parameters a record changes from its base: its parameter under test,
/// each of a joint move's; none for a round's base.
fn changed_keys(r: &Record) -> Vec<&str> {
    match r.param_under_test.as_deref() {
        None | Some("base") | Some("") => Vec::new(),
        Some(p) => p.split('+').collect(),
    }
}

/// Groups: runs of consecutive records varying the same parameter (a
/// parameter varied again later, as by a second run, is a new group),
/// each in the order its trials were issued; consecutive joint moves are
/// one refinement round.
pub(super) fn segments_of(records: &[Arc<Record>]) -> Vec<(String, Vec<Arc<Record>>)> {
    let mut segments: Vec<(String, Vec<Arc<Record>>)> = Vec::new();
    for r in records {
        let Some(p) = r.param_under_test.as_deref().filter(|p| !p.is_empty()) else {
            continue;
        };
        if r.params.is_empty() {
            continue;
        }
        let p = if of_round(p) { ROUND } else { p };
        match segments.last_mut() {
            Some((q, v)) if q == p => v.push(r.clone()),
            _ => segments.push((p.to_string(), vec![r.clone()])),
        }
    }
    for (_, v) in &mut segments {
        // Trials are numbered as issued; with several slots they may be
        // recorded out of order. The base's value is issued first.
        v.sort_by_key(|r| r.index().unwrap_or(u32::MAX));
    }
    segments
}

/// The value of `param` in the base a segment started from, when the
/// segment shows it: a group of another parameter carries it in its first
/// record; a round in any record that does not change it.
fn base_value_in(seg: &(String, Vec<Arc<Record>>), param: &str) -> Option<String> {
    if seg.0 == param {
        return None;
    }
    seg.1
        .iter()
        .find(|r| !changed_keys(r).contains(&param))
        .and_then(|r| r.params.get(param).cloned())
}

/// A round's joint moves, in plan order, each with its configuration.
fn moves_of<'a>(
    trials: impl Iterator<Item = (Changes, &'a Params)>,
    by_key: &HashMap<String, usize>,
) -> Vec<Move> {
    let mut moves: Vec<Move> = Vec::new();
    for (changes, params) in trials {
        if changes.pairs().len() < 2 || moves.iter().any(|m| m.params == *params) {
            continue;
        }
        moves.push(Move {
            changes: changes.pairs().to_vec(),
            params: params.clone(),
            config: by_key.get(&trial_key(params)).copied(),
        });
    }
    moves
}

/// A round's values for its charts: `base`, then `#1`, `#2`... for its
/// moves, each with its configuration.
fn round_values(
    base: &Params,
    moves: &[Move],
    by_key: &HashMap<String, usize>,
) -> Vec<(String, Option<usize>)> {
    std::iter::once(("base".to_string(), by_key.get(&trial_key(base)).copied()))
        .chain(
            moves
                .iter()
                .enumerate()
                .map(|(i, m)| (format!("#{}", i + 1), m.config)),
        )
        .collect()
}

/// The label of the candidate of a round that is `params`: `base` or
/// `#k`.
fn round_label(base: &Params, moves: &[Move], params: &Params) -> Option<String> {
    if params == base {
        return Some("base".into());
    }
    moves
        .iter()
        .position(|m| m.params == *params)
        .map(|i| format!("#{}", i + 1))
}

/// The steps of the search as it made them: each decision replayed from
/// the records ([`autotune::choice::replay_decisions`]), with what it
/// chose. A round's moves are named; a group's values are its trials'.
pub(super) fn steps_of_replay(
    decisions: &[Decision],
    by_key: &HashMap<String, usize>,
) -> Vec<Step> {
    let mut steps = Vec::new();
    for d in decisions {
        let run_here = d
            .trials
            .iter()
            .filter(|t| !t.reused && t.record.is_some())
            .count();
        let after = if d.decided {
            d.after.clone()
        } else {
            d.before.clone()
        };
        if let autotune::Stage::Refinement(r) = d.stage {
            let moves = moves_of(
                d.trials
                    .iter()
                    .filter(|t| !t.recheck)
                    .map(|t| (t.changes.clone(), &t.params)),
                by_key,
            );
            let chosen = d
                .decided
                .then(|| round_label(&d.before, &moves, &d.after))
                .flatten();
            steps.push(Step {
                param: ROUND.into(),
                stage: Stage::Round(r),
                values: round_values(&d.before, &moves, by_key),
                moves,
                base_before: d.before.clone(),
                base_value: Some("base".into()),
                chosen,
                how: Chosen::Replayed,
                trials: run_here,
                base_after: after,
            });
            continue;
        }
        let param = &d.param;
        let base_value = d.before.get(param).cloned();
        let mut tried: Vec<String> = base_value.iter().cloned().collect();
        tried.extend(
            d.trials
                .iter()
                .filter(|t| !t.recheck)
                .filter_map(|t| t.changes.single().map(|(_, v)| v.to_string())),
        );
        let chosen = if d.decided {
            after.get(param).cloned()
        } else {
            None
        };
        let values = axis_order(tried)
            .into_iter()
            .map(|v| {
                let c = by_key.get(&trial_key(&with(&d.before, param, &v))).copied();
                (v, c)
            })
            .collect();
        let stage = match d.stage {
            autotune::Stage::Pass(k) => Stage::Pass(k),
            autotune::Stage::Refinement(r) => Stage::Round(r),
        };
        steps.push(Step {
            param: param.clone(),
            stage,
            moves: Vec::new(),
            base_before: d.before.clone(),
            base_value,
            chosen,
            how: Chosen::Replayed,
            values,
            trials: run_here,
            base_after: after,
        });
    }
    steps
}

/// Where the search stood before and after each group, and what it chose
/// there (from the next group's base, the best file, or the figures): for
/// a file without its run's setup. `prev` is the base before the first
/// segment, when known.
pub(super) fn steps_of(
    segments: &[(String, Vec<Arc<Record>>)],
    configs: &[Config],
    by_key: &HashMap<String, usize>,
    best_file: Option<&Params>,
    criteria: &Criteria,
    prev: Option<Params>,
    rounds_before: usize,
) -> Vec<Step> {
    let cx = Segments {
        segments,
        configs,
        by_key,
        best_file,
        criteria,
    };
    let mut steps: Vec<Step> = Vec::new();
    let mut prev_after: Option<Params> = prev;
    let mut rounds = rounds_before;
    for (i, (param, _)) in segments.iter().enumerate() {
        let step = if param == ROUND {
            rounds += 1;
            cx.round_step(i, prev_after.as_ref(), rounds)
        } else {
            cx.group_step(i, prev_after.as_ref())
        };
        prev_after = Some(step.base_after.clone());
        steps.push(step);
    }
    steps
}

/// The segments of a file read without its setup, and what settles their
/// choices.
struct Segments<'a> {
    segments: &'a [(String, Vec<Arc<Record>>)],
    configs: &'a [Config],
    by_key: &'a HashMap<String, usize>,
    best_file: Option<&'a Params>,
    criteria: &'a Criteria,
}

impl Segments<'_> {
    /// Refinement round `round`, segment `i`, after `prev_after`.
    fn round_step(&self, i: usize, prev_after: Option<&Params>, round: usize) -> Step {
        let (_, recs) = &self.segments[i];
        let by_key = self.by_key;
        // The base of a round is known from the step before, or from its
        // records: each keeps every parameter it does not move.
        let base = prev_after.cloned().unwrap_or_else(|| {
            let mut b = recs[0].params.clone();
            for k in changed_keys(&recs[0]) {
                if let Some(v) = recs
                    .iter()
                    .find(|r| !changed_keys(r).contains(&k))
                    .and_then(|r| r.params.get(k))
                {
                    b.insert(k.to_string(), v.clone());
                }
            }
            b
        });
        let moves = moves_of(
            recs.iter()
                .filter(|r| r.param_under_test.is_some())
                .map(|r| (r.changes(), &r.params)),
            by_key,
        );
        // Chosen: the candidate the next group starts from (every
        // parameter but its own), or the best file.
        let from_next = self.segments.get(i + 1).and_then(|n| {
            let q = n.0.as_str();
            let rest = n.1[0].params.clone();
            std::iter::once(&base)
                .chain(moves.iter().map(|m| &m.params))
                .find(|c| {
                    let mut c = (*c).clone();
                    let mut r = rest.clone();
                    c.remove(q);
                    r.remove(q);
                    q != ROUND && c == r
                })
                .cloned()
        });
        let (after, how) = match (from_next, self.best_file) {
            (Some(p), _) => (Some(p), Chosen::NextGroup),
            (None, Some(b)) if round_label(&base, &moves, b).is_some() => {
                (Some(b.clone()), Chosen::BestFile)
            }
            _ => (None, Chosen::Figures),
        };
        let chosen = after.as_ref().and_then(|a| round_label(&base, &moves, a));
        let base_after = after.unwrap_or_else(|| base.clone());
        Step {
            param: ROUND.into(),
            stage: Stage::Round(round),
            values: round_values(&base, &moves, by_key),
            moves,
            base_before: base,
            base_value: Some("base".into()),
            chosen,
            how,
            trials: recs.len(),
            base_after,
        }
    }

    /// The group of segment `i`, after `prev_after`: its values, and the
    /// one chosen (the next group's base, the best file, else the figures).
    fn group_step(&self, i: usize, prev_after: Option<&Params>) -> Step {
        let seg = &self.segments[i];
        let (param, recs) = seg;
        let mut rest = seg.1[0].params.clone();
        rest.remove(&seg.0);
        let base_value = prev_after
            .and_then(|b| b.get(param).cloned())
            .or_else(|| recs[0].params.get(param).cloned());
        let mut base_before = rest.clone();
        if let Some(v) = &base_value {
            base_before.insert(param.clone(), v.clone());
        }
        let mut tried: Vec<String> = base_value.iter().cloned().collect();
        tried.extend(recs.iter().filter_map(|r| r.params.get(param).cloned()));
        let config_of = |v: &str| self.by_key.get(&trial_key(&with(&rest, param, v))).copied();
        let from_next = self
            .segments
            .get(i + 1)
            .and_then(|n| base_value_in(n, param));
        let from_best = self.best_file.and_then(|b| {
            let mut without: Params = b.clone();
            let v = without.remove(param)?;
            (without == rest).then_some(v)
        });
        let (chosen, how) = if let Some(v) = from_next {
            (Some(v), Chosen::NextGroup)
        } else if let Some(v) = from_best {
            (Some(v), Chosen::BestFile)
        } else {
            let mut best: Option<(&String, f64)> = None;
            for v in &tried {
                if let Some(c) = config_of(v).map(|j| &self.configs[j])
                    && c.feasible(self.criteria)
                    && let Some(s) = c.objective()
                    && best.is_none_or(|(_, b)| self.criteria.better(s.mean, b))
                {
                    best = Some((v, s.mean));
                }
            }
            (
                best.map(|(v, _)| v.clone()).or_else(|| base_value.clone()),
                Chosen::Figures,
            )
        };
        if let Some(c) = &chosen {
            tried.push(c.clone());
        }
        let values = axis_order(tried)
            .into_iter()
            .map(|v| {
                let c = config_of(&v);
                (v, c)
            })
            .collect();
        let mut base_after = rest.clone();
        if let Some(v) = &chosen {
            base_after.insert(param.clone(), v.clone());
        }
        Step {
            param: param.clone(),
            stage: Stage::Group,
            moves: Vec::new(),
            base_before,
            base_value,
            chosen,
            how,
            values,
            trials: recs.len(),
            base_after,
        }
    }
}
