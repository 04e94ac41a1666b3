//! The timing channel, measured: the same query with one resident's condition true and
//! false, run interleaved many times, and the difference of the medians set against the
//! bound the threat model states.
//!
//! Every pair is `SELECT COUNT(*) FROM residents WHERE <predicate>`, where the predicate
//! evaluates a costly expression only on the row where `person_id = X AND income > T`:
//! with `T` half a unit below X's income the condition is true on X's row, half a unit
//! above it is false on every row. What one query can reveal through its duration is the
//! difference between the two. The bound `docs/threat-model.md` states is what evaluating
//! the costly branch costs on the rows one person may have: per row of that person, the
//! expression's cost on one row plus the engine's overhead of evaluating a CASE branch on
//! a selection of its batch. Both are measured in the same run, amplified over the whole
//! table so that noise does not hide them:
//! - **per row**: the same query with the condition true on every row against the
//!   condition alone, with no costly expression, divided by the rows: what the costly
//!   branch costs on one row, however the engine evaluates a CASE;
//! - **per selection**: true on one row of every batch (`person_id % <batch size> = 0`,
//!   the rows being in `person_id` order) against never true, divided by those rows, and
//!   counted as 0 when its interval holds 0 (with CASE evaluated eagerly there is no
//!   overhead of a selection to measure).
//!
//! bound = `max_rows` × (per row + per selection), `max_rows` being 1 on a one-row-per-unit
//! table. The figure is the ratio of the difference of medians to the bound, so it does not
//! depend on the machine or the build; about 1 or below means one person's condition moves
//! the time by no more than the stated bound.
//!
//! A candidate that the planner refuses is reported as refused at plan time (the repeat
//! attack of issue 12 is one that must be); one that fails at run time is reported with
//! the engine's error, and neither stops the run.

use std::path::Path;
use std::time::{Duration, Instant};

use datafusion::prelude::SessionContext;
use serde_json::{json, Value};
use shuyu_compute::PrivateSession;
use shuyu_datasets::RowsPerUnit;
use shuyu_planner::QueryBudget;

use crate::runner::Result;
use crate::service::Service;

/// One candidate expression. `{cond}` in `predicate` is replaced by the condition on one
/// resident (or, for the per-row baseline, by a condition true or false on every row).
#[derive(Debug, Clone, Copy)]
pub struct Candidate {
    /// Short stable name.
    pub name: &'static str,
    /// The WHERE predicate, with `{cond}` where the condition goes.
    pub predicate: &'static str,
    /// Whether the planner must refuse it (a work-amplifying attack).
    pub expect_refused: bool,
}

/// The candidates: the most expensive expressions that stay allowed on a costly branch, and
/// the repeat attack, which must be refused. Edit freely; names are keys of the report.
pub const CANDIDATES: &[Candidate] = &[
    Candidate {
        name: "regex_literal",
        predicate: "CASE WHEN {cond} THEN regexp_like(concat(district, gender, district), '^(.*(区|县|市|新)){2,4}.*(男|女)?.*$') ELSE TRUE END",
        expect_refused: false,
    },
    Candidate {
        name: "regex_replace",
        predicate: "CASE WHEN {cond} THEN length(regexp_replace(concat(district, district, district, district), '(区|县|市)', 'xyz')) > 2 ELSE TRUE END",
        expect_refused: false,
    },
    Candidate {
        name: "string_building",
        predicate: "CASE WHEN {cond} THEN length(lower(upper(concat(district, gender, district, gender, district, gender)))) > 3 ELSE TRUE END",
        expect_refused: false,
    },
    Candidate {
        name: "math",
        predicate: "CASE WHEN {cond} THEN sqrt(income) + ln(income + 1) + power(income, 0.3) + exp(income / 200000.0) + cos(income) + atan2(income, age + 1) > 0 ELSE TRUE END",
        expect_refused: false,
    },
    Candidate {
        name: "case_chain",
        predicate: "CASE WHEN {cond} THEN CASE \
            WHEN income < 1000 THEN age > 1 WHEN income < 2000 THEN age > 2 WHEN income < 3000 THEN age > 3 \
            WHEN income < 4000 THEN age > 4 WHEN income < 5000 THEN age > 5 WHEN income < 6000 THEN age > 6 \
            WHEN income < 7000 THEN age > 7 WHEN income < 8000 THEN age > 8 WHEN income < 9000 THEN age > 9 \
            WHEN income < 10000 THEN age > 10 WHEN income < 20000 THEN age > 11 WHEN income < 30000 THEN age > 12 \
            WHEN income < 40000 THEN age > 13 WHEN income < 50000 THEN age > 14 WHEN income < 75000 THEN age > 15 \
            WHEN income < 100000 THEN age > 16 ELSE age > 99 END ELSE TRUE END",
        expect_refused: false,
    },
    Candidate {
        name: "repeat_attack",
        predicate: "length(repeat('ab', CASE WHEN {cond} THEN 200000000 ELSE 1 END)) > 0",
        expect_refused: true,
    },
];

