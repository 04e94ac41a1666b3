//! The sqllogictest suite of shuyu's SQL surface: every `slt/*.slt` file of this crate, run
//! by one runner over any [`Backend`]: the library (a compute [`PrivateSession`] for the
//! scope files, the [`Runtime`] for the dev and encrypted files) and a Flight SQL client
//! against the server on 127.0.0.1:0. Each file runs in a fresh session of its backend.
//!
//! Run: `cargo test -p shuyu-tests --test sqllogic` (all files, both paths), or with
//! `SHUYU_SLT=<substring>` to run only the files whose name contains it. Every record of a
//! file runs even after a failure; all failures are reported together at the end, and
//! `-- --nocapture` also shows the records that fail as their `xfail` marker expects.
//!
//! # File directives
//! Directives are `#` comment lines of the form `# key: value`:
//!
//! | directive | where | meaning |
//! |---|---|---|
//! | `# scope: health` \| `jobs` \| `full` \| `zcdp` \| `dev` \| `encrypted` | first line | what the session holds ([`domain`]): `health` = residents without name and ID number, medical_visits, districts; `jobs` = residents' person_id, district, age, employed, enterprises, districts; `full` = every demo table and column; `zcdp` = `full` with the budget `zcdp 0.5 1e-6`; `dev` = the health unit's authorization in the dev environment (masked samples, plain SQL, nothing charged); `encrypted` = the employment unit's authorization with an approved import `claims` (run by `tests/encrypted.rs` after its set-up). Required. |
//! | `# budget: pure <epsilon>` | anywhere | pure-DP budget of the following queries (default `pure 1.0`, or `zcdp 0.5 1e-6` in the `zcdp` scope) |
//! | `# budget: zcdp <rho> <delta>` | anywhere | zCDP budget with a delta for partition selection |
//! | ... `max_groups=<n>` `max_rows=<n>` | after a budget | lowers the contribution bounds for the following queries |
//! | `# xfail: <reason>` | before a record | the record documents a known engine bug: its expectation is the CORRECT behaviour, and it must currently FAIL; once it passes the runner reports it, so the marker is removed with the fix |
//!
//! Any other comment is a comment.
//!
//! A governed path (the runtime, Flight SQL) spends what one query of its authorization may:
//! the amount travels as `x-shuyu-budget`, the definition and delta are the authorization's.
//! A record whose budget it cannot state (another definition or delta, an amount that is not
//! positive, lowered bounds) is skipped on that path and counted in its report; the library
//! path runs every record.
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
//! `statement error <regex>` / `query error <regex>` match the error's text, which is the
//! same on every path: refusals read `refused [CODE]: message`, SQL that does not plan reads
//! `invalid query: ...` (over Flight SQL, the gRPC status message).
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
//!   the cost spent, the delta spent and the number of measurements; use `query TRRI`
//!   (over Flight SQL read from the answer's `shuyu.*` schema metadata).
//!
//! EXPLAIN PRIVACY output and queries over public tables only are deterministic: test their
//! exact rows with `query`.
//!
//! [`PrivateSession`]: shuyu_compute::PrivateSession
//! [`Runtime`]: shuyu_runtime::Runtime

pub mod backends;
pub mod domain;
pub mod output;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use shuyu_planner::QueryBudget;
use sqllogictest::{DBOutput, DefaultColumnType, Record, Runner};

/// What one statement answered, on any path.
#[derive(Debug, Clone)]
pub struct Answered {
    /// The result's schema.
    pub schema: SchemaRef,
    /// Its rows.
    pub batches: Vec<RecordBatch>,
    /// Cost spent, epsilon or rho.
    pub cost: f64,
    /// Delta spent.
    pub delta: f64,
    /// Measurements released.
    pub releases: usize,
}

/// One way of running SQL: the library or the wire.
#[async_trait::async_trait]
pub trait Backend: Send + Sync {
    /// Whether this path can run a query under `budget` as stated (a governed path spends
    /// only its authorization's definition and delta, and has no way to lower bounds).
    fn states(&self, budget: &QueryBudget) -> bool;
    /// Runs `sql` under `budget`; the error is the text the analyst sees.
    async fn run(&self, sql: &str, budget: &QueryBudget) -> Result<Answered, String>;
}

/// An error as the `.slt` files see it: the text the analyst sees.
#[derive(Debug)]
pub struct SltError(String);

impl std::fmt::Display for SltError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SltError {}

/// One connection of the runner: a backend and the budget the file's directives set.
struct SltDb {
    backend: Arc<dyn Backend>,
    budget: Arc<Mutex<QueryBudget>>,
}

