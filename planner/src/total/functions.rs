//! The functions allowed on personal rows: an explicit list, each entry with the rule that
//! keeps it total (it cannot fail) and of bounded cost per row. A function not listed here
//! is refused at plan time with what to write instead.
//!
//! Rules:
//! - [`Rule::Total`]: cannot fail on any input of its (coerced) types, and its work is
//!   linear in the size of its arguments.
//! - [`Rule::Literal`]: as `Total`, provided the listed arguments are literals (a pattern, a
//!   separator, a date part) that are checked here, at plan time, once.
//! - [`Rule::Float`]: computed on DOUBLE by a total kernel (`sqrt` and `power` raise on a
//!   negative root and on zero to a negative power, their integer versions on overflow);
//!   the call is rewritten to take DOUBLE and the result cast back.
//! - [`Rule::FloatFirst`]: total on a DOUBLE first argument (on integers and decimals they
//!   raise on overflow, `round(9223372036854775807, -1)`); a first argument of another type
//!   is cast to DOUBLE and the result cast back.
//! - [`Rule::Refuse`]: fails on some inputs, or does work that grows with an argument that
//!   can depend on data; the message says what to use instead.

use arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::logical_expr::Expr;

use super::kernels::Kernel;
use crate::error::Result;
use crate::refusal::{refuse, RefusalCode};

/// Longest string literal evaluated on personal rows, in bytes.
pub const MAX_LITERAL_BYTES: usize = 1024;

/// How one argument must look for a [`Rule::Literal`] function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arg {
    /// A regular expression (checked to compile).
    Pattern,
    /// Regular-expression flags (only `i`, `m`, `s`, `x`, `U`).
    Flags,
    /// Any string literal (a separator, a replacement, a set of characters).
    Text,
    /// A non-empty string literal (what `replace` searches for).
    NonEmptyText,
    /// A date or time part `date_part` accepts.
    DatePart,
    /// A granularity `date_trunc` accepts.
    TruncUnit,
    /// A non-negative integer literal (a length).
    NonNegative,
    /// A non-zero integer literal (a field position).
    NonZero,
    /// An integer literal of at least 1 (a start position).
    Positive,
}