/// Repetitions of a candidate accepted although it was expected to be refused (each true
/// run of the repeat attack takes seconds).
const ATTACK_REPS: usize = 10;
/// Interleaved pairs of each baseline (per row, per selection).
const BASELINE_REPS: usize = 15;
/// Bootstrap resamples of the interval of the difference of medians.
const BOOTSTRAP: usize = 2000;

/// Options of the phase.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Interleaved (true, false) pairs per candidate.
    pub reps: usize,
    /// Whether to measure over Flight SQL too.
    pub flight: bool,
}

/// One engine's measurement of one candidate.
#[derive(Debug, Clone)]
pub struct Channel {
    /// Median wall time with the condition true on the target's row, ms.
    pub median_true_ms: f64,
    /// Median with it false, ms.
    pub median_false_ms: f64,
    /// 95 % bootstrap interval of the difference of medians, ms.
    pub ci_ms: (f64, f64),
    /// Every run, ms, in order.
    pub runs_true_ms: Vec<f64>,
    /// Every run, ms, in order.
    pub runs_false_ms: Vec<f64>,
}

impl Channel {
    fn of(t: &[Duration], f: &[Duration]) -> Self {
        let (t, f): (Vec<f64>, Vec<f64>) = (t.iter().map(ms).collect(), f.iter().map(ms).collect());
        Channel { median_true_ms: median(&t), median_false_ms: median(&f), ci_ms: bootstrap(&t, &f), runs_true_ms: t, runs_false_ms: f }
    }

    /// Difference of medians (true − false), ms.
    pub fn diff_ms(&self) -> f64 {
        self.median_true_ms - self.median_false_ms
    }

    fn to_json(&self, bound_ms: Option<f64>) -> Value {
        json!({
            "median_true_ms": self.median_true_ms,
            "median_false_ms": self.median_false_ms,
            "diff_ms": self.diff_ms(),
            "diff_ci95_ms": [self.ci_ms.0, self.ci_ms.1],
            "ratio_to_bound": bound_ms.map(|b| self.diff_ms() / b),
            "ratio_ci95": bound_ms.map(|b| [self.ci_ms.0 / b, self.ci_ms.1 / b]),
            "runs_true_ms": self.runs_true_ms,
            "runs_false_ms": self.runs_false_ms,
        })
    }
}

/// How a candidate ended.
#[derive(Debug, Clone)]
pub enum Status {
    /// Measured.
    Measured,
    /// Refused at plan time (the refusal's text).
    Refused(String),
    /// Failed (the error).
    Failed(String),
}

/// One candidate's results.
#[derive(Debug, Clone)]
pub struct CandidateResult {
    /// The candidate.
    pub candidate: Candidate,
    /// How it ended.
    pub status: Status,
    /// Extra cost of the costly branch per row, ms (the per-row baseline), if measurable.
    pub per_row_ms: Option<f64>,
    /// Extra cost of taking the branch on a selection of one row of a batch, ms (the
    /// per-selection baseline, 0 when not measurable).
    pub per_selection_ms: Option<f64>,
    /// Why there is no baseline.
    pub baseline_note: Option<String>,
    /// Pairs run (fewer than asked for an accepted attack).
    pub reps: usize,
    /// In process.
    pub engine: Option<Channel>,
    /// Over Flight SQL.
    pub flight: Option<Channel>,
    /// Why Flight SQL was not measured or failed.
    pub flight_note: Option<String>,
}

