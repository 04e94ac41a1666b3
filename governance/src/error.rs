//! The one error type of this crate, with variants by fault.
//!
//! Messages say what the caller can do next. They never quote a data value, a token, an ID
//! number or a key: only field names, identifiers the caller already holds, and amounts.

use shuyu_privacy::Fault;

use crate::amount::{Atto, Nano};

/// Result alias of this crate.
pub type Result<T, E = GovernanceError> = std::result::Result<T, E>;

/// Everything that can go wrong in governance, by fault.
#[derive(Debug, thiserror::Error)]
pub enum GovernanceError {
    /// The input is malformed: nothing was written.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The field at fault, as named in the request (`term.end`, `datasets[0].columns`).
        field: String,
        /// What is wrong and what to change.
        reason: String,
    },
    /// The object does not exist, or belongs to another operating unit: both read the same,
    /// so that a unit cannot probe which identifiers exist elsewhere.
    #[error("{what} was not found; check the identifier or list the existing ones")]
    NotFound {
        /// What was looked up (`unit 7`, `dataset trips`).
        what: String,
        /// The object exists but belongs to another unit. Never shown to the caller; the
        /// attempt is recorded as a refusal visible to the bureau and supervisors only.
        foreign: bool,
    },
    /// The caller may not do this (role, tenant, status, term).
    #[error("refused: {reason}")]
    Denied {
        /// Why, and what would allow it.
        reason: String,
    },
    /// The authorization's privacy budget cannot cover the request.
    #[error(
        "privacy budget exhausted for authorization {authorization}: requested {requested}, \
         remaining {remaining}; send a cheaper query (fewer releases, larger noise) or ask the \
         bureau for a new budget"
    )]
    BudgetExhausted {
        /// The authorization.
        authorization: i64,
        /// The amount asked for.
        requested: Nano,
        /// What is left (total − spent − reserved).
        remaining: Nano,
    },
    /// One query asked for more than the authorization's per-query cap.
    #[error(
        "query cost {requested} exceeds the per-query cap {cap} of authorization {authorization}; \
         reduce the query's cost (fewer releases, larger noise) below the cap"
    )]
    OverCap {
        /// The authorization.
        authorization: i64,
        /// The amount asked for.
        requested: Nano,
        /// The per-query cap.
        cap: Nano,
    },
    /// The authorization's delta budget cannot cover the query's delta.
    #[error(
        "delta budget exhausted for authorization {authorization}: the query needs delta \
         {requested}, remaining {remaining}; group by columns with a declared public domain \
         (they need no delta), use fewer partition selections, or ask the bureau for a larger \
         delta total"
    )]
    DeltaExhausted {
        /// The authorization.
        authorization: i64,
        /// The delta asked for.
        requested: Atto,
        /// What is left of the delta total.
        remaining: Atto,
    },
    /// One query asked for more delta than the authorization's per-query delta.
    #[error(
        "query delta {requested} exceeds the per-query delta {cap} of authorization \
         {authorization}; use fewer partition selections (group by columns with a declared \
         public domain) or ask the bureau for a larger per-query delta"
    )]
    DeltaOverCap {
        /// The authorization.
        authorization: i64,
        /// The delta asked for.
        requested: Atto,
        /// The per-query delta.
        cap: Atto,
    },
    /// The query would push its unit's privacy loss on a dataset past the bureau's cap.
    #[error(
        "privacy-loss cap reached for unit {unit} on dataset {dataset}: with this query the \
         unit's loss there, over all its authorizations, would be (epsilon {epsilon}, delta \
         {delta}), past the bureau's cap (epsilon {cap_epsilon}, delta {cap_delta}); \
         (epsilon {remaining_epsilon}, delta {remaining_delta}) remain; send a cheaper query \
         or one that does not read {dataset}, or ask the bureau to raise the unit's cap on \
         {dataset}"
    )]
    LossCapExceeded {
        /// The unit.
        unit: i64,
        /// The dataset (its catalog name).
        dataset: String,
        /// Composed epsilon with the query.
        epsilon: Nano,
        /// Composed delta with the query.
        delta: Atto,
        /// The cap's epsilon.
        cap_epsilon: Nano,
        /// The cap's delta.
        cap_delta: Atto,
        /// Cap epsilon minus the composed epsilon before the query.
        remaining_epsilon: Nano,
        /// Cap delta minus the composed delta before the query.
        remaining_delta: Atto,
    },
    /// The credential is valid, but its holder's operating unit is suspended or revoked.
    #[error("refused: {reason}")]
    UnitInactive {
        /// Which unit and what the holder can do (never the token).
        reason: String,
    },
    /// The credential is unknown, expired or revoked, or its holder may no longer act.
    #[error("authentication failed: {reason}; ask the bureau for a new credential")]
    Unauthenticated {
        /// Which check failed (never the token itself).
        reason: &'static str,
    },
    /// The request clashes with the current state (duplicate name, already settled).
    #[error("conflict: {reason}")]
    Conflict {
        /// What clashes and how to proceed.
        reason: String,
    },
    /// The audit chain does not verify: a record was altered, removed or inserted.
    #[error(
        "audit chain broken at record {seq}: {reason}; restore the store from a backup and \
         report the incident to the supervisor"
    )]
    AuditBroken {
        /// Sequence number of the first record that does not verify.
        seq: i64,
        /// What did not match.
        reason: String,
    },
    /// The budget ledger's counters disagree with its reservations.
    #[error(
        "budget ledger inconsistent for authorization {authorization}: {reason}; restore the \
         store from a backup and report the incident"
    )]
    LedgerBroken {
        /// The authorization whose counters disagree.
        authorization: i64,
        /// What did not match.
        reason: String,
    },
    /// The embedded database failed.
    #[error(
        "the governance store failed: {0}; retry, and if it persists check the data \
         directory's disk space and permissions"
    )]
    Store(#[source] rusqlite::Error),
    /// The PostgreSQL server of the store failed or could not be reached.
    #[error(
        "the governance store's PostgreSQL server failed: {0}; retry, and if it persists check \
         that the server is up and the store URL is right"
    )]
    Postgres(ServerError),
    /// A file in the data directory could not be read or written.
    #[error("file operation failed on {path}: {source}; check the data directory's permissions")]
    Io {
        /// The path concerned (inside the data directory).
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A bug: an invariant of this crate did not hold.
    #[error("internal error (likely a bug in shuyu-governance): {0}")]
    Internal(String),
}

