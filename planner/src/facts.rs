//! What the analyzer knows of each column of an intermediate relation, and of expressions
//! over them: declared bounds (interval arithmetic), public value domains, and whether a
//! value derives from the privacy unit or a direct identifier.

use datafusion::common::{DFSchema, ScalarValue};
use datafusion::logical_expr::{BinaryExpr, Expr, ExprSchemable, Operator};

/// The most values a derived integer domain may have (GROUP BY age releases 0..=100).
pub const MAX_DERIVED_DOMAIN: f64 = 10_000.0;

/// Facts about one column or expression.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Facts {
    /// Lower and upper bound of the value, if known.
    pub bounds: Option<(f64, f64)>,
    /// Public value domain: every value the column may take, known without reading data.
    pub domain: Option<Vec<ScalarValue>>,
    /// Derived from the privacy-unit key.
    pub from_unit: bool,
    /// Derived from a direct identifier.
    pub from_identifier: bool,
    /// The value is an integer (grid 1 is exact).
    pub integer: bool,
    /// The value is boolean (domain true/false).
    pub boolean: bool,
}

impl Facts {
    /// Bounds when both ends are finite: the value can be clamped and its influence bounded.
    pub fn finite_bounds(&self) -> Option<(f64, f64)> {
        self.bounds.filter(|(l, h)| l.is_finite() && h.is_finite())
    }

    fn merge_taint(mut self, other: &Facts) -> Self {
        self.from_unit |= other.from_unit;
        self.from_identifier |= other.from_identifier;
        self
    }

    /// The public domain of this value, if it has one: declared, boolean, or a small
    /// integer range derived from declared bounds.
    pub fn public_domain(&self) -> Option<Vec<ScalarValue>> {
        if let Some(d) = &self.domain {
            return Some(d.clone());
        }
        if self.boolean {
            return Some(vec![ScalarValue::Boolean(Some(false)), ScalarValue::Boolean(Some(true))]);
        }
        if self.integer {
            if let Some((lo, hi)) = self.finite_bounds() {
                let (lo, hi) = (lo.ceil(), hi.floor());
                if hi >= lo && hi - lo < MAX_DERIVED_DOMAIN {
                    return Some((lo as i64..=hi as i64).map(|v| ScalarValue::Int64(Some(v))).collect());
                }
            }
        }
        None
    }
}

fn hull(a: Option<(f64, f64)>, b: Option<(f64, f64)>) -> Option<(f64, f64)> {
    match (a, b) {
        (Some((a0, a1)), Some((b0, b1))) => Some((a0.min(b0), a1.max(b1))),
        _ => None,
    }
}

fn scalar_f64(v: &ScalarValue) -> Option<f64> {
    match v {
        ScalarValue::Int8(Some(x)) => Some(*x as f64),
        ScalarValue::Int16(Some(x)) => Some(*x as f64),
        ScalarValue::Int32(Some(x)) => Some(*x as f64),
        ScalarValue::Int64(Some(x)) => Some(*x as f64),
        ScalarValue::UInt8(Some(x)) => Some(*x as f64),
        ScalarValue::UInt16(Some(x)) => Some(*x as f64),
        ScalarValue::UInt32(Some(x)) => Some(*x as f64),
        ScalarValue::UInt64(Some(x)) => Some(*x as f64),
        ScalarValue::Float32(Some(x)) => Some(*x as f64),
        ScalarValue::Float64(Some(x)) => Some(*x),
        ScalarValue::Decimal128(Some(x), _, s) => Some(*x as f64 / 10f64.powi(*s as i32)),
        _ => None,
    }
}

fn is_integer_scalar(v: &ScalarValue) -> bool {
    v.data_type().is_integer()
}

fn interval_op(op: Operator, a: (f64, f64), b: (f64, f64)) -> Option<(f64, f64)> {
    let corners = |f: fn(f64, f64) -> f64| {
        let c = [f(a.0, b.0), f(a.0, b.1), f(a.1, b.0), f(a.1, b.1)];
        if c.iter().any(|v| v.is_nan()) {
            return None;
        }
        let lo = c.iter().cloned().fold(f64::INFINITY, f64::min);
        let hi = c.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        Some((lo, hi))
    };
    match op {
        Operator::Plus => Some((a.0 + b.0, a.1 + b.1)),
        Operator::Minus => Some((a.0 - b.1, a.1 - b.0)),
        Operator::Multiply => corners(|x, y| x * y),
        Operator::Divide if b.0 > 0.0 || b.1 < 0.0 => corners(|x, y| x / y),
        _ => None,
    }
}

