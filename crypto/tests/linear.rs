//! Linear tier: correctness against the plaintext answer, exactness at scale, refusals.

use rand::{Rng, SeedableRng};
use shuyu_crypto::linear::{
    check_release_capacity, grouped_sum, LinearBlock, LinearColumn, LinearEncryptor, LinearOrigin, LinearSecretKey, LWE_DIMENSION,
    MAX_CONVERTED_ROWS_PER_AGGREGATE, MAX_ROWS_PER_AGGREGATE, NO_GROUP, POLYNOMIAL_SIZE,
};
use shuyu_crypto::noise::{NoiseSpec, PublicFigures};
use shuyu_privacy::Mechanism;
use shuyu_crypto::CryptoError;

fn laplace(scale: f64) -> NoiseSpec {
    NoiseSpec::new(Mechanism::DiscreteLaplace, scale).unwrap()
}

fn plaintext_sums(values: &[u32], groups: &[u32], num_groups: usize) -> Vec<i64> {
    let mut sums = vec![0i64; num_groups];
    for (&v, &g) in values.iter().zip(groups) {
        if g != NO_GROUP {
            sums[g as usize] += v as i64;
        }
    }
    sums
}

#[test]
fn small_filtered_grouped_sum_matches_plaintext() {
    let key = LinearSecretKey::generate();
    let values = [3u32, 5, 7, 11, 13, 17, 19];
    let groups = [0u32, 1, NO_GROUP, 0, 2, 1, NO_GROUP];
    let column = LinearEncryptor::new(&key).encrypt_column("claims", &values, 20).unwrap();
    let aggregates = grouped_sum(&column, &groups, 4).unwrap();
    let decrypted: Vec<i64> = aggregates.iter().map(|a| key.decrypt(a)).collect();
    assert_eq!(decrypted, vec![14, 22, 13, 0]);
    // Every group's aggregate states the import's size, 7, whatever its group holds.
    assert!(aggregates.iter().all(|a| a.figures() == &PublicFigures { import_rows: 7, bound: 20, noise: None }));
}

#[test]
fn hundred_thousand_full_width_values_sum_exactly() {
    let key = LinearSecretKey::generate();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let rows: usize = 100_000;
    let num_groups = 13;
    let values: Vec<u32> = (0..rows).map(|i| if i % 10 == 0 { u32::MAX } else { rng.random() }).collect();
    let groups: Vec<u32> =
        (0..rows).map(|_| if rng.random_bool(0.2) { NO_GROUP } else { rng.random_range(0..num_groups as u32) }).collect();
    let column = LinearEncryptor::new(&key).encrypt_column("loans", &values, u32::MAX).unwrap();
    assert_eq!(column.rows(), rows as u64);
    assert_eq!(column.blocks().len(), rows.div_ceil(POLYNOMIAL_SIZE));
    // 16 bytes per value plus 20 per block.
    assert!(column.byte_len() as f64 / rows as f64 <= 16.01);
    let aggregates = grouped_sum(&column, &groups, num_groups).unwrap();
    let expected = plaintext_sums(&values, &groups, num_groups);
    for (g, (aggregate, want)) in aggregates.iter().zip(&expected).enumerate() {
        let (got, noise) = key.decrypt_with_noise(aggregate);
        assert_eq!(got, *want);
        // The noise is a sum of the group's TUniform(30) samples.
        let members = groups.iter().filter(|&&x| x == g as u32).count() as u128;
        assert!(noise.unsigned_abs() <= members * (1 << 30));
    }
}

#[test]
fn noise_added_under_encryption_shifts_the_decrypted_sum() {
    let key = LinearSecretKey::generate();
    let values = [100u32, 200, 300];
    let column = LinearEncryptor::new(&key).encrypt_column("c", &values, 1000).unwrap();
    let mut aggregates = grouped_sum(&column, &[0, 0, 1], 2).unwrap();
    aggregates[0].add_noise(-450, laplace(100.0)).unwrap();
    aggregates[1].add_noise(17, laplace(100.0)).unwrap();
    assert_eq!(key.decrypt(&aggregates[0]), 300 - 450);
    assert_eq!(key.decrypt(&aggregates[1]), 317);
    // A release adds its noise once.
    assert!(matches!(aggregates[0].add_noise(1, laplace(100.0)), Err(CryptoError::InvalidInput(_))));
}

#[test]
fn the_exactness_budget_is_decided_from_public_figures_only() {
    let key = LinearSecretKey::generate();
    let column = LinearEncryptor::new(&key).encrypt_column("c", &[u32::MAX; 4], u32::MAX).unwrap();
    let aggregate = grouped_sum(&column, &[0, 1, NO_GROUP, NO_GROUP], 2).unwrap();
    // The budget is the import's 4 rows times the bound plus the noise's tail bound (45.05 b
    // for a discrete Laplace of scale b), below 2^63, whatever the group holds.
    let room = (1u128 << 63) - 4 * u32::MAX as u128;
    let fits = (room - 2) as f64 / 45.06;
    let too_wide = room as f64 / 45.0;
    for a in &aggregate {
        let mut ok = a.clone();
        ok.add_noise(-5, laplace(fits)).unwrap();
        assert!(ok.figures().max_magnitude() < 1 << 63);
        let mut refused = a.clone();
        assert!(matches!(refused.add_noise(0, laplace(too_wide)), Err(CryptoError::Capacity(_))), "refused even for a zero draw");
    }
    // The import's size, not a group's, caps an aggregate: one row more than the limit is
    // refused for any group, the limit itself accepted.
    for (origin, max) in [(LinearOrigin::Custodian, MAX_ROWS_PER_AGGREGATE), (LinearOrigin::Converted, MAX_CONVERTED_ROWS_PER_AGGREGATE)] {
        assert!(check_release_capacity(origin, max, 1, Some(&laplace(1.0))).is_ok());
        assert!(matches!(check_release_capacity(origin, max + 1, 1, Some(&laplace(1.0))), Err(CryptoError::Capacity(_))));
    }
}

