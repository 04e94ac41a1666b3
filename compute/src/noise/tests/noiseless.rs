//! The `noiseless` test feature: exact releases, identical costs.

use crate::noise::*;

#[cfg(not(feature = "noiseless"))]
#[test]
fn default_build_draws_noise() {
    const { assert!(!NOISELESS) };
    // 64 draws of discrete Laplace noise at scale 10 are all zero with probability
    // (tanh(1/20))^64 ≈ 10^-83.
    let mut v = vec![0i64; 64];
    add_integer_noise(&mut v, Mechanism::DiscreteLaplace, 10.0).unwrap();
    assert!(v.iter().any(|&x| x != 0));
}

#[cfg(feature = "noiseless")]
#[test]
fn noiseless_build_releases_exact_values() {
    const { assert!(NOISELESS) };
    let mut ints = vec![1i64, -2, i64::MAX];
    add_integer_noise(&mut ints, Mechanism::DiscreteGaussian, 100.0).unwrap();
    assert_eq!(ints, vec![1, -2, i64::MAX]);
    let mut floats = vec![0.5f64, -1e300];
    add_float_noise(&mut floats, Mechanism::Laplace, 100.0).unwrap();
    assert_eq!(floats, vec![0.5, -1e300]);
    // Parameter checks still apply.
    assert!(add_integer_noise(&mut ints, Mechanism::Laplace, 1.0).is_err());
    assert!(add_float_noise(&mut [f64::NAN], Mechanism::Laplace, 1.0).is_err());

    let sel = calibrate_partition_selection(PrivacyDefinition::Zcdp, 0.5, 1e-6, 1).unwrap();
    let t = sel.threshold;
    let out = select_partitions(&[t - 1, t, t + 5, 0], &sel).unwrap();
    assert_eq!(out, vec![None, Some(t), Some(t + 5), None]);

    // Exact median bucket: 1 + 2 rows below bucket 2's midpoint, 4 above.
    let q = dp_quantile(
        &[1, 2, 3, 4],
        0.0,
        4.0,
        0.5,
        1,
        PrivacyDefinition::PureDp,
        0.1,
    )
    .unwrap();
    assert_eq!(q, 2.5);
}

#[test]
fn costs_do_not_depend_on_the_feature() {
    // Same closed forms as in the default build (see additive and quantile tests).
    assert_eq!(
        release_cost(Mechanism::DiscreteLaplace, 3.0, 2.0).unwrap(),
        1.5
    );
    assert_eq!(
        quantile_cost(0.5, 3, PrivacyDefinition::PureDp, 6.0).unwrap(),
        0.5
    );
}
