//! Composition and zCDP → (epsilon, delta) conversion.

use crate::noise::*;

#[test]
fn compose_sums_costs() {
    assert_eq!(compose(&[]).unwrap(), 0.0);
    assert_eq!(compose(&[0.5, 0.25, 0.125]).unwrap(), 0.875);
    // Rounded up, never down.
    let total = compose(&[0.1, 0.2]).unwrap();
    assert!((0.1 + 0.2 - f64::EPSILON..=0.300_000_000_000_001).contains(&total));
    assert!(compose(&[0.1, -0.2]).is_err());
    assert!(compose(&[f64::NAN]).is_err());
    assert_eq!(
        compose_approximate(&[(0.5, 1e-6), (0.25, 0.0), (0.25, 1e-6)]).unwrap(),
        (1.0, 2e-6)
    );
}

#[test]
fn zcdp_converts_to_a_tighter_epsilon_than_the_textbook_bound() {
    for rho in [0.01, 0.1, 0.5, 2.0] {
        for delta in [1e-5, 1e-9] {
            let eps = zcdp_to_approx_dp(rho, delta).unwrap();
            let textbook = rho + 2.0 * (rho * (1.0 / delta).ln()).sqrt();
            assert!(
                eps > rho && eps <= textbook,
                "rho {rho} delta {delta}: {eps} vs {textbook}"
            );
            // Within 25 % of the textbook bound in this range (the CKS20 bound is tighter
            // but of the same order).
            assert!(
                eps >= 0.75 * textbook,
                "rho {rho} delta {delta}: {eps} vs {textbook}"
            );
        }
    }
    // Smaller delta, larger epsilon.
    assert!(zcdp_to_approx_dp(0.1, 1e-9).unwrap() > zcdp_to_approx_dp(0.1, 1e-5).unwrap());
    assert_eq!(zcdp_to_approx_dp(0.0, 1e-6).unwrap(), 0.0);
    assert!(zcdp_to_approx_dp(0.1, 0.0).is_err());
    assert!(zcdp_to_approx_dp(-0.1, 1e-6).is_err());
}