#[async_trait::async_trait]
impl sqllogictest::AsyncDB for SltDb {
    type Error = SltError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, SltError> {
        let budget = *self.budget.lock().expect("budget lock");
        let form = output::form(sql);
        let answer = self.backend.run(form.sql(), &budget).await.map_err(SltError)?;
        Ok(output::output(form, &answer, budget.definition.unit_name()))
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "shuyu"
    }
}

/// What running one file gave.
#[derive(Debug, Default)]
pub struct FileReport {
    /// Failures, each with its location (empty when the file passes).
    pub failures: Vec<String>,
    /// Records run.
    pub ran: usize,
    /// Records skipped because the path cannot state their budget.
    pub skipped: usize,
}

/// Parses a `# budget:` directive.
pub fn parse_budget(spec: &str) -> Result<QueryBudget, String> {
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

/// The scope a file names on its first line.
pub fn file_scope(path: &Path) -> Result<String, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let first = text.lines().next().unwrap_or("");
    match first.strip_prefix('#').and_then(directive) {
        Some(("scope", s)) => Ok(s.to_string()),
        _ => Err(format!("{}: the first line must be `# scope: health|jobs|full|zcdp|dev|encrypted`", path.display())),
    }
}

/// The budget a file starts with in `scope`.
pub fn default_budget(scope: &str) -> QueryBudget {
    if scope == "zcdp" {
        QueryBudget::zcdp(0.5, 1e-6)
    } else {
        QueryBudget::pure(1.0)
    }
}

/// Runs one file over `backend`, starting with `budget`.
pub async fn run_file(path: &Path, backend: Arc<dyn Backend>, budget: QueryBudget) -> FileReport {
    let name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    let mut report = FileReport::default();
    let budget = Arc::new(Mutex::new(budget));
    let (conn_backend, conn_budget) = (backend.clone(), budget.clone());
    let mut runner = Runner::new(move || {
        let db = SltDb { backend: conn_backend.clone(), budget: conn_budget.clone() };
        async move { Ok::<_, SltError>(db) }
    });
    runner.with_column_validator(sqllogictest::strict_column_validator);
    let records = match sqllogictest::parse_file::<DefaultColumnType>(path) {
        Ok(r) => r,
        Err(e) => {
            report.failures.push(format!("{name}: parse error: {e}"));
            return report;
        }
    };
    let mut xfail: Option<String> = None;
    for record in records {
        let loc = match &record {
            Record::Comment(lines) => {
                for line in lines {
                    match directive(line) {
                        Some(("budget", spec)) => match parse_budget(spec) {
                            Ok(b) => *budget.lock().expect("budget lock") = b,
                            Err(e) => report.failures.push(format!("{name}: {e}")),
                        },
                        Some(("xfail", reason)) => xfail = Some(reason.to_string()),
                        _ => {}
                    }
                }
                continue;
            }
            Record::Statement { loc, .. } | Record::Query { loc, .. } => loc.clone(),
            _ => {
                if let Err(e) = runner.run_async(record).await {
                    report.failures.push(format!("{}", e.display(false)));
                }
                continue;
            }
        };
        if !backend.states(&budget.lock().expect("budget lock")) {
            report.skipped += 1;
            xfail = None;
            continue;
        }
        report.ran += 1;
        let result = runner.run_async(record).await;
        match (xfail.take(), result) {
            (None, Ok(_)) => {}
            (None, Err(e)) => report.failures.push(format!("{}", e.display(false))),
            (Some(_), Err(e)) => eprintln!("{loc}: expected failure (known bug) still fails: {}", e.display(false)),
            (Some(reason), Ok(_)) => report.failures.push(format!(
                "{loc}: this record is marked `# xfail: {reason}` but now passes: the bug is fixed, remove the marker"
            )),
        }
    }
    report
}

/// The suite's files (`SHUYU_SLT` filters them by name), sorted.
pub fn files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("slt");
    let filter = std::env::var("SHUYU_SLT").ok();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("slt/ exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "slt"))
        .filter(|p| filter.as_deref().is_none_or(|f| p.file_name().is_some_and(|n| n.to_string_lossy().contains(f))))
        .collect();
    files.sort();
    files
}

/// The file of the suite named `name`.
pub fn file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("slt").join(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_directives_parse() {
        assert_eq!(parse_budget("pure 1.0").unwrap(), QueryBudget::pure(1.0));
        assert_eq!(parse_budget("zcdp 0.5 1e-6").unwrap(), QueryBudget::zcdp(0.5, 1e-6));
        assert_eq!(parse_budget("pure 2 max_rows=4").unwrap(), QueryBudget::pure(2.0).with_bounds(None, Some(4)));
        assert!(parse_budget("laplace 1").is_err());
        assert!(parse_budget("pure 1 max_cols=3").is_err());
    }
}
