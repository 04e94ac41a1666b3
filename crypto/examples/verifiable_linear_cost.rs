//! Measures what a *verifiable* linear tier would cost: converting proven, clamped
//! bootstrapped-tier values into the linear tier's 2^128 encoding with a 128-bit programmable
//! bootstrap, one per 4-bit digit of a value (see `docs/encryption.md`, "Why linear-tier
//! imports are refused in releases").
//!
//! For one decomposition choice of the 128-bit bootstrapping key it reports: key generation
//! time, the key's size, the time of one conversion bootstrap, the output noise measured over
//! fresh digits (two 2-bit blocks combined as `4·b1 + b0`, the noise level a real conversion
//! starts from), and how many 32-bit values an aggregate could then sum exactly.
//!
//! It then sums 1 Mi rows (16 groups, one row in five filtered out) in the custodian's layout
//! (seeded masks) and in the converted layout (explicit masks, random contents: the cost does
//! not depend on them), interleaved, and prints both throughputs and their ratio.
//!
//! ```text
//! cargo run --profile dev -p shuyu-crypto --example verifiable_linear_cost -- 24 3 32
//! cargo run --profile dev -p shuyu-crypto --example verifiable_linear_cost -- 10 9 32
//! ```
//! Arguments: decomposition base log, level count, samples (defaults: TFHE-rs's own noise
//! squashing choice, 24 and 3, and 32 samples).

use rand::{Rng, SeedableRng};
use rayon::prelude::*;
use shuyu_crypto::linear::{
    grouped_sum, LinearBlock, LinearColumn, LinearEncryptor, LinearOrigin, LinearSecretKey, LWE_DIMENSION, NO_GROUP,
    PACKED_POLYNOMIAL_SIZE,
};
use std::time::Instant;
use tfhe::core_crypto::prelude::*;
use tfhe::shortint::atomic_pattern::AtomicPatternServerKey;
use tfhe::shortint::noise_squashing::atomic_pattern::AtomicPatternNoiseSquashingKey;
use tfhe::shortint::noise_squashing::{NoiseSquashingKey, NoiseSquashingPrivateKey, Shortint128BootstrappingKey};
use tfhe::shortint::parameters::{
    DecompositionBaseLog, DecompositionLevelCount, NoiseSquashingParameters,
    NOISE_SQUASHING_PARAM_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128, PARAM_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128,
};
use tfhe::shortint::{ClientKey, ServerKey};

/// Output scale of a converted digit sum (values at `v * 2^70`, see the report's capacity).
const SCALE_LOG2: u32 = 70;
/// Standard deviations of rounding margin demanded of a sum (a Gaussian tail of about 2^-124).
const MARGIN_SIGMAS: f64 = 13.0;
/// 4-bit digits per 32-bit value.
const DIGITS_PER_VALUE: f64 = 8.0;

