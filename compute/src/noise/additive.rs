//! Additive noise on a vector of released values (counts, sums): the Laplace and Gaussian
//! families, their privacy cost, calibration and accuracy.
//!
//! OpenDP constructors: `make_laplace` (discrete Laplace on `i64`, or the floating-point-safe
//! Laplace on `f64`) for pure DP over an L1 sensitivity, and `make_gaussian` (discrete Gaussian
//! on `i64`, floating-point-safe Gaussian on `f64`) for zCDP over an L2 sensitivity. Both are
//! built on `VectorDomain<AtomDomain<_>>` with an `LpDistance<_, f64>` input metric, so the
//! sensitivity is given as an `f64` and converted exactly to a rational inside OpenDP.

use opendp::accuracy::{
    discrete_gaussian_scale_to_accuracy, discrete_laplacian_scale_to_accuracy,
    gaussian_scale_to_accuracy, laplacian_scale_to_accuracy,
};
use opendp::core::Measurement;
use opendp::domains::{AtomDomain, VectorDomain};
use opendp::measurements::{make_gaussian, make_laplace};
use opendp::measures::{MaxDivergence, ZeroConcentratedDivergence};
use opendp::metrics::{L1Distance, L2Distance};
use rayon::prelude::*;

use super::{
    check_budget, check_scale, nudge_scale_up, Mechanism, NoiseError, CHUNK_LEN, NOISELESS,
};

type IntVec = VectorDomain<AtomDomain<i64>>;
type FloatVec = VectorDomain<AtomDomain<f64>>;

/// Above this discrete-Gaussian scale the exact accuracy search (which walks the support one
/// integer at a time) is replaced by the continuous Gaussian's accuracy plus one.
const DISCRETE_GAUSSIAN_EXACT_ACCURACY_MAX_SCALE: f64 = 1e4;

fn int_domain() -> IntVec {
    VectorDomain::new(AtomDomain::<i64>::default())
}

fn float_domain() -> FloatVec {
    // Values must be non-NaN for an Lp metric; add_float_noise refuses NaN and infinities.
    VectorDomain::new(AtomDomain::<f64>::new_non_nan())
}

fn int_laplace(
    scale: f64,
) -> Result<Measurement<IntVec, L1Distance<f64>, MaxDivergence, Vec<i64>>, NoiseError> {
    make_laplace(int_domain(), L1Distance::default(), scale, None)
        .map_err(|e| NoiseError::opendp_params("building the discrete Laplace mechanism", e))
}

fn int_gaussian(
    scale: f64,
) -> Result<Measurement<IntVec, L2Distance<f64>, ZeroConcentratedDivergence, Vec<i64>>, NoiseError>
{
    make_gaussian(int_domain(), L2Distance::default(), scale, None)
        .map_err(|e| NoiseError::opendp_params("building the discrete Gaussian mechanism", e))
}

fn float_laplace(
    scale: f64,
) -> Result<Measurement<FloatVec, L1Distance<f64>, MaxDivergence, Vec<f64>>, NoiseError> {
    // k = None: OpenDP's finest grid 2^-1074, so discretization adds nothing to the sensitivity.
    make_laplace(float_domain(), L1Distance::default(), scale, None)
        .map_err(|e| NoiseError::opendp_params("building the Laplace mechanism", e))
}

fn float_gaussian(
    scale: f64,
) -> Result<Measurement<FloatVec, L2Distance<f64>, ZeroConcentratedDivergence, Vec<f64>>, NoiseError>
{
    make_gaussian(float_domain(), L2Distance::default(), scale, None)
        .map_err(|e| NoiseError::opendp_params("building the Gaussian mechanism", e))
}

