//! Total evaluation: every expression the inner plan of a release evaluates on personal
//! rows cannot fail and costs at most a public constant per row.
//!
//! A run-time error that occurs for one person's row and not otherwise would tell the
//! analyst something about that person for free; so would the time a row takes. This pass
//! runs on each private aggregate (its input subtree, subqueries included, and its own
//! expressions) before any other privacy rule, and either rewrites an expression into a
//! total one or refuses the query at plan time, before anything is reserved or read:
//! - `CAST` becomes `TRY_CAST` (NULL where a value does not convert) unless the cast can
//!   never fail (widening numbers, formatting numbers as text); a date or time cast to text
//!   becomes [`kernels::Kernel::Text`] (arrow's cast raises on dates it cannot format, even
//!   under TRY_CAST);
//! - `x IS [NOT] TRUE` and `x IS [NOT] FALSE` become CASE (the engine's own form is nullable
//!   in the physical plan and not in the logical one, which fails a GROUP BY key);
//! - integer `/` and `%` become [`kernels::Kernel::Div`] and [`kernels::Kernel::Mod`]
//!   (NULL on a zero divisor, wrapping on overflow as `+`, `-` and `*` do); integer negation
//!   becomes `0 - x` (the engine's negation wraps on rows but raises when it is applied to
//!   the column's statistics, whose minimum may be one person's `i64::MIN`); the days
//!   between two dates become a subtraction of their day numbers (the filter's interval
//!   analysis computes the engine's own form as a duration and raises); `abs` of an
//!   integer becomes a wrapping `CASE`; `sqrt` and `power` are computed on DOUBLE by IEEE
//!   kernels; `round`, `trunc`, `ceil` and `floor` of integers and decimals on DOUBLE;
//! - arithmetic on decimals, dates and intervals is refused (it raises on overflow);
//! - functions are an explicit list ([`functions`]), with literal-only arguments where a
//!   pattern, a length or a part could fail or grow the work (`repeat`, `lpad`, data-
//!   dependent regular expressions are refused);
//! - string literals, IN lists and the size of the expressions are capped, so the work per
//!   row is bounded by a constant the query fixes, times the bytes of the row;
//! - AND and OR with a costly side are evaluated eagerly ([`kernels::Kernel::And`]): the
//!   engine would otherwise skip the right side for a whole batch when the left side is
//!   false on every row, so one row could change the work of thousands. So are CASE,
//!   `coalesce`, `nvl` and `nvl2` with a costly part ([`kernels::Kernel::Case`]): the
//!   engine evaluates a branch only on the rows that select it. Top-level
//!   conjunctions of WHERE and ON keep their cheap conjuncts (equalities the optimizer turns
//!   into join keys) native, after the eager costly part.

pub mod functions;
pub mod kernels;

use arrow::datatypes::DataType;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{DFSchema, ScalarValue};
use datafusion::logical_expr::expr::{Case, ScalarFunction, TryCast};
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::utils::{conjunction, split_conjunction_owned};
use datafusion::logical_expr::{lit, BinaryExpr, Expr, ExprSchemable, LogicalPlan, Operator};

use crate::error::{from_df, to_df, PlannerError, Result};
use crate::refusal::{refuse, RefusalCode};
use functions::{Rule, MAX_LITERAL_BYTES};
use kernels::Kernel;

/// Most expression nodes one private aggregate may evaluate per row.
pub const MAX_EXPR_NODES: usize = 2048;
/// Longest IN list evaluated on personal rows.
pub const MAX_IN_LIST: usize = 1024;
/// IN lists longer than this, and string literals longer than this, count as costly.
const CHEAP_LIMIT: usize = 64;

