//! DP partition selection: which GROUP BY keys of a non-public domain may be released.
//!
//! Each key carries the count of distinct privacy units that have rows in it; a unit appears
//! in at most `max_partitions` keys and adds 1 to each. The mechanism adds discrete noise to
//! every count and keeps the keys whose noisy count reaches a threshold (propose-test-release
//! over an unknown domain, Rogers 2023), releasing the noisy counts of the kept keys.
//!
//! OpenDP constructors: `make_gaussian_threshold` (discrete Gaussian, cost
//! `Approximate<ZeroConcentratedDivergence>` = (rho, delta), input metric `L02InfDistance`)
//! and `make_laplace_threshold` (discrete Laplace, cost `Approximate<MaxDivergence>` =
//! (epsilon, delta), input metric `L01InfDistance`), both on
//! `MapDomain<AtomDomain<u64>, AtomDomain<i64>>` keyed by the key's index. The neighbouring
//! distance is `(l0, lp, l∞) = (max_partitions, max_partitions, 1)`; OpenDP itself tightens
//! `lp` to `l∞·l0^(1/p)` (rounding the square root up).

use std::collections::HashMap;

use opendp::core::Measurement;
use opendp::domains::{AtomDomain, MapDomain};
use opendp::measurements::{make_gaussian_threshold, make_laplace_threshold};
use opendp::measures::{Approximate, MaxDivergence, ZeroConcentratedDivergence};
use opendp::metrics::{AbsoluteDistance, L01InfDistance, L02InfDistance};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::{
    check_budget, check_scale, nudge_scale_up, Mechanism, NoiseError, PrivacyDefinition, CHUNK_LEN,
    NOISELESS,
};

/// Noise and threshold of one DP partition selection.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PartitionSelection {
    /// [`Mechanism::DiscreteGaussian`] (zCDP budgets; what [`calibrate_partition_selection`]
    /// returns) or [`Mechanism::DiscreteLaplace`] (an (epsilon, delta) selection).
    pub mechanism: Mechanism,
    /// Noise scale added to each key's unit count (Gaussian σ or Laplace b).
    pub scale: f64,
    /// A key is released iff its noisy count is at least this (always ≥ 2).
    pub threshold: i64,
    /// Largest number of keys one privacy unit contributes to (1 to each).
    pub max_partitions: u32,
}

type KeyCounts = MapDomain<AtomDomain<u64>, AtomDomain<i64>>;
type GaussianSelection = Measurement<
    KeyCounts,
    L02InfDistance<AbsoluteDistance<f64>>,
    Approximate<ZeroConcentratedDivergence>,
    HashMap<u64, i64>,
>;
type LaplaceSelection = Measurement<
    KeyCounts,
    L01InfDistance<AbsoluteDistance<f64>>,
    Approximate<MaxDivergence>,
    HashMap<u64, i64>,
>;

fn key_counts_domain() -> KeyCounts {
    MapDomain::new(AtomDomain::<u64>::default(), AtomDomain::<i64>::default())
}

fn gaussian_selection(scale: f64, threshold: i64) -> Result<GaussianSelection, NoiseError> {
    make_gaussian_threshold(
        key_counts_domain(),
        L02InfDistance::default(),
        scale,
        threshold,
        None,
    )
    .map_err(|e| NoiseError::opendp_params("building the Gaussian partition selection", e))
}

fn laplace_selection(scale: f64, threshold: i64) -> Result<LaplaceSelection, NoiseError> {
    make_laplace_threshold(
        key_counts_domain(),
        L01InfDistance::default(),
        scale,
        threshold,
        None,
    )
    .map_err(|e| NoiseError::opendp_params("building the Laplace partition selection", e))
}

