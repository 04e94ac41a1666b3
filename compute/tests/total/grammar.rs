//! A typed grammar of SQL expressions over the fixture's columns, as proptest strategies.
//!
//! Expressions are generated per result type (integer, float, string, boolean, date,
//! timestamp) up to a fixed depth; each level's composites take the previous level's
//! expressions as arguments, so the strategies are built once, level by level. Shrinking
//! walks toward leaves (the first arms of every union) and shallower trees.
//!
//! Arguments that set how much work one row costs (repeat and pad lengths, array and range
//! sizes) come from a short list of leaves (`i`, small and large literals, `length(s)`), not
//! from arbitrary arithmetic: the fixture's extremes then reach them (and the engine's own
//! caps answer), while no generated statement asks the test machine for tens of gigabytes.
//! Quadratic functions (levenshtein) take one literal argument for the same reason.

use proptest::prelude::*;
use proptest::strategy::Union;

/// Result types of generated expressions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    /// Int64.
    Int,
    /// Float64.
    Float,
    /// Utf8.
    Str,
    /// Boolean.
    Bool,
    /// Date32.
    Date,
    /// Timestamp (nanoseconds).
    Ts,
}

const TYPES: [Ty; 6] = [Ty::Int, Ty::Float, Ty::Str, Ty::Bool, Ty::Date, Ty::Ts];

/// Maximum depth of generated expressions.
pub const DEPTH: usize = 3;

type S = BoxedStrategy<String>;

/// Fills `$1`…`$9` of `tpl` with `args` (a single pass: arguments are never rescanned).
fn fill(tpl: &str, args: &[&str]) -> String {
    let mut out = String::with_capacity(tpl.len() + args.iter().map(|a| a.len()).sum::<usize>());
    let mut chars = tpl.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, chars.peek().and_then(|d| d.to_digit(10))) {
            ('$', Some(n)) if n >= 1 && (n as usize) <= args.len() => {
                chars.next();
                out.push_str(args[n as usize - 1]);
            }
            _ => out.push(c),
        }
    }
    out
}

fn one(tpl: &'static str, a: &S) -> S {
    a.clone().prop_map(move |x| fill(tpl, &[&x])).boxed()
}

fn two(tpl: &'static str, a: &S, b: &S) -> S {
    (a.clone(), b.clone()).prop_map(move |(x, y)| fill(tpl, &[&x, &y])).boxed()
}

fn three(tpl: &'static str, a: &S, b: &S, c: &S) -> S {
    (a.clone(), b.clone(), c.clone()).prop_map(move |(x, y, z)| fill(tpl, &[&x, &y, &z])).boxed()
}

fn four(tpl: &'static str, a: &S, b: &S, c: &S, d: &S) -> S {
    (a.clone(), b.clone(), c.clone(), d.clone()).prop_map(move |(x, y, z, w)| fill(tpl, &[&x, &y, &z, &w])).boxed()
}

fn pick(items: &[&'static str]) -> S {
    proptest::sample::select(items.to_vec()).prop_map(str::to_string).boxed()
}

/// Leaves of one type: columns and literals, with the public table's columns in joins.
fn leaves(ty: Ty, join: bool) -> S {
    let mut v: Vec<&'static str> = match ty {
        Ty::Int => vec!["i", "pid", "0", "1", "-1", "2", "7", "1000", "9223372036854775807", "CAST(NULL AS BIGINT)"],
        Ty::Float => vec!["f", "0.0", "-0.0", "1.5", "1e308", "CAST('NaN' AS DOUBLE)", "CAST('-inf' AS DOUBLE)", "CAST(NULL AS DOUBLE)"],
        Ty::Str => vec!["s", "t.k", "''", "' '", "'a'", "'%'", "'['", "'(a+)+$'", "'2024-01-01'", "'123'", "'abc'", "'長'", "CAST(NULL AS VARCHAR)"],
        Ty::Bool => vec!["b", "TRUE", "FALSE", "CAST(NULL AS BOOLEAN)"],
        Ty::Date => vec!["d", "DATE '2024-01-01'", "DATE '1970-01-01'", "CAST(NULL AS DATE)"],
        Ty::Ts => vec!["CAST(d AS TIMESTAMP)", "TIMESTAMP '2024-01-01 00:00:00'", "CAST(NULL AS TIMESTAMP)"],
    };
    if join {
        match ty {
            Ty::Int => v.push("p.w"),
            Ty::Str => v.extend(["p.label", "p.k"]),
            _ => {}
        }
    }
    pick(&v)
}

