//! One query of an authorization, end to end.
//!
//! **prod** ([`Runner::run`]): governance checks → private planning → budget reservation →
//! execution → commit → job record. A refusal at plan time costs nothing; once the budget
//! is reserved, a job that fails for any reason (an execution error, the memory pool, the
//! time limit) is charged in full and answered with one generic text ([`Error::Charged`]):
//! its failure may itself depend on one person's values. A job's record says `refused` or
//! `failed` by the fault class of the error it ended with (`JobStatus::ended_by`).
//! Under an authorization whose export policy is `review`, the result is then held for the
//! bureau ([`crate::review`]) and the outcome carries no rows.
//!
//! **dev** ([`Runner::run_dev`]): the same SQL, planned by plain DataFusion (no privacy
//! rewrite; row-level output allowed) over the authorization's granted tables and columns
//! of the masked samples ([`crate::dev`]); no budget is touched; the job is recorded as
//! `dev`. A server started for dev only ([`Served::Dev`]) refuses prod and never opens a
//! raw dataset.
//!
//! Each job runs under the service's [`Limits`]: a slot among its unit's concurrent jobs, a
//! private DataFusion memory pool, and a wall-clock limit; its scans are metered
//! ([`crate::metering`]).
//!
//! A query naming an encrypted import (`imports.<name>`) is handed to
//! [`crate::encrypted::execute`] (same checks, ledger path and job record).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use arrow::datatypes::{Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use futures::StreamExt;
use datafusion::execution::context::SQLOptions;
use datafusion::logical_expr::LogicalPlan;
use shuyu_compute::{ComputeError, PrivateSession, QueryResult};
use shuyu_datasets::Fault;
use shuyu_governance::{
    Atto, AuthorizationId, Budget, Charge, Environment, ExportPolicy, JobId, JobOutcome, JobStatus, Metering, Nano, NewJob, Principal, PrivacyLoss,
    Reservation, Right, Scope as GrantedScope, Store,
};
use shuyu_planner::{strip_explain_privacy, PlannerError};
use shuyu_privacy::keys;
use tokio::time::timeout_at;

use crate::config::{Config, Limits, Served};
use crate::encrypted::{execute, fused, EncryptionContext};
use crate::limits::{with_memory_limit, UnitSlots};
use crate::metering::{metered, ScanMeter};
use crate::offload::store_call;
use crate::review::{self, HeldExport};
use crate::scope_cache::{CachedScope, ScopeCache};
use crate::Error;

/// What a governed query returned.
#[derive(Debug)]
pub struct Outcome {
    /// The result (noised values, or EXPLAIN PRIVACY rows).
    pub result: QueryResult,
    /// The job that recorded it.
    pub job: JobId,
    /// What the ledger charged (0 for EXPLAIN PRIVACY): the cost rounded up to the nano-unit.
    pub charged: Nano,
    /// The delta the ledger charged (0 for EXPLAIN PRIVACY and for queries without
    /// partition selection), rounded up to the atto-unit.
    pub charged_delta: Atto,
    /// The authorization's budget after the charge, epsilon or rho and delta.
    pub budget: Budget,
    /// The caller's unit's composed privacy loss after the charge on each dataset this
    /// authorization grants, over all the unit's authorizations, with the bureau's cap if
    /// one is set (empty for a caller without a unit).
    pub losses: Vec<PrivacyLoss>,
    /// Rows and bytes scanned, CPU time, releases.
    pub metering: Metering,
    /// Set when the authorization's export policy holds the result for the bureau's
    /// review: `result.batches` is then empty, and the result waits in the domain.
    pub held: Option<HeldExport>,
}

/// What a dev query returned.
#[derive(Debug)]
pub struct DevOutcome {
    /// Result schema, marked `shuyu.environment = dev`.
    pub schema: SchemaRef,
    /// Rows of the masked samples.
    pub batches: Vec<RecordBatch>,
    /// The job (environment `dev`) that recorded it.
    pub job: JobId,
    /// Rows and bytes scanned, CPU time.
    pub metering: Metering,
}

