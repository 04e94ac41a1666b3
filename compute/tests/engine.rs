//! Engine-level behaviour of `PrivateSession` with real noise.

mod common;

use arrow::array::{AsArray, StringArray};
use arrow::datatypes::Int64Type;
use shuyu_compute::PrivateSession;
use shuyu_planner::{QueryBudget, RefusalCode};

#[tokio::test]
async fn a_public_domain_releases_every_key_even_when_no_row_matches() {
    let s = PrivateSession::new(common::health_scope().await);
    // No resident is older than 200: every district is empty, and all 12 are still released.
    let r = s.execute("SELECT district, COUNT(*) FROM residents WHERE age > 200 GROUP BY district", QueryBudget::pure(1.0)).await.unwrap();
    assert_eq!(r.num_rows(), 12);
    let mut got: Vec<String> = r
        .batches
        .iter()
        .flat_map(|b| b.column(0).as_any().downcast_ref::<StringArray>().unwrap().iter().map(|v| v.unwrap().to_string()).collect::<Vec<_>>())
        .collect();
    got.sort();
    let mut want: Vec<String> = shuyu_datasets::demo::DISTRICTS.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(got, want);
    for b in &r.batches {
        // Counts are clamped at zero after noise.
        assert!(b.column(1).as_primitive::<Int64Type>().iter().all(|v| v.unwrap() >= 0));
    }
}

#[tokio::test]
async fn results_carry_cost_and_per_column_noise_metadata() {
    let s = PrivateSession::new(common::health_scope().await);
    let r = s.execute("SELECT gender, COUNT(*) AS n, AVG(income) AS a FROM residents GROUP BY gender", QueryBudget::pure(0.9)).await.unwrap();
    // Three measurements (count, centred income sum, income count) share epsilon 0.9.
    assert_eq!(r.releases, 3);
    assert!((r.cost - 0.9).abs() < 1e-9 && r.cost <= 0.9 + 1e-12, "cost {}", r.cost);
    let md = r.schema.metadata();
    assert_eq!(md.get("shuyu.definition").map(String::as_str), Some("epsilon"));
    assert!((md["shuyu.cost"].parse::<f64>().unwrap() - 0.9).abs() < 1e-9);
    let n = r.schema.field_with_name("n").unwrap().metadata();
    assert_eq!(n.get("shuyu.mechanism").map(String::as_str), Some("discrete_laplace"));
    // Sensitivity 1, epsilon 0.3 -> scale 1/0.3.
    let scale: f64 = n["shuyu.scale"].parse().unwrap();
    assert!((scale - 1.0 / 0.3).abs() / (1.0 / 0.3) < 0.01, "scale {scale}");
    assert!(n["shuyu.ci95_half_width"].parse::<f64>().unwrap() > scale);
}

#[tokio::test]
async fn released_counts_carry_noise_of_the_calibrated_size() {
    // 200 releases of one count at epsilon 1 (sensitivity 1, discrete Laplace scale 1):
    // the noise has mean 0 and variance 2e^-1/(1-e^-1)^2 = 1.8407 (sd 1.357). The mean of
    // 200 draws is within 6 sd/sqrt(200) = 0.576 of 0 with probability > 1 - 1e-8; the
    // sample variance (kurtosis of this law ~ 6, so its sd is about 1.84 * sqrt(5/200) =
    // 0.29) lies in [1.0, 3.0] except with negligible probability. A noiseless build
    // would give variance 0 and fail.
    let s = PrivateSession::new(common::health_scope().await);
    let exact = common::RESIDENTS as f64;
    let mut d = Vec::new();
    for _ in 0..200 {
        let r = s.execute("SELECT COUNT(*) FROM residents", QueryBudget::pure(1.0)).await.unwrap();
        d.push(r.batches[0].column(0).as_primitive::<Int64Type>().value(0) as f64 - exact);
    }
    let mean = d.iter().sum::<f64>() / d.len() as f64;
    let var = d.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (d.len() as f64 - 1.0);
    assert!(mean.abs() < 0.576, "mean noise {mean}");
    assert!((1.0..3.0).contains(&var), "noise variance {var}");
}

#[tokio::test]
async fn explain_privacy_reads_no_data_and_spends_nothing() {
    let s = PrivateSession::new(common::health_scope().await);
    let r = s
        .execute("EXPLAIN PRIVACY SELECT department, COUNT(*), SUM(cost) FROM medical_visits GROUP BY department", QueryBudget::pure(1.0))
        .await
        .unwrap();
    assert!(r.explain);
    assert_eq!(r.cost, 0.0);
    // Two measurements and the total row.
    assert_eq!(r.num_rows(), 3);
}

#[tokio::test]
async fn partition_selection_is_refused_under_pure_epsilon_and_runs_under_zcdp() {
    let s = PrivateSession::new(common::health_scope().await);
    let sql = "SELECT hospital, COUNT(*) FROM medical_visits GROUP BY hospital";
    let e = s.execute(sql, QueryBudget::pure(1.0)).await.unwrap_err();
    assert_eq!(e.refusal().map(|r| r.code), Some(RefusalCode::PartitionSelectionNeedsDelta));
    let r = s.execute(sql, QueryBudget::zcdp(0.5, 1e-6)).await.unwrap();
    assert!(r.delta > 0.0 && r.delta <= 1e-6, "selection spends delta {}", r.delta);
    assert!(r.cost <= 0.5 + 1e-12);
    // The fixture's 40 hospitals each have dozens of patients: most pass the threshold.
    assert!(r.num_rows() >= 20 && r.num_rows() <= 40, "released {} hospitals", r.num_rows());
}

