//! Where a release's exact inner plans run: the seam between the private engine and the
//! data engine.
//!
//! [`InnerEngine::Local`] runs them in the scope's own DataFusion context, in this process.
//! [`InnerEngine::Ballista`] sends them to a Ballista cluster: each plan's personal
//! datasets are wrapped for shipping ([`shuyu_cluster::table::ship`]), the plan goes to
//! the scheduler with shuyu's codecs, executors run it, and the exact, contribution-bounded
//! aggregates come back here, to the front end, and nowhere else. Only the inner plans of
//! releases (the bounding pass, its fallback and quantile histograms) take this path;
//! noise, calibration, the ledger and the post-processing plan always run in the front end.
//!
//! A cluster's failures arrive as text; [`crate::ComputeError::from_cluster`] reduces them
//! to the same value-free errors the local engine gives.

use std::sync::Arc;

use arrow::record_batch::RecordBatch;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;

use crate::error::{ComputeError, Result};

/// A Ballista cluster the front end sends inner plans to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BallistaEngine {
    /// The scheduler's URL, `http://host:port`.
    pub scheduler_url: String,
    /// Target partitions of the cluster's plans (file scan splits and shuffles); `None`:
    /// the scope's setting.
    pub partitions: Option<usize>,
}

/// Where inner plans run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum InnerEngine {
    /// In the scope's DataFusion context, in this process.
    #[default]
    Local,
    /// On a Ballista cluster.
    Ballista(Arc<BallistaEngine>),
}

impl InnerEngine {
    /// The cluster at `scheduler_url`.
    pub fn ballista(scheduler_url: impl Into<String>, partitions: Option<usize>) -> Self {
        InnerEngine::Ballista(Arc::new(BallistaEngine { scheduler_url: scheduler_url.into(), partitions }))
    }

    /// The engine's name, as configured (`local`, `ballista`).
    pub fn name(&self) -> &'static str {
        match self {
            InnerEngine::Local => "local",
            InnerEngine::Ballista(_) => "ballista",
        }
    }

    /// Runs `plan` (planned in `ctx`, the scope's context) and collects its batches. Errors
    /// are returned unmapped, for the caller to recognise [`shuyu_planner::bounding::NotClustered`];
    /// map them with [`InnerEngine::map_error`].
    pub async fn try_collect(&self, ctx: &SessionContext, plan: &LogicalPlan) -> datafusion::error::Result<Vec<RecordBatch>> {
        match self {
            InnerEngine::Local => ctx.execute_logical_plan(plan.clone()).await?.collect().await,
            InnerEngine::Ballista(b) => {
                let remote = shuyu_cluster::session::ballista_context(ctx, &b.scheduler_url, b.partitions)?;
                let shipped = shuyu_cluster::table::ship(plan.clone())?;
                remote.execute_logical_plan(shipped).await?.collect().await
            }
        }
    }

    /// Runs `plan` and collects its batches, errors mapped to value-free compute errors.
    pub async fn collect(&self, ctx: &SessionContext, plan: &LogicalPlan) -> Result<Vec<RecordBatch>> {
        self.try_collect(ctx, plan).await.map_err(|e| self.map_error(e))
    }

    /// The compute error of an error this engine raised.
    pub fn map_error(&self, e: datafusion::error::DataFusionError) -> ComputeError {
        match self {
            InnerEngine::Local => ComputeError::from_execution(e),
            InnerEngine::Ballista(_) => ComputeError::from_cluster(e),
        }
    }
}
