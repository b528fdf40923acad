//! The model: two Bayesian linear regressions over the same features
//! ([`super::coding`]), one for the objective (log tok/s) and one for
//! accuracy, fitted to per-configuration means weighted by runs / sigma^2.
//! Every run of every trial informs every parameter's estimate; that
//! pooling is the point of this search.
//!
//! The run-to-run sigma of each figure is the pooled within-trial spread
//! with a weak prior, so a run without noise learns that it has none.

use super::coding::Coding;

/// Prior sd of a level's effect on log tok/s.
pub const TPS_MAIN_SD: f64 = 0.05;
/// Prior sd of a pair cell's effect on log tok/s.
pub const TPS_PAIR_SD: f64 = 0.03;
/// Prior sd of a level's effect on accuracy.
pub const ACC_MAIN_SD: f64 = 0.005;
/// Prior sd of a pair cell's effect on accuracy.
pub const ACC_PAIR_SD: f64 = 0.003;
/// Weight of the sigma prior, in degrees of freedom, until the data have
/// [`SIGMA_OWN_DF`] of their own (then the data alone: a run without noise
/// must learn that it has none, or a best configuration sitting on the bar
/// could never be certified).
const SIGMA_PRIOR_DF: f64 = 2.0;
/// Degrees of freedom from which the sigmas are the data's own.
const SIGMA_OWN_DF: f64 = 8.0;
/// The smallest sigma of log tok/s (keeps the regression well posed).
const SIGMA_FLOOR_TPS: f64 = 1e-6;
/// The smallest sigma of accuracy.
const SIGMA_FLOOR_ACC: f64 = 1e-7;
/// Prior run-to-run sd of log tok/s.
const SIGMA_PRIOR_TPS: f64 = 0.03;
/// Prior run-to-run sd of accuracy.
const SIGMA_PRIOR_ACC: f64 = 0.005;

/// What the model knows of one configuration: its features, its runs and
/// their mean figures.
#[derive(Debug, Clone)]
pub struct Obs {
    /// The features that are 1.
    pub feats: Vec<usize>,
    /// Ok runs.
    pub n: f64,
    /// Mean objective, transformed (log tok/s).
    pub t: f64,
    /// Mean accuracy.
    pub a: f64,
}

/// Pooled within-trial spread: sums of squares and degrees of freedom.
#[derive(Debug, Clone, Copy, Default)]
pub struct Spread {
    ss_t: f64,
    ss_a: f64,
    df: f64,
}

impl Spread {
    /// Adds one trial's runs (transformed objective and accuracy).
    pub fn add(&mut self, t: &[f64], a: &[f64]) {
        let n = t.len();
        if n < 2 {
            return;
        }
        let mt = t.iter().sum::<f64>() / n as f64;
        let ma = a.iter().sum::<f64>() / n as f64;
        self.ss_t += t.iter().map(|x| (x - mt).powi(2)).sum::<f64>();
        self.ss_a += a.iter().map(|x| (x - ma).powi(2)).sum::<f64>();
        self.df += (n - 1) as f64;
    }

    fn sigma(&self, ss: f64, prior: f64, floor: f64) -> f64 {
        let s = if self.df >= SIGMA_OWN_DF {
            ss / self.df
        } else {
            (ss + SIGMA_PRIOR_DF * prior * prior) / (self.df + SIGMA_PRIOR_DF)
        };
        s.sqrt().max(floor)
    }

    /// Run-to-run sd of the transformed objective.
    pub fn sigma_t(&self) -> f64 {
        self.sigma(self.ss_t, SIGMA_PRIOR_TPS, SIGMA_FLOOR_TPS)
    }

    /// Run-to-run sd of accuracy.
    pub fn sigma_a(&self) -> f64 {
        self.sigma(self.ss_a, SIGMA_PRIOR_ACC, SIGMA_FLOOR_ACC)
    }
}

/// A posterior over coefficients: its mean and the Cholesky factor of its
/// precision.
#[derive(Debug, Clone)]
pub struct Posterior {
    dim: usize,
    /// Posterior mean (the intercept holds the data's centre).
    mean: Vec<f64>,
    /// Lower Cholesky factor of the precision, row-major.
    chol: Vec<f64>,
}

impl Posterior {
    /// Fits `y` of `obs` with run sd `sigma` and prior sds `prior`.
    pub fn fit(
        dim: usize,
        obs: &[Obs],
        y: impl Fn(&Obs) -> f64,
        sigma: f64,
        prior: &[f64],
    ) -> Self {
        let wsum: f64 = obs.iter().map(|o| o.n).sum();
        let centre = if wsum > 0.0 {
            obs.iter().map(|o| o.n * y(o)).sum::<f64>() / wsum
        } else {
            0.0
        };
        let mut a = vec![0.0; dim * dim];
        let mut b = vec![0.0; dim];
        for (i, s) in prior.iter().enumerate() {
            a[i * dim + i] = 1.0 / (s * s);
        }
        let s2 = sigma * sigma;
        for o in obs {
            let w = o.n / s2;
            let r = y(o) - centre;
            for &i in &o.feats {
                b[i] += w * r;
                for &j in &o.feats {
                    a[i * dim + j] += w;
                }
            }
        }
        let chol = cholesky(&a, dim);
        let z = forward(&chol, dim, &b);
        let mut mean = backward(&chol, dim, &z);
        mean[0] += centre;
        Posterior { dim, mean, chol }
    }

