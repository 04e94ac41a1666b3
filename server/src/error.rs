//! The binary's one error enum, for the command line and the services alike, and its
//! mapping to gRPC status codes: every error reports its fault class ([`Error::fault`], from
//! the crate that raised it), and [`grpc_code`] is the only place where a class becomes a code.
//!
//! | fault class (`x-shuyu-fault`) | examples | gRPC code |
//! |---|---|---|
//! | `invalid_argument` | bad SQL, bad header or argument, a budget that cannot be calibrated, a refused bundle, key or proof | `InvalidArgument` |
//! | `query_failed` | a dev query failed at run time (a failed cast, an overflow; category only) | `InvalidArgument` |
//! | `refused` (+ `x-shuyu-refusal-code`) | refused by the privacy rules (code and reason) | `PermissionDenied` |
//! | `permission_denied` | role, tenant, suspended or revoked unit or authorization, read-only domain, the keyholder refusing a release | `PermissionDenied` |
//! | `unauthenticated` | no, unknown, expired or revoked token | `Unauthenticated` |
//! | `not_found` | unknown object, or another unit's object named by id (the two read the same) | `NotFound` |
//! | `budget_exhausted` | budget or delta exhausted, per-query cap, the unit's loss cap | `ResourceExhausted` |
//! | `resource_limit` | too many jobs at once, the memory pool, too many held results, dev rows | `ResourceExhausted` |
//! | `timed_out` | the query ran past its time limit before its budget was reserved | `DeadlineExceeded` |
//! | `charged` | the job failed after its budget was reserved, for any reason (charged in full) | `Aborted`, one generic text |
//! | `failed_precondition` | a clash with the state; a feature this server does not serve (dev environment) | `FailedPrecondition` |
//! | `unavailable` | the keyholder cannot be reached | `Unavailable` |
//! | `integrity_broken` | the audit chain or the budget ledger does not verify | `DataLoss` |
//! | `internal` | store, file or bug | `Internal` (details in the server log only) |
//!
//! Every status carries its class in the `x-shuyu-fault` metadata entry, and a privacy
//! refusal its code (`ROW_LEVEL_OUTPUT`, …) in `x-shuyu-refusal-code`, so clients branch on
//! fields, not on the text; the message is unchanged. Job records take their status from
//! the same class (`JobStatus::ended_by`).
//!
//! No message quotes a data value: planner and governance messages name tables, columns,
//! identifiers the caller holds and amounts only; execution errors are reduced to a category
//! by `shuyu-compute`; store and file errors are logged, not sent.

use shuyu_compute::ComputeError;
use shuyu_privacy::Fault;
use shuyu_governance::GovernanceError;
use shuyu_planner::PlannerError;
use tonic::Code;

/// Response metadata key of a failed call's fault class ([`Fault::as_str`]).
pub const FAULT_HEADER: &str = "x-shuyu-fault";

/// Response metadata key of a privacy refusal's code (`ROW_LEVEL_OUTPUT`, …).
pub const REFUSAL_CODE_HEADER: &str = "x-shuyu-refusal-code";

