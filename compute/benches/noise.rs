//! Noise for many groups: the cost of drawing one release's noise as the number of groups
//! (cells) grows, for every mechanism shuyu uses.
//!
//! - `integer/<mechanism>/<n>`: `add_integer_noise` on n counts (discrete Laplace, discrete
//!   Gaussian), the noise of a GROUP BY count over n keys.
//! - `float/<mechanism>/<n>`: `add_float_noise` on n sums (OpenDP's floating-point-safe
//!   Laplace and Gaussian).
//! - `partition_selection/<n>`: `select_partitions` over n candidate keys (zCDP threshold).
//! - `quantile/<buckets>`: one `dp_quantile` over a histogram of that many buckets.
//!
//! Throughput is in groups (or buckets) per second. Run with
//! `cargo bench -p shuyu-compute --bench noise`.

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use shuyu_compute::noise::{
    add_float_noise, add_integer_noise, calibrate_partition_selection, calibrate_scale, dp_quantile, select_partitions,
};
use shuyu_privacy::{Mechanism, PrivacyDefinition};

/// Group counts: a district GROUP BY, a department × district cross, many keys, a million.
const GROUPS: [usize; 4] = [12, 1_000, 100_000, 1_000_000];

fn integer(c: &mut Criterion) {
    let mut g = c.benchmark_group("integer");
    for mechanism in [Mechanism::DiscreteLaplace, Mechanism::DiscreteGaussian] {
        let budget = if mechanism == Mechanism::DiscreteLaplace { 1.0 } else { 0.5 };
        let scale = calibrate_scale(mechanism, 1.0, budget).expect("scale");
        for n in GROUPS {
            let counts: Vec<i64> = (0..n as i64).map(|i| 1_000 + i % 97).collect();
            g.throughput(Throughput::Elements(n as u64));
            g.bench_with_input(BenchmarkId::new(mechanism.name(), n), &counts, |b, counts| {
                b.iter_batched_ref(|| counts.clone(), |v| add_integer_noise(v, mechanism, scale).expect("noise"), criterion::BatchSize::LargeInput)
            });
        }
    }
    g.finish();
}

fn float(c: &mut Criterion) {
    let mut g = c.benchmark_group("float");
    for mechanism in [Mechanism::Laplace, Mechanism::Gaussian] {
        let budget = if mechanism == Mechanism::Laplace { 1.0 } else { 0.5 };
        let scale = calibrate_scale(mechanism, 200_000.0, budget).expect("scale");
        for n in GROUPS {
            let sums: Vec<f64> = (0..n).map(|i| 4.2e7 + i as f64).collect();
            g.throughput(Throughput::Elements(n as u64));
            g.bench_with_input(BenchmarkId::new(mechanism.name(), n), &sums, |b, sums| {
                b.iter_batched_ref(|| sums.clone(), |v| add_float_noise(v, mechanism, scale).expect("noise"), criterion::BatchSize::LargeInput)
            });
        }
    }
    g.finish();
}

fn partitions(c: &mut Criterion) {
    let mut g = c.benchmark_group("partition_selection");
    let sel = calibrate_partition_selection(PrivacyDefinition::Zcdp, 0.5, 1e-6, 4).expect("selection");
    for n in GROUPS {
        let counts: Vec<i64> = (0..n as i64).map(|i| i % 200).collect();
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::from_parameter(n), &counts, |b, counts| b.iter(|| select_partitions(counts, &sel).expect("select")));
    }
    g.finish();
}

fn quantile(c: &mut Criterion) {
    let mut g = c.benchmark_group("quantile");
    for buckets in [101usize, 1_024, 16_384] {
        let hist: Vec<i64> = (0..buckets as i64).map(|i| 1_000 + (i * 37) % 500).collect();
        g.throughput(Throughput::Elements(buckets as u64));
        g.bench_with_input(BenchmarkId::from_parameter(buckets), &hist, |b, hist| {
            b.iter(|| dp_quantile(hist, 0.0, 100.0, 0.5, 1, PrivacyDefinition::PureDp, 1.0).expect("quantile"))
        });
    }
    g.finish();
}

criterion_group!(benches, integer, float, partitions, quantile);
criterion_main!(benches);