/// Runs governed queries: shared by the demo and the Flight SQL service.
#[derive(Debug)]
pub struct Runner {
    store: Store,
    limits: Limits,
    scopes: ScopeCache,
    dev_scopes: ScopeCache,
    slots: UnitSlots,
    served: Served,
    samples: Option<PathBuf>,
    encryption: Option<Arc<EncryptionContext>>,
}

impl Runner {
    /// A production runner over `store` with `limits` (no masked samples: dev is refused).
    pub fn new(store: Store, limits: Limits) -> Self {
        Self::with_environments(store, limits, Served::Prod, None)
    }

    /// A runner serving `served`, with the masked samples in `samples` (dev needs them).
    pub fn with_environments(store: Store, limits: Limits, served: Served, samples: Option<PathBuf>) -> Self {
        Runner {
            store,
            limits,
            scopes: ScopeCache::new(),
            dev_scopes: ScopeCache::new(),
            slots: UnitSlots::new(limits.max_jobs_per_unit),
            served,
            samples,
            encryption: None,
        }
    }

    /// The runner a configuration describes.
    pub fn from_config(store: Store, config: &Config) -> Self {
        Self::with_environments(store, config.limits, config.environment, Some(config.samples_dir()))
    }

    /// Which environments this runner serves.
    pub fn served(&self) -> Served {
        self.served
    }

    /// Refuses production work on a server started for dev only.
    fn require_prod(&self) -> Result<(), Error> {
        match self.served {
            Served::Prod => Ok(()),
            Served::Dev => Err(Error::NotServed(
                "this server serves only the dev environment (masked samples) and never opens the real data: \
                 send `x-shuyu-environment: dev`, or send production queries to the production server"
                    .into(),
            )),
        }
    }

    /// The runner with the domain's encryption material: queries may then name approved
    /// encrypted imports (`imports.<name>`), and the imports service is served.
    pub fn with_encryption(mut self, encryption: Arc<EncryptionContext>) -> Self {
        self.encryption = Some(encryption);
        self
    }

    /// The domain's encryption material, when configured.
    pub fn encryption(&self) -> Option<&Arc<EncryptionContext>> {
        self.encryption.as_ref()
    }

    /// The governance store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The job limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The opened scope of `auth` for `p`, after the store has checked that `p` may use it
    /// now (active, in term, same unit); a failed check evicts the cached scope.
    ///
    /// This is the production scope, over the real data: refused on a dev-only server.
    pub async fn scope(&self, p: &Principal, auth: AuthorizationId) -> Result<Arc<CachedScope>, Error> {
        self.require_prod()?;
        let granted = self.checked(p, auth).await?;
        self.scopes.get(&granted).await
    }

    /// The opened scope of `auth` for `p` in `environment`: the real data (prod) or the
    /// masked samples (dev), each cut down to the granted tables and columns.
    pub async fn scope_in(&self, p: &Principal, auth: AuthorizationId, environment: Environment) -> Result<Arc<CachedScope>, Error> {
        match environment {
            Environment::Prod => self.scope(p, auth).await,
            Environment::Dev => self.dev_scope(p, auth).await,
        }
    }

    /// The store's check of `p` using `auth` now, and what it grants; a failed check evicts
    /// the cached scopes.
    async fn checked(&self, p: &Principal, auth: AuthorizationId) -> Result<GrantedScope, Error> {
        let caller = p.clone();
        match store_call(&self.store, move |s| s.scope(&caller, auth)).await {
            Ok(granted) => Ok(granted),
            Err(e) => {
                self.scopes.evict(auth);
                self.dev_scopes.evict(auth);
                Err(e)
            }
        }
    }

    async fn dev_scope(&self, p: &Principal, auth: AuthorizationId) -> Result<Arc<CachedScope>, Error> {
        let samples = self.samples.as_deref().ok_or_else(|| {
            Error::NotServed("this server has no masked samples, so it does not serve the dev environment; ask the bureau to configure dev_data_dir".into())
        })?;
        let granted = self.checked(p, auth).await?;
        let on_samples = crate::dev::on_samples(&granted, samples)?;
        self.dev_scopes.get(&on_samples).await
    }

