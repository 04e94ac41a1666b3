//! Linear tier: correctness against the plaintext answer, exactness at scale, refusals.

use rand::{Rng, SeedableRng};
use shuyu_crypto::linear::{
    grouped_sum, LinearBlock, LinearColumn, LinearEncryptor, LinearOrigin, LinearSecretKey, LWE_DIMENSION, NO_GROUP,
    POLYNOMIAL_SIZE,
};
use shuyu_crypto::CryptoError;

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
    assert_eq!(aggregates.iter().map(|a| a.rows()).collect::<Vec<_>>(), vec![2, 2, 1, 0]);
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
    for (aggregate, want) in aggregates.iter().zip(&expected) {
        let (got, noise) = key.decrypt_with_noise(aggregate);
        assert_eq!(got, *want);
        // The noise is a sum of `rows` TUniform(30) samples.
        assert!(noise.unsigned_abs() <= aggregate.rows() as u128 * (1 << 30));
    }
}

#[test]
fn noise_added_under_encryption_shifts_the_decrypted_sum() {
    let key = LinearSecretKey::generate();
    let values = [100u32, 200, 300];
    let column = LinearEncryptor::new(&key).encrypt_column("c", &values, 1000).unwrap();
    let mut aggregates = grouped_sum(&column, &[0, 0, 1], 2).unwrap();
    aggregates[0].add_noise(-450).unwrap();
    aggregates[1].add_noise(17).unwrap();
    assert_eq!(key.decrypt(&aggregates[0]), 300 - 450);
    assert_eq!(key.decrypt(&aggregates[1]), 317);
}

#[test]
fn noise_that_could_leave_the_message_space_is_refused() {
    let key = LinearSecretKey::generate();
    let column = LinearEncryptor::new(&key).encrypt_column("c", &[u32::MAX; 4], u32::MAX).unwrap();
    let aggregate = grouped_sum(&column, &[0; 4], 1).unwrap().remove(0);
    let room = (1i128 << 63) - 1 - 4 * u32::MAX as i128;
    let mut fits = aggregate.clone();
    fits.add_noise(-(room as i64)).unwrap();
    assert_eq!(key.decrypt(&fits), 4 * u32::MAX as i64 - room as i64);
    let mut too_much = aggregate;
    assert!(matches!(too_much.add_noise(room as i64 + 1), Err(CryptoError::Capacity(_))));
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