/// Rewrites `plan` (a private aggregate with everything below it) so that every expression
/// in it is total, or refuses it.
pub fn make_total(plan: LogicalPlan) -> Result<LogicalPlan> {
    let mut nodes = 0usize;
    let _ = plan.apply_with_subqueries(|p| {
        p.apply_expressions(|e| {
            e.apply(|_| {
                nodes += 1;
                Ok(TreeNodeRecursion::Continue)
            })
        })
    });
    if nodes > MAX_EXPR_NODES {
        return refuse(
            RefusalCode::ExpressionNotAllowed,
            format!(
                "the expressions of this aggregate have {nodes} parts, more than the {MAX_EXPR_NODES} that keep the work per row \
                 bounded; simplify them, or split the query"
            ),
        );
    }
    plan.transform_up_with_subqueries(|node| {
        let schema = expression_schema(&node);
        let top_level = matches!(node, LogicalPlan::Filter(_) | LogicalPlan::Join(_));
        let preserver = NamePreserver::new(&node);
        let node = node.map_expressions(|e| {
            let saved = preserver.save(&e);
            let rewritten = total_expr(e, &schema, top_level).map_err(to_df)?;
            Ok(Transformed::yes(saved.restore(rewritten)))
        })?;
        node.data.recompute_schema().map(Transformed::yes)
    })
    .map(|t| t.data)
    .map_err(from_df)
}

/// The schema an operator's expressions are evaluated against: its input's, or both
/// inputs' for a join.
fn expression_schema(plan: &LogicalPlan) -> DFSchema {
    let inputs = plan.inputs();
    match inputs.as_slice() {
        [] => plan.schema().as_ref().clone(),
        [one] => one.schema().as_ref().clone(),
        [l, r, ..] => l.schema().join(r.schema()).unwrap_or_else(|_| l.schema().as_ref().clone()),
    }
}

/// One expression made total. `top_level`: a WHERE or ON predicate, whose conjunction is
/// kept native for its cheap conjuncts.
fn total_expr(e: Expr, schema: &DFSchema, top_level: bool) -> Result<Expr> {
    if !top_level {
        return rewrite(e, schema);
    }
    let conjuncts = split_conjunction_owned(e);
    let mut costly = Vec::new();
    let mut cheap = Vec::new();
    for c in conjuncts {
        let c = rewrite(c, schema)?;
        if is_costly(&c) {
            costly.push(c);
        } else {
            cheap.push(c);
        }
    }
    // The costly part first and eager, so that the cheap conjuncts after it can only skip
    // cheap work.
    let eager = costly.into_iter().reduce(|a, b| Kernel::And.call(a, b));
    let all: Vec<Expr> = eager.into_iter().chain(cheap).collect();
    conjunction(all).ok_or_else(|| PlannerError::Internal("an empty predicate".into()))
}

/// Bottom-up rewrite of one expression tree.
fn rewrite(e: Expr, schema: &DFSchema) -> Result<Expr> {
    e.transform_up(|e| node(e, schema).map_err(to_df)).map(|t| t.data).map_err(from_df)
}

fn not_allowed<T>(what: impl Into<String>) -> Result<T> {
    refuse(RefusalCode::ExpressionNotAllowed, what)
}

fn type_of(e: &Expr, schema: &DFSchema) -> Result<DataType> {
    e.get_type(schema).map_err(|e| PlannerError::Plan(e.strip_backtrace()))
}

