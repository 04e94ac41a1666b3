//! [`Runtime`]: every statement of an authorization, from its text to its answer.
//!
//! [`Runtime::run`] classifies the statement once ([`Statement`]), checks governance once
//! (the store's check of the caller using the authorization now), opens the scope (from the
//! cache), takes a slot among the unit's concurrent jobs, and hands the statement to its
//! path: private ([`crate::private`]), encrypted ([`crate::encrypted`]), dev
//! ([`crate::plain`]) or a released export ([`crate::review::fetch`]). Each path runs its
//! job through [`crate::job::Job`], the one job sequence; under an export policy of
//! `review` the answer is then held for the bureau ([`crate::review::hold`]).
//!
//! [`Runtime::prepare`] answers the same statements' result schema without running them
//! (no job, no data read, nothing spent), or the refusal the run would give at plan time.
//!
//! A server started for dev only ([`Served::Dev`]) refuses production work and never
//! opens a raw dataset.

use std::path::PathBuf;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use shuyu_compute::PrivateSession;
use shuyu_governance::{
    AuthorizationId, Environment, ExportId, ExportPolicy, Principal, PrivacyLoss, Right,
    Scope as GrantedScope, Store,
};

use shuyu_compute::encrypted::Encryption;

use crate::call::{Answer, Call, DevOutcome, Outcome};
use crate::encrypted;
use crate::limits::{Limits, Served, UnitSlots};
use crate::offload::store_call;
use crate::review;
use crate::scope_cache::{CachedScope, ScopeCache};
use crate::services::Services;
use crate::statement::Statement;
use crate::RuntimeError;

/// Runs the statements of authorizations: shared by the Flight SQL service, the demo and
/// the benchmark.
#[derive(Debug)]
pub struct Runtime {
    services: Services,
    scopes: ScopeCache,
    dev_scopes: ScopeCache,
    slots: UnitSlots,
    served: Served,
    samples: Option<PathBuf>,
    encryption: Option<Encryption>,
}

impl Runtime {
    /// A production runtime over `store` with `limits` (no masked samples: dev is refused).
    pub fn new(store: Store, limits: Limits) -> Self {
        Self::with_environments(store, limits, Served::Prod, None)
    }

    /// A runtime serving `served`, with the masked samples in `samples` (dev needs them).
    pub fn with_environments(store: Store, limits: Limits, served: Served, samples: Option<PathBuf>) -> Self {
        Runtime {
            services: Services::new(store, limits),
            scopes: ScopeCache::new(),
            dev_scopes: ScopeCache::new(),
            slots: UnitSlots::new(limits.max_jobs_per_unit),
            served,
            samples,
            encryption: None,
        }
    }

    /// The runtime with the domain's encryption material and its keyholder: queries may
    /// then name approved encrypted imports (`imports.<name>`).
    pub fn with_encryption(mut self, encryption: Encryption) -> Self {
        self.encryption = Some(encryption);
        self
    }

    /// The runtime with releases' inner plans run on `engine` (default: the local engine).
    /// Only the exact, bounded inner plans go there; the rest of every query stays here.
    pub fn with_engine(mut self, engine: shuyu_compute::InnerEngine) -> Self {
        self.services.set_engine(engine);
        self
    }

    /// Where releases' inner plans run.
    pub fn engine(&self) -> &shuyu_compute::InnerEngine {
        self.services.engine()
    }

    /// The domain's encryption material, when configured.
    pub fn encryption(&self) -> Option<&Encryption> {
        self.encryption.as_ref()
    }

    /// Which environments this runtime serves.
    pub fn served(&self) -> Served {
        self.served
    }

    /// The governance store.
    pub fn store(&self) -> &Store {
        self.services.store()
    }

    /// The job limits.
    pub fn limits(&self) -> &Limits {
        self.services.limits()
    }