/// Work-setting arguments (see the module documentation).
fn counts() -> S {
    pick(&["i", "0", "1", "-1", "3", "1000", "100000", "length(s)"])
}

/// Regular-expression patterns: literals (valid, invalid, oversized) and data.
fn patterns() -> S {
    pick(&["'a'", "'^a*$'", "'(a+)+$'", "'[0-9]+'", r"'\d{4}-\d{2}'", "'['", "'a{1000}'", r"'\w+\s'", "'a{100000}'", "''", "s", "t.k", "lower(s)"])
}

/// Date and time format strings: valid, invalid, and data.
fn formats() -> S {
    pick(&["'%Y-%m-%d'", "'%Y'", "'%Q'", "'%'", "'%d/%m/%Y %H:%M'", "s"])
}

/// Short string literals (replacements, second arguments of quadratic functions).
fn short_literals() -> S {
    pick(&["'x'", "''", "'$1'", r"'\1'", "'abc'"])
}

/// The strategies of one level, by type.
#[derive(Clone)]
struct Level([S; 6]);

impl Level {
    fn of(&self, ty: Ty) -> &S {
        &self.0[TYPES.iter().position(|t| *t == ty).expect("every type has a strategy")]
    }
}

fn weighted(leaf: S, composites: Vec<S>) -> S {
    let n = composites.len() as u32;
    let mut arms: Vec<(u32, S)> = vec![(n.max(1) / 3, leaf)];
    arms.extend(composites.into_iter().map(|c| (1, c)));
    Union::new_weighted(arms).boxed()
}

fn int_composites(p: &Level, leaf0: &Level) -> Vec<S> {
    let (i, f, s, b, d, t) = (p.of(Ty::Int), p.of(Ty::Float), p.of(Ty::Str), p.of(Ty::Bool), p.of(Ty::Date), p.of(Ty::Ts));
    let lits = short_literals();
    vec![
        two("($1 + $2)", i, i),
        two("($1 - $2)", i, i),
        two("($1 * $2)", i, i),
        two("($1 / $2)", i, i),
        two("($1 % $2)", i, i),
        one("(- $1)", i),
        one("abs($1)", i),
        three("CASE WHEN $1 THEN $2 ELSE $3 END", b, i, i),
        two("CASE WHEN $1 THEN $2 END", b, i),
        one("CAST($1 AS BIGINT)", f),
        one("CAST($1 AS BIGINT)", s),
        one("CAST($1 AS BIGINT)", b),
        one("TRY_CAST($1 AS BIGINT)", f),
        one("TRY_CAST($1 AS BIGINT)", s),
        one("CAST($1 AS INT)", i),
        one("CAST($1 AS SMALLINT)", i),
        one("CAST($1 AS BIGINT UNSIGNED)", i),
        one("length($1)", s),
        two("strpos($1, $2)", s, s),
        one("factorial($1)", i),
        two("gcd($1, $2)", i, i),
        two("lcm($1, $2)", i, i),
        two("power($1, $2)", i, i),
        two("coalesce($1, $2)", i, i),
        two("nullif($1, $2)", i, i),
        two("cardinality(make_array($1, $2))", i, i),
        one("array_length(range($1))", &counts()),
        one("cardinality(array_repeat(1, $1))", &counts()),
        three("make_array($1, $2)[$3]", i, i, i),
        three("array_position(make_array($1, $2), $3)", i, i, i),
        one("CAST(date_part('year', $1) AS BIGINT)", d),
        one("CAST(date_part('epoch', $1) AS BIGINT)", t),
        one("ascii($1)", s),
        one("bit_length($1)", s),
        two("($1 & $2)", i, i),
        two("($1 >> $2)", i, i),
        two("($1 << $2)", i, i),
        one("CAST(round($1) AS BIGINT)", f),
        two("round($1, $2)", i, i),
        one("ceil($1)", i),
        one("floor($1)", i),
        two("trunc($1, $2)", i, i),
        one("signum($1)", i),
        two("levenshtein($1, $2)", leaf0.of(Ty::Str), &lits),
        one("length(decode($1, 'hex'))", s),
        one("CAST($1 - DATE '1970-01-01' AS BIGINT)", d),
        two("($1 - $2)", d, d),
        one("octet_length($1)", s),
        three("nvl2($1, $2, $3)", i, i, i),
        two("greatest($1, $2)", i, i),
        two("least($1, $2)", i, i),
        two("CAST(CAST($1 AS INT) + CAST($2 AS INT) AS BIGINT)", i, i),
        two("(CAST($1 AS SMALLINT) * CAST($2 AS SMALLINT))", i, i),
    ]
}

