//! DP quantile from a histogram, by the exponential mechanism over quantile scores.
//!
//! The input is a histogram: `bucket_counts[i]` rows (bounded per unit, values clamped to
//! `[lower, upper]`) fall in bucket `i` of `n` equal-width buckets over `[lower, upper]`.
//! Every row of bucket `i` is represented by the bucket's midpoint, and the candidates are
//! the `n` midpoints (see [`quantile_candidates`]), so the released value is within half a
//! bucket width of the bucket that holds the chosen rank. The score of a candidate `c` is
//! OpenDP's quantile score `|(1 − α)·#(x < c) − α·#(x > c)|` (scaled to integers by OpenDP's
//! `alpha_den`), which is what `make_quantile_score_candidates` computes on the dataset of
//! midpoints — here computed from the histogram in O(n) without materializing rows.
//!
//! OpenDP constructors: `make_quantile_score_candidates` (its stability map gives the score
//! sensitivity for `max_rows` added/removed rows, `SymmetricDistance`, unknown size), and
//! `make_noisy_max` (permute-and-flip, i.e. report-noisy-max with exponential noise, under
//! `MaxDivergence`; with replacement, i.e. the exponential mechanism, under
//! `ZeroConcentratedDivergence`), exactly as OpenDP's `make_private_quantile` chains them; the
//! noise scale is in score units, multiplied by `alpha_den` as `make_private_quantile` does.
//! The cost is `noisy_max.map(score_transformation.map(max_rows))` and does not depend on the
//! data, the bounds or the number of buckets.

use opendp::core::{Measurement, Transformation};
use opendp::domains::{AtomDomain, VectorDomain};
use opendp::measurements::{make_noisy_max, TopKMeasure};
use opendp::measures::{MaxDivergence, ZeroConcentratedDivergence};
use opendp::metrics::{LInfDistance, SymmetricDistance};
use opendp::traits::RoundCast;
use opendp::transformations::make_quantile_score_candidates;

use super::{check_budget, check_scale, nudge_scale_up, NoiseError, PrivacyDefinition, NOISELESS};

type Scores = VectorDomain<AtomDomain<u64>>;
type Rows = VectorDomain<AtomDomain<f64>>;
type ScoreTransformation = Transformation<Rows, SymmetricDistance, Scores, LInfDistance<u64>>;

/// OpenDP's integer representation of alpha for an input of unknown size
/// (`score_candidates_constants(None, alpha)`): the exact dyadic fraction if its denominator
/// is below 10 000, else `(trunc(alpha·10 000), 10 000)`. Checked against OpenDP's stability
/// map in [`score_sensitivity`].
pub(crate) fn alpha_constants(alpha: f64) -> Result<(u64, u64), NoiseError> {
    check_alpha(alpha)?;
    const APPROX_DEN: u64 = 10_000;
    // alpha = m·2^-k exactly with the smallest such k; its reduced denominator is 2^k, and
    // 2^k < 10 000 iff k ≤ 13. Multiplying by a power of two is exact in f64.
    for k in 0..=13u32 {
        let scaled = alpha * f64::from(1u32 << k);
        if scaled.fract() == 0.0 {
            return Ok((scaled as u64, 1u64 << k));
        }
    }
    let num = u64::round_cast(alpha * APPROX_DEN as f64)
        .map_err(|e| NoiseError::opendp_params("scaling alpha", e))?;
    Ok((num, APPROX_DEN))
}

fn check_alpha(alpha: f64) -> Result<(), NoiseError> {
    if (0.0..=1.0).contains(&alpha) {
        Ok(())
    } else {
        Err(NoiseError::InvalidArgument(
            "the quantile alpha must be within [0, 1] (0.5 for the median)".into(),
        ))
    }
}

fn check_max_rows(max_rows: u32) -> Result<(), NoiseError> {
    if max_rows == 0 {
        return Err(NoiseError::InvalidArgument(
            "max_rows must be at least 1".into(),
        ));
    }
    Ok(())
}

pub(crate) fn score_transformation(alpha: f64) -> Result<ScoreTransformation, NoiseError> {
    // The stability map depends only on alpha and on the (unknown) input size, not on the
    // candidates, so two placeholder candidates suffice.
    make_quantile_score_candidates(
        VectorDomain::new(AtomDomain::<f64>::new_non_nan()),
        SymmetricDistance,
        vec![0.0, 1.0],
        alpha,
    )
    .map_err(|e| NoiseError::opendp_params("building the quantile score transformation", e))
}

