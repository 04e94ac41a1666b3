//! Each rule on the plans it accepts and refuses, over the demo catalog (empty tables: the
//! rules never read data).

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::datasource::MemTable;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;
use shuyu_datasets::ColumnType;

use super::*;
use crate::error::PlannerError;
use crate::refusal::RefusalCode;
use crate::relation::RelationWalker;
use crate::scope::{session_config, Scope};

fn scope() -> Scope {
    let ctx = SessionContext::new_with_config(session_config());
    let mut catalog = ScopeCatalog::default();
    for m in shuyu_datasets::demo::demo_manifests() {
        let fields: Vec<Field> = m
            .columns
            .iter()
            .map(|c| {
                let t = match c.data_type {
                    ColumnType::Int64 => DataType::Int64,
                    ColumnType::Float64 => DataType::Float64,
                    ColumnType::Utf8 => DataType::Utf8,
                    ColumnType::Boolean => DataType::Boolean,
                    ColumnType::Date32 => DataType::Date32,
                };
                Field::new(&c.name, t, true)
            })
            .collect();
        let table = MemTable::try_new(Arc::new(Schema::new(fields)), vec![vec![]]).expect("an empty table");
        ctx.register_table(m.name.as_str(), Arc::new(table)).expect("registers");
        catalog.insert(m);
    }
    Scope::from_context(ctx, catalog)
}

async fn logical(scope: &Scope, sql: &str) -> LogicalPlan {
    let state = scope.context().state();
    let plan = state.create_logical_plan(sql).await.expect("plans");
    state.analyzer().execute_and_check(plan, state.config_options(), |_, _| {}).expect("analyzes")
}

/// The first node (top down) that `pick` selects.
fn node(plan: &LogicalPlan, pick: impl Fn(&LogicalPlan) -> bool) -> LogicalPlan {
    let mut found = None;
    plan.apply(|p| {
        if pick(p) {
            found = Some(p.clone());
            return Ok(TreeNodeRecursion::Stop);
        }
        Ok(TreeNodeRecursion::Continue)
    })
    .expect("walks");
    found.expect("the plan has such a node")
}

