//! The fault classes every crate's error reports (`fn fault(&self) -> Fault`).
//!
//! One class per way a request can end badly, as seen by whoever sent it. The server turns a
//! class into a gRPC code in one match, and governance's job records derive their status
//! from it, so an error is classified once, by the crate that raised it.

use std::fmt;

/// What kind of failure an error is, independent of the crate that raised it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fault {
    /// The request is malformed: bad SQL, an unknown table or column, a bad header or
    /// argument, a budget that cannot be calibrated, a refused bundle or key.
    InvalidArgument,
    /// The query ran and failed because of what it computes (a failed cast, an overflow);
    /// its error says which kind, never the value.
    QueryFailed,
    /// The privacy rules refuse the query; the code (`ROW_LEVEL_OUTPUT`, …) names the rule.
    Refused(&'static str),
    /// The caller may not do this: role, tenant, a suspended or revoked unit or
    /// authorization, a read-only domain, the keyholder refusing a release.
    PermissionDenied,
    /// The caller presented no usable credential.
    Unauthenticated,
    /// The object does not exist, or belongs to another unit (the two read the same).
    NotFound,
    /// The privacy budget, a per-query cap or the unit's loss cap cannot cover the query.
    BudgetExhausted,
    /// A resource limit of the service: concurrent jobs, the memory pool, result rows.
    ResourceLimit,
    /// The job ran past its time limit before its budget was reserved.
    TimedOut,
    /// The job failed after its budget was reserved: its full cost was charged, whatever
    /// the cause (which only the job record keeps).
    Charged,
    /// The request clashes with the current state (a duplicate name, a pending export) or
    /// asks for what this server does not serve.
    FailedPrecondition,
    /// A service the request needs cannot be reached (the keyholder).
    Unavailable,
    /// An integrity check failed: the audit chain or the budget ledger does not verify.
    IntegrityBroken,
    /// The store, a file or a bug: the details stay in the server's log.
    Internal,
}

impl Fault {
    /// A short stable name of the class (`refused`, `budget_exhausted`, …), as clients
    /// receive it in the `x-shuyu-fault` response header.
    pub fn as_str(self) -> &'static str {
        match self {
            Fault::InvalidArgument => "invalid_argument",
            Fault::QueryFailed => "query_failed",
            Fault::Refused(_) => "refused",
            Fault::PermissionDenied => "permission_denied",
            Fault::Unauthenticated => "unauthenticated",
            Fault::NotFound => "not_found",
            Fault::BudgetExhausted => "budget_exhausted",
            Fault::ResourceLimit => "resource_limit",
            Fault::TimedOut => "timed_out",
            Fault::Charged => "charged",
            Fault::FailedPrecondition => "failed_precondition",
            Fault::Unavailable => "unavailable",
            Fault::IntegrityBroken => "integrity_broken",
            Fault::Internal => "internal",
        }
    }

    /// The refusal code, when the privacy rules refused.
    pub fn refusal_code(self) -> Option<&'static str> {
        match self {
            Fault::Refused(code) => Some(code),
            _ => None,
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Refused(code) => write!(f, "refused [{code}]"),
            other => f.write_str(other.as_str()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_stable_and_distinct() {
        let all = [
            Fault::InvalidArgument,
            Fault::QueryFailed,
            Fault::Refused("ROW_LEVEL_OUTPUT"),
            Fault::PermissionDenied,
            Fault::Unauthenticated,
            Fault::NotFound,
            Fault::BudgetExhausted,
            Fault::ResourceLimit,
            Fault::TimedOut,
            Fault::Charged,
            Fault::FailedPrecondition,
            Fault::Unavailable,
            Fault::IntegrityBroken,
            Fault::Internal,
        ];
        let names: std::collections::HashSet<&str> = all.iter().map(|f| f.as_str()).collect();
        assert_eq!(names.len(), all.len());
        assert_eq!(Fault::BudgetExhausted.as_str(), "budget_exhausted");
        assert_eq!(Fault::Refused("ROW_LEVEL_OUTPUT").to_string(), "refused [ROW_LEVEL_OUTPUT]");
    }

    #[test]
    fn only_refusals_carry_a_code() {
        assert_eq!(Fault::Refused("TOO_MANY_GROUPS").refusal_code(), Some("TOO_MANY_GROUPS"));
        assert_eq!(Fault::PermissionDenied.refusal_code(), None);
        assert_eq!(Fault::BudgetExhausted.refusal_code(), None);
    }
}
