//! Partition selection: calibration, cost, and behaviour on clear-cut counts.

use super::assert_tight;
use crate::noise::*;

fn zcdp_selection(rho: f64, delta: f64, max_partitions: u32) -> PartitionSelection {
    calibrate_partition_selection(PrivacyDefinition::Zcdp, rho, delta, max_partitions).unwrap()
}

#[test]
fn pure_dp_cannot_select_partitions_and_says_what_to_do() {
    let err = calibrate_partition_selection(PrivacyDefinition::PureDp, 1.0, 1e-6, 1).unwrap_err();
    assert!(matches!(err, NoiseError::Calibration(_)));
    let msg = err.to_string();
    assert!(msg.contains("delta > 0"), "{msg}");
    assert!(msg.contains("public") && msg.contains("zCDP"), "{msg}");
}

#[test]
fn calibrated_selection_costs_at_most_its_budget() {
    for (rho, delta, max_partitions) in [(0.5, 1e-6, 1), (0.05, 1e-9, 4), (2.0, 1e-5, 20)] {
        let sel = zcdp_selection(rho, delta, max_partitions);
        assert_eq!(sel.mechanism, Mechanism::DiscreteGaussian);
        assert_eq!(sel.max_partitions, max_partitions);
        let (cost_rho, cost_delta) = partition_selection_cost(&sel).unwrap();
        assert_tight(cost_rho, rho, "partition selection rho");
        assert!(cost_delta <= delta);
        // The threshold is the smallest one: one less would exceed delta.
        if sel.threshold > 1 {
            let looser = PartitionSelection {
                threshold: sel.threshold - 1,
                ..sel
            };
            assert!(partition_selection_cost(&looser).unwrap().1 > delta);
        }
        // rho = max_partitions / (2σ²): the l2 distance of one unit is √max_partitions.
        let closed = f64::from(max_partitions) / (2.0 * sel.scale * sel.scale);
        assert!((cost_rho - closed).abs() <= 1e-12 * closed);
    }
}

#[test]
fn threshold_grows_as_delta_shrinks_and_partitions_grow() {
    let thresholds: Vec<i64> = [1e-3, 1e-6, 1e-9, 1e-12]
        .iter()
        .map(|&delta| zcdp_selection(0.1, delta, 1).threshold)
        .collect();
    assert!(thresholds.windows(2).all(|w| w[0] < w[1]), "{thresholds:?}");
    // More partitions per unit: more noise and a higher threshold.
    let one = zcdp_selection(0.1, 1e-6, 1);
    let ten = zcdp_selection(0.1, 1e-6, 10);
    assert!(ten.scale > one.scale && ten.threshold > one.threshold);
}

#[test]
fn huge_counts_are_all_kept_and_zero_counts_none() {
    // rho = 0.5, delta = 1e-9, one partition per unit: σ = 1 and the threshold T satisfies
    // P(Z ≥ T) ≤ 1e-9 for the discrete Gaussian Z (that is the per-key delta the map bounds).
    // Zero counts: P(any of 2 000 keys kept) ≤ 2 000·1e-9 = 2·10⁻⁶.
    // Counts of 10⁶: kept unless Z < T − 10⁶, i.e. |Z| > 10⁵σ — probability ~e^(−5·10⁹).
    let sel = zcdp_selection(0.5, 1e-9, 1);
    assert!(sel.threshold < 1_000);
    let zeros = vec![0i64; 2_000];
    assert!(select_partitions(&zeros, &sel)
        .unwrap()
        .iter()
        .all(Option::is_none));

    let huge = vec![1_000_000i64; 2_000];
    let out = select_partitions(&huge, &sel).unwrap();
    for released in out {
        let noisy = released.expect("a huge count must be kept");
        // |Z| ≤ 20σ except with probability ~e^(−200).
        assert!((noisy - 1_000_000).abs() <= 20 * sel.scale.ceil() as i64);
    }
}

#[test]
fn keys_keep_their_index_across_chunks() {
    // More keys than one chunk, alternating huge and zero counts: exactly the huge ones come
    // back, at their own index (failure probability as in the test above).
    let sel = zcdp_selection(0.5, 1e-9, 1);
    let n = 2 * CHUNK_LEN + 17;
    let counts: Vec<i64> = (0..n)
        .map(|i| if i % 3 == 0 { 1_000_000 } else { 0 })
        .collect();
    let out = select_partitions(&counts, &sel).unwrap();
    assert_eq!(out.len(), n);
    for (i, released) in out.iter().enumerate() {
        assert_eq!(released.is_some(), i % 3 == 0, "key {i}");
    }
}

#[test]
fn laplace_selection_states_epsilon_and_delta() {
    // A hand-built (epsilon, delta) selection: epsilon = l1/b with l1 = max_partitions = 2.
    let sel = PartitionSelection {
        mechanism: Mechanism::DiscreteLaplace,
        scale: 4.0,
        threshold: 60,
        max_partitions: 2,
    };
    let (eps, delta) = partition_selection_cost(&sel).unwrap();
    assert_eq!(eps, 0.5);
    // delta ≈ 1 − (1 − P(Z > 59))², P(Z > t) ≈ e^(−t/b)/(1 + e^(−1/b)) for the discrete Laplace.
    let p = (-59.0f64 / 4.0).exp();
    assert!(delta > 0.0 && delta < 4.0 * p, "{delta}");
}

#[test]
fn invalid_selections_are_refused() {
    let ok = zcdp_selection(0.5, 1e-6, 1);
    for bad in [
        PartitionSelection { threshold: 0, ..ok },
        PartitionSelection {
            threshold: -5,
            ..ok
        },
        PartitionSelection {
            max_partitions: 0,
            ..ok
        },
        PartitionSelection {
            mechanism: Mechanism::Gaussian,
            ..ok
        },
        PartitionSelection { mechanism: Mechanism::PartitionSelection, ..ok },
        PartitionSelection { mechanism: Mechanism::ExponentialQuantile, ..ok },
        PartitionSelection { scale: -1.0, ..ok },
    ] {
        assert!(select_partitions(&[1, 2], &bad).is_err());
        assert!(partition_selection_cost(&bad).is_err());
    }
    for (rho, delta, mp) in [(0.0, 1e-6, 1), (0.5, 0.0, 1), (0.5, 1.0, 1), (0.5, 1e-6, 0)] {
        assert!(calibrate_partition_selection(PrivacyDefinition::Zcdp, rho, delta, mp).is_err());
    }
}
