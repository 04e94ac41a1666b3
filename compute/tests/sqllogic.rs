//! The sqllogictest suite of shuyu's SQL surface: every `tests/slt/*.slt` file, one fresh
//! [`PrivateSession`] per file (as DataFusion's own sqllogictest runs them).
//!
//! Run: `cargo test -p shuyu-compute --test sqllogic` (all files), or with
//! `SHUYU_SLT=<substring>` to run only the files whose name contains it. Every record of a
//! file runs even after a failure; all failures are reported together at the end, and
//! `-- --nocapture` also shows the records that fail as their `xfail` marker expects.
//!
//! # File directives
//! Directives are `#` comment lines of the form `# key: value`:
//!
//! | directive | where | meaning |
//! |---|---|---|
//! | `# scope: health` \| `jobs` \| `full` \| `zcdp` | first line | the authorization the session holds (fixtures of `common/mod.rs`): `health` = residents without name and ID number, medical_visits, districts; `jobs` = residents' person_id, district, age, employed, enterprises, districts; `full` = every demo table and column; `zcdp` = `full` with the budget `zcdp 0.5 1e-6`. Required. |
//! | `# budget: pure <epsilon>` | anywhere | pure-DP budget of the following queries (default `pure 1.0`, or `zcdp 0.5 1e-6` in the `zcdp` scope) |
//! | `# budget: zcdp <rho> <delta>` | anywhere | zCDP budget with a delta for partition selection |
//! | ... `max_groups=<n>` `max_rows=<n>` | after a budget | lowers the contribution bounds for the following queries |
//! | `# xfail: <reason>` | before a record | the record documents a known engine bug: its expectation is the CORRECT behaviour, and it must currently FAIL; once it passes the runner reports it, so the marker is removed with the fix |
//!
//! Any other comment is a comment.
//!
//! # Values
//! Floats are printed with at most 6 significant digits, trailing zeros trimmed, never in
//! scientific notation (`3.37562`, `2`, `0.333333`, `89872000`), so EXPLAIN PRIVACY output is
//! stable across the tiny upward nudges of calibrated scales. NULL prints as `NULL`, an empty
//! string as `(empty)`, booleans as `true`/`false`. Column types: `I` integers, `R` floats and
//! decimals, `T` anything else; types are checked strictly (`query ITR` must match the
//! result). sqllogictest's `<slt:ignore>` marker skips a volatile fragment of an expected
//! output (used where a known bug's value would otherwise pin a record; see `xfail`).
//!
//! # Errors
//! `statement error <regex>` / `query error <regex>` match the error's Display: refusals read
//! `refused [CODE]: message`, SQL that does not plan reads `invalid query: ...`.
//!
//! # Noisy results
//! Accepted queries over personal data return noised values, which no expected output can
//! pin down. Test them only through forms that cannot be flaky:
//! - `statement ok` — the query is accepted and runs.
//! - `statement count <n>` — it runs and returns exactly `n` rows (public key sets: every key
//!   of the domain is released, so the count is fixed; `LIMIT n` on the released rows).
//! - `SHAPE <sql>` (a prefix the runner understands, not SQL) — runs `<sql>` and returns one
//!   row per result column, `<name> <arrow type>`, then `(rows) <n>`; use `query TT`.
//! - `COLUMNS <sql>` — the same without the row count, for results whose number of rows is
//!   itself noisy (partition selection, HAVING on noised values); use `query TT`.
//! - `COST <sql>` — runs `<sql>` and returns one row: the budget's unit (`epsilon`/`rho`),
//!   the cost spent, the delta spent and the number of measurements; use `query TRRI`.
//!
//! EXPLAIN PRIVACY output and queries over public tables only are deterministic: test their
//! exact rows with `query`.

mod common;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use arrow::array::{Array, ArrayRef};
use arrow::datatypes::DataType;
use arrow::record_batch::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use shuyu_compute::{PrivateSession, QueryResult};
use shuyu_planner::{QueryBudget, Scope};
use sqllogictest::{DBOutput, DefaultColumnType, Record, Runner};

/// An error as the `.slt` files see it: the engine's Display.
#[derive(Debug)]
struct SltError(String);

