//! The total kernels the total-evaluation pass rewrites fallible or short-circuiting
//! operators into:
//! - `shuyu_div(a, b)`, `shuyu_mod(a, b)`: integer division and remainder that yield NULL
//!   for a zero divisor and wrap for `MIN / -1` (as `+`, `-` and `*` already wrap), where
//!   arrow's kernels raise an error;
//! - `shuyu_and(a, b)`, `shuyu_or(a, b)`: SQL's three-valued AND and OR with both sides
//!   always evaluated on every row. DataFusion skips (or pre-selects) the right side of
//!   AND/OR per batch when the left side is all false (all true) or rarely true, so the work
//!   done on a whole batch would depend on one row's values; arguments of a function are
//!   always evaluated in full, which makes the cost of a batch independent of its values;
//! - `shuyu_sqrt(x)`, `shuyu_power(x, y)`: IEEE 754 square root and power on DOUBLE (NaN
//!   for a negative root, infinity for zero to a negative power), where DataFusion's `sqrt`
//!   and `power` raise an error as PostgreSQL does;
//! - `shuyu_text(x)`: a date, time, timestamp, duration or interval as text, NULL where the
//!   value has no calendar form (a date beyond year 262 143), where arrow's cast to text
//!   raises an error even under TRY_CAST;
//! - `shuyu_case(c1, v1, …, cn, vn, otherwise)`: a searched CASE with every condition and
//!   every branch evaluated on every row, then the first true condition's branch chosen
//!   row by row (NULL conditions are not true). DataFusion evaluates a branch only on the
//!   rows that select it, so a costly branch would cost time on the rows of one person
//!   whose condition holds and nothing otherwise.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Float64Array, PrimitiveArray, StringBuilder};
use arrow::compute::kernels::boolean::{and_kleene, or_kleene};
use arrow::datatypes::{
    ArrowPrimitiveType, DataType, Float64Type, Int16Type, Int32Type, Int64Type, Int8Type, UInt16Type, UInt32Type, UInt64Type,
    UInt8Type,
};
use arrow::util::display::ArrayFormatter;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};

/// Which total kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kernel {
    /// Integer `/`: NULL on a zero divisor, wrapping on overflow.
    Div,
    /// Integer `%`: NULL on a zero divisor, wrapping on overflow.
    Mod,
    /// Eager three-valued AND.
    And,
    /// Eager three-valued OR.
    Or,
    /// IEEE square root of a DOUBLE.
    Sqrt,
    /// IEEE power of two DOUBLEs.
    Power,
    /// A temporal value as text, NULL where it has no calendar form.
    Text,
    /// Eager searched CASE: conditions and branches in pairs, then the ELSE value.
    Case,
}

impl Kernel {
    /// The function's name in plans and EXPLAIN.
    pub fn name(self) -> &'static str {
        match self {
            Kernel::Div => "shuyu_div",
            Kernel::Mod => "shuyu_mod",
            Kernel::And => "shuyu_and",
            Kernel::Or => "shuyu_or",
            Kernel::Sqrt => "shuyu_sqrt",
            Kernel::Power => "shuyu_power",
            Kernel::Text => "shuyu_text",
            Kernel::Case => "shuyu_case",
        }
    }

    fn signature(self) -> Signature {
        match self {
            Kernel::Sqrt | Kernel::Text => Signature::any(1, Volatility::Immutable),
            Kernel::Case => Signature::variadic_any(Volatility::Immutable),
            _ => Signature::any(2, Volatility::Immutable),
        }
    }

    /// The expression applying this two-argument kernel to `a` and `b`.
    pub fn call(self, a: Expr, b: Expr) -> Expr {
        self.apply(vec![a, b])
    }

    /// The expression applying this kernel to `args` (as many as it takes).
    pub fn apply(self, args: Vec<Expr>) -> Expr {
        self.udf().call(args)
    }

    /// Every kernel.
    pub const ALL: [Kernel; 8] = [Kernel::Div, Kernel::Mod, Kernel::And, Kernel::Or, Kernel::Sqrt, Kernel::Power, Kernel::Text, Kernel::Case];

    /// The kernel named `name` in plans.
    pub fn from_name(name: &str) -> Option<Kernel> {
        Kernel::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The function (how the cluster codec and registries rebuild it by name).
    pub fn udf(self) -> ScalarUDF {
        ScalarUDF::new_from_impl(TotalKernel { kernel: self, signature: self.signature() })
    }
}

