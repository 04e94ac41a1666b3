//! The runtime's one error enum, [`RuntimeError`]: what a job, or opening what a job needs,
//! can end with. Every error reports its fault class ([`RuntimeError::fault`]): the inner
//! crate's own for its errors, this crate's for the job's own (limits, the time limit, a
//! charged failure). The server turns the class into a gRPC code in one match; job records
//! take their status from the same class (`JobStatus::ended_by`).
//!
//! No message quotes a data value: planner and governance messages name tables, columns,
//! identifiers the caller holds and amounts only; execution errors are reduced to a
//! category by `shuyu-compute`; a job that fails after its reservation answers with one
//! generic text ([`RuntimeError::Charged`]).

use std::time::Duration;

use shuyu_compute::ComputeError;
use shuyu_privacy::Fault;
use shuyu_governance::GovernanceError;
use shuyu_planner::PlannerError;

/// Errors of a job and of what it opens.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// Planning or execution failed, or the query was refused.
    #[error(transparent)]
    Compute(#[from] ComputeError),
    /// The planner failed or refused (opening a scope, an encrypted query's shape).
    #[error(transparent)]
    Planner(#[from] PlannerError),
    /// A governance rule refused, or the store failed.
    #[error(transparent)]
    Governance(#[from] GovernanceError),
    /// Building the masked samples failed.
    #[error(transparent)]
    Datasets(#[from] shuyu_datasets::DatasetsError),
    /// Encrypted data: a bundle, key or ciphertext was refused, or TFHE-rs failed.
    #[error(transparent)]
    Crypto(#[from] shuyu_crypto::CryptoError),
    /// Reading or writing a file failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Bad input: a statement or argument this runtime cannot take as given.
    #[error("{0}")]
    Usage(String),
    /// The caller is known but may not do this.
    #[error("refused: {0}")]
    Denied(String),
    /// A resource limit was reached (concurrent jobs, memory, dev rows, held results).
    #[error("resource limit: {0}")]
    Busy(String),
    /// A service the job needs cannot be reached (the keyholder).
    #[error("{0}")]
    Unavailable(String),
    /// The query ran longer than a job may, before its budget was reserved.
    #[error("the query exceeded the time limit of {0:?} per job; add filters or fewer groups, or ask the bureau for a longer limit")]
    Timeout(Duration),
    /// The request asks for something this runtime does not serve.
    #[error("{0}")]
    NotServed(String),
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

impl RuntimeError {
    /// An [`RuntimeError::Io`] for `what`, to use with `map_err`.
    pub fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> RuntimeError {
        let what = what.into();
        move |source| RuntimeError::Io { what, source }
    }

    /// The fault class: the inner crate's own for its errors, and this crate's for its own.
    pub fn fault(&self) -> Fault {
        match self {
            RuntimeError::Compute(c) => c.fault(),
            RuntimeError::Planner(p) => p.fault(),
            RuntimeError::Governance(g) => g.fault(),
            RuntimeError::Datasets(d) => d.fault(),
            RuntimeError::Crypto(c) => c.fault(),
            RuntimeError::Usage(_) => Fault::InvalidArgument,
            RuntimeError::Denied(_) => Fault::PermissionDenied,
            RuntimeError::Busy(_) => Fault::ResourceLimit,
            RuntimeError::Unavailable(_) => Fault::Unavailable,
            RuntimeError::Timeout(_) => Fault::TimedOut,
            RuntimeError::NotServed(_) => Fault::FailedPrecondition,
            RuntimeError::Charged { .. } => Fault::Charged,
            RuntimeError::Io { .. } | RuntimeError::Internal(_) => Fault::Internal,
        }
    }
}