/// L∞ sensitivity of the integer scores when one unit adds or removes up to `max_rows` rows,
/// per OpenDP's stability map, and checked to agree with [`alpha_constants`].
fn score_sensitivity(alpha: f64, max_rows: u32) -> Result<u64, NoiseError> {
    check_max_rows(max_rows)?;
    let d_score = score_transformation(alpha)?
        .map(&max_rows)
        .map_err(|e| NoiseError::opendp_params("evaluating the quantile score stability map", e))?;
    let (num, den) = alpha_constants(alpha)?;
    if d_score != u64::from(max_rows) * num.max(den - num) {
        return Err(NoiseError::OpenDp(
            "the quantile score constants disagree with OpenDP's score transformation".into(),
        ));
    }
    Ok(d_score)
}

fn noisy_max<MO: TopKMeasure>(
    scale: f64,
    alpha_den: u64,
) -> Result<Measurement<Scores, LInfDistance<u64>, MO, usize>, NoiseError> {
    // As make_private_quantile: the scale is in score units, the scores are scaled by alpha_den.
    make_noisy_max(
        VectorDomain::new(AtomDomain::<u64>::default()),
        LInfDistance::default(),
        MO::default(),
        scale * alpha_den as f64,
        true, // the best candidate has the smallest score
    )
    .map_err(|e| NoiseError::opendp_params("building the report-noisy-max mechanism", e))
}

/// Privacy cost (epsilon for [`PrivacyDefinition::PureDp`], rho for
/// [`PrivacyDefinition::Zcdp`]) of one [`dp_quantile`] release at noise `scale` (in score
/// units, as OpenDP's `make_private_quantile`), when each unit contributes at most `max_rows`
/// rows. Closed forms: ε = 2·max_rows·max(α, 1−α)/scale; ρ = ε²/8. No data needed.
pub fn quantile_cost(
    alpha: f64,
    max_rows: u32,
    definition: PrivacyDefinition,
    scale: f64,
) -> Result<f64, NoiseError> {
    check_scale(scale)?;
    let d_score = score_sensitivity(alpha, max_rows)?;
    let (_, den) = alpha_constants(alpha)?;
    let ctx = "evaluating the report-noisy-max privacy map";
    match definition {
        PrivacyDefinition::PureDp => noisy_max::<MaxDivergence>(scale, den)?.map(&d_score),
        PrivacyDefinition::Zcdp => {
            noisy_max::<ZeroConcentratedDivergence>(scale, den)?.map(&d_score)
        }
    }
    .map_err(|e| NoiseError::opendp_params(ctx, e))
}

/// Smallest noise scale (score units) whose [`quantile_cost`] is at most `budget`: the closed
/// form, checked with OpenDP's maps and nudged up if they say more. No data needed.
pub fn quantile_scale(
    alpha: f64,
    max_rows: u32,
    definition: PrivacyDefinition,
    budget: f64,
) -> Result<f64, NoiseError> {
    check_budget(budget, "the budget of the quantile")?;
    let (num, den) = alpha_constants(alpha)?;
    check_max_rows(max_rows)?;
    // Range sensitivity of the unscaled scores: 2·max_rows·max(α, 1−α).
    let range = 2.0 * f64::from(max_rows) * (num.max(den - num) as f64 / den as f64);
    let start = match definition {
        PrivacyDefinition::PureDp => range / budget,
        PrivacyDefinition::Zcdp => range / (8.0 * budget).sqrt(),
    };
    nudge_scale_up(start, budget, |s| {
        quantile_cost(alpha, max_rows, definition, s)
    })
}

/// The candidates of [`dp_quantile`] for `n_buckets` equal-width buckets over
/// `[lower, upper]`: the bucket midpoints `lower + (i + ½)·(upper − lower)/n_buckets`.
pub fn quantile_candidates(
    lower: f64,
    upper: f64,
    n_buckets: usize,
) -> Result<Vec<f64>, NoiseError> {
    if !(lower.is_finite() && upper.is_finite() && lower < upper) {
        return Err(NoiseError::InvalidArgument(
            "quantile bounds must be finite with lower < upper".into(),
        ));
    }
    if n_buckets == 0 {
        return Err(NoiseError::InvalidArgument(
            "the quantile histogram needs at least one bucket".into(),
        ));
    }
    let width = (upper - lower) / n_buckets as f64;
    let candidates: Vec<f64> = (0..n_buckets)
        .map(|i| lower + (i as f64 + 0.5) * width)
        .collect();
    if !width.is_finite() || candidates.windows(2).any(|w| w[0] >= w[1]) {
        return Err(NoiseError::InvalidArgument(
            "too many quantile buckets for these bounds: bucket midpoints are not distinct \
             floats; use fewer buckets"
                .into(),
        ));
    }
    Ok(candidates)
}

