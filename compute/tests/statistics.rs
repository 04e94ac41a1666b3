//! What the optimizer knows of a personal table: its size, not its columns' extremes.
//!
//! The attack (channel 13 of `docs/threat-model.md`): `WHERE income > T` is estimated from
//! the file's maximum income, one person's income. Below it the optimizer expects rows, at
//! or above it none, and the estimate chooses join sides and modes: the running time would
//! say on which side of `T` the richest resident is, and a binary search over `T` would
//! find the income, with every query answered and charged as usual but the answer read
//! from the clock.

mod common;

use std::sync::Arc;

use arrow::array::AsArray;
use arrow::datatypes::Int64Type;
use datafusion::common::stats::Precision;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::physical_plan::{displayable, ExecutionPlan, StatisticsArgs, StatisticsContext};
use datafusion::prelude::SessionContext;

async fn physical(ctx: &SessionContext, sql: &str) -> Arc<dyn ExecutionPlan> {
    ctx.sql(sql).await.expect("plans").create_physical_plan().await.expect("physical plan")
}

/// The statistics the optimizer computes for `plan`.
fn statistics(plan: &Arc<dyn ExecutionPlan>) -> datafusion::common::Statistics {
    StatisticsContext::new().compute(plan.as_ref(), &StatisticsArgs::new()).expect("statistics").as_ref().clone()
}

/// The statistics of the plan's file scan.
fn scan_statistics(plan: &Arc<dyn ExecutionPlan>) -> datafusion::common::Statistics {
    let mut found = None;
    let _ = plan.apply(|p| {
        if p.name() == "DataSourceExec" {
            found = Some(statistics(p));
            return Ok(TreeNodeRecursion::Stop);
        }
        Ok(TreeNodeRecursion::Continue)
    });
    found.expect("a file scan")
}

/// The largest income, rounded down: `T = top - 1` is below it and `T = top + 1` above.
async fn max_income() -> i64 {
    let plain = SessionContext::new();
    let path = common::data_dir().join("residents.parquet");
    plain.register_parquet("r", path.to_string_lossy().as_ref(), Default::default()).await.expect("register");
    let b = plain.sql("SELECT CAST(MAX(income) AS BIGINT) FROM r").await.expect("sql").collect().await.expect("max");
    b[0].column(0).as_primitive::<Int64Type>().value(0)
}

#[tokio::test]
async fn a_personal_table_shows_its_row_count_and_no_column_extremes() {
    let scope = common::full_scope().await;
    let ctx = scope.context();
    let residents = scan_statistics(&physical(ctx, "SELECT person_id, income, district FROM residents").await);
    // The size stays: the broadcast-join thresholds of the scoped session read it.
    assert_eq!(residents.num_rows, Precision::Exact(common::RESIDENTS as usize));
    for (i, c) in residents.column_statistics.iter().enumerate() {
        assert_eq!(c.min_value, Precision::Absent, "column {i}: a minimum is one person's value");
        assert_eq!(c.max_value, Precision::Absent, "column {i}: a maximum is one person's value");
        assert_eq!(c.null_count, Precision::Absent, "column {i}: a null count is an exact count of persons");
        assert_eq!(c.distinct_count, Precision::Absent, "column {i}");
    }
    // A public table keeps its statistics: nothing in them is personal.
    let districts = scan_statistics(&physical(ctx, "SELECT district, population_2020 FROM districts").await);
    assert!(districts.column_statistics.iter().any(|c| c.max_value != Precision::Absent), "{districts:?}");
}

#[tokio::test]
async fn the_plan_of_a_threshold_query_is_the_same_on_either_side_of_one_persons_value() {
    let scope = common::full_scope().await;
    let ctx = scope.context();
    let top = max_income().await;
    let query = |t: i64| {
        format!(
            "SELECT v.department, COUNT(*) FROM medical_visits v JOIN residents r ON v.person_id = r.person_id \
             WHERE r.income > {t} GROUP BY v.department"
        )
    };
    let shape = |p: &Arc<dyn ExecutionPlan>, t: i64| displayable(p.as_ref()).indent(true).to_string().replace(&t.to_string(), "T");
    let below = physical(ctx, &query(top - 1)).await;
    let above = physical(ctx, &query(top + 1)).await;
    assert_eq!(shape(&below, top - 1), shape(&above, top + 1), "the plan moved where T crossed the richest resident's income");
    // And the optimizer's estimate of the filtered rows is the same on either side.
    let filtered = |t: i64| format!("SELECT person_id FROM residents WHERE income > {t}");
    let a = physical(ctx, &filtered(top - 1)).await;
    let b = physical(ctx, &filtered(top + 1)).await;
    let (a, b) = (statistics(&a).num_rows, statistics(&b).num_rows);
    assert_eq!(a, b);
    assert!(!matches!(b, Precision::Exact(0)), "an estimate of no rows above the maximum reads the maximum");
}