/// One node, its children already total.
fn node(e: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    match e {
        Expr::Literal(ref v, _) => {
            if literal_bytes(v) > MAX_LITERAL_BYTES {
                return not_allowed(format!(
                    "a constant of more than {MAX_LITERAL_BYTES} bytes is compared with personal rows; its work per row would be \
                     unbounded: use shorter constants"
                ));
            }
            Ok(Transformed::no(e))
        }
        Expr::Column(_) | Expr::Alias(_) | Expr::OuterReferenceColumn(..) => Ok(Transformed::no(e)),
        Expr::Not(_) | Expr::IsNull(_) | Expr::IsNotNull(_) | Expr::Between(_) => Ok(Transformed::no(e)),
        Expr::Case(c) => case(c, schema),
        // The engine plans `x IS TRUE` as `x IS NOT DISTINCT FROM true`, which it takes to be
        // nullable where the logical plan does not: projected as a GROUP BY key, the physical
        // plan no longer matched its schema (an internal error once the budget was reserved).
        // A CASE has one nullability in both.
        Expr::IsTrue(x) => Ok(Transformed::yes(either(*x, true))),
        Expr::IsNotTrue(x) => Ok(Transformed::yes(either(*x, false))),
        Expr::IsFalse(x) => Ok(Transformed::yes(either(Expr::Not(x), true))),
        Expr::IsNotFalse(x) => Ok(Transformed::yes(either(Expr::Not(x), false))),
        Expr::IsUnknown(x) => Ok(Transformed::yes(Expr::IsNull(x))),
        Expr::IsNotUnknown(x) => Ok(Transformed::yes(Expr::IsNotNull(x))),
        Expr::Negative(x) => {
            let t = type_of(&x, schema)?;
            if is_signed_integer(&t) {
                // Wrapping subtraction, on rows and on statistics alike.
                Ok(Transformed::yes(zero(&t)? - *x))
            } else {
                Ok(Transformed::no(Expr::Negative(x)))
            }
        }
        Expr::AggregateFunction(_) | Expr::WindowFunction(_) | Expr::GroupingSet(_) => Ok(Transformed::no(e)),
        Expr::ScalarSubquery(_) | Expr::InSubquery(_) | Expr::Exists(_) => Ok(Transformed::no(e)),
        Expr::InList(ref l) => {
            if l.list.len() > MAX_IN_LIST {
                return not_allowed(format!("an IN list of more than {MAX_IN_LIST} values is evaluated on personal rows; use a shorter list"));
            }
            Ok(Transformed::no(e))
        }
        Expr::Cast(c) => {
            let from = type_of(&c.expr, schema)?;
            let to = c.field.data_type().clone();
            castable(&from, &to)?;
            if kernels::is_temporal(&from) && is_text(&to) {
                Ok(Transformed::yes(temporal_text(*c.expr, &to)))
            } else if cannot_fail(&from, &to) {
                Ok(Transformed::no(Expr::Cast(c)))
            } else {
                Ok(Transformed::yes(Expr::TryCast(TryCast::new(c.expr, to))))
            }
        }
        Expr::TryCast(c) => {
            let from = type_of(&c.expr, schema)?;
            let to = c.field.data_type().clone();
            castable(&from, &to)?;
            if kernels::is_temporal(&from) && is_text(&to) {
                Ok(Transformed::yes(temporal_text(*c.expr, &to)))
            } else {
                Ok(Transformed::no(Expr::TryCast(c)))
            }
        }
        Expr::Like(ref l) => {
            let kind = if l.case_insensitive { "ILIKE" } else { "LIKE" };
            if !matches!(l.escape_char, None | Some('\\')) {
                return not_allowed(format!("{kind} with a custom ESCAPE character is not evaluated on personal rows; use the default escape \\"));
            }
            like_pattern(&l.pattern, l.case_insensitive, kind)?;
            Ok(Transformed::no(e))
        }
        Expr::SimilarTo(_) => not_allowed("SIMILAR TO is not evaluated on personal rows; use regexp_like(x, '<constant pattern>')"),
        Expr::BinaryExpr(b) => binary(b, schema),
        Expr::ScalarFunction(f) => function(f, schema),
        Expr::Placeholder(_) => not_allowed("a query parameter is evaluated on personal rows; bind its value before running the query"),
        other => not_allowed(format!(
            "the expression {} is not evaluated on personal rows; use comparisons, arithmetic, CASE and the listed functions",
            other.schema_name()
        )),
    }
}

