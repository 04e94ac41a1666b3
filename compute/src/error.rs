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
    /// The compute cluster could not be reached, or lost the job (executors gone). Its own
    /// message (addresses, job and task ids) stays in the front end's log.
    #[error("the compute cluster is unavailable; try again later, or ask the bureau to check the cluster's scheduler and executors")]
    ClusterUnavailable,
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

    /// Maps an error of a job run on the cluster, without its text. The cluster's errors
    /// arrive as text (the executor's error, inside Ballista's job failure message); they
    /// are classified by DataFusion's error prefixes into the same errors, with the same
    /// messages, that [`ComputeError::from_execution`] gives for the same failure run
    /// locally. The full text is logged here, in the front end, for the bureau.
    pub fn from_cluster(e: datafusion::error::DataFusionError) -> Self {
        use datafusion::error::DataFusionError as E;
        let text = match e.find_root() {
            E::External(_) | E::ResourcesExhausted(_) | E::ArrowError(..) | E::ParquetError(_) | E::IoError(_) | E::ObjectStore(_) => {
                return ComputeError::from_execution(e);
            }
            other => other.to_string(),
        };
        tracing::warn!(error = %text, "cluster job failed");
        // A task's error comes in its Display form (`Arrow error: …`) or, from Ballista's
        // executors, its Debug form (`ArrowError(CastError(…))`); both are recognised.
        let has = |forms: &[&str]| forms.iter().any(|f| text.contains(f));
        if has(&["Resources exhausted", "ResourcesExhausted("]) {
            return ComputeError::from_execution(E::ResourcesExhausted(String::new()));
        }
        if has(&["Arrow error", "ArrowError("]) {
            return ComputeError::Execution { category: "arrow compute error" };
        }
        if has(&["Parquet error", "ParquetError("]) {
            return ComputeError::Execution { category: READ_FAILED };
        }
        if has(&["IO error", "IoError(", "Object Store error", "ObjectStore("]) {
            return ComputeError::Execution { category: IO_FAILED };
        }
        for (display, debug) in [("Error during planning: ", "Plan(\""), ("Internal error: ", "Internal(\""), ("This feature is not implemented: ", "NotImplemented(\"")] {
            if let Some(at) = text.find(display) {
                let rest = &text[at + display.len()..];
                return ComputeError::Internal(format!("planner: {}", rest.lines().next().unwrap_or("")));
            }
            if let Some(at) = text.find(debug) {
                let rest = &text[at + debug.len()..];
                let message = rest.split("\")").next().unwrap_or("").replace("\\n", "\n");
                return ComputeError::Internal(format!("planner: {}", message.lines().next().unwrap_or("")));
            }
        }
        let unreachable = ["transport error", "Connection refused", "connection refused", "error trying to connect", "tcp connect error", "dns error", "Failed to connect", "Unavailable", "no executors", "Executor lost", "executor lost"];
        if unreachable.iter().any(|m| text.contains(m)) {
            return ComputeError::ClusterUnavailable;
        }
        ComputeError::Execution { category: "execution error" }
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
            ComputeError::ClusterUnavailable => Fault::Unavailable,
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
    fn cluster_errors_read_as_the_same_failure_run_locally() {
        use datafusion::error::DataFusionError as E;
        let job = |inner: &str| E::Execution(format!("Job aZ3kq failed: Task [stage 2, partition 1] failed on executor 9f2c at 10.0.0.7:50051: {inner}"));
        let local = |e: E| ComputeError::from_execution(e).to_string();
        let cast = "Arrow error: Cast error: Cannot cast string 'Wang Fang' to value of Int32 type";
        let mapped = ComputeError::from_cluster(job(cast));
        let ballista = "Job 038J2 failed: Job failed due to stage 0 failed: Task failed due to runtime execution error: DataFusionError(Shared(External(ArrowError(CastError(\"Cannot cast string 'Wang Fang' to value of Int32 type\")))))";
        assert_eq!(ComputeError::from_cluster(E::Execution(ballista.into())).to_string(), mapped.to_string(), "the executor's Debug form");
        let plan = ComputeError::from_cluster(job("DataFusionError(Plan(\"no field named x\"))"));
        assert_eq!(plan.to_string(), local(E::Plan("no field named x".into())));
        assert_eq!(mapped.to_string(), local(E::ArrowError(Box::new(arrow::error::ArrowError::CastError("x".into())), None)));
        assert!(!mapped.to_string().contains("Wang Fang") && !mapped.to_string().contains("10.0.0.7"), "{mapped}");
        assert_eq!(mapped.fault(), Fault::QueryFailed);
        let memory = ComputeError::from_cluster(job("Resources exhausted: Failed to allocate additional 8.0 MB for HashJoinInput"));
        assert_eq!(memory.to_string(), local(E::ResourcesExhausted("x".into())));
        assert_eq!(memory.fault(), Fault::ResourceLimit);
        let read = ComputeError::from_cluster(job("Parquet error: EOF: file size of 12 is less than footer"));
        assert_eq!(read.to_string(), local(E::ParquetError(Box::new(parquet_error()))));
        let gone = ComputeError::from_cluster(E::Execution("Status { code: Unavailable, message: \"tcp connect error: Connection refused\" } http://10.0.0.2:50050".into()));
        assert_eq!(gone.fault(), Fault::Unavailable);
        assert!(!gone.to_string().contains("10.0.0.2"), "{gone}");
        let other = ComputeError::from_cluster(job("Execution error: something with 'a value'"));
        assert!(!other.to_string().contains("a value"), "{other}");
    }

    fn parquet_error() -> datafusion::parquet::errors::ParquetError {
        datafusion::parquet::errors::ParquetError::General("x".into())
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