/// Facts of an expression evaluated over rows of `schema` whose columns have `columns` facts.
pub fn expr_facts(expr: &Expr, schema: &DFSchema, columns: &[Facts]) -> Facts {
    match expr {
        Expr::Alias(a) => expr_facts(&a.expr, schema, columns),
        Expr::Column(c) => match schema.index_of_column(c) {
            Ok(i) => columns.get(i).cloned().unwrap_or_default(),
            Err(_) => Facts::default(),
        },
        Expr::Literal(v, _) => {
            let b = scalar_f64(v).map(|x| (x, x));
            Facts {
                bounds: b,
                domain: (!v.is_null()).then(|| vec![v.clone()]),
                integer: is_integer_scalar(v),
                boolean: matches!(v, ScalarValue::Boolean(_)),
                ..Facts::default()
            }
        }
        Expr::Cast(c) => cast_facts(expr_facts(&c.expr, schema, columns), &c.field.data_type().clone()),
        Expr::TryCast(c) => cast_facts(expr_facts(&c.expr, schema, columns), &c.field.data_type().clone()),
        Expr::Negative(e) => {
            let f = expr_facts(e, schema, columns);
            Facts { bounds: f.bounds.map(|(l, h)| (-h, -l)), domain: None, ..f }
        }
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
            let l = expr_facts(left, schema, columns);
            let r = expr_facts(right, schema, columns);
            if op.supports_propagation() || matches!(op, Operator::And | Operator::Or | Operator::LikeMatch | Operator::ILikeMatch | Operator::NotLikeMatch | Operator::NotILikeMatch) {
                return boolean_facts().merge_taint(&l).merge_taint(&r);
            }
            let bounds = match (l.bounds, r.bounds) {
                (Some(a), Some(b)) => interval_op(*op, a, b),
                _ => None,
            };
            // Integer division truncates only when both operands have integer types: a
            // whole number cast to DOUBLE divides exactly.
            let int_types = matches!((left.get_type(schema), right.get_type(schema)), (Ok(a), Ok(b)) if a.is_integer() && b.is_integer());
            let integer = l.integer && r.integer && !matches!(op, Operator::Divide);
            let integer_div = int_types && matches!(op, Operator::Divide);
            // Integer division truncates toward zero: widen to whole numbers.
            let bounds = if integer_div { bounds.map(|(lo, hi)| (lo.floor(), hi.ceil())) } else { bounds };
            Facts { bounds, integer: integer || integer_div, ..Facts::default() }.merge_taint(&l).merge_taint(&r)
        }
        Expr::Case(case) => {
            let mut taint = Facts::default();
            if let Some(e) = &case.expr {
                taint = taint.merge_taint(&expr_facts(e, schema, columns));
            }
            let mut values: Vec<&Expr> = Vec::new();
            for (w, t) in &case.when_then_expr {
                taint = taint.merge_taint(&expr_facts(w, schema, columns));
                values.push(t);
            }
            values.extend(case.else_expr.as_deref());
            branch_facts(&values, schema, columns).merge_taint(&taint)
        }
        // The total-evaluation pass's eager CASE: conditions and values in pairs, then ELSE.
        Expr::ScalarFunction(sf) if sf.name() == "shuyu_case" && sf.args.len() % 2 == 1 => {
            let (otherwise, pairs) = sf.args.split_last().expect("an odd number of arguments");
            let mut taint = Facts::default();
            let mut values: Vec<&Expr> = Vec::new();
            for pair in pairs.chunks(2) {
                taint = taint.merge_taint(&expr_facts(&pair[0], schema, columns));
                values.push(&pair[1]);
            }
            values.push(otherwise);
            branch_facts(&values, schema, columns).merge_taint(&taint)
        }
        Expr::Not(e) | Expr::IsNull(e) | Expr::IsNotNull(e) | Expr::IsTrue(e) | Expr::IsFalse(e)
        | Expr::IsUnknown(e) | Expr::IsNotTrue(e) | Expr::IsNotFalse(e) | Expr::IsNotUnknown(e) => {
            boolean_facts().merge_taint(&expr_facts(e, schema, columns))
        }
        Expr::Between(b) => boolean_facts()
            .merge_taint(&expr_facts(&b.expr, schema, columns))
            .merge_taint(&expr_facts(&b.low, schema, columns))
            .merge_taint(&expr_facts(&b.high, schema, columns)),
        Expr::Like(l) | Expr::SimilarTo(l) => boolean_facts().merge_taint(&expr_facts(&l.expr, schema, columns)),
        Expr::InList(l) => {
            let mut f = boolean_facts().merge_taint(&expr_facts(&l.expr, schema, columns));
            for e in &l.list {
                f = f.merge_taint(&expr_facts(e, schema, columns));
            }
            f
        }
        Expr::ScalarFunction(sf) => {
            let args: Vec<Facts> = sf.args.iter().map(|a| expr_facts(a, schema, columns)).collect();
            let mut taint = Facts::default();
            for a in &args {
                taint = taint.merge_taint(a);
            }
            function_facts(sf.name(), &args).merge_taint(&taint)
        }
        other => {
            // Unknown expression: no bounds, no domain, tainted by whatever it reads.
            let mut f = Facts::default();
            let _ = other.apply_children(|child| {
                f = std::mem::take(&mut f).merge_taint(&expr_facts(child, schema, columns));
                Ok(datafusion::common::tree_node::TreeNodeRecursion::Continue)
            });
            f
        }
    }
}

