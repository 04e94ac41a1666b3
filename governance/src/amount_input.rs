//! Amounts from input: a planner's cost, a bureau's grant, a decimal on the wire, each
//! converted exactly into [`Nano`] or [`Atto`] or refused with the field it came from.

use crate::amount::{floor_shortest_decimal, parse_fixed, scale_exact, Atto, Nano, ATTOS_PER_UNIT, NANOS_PER_UNIT};
use crate::error::{GovernanceError, Result};

macro_rules! amount_input {
    ($name:ident, per_unit: $per:expr, digits: $digits:expr, largest: $largest:literal) => {
        impl $name {
            /// A query's cost, rounded UP exactly to the next unit; `field` names it in errors.
            pub fn charge(value: f64, field: &str) -> Result<$name> {
                Self::convert(value, field, true)
            }

            /// The float rounded DOWN exactly to the unit (never above `value`).
            pub fn grant(value: f64, field: &str) -> Result<$name> {
                Self::convert(value, field, false)
            }

            /// A granted amount (total, cap, default) the bureau wrote as a decimal and sent
            /// as a float: the shortest decimal the float stands for, rounded DOWN to the unit
            /// (never above what was written; `0.3` grants exactly 0.3).
            pub fn grant_decimal(value: f64, field: &str) -> Result<$name> {
                if Self::convert(value, field, false)? == $name::ZERO && value == 0.0 {
                    return Ok($name::ZERO); // also -0.0, which prints with a sign
                }
                floor_shortest_decimal(value, $digits, $per).map($name).ok_or_else(|| {
                    GovernanceError::invalid(field, concat!("is too large; use at most ", $largest))
                })
            }

            fn convert(value: f64, field: &str, up: bool) -> Result<$name> {
                if !value.is_finite() {
                    return Err(GovernanceError::invalid(field, "must be a finite number"));
                }
                if value < 0.0 {
                    return Err(GovernanceError::invalid(field, "must not be negative"));
                }
                scale_exact(value, $per, up).map($name).ok_or_else(|| {
                    GovernanceError::invalid(field, concat!("is too large; use at most ", $largest))
                })
            }

            /// Parses a decimal such as `1.25` exactly (see the type for the decimals allowed).
            pub fn parse_decimal(text: &str, field: &str) -> Result<$name> {
                parse_fixed(text, $digits, $per).map($name).ok_or_else(|| {
                    GovernanceError::invalid(
                        field,
                        format!("must be a decimal like 1.25 with at most {} decimals", $digits),
                    )
                })
            }
        }
    };
}

amount_input!(Nano, per_unit: NANOS_PER_UNIT, digits: 9, largest: "9e9");
amount_input!(Atto, per_unit: ATTOS_PER_UNIT, digits: 18, largest: "9");
