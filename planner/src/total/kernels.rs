//! The total kernels the total-evaluation pass rewrites fallible or short-circuiting
//! operators into:
//! - `shuyu_div(a, b)`, `shuyu_mod(a, b)`: integer division and remainder that yield NULL
//!   for a zero divisor and wrap for `MIN / -1` (as `+`, `-` and `*` already wrap), where
//!   arrow's kernels raise an error;
//! - `shuyu_and(a, b)`, `shuyu_or(a, b)`: SQL's three-valued AND and OR with both sides
//!   always evaluated on every row. DataFusion skips (or pre-selects) the right side of
//!   AND/OR per batch when the left side is all false (all true) or rarely true, so the work
//!   done on a whole batch would depend on one row's values; arguments of a function are
//!   always evaluated in full, which makes the cost of a batch independent of its values.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, PrimitiveArray};
use arrow::compute::kernels::boolean::{and_kleene, or_kleene};
use arrow::datatypes::{
    ArrowPrimitiveType, DataType, Int16Type, Int32Type, Int64Type, Int8Type, UInt16Type, UInt32Type, UInt64Type, UInt8Type,
};
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
}

impl Kernel {
    /// The function's name in plans and EXPLAIN.
    pub fn name(self) -> &'static str {
        match self {
            Kernel::Div => "shuyu_div",
            Kernel::Mod => "shuyu_mod",
            Kernel::And => "shuyu_and",
            Kernel::Or => "shuyu_or",
        }
    }

    /// The expression applying this kernel to `a` and `b`.
    pub fn call(self, a: Expr, b: Expr) -> Expr {
        ScalarUDF::new_from_impl(TotalKernel { kernel: self, signature: Signature::any(2, Volatility::Immutable) }).call(vec![a, b])
    }
}

/// Whether `name` is one of the total kernels (the pass accepts its own output).
pub fn is_kernel(name: &str) -> bool {
    matches!(name, "shuyu_div" | "shuyu_mod" | "shuyu_and" | "shuyu_or")
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
            Kernel::Div | Kernel::Mod => {
                let t = arg_types.first().ok_or_else(|| DataFusionError::Plan(format!("{} takes two arguments", self.kernel.name())))?;
                if !t.is_integer() || arg_types.get(1) != Some(t) {
                    return Err(DataFusionError::Plan(format!("{} takes two integers of one type", self.kernel.name())));
                }
                Ok(t.clone())
            }
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let n = args.number_rows;
        let a = args.args[0].to_array(n)?;
        let b = args.args[1].to_array(n)?;
        let out: ArrayRef = match self.kernel {
            Kernel::And => Arc::new(and_kleene(boolean(&a)?, boolean(&b)?)?),
            Kernel::Or => Arc::new(or_kleene(boolean(&a)?, boolean(&b)?)?),
            Kernel::Div | Kernel::Mod => integer_op(self.kernel, &a, &b)?,
        };
        Ok(ColumnarValue::Array(out))
    }
}

fn boolean(a: &ArrayRef) -> Result<&BooleanArray> {
    a.as_boolean_opt().ok_or_else(|| DataFusionError::Internal("shuyu_and/shuyu_or: a non-Boolean argument".into()))
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
        let k = TotalKernel { kernel, signature: Signature::any(2, Volatility::Immutable) };
        let n = a.len();
        let fields = vec![Arc::new(arrow::datatypes::Field::new("a", a.data_type().clone(), true)); 2];
        let rt = k.return_type(&[a.data_type().clone(), b.data_type().clone()]).expect("type");
        let args = ScalarFunctionArgs {
            args: vec![ColumnarValue::Array(a), ColumnarValue::Array(b)],
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
    fn eager_and_or_follow_three_valued_logic() {
        let a: ArrayRef = Arc::new(BooleanArray::from(vec![Some(true), Some(true), Some(false), None, None, Some(false)]));
        let b: ArrayRef = Arc::new(BooleanArray::from(vec![Some(true), None, None, Some(false), None, Some(false)]));
        let and = run(Kernel::And, a.clone(), b.clone());
        assert_eq!(and.as_boolean().iter().collect::<Vec<_>>(), vec![Some(true), None, Some(false), Some(false), None, Some(false)]);
        let or = run(Kernel::Or, a, b);
        assert_eq!(or.as_boolean().iter().collect::<Vec<_>>(), vec![Some(true), Some(true), None, None, None, Some(false)]);
    }
}
