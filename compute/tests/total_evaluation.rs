//! Total evaluation, as a property: over adversarial personal data (zeros, NULLs, integer
//! and float extremes, NaN, infinities, empty and 100 KB strings, strings that look like
//! numbers, dates and regular expressions, calendar extremes), every generated statement
//! through the private path either
//! - is planned and then executes without error (**accepted**), or
//! - is refused at plan time with a [`Refusal`](shuyu_planner::Refusal) (**refused**), or
//! - does not plan at all: DataFusion rejects the SQL itself (type errors, unknown
//!   functions) before any row is read (**bad SQL**, counted apart from refusals);
//!
//! and never fails once planned (an error conditioned on one row is an exact oracle of it),
//! never ends in an internal error, and never panics.
//!
//! Expressions come from the typed grammar of `total/grammar.rs` (arithmetic, comparisons,
//! CASE, CAST and TRY_CAST to every type, string, regular-expression, date, math and array
//! functions, NULLIF, COALESCE), placed in WHERE, in CASE inside SUM, COUNT and AVG, as a
//! clamped SUM argument, as a GROUP BY key and in a join with a public table. Every
//! expression is its own statement, planned and executed on its own through the private
//! path (`PrivateSession::plan`, then `execute_plan`, as the server runs a job once its
//! budget is reserved); one session over one fixture is reused, and two statements run at
//! once (the machine's two cores). The first failure of every kind is shrunk with its
//! proptest value tree to a minimal statement failing the same way.
//!
//! The seed is fixed, so a run is reproducible. Environment: `SHUYU_TOTAL_CASES` (expressions,
//! default 10 000), `SHUYU_TOTAL_SEED`, `SHUYU_TOTAL_PROGRESS` (print counts every 500
//! expressions and every failure as it happens), and `SHUYU_TOTAL_SQL=<statement>`, which only
//! replays that statement and prints its outcome and the engine's own error. The summary is
//! printed (run with `-- --nocapture` to see it when the test passes) and written to
//! `total_evaluation.txt` in Cargo's test temporary directory. A statement still running
//! after 60 s means its per-row work is not bounded: the watchdog prints it and ends the test
//! process with a failure (a running query cannot be stopped, and would hold a core). This
//! is a failure of the property, not a timing assertion.
//!
//! Run: `cargo test -p shuyu-compute --test total_evaluation -- --nocapture`.

mod total;

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use futures::FutureExt;
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use shuyu_compute::{ComputeError, PrivateSession};
use shuyu_planner::{PlannerError, QueryBudget};

use total::grammar;
use total::report::{Fail, Outcome, Stats};

const DEFAULT_CASES: usize = 10_000;
const DEFAULT_SEED: u64 = 0x5eed_0012;
/// Shrinking steps per failure kind (its first failure is shrunk), and in all.
const SHRINK_STEPS: usize = 60;
const SHRINK_BUDGET: usize = 1_000;
/// Statements run at once (the machine's two cores).
const PARALLEL: usize = 2;
/// A statement still running after this long has unbounded per-row work.
const WATCHDOG: Duration = Duration::from_secs(60);
/// Share of statements that must be accepted and executed, so the test exercises execution.
const MIN_ACCEPTED: f64 = 0.30;

/// Time spent planning and executing, over all statements (the summary reports it).
static PLAN_NS: AtomicU64 = AtomicU64::new(0);
static EXEC_NS: AtomicU64 = AtomicU64::new(0);

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn budget() -> QueryBudget {
    // zCDP with a delta, so GROUP BY keys without a public domain can be selected.
    QueryBudget::zcdp(0.5, 1e-6)
}

/// The engine's own text of a failure that the engine hides (test data only: it may quote
/// a value). Replays every release's inner plan, then the outer plan, on the scope's context.
async fn raw_error(session: &PrivateSession, sql: &str) -> Option<String> {
    let plan = session.plan(sql, budget()).await.ok()?;
    let ctx = session.scope().context();
    for r in &plan.releases {
        let run = |p: datafusion::logical_expr::LogicalPlan| async move { ctx.execute_logical_plan(p).await?.collect().await };
        let mut result = run(r.plan.clone()).await;
        if let (Err(e), Some(fallback)) = (&result, &r.fallback) {
            if shuyu_planner::bounding::is_not_clustered(e) {
                result = run(fallback.clone()).await;
            }
        }
        if let Err(e) = result {
            return Some(e.strip_backtrace());
        }
        for h in &r.histograms {
            if let Err(e) = run(h.plan.clone()).await {
                return Some(e.strip_backtrace());
            }
        }
    }
    None
}

