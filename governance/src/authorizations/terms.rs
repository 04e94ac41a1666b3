//! [`ScenarioTerms`]: the terms of one scenario's authorization without the unit it is
//! for — what a unit asks for in a data request and what the bureau signs in an agreement.
//! Both become a [`NewAuthorization`] through [`ScenarioTerms::for_unit`] and are granted
//! by the one grant body, with its checks.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{BudgetTerms, ExportPolicy, GrantedDataset, Mode, NewAuthorization, PrivacyTerms, Right};
use crate::ids::UnitId;

/// The terms of an authorization, for a unit named elsewhere.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenarioTerms {
    /// Scenario name (one scenario, one authorization).
    pub scenario: String,
    /// Purpose of the processing.
    pub purpose: String,
    /// Partners.
    pub partners: Vec<String>,
    /// Datasets and the exact columns (minimum necessary).
    pub datasets: Vec<GrantedDataset>,
    /// Start of the term.
    pub term_start: DateTime<Utc>,
    /// End of the term (exclusive).
    pub term_end: DateTime<Utc>,
    /// Rights.
    pub rights: Vec<Right>,
    /// Free or paid.
    pub mode: Mode,
    /// Privacy definition and per-query delta.
    pub privacy: PrivacyTerms,
    /// Budget.
    pub budget: BudgetTerms,
    /// Export policy.
    pub export_policy: ExportPolicy,
}

impl ScenarioTerms {
    /// The grant these terms ask of `unit`.
    pub fn for_unit(&self, unit: UnitId) -> NewAuthorization {
        NewAuthorization {
            unit,
            scenario: self.scenario.clone(),
            purpose: self.purpose.clone(),
            partners: self.partners.clone(),
            datasets: self.datasets.clone(),
            term_start: self.term_start,
            term_end: self.term_end,
            rights: self.rights.clone(),
            mode: self.mode,
            privacy: self.privacy,
            budget: self.budget,
            export_policy: self.export_policy,
        }
    }
}