/// The rule of one function.
#[derive(Debug, Clone, Copy)]
pub enum Rule {
    /// Total as is.
    Total,
    /// Total when the arguments at these positions (if present) are literals of this kind.
    Literal(&'static [(usize, Arg)]),
    /// Computed by this total kernel on DOUBLE arguments.
    Float(Kernel),
    /// Total when its first argument is DOUBLE.
    FloatFirst,
    /// Refused, with what to use instead.
    Refuse(&'static str),
}

const NOT_PARSED: &str = "it fails on text that does not parse; use TRY_CAST(x AS DATE) or TRY_CAST(x AS TIMESTAMP), which yield NULL instead";
const GROWS: &str = "its work and output grow with an argument that can depend on the data; apply it to released values in an outer query";
const FAILS: &str = "it raises an error on some inputs, and an error that depends on one person's value would reveal it";

/// The rule of `name`, or `None` if the function is not on the list.
pub fn rule(name: &str) -> Option<Rule> {
    use Arg::*;
    Some(match name {
        // Conditional and comparison.
        "coalesce" | "nullif" | "nvl" | "ifnull" | "nvl2" | "greatest" | "least" | "isnan" | "iszero" | "nanvl" => Rule::Total,
        // Math on DOUBLE (NaN and infinities, never an error).
        "signum" | "cbrt" | "exp" | "ln" | "log" | "log2" | "log10" | "sin" | "cos" | "tan" | "cot" | "asin" | "acos" | "atan"
        | "atan2" | "sinh" | "cosh" | "tanh" | "asinh" | "acosh" | "atanh" | "degrees" | "radians" | "pi" => Rule::Total,
        "round" | "trunc" | "ceil" | "floor" => Rule::FloatFirst,
        "sqrt" => Rule::Float(Kernel::Sqrt),
        "power" | "pow" => Rule::Float(Kernel::Power),
        // `abs` raises on the smallest integer; rewritten by the pass into a wrapping CASE.
        "abs" => Rule::Total,
        // Strings: linear in their input.
        "lower" | "upper" | "length" | "char_length" | "character_length" | "octet_length" | "bit_length" | "reverse" | "initcap"
        | "ascii" | "to_hex" | "md5" | "sha224" | "sha256" | "sha384" | "sha512" | "starts_with" | "ends_with" | "contains"
        | "strpos" | "instr" | "position" | "left" | "right" | "concat" | "find_in_set" | "btrim" | "trim" | "ltrim" | "rtrim" => {
            Rule::Total
        }
        "concat_ws" => Rule::Literal(&[(0, Text)]),
        "substr" | "substring" => Rule::Literal(&[(2, NonNegative)]),
        "split_part" => Rule::Literal(&[(1, Text), (2, NonZero)]),
        "replace" => Rule::Literal(&[(1, NonEmptyText), (2, Text)]),
        "translate" => Rule::Literal(&[(1, Text), (2, Text)]),
        "regexp_like" => Rule::Literal(&[(1, Pattern), (2, Flags)]),
        "regexp_count" => Rule::Literal(&[(1, Pattern), (2, Positive), (3, Flags)]),
        "regexp_replace" => Rule::Literal(&[(1, Pattern), (2, Text), (3, Flags)]),
        // Dates and times.
        "date_part" | "datepart" => Rule::Literal(&[(0, DatePart)]),
        "date_trunc" | "datetrunc" => Rule::Literal(&[(0, TruncUnit)]),
        "now" | "current_date" | "current_time" | "today" => Rule::Total,
        "arrow_typeof" => Rule::Total,
        // Refused, with a reason.
        "to_date" | "to_timestamp" | "to_timestamp_seconds" | "to_timestamp_millis" | "to_timestamp_micros" | "to_timestamp_nanos"
        | "to_unixtime" | "make_date" | "make_time" | "to_char" | "date_format" | "from_unixtime" | "to_local_time" | "date_bin" => {
            Rule::Refuse(NOT_PARSED)
        }
        "repeat" | "lpad" | "rpad" | "overlay" | "levenshtein" | "string_agg" => Rule::Refuse(GROWS),
        "arrow_cast" | "arrow_try_cast" => Rule::Refuse("it is a cast by type name; use TRY_CAST(x AS <type>), which yields NULL where a value does not convert"),
        "chr" | "decode" | "encode" | "gcd" | "lcm" | "factorial" | "digest" | "regexp_match" | "regexp_instr" | "regexp_substr"
        | "substr_index" | "substring_index" => Rule::Refuse(FAILS),
        "random" | "uuid" => Rule::Refuse("it is not deterministic, so the same query would not compute the same exact aggregate"),
        _ => return None,
    })
}

/// What to say about a function that is not on the list.
pub fn unknown(name: &str) -> Result<Expr> {
    refuse(
        RefusalCode::ExpressionNotAllowed,
        format!(
            "the function {name} is not evaluated on personal rows: only functions that cannot fail and take a bounded time \
             per row are (docs/sql.md lists them); apply it to released values in an outer query, or use a listed function"
        ),
    )
}

/// Checks literal arguments of a [`Rule::Literal`] call.
pub fn check_literals(name: &str, args: &[Expr], rules: &[(usize, Arg)]) -> Result<()> {
    for (i, kind) in rules {
        let Some(a) = args.get(*i) else { continue };
        let value = literal(a);
        let bad = |what: &str| {
            refuse::<()>(
                RefusalCode::ExpressionNotAllowed,
                format!("{name}: argument {} must be {what} on personal rows, so that it cannot fail or depend on the data", i + 1),
            )
        };
        match kind {
            Arg::Pattern => match value.as_ref().and_then(text) {
                Some(p) if p.len() <= MAX_LITERAL_BYTES => {
                    let flags = rules.iter().find(|(_, k)| *k == Arg::Flags).and_then(|(j, _)| args.get(*j)).and_then(literal);
                    // Only the flags the engine compiles into the pattern; others are checked as flags.
                    let flags: String = flags.as_ref().and_then(text).unwrap_or("").chars().filter(|c| "imsxU".contains(*c)).collect();
                    check_pattern(name, p, &flags)?;
                }
                _ => return bad(&format!("a constant regular expression of at most {MAX_LITERAL_BYTES} bytes")),
            },
            Arg::Flags => match value.as_ref().and_then(text) {
                Some(f) if f.chars().all(|c| "imsxU".contains(c)) => {}
                _ => return bad("constant flags made of i, m, s, x and U"),
            },
            Arg::Text | Arg::NonEmptyText => match value.as_ref().and_then(text) {
                Some(t) if t.len() <= MAX_LITERAL_BYTES && !(t.is_empty() && *kind == Arg::NonEmptyText) => {}
                _ if *kind == Arg::NonEmptyText => return bad(&format!("a non-empty constant string of at most {MAX_LITERAL_BYTES} bytes")),
                _ => return bad(&format!("a constant string of at most {MAX_LITERAL_BYTES} bytes")),
            },
            Arg::DatePart => match value.as_ref().and_then(text).map(str::to_ascii_lowercase) {
                Some(p) if DATE_PARTS.contains(&p.as_str()) => {}
                _ => return bad(&format!("a constant date part ({})", DATE_PARTS.join(", "))),
            },
            Arg::TruncUnit => match value.as_ref().and_then(text).map(str::to_ascii_lowercase) {
                Some(p) if TRUNC_UNITS.contains(&p.as_str()) => {}
                _ => return bad(&format!("a constant unit ({})", TRUNC_UNITS.join(", "))),
            },
            Arg::NonNegative | Arg::NonZero | Arg::Positive => {
                let n = value.as_ref().and_then(integer);
                let ok = match (kind, n) {
                    (Arg::NonNegative, Some(n)) => (0..=i64::from(i32::MAX)).contains(&n),
                    (Arg::NonZero, Some(n)) => n != 0,
                    (Arg::Positive, Some(n)) => n >= 1,
                    _ => false,
                };
                if !ok {
                    let what = match kind {
                        Arg::NonNegative => "a constant integer from 0 to 2147483647",
                        Arg::NonZero => "a constant non-zero integer",
                        _ => "a constant integer of at least 1",
                    };
                    return bad(what);
                }
            }
        }
    }
    Ok(())
}

/// Largest compiled form of a regular expression evaluated on personal rows, in bytes. A
/// search costs at most a constant times this size per byte of the row: `a{100000}` is 14
/// bytes long but compiles to megabytes, and took over a minute on one 100 KB row.
pub const MAX_PATTERN_COMPILED_BYTES: usize = 1 << 16;

/// Checks that `pattern`, with the regular-expression `flags` the engine prefixes it with,
/// compiles, and to at most [`MAX_PATTERN_COMPILED_BYTES`].
pub fn check_pattern(name: &str, pattern: &str, flags: &str) -> Result<()> {
    let full = if flags.is_empty() { pattern.to_string() } else { format!("(?{flags}){pattern}") };
    match regex::RegexBuilder::new(&full).size_limit(MAX_PATTERN_COMPILED_BYTES).build() {
        Ok(_) => Ok(()),
        Err(regex::Error::CompiledTooBig(_)) => refuse(
            RefusalCode::ExpressionNotAllowed,
            format!(
                "{name}: the pattern compiles to more than {} KiB, so its work per row would not be bounded by a small constant; \
                 use fewer counted repetitions (a{{1000}}) and ASCII classes ([0-9], [A-Za-z_], (?-u:\\w)) rather than Unicode \
                 classes (\\w, \\d)",
                MAX_PATTERN_COMPILED_BYTES >> 10
            ),
        ),
        Err(_) => refuse(RefusalCode::ExpressionNotAllowed, format!("{name}: the pattern is not a valid regular expression")),
    }
}

/// Date parts `date_part` is allowed with.
pub const DATE_PARTS: &[&str] =
    &["year", "quarter", "month", "week", "day", "hour", "minute", "second", "millisecond", "microsecond", "dow", "doy"];
/// Units `date_trunc` is allowed with.
pub const TRUNC_UNITS: &[&str] = &["year", "quarter", "month", "week", "day", "hour", "minute", "second"];

/// The literal an argument is, through casts of literals (which the type coercion adds).
fn literal(e: &Expr) -> Option<ScalarValue> {
    match e {
        Expr::Literal(v, _) => Some(v.clone()),
        Expr::Cast(c) => literal(&c.expr).and_then(|v| v.cast_to(c.field.data_type()).ok()),
        Expr::TryCast(c) => literal(&c.expr).and_then(|v| v.cast_to(c.field.data_type()).ok()),
        Expr::Alias(a) => literal(&a.expr),
        _ => None,
    }
}

fn text(v: &ScalarValue) -> Option<&str> {
    match v {
        ScalarValue::Utf8(Some(s)) | ScalarValue::LargeUtf8(Some(s)) | ScalarValue::Utf8View(Some(s)) => Some(s.as_str()),
        _ => None,
    }
}

fn integer(v: &ScalarValue) -> Option<i64> {
    match v.cast_to(&DataType::Int64).ok()? {
        ScalarValue::Int64(Some(n)) if v.data_type().is_integer() => Some(n),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every listed name is a function this build of DataFusion knows: a typo in the list
    /// would silently refuse a function the list means to allow.
    #[test]
    fn every_listed_function_exists() {
        let ctx = datafusion::prelude::SessionContext::new();
        let state = ctx.state();
        let known = state.scalar_functions();
        let names = [
            "coalesce", "nullif", "nvl", "nvl2", "greatest", "least", "isnan", "iszero", "nanvl", "ceil", "floor", "trunc", "signum",
            "sqrt", "cbrt", "exp", "ln", "log", "log2", "log10", "round", "power", "abs", "lower", "upper", "length",
            "character_length", "octet_length", "bit_length", "reverse", "initcap", "ascii", "to_hex", "md5", "sha256",
            "starts_with", "ends_with", "contains", "strpos", "left", "right", "concat", "concat_ws", "btrim", "ltrim", "rtrim",
            "substr", "split_part", "replace", "translate", "regexp_like", "regexp_count", "regexp_replace", "date_part",
            "date_trunc", "now", "current_date", "arrow_typeof",
        ];
        for n in names {
            assert!(known.contains_key(n) || state.scalar_functions().values().any(|f| f.aliases().iter().any(|a| a == n)), "{n} is not a DataFusion function");
            assert!(matches!(rule(n), Some(Rule::Total | Rule::Literal(_) | Rule::Float(_) | Rule::FloatFirst)), "{n} is allowed");
        }
    }

    #[test]
    fn literal_arguments_are_checked_once_at_plan_time() {
        let s = |v: &str| Expr::Literal(ScalarValue::Utf8(Some(v.into())), None);
        let i = |v: i64| Expr::Literal(ScalarValue::Int64(Some(v)), None);
        let col = Expr::Column(datafusion::common::Column::from_name("name"));
        let like = [(1, Arg::Pattern), (2, Arg::Flags)];
        assert!(check_literals("regexp_like", &[col.clone(), s("^a+b$")], &like).is_ok());
        assert!(check_literals("regexp_like", &[col.clone(), s("(")], &like).is_err(), "an invalid pattern");
        assert!(check_literals("regexp_like", &[col.clone(), col.clone()], &like).is_err(), "a pattern from the data");
        assert!(check_literals("regexp_like", &[col.clone(), s("a"), s("g")], &like).is_err(), "an unsupported flag");
        let sub = [(2, Arg::NonNegative)];
        assert!(check_literals("substr", &[col.clone(), i(2), i(3)], &sub).is_ok());
        assert!(check_literals("substr", &[col.clone(), i(2), i(-1)], &sub).is_err(), "a negative length fails in DataFusion");
        assert!(check_literals("substr", &[col.clone(), i(2), col.clone()], &sub).is_err(), "a length from the data");
        assert!(check_literals("split_part", &[col.clone(), s(","), i(0)], &[(1, Arg::Text), (2, Arg::NonZero)]).is_err());
        assert!(check_literals("replace", &[col.clone(), s(""), s("x")], &[(1, Arg::NonEmptyText), (2, Arg::Text)]).is_err());
        assert!(check_literals("date_part", &[s("YEAR"), col.clone()], &[(0, Arg::DatePart)]).is_ok());
        assert!(check_literals("date_part", &[s("epoch"), col], &[(0, Arg::DatePart)]).is_err());
        assert!(check_literals("concat_ws", &[s(&"x".repeat(MAX_LITERAL_BYTES + 1))], &[(0, Arg::Text)]).is_err(), "a long separator");
    }
}
