//! Which configuration to certify: the one whose certification is worth
//! most in expectation.
//!
//! A certification restarts a candidate for 8 fresh runs and keeps it only
//! if their mean accuracy is 2.33 standard errors over the bar (99 %
//! one-sided), so no luck of the search carries a configuration under the
//! bar to the end. A candidate predicted close to the bar is a gamble:
//! the demo's best sits 0.0015 over it, half a run's sd, and passes about
//! 1 time in 6; one predicted well over it passes almost surely but is
//! slower. So each candidate is valued at its chance to pass times its
//! predicted throughput, plus the chance to fail times what is left then:
//! the next certification if the budget holds one, else the fallback (the
//! best measured configuration that clears the bar by a wide margin).

use super::coding::{Coding, Levels};
use super::knowledge::Knowledge;
use super::model::Model;
use super::phases::{Z_CANDIDATE, Z_CERTIFY, mean_optimum};

/// Raised bars for the posterior-mean optimum, in standard errors of the
/// certification's mean: candidates from on the bar to well over it.
const STEPS: [f64; 9] = [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0];

/// The standard normal distribution function (Abramowitz and Stegun
/// 7.1.26, to 1.5e-7).
fn normal_cdf(x: f64) -> f64 {
    let t = 1.0 / (1.0 + 0.327_591_1 * x.abs() / std::f64::consts::SQRT_2);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let erf = 1.0 - poly * (-(x * x) / 2.0).exp();
    if x >= 0.0 {
        0.5 * (1.0 + erf)
    } else {
        0.5 * (1.0 - erf)
    }
}

/// A candidate: its levels, predicted throughput (tok/s) and chance to
/// pass a certification of `runs` runs.
struct Candidate {
    levels: Levels,
    value: f64,
    pass: f64,
}

/// The candidates: the posterior-mean optimum over start-up combinations
/// that served, at raised bars, and every measured configuration whose
/// accuracy clears the bar by [`Z_CANDIDATE`] posterior sds; none refused.
fn candidates(
    coding: &Coding,
    know: &Knowledge,
    model: &Model,
    bar: f64,
    runs: u32,
    refused: &[Levels],
) -> Vec<Candidate> {
    let served = |c: &[u16]| know.failures.combo_served(coding, c);
    let se = model.sigma_a / (runs as f64).sqrt();
    let mut pool: Vec<Levels> = Vec::new();
    for k in STEPS {
        if let Some(b) = mean_optimum(coding, model, bar + k * se, 0.0, &served) {
            pool.push(b.levels);
        }
    }
    for c in know.measured.keys() {
        let f = coding.features(c);
        if model.acc.predict(&f) - Z_CANDIDATE * model.acc.predict_sd(&f) >= bar {
            pool.push(c.clone());
        }
    }
    let mut out: Vec<Candidate> = Vec::new();
    for c in pool {
        if refused.contains(&c) || out.iter().any(|x| x.levels == c) {
            continue;
        }
        let f = coding.features(&c);
        let (a, s) = (model.acc.predict(&f), model.acc.predict_sd(&f));
        // Its accuracy taken one sd low: the candidates that look best
        // are, among many, the ones the model overrates (on the demo,
        // chances taken as predicted failed 7 times in 10).
        let pass = normal_cdf((a - s - bar - Z_CERTIFY * se) / (s * s + se * se).sqrt());
        let t = model.tps.predict(&f);
        out.push(Candidate {
            value: if know.log { t.exp() } else { t },
            levels: c,
            pass,
        });
    }
    out
}

/// The candidate worth most when failing leaves `after` (and its value).
fn best(cands: &[Candidate], after: f64) -> Option<(f64, &Candidate)> {
    cands
        .iter()
        .map(|c| (c.pass * c.value + (1.0 - c.pass) * after, c))
        .max_by(|x, y| x.0.total_cmp(&y.0))
}

/// The configuration to certify next, with `attempts` certifications the
/// budget still pays for (this one included) and `fallback` the value of
/// ending without one; `None` when nothing is worth a try.
#[allow(clippy::too_many_arguments)]
pub fn next(
    coding: &Coding,
    know: &Knowledge,
    model: &Model,
    bar: f64,
    runs: u32,
    refused: &[Levels],
    attempts: usize,
    fallback: f64,
) -> Option<Levels> {
    let cands = candidates(coding, know, model, bar, runs, refused);
    // What is left after a failed attempt: the best later attempt, valued
    // the same way (its own failure leaving the fallback).
    let mut after = fallback;
    for _ in 1..attempts {
        after = best(&cands, after).map_or(after, |(v, _)| v.max(after));
    }
    let (v, c) = best(&cands, after)?;
    (v > fallback).then(|| c.levels.clone())
}

/// The predicted throughput of `c`, in tok/s.
pub fn value(coding: &Coding, know: &Knowledge, model: &Model, c: &[u16]) -> f64 {
    let t = model.tps.predict(&coding.features(c));
    if know.log { t.exp() } else { t }
}

#[cfg(test)]
mod tests {
    use super::normal_cdf;

    #[test]
    fn the_normal_distribution_function() {
        assert!((normal_cdf(0.0) - 0.5).abs() < 1e-7);
        assert!((normal_cdf(2.33) - 0.990_097).abs() < 1e-5);
        assert!((normal_cdf(-1.0) - 0.158_655).abs() < 1e-5);
    }
}
