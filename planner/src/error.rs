//! The planner's one error enum.

use crate::refusal::Refusal;

/// Errors of the planner, by fault.
#[derive(Debug, thiserror::Error)]
pub enum PlannerError {
    /// The SQL does not parse or does not plan (unknown table or column, type error).
    #[error("invalid query: {0}")]
    Plan(String),
    /// The query is valid SQL but the privacy rules refuse it.
    #[error("{0}")]
    Refused(Refusal),
    /// A catalog entry or scope is inconsistent (a grant names a column the table lacks).
    #[error("invalid scope: {0}")]
    Scope(String),
    /// Likely a bug in shuyu.
    #[error("internal error (likely a bug in shuyu, please report it): {0}")]
    Internal(String),
}

impl PlannerError {
    /// Wraps a DataFusion error raised while parsing or planning the user's SQL.
    ///
    /// DataFusion's planning errors name tables, columns and types, never row values, so
    /// their text is safe to show; execution errors are mapped elsewhere.
    pub fn from_planning(e: datafusion::error::DataFusionError) -> Self {
        let text = e.strip_backtrace();
        PlannerError::Plan(text)
    }

    /// The refusal, if this error is one.
    pub fn refusal(&self) -> Option<&Refusal> {
        match self {
            PlannerError::Refused(r) => Some(r),
            _ => None,
        }
    }
}

impl From<Refusal> for PlannerError {
    fn from(r: Refusal) -> Self {
        PlannerError::Refused(r)
    }
}

/// Result alias of the planner.
pub type Result<T, E = PlannerError> = std::result::Result<T, E>;
