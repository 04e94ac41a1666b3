//! Composition of release costs and conversion of zCDP to (epsilon, delta)-DP.
//!
//! OpenDP APIs: `CompositionMeasure::compose` of `MaxDivergence` / `ZeroConcentratedDivergence`
//! (sum, rounded up) and of `Approximate<ZeroConcentratedDivergence>` (sum of rho, sum of
//! delta), and `ConcentratedMeasure::convert` (the privacy profile of a rho-zCDP mechanism,
//! Canonne–Kamath–Steinke 2020, Corollary 13), whose `epsilon(delta)` is the tightest epsilon
//! OpenDP proves.

use opendp::combinators::{CompositionMeasure, ConcentratedMeasure};
use opendp::measures::{Approximate, ZeroConcentratedDivergence};

use super::NoiseError;

fn check_costs<'a>(costs: impl IntoIterator<Item = &'a f64>) -> Result<(), NoiseError> {
    if costs.into_iter().all(|c| c.is_finite() && *c >= 0.0) {
        Ok(())
    } else {
        Err(NoiseError::InvalidArgument(
            "privacy costs must be non-negative finite numbers".into(),
        ))
    }
}

/// Basic sequential composition: the total cost of releases that each cost `costs[i]`, all in
/// the same definition (epsilon under pure DP, rho under zCDP); that is their sum, rounded up.
pub fn compose(costs: &[f64]) -> Result<f64, NoiseError> {
    check_costs(costs)?;
    // MaxDivergence composes epsilons with the same rounded-up sum.
    ZeroConcentratedDivergence
        .compose(costs.to_vec())
        .map_err(|e| NoiseError::opendp_params("composing privacy costs", e))
}

/// Basic composition of approximate costs `(rho or epsilon, delta)`, e.g. a partition
/// selection with the releases of its kept keys: sums each component, rounded up.
pub fn compose_approximate(costs: &[(f64, f64)]) -> Result<(f64, f64), NoiseError> {
    check_costs(costs.iter().flat_map(|(a, b)| [a, b]))?;
    Approximate(ZeroConcentratedDivergence)
        .compose(costs.to_vec())
        .map_err(|e| NoiseError::opendp_params("composing privacy costs", e))
}

/// The epsilon of (epsilon, `delta`)-DP implied by `rho`-zCDP, per OpenDP's conversion
/// (tighter than the textbook ρ + 2√(ρ·ln(1/δ))). `delta` must be in (0, 1].
pub fn zcdp_to_approx_dp(rho: f64, delta: f64) -> Result<f64, NoiseError> {
    check_costs([&rho])?;
    if !(delta > 0.0 && delta <= 1.0) {
        return Err(NoiseError::InvalidArgument(
            "delta must be in (0, 1] to state a zCDP cost as (epsilon, delta)".into(),
        ));
    }
    let profile = <ZeroConcentratedDivergence as ConcentratedMeasure>::convert(rho)
        .map_err(|e| NoiseError::opendp_params("converting rho to a privacy profile", e))?;
    profile
        .epsilon(delta)
        .map_err(|e| NoiseError::opendp_params("converting rho to (epsilon, delta)", e))
}