fn check_selection(sel: &PartitionSelection) -> Result<(), NoiseError> {
    check_scale(sel.scale)?;
    if sel.threshold < 2 {
        return Err(NoiseError::InvalidArgument(
            "partition selection threshold must be at least 2 (a unit adds 1 to a key's count)".into(),
        ));
    }
    if sel.max_partitions == 0 {
        return Err(NoiseError::InvalidArgument(
            "max_partitions must be at least 1".into(),
        ));
    }
    match sel.mechanism {
        Mechanism::DiscreteGaussian | Mechanism::DiscreteLaplace => Ok(()),
        Mechanism::Gaussian
        | Mechanism::Laplace
        | Mechanism::ExponentialQuantile
        | Mechanism::PartitionSelection => Err(not_count_noise()),
    }
}

/// The refusal of a selection whose `mechanism` is not an integer noise.
fn not_count_noise() -> NoiseError {
    NoiseError::InvalidArgument(
        "partition selection noises integer unit counts: use DiscreteGaussian or \
         DiscreteLaplace"
            .into(),
    )
}

/// The neighbouring distance of the key-count map: one unit changes at most
/// `max_partitions` keys, each by at most 1.
fn selection_d_in(max_partitions: u32) -> (u32, f64, f64) {
    (max_partitions, f64::from(max_partitions), 1.0)
}

/// The cost of that selection per OpenDP's privacy map of the measurement
/// [`select_partitions`] uses: `(rho, delta)` for [`Mechanism::DiscreteGaussian`],
/// `(epsilon, delta)` for [`Mechanism::DiscreteLaplace`]. The first component covers the
/// noisy counts released for the kept keys; delta covers keys that exist in only one of two
/// neighbouring databases.
pub fn partition_selection_cost(sel: &PartitionSelection) -> Result<(f64, f64), NoiseError> {
    check_selection(sel)?;
    let d_in = selection_d_in(sel.max_partitions);
    let ctx = "evaluating the partition selection privacy map";
    // OpenDP 0.16's threshold measurements keep a key when its noisy count is >= the
    // threshold T, but their privacy map bounds P[Z > T - count] (the strict tail). For
    // integer noise P[Z >= d] = P[Z > d - 1], so the map is evaluated at T - 1: its delta
    // then bounds what the measurement invoked at T really spends.
    let map_threshold = sel.threshold - 1;
    match sel.mechanism {
        Mechanism::DiscreteGaussian => gaussian_selection(sel.scale, map_threshold)?.map(&d_in),
        Mechanism::DiscreteLaplace => laplace_selection(sel.scale, map_threshold)?.map(&d_in),
        Mechanism::Gaussian
        | Mechanism::Laplace
        | Mechanism::ExponentialQuantile
        | Mechanism::PartitionSelection => return Err(not_count_noise()),
    }
    .map_err(|e| NoiseError::opendp_params(ctx, e))
}