fn float_composites(p: &Level) -> Vec<S> {
    let (i, f, s, b) = (p.of(Ty::Int), p.of(Ty::Float), p.of(Ty::Str), p.of(Ty::Bool));
    vec![
        two("($1 + $2)", f, f),
        two("($1 - $2)", f, f),
        two("($1 * $2)", f, f),
        two("($1 / $2)", f, f),
        two("($1 % $2)", f, f),
        two("($1 * $2)", i, f),
        one("sqrt($1)", f),
        one("ln($1)", f),
        one("log($1)", f),
        two("log($1, $2)", f, f),
        one("log10($1)", f),
        one("exp($1)", f),
        two("power($1, $2)", f, f),
        one("round($1)", f),
        two("round($1, $2)", f, i),
        two("trunc($1, $2)", f, i),
        one("abs($1)", f),
        one("CAST($1 AS DOUBLE)", i),
        one("CAST($1 AS DOUBLE)", s),
        one("TRY_CAST($1 AS DOUBLE)", s),
        one("CAST(CAST($1 AS DECIMAL(10, 2)) AS DOUBLE)", f),
        one("CAST(CAST($1 AS DECIMAL(10, 2)) AS DOUBLE)", i),
        one("CAST(CAST($1 AS REAL) AS DOUBLE)", f),
        two("CAST(round(CAST($1 AS DECIMAL(10, 2)), $2) AS DOUBLE)", f, i),
        one("CAST(ceil(CAST($1 AS DECIMAL(10, 2))) AS DOUBLE)", f),
        one("sqrt($1)", i),
        two("power($1, $2)", f, i),
        one("cbrt($1)", f),
        one("degrees($1)", f),
        one("acos($1)", f),
        one("atanh($1)", f),
        one("cot($1)", f),
        two("atan2($1, $2)", f, f),
        two("nanvl($1, $2)", f, f),
        three("CASE WHEN $1 THEN $2 ELSE $3 END", b, f, f),
        two("coalesce($1, $2)", f, f),
        two("nullif($1, $2)", f, f),
        one("($1 + 0.5)", i),
        two("greatest($1, $2)", f, f),
        two("least($1, $2)", f, f),
        one("signum($1)", f),
        one("CAST(CAST($1 AS FLOAT) AS DOUBLE)", f),
        one("(- $1)", f),
    ]
}

