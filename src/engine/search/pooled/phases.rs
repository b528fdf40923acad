//! What each phase proposes, from what it may see: the screening design,
//! a Thompson sample (top-two), the posterior-mean optimum under an
//! accuracy bound, and the candidates for the winner.

use super::coding::{Coding, Levels};
use super::knowledge::Knowledge;
use super::model::Model;
use super::optimise::{Best, optimise};
use crate::engine::simulate::Gauss;

/// The one-sided bound the winner's accuracy must clear (99 %).
pub const Z_CERTIFY: f64 = 2.33;
/// The bound a measured candidate for the winner clears by the model.
pub const Z_CANDIDATE: f64 = 1.0;
/// The looser bound of the confirmation trials.
pub const Z_CONFIRM: f64 = 1.0;
/// Redraws for a second, different Thompson sample at most.
const TOP_TWO_TRIES: usize = 10;

/// The screening design: each trial sets every per-request parameter to
/// its least-used level (ties broken by `rng`) and brings in one start-up
/// level never tried, in the base's start-up context (so that a failure
/// blames that level alone). `n` trials at most.
pub fn screening(coding: &Coding, rng: &mut fastrand::Rng, n: usize) -> Vec<Levels> {
    let new_startup: Vec<(usize, u16)> = (0..coding.len())
        .filter(|&j| coding.startup[j])
        .flat_map(|j| (1..coding.levels[j].len() as u16).map(move |l| (j, l)))
        .collect();
    let widest = (0..coding.len())
        .filter(|&j| !coding.startup[j])
        .map(|j| coding.levels[j].len().saturating_sub(1))
        .max()
        .unwrap_or(0);
    let count = new_startup.len().max(widest).min(n);
    // The defaults' trial used level 0 of everything.
    let mut used: Vec<Vec<usize>> = coding
        .levels
        .iter()
        .map(|ls| {
            let mut u = vec![0; ls.len()];
            u[0] = 1;
            u
        })
        .collect();
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        let mut c = coding.base_levels();
        if let Some((j, l)) = new_startup.get(i) {
            c[*j] = *l;
        }
        for j in (0..coding.len()).filter(|&j| !coding.startup[j]) {
            let least = *used[j].iter().min().expect("a level");
            let ties: Vec<usize> = (0..used[j].len())
                .filter(|&l| used[j][l] == least)
                .collect();
            c[j] = ties[rng.usize(..ties.len())] as u16;
        }
        for (j, l) in c.iter().enumerate() {
            used[j][*l as usize] += 1;
        }
        out.push(c);
    }
    out
}

/// A Thompson sample: the optimum of one draw of both models; half the
/// time (top-two) the optimum of a later draw that differs from it.
pub fn thompson(
    coding: &Coding,
    know: &Knowledge,
    model: &Model,
    bar: f64,
    rng: &mut Gauss,
) -> Option<Levels> {
    let allowed = |c: &[u16]| know.failures.allowed(coding, c);
    let one = |rng: &mut Gauss| -> Option<Levels> {
        let t = model.tps.draw(rng);
        let a = model.acc.draw(rng);
        match optimise(coding, &t, &a, bar, &allowed) {
            Some(b) => Some(b.levels),
            // Nothing clears the bar in this draw: the most accurate.
            None => optimise(coding, &a, &a, f64::MIN, &allowed).map(|b| b.levels),
        }
    };
    let first = one(rng)?;
    if rng.0.bool() {
        for _ in 0..TOP_TWO_TRIES {
            if let Some(c) = one(rng)
                && c != first
            {
                return Some(c);
            }
        }
    }
    Some(first)
}

/// The posterior-mean optimum whose accuracy clears the bar by `z`
/// posterior sds, among configurations `allowed` (the bar is raised until
/// the optimum's bound clears it).
pub fn mean_optimum(
    coding: &Coding,
    model: &Model,
    bar: f64,
    z: f64,
    allowed: &dyn Fn(&[u16]) -> bool,
) -> Option<Best> {
    let (t, a) = (model.tps.mean(), model.acc.mean());
    let mut raised = bar;
    for _ in 0..8 {
        let b = optimise(coding, t, a, raised, allowed)?;
        let sd = model.acc.predict_sd(&coding.features(&b.levels));
        let deficit = bar - (b.g - z * sd);
        if deficit <= 0.0 {
            return Some(b);
        }
        raised += deficit + 1e-9;
    }
    None
}

/// The best measured configuration: the highest predicted objective among
/// those measured whose accuracy clears the bar by [`Z_CERTIFY`], both by
/// the model and by its own runs (the fallback when nothing is certified:
/// strict, so it may be a configuration far over the bar).
pub fn best_measured(
    coding: &Coding,
    know: &Knowledge,
    model: &Model,
    bar: f64,
    refused: &[Levels],
) -> Option<Levels> {
    let mut best: Option<(f64, &Levels)> = None;
    // Measured at least as much as a certification: among some forty
    // configurations of 3 runs, one near the bar whose runs and model
    // both ran high clears two bounds at 2.33 (a seed in 50 at 0.6x).
    for (c, s) in know
        .measured
        .iter()
        .filter(|(c, s)| !refused.contains(c) && s.n() >= super::CERTIFY_RUNS as usize)
    {
        let f = coding.features(c);
        let (t, a) = (model.tps.predict(&f), model.acc.predict(&f));
        let own = s.constraint_mean() - Z_CERTIFY * model.sigma_a / (s.n() as f64).sqrt();
        if a - Z_CERTIFY * model.acc.predict_sd(&f) >= bar
            && own >= bar
            && best.is_none_or(|(bt, _)| t > bt)
        {
            best = Some((t, c));
        }
    }
    best.map(|(_, c)| c.clone())
}