fn main() {
    let args: Vec<usize> = std::env::args().skip(1).map(|a| a.parse().expect("numeric arguments")).collect();
    let base_log = args.first().copied().unwrap_or(24);
    let levels = args.get(1).copied().unwrap_or(3);
    let samples = args.get(2).copied().unwrap_or(32);

    let client_key = ClientKey::new(PARAM_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128);
    let server_key = ServerKey::new(&client_key);
    let NoiseSquashingParameters::Classic(mut params) = NOISE_SQUASHING_PARAM_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128 else {
        unreachable!("the CPU noise-squashing parameters are classic")
    };
    params.decomp_base_log = DecompositionBaseLog(base_log);
    params.decomp_level_count = DecompositionLevelCount(levels);
    let private_key = NoiseSquashingPrivateKey::new(NoiseSquashingParameters::Classic(params));

    let started = Instant::now();
    let squashing_key = NoiseSquashingKey::new(&client_key, &private_key);
    let keygen_secs = started.elapsed().as_secs_f64();
    let AtomicPatternNoiseSquashingKey::Standard(squashing_pattern) = squashing_key.atomic_pattern() else {
        unreachable!("KS-PBS parameters give the standard atomic pattern")
    };
    let Shortint128BootstrappingKey::Classic { bsk, .. } = squashing_pattern.bootstrapping_key() else {
        unreachable!("classic parameters give a classic key")
    };
    let AtomicPatternServerKey::Standard(pattern) = &server_key.atomic_pattern else {
        unreachable!("KS-PBS parameters give the standard atomic pattern")
    };
    let key_bytes = bsk.input_lwe_dimension().0
        * bsk.glwe_size().0
        * bsk.glwe_size().0
        * levels
        * bsk.polynomial_size().0
        * 16;

    let output_key = private_key.post_noise_squashing_lwe_secret_key();
    let modulus = CiphertextModulus::<u128>::new_native();
    let timed: Vec<(f64, i128, bool)> = (0..samples)
        .into_par_iter()
        .map(|i| {
            let digit = (i % 16) as u64;
            let position = (i / 16) % 8;
            let low = client_key.unchecked_encrypt(digit % 4);
            let high = client_key.unchecked_encrypt(digit / 4);
            let combined = server_key.unchecked_add(&server_key.unchecked_scalar_mul(&high, 4), &low);
            let weight = 16u128.pow(position as u32);
            let lut = generate_programmable_bootstrap_glwe_lut(
                bsk.polynomial_size(),
                bsk.glwe_size(),
                16,
                modulus,
                1u128 << SCALE_LOG2,
                |x: u128| x * weight,
            );
            let started = Instant::now();
            let mut switched = LweCiphertext::new(0u64, pattern.key_switching_key.output_lwe_size(), combined.ct.ciphertext_modulus());
            keyswitch_lwe_ciphertext(&pattern.key_switching_key, &combined.ct, &mut switched);
            let mut out = LweCiphertext::new(0u128, bsk.output_lwe_dimension().to_lwe_size(), modulus);
            programmable_bootstrap_f128_lwe_ciphertext(&switched, &mut out, &lut, bsk);
            let secs = started.elapsed().as_secs_f64();
            let expected = (digit as u128 * weight) << SCALE_LOG2;
            let phase = decrypt_lwe_ciphertext(&output_key, &out).0;
            let noise = phase.wrapping_sub(expected) as i128;
            let correct = noise.unsigned_abs() < 1u128 << (SCALE_LOG2 - 1);
            (secs, noise, correct)
        })
        .collect();

    let correct = timed.iter().filter(|t| t.2).count();
    let mean_secs = timed.iter().map(|t| t.0).sum::<f64>() / samples as f64;
    let sigma = (timed.iter().map(|t| (t.1 as f64).powi(2)).sum::<f64>() / samples as f64).sqrt();
    let per_value_sigma = sigma * DIGITS_PER_VALUE.sqrt();
    let margin = 2f64.powi(SCALE_LOG2 as i32 - 1);
    let exact_rows = (margin / (MARGIN_SIGMAS * per_value_sigma)).powi(2);
    let message_rows = 2f64.powi(127 - SCALE_LOG2 as i32 - 1) / u32::MAX as f64;
    println!("decomposition: base 2^{base_log}, {levels} levels");
    println!("key generation: {keygen_secs:.1} s; 128-bit bootstrapping key: {:.2} GB", key_bytes as f64 / 1e9);
    println!("conversion bootstrap (keyswitch + f128 PBS), one thread: {mean_secs:.3} s; {DIGITS_PER_VALUE} per 32-bit value");
    println!("digits decoded correctly: {correct}/{samples}");
    println!("output noise: sigma = 2^{:.1} per digit, 2^{:.1} per value", sigma.log2(), per_value_sigma.log2());
    println!(
        "exact sums at scale 2^{SCALE_LOG2}: up to {:.3e} values by noise ({MARGIN_SIGMAS} sigma), {:.3e} by message space",
        exact_rows, message_rows
    );
    throughput();
}

/// Sums over the custodian's layout and the converted layout, interleaved, median of 7 each.
fn throughput() {
    const ROWS: usize = 1 << 20;
    const GROUPS: usize = 16;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    let values: Vec<u32> = (0..ROWS).map(|_| rng.random()).collect();
    let groups: Vec<u32> =
        (0..ROWS).map(|_| if rng.random_bool(0.2) { NO_GROUP } else { rng.random_range(0..GROUPS as u32) }).collect();
    let key = LinearSecretKey::generate();
    let custodian = LinearEncryptor::new(&key).encrypt_column("v", &values, u32::MAX).expect("values within the bound");
    let blocks = (0..ROWS / PACKED_POLYNOMIAL_SIZE)
        .map(|_| {
            let mut bytes = Vec::with_capacity(20 + 16 * (PACKED_POLYNOMIAL_SIZE + LWE_DIMENSION));
            bytes.extend_from_slice(&0u128.to_le_bytes());
            bytes.extend_from_slice(&(PACKED_POLYNOMIAL_SIZE as u32 | 1 << 31).to_le_bytes());
            bytes.extend((0..16 * (PACKED_POLYNOMIAL_SIZE + LWE_DIMENSION)).map(|_| rng.random::<u8>()));
            LinearBlock::read_from(&bytes).expect("a well-formed block").0
        })
        .collect();
    let converted = LinearColumn::with_origin(blocks, u32::MAX, LinearOrigin::Converted).expect("full blocks");
    let (mut seeded, mut explicit) = (Vec::new(), Vec::new());
    for _ in 0..7 {
        for (column, times) in [(&custodian, &mut seeded), (&converted, &mut explicit)] {
            let started = Instant::now();
            grouped_sum(column, &groups, GROUPS).expect("within the budget");
            times.push(started.elapsed().as_secs_f64());
        }
    }
    let median = |times: &mut Vec<f64>| {
        times.sort_by(f64::total_cmp);
        times[times.len() / 2]
    };
    let (seeded, explicit) = (median(&mut seeded), median(&mut explicit));
    println!(
        "linear sum of {ROWS} rows, 16 groups: custodian layout {:.2} M rows/s ({:.2} B/value), converted layout {:.2} M rows/s ({:.2} B/value); ratio {:.2}",
        ROWS as f64 / seeded / 1e6,
        custodian.byte_len() as f64 / ROWS as f64,
        ROWS as f64 / explicit / 1e6,
        converted.byte_len() as f64 / ROWS as f64,
        explicit / seeded
    );
}