    /// Whether an opened scope is cached for `auth` (tests).
    pub fn has_cached_scope(&self, auth: AuthorizationId) -> bool {
        self.scopes.contains(auth)
    }

    /// Runs `sql` under authorization `auth` for caller `p`, spending `amount` (default: the
    /// authorization's per-query default).
    pub async fn run(&self, p: &Principal, auth: AuthorizationId, sql: &str, amount: Option<f64>) -> Result<Outcome, Error> {
        let mut outcome = self.run_query(p, auth, sql, amount).await?;
        outcome.losses = self.losses(p, auth).await?;
        Ok(outcome)
    }

    /// The caller's unit's privacy loss on each dataset `auth` grants (see [`Outcome::losses`]).
    async fn losses(&self, p: &Principal, auth: AuthorizationId) -> Result<Vec<PrivacyLoss>, Error> {
        let Some(unit) = p.unit_id else { return Ok(Vec::new()) };
        let caller = p.clone();
        let all = store_call(&self.store, move |s| s.privacy_losses(&caller, Some(unit), None)).await?;
        Ok(all.into_iter().filter(|l| l.authorizations.contains(&auth)).collect())
    }

    /// [`Runner::run`] without the loss view.
    async fn run_query(&self, p: &Principal, auth: AuthorizationId, sql: &str, amount: Option<f64>) -> Result<Outcome, Error> {
        self.require_prod()?;
        let granted = self.checked(p, auth).await?;
        let explain = strip_explain_privacy(sql);
        let review = granted.authorization.export_policy == ExportPolicy::Review;
        if review && explain.is_none() && !granted.authorization.rights.contains(&Right::ProductOperation) {
            return Err(Error::Denied(format!(
                "{auth}'s results leave the domain only after the bureau's review, and it does not grant the product_operation right \
                 that exporting needs; nothing was run or spent. Ask the bureau to add the right, or use EXPLAIN PRIVACY and the dev environment"
            )));
        }
        let cached = self.scopes.get(&granted).await?;
        let _slot = match p.unit_id {
            Some(unit) => Some(self.slots.try_acquire(unit)?),
            None => None,
        };
        if let Some(outcome) = self.run_encrypted(p, auth, sql, amount).await {
            let explained = explain.is_some();
            // A fused query's result follows the same export policy as any other.
            let mut outcome = outcome?;
            outcome.result = marked(outcome.result, Environment::Prod)?;
            if review && !explained {
                let batches = std::mem::take(&mut outcome.result.batches);
                let stored = review::stored_schema(&outcome.result.schema, outcome.job, auth, outcome.charged);
                outcome.held = Some(review::hold(&self.store, p, outcome.job, stored, batches).await?);
            }
            return Ok(outcome);
        }
        let mut budget = cached.budget;
        if let Some(a) = amount {
            budget.amount = a;
        }
        let meter = ScanMeter::new();
        let session = PrivateSession::new(metered(&with_memory_limit(&cached.scope, self.limits.memory_bytes())?, &meter));
        let (caller, text) = (p.clone(), sql.to_string());
        let job = store_call(&self.store, move |s| s.create_job(&caller, &NewJob { authorization: auth, sql: text, environment: Environment::Prod }))
            .await?;
        let job = Job { store: &self.store, id: job, tables: &cached.tables, start: Instant::now(), meter };
        let deadline = tokio::time::Instant::now() + self.limits.timeout();
        let timed_out = || Error::Timeout(self.limits.timeout());

        if let Some(inner) = explain {
            let explained = timeout_at(deadline, session.execute(&format!("EXPLAIN PRIVACY {inner}"), budget)).await;
            return match explained {
                Ok(Ok(result)) => {
                    let metering = job.metering(0);
                    job.finish(JobStatus::Succeeded, metering, None).await?;
                    let caller = p.clone();
                    let budget = store_call(&self.store, move |s| s.budget(&caller, auth)).await?;
                    Ok(Outcome {
                        result: marked(result, Environment::Prod)?,
                        job: job.id,
                        charged: Nano::ZERO,
                        charged_delta: Atto::ZERO,
                        budget,
                        losses: Vec::new(),
                        metering,
                        held: None,
                    })
                }
                Ok(Err(e)) => job.fail(e.into()).await,
                Err(_) => job.fail(timed_out()).await,
            };
        }

        let plan = match timeout_at(deadline, session.plan(sql, budget)).await {
            Ok(Ok(plan)) => plan,
            Ok(Err(e)) => return job.fail(e.into()).await,
            Err(_) => return job.fail(timed_out()).await,
        };
        let (cost, delta) = plan.total_cost();
        let id = job.id;
        // The personal tables the query reads (each release's), for the per-dataset loss caps.
        let mut datasets: Vec<String> = plan.releases.iter().flat_map(|r| r.tables.iter().cloned()).collect();
        datasets.sort();
        datasets.dedup();
        let reserved = match (Nano::charge(cost, "query cost"), Atto::charge(delta, "query delta")) {
            (Ok(n), Ok(d)) => store_call(&self.store, move |s| s.reserve(auth, id, &Charge::new(n, d, datasets))).await,
            (Err(e), _) | (_, Err(e)) => Err(e.into()),
        };
        let reservation = match reserved {
            Ok(r) => r,
            Err(e) => return job.fail(e).await,
        };
        let failure = match timeout_at(deadline, session.execute_plan(&plan)).await {
            Ok(Ok(result)) => {
                let charged = match Nano::charge(result.cost, "query cost") {
                    Ok(n) => n.min(reservation.amount),
                    Err(_) => reservation.amount,
                };
                let charged_delta = match Atto::charge(result.delta, "query delta") {
                    Ok(d) => d.min(reservation.delta),
                    Err(_) => reservation.delta,
                };
                let budget = self.settle(&reservation, Some((charged, charged_delta))).await?;
                let metering = job.metering(result.releases as u64);
                job.finish(JobStatus::Succeeded, metering, None).await?;
                let mut result = marked(result, Environment::Prod)?;
                let held = if review {
                    let batches = std::mem::take(&mut result.batches);
                    let stored = review::stored_schema(&result.schema, job.id, auth, charged);
                    Some(review::hold(&self.store, p, job.id, stored, batches).await?)
                } else {
                    None
                };
                return Ok(Outcome { result, job: job.id, charged, charged_delta, budget, losses: Vec::new(), metering, held });
            }
            Ok(Err(e)) => Error::from(e),
            Err(_) => timed_out(),
        };
        // Once data was read, a failure is itself an observation that may depend on one
        // person's values: the full reservation is charged, and the caller gets one
        // generic answer whatever the cause (the job record keeps the cause).
        self.settle(&reservation, Some((reservation.amount, reservation.delta))).await?;
        job.charged(failure, reservation.amount).await
    }