    /// The posterior mean of the coefficients.
    pub fn mean(&self) -> &[f64] {
        &self.mean
    }

    /// A draw of the coefficients.
    pub fn draw(&self, rng: &mut crate::engine::simulate::Gauss) -> Vec<f64> {
        let z: Vec<f64> = (0..self.dim).map(|_| rng.next()).collect();
        let v = backward(&self.chol, self.dim, &z);
        self.mean.iter().zip(v).map(|(m, d)| m + d).collect()
    }

    /// Posterior mean of a configuration with features `feats`.
    pub fn predict(&self, feats: &[usize]) -> f64 {
        feats.iter().map(|&i| self.mean[i]).sum()
    }

    /// Posterior sd of the difference between the predictions of `a` and
    /// `b` (shared features cancel).
    pub fn diff_sd(&self, a: &[usize], b: &[usize]) -> f64 {
        let mut x = vec![0.0; self.dim];
        for &i in a {
            x[i] += 1.0;
        }
        for &i in b {
            x[i] -= 1.0;
        }
        forward(&self.chol, self.dim, &x)
            .iter()
            .map(|w| w * w)
            .sum::<f64>()
            .sqrt()
    }

    /// Posterior sd of that prediction.
    pub fn predict_sd(&self, feats: &[usize]) -> f64 {
        let mut x = vec![0.0; self.dim];
        for &i in feats {
            x[i] += 1.0;
        }
        forward(&self.chol, self.dim, &x)
            .iter()
            .map(|w| w * w)
            .sum::<f64>()
            .sqrt()
    }
}

/// Both regressions, fitted to the same observations.
#[derive(Debug, Clone)]
pub struct Model {
    /// Log tok/s.
    pub tps: Posterior,
    /// Accuracy.
    pub acc: Posterior,
    /// Run-to-run sd of accuracy.
    pub sigma_a: f64,
}

impl Model {
    /// Fits both regressions.
    pub fn fit(coding: &Coding, obs: &[Obs], spread: &Spread) -> Self {
        let pt = coding.prior_sd(1.0, TPS_MAIN_SD, TPS_PAIR_SD);
        let pa = coding.prior_sd(0.1, ACC_MAIN_SD, ACC_PAIR_SD);
        Model {
            tps: Posterior::fit(coding.dim, obs, |o| o.t, spread.sigma_t(), &pt),
            acc: Posterior::fit(coding.dim, obs, |o| o.a, spread.sigma_a(), &pa),
            sigma_a: spread.sigma_a(),
        }
    }
}

/// The lower Cholesky factor of the symmetric positive definite `a`.
fn cholesky(a: &[f64], n: usize) -> Vec<f64> {
    let mut l = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            let mut s = a[i * n + j];
            for k in 0..j {
                s -= l[i * n + k] * l[j * n + k];
            }
            if i == j {
                l[i * n + i] = s.max(1e-300).sqrt();
            } else {
                l[i * n + j] = s / l[j * n + j];
            }
        }
    }
    l
}

/// Solves `L z = b`.
fn forward(l: &[f64], n: usize, b: &[f64]) -> Vec<f64> {
    let mut z = vec![0.0; n];
    for i in 0..n {
        let mut s = b[i];
        for k in 0..i {
            s -= l[i * n + k] * z[k];
        }
        z[i] = s / l[i * n + i];
    }
    z
}

/// Solves `L^T x = z`.
fn backward(l: &[f64], n: usize, z: &[f64]) -> Vec<f64> {
    let mut x = vec![0.0; n];
    for i in (0..n).rev() {
        let mut s = z[i];
        for k in i + 1..n {
            s -= l[k * n + i] * x[k];
        }
        x[i] = s / l[i * n + i];
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_well_measured_mean_is_recovered() {
        // Two features beyond the intercept; a configuration with many
        // runs pins its prediction to its mean.
        let obs = vec![
            Obs {
                feats: vec![0, 1],
                n: 100.0,
                t: 1.0,
                a: 0.9,
            },
            Obs {
                feats: vec![0, 2],
                n: 100.0,
                t: 1.1,
                a: 0.8,
            },
        ];
        let p = Posterior::fit(3, &obs, |o| o.t, 0.01, &[1.0, 0.5, 0.5]);
        assert!((p.predict(&[0, 1]) - 1.0).abs() < 1e-3);
        assert!((p.predict(&[0, 2]) - 1.1).abs() < 1e-3);
        assert!(p.predict_sd(&[0, 1]) < 0.01);
    }
}
