//! Plans the total-evaluation pass accepts (and how it rewrites them) and refuses.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema};
use datafusion::datasource::MemTable;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;

use super::make_total;
use crate::error::PlannerError;
use crate::refusal::RefusalCode;

async fn aggregate_of(sql: &str) -> LogicalPlan {
    let ctx = SessionContext::new();
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("income", DataType::Int64, true),
        Field::new("small", DataType::Int32, true),
        Field::new("x", DataType::Float64, true),
        Field::new("name", DataType::Utf8, true),
        Field::new("d", DataType::Date32, true),
    ]));
    ctx.register_table("t", Arc::new(MemTable::try_new(schema, vec![vec![]]).expect("table"))).expect("register");
    let state = ctx.state();
    let plan = state.create_logical_plan(sql).await.expect("plans");
    let plan = state.analyzer().execute_and_check(plan, state.config_options(), |_, _| {}).expect("analyzes");
    let mut found = None;
    let _ = datafusion::common::tree_node::TreeNode::apply(&plan, |p| {
        if matches!(p, LogicalPlan::Aggregate(_)) {
            found = Some(p.clone());
            return Ok(datafusion::common::tree_node::TreeNodeRecursion::Stop);
        }
        Ok(datafusion::common::tree_node::TreeNodeRecursion::Continue)
    });
    found.expect("an aggregate")
}

async fn rewritten(sql: &str) -> String {
    let plan = aggregate_of(sql).await;
    let before = plan.schema().clone();
    let out = make_total(plan).unwrap_or_else(|e| panic!("{sql}: {e}"));
    // Names and types of the outputs are kept.
    assert_eq!(out.schema().as_ref(), before.as_ref(), "{sql}");
    let text = out.display_indent().to_string();
    text
}

async fn refused(sql: &str) -> String {
    match make_total(aggregate_of(sql).await) {
        Err(PlannerError::Refused(r)) => {
            assert_eq!(r.code, RefusalCode::ExpressionNotAllowed, "{sql}: {}", r.message);
            r.message
        }
        other => panic!("{sql}: expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn fallible_casts_become_try_casts_and_safe_ones_stay() {
    let p = rewritten("SELECT COUNT(*) FROM t WHERE CAST(name AS BIGINT) > 3").await;
    assert!(p.contains("TRY_CAST(t.name AS Int64)"), "{p}");
    let p = rewritten("SELECT SUM(CAST(small AS BIGINT)) FROM t").await;
    assert!(p.contains("CAST(t.small AS Int64)") && !p.contains("TRY_CAST"), "a widening cast cannot fail: {p}");
    let p = rewritten("SELECT COUNT(*) FROM t WHERE CAST(x AS INT) = 1").await;
    assert!(p.contains("TRY_CAST(t.x AS Int32)"), "DOUBLE to INT overflows: {p}");
}

#[tokio::test]
async fn integer_division_and_modulo_become_total_kernels() {
    let p = rewritten("SELECT SUM(income / (id - 7)) FROM t").await;
    assert!(p.contains("shuyu_div(t.income, t.id - Int64(7))"), "{p}");
    let p = rewritten("SELECT COUNT(*) FROM t WHERE income % id = 0").await;
    assert!(p.contains("shuyu_mod(t.income, t.id)"), "{p}");
    let p = rewritten("SELECT SUM(x / 0.0) FROM t").await;
    assert!(!p.contains("shuyu_div"), "DOUBLE division yields infinities, never an error: {p}");
    let p = rewritten("SELECT SUM(abs(income)) FROM t").await;
    assert!(p.contains("CASE WHEN t.income < Int64(0) THEN (- t.income) ELSE t.income END"), "abs(i64::MIN) raises; rewritten to a wrapping CASE: {p}");
}

#[tokio::test]
async fn costly_conjuncts_are_evaluated_eagerly_and_cheap_ones_stay_native() {
    let p = rewritten("SELECT COUNT(*) FROM t WHERE id = 3 AND income > 10 AND lower(name) = 'a'").await;
    assert!(!p.contains("shuyu_and"), "one costly conjunct needs no eager AND, only to come first: {p}");
    // The costly conjunct comes first, so the cheap ones after it cannot skip it per batch.
    let filter = p.lines().find(|l| l.contains("Filter:")).expect("a filter");
    let costly_at = filter.find("lower(").expect("the costly conjunct");
    let cheap_at = filter.find("t.id = Int64(3)").expect("a cheap conjunct");
    assert!(costly_at < cheap_at, "{filter}");
    let p = rewritten("SELECT SUM(CASE WHEN id = 3 OR regexp_like(name, '^a') THEN 1 ELSE 0 END) FROM t").await;
    assert!(p.contains("shuyu_or(t.id = Int64(3), regexp_like("), "a nested OR with a costly side: {p}");
    let p = rewritten("SELECT COUNT(*) FROM t WHERE id = 3 OR income > 5").await;
    assert!(!p.contains("shuyu_or"), "cheap sides stay native: {p}");
}

#[tokio::test]
async fn functions_that_fail_or_amplify_work_are_refused_at_plan_time() {
    let m = refused("SELECT COUNT(*) FROM t WHERE length(repeat('ab', CASE WHEN id = 1 THEN 200000000 ELSE 1 END)) > 1").await;
    assert!(m.contains("repeat") && m.contains("outer query"), "{m}");
    let m = refused("SELECT COUNT(*) FROM t WHERE lpad(name, 10, 'x') = 'a'").await;
    assert!(m.contains("lpad"), "{m}");
    let m = refused("SELECT COUNT(*) FROM t WHERE to_date(name) > DATE '2020-01-01'").await;
    assert!(m.contains("TRY_CAST"), "the refusal says what to write instead: {m}");
    let m = refused("SELECT COUNT(*) FROM t WHERE regexp_like(name, name)").await;
    assert!(m.contains("constant"), "{m}");
    let m = refused("SELECT COUNT(*) FROM t WHERE regexp_like(name, '(')").await;
    assert!(m.contains("not a valid"), "{m}");
    let m = refused("SELECT COUNT(*) FROM t WHERE name LIKE name").await;
    assert!(m.contains("constant"), "{m}");
    let m = refused("SELECT COUNT(*) FROM t WHERE substr(name, 1, small) = 'a'").await;
    assert!(m.contains("argument 3"), "{m}");
    let m = refused("SELECT COUNT(*) FROM t WHERE d + INTERVAL '1 day' > DATE '2020-01-01'").await;
    assert!(m.contains("date_part") || m.contains("compare dates"), "{m}");
    let m = refused("SELECT COUNT(*) FROM t WHERE chr(small) = 'a'").await;
    assert!(m.contains("chr"), "{m}");
    let long = "a".repeat(super::MAX_LITERAL_BYTES + 1);
    let m = refused(&format!("SELECT COUNT(*) FROM t WHERE name = '{long}'")).await;
    assert!(m.contains("bytes"), "{m}");
}

#[tokio::test]
async fn refusal_messages_quote_no_value_of_the_data() {
    // Messages name functions, arguments and limits; the constants of the query are the
    // analyst's own, and no data has been read at plan time.
    let m = refused("SELECT COUNT(*) FROM t WHERE repeat(name, 3) = 'secret'").await;
    assert!(!m.contains("secret"), "{m}");
}
