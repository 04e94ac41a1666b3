//! Tests of the noise module: distributions (KS and moments), costs, calibration, partition
//! selection, quantiles, composition, and the `noiseless` feature. Statistical tests are
//! compiled out under `noiseless` (there is no noise to test there).

mod accounting;
mod additive;
mod noiseless;
mod partition;
mod quantile;
#[cfg(not(feature = "noiseless"))]
mod stats;

/// Asserts `cost <= budget` and that `cost` is within 1 % of `budget`.
fn assert_tight(cost: f64, budget: f64, what: &str) {
    assert!(
        cost <= budget,
        "{what}: cost {cost} exceeds budget {budget}"
    );
    assert!(
        cost >= 0.99 * budget,
        "{what}: cost {cost} is not within 1 % of budget {budget}"
    );
}