impl std::fmt::Display for SltError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SltError {}

/// One connection: a private session and the budget the file's directives set.
struct ShuyuDb {
    session: PrivateSession,
    budget: Arc<Mutex<QueryBudget>>,
}

/// What the runner does with one SQL text.
enum Form<'a> {
    Plain(&'a str),
    Shape(&'a str),
    Columns(&'a str),
    Cost(&'a str),
}

fn form(sql: &str) -> Form<'_> {
    let t = sql.trim_start();
    let (first, rest) = match t.split_once(char::is_whitespace) {
        Some((a, b)) => (a, b.trim_start()),
        None => (t, ""),
    };
    match first.to_ascii_uppercase().as_str() {
        "SHAPE" => Form::Shape(rest),
        "COLUMNS" => Form::Columns(rest),
        "COST" => Form::Cost(rest),
        _ => Form::Plain(sql),
    }
}

#[async_trait::async_trait]
impl sqllogictest::AsyncDB for ShuyuDb {
    type Error = SltError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, SltError> {
        let budget = *self.budget.lock().expect("budget lock");
        let run = |q: &str| {
            let q = q.to_string();
            let session = self.session.clone();
            async move { session.execute(&q, budget).await.map_err(|e| SltError(e.to_string())) }
        };
        match form(sql) {
            Form::Plain(q) => {
                let r = run(q).await?;
                Ok(rows_output(&r))
            }
            f @ (Form::Shape(q) | Form::Columns(q)) => {
                let with_rows = matches!(f, Form::Shape(_));
                let r = run(q).await?;
                let mut rows: Vec<Vec<String>> =
                    r.schema.fields().iter().map(|f| vec![f.name().clone(), f.data_type().to_string()]).collect();
                if with_rows {
                    rows.push(vec!["(rows)".into(), r.num_rows().to_string()]);
                }
                Ok(DBOutput::Rows { types: vec![DefaultColumnType::Text; 2], rows })
            }
            Form::Cost(q) => {
                let r = run(q).await?;
                Ok(DBOutput::Rows {
                    types: vec![
                        DefaultColumnType::Text,
                        DefaultColumnType::FloatingPoint,
                        DefaultColumnType::FloatingPoint,
                        DefaultColumnType::Integer,
                    ],
                    rows: vec![vec![
                        budget.definition.unit_name().to_string(),
                        fmt_f64(r.cost),
                        fmt_f64(r.delta),
                        r.releases.to_string(),
                    ]],
                })
            }
        }
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "shuyu"
    }
}

fn column_type(dt: &DataType) -> DefaultColumnType {
    if dt.is_integer() {
        DefaultColumnType::Integer
    } else if dt.is_floating() || matches!(dt, DataType::Decimal128(..) | DataType::Decimal256(..)) {
        DefaultColumnType::FloatingPoint
    } else {
        DefaultColumnType::Text
    }
}

fn rows_output(r: &QueryResult) -> DBOutput<DefaultColumnType> {
    let types = r.schema.fields().iter().map(|f| column_type(f.data_type())).collect();
    let mut rows = Vec::new();
    for b in &r.batches {
        rows.extend(batch_rows(b));
    }
    DBOutput::Rows { types, rows }
}

fn batch_rows(b: &RecordBatch) -> Vec<Vec<String>> {
    let cols: Vec<Box<dyn Fn(usize) -> String + '_>> = b.columns().iter().map(cell_formatter).collect();
    (0..b.num_rows()).map(|i| cols.iter().map(|c| c(i)).collect()).collect()
}

fn cell_formatter(a: &ArrayRef) -> Box<dyn Fn(usize) -> String + '_> {
    use arrow::array::{AsArray, Float32Array, Float64Array};
    match a.data_type() {
        DataType::Float64 => {
            let a: &Float64Array = a.as_primitive();
            Box::new(move |i| if a.is_null(i) { "NULL".into() } else { fmt_f64(a.value(i)) })
        }
        DataType::Float32 => {
            let a: &Float32Array = a.as_primitive();
            Box::new(move |i| if a.is_null(i) { "NULL".into() } else { fmt_f64(f64::from(a.value(i))) })
        }
        _ => {
            let opts = FormatOptions::default().with_null("NULL");
            match ArrayFormatter::try_new(a.as_ref(), &opts) {
                Ok(f) => Box::new(move |i| {
                    if a.is_null(i) {
                        return "NULL".into();
                    }
                    let s = f.value(i).to_string();
                    if s.is_empty() {
                        "(empty)".into()
                    } else {
                        s
                    }
                }),
                Err(e) => {
                    let msg = format!("<unformattable: {e}>");
                    Box::new(move |_| msg.clone())
                }
            }
        }
    }
}

/// At most 6 significant digits, trailing zeros trimmed, never scientific notation.
fn fmt_f64(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if v == 0.0 {
        return "0".into();
    }
    // Round to 6 significant digits through the decimal exponent form, then print the
    // shortest representation of the rounded value.
    let rounded: f64 = format!("{v:.5e}").parse().expect("a formatted float parses");
    let s = format!("{rounded}");
    if s == "-0" {
        "0".into()
    } else {
        s
    }
}

/// Directives of one file.
struct FileDirectives {
    scope: String,
}

fn parse_budget(spec: &str) -> Result<QueryBudget, String> {
    let words: Vec<&str> = spec.split_whitespace().collect();
    let num = |i: usize| -> Result<f64, String> {
        words
            .get(i)
            .ok_or_else(|| format!("budget `{spec}`: missing a number"))?
            .parse::<f64>()
            .map_err(|e| format!("budget `{spec}`: {e}"))
    };
    let (mut b, used) = match words.first().copied() {
        Some("pure") => (QueryBudget::pure(num(1)?), 2),
        Some("zcdp") => (QueryBudget::zcdp(num(1)?, num(2)?), 3),
        _ => return Err(format!("budget `{spec}`: expected `pure <epsilon>` or `zcdp <rho> <delta>`")),
    };
    let (mut groups, mut rows) = (None, None);
    for w in &words[used..] {
        match w.split_once('=') {
            Some(("max_groups", n)) => groups = Some(n.parse::<u32>().map_err(|e| format!("budget `{spec}`: {e}"))?),
            Some(("max_rows", n)) => rows = Some(n.parse::<u32>().map_err(|e| format!("budget `{spec}`: {e}"))?),
            _ => return Err(format!("budget `{spec}`: unknown option `{w}`")),
        }
    }
    if groups.is_some() || rows.is_some() {
        b = b.with_bounds(groups, rows);
    }
    Ok(b)
}

/// `key: value` of a directive comment line (the parser strips the leading `#`).
fn directive(line: &str) -> Option<(&str, &str)> {
    let (k, v) = line.trim().split_once(':')?;
    let k = k.trim();
    matches!(k, "scope" | "budget" | "xfail").then_some((k, v.trim()))
}

fn read_header(path: &Path) -> Result<FileDirectives, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let first = text.lines().next().unwrap_or("");
    match first.strip_prefix('#').and_then(directive) {
        Some(("scope", s)) => Ok(FileDirectives { scope: s.to_string() }),
        _ => Err(format!("{}: the first line must be `# scope: health|jobs|full|zcdp`", path.display())),
    }
}

