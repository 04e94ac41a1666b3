//! One person with hundreds of visits moves no released value by more than the declared
//! sensitivity. With noise off, the released values are the exact bounded aggregates, so
//! the difference between the city with and without person 1 (who has 200–500 visits in
//! every generated city) must stay within each partial's per-key sensitivity, and the sum
//! of differences over keys within the vector's L1 sensitivity.
//!
//! Run with `cargo test -p shuyu-compute --features noiseless --test sensitivity`.

mod common;

use common::compare::{keyed, plain, plain_context, rows};
use datafusion::common::ScalarValue;
use datafusion::dataframe::DataFrameWriteOptions;
use shuyu_compute::PrivateSession;
use shuyu_planner::plan::OutputKind;
use shuyu_planner::{GrantedTable, QueryBudget, Scope};

fn f(v: &ScalarValue) -> f64 {
    match v.cast_to(&arrow::datatypes::DataType::Float64).unwrap() {
        ScalarValue::Float64(Some(x)) => x,
        _ => 0.0,
    }
}

/// The fixture city without person 1, written to `dir`.
async fn city_without_person_1(dir: &std::path::Path) -> Scope {
    let ctx = plain_context(common::data_dir()).await;
    std::fs::create_dir_all(dir).unwrap();
    let mut grants = Vec::new();
    for t in ["residents", "medical_visits", "districts"] {
        let filter = if t == "districts" { "" } else { " WHERE person_id <> 1" };
        let path = dir.join(format!("{t}.parquet"));
        ctx.sql(&format!("SELECT * FROM {t}{filter}"))
            .await
            .unwrap()
            .write_parquet(path.to_str().unwrap(), DataFrameWriteOptions::new().with_single_file_output(true), None)
            .await
            .unwrap();
        grants.push(GrantedTable::new(shuyu_datasets::demo_manifest(t).unwrap(), None, path));
    }
    Scope::open(&grants).await.unwrap()
}

#[tokio::test]
async fn a_heavy_visitor_moves_no_value_beyond_its_sensitivity() {
    assert!(shuyu_compute::noise::NOISELESS, "needs the noiseless feature");
    let ctx = plain_context(common::data_dir()).await;
    let visits = plain(&ctx, "SELECT COUNT(*) FROM medical_visits WHERE person_id = 1").await;
    let heavy = f(&visits[0][0]);
    assert!(heavy >= 200.0, "the fixture's person 1 should have hundreds of visits, has {heavy}");

    let tmp = tempfile::tempdir().unwrap();
    let with = PrivateSession::new(common::full_scope().await);
    let without = PrivateSession::new(city_without_person_1(tmp.path()).await);
    let with = common::deterministic(with.scope().clone());
    let without = common::deterministic(without.scope().clone());
    let budget = QueryBudget::pure(1.0);
    let queries = [
        ("SELECT department, COUNT(*), SUM(cost) FROM medical_visits GROUP BY department", 1),
        ("SELECT COUNT(*), SUM(cost) FROM medical_visits", 0),
        ("SELECT r.district, COUNT(*) FROM medical_visits v JOIN residents r ON v.person_id = r.person_id GROUP BY r.district", 1),
        ("SELECT department, COUNT(DISTINCT person_id) FROM medical_visits GROUP BY department", 1),
        ("SELECT hospital IS NULL AS h, COUNT(*) FROM medical_visits GROUP BY 1", 1),
    ];
    for (sql, keys) in queries {
        let plan = with.plan(sql, budget).await.unwrap();
        let release = &plan.releases[0];
        let a = keyed(&rows(&with.execute(sql, budget).await.unwrap().batches), keys);
        let b = keyed(&rows(&without.execute(sql, budget).await.unwrap().batches), keys);
        assert_eq!(a.len(), b.len(), "{sql}: public keys are the same with and without one person");
        for (j, out) in release.outputs.iter().enumerate() {
            let (partial, grid) = match out.kind {
                OutputKind::Count { partial } => (partial, 1.0),
                OutputKind::Sum { partial, grid, .. } => (partial, grid),
                _ => continue,
            };
            let p = &release.partials[partial];
            let per_key = p.sensitivity / grid;
            let l1 = p.vector_sensitivity / grid;
            let mut total = 0.0;
            for (k, va) in &a {
                let d = (f(&va[j]) - f(&b[k][j])).abs();
                assert!(d <= per_key + 1e-6, "{sql}: key {k}, {}: one person moved it by {d} > sensitivity {per_key}", out.name);
                total += d;
            }
            assert!(total <= l1 + 1e-6, "{sql}: {}: one person moved the vector by {total} (L1) > {l1}", out.name);
            if out.name.contains("count") && !sql.contains("DISTINCT") {
                // Bounding mattered: person 1's raw influence exceeds the per-key bound.
                assert!(heavy > per_key, "{sql}: the test needs a person heavier than the bound");
            }
        }
    }
}
