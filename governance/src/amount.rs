//! Exact privacy amounts: integers of nano-units (1e-9 epsilon or rho) and of atto-units
//! (1e-18 delta).
//!
//! The ledger never adds floats. Costs coming from the planner are rounded UP to the next
//! unit of the amount type ([`Nano::charge`], [`Atto::charge`]); amounts the bureau grants
//! are rounded DOWN ([`Nano::grant`], [`Atto::grant`]) so the ledger never allows more than
//! was signed; sums are exact. Both conversions are exact: the float is decomposed into its
//! integer mantissa and binary exponent and `value · 10^k` is computed in 128-bit integers,
//! so no rounding of a float product can make a charge fall short of the real cost.
//!
//! What the bureau grants arrives as a float that stands for a decimal it wrote (`0.3`,
//! `1e-7`), and that float is often a hair below the decimal (0.3 is
//! 0.29999999999999998889…). Grants therefore go through [`Nano::grant_decimal`]: the
//! shortest decimal that the float round-trips to (exactly what was written, for any decimal
//! of up to 15 significant digits), rounded down to the unit. [`Nano::grant`] is the exact
//! floor of the float itself. The conversions from input, which can fail, are in
//! [`crate::amount_input`].

use std::fmt;

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use serde::{Deserialize, Serialize};


/// Nano-units per unit of epsilon or rho.
pub const NANOS_PER_UNIT: u64 = 1_000_000_000;

/// Atto-units per unit of delta.
pub const ATTOS_PER_UNIT: u64 = 1_000_000_000_000_000_000;

/// The largest amount the store can hold (fits a signed 64-bit SQL integer).
const MAX_STORED: u64 = i64::MAX as u64;

/// `value · per_unit` rounded up (`up`) or down, exactly; `None` past [`MAX_STORED`].
/// `value` must be finite and not negative.
pub(crate) fn scale_exact(value: f64, per_unit: u64, up: bool) -> Option<u64> {
    let bits = value.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    let fraction = bits & ((1u64 << 52) - 1);
    // value = mantissa · 2^exponent, exactly.
    let (mantissa, exponent) = if biased == 0 {
        (fraction, -1074)
    } else {
        (fraction | (1u64 << 52), biased - 1075)
    };
    // mantissa < 2^53 and per_unit < 2^60: the product fits in 113 bits.
    let product = u128::from(mantissa) * u128::from(per_unit);
    let scaled = if exponent >= 0 {
        if exponent > 14 {
            return if product == 0 { Some(0) } else { None };
        }
        product << exponent
    } else {
        let shift = exponent.unsigned_abs();
        let (quotient, remainder) = if shift >= 128 {
            (0, product)
        } else {
            (product >> shift, product & ((1u128 << shift) - 1))
        };
        quotient + u128::from(up && remainder != 0)
    };
    u64::try_from(scaled).ok().filter(|v| *v <= MAX_STORED)
}

/// Parses a plain decimal (`1.25`, `.5`) with at most `digits` decimals, exactly.
pub(crate) fn parse_fixed(text: &str, digits: usize, per_unit: u64) -> Option<u64> {
    let text = text.trim();
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    if (int.is_empty() && frac.is_empty())
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || frac.len() > digits
    {
        return None;
    }
    let int: u64 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let frac: u64 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<digits$}").parse().ok()?
    };
    int.checked_mul(per_unit)
        .and_then(|v| v.checked_add(frac))
        .filter(|v| *v <= MAX_STORED)
}

/// The shortest decimal `value` round-trips to, rounded down to `digits` decimals, in units.
pub(crate) fn floor_shortest_decimal(value: f64, digits: usize, per_unit: u64) -> Option<u64> {
    // `Display` of an f64 prints the shortest round-trip decimal, never in exponent form.
    let text = format!("{value}");
    let (int, frac) = text.split_once('.').unwrap_or((&text, ""));
    let frac = &frac[..frac.len().min(digits)];
    parse_fixed(&format!("{int}.{frac}"), digits, per_unit)
}