fn binary(b: BinaryExpr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    use Operator::*;
    let (lt, rt) = (type_of(&b.left, schema)?, type_of(&b.right, schema)?);
    match b.op {
        Eq | NotEq | Lt | LtEq | Gt | GtEq | IsDistinctFrom | IsNotDistinctFrom | StringConcat => Ok(Transformed::no(Expr::BinaryExpr(b))),
        And | Or => {
            let kernel = if b.op == And { Kernel::And } else { Kernel::Or };
            if is_costly(&b.left) || is_costly(&b.right) {
                Ok(Transformed::yes(kernel.call(*b.left, *b.right)))
            } else {
                Ok(Transformed::no(Expr::BinaryExpr(b)))
            }
        }
        Plus | Minus | Multiply => {
            if (lt.is_integer() || lt.is_floating()) && (rt.is_integer() || rt.is_floating()) {
                return Ok(Transformed::no(Expr::BinaryExpr(b)));
            }
            if b.op == Minus && lt == DataType::Date32 && rt == DataType::Date32 {
                // Days between the dates, as the engine computes them (BIGINT), from day
                // numbers: a cast of a Date32 to BIGINT cannot fail.
                let days = |x: Box<Expr>| datafusion::logical_expr::cast(*x, DataType::Int64);
                return Ok(Transformed::yes(days(b.left) - days(b.right)));
            }
            not_allowed(format!(
                "arithmetic on {lt} and {rt} raises an error on overflow and is not evaluated on personal rows; use integers or \
                 DOUBLE (TRY_CAST(x AS DOUBLE)), compare dates directly, or use date_part"
            ))
        }
        Divide | Modulo => {
            if lt.is_floating() && rt.is_floating() || (lt.is_floating() && rt.is_integer()) || (lt.is_integer() && rt.is_floating()) {
                // Floating-point division yields infinities and NaN, never an error.
                return Ok(Transformed::no(Expr::BinaryExpr(b)));
            }
            if lt.is_integer() && rt.is_integer() {
                let kernel = if b.op == Divide { Kernel::Div } else { Kernel::Mod };
                let (l, r) = if lt == rt {
                    (*b.left, *b.right)
                } else {
                    (datafusion::logical_expr::cast(*b.left, DataType::Int64), datafusion::logical_expr::cast(*b.right, DataType::Int64))
                };
                return Ok(Transformed::yes(kernel.call(l, r)));
            }
            not_allowed(format!(
                "division of {lt} by {rt} raises an error on some values and is not evaluated on personal rows; divide integers \
                 or DOUBLE values"
            ))
        }
        BitwiseAnd | BitwiseOr | BitwiseXor if lt.is_integer() && rt.is_integer() => Ok(Transformed::no(Expr::BinaryExpr(b))),
        RegexMatch | RegexIMatch | RegexNotMatch | RegexNotIMatch => {
            match literal_text(&b.right) {
                Some(p) if p.len() <= MAX_LITERAL_BYTES => {
                    let flags = if matches!(b.op, RegexIMatch | RegexNotIMatch) { "i" } else { "" };
                    functions::check_pattern(&format!("the operator {}", b.op), &p, flags)?;
                    Ok(Transformed::no(Expr::BinaryExpr(b)))
                }
                Some(_) => not_allowed(format!("a regular expression evaluated on personal rows is at most {MAX_LITERAL_BYTES} bytes long")),
                None => not_allowed("a regular expression evaluated on personal rows must be a constant pattern; patterns from the data are refused"),
            }
        }
        LikeMatch | ILikeMatch | NotLikeMatch | NotILikeMatch => {
            like_pattern(&b.right, matches!(b.op, ILikeMatch | NotILikeMatch), "LIKE")?;
            Ok(Transformed::no(Expr::BinaryExpr(b)))
        }
        op => not_allowed(format!("the operator {op} is not evaluated on personal rows")),
    }
}

