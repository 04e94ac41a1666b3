//! Oracle tests: with noise switched off (feature `noiseless`) and deterministic bounding,
//! every accepted query returns exactly what plain DataFusion returns for its
//! contribution-bounded equivalent, written here by hand in SQL.
//!
//! Keys: shuyu releases every key of a public domain, including empty ones; the plain
//! equivalent returns only keys present in the data. So the check is: every plain row is
//! in shuyu's result with equal values, and every other shuyu row is an empty key (counts
//! 0, sums 0, means NULL).
//!
//! Run with `cargo test -p shuyu-compute --features noiseless --test oracle`.

mod common;

use common::cases::{check, Case, CASES};
use common::compare::{keyed, plain, plain_context, rows};
use datafusion::common::ScalarValue;
use shuyu_planner::{KeySet, QueryBudget};

#[tokio::test]
async fn accepted_queries_match_their_bounded_equivalents() {
    let session = common::deterministic(common::full_scope().await);
    let ctx = plain_context(common::data_dir()).await;
    for case in CASES {
        check(&session, &ctx, case).await;
    }
    // The fixture writes visits person by person: every bounded case took the streaming pass.
    assert!(session.unclustered_tables().is_empty(), "clustered input fell back: {:?}", session.unclustered_tables());
}

#[tokio::test]
async fn input_not_clustered_by_unit_is_bounded_by_the_fallback_with_the_same_result() {
    let scope = common::full_scope().await;
    let clustered = common::deterministic(scope.clone());
    // The same visits, in reverse order: each batch now runs backwards through the units.
    let visits = scope.context().table("medical_visits").await.unwrap().collect().await.unwrap();
    let reversed: Vec<arrow::record_batch::RecordBatch> = visits
        .iter()
        .rev()
        .map(|b| {
            let idx = arrow::array::UInt32Array::from_iter_values((0..b.num_rows() as u32).rev());
            arrow::compute::take_record_batch(b, &idx).unwrap()
        })
        .collect();
    let ctx = datafusion::prelude::SessionContext::new_with_config(shuyu_planner::scope::session_config());
    for t in ["residents", "enterprises", "districts"] {
        ctx.register_table(t, scope.context().table_provider(t).await.unwrap()).unwrap();
    }
    let mem = datafusion::datasource::MemTable::try_new(reversed[0].schema(), vec![reversed]).unwrap();
    ctx.register_table("medical_visits", std::sync::Arc::new(mem)).unwrap();
    let scrambled = common::deterministic(shuyu_planner::Scope::from_context(ctx, scope.catalog().clone()));
    for sql in [
        "SELECT department, COUNT(*), SUM(cost) FROM medical_visits GROUP BY department",
        "SELECT COUNT(*), AVG(cost) FROM medical_visits",
        "SELECT r.district, COUNT(*) FROM medical_visits v JOIN residents r ON v.person_id = r.person_id GROUP BY r.district",
    ] {
        let a = clustered.execute(sql, QueryBudget::pure(1.0)).await.unwrap();
        let b = scrambled.execute(sql, QueryBudget::pure(1.0)).await.unwrap();
        let sorted = |r: &shuyu_compute::QueryResult| {
            let mut v: Vec<String> = rows(&r.batches).iter().map(|row| format!("{row:?}")).collect();
            v.sort();
            v
        };
        assert_eq!(sorted(&a), sorted(&b), "{sql}");
    }
    assert!(clustered.unclustered_tables().is_empty());
    assert!(!scrambled.unclustered_tables().is_empty(), "reversed visits must be detected as not clustered");
}

#[tokio::test]
async fn partition_selection_keeps_exactly_the_keys_above_threshold() {
    let session = common::deterministic(common::full_scope().await);
    let ctx = plain_context(common::data_dir()).await;
    let budget = QueryBudget::zcdp(0.5, 1e-6);
    let sql = "SELECT hospital, COUNT(*) FROM medical_visits GROUP BY hospital";
    let plan = session.plan(sql, budget).await.unwrap();
    let KeySet::Selected { calibration: Some(c), .. } = &plan.releases[0].keys else { panic!("hospital has no public domain: expected partition selection") };
    let threshold = c.threshold;
    assert!(threshold > 1, "a zCDP selection at delta 1e-6 needs a threshold above 1");
    let bounded = format!(
        "WITH per AS (SELECT person_id, hospital, LEAST(COUNT(*), 8) AS c FROM medical_visits GROUP BY person_id, hospital), \
         ranked AS (SELECT *, ROW_NUMBER() OVER (PARTITION BY person_id ORDER BY hospital) AS rn FROM per) \
         SELECT hospital, SUM(c) FROM ranked WHERE rn <= 4 GROUP BY hospital HAVING COUNT(*) >= {threshold}"
    );
    let case = Case { name: "partition selection", sql, bounded: Box::leak(bounded.into_boxed_str()), keys: 1, budget };
    check(&session, &ctx, &case).await;
    let got = session.execute(sql, budget).await.unwrap();
    let theirs = plain(&ctx, case.bounded).await;
    assert_eq!(got.num_rows(), theirs.len(), "exactly the keys above the threshold are released");
}

#[tokio::test]
async fn median_is_the_exact_median_without_noise() {
    let session = common::deterministic(common::full_scope().await);
    let ctx = plain_context(common::data_dir()).await;
    let got = session.execute("SELECT gender, MEDIAN(age) FROM residents GROUP BY gender", QueryBudget::pure(1.0)).await.unwrap();
    let ours = keyed(&rows(&got.batches), 1);
    let theirs = keyed(&plain(&ctx, "SELECT gender, MEDIAN(age) FROM residents GROUP BY gender").await, 1);
    for (k, v) in theirs {
        let exact = match v[0].cast_to(&arrow::datatypes::DataType::Float64).unwrap() {
            ScalarValue::Float64(Some(x)) => x,
            _ => unreachable!(),
        };
        let dp = match ours[&k][0].cast_to(&arrow::datatypes::DataType::Float64).unwrap() {
            ScalarValue::Float64(Some(x)) => x,
            _ => unreachable!(),
        };
        // Integer ages: candidates are the integers 0..=100, so the noiseless DP median is
        // a middle order statistic: within 1 of DataFusion's median (which averages the two
        // middle values when the count is even).
        assert!((exact - dp).abs() <= 1.0, "median for {k}: exact {exact}, dp {dp}");
    }
}