/// Exact decimal rendering of `units / per_unit`: `1.25`, `0.000000001`.
fn fmt_fixed(units: u64, digits: usize, per_unit: u64, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let int = units / per_unit;
    let frac = units % per_unit;
    if frac == 0 {
        write!(f, "{int}")
    } else {
        let text = format!("{frac:0digits$}");
        write!(f, "{int}.{}", text.trim_end_matches('0'))
    }
}

macro_rules! amount_type {
    (
        $(#[$m:meta])* $name:ident, per_unit: $per:expr, digits: $digits:expr,
        from: $from:ident, count: $count:ident, largest: $largest:literal
    ) => {
        $(#[$m])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(pub u64);

        impl $name {
            /// Zero.
            pub const ZERO: $name = $name(0);

            /// The largest amount the store holds.
            pub const MAX: $name = $name(MAX_STORED);

            /// Wraps a count of units of this type.
            pub const fn $from(n: u64) -> $name {
                $name(n)
            }

            /// The count of units of this type.
            pub const fn $count(self) -> u64 {
                self.0
            }

            /// The amount as a float, for display only.
            pub fn as_f64(self) -> f64 {
                self.0 as f64 / $per as f64
            }

            /// Checked addition.
            pub fn checked_add(self, other: $name) -> Option<$name> {
                self.0.checked_add(other.0).filter(|v| *v <= MAX_STORED).map($name)
            }

            /// Addition that stops at [`Self::MAX`].
            pub fn saturating_add(self, other: $name) -> $name {
                self.checked_add(other).unwrap_or(Self::MAX)
            }

            /// Subtraction that stops at zero.
            pub fn saturating_sub(self, other: $name) -> $name {
                $name(self.0.saturating_sub(other.0))
            }

            /// The value as a signed SQL integer.
            pub(crate) fn sql(self) -> i64 {
                // Every constructor keeps the value at or below i64::MAX.
                i64::try_from(self.0).unwrap_or(i64::MAX)
            }
        }

        impl fmt::Display for $name {
            /// Exact decimal rendering: `1.25`, `0.000000001`.
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt_fixed(self.0, $digits, $per, f)
            }
        }

        impl ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(self.sql()))
            }
        }

        impl FromSql for $name {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                let v = value.as_i64()?;
                u64::try_from(v).map($name).map_err(|_| FromSqlError::OutOfRange(v))
            }
        }
    };
}

amount_type!(
    /// A privacy amount in nano-units (1e-9) of the authorization's definition (epsilon or
    /// rho); decimals have at most 9 digits after the point.
    Nano, per_unit: NANOS_PER_UNIT, digits: 9, from: from_nanos, count: nanos, largest: "9e9"
);