    /// Runs one statement for `call`: the one entry of every statement kind.
    pub async fn run(&self, call: &Call, sql: &str) -> Result<Answer, RuntimeError> {
        match (Statement::classify(sql)?, call.environment) {
            (Statement::FetchExport(export), Environment::Prod) => {
                let (schema, batches) = self.fetch_export(&call.principal, export).await?;
                Ok(Answer::Export { schema, batches })
            }
            (Statement::FetchExport(_), Environment::Dev) => {
                Err(RuntimeError::Usage("FETCH EXPORT returns production results: send it without x-shuyu-environment: dev".into()))
            }
            (Statement::Query { sql: inner, explain, import }, Environment::Prod) => {
                let mut outcome = self.run_prod(call, sql, inner, explain, import).await?;
                outcome.losses = self.losses(&call.principal, call.authorization).await?;
                Ok(Answer::Prod(outcome))
            }
            (Statement::Query { sql: inner, explain, .. }, Environment::Dev) => {
                let cached = self.dev_scope(&call.principal, call.authorization).await?;
                let _slot = self.slot(&call.principal)?;
                crate::plain::run(&self.services, call, &cached, sql, inner, explain).await.map(Answer::Dev)
            }
        }
    }

    /// A production statement ([`Runtime::run`] without the loss view).
    async fn run_prod(&self, call: &Call, sql: &str, inner: &str, explain: bool, import: Option<String>) -> Result<Outcome, RuntimeError> {
        self.require_prod()?;
        let (p, auth) = (&call.principal, call.authorization);
        let granted = self.checked(p, auth).await?;
        let review = granted.authorization.export_policy == ExportPolicy::Review;
        if review && !explain && !granted.authorization.rights.contains(&Right::ProductOperation) {
            return Err(RuntimeError::Denied(format!(
                "{auth}'s results leave the domain only after the bureau's review, and it does not grant the product_operation right \
                 that exporting needs; nothing was run or spent. Ask the bureau to add the right, or use EXPLAIN PRIVACY and the dev environment"
            )));
        }
        let cached = self.scopes.get(&granted).await?;
        let _slot = self.slot(p)?;
        let mut outcome = match import {
            Some(name) => encrypted::run(&self.services, self.encryption_for(&name)?, call, &cached, sql, inner, &name, explain).await?,
            None => crate::private::run(&self.services, call, &cached, sql, inner, explain).await?,
        };
        if review && !explain {
            let batches = std::mem::take(&mut outcome.result.batches);
            let stored = review::stored_schema(&outcome.result.schema, outcome.job, auth, outcome.charged);
            outcome.held = Some(review::hold(self.services.store(), p, outcome.job, stored, batches).await?);
        }
        Ok(outcome)
    }

    /// The result schema `sql` would answer with for `call`, or the refusal it would meet at
    /// plan time; creates no job, reads no data, spends nothing. A `FETCH EXPORT`'s schema
    /// is the released result's, known once the bureau has released it.
    pub async fn prepare(&self, call: &Call, sql: &str) -> Result<SchemaRef, RuntimeError> {
        let (p, auth) = (&call.principal, call.authorization);
        match (Statement::classify(sql)?, call.environment) {
            (Statement::FetchExport(_), _) => match self.run(call, sql).await? {
                Answer::Export { schema, .. } => Ok(schema),
                _ => Err(RuntimeError::Internal("FETCH EXPORT answered with something else than an export".into())),
            },
            (Statement::Query { sql: inner, explain, import: Some(name) }, Environment::Prod) => {
                let cached = self.scope(p, auth).await?;
                encrypted::prepare(&self.services, self.encryption_for(&name)?, call, &cached, inner, &name, explain).await
            }
            (Statement::Query { sql: inner, explain, .. }, environment) => {
                let cached = self.scope_in(p, auth, environment).await?;
                let budget = crate::private::budget(&cached, call.amount);
                let session = PrivateSession::new(cached.scope.clone());
                match (explain, environment) {
                    (true, _) => Ok(session.explain(inner, budget).await?.schema()),
                    (false, Environment::Prod) => Ok(Arc::new(session.plan(inner, budget).await?.outer.schema().as_arrow().clone())),
                    (false, Environment::Dev) => crate::plain::schema(&cached.scope, inner).await,
                }
            }
        }
    }

    /// The encryption material, or why this server cannot answer a query naming `import`.
    fn encryption_for(&self, import: &str) -> Result<&Encryption, RuntimeError> {
        self.encryption.as_ref().ok_or_else(|| {
            RuntimeError::NotServed(format!("this server computes on no encrypted imports (no [encryption] configured), so imports.{import} cannot be queried"))
        })
    }

    /// A result released after the bureau's review (`FETCH EXPORT '<id>'`): production data,
    /// so refused on a dev-only server.
    pub async fn fetch_export(&self, p: &Principal, export: ExportId) -> Result<(SchemaRef, Vec<RecordBatch>), RuntimeError> {
        self.require_prod()?;
        review::fetch(self.services.store(), p, export).await
    }