fn panic_text(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "non-text panic".into())
}

/// Plans, then executes, one statement, and says how it ended.
async fn evaluate(session: &PrivateSession, sql: &str) -> Outcome {
    let t0 = Instant::now();
    let planned = AssertUnwindSafe(session.plan(sql, budget())).catch_unwind().await;
    PLAN_NS.fetch_add(t0.elapsed().as_nanos() as u64, Ordering::Relaxed);
    let plan = match planned {
        Err(p) => return Outcome::Fail(Fail::new("panic at plan time", panic_text(p))),
        Ok(Err(ComputeError::Planner(PlannerError::Refused(r)))) => return Outcome::Refused(r.code.as_str()),
        Ok(Err(ComputeError::Planner(PlannerError::Plan(m)))) => return Outcome::BadSql(m),
        Ok(Err(e)) => return Outcome::Fail(Fail::new("error at plan time", e.to_string())),
        Ok(Ok(plan)) => plan,
    };
    let t1 = Instant::now();
    let executed = AssertUnwindSafe(session.execute_plan(&plan)).catch_unwind().await;
    EXEC_NS.fetch_add(t1.elapsed().as_nanos() as u64, Ordering::Relaxed);
    match executed {
        Ok(Ok(_)) => Outcome::Accepted,
        Err(p) => Outcome::Fail(Fail::new("panic at execution", panic_text(p))),
        Ok(Err(e)) => {
            let stage = match &e {
                ComputeError::Internal(_) | ComputeError::Planner(_) => "internal error at execution",
                _ => "accepted plan failed at execution",
            };
            let raw = raw_error(session, sql).await.unwrap_or_else(|| e.to_string());
            Outcome::Fail(Fail::new(stage, format!("{e} | engine: {raw}")))
        }
    }
}

/// Runs `f`, which runs `sqls`; if it has not returned within [`WATCHDOG`], prints them and
/// ends the process with a failure. A statement whose work per row is unbounded keeps a
/// worker busy, so a timer on the runtime itself could starve.
fn guarded<T>(sqls: &[String], f: impl FnOnce() -> T) -> T {
    let (done, wait) = mpsc::channel::<()>();
    let watched = sqls.to_vec();
    let dog = std::thread::spawn(move || {
        if let Err(mpsc::RecvTimeoutError::Timeout) = wait.recv_timeout(WATCHDOG) {
            eprintln!("FAILED: a statement was still running after {} s (its work per row is not bounded); one of:", WATCHDOG.as_secs());
            for q in &watched {
                eprintln!("  {q}");
            }
            std::process::exit(101);
        }
    });
    let out = f();
    let _ = done.send(());
    let _ = dog.join();
    out
}

/// [`evaluate`] on its own task, timed.
async fn run_one(session: Arc<PrivateSession>, sql: String) -> (Outcome, Duration) {
    let start = Instant::now();
    let outcome = match tokio::spawn(async move { evaluate(&session, &sql).await }).await {
        Ok(outcome) => outcome,
        Err(join) => Outcome::Fail(Fail::new("panic", join.to_string())),
    };
    (outcome, start.elapsed())
}

/// Runs statements at once on the runtime's workers, under the watchdog.
fn run_all(rt: &tokio::runtime::Runtime, session: &Arc<PrivateSession>, sqls: Vec<String>) -> Vec<(Outcome, Duration)> {
    guarded(&sqls, || rt.block_on(futures::future::join_all(sqls.iter().map(|q| run_one(session.clone(), q.clone())))))
}

/// Shrinks a failing expression's value tree to the simplest one whose statement fails the
/// same way, spending at most `budget` statements in all.
fn shrink(rt: &tokio::runtime::Runtime, session: &Arc<PrivateSession>, mut tree: Tree, kind: &str, budget: &mut usize) -> String {
    let same = |sql: String| matches!(run_all(rt, session, vec![sql]).pop(), Some((Outcome::Fail(f), _)) if f.kind() == kind);
    let mut best = tree.current();
    if !tree.simplify() {
        return best;
    }
    for _ in 0..SHRINK_STEPS {
        if *budget == 0 {
            break;
        }
        *budget -= 1;
        let candidate = tree.current();
        let step = if same(candidate.clone()) {
            best = candidate;
            tree.simplify()
        } else {
            tree.complicate()
        };
        if !step {
            break;
        }
    }
    best
}