fn function(f: ScalarFunction, schema: &DFSchema) -> Result<Transformed<Expr>> {
    let name = f.func.name().to_string();
    if kernels::is_kernel(&name) || name == "shuyu_pseudonym" {
        return Ok(Transformed::no(Expr::ScalarFunction(f)));
    }
    if matches!(name.as_str(), "coalesce" | "nvl" | "ifnull" | "nvl2") && f.args.iter().any(is_costly) {
        // The optimizer turns these into CASE, which evaluates each argument only on the
        // rows that reach it.
        return null_choice(&name, f, schema).map(Transformed::yes);
    }
    match functions::rule(&name) {
        None => functions::unknown(&name).map(Transformed::yes),
        Some(Rule::Refuse(why)) => not_allowed(format!("the function {name} is not evaluated on personal rows: {why}")),
        Some(Rule::Literal(args)) => {
            functions::check_literals(&name, &f.args, args)?;
            Ok(clamp_positions(f))
        }
        Some(Rule::Float(kernel)) => {
            let original = type_of(&Expr::ScalarFunction(f.clone()), schema)?;
            let args = f.args.into_iter().map(|a| Ok(if type_of(&a, schema)? == DataType::Float64 { a } else { datafusion::logical_expr::cast(a, DataType::Float64) })).collect::<Result<Vec<_>>>()?;
            let call = kernel.apply(args);
            Ok(Transformed::yes(back_to(call, original)))
        }
        Some(Rule::FloatFirst) => {
            let first = f.args.first().map(|a| type_of(a, schema)).transpose()?;
            if first.as_ref().is_none_or(DataType::is_floating) {
                return Ok(Transformed::no(Expr::ScalarFunction(f)));
            }
            let original = type_of(&Expr::ScalarFunction(f.clone()), schema)?;
            let mut args = f.args;
            let x = std::mem::replace(&mut args[0], lit(0.0));
            args[0] = datafusion::logical_expr::cast(x, DataType::Float64);
            let call = Expr::ScalarFunction(ScalarFunction::new_udf(f.func.clone(), args));
            Ok(Transformed::yes(back_to(call, original)))
        }
        Some(Rule::Total) if name == "abs" => {
            let x = f.args.first().cloned().ok_or_else(|| PlannerError::Plan("abs takes one argument".into()))?;
            let t = type_of(&x, schema)?;
            if is_signed_integer(&t) {
                // abs(i64::MIN) raises in the engine; the subtraction from zero wraps.
                let case = Case::new(None, vec![(Box::new(x.clone().lt(zero(&t)?)), Box::new(zero(&t)? - x.clone()))], Some(Box::new(x)));
                let out = type_of(&Expr::ScalarFunction(f.clone()), schema)?;
                return Ok(Transformed::yes(datafusion::logical_expr::cast(Expr::Case(case), out)));
            }
            Ok(Transformed::no(Expr::ScalarFunction(f)))
        }
        Some(Rule::Total) => Ok(clamp_positions(f)),
    }
}

/// A CASE with a costly part as [`Kernel::Case`], every branch evaluated on every row, so
/// that which rows select a branch does not change the work; a CASE of cheap parts stays
/// the engine's. `CASE x WHEN a THEN …` becomes `CASE WHEN x = a THEN …` (NULL matches
/// nothing in both).
fn case(c: Case, schema: &DFSchema) -> Result<Transformed<Expr>> {
    let costly = c.expr.as_deref().is_some_and(is_costly)
        || c.when_then_expr.iter().any(|(w, t)| is_costly(w) || is_costly(t))
        || c.else_expr.as_deref().is_some_and(is_costly);
    if !costly {
        return Ok(Transformed::no(Expr::Case(c)));
    }
    let t = type_of(&Expr::Case(c.clone()), schema)?;
    let mut args = Vec::with_capacity(2 * c.when_then_expr.len() + 1);
    for (w, v) in c.when_then_expr {
        let condition = match &c.expr {
            Some(x) => x.as_ref().clone().eq(*w),
            None => *w,
        };
        args.push(of_type(condition, &DataType::Boolean, schema)?);
        args.push(of_type(*v, &t, schema)?);
    }
    let otherwise = match c.else_expr {
        Some(e) => of_type(*e, &t, schema)?,
        None => lit(ScalarValue::try_from(&t).map_err(from_df)?),
    };
    args.push(otherwise);
    Ok(Transformed::yes(Kernel::Case.apply(args)))
}

/// `coalesce`, `nvl`, `ifnull` and `nvl2` with a costly argument as [`Kernel::Case`].
fn null_choice(name: &str, f: ScalarFunction, schema: &DFSchema) -> Result<Expr> {
    let t = type_of(&Expr::ScalarFunction(f.clone()), schema)?;
    let mut args = f.args;
    let mut out = Vec::with_capacity(2 * args.len());
    if name == "nvl2" {
        let [x, present, absent] = <[Expr; 3]>::try_from(args).map_err(|_| PlannerError::Plan("nvl2 takes three arguments".into()))?;
        out.push(x.is_not_null());
        out.push(of_type(present, &t, schema)?);
        out.push(of_type(absent, &t, schema)?);
        return Ok(Kernel::Case.apply(out));
    }
    let last = args.pop().ok_or_else(|| PlannerError::Plan(format!("{name} takes arguments")))?;
    for a in args {
        out.push(a.clone().is_not_null());
        out.push(of_type(a, &t, schema)?);
    }
    out.push(of_type(last, &t, schema)?);
    Ok(Kernel::Case.apply(out))
}

