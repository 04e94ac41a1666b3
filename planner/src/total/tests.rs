//! Plans the total-evaluation pass accepts (and how it rewrites them) and refuses.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::tree_node::TreeNode;
use datafusion::datasource::MemTable;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;

use super::make_total;
use crate::error::PlannerError;
use crate::refusal::RefusalCode;

/// The columns of the test table `t`.
fn table_schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("income", DataType::Int64, true),
        Field::new("small", DataType::Int32, true),
        Field::new("x", DataType::Float64, true),
        Field::new("name", DataType::Utf8, true),
        Field::new("d", DataType::Date32, true),
    ]))
}

async fn aggregate_of(sql: &str) -> LogicalPlan {
    let ctx = SessionContext::new();
    let schema = table_schema();
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
    assert!(p.contains("CASE WHEN t.income < Int64(0) THEN Int64(0) - t.income ELSE t.income END"), "abs(i64::MIN) raises; rewritten to a wrapping CASE: {p}");
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


// Regressions found by the property test (`compute/tests/total_evaluation.rs`); each
// statement below failed at execution after it was accepted, on the adversarial fixture.

#[tokio::test]
async fn integer_negation_is_a_wrapping_subtraction() {
    // `WHERE (- i) < pid` failed with "Overflow happened on: - -9223372036854775808": the
    // engine's negation wraps on rows but raises when the filter's selectivity is estimated
    // from the column's statistics, whose minimum was one row's i64::MIN.
    let p = rewritten("SELECT COUNT(*) FROM t WHERE (- income) < id").await;
    assert!(p.contains("Int64(0) - t.income < t.id"), "{p}");
    let p = rewritten("SELECT COUNT(*) FROM t WHERE (- small) < 3").await;
    assert!(p.contains("Int32(0) - t.small"), "the zero has the operand's type: {p}");
    let p = rewritten("SELECT SUM(- x) FROM t").await;
    assert!(p.contains("(- t.x)"), "DOUBLE negation cannot fail and stays: {p}");
}

#[tokio::test]
async fn sqrt_and_power_are_ieee_kernels_on_double() {
    // DataFusion raises "cannot take square root of a negative number" and "zero raised to
    // a negative power is undefined" (as PostgreSQL does): `sqrt(x)` on a negative row and
    // `power(x, -1)` on a zero row were exact oracles of those rows.
    let p = rewritten("SELECT COUNT(*) FROM t WHERE sqrt(x) > 1").await;
    assert!(p.contains("shuyu_sqrt(") && !p.contains(" sqrt("), "{p}");
    let p = rewritten("SELECT COUNT(*) FROM t WHERE power(x, -1.0) > 1").await;
    assert!(p.contains("shuyu_power(") && !p.contains(" power("), "{p}");
    let p = rewritten("SELECT COUNT(*) FROM t WHERE sqrt(income) > 1").await;
    assert!(p.contains("shuyu_sqrt(CAST(t.income AS Float64))"), "an integer argument is cast to DOUBLE, once: {p}");
}

#[tokio::test]
async fn round_of_integers_is_computed_on_double() {
    // `round(9223372036854775807, -1)` raises "Overflow while rounding Int64".
    let p = rewritten("SELECT COUNT(*) FROM t WHERE round(income, -1) > 0").await;
    assert!(p.contains("TRY_CAST(round(CAST(t.income AS Float64), "), "{p}");
    let p = rewritten("SELECT COUNT(*) FROM t WHERE round(x, 2) > 0").await;
    assert!(p.contains("round(t.x, ") && !p.contains("CAST(t.x"), "DOUBLE rounding cannot fail: {p}");
}

#[tokio::test]
async fn dates_become_text_through_a_kernel_that_cannot_fail() {
    // `CAST(d AS VARCHAR)` (and TRY_CAST) raised "Failed to convert -2147483648 to temporal
    // for Date32" on a date with no calendar form: arrow's cast to text ignores TRY.
    let p = rewritten("SELECT COUNT(*) FROM t WHERE CAST(d AS VARCHAR) = 'x'").await;
    assert!(p.contains("shuyu_text(t.d)") && !p.contains("CAST(t.d"), "{p}");
    let p = rewritten("SELECT COUNT(*) FROM t WHERE TRY_CAST(d AS VARCHAR) = 'x'").await;
    assert!(p.contains("shuyu_text(t.d)"), "{p}");
    let p = rewritten("SELECT COUNT(*) FROM t WHERE CAST(income AS VARCHAR) = 'x'").await;
    assert!(p.contains("CAST(t.income AS Utf8") && !p.contains("TRY_CAST(t.income"), "numbers format without failing: {p}");
}

#[tokio::test]
async fn abs_of_an_unsigned_integer_stays_abs() {
    // The wrapping CASE negated an unsigned value, a plan that no longer type-checked when
    // the job ran (an internal error after the reservation).
    let p = rewritten("SELECT COUNT(*) FROM t WHERE abs(CAST(id AS BIGINT UNSIGNED)) > 1").await;
    assert!(p.contains("abs(") && !p.contains("CASE"), "{p}");
}

#[tokio::test]
async fn patterns_that_compile_large_are_refused() {
    // `regexp_replace(s, 'a{100000}', …)` is a 14-byte constant that compiles to megabytes;
    // on one 100 KB row it ran for over a minute.
    let m = refused("SELECT COUNT(*) FROM t WHERE regexp_like(name, 'a{100000}')").await;
    assert!(m.contains("KiB") && m.contains("ASCII"), "{m}");
    let m = refused("SELECT COUNT(*) FROM t WHERE name ~ 'a{100000}'").await;
    assert!(m.contains("KiB"), "{m}");
    // The case-insensitive flag is applied as the engine applies it, before the size check.
    let m = refused(r"SELECT COUNT(*) FROM t WHERE regexp_like(name, '\w+@\w+\.\w+', 'i')").await;
    assert!(m.contains("KiB"), "{m}");
    rewritten(r"SELECT COUNT(*) FROM t WHERE regexp_like(name, '\d{4}-\d{2}')").await;
    rewritten("SELECT COUNT(*) FROM t WHERE regexp_like(name, '(?-u:\\w)+@[A-Za-z0-9_.]+', 'i')").await;
    rewritten("SELECT COUNT(*) FROM t WHERE regexp_like(name, 'a{1000}')").await;
    // A flag that is not a regular-expression flag is refused as a flag, not as a pattern.
    let m = refused("SELECT COUNT(*) FROM t WHERE regexp_replace(name, 'a', 'b', 'g') = 'x'").await;
    assert!(m.contains("flags"), "{m}");
}

#[tokio::test]
async fn date_differences_are_integer_subtractions() {
    // `WHERE CAST(d - DATE '1970-01-01' AS BIGINT) > 3` failed when the job ran: the days
    // between two dates are typed BIGINT in the plan, but the filter's interval analysis
    // computes them as a duration and raised on comparing the two ("Only intervals with the
    // same data type are comparable"), an internal error after the reservation.
    let p = rewritten("SELECT COUNT(*) FROM t WHERE CAST(d - DATE '1970-01-01' AS BIGINT) > 3").await;
    assert!(p.contains("CAST(t.d AS Int64) - CAST("), "{p}");
    assert!(!p.contains("t.d - "), "{p}");
}

#[tokio::test]
async fn is_true_and_is_false_become_case() {
    // `SELECT (b IS TRUE) AS g, COUNT(*) … GROUP BY 1`: the engine's physical form of IS
    // TRUE is nullable and its logical one is not, so the projected key failed the physical
    // plan's schema check once the budget was reserved.
    let p = rewritten("SELECT COUNT(*) FROM t WHERE (income > 3) IS TRUE").await;
    assert!(p.contains("CASE WHEN t.income > Int64(3) THEN Boolean(true) ELSE Boolean(false) END"), "{p}");
    let p = rewritten("SELECT COUNT(*) FROM t WHERE (income > 3) IS NOT FALSE").await;
    assert!(p.contains("CASE WHEN NOT t.income > Int64(3) THEN Boolean(false) ELSE Boolean(true) END"), "{p}");
    let p = rewritten("SELECT COUNT(*) FROM t WHERE (income > 3) IS UNKNOWN").await;
    assert!(p.contains("t.income > Int64(3) IS NULL"), "{p}");
}

#[tokio::test]
async fn a_case_with_a_costly_part_is_evaluated_eagerly_and_a_cheap_one_stays() {
    // The engine evaluates a branch only on the rows that select it: a regular expression
    // on a branch taken by one person's row cost time only when that person's condition
    // held. Rewritten, every branch runs on every row.
    let p = rewritten("SELECT COUNT(*) FROM t WHERE CASE WHEN id = 7 AND income > 3 THEN regexp_like(name, 'a+b') ELSE false END").await;
    assert!(p.contains("shuyu_case(t.id = Int64(7) AND t.income > Int64(3), regexp_like(t.name, Utf8(\"a+b\")), Boolean(false))"), "{p}");
    // A simple CASE compares its operand with each WHEN; a missing ELSE is a typed NULL.
    let p = rewritten("SELECT COUNT(*) FROM t WHERE (CASE id WHEN 7 THEN upper(name) WHEN 8 THEN 'x' END) = 'A'").await;
    assert!(p.contains("shuyu_case(t.id = Int64(7), upper(t.name), t.id = Int64(8), Utf8(\"x\"), Utf8(NULL))"), "{p}");
    // coalesce and nvl2 become CASE in the optimizer, lazily; with a costly argument they
    // are eager here.
    let p = rewritten("SELECT COUNT(*) FROM t WHERE coalesce(regexp_replace(name, 'a', 'b'), 'z') = 'b'").await;
    assert!(p.contains("shuyu_case(regexp_replace(t.name, Utf8(\"a\"), Utf8(\"b\")) IS NOT NULL, regexp_replace("), "{p}");
    let p = rewritten("SELECT COUNT(*) FROM t WHERE nvl2(income, lower(name), 'n') = 'b'").await;
    // (The type coercion casts nvl2's first argument to the type of the others.)
    assert!(p.contains("shuyu_case(CAST(t.income AS Utf8) IS NOT NULL, lower(t.name), Utf8(\"n\"))"), "{p}");
    // Cheap parts: the engine's CASE and coalesce.
    let p = rewritten("SELECT COUNT(*) FROM t WHERE CASE WHEN id = 7 THEN income ELSE 0 END > 3 AND coalesce(income, 0) > 1").await;
    assert!(p.contains("CASE WHEN t.id = Int64(7) THEN t.income ELSE Int64(0) END") && !p.contains("shuyu_case"), "{p}");
    assert!(p.contains("coalesce(t.income, Int64(0))"), "{p}");
}

#[tokio::test]
async fn the_eager_case_answers_as_the_engines_case() {
    use arrow::array::{Date32Array, Float64Array, Int32Array, Int64Array, StringArray};
    use arrow::util::pretty::pretty_format_batches;
    let schema = table_schema();
    let n = 40i64;
    let batch = arrow::record_batch::RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int64Array::from_iter((0..n).map(|i| (i % 7 != 3).then_some(i)))),
            Arc::new(Int64Array::from_iter((0..n).map(|i| (i % 5 != 1).then_some(i * 37 % 11)))),
            Arc::new(Int32Array::from_iter((0..n).map(|i| Some(i as i32 % 3)))),
            Arc::new(Float64Array::from_iter((0..n).map(|i| Some(i as f64 / 3.0)))),
            Arc::new(StringArray::from_iter((0..n).map(|i| (i % 6 != 2).then(|| ["ab", "aab", "", "b", "xyz"][i as usize % 5].to_string())))),
            Arc::new(Date32Array::from_iter((0..n).map(|i| Some(i as i32)))),
        ],
    )
    .expect("batch");
    let ctx = SessionContext::new();
    ctx.register_table("t", Arc::new(MemTable::try_new(schema, vec![vec![batch]]).expect("table"))).expect("register");
    for sql in [
        "SELECT small, COUNT(*) AS c FROM t WHERE CASE WHEN id > 20 AND income > 3 THEN regexp_like(name, 'a+b') WHEN id < 5 THEN NULL ELSE income % 2 = 0 END GROUP BY small",
        "SELECT CASE income WHEN 3 THEN upper(name) WHEN 4 THEN 'four' END AS k, COUNT(*) AS c FROM t GROUP BY 1",
        "SELECT coalesce(regexp_replace(name, 'a', 'b'), 'none') AS k, COUNT(*) AS c FROM t GROUP BY 1",
        "SELECT nvl2(income, lower(name), 'n') AS k, SUM(small) AS s FROM t GROUP BY 1",
    ] {
        let state = ctx.state();
        let plan = state.create_logical_plan(sql).await.expect("plans");
        let plan = state.analyzer().execute_and_check(plan, state.config_options(), |_, _| {}).expect("analyzes");
        let expected = ctx.execute_logical_plan(plan.clone()).await.expect("runs").collect().await.expect("collects");
        let total = plan
            .transform_up(|p| {
                if matches!(p, LogicalPlan::Aggregate(_)) {
                    return make_total(p).map(datafusion::common::tree_node::Transformed::yes).map_err(crate::error::to_df);
                }
                Ok(datafusion::common::tree_node::Transformed::no(p))
            })
            .expect("total")
            .data;
        assert!(total.display_indent().to_string().contains("shuyu_case"), "{sql}");
        let got = ctx.execute_logical_plan(total).await.expect("runs").collect().await.expect("collects");
        let sorted = |b: &[arrow::record_batch::RecordBatch]| {
            let text = pretty_format_batches(b).expect("format").to_string();
            let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
            lines.sort();
            lines
        };
        assert_eq!(sorted(&got), sorted(&expected), "{sql}");
    }
}
