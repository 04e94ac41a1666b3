//! Bounds, public domains and taint of expressions: the facts privacy analysis rests on.

use arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::{DFSchema, ScalarValue};
use datafusion::logical_expr::{cast, col, lit, when};
use shuyu_planner::facts::{expr_facts, Facts};

fn schema() -> (DFSchema, Vec<Facts>) {
    let s = Schema::new(vec![
        Field::new("age", DataType::Int64, true),
        Field::new("income", DataType::Float64, true),
        Field::new("district", DataType::Utf8, true),
        Field::new("person_id", DataType::Int64, true),
        Field::new("name", DataType::Utf8, true),
        Field::new("n", DataType::Int64, true),
    ]);
    let df = DFSchema::try_from_qualified_schema("t", &s).unwrap();
    let facts = vec![
        Facts { bounds: Some((0.0, 100.0)), integer: true, ..Facts::default() },
        Facts { bounds: Some((0.0, 200_000.0)), ..Facts::default() },
        Facts { domain: Some(vec![ScalarValue::from("南关区"), ScalarValue::from("宽城区")]), ..Facts::default() },
        Facts { integer: true, from_unit: true, ..Facts::default() },
        Facts { from_identifier: true, ..Facts::default() },
        // A per-person count: at least 0, no upper bound.
        Facts { bounds: Some((0.0, f64::INFINITY)), integer: true, ..Facts::default() },
    ];
    (df, facts)
}

#[test]
fn arithmetic_propagates_bounds() {
    let (s, f) = schema();
    assert_eq!(expr_facts(&(col("t.age") * lit(2i64) + lit(1i64)), &s, &f).bounds, Some((1.0, 201.0)));
    assert_eq!(expr_facts(&(col("t.age") - col("t.age")), &s, &f).bounds, Some((-100.0, 100.0)));
    assert_eq!(expr_facts(&(lit(0i64) - col("t.income")), &s, &f).bounds, Some((-200_000.0, 0.0)));
    // Division by an interval that contains zero has no bounds.
    assert_eq!(expr_facts(&(col("t.income") / col("t.age")), &s, &f).bounds, None);
    // Integer division stays whole: age / 10 in [0, 10] with a derived domain of 11 keys.
    let decade = expr_facts(&(col("t.age") / lit(10i64)), &s, &f);
    assert_eq!(decade.bounds, Some((0.0, 10.0)));
    assert_eq!(decade.public_domain().map(|d| d.len()), Some(11));
}

#[test]
fn least_closes_a_half_open_bound() {
    let (s, f) = schema();
    let least = datafusion::functions::core::expr_fn::least(vec![col("t.n"), lit(20i64)]);
    let facts = expr_facts(&least, &s, &f);
    assert_eq!(facts.finite_bounds(), Some((0.0, 20.0)));
    assert!(expr_facts(&col("t.n"), &s, &f).finite_bounds().is_none(), "a raw count per person is unbounded");
}

#[test]
fn case_over_constants_has_a_public_domain() {
    let (s, f) = schema();
    let band = when(col("t.age").lt(lit(18i64)), lit("minor"))
        .when(col("t.age").lt(lit(65i64)), lit("adult"))
        .otherwise(lit("senior"))
        .unwrap();
    let d = expr_facts(&band, &s, &f).public_domain().unwrap();
    assert_eq!(d, vec![ScalarValue::from("minor"), ScalarValue::from("adult"), ScalarValue::from("senior")]);
    let flag = when(col("t.income").gt(lit(1000.0)), lit(1i64)).otherwise(lit(0i64)).unwrap();
    assert_eq!(expr_facts(&flag, &s, &f).bounds, Some((0.0, 1.0)));
}

#[test]
fn comparisons_are_boolean_with_a_two_value_domain() {
    let (s, f) = schema();
    let b = expr_facts(&col("t.age").gt_eq(lit(18i64)), &s, &f);
    assert!(b.boolean);
    assert_eq!(b.public_domain().map(|d| d.len()), Some(2));
}