/// `e` as a value of type `t` for a CASE branch, converted without failing where the type
/// coercion left it otherwise (a NULL literal).
fn of_type(e: Expr, t: &DataType, schema: &DFSchema) -> Result<Expr> {
    let from = type_of(&e, schema)?;
    Ok(if from == *t {
        e
    } else if cannot_fail(&from, t) {
        datafusion::logical_expr::cast(e, t.clone())
    } else {
        Expr::TryCast(TryCast::new(Box::new(e), t.clone()))
    })
}

/// `call` (DOUBLE) as `original`, NULL where it does not convert.
fn back_to(call: Expr, original: DataType) -> Expr {
    if original == DataType::Float64 {
        call
    } else {
        Expr::TryCast(TryCast::new(Box::new(call), original))
    }
}

/// A temporal value as text of type `to` (a cast between text types cannot fail).
fn temporal_text(x: Expr, to: &DataType) -> Expr {
    let call = Kernel::Text.apply(vec![x]);
    if *to == DataType::Utf8 {
        call
    } else {
        datafusion::logical_expr::cast(call, to.clone())
    }
}

/// `CASE WHEN x THEN v ELSE NOT v END`: `x IS TRUE` for `v`, `x IS NOT TRUE` for `NOT v`.
fn either(x: Expr, v: bool) -> Expr {
    Expr::Case(Case::new(None, vec![(Box::new(x), Box::new(lit(v)))], Some(Box::new(lit(!v)))))
}

fn is_signed_integer(t: &DataType) -> bool {
    matches!(t, DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64)
}

/// Zero of the integer type `t`, as a literal.
fn zero(t: &DataType) -> Result<Expr> {
    ScalarValue::new_zero(t).map(|v| lit(v)).map_err(|e| PlannerError::Internal(e.strip_backtrace()))
}

/// Positions and counts of `substr`, `left` and `right` overflow in the engine near the
/// integer limits; they are clamped to ±2^31 (beyond any string's length, so the result is
/// the same).
fn clamp_positions(mut f: ScalarFunction) -> Transformed<Expr> {
    let name = f.func.name();
    if !matches!(name, "substr" | "substring" | "left" | "right") {
        return Transformed::no(Expr::ScalarFunction(f));
    }
    if let Some(a) = f.args.get_mut(1) {
        let x = std::mem::replace(a, lit(0i64));
        let x = datafusion::logical_expr::cast(x, DataType::Int64);
        *a = datafusion::functions::expr_fn::greatest(vec![
            datafusion::functions::expr_fn::least(vec![x, lit(i64::from(i32::MAX))]),
            lit(-i64::from(i32::MAX)),
        ]);
    }
    Transformed::yes(Expr::ScalarFunction(f))
}

/// Whether the engine can cast `from` to `to` at all (checked here rather than when the
/// physical plan is built, after the budget is reserved).
fn castable(from: &DataType, to: &DataType) -> Result<()> {
    if arrow::compute::can_cast_types(from, to) {
        Ok(())
    } else {
        Err(PlannerError::Plan(format!("cannot cast {from} to {to}")))
    }
}