/// Calibrates a partition selection that costs at most `budget` (rho) and `delta` under a
/// zCDP authorization, for units that each touch at most `max_partitions` keys.
///
/// The discrete Gaussian σ is the smallest meeting rho (closed form σ = √(max_partitions/(2ρ)),
/// checked and nudged up with OpenDP's map), then the threshold is the smallest integer whose
/// delta per OpenDP's map is at most `delta` (exponential then binary search).
///
/// Pure-DP budgets cannot select partitions: a key present in only one of two neighbouring
/// databases can only be hidden with a failure probability delta > 0.
pub fn calibrate_partition_selection(
    definition: PrivacyDefinition,
    budget: f64,
    delta: f64,
    max_partitions: u32,
) -> Result<PartitionSelection, NoiseError> {
    if definition == PrivacyDefinition::PureDp {
        return Err(NoiseError::Calibration(
            "a pure-DP budget cannot release GROUP BY keys that are not public: partition \
             selection needs delta > 0. Group by a column whose domain is public in the \
             catalog, or use an authorization with a zCDP budget"
                .into(),
        ));
    }
    check_budget(budget, "the rho budget of the partition selection")?;
    if !(delta > 0.0 && delta < 1.0) {
        return Err(NoiseError::InvalidArgument(
            "the delta of the partition selection must be strictly between 0 and 1".into(),
        ));
    }
    if max_partitions == 0 {
        return Err(NoiseError::InvalidArgument(
            "max_partitions must be at least 1".into(),
        ));
    }
    let mut sel = PartitionSelection {
        mechanism: Mechanism::DiscreteGaussian,
        scale: 0.0,
        // rho does not depend on the threshold: calibrate the scale at a valid large one.
        threshold: 1 << 40,
        max_partitions,
    };
    let start = (f64::from(max_partitions) / (2.0 * budget)).sqrt();
    sel.scale = nudge_scale_up(start, budget, |scale| {
        partition_selection_cost(&PartitionSelection { scale, ..sel }).map(|(rho, _)| rho)
    })?;

    let delta_at = |threshold: i64| -> Result<f64, NoiseError> {
        partition_selection_cost(&PartitionSelection { threshold, ..sel }).map(|(_, d)| d)
    };
    // Smallest threshold with delta_at(threshold) <= delta; delta_at decreases with threshold.
    let mut lo: i64 = 1; // delta_at(lo) > delta, or lo = 1 (below the valid range)
    let mut hi: i64 = 2;
    while delta_at(hi)? > delta {
        lo = hi;
        hi = hi.checked_mul(2).filter(|h| *h <= 1 << 62).ok_or_else(|| {
            NoiseError::Calibration(
                "no partition selection threshold reaches that delta; raise delta or the rho \
                 budget"
                    .into(),
            )
        })?;
    }
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if delta_at(mid)? <= delta {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    sel.threshold = hi;
    Ok(sel)
}

/// DP partition selection over keys given by index: `counts[i]` is the number of distinct
/// privacy units with rows in key `i` (each unit in at most `sel.max_partitions` keys).
/// Returns, for each key index, `Some(noisy count)` if the key is released (noisy count ≥
/// threshold) and `None` if it is suppressed. Keys are processed in parallel chunks, each by
/// its own OpenDP threshold measurement (independent noise per key, as in one measurement).
///
/// Under the `noiseless` feature every key whose exact count is at least the threshold is
/// released with its exact count.
pub fn select_partitions(
    counts: &[i64],
    sel: &PartitionSelection,
) -> Result<Vec<Option<i64>>, NoiseError> {
    check_selection(sel)?;
    // Fail on parameters before touching data.
    partition_selection_cost(sel)?;
    if NOISELESS {
        return Ok(counts
            .iter()
            .map(|&c| (c >= sel.threshold).then_some(c))
            .collect());
    }
    let chunks: Vec<Vec<Option<i64>>> = counts
        .par_chunks(CHUNK_LEN)
        .enumerate()
        .map(|(chunk_index, chunk)| select_chunk(chunk_index * CHUNK_LEN, chunk, sel))
        .collect::<Result<_, _>>()?;
    Ok(chunks.into_iter().flatten().collect())
}

fn select_chunk(
    offset: usize,
    chunk: &[i64],
    sel: &PartitionSelection,
) -> Result<Vec<Option<i64>>, NoiseError> {
    let key = |i: usize| (offset + i) as u64;
    let input: HashMap<u64, i64> = chunk
        .iter()
        .enumerate()
        .map(|(i, &c)| (key(i), c))
        .collect();
    let kept = match sel.mechanism {
        Mechanism::DiscreteGaussian => gaussian_selection(sel.scale, sel.threshold)?.invoke(&input),
        Mechanism::DiscreteLaplace => laplace_selection(sel.scale, sel.threshold)?.invoke(&input),
        Mechanism::Gaussian
        | Mechanism::Laplace
        | Mechanism::ExponentialQuantile
        | Mechanism::PartitionSelection => return Err(not_count_noise()),
    }
    .map_err(|e| NoiseError::opendp_invoke("drawing partition selection noise", e))?;
    Ok((0..chunk.len())
        .map(|i| kept.get(&key(i)).copied())
        .collect())
}