/// The phase's results.
#[derive(Debug, Clone)]
pub struct TimingResult {
    /// Size label.
    pub label: String,
    /// Rows of `residents`.
    pub rows: u64,
    /// `max_rows` of residents (1 for a one-row-per-unit table).
    pub max_rows: u32,
    /// The target resident's `person_id`.
    pub target: i64,
    /// Rows per batch of the engine (the spacing of the per-selection baseline).
    pub batch_size: usize,
    /// Per candidate.
    pub candidates: Vec<CandidateResult>,
}

impl CandidateResult {
    /// The stated bound: (per-row cost + per-selection cost) × max_rows, ms.
    pub fn bound_ms(&self, max_rows: u32) -> Option<f64> {
        self.per_row_ms.map(|p| (p + self.per_selection_ms.unwrap_or(0.0)) * f64::from(max_rows))
    }
}

fn ms(d: &Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => s[n / 2],
        _ => (s[n / 2 - 1] + s[n / 2]) / 2.0,
    }
}

/// SplitMix64: a fixed-seed generator for the bootstrap (reproducible intervals).
struct SplitMix(u64);

impl SplitMix {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) % n as u64) as usize
    }
}

/// 95 % percentile-bootstrap interval of median(t) − median(f).
fn bootstrap(t: &[f64], f: &[f64]) -> (f64, f64) {
    if t.is_empty() || f.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let mut rng = SplitMix(0x5eed);
    let mut diffs: Vec<f64> = (0..BOOTSTRAP)
        .map(|_| {
            let a: Vec<f64> = (0..t.len()).map(|_| t[rng.below(t.len())]).collect();
            let b: Vec<f64> = (0..f.len()).map(|_| f[rng.below(f.len())]).collect();
            median(&a) - median(&b)
        })
        .collect();
    diffs.sort_by(f64::total_cmp);
    (diffs[BOOTSTRAP * 25 / 1000], diffs[BOOTSTRAP * 975 / 1000 - 1])
}

fn sql(c: &Candidate, cond: &str) -> String {
    format!("SELECT COUNT(*) FROM residents WHERE {}", c.predicate.replace("{cond}", cond))
}

/// A resident in the middle of the file with an income well inside the bounds.
async fn target(plain: &SessionContext, rows: u64) -> Result<(i64, f64)> {
    let q = format!("SELECT person_id, income FROM residents WHERE income > 1000 AND income < 190000 ORDER BY person_id LIMIT 1 OFFSET {}", rows / 4);
    let b = plain.sql(&q).await?.collect().await?;
    let b = b.iter().find(|b| b.num_rows() > 0).ok_or("no resident with an income in (1000, 190000)")?;
    let id = arrow::array::cast::AsArray::as_primitive::<arrow::datatypes::Int64Type>(b.column(0).as_ref()).value(0);
    let income = arrow::array::cast::AsArray::as_primitive::<arrow::datatypes::Float64Type>(b.column(1).as_ref()).value(0);
    Ok((id, income))
}

/// The one count `sql` answers, exactly (plain DataFusion: the bench's own reference).
async fn count(plain: &SessionContext, sql: &str) -> Result<u64> {
    Ok(plain.sql(sql).await?.collect().await?.first().map_or(0, |b| {
        arrow::array::cast::AsArray::as_primitive::<arrow::datatypes::Int64Type>(b.column(0).as_ref()).value(0) as u64
    }))
}

async fn timed(s: &PrivateSession, sql: &str) -> std::result::Result<Duration, shuyu_compute::ComputeError> {
    let start = Instant::now();
    s.execute(sql, QueryBudget::pure(1.0)).await?;
    Ok(start.elapsed())
}

