//! The library entry point: a private session over one scope.
//!
//! `execute(sql, budget)` plans the SQL, calibrates every measurement, runs each release's
//! inner plan exactly, draws noise, then runs the post-processing plan over noised values
//! only. `explain` does everything but reading data and drawing noise.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use shuyu_planner::bounding::is_not_clustered;
use shuyu_planner::plan::PrivatePlan;
use shuyu_planner::{calibrate, plan_query, strip_explain_privacy, PlanOptions, QueryBudget, Scope};

use crate::assemble;
use crate::calibrator::OpenDpCalibrator;
use crate::error::{ComputeError, Result};
use crate::inner::InnerEngine;
use crate::metadata::annotate;

/// Runs a logical plan in the scope's context and collects its batches (the post-processing
/// plan, which reads released values only).
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
    /// The result of an EXPLAIN PRIVACY: its one batch, nothing spent.
    pub fn explained(batch: RecordBatch) -> Self {
        QueryResult { schema: batch.schema(), batches: vec![batch], cost: 0.0, delta: 0.0, explain: true, releases: 0, elapsed: Duration::ZERO }
    }

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
    /// Table sets whose rows turned out not to be clustered by unit: their releases go
    /// straight to the hash-aggregation fallback.
    unclustered: Arc<Mutex<HashSet<Vec<String>>>>,
    /// Whether exact inner results are reused from the scope's cache.
    reuse: bool,
    /// Where inner plans run.
    engine: InnerEngine,
}

impl PrivateSession {
    /// A session over `scope` with default options.
    pub fn new(scope: Scope) -> Self {
        PrivateSession { scope, options: PlanOptions::default(), unclustered: Arc::default(), reuse: true, engine: InnerEngine::Local }
    }

    /// Sets the planner options (tests use deterministic bounding).
    pub fn with_options(mut self, options: PlanOptions) -> Self {
        self.options = options;
        self
    }

    /// Whether exact inner results may be reused from the scope's cache (default: yes;
    /// benchmarks of the cold path turn it off). Noise is fresh either way.
    pub fn with_exact_reuse(mut self, reuse: bool) -> Self {
        self.reuse = reuse;
        self
    }

    /// Runs inner plans on `engine` (default: [`InnerEngine::Local`]).
    pub fn with_engine(mut self, engine: InnerEngine) -> Self {
        self.engine = engine;
        self
    }

    /// Where inner plans run.
    pub fn engine(&self) -> &InnerEngine {
        &self.engine
    }

    /// Table sets found not clustered by unit (their bounding ran as hash aggregation).
    pub fn unclustered_tables(&self) -> Vec<Vec<String>> {
        self.unclustered.lock().map(|s| s.iter().cloned().collect()).unwrap_or_default()
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
            return Ok(QueryResult { elapsed: start.elapsed(), ..QueryResult::explained(batch) });
        }
        let plan = self.plan(sql, budget).await?;
        self.execute_plan(&plan).await
    }

    /// Runs a release's exact inner plan: the streaming bounding pass when the input is
    /// clustered by unit, otherwise (detected by that pass, which then releases nothing)
    /// the hash-aggregation fallback.
    async fn run_inner(&self, ctx: &datafusion::prelude::SessionContext, release: &shuyu_planner::plan::Release) -> Result<Arc<Vec<RecordBatch>>> {
        let cache = crate::exact_cache::of(self.scope.catalog());
        if !self.reuse {
            return Ok(Arc::new(self.run_uncached(ctx, release).await?));
        }
        if let Some(hit) = cache.get(&release.plan) {
            return Ok(hit);
        }
        let batches = Arc::new(self.run_uncached(ctx, release).await?);
        cache.put(&release.plan, batches.clone());
        Ok(batches)
    }

    /// Runs a plan, or reuses its exact result from this scope's cache.
    async fn run_cached(&self, ctx: &datafusion::prelude::SessionContext, plan: &datafusion::logical_expr::LogicalPlan) -> Result<Arc<Vec<RecordBatch>>> {
        let cache = crate::exact_cache::of(self.scope.catalog());
        if !self.reuse {
            return Ok(Arc::new(self.engine.collect(ctx, plan).await?));
        }
        if let Some(hit) = cache.get(plan) {
            return Ok(hit);
        }
        let batches = Arc::new(self.engine.collect(ctx, plan).await?);
        cache.put(plan, batches.clone());
        Ok(batches)
    }

    async fn run_uncached(&self, ctx: &datafusion::prelude::SessionContext, release: &shuyu_planner::plan::Release) -> Result<Vec<RecordBatch>> {
        let engine = &self.engine;
        let Some(fallback) = &release.fallback else { return engine.collect(ctx, &release.plan).await };
        let known = self.unclustered.lock().map(|s| s.contains(&release.tables)).unwrap_or(false);
        if known {
            return engine.collect(ctx, fallback).await;
        }
        match engine.try_collect(ctx, &release.plan).await {
            Ok(b) => Ok(b),
            Err(e) if is_not_clustered(&e) => {
                tracing::debug!(tables = ?release.tables, engine = engine.name(), "input not clustered by unit; bounding with hash aggregation");
                if let Ok(mut s) = self.unclustered.lock() {
                    s.insert(release.tables.clone());
                }
                engine.collect(ctx, fallback).await
            }
            Err(e) => Err(engine.map_error(e)),
        }
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
            let inner = if release.needs_inner() { self.run_inner(ctx, release).await? } else { Arc::new(Vec::new()) };
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
                let hb = self.run_cached(ctx, &h.plan).await?;
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
        let batches = match crate::passthrough::direct_result(plan) {
            Some(batch) => vec![batch],
            None => collect(ctx, &plan.outer).await?,
        };
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
