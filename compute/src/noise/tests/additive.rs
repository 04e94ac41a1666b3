//! Additive noise: distributions, independence across chunks, saturation, costs, calibration
//! and confidence half-widths.

use super::assert_tight;
#[cfg(not(feature = "noiseless"))]
use super::stats::*;
use crate::noise::*;

/// Draws per distribution test. See `stats` for why the KS and moment tolerances hold at this
/// size (the KS critical value is 1.95/√n ≈ 0.0195 at n = 10 000).
#[cfg(not(feature = "noiseless"))]
const N_DRAWS: usize = 10_000;

/// Draws for the float Gaussian, whose exact sampler works on ~1 075-bit integers (the 2^-1074
/// grid) and takes ~0.25 ms per draw in an unoptimized build. At n = 5 000 the KS critical
/// value is 0.0276 and the asymptotic Kolmogorov distribution is still accurate (its error is
/// O(1/√n) in c, < 1 % here), so the α = 0.001 level holds; the moment checks use the exact
/// standard errors for this n.
#[cfg(not(feature = "noiseless"))]
const N_DRAWS_FLOAT_GAUSSIAN: usize = 5_000;

/// Noises `N_DRAWS` copies of `base` and returns the noise (output − base).
#[cfg(not(feature = "noiseless"))]
fn integer_noise(mechanism: Mechanism, scale: f64, base: i64) -> Vec<i64> {
    let mut v = vec![base; N_DRAWS];
    add_integer_noise(&mut v, mechanism, scale).unwrap();
    v.into_iter().map(|x| x - base).collect()
}

/// Noises `n` copies of `base` and returns the noise (output − base).
#[cfg(not(feature = "noiseless"))]
fn float_noise(mechanism: Mechanism, scale: f64, base: f64, n: usize) -> Vec<f64> {
    let mut v = vec![base; n];
    add_float_noise(&mut v, mechanism, scale).unwrap();
    // base is a small dyadic number, so the subtraction is exact up to the output rounding.
    v.into_iter().map(|x| x - base).collect()
}

/// Empirical coverage of the 95 % [`confidence_half_width`] on the draws. The binomial
/// standard error is √(0.95·0.05/n) ≤ 0.0031 for n ≥ 5 000; coverage must be at least
/// 0.95 − 6 SE (false alarm < 2·10⁻⁹). The continuous half-widths are exact, so their coverage
/// must also be at most 0.95 + 6 SE; the discrete ones are conservative (may cover more).
#[cfg(not(feature = "noiseless"))]
fn assert_covers(noise: &[f64], mechanism: Mechanism, scale: f64, conservative: bool) {
    let n = noise.len() as f64;
    let se = (0.95f64 * 0.05 / n).sqrt();
    let a = confidence_half_width(mechanism, scale, 0.95).unwrap();
    let covered = noise.iter().filter(|x| x.abs() <= a).count() as f64 / n;
    assert!(
        covered >= 0.95 - 6.0 * se,
        "{}: coverage {covered} of ±{a}",
        mechanism.name()
    );
    if !conservative {
        assert!(
            covered <= 0.95 + 6.0 * se,
            "{}: coverage {covered} of ±{a}",
            mechanism.name()
        );
    }
}

#[cfg(not(feature = "noiseless"))]
#[test]
fn discrete_laplace_matches_its_distribution() {
    // A non-integer scale, added to a non-zero value, so neither is special-cased.
    let scale = 2.7;
    let noise = integer_noise(Mechanism::DiscreteLaplace, scale, 1_000);
    let d = ks_discrete(&noise, discrete_laplace_cdf(scale));
    assert!(d <= ks_critical(N_DRAWS), "KS statistic {d} too large");
    // The test has power: against scale 2b the CDF gap at k = 2 is 0.12, six times the
    // critical value (the sampling fluctuation of D is ~0.005).
    assert!(ks_discrete(&noise, discrete_laplace_cdf(2.0 * scale)) > ks_critical(N_DRAWS));
    let (var, mu4) = table_moments(&discrete_laplace_pmf(scale));
    // Closed form of the variance: 2p/(1−p)², p = e^(−1/b).
    let p = (-1.0 / scale).exp();
    assert!((var - 2.0 * p / (1.0 - p).powi(2)).abs() < 1e-9);
    let as_f64: Vec<f64> = noise.iter().map(|&x| x as f64).collect();
    assert_moments(&as_f64, var, mu4, "discrete Laplace");
    assert_covers(&as_f64, Mechanism::DiscreteLaplace, scale, true);
}