    /// A production query of `p` under `auth` spending `amount`: [`Runtime::run`] for
    /// callers that know they ask a production query (the demo, tests, the benchmark).
    pub async fn query(&self, p: &Principal, auth: AuthorizationId, sql: &str, amount: Option<f64>) -> Result<Outcome, RuntimeError> {
        match self.run(&Call::prod(p, auth).spending(amount), sql).await? {
            Answer::Prod(outcome) => Ok(outcome),
            _ => Err(RuntimeError::Usage("this statement is not a query; send it through run".into())),
        }
    }

    /// A dev query of `p` under `auth`: [`Runtime::run`] in the dev environment.
    pub async fn query_dev(&self, p: &Principal, auth: AuthorizationId, sql: &str) -> Result<DevOutcome, RuntimeError> {
        match self.run(&Call::dev(p, auth), sql).await? {
            Answer::Dev(outcome) => Ok(outcome),
            _ => Err(RuntimeError::Usage("this statement is not a dev query".into())),
        }
    }

    /// Refuses production work on a server started for dev only.
    fn require_prod(&self) -> Result<(), RuntimeError> {
        match self.served {
            Served::Prod => Ok(()),
            Served::Dev => Err(RuntimeError::NotServed(
                "this server serves only the dev environment (masked samples) and never opens the real data: \
                 send `x-shuyu-environment: dev`, or send production queries to the production server"
                    .into(),
            )),
        }
    }

    /// A slot among the caller's unit's concurrent jobs, held while the job runs.
    fn slot(&self, p: &Principal) -> Result<Option<crate::limits::Slot>, RuntimeError> {
        p.unit_id.map(|unit| self.slots.try_acquire(unit)).transpose()
    }

    /// The opened production scope of `auth` for `p`, after the store has checked that `p`
    /// may use it now (active, in term, same unit); refused on a dev-only server.
    pub async fn scope(&self, p: &Principal, auth: AuthorizationId) -> Result<Arc<CachedScope>, RuntimeError> {
        self.require_prod()?;
        let granted = self.checked(p, auth).await?;
        self.scopes.get(&granted).await
    }

    /// The opened scope of `auth` for `p` in `environment`: the real data (prod) or the
    /// masked samples (dev), each cut down to the granted tables and columns.
    pub async fn scope_in(&self, p: &Principal, auth: AuthorizationId, environment: Environment) -> Result<Arc<CachedScope>, RuntimeError> {
        match environment {
            Environment::Prod => self.scope(p, auth).await,
            Environment::Dev => self.dev_scope(p, auth).await,
        }
    }

    /// The store's check of `p` using `auth` now, and what it grants; a failed check evicts
    /// the cached scopes.
    async fn checked(&self, p: &Principal, auth: AuthorizationId) -> Result<GrantedScope, RuntimeError> {
        let caller = p.clone();
        match store_call(self.services.store(), move |s| s.scope(&caller, auth)).await {
            Ok(granted) => Ok(granted),
            Err(e) => {
                self.scopes.evict(auth);
                self.dev_scopes.evict(auth);
                Err(e)
            }
        }
    }

    async fn dev_scope(&self, p: &Principal, auth: AuthorizationId) -> Result<Arc<CachedScope>, RuntimeError> {
        let samples = self.samples.as_deref().ok_or_else(|| {
            RuntimeError::NotServed("this server has no masked samples, so it does not serve the dev environment; ask the bureau to configure dev_data_dir".into())
        })?;
        let granted = self.checked(p, auth).await?;
        let on_samples = crate::dev::on_samples(&granted, samples)?;
        self.dev_scopes.get(&on_samples).await
    }

    /// Whether an opened scope is cached for `auth` (tests).
    pub fn has_cached_scope(&self, auth: AuthorizationId) -> bool {
        self.scopes.contains(auth)
    }

    /// The caller's unit's privacy loss on each dataset `auth` grants (see [`Outcome::losses`]).
    async fn losses(&self, p: &Principal, auth: AuthorizationId) -> Result<Vec<PrivacyLoss>, RuntimeError> {
        let Some(unit) = p.unit_id else { return Ok(Vec::new()) };
        let caller = p.clone();
        let all = store_call(self.services.store(), move |s| s.privacy_losses(&caller, Some(unit), None)).await?;
        Ok(all.into_iter().filter(|l| l.authorizations.contains(&auth)).collect())
    }
}
