//! Metering of one job's scans (Art. 19): rows and bytes read from the datasets.
//!
//! A job's session gets a query planner that plans as DataFusion's default one does and
//! keeps every physical plan it made. When the job is over, the scan nodes of those plans
//! (file scans: the leaves that read Parquet) are summed: their `output_rows` and
//! `bytes_scanned` metrics. A private query runs several plans (one per release, the
//! histograms of quantiles, the outer plan); each scan counts, because each read the data.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use datafusion::datasource::physical_plan::FileScanConfig;
use datafusion::datasource::source::DataSourceExec;
use datafusion::execution::context::QueryPlanner;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::execution::SessionState;
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_planner::{DefaultPhysicalPlanner, PhysicalPlanner};
use datafusion::prelude::SessionContext;
use shuyu_planner::Scope;

/// The physical plans of one job, for reading their scan metrics at the end.
#[derive(Debug, Default)]
pub struct ScanMeter {
    plans: Mutex<Vec<Arc<dyn ExecutionPlan>>>,
}

/// Rows and bytes a job's scans read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Scanned {
    /// Rows the scans produced.
    pub rows: u64,
    /// Bytes the scans read from files.
    pub bytes: u64,
}

impl ScanMeter {
    /// A meter with no plans yet.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn record(&self, plan: Arc<dyn ExecutionPlan>) {
        if let Ok(mut plans) = self.plans.lock() {
            plans.push(plan);
        }
    }

    /// What the scans of every plan made so far have read.
    pub fn scanned(&self) -> Scanned {
        let mut total = Scanned::default();
        if let Ok(plans) = self.plans.lock() {
            for plan in plans.iter() {
                add_scans(plan.as_ref(), &mut total);
            }
        }
        total
    }
}

fn add_scans(plan: &dyn ExecutionPlan, total: &mut Scanned) {
    let children = plan.children();
    if children.is_empty() {
        let is_file_scan =
            plan.downcast_ref::<DataSourceExec>().is_some_and(|s| s.data_source().downcast_ref::<FileScanConfig>().is_some());
        if let (true, Some(m)) = (is_file_scan, plan.metrics()) {
            total.rows = total.rows.saturating_add(m.output_rows().unwrap_or(0) as u64);
            total.bytes = total.bytes.saturating_add(m.sum_by_name("bytes_scanned").map(|v| v.as_usize() as u64).unwrap_or(0));
        }
    }
    for child in children {
        add_scans(child.as_ref(), total);
    }
}

/// DataFusion's default planning, keeping each physical plan in a meter.
#[derive(Debug)]
struct MeteringPlanner {
    meter: Arc<ScanMeter>,
}

#[async_trait]
impl QueryPlanner for MeteringPlanner {
    async fn create_physical_plan(
        &self,
        logical_plan: &LogicalPlan,
        session_state: &dyn datafusion::catalog::Session,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        let plan = DefaultPhysicalPlanner::default().create_physical_plan(logical_plan, session_state).await?;
        self.meter.record(plan.clone());
        Ok(plan)
    }
}

/// The same scope (tables, configuration, memory pool) whose plans are kept in `meter`.
pub fn metered(scope: &Scope, meter: &Arc<ScanMeter>) -> Scope {
    let base: SessionState = scope.context().state();
    let state = SessionStateBuilder::new_from_existing(base).with_query_planner(Arc::new(MeteringPlanner { meter: meter.clone() })).build();
    scope.with_context(SessionContext::new_with_state(state))
}
