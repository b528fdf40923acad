//! What the pooled model believes, for a reader of a results file (the
//! report): the model refitted to every record, each parameter's levels
//! against the winner's (what changing one parameter away from the winner
//! would do, with 95 % intervals), and the model's own best guess against
//! the winner. Why a configuration won, in the model's terms.

use std::sync::Arc;

use super::coding::{Coding, Levels};
use super::knowledge::Knowledge;
use super::model::Model;
use super::phases;
use crate::engine::goal::Goal;
use crate::engine::noise::primary_bar;
use crate::engine::record::Record;
use crate::engine::search::{Params, SearchSpace, same_value};

/// A prediction with its 95 % half-width.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Figure {
    /// The predicted value (a percent change for the objective, an
    /// absolute difference for the first constraint).
    pub value: f64,
    /// The 95 % half-width.
    pub half: f64,
}

/// One level of one parameter against the winner's.
#[derive(Debug, Clone, PartialEq)]
pub struct LevelEffect {
    /// The level's value.
    pub value: String,
    /// The objective's change from the winner, percent.
    pub objective: Figure,
    /// The first constraint's metric's change from the winner, absolute.
    pub constraint: Figure,
    /// Ok runs of configurations at this level.
    pub runs: usize,
}

/// A parameter: the winner's value and every other level.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamBelief {
    /// The parameter.
    pub name: String,
    /// The winner's value.
    pub winner: String,
    /// The other levels, in the space's order.
    pub levels: Vec<LevelEffect>,
}

/// What the model believes.
#[derive(Debug, Clone, PartialEq)]
pub struct Beliefs {
    /// Parameters by the size of their largest effect, largest first.
    pub params: Vec<ParamBelief>,
    /// The model's best guess (its posterior-mean optimum, the first
    /// constraint a posterior sd inside its bound) when it is not the
    /// winner: its changes from the winner and its predicted difference.
    pub guess: Option<(Vec<(String, String)>, Figure)>,
    /// Ok runs the model was fitted to.
    pub runs: usize,
    /// The winner's first constraint's metric as the model predicts it.
    pub winner_constraint: Figure,
}

impl Coding {
    /// The levels of `p`, when every parameter's value is one of its
    /// levels (numerically equal decimals are one).
    pub fn encode(&self, p: &Params) -> Option<Levels> {
        self.names
            .iter()
            .zip(&self.levels)
            .map(|(n, ls)| {
                let v = p.get(n)?;
                let i = ls
                    .iter()
                    .position(|l| l == v)
                    .or_else(|| ls.iter().position(|l| same_value(l, v)))?;
                u16::try_from(i).ok()
            })
            .collect()
    }
}

/// What the model fitted to `records` (a run of `space` from `base` for
/// `goal`) believes around `winner`; `None` when the winner is not a
/// configuration of the space or nothing served.
pub fn beliefs(
    space: &SearchSpace,
    base: &Params,
    goal: &Goal,
    records: &[Arc<Record>],
    winner: &Params,
) -> Option<Beliefs> {
    let coding = Coding::new(space, base);
    let chosen = coding.encode(winner)?;
    let encoded: Vec<(Levels, Arc<Record>)> = records
        .iter()
        .filter_map(|r| Some((coding.encode(&r.params)?, r.clone())))
        .collect();
    let know = Knowledge::of(&coding, goal, encoded.iter().map(|(l, r)| (l, r)));
    of_knowledge(&coding, goal, &know, &chosen)
}

/// What the model fitted to `know` believes around `chosen` (the pooled
/// search's own view while it runs).
pub(super) fn of_knowledge(
    coding: &Coding,
    goal: &Goal,
    know: &Knowledge,
    chosen: &Levels,
) -> Option<Beliefs> {
    let runs: usize = know.measured.values().map(|s| s.n()).sum();
    if runs == 0 {
        return None;
    }
    let model = know.model(coding);
    let fc = coding.features(chosen);
    let mut params: Vec<(f64, ParamBelief)> = Vec::new();
    for j in 0..coding.len() {
        let mut levels = Vec::new();
        let mut largest: f64 = 0.0;
        for l in 0..coding.levels[j].len() as u16 {
            if l == chosen[j] {
                continue;
            }
            let mut c = chosen.clone();
            c[j] = l;
            let f = coding.features(&c);
            let objective = change(know, &model, &fc, &f);
            let constraint = Figure {
                value: model.acc.predict(&f) - model.acc.predict(&fc),
                half: 1.96 * model.acc.diff_sd(&f, &fc),
            };
            let n = know
                .measured
                .iter()
                .filter(|(k, _)| k[j] == l)
                .map(|(_, s)| s.n())
                .sum();
            largest = largest.max(objective.value.abs());
            levels.push(LevelEffect {
                value: coding.levels[j][l as usize].clone(),
                objective,
                constraint,
                runs: n,
            });
        }
        params.push((
            largest,
            ParamBelief {
                name: coding.names[j].clone(),
                winner: coding.levels[j][chosen[j] as usize].clone(),
                levels,
            },
        ));
    }
    params.sort_by(|a, b| b.0.total_cmp(&a.0));
    Some(Beliefs {
        params: params.into_iter().map(|(_, p)| p).collect(),
        guess: guess(coding, know, &model, primary_bar(goal), chosen),
        runs,
        winner_constraint: Figure {
            value: model.acc.predict(&fc),
            half: 1.96 * model.acc.predict_sd(&fc),
        },
    })
}

/// The objective's predicted change from the configuration of features
/// `from` to that of `to`, percent, with its 95 % half-width: on the log
/// scale a difference is a ratio; else relative to `from`'s prediction.
fn change(know: &Knowledge, model: &Model, from: &[usize], to: &[usize]) -> Figure {
    let d = model.tps.predict(to) - model.tps.predict(from);
    let sd = model.tps.diff_sd(to, from);
    if know.log {
        Figure {
            value: d.exp_m1() * 100.0,
            half: 1.96 * sd * d.exp() * 100.0,
        }
    } else {
        let at = model.tps.predict(from).abs().max(1e-12);
        Figure {
            value: d / at * 100.0,
            half: 1.96 * sd / at * 100.0,
        }
    }
}

/// The model's best guess when it is not `chosen`: its posterior-mean
/// optimum with the first constraint a posterior sd inside `bar` (among
/// what may start), its changes from `chosen` and its predicted change.
pub(super) fn guess(
    coding: &Coding,
    know: &Knowledge,
    model: &Model,
    bar: f64,
    chosen: &Levels,
) -> Option<(Vec<(String, String)>, Figure)> {
    let allowed = |c: &[u16]| know.failures.allowed(coding, c);
    let b = phases::mean_optimum(coding, model, bar, phases::Z_CONFIRM, &allowed)
        .filter(|b| b.levels != *chosen)?;
    let winner = coding.decode(chosen);
    let changes = coding
        .decode(&b.levels)
        .into_iter()
        .filter(|(k, v)| winner.get(k) != Some(v))
        .collect();
    let figure = change(
        know,
        model,
        &coding.features(chosen),
        &coding.features(&b.levels),
    );
    Some((changes, figure))
}
