//! Outcomes of generated statements, their counts, and the report of failures by kind.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

/// A statement that planned and then failed, or ended in an internal error or a panic.
#[derive(Debug, Clone)]
pub struct Fail {
    /// Where it ended: "accepted plan failed at execution", "panic at plan time", …
    pub stage: &'static str,
    /// What was said (for execution failures, shuyu's text and the engine's own).
    pub detail: String,
}

impl Fail {
    /// A failure at `stage` saying `detail`.
    pub fn new(stage: &'static str, detail: impl Into<String>) -> Self {
        Fail { stage, detail: detail.into() }
    }

    /// The failure's kind: its stage and the engine's message with values blanked out, so
    /// that failures of one function on different values fall together.
    pub fn kind(&self) -> String {
        let text = self.detail.rsplit(" | engine: ").next().unwrap_or(&self.detail);
        format!("{}: {}", self.stage, normalize(text.lines().next().unwrap_or("")))
    }
}

/// Blanks quoted text and numbers, and keeps the first 140 characters.
fn normalize(text: &str) -> String {
    let mut out = String::new();
    let mut quote: Option<char> = None;
    let mut in_number = false;
    for c in text.chars() {
        match quote {
            Some(q) if c == q => {
                quote = None;
                out.push(c);
            }
            Some(_) => {}
            None if c == '\'' || c == '"' || c == '`' => {
                quote = Some(c);
                out.push_str(&format!("{c}…"));
            }
            None if c.is_ascii_digit() => {
                if !in_number {
                    out.push('N');
                }
                in_number = true;
                continue;
            }
            None => out.push(c),
        }
        in_number = false;
    }
    out.chars().take(140).collect()
}

/// How one statement ended.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Planned, then executed.
    Accepted,
    /// Refused at plan time, with this code.
    Refused(&'static str),
    /// DataFusion rejected the SQL at plan time (this message).
    BadSql(String),
    /// Anything else: a failure of the property.
    Fail(Fail),
}

/// Counts of outcomes over a run.
#[derive(Debug, Default)]
pub struct Stats {
    /// Accepted and executed.
    pub accepted: usize,
    /// Refused at plan time.
    pub refused: usize,
    /// Rejected by DataFusion at plan time.
    pub bad_sql: usize,
    /// Failures of the property.
    pub failed: usize,
    refusal_codes: BTreeMap<&'static str, usize>,
    bad_sql_kinds: BTreeMap<String, usize>,
    fail_kinds: BTreeMap<String, usize>,
    /// Per statement template (the SQL with its expression cut out): accepted, refused, bad, failed.
    templates: BTreeMap<String, [usize; 4]>,
    /// The slowest statements (wall time, SQL), slowest first.
    slowest: Vec<(Duration, String)>,
}

/// Slowest statements kept for the summary.
const SLOWEST: usize = 8;

fn template(sql: &str) -> String {
    super::grammar::placement(sql)
}

impl Stats {
    /// Counts one statement's outcome.
    pub fn record(&mut self, sql: &str, o: &Outcome) {
        let slot = match o {
            Outcome::Accepted => {
                self.accepted += 1;
                0
            }
            Outcome::Refused(code) => {
                self.refused += 1;
                *self.refusal_codes.entry(code).or_default() += 1;
                1
            }
            Outcome::BadSql(m) => {
                self.bad_sql += 1;
                *self.bad_sql_kinds.entry(normalize(m.lines().next().unwrap_or(""))).or_default() += 1;
                2
            }
            Outcome::Fail(f) => {
                self.failed += 1;
                *self.fail_kinds.entry(f.kind()).or_default() += 1;
                3
            }
        };
        self.templates.entry(template(sql)).or_default()[slot] += 1;
    }

    /// Notes one statement's wall time (the slowest are listed).
    pub fn timed(&mut self, sql: &str, took: Duration) {
        if self.slowest.len() < SLOWEST || self.slowest.last().is_some_and(|l| l.0 < took) {
            self.slowest.push((took, sql.to_string()));
            self.slowest.sort_by(|a, b| b.0.cmp(&a.0));
            self.slowest.truncate(SLOWEST);
        }
    }

    /// The printed summary.
    pub fn summary(&self, cases: usize, elapsed: Duration) -> String {
        let mut s = String::new();
        let pct = |n: usize| 100.0 * n as f64 / cases.max(1) as f64;
        let _ = writeln!(s, "total evaluation: {cases} expressions in {:.1} s", elapsed.as_secs_f64());
        let _ = writeln!(s, "  accepted and executed: {:6} ({:.1} %)", self.accepted, pct(self.accepted));
        let _ = writeln!(s, "  refused at plan time:  {:6} ({:.1} %)", self.refused, pct(self.refused));
        let _ = writeln!(s, "  bad SQL (plan time):   {:6} ({:.1} %)", self.bad_sql, pct(self.bad_sql));
        let _ = writeln!(s, "  FAILED:                {:6} ({:.1} %)", self.failed, pct(self.failed));
        let _ = writeln!(s, "refusal codes:");
        for (c, n) in &self.refusal_codes {
            let _ = writeln!(s, "  {n:6}  {c}");
        }
        let _ = writeln!(s, "bad SQL, most frequent messages:");
        let mut bad: Vec<_> = self.bad_sql_kinds.iter().collect();
        bad.sort_by(|a, b| b.1.cmp(a.1));
        for (m, n) in bad.iter().take(15) {
            let _ = writeln!(s, "  {n:6}  {m}");
        }
        let _ = writeln!(s, "by placement (accepted / refused / bad SQL / failed):");
        for (t, c) in &self.templates {
            let _ = writeln!(s, "  {:5} {:5} {:5} {:5}  {t}", c[0], c[1], c[2], c[3]);
        }
        let _ = writeln!(s, "slowest statements:");
        for (d, q) in &self.slowest {
            let _ = writeln!(s, "  {:8.1} ms  {}", d.as_secs_f64() * 1e3, q.chars().take(300).collect::<String>());
        }
        if !self.fail_kinds.is_empty() {
            let _ = writeln!(s, "failures by kind:");
            let mut k: Vec<_> = self.fail_kinds.iter().collect();
            k.sort_by(|a, b| b.1.cmp(a.1));
            for (m, n) in k {
                let _ = writeln!(s, "  {n:6}  {m}");
            }
        }
        s
    }
}

/// The report of failures: per kind, the first statement's message and its shrunk form.
pub fn failures(minimal: &[(String, String, String, String)]) -> String {
    let mut s = String::new();
    let mut last = "";
    for (kind, detail, small, first) in minimal {
        if kind != last {
            let _ = writeln!(s, "\n== {kind}");
            let _ = writeln!(s, "   says: {}", detail.chars().take(400).collect::<String>());
            last = kind;
        }
        let _ = writeln!(s, "   minimal: {small}");
        if small != first {
            let _ = writeln!(s, "   (from:   {})", first.chars().take(400).collect::<String>());
        }
    }
    s
}