/// Runs `a(j)` and `b(j)` interleaved for `j` in `0..reps` through `run`; the first error
/// stops it. The statements differ from one repetition to the next (a constant moves by a
/// thousandth), so that no repetition is answered from the scope's cache of exact
/// aggregates, as an attacker varying `T` would make sure of.
async fn pairs<F, Fut, E>(reps: usize, a: impl Fn(usize) -> String, b: impl Fn(usize) -> String, mut run: F) -> std::result::Result<(Vec<Duration>, Vec<Duration>), E>
where
    F: FnMut(String) -> Fut,
    Fut: std::future::Future<Output = std::result::Result<Duration, E>>,
{
    let (mut ta, mut tb) = (Vec::with_capacity(reps), Vec::with_capacity(reps));
    let mut coin = SplitMix(0x00de7);
    for j in 0..reps {
        // Which of the two runs first is drawn per pair, so that what one run leaves
        // behind (caches, allocator state) favours neither side.
        if coin.below(2) == 0 {
            ta.push(run(a(j)).await?);
            tb.push(run(b(j)).await?);
        } else {
            tb.push(run(b(j)).await?);
            ta.push(run(a(j)).await?);
        }
    }
    Ok((ta, tb))
}

/// A thousandth per repetition, below half a unit for every repetition count used here.
fn nudge(j: usize) -> f64 {
    (j % 400) as f64 * 1e-3
}

/// Measures every candidate at one size.
pub async fn run(dir: &Path, plain: &SessionContext, private: &PrivateSession, label: &str, opts: Options) -> Result<TimingResult> {
    let residents = private.scope().catalog().table("residents").ok_or("residents is not in scope")?;
    let unit = residents.privacy_unit.as_ref().ok_or("residents has no privacy unit")?;
    let max_rows = if unit.rows_per_unit == RowsPerUnit::One { 1 } else { unit.max_rows };
    let rows = count(plain, "SELECT COUNT(*) FROM residents").await?;
    let (id, income) = target(plain, rows).await?;
    let batch = private.scope().context().state().config().batch_size();
    let selections = count(plain, &format!("SELECT COUNT(*) FROM residents WHERE person_id % {batch} = 0")).await?;
    let cond_true = |j: usize| format!("person_id = {id} AND income > {:.3}", income - 0.5 + nudge(j));
    let cond_false = |j: usize| format!("person_id = {id} AND income > {:.3}", income + 0.5 + nudge(j));
    let svc = if opts.flight { Some(Service::start(dir, crate::service::limits(4)).await?) } else { None };
    let mut out = Vec::new();
    for c in CANDIDATES {
        let (st, sf) = (|j| sql(c, &cond_true(j)), |j| sql(c, &cond_false(j)));
        let mut r = CandidateResult {
            candidate: *c,
            status: Status::Measured,
            per_row_ms: None,
            per_selection_ms: None,
            baseline_note: None,
            reps: if c.expect_refused { opts.reps.min(ATTACK_REPS) } else { opts.reps },
            engine: None,
            flight: None,
            flight_note: None,
        };
        if let Err(e) = private.plan(&st(0), QueryBudget::pure(1.0)).await {
            r.status = if e.refusal().is_some() { Status::Refused(e.to_string()) } else { Status::Failed(e.to_string()) };
            eprintln!("[{label}] timing {}: {}", c.name, if e.refusal().is_some() { "refused at plan time" } else { "does not plan" });
            out.push(r);
            continue;
        }
        // Baselines: the costly branch taken on every row against the same condition with
        // no costly expression at all (what evaluating the branch costs, whichever way the
        // engine evaluates a CASE), and taken on one row of every batch against never.
        let all = |j: usize| sql(c, &format!("person_id >= 0 AND income > {}", -1.0 - nudge(j)));
        let none = |j: usize| format!("SELECT COUNT(*) FROM residents WHERE person_id >= 0 AND income > {}", -1.0 - nudge(j));
        let sparse = |j: usize| sql(c, &format!("person_id % {batch} = 0 AND income > {}", -1.0 - nudge(j)));
        let never = |j: usize| sql(c, &format!("person_id % {batch} = -1 AND income > {}", -1.0 - nudge(j)));
        let diff = |a: &[Duration], b: &[Duration]| median(&a.iter().map(ms).collect::<Vec<_>>()) - median(&b.iter().map(ms).collect::<Vec<_>>());
        match pairs(BASELINE_REPS, all, none, |q| async move { timed(private, &q).await }).await {
            Ok((a, b)) => {
                let per_row = diff(&a, &b) / rows as f64;
                if per_row > 0.0 {
                    r.per_row_ms = Some(per_row);
                } else {
                    r.baseline_note = Some("the costly branch is not measurably costlier than the cheap one over the whole table".into());
                }
            }
            Err(e) => r.baseline_note = Some(format!("the costly branch fails over the whole table: {e}")),
        }
        if r.per_row_ms.is_some() && selections > 0 {
            match pairs(BASELINE_REPS, sparse, never, |q| async move { timed(private, &q).await }).await {
                // A difference whose interval holds 0 is not measurable: the selection adds
                // nothing to the bound.
                Ok((a, b)) => {
                    let c = Channel::of(&a, &b);
                    r.per_selection_ms = Some(if c.ci_ms.0 > 0.0 { c.diff_ms() / selections as f64 } else { 0.0 });
                }
                Err(e) => r.baseline_note = Some(format!("the costly branch fails on one row per batch: {e}")),
            }
        }
        match pairs(r.reps, st, sf, |q| async move { timed(private, &q).await }).await {
            Ok((t, f)) => r.engine = Some(Channel::of(&t, &f)),
            Err(e) => r.status = Status::Failed(e.to_string()),
        }
        if let (Some(svc), Status::Measured) = (&svc, &r.status) {
            // Same interleaving, on one connection (a client call borrows it mutably).
            let mut client = svc.client(1.0).await?;
            let mut t = Vec::with_capacity(r.reps);
            let mut f = Vec::with_capacity(r.reps);
            let mut failed = None;
            let mut coin = SplitMix(0x00de7);
            for j in 0..r.reps {
                let first_true = coin.below(2) == 0;
                let (x, y) = if first_true { (st(j), sf(j)) } else { (sf(j), st(j)) };
                let (x, y) = (client.query(&x).await, client.query(&y).await);
                match if first_true { (x, y) } else { (y, x) } {
                    (Ok(a), Ok(b)) => {
                        t.push(a.elapsed);
                        f.push(b.elapsed);
                    }
                    (Err(e), _) | (_, Err(e)) => {
                        failed = Some(e.to_string());
                        break;
                    }
                }
            }
            match failed {
                None => r.flight = Some(Channel::of(&t, &f)),
                Some(e) => r.flight_note = Some(format!("failed: {e}")),
            }
        } else if svc.is_none() {
            r.flight_note = Some("not measured (--no-flight)".into());
        }
        if let Some(e) = &r.engine {
            eprintln!(
                "[{label}] timing {}: median true {:.2} ms, false {:.2} ms, diff {:.3} ms, ratio to bound {}",
                c.name,
                e.median_true_ms,
                e.median_false_ms,
                e.diff_ms(),
                r.bound_ms(max_rows).map(|b| format!("{:.2}", e.diff_ms() / b)).unwrap_or_else(|| "n/a".into())
            );
        }
        out.push(r);
    }
    if let Some(svc) = svc {
        svc.stop().await?;
    }
    Ok(TimingResult { label: label.to_string(), rows, max_rows, target: id, batch_size: batch, candidates: out })
}

