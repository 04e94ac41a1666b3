//! The two engines under test, and the stage-by-stage breakdown of a shuyu query.

use std::path::Path;
use std::time::{Duration, Instant};

use arrow::record_batch::RecordBatch;
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::displayable;
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use shuyu_compute::PrivateSession;
use shuyu_datasets::demo::DEMO_TABLES;
use shuyu_datasets::{demo_manifest, GenerateReport};
use shuyu_planner::{GrantedTable, QueryBudget, Scope};

use crate::workload::{Query, DELTA, EPSILON};

/// Errors of the benchmark (any engine's error, as text with its source).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// Result of the benchmark's fallible steps.
pub type Result<T> = std::result::Result<T, BoxError>;

/// A pure-DP budget of `epsilon` (the peers' budget is [`EPSILON`]).
pub fn budget_at(epsilon: f64) -> QueryBudget {
    QueryBudget::pure(epsilon)
}

/// The budget of `q` at `epsilon`: pure, or for queries that need partition selection the
/// zCDP it implies (rho = epsilon²/2) with [`DELTA`].
pub fn budget_of(q: &Query, epsilon: f64) -> QueryBudget {
    if q.zcdp {
        QueryBudget::zcdp(epsilon * epsilon / 2.0, DELTA)
    } else {
        budget_at(epsilon)
    }
}

fn rows(batches: &[RecordBatch]) -> usize {
    batches.iter().map(RecordBatch::num_rows).sum()
}

/// Plain DataFusion: the scope's session configuration, the same Parquet files.
pub async fn plain_context(data: &GenerateReport) -> Result<SessionContext> {
    let ctx = SessionContext::new_with_config(shuyu_planner::scope::session_config());
    for t in &data.tables {
        ctx.register_parquet(t.name.as_str(), t.path.to_string_lossy().as_ref(), ParquetReadOptions::default()).await?;
    }
    Ok(ctx)
}

/// shuyu: a private session over a full scope (every column of the four demo tables).
pub async fn private_session(dir: &Path) -> Result<PrivateSession> {
    let mut grants = Vec::with_capacity(DEMO_TABLES.len());
    for t in DEMO_TABLES {
        let m = demo_manifest(t).ok_or_else(|| format!("no demo manifest {t}"))?;
        grants.push(GrantedTable::new(m, None, dir.join(format!("{t}.parquet"))));
    }
    // The cold path: no exact result is reused between repetitions.
    Ok(PrivateSession::new(Scope::open(&grants).await?).with_exact_reuse(false))
}

/// Runs `sql` on plain DataFusion to completion; returns the wall time and rows.
pub async fn run_plain(ctx: &SessionContext, sql: &str) -> Result<(Duration, usize)> {
    let start = Instant::now();
    let batches = ctx.sql(sql).await?.collect().await?;
    Ok((start.elapsed(), rows(&batches)))
}

/// Runs `q` through shuyu (plan, calibrate, inner plans, noise, outer plan).
pub async fn run_private(s: &PrivateSession, q: &Query) -> Result<(Duration, usize)> {
    let (t, batches) = release(s, q, EPSILON).await?;
    Ok((t, rows(&batches)))
}

/// One shuyu release of `q` at `epsilon`: its wall time and the noisy answer.
pub async fn release(s: &PrivateSession, q: &Query, epsilon: f64) -> Result<(Duration, Vec<RecordBatch>)> {
    let start = Instant::now();
    let r = s.execute(q.sql, budget_of(q, epsilon)).await?;
    Ok((start.elapsed(), r.batches))
}

/// The exact answer of `sql` on plain DataFusion.
pub async fn exact(ctx: &SessionContext, sql: &str) -> Result<Vec<RecordBatch>> {
    Ok(ctx.sql(sql).await?.collect().await?)
}

/// Planning and calibration alone (reads no data).
pub async fn run_plan(s: &PrivateSession, q: &Query) -> Result<Duration> {
    let start = Instant::now();
    let _plan = s.plan(q.sql, budget_of(q, EPSILON)).await?;
    Ok(start.elapsed())
}