#[tokio::test]
async fn nothing_outside_the_grant_exists_in_the_session() {
    let s = PrivateSession::new(common::jobs_scope().await);
    for sql in ["SELECT COUNT(*) FROM medical_visits", "SELECT AVG(income) FROM residents", "SELECT COUNT(name) FROM residents"] {
        let e = s.execute(sql, QueryBudget::pure(1.0)).await.unwrap_err();
        assert!(matches!(e, shuyu_compute::ComputeError::Planner(shuyu_planner::PlannerError::Plan(_))), "{sql}: {e}");
    }
}

#[tokio::test]
async fn a_repeated_query_reuses_the_exact_aggregate_but_draws_fresh_noise_and_charges_again() {
    let scope = common::health_scope().await;
    let s = PrivateSession::new(scope.clone());
    let sql = "SELECT COUNT(*) FROM medical_visits";
    let mut values = Vec::new();
    for _ in 0..5 {
        let r = s.execute(sql, QueryBudget::pure(1.0)).await.unwrap();
        assert!((r.cost - 1.0).abs() < 1e-9, "every answer is charged in full");
        values.push(r.batches[0].column(0).as_primitive::<Int64Type>().value(0));
    }
    assert!(!shuyu_compute::exact_cache::of(scope.catalog()).is_empty(), "the exact aggregate is kept for reuse");
    // Sensitivity 8 (max_rows) at epsilon 1: discrete Laplace of scale 8. The chance that five
    // independent draws are all equal is below 0.07^4 < 3e-5, so equal values mean reused noise.
    values.dedup();
    assert!(values.len() > 1, "five answers from reused noise: {values:?}");
    // A scope built over another context starts with an empty cache.
    let other = shuyu_planner::Scope::from_context(scope.context().clone(), scope.catalog().clone());
    assert!(shuyu_compute::exact_cache::of(other.catalog()).is_empty());
}

/// A post-processing plan that only selects and renames is answered from the release's batch
/// directly, with exactly what DataFusion returns for it; one with real work (here a sort and
/// a limit, or an expression) is left to DataFusion.
#[tokio::test]
async fn select_and_rename_outer_plans_skip_datafusion_with_the_same_result() {
    let s = PrivateSession::new(common::health_scope().await);
    let budget = QueryBudget::pure(1.0);
    for sql in [
        "SELECT district, COUNT(*), SUM(income) FROM residents GROUP BY district",
        "SELECT COUNT(*) AS n FROM residents WHERE age >= 18",
        "SELECT t.d, t.n FROM (SELECT district AS d, COUNT(*) AS n FROM residents GROUP BY district) t",
    ] {
        let plan = s.plan(sql, budget).await.unwrap();
        let result = s.execute_plan(&plan).await.unwrap();
        let direct = shuyu_compute::passthrough::direct_result(&plan).unwrap_or_else(|| panic!("{sql}: not passed through:\n{}", plan.outer.display_indent_schema()));
        let through = s.scope().context().execute_logical_plan(plan.outer.clone()).await.unwrap().collect().await.unwrap();
        let through = arrow::compute::concat_batches(&through[0].schema(), &through).unwrap();
        assert_eq!(direct, through, "{sql}: the same batch as DataFusion's");
        assert_eq!(result.num_rows(), direct.num_rows());
        let names: Vec<&str> = result.schema.fields().iter().map(|f| f.name().as_str()).collect();
        let through_schema = through.schema();
        let want: Vec<&str> = through_schema.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, want, "{sql}: output names");
    }
    for sql in [
        "SELECT district, COUNT(*) AS n FROM residents GROUP BY district ORDER BY n DESC LIMIT 3",
        "SELECT COUNT(*) * 2 AS twice FROM residents",
    ] {
        let plan = s.plan(sql, budget).await.unwrap();
        s.execute_plan(&plan).await.unwrap();
        assert!(shuyu_compute::passthrough::direct_result(&plan).is_none(), "{sql}: has work for DataFusion");
    }
}

/// Regression: quantile histograms kept each person's first `max_groups` keys in key order,
/// so the keys late in the order lost every person with many keys. The kept keys are now
/// those first in a keyed hash of (person, key), the same for all rows of one key.
#[tokio::test]
async fn quantile_bounding_keeps_keys_in_a_hashed_order_not_key_order() {
    let s = PrivateSession::new(common::health_scope().await);
    let budget = QueryBudget { max_groups: Some(1), ..QueryBudget::pure(1.0) };
    let plan = s.plan("SELECT department, MEDIAN(cost) FROM medical_visits GROUP BY department", budget).await.expect("plans");
    let h = &plan.releases[0].histograms[0];
    let text = h.plan.display_indent().to_string();
    let rank = text.lines().find(|l| l.contains("dense_rank")).unwrap_or_else(|| panic!("a key bound per person: {text}"));
    assert!(rank.contains("md5("), "keys are ranked by a keyed hash: {rank}");
    assert!(!rank.contains("ORDER BY [__k0 ASC"), "not by the key itself: {rank}");
}
