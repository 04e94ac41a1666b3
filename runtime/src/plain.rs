//! The dev path: the same SQL, planned by plain DataFusion (no privacy rewrite; row-level
//! output allowed) over the authorization's granted tables and columns of the masked
//! samples ([`crate::dev`]). No budget is touched; the job is recorded as `dev`.
//! `EXPLAIN PRIVACY` there shows what the private plan would be and cost in prod, planned
//! over the samples.

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use datafusion::execution::context::SQLOptions;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::DataFrame;
use futures::StreamExt;
use shuyu_compute::{ComputeError, PrivateSession};
use shuyu_governance::Environment;
use shuyu_planner::{PlannerError, Scope};
use tokio::time::timeout_at;

use crate::services::Services;
use crate::job::Job;
use crate::limits::with_memory_limit;
use crate::metering::{metered, ScanMeter};
use crate::results::{rebatch, with_environment};
use crate::call::{Call, DevOutcome};
use crate::scope_cache::CachedScope;
use crate::RuntimeError;

/// Most rows of one dev result.
pub const DEV_MAX_ROWS: usize = 1_000_000;

/// What plain SQL may do in dev: query only (no DDL, no DML, no statements, so no external
/// table and no file written).
pub fn query_only() -> SQLOptions {
    SQLOptions::new().with_allow_ddl(false).with_allow_dml(false).with_allow_statements(false)
}

/// Runs `inner` (the statement `sql` without its `EXPLAIN PRIVACY` prefix) for `call` on
/// the masked samples in `cached`, as one `dev` job.
pub async fn run(rt: &Services, call: &Call, cached: &CachedScope, sql: &str, inner: &str, explain: bool) -> Result<DevOutcome, RuntimeError> {
    let meter = ScanMeter::new();
    let scope = metered(&with_memory_limit(&cached.scope, rt.limits().memory_bytes())?, &meter);
    let job = Job::open(rt.store(), &call.principal, call.authorization, sql, Environment::Dev, &cached.tables, meter).await?;
    let deadline = tokio::time::Instant::now() + rt.limits().timeout();
    let ran = if explain {
        match timeout_at(deadline, PrivateSession::new(scope).explain(inner, cached.budget)).await {
            Ok(Ok(batch)) => Ok((batch.schema(), vec![batch])),
            Ok(Err(e)) => Err(RuntimeError::from(e)),
            Err(_) => Err(RuntimeError::Timeout(rt.limits().timeout())),
        }
    } else {
        match timeout_at(deadline, collect(&scope, inner)).await {
            Ok(r) => r,
            Err(_) => Err(RuntimeError::Timeout(rt.limits().timeout())),
        }
    };
    let (schema, batches) = match ran {
        Ok(r) => r,
        Err(e) => return job.fail(e).await,
    };
    let id = job.id();
    let settled = job.succeed(0.0, 0.0, 0).await?;
    let schema = with_environment(&schema, Environment::Dev);
    let batches = rebatch(batches, &schema)?;
    Ok(DevOutcome { schema, batches, job: id, metering: settled.metering })
}

/// The planned query `sql` over a dev scope; refuses EXPLAIN (physical plans name the
/// server's files).
async fn planned(scope: &Scope, sql: &str) -> Result<DataFrame, RuntimeError> {
    let df = scope
        .context()
        .sql_with_options(sql, query_only())
        .await
        .map_err(|e| RuntimeError::Planner(PlannerError::Plan(e.strip_backtrace())))?;
    if matches!(df.logical_plan(), LogicalPlan::Explain(_) | LogicalPlan::Analyze(_)) {
        return Err(RuntimeError::Usage("EXPLAIN is not served; use EXPLAIN PRIVACY to see how prod would answer".into()));
    }
    Ok(df)
}

/// The result schema of `sql` over a dev scope, without running it.
pub async fn schema(scope: &Scope, sql: &str) -> Result<SchemaRef, RuntimeError> {
    Ok(Arc::new(planned(scope, sql).await?.schema().as_arrow().clone()))
}

/// Plain DataFusion over a dev scope: execution errors reduced to a value-free category.
async fn collect(scope: &Scope, sql: &str) -> Result<(SchemaRef, Vec<RecordBatch>), RuntimeError> {
    let df = planned(scope, sql).await?;
    let planned: SchemaRef = Arc::new(df.schema().as_arrow().clone());
    let failed = |e: datafusion::error::DataFusionError| RuntimeError::from(ComputeError::from_execution(e));
    // Results are held in memory until fetched: a row cap keeps a runaway join (the pool
    // bounds operators, not the collected output) from taking the server's memory.
    let mut stream = df.execute_stream().await.map_err(failed)?;
    let (mut batches, mut rows) = (Vec::new(), 0usize);
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(failed)?;
        rows += batch.num_rows();
        if rows > DEV_MAX_ROWS {
            return Err(RuntimeError::Busy(format!("a dev result may have at most {DEV_MAX_ROWS} rows; add a LIMIT or filters")));
        }
        batches.push(batch);
    }
    let schema = batches.first().map(RecordBatch::schema).unwrap_or(planned);
    Ok((schema, batches))
}