#[test]
fn taint_follows_the_unit_and_identifiers_through_expressions() {
    let (s, f) = schema();
    assert!(expr_facts(&(col("t.person_id") % lit(10i64)), &s, &f).from_unit);
    assert!(expr_facts(&cast(col("t.person_id"), DataType::Utf8), &s, &f).from_unit);
    let initial = datafusion::functions::unicode::expr_fn::substr(col("t.name"), lit(1i64));
    assert!(expr_facts(&initial, &s, &f).from_identifier);
    assert!(!expr_facts(&col("t.district"), &s, &f).from_unit);
}

#[test]
fn casts_keep_whole_numbers_whole_and_drop_bounds_for_text() {
    let (s, f) = schema();
    let as_float = expr_facts(&cast(col("t.age"), DataType::Float64), &s, &f);
    assert!(as_float.integer);
    assert_eq!(as_float.bounds, Some((0.0, 100.0)));
    let as_text = expr_facts(&cast(col("t.age"), DataType::Utf8), &s, &f);
    assert_eq!(as_text.bounds, None);
    let real = expr_facts(&col("t.income"), &s, &f);
    assert!(!real.integer && real.public_domain().is_none(), "a real-valued column has no derived domain");
}

/// Regression (total-evaluation property test): `GROUP BY CAST(-1 AS BIGINT UNSIGNED)`
/// derived the key domain {-1} from the bounds of the cast's input, a value the key type
/// cannot hold, and the job failed when it built the public keys. A value outside an integer
/// type's range does not convert (the cast is a TRY_CAST), so the bounds are the range's.
#[test]
fn casts_to_an_integer_type_keep_bounds_inside_its_range() {
    let (s, f) = schema();
    let none = expr_facts(&cast(lit(-1i64), DataType::UInt64), &s, &f);
    assert_eq!(none.bounds, None, "no value of [-1, -1] is a UInt64");
    assert_eq!(none.public_domain(), None);
    let part = expr_facts(&cast(col("t.age") - lit(50i64), DataType::UInt8), &s, &f);
    assert_eq!(part.bounds, Some((0.0, 50.0)), "[-50, 50] as UInt8 is [0, 50]");
    assert_eq!(part.public_domain().map(|d| d.len()), Some(51));
    let wide = expr_facts(&cast(col("t.income") * lit(1e20), DataType::Int64), &s, &f);
    let (lo, hi) = wide.bounds.expect("bounded");
    assert!(lo == 0.0 && hi < i64::MAX as f64 && hi > 9.2e18, "clipped to the Int64 range: {hi}");
}

#[test]
fn the_eager_case_has_the_facts_of_its_branches() {
    use shuyu_planner::total::kernels::Kernel;
    let (s, f) = schema();
    // CASE WHEN regexp_like(name, 'x') THEN age ELSE 0 END, as the total-evaluation pass
    // writes a CASE with a costly condition: the bounds of its values, tainted by the
    // identifier its condition reads.
    let costly = datafusion::functions::regex::expr_fn::regexp_like(col("t.name"), lit("x"), None);
    let eager = Kernel::Case.apply(vec![costly.clone(), col("t.age"), lit(0i64)]);
    let facts = expr_facts(&eager, &s, &f);
    assert_eq!(facts.bounds, Some((0.0, 100.0)));
    assert!(facts.integer && facts.from_identifier && !facts.from_unit);
    // Constant branches give a public domain; a NULL branch (no ELSE) widens nothing.
    let band = Kernel::Case.apply(vec![costly.clone(), lit("a"), col("t.age").lt(lit(18i64)), lit("b"), lit(ScalarValue::Utf8(None))]);
    assert_eq!(expr_facts(&band, &s, &f).public_domain().unwrap(), vec![ScalarValue::from("a"), ScalarValue::from("b")]);
    let half = Kernel::Case.apply(vec![costly, col("t.income"), cast(lit(ScalarValue::Null), DataType::Float64)]);
    assert_eq!(expr_facts(&half, &s, &f).bounds, Some((0.0, 200_000.0)));
}