fn str_composites(p: &Level, leaf0: &Level) -> Vec<S> {
    let (i, f, s, b, d, t) = (p.of(Ty::Int), p.of(Ty::Float), p.of(Ty::Str), p.of(Ty::Bool), p.of(Ty::Date), p.of(Ty::Ts));
    let (ls, c, pat, lit, fmt) = (leaf0.of(Ty::Str), &counts(), &patterns(), &short_literals(), &formats());
    vec![
        two("substr($1, $2)", s, i),
        three("substr($1, $2, $3)", s, i, i),
        two("left($1, $2)", s, i),
        two("right($1, $2)", s, i),
        two("lpad($1, $2)", ls, c),
        three("lpad($1, $2, $3)", ls, c, ls),
        two("rpad($1, $2)", ls, c),
        three("rpad($1, $2, $3)", ls, c, ls),
        two("repeat($1, $2)", ls, c),
        two("concat($1, $2)", s, s),
        two("($1 || $2)", s, s),
        three("replace($1, $2, $3)", s, s, lit),
        three("split_part($1, $2, $3)", s, s, i),
        one("lower($1)", s),
        one("upper($1)", s),
        one("trim($1)", s),
        two("btrim($1, $2)", s, s),
        one("reverse($1)", s),
        one("initcap($1)", s),
        three("translate($1, $2, $3)", s, s, s),
        three("regexp_replace($1, $2, $3)", s, pat, lit),
        three("regexp_replace($1, $2, $3, 'g')", s, pat, lit),
        two("regexp_match($1, $2)[1]", s, pat),
        one("to_hex($1)", i),
        one("chr($1)", i),
        one("CAST($1 AS VARCHAR)", i),
        one("CAST($1 AS VARCHAR)", f),
        one("CAST($1 AS VARCHAR)", d),
        one("CAST($1 AS VARCHAR)", t),
        one("CAST($1 AS VARCHAR)", b),
        two("to_char($1, $2)", d, fmt),
        two("to_char($1, $2)", t, fmt),
        one("md5($1)", s),
        three("substr_index($1, $2, $3)", s, s, i),
        four("overlay($1 placing $2 from $3 for $4)", s, s, i, i),
        three("array_to_string(make_array($1, $2), $3)", s, s, s),
        two("array_to_string(string_to_array($1, $2), ',')", s, s),
        three("CASE WHEN $1 THEN $2 ELSE $3 END", b, s, s),
        two("coalesce($1, $2)", s, s),
        two("nullif($1, $2)", s, s),
        one("encode($1, 'base64')", s),
        two("concat_ws(',', $1, $2)", s, s),
        one("split_part($1, ',', 2)", s),
        one("substr($1, 2, 3)", s),
        one("ltrim($1)", s),
        one("rtrim($1)", s),
        one("sha256($1)", s),
        two("left($1, $2)", s, &pick(&["-2", "0", "9223372036854775807", "-9223372036854775808"])),
    ]
}

fn cmp(p: &Level, ty: Ty) -> Vec<S> {
    let x = p.of(ty);
    ["($1 = $2)", "($1 <> $2)", "($1 < $2)", "($1 <= $2)", "($1 > $2)", "($1 >= $2)"].iter().map(|op| two(op, x, x)).collect()
}

fn bool_composites(p: &Level) -> Vec<S> {
    let (i, f, s, b, d) = (p.of(Ty::Int), p.of(Ty::Float), p.of(Ty::Str), p.of(Ty::Bool), p.of(Ty::Date));
    let pat = &patterns();
    let mut v = Vec::new();
    for ty in TYPES {
        v.extend(cmp(p, ty));
        v.push(one("($1 IS NULL)", p.of(ty)));
        v.push(one("($1 IS NOT NULL)", p.of(ty)));
    }
    // Comparisons across types: coercion errors at plan time, casts at run time.
    for (a, c) in [(Ty::Str, Ty::Int), (Ty::Int, Ty::Str), (Ty::Str, Ty::Date), (Ty::Float, Ty::Str), (Ty::Bool, Ty::Int), (Ty::Date, Ty::Int), (Ty::Ts, Ty::Str)] {
        v.push(two("($1 > $2)", p.of(a), p.of(c)));
        v.push(two("($1 = $2)", p.of(a), p.of(c)));
    }
    v.extend([
        two("($1 AND $2)", b, b),
        two("($1 OR $2)", b, b),
        one("(NOT $1)", b),
        one("($1 IS TRUE)", b),
        two("($1 LIKE $2)", s, s),
        two("($1 ILIKE $2)", s, s),
        two("($1 NOT LIKE $2)", s, pat),
        two("($1 SIMILAR TO $2)", s, pat),
        two("regexp_like($1, $2)", s, pat),
        two("regexp_like($1, $2, 'i')", s, pat),
        two("(regexp_count($1, $2) > 0)", s, pat),
        two("starts_with($1, $2)", s, s),
        two("ends_with($1, $2)", s, s),
        two("contains($1, $2)", s, s),
        three("($1 BETWEEN $2 AND $3)", i, i, i),
        three("($1 IN ($2, $3))", i, i, i),
        three("($1 IN ($2, $3))", s, s, s),
        one("isnan($1)", f),
        one("iszero($1)", f),
        three("array_has(make_array($1, $2), $3)", i, i, i),
        one("CAST($1 AS BOOLEAN)", s),
        one("CAST($1 AS BOOLEAN)", i),
        one("TRY_CAST($1 AS BOOLEAN)", s),
        three("CASE WHEN $1 THEN $2 ELSE $3 END", b, b, b),
        two("($1 > $2 + INTERVAL '1 day')", d, d),
        two("($1 IS DISTINCT FROM $2)", i, i),
        two("($1 IS NOT DISTINCT FROM $2)", s, s),
        three("($1 NOT IN ($2, $3))", f, f, f),
        one("($1 IS NOT TRUE)", b),
        one("($1 IS FALSE)", b),
        one("($1 IS NOT FALSE)", b),
        one("($1 IS UNKNOWN)", b),
        two("($1 ~ $2)", s, pat),
        two("($1 ~* $2)", s, pat),
        three("($1 BETWEEN $2 AND $3)", f, f, f),
        three("($1 BETWEEN $2 AND $3)", s, s, s),
        two("($1 ILIKE $2)", s, &pick(&["'%a%'", "'_'", "'%'", "'\\%'", "'%%%%%%%%%%a'"])),
    ]);
    v
}

