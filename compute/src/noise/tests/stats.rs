//! Exact distribution functions and goodness-of-fit statistics for the noise tests.
//!
//! Kolmogorov–Smirnov critical value: under H0, P(√n·D > c) → 2·Σ_k (−1)^(k−1) e^(−2k²c²)
//! ≈ 2·e^(−2c²). Setting that to α = 0.001 gives c = √(ln(2/α)/2) = √(ln 2000 / 2) = 1.9495,
//! so the tests reject when D > 1.95/√n. For n ≥ 5000 the asymptotic value is accurate to
//! well under 1 %. For discrete distributions, comparing the CDFs at the integer points makes
//! the test conservative (its true level is below α), so false alarms stay below 0.1 %.
//!
//! Sample-variance check: for n iid draws with variance σ² and fourth central moment μ4,
//! Var(S²) = μ4/n − σ⁴(n−3)/(n(n−1)) ≈ (μ4 − σ⁴)/n; the tests allow 6 standard errors
//! (a normal tail of 2·10⁻⁹; S² is a mean of n ≥ 5000 terms with finite fourth moments, so
//! the CLT applies — even with a Laplace's kurtosis of 6 a skew correction is tiny at 6 SE).
//! The sample mean is checked to 6 standard errors σ/√n as well.

/// Critical value of the KS statistic at α = 0.001 for `n` draws (see the module doc).
pub fn ks_critical(n: usize) -> f64 {
    1.95 / (n as f64).sqrt()
}

/// KS statistic of integer draws against an integer CDF `cdf(k) = P(X ≤ k)`: the largest gap
/// between the empirical and the exact CDF over all integers. Outside [min − 1, max] the
/// empirical CDF is 0 or 1 and the exact one is monotone, so checking that range suffices.
pub fn ks_discrete(samples: &[i64], cdf: impl Fn(i64) -> f64) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let n = sorted.len() as f64;
    let (lo, hi) = (sorted[0] - 1, sorted[sorted.len() - 1]);
    let mut d: f64 = 0.0;
    let mut idx = 0usize;
    for k in lo..=hi {
        while idx < sorted.len() && sorted[idx] <= k {
            idx += 1;
        }
        d = d.max((idx as f64 / n - cdf(k)).abs());
    }
    d
}

/// KS statistic of continuous draws against a continuous CDF.
pub fn ks_continuous(samples: &[f64], cdf: impl Fn(f64) -> f64) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_by(|a, b| a.partial_cmp(b).expect("finite draws"));
    let n = sorted.len() as f64;
    sorted
        .iter()
        .enumerate()
        .map(|(i, &x)| {
            let f = cdf(x);
            (((i + 1) as f64 / n) - f).max(f - i as f64 / n)
        })
        .fold(0.0, f64::max)
}

/// Sample mean and unbiased sample variance.
pub fn mean_var(samples: &[f64]) -> (f64, f64) {
    let n = samples.len() as f64;
    let mean = samples.iter().sum::<f64>() / n;
    let var = samples.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, var)
}

/// Asserts mean ≈ 0 and sample variance ≈ σ² within 6 standard errors (see the module doc).
pub fn assert_moments(samples: &[f64], sigma2: f64, mu4: f64, what: &str) {
    let n = samples.len() as f64;
    let (mean, var) = mean_var(samples);
    let se_mean = (sigma2 / n).sqrt();
    assert!(
        mean.abs() <= 6.0 * se_mean,
        "{what}: mean {mean} is more than 6 standard errors ({se_mean}) from 0"
    );
    let se_var = ((mu4 - sigma2 * sigma2) / n).sqrt();
    assert!(
        (var - sigma2).abs() <= 6.0 * se_var,
        "{what}: variance {var} is more than 6 standard errors ({se_var}) from {sigma2}"
    );
}

