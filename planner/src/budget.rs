//! What one query may spend: the privacy definition and amount, and contribution bounds.

use shuyu_privacy::PrivacyDefinition;

use crate::refusal::{Refusal, RefusalCode};

/// The budget of one query.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct QueryBudget {
    /// Definition the amount is expressed in.
    pub definition: PrivacyDefinition,
    /// Epsilon (pure DP) or rho (zCDP) this query may spend in all.
    pub amount: f64,
    /// Delta available to partition selection (0 forbids it).
    pub delta: f64,
    /// Override (downward only) of the tables' `max_groups`.
    pub max_groups: Option<u32>,
    /// Override (downward only) of the tables' `max_rows`.
    pub max_rows: Option<u32>,
}

impl QueryBudget {
    /// A pure-DP budget of `epsilon`.
    pub fn pure(epsilon: f64) -> Self {
        QueryBudget { definition: PrivacyDefinition::PureDp, amount: epsilon, delta: 0.0, max_groups: None, max_rows: None }
    }

    /// A zCDP budget of `rho`, with `delta` for partition selection.
    pub fn zcdp(rho: f64, delta: f64) -> Self {
        QueryBudget { definition: PrivacyDefinition::Zcdp, amount: rho, delta, max_groups: None, max_rows: None }
    }

    /// Sets the delta available to partition selection.
    pub fn with_delta(mut self, delta: f64) -> Self {
        self.delta = delta;
        self
    }

    /// Lowers the contribution bounds for this query.
    pub fn with_bounds(mut self, max_groups: Option<u32>, max_rows: Option<u32>) -> Self {
        self.max_groups = max_groups;
        self.max_rows = max_rows;
        self
    }

    /// The budget split: each of `measurements` measurements gets an even share of the
    /// amount, a hair under the exact share, since the ledger charges the composed cost
    /// rounded up to the nano-unit and a float share such as 0.1 lies just above its decimal.
    pub fn share(&self, measurements: usize) -> f64 {
        self.amount / measurements.max(1) as f64 * (1.0 - 1e-12)
    }

    /// The δ split: an even share of the query's δ for each of `selections` partition
    /// selections (0 without any), a hair under for the same reason as [`QueryBudget::share`].
    pub fn delta_share(&self, selections: usize) -> f64 {
        if selections == 0 {
            0.0
        } else {
            self.delta / selections as f64 * (1.0 - 1e-12)
        }
    }

    /// Checks the budget is usable.
    pub fn validate(&self) -> Result<(), Refusal> {
        if !(self.amount.is_finite() && self.amount > 0.0) {
            return Err(Refusal::new(RefusalCode::InvalidBudget, "the query budget must be a positive finite number"));
        }
        if !(self.delta.is_finite() && (0.0..1.0).contains(&self.delta)) {
            return Err(Refusal::new(RefusalCode::InvalidBudget, "delta must be in [0, 1)"));
        }
        if self.max_groups == Some(0) || self.max_rows == Some(0) {
            return Err(Refusal::new(RefusalCode::InvalidBudget, "contribution bounds must be at least 1"));
        }
        Ok(())
    }
}