/// OpenDP's integer quantile scores of the midpoint candidates for the histogram
/// (`score_candidates` on the dataset where each row sits at its bucket's midpoint).
pub(crate) fn histogram_scores(counts: &[u64], num: u64, den: u64) -> Vec<u64> {
    let size_limit = u64::MAX / den;
    let total: u64 = counts.iter().sum();
    let mut lt = 0u64;
    counts
        .iter()
        .map(|&c| {
            let gt = total - lt - c;
            let score = ((den - num) * lt.min(size_limit)).abs_diff(num * gt.min(size_limit));
            lt += c;
            score
        })
        .collect()
}

/// DP quantile by the exponential mechanism (OpenDP's report-noisy-max over quantile scores)
/// from a histogram: `bucket_counts[i]` = number of (bounded) rows whose clamped value falls
/// in bucket `i` of `bucket_counts.len()` equal-width buckets over `[lower, upper]`
/// (bucket `i` = `[lower + i·w, lower + (i+1)·w)`, the last one closed).
/// Candidates are the bucket midpoints ([`quantile_candidates`]); each unit contributes at
/// most `max_rows` rows; `alpha` is the quantile (0.5 = median). The noise is calibrated to
/// `budget` with [`quantile_scale`], so the cost is [`quantile_cost`] at that scale (≤
/// `budget`). Returns the chosen candidate.
///
/// Under the `noiseless` feature the candidate with the smallest score (the exact quantile's
/// bucket midpoint; the lowest one on ties) is returned.
pub fn dp_quantile(
    bucket_counts: &[i64],
    lower: f64,
    upper: f64,
    alpha: f64,
    max_rows: u32,
    definition: PrivacyDefinition,
    budget: f64,
) -> Result<f64, NoiseError> {
    let scale = quantile_scale(alpha, max_rows, definition, budget)?;
    dp_quantile_at_scale(bucket_counts, lower, upper, alpha, definition, scale)
}

/// [`dp_quantile`] at a noise `scale` fixed beforehand (e.g. by [`quantile_scale`] at planning
/// time), so the cost is exactly [`quantile_cost`]`(alpha, max_rows, definition, scale)`.
/// Under the `noiseless` feature the best-scoring candidate is returned.
pub fn dp_quantile_at_scale(
    bucket_counts: &[i64],
    lower: f64,
    upper: f64,
    alpha: f64,
    definition: PrivacyDefinition,
    scale: f64,
) -> Result<f64, NoiseError> {
    check_scale(scale)?;
    let candidates = quantile_candidates(lower, upper, bucket_counts.len())?;
    let counts: Vec<u64> = bucket_counts
        .iter()
        .map(|&c| u64::try_from(c))
        .collect::<Result<_, _>>()
        .map_err(|_| NoiseError::InvalidArgument("bucket counts must be non-negative".into()))?;
    counts
        .iter()
        .try_fold(0u64, |acc, &c| acc.checked_add(c))
        .ok_or_else(|| {
            NoiseError::InvalidArgument("the histogram's total row count overflows u64".into())
        })?;
    let (num, den) = alpha_constants(alpha)?;
    let scores = histogram_scores(&counts, num, den);

    let index = if NOISELESS {
        (0..scores.len()).min_by_key(|&i| scores[i])
    } else {
        let ctx = "drawing the quantile";
        Some(
            match definition {
                PrivacyDefinition::PureDp => {
                    noisy_max::<MaxDivergence>(scale, den)?.invoke(&scores)
                }
                PrivacyDefinition::Zcdp => {
                    noisy_max::<ZeroConcentratedDivergence>(scale, den)?.invoke(&scores)
                }
            }
            .map_err(|e| NoiseError::opendp_invoke(ctx, e))?,
        )
    };
    index
        .and_then(|i| candidates.get(i).copied())
        .ok_or_else(|| NoiseError::OpenDp("report-noisy-max returned no valid candidate".into()))
}
