//! Noise: every random draw that leaves shuyu goes through this module.
//!
//! The module is a thin, typed layer over OpenDP 0.16 measurements. It never samples noise
//! with its own RNG or with naive `f64` arithmetic: every draw is made by invoking an OpenDP
//! [`Measurement`](opendp::core::Measurement), and every privacy cost is the value of that
//! measurement's own privacy map (OpenDP rounds maps *up*, so costs are never understated).
//!
//! | family | file | OpenDP constructors |
//! |---|---|---|
//! | additive noise on a vector of sums/counts | [`additive`] | `make_laplace`, `make_gaussian` |
//! | DP partition selection (GROUP BY over non-public keys) | [`partition`] | `make_laplace_threshold`, `make_gaussian_threshold` |
//! | DP quantile (exponential mechanism) | [`quantile`] | `make_quantile_score_candidates` (stability map), `make_noisy_max` |
//! | cost composition and conversion | [`accounting`] | `CompositionMeasure::compose`, `ConcentratedMeasure::convert` |
//!
//! # Mechanisms and privacy definitions
//! [`Mechanism`] and [`PrivacyDefinition`] are `shuyu-privacy`'s, shared with the planner
//! and governance. The functions here accept the mechanisms they draw and refuse the others
//! with [`NoiseError::InvalidArgument`]. An authorization's budget is in one
//! [`PrivacyDefinition`]: pure DP (epsilon, L1 sensitivities, Laplace-family noise) or
//! zero-concentrated DP (rho, L2 sensitivities, Gaussian-family noise). Integer values
//! (counts, integer sums) take the *discrete* Laplace/Gaussian; float values take OpenDP's
//! floating-point-safe samplers, which draw the same discrete distributions on the grid of
//! multiples of 2^-1074 (the finest `f64` grid, OpenDP's default `k`), so rounding adds
//! nothing to the sensitivity and the float privacy map equals the integer one.
//!
//! # Features
//! * Cargo: OpenDP's `contrib` feature (already on in the workspace) gates every constructor
//!   used here. No other OpenDP feature is needed: in particular not `honest-but-curious`
//!   (only user-defined closures and a few combinators need it) and not `floating-point`
//!   (an alias of `idealized-numerics`, which only adds the ALP sketch, a measurement whose
//!   proof assumes idealized real arithmetic — nothing shuyu should use).
//! * Runtime: the OpenDP *Rust* crate has no runtime feature switch; `enable_features(...)`
//!   exists only in OpenDP's Python/R bindings. So there is nothing to enable at run time.
//! * `noiseless` (shuyu-compute test feature): [`add_integer_noise`] and [`add_float_noise`]
//!   leave values unchanged, [`select_partitions`] keeps exactly the keys whose exact count is
//!   at least the threshold (reporting the exact count), and [`dp_quantile`] returns the
//!   candidate with the best (smallest) quantile score. Costs and calibration are identical
//!   with and without it. Check [`NOISELESS`] to know which build you are in.
//!
//! # Parallelism
//! Long vectors are split into chunks of [`CHUNK_LEN`] values and each chunk is noised by its
//! own OpenDP measurement on a rayon worker (an OpenDP `Measurement` holds `Arc<dyn Fn>`
//! without `Send`/`Sync`, so it is built per chunk; building one is cheap). The chunks draw
//! independent noise from OpenSSL's CSPRNG (`RAND_priv_bytes`, which is thread-safe), so the
//! output has exactly the distribution of one vector measurement over the whole input and the
//! cost of the whole release is that measurement's map at the whole vector's sensitivity.
//!
//! # Errors
//! [`NoiseError`] messages say what to change and never contain data values. Messages of
//! errors raised while *building* a measurement or evaluating its map may quote the public
//! parameters (scale, sensitivity) that OpenDP checked; errors raised while *invoking* a
//! measurement on data only carry OpenDP's error kind.

pub mod accounting;
pub mod additive;
pub mod partition;
pub mod quantile;

#[cfg(test)]
mod tests;