    /// A query naming an encrypted import (`imports.<name>`) runs as a fused query; `None`
    /// for every other query.
    async fn run_encrypted(&self, p: &Principal, auth: AuthorizationId, sql: &str, amount: Option<f64>) -> Option<Result<Outcome, Error>> {
        let explain = strip_explain_privacy(sql);
        let statement = explain.unwrap_or(sql);
        let import = fused::named_import(statement)?;
        let Some(enc) = self.encryption.clone() else {
            return Some(Err(Error::NotServed("this server computes on no encrypted imports (no [encryption] configured)".into())));
        };
        // Re-parse knowing which columns of the import are encrypted (bare names resolve to them).
        let columns = match self.import_columns(p, &import).await {
            Ok(c) => c,
            Err(e) => return Some(Err(e)),
        };
        let query = match fused::parse(statement, &|c| columns.iter().any(|x| x == c)) {
            Ok(Some(q)) => q,
            Ok(None) => return None,
            Err(e) => return Some(Err(e)),
        };
        Some(execute::run(self, &enc, p, auth, sql, query, amount, explain.is_some()).await)
    }

    /// The encrypted column names of the caller's approved import `name`.
    async fn import_columns(&self, p: &Principal, name: &str) -> Result<Vec<String>, Error> {
        let (caller, import) = (p.clone(), name.to_string());
        let path = store_call(&self.store, move |s| s.import_path(&caller, &import)).await?;
        let manifest = std::fs::read_to_string(path.join("manifest.json"))
            .map_err(|_| Error::Denied(format!("import {name} has no uploaded bundle; upload it with UploadBundle")))?;
        let manifest: shuyu_crypto::bundle::Manifest =
            serde_json::from_str(&manifest).map_err(|_| Error::Internal(format!("the manifest of import {name} does not parse")))?;
        Ok(manifest.columns.into_iter().map(|c| c.spec.name).collect())
    }

