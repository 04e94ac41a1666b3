//! The planner's calibrator on OpenDP: scales from budgets, costs from OpenDP's own privacy
//! maps of the measurements that will draw the noise.

use shuyu_planner::plan::{Calibration, Calibrator};
use shuyu_planner::{PlannerError, Refusal, RefusalCode};
use shuyu_privacy::{Mechanism, PrivacyDefinition};

use crate::noise::{self, NoiseError};

/// Confidence level of the half-widths reported with each release.
pub const CONFIDENCE: f64 = 0.95;

/// Calibrates with OpenDP.
#[derive(Debug, Default, Clone, Copy)]
pub struct OpenDpCalibrator;

/// A calibration that failed, in the planner's terms: every parameter of a calibration comes
/// from the query's budget share and the catalog's bounds, so whatever OpenDP says (no scale
/// meets the share, a parameter out of range) is a refusal the analyst answers with another
/// budget (`INVALID_BUDGET`); the planner adds which measurement it was.
fn refused(e: NoiseError) -> PlannerError {
    PlannerError::Refused(Refusal::new(RefusalCode::InvalidBudget, e.to_string()))
}

impl Calibrator for OpenDpCalibrator {
    fn calibrate_vector(&self, d: PrivacyDefinition, sensitivity: f64, budget: f64) -> Result<Calibration, PlannerError> {
        let m = Mechanism::for_definition(d, true);
        let scale = noise::calibrate_scale(m, sensitivity, budget).map_err(refused)?;
        let cost = noise::release_cost(m, sensitivity, scale).map_err(refused)?;
        let half_width = noise::confidence_half_width(m, scale, CONFIDENCE).map_err(refused)?;
        Ok(Calibration {
            mechanism: m,
            scale,
            cost,
            delta: 0.0,
            threshold: 0,
            half_width,
        })
    }

    fn calibrate_selection(&self, d: PrivacyDefinition, budget: f64, delta: f64, max_partitions: u32) -> Result<Calibration, PlannerError> {
        let sel = noise::calibrate_partition_selection(d, budget, delta, max_partitions).map_err(refused)?;
        let (cost, spent_delta) = noise::partition_selection_cost(&sel).map_err(refused)?;
        Ok(Calibration {
            mechanism: Mechanism::PartitionSelection,
            scale: sel.scale,
            cost,
            delta: spent_delta,
            threshold: sel.threshold,
            half_width: 0.0,
        })
    }

    fn calibrate_quantile(&self, d: PrivacyDefinition, budget: f64, alpha: f64, max_rows: u32, max_groups: u32) -> Result<Calibration, PlannerError> {
        // Each unit reaches at most `max_groups` keys: split the budget across them.
        let per_key = budget / f64::from(max_groups.max(1));
        let scale = noise::quantile_scale(alpha, max_rows, d, per_key).map_err(refused)?;
        let cost = noise::quantile_cost(alpha, max_rows, d, scale).map_err(refused)? * f64::from(max_groups.max(1));
        Ok(Calibration { mechanism: Mechanism::ExponentialQuantile, scale, cost, delta: 0.0, threshold: 0, half_width: 0.0 })
    }
}

/// Selection parameters back from a calibration.
pub fn selection_of(c: &Calibration, d: PrivacyDefinition, max_partitions: u32) -> noise::PartitionSelection {
    noise::PartitionSelection {
        mechanism: Mechanism::for_definition(d, true),
        scale: c.scale,
        threshold: c.threshold,
        max_partitions,
    }
}
