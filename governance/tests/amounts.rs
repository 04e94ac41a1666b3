//! Exact conversion of floats to ledger amounts, checked against rational arithmetic: a
//! charge is never below the float it charges and less than one unit above it; a grant is
//! never above the float it grants and less than one unit below it; a typed decimal is
//! granted as typed.

use std::cmp::Ordering;

use num_bigint::BigUint;
use proptest::prelude::*;
use shuyu_governance::{Atto, Nano, ATTOS_PER_UNIT, NANOS_PER_UNIT};

/// `x = mantissa · 2^exponent` exactly (x finite, not negative).
fn decompose(x: f64) -> (u64, i32) {
    let bits = x.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i32;
    let frac = bits & ((1 << 52) - 1);
    if exp == 0 {
        (frac, -1074)
    } else {
        (frac | (1 << 52), exp - 1075)
    }
}

/// Compares `units / per_unit` with `x`, exactly.
fn compare(units: u64, per_unit: u64, x: f64) -> Ordering {
    let (m, e) = decompose(x);
    // units / per_unit  vs  m · 2^e   ⇔   units · 2^-e  vs  m · per_unit  (e < 0)
    let mut left = BigUint::from(units);
    let mut right = BigUint::from(m) * BigUint::from(per_unit);
    if e < 0 {
        left <<= e.unsigned_abs() as usize;
    } else {
        right <<= e as usize;
    }
    left.cmp(&right)
}

/// Checks one float against one amount type.
fn check(x: f64, per_unit: u64, charge: Option<u64>, grant: Option<u64>) -> Result<(), TestCaseError> {
    let max = i64::MAX as u64;
    match charge {
        Some(n) => {
            prop_assert_ne!(compare(n, per_unit, x), Ordering::Less, "charge({:e}) = {} is below it", x, n);
            if n > 0 {
                prop_assert_eq!(compare(n - 1, per_unit, x), Ordering::Less, "charge({:e}) = {} is a unit too high", x, n);
            }
        }
        // Refused only when the charge would not fit the store.
        None => prop_assert_eq!(compare(max, per_unit, x), Ordering::Less, "charge({:e}) refused though it fits", x),
    }
    match grant {
        Some(g) => {
            prop_assert_ne!(compare(g, per_unit, x), Ordering::Greater, "grant({:e}) = {} is above it", x, g);
            prop_assert_eq!(compare(g + 1, per_unit, x), Ordering::Greater, "grant({:e}) = {} is a unit too low", x, g);
        }
        None => prop_assert_ne!(compare(max + 1, per_unit, x), Ordering::Greater, "grant({:e}) refused though it fits", x),
    }
    Ok(())
}

fn check_both(x: f64) -> Result<(), TestCaseError> {
    check(x, NANOS_PER_UNIT, Nano::charge(x, "x").ok().map(Nano::nanos), Nano::grant(x, "x").ok().map(Nano::nanos))?;
    check(x, ATTOS_PER_UNIT, Atto::charge(x, "x").ok().map(Atto::attos), Atto::grant(x, "x").ok().map(Atto::attos))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 20_000, failure_persistence: None, ..ProptestConfig::default() })]

    /// Every non-negative finite float, by bit pattern: all exponents equally likely, from
    /// subnormals to 1.8e308.
    #[test]
    fn any_float_converts_exactly(bits in 0u64..0x7ff0_0000_0000_0000) {
        check_both(f64::from_bits(bits))?;
    }

    /// Floats in the range budgets live in, and their neighbours.
    #[test]
    fn budget_sized_floats_convert_exactly(x in 0.0f64..20.0, step in 0u64..3) {
        check_both(f64::from_bits(x.to_bits() + step))?;
    }

    /// Decimals as the bureau and analysts type them (0.1, 0.25, 1e-6…), parsed to the
    /// nearest float: charges and floors exact; `grant_decimal` grants the decimal as typed,
    /// rounded down to the unit.
    #[test]
    fn typed_decimals_convert_exactly(digits in 1u64..10_000_000, scale in 0i32..20) {
        let x = digits as f64 / 10f64.powi(scale);
        check_both(x)?;
        let expected = |k: i32| -> Option<u64> {
            let d = u128::from(digits);
            let v = if scale <= k { d * 10u128.pow((k - scale) as u32) } else { d / 10u128.pow((scale - k) as u32) };
            u64::try_from(v).ok().filter(|v| *v <= i64::MAX as u64)
        };
        prop_assert_eq!(Nano::grant_decimal(x, "x").map(Nano::nanos).ok(), expected(9));
        prop_assert_eq!(Atto::grant_decimal(x, "x").map(Atto::attos).ok(), expected(18));
    }
}

#[test]
fn negative_and_non_finite_are_refused() {
    for x in [-0.5, -1e-300, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        assert!(Nano::charge(x, "x").is_err() && Nano::grant(x, "x").is_err(), "{x}");
        assert!(Atto::charge(x, "x").is_err() && Atto::grant(x, "x").is_err(), "{x}");
    }
    // -0.0 is zero.
    assert_eq!(Nano::charge(-0.0, "x").unwrap(), Nano::ZERO);
}