/// What the PostgreSQL server (or the connection to it) reported: its SQLSTATE code and
/// primary message only. The server's DETAIL and HINT fields, which can quote the values of
/// a failing row, are dropped, so no data value reaches an error or a log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerError {
    /// The SQLSTATE code, when the server answered.
    pub code: Option<String>,
    /// The primary message (or the connection error).
    pub message: String,
}

impl std::fmt::Display for ServerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.code {
            Some(code) => write!(f, "{} (SQLSTATE {code})", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl From<postgres::Error> for GovernanceError {
    fn from(e: postgres::Error) -> Self {
        let error = match e.as_db_error() {
            Some(db) => ServerError { code: Some(db.code().code().to_string()), message: db.message().to_string() },
            None => ServerError { code: e.code().map(|c| c.code().to_string()), message: e.to_string() },
        };
        GovernanceError::Postgres(error)
    }
}

impl From<rusqlite::Error> for GovernanceError {
    fn from(e: rusqlite::Error) -> Self {
        GovernanceError::Store(e)
    }
}

impl GovernanceError {
    /// Builds an [`GovernanceError::Invalid`].
    pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        GovernanceError::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// Builds a [`GovernanceError::NotFound`].
    pub(crate) fn not_found(what: impl Into<String>) -> Self {
        GovernanceError::NotFound { what: what.into(), foreign: false }
    }

    /// A [`GovernanceError::NotFound`] for an object of another unit (see
    /// [`Actor::require_owner`](crate::access)).
    pub(crate) fn foreign(what: impl Into<String>) -> Self {
        GovernanceError::NotFound { what: what.into(), foreign: true }
    }

    /// Builds a [`GovernanceError::Denied`].
    pub(crate) fn denied(reason: impl Into<String>) -> Self {
        GovernanceError::Denied {
            reason: reason.into(),
        }
    }

    /// Builds a [`GovernanceError::Conflict`].
    pub(crate) fn conflict(reason: impl Into<String>) -> Self {
        GovernanceError::Conflict {
            reason: reason.into(),
        }
    }

    /// Builds an [`GovernanceError::Io`].
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        GovernanceError::Io {
            path: path.display().to_string(),
            source,
        }
    }

    /// A short stable name of the fault (`denied`, `budget_exhausted`…), for audit and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            GovernanceError::Invalid { .. } => "invalid",
            GovernanceError::NotFound { foreign: false, .. } => "not_found",
            GovernanceError::NotFound { foreign: true, .. } => "another_unit",
            GovernanceError::Denied { .. } => "denied",
            GovernanceError::BudgetExhausted { .. } => "budget_exhausted",
            GovernanceError::OverCap { .. } => "over_cap",
            GovernanceError::DeltaExhausted { .. } => "delta_exhausted",
            GovernanceError::DeltaOverCap { .. } => "delta_over_cap",
            GovernanceError::LossCapExceeded { .. } => "loss_cap_exceeded",
            GovernanceError::Unauthenticated { .. } => "unauthenticated",
            GovernanceError::UnitInactive { .. } => "unit_inactive",
            GovernanceError::Conflict { .. } => "conflict",
            GovernanceError::AuditBroken { .. } => "audit_broken",
            GovernanceError::LedgerBroken { .. } => "ledger_broken",
            GovernanceError::Store(_) => "store",
            GovernanceError::Postgres(_) => "store",
            GovernanceError::Io { .. } => "io",
            GovernanceError::Internal(_) => "internal",
        }
    }

    /// The fault class: malformed input, an unknown object (or another unit's), a refused
    /// permission, a budget or cap that cannot cover the query, a failed credential, a clash
    /// with the state, a broken audit chain or ledger, or the store failing.
    pub fn fault(&self) -> Fault {
        match self {
            GovernanceError::Invalid { .. } => Fault::InvalidArgument,
            GovernanceError::NotFound { .. } => Fault::NotFound,
            GovernanceError::Denied { .. } | GovernanceError::UnitInactive { .. } => Fault::PermissionDenied,
            GovernanceError::BudgetExhausted { .. }
            | GovernanceError::OverCap { .. }
            | GovernanceError::DeltaExhausted { .. }
            | GovernanceError::DeltaOverCap { .. }
            | GovernanceError::LossCapExceeded { .. } => Fault::BudgetExhausted,
            GovernanceError::Unauthenticated { .. } => Fault::Unauthenticated,
            GovernanceError::Conflict { .. } => Fault::FailedPrecondition,
            GovernanceError::AuditBroken { .. } | GovernanceError::LedgerBroken { .. } => Fault::IntegrityBroken,
            GovernanceError::Store(_) | GovernanceError::Postgres(_) | GovernanceError::Io { .. } | GovernanceError::Internal(_) => Fault::Internal,
        }
    }

    /// Whether this is a refusal of an authenticated request (recorded in the audit trail).
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            GovernanceError::Denied { .. }
                | GovernanceError::BudgetExhausted { .. }
                | GovernanceError::OverCap { .. }
                | GovernanceError::DeltaExhausted { .. }
                | GovernanceError::DeltaOverCap { .. }
                | GovernanceError::LossCapExceeded { .. }
                | GovernanceError::Unauthenticated { .. }
                | GovernanceError::UnitInactive { .. }
                | GovernanceError::NotFound { foreign: true, .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::JobStatus;

    #[test]
    fn each_error_reports_its_fault() {
        let budget = GovernanceError::BudgetExhausted { authorization: 1, requested: Nano(5), remaining: Nano(1) };
        assert_eq!(budget.fault(), Fault::BudgetExhausted);
        let cap = GovernanceError::OverCap { authorization: 1, requested: Nano(5), cap: Nano(1) };
        assert_eq!(cap.fault(), Fault::BudgetExhausted);
        assert_eq!(GovernanceError::invalid("term.end", "before the start").fault(), Fault::InvalidArgument);
        assert_eq!(GovernanceError::not_found("unit 7").fault(), Fault::NotFound);
        assert_eq!(GovernanceError::foreign("unit 7").fault(), Fault::NotFound, "another unit's object reads as missing");
        assert_eq!(GovernanceError::denied("supervisors read only").fault(), Fault::PermissionDenied);
        assert_eq!(GovernanceError::UnitInactive { reason: "unit 3 is suspended".into() }.fault(), Fault::PermissionDenied);
        assert_eq!(GovernanceError::Unauthenticated { reason: "the token is unknown" }.fault(), Fault::Unauthenticated);
        assert_eq!(GovernanceError::conflict("the name is taken").fault(), Fault::FailedPrecondition);
        assert_eq!(GovernanceError::AuditBroken { seq: 4, reason: "hash".into() }.fault(), Fault::IntegrityBroken);
        assert_eq!(GovernanceError::Internal("bug".into()).fault(), Fault::Internal);
    }

    #[test]
    fn a_job_refused_before_it_ran_is_refused_and_one_that_ran_failed() {
        let budget = GovernanceError::BudgetExhausted { authorization: 1, requested: Nano(5), remaining: Nano(1) };
        assert_eq!(JobStatus::ended_by(budget.fault()), JobStatus::Refused);
        assert_eq!(JobStatus::ended_by(Fault::Refused("ROW_LEVEL_OUTPUT")), JobStatus::Refused);
        assert_eq!(JobStatus::ended_by(Fault::InvalidArgument), JobStatus::Refused);
        assert_eq!(JobStatus::ended_by(Fault::Charged), JobStatus::Failed);
        assert_eq!(JobStatus::ended_by(Fault::TimedOut), JobStatus::Failed);
        assert_eq!(JobStatus::ended_by(Fault::QueryFailed), JobStatus::Failed);
        assert_eq!(JobStatus::ended_by(GovernanceError::Internal("bug".into()).fault()), JobStatus::Failed);
    }
}
