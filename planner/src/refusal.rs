//! Refusals: why the privacy analyzer will not answer a query, and what to change.

use std::fmt;

/// Stable reason codes of refusals (clients and tests match on these).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RefusalCode {
    /// The query would return rows of personal data rather than aggregates.
    RowLevelOutput,
    /// GROUP BY on the privacy-unit column.
    GroupByUnit,
    /// GROUP BY on a direct identifier (name, ID number).
    GroupByIdentifier,
    /// A direct identifier appears where it could leak (output, aggregate argument).
    DirectIdentifier,
    /// An aggregate over a value without declared bounds.
    UnboundedAggregate,
    /// A window function over personal rows.
    WindowFunction,
    /// An aggregate function shuyu has no private version of (MIN, MAX, …).
    UnsupportedAggregate,
    /// A join that would not keep each person's influence bounded.
    UnsupportedJoin,
    /// A construct whose sensitivity cannot be bounded (LIMIT under an aggregate, UNION…).
    UnboundedSensitivity,
    /// GROUP BY keys without a public domain need partition selection, which needs delta > 0.
    PartitionSelectionNeedsDelta,
    /// Too many public keys to release (the product of domains is too large).
    TooManyGroups,
    /// A subquery over personal data inside an expression.
    PersonalSubquery,
    /// The query is not a SELECT (DDL, DML, COPY, SET…).
    NotAQuery,
    /// The requested budget is not valid (zero, negative, above the cap).
    InvalidBudget,
    /// Tables of different privacy units combined.
    MixedPrivacyUnits,
    /// An expression over personal rows that could fail at run time or take a time that
    /// grows with the data (a function not on the list, a pattern from the data, `repeat`).
    ExpressionNotAllowed,
}

impl RefusalCode {
    /// The code as clients see it.
    pub fn as_str(self) -> &'static str {
        match self {
            RefusalCode::RowLevelOutput => "ROW_LEVEL_OUTPUT",
            RefusalCode::GroupByUnit => "GROUP_BY_UNIT",
            RefusalCode::GroupByIdentifier => "GROUP_BY_IDENTIFIER",
            RefusalCode::DirectIdentifier => "DIRECT_IDENTIFIER",
            RefusalCode::UnboundedAggregate => "UNBOUNDED_AGGREGATE",
            RefusalCode::WindowFunction => "WINDOW_FUNCTION",
            RefusalCode::UnsupportedAggregate => "UNSUPPORTED_AGGREGATE",
            RefusalCode::UnsupportedJoin => "UNSUPPORTED_JOIN",
            RefusalCode::UnboundedSensitivity => "UNBOUNDED_SENSITIVITY",
            RefusalCode::PartitionSelectionNeedsDelta => "PARTITION_SELECTION_NEEDS_DELTA",
            RefusalCode::TooManyGroups => "TOO_MANY_GROUPS",
            RefusalCode::PersonalSubquery => "PERSONAL_SUBQUERY",
            RefusalCode::NotAQuery => "NOT_A_QUERY",
            RefusalCode::InvalidBudget => "INVALID_BUDGET",
            RefusalCode::MixedPrivacyUnits => "MIXED_PRIVACY_UNITS",
            RefusalCode::ExpressionNotAllowed => "EXPRESSION_NOT_ALLOWED",
        }
    }
}

/// A refusal: a stable code and a message that says what to change.
///
/// Messages name tables, columns and functions, never a data value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Stable reason code.
    pub code: RefusalCode,
    /// What is wrong and what the user can do instead.
    pub message: String,
}

impl Refusal {
    /// A refusal with a code and a message.
    pub fn new(code: RefusalCode, message: impl Into<String>) -> Self {
        Refusal { code, message: message.into() }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "refused [{}]: {}", self.code.as_str(), self.message)
    }
}

/// Shorthand: `Err(refuse(code, msg))`.
pub fn refuse<T>(code: RefusalCode, message: impl Into<String>) -> Result<T, crate::PlannerError> {
    Err(refused(code, message))
}

/// The planner error of a refusal with `code` and `message` (for `ok_or_else` and `map_err`).
pub fn refused(code: RefusalCode, message: impl Into<String>) -> crate::PlannerError {
    crate::PlannerError::Refused(Refusal::new(code, message))
}