use datafusion::common::tree_node::TreeNode;

/// Facts of a value that is one of `values` (the branches of a CASE): their hull. A NULL
/// branch adds no value (aggregates skip NULL), so it widens nothing.
fn branch_facts(values: &[&Expr], schema: &DFSchema, columns: &[Facts]) -> Facts {
    let mut out: Option<Facts> = None;
    for v in values.iter().filter(|v| !is_null_literal(v)) {
        let b = expr_facts(v, schema, columns);
        out = Some(match out {
            None => b,
            Some(acc) => Facts {
                bounds: hull(acc.bounds, b.bounds),
                domain: match (acc.domain, b.domain) {
                    (Some(mut x), Some(y)) => {
                        for v in y {
                            if !x.contains(&v) {
                                x.push(v);
                            }
                        }
                        Some(x)
                    }
                    _ => None,
                },
                integer: acc.integer && b.integer,
                boolean: acc.boolean && b.boolean,
                from_unit: acc.from_unit || b.from_unit,
                from_identifier: acc.from_identifier || b.from_identifier,
            },
        });
    }
    out.unwrap_or_default()
}

/// Whether `e` is a NULL constant, cast or not.
fn is_null_literal(e: &Expr) -> bool {
    match e {
        Expr::Literal(v, _) => v.is_null(),
        Expr::Cast(c) => is_null_literal(&c.expr),
        Expr::TryCast(c) => is_null_literal(&c.expr),
        _ => false,
    }
}

fn boolean_facts() -> Facts {
    Facts { boolean: true, ..Facts::default() }
}

fn cast_facts(f: Facts, to: &arrow::datatypes::DataType) -> Facts {
    use arrow::datatypes::DataType;
    let domain = f.domain.as_ref().and_then(|d| d.iter().map(|v| v.cast_to(to).ok()).collect::<Option<Vec<_>>>());
    if to.is_numeric() {
        // Whole numbers stay whole through a cast to a float type.
        let integer = to.is_integer() || (f.integer && to.is_floating());
        let bounds = if integer { f.bounds.map(|(l, h)| (l.trunc(), h.trunc())) } else { f.bounds };
        // A value outside an integer type's range does not convert (the total-evaluation
        // pass makes such casts TRY_CAST, NULL there): the bounds are those of the values
        // that do, and none is known when no value of the range does.
        let bounds = match (bounds, integer_range(to)) {
            (Some((l, h)), Some((lo, hi))) if l.max(lo) <= h.min(hi) => Some((l.max(lo), h.min(hi))),
            (Some(_), Some(_)) => None,
            (b, _) => b,
        };
        Facts { bounds, domain, integer, boolean: false, ..f }
    } else if matches!(to, DataType::Boolean) {
        Facts { bounds: None, domain, boolean: true, integer: false, ..f }
    } else {
        Facts { bounds: None, domain, integer: false, boolean: false, ..f }
    }
}