fn date_composites(p: &Level) -> Vec<S> {
    let (i, s, b, d, t) = (p.of(Ty::Int), p.of(Ty::Str), p.of(Ty::Bool), p.of(Ty::Date), p.of(Ty::Ts));
    let fmt = &formats();
    vec![
        one("to_date($1)", s),
        two("to_date($1, $2)", s, fmt),
        three("make_date($1, $2, $3)", i, i, i),
        one("CAST($1 AS DATE)", s),
        one("TRY_CAST($1 AS DATE)", s),
        one("CAST($1 AS DATE)", t),
        one("CAST($1 AS DATE)", i),
        one("CAST(date_trunc('month', $1) AS DATE)", d),
        one("($1 + INTERVAL '1 day')", d),
        one("($1 - INTERVAL '1 month')", d),
        three("CASE WHEN $1 THEN $2 ELSE $3 END", b, d, d),
        two("coalesce($1, $2)", d, d),
    ]
}

fn ts_composites(p: &Level) -> Vec<S> {
    let (i, s, b, d, t) = (p.of(Ty::Int), p.of(Ty::Str), p.of(Ty::Bool), p.of(Ty::Date), p.of(Ty::Ts));
    let fmt = &formats();
    vec![
        one("to_timestamp($1)", s),
        one("to_timestamp($1)", i),
        two("to_timestamp($1, $2)", s, fmt),
        one("to_timestamp_millis($1)", i),
        one("from_unixtime($1)", i),
        one("CAST($1 AS TIMESTAMP)", s),
        one("CAST($1 AS TIMESTAMP)", d),
        one("date_trunc('day', $1)", t),
        one("($1 + INTERVAL '1 hour')", t),
        one("date_bin(INTERVAL '1 day', $1)", t),
        three("CASE WHEN $1 THEN $2 ELSE $3 END", b, t, t),
    ]
}

/// Expressions of every type up to [`DEPTH`].
#[derive(Clone)]
pub struct Grammar {
    top: Level,
}

impl Grammar {
    /// The grammar over `t`'s columns, and `p`'s too when `join`.
    pub fn new(join: bool) -> Self {
        let leaf0 = Level(TYPES.map(|ty| leaves(ty, join)));
        let mut level = leaf0.clone();
        for _ in 0..DEPTH {
            let p = level.clone();
            level = Level(TYPES.map(|ty| {
                let composites = match ty {
                    Ty::Int => int_composites(&p, &leaf0),
                    Ty::Float => float_composites(&p),
                    Ty::Str => str_composites(&p, &leaf0),
                    Ty::Bool => bool_composites(&p),
                    Ty::Date => date_composites(&p),
                    Ty::Ts => ts_composites(&p),
                };
                weighted(leaf0.of(ty).clone(), composites)
            }));
        }
        Grammar { top: level }
    }

