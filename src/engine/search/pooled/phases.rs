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
/// The bound a candidate for the winner clears by the model.
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

/// The candidates for the winner, best predicted first: the
/// posterior-mean optimum among start-up combinations that served, and
/// every measured configuration, whose predicted accuracy makes passing
/// the certification at least even odds (a mean [`Z_CERTIFY`] standard
/// errors of its 8 fresh runs over the bar) and clears the bar by
/// [`Z_CANDIDATE`] posterior sds. A configuration predicted closer to the
/// bar is a lottery ticket: on the demo's landscape, whose best sits
/// 0.0015 over the bar, it passes 1 time in 6, and two failed
/// certifications leave only what clears the bar by a wide margin.
pub fn candidates(coding: &Coding, know: &Knowledge, model: &Model, bar: f64) -> Vec<Levels> {
    let served = |c: &[u16]| know.failures.combo_served(coding, c);
    let even = bar + Z_CERTIFY * model.sigma_a / (super::CERTIFY_RUNS as f64).sqrt();
    let mut out: Vec<(f64, Levels)> = Vec::new();
    if let Some(b) = mean_optimum(coding, model, even, 0.0, &served) {
        out.push((b.f, b.levels));
    }
    for c in know.measured.keys() {
        let f = coding.features(c);
        let (t, a) = (model.tps.predict(&f), model.acc.predict(&f));
        if a >= even
            && a - Z_CANDIDATE * model.acc.predict_sd(&f) >= bar
            && !out.iter().any(|(_, x)| x == c)
        {
            out.push((t, c.clone()));
        }
    }
    out.sort_by(|x, y| y.0.total_cmp(&x.0));
    out.into_iter().map(|(_, c)| c).collect()
}

/// The best measured configuration: the highest predicted objective among
/// those measured whose accuracy clears the bar by [`Z_CERTIFY`], both by
/// the model and by its own runs (the fallback when nothing is certified:
/// strict, so it may be a configuration far over the bar).
pub fn best_measured(coding: &Coding, know: &Knowledge, model: &Model, bar: f64) -> Option<Levels> {
    let mut best: Option<(f64, &Levels)> = None;
    for (c, s) in &know.measured {
        let f = coding.features(c);
        let (t, a) = (model.tps.predict(&f), model.acc.predict(&f));
        let own = s.acc_mean() - Z_CERTIFY * model.sigma_a / (s.n() as f64).sqrt();
        if a - Z_CERTIFY * model.acc.predict_sd(&f) >= bar
            && own >= bar
            && best.is_none_or(|(bt, _)| t > bt)
        {
            best = Some((t, c));
        }
    }
    best.map(|(_, c)| c.clone())
}