/// Where one shuyu execution spends its time.
///
/// Measured without re-implementing the engine: the inner and histogram plans of a planned
/// query are run (and timed) on their own, then a freshly planned copy goes through
/// `PrivateSession::execute_plan`; what execute_plan spends beyond those plans is assembly,
/// noise and the outer plan.
#[derive(Debug, Clone, Copy, Default)]
pub struct Breakdown {
    /// `PrivateSession::plan` (SQL planning, privacy analysis, calibration).
    pub plan: Duration,
    /// DataFusion on every release's inner (bounded, exact) plan.
    pub inner: Duration,
    /// DataFusion on the quantile histogram plans.
    pub histograms: Duration,
    /// `execute_plan` minus the inner and histogram plans: reading inner results, choosing
    /// keys, noise, building released batches, the outer plan.
    pub rest: Duration,
    /// `execute_plan` as a whole.
    pub execute: Duration,
    /// Rows (keys) the inner plans returned, over all releases.
    pub inner_rows: usize,
    /// Rows the histogram plans returned.
    pub histogram_rows: usize,
}

async fn collect(ctx: &SessionContext, plan: &LogicalPlan) -> Result<Vec<RecordBatch>> {
    Ok(ctx.execute_logical_plan(plan.clone()).await?.collect().await?)
}

/// One stage-by-stage run of `sql` (see [`Breakdown`]).
pub async fn breakdown(s: &PrivateSession, q: &Query) -> Result<Breakdown> {
    let sql = q.sql;
    let mut b = Breakdown::default();
    let ctx = s.scope().context();
    let plan = s.plan(sql, budget_of(q, EPSILON)).await?;
    for release in &plan.releases {
        let t = Instant::now();
        let inner = if !release.needs_inner() {
            Vec::new()
        } else {
            match collect(ctx, &release.plan).await {
            Err(e) if e.downcast_ref::<datafusion::error::DataFusionError>().is_some_and(shuyu_planner::bounding::is_not_clustered) => {
                collect(ctx, release.fallback.as_ref().expect("a streaming pass has a fallback")).await?
            }
            r => r?,
            }
        };
        b.inner += t.elapsed();
        b.inner_rows += rows(&inner);
        for h in &release.histograms {
            let t = Instant::now();
            let hb = collect(ctx, &h.plan).await?;
            b.histograms += t.elapsed();
            b.histogram_rows += rows(&hb);
        }
    }
    // Release slots are filled once per plan: execute a freshly planned copy.
    let t = Instant::now();
    let fresh = s.plan(sql, budget_of(q, EPSILON)).await?;
    b.plan = t.elapsed();
    let t = Instant::now();
    s.execute_plan(&fresh).await?;
    b.execute = t.elapsed();
    b.rest = b.execute.saturating_sub(b.inner + b.histograms);
    Ok(b)
}

async fn physical(ctx: &SessionContext, plan: LogicalPlan) -> Result<String> {
    let p = ctx.execute_logical_plan(plan).await?.create_physical_plan().await?;
    let text = displayable(p.as_ref()).indent(true).to_string();
    Ok(text)
}

/// The physical plans of `sql`: plain DataFusion's, then each shuyu inner and histogram plan.
pub async fn explain(ctx: &SessionContext, s: &PrivateSession, q: &Query) -> Result<String> {
    let sql = q.sql;
    let mut out = String::new();
    let plain = ctx.sql(sql).await?.into_optimized_plan()?;
    out.push_str(&format!("-- plain DataFusion\n{}", physical(ctx, plain).await?));
    let plan = s.plan(sql, budget_of(q, EPSILON)).await?;
    let sctx = s.scope().context();
    for r in &plan.releases {
        out.push_str(&format!("-- shuyu release {} inner plan\n{}", r.index, physical(sctx, r.plan.clone()).await?));
        for (i, h) in r.histograms.iter().enumerate() {
            out.push_str(&format!("-- shuyu release {} histogram {i}\n{}", r.index, physical(sctx, h.plan.clone()).await?));
        }
    }
    Ok(out)
}
