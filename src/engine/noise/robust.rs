//! The pooled noise, robust to one configuration whose spread is far out of
//! line with the others': the F-test that keeps it out of the pool.

use super::*;

/// The whole run's chance of wrongly keeping one ordinary configuration
/// out of the pool (split among the configurations, Bonferroni's way).
pub const OUTLIER_ALPHA: f64 = 0.001;

/// The reference variances are taken as at least these (a spread of 0.001
/// in accuracy, 0.1 % in throughput): an eval that gives the same figures
/// run after run (greedy decoding) is no pool for a configuration whose
/// figures move in the last digits to be out of line with.
const ACC_VAR_FLOOR: f64 = 1e-6;
const REL_VAR_FLOOR: f64 = 1e-6;

/// The pooled noise, robust to a configuration whose spread is far out of
/// line with the others' (an eval whose accuracy alternates 0.30 / 0.90):
/// pooled, its runs would make every other decision "within the noise".
///
/// Each record's runs are kept as a part of the pool, by configuration.
/// Once the pool is informed (`min_df` degrees of freedom), a
/// configuration is kept out when its variance (of accuracy, or of the
/// objective) is beyond the F-test's bound against the pool of the less
/// variable configurations, at [`OUTLIER_ALPHA`] split among the
/// configurations, and its spread alone outweighs theirs (see `settle`;
/// never half of them or more). Without such a configuration the pool is
/// exactly [`PooledNoise`]'s, summed in the same order.
#[derive(Debug, Clone, Default)]
pub struct RobustNoise {
    /// Each record's part, in the order added, with its configuration.
    parts: Vec<(String, PooledNoise)>,
    /// Each configuration's parts together, in the order first met (and
    /// where each is in it).
    by_key: Vec<(String, PooledNoise)>,
    at: std::collections::HashMap<String, usize>,
    /// The configurations with degrees of freedom, by variance (smallest
    /// first, then first met) of accuracy, of the objective relative, and
    /// absolute: kept sorted as parts come.
    orders: [Vec<(f64, usize)>; 3],
    /// Every part summed, in the order added (the pool when nobody is
    /// kept out).
    total: PooledNoise,
    /// Configurations kept out of the pool.
    excluded: Vec<String>,
    /// Configurations ever kept out (each is said once).
    announced: Vec<String>,
    /// The pool of the others.
    pool: PooledNoise,
    min_df: usize,
}

/// A configuration's sum of squares of one metric (0: accuracy, 1: the
/// objective relative, 2: absolute).
fn ss_of(p: &PooledNoise, metric: usize) -> f64 {
    match metric {
        0 => p.ss_acc,
        1 => p.ss_tps_rel,
        _ => p.ss_tps_abs,
    }
}

impl RobustNoise {
    /// An empty pool that judges spreads once it is informed (`min_df`
    /// degrees of freedom).
    pub fn new(min_df: usize) -> RobustNoise {
        RobustNoise {
            min_df: min_df.max(1),
            ..Default::default()
        }
    }

    /// Adds a record's runs of configuration `key`. Returns the
    /// configurations newly kept out of the pool.
    pub fn add(&mut self, key: &str, s: &Samples) -> Vec<String> {
        let part = PooledNoise::of_samples(s);
        self.total.absorb(&part);
        self.parts.push((key.to_string(), part));
        if part == PooledNoise::default() {
            // No runs, no sign: nothing to judge anew.
            return Vec::new();
        }
        if !key.is_empty() {
            let i = match self.at.get(key) {
                Some(&i) => i,
                None => {
                    self.by_key.push((key.to_string(), PooledNoise::default()));
                    self.at.insert(key.to_string(), self.by_key.len() - 1);
                    self.by_key.len() - 1
                }
            };
            self.reorder(i, |p| p.absorb(&part));
        }
        self.settle()
    }

    /// Changes configuration `i`'s sums, keeping the orders sorted.
    fn reorder(&mut self, i: usize, change: impl FnOnce(&mut PooledNoise)) {
        let place = |order: &Vec<(f64, usize)>, v: f64| {
            order.binary_search_by(|(w, j)| w.total_cmp(&v).then(j.cmp(&i)))
        };
        let old = self.by_key[i].1;
        if old.df > 0 {
            for (m, order) in self.orders.iter_mut().enumerate() {
                if let Ok(at) = place(order, ss_of(&old, m) / old.df as f64) {
                    order.remove(at);
                }
            }
        }
        change(&mut self.by_key[i].1);
        let new = self.by_key[i].1;
        if new.df > 0 {
            for (m, order) in self.orders.iter_mut().enumerate() {
                let v = ss_of(&new, m) / new.df as f64;
                if let Err(at) = place(order, v) {
                    order.insert(at, (v, i));
                }
            }
        }
    }

    /// Notes a figure known only as a mean, for the signs seen.
    pub fn note_level(&mut self, t: f64) {
        let mut p = PooledNoise::default();
        p.note_level(t);
        self.total.absorb(&p);
        self.parts.push((String::new(), p));
        self.pool.note_level(t);
    }

    /// The pool of every configuration not kept out.
    pub fn pooled(&self) -> &PooledNoise {
        &self.pool
    }

    /// Whether `key` is kept out of the pool.
    pub fn is_excluded(&self, key: &str) -> bool {
        self.excluded.iter().any(|k| k == key)
    }