#[test]
fn a_draw_beyond_the_tail_bound_wraps_in_the_message_space() {
    // Such a draw (probability below 2^-64) is not refused, which would make the output depend
    // on the noise alone; the sum is then reduced into the signed 64-bit message space, a fixed
    // function of `sum + noise` (post-processing), and only its accuracy suffers.
    let key = LinearSecretKey::generate();
    let column = LinearEncryptor::new(&key).encrypt_column("c", &[u32::MAX; 4], u32::MAX).unwrap();
    let mut aggregate = grouped_sum(&column, &[0; 4], 1).unwrap().remove(0);
    let spec = laplace(10.0);
    assert!(spec.tail_bound() < 500);
    aggregate.add_noise(i64::MAX, spec).unwrap();
    assert_eq!(key.decrypt(&aggregate), (4 * u32::MAX as i64).wrapping_add(i64::MAX));
}

#[test]
fn a_value_above_the_bound_is_refused_at_encryption() {
    let key = LinearSecretKey::generate();
    let err = LinearEncryptor::new(&key).encrypt_column("claims", &[1, 2, 99], 50).unwrap_err();
    match err {
        CryptoError::AboveBound { row, bound, .. } => assert_eq!((row, bound), (2, 50)),
        other => panic!("unexpected {other}"),
    }
    // The message names the row and bound, never the value.
    let text = LinearEncryptor::new(&key).encrypt_column("claims", &[1, 2, 99], 50).unwrap_err().to_string();
    assert!(!text.contains("99"));
}

#[test]
fn group_ids_must_match_the_column() {
    let key = LinearSecretKey::generate();
    let column = LinearEncryptor::new(&key).encrypt_column("c", &[1, 2, 3], 10).unwrap();
    assert!(matches!(grouped_sum(&column, &[0, 0], 1), Err(CryptoError::InvalidInput(_))));
    assert!(matches!(grouped_sum(&column, &[0, 5, 0], 2), Err(CryptoError::InvalidInput(_))));
}

#[test]
fn keys_blocks_and_aggregates_round_trip_and_keys_never_print() {
    let key = LinearSecretKey::generate();
    let restored = LinearSecretKey::from_bytes(&key.to_bytes()).unwrap();
    assert_eq!(format!("{key:?}"), "LinearSecretKey(<redacted>)");
    let column = LinearEncryptor::new(&key).encrypt_column("c", &[9, 8, 7], 10).unwrap();
    let mut bytes = Vec::new();
    for block in column.blocks() {
        block.write_to(&mut bytes);
    }
    let (block, used) = shuyu_crypto::linear::LinearBlock::read_from(&bytes).unwrap();
    assert_eq!(used, bytes.len());
    let column = LinearColumn::new(vec![block], 10).unwrap();
    let aggregate = grouped_sum(&column, &[0, NO_GROUP, 0], 1).unwrap().remove(0);
    let aggregate = shuyu_crypto::linear::LinearAggregate::from_bytes(&aggregate.to_bytes()).unwrap();
    assert_eq!(restored.decrypt(&aggregate), 16);
    assert!(LinearSecretKey::from_bytes(&[0u8; 10]).is_err());
}

#[test]
fn a_converted_column_holds_only_packed_blocks() {
    // Seeded blocks are the custodian's: claiming them as converted (the domain's own,
    // bound-verified layout) is refused, as is mixing the two layouts in one column.
    let key = LinearSecretKey::generate();
    let seeded = LinearEncryptor::new(&key).encrypt_column("c", &[1, 2, 3], 10).unwrap();
    let refused = LinearColumn::with_origin(seeded.blocks().to_vec(), 10, LinearOrigin::Converted);
    assert!(matches!(refused, Err(CryptoError::InvalidInput(_))));
    let mut bytes = Vec::new();
    bytes.extend_from_slice(&0u128.to_le_bytes());
    bytes.extend_from_slice(&(3u32 | 1 << 31).to_le_bytes());
    bytes.extend(std::iter::repeat_n(7u8, 16 * (3 + LWE_DIMENSION)));
    let (packed, used) = LinearBlock::read_from(&bytes).unwrap();
    assert_eq!(used, bytes.len());
    let mixed = LinearColumn::new(vec![packed.clone(), seeded.blocks()[0].clone()], 10);
    assert!(matches!(mixed, Err(CryptoError::InvalidInput(_))));
    let converted = LinearColumn::with_origin(vec![packed], 10, LinearOrigin::Converted).unwrap();
    assert_eq!(converted.rows(), 3);
}
