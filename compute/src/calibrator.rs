//! The planner's calibrator on OpenDP: scales from budgets, costs from OpenDP's own privacy
//! maps of the measurements that will draw the noise.

use shuyu_planner::plan::{Calibration, Calibrator, Mechanism as PlanMechanism};
use shuyu_planner::PrivacyDefinition as PlanDefinition;
use shuyu_planner::{PlannerError, Refusal, RefusalCode};

use crate::noise::{self, Mechanism, NoiseError, PrivacyDefinition};

/// Confidence level of the half-widths reported with each release.
pub const CONFIDENCE: f64 = 0.95;

/// Calibrates with OpenDP.
#[derive(Debug, Default, Clone, Copy)]
pub struct OpenDpCalibrator;

/// The noise module's definition for a planner definition.
pub fn definition(d: PlanDefinition) -> PrivacyDefinition {
    match d {
        PlanDefinition::PureDp => PrivacyDefinition::PureDp,
        PlanDefinition::Zcdp => PrivacyDefinition::Zcdp,
    }
}

/// The integer mechanism of a definition.
pub fn integer_mechanism(d: PlanDefinition) -> Mechanism {
    Mechanism::for_definition(definition(d), true)
}

/// A calibration that failed, in the planner's terms: every parameter of a calibration comes
/// from the query's budget share and the catalog's bounds, so whatever OpenDP says (no scale
/// meets the share, a parameter out of range) is a refusal the analyst answers with another
/// budget (`INVALID_BUDGET`); the planner adds which measurement it was.
fn refused(e: NoiseError) -> PlannerError {
    PlannerError::Refused(Refusal::new(RefusalCode::InvalidBudget, e.to_string()))
}

impl Calibrator for OpenDpCalibrator {
    fn calibrate_vector(&self, d: PlanDefinition, sensitivity: f64, budget: f64) -> Result<Calibration, PlannerError> {
        let m = integer_mechanism(d);
        let scale = noise::calibrate_scale(m, sensitivity, budget).map_err(refused)?;
        let cost = noise::release_cost(m, sensitivity, scale).map_err(refused)?;
        let half_width = noise::confidence_half_width(m, scale, CONFIDENCE).map_err(refused)?;
        Ok(Calibration {
            mechanism: match m {
                Mechanism::DiscreteGaussian => PlanMechanism::DiscreteGaussian,
                _ => PlanMechanism::DiscreteLaplace,
            },
            scale,
            cost,
            delta: 0.0,
            threshold: 0,
            half_width,
        })
    }

    fn calibrate_selection(&self, d: PlanDefinition, budget: f64, delta: f64, max_partitions: u32) -> Result<Calibration, PlannerError> {
        let sel = noise::calibrate_partition_selection(definition(d), budget, delta, max_partitions).map_err(refused)?;
        let (cost, spent_delta) = noise::partition_selection_cost(&sel).map_err(refused)?;
        Ok(Calibration {
            mechanism: PlanMechanism::PartitionSelection,
            scale: sel.scale,
            cost,
            delta: spent_delta,
            threshold: sel.threshold,
            half_width: 0.0,
        })
    }

    fn calibrate_quantile(&self, d: PlanDefinition, budget: f64, alpha: f64, max_rows: u32, max_groups: u32) -> Result<Calibration, PlannerError> {
        // Each unit reaches at most `max_groups` keys: split the budget across them.
        let per_key = budget / f64::from(max_groups.max(1));
        let scale = noise::quantile_scale(alpha, max_rows, definition(d), per_key).map_err(refused)?;
        let cost = noise::quantile_cost(alpha, max_rows, definition(d), scale).map_err(refused)? * f64::from(max_groups.max(1));
        Ok(Calibration { mechanism: PlanMechanism::ExponentialQuantile, scale, cost, delta: 0.0, threshold: 0, half_width: 0.0 })
    }
}

/// Selection parameters back from a calibration.
pub fn selection_of(c: &Calibration, d: PlanDefinition, max_partitions: u32) -> noise::PartitionSelection {
    noise::PartitionSelection {
        mechanism: integer_mechanism(d),
        scale: c.scale,
        threshold: c.threshold,
        max_partitions,
    }
}
