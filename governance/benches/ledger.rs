//! Reserve + commit throughput of the budget ledger on one database file.
//!
//! - `1_writer`: one thread, one handle.
//! - `4_writers_shared_handle`: four threads on one handle (queued by the handle's gate).
//! - `4_writers_4_handles`: four threads, each with its own handle, contending on SQLite's
//!   file lock as four server processes would.
//!
//! Every operation is two durable transactions (`synchronous = FULL`), each with its audit
//! record.

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use shuyu_governance::*;

#[path = "../tests/common/mod.rs"]
mod common;

fn cycle(store: &Store, auth: AuthorizationId, job: JobId) {
    let r = store.reserve(auth, job, &common::charge(Nano(1))).expect("reserve");
    store.commit(&r, Nano(1), Atto::ZERO).expect("commit");
}

fn prod_job(f: &common::Fixture) -> JobId {
    f.store
        .create_job(
            &f.analyst_a,
            &NewJob {
                authorization: f.auth_a,
                sql: "SELECT COUNT(*) FROM households".into(),
                environment: Environment::Prod,
            },
        )
        .unwrap()
}

/// Runs `iters` cycles split over `threads` threads; each thread gets a store from `handle`.
fn run(f: &common::Fixture, iters: u64, threads: u64, handle: impl Fn() -> Store) -> Duration {
    let jobs: Vec<JobId> = (0..threads).map(|_| prod_job(f)).collect();
    let stores: Vec<Store> = (0..threads).map(|_| handle()).collect();
    let auth = f.auth_a;
    let start = Instant::now();
    std::thread::scope(|s| {
        for (i, (store, job)) in stores.iter().zip(&jobs).enumerate() {
            let n = iters / threads + u64::from((i as u64) < iters % threads);
            s.spawn(move || {
                for _ in 0..n {
                    cycle(store, auth, *job);
                }
            });
        }
    });
    start.elapsed()
}

fn ledger(c: &mut Criterion) {
    let f = common::Fixture::with_budget(BudgetTerms {
        total: 1e9,
        per_query_cap: 1.0,
        per_query_default: 0.1,
        delta_total: None,
    });
    let mut group = c.benchmark_group("ledger_reserve_commit");
    group.throughput(Throughput::Elements(1));
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(8));
    group.bench_function("1_writer", |b| {
        b.iter_custom(|iters| run(&f, iters, 1, || f.store.clone()))
    });
    group.bench_function("4_writers_shared_handle", |b| {
        b.iter_custom(|iters| run(&f, iters, 4, || f.store.clone()))
    });
    group.bench_function("4_writers_4_handles", |b| {
        b.iter_custom(|iters| run(&f, iters, 4, || Store::open(f.dir.path()).unwrap()))
    });
    group.finish();
    f.store.verify_ledger().unwrap();
}

criterion_group!(benches, ledger);
criterion_main!(benches);