async fn open_scope(name: &str) -> Result<(Scope, QueryBudget), String> {
    match name {
        "health" => Ok((common::health_scope().await, QueryBudget::pure(1.0))),
        "jobs" => Ok((common::jobs_scope().await, QueryBudget::pure(1.0))),
        "full" => Ok((common::full_scope().await, QueryBudget::pure(1.0))),
        "zcdp" => Ok((common::full_scope().await, QueryBudget::zcdp(0.5, 1e-6))),
        other => Err(format!("unknown scope `{other}`")),
    }
}

/// Runs one file in a fresh session; returns the failures (empty when it passes) and the
/// number of records that ran.
async fn run_file(path: &Path) -> (Vec<String>, usize) {
    let name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    let header = match read_header(path) {
        Ok(h) => h,
        Err(e) => return (vec![e], 0),
    };
    let (scope, default_budget) = match open_scope(&header.scope).await {
        Ok(s) => s,
        Err(e) => return (vec![format!("{name}: {e}")], 0),
    };
    let session = PrivateSession::new(scope);
    let budget = Arc::new(Mutex::new(default_budget));
    let conn_budget = budget.clone();
    let mut runner = Runner::new(move || {
        let db = ShuyuDb { session: session.clone(), budget: conn_budget.clone() };
        async move { Ok::<_, SltError>(db) }
    });
    runner.with_column_validator(sqllogictest::strict_column_validator);

    let records = match sqllogictest::parse_file::<DefaultColumnType>(path) {
        Ok(r) => r,
        Err(e) => return (vec![format!("{name}: parse error: {e}")], 0),
    };
    let mut failures = Vec::new();
    let mut xfail: Option<String> = None;
    let mut ran = 0usize;
    for record in records {
        match &record {
            Record::Comment(lines) => {
                for line in lines {
                    match directive(line) {
                        Some(("budget", spec)) => match parse_budget(spec) {
                            Ok(b) => *budget.lock().expect("budget lock") = b,
                            Err(e) => failures.push(format!("{name}: {e}")),
                        },
                        Some(("xfail", reason)) => xfail = Some(reason.to_string()),
                        _ => {}
                    }
                }
                continue;
            }
            Record::Statement { .. } | Record::Query { .. } => {}
            _ => {
                if let Err(e) = runner.run_async(record).await {
                    failures.push(format!("{}", e.display(false)));
                }
                continue;
            }
        }
        let loc = match &record {
            Record::Statement { loc, .. } | Record::Query { loc, .. } => loc.clone(),
            _ => unreachable!("filtered above"),
        };
        ran += 1;
        let result = runner.run_async(record).await;
        match (xfail.take(), result) {
            (None, Ok(_)) => {}
            (None, Err(e)) => failures.push(format!("{}", e.display(false))),
            (Some(_), Err(e)) => {
                eprintln!("{loc}: expected failure (known bug) still fails: {}", e.display(false));
            }
            (Some(reason), Ok(_)) => failures.push(format!(
                "{loc}: this record is marked `# xfail: {reason}` but now passes: the bug is fixed, remove the marker"
            )),
        }
    }
    (failures, ran)
}