pub use accounting::{compose, compose_approximate, zcdp_to_approx_dp};
pub use additive::{
    add_float_noise, add_integer_noise, calibrate_scale, confidence_half_width, release_cost,
};
pub use partition::{
    calibrate_partition_selection, partition_selection_cost, select_partitions, PartitionSelection,
};
pub use quantile::{
    dp_quantile, dp_quantile_at_scale, quantile_candidates, quantile_cost, quantile_scale,
};

use shuyu_privacy::{Mechanism, PrivacyDefinition};

/// `true` when shuyu-compute was built with the test-only `noiseless` feature: no noise is
/// drawn and every mechanism releases its exact input. Never true in a build that serves data.
pub const NOISELESS: bool = cfg!(feature = "noiseless");

/// Number of values noised by one OpenDP measurement invocation (one rayon task).
pub const CHUNK_LEN: usize = 4096;

/// Errors of the noise module. Messages are actionable and never quote data values.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NoiseError {
    /// A parameter is out of its valid range (the message names the parameter and the range).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// No noise parameter meets the requested budget, or the mechanism cannot serve that
    /// privacy definition.
    #[error("calibration failed: {0}")]
    Calibration(String),
    /// OpenDP refused to build a measurement, evaluate a map or draw noise.
    #[error("OpenDP: {0}")]
    OpenDp(String),
}

impl NoiseError {
    /// Wraps an error OpenDP raised while building a measurement or evaluating a privacy map;
    /// those only involve public parameters, so OpenDP's message is kept.
    pub(crate) fn opendp_params(context: &str, e: opendp::error::Error) -> NoiseError {
        match e.message {
            Some(m) => NoiseError::OpenDp(format!("{context}: {:?}: {m}", e.variant)),
            None => NoiseError::OpenDp(format!("{context}: {:?}", e.variant)),
        }
    }

    /// Wraps an error OpenDP raised while invoking a measurement on data; only the error kind
    /// is kept, so no data value can leak through the message.
    pub(crate) fn opendp_invoke(context: &str, e: opendp::error::Error) -> NoiseError {
        NoiseError::OpenDp(format!(
            "{context}: {:?} (the message is withheld because it may describe data)",
            e.variant
        ))
    }
}

/// Checks that a budget is a positive finite number.
pub(crate) fn check_budget(budget: f64, what: &str) -> Result<(), NoiseError> {
    if budget.is_finite() && budget > 0.0 {
        Ok(())
    } else {
        Err(NoiseError::InvalidArgument(format!(
            "{what} must be a positive finite number"
        )))
    }
}

/// Checks that a scale is a non-negative finite number.
pub(crate) fn check_scale(scale: f64) -> Result<(), NoiseError> {
    if scale.is_finite() && scale >= 0.0 {
        Ok(())
    } else {
        Err(NoiseError::InvalidArgument(
            "noise scale must be a non-negative finite number".into(),
        ))
    }
}

/// Smallest scale `s >= start` with `cost(s) <= budget`, for a cost that decreases as the
/// scale grows: starts from the closed form and nudges it up by growing relative steps
/// (2^-50, 2^-49, …) while OpenDP's map still says more than the budget.
pub(crate) fn nudge_scale_up(
    start: f64,
    budget: f64,
    mut cost: impl FnMut(f64) -> Result<f64, NoiseError>,
) -> Result<f64, NoiseError> {
    if !(start.is_finite() && start > 0.0) {
        return Err(NoiseError::Calibration(
            "the budget is too small or the sensitivity too large for a finite noise scale".into(),
        ));
    }
    let mut scale = start;
    let mut step = f64::EPSILON;
    for _ in 0..200 {
        if cost(scale)? <= budget {
            return Ok(scale);
        }
        scale *= 1.0 + step;
        step *= 2.0;
        if !scale.is_finite() {
            break;
        }
    }
    Err(NoiseError::Calibration(
        "no noise scale meets the budget according to OpenDP's privacy map; raise the budget \
         or lower the sensitivity"
            .into(),
    ))
}
