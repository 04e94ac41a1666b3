//! Contribution bounding: the bounded (inner) DataFusion plans shuyu builds for queries over
//! a many-rows-per-person table, on a small generated city (20 000 residents, about 60 000
//! visits), against the same query's plain DataFusion plan.
//!
//! - `bounding/plain/<query>`: the SQL on plain DataFusion (no privacy).
//! - `bounding/inner/<query>`: shuyu's inner plans alone (per-person clamping, the cap on
//!   groups and rows per person, the per-key partials): the cost of bounding.
//! - `bounding/execute/<query>`: the whole private execution (plan, inner plans, noise,
//!   assembly, outer plan).
//!
//! Run with `cargo bench -p shuyu-bench --bench bounding`. The ledger's reserve/commit has
//! its own bench: `cargo bench -p shuyu-governance --bench ledger`.

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use shuyu_compute::PrivateSession;
use shuyu_datasets::demo::DEMO_TABLES;
use shuyu_datasets::generate::{generate, GenerateOptions};
use shuyu_datasets::demo_manifest;
use shuyu_planner::{GrantedTable, QueryBudget, Scope};

const RESIDENTS: u64 = 20_000;

const QUERIES: [(&str, &str); 3] = [
    ("dept_count_sum", "SELECT department, COUNT(*), SUM(cost) FROM medical_visits GROUP BY department"),
    ("count_avg", "SELECT COUNT(*), AVG(cost) FROM medical_visits"),
    ("join_district", "SELECT r.district, COUNT(*) FROM medical_visits v JOIN residents r ON v.person_id = r.person_id GROUP BY r.district"),
];

fn bounding(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("city");
    let data = generate(&GenerateOptions::new(RESIDENTS, &dir, 7)).expect("generate the city");
    let (plain, session) = rt.block_on(async {
        let plain = SessionContext::new_with_config(shuyu_planner::scope::session_config());
        for t in &data.tables {
            plain.register_parquet(t.name.as_str(), t.path.to_string_lossy().as_ref(), ParquetReadOptions::default()).await.expect("register");
        }
        let grants: Vec<GrantedTable> = DEMO_TABLES
            .iter()
            .map(|t| GrantedTable::new(demo_manifest(t).expect("demo manifest"), None, dir.join(format!("{t}.parquet"))))
            .collect();
        (plain, PrivateSession::new(Scope::open(&grants).await.expect("scope")))
    });
    let budget = QueryBudget::pure(1.0);
    let mut g = c.benchmark_group("bounding");
    g.sample_size(20);
    for (name, sql) in QUERIES {
        g.bench_function(BenchmarkId::new("plain", name), |b| {
            b.iter(|| rt.block_on(async { plain.sql(sql).await.expect("plan").collect().await.expect("run") }))
        });
        let planned = rt.block_on(session.plan(sql, budget)).expect("private plan");
        let ctx = session.scope().context();
        g.bench_function(BenchmarkId::new("inner", name), |b| {
            b.iter(|| {
                rt.block_on(async {
                    for r in &planned.releases {
                        ctx.execute_logical_plan(r.plan.clone()).await.expect("inner plan").collect().await.expect("run");
                    }
                })
            })
        });
        g.bench_function(BenchmarkId::new("execute", name), |b| b.iter(|| rt.block_on(session.execute(sql, budget)).expect("execute")));
    }
    g.finish();
}

criterion_group!(benches, bounding);
criterion_main!(benches);