#[cfg(not(feature = "noiseless"))]
#[test]
fn discrete_gaussian_matches_its_distribution() {
    let sigma = 3.3;
    let noise = integer_noise(Mechanism::DiscreteGaussian, sigma, -500);
    let table = discrete_gaussian_pmf(sigma);
    let d = ks_discrete(&noise, table_cdf(&table));
    assert!(d <= ks_critical(N_DRAWS), "KS statistic {d} too large");
    // Power: against σ·1.5 the CDF gap is ≈ 0.09 (Φ(1.2) − Φ(0.8)), 4.5 critical values.
    let wider = discrete_gaussian_pmf(1.5 * sigma);
    assert!(ks_discrete(&noise, table_cdf(&wider)) > ks_critical(N_DRAWS));
    let (var, mu4) = table_moments(&table);
    let as_f64: Vec<f64> = noise.iter().map(|&x| x as f64).collect();
    assert_moments(&as_f64, var, mu4, "discrete Gaussian");
    assert_covers(&as_f64, Mechanism::DiscreteGaussian, sigma, true);
}

#[cfg(not(feature = "noiseless"))]
#[test]
fn float_laplace_matches_its_distribution() {
    let b = 2.5;
    let noise = float_noise(Mechanism::Laplace, b, 10.25, N_DRAWS);
    let d = ks_continuous(&noise, laplace_cdf(b));
    assert!(d <= ks_critical(N_DRAWS), "KS statistic {d} too large");
    // Power: against 1.5b the CDF gap is 0.074 (at x = 3b·ln 1.5), 3.8 critical values.
    assert!(ks_continuous(&noise, laplace_cdf(1.5 * b)) > ks_critical(N_DRAWS));
    // Laplace(b): variance 2b², fourth moment 24b⁴.
    assert_moments(&noise, 2.0 * b * b, 24.0 * b.powi(4), "Laplace");
    assert_covers(&noise, Mechanism::Laplace, b, false);
    // The float sampler is not confined to integers (it draws on the 2^-1074 grid).
    assert!(noise.iter().any(|x| x.fract() != 0.0));
}

#[cfg(not(feature = "noiseless"))]
#[test]
fn float_gaussian_matches_its_distribution() {
    let sigma = 1.5;
    let noise = float_noise(Mechanism::Gaussian, sigma, -3.5, N_DRAWS_FLOAT_GAUSSIAN);
    let d = ks_continuous(&noise, normal_cdf(sigma));
    assert!(
        d <= ks_critical(N_DRAWS_FLOAT_GAUSSIAN),
        "KS statistic {d} too large"
    );
    // Power: against 1.5σ the CDF gap is ≈ 0.097, 3.5 critical values at n = 5 000.
    assert!(ks_continuous(&noise, normal_cdf(1.5 * sigma)) > ks_critical(N_DRAWS_FLOAT_GAUSSIAN));
    // N(0, σ²): fourth moment 3σ⁴.
    assert_moments(&noise, sigma * sigma, 3.0 * sigma.powi(4), "Gaussian");
    assert_covers(&noise, Mechanism::Gaussian, sigma, false);
    assert!(noise.iter().any(|x| x.fract() != 0.0));
}

#[cfg(not(feature = "noiseless"))]
#[test]
fn noise_is_independent_across_parallel_chunks() {
    // Four chunks of zeros. If chunks reused a generator state, chunk 0 and chunk 1 would be
    // equal (correlation 1); if draws were serially dependent, the lag-1 correlation would
    // show it. Under independence each correlation of m pairs has standard error ≈ 1/√m;
    // 6 standard errors keeps a false alarm below 2·10⁻⁹.
    let scale = 4.0;
    let mut v = vec![0i64; 4 * CHUNK_LEN];
    add_integer_noise(&mut v, Mechanism::DiscreteLaplace, scale).unwrap();
    let x: Vec<f64> = v.iter().map(|&k| k as f64).collect();

    let (c0, c1) = (&x[..CHUNK_LEN], &x[CHUNK_LEN..2 * CHUNK_LEN]);
    let r_chunks = correlation(c0, c1);
    assert!(
        r_chunks.abs() <= 6.0 / (CHUNK_LEN as f64).sqrt(),
        "chunks correlated: {r_chunks}"
    );
    assert_ne!(c0, c1);

    let r_lag = correlation(&x[..x.len() - 1], &x[1..]);
    assert!(
        r_lag.abs() <= 6.0 / (x.len() as f64).sqrt(),
        "lag-1 correlation {r_lag}"
    );

    // Both halves have the intended variance (6 standard errors each, see stats).
    let (var, mu4) = table_moments(&discrete_laplace_pmf(scale));
    let half = x.len() / 2;
    assert_moments(&x[..half], var, mu4, "first half");
    assert_moments(&x[half..], var, mu4, "second half");
}