    /// Expressions of type `ty`.
    pub fn expr(&self, ty: Ty) -> S {
        self.top.of(ty).clone()
    }

    /// Expressions of any type.
    pub fn any(&self) -> S {
        Union::new(TYPES.map(|ty| self.expr(ty))).boxed()
    }
}

/// Where a generated expression (`$1`) is placed: in WHERE, in CASE inside SUM, COUNT and
/// AVG, as a clamped SUM argument, as the argument of COUNT, as a GROUP BY key, and in the
/// WHERE of a join with the public table; with the type of expression each takes and the
/// placement's weight.
pub const PLACEMENTS: &[(&str, Place, u32)] = &[
    ("SELECT COUNT(*), SUM(i) FROM t WHERE $1", Place::Bool, 6),
    ("SELECT COUNT(*), SUM(CASE WHEN $1 THEN i ELSE 0 END) FROM t", Place::Bool, 3),
    ("SELECT COUNT(CASE WHEN $1 THEN 1 END), AVG(f) FROM t", Place::Bool, 2),
    ("SELECT AVG(CASE WHEN $1 THEN f END) FROM t", Place::Bool, 1),
    ("SELECT SUM(LEAST(GREATEST($1, -10), 10)) FROM t", Place::Number, 1),
    ("SELECT COUNT($1) FROM t", Place::Any, 3),
    ("SELECT CASE WHEN $1 THEN 'yes' ELSE 'no' END AS g, COUNT(*) FROM t GROUP BY 1", Place::Bool, 2),
    ("SELECT $1 AS g, COUNT(*) FROM t GROUP BY 1", Place::Any, 4),
    ("SELECT t.k, COUNT(*), SUM(f) FROM t WHERE $1 GROUP BY t.k", Place::Bool, 2),
    ("SELECT COUNT(*) FROM t JOIN p ON t.k = p.k WHERE $1", Place::JoinBool, 4),
];

/// What a placement takes.
#[derive(Debug, Clone, Copy)]
pub enum Place {
    /// A boolean over `t`.
    Bool,
    /// An integer or a float over `t`.
    Number,
    /// An expression of any type over `t`.
    Any,
    /// A boolean over `t` and `p`.
    JoinBool,
}

/// Statements with one generated expression each, in one of the [`PLACEMENTS`].
pub fn statements() -> S {
    let g = Grammar::new(false);
    let j = Grammar::new(true);
    let arms = PLACEMENTS
        .iter()
        .map(|(tpl, place, weight)| {
            let e = match place {
                Place::Bool => g.expr(Ty::Bool),
                Place::Number => Union::new([g.expr(Ty::Int), g.expr(Ty::Float)]).boxed(),
                Place::Any => g.any(),
                Place::JoinBool => j.expr(Ty::Bool),
            };
            (*weight, one(tpl, &e))
        })
        .collect();
    Union::new_weighted(arms).boxed()
}

/// The placement `sql` was generated in, with its expression cut out (`…`).
pub fn placement(sql: &str) -> String {
    PLACEMENTS
        .iter()
        .filter_map(|(tpl, _, _)| {
            let (pre, post) = tpl.split_once("$1")?;
            (sql.starts_with(pre) && sql.ends_with(post) && sql.len() >= pre.len() + post.len()).then(|| (pre.len() + post.len(), format!("{pre}…{post}")))
        })
        .max_by_key(|(n, _)| *n)
        .map(|(_, t)| t)
        .unwrap_or_else(|| "(no placement)".into())
}

#[cfg(test)]
mod tests {
    use super::fill;

    #[test]
    fn fill_substitutes_once() {
        assert_eq!(fill("f($1, $2)", &["'$2'", "x"]), "f('$2', x)");
        assert_eq!(fill("$3", &["a"]), "$3");
    }
}
