//! Encrypted-aggregation benchmarks (run: `cargo bench -p shuyu-crypto --features pbs-stats`):
//! - linear tier: SUM filtered and grouped by public columns over 4 Mi encrypted rows, 16
//!   groups, one row in five filtered out (throughput in rows/s);
//! - the same kind of sum with TFHE-rs's high-level `FheUint32` additions over 16 values, for
//!   the per-value ratio;
//! - bootstrapped tier: `SUM(v) WHERE v > c` over 8 rows through the library (compare,
//!   `if_then_zero`, widening, multi-operand 64-bit sum), against its count of programmable
//!   bootstraps times the time of one bootstrap.
//!
//! Ciphertext bytes per stored value are printed once.

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use rand::{Rng, SeedableRng};
use shuyu_crypto::bootstrapped;
use shuyu_crypto::linear::{grouped_sum, LinearEncryptor, LinearSecretKey, NO_GROUP};
use std::time::Duration;
use tfhe::prelude::*;
use tfhe::FheUint32;

const ROWS: usize = 1 << 22;
const GROUPS: usize = 16;

fn linear(c: &mut Criterion) {
    let key = LinearSecretKey::generate();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let values: Vec<u32> = (0..ROWS).map(|_| rng.random()).collect();
    let groups: Vec<u32> =
        (0..ROWS).map(|_| if rng.random_bool(0.2) { NO_GROUP } else { rng.random_range(0..GROUPS as u32) }).collect();
    let started = std::time::Instant::now();
    let column = LinearEncryptor::new(&key).encrypt_column("v", &values, u32::MAX).unwrap();
    let encrypt = started.elapsed();
    println!(
        "linear tier: {} rows encrypted in {:.2?} ({:.0} rows/s); {} ciphertext bytes, {:.3} bytes per stored value; aggregate {} bytes",
        ROWS,
        encrypt,
        ROWS as f64 / encrypt.as_secs_f64(),
        column.byte_len(),
        column.byte_len() as f64 / ROWS as f64,
        grouped_sum(&column, &groups[..], GROUPS).unwrap()[0].to_bytes().len()
    );
    let check = grouped_sum(&column, &groups, GROUPS).unwrap();
    let mut want = vec![0i64; GROUPS];
    for (&v, &g) in values.iter().zip(&groups) {
        if g != NO_GROUP {
            want[g as usize] += v as i64;
        }
    }
    assert_eq!(check.iter().map(|a| key.decrypt(a)).collect::<Vec<_>>(), want);

    let mut group = c.benchmark_group("linear");
    group.sample_size(10).measurement_time(Duration::from_secs(20)).throughput(Throughput::Elements(ROWS as u64));
    group.bench_function("filtered_sum_16_groups_4Mi_rows", |b| b.iter(|| grouped_sum(&column, &groups, GROUPS).unwrap()));
    group.finish();
}

fn high_level_sum(c: &mut Criterion) {
    let keys = shuyu_crypto::keys::CustodianKeys::generate();
    let domain = keys.domain_keys();
    let server_key = domain.server_key();
    let public_key = domain.public_key().clone();
    bootstrapped::install_server_key(&server_key);
    let count = 16;
    let values: Vec<FheUint32> = (0..count).map(|i| FheUint32::encrypt(i as u32 * 1000, keys.client_key())).collect();
    let mut serialized = Vec::new();
    tfhe::safe_serialization::safe_serialize(&values[0], &mut serialized, 1 << 30).unwrap();
    println!("high-level FheUint32: {} bytes per value (safe serialization)", serialized.len());
    let mut group = c.benchmark_group("fheuint32");
    group.sampling_mode(SamplingMode::Flat).sample_size(10).measurement_time(Duration::from_secs(30)).throughput(Throughput::Elements(count as u64));
    group.bench_function("sum_16_values", |b| b.iter(|| values.iter().sum::<FheUint32>()));
    group.finish();

    // Bootstrapped tier: SUM(v) WHERE v > c over 8 rows through the library (encrypted
    // comparison, if_then_zero, widening, multi-operand 64-bit sum), and one bootstrap.
    let rows: Vec<FheUint32> = (0..8).map(|i| FheUint32::encrypt(i * 20u32, keys.client_key())).collect();
    let groups = [0u32; 8];
    let sum_where = |rows: &[FheUint32]| {
        let over = bootstrapped::compare(rows, bootstrapped::Comparison::Gt, 60);
        let spec = shuyu_crypto::noise::NoiseSpec::new(shuyu_privacy::Mechanism::DiscreteLaplace, 1.0).unwrap();
        let noise = bootstrapped::ReleaseNoise { draws: &[0], spec, public_key: &public_key };
        bootstrapped::conditional_sum(rows, 200, Some(&over), &groups, 1, &noise).unwrap()
    };
    #[cfg(feature = "pbs-stats")]
    {
        tfhe::reset_pbs_count();
        let _ = sum_where(&rows);
        println!(
            "bootstrapped tier: {} programmable bootstraps for 8 rows of SUM(v) WHERE v > c ({:.1} per row)",
            tfhe::get_pbs_count(),
            tfhe::get_pbs_count() as f64 / 8.0
        );
    }
    #[cfg(not(feature = "pbs-stats"))]
    println!("bootstrapped tier: run with --features pbs-stats to count bootstraps per row");

    let (shortint_client, shortint_server) =
        tfhe::shortint::gen_keys(tfhe::shortint::parameters::PARAM_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128);
    let lut = shortint_server.generate_lookup_table(|x| (x + 1) % 4);
    let block = shortint_client.encrypt(2);
    let mut group = c.benchmark_group("bootstrapped");
    group.sampling_mode(SamplingMode::Flat).sample_size(10).measurement_time(Duration::from_secs(20));
    group.bench_function("one_pbs", |b| b.iter(|| shortint_server.apply_lookup_table(&block, &lut)));
    group.throughput(Throughput::Elements(rows.len() as u64));
    group.bench_function("sum_where_gt_8_rows", |b| b.iter(|| sum_where(&rows)));
    group.finish();
}

criterion_group!(benches, linear, high_level_sum);
criterion_main!(benches);