    /// A result released after the bureau's review (`FETCH EXPORT '<id>'`): production data,
    /// so refused on a dev-only server.
    pub async fn fetch_export(&self, p: &Principal, export: shuyu_governance::ExportId) -> Result<(SchemaRef, Vec<RecordBatch>), Error> {
        self.require_prod()?;
        review::fetch(&self.store, p, export).await
    }

    /// Runs `sql` in the dev environment: plain DataFusion over the masked samples of the
    /// tables and columns `auth` grants; spends no budget; recorded as a `dev` job.
    pub async fn run_dev(&self, p: &Principal, auth: AuthorizationId, sql: &str) -> Result<DevOutcome, Error> {
        let cached = self.dev_scope(p, auth).await?;
        let _slot = match p.unit_id {
            Some(unit) => Some(self.slots.try_acquire(unit)?),
            None => None,
        };
        let meter = ScanMeter::new();
        let scope = metered(&with_memory_limit(&cached.scope, self.limits.memory_bytes())?, &meter);
        let (caller, text) = (p.clone(), sql.to_string());
        let job = store_call(&self.store, move |s| s.create_job(&caller, &NewJob { authorization: auth, sql: text, environment: Environment::Dev }))
            .await?;
        let job = Job { store: &self.store, id: job, tables: &cached.tables, start: Instant::now(), meter };
        let deadline = tokio::time::Instant::now() + self.limits.timeout();

        let ran = if let Some(inner) = strip_explain_privacy(sql) {
            // What the private plan would be and cost in prod, planned over the samples.
            match timeout_at(deadline, PrivateSession::new(scope).execute(&format!("EXPLAIN PRIVACY {inner}"), cached.budget)).await {
                Ok(Ok(result)) => Ok((result.schema, result.batches)),
                Ok(Err(e)) => Err(Error::from(e)),
                Err(_) => Err(Error::Timeout(self.limits.timeout())),
            }
        } else {
            match timeout_at(deadline, plain(&scope, sql)).await {
                Ok(r) => r,
                Err(_) => Err(Error::Timeout(self.limits.timeout())),
            }
        };
        match ran {
            Ok((schema, batches)) => {
                let metering = job.metering(0);
                job.finish(JobStatus::Succeeded, metering, None).await?;
                let schema = with_environment(&schema, Environment::Dev);
                let batches = rebatch(batches, &schema)?;
                Ok(DevOutcome { schema, batches, job: job.id, metering })
            }
            Err(e) => job.fail(e).await,
        }
    }

    /// Commits `actual` (amount, delta) of a reservation, or releases it whole when `None`.
    async fn settle(&self, reservation: &Reservation, actual: Option<(Nano, Atto)>) -> Result<Budget, Error> {
        let r = reservation.clone();
        store_call(&self.store, move |s| match actual {
            Some((a, d)) => s.commit(&r, a, d),
            None => s.release(&r),
        })
        .await
    }
}

/// A job being run: records how it ended.
struct Job<'a> {
    store: &'a Store,
    id: JobId,
    tables: &'a [String],
    start: Instant,
    meter: Arc<ScanMeter>,
}

