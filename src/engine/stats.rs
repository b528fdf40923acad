//! Small statistics over eval runs: means, spreads and confidence intervals
//! (Student's t, Welch's interval for a difference of means).

/// Mean and sample standard deviation of `xs` (sd `None` below 2 samples).
pub fn mean_sd(xs: &[f64]) -> Option<(f64, Option<f64>)> {
    if xs.is_empty() {
        return None;
    }
    let n = xs.len() as f64;
    let m = xs.iter().sum::<f64>() / n;
    let sd = (xs.len() >= 2)
        .then(|| (xs.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (n - 1.0)).sqrt());
    Some((m, sd))
}

/// The two-sided 95 % quantile of Student's t with `df` degrees of freedom
/// (df may be fractional, as Welch's is; it is rounded down, which widens
/// the interval).
pub fn t95(df: f64) -> f64 {
    const T: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042,
    ];
    let d = df.floor().max(1.0) as usize;
    if d <= 30 {
        T[d - 1]
    } else {
        1.96 + 2.4 / d as f64
    }
}

/// Half-width of the 95 % confidence interval of the mean of `xs`.
pub fn ci95(xs: &[f64]) -> Option<f64> {
    let (_, sd) = mean_sd(xs)?;
    let sd = sd?;
    Some(t95(xs.len() as f64 - 1.0) * sd / (xs.len() as f64).sqrt())
}

/// Welch's 95 % interval for mean(b) - mean(a): `(difference, half-width)`.
/// `None` when either side has fewer than 2 samples.
pub fn welch95(a: &[f64], b: &[f64]) -> Option<(f64, f64)> {
    let (ma, sa) = mean_sd(a)?;
    let (mb, sb) = mean_sd(b)?;
    let (sa, sb) = (sa?, sb?);
    let (na, nb) = (a.len() as f64, b.len() as f64);
    let (va, vb) = (sa * sa / na, sb * sb / nb);
    let se = (va + vb).sqrt();
    if se == 0.0 {
        return Some((mb - ma, 0.0));
    }
    let df = (va + vb).powi(2) / (va * va / (na - 1.0) + vb * vb / (nb - 1.0));
    Some((mb - ma, t95(df) * se))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_sd_and_ci() {
        let (m, sd) = mean_sd(&[1.0, 2.0, 3.0]).unwrap();
        assert_eq!(m, 2.0);
        assert!((sd.unwrap() - 1.0).abs() < 1e-12);
        assert!((ci95(&[1.0, 2.0, 3.0]).unwrap() - 4.303 / 3f64.sqrt()).abs() < 1e-9);
        assert_eq!(mean_sd(&[5.0]).unwrap().1, None);
        assert!(mean_sd(&[]).is_none());
    }

    #[test]
    fn welch_separates_clear_differences_only() {
        let a = [100.0, 101.0, 99.0, 100.5, 99.5];
        let b = [110.0, 111.0, 109.0, 110.5, 109.5];
        let (d, h) = welch95(&a, &b).unwrap();
        assert!((d - 10.0).abs() < 1e-9 && h < 2.0);
        let c = [100.2, 101.1, 99.3, 100.4, 99.9];
        let (d, h) = welch95(&a, &c).unwrap();
        assert!(d.abs() < h, "a noise-sized difference is not beyond noise");
    }
}