/// Whether `name` is one of the total kernels (the pass accepts its own output).
pub fn is_kernel(name: &str) -> bool {
    matches!(name, "shuyu_div" | "shuyu_mod" | "shuyu_and" | "shuyu_or" | "shuyu_sqrt" | "shuyu_power" | "shuyu_text" | "shuyu_case")
}

/// Whether `name` is a kernel doing a few arithmetic steps per row (not text building; a
/// CASE's own cost is that of its arguments).
pub fn is_cheap_kernel(name: &str) -> bool {
    is_kernel(name) && name != "shuyu_text"
}

/// Whether values of `t` are formatted by [`Kernel::Text`] rather than cast to text.
pub fn is_temporal(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Date32
            | DataType::Date64
            | DataType::Timestamp(..)
            | DataType::Time32(_)
            | DataType::Time64(_)
            | DataType::Duration(_)
            | DataType::Interval(_)
    )
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct TotalKernel {
    kernel: Kernel,
    signature: Signature,
}

impl ScalarUDFImpl for TotalKernel {
    fn name(&self) -> &str {
        self.kernel.name()
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        match self.kernel {
            Kernel::And | Kernel::Or => Ok(DataType::Boolean),
            Kernel::Sqrt | Kernel::Power => {
                if arg_types.iter().any(|t| *t != DataType::Float64) {
                    return Err(DataFusionError::Plan(format!("{} takes DOUBLE arguments", self.kernel.name())));
                }
                Ok(DataType::Float64)
            }
            Kernel::Text => match arg_types.first() {
                Some(t) if is_temporal(t) => Ok(DataType::Utf8),
                _ => Err(DataFusionError::Plan("shuyu_text takes a date, time, timestamp, duration or interval".into())),
            },
            Kernel::Div | Kernel::Mod => {
                let t = arg_types.first().ok_or_else(|| DataFusionError::Plan(format!("{} takes two arguments", self.kernel.name())))?;
                if !t.is_integer() || arg_types.get(1) != Some(t) {
                    return Err(DataFusionError::Plan(format!("{} takes two integers of one type", self.kernel.name())));
                }
                Ok(t.clone())
            }
            Kernel::Case => {
                let (otherwise, branches) = arg_types.split_last().ok_or_else(|| DataFusionError::Plan("shuyu_case takes arguments".into()))?;
                if branches.is_empty() || branches.len() % 2 != 0 {
                    return Err(DataFusionError::Plan("shuyu_case takes condition and value pairs, then the ELSE value".into()));
                }
                for pair in branches.chunks(2) {
                    if pair[0] != DataType::Boolean || pair[1] != *otherwise {
                        return Err(DataFusionError::Plan("shuyu_case takes Boolean conditions and values of one type".into()));
                    }
                }
                Ok(otherwise.clone())
            }
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let n = args.number_rows;
        let arrays = args.args.iter().map(|a| a.to_array(n)).collect::<Result<Vec<_>>>()?;
        let [a, rest @ ..] = arrays.as_slice() else {
            return Err(DataFusionError::Internal(format!("{}: no arguments", self.kernel.name())));
        };
        let second = || rest.first().ok_or_else(|| DataFusionError::Internal(format!("{}: one argument short", self.kernel.name())));
        let out: ArrayRef = match self.kernel {
            Kernel::And => Arc::new(and_kleene(boolean(a)?, boolean(second()?)?)?),
            Kernel::Or => Arc::new(or_kleene(boolean(a)?, boolean(second()?)?)?),
            Kernel::Div | Kernel::Mod => integer_op(self.kernel, a, second()?)?,
            Kernel::Sqrt => Arc::new(double(a)?.unary::<_, Float64Type>(f64::sqrt)),
            Kernel::Power => Arc::new(arrow::compute::binary::<_, _, _, Float64Type>(double(a)?, double(second()?)?, f64::powf)?),
            Kernel::Text => text(a)?,
            Kernel::Case => case(&arrays)?,
        };
        Ok(ColumnarValue::Array(out))
    }
}

fn double(a: &ArrayRef) -> Result<&Float64Array> {
    a.as_primitive_opt::<Float64Type>().ok_or_else(|| DataFusionError::Internal("shuyu_sqrt/shuyu_power: a non-DOUBLE argument".into()))
}

/// Formats each value as the engine's cast to text does; a value that has no text form
/// (its formatting fails) becomes NULL, so no row can fail.
fn text(a: &ArrayRef) -> Result<ArrayRef> {
    let formatter = ArrayFormatter::try_new(a.as_ref(), &datafusion::common::format::DEFAULT_FORMAT_OPTIONS)?;
    let mut out = StringBuilder::with_capacity(a.len(), a.len() * 20);
    for i in 0..a.len() {
        match a.is_valid(i).then(|| formatter.value(i).try_to_string()) {
            Some(Ok(s)) => out.append_value(s),
            _ => out.append_null(),
        }
    }
    Ok(Arc::new(out.finish()))
}

/// The first true condition's value, row by row, from arrays already evaluated in full:
/// the ELSE value, overwritten from the last branch to the first. Each `zip` costs the same
/// whichever rows its mask selects (up to the copying of one run per change of the mask).
fn case(arrays: &[ArrayRef]) -> Result<ArrayRef> {
    let (otherwise, branches) = arrays.split_last().ok_or_else(|| DataFusionError::Internal("shuyu_case: no arguments".into()))?;
    if branches.len() % 2 != 0 {
        return Err(DataFusionError::Internal("shuyu_case: a condition without a value".into()));
    }
    let mut out = otherwise.clone();
    for pair in branches.chunks(2).rev() {
        let condition = boolean(&pair[0])?;
        // A NULL condition is not true (arrow's helper expects a null buffer).
        let mask = if condition.null_count() > 0 { arrow::compute::prep_null_mask_filter(condition) } else { condition.clone() };
        out = arrow::compute::kernels::zip::zip(&mask, &pair[1], &out)?;
    }
    Ok(out)
}

fn boolean(a: &ArrayRef) -> Result<&BooleanArray> {
    a.as_boolean_opt().ok_or_else(|| DataFusionError::Internal("a total kernel's condition: a non-Boolean argument".into()))
}

/// A primitive integer type's wrapping division and remainder.
trait WrappingDiv: ArrowPrimitiveType {
    fn div(a: Self::Native, b: Self::Native) -> Self::Native;
    fn rem(a: Self::Native, b: Self::Native) -> Self::Native;
    fn is_zero(b: Self::Native) -> bool;
}

macro_rules! wrapping_div {
    ($($t:ty),*) => {$(
        impl WrappingDiv for $t {
            fn div(a: Self::Native, b: Self::Native) -> Self::Native {
                a.wrapping_div(b)
            }
            fn rem(a: Self::Native, b: Self::Native) -> Self::Native {
                a.wrapping_rem(b)
            }
            fn is_zero(b: Self::Native) -> bool {
                b == 0
            }
        }
    )*};
}
wrapping_div!(Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type, UInt16Type, UInt32Type, UInt64Type);

fn typed<T: WrappingDiv>(kernel: Kernel, a: &ArrayRef, b: &ArrayRef) -> ArrayRef {
    let (a, b) = (a.as_primitive::<T>(), b.as_primitive::<T>());
    let out: PrimitiveArray<T> = a
        .iter()
        .zip(b.iter())
        .map(|(x, y)| match (x, y) {
            (Some(x), Some(y)) if !T::is_zero(y) => Some(if kernel == Kernel::Div { T::div(x, y) } else { T::rem(x, y) }),
            _ => None,
        })
        .collect();
    Arc::new(out)
}

fn integer_op(kernel: Kernel, a: &ArrayRef, b: &ArrayRef) -> Result<ArrayRef> {
    if a.data_type() != b.data_type() {
        return Err(DataFusionError::Internal(format!("{}: arguments of two types", kernel.name())));
    }
    Ok(match a.data_type() {
        DataType::Int8 => typed::<Int8Type>(kernel, a, b),
        DataType::Int16 => typed::<Int16Type>(kernel, a, b),
        DataType::Int32 => typed::<Int32Type>(kernel, a, b),
        DataType::Int64 => typed::<Int64Type>(kernel, a, b),
        DataType::UInt8 => typed::<UInt8Type>(kernel, a, b),
        DataType::UInt16 => typed::<UInt16Type>(kernel, a, b),
        DataType::UInt32 => typed::<UInt32Type>(kernel, a, b),
        DataType::UInt64 => typed::<UInt64Type>(kernel, a, b),
        other => return Err(DataFusionError::Internal(format!("{}: not an integer type: {other}", kernel.name()))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Int64Array;

    fn run(kernel: Kernel, a: ArrayRef, b: ArrayRef) -> ArrayRef {
        run_args(kernel, vec![a, b])
    }

    fn run1(kernel: Kernel, a: ArrayRef) -> ArrayRef {
        run_args(kernel, vec![a])
    }

    fn run_args(kernel: Kernel, arrays: Vec<ArrayRef>) -> ArrayRef {
        let k = TotalKernel { kernel, signature: kernel.signature() };
        let n = arrays[0].len();
        let fields = arrays.iter().map(|a| Arc::new(arrow::datatypes::Field::new("a", a.data_type().clone(), true))).collect();
        let rt = k.return_type(&arrays.iter().map(|a| a.data_type().clone()).collect::<Vec<_>>()).expect("type");
        let args = ScalarFunctionArgs {
            args: arrays.into_iter().map(ColumnarValue::Array).collect(),
            arg_fields: fields,
            number_rows: n,
            return_field: Arc::new(arrow::datatypes::Field::new("r", rt, true)),
            config_options: Arc::default(),
        };
        match k.invoke_with_args(args).expect("a total kernel does not fail") {
            ColumnarValue::Array(a) => a,
            ColumnarValue::Scalar(_) => panic!("arrays in, array out"),
        }
    }

    #[test]
    fn integer_division_is_null_on_zero_and_wraps_on_overflow() {
        let a: ArrayRef = Arc::new(Int64Array::from(vec![Some(7), Some(-7), Some(i64::MIN), Some(5), None, Some(0)]));
        let b: ArrayRef = Arc::new(Int64Array::from(vec![Some(2), Some(2), Some(-1), Some(0), Some(3), Some(0)]));
        let d = run(Kernel::Div, a.clone(), b.clone());
        let d = d.as_primitive::<Int64Type>();
        // Truncation toward zero, as SQL and arrow divide.
        assert_eq!(d.iter().collect::<Vec<_>>(), vec![Some(3), Some(-3), Some(i64::MIN), None, None, None]);
        let m = run(Kernel::Mod, a, b);
        let m = m.as_primitive::<Int64Type>();
        assert_eq!(m.iter().collect::<Vec<_>>(), vec![Some(1), Some(-1), Some(0), None, None, None]);
    }

    #[test]
    fn sqrt_and_power_follow_ieee_and_never_fail() {
        let x: ArrayRef = Arc::new(Float64Array::from(vec![Some(4.0), Some(-1.0), Some(f64::NAN), None, Some(0.0), Some(f64::NEG_INFINITY)]));
        let r = run1(Kernel::Sqrt, x.clone());
        let r: Vec<Option<f64>> = r.as_primitive::<Float64Type>().iter().collect();
        assert_eq!(r[0], Some(2.0));
        assert!(r[1].is_some_and(f64::is_nan) && r[2].is_some_and(f64::is_nan) && r[5].is_some_and(f64::is_nan));
        assert_eq!((r[3], r[4]), (None, Some(0.0)));
        let y: ArrayRef = Arc::new(Float64Array::from(vec![Some(0.5), Some(0.5), Some(1.0), Some(1.0), Some(-1.0), Some(-1.0)]));
        let p = run(Kernel::Power, x, y);
        let p: Vec<Option<f64>> = p.as_primitive::<Float64Type>().iter().collect();
        assert_eq!(p[0], Some(2.0));
        assert!(p[1].is_some_and(f64::is_nan), "a negative base to a fractional power is NaN");
        assert_eq!(p[3], None);
        assert_eq!(p[4], Some(f64::INFINITY), "zero to a negative power is infinity, where DataFusion raises");
        assert_eq!(p[5], Some(-0.0));
    }

    #[test]
    fn dates_without_a_calendar_form_become_null_text() {
        let d: ArrayRef = Arc::new(arrow::array::Date32Array::from(vec![Some(0), Some(i32::MIN), None, Some(19_723), Some(i32::MAX)]));
        let t = run1(Kernel::Text, d);
        let t: Vec<Option<&str>> = t.as_string::<i32>().iter().collect();
        assert_eq!(t, vec![Some("1970-01-01"), None, None, Some("2024-01-01"), None]);
    }

    #[test]
    fn eager_and_or_follow_three_valued_logic() {
        let a: ArrayRef = Arc::new(BooleanArray::from(vec![Some(true), Some(true), Some(false), None, None, Some(false)]));
        let b: ArrayRef = Arc::new(BooleanArray::from(vec![Some(true), None, None, Some(false), None, Some(false)]));
        let and = run(Kernel::And, a.clone(), b.clone());
        assert_eq!(and.as_boolean().iter().collect::<Vec<_>>(), vec![Some(true), None, Some(false), Some(false), None, Some(false)]);
        let or = run(Kernel::Or, a, b);
        assert_eq!(or.as_boolean().iter().collect::<Vec<_>>(), vec![Some(true), Some(true), None, None, None, Some(false)]);
    }

    #[test]
    fn eager_case_takes_the_first_true_condition() {
        use arrow::array::StringArray;
        let c1: ArrayRef = Arc::new(BooleanArray::from(vec![Some(true), None, Some(false), Some(true), Some(false)]));
        let v1: ArrayRef = Arc::new(StringArray::from(vec![Some("a1"), Some("a2"), Some("a3"), None, Some("a5")]));
        let c2: ArrayRef = Arc::new(BooleanArray::from(vec![Some(true), Some(true), None, Some(true), Some(false)]));
        let v2: ArrayRef = Arc::new(StringArray::from(vec![Some("b1"), Some("b2"), Some("b3"), Some("b4"), Some("b5")]));
        let e: ArrayRef = Arc::new(StringArray::from(vec![Some("e1"), Some("e2"), Some("e3"), Some("e4"), None]));
        let r = run_args(Kernel::Case, vec![c1, v1, c2, v2, e]);
        // Row 1: both true, the first wins. Row 2: NULL is not true, the second wins. Row 3:
        // false then NULL, ELSE. Row 4: the first is true and its value is NULL (NULL, not
        // the second branch). Row 5: ELSE, itself NULL.
        assert_eq!(r.as_string::<i32>().iter().collect::<Vec<_>>(), vec![Some("a1"), Some("b2"), Some("e3"), None, None]);
    }
}
