//! Exact privacy amounts: integers of nano-units (1e-9 epsilon or rho).
//!
//! The ledger never adds floats. Costs coming from the planner are rounded UP to the next
//! nano-unit ([`Nano::charge`]); amounts the bureau grants are rounded DOWN
//! ([`Nano::grant`]) so the ledger never allows more than was signed; sums are exact.

use std::fmt;

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use serde::{Deserialize, Serialize};

use crate::error::{GovernanceError, Result};

/// Nano-units per unit of epsilon or rho.
pub const NANOS_PER_UNIT: u64 = 1_000_000_000;

/// The largest amount the store can hold (fits a signed 64-bit SQL integer).
const MAX_NANOS: u64 = i64::MAX as u64;

/// A privacy amount in nano-units of the authorization's definition (epsilon or rho).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Nano(pub u64);

impl Nano {
    /// Zero.
    pub const ZERO: Nano = Nano(0);

    /// Wraps a count of nano-units.
    pub const fn from_nanos(n: u64) -> Nano {
        Nano(n)
    }

    /// The count of nano-units.
    pub const fn nanos(self) -> u64 {
        self.0
    }

    /// A query's cost, rounded UP to the next nano-unit; `field` names it in errors.
    pub fn charge(value: f64, field: &str) -> Result<Nano> {
        Self::convert(value, field, f64::ceil)
    }

    /// A granted amount (total, cap, default), rounded DOWN to the nano-unit.
    pub fn grant(value: f64, field: &str) -> Result<Nano> {
        Self::convert(value, field, f64::floor)
    }

    fn convert(value: f64, field: &str, round: fn(f64) -> f64) -> Result<Nano> {
        if !value.is_finite() {
            return Err(GovernanceError::invalid(field, "must be a finite number"));
        }
        if value < 0.0 {
            return Err(GovernanceError::invalid(field, "must not be negative"));
        }
        let scaled = round(value * NANOS_PER_UNIT as f64);
        if scaled > MAX_NANOS as f64 {
            return Err(GovernanceError::invalid(
                field,
                "is too large; use at most 9e9",
            ));
        }
        // `scaled` is a non-negative integral float below 2^63: the cast is exact.
        Ok(Nano(scaled as u64))
    }

    /// Parses a decimal such as `1.25` exactly (at most 9 digits after the point).
    pub fn parse_decimal(text: &str, field: &str) -> Result<Nano> {
        let bad = || {
            GovernanceError::invalid(field, "must be a decimal like 1.25 with at most 9 decimals")
        };
        let (int, frac) = text.trim().split_once('.').unwrap_or((text.trim(), ""));
        if int.is_empty() && frac.is_empty() {
            return Err(bad());
        }
        if !int.bytes().all(|b| b.is_ascii_digit())
            || !frac.bytes().all(|b| b.is_ascii_digit())
            || frac.len() > 9
        {
            return Err(bad());
        }
        let int: u64 = if int.is_empty() {
            0
        } else {
            int.parse().map_err(|_| bad())?
        };
        let frac_n: u64 = if frac.is_empty() {
            0
        } else {
            format!("{frac:0<9}").parse().map_err(|_| bad())?
        };
        int.checked_mul(NANOS_PER_UNIT)
            .and_then(|v| v.checked_add(frac_n))
            .filter(|v| *v <= MAX_NANOS)
            .map(Nano)
            .ok_or_else(bad)
    }

    /// The amount as a float, for display only.
    pub fn as_f64(self) -> f64 {
        self.0 as f64 / NANOS_PER_UNIT as f64
    }

    /// Checked addition.
    pub fn checked_add(self, other: Nano) -> Option<Nano> {
        self.0
            .checked_add(other.0)
            .filter(|v| *v <= MAX_NANOS)
            .map(Nano)
    }

    /// Subtraction that stops at zero.
    pub fn saturating_sub(self, other: Nano) -> Nano {
        Nano(self.0.saturating_sub(other.0))
    }

    /// The value as a signed SQL integer.
    pub(crate) fn sql(self) -> i64 {
        // Every constructor keeps the value at or below i64::MAX.
        i64::try_from(self.0).unwrap_or(i64::MAX)
    }
}

impl fmt::Display for Nano {
    /// Exact decimal rendering: `1.25`, `0.000000001`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let int = self.0 / NANOS_PER_UNIT;
        let frac = self.0 % NANOS_PER_UNIT;
        if frac == 0 {
            write!(f, "{int}")
        } else {
            let digits = format!("{frac:09}");
            write!(f, "{int}.{}", digits.trim_end_matches('0'))
        }
    }
}

impl ToSql for Nano {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.sql()))
    }
}

impl FromSql for Nano {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let v = value.as_i64()?;
        u64::try_from(v)
            .map(Nano)
            .map_err(|_| FromSqlError::OutOfRange(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charges_round_up_and_grants_round_down() {
        assert_eq!(Nano::charge(0.1, "cost").unwrap(), Nano(100_000_000));
        assert_eq!(Nano::charge(1e-12, "cost").unwrap(), Nano(1));
        assert_eq!(Nano::grant(1e-12, "total").unwrap(), Nano(0));
        assert_eq!(Nano::charge(0.3, "cost").unwrap(), Nano(300_000_000));
        assert_eq!(Nano::grant(2.5, "total").unwrap(), Nano(2_500_000_000));
        assert!(Nano::charge(-1.0, "cost").is_err());
        assert!(Nano::charge(f64::NAN, "cost").is_err());
        assert!(Nano::grant(1e300, "total").is_err());
    }

    #[test]
    fn decimals_parse_exactly_and_display_back() {
        for text in ["1", "0.1", "1.25", "0.000000001", "123.456789012"] {
            let n = Nano::parse_decimal(text, "x").unwrap();
            assert_eq!(n.to_string(), text);
        }
        assert_eq!(Nano::parse_decimal(".5", "x").unwrap(), Nano(500_000_000));
        assert!(Nano::parse_decimal("0.0000000001", "x").is_err());
        assert!(Nano::parse_decimal("-1", "x").is_err());
        assert!(Nano::parse_decimal("", "x").is_err());
        assert!(Nano::parse_decimal("1e3", "x").is_err());
    }
}