/// Noises one chunk in place with a freshly built measurement (OpenDP measurements are not
/// `Send`, so each rayon task builds its own).
fn noise_int_chunk(chunk: &mut [i64], mechanism: Mechanism, scale: f64) -> Result<(), NoiseError> {
    let input = chunk.to_vec();
    let out = match mechanism {
        Mechanism::DiscreteLaplace => int_laplace(scale)?.invoke(&input),
        Mechanism::DiscreteGaussian => int_gaussian(scale)?.invoke(&input),
        Mechanism::Laplace | Mechanism::Gaussian => {
            return Err(float_mechanism_on_integers());
        }
        Mechanism::ExponentialQuantile | Mechanism::PartitionSelection => {
            return Err(not_additive(mechanism));
        }
    }
    .map_err(|e| NoiseError::opendp_invoke("drawing integer noise", e))?;
    copy_back(chunk, &out)
}

fn noise_float_chunk(
    chunk: &mut [f64],
    mechanism: Mechanism,
    scale: f64,
) -> Result<(), NoiseError> {
    let input = chunk.to_vec();
    let out = match mechanism {
        Mechanism::Laplace => float_laplace(scale)?.invoke(&input),
        Mechanism::Gaussian => float_gaussian(scale)?.invoke(&input),
        Mechanism::DiscreteLaplace | Mechanism::DiscreteGaussian => {
            return Err(integer_mechanism_on_floats());
        }
        Mechanism::ExponentialQuantile | Mechanism::PartitionSelection => {
            return Err(not_additive(mechanism));
        }
    }
    .map_err(|e| NoiseError::opendp_invoke("drawing float noise", e))?;
    copy_back(chunk, &out)
}

fn copy_back<T: Copy>(chunk: &mut [T], out: &[T]) -> Result<(), NoiseError> {
    if out.len() != chunk.len() {
        return Err(NoiseError::OpenDp(
            "the noise measurement returned a vector of the wrong length".into(),
        ));
    }
    chunk.copy_from_slice(out);
    Ok(())
}

fn float_mechanism_on_integers() -> NoiseError {
    NoiseError::InvalidArgument(
        "integer values take DiscreteLaplace or DiscreteGaussian; Laplace and Gaussian are for \
         float values (add_float_noise)"
            .into(),
    )
}

fn integer_mechanism_on_floats() -> NoiseError {
    NoiseError::InvalidArgument(
        "float values take Laplace or Gaussian; DiscreteLaplace and DiscreteGaussian are for \
         integer values (add_integer_noise)"
            .into(),
    )
}

fn not_additive(mechanism: Mechanism) -> NoiseError {
    NoiseError::InvalidArgument(format!(
        "{mechanism} adds no noise to a vector of values: use DiscreteLaplace or \
         DiscreteGaussian on integers, Laplace or Gaussian on floats"
    ))
}

/// Refuses the mechanisms that are not additive noise (the exponential quantile and
/// partition selection have their own functions: `dp_quantile`, `select_partitions`).
fn check_additive(mechanism: Mechanism) -> Result<(), NoiseError> {
    match mechanism {
        Mechanism::DiscreteLaplace | Mechanism::DiscreteGaussian | Mechanism::Laplace | Mechanism::Gaussian => Ok(()),
        Mechanism::ExponentialQuantile | Mechanism::PartitionSelection => Err(not_additive(mechanism)),
    }
}

/// Adds noise in place to integer values (one vector release), drawing with OpenDP's
/// discrete Laplace (`make_laplace`) or discrete Gaussian (`make_gaussian`) measurement,
/// in parallel over chunks of [`CHUNK_LEN`] values with rayon.
///
/// `scale` is the Laplace scale `b` or the Gaussian `σ`. `mechanism` must be
/// [`Mechanism::DiscreteLaplace`] or [`Mechanism::DiscreteGaussian`]. Results saturate at the
/// `i64` limits (OpenDP adds the noise on big integers and casts back saturating); they never
/// wrap. Under the `noiseless` feature the values are left unchanged.
pub fn add_integer_noise(
    values: &mut [i64],
    mechanism: Mechanism,
    scale: f64,
) -> Result<(), NoiseError> {
    // Built once before touching data, so parameter errors surface without any draw.
    let build: fn(f64) -> Result<(), NoiseError> = match mechanism {
        Mechanism::DiscreteLaplace => |s| int_laplace(s).map(drop),
        Mechanism::DiscreteGaussian => |s| int_gaussian(s).map(drop),
        Mechanism::Laplace | Mechanism::Gaussian => return Err(float_mechanism_on_integers()),
        Mechanism::ExponentialQuantile | Mechanism::PartitionSelection => return Err(not_additive(mechanism)),
    };
    check_scale(scale)?;
    build(scale)?;
    if NOISELESS {
        return Ok(());
    }
    values
        .par_chunks_mut(CHUNK_LEN)
        .try_for_each(|chunk| noise_int_chunk(chunk, mechanism, scale))
}

