//! The one job sequence, for every statement kind: create the job record, reserve the
//! query's cost, settle it, finish the record. Private, EXPLAIN PRIVACY, encrypted and dev
//! statements all go through [`Job`]; nothing else in the workspace creates jobs, reserves
//! or settles (the governance store audits each of these calls).
//!
//! The charging rule lives here, once:
//! - a refusal or failure **before** the reservation costs nothing, and the record says
//!   `refused` or `failed` by the error's fault class ([`Job::fail`]);
//! - **after** the reservation, a failure of any kind is charged in full and answered with
//!   one generic text, [`RuntimeError::Charged`] (whether and how a job fails after it read
//!   data may depend on one person's values); the record keeps the cause for the bureau;
//! - a job that succeeds is charged what it spent, never more than it reserved
//!   ([`Job::succeed`]).

use std::sync::Arc;
use std::time::Instant;

use shuyu_privacy::Fault;
use shuyu_governance::{
    Atto, AuthorizationId, Budget, Charge, Environment, JobId, JobOutcome, JobStatus, Metering, Nano, NewJob, Principal, Reservation, Store,
};

use crate::metering::ScanMeter;
use crate::offload::store_call;
use crate::RuntimeError;

/// What a settled job was charged, and the budget after it.
#[derive(Debug, Clone, Copy)]
pub struct Settled {
    /// What the ledger charged (the cost rounded up to the nano-unit, at most the reservation).
    pub charged: Nano,
    /// The delta the ledger charged (rounded up to the atto-unit).
    pub charged_delta: Atto,
    /// The authorization's budget after the charge.
    pub budget: Budget,
    /// What the job used.
    pub metering: Metering,
}

/// One job being run: its record, and its reservation once made.
#[derive(Debug)]
pub struct Job {
    store: Store,
    principal: Principal,
    id: JobId,
    authorization: AuthorizationId,
    tables: Vec<String>,
    start: Instant,
    meter: Arc<ScanMeter>,
    reservation: Option<Reservation>,
    encrypted_ops: u64,
}

impl Job {
    /// Creates the job record of `sql`, run by `p` under `authorization` in `environment`,
    /// over the granted `tables`; `meter` counts what its scans read.
    pub async fn open(
        store: &Store,
        p: &Principal,
        authorization: AuthorizationId,
        sql: &str,
        environment: Environment,
        tables: &[String],
        meter: Arc<ScanMeter>,
    ) -> Result<Job, RuntimeError> {
        let (caller, new) = (p.clone(), NewJob { authorization, sql: sql.to_string(), environment });
        let id = store_call(store, move |s| s.create_job(&caller, &new)).await?;
        Ok(Job {
            store: store.clone(),
            principal: p.clone(),
            id,
            authorization,
            tables: tables.to_vec(),
            start: Instant::now(),
            meter,
            reservation: None,
            encrypted_ops: 0,
        })
    }

    /// The job's id.
    pub fn id(&self) -> JobId {
        self.id
    }

    /// Counts encrypted operations (metering of an encrypted job).
    pub fn add_encrypted_ops(&mut self, ops: u64) {
        self.encrypted_ops += ops;
    }

    /// Reserves `cost` and `delta` on the personal `datasets` the job reads (for the
    /// per-dataset loss caps). A refusal (budget exhausted, a cap) ends the job, uncharged.
    pub async fn reserve(&mut self, cost: f64, delta: f64, datasets: Vec<String>) -> Result<(), RuntimeError> {
        let (auth, id) = (self.authorization, self.id);
        let reserved = match (Nano::charge(cost, "query cost"), Atto::charge(delta, "query delta")) {
            (Ok(n), Ok(d)) => store_call(&self.store, move |s| s.reserve(auth, id, &Charge::new(n, d, datasets))).await,
            (Err(e), _) | (_, Err(e)) => Err(e.into()),
        };
        match reserved {
            Ok(r) => {
                self.reservation = Some(r);
                Ok(())
            }
            Err(e) => self.fail(e).await,
        }
    }

    /// What the job used so far.
    pub fn metering(&self, releases: u64) -> Metering {
        let scanned = self.meter.scanned();
        Metering {
            rows_scanned: scanned.rows,
            bytes_scanned: scanned.bytes,
            cpu_ms: self.start.elapsed().as_millis() as u64,
            releases,
            encrypted_ops: self.encrypted_ops,
            ..Metering::default()
        }
    }

    /// Ends the job as succeeded: commits what it spent (`cost`, `delta`, each at most the
    /// reservation; with no reservation nothing is charged) and finishes the record.
    pub async fn succeed(self, cost: f64, delta: f64, releases: u64) -> Result<Settled, RuntimeError> {
        let metering = self.metering(releases);
        let (charged, charged_delta, budget) = match &self.reservation {
            Some(r) => {
                let charged = Nano::charge(cost, "query cost").map_or(r.amount, |n| n.min(r.amount));
                let charged_delta = Atto::charge(delta, "query delta").map_or(r.delta, |d| d.min(r.delta));
                let r = r.clone();
                let budget = store_call(&self.store, move |s| s.commit(&r, charged, charged_delta)).await?;
                (charged, charged_delta, budget)
            }
            None => {
                let (caller, auth) = (self.principal.clone(), self.authorization);
                let budget = store_call(&self.store, move |s| s.budget(&caller, auth)).await?;
                (Nano::ZERO, Atto::ZERO, budget)
            }
        };
        self.finish(JobStatus::Succeeded, metering, None).await?;
        Ok(Settled { charged, charged_delta, budget, metering })
    }

    /// Ends the job with `e`. Before the reservation: recorded `refused` or `failed` by its
    /// fault class, and returned as it is. After it: the whole reservation is charged, the
    /// cause recorded, and the one generic answer [`RuntimeError::Charged`] returned.
    pub async fn fail<T>(&self, e: RuntimeError) -> Result<T, RuntimeError> {
        let Some(r) = &self.reservation else {
            self.finish(JobStatus::ended_by(e.fault()), self.metering(0), Some(e.to_string())).await?;
            return Err(e);
        };
        let (charged, reservation) = (r.amount, r.clone());
        let settled = store_call(&self.store, move |s| s.commit(&reservation, reservation.amount, reservation.delta)).await;
        // The answer is the same whether or not the record could be written.
        let _ = self.finish(JobStatus::ended_by(Fault::Charged), self.metering(0), Some(e.to_string())).await;
        settled?;
        Err(RuntimeError::Charged { charged, job: self.id })
    }

    async fn finish(&self, status: JobStatus, metering: Metering, failure: Option<String>) -> Result<(), RuntimeError> {
        let (id, datasets) = (self.id, self.tables.clone());
        store_call(&self.store, move |s| s.finish_job(id, &JobOutcome { status, metering, datasets, failure })).await.map(|_| ())
    }
}
