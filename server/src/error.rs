//! The binary's one error enum, for the command line and the services alike, and its
//! mapping to gRPC status codes (the only place where that mapping is decided).
//!
//! | fault | gRPC code |
//! |---|---|
//! | bad SQL, bad header or argument, per-query cap exceeded | `InvalidArgument` |
//! | refused by the privacy rules (code and reason) | `PermissionDenied` |
//! | budget exhausted; too many jobs at once; memory limit | `ResourceExhausted` |
//! | no, unknown, expired or revoked token | `Unauthenticated` |
//! | role, tenant, suspended or revoked unit or authorization | `PermissionDenied` |
//! | the query ran past its time limit before its budget was reserved | `DeadlineExceeded` |
//! | the job failed after its budget was reserved, for any reason (charged in full) | `Aborted`, one generic text |
//! | a feature this server does not serve (dev environment) | `FailedPrecondition` |
//! | an encrypted bundle or key refused (bound, proof, checksum, format) | `InvalidArgument` |
//! | the keyholder refused a release | `PermissionDenied` |
//! | unknown object, or another unit's object named by id (the two read the same) | `NotFound` |
//! | the audit chain or the budget ledger does not verify | `DataLoss` |
//! | store, file or bug | `Internal` (details in the server log only) |
//!
//! No message quotes a data value: planner and governance messages name tables, columns,
//! identifiers the caller holds and amounts only; execution errors are reduced to a category
//! by `shuyu-compute`; store and file errors are logged, not sent.

use std::time::Duration;

use shuyu_compute::ComputeError;
use shuyu_governance::GovernanceError;
use shuyu_planner::PlannerError;