amount_type!(
    /// A delta in atto-units (1e-18): partition selection's delta needs far finer steps
    /// than a nano-unit; decimals have at most 18 digits after the point.
    Atto, per_unit: ATTOS_PER_UNIT, digits: 18, from: from_attos, count: attos, largest: "9"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charges_round_up_and_grants_round_down() {
        assert_eq!(Nano::charge(0.5, "cost").unwrap(), Nano(500_000_000));
        assert_eq!(Nano::charge(1e-12, "cost").unwrap(), Nano(1));
        assert_eq!(Nano::grant(1e-12, "total").unwrap(), Nano(0));
        assert_eq!(Nano::grant(0.0, "total").unwrap(), Nano(0));
        assert_eq!(Nano::charge(f64::MIN_POSITIVE / 4.0, "cost").unwrap(), Nano(1));
        assert_eq!(Nano::grant(2.5, "total").unwrap(), Nano(2_500_000_000));
        assert_eq!(Nano::grant(9.0e9, "total").unwrap(), Nano(9_000_000_000_000_000_000));
        assert!(Nano::charge(-1.0, "cost").is_err());
        assert!(Nano::charge(f64::NAN, "cost").is_err());
        assert!(Nano::grant(1e300, "total").is_err());
        assert!(Nano::grant(9.3e9, "total").is_err());
    }

    #[test]
    fn a_float_just_above_a_nano_step_is_charged_the_next_step() {
        // 0.3 as a float is 0.299999999999999988897769753748…, below 0.3: it is charged
        // 300 000 000 and granted 299 999 999; the next float above it is
        // 0.300000000000000044408920985006… and must cost 300 000 001.
        assert_eq!(Nano::charge(0.3, "cost").unwrap(), Nano(300_000_000));
        assert_eq!(Nano::grant(0.3, "total").unwrap(), Nano(299_999_999));
        assert_eq!(Nano::charge(f64::from_bits(0.3f64.to_bits() + 1), "cost").unwrap(), Nano(300_000_001));
        // 0.1 is 0.1000000000000000055511151231257827…, above 0.1: granted 100 000 000,
        // charged one step more (the old float multiply charged 100 000 000, short of it).
        assert_eq!(Nano::grant(0.1, "total").unwrap(), Nano(100_000_000));
        assert_eq!(Nano::charge(0.1, "cost").unwrap(), Nano(100_000_001));
        // In atto-units the excess of the float 0.1 is 5.55… steps.
        assert_eq!(Atto::charge(0.1, "delta").unwrap(), Atto(100_000_000_000_000_006));
        assert_eq!(Atto::grant(0.1, "delta").unwrap(), Atto(100_000_000_000_000_005));
        // 1e-7 is 9.99999999999999954748…e-8, below 1e-7.
        assert_eq!(Atto::charge(1e-7, "delta").unwrap(), Atto(100_000_000_000));
        assert_eq!(Atto::grant(1e-7, "delta").unwrap(), Atto(99_999_999_999));
    }

    #[test]
    fn grants_take_the_decimal_the_bureau_wrote() {
        assert_eq!(Nano::grant_decimal(0.3, "total").unwrap(), Nano(300_000_000));
        assert_eq!(Nano::grant_decimal(0.1, "total").unwrap(), Nano(100_000_000));
        assert_eq!(Nano::grant_decimal(1e-12, "total").unwrap(), Nano(0), "below the unit");
        assert_eq!(Nano::grant_decimal(0.123456789999, "total").unwrap(), Nano(123_456_789), "rounded down");
        assert_eq!(Atto::grant_decimal(1e-7, "delta").unwrap(), Atto(100_000_000_000));
        assert_eq!(Atto::grant_decimal(2e-7, "delta").unwrap(), Atto(200_000_000_000));
        assert_eq!(Atto::grant_decimal(0.0, "delta").unwrap(), Atto(0));
        assert!(Nano::grant_decimal(-0.5, "total").is_err() && Nano::grant_decimal(1e300, "total").is_err());
    }

    #[test]
    fn decimals_parse_exactly_and_display_back() {
        for text in ["1", "0.1", "1.25", "0.000000001", "123.456789012"] {
            let n = Nano::parse_decimal(text, "x").unwrap();
            assert_eq!(n.to_string(), text);
        }
        for text in ["0", "0.000001", "0.000000000000000001", "1.5", "0.123456789012345678"] {
            let n = Atto::parse_decimal(text, "x").unwrap();
            assert_eq!(n.to_string(), text);
        }
        assert_eq!(Nano::parse_decimal(".5", "x").unwrap(), Nano(500_000_000));
        assert_eq!(Atto::parse_decimal("0.000001", "x").unwrap(), Atto(1_000_000_000_000));
        assert!(Nano::parse_decimal("0.0000000001", "x").is_err());
        assert!(Atto::parse_decimal("0.0000000000000000001", "x").is_err());
        assert!(Atto::parse_decimal("10", "x").is_err(), "past the stored range");
        assert!(Nano::parse_decimal("-1", "x").is_err());
        assert!(Nano::parse_decimal("", "x").is_err());
        assert!(Nano::parse_decimal("1e3", "x").is_err());
    }
}