/// Adds noise in place to float values (one vector release), drawing with OpenDP's
/// floating-point-safe Laplace (`make_laplace`) or Gaussian (`make_gaussian`) measurement on
/// `f64` (exact discrete noise on the 2^-1074 grid, rounded once to the nearest `f64`), in
/// parallel over chunks of [`CHUNK_LEN`] values with rayon.
///
/// `scale` is the Laplace scale `b` or the Gaussian `σ`. `mechanism` must be
/// [`Mechanism::Laplace`] or [`Mechanism::Gaussian`]. NaN and infinite inputs are refused
/// (clamp before noising). Under the `noiseless` feature the values are left unchanged.
pub fn add_float_noise(
    values: &mut [f64],
    mechanism: Mechanism,
    scale: f64,
) -> Result<(), NoiseError> {
    // Built once before touching data, so parameter errors surface without any draw.
    let build: fn(f64) -> Result<(), NoiseError> = match mechanism {
        Mechanism::Laplace => |s| float_laplace(s).map(drop),
        Mechanism::Gaussian => |s| float_gaussian(s).map(drop),
        Mechanism::DiscreteLaplace | Mechanism::DiscreteGaussian => return Err(integer_mechanism_on_floats()),
        Mechanism::ExponentialQuantile | Mechanism::PartitionSelection => return Err(not_additive(mechanism)),
    };
    check_scale(scale)?;
    if values.par_iter().any(|v| !v.is_finite()) {
        return Err(NoiseError::InvalidArgument(
            "float values to noise must be finite (no NaN or infinity); clamp them to the \
             column's declared bounds first"
                .into(),
        ));
    }
    build(scale)?;
    if NOISELESS {
        return Ok(());
    }
    values
        .par_chunks_mut(CHUNK_LEN)
        .try_for_each(|chunk| noise_float_chunk(chunk, mechanism, scale))
}

fn check_sensitivity(sensitivity: f64) -> Result<(), NoiseError> {
    if sensitivity.is_finite() && sensitivity >= 0.0 {
        Ok(())
    } else {
        Err(NoiseError::InvalidArgument(
            "sensitivity must be a non-negative finite number".into(),
        ))
    }
}

/// Privacy cost of one vector release with that mechanism and scale, computed with OpenDP's
/// own privacy map of the measurement that [`add_integer_noise`] / [`add_float_noise`] use.
///
/// Laplace family (pure DP): `sensitivity` is the L1 sensitivity of the whole vector and the
/// result is epsilon (= Δ1/b, rounded up). Gaussian family (zCDP): `sensitivity` is the L2
/// sensitivity and the result is rho (= Δ2²/(2σ²), rounded up). Scale 0 with a positive
/// sensitivity costs infinity. The cost does not depend on the vector's length.
pub fn release_cost(mechanism: Mechanism, sensitivity: f64, scale: f64) -> Result<f64, NoiseError> {
    check_additive(mechanism)?;
    check_sensitivity(sensitivity)?;
    check_scale(scale)?;
    let ctx = "evaluating the privacy map";
    match mechanism {
        Mechanism::DiscreteLaplace => int_laplace(scale)?.map(&sensitivity),
        Mechanism::DiscreteGaussian => int_gaussian(scale)?.map(&sensitivity),
        Mechanism::Laplace => float_laplace(scale)?.map(&sensitivity),
        Mechanism::Gaussian => float_gaussian(scale)?.map(&sensitivity),
        Mechanism::ExponentialQuantile | Mechanism::PartitionSelection => return Err(not_additive(mechanism)),
    }
    .map_err(|e| NoiseError::opendp_params(ctx, e))
}

