//! One query of an authorization, end to end, in the production environment:
//! governance checks → private planning → budget reservation → execution → commit → job
//! record. A refusal or a failure before any noise exists releases the reservation; once
//! noise has been drawn, the charge is committed whatever happens next (a timeout included).
//!
//! Each job runs under the service's [`Limits`]: a slot among its unit's concurrent jobs, a
//! private DataFusion memory pool, and a wall-clock limit.
//!
//! A query naming an encrypted import (`imports.<name>`) is handed to
//! [`crate::encrypted::execute`] (same checks, ledger path and job record).

use std::sync::Arc;
use std::time::Instant;

use shuyu_compute::{ComputeError, PrivateSession, QueryResult};
use shuyu_governance::{
    AuthorizationId, Budget, Environment, JobId, JobOutcome, JobStatus, Metering, Nano, NewJob, Principal, Reservation, Store,
};
use shuyu_planner::strip_explain_privacy;
use tokio::time::timeout_at;

use crate::config::Limits;
use crate::encrypted::{execute, fused, EncryptionContext};
use crate::limits::{with_memory_limit, UnitSlots};
use crate::offload::store_call;
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
    /// The authorization's budget after the charge.
    pub budget: Budget,
}

/// Runs governed queries: shared by the demo and the Flight SQL service.
#[derive(Debug)]
pub struct Runner {
    store: Store,
    limits: Limits,
    scopes: ScopeCache,
    slots: UnitSlots,
    encryption: Option<Arc<EncryptionContext>>,
}