/// Errors of the command line and the services, by fault.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Dataset generation failed.
    #[error(transparent)]
    Datasets(#[from] shuyu_datasets::DatasetsError),
    /// Planning or execution failed, or the query was refused.
    #[error(transparent)]
    Compute(#[from] ComputeError),
    /// The planner failed (opening a scope).
    #[error(transparent)]
    Planner(#[from] PlannerError),
    /// A governance rule refused, or the store failed.
    #[error(transparent)]
    Governance(#[from] GovernanceError),
    /// Reading or writing a file failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Bad input: command-line flags, configuration, request headers or arguments.
    #[error("{0}")]
    Usage(String),
    /// The caller did not present a usable credential.
    #[error("authentication required: {0}")]
    Unauthenticated(String),
    /// The caller is known but may not do this.
    #[error("refused: {0}")]
    Denied(String),
    /// A resource limit of the service was reached (concurrent jobs, memory).
    #[error("resource limit: {0}")]
    Busy(String),
    /// The query ran longer than a job may.
    #[error("the query exceeded the time limit of {0:?} per job; add filters or fewer groups, or ask the bureau for a longer limit")]
    Timeout(Duration),
    /// The request asks for something this server does not serve.
    #[error("{0}")]
    NotServed(String),
    /// The gRPC transport failed (binding, TLS set-up, serving).
    #[error("the gRPC service failed: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// A gRPC call of the command line failed on the server (its code and message).
    #[error("{:?}: {}", .0.code(), .0.message())]
    Remote(tonic::Status),
    /// Encrypted data: a bundle, key or ciphertext was refused, or TFHE-rs failed.
    #[error(transparent)]
    Crypto(#[from] shuyu_crypto::CryptoError),
    /// The job failed after its cost was reserved (an execution error, the memory pool,
    /// the time limit): its full cost was charged, and the caller is told nothing of why,
    /// because whether and how a job fails after it read data may depend on one person's
    /// values. The cause is in the job record, for the bureau.
    #[error(
        "the query stopped after its budget was reserved, so its cost of {charged} was charged; the reason is recorded in \
         the job record for the bureau. Simplify the query (fewer groups, filters) and retry"
    )]
    Charged {
        /// What the ledger charged.
        charged: shuyu_governance::Nano,
        /// The job that recorded the cause (for the server's log; not in the message, which
        /// reads the same for every failure).
        job: shuyu_governance::JobId,
    },
    /// Likely a bug in shuyu.
    #[error("internal error (likely a bug in shuyu, please report it): {0}")]
    Internal(String),
}

impl Error {
    /// An [`Error::Io`] for `what`, to use with `map_err`.
    pub fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let what = what.into();
        move |source| Error::Io { what, source }
    }
}

impl From<Error> for tonic::Status {
    fn from(e: Error) -> Self {
        use tonic::Status;
        match &e {
            Error::Compute(c) => compute_status(c, &e),
            Error::Planner(p) => planner_status(p, &e),
            Error::Governance(g) => governance_status(g, &e),
            Error::Usage(_) => Status::invalid_argument(e.to_string()),
            Error::Unauthenticated(_) => Status::unauthenticated(e.to_string()),
            Error::Denied(_) => Status::permission_denied(e.to_string()),
            Error::Busy(_) => Status::resource_exhausted(e.to_string()),
            Error::Timeout(_) => Status::deadline_exceeded(e.to_string()),
            // One code and one text whatever the cause.
            Error::Charged { .. } => Status::aborted(e.to_string()),
            Error::NotServed(_) => Status::failed_precondition(e.to_string()),
            Error::Remote(status) => status.clone(),
            Error::Crypto(c) => crypto_status(c, &e),
            Error::Datasets(_) | Error::Io { .. } | Error::Transport(_) | Error::Internal(_) => hidden(&e),
        }
    }
}

fn planner_status(p: &PlannerError, e: &Error) -> tonic::Status {
    use tonic::Status;
    match p {
        PlannerError::Plan(_) => Status::invalid_argument(e.to_string()),
        PlannerError::Refused(_) => Status::permission_denied(e.to_string()),
        PlannerError::Scope(_) | PlannerError::Internal(_) => hidden(e),
    }
}

fn compute_status(c: &ComputeError, e: &Error) -> tonic::Status {
    use tonic::Status;
    match c {
        ComputeError::Planner(p) => planner_status(p, e),
        ComputeError::ResourcesExhausted(_) => Status::resource_exhausted(e.to_string()),
        // A value-free category chosen by shuyu-compute; failed casts and arithmetic are the
        // query's fault, failed reads are the server's.
        ComputeError::Execution { category } if category.contains("dataset") => hidden(e),
        ComputeError::Execution { .. } => Status::invalid_argument(e.to_string()),
        ComputeError::Noise(_) | ComputeError::Internal(_) => hidden(e),
    }
}

fn governance_status(g: &GovernanceError, e: &Error) -> tonic::Status {
    use tonic::Status;
    match g {
        GovernanceError::Invalid { .. } => Status::invalid_argument(e.to_string()),
        GovernanceError::NotFound { .. } => Status::not_found(e.to_string()),
        GovernanceError::Denied { .. } => Status::permission_denied(e.to_string()),
        GovernanceError::BudgetExhausted { .. }
        | GovernanceError::OverCap { .. }
        | GovernanceError::DeltaExhausted { .. }
        | GovernanceError::DeltaOverCap { .. }
        | GovernanceError::LossCapExceeded { .. } => Status::resource_exhausted(e.to_string()),
        // The token is valid but its holder's unit is suspended or revoked.
        GovernanceError::UnitInactive { .. } => Status::permission_denied(e.to_string()),
        GovernanceError::Unauthenticated { .. } => Status::unauthenticated(e.to_string()),
        GovernanceError::Conflict { .. } => Status::failed_precondition(e.to_string()),
        // Integrity failures are told (record number and what did not match; no data
        // value), so the bureau and supervisors act on them, and logged.
        GovernanceError::AuditBroken { .. } | GovernanceError::LedgerBroken { .. } => {
            tracing::error!(error = %e, "integrity check failed");
            Status::data_loss(e.to_string())
        }
        GovernanceError::Store(_)
        | GovernanceError::Io { .. }
        | GovernanceError::Internal(_) => hidden(e),
    }
}

fn crypto_status(c: &shuyu_crypto::CryptoError, e: &Error) -> tonic::Status {
    use shuyu_crypto::CryptoError;
    use tonic::Status;
    match c {
        CryptoError::AboveBound { .. }
        | CryptoError::ProofRejected { .. }
        | CryptoError::InvalidInput(_)
        | CryptoError::Malformed { .. }
        | CryptoError::Capacity(_) => Status::invalid_argument(e.to_string()),
        CryptoError::ReleaseRefused(_) => Status::permission_denied(e.to_string()),
        CryptoError::Tfhe(_) | CryptoError::Io { .. } => hidden(e),
    }
}

/// An internal failure: logged in full on the server, sent as a generic message.
fn hidden(e: &Error) -> tonic::Status {
    tracing::error!(error = %e, "request failed");
    tonic::Status::internal("the server failed to answer (internal error); retry later, and if it persists ask the bureau to look at the server log")
}

#[cfg(test)]
mod tests {
    use shuyu_planner::{Refusal, RefusalCode};
    use tonic::Code;

    use super::*;

    fn code(e: Error) -> (Code, String) {
        let s = tonic::Status::from(e);
        (s.code(), s.message().to_string())
    }

    #[test]
    fn refusals_are_permission_denied_with_their_code() {
        let e = Error::Compute(ComputeError::Planner(PlannerError::Refused(Refusal::new(RefusalCode::RowLevelOutput, "aggregate it"))));
        let (c, m) = code(e);
        assert_eq!(c, Code::PermissionDenied);
        assert!(m.contains("ROW_LEVEL_OUTPUT"), "{m}");
    }

    #[test]
    fn bad_sql_is_invalid_argument() {
        let (c, _) = code(Error::Planner(PlannerError::Plan("table nope not found".into())));
        assert_eq!(c, Code::InvalidArgument);
    }

    #[test]
    fn budget_is_resource_exhausted() {
        let e = GovernanceError::BudgetExhausted { authorization: 1, requested: shuyu_governance::Nano(5), remaining: shuyu_governance::Nano(1) };
        assert_eq!(code(e.into()).0, Code::ResourceExhausted);
    }

    #[test]
    fn suspended_unit_is_permission_denied_and_bad_token_unauthenticated() {
        let e = GovernanceError::UnitInactive { reason: "unit 3 is suspended by the bureau".into() };
        assert_eq!(code(e.into()).0, Code::PermissionDenied);
        let e = GovernanceError::Unauthenticated { reason: "the token is unknown" };
        assert_eq!(code(e.into()).0, Code::Unauthenticated);
    }

    #[test]
    fn a_broken_audit_chain_is_data_loss_and_says_where() {
        let e = GovernanceError::AuditBroken { seq: 42, reason: "hash mismatch".into() };
        let (c, m) = code(e.into());
        assert_eq!(c, Code::DataLoss);
        assert!(m.contains("record 42"), "{m}");
    }

    #[test]
    fn internal_failures_do_not_leak_details() {
        let (c, m) = code(Error::Internal("/secret/path/residents.parquet".into()));
        assert_eq!(c, Code::Internal);
        assert!(!m.contains("secret"), "{m}");
    }
}
