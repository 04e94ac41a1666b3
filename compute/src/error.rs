//! The compute crate's error enum, and the fault class of each of its errors.

use shuyu_privacy::Fault;
use shuyu_planner::PlannerError;

use crate::noise::NoiseError;

/// Errors of executing a private plan, by fault.
#[derive(Debug, thiserror::Error)]
pub enum ComputeError {
    /// Planning failed or the privacy rules refused the query.
    #[error(transparent)]
    Planner(#[from] PlannerError),
    /// A mechanism could not be built or invoked.
    #[error("noise: {0}")]
    Noise(#[from] NoiseError),
    /// Running the query failed. The engine's own message is withheld because it may quote
    /// a data value (a failed cast, an overflow); `category` says what kind of failure it was.
    #[error("query execution failed ({category}); check casts and arithmetic in the query, or ask the bureau to look at job logs")]
    Execution {
        /// A coarse, value-free category.
        category: &'static str,
    },
    /// The job exceeded a resource limit.
    #[error("resources exhausted: {0}")]
    ResourcesExhausted(String),
    /// Encrypted data: a bundle, key or ciphertext was refused, or TFHE-rs failed.
    #[cfg(feature = "encrypted")]
    #[error(transparent)]
    Crypto(#[from] shuyu_crypto::CryptoError),
    /// The keyholder refused or failed to release a job's aggregates; `fault` is its class
    /// (refused: permission denied; unreachable: unavailable).
    #[error("{message}")]
    Keyholder {
        /// The fault class of the keyholder's answer.
        fault: Fault,
        /// What it said, with the action to take.
        message: String,
    },
    /// Reading or writing a file of the encrypted path (keys, the CRS, converted columns).
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Likely a bug in shuyu.
    #[error("internal error (likely a bug in shuyu, please report it): {0}")]
    Internal(String),
}

impl ComputeError {
    /// An [`ComputeError::Io`] for `what`, to use with `map_err`.
    pub fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ComputeError {
        let what = what.into();
        move |source| ComputeError::Io { what, source }
    }

    /// Maps a DataFusion error raised while executing over data, without its text.
    pub fn from_execution(e: datafusion::error::DataFusionError) -> Self {
        use datafusion::error::DataFusionError as E;
        let root = e.find_root();
        match root {
            E::ResourcesExhausted(_) => ComputeError::ResourcesExhausted(
                "the query needs more memory than a job may use; add filters or fewer groups".into(),
            ),
            E::ArrowError(..) => ComputeError::Execution { category: "arrow compute error" },
            E::ParquetError(_) => ComputeError::Execution { category: READ_FAILED },
            E::IoError(_) | E::ObjectStore(_) => ComputeError::Execution { category: IO_FAILED },
            E::Plan(m) | E::Internal(m) | E::NotImplemented(m) => ComputeError::Internal(format!("planner: {}", m.lines().next().unwrap_or(""))),
            _ => ComputeError::Execution { category: "execution error" },
        }
    }

    /// The fault class. Execution errors are the query's own (a failed cast, an overflow)
    /// except a failed read of a dataset, which is the server's.
    pub fn fault(&self) -> Fault {
        match self {
            ComputeError::Planner(p) => p.fault(),
            ComputeError::Noise(n) => n.fault(),
            ComputeError::Execution { category } if is_read_failure(category) => Fault::Internal,
            ComputeError::Execution { .. } => Fault::QueryFailed,
            ComputeError::ResourcesExhausted(_) => Fault::ResourceLimit,
            #[cfg(feature = "encrypted")]
            ComputeError::Crypto(c) => c.fault(),
            ComputeError::Keyholder { fault, .. } => *fault,
            ComputeError::Io { .. } | ComputeError::Internal(_) => Fault::Internal,
        }
    }

    /// The refusal inside, if the planner refused.
    pub fn refusal(&self) -> Option<&shuyu_planner::Refusal> {
        match self {
            ComputeError::Planner(p) => p.refusal(),
            _ => None,
        }
    }
}

/// The categories of [`ComputeError::from_execution`] that are failed reads of a dataset.
fn is_read_failure(category: &str) -> bool {
    matches!(category, READ_FAILED | IO_FAILED)
}

const READ_FAILED: &str = "reading a dataset failed";
const IO_FAILED: &str = "i/o error reading a dataset";

impl NoiseError {
    /// The fault class: a parameter out of range or a budget no noise scale meets is the
    /// request's; OpenDP refusing a measurement it was given valid parameters for is a bug.
    pub fn fault(&self) -> Fault {
        match self {
            NoiseError::InvalidArgument(_) | NoiseError::Calibration(_) => Fault::InvalidArgument,
            NoiseError::OpenDp(_) => Fault::Internal,
        }
    }
}

#[cfg(test)]
mod tests {
    use shuyu_planner::{Refusal, RefusalCode};

    use super::*;

    #[test]
    fn execution_errors_are_the_querys_and_failed_reads_the_servers() {
        assert_eq!(ComputeError::Execution { category: "arrow compute error" }.fault(), Fault::QueryFailed);
        assert_eq!(ComputeError::Execution { category: READ_FAILED }.fault(), Fault::Internal);
        assert_eq!(ComputeError::Execution { category: IO_FAILED }.fault(), Fault::Internal);
        assert_eq!(ComputeError::ResourcesExhausted("memory".into()).fault(), Fault::ResourceLimit);
        assert_eq!(ComputeError::Internal("bug".into()).fault(), Fault::Internal);
        let unreachable = ComputeError::Keyholder { fault: Fault::Unavailable, message: "start the keyholder".into() };
        assert_eq!(unreachable.fault(), Fault::Unavailable);
        #[cfg(feature = "encrypted")]
        assert_eq!(ComputeError::Crypto(shuyu_crypto::CryptoError::Stopped("a conversion")).fault(), Fault::Unavailable);
    }

    #[test]
    fn planner_and_noise_errors_keep_their_class() {
        let refused = ComputeError::Planner(PlannerError::Refused(Refusal::new(RefusalCode::RowLevelOutput, "aggregate it")));
        assert_eq!(refused.fault(), Fault::Refused("ROW_LEVEL_OUTPUT"));
        assert_eq!(ComputeError::Planner(PlannerError::Plan("no table".into())).fault(), Fault::InvalidArgument);
        assert_eq!(ComputeError::Noise(NoiseError::Calibration("raise the budget".into())).fault(), Fault::InvalidArgument);
        assert_eq!(ComputeError::Noise(NoiseError::OpenDp("map".into())).fault(), Fault::Internal);
    }
}

/// Result alias of this crate.
pub type Result<T, E = ComputeError> = std::result::Result<T, E>;
