//! The compute crate's one error enum.

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
    /// Likely a bug in shuyu.
    #[error("internal error (likely a bug in shuyu, please report it): {0}")]
    Internal(String),
}

impl ComputeError {
    /// Maps a DataFusion error raised while executing over data, without its text.
    pub fn from_execution(e: datafusion::error::DataFusionError) -> Self {
        use datafusion::error::DataFusionError as E;
        let root = e.find_root();
        match root {
            E::ResourcesExhausted(_) => ComputeError::ResourcesExhausted(
                "the query needs more memory than a job may use; add filters or fewer groups".into(),
            ),
            E::ArrowError(..) => ComputeError::Execution { category: "arrow compute error" },
            E::ParquetError(_) => ComputeError::Execution { category: "reading a dataset failed" },
            E::IoError(_) | E::ObjectStore(_) => ComputeError::Execution { category: "i/o error reading a dataset" },
            E::Plan(m) | E::Internal(m) | E::NotImplemented(m) => ComputeError::Internal(format!("planner: {}", m.lines().next().unwrap_or(""))),
            _ => ComputeError::Execution { category: "execution error" },
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

/// Result alias of this crate.
pub type Result<T, E = ComputeError> = std::result::Result<T, E>;
