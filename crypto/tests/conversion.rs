//! Conversion of proven, clamped bootstrapped-tier values into the linear tier: exact sums
//! against the plaintext answer, the noise that remains, DP noise within the converted
//! message space, and serialization of packed blocks and converted aggregates.
//!
//! One test, because the conversion key (a 2.4 GB 128-bit bootstrapping key and a 2 GB packing
//! key, shipped compressed as 2.1 GB) takes about a minute to generate on 2 cores; five values
//! keep the 40 bootstraps short.

use shuyu_crypto::bootstrapped;
use shuyu_crypto::linear::{
    grouped_sum, CompressedConversionKey, LinearAggregate, LinearBlock, LinearOrigin, LinearSecretKey, CONVERTED_SCALE_LOG2,
    NO_GROUP,
};
use shuyu_crypto::noise::NoiseSpec;
use shuyu_privacy::Mechanism;
use tfhe::prelude::*;
use tfhe::{ClientKey, FheUint32, ServerKey};

#[test]
fn converted_values_sum_exactly_under_the_linear_key() {
    let client_key = ClientKey::generate(bootstrapped::config());
    let server_key = ServerKey::new(&client_key);
    bootstrapped::install_server_key(&server_key);
    let linear_key = LinearSecretKey::generate();
    // As the custodian ships it and the domain reads it back.
    let shipped = CompressedConversionKey::generate(&client_key, &linear_key).to_bytes().unwrap();
    assert!(CompressedConversionKey::from_bytes(&shipped[..shipped.len() - 1]).is_err(), "a truncated key is refused");
    let conversion = CompressedConversionKey::from_bytes(&shipped).unwrap().decompress();
    drop(shipped);

    // Full-width values, including both ends of the range, and one value that went through
    // the import's homomorphic clamp (`min`), whose blocks come out of a bootstrap.
    let bound = 2_000_000_000u32;
    let clamped = FheUint32::encrypt(3_000_000_000u32, &client_key).min(bound);
    let plain = [0u32, 1, 1_999_999_999, 123_456_789];
    let mut values: Vec<FheUint32> = plain.iter().map(|&v| FheUint32::encrypt(v, &client_key)).collect();
    values.push(clamped);
    let expected = [0u64, 1, 1_999_999_999, 123_456_789, bound as u64];

    let column = conversion.convert_column(&server_key, &values, bound).unwrap();
    assert_eq!(column.origin(), LinearOrigin::Converted);
    assert_eq!(column.rows(), 5);
    assert_eq!(column.bound(), bound);

    // Groups 0 and 1, one row filtered out, one group with no row.
    let groups = [0u32, 1, 0, NO_GROUP, 1];
    let aggregates = grouped_sum(&column, &groups, 3).unwrap();
    let decrypted: Vec<(i64, i128)> = aggregates.iter().map(|a| linear_key.decrypt_with_noise(a)).collect();
    let sums: Vec<i64> = decrypted.iter().map(|d| d.0).collect();
    assert_eq!(
        sums,
        vec![(expected[0] + expected[2]) as i64, (expected[1] + expected[4]) as i64, 0],
        "each group's sum is exact"
    );
    // The noise model (module comment of `linear::convert`) gives sigma ~ 2^52 per value; two
    // values stay far below 2^60 (2^7 sigma), itself 2^9 below the rounding margin 2^69.
    for (_, noise) in &decrypted {
        assert!(noise.unsigned_abs() < 1u128 << 60, "conversion noise above its model");
    }
    // All five in one group, and the one filtered row alone.
    let all = grouped_sum(&column, &[0; 5], 1).unwrap();
    assert_eq!(linear_key.decrypt(&all[0]), expected.iter().sum::<u64>() as i64);
    let single = grouped_sum(&column, &[NO_GROUP, NO_GROUP, NO_GROUP, 0, NO_GROUP], 1).unwrap();
    assert_eq!(linear_key.decrypt(&single[0]), expected[3] as i64);

    // DP noise under encryption, in the 57-bit signed message space of scale 2^70.
    assert_eq!(CONVERTED_SCALE_LOG2, 70);
    // The budget is public: 5 rows times the bound plus the tail bound of the noise's scale
    // must stay below 2^57; a scale whose tail bound reaches it is refused, whatever is drawn.
    let spec = NoiseSpec::new(Mechanism::DiscreteLaplace, 1e9).unwrap();
    let mut noised = aggregates[1].clone();
    noised.add_noise(-(1i64 << 40), spec).unwrap();
    assert_eq!(linear_key.decrypt(&noised), (expected[1] + expected[4]) as i64 - (1i64 << 40));
    let wide = NoiseSpec::new(Mechanism::DiscreteLaplace, (1u64 << 57) as f64 / 45.0).unwrap();
    assert!(aggregates[1].clone().add_noise(0, wide).is_err(), "a noise scale whose tail leaves the message space is refused");
    // A draw beyond the tail bound (probability below 2^-64) is reduced into the signed 58-bit
    // message space: a fixed function of sum + noise, so privacy holds and only accuracy fails.
    let mut wrapped = aggregates[1].clone();
    wrapped.add_noise(1i64 << 57, spec).unwrap();
    assert_eq!(linear_key.decrypt(&wrapped), (expected[1] + expected[4]) as i64 - (1i64 << 57));

    // Serialization keeps the origin (and so the scale) and the explicit masks.
    let restored = LinearAggregate::from_bytes(&noised.to_bytes()).unwrap();
    assert_eq!(restored, noised);
    assert_eq!(restored.origin(), LinearOrigin::Converted);
    let mut bytes = Vec::new();
    column.blocks()[0].write_to(&mut bytes);
    assert_eq!(bytes.len(), column.blocks()[0].byte_len());
    assert_eq!(bytes.len(), 20 + 16 * 5 + 16 * 4096, "bodies plus the full k*N mask");
    let (block, used) = LinearBlock::read_from(&bytes).unwrap();
    assert_eq!((block, used), (column.blocks()[0].clone(), bytes.len()));
}
