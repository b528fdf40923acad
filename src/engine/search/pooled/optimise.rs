//! The exact optimiser over the model: the configuration with the highest
//! predicted objective whose predicted accuracy clears the bar, among those
//! that may be started.
//!
//! Both predictions are sums of one coefficient per parameter plus the
//! pair's cell, so the problem is a two-criteria knapsack. The start-up
//! parameters and the pair's (the "core": what failures and the pair tie
//! together, 960 combinations in the built-in space) are enumerated; the
//! other parameters, each independent of the rest, are reduced by a dynamic
//! programme to the Pareto front of (objective, accuracy) sums, which stays
//! small. For each allowed core combination the best front point that
//! lifts its accuracy over the bar is found by binary search. Exact, and a
//! few milliseconds at most.

use super::coding::{Coding, Levels};

/// Core combinations enumerated at most; beyond, start-up parameters move
/// to the dynamic programme and feasibility is checked on the result.
const CORE_CAP: usize = 20_000;

/// One point of a Pareto front: objective, accuracy, the levels chosen.
#[derive(Debug, Clone)]
struct Point {
    f: f64,
    g: f64,
    levels: Vec<u16>,
}

/// The optimum found: its levels and predicted objective and accuracy.
#[derive(Debug, Clone)]
pub struct Best {
    /// The configuration.
    pub levels: Levels,
    /// Its predicted (transformed) objective.
    pub f: f64,
    /// Its predicted accuracy.
    pub g: f64,
}

/// The core parameters (enumerated) and the rest (dynamic programme).
fn split(coding: &Coding) -> (Vec<usize>, Vec<usize>) {
    let mut core: Vec<usize> = (0..coding.len())
        .filter(|&j| coding.startup[j] || coding.in_pair(j))
        .collect();
    let size = |c: &[usize]| {
        c.iter()
            .map(|&j| coding.levels[j].len())
            .fold(1usize, |a, b| a.saturating_mul(b))
    };
    while size(&core) > CORE_CAP {
        // Drop the start-up parameter with the most levels that is not in
        // the pair.
        let Some(pos) = core
            .iter()
            .enumerate()
            .filter(|(_, j)| !coding.in_pair(**j))
            .max_by_key(|(_, j)| coding.levels[**j].len())
            .map(|(i, _)| i)
        else {
            break;
        };
        core.remove(pos);
    }
    let rest = (0..coding.len()).filter(|j| !core.contains(j)).collect();
    (core, rest)
}

/// The Pareto front of the sums over `rest`, by accuracy descending (so
/// objective ascending).
fn front(coding: &Coding, rest: &[usize], t: &[f64], a: &[f64]) -> Vec<Point> {
    let mut pts = vec![Point {
        f: 0.0,
        g: 0.0,
        levels: Vec::new(),
    }];
    for &j in rest {
        let mut next = Vec::with_capacity(pts.len() * coding.levels[j].len());
        for p in &pts {
            for l in 0..coding.levels[j].len() as u16 {
                let k = coding.feature(j, l);
                let mut levels = p.levels.clone();
                levels.push(l);
                next.push(Point {
                    f: p.f + t[k],
                    g: p.g + a[k],
                    levels,
                });
            }
        }
        next.sort_by(|x, y| y.g.total_cmp(&x.g).then(y.f.total_cmp(&x.f)));
        let mut kept: Vec<Point> = Vec::with_capacity(next.len());
        for p in next {
            if kept.last().is_none_or(|q| p.f > q.f) {
                kept.push(p);
            }
        }
        pts = kept;
    }
    pts
}

/// The best configuration under coefficients `t` (objective) and `a`
/// (accuracy) with predicted accuracy at least `bar`, among those
/// `allowed` (asked of full configurations); `None` if there is none.
pub fn optimise(
    coding: &Coding,
    t: &[f64],
    a: &[f64],
    bar: f64,
    allowed: &dyn Fn(&[u16]) -> bool,
) -> Option<Best> {
    let (core, rest) = split(coding);
    let pts = front(coding, &rest, t, a);
    let mut levels = coding.base_levels();
    let mut best: Option<Best> = None;
    let mut idx = vec![0u16; core.len()];
    loop {
        for (i, &j) in core.iter().enumerate() {
            levels[j] = idx[i];
        }
        if let Some(b) = best_with_core(coding, &core, &rest, &pts, &levels, t, a, bar)
            && best.as_ref().is_none_or(|x| b.f > x.f)
            && allowed(&b.levels)
        {
            best = Some(b);
        }
        // The next core combination (odometer).
        let mut i = 0;
        loop {
            if i == core.len() {
                return best;
            }
            idx[i] += 1;
            if (idx[i] as usize) < coding.levels[core[i]].len() {
                break;
            }
            idx[i] = 0;
            i += 1;
        }
    }
}

/// The best completion of the core levels in `levels` by a front point.
#[allow(clippy::too_many_arguments)]
fn best_with_core(
    coding: &Coding,
    core: &[usize],
    rest: &[usize],
    pts: &[Point],
    levels: &[u16],
    t: &[f64],
    a: &[f64],
    bar: f64,
) -> Option<Best> {
    let mut f = t[0];
    let mut g = a[0];
    for &j in core {
        let k = coding.feature(j, levels[j]);
        f += t[k];
        g += a[k];
    }
    if let Some((pa, pb, _)) = coding.pair
        && let Some(k) = coding.pair_feature(levels[pa], levels[pb])
    {
        f += t[k];
        g += a[k];
    }
    let need = bar - g;
    let n = pts.partition_point(|p| p.g >= need);
    let p = pts.get(n.checked_sub(1)?)?;
    let mut out = levels.to_vec();
    for (i, &j) in rest.iter().enumerate() {
        out[j] = p.levels[i];
    }
    Some(Best {
        levels: out,
        f: f + p.f,
        g: g + p.g,
    })
}