fn code<T: std::fmt::Debug>(r: Result<T>) -> RefusalCode {
    match r {
        Err(PlannerError::Refused(refusal)) => refusal.code,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

async fn check(rule: &dyn PlanRule, sql: &str, pick: impl Fn(&LogicalPlan) -> bool) -> Result<()> {
    let s = scope();
    let plan = logical(&s, sql).await;
    rule.check(&node(&plan, pick), s.catalog())
}

#[tokio::test]
async fn a_scan_of_a_personal_table_above_every_release_is_row_level_output() {
    let scan = |p: &LogicalPlan| matches!(p, LogicalPlan::TableScan(_));
    let rule = row_level_output::NoRowLevelOutput;
    assert_eq!(code(check(&rule, "SELECT age FROM residents", scan).await), RefusalCode::RowLevelOutput);
    check(&rule, "SELECT area_km2 FROM districts", scan).await.expect("a public table's rows may be output");
}

#[tokio::test]
async fn windows_over_personal_rows_are_refused_and_over_public_rows_accepted() {
    let window = |p: &LogicalPlan| matches!(p, LogicalPlan::Window(_));
    let rule = windows::NoWindows;
    assert_eq!(code(check(&rule, "SELECT ROW_NUMBER() OVER (ORDER BY age) FROM residents", window).await), RefusalCode::WindowFunction);
    check(&rule, "SELECT ROW_NUMBER() OVER (ORDER BY area_km2) FROM districts", window).await.expect("a window over public rows");
}

#[tokio::test]
async fn distinct_over_personal_rows_is_refused_and_over_public_rows_accepted() {
    let distinct = |p: &LogicalPlan| matches!(p, LogicalPlan::Distinct(_));
    let rule = distinct::NoDistinct;
    assert_eq!(code(check(&rule, "SELECT DISTINCT age FROM residents", distinct).await), RefusalCode::RowLevelOutput);
    check(&rule, "SELECT DISTINCT district FROM districts", distinct).await.expect("DISTINCT over public rows");
}

#[tokio::test]
async fn subqueries_over_personal_data_are_refused_in_any_expression() {
    let filter = |p: &LogicalPlan| matches!(p, LogicalPlan::Filter(_));
    let rule = subqueries::NoPersonalSubqueries;
    let sql = "SELECT area_km2 FROM districts WHERE population_2020 > (SELECT MAX(income) FROM residents)";
    assert!(matches!(check(&rule, sql, filter).await, Err(PlannerError::Refused(_))));
    let public = "SELECT area_km2 FROM districts WHERE population_2020 > (SELECT AVG(population_2020) FROM districts)";
    check(&rule, public, filter).await.expect("a subquery over public data");
}

#[test]
fn every_plan_rule_is_applied_once_under_its_own_name() {
    let names: Vec<&str> = PLAN_RULES.iter().map(|r| r.name()).collect();
    assert_eq!(names, ["no_personal_subqueries", "no_row_level_output", "no_windows", "no_distinct"]);
    let names: Vec<&str> = AGGREGATE_RULES.iter().map(|r| r.name()).collect();
    assert_eq!(names, ["bound_contributions", "group_keys", "select_keys"]);
}

/// What the aggregate rules decided for the first aggregate of `sql`.
#[derive(Debug)]
struct Decided {
    max_rows: u32,
    max_groups: u32,
    keys: usize,
    key_set: KeySet,
    bound_groups: bool,
}

async fn decide(sql: &str, budget: QueryBudget) -> Result<Decided> {
    let s = scope();
    let plan = logical(&s, sql).await;
    let LogicalPlan::Aggregate(agg) = node(&plan, |p| matches!(p, LogicalPlan::Aggregate(_))) else { unreachable!() };
    let (input, rel) = RelationWalker::new(s.catalog()).walk(&agg.input)?;
    let unit = rel.unit.clone().expect("a personal aggregate");
    let mut draft = AggregateDraft::new(&agg, input.schema(), &rel, &unit, &budget);
    apply_all(&mut draft)?;
    Ok(Decided { max_rows: draft.max_rows, max_groups: draft.max_groups, keys: draft.keys.len(), key_set: draft.key_set, bound_groups: draft.bound_groups })
}

#[tokio::test]
async fn contributions_are_the_catalogs_bounds_lowered_never_raised_by_the_query() {
    // medical_visits: many rows per person, at most 4 keys and 8 rows per key.
    let d = decide("SELECT COUNT(*) FROM medical_visits", QueryBudget::pure(1.0)).await.expect("plans");
    assert_eq!((d.max_rows, d.max_groups), (8, 1), "one key without GROUP BY");
    let d = decide("SELECT department, COUNT(*) FROM medical_visits GROUP BY department", QueryBudget::pure(1.0)).await.expect("plans");
    assert_eq!((d.max_rows, d.max_groups), (8, 4));
    let lowered = QueryBudget::pure(1.0).with_bounds(Some(2), Some(3));
    let d = decide("SELECT department, COUNT(*) FROM medical_visits GROUP BY department", lowered).await.expect("plans");
    assert_eq!((d.max_rows, d.max_groups), (3, 2));
    let raised = QueryBudget::pure(1.0).with_bounds(Some(100), Some(100));
    let d = decide("SELECT department, COUNT(*) FROM medical_visits GROUP BY department", raised).await.expect("plans");
    assert_eq!((d.max_rows, d.max_groups), (8, 4), "a query cannot raise the catalog's bounds");
    // residents: one row per person, nothing to bound whatever the query asks.
    let d = decide("SELECT district, COUNT(*) FROM residents GROUP BY district", raised).await.expect("plans");
    assert_eq!((d.max_rows, d.max_groups, d.bound_groups), (1, 1, false));
}

#[tokio::test]
async fn group_keys_refuse_the_unit_identifiers_and_grouping_sets() {
    let pure = QueryBudget::pure(1.0);
    assert_eq!(code(decide("SELECT person_id, COUNT(*) FROM residents GROUP BY person_id", pure).await), RefusalCode::GroupByUnit);
    assert_eq!(code(decide("SELECT person_id + 1, COUNT(*) FROM residents GROUP BY person_id + 1", pure).await), RefusalCode::GroupByUnit);
    assert_eq!(code(decide("SELECT name, COUNT(*) FROM residents GROUP BY name", pure).await), RefusalCode::GroupByIdentifier);
    let rollup = "SELECT district, gender, COUNT(*) FROM residents GROUP BY ROLLUP (district, gender)";
    assert_eq!(code(decide(rollup, pure).await), RefusalCode::UnboundedSensitivity);
    let d = decide("SELECT district, gender, COUNT(*) FROM residents GROUP BY district, gender", pure).await.expect("plans");
    assert_eq!(d.keys, 2);
}

#[tokio::test]
async fn keys_come_from_public_domains_or_partition_selection_with_delta() {
    let pure = QueryBudget::pure(1.0);
    let d = decide("SELECT COUNT(*) FROM residents", pure).await.expect("plans");
    assert!(matches!(d.key_set, KeySet::Global));
    // 12 districts × 2 genders, empty keys included.
    let d = decide("SELECT district, gender, COUNT(*) FROM residents GROUP BY district, gender", pure).await.expect("plans");
    assert!(matches!(d.key_set, KeySet::Public { size: 24, .. }), "{:?}", d.key_set);
    // 10 departments, a visitor reaches at most 4: their keys are bounded.
    let d = decide("SELECT department, COUNT(*) FROM medical_visits GROUP BY department", pure).await.expect("plans");
    assert!(matches!(d.key_set, KeySet::Public { size: 10, .. }) && d.bound_groups && d.max_groups == 4, "{d:?}");
    // Hospitals have no public domain: partition selection, which needs zCDP and a delta.
    let by_hospital = "SELECT hospital, COUNT(*) FROM medical_visits GROUP BY hospital";
    assert_eq!(code(decide(by_hospital, pure).await), RefusalCode::PartitionSelectionNeedsDelta);
    assert_eq!(code(decide(by_hospital, QueryBudget::zcdp(0.5, 0.0)).await), RefusalCode::PartitionSelectionNeedsDelta);
    let d = decide(by_hospital, QueryBudget::zcdp(0.5, 1e-6)).await.expect("plans");
    assert!(matches!(d.key_set, KeySet::Selected { max_partitions: 4, .. }) && d.bound_groups, "{d:?}");
}