/// Smallest scale whose [`release_cost`] is at most `budget` (epsilon for the Laplace family,
/// rho for the Gaussian family) at that sensitivity.
///
/// Starts from the closed form (b = Δ1/ε; σ = Δ2/√(2ρ)), checks it with OpenDP's map and
/// nudges it up by relative steps of 2^-52, 2^-51, … while the map says more than the budget,
/// so the returned scale costs at most `budget` and (in practice) more than
/// `budget·(1 − 1e-12)`. A zero sensitivity needs no noise: the scale is 0.
pub fn calibrate_scale(
    mechanism: Mechanism,
    sensitivity: f64,
    budget: f64,
) -> Result<f64, NoiseError> {
    check_additive(mechanism)?;
    check_sensitivity(sensitivity)?;
    check_budget(budget, "the budget of a release")?;
    if sensitivity == 0.0 {
        return Ok(0.0);
    }
    let start = match mechanism {
        Mechanism::DiscreteLaplace | Mechanism::Laplace => sensitivity / budget,
        Mechanism::DiscreteGaussian | Mechanism::Gaussian => sensitivity / (2.0 * budget).sqrt(),
        Mechanism::ExponentialQuantile | Mechanism::PartitionSelection => return Err(not_additive(mechanism)),
    };
    nudge_scale_up(start, budget, |s| release_cost(mechanism, sensitivity, s))
}

/// Half-width `a` of a `level` confidence interval of one draw of that noise:
/// P(|noise| ≤ a) ≥ `level` (e.g. `level = 0.95`). Uses OpenDP's accuracy functions
/// (`laplacian_scale_to_accuracy`, `discrete_laplacian_scale_to_accuracy`,
/// `gaussian_scale_to_accuracy`, `discrete_gaussian_scale_to_accuracy`); the discrete ones are
/// conservative (they may exceed the exact quantile by up to one unit). For a discrete
/// Gaussian scale above 10⁴ the continuous Gaussian's half-width plus one, rounded up to an
/// integer as the noise is, is returned (the two
/// distributions are then indistinguishable at this precision, and the exact search would walk
/// the support one integer at a time). Scale 0 gives 0.
pub fn confidence_half_width(
    mechanism: Mechanism,
    scale: f64,
    level: f64,
) -> Result<f64, NoiseError> {
    check_additive(mechanism)?;
    check_scale(scale)?;
    if !(level > 0.0 && level < 1.0) {
        return Err(NoiseError::InvalidArgument(
            "confidence level must be strictly between 0 and 1 (e.g. 0.95)".into(),
        ));
    }
    if scale == 0.0 {
        return Ok(0.0);
    }
    let alpha = 1.0 - level;
    match mechanism {
        Mechanism::Laplace => laplacian_scale_to_accuracy(scale, alpha),
        Mechanism::DiscreteLaplace => discrete_laplacian_scale_to_accuracy(scale, alpha),
        Mechanism::Gaussian => gaussian_scale_to_accuracy(scale, alpha),
        Mechanism::DiscreteGaussian if scale > DISCRETE_GAUSSIAN_EXACT_ACCURACY_MAX_SCALE => {
            gaussian_scale_to_accuracy(scale, alpha).map(|a| (a + 1.0).ceil())
        }
        Mechanism::DiscreteGaussian => discrete_gaussian_scale_to_accuracy(scale, alpha),
        Mechanism::ExponentialQuantile | Mechanism::PartitionSelection => return Err(not_additive(mechanism)),
    }
    .map_err(|e| NoiseError::opendp_params("computing the confidence half-width", e))
}