/// One generated statement's value tree (for shrinking).
type Tree = Box<dyn ValueTree<Value = String>>;

#[test]
fn accepted_plans_never_fail_and_refusals_come_at_plan_time() {
    let cases: usize = env_or("SHUYU_TOTAL_CASES", DEFAULT_CASES);
    let seed: u64 = env_or("SHUYU_TOTAL_SEED", DEFAULT_SEED);
    let progress = std::env::var_os("SHUYU_TOTAL_PROGRESS").is_some();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(PARALLEL).enable_all().build().expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let scope = rt.block_on(total::fixture::scope(dir.path()));
    let session = Arc::new(PrivateSession::new(scope).with_exact_reuse(false));

    if let Ok(sql) = std::env::var("SHUYU_TOTAL_SQL") {
        // Replays one statement (from a report): how it ends, and the engine's own error.
        let (outcome, took) = run_all(&rt, &session, vec![sql.clone()]).pop().expect("one outcome");
        println!("{:.1} ms: {outcome:?}\nengine: {:?}", took.as_secs_f64() * 1e3, rt.block_on(raw_error(&session, &sql)));
        return;
    }
    let mut seed_bytes = [0u8; 32];
    seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let config = Config { failure_persistence: None, ..Config::default() };
    let mut runner = TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes));
    let statements = grammar::statements();

    // Panics are outcomes here (caught and classified); keep their default report quiet.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));

    let start = Instant::now();
    let mut stats = Stats::default();
    // First failures of every kind, with their trees for shrinking.
    let mut kinds: BTreeMap<String, (String, Fail, Tree)> = BTreeMap::new();
    let mut done = 0;
    while done < cases {
        if progress && done > 0 && done % 500 == 0 {
            eprintln!(
                "{done} expressions, {:.0} s: {} accepted, {} refused, {} bad SQL, {} failed",
                start.elapsed().as_secs_f64(),
                stats.accepted,
                stats.refused,
                stats.bad_sql,
                stats.failed
            );
        }
        let n = PARALLEL.min(cases - done);
        let trees: Vec<Tree> = (0..n).map(|_| Box::new(statements.new_tree(&mut runner).expect("a statement")) as Tree).collect();
        let sqls: Vec<String> = trees.iter().map(|t| t.current()).collect();
        let outcomes = run_all(&rt, &session, sqls.clone());
        done += n;
        for ((tree, sql), (outcome, took)) in trees.into_iter().zip(sqls).zip(outcomes) {
            stats.timed(&sql, took);
            stats.record(&sql, &outcome);
            if let Outcome::Fail(f) = outcome {
                if progress {
                    eprintln!("FAIL {}: {sql}", f.kind());
                }
                kinds.entry(f.kind()).or_insert((sql, f, tree));
            }
        }
    }
    let elapsed = start.elapsed();

    let mut minimal: Vec<(String, String, String, String)> = Vec::new();
    let mut budget = SHRINK_BUDGET;
    for (kind, (sql, fail, tree)) in kinds {
        let small = shrink(&rt, &session, tree, &kind, &mut budget);
        minimal.push((kind, fail.detail.clone(), small, sql));
    }
    std::panic::set_hook(default_hook);

    let mut summary = stats.summary(cases, elapsed);
    summary.push_str(&format!(
        "each expression planned and executed alone, {PARALLEL} at once; seed {seed:#x}\n\
         time in plan: {:.1} s, in execution: {:.1} s (summed over parallel statements, shrinking included)\n",
        PLAN_NS.load(Ordering::Relaxed) as f64 * 1e-9,
        EXEC_NS.load(Ordering::Relaxed) as f64 * 1e-9
    ));
    let report = total::report::failures(&minimal);
    println!("{summary}");
    if !report.is_empty() {
        println!("{report}");
    }
    let kept = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("total_evaluation.txt");
    if std::fs::write(&kept, format!("{summary}{report}")).is_ok() {
        println!("report written to {}", kept.display());
    }
    assert!(
        stats.failed == 0,
        "{} of {cases} expressions failed after planning or ended in an internal error (kinds and minimal statements above)",
        stats.failed
    );
    let accepted = stats.accepted as f64 / cases as f64;
    assert!(
        accepted >= MIN_ACCEPTED,
        "only {:.1} % of expressions were accepted and executed (at least {:.0} % expected): the test would not exercise execution",
        accepted * 100.0,
        MIN_ACCEPTED * 100.0
    );
}