impl Job<'_> {
    /// What the job used so far.
    fn metering(&self, releases: u64) -> Metering {
        let scanned = self.meter.scanned();
        Metering {
            rows_scanned: scanned.rows,
            bytes_scanned: scanned.bytes,
            cpu_ms: self.start.elapsed().as_millis() as u64,
            releases,
            ..Metering::default()
        }
    }

    async fn finish(&self, status: JobStatus, metering: Metering, failure: Option<String>) -> Result<(), Error> {
        let (id, datasets) = (self.id, self.tables.to_vec());
        store_call(self.store, move |s| s.finish_job(id, &JobOutcome { status, metering, datasets, failure })).await.map(|_| ())
    }

    /// Records the failure, `refused` or `failed` by its fault class, and returns it.
    async fn fail<T>(&self, e: Error) -> Result<T, Error> {
        self.finish(JobStatus::ended_by(e.fault()), self.metering(0), Some(e.to_string())).await?;
        Err(e)
    }

    /// Records a failure after the reservation (its cause in the job record, the status of
    /// a [`Fault::Charged`]) and returns the one generic answer, [`Error::Charged`].
    async fn charged<T>(&self, cause: Error, charged: Nano) -> Result<T, Error> {
        self.finish(JobStatus::ended_by(Fault::Charged), self.metering(0), Some(cause.to_string())).await?;
        Err(Error::Charged { charged, job: self.id })
    }
}

/// Most rows of one dev result.
pub const DEV_MAX_ROWS: usize = 1_000_000;

/// What plain SQL may do in dev: query only.
pub fn query_only() -> SQLOptions {
    SQLOptions::new().with_allow_ddl(false).with_allow_dml(false).with_allow_statements(false)
}

/// Plain DataFusion over a dev scope: queries only (no DDL, no DML, no statements, so no
/// external table and no file written); execution errors reduced to a value-free category.
async fn plain(scope: &shuyu_planner::Scope, sql: &str) -> Result<(SchemaRef, Vec<RecordBatch>), Error> {
    let df = scope
        .context()
        .sql_with_options(sql, query_only())
        .await
        .map_err(|e| Error::Planner(PlannerError::Plan(e.strip_backtrace())))?;
    if matches!(df.logical_plan(), LogicalPlan::Explain(_) | LogicalPlan::Analyze(_)) {
        // Physical plans name the server's files.
        return Err(Error::Usage("EXPLAIN is not served; use EXPLAIN PRIVACY to see how prod would answer".into()));
    }
    let planned: SchemaRef = Arc::new(df.schema().as_arrow().clone());
    let failed = |e: datafusion::error::DataFusionError| Error::from(ComputeError::from_execution(e));
    // Results are held in memory until fetched: a row cap keeps a runaway join (the pool
    // bounds operators, not the collected output) from taking the server's memory.
    let mut stream = df.execute_stream().await.map_err(failed)?;
    let (mut batches, mut rows) = (Vec::new(), 0usize);
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(failed)?;
        rows += batch.num_rows();
        if rows > DEV_MAX_ROWS {
            return Err(Error::Busy(format!("a dev result may have at most {DEV_MAX_ROWS} rows; add a LIMIT or filters")));
        }
        batches.push(batch);
    }
    let schema = batches.first().map(RecordBatch::schema).unwrap_or(planned);
    Ok((schema, batches))
}

/// `schema` with the environment marker.
fn with_environment(schema: &Schema, environment: Environment) -> SchemaRef {
    let mut md = schema.metadata().clone();
    md.insert(keys::ENVIRONMENT.into(), environment.as_str().into());
    Arc::new(Schema::new_with_metadata(schema.fields().clone(), md))
}

/// Batches under `schema` (same columns, the service's metadata).
fn rebatch(batches: Vec<RecordBatch>, schema: &SchemaRef) -> Result<Vec<RecordBatch>, Error> {
    batches
        .into_iter()
        .map(|b| RecordBatch::try_new(schema.clone(), b.columns().to_vec()).map_err(|e| Error::Internal(format!("result schema: {e}"))))
        .collect()
}

/// A prod result marked with its environment.
fn marked(mut result: QueryResult, environment: Environment) -> Result<QueryResult, Error> {
    result.schema = with_environment(&result.schema, environment);
    let batches = std::mem::take(&mut result.batches);
    result.batches = rebatch(batches, &result.schema)?;
    Ok(result)
}
