//! What a statement is asked with and answers with: [`Call`] (who, under which
//! authorization, in which environment, spending what), [`Outcome`] and [`DevOutcome`]
//! (what one job returned), [`Answer`] (the answer to one statement).

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use shuyu_compute::QueryResult;
use shuyu_governance::{Atto, AuthorizationId, Budget, Environment, JobId, Metering, Nano, Principal, PrivacyLoss};

use crate::review::HeldExport;

/// Who asks, under which authorization, in which environment, and what one query may
/// spend (default: the authorization's per-query default).
#[derive(Debug, Clone)]
pub struct Call {
    /// The authenticated caller.
    pub principal: Principal,
    /// The authorization the call acts under.
    pub authorization: AuthorizationId,
    /// Production (the real data, privately) or dev (the masked samples).
    pub environment: Environment,
    /// What one query may spend, epsilon or rho.
    pub amount: Option<f64>,
}

impl Call {
    /// A production call of `principal` under `authorization` with the default budget.
    pub fn prod(principal: &Principal, authorization: AuthorizationId) -> Self {
        Call { principal: principal.clone(), authorization, environment: Environment::Prod, amount: None }
    }

    /// A dev call of `principal` under `authorization`.
    pub fn dev(principal: &Principal, authorization: AuthorizationId) -> Self {
        Call { environment: Environment::Dev, ..Call::prod(principal, authorization) }
    }

    /// The call spending `amount` (or the default with `None`).
    pub fn spending(mut self, amount: Option<f64>) -> Self {
        self.amount = amount;
        self
    }
}

/// What a governed production statement returned.
#[derive(Debug)]
pub struct Outcome {
    /// The result (noised values, or EXPLAIN PRIVACY rows), marked with its environment.
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

/// What a dev statement returned.
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

/// The answer to one statement.
#[derive(Debug)]
pub enum Answer {
    /// A production statement's outcome (its rows held when `held` is set).
    Prod(Outcome),
    /// A dev statement's rows.
    Dev(DevOutcome),
    /// A result released after the bureau's review (`FETCH EXPORT`).
    Export {
        /// Its schema, with the export's id, status and signed manifest.
        schema: SchemaRef,
        /// Its rows.
        batches: Vec<RecordBatch>,
    },
}