#[cfg(not(feature = "noiseless"))]
#[test]
fn integer_noise_saturates_instead_of_wrapping() {
    // With scale 10, |noise| > 1 000 has probability about e^-100: the values stay within
    // 1 000 of the limits, on the right side (wrapping would flip the sign).
    let mut v = vec![i64::MAX, i64::MIN, i64::MAX - 1, i64::MIN + 1];
    for _ in 0..20 {
        add_integer_noise(&mut v, Mechanism::DiscreteGaussian, 10.0).unwrap();
        add_integer_noise(&mut v, Mechanism::DiscreteLaplace, 10.0).unwrap();
        assert!(v[0] >= i64::MAX - 1_000 && v[2] >= i64::MAX - 1_000);
        assert!(v[1] <= i64::MIN + 1_000 && v[3] <= i64::MIN + 1_000);
    }
}

#[test]
fn float_noise_refuses_non_finite_values_without_quoting_them() {
    let mut messages = Vec::new();
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let mut v = vec![1.0, bad, 2.0];
        let err = add_float_noise(&mut v, Mechanism::Laplace, 1.0).unwrap_err();
        assert!(matches!(err, NoiseError::InvalidArgument(_)));
        let msg = err.to_string();
        assert!(msg.contains("finite") && msg.contains("clamp"), "{msg}");
        assert_eq!(v[0], 1.0, "nothing is noised when the input is refused");
        messages.push(msg);
    }
    // The message is the same whatever the offending value: it does not describe the data.
    assert!(messages.windows(2).all(|w| w[0] == w[1]));
}

#[test]
fn mechanism_kind_must_match_value_kind() {
    let mut ints = vec![1i64, 2, 3];
    let mut floats = vec![1.0f64, 2.0];
    for m in [Mechanism::Laplace, Mechanism::Gaussian] {
        assert!(matches!(
            add_integer_noise(&mut ints, m, 1.0),
            Err(NoiseError::InvalidArgument(_))
        ));
    }
    for m in [Mechanism::DiscreteLaplace, Mechanism::DiscreteGaussian] {
        assert!(matches!(
            add_float_noise(&mut floats, m, 1.0),
            Err(NoiseError::InvalidArgument(_))
        ));
    }
    assert_eq!(ints, vec![1, 2, 3]);
    for scale in [-1.0, f64::NAN, f64::INFINITY] {
        assert!(add_integer_noise(&mut ints, Mechanism::DiscreteLaplace, scale).is_err());
    }
}

#[test]
fn zero_scale_adds_nothing_and_empty_input_is_fine() {
    let mut v = vec![5i64, -7, 0];
    add_integer_noise(&mut v, Mechanism::DiscreteLaplace, 0.0).unwrap();
    assert_eq!(v, vec![5, -7, 0]);
    let mut f = vec![1.5f64, -2.25];
    add_float_noise(&mut f, Mechanism::Gaussian, 0.0).unwrap();
    assert_eq!(f, vec![1.5, -2.25]);
    add_integer_noise(&mut [], Mechanism::DiscreteGaussian, 3.0).unwrap();
    add_float_noise(&mut [], Mechanism::Laplace, 3.0).unwrap();
}