/// Discrete Laplace with scale b: P(k) = (1−p)/(1+p)·p^|k|, p = e^(−1/b).
/// CDF: F(k) = p^(−k)/(1+p) for k < 0, 1 − p^(k+1)/(1+p) for k ≥ 0.
pub fn discrete_laplace_cdf(scale: f64) -> impl Fn(i64) -> f64 {
    let p = (-1.0 / scale).exp();
    move |k| {
        if k < 0 {
            p.powf(-(k as f64)) / (1.0 + p)
        } else {
            1.0 - p.powf((k + 1) as f64) / (1.0 + p)
        }
    }
}

/// Probabilities of a symmetric integer distribution with unnormalized weights `w(k)` over
/// |k| ≤ `kmax` (chosen so the tail beyond is negligible), normalized.
pub fn pmf_table(kmax: i64, w: impl Fn(i64) -> f64) -> Vec<(i64, f64)> {
    let raw: Vec<(i64, f64)> = (-kmax..=kmax).map(|k| (k, w(k))).collect();
    let z: f64 = raw.iter().map(|(_, p)| p).sum();
    raw.into_iter().map(|(k, p)| (k, p / z)).collect()
}

/// Discrete Gaussian with scale σ: P(k) ∝ e^(−k²/(2σ²)), as a table over |k| ≤ 40σ + 10
/// (the mass beyond is below e^(−800)).
pub fn discrete_gaussian_pmf(sigma: f64) -> Vec<(i64, f64)> {
    let kmax = (40.0 * sigma) as i64 + 10;
    pmf_table(kmax, |k| (-((k * k) as f64) / (2.0 * sigma * sigma)).exp())
}

/// Discrete Laplace with scale b as a table over |k| ≤ 60b + 10 (mass beyond < e^(−60)).
pub fn discrete_laplace_pmf(scale: f64) -> Vec<(i64, f64)> {
    let kmax = (60.0 * scale) as i64 + 10;
    pmf_table(kmax, |k| (-(k.abs() as f64) / scale).exp())
}

/// CDF from a pmf table.
pub fn table_cdf(table: &[(i64, f64)]) -> impl Fn(i64) -> f64 + '_ {
    move |k| {
        table
            .iter()
            .take_while(|(j, _)| *j <= k)
            .map(|(_, p)| p)
            .sum()
    }
}

/// Variance and fourth central moment of a zero-mean pmf table.
pub fn table_moments(table: &[(i64, f64)]) -> (f64, f64) {
    let m2 = table.iter().map(|(k, p)| p * (*k as f64).powi(2)).sum();
    let m4 = table.iter().map(|(k, p)| p * (*k as f64).powi(4)).sum();
    (m2, m4)
}

/// Continuous Laplace CDF with scale b.
pub fn laplace_cdf(scale: f64) -> impl Fn(f64) -> f64 {
    move |x| {
        if x < 0.0 {
            0.5 * (x / scale).exp()
        } else {
            1.0 - 0.5 * (-x / scale).exp()
        }
    }
}

/// Complementary error function (Numerical Recipes `erfcc`, Chebyshev fit with fractional
/// error below 1.2·10⁻⁷ everywhere — four orders below the KS critical values used here).
pub fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let ans = t * poly.exp();
    if x >= 0.0 {
        ans
    } else {
        2.0 - ans
    }
}

/// Normal CDF with standard deviation σ.
pub fn normal_cdf(sigma: f64) -> impl Fn(f64) -> f64 {
    move |x| 0.5 * erfc(-x / (sigma * std::f64::consts::SQRT_2))
}

/// Pearson correlation of two equally long samples.
pub fn correlation(a: &[f64], b: &[f64]) -> f64 {
    let (ma, va) = mean_var(a);
    let (mb, vb) = mean_var(b);
    let n = a.len() as f64;
    let cov = a
        .iter()
        .zip(b)
        .map(|(x, y)| (x - ma) * (y - mb))
        .sum::<f64>()
        / (n - 1.0);
    cov / (va * vb).sqrt()
}
