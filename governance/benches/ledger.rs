//! Charges per second of the budget ledger on one database file: one charge is a durable
//! reserve and a durable commit, each with its audit record (`synchronous = FULL`).
//!
//! - `group/{1,4,32}_writers`: that many threads on one handle, with group commit (the
//!   default: concurrent writes share one transaction and one fsync).
//! - `single/{1,4,32}_writers`: the same with `max_batch = 1`, one transaction (one fsync)
//!   per write: the baseline, measured in the same run.
//! - `group/32_writers_4_handles`: 32 threads over four handles, contending on SQLite's file
//!   lock as four server processes would.
//!
//! After each case the mean number of writes per commit is printed to stderr.

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

/// A handle on the fixture's file committing at most `max_batch` writes per transaction.
fn handle(f: &common::Fixture, max_batch: usize) -> Store {
    common::open_with(f.dir.path(), StoreOptions { clock: f.clock.clone(), max_batch, ..StoreOptions::default() })
}

/// Prints the mean writes per commit over `stores` since `before`.
fn report(name: &str, stores: &[Store], before: &[WriteStats]) {
    let (mut writes, mut commits) = (0, 0);
    for (s, b) in stores.iter().zip(before) {
        let now = s.write_stats();
        writes += now.writes - b.writes;
        commits += now.commits - b.commits;
    }
    eprintln!("{name}: {writes} writes in {commits} commits ({:.1} per commit)", writes as f64 / commits.max(1) as f64);
}

fn ledger(c: &mut Criterion) {
    let f = common::Fixture::with_budget(BudgetTerms {
        total: 1e9,
        per_query_cap: 1.0,
        per_query_default: 0.1,
        delta_total: None,
    });
    let mut group = c.benchmark_group("ledger_charges");
    group.throughput(Throughput::Elements(1));
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(6));
    for (mode, max_batch) in [("group", DEFAULT_MAX_BATCH), ("single", 1)] {
        let store = handle(&f, max_batch);
        for writers in [1u64, 4, 32] {
            let name = format!("{mode}/{writers}_writers");
            let before = [store.write_stats()];
            group.bench_function(&name, |b| b.iter_custom(|iters| run(&f, iters, writers, || store.clone())));
            report(&name, std::slice::from_ref(&store), &before);
        }
    }
    let handles: Vec<Store> = (0..4).map(|_| handle(&f, DEFAULT_MAX_BATCH)).collect();
    let before: Vec<WriteStats> = handles.iter().map(Store::write_stats).collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    group.bench_function("group/32_writers_4_handles", |b| {
        b.iter_custom(|iters| {
            run(&f, iters, 32, || handles[next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 4].clone())
        })
    });
    report("group/32_writers_4_handles", &handles, &before);
    group.finish();
    f.store.verify_ledger().unwrap();
}

criterion_group!(benches, ledger);
criterion_main!(benches);