fn slt_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("slt");
    let filter = std::env::var("SHUYU_SLT").ok();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/slt exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "slt"))
        .filter(|p| filter.as_deref().is_none_or(|f| p.file_name().is_some_and(|n| n.to_string_lossy().contains(f))))
        .collect();
    files.sort();
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqllogictest_suite() {
    let files = slt_files();
    assert!(!files.is_empty(), "no .slt files found");
    let mut all = Vec::new();
    let mut total = 0;
    for f in &files {
        let start = std::time::Instant::now();
        let (failures, ran) = run_file(f).await;
        total += ran;
        println!(
            "{}: {ran} records, {} failures, {:.2?}",
            f.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default(),
            failures.len(),
            start.elapsed()
        );
        all.extend(failures);
    }
    println!("sqllogictest: {} files, {total} records", files.len());
    assert!(all.is_empty(), "{} sqllogictest failures:\n\n{}", all.len(), all.join("\n\n"));
}

#[test]
fn float_format_is_stable() {
    assert_eq!(fmt_f64(1.0), "1");
    assert_eq!(fmt_f64(0.49999999999), "0.5");
    assert_eq!(fmt_f64(3.375627), "3.37563");
    assert_eq!(fmt_f64(30000000.000001), "30000000");
    assert_eq!(fmt_f64(89871968.7), "89872000");
    assert_eq!(fmt_f64(-2.5), "-2.5");
    assert_eq!(fmt_f64(0.000123456789), "0.000123457");
    assert_eq!(fmt_f64(0.0), "0");
}

#[test]
fn budget_directives_parse() {
    assert_eq!(parse_budget("pure 1.0").unwrap(), QueryBudget::pure(1.0));
    assert_eq!(parse_budget("zcdp 0.5 1e-6").unwrap(), QueryBudget::zcdp(0.5, 1e-6));
    assert_eq!(parse_budget("pure 2 max_rows=4").unwrap(), QueryBudget::pure(2.0).with_bounds(None, Some(4)));
    assert!(parse_budget("laplace 1").is_err());
    assert!(parse_budget("pure 1 max_cols=3").is_err());
}