/// The values of an integer type, as floats (rounded inward at 64 bits).
fn integer_range(t: &arrow::datatypes::DataType) -> Option<(f64, f64)> {
    use arrow::datatypes::DataType::*;
    Some(match t {
        Int8 => (i8::MIN as f64, i8::MAX as f64),
        Int16 => (i16::MIN as f64, i16::MAX as f64),
        Int32 => (i32::MIN as f64, i32::MAX as f64),
        // 2^63 - 1 and 2^64 - 1 round up to powers of two as floats: step one float inward.
        Int64 => (i64::MIN as f64, (i64::MAX as f64).next_down()),
        UInt8 => (0.0, u8::MAX as f64),
        UInt16 => (0.0, u16::MAX as f64),
        UInt32 => (0.0, u32::MAX as f64),
        UInt64 => (0.0, (u64::MAX as f64).next_down()),
        _ => return None,
    })
}

fn function_facts(name: &str, args: &[Facts]) -> Facts {
    let bounded = |i: usize| args.get(i).and_then(|a| a.bounds);
    match name {
        "abs" => match bounded(0) {
            Some((l, h)) => {
                let lo = if l <= 0.0 && h >= 0.0 { 0.0 } else { l.abs().min(h.abs()) };
                Facts { bounds: Some((lo, l.abs().max(h.abs()))), integer: args[0].integer, ..Facts::default() }
            }
            None => Facts::default(),
        },
        "round" | "floor" | "ceil" | "trunc" => match bounded(0) {
            Some((l, h)) => Facts { bounds: Some((l.floor(), h.ceil())), integer: args[0].integer, ..Facts::default() },
            None => Facts::default(),
        },
        "least" | "greatest" => {
            // least(a, b): its upper bound is the smallest upper bound among the known ones;
            // its lower bound needs every argument bounded below.
            let known: Vec<(f64, f64)> = args.iter().filter_map(|a| a.bounds).collect();
            let integer = args.iter().all(|a| a.integer);
            let bounds = if known.len() != args.len() {
                None
            } else if name == "least" {
                Some((
                    known.iter().map(|b| b.0).fold(f64::INFINITY, f64::min),
                    known.iter().map(|b| b.1).fold(f64::INFINITY, f64::min),
                ))
            } else {
                Some((
                    known.iter().map(|b| b.0).fold(f64::NEG_INFINITY, f64::max),
                    known.iter().map(|b| b.1).fold(f64::NEG_INFINITY, f64::max),
                ))
            };
            Facts { bounds, integer, ..Facts::default() }
        }
        // Total integer division (NULL on a zero divisor): a non-zero integer divisor has
        // |b| >= 1, so |a / b| <= |a|; with a divisor of known sign, the quotient's bounds.
        "shuyu_div" => match (bounded(0), bounded(1)) {
            (Some(a), Some(b)) if b.0 > 0.0 || b.1 < 0.0 => {
                Facts { bounds: interval_op(Operator::Divide, a, b).map(|(l, h)| (l.floor(), h.ceil())), integer: true, ..Facts::default() }
            }
            (Some((l, h)), _) => {
                let m = l.abs().max(h.abs());
                Facts { bounds: Some((if l >= 0.0 { 0.0 } else { -m }, if h <= 0.0 { 0.0 } else { m })), integer: true, ..Facts::default() }
            }
            _ => Facts { integer: true, ..Facts::default() },
        },
        // |a % b| <= |a| and < |b|, with the sign of a.
        "shuyu_mod" => match bounded(0) {
            Some((l, h)) => {
                let mut m = l.abs().max(h.abs());
                if let Some((bl, bh)) = bounded(1) {
                    m = m.min((bl.abs().max(bh.abs()) - 1.0).max(0.0));
                }
                Facts { bounds: Some((if l >= 0.0 { 0.0 } else { -m }, if h <= 0.0 { 0.0 } else { m })), integer: true, ..Facts::default() }
            }
            None => Facts { integer: true, ..Facts::default() },
        },
        "coalesce" | "nvl" => {
            let mut b = args.first().and_then(|a| a.bounds);
            for a in args.iter().skip(1) {
                b = hull(b, a.bounds);
            }
            Facts { bounds: b, integer: args.iter().all(|a| a.integer), ..Facts::default() }
        }
        _ => Facts::default(),
    }
}