/// Errors of the command line and the services, by fault.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A statement's job, or what it opens, failed or was refused (`shuyu-runtime`).
    #[error(transparent)]
    Runtime(#[from] shuyu_runtime::RuntimeError),
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
    /// A service the request needs cannot be reached (the keyholder).
    #[error("{0}")]
    Unavailable(String),
    /// The gRPC transport failed (binding, TLS set-up, serving).
    #[error("the gRPC service failed: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// A gRPC call of the command line failed on the server (its code and message).
    #[error("{:?}: {}", .0.code(), .0.message())]
    Remote(tonic::Status),
    /// Encrypted data: a bundle, key or ciphertext was refused, or TFHE-rs failed.
    #[error(transparent)]
    Crypto(#[from] shuyu_crypto::CryptoError),
    /// A cluster process (`shuyu cluster …`, the demo's in-process cluster) failed.
    #[error(transparent)]
    Cluster(#[from] shuyu_cluster::ClusterError),
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

    /// The fault class: the inner crate's own for its errors, and this crate's for its own.
    pub fn fault(&self) -> Fault {
        match self {
            Error::Runtime(r) => r.fault(),
            Error::Datasets(d) => d.fault(),
            Error::Compute(c) => c.fault(),
            Error::Planner(p) => p.fault(),
            Error::Governance(g) => g.fault(),
            Error::Crypto(c) => c.fault(),
            Error::Usage(_) => Fault::InvalidArgument,
            Error::Unauthenticated(_) => Fault::Unauthenticated,
            Error::Denied(_) => Fault::PermissionDenied,
            Error::Busy(_) => Fault::ResourceLimit,
            Error::Unavailable(_) => Fault::Unavailable,
            Error::Remote(status) => fault_of_code(status.code()),
            Error::Io { .. } | Error::Transport(_) | Error::Internal(_) | Error::Cluster(_) => Fault::Internal,
        }
    }
}

/// The gRPC code of a fault class: the one place where that is decided.
pub fn grpc_code(fault: Fault) -> Code {
    match fault {
        Fault::InvalidArgument | Fault::QueryFailed => Code::InvalidArgument,
        Fault::Refused(_) | Fault::PermissionDenied => Code::PermissionDenied,
        Fault::Unauthenticated => Code::Unauthenticated,
        Fault::NotFound => Code::NotFound,
        Fault::BudgetExhausted | Fault::ResourceLimit => Code::ResourceExhausted,
        Fault::TimedOut => Code::DeadlineExceeded,
        Fault::Charged => Code::Aborted,
        Fault::FailedPrecondition => Code::FailedPrecondition,
        Fault::Unavailable => Code::Unavailable,
        Fault::IntegrityBroken => Code::DataLoss,
        Fault::Internal => Code::Internal,
    }
}

/// The class a remote service's status stands for (the inverse of [`grpc_code`], for
/// [`Error::Remote`]); a code shuyu never sends reads as internal.
fn fault_of_code(code: Code) -> Fault {
    match code {
        Code::InvalidArgument => Fault::InvalidArgument,
        Code::PermissionDenied => Fault::PermissionDenied,
        Code::Unauthenticated => Fault::Unauthenticated,
        Code::NotFound => Fault::NotFound,
        Code::ResourceExhausted => Fault::ResourceLimit,
        Code::DeadlineExceeded => Fault::TimedOut,
        Code::Aborted => Fault::Charged,
        Code::FailedPrecondition => Fault::FailedPrecondition,
        Code::Unavailable => Fault::Unavailable,
        Code::DataLoss => Fault::IntegrityBroken,
        _ => Fault::Internal,
    }
}

impl From<Error> for tonic::Status {
    fn from(e: Error) -> Self {
        // A remote service's answer is passed on as it came.
        if let Error::Remote(status) = e {
            return status;
        }
        let fault = e.fault();
        let message = match fault {
            Fault::Internal => {
                tracing::error!(error = %e, "request failed");
                "the server failed to answer (internal error); retry later, and if it persists ask the bureau to look at the server log"
                    .to_string()
            }
            // Integrity failures are told (record number and what did not match; no data
            // value), so the bureau and supervisors act on them, and logged.
            Fault::IntegrityBroken => {
                tracing::error!(error = %e, "integrity check failed");
                e.to_string()
            }
            _ => e.to_string(),
        };
        let mut status = tonic::Status::new(grpc_code(fault), message);
        let md = status.metadata_mut();
        md.insert(FAULT_HEADER, tonic::metadata::MetadataValue::from_static(fault.as_str()));
        if let Some(code) = fault.refusal_code() {
            md.insert(REFUSAL_CODE_HEADER, tonic::metadata::MetadataValue::from_static(code));
        }
        status
    }
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

    fn header(s: &tonic::Status, key: &str) -> Option<String> {
        s.metadata().get(key).map(|v| v.to_str().expect("ascii").to_string())
    }

    #[test]
    fn a_refusal_carries_its_code_and_class_as_fields() {
        let e = Error::Planner(PlannerError::Refused(Refusal::new(RefusalCode::WindowFunction, "aggregate first")));
        let message = e.to_string();
        let s = tonic::Status::from(e);
        assert_eq!(header(&s, REFUSAL_CODE_HEADER).as_deref(), Some("WINDOW_FUNCTION"));
        assert_eq!(header(&s, FAULT_HEADER).as_deref(), Some("refused"));
        assert_eq!(s.message(), message, "the human message is unchanged");
    }

    #[test]
    fn other_faults_carry_their_class_and_no_refusal_code() {
        let e = GovernanceError::BudgetExhausted { authorization: 1, requested: shuyu_governance::Nano(5), remaining: shuyu_governance::Nano(1) };
        let s = tonic::Status::from(Error::from(e));
        assert_eq!(header(&s, FAULT_HEADER).as_deref(), Some("budget_exhausted"));
        assert_eq!(header(&s, REFUSAL_CODE_HEADER), None);
        let s = tonic::Status::from(Error::Busy("too many jobs".into()));
        assert_eq!((s.code(), header(&s, FAULT_HEADER).as_deref()), (Code::ResourceExhausted, Some("resource_limit")));
        let s = tonic::Status::from(Error::from(shuyu_runtime::RuntimeError::Charged { charged: shuyu_governance::Nano(3), job: shuyu_governance::JobId(9) }));
        assert_eq!((s.code(), header(&s, FAULT_HEADER).as_deref()), (Code::Aborted, Some("charged")));
    }

    #[test]
    fn crypto_errors_have_one_bucket_whichever_service_answers() {
        use shuyu_crypto::CryptoError;
        let proof = || CryptoError::ProofRejected { column: "income".into(), chunk: 2 };
        assert_eq!(code(Error::Crypto(proof())).0, Code::InvalidArgument);
        assert_eq!(code(Error::Crypto(CryptoError::AboveBound { column: "income".into(), row: 4, bound: 9 })).0, Code::InvalidArgument);
        assert_eq!(code(Error::Crypto(CryptoError::Capacity("too many rows".into()))).0, Code::InvalidArgument);
        assert_eq!(code(Error::Crypto(CryptoError::ReleaseRefused("not granted".into()))).0, Code::PermissionDenied);
        let (c, m) = code(Error::Crypto(CryptoError::Tfhe("key /secret/k".into())));
        assert_eq!(c, Code::Internal);
        assert!(!m.contains("secret"), "{m}");
        // The keyholder service answers through the same mapping.
        assert_eq!(crate::keyholder::status(proof()).code(), Code::InvalidArgument);
    }

    #[test]
    fn a_remote_status_passes_through_and_its_class_is_read_back_from_its_code() {
        let remote = tonic::Status::permission_denied("the keyholder refused");
        assert_eq!(Error::Remote(remote.clone()).fault(), Fault::PermissionDenied);
        let s = tonic::Status::from(Error::Remote(remote));
        assert_eq!((s.code(), s.message()), (Code::PermissionDenied, "the keyholder refused"));
        for fault in [
            Fault::InvalidArgument,
            Fault::PermissionDenied,
            Fault::Unauthenticated,
            Fault::NotFound,
            Fault::ResourceLimit,
            Fault::TimedOut,
            Fault::Charged,
            Fault::FailedPrecondition,
            Fault::Unavailable,
            Fault::IntegrityBroken,
            Fault::Internal,
        ] {
            assert_eq!(fault_of_code(grpc_code(fault)), fault);
        }
        assert_eq!(fault_of_code(Code::Unknown), Fault::Internal);
    }
}