/// Casts that cannot fail on any value: widening numbers, numbers and booleans to text.
fn cannot_fail(from: &DataType, to: &DataType) -> bool {
    use DataType::*;
    if from == to {
        return true;
    }
    let text = matches!(to, Utf8 | LargeUtf8 | Utf8View);
    match from {
        Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32 | UInt64 | Float32 | Float64 | Boolean if text => true,
        Utf8 | LargeUtf8 | Utf8View => text,
        Int8 => matches!(to, Int16 | Int32 | Int64 | Float32 | Float64),
        Int16 => matches!(to, Int32 | Int64 | Float32 | Float64),
        Int32 => matches!(to, Int64 | Float64),
        Int64 => matches!(to, Float64),
        UInt8 => matches!(to, UInt16 | UInt32 | UInt64 | Int16 | Int32 | Int64 | Float32 | Float64),
        UInt16 => matches!(to, UInt32 | UInt64 | Int32 | Int64 | Float32 | Float64),
        UInt32 => matches!(to, UInt64 | Int64 | Float64),
        UInt64 => matches!(to, Float64),
        Float32 => matches!(to, Float64),
        Boolean => matches!(to, Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32 | UInt64 | Float32 | Float64),
        Null => true,
        _ => false,
    }
}

/// A LIKE pattern must be a constant the engine accepts (checked with its own kernel).
fn like_pattern(pattern: &Expr, case_insensitive: bool, kind: &str) -> Result<()> {
    let Some(p) = literal_text(pattern) else {
        return not_allowed(format!("the pattern of {kind} on personal rows must be a constant; patterns from the data are refused"));
    };
    if p.len() > MAX_LITERAL_BYTES {
        return not_allowed(format!("the {kind} pattern is longer than the {MAX_LITERAL_BYTES} bytes allowed on personal rows"));
    }
    let probe = arrow::array::StringArray::from(vec![""]);
    let pat = arrow::array::Scalar::new(arrow::array::StringArray::from(vec![p.as_str()]));
    let ok = if case_insensitive {
        arrow::compute::kernels::comparison::ilike(&probe, &pat).is_ok()
    } else {
        arrow::compute::kernels::comparison::like(&probe, &pat).is_ok()
    };
    if ok {
        Ok(())
    } else {
        not_allowed(format!("the {kind} pattern is not valid"))
    }
}

fn literal_text(e: &Expr) -> Option<String> {
    match e {
        Expr::Literal(ScalarValue::Utf8(Some(s)) | ScalarValue::LargeUtf8(Some(s)) | ScalarValue::Utf8View(Some(s)), _) => Some(s.clone()),
        Expr::Cast(c) => literal_text(&c.expr),
        Expr::TryCast(c) => literal_text(&c.expr),
        Expr::Alias(a) => literal_text(&a.expr),
        _ => None,
    }
}

fn literal_bytes(v: &ScalarValue) -> usize {
    match v {
        ScalarValue::Utf8(Some(s)) | ScalarValue::LargeUtf8(Some(s)) | ScalarValue::Utf8View(Some(s)) => s.len(),
        ScalarValue::Binary(Some(b)) | ScalarValue::LargeBinary(Some(b)) | ScalarValue::BinaryView(Some(b)) => b.len(),
        ScalarValue::FixedSizeBinary(_, Some(b)) => b.len(),
        _ => 0,
    }
}

/// Whether evaluating `e` may take more than a few arithmetic steps per row: any function
/// (other than the total kernels), pattern matching, text building or parsing, long lists.
pub fn is_costly(e: &Expr) -> bool {
    let mut costly = false;
    let _ = e.apply(|n| {
        costly = match n {
            Expr::ScalarFunction(f) => !kernels::is_cheap_kernel(f.func.name()),
            Expr::Like(_) | Expr::SimilarTo(_) => true,
            Expr::BinaryExpr(b) => matches!(
                b.op,
                Operator::StringConcat
                    | Operator::RegexMatch
                    | Operator::RegexIMatch
                    | Operator::RegexNotMatch
                    | Operator::RegexNotIMatch
                    | Operator::LikeMatch
                    | Operator::ILikeMatch
                    | Operator::NotLikeMatch
                    | Operator::NotILikeMatch
            ),
            Expr::Cast(c) => is_text(c.field.data_type()),
            Expr::TryCast(c) => is_text(c.field.data_type()),
            Expr::InList(l) => l.list.len() > CHEAP_LIMIT,
            Expr::Literal(v, _) => literal_bytes(v) > CHEAP_LIMIT,
            _ => false,
        };
        Ok(if costly { TreeNodeRecursion::Stop } else { TreeNodeRecursion::Continue })
    });
    costly
}

fn is_text(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

#[cfg(test)]
mod tests;
