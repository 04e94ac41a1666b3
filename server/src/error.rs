//! The binary's one error enum.

/// Errors of the command line.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Dataset generation failed.
    #[error(transparent)]
    Datasets(#[from] shuyu_datasets::DatasetsError),
    /// Planning or execution failed, or the query was refused.
    #[error(transparent)]
    Compute(#[from] shuyu_compute::ComputeError),
    /// The planner failed (opening a scope).
    #[error(transparent)]
    Planner(#[from] shuyu_planner::PlannerError),
    /// A governance rule refused, or the store failed.
    #[error(transparent)]
    Governance(#[from] shuyu_governance::GovernanceError),
    /// Reading or writing a file failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Bad command-line input.
    #[error("{0}")]
    Usage(String),
}