fn ratio_text(c: &Channel, bound: Option<f64>) -> String {
    match bound {
        Some(b) => format!("{:.2} [{:.2}, {:.2}]", c.diff_ms() / b, c.ci_ms.0 / b, c.ci_ms.1 / b),
        None => "n/a".into(),
    }
}

fn channel_text(c: &Option<Channel>) -> String {
    match c {
        Some(c) => format!("{:.2} / {:.2} | {:+.3} [{:+.3}, {:+.3}]", c.median_true_ms, c.median_false_ms, c.diff_ms(), c.ci_ms.0, c.ci_ms.1),
        None => "– | –".into(),
    }
}

impl TimingResult {
    /// As JSON (every run's time included).
    pub fn to_json(&self) -> Value {
        json!({
            "size": self.label,
            "rows": self.rows,
            "max_rows": self.max_rows,
            "target_person_id": self.target,
            "batch_size": self.batch_size,
            "protocol": "per candidate: condition true on the target's row, then false, interleaved; bound = max_rows x (per-row cost of \
                         the costly branch (whole-table true minus the condition alone, over rows) + per-selection cost (true on one row \
                         per batch minus never, over those rows)); ratio = difference of medians / bound",
            "candidates": self.candidates.iter().map(|r| {
                let bound = r.bound_ms(self.max_rows);
                json!({
                    "name": r.candidate.name,
                    "predicate": r.candidate.predicate,
                    "expect_refused": r.candidate.expect_refused,
                    "status": match &r.status { Status::Measured => "measured", Status::Refused(_) => "refused at plan time", Status::Failed(_) => "failed" },
                    "message": match &r.status { Status::Measured => None, Status::Refused(m) | Status::Failed(m) => Some(m) },
                    "reps": r.reps,
                    "per_row_ms": r.per_row_ms,
                    "per_selection_ms": r.per_selection_ms,
                    "bound_ms": bound,
                    "baseline_note": r.baseline_note,
                    "engine": r.engine.as_ref().map(|c| c.to_json(bound)),
                    "flight": r.flight.as_ref().map(|c| c.to_json(bound)),
                    "flight_note": r.flight_note,
                })
            }).collect::<Vec<_>>(),
        })
    }