#[test]
fn release_cost_matches_closed_forms() {
    // Pure DP: epsilon = Δ1/b (exactly representable here).
    assert_eq!(
        release_cost(Mechanism::DiscreteLaplace, 3.0, 2.0).unwrap(),
        1.5
    );
    assert_eq!(release_cost(Mechanism::Laplace, 3.0, 2.0).unwrap(), 1.5);
    // zCDP: rho = Δ2²/(2σ²) = 4/32.
    assert_eq!(
        release_cost(Mechanism::DiscreteGaussian, 2.0, 4.0).unwrap(),
        0.125
    );
    assert_eq!(release_cost(Mechanism::Gaussian, 2.0, 4.0).unwrap(), 0.125);
    // Non-representable quotients are rounded up, never down, and stay within an ulp or two.
    let eps = release_cost(Mechanism::DiscreteLaplace, 1.0, 3.0).unwrap();
    assert!((1.0 / 3.0..=(1.0f64 / 3.0) * (1.0 + 4.0 * f64::EPSILON)).contains(&eps));
    let rho = release_cost(Mechanism::Gaussian, 1.0, 3.0).unwrap();
    assert!((1.0 / 18.0..=(1.0f64 / 18.0) * (1.0 + 8.0 * f64::EPSILON)).contains(&rho));
    // Zero sensitivity costs nothing; zero scale with a positive sensitivity costs infinity.
    assert_eq!(
        release_cost(Mechanism::DiscreteLaplace, 0.0, 1.0).unwrap(),
        0.0
    );
    assert_eq!(
        release_cost(Mechanism::Gaussian, 1.0, 0.0).unwrap(),
        f64::INFINITY
    );
    assert!(release_cost(Mechanism::Laplace, -1.0, 1.0).is_err());
    assert!(release_cost(Mechanism::Laplace, f64::NAN, 1.0).is_err());
}

#[test]
fn calibrated_scale_meets_the_budget_tightly() {
    let mechanisms = [
        Mechanism::DiscreteLaplace,
        Mechanism::DiscreteGaussian,
        Mechanism::Laplace,
        Mechanism::Gaussian,
    ];
    for m in mechanisms {
        for sensitivity in [1.0, 3.0, 0.1, 17.3, 1e6] {
            for budget in [1.0, 0.1, 0.01, 1e-4, 2.5] {
                let scale = calibrate_scale(m, sensitivity, budget).unwrap();
                let cost = release_cost(m, sensitivity, scale).unwrap();
                assert_tight(cost, budget, m.name());
            }
        }
    }
    assert_eq!(calibrate_scale(Mechanism::Gaussian, 0.0, 1.0).unwrap(), 0.0);
    for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        assert!(matches!(
            calibrate_scale(Mechanism::Laplace, 1.0, bad),
            Err(NoiseError::InvalidArgument(_))
        ));
    }
}

#[test]
fn confidence_half_width_closed_forms() {
    // Laplace: P(|X| > a) = e^(−a/b) = 0.05  =>  a = b·ln 20.
    let a = confidence_half_width(Mechanism::Laplace, 2.0, 0.95).unwrap();
    assert!((a - 2.0 * 20f64.ln()).abs() < 1e-12);
    // Gaussian: a = 1.959964·σ.
    let a = confidence_half_width(Mechanism::Gaussian, 3.0, 0.95).unwrap();
    assert!((a - 1.959_964 * 3.0).abs() < 1e-5);
    // Large discrete-Gaussian scales fall back to the continuous width plus one.
    let a = confidence_half_width(Mechanism::DiscreteGaussian, 1e6, 0.95).unwrap();
    assert!((a - (1.959_964e6 + 1.0)).abs() < 1.0);
    assert_eq!(
        confidence_half_width(Mechanism::Laplace, 0.0, 0.95).unwrap(),
        0.0
    );
    for bad in [0.0, 1.0, 1.5, f64::NAN] {
        assert!(confidence_half_width(Mechanism::Laplace, 1.0, bad).is_err());
    }
}

#[test]
fn mechanism_helpers_are_consistent() {
    for def in [PrivacyDefinition::PureDp, PrivacyDefinition::Zcdp] {
        for integer in [true, false] {
            let m = Mechanism::for_definition(def, integer);
            assert_eq!(m.definition(), Some(def));
            assert_eq!(m.is_integer(), integer);
        }
    }
    assert_eq!(PrivacyDefinition::Zcdp.unit_name(), "rho");
}

#[test]
fn mechanisms_that_add_no_vector_noise_are_refused() {
    for m in [Mechanism::ExponentialQuantile, Mechanism::PartitionSelection] {
        let invalid = |r: Result<(), NoiseError>| matches!(r, Err(NoiseError::InvalidArgument(msg)) if msg.contains(m.name()));
        assert!(invalid(add_integer_noise(&mut [1, 2], m, 1.0)), "{m}");
        assert!(invalid(add_float_noise(&mut [1.0], m, 1.0)), "{m}");
        assert!(invalid(release_cost(m, 1.0, 1.0).map(drop)), "{m}");
        assert!(invalid(calibrate_scale(m, 1.0, 1.0).map(drop)), "{m}");
        assert!(invalid(confidence_half_width(m, 0.0, 0.95).map(drop)), "{m}");
    }
}