    /// The noise of `key`'s own runs (every record of it).
    pub fn own(&self, key: &str) -> PooledNoise {
        self.own_of(&[key])
    }

    /// The noise of the runs of `keys` together.
    pub fn own_of(&self, keys: &[&str]) -> PooledNoise {
        let mut p = PooledNoise::default();
        for k in keys {
            if let Some(&i) = self.at.get(*k) {
                p.absorb(&self.by_key[i].1);
            }
        }
        p
    }

    fn sum(&self, excluded: &[String]) -> PooledNoise {
        let mut p = PooledNoise::default();
        for (k, part) in &self.parts {
            if excluded.contains(k) {
                // Its signs still count: they say which scale applies.
                p.seen_pos |= part.seen_pos;
                p.seen_neg |= part.seen_neg;
                p.seen_mixed |= part.seen_mixed;
            } else {
                p.absorb(part);
            }
        }
        p
    }

    /// Recomputes which configurations are out of line, and the pool.
    ///
    /// For accuracy and for the objective apart: the configurations in
    /// order of their variance, smallest first, each tested against the
    /// pool of those before it once the pool is informed; the first out of
    /// line is kept out with every configuration more variable than it (so
    /// two bad configurations cannot hide each other, as they would in a
    /// pool of "all the others"). The least variable configurations are the
    /// reference, and the most variable ordinary one is tested against all
    /// the other ordinary ones: Cochran's test, Bonferroni's split.
    fn settle(&mut self) -> Vec<String> {
        let n = self.orders[0].len();
        let level = OUTLIER_ALPHA / n.max(1) as f64;
        let objective = if self.total.one_signed() { 1 } else { 2 };
        let mut marked = vec![false; self.by_key.len()];
        for (metric, floor) in [(0, ACC_VAR_FLOOR), (objective, REL_VAR_FLOOR)] {
            let floor = if metric == 2 {
                f64::MIN_POSITIVE
            } else {
                floor
            };
            let order = &self.orders[metric];
            let (mut pool_ss, mut pool_df) = (0.0, 0usize);
            for (pos, (var, i)) in order.iter().enumerate() {
                let own = &self.by_key[*i].1;
                let ss = ss_of(own, metric);
                if pool_df >= 2 && pool_df + own.df >= self.min_df {
                    let ratio = var / (pool_ss / pool_df as f64).max(floor);
                    // Out of line (the F-test) and big enough to hijack
                    // the pool: more of its spread than all of the others.
                    if ss > pool_ss && f_upper_tail(ratio, own.df as f64, pool_df as f64) < level {
                        for (_, j) in &order[pos..] {
                            marked[*j] = true;
                        }
                        break;
                    }
                }
                pool_ss += ss;
                pool_df += own.df;
            }
        }
        // Half of them or more out of line: the spread differs between
        // configurations, no one is the odd one out.
        let count = marked.iter().filter(|m| **m).count();
        let out: Vec<String> = if 2 * count >= n {
            Vec::new()
        } else {
            self.by_key
                .iter()
                .zip(&marked)
                .filter(|(_, m)| **m)
                .map(|((k, _), _)| k.clone())
                .collect()
        };
        let new: Vec<String> = out
            .iter()
            .filter(|k| !self.announced.contains(k))
            .cloned()
            .collect();
        self.announced.extend(new.iter().cloned());
        self.pool = if out.is_empty() {
            self.total
        } else {
            self.sum(&out)
        };
        self.excluded = out;
        new
    }
}

/// P(F > f) for Snedecor's F with `d1`, `d2` degrees of freedom.
pub fn f_upper_tail(f: f64, d1: f64, d2: f64) -> f64 {
    if f.is_nan() || f <= 0.0 {
        return 1.0;
    }
    if f.is_infinite() {
        return 0.0;
    }
    incomplete_beta(d2 / 2.0, d1 / 2.0, d2 / (d2 + d1 * f))
}

/// ln Γ(x) for x > 0 (Lanczos, g = 7).
fn ln_gamma(x: f64) -> f64 {
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = C[0];
    let t = x + 7.5;
    for (i, c) in C.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// The regularized incomplete beta function I_x(a, b) (continued
/// fraction, Lentz's method).
fn incomplete_beta(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let front =
        (ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln()).exp();
    if x > (a + 1.0) / (a + b + 2.0) {
        return 1.0 - incomplete_beta(b, a, 1.0 - x);
    }
    const TINY: f64 = 1e-300;
    let mut c = 1.0;
    let mut d = 1.0 - (a + b) * x / (a + 1.0);
    if d.abs() < TINY {
        d = TINY;
    }
    d = 1.0 / d;
    let mut h = d;
    for m in 1..300 {
        let m = m as f64;
        let aa = m * (b - m) * x / ((a + 2.0 * m - 1.0) * (a + 2.0 * m));
        d = 1.0 + aa * d;
        if d.abs() < TINY {
            d = TINY;
        }
        c = 1.0 + aa / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        h *= d * c;
        let aa = -(a + m) * (a + b + m) * x / ((a + 2.0 * m) * (a + 2.0 * m + 1.0));
        d = 1.0 + aa * d;
        if d.abs() < TINY {
            d = TINY;
        }
        c = 1.0 + aa / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        let del = d * c;
        h *= del;
        if (del - 1.0).abs() < 1e-14 {
            break;
        }
    }
    front * h / a
}