    /// The report's section (Markdown).
    pub fn markdown(&self) -> String {
        let mut s = format!(
            "## Timing channel ({}: {} residents, max_rows {})\n\n\
             `SELECT COUNT(*) FROM residents WHERE <predicate>`, the costly branch taken only when `person_id = X AND income > T` \
             (X = {}; T half a unit below X's income: true, above: false; T moves by a thousandth per repetition so that no answer \
             comes from the cache of exact aggregates), interleaved true/false in an order drawn per pair. diff = median(true) − median(false) \
             with a 95 % bootstrap interval; bound (`docs/threat-model.md`) = max_rows × (per row + per selection): per row = the query \
             true on every row minus the condition alone (no costly expression), over the rows: what the costly branch costs per row; per selection = true on one row of every batch of {} \
             rows minus never, over those rows (0 when its interval holds 0); ratio = diff / bound (about 1 or below: one person's condition moves the time by no \
             more than the stated bound; an interval that holds 0: no difference measurable at these repetitions; far above 1 with an \
             interval clear of 0: the work per row is not bounded).\n\n\
             | candidate | status | pairs | per row µs | per selection µs | bound µs | in process: median true / false ms | diff ms [95 %] | ratio [95 %] | Flight SQL: median true / false ms | diff ms [95 %] | ratio [95 %] |\n\
             |---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
            self.label, self.rows, self.max_rows, self.target, self.batch_size
        );
        let mut notes = Vec::new();
        for r in &self.candidates {
            let bound = r.bound_ms(self.max_rows);
            let status = match (&r.status, r.candidate.expect_refused) {
                (Status::Measured, true) => "**accepted, expected refused**".to_string(),
                (Status::Measured, false) => "measured".to_string(),
                (Status::Refused(_), true) => "refused at plan time (expected)".to_string(),
                (Status::Refused(_), false) => "refused at plan time".to_string(),
                (Status::Failed(_), _) => "**failed**".to_string(),
            };
            let ratio = |c: &Option<Channel>| c.as_ref().map(|c| ratio_text(c, bound)).unwrap_or_else(|| "–".into());
            let us = |v: Option<f64>| v.map(|b| format!("{:.3}", b * 1e3)).unwrap_or_else(|| "n/a".into());
            s.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
                r.candidate.name,
                status,
                r.reps,
                us(r.per_row_ms),
                us(r.per_selection_ms),
                us(bound),
                channel_text(&r.engine),
                ratio(&r.engine),
                channel_text(&r.flight),
                ratio(&r.flight),
            ));
            if let Status::Refused(m) | Status::Failed(m) = &r.status {
                notes.push(format!("- `{}`: {}", r.candidate.name, m.lines().next().unwrap_or("")));
            }
            if let Some(n) = &r.baseline_note {
                notes.push(format!("- `{}` baseline: {n}", r.candidate.name));
            }
            if let Some(n) = r.flight_note.as_ref().filter(|_| matches!(r.status, Status::Measured)) {
                notes.push(format!("- `{}` over Flight SQL: {n}", r.candidate.name));
            }
        }
        if !notes.is_empty() {
            s.push('\n');
            s.push_str(&notes.join("\n"));
            s.push('\n');
        }
        s.push('\n');
        s
    }
}
