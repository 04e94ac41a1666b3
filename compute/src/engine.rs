//! The library entry point: a private session over one scope.
//!
//! `execute(sql, budget)` plans the SQL, calibrates every measurement, runs each release's
//! inner plan exactly, draws noise, then runs the post-processing plan over noised values
//! only. `explain` does everything but reading data and drawing noise.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use shuyu_planner::plan::PrivatePlan;
use shuyu_planner::{calibrate, plan_query, strip_explain_privacy, PlanOptions, QueryBudget, Scope};

use crate::assemble;
use crate::calibrator::OpenDpCalibrator;
use crate::error::{ComputeError, Result};
use crate::metadata::annotate;

/// Runs a logical plan in the scope's context and collects its batches.
async fn collect(ctx: &datafusion::prelude::SessionContext, plan: &datafusion::logical_expr::LogicalPlan) -> Result<Vec<RecordBatch>> {
    ctx.execute_logical_plan(plan.clone())
        .await
        .map_err(ComputeError::from_execution)?
        .collect()
        .await
        .map_err(ComputeError::from_execution)
}

/// What a query returned.
#[derive(Debug, Clone)]
pub struct QueryResult {
    /// Result schema, with cost and per-column noise metadata.
    pub schema: SchemaRef,
    /// Noised (or public) rows.
    pub batches: Vec<RecordBatch>,
    /// Cost spent: epsilon or rho.
    pub cost: f64,
    /// Delta spent by partition selection.
    pub delta: f64,
    /// Whether this was EXPLAIN PRIVACY (nothing spent).
    pub explain: bool,
    /// Measurements released.
    pub releases: usize,
    /// Wall time of the whole execution.
    pub elapsed: Duration,
}

impl QueryResult {
    /// Total rows returned.
    pub fn num_rows(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }
}

/// A private session over one authorization's scope.
#[derive(Debug, Clone)]
pub struct PrivateSession {
    scope: Scope,
    options: PlanOptions,
}

impl PrivateSession {
    /// A session over `scope` with default options.
    pub fn new(scope: Scope) -> Self {
        PrivateSession { scope, options: PlanOptions::default() }
    }

    /// Sets the planner options (tests use deterministic bounding).
    pub fn with_options(mut self, options: PlanOptions) -> Self {
        self.options = options;
        self
    }

    /// The scope.
    pub fn scope(&self) -> &Scope {
        &self.scope
    }

    /// Plans and calibrates `sql` (without `EXPLAIN PRIVACY`) for `budget`; reads no data.
    pub async fn plan(&self, sql: &str, budget: QueryBudget) -> Result<PrivatePlan> {
        let mut plan = plan_query(&self.scope, sql, budget, self.options).await?;
        calibrate(&mut plan, &OpenDpCalibrator)?;
        Ok(plan)
    }

    /// EXPLAIN PRIVACY: the releases of `sql` as a table; reads no data, spends nothing.
    pub async fn explain(&self, sql: &str, budget: QueryBudget) -> Result<RecordBatch> {
        let plan = self.plan(sql, budget).await?;
        Ok(shuyu_planner::explain::explain_batch(&plan))
    }

    /// Runs `sql` (or `EXPLAIN PRIVACY sql`) privately with `budget`.
    pub async fn execute(&self, sql: &str, budget: QueryBudget) -> Result<QueryResult> {
        let start = Instant::now();
        if let Some(inner) = strip_explain_privacy(sql) {
            let batch = self.explain(inner, budget).await?;
            return Ok(QueryResult {
                schema: batch.schema(),
                batches: vec![batch],
                cost: 0.0,
                delta: 0.0,
                explain: true,
                releases: 0,
                elapsed: start.elapsed(),
            });
        }
        let plan = self.plan(sql, budget).await?;
        self.execute_plan(&plan).await
    }

    /// Runs a calibrated plan (the caller has reserved its cost).
    pub async fn execute_plan(&self, plan: &PrivatePlan) -> Result<QueryResult> {
        let start = Instant::now();
        if !plan.calibrated {
            return Err(ComputeError::Internal("execute_plan called with an uncalibrated plan".into()));
        }
        let ctx = self.scope.context();
        let def = plan.budget.definition;
        for release in &plan.releases {
            let inner = collect(ctx, &release.plan).await?;
            let mut cols: Vec<String> = release.partials.iter().map(|p| p.column.clone()).collect();
            if let shuyu_planner::KeySet::Selected { units_column, .. } = &release.keys {
                cols.push(units_column.clone());
            }
            cols.sort();
            cols.dedup();
            let rows = assemble::read_inner(release, &inner, &cols)?;
            let (keys, key_rows) = assemble::choose_keys(release, &rows, def)?;
            let noisy = assemble::noisy_partials(release, &rows, &key_rows, def)?;
            let mut quantiles = Vec::with_capacity(release.histograms.len());
            for (hi, h) in release.histograms.iter().enumerate() {
                let hb = collect(ctx, &h.plan).await?;
                quantiles.push(assemble::quantile_values(release, hi, &hb, &keys, def)?);
            }
            let outputs = release
                .outputs
                .iter()
                .map(|o| assemble::output_values(&o.kind, &noisy, &quantiles, keys.len()))
                .collect();
            let batch = assemble::build_batch(release, &keys, outputs)?;
            release.slot.fill(batch).map_err(ComputeError::Internal)?;
        }
        let batches = collect(ctx, &plan.outer).await?;
        let base_schema: SchemaRef = batches
            .first()
            .map(|b| b.schema())
            .unwrap_or_else(|| Arc::new(plan.outer.schema().as_arrow().clone()));
        let schema = annotate(&base_schema, plan);
        let batches = batches
            .into_iter()
            .map(|b| b.with_schema(schema.clone()).map_err(|e| ComputeError::Internal(format!("result schema: {e}"))))
            .collect::<Result<Vec<_>>>()?;
        let (cost, delta) = plan.total_cost();
        Ok(QueryResult {
            schema,
            batches,
            cost,
            delta,
            explain: false,
            releases: plan.measurement_count(),
            elapsed: start.elapsed(),
        })
    }
}
