//! DP quantile: scores agree with OpenDP's score transformation, accuracy on clear-cut
//! histograms, cost and calibration.

use super::assert_tight;
use crate::noise::quantile::{alpha_constants, histogram_scores, score_transformation};
use crate::noise::*;

#[test]
fn histogram_scores_equal_opendps_scores_on_the_expanded_rows() {
    // Small histograms, expanded to one row per count at the bucket midpoint, scored by
    // OpenDP's make_quantile_score_candidates: the scores must be identical.
    let histograms: [&[i64]; 4] = [
        &[3, 0, 5, 1, 0, 2],
        &[0, 0, 7],
        &[4],
        &[1, 2, 3, 4, 5, 6, 7, 8],
    ];
    for alpha in [0.5, 0.25, 0.9, 0.3, 0.0, 1.0, 0.123_456_789] {
        let (num, den) = alpha_constants(alpha).unwrap();
        for hist in histograms {
            let candidates = quantile_candidates(0.0, 10.0, hist.len()).unwrap();
            let rows: Vec<f64> = hist
                .iter()
                .zip(&candidates)
                .flat_map(|(&c, &m)| std::iter::repeat_n(m, c as usize))
                .collect();
            let t = opendp::transformations::make_quantile_score_candidates(
                opendp::domains::VectorDomain::new(
                    opendp::domains::AtomDomain::<f64>::new_non_nan(),
                ),
                opendp::metrics::SymmetricDistance,
                candidates.clone(),
                alpha,
            )
            .unwrap();
            let expected = t.invoke(&rows).unwrap();
            let counts: Vec<u64> = hist.iter().map(|&c| c as u64).collect();
            assert_eq!(
                histogram_scores(&counts, num, den),
                expected,
                "alpha {alpha}, {hist:?}"
            );
        }
        // And the constants match OpenDP's stability map: d_out(1) = max(num, den − num).
        let d1 = score_transformation(alpha).unwrap().map(&1).unwrap();
        assert_eq!(d1, num.max(den - num), "alpha {alpha}");
    }
}

#[test]
fn cost_matches_closed_form_and_calibration_is_tight() {
    // epsilon = 2·max_rows·max(α, 1−α)/scale: median, 3 rows per unit, scale 6 → 0.5.
    let eps = quantile_cost(0.5, 3, PrivacyDefinition::PureDp, 6.0).unwrap();
    assert_eq!(eps, 0.5);
    // rho = epsilon²/8 → 1/32.
    let rho = quantile_cost(0.5, 3, PrivacyDefinition::Zcdp, 6.0).unwrap();
    assert!((rho - 1.0 / 32.0).abs() <= 1e-15);
    // alpha = 0.9 weighs the larger side: 2·1·0.9/1.8 = 1.
    let eps = quantile_cost(0.9, 1, PrivacyDefinition::PureDp, 1.8).unwrap();
    assert!((eps - 1.0).abs() <= 1e-12, "{eps}");

    for def in [PrivacyDefinition::PureDp, PrivacyDefinition::Zcdp] {
        for alpha in [0.5, 0.1, 0.75, 0.99] {
            for max_rows in [1, 5, 100] {
                for budget in [0.01, 0.5, 3.0] {
                    let scale = quantile_scale(alpha, max_rows, def, budget).unwrap();
                    let cost = quantile_cost(alpha, max_rows, def, scale).unwrap();
                    assert_tight(cost, budget, def.unit_name());
                }
            }
        }
    }
}

/// Histogram over [0, 100) in 20 buckets of width 5: 1 000 rows in bucket 7 ([35, 40)), and
/// 10 rows in every other bucket.
fn concentrated_histogram() -> Vec<i64> {
    (0..20).map(|i| if i == 7 { 1_000 } else { 10 }).collect()
}