impl Runner {
    /// A runner over `store` with `limits`.
    pub fn new(store: Store, limits: Limits) -> Self {
        Runner { store, limits, scopes: ScopeCache::new(), slots: UnitSlots::new(limits.max_jobs_per_unit), encryption: None }
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
    pub async fn scope(&self, p: &Principal, auth: AuthorizationId) -> Result<Arc<CachedScope>, Error> {
        let caller = p.clone();
        match store_call(&self.store, move |s| s.scope(&caller, auth)).await {
            Ok(granted) => self.scopes.get(&granted).await,
            Err(e) => {
                self.scopes.evict(auth);
                Err(e)
            }
        }
    }

    /// Whether an opened scope is cached for `auth` (tests).
    pub fn has_cached_scope(&self, auth: AuthorizationId) -> bool {
        self.scopes.contains(auth)
    }

    /// Runs `sql` under authorization `auth` for caller `p`, spending `amount` (default: the
    /// authorization's per-query default).
    pub async fn run(&self, p: &Principal, auth: AuthorizationId, sql: &str, amount: Option<f64>) -> Result<Outcome, Error> {
        let cached = self.scope(p, auth).await?;
        let _slot = match p.unit_id {
            Some(unit) => Some(self.slots.try_acquire(unit)?),
            None => None,
        };
        if let Some(outcome) = self.run_encrypted(p, auth, sql, amount).await {
            return outcome;
        }
        let mut budget = cached.budget;
        if let Some(a) = amount {
            budget.amount = a;
        }
        let session = PrivateSession::new(with_memory_limit(&cached.scope, self.limits.memory_bytes())?);
        let (caller, text) = (p.clone(), sql.to_string());
        let job = store_call(&self.store, move |s| s.create_job(&caller, &NewJob { authorization: auth, sql: text, environment: Environment::Prod }))
            .await?;
        let job = Job { store: &self.store, id: job, tables: &cached.tables, start: Instant::now() };
        let deadline = tokio::time::Instant::now() + self.limits.timeout();
        let timed_out = || Error::Timeout(self.limits.timeout());

        if let Some(inner) = strip_explain_privacy(sql) {
            let explained = timeout_at(deadline, session.execute(&format!("EXPLAIN PRIVACY {inner}"), budget)).await;
            return match explained {
                Ok(Ok(result)) => {
                    job.finish(JobStatus::Succeeded, Metering::default(), None).await?;
                    let caller = p.clone();
                    let budget = store_call(&self.store, move |s| s.budget(&caller, auth)).await?;
                    Ok(Outcome { result, job: job.id, charged: Nano::ZERO, budget })
                }
                Ok(Err(e)) => job.fail(status_of(&e), e.into()).await,
                Err(_) => job.fail(JobStatus::Failed, timed_out()).await,
            };
        }

        let plan = match timeout_at(deadline, session.plan(sql, budget)).await {
            Ok(Ok(plan)) => plan,
            Ok(Err(e)) => return job.fail(status_of(&e), e.into()).await,
            Err(_) => return job.fail(JobStatus::Failed, timed_out()).await,
        };
        let (cost, _delta) = plan.total_cost();
        let id = job.id;
        let reserved = match Nano::charge(cost, "query cost") {
            Ok(n) => store_call(&self.store, move |s| s.reserve(auth, id, n)).await,
            Err(e) => Err(e.into()),
        };
        let reservation = match reserved {
            Ok(r) => r,
            Err(e) => return job.fail(JobStatus::Refused, e).await,
        };
        let failure = match timeout_at(deadline, session.execute_plan(&plan)).await {
            Ok(Ok(result)) => {
                let charged = match Nano::charge(result.cost, "query cost") {
                    Ok(n) => n.min(reservation.amount),
                    Err(_) => reservation.amount,
                };
                let budget = self.settle(&reservation, Some(charged)).await?;
                let metering =
                    Metering { cpu_ms: job.start.elapsed().as_millis() as u64, releases: result.releases as u64, ..Metering::default() };
                job.finish(JobStatus::Succeeded, metering, None).await?;
                return Ok(Outcome { result, job: job.id, charged, budget });
            }
            Ok(Err(e)) => Error::from(e),
            Err(_) => timed_out(),
        };
        // Noise exists once any release was placed: the charge then stands.
        let noised = plan.releases.iter().any(|r| r.slot.batch().is_some());
        self.settle(&reservation, noised.then_some(reservation.amount)).await?;
        job.fail(JobStatus::Failed, failure).await
    }

    /// A query naming an encrypted import (`imports.<name>`) runs as a fused query; `None`
    /// for every other query.
    async fn run_encrypted(&self, p: &Principal, auth: AuthorizationId, sql: &str, amount: Option<f64>) -> Option<Result<Outcome, Error>> {
        let import = fused::named_import(sql)?;
        let Some(enc) = self.encryption.clone() else {
            return Some(Err(Error::NotServed("this server computes on no encrypted imports (no [encryption] configured)".into())));
        };
        // Re-parse knowing which columns of the import are encrypted (bare names resolve to them).
        let columns = match self.import_columns(p, &import).await {
            Ok(c) => c,
            Err(e) => return Some(Err(e)),
        };
        let query = match fused::parse(sql, &|c| columns.iter().any(|x| x == c)) {
            Ok(Some(q)) => q,
            Ok(None) => return None,
            Err(e) => return Some(Err(e)),
        };
        Some(execute::run(self, &enc, p, auth, sql, query, amount).await)
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

    /// Commits `actual` of a reservation, or releases it whole when `None`.
    async fn settle(&self, reservation: &Reservation, actual: Option<Nano>) -> Result<Budget, Error> {
        let r = reservation.clone();
        store_call(&self.store, move |s| match actual {
            Some(a) => s.commit(&r, a),
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
}

impl Job<'_> {
    async fn finish(&self, status: JobStatus, metering: Metering, failure: Option<String>) -> Result<(), Error> {
        let (id, datasets) = (self.id, self.tables.to_vec());
        store_call(self.store, move |s| s.finish_job(id, &JobOutcome { status, metering, datasets, failure })).await.map(|_| ())
    }

    /// Records the failure and returns it.
    async fn fail<T>(&self, status: JobStatus, e: Error) -> Result<T, Error> {
        self.finish(status, Metering::default(), Some(e.to_string())).await?;
        Err(e)
    }
}

fn status_of(e: &ComputeError) -> JobStatus {
    if e.refusal().is_some() || matches!(e, ComputeError::Planner(shuyu_planner::PlannerError::Plan(_))) {
        JobStatus::Refused
    } else {
        JobStatus::Failed
    }
}
