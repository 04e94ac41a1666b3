//! The planner's one error enum.

use shuyu_privacy::Fault;

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

    /// The fault class: bad SQL is an invalid argument, a refusal carries its code, an
    /// inconsistent scope and a bug are internal.
    pub fn fault(&self) -> Fault {
        match self {
            PlannerError::Plan(_) => Fault::InvalidArgument,
            PlannerError::Refused(r) => Fault::Refused(r.code.as_str()),
            PlannerError::Scope(_) | PlannerError::Internal(_) => Fault::Internal,
        }
    }

    /// The error with `context` in front of its reason (`cannot calibrate count: …`); a
    /// refusal keeps its code.
    pub fn context(self, context: &str) -> Self {
        match self {
            PlannerError::Plan(m) => PlannerError::Plan(format!("{context}: {m}")),
            PlannerError::Refused(r) => PlannerError::Refused(Refusal::new(r.code, format!("{context}: {}", r.message))),
            PlannerError::Scope(m) => PlannerError::Scope(format!("{context}: {m}")),
            PlannerError::Internal(m) => PlannerError::Internal(format!("{context}: {m}")),
        }
    }
}

impl From<Refusal> for PlannerError {
    fn from(r: Refusal) -> Self {
        PlannerError::Refused(r)
    }
}

/// Carries a planner error through DataFusion's tree-rewriting closures.
#[derive(Debug)]
struct Carried(PlannerError);

impl std::fmt::Display for Carried {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for Carried {}

/// A planner error wrapped for a DataFusion closure (undone by [`from_df`]).
pub(crate) fn to_df(e: PlannerError) -> datafusion::error::DataFusionError {
    datafusion::error::DataFusionError::External(Box::new(Carried(e)))
}

/// The planner error a DataFusion closure carried out, or an internal error for any other.
pub(crate) fn from_df(e: datafusion::error::DataFusionError) -> PlannerError {
    match e {
        datafusion::error::DataFusionError::External(b) => match b.downcast::<Carried>() {
            Ok(c) => c.0,
            Err(other) => PlannerError::Internal(other.to_string()),
        },
        other => PlannerError::Internal(other.strip_backtrace()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::refusal::RefusalCode;

    #[test]
    fn each_error_reports_its_fault_and_a_refusal_its_code() {
        assert_eq!(PlannerError::Plan("table nope not found".into()).fault(), Fault::InvalidArgument);
        let refused = PlannerError::Refused(Refusal::new(RefusalCode::WindowFunction, "aggregate first"));
        assert_eq!(refused.fault(), Fault::Refused("WINDOW_FUNCTION"));
        assert_eq!(refused.fault().refusal_code(), Some("WINDOW_FUNCTION"));
        assert_eq!(PlannerError::Scope("grant names a missing column".into()).fault(), Fault::Internal);
        assert_eq!(PlannerError::Internal("bug".into()).fault(), Fault::Internal);
    }

    #[test]
    fn context_keeps_a_refusals_code() {
        let e = PlannerError::Refused(Refusal::new(RefusalCode::InvalidBudget, "no noise scale meets the budget"));
        let e = e.context("cannot calibrate count");
        assert_eq!(e.fault(), Fault::Refused("INVALID_BUDGET"));
        assert_eq!(e.to_string(), "refused [INVALID_BUDGET]: cannot calibrate count: no noise scale meets the budget");
    }
}

/// Result alias of the planner.
pub type Result<T, E = PlannerError> = std::result::Result<T, E>;