#[test]
fn median_of_a_concentrated_histogram_lands_in_its_bucket() {
    // The true median is in bucket 7 (70 rows below it, 120 above, 1 000 inside), so the best
    // candidate is its midpoint 37.5, with score |0.5·70 − 0.5·120| = 25; the next best
    // (buckets 6 and 8) score 0.5·|60 − 1 120| = 530 and 0.5·|1 070 − 110| = 480, a gap of at
    // least 455. At budget 1 and max_rows = 1 the scale is 1 (pure DP: 2·0.5/1) or 1/√8
    // (zCDP: 1/√(8·1)) in score units. Permute-and-flip (pure DP) accepts a candidate with gap
    // g with probability e^(−g/scale) per visit, and the exponential mechanism (zCDP) gives it
    // relative weight e^(−g/scale), so each of the 19 other candidates wins with probability
    // ≤ e^(−455) and all together ≤ 19·e^(−455) ≈ 0 per draw. The answer is therefore the
    // midpoint of bucket 7, 37.5: within half a bucket width of every value in [35, 40).
    let hist = concentrated_histogram();
    for def in [PrivacyDefinition::PureDp, PrivacyDefinition::Zcdp] {
        for _ in 0..20 {
            let q = dp_quantile(&hist, 0.0, 100.0, 0.5, 1, def, 1.0).unwrap();
            assert_eq!(q, 37.5, "{def:?}");
        }
    }
}

#[test]
fn upper_quantile_lands_in_its_bucket() {
    // alpha = 0.9 of 1 190 rows is rank 1 071, in bucket 8 (1 070 rows below bucket 8's
    // midpoint... precisely: #(x < 42.5) = 1 070, #(x > 42.5) = 110, score
    // |0.1·1 070 − 0.9·110| = 8; bucket 7 scores |0.1·70 − 0.9·120| = 101, bucket 9
    // |0.1·1 080 − 0.9·100| = 18). Gaps are ≥ 10, and at epsilon = 10, max_rows = 1 the
    // scale is 2·0.9/10 = 0.18, so another candidate wins with probability ≤ 19·e^(−55).
    let hist = concentrated_histogram();
    for _ in 0..20 {
        let q = dp_quantile(&hist, 0.0, 100.0, 0.9, 1, PrivacyDefinition::PureDp, 10.0).unwrap();
        assert_eq!(q, 42.5);
    }
}

#[test]
fn candidates_are_bucket_midpoints() {
    assert_eq!(
        quantile_candidates(0.0, 10.0, 4).unwrap(),
        vec![1.25, 3.75, 6.25, 8.75]
    );
    assert_eq!(quantile_candidates(-1.0, 1.0, 1).unwrap(), vec![0.0]);
    // Integer data: bounds offset by ½ make the midpoints the integers themselves.
    assert_eq!(
        quantile_candidates(-0.5, 2.5, 3).unwrap(),
        vec![0.0, 1.0, 2.0]
    );
}

#[test]
fn invalid_quantile_inputs_are_refused() {
    let hist = [1i64, 2, 3];
    let def = PrivacyDefinition::PureDp;
    assert!(dp_quantile(&[], 0.0, 1.0, 0.5, 1, def, 1.0).is_err());
    assert!(dp_quantile(&[1, -1], 0.0, 1.0, 0.5, 1, def, 1.0).is_err());
    assert!(dp_quantile(&hist, 1.0, 1.0, 0.5, 1, def, 1.0).is_err());
    assert!(dp_quantile(&hist, 0.0, f64::INFINITY, 0.5, 1, def, 1.0).is_err());
    assert!(dp_quantile(&hist, 0.0, 1.0, 1.5, 1, def, 1.0).is_err());
    assert!(dp_quantile(&hist, 0.0, 1.0, 0.5, 0, def, 1.0).is_err());
    assert!(dp_quantile(&hist, 0.0, 1.0, 0.5, 1, def, 0.0).is_err());
    let err = dp_quantile(&[1, -1], 0.0, 1.0, 0.5, 1, def, 1.0).unwrap_err();
    assert!(!err.to_string().contains("-1"), "no data value in {err}");
}

#[test]
fn quantile_at_a_fixed_scale_matches_the_budget_form() {
    // Same histogram and gap argument as the median test; the planner fixes the scale first.
    let hist = concentrated_histogram();
    let def = PrivacyDefinition::PureDp;
    let scale = quantile_scale(0.5, 1, def, 1.0).unwrap();
    assert_eq!(scale, 1.0);
    for _ in 0..10 {
        assert_eq!(
            dp_quantile_at_scale(&hist, 0.0, 100.0, 0.5, def, scale).unwrap(),
            37.5
        );
    }
    for bad in [-1.0, f64::NAN, f64::INFINITY] {
        assert!(dp_quantile_at_scale(&hist, 0.0, 100.0, 0.5, def, bad).is_err());
    }
}
