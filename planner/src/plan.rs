//! The private plan: what the analyzer hands to the executor.
//!
//! A query becomes one or more [`Release`]s (one per aggregate over personal data) and an
//! outer plan that post-processes their noised values. Every release carries its inner,
//! exact, contribution-bounded DataFusion plan and, per noised vector, its sensitivity;
//! calibration then fills in mechanism, scale and cost.

use std::sync::Arc;

use arrow::datatypes::{DataType, SchemaRef};
use datafusion::common::ScalarValue;
use datafusion::logical_expr::LogicalPlan;
use shuyu_privacy::{Mechanism, PrivacyDefinition};

use crate::budget::QueryBudget;
use crate::release_table::ReleaseTable;

/// Calibration of one measurement: filled in by a [`Calibrator`].
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Calibration {
    /// Mechanism.
    pub mechanism: Mechanism,
    /// Noise scale (Laplace scale or Gaussian sigma) in the vector's integer units.
    pub scale: f64,
    /// Cost in the budget's definition (epsilon or rho).
    pub cost: f64,
    /// Delta spent (partition selection only).
    pub delta: f64,
    /// Threshold on noisy unit counts (partition selection only).
    pub threshold: i64,
    /// 95 % confidence half-width of one noisy value, in the vector's integer units.
    pub half_width: f64,
}

/// One noised vector: a per-key sum of a bounded integer per-row value.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Partial {
    /// Column of the inner plan's output holding it.
    pub column: String,
    /// What it sums, for humans ("count(*)", "sum(income - 100000) × 100").
    pub label: String,
    /// The most one unit changes it for one key, in integer units.
    pub sensitivity: f64,
    /// Sensitivity of the whole vector: L1 (pure DP) or L2 (zCDP).
    pub vector_sensitivity: f64,
    /// Calibration, once calibrated.
    pub calibration: Option<Calibration>,
}

/// How a released key set is chosen.
#[derive(Debug, Clone, serde::Serialize)]
pub enum KeySet {
    /// No GROUP BY: one row.
    Global,
    /// Every key of the public domains (their cartesian product), empty ones included.
    Public {
        /// The domain of each key column, in GROUP BY order.
        #[serde(skip)]
        domains: Vec<Vec<ScalarValue>>,
        /// Number of keys released.
        size: usize,
    },
    /// Keys found in the data, released only when a noisy count of units passes a threshold.
    Selected {
        /// Column of the inner plan holding the per-key count of distinct units.
        units_column: String,
        /// Most keys one unit can reach.
        max_partitions: u32,
        /// Calibration of the selection.
        calibration: Option<Calibration>,
    },
}

/// How one output column of the aggregate is computed from noisy partials.
#[derive(Debug, Clone, serde::Serialize)]
pub enum OutputKind {
    /// A count: the noisy partial, clamped at 0.
    Count {
        /// Partial index.
        partial: usize,
    },
    /// A sum on a fixed-point grid: noisy partial / grid.
    Sum {
        /// Partial index.
        partial: usize,
        /// Grid (values were multiplied by it and rounded before summing).
        grid: f64,
        /// The summed values are never negative: a negative noisy sum is released as 0.
        non_negative: bool,
    },
    /// A mean: mid + (noisy centred sum / grid) / noisy count, clamped into the bounds.
    Avg {
        /// Centred sum partial.
        sum: usize,
        /// Count partial.
        count: usize,
        /// Grid of the centred sum.
        grid: f64,
        /// Centre of the bounds.
        mid: f64,
        /// Declared bounds.
        bounds: (f64, f64),
    },
    /// Variance or standard deviation from centred sums of values and squares.
    Variance {
        /// Centred sum partial.
        sum: usize,
        /// Centred sum-of-squares partial.
        sum_sq: usize,
        /// Count partial.
        count: usize,
        /// Grid of the centred sum.
        grid: f64,
        /// Grid of the squares.
        grid_sq: f64,
        /// Declared bounds.
        bounds: (f64, f64),
        /// Sample (n - 1) rather than population.
        sample: bool,
        /// Square root (STDDEV).
        stddev: bool,
    },
    /// A quantile chosen by the exponential mechanism from a histogram.
    Quantile {
        /// Histogram index in the release.
        histogram: usize,
        /// Which quantile (0.5 = median).
        alpha: f64,
    },
}

/// One output column of a released aggregate.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Output {
    /// Output name (as the aggregate's schema names it).
    pub name: String,
    /// Aggregate as written.
    pub aggregate: String,
    /// How it is derived from noised partials.
    pub kind: OutputKind,
    /// Arrow type of the column in the aggregate's schema.
    #[serde(skip)]
    pub data_type: DataType,
}

/// A histogram release for one quantile: per key, counts of rows per bucket.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Histogram {
    /// Inner plan: key columns, `__bucket` (Int64), `__n` (Int64).
    #[serde(skip)]
    pub plan: LogicalPlan,
    /// Bounds the buckets cover.
    pub bounds: (f64, f64),
    /// Number of buckets (candidates are their midpoints).
    pub buckets: usize,
    /// Which quantile (0.5 = median).
    pub alpha: f64,
    /// Most rows one unit contributes to one key.
    pub max_rows: u32,
    /// Most keys one unit contributes to.
    pub max_groups: u32,
    /// Calibration of the exponential mechanism (cost over all keys).
    pub calibration: Option<Calibration>,
}

/// One release: an aggregate over personal data.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Release {
    /// Index of the release in the query.
    pub index: usize,
    /// Personal tables it reads.
    pub tables: Vec<String>,
    /// Inner plan: key columns `__k0..`, then one Int64 column per partial.
    #[serde(skip)]
    pub plan: LogicalPlan,
    /// The plan to run instead when `plan` fails with `bounding::NotClustered`: the same
    /// bounding as a two-level hash aggregation, for input not clustered by unit.
    #[serde(skip)]
    pub fallback: Option<LogicalPlan>,
    /// Number of key columns.
    pub key_count: usize,
    /// Key columns' arrow types, in GROUP BY order.
    #[serde(skip)]
    pub key_types: Vec<DataType>,
    /// How keys are released.
    pub keys: KeySet,
    /// Noised vectors.
    pub partials: Vec<Partial>,
    /// Quantile histograms.
    pub histograms: Vec<Histogram>,
    /// Output columns after the keys, in the aggregate's order.
    pub outputs: Vec<Output>,
    /// Schema of the released batch (same fields as the user's aggregate).
    #[serde(skip)]
    pub schema: SchemaRef,
    /// Contribution bounds applied: rows per key per unit, and keys per unit.
    pub max_rows: u32,
    /// Keys per unit.
    pub max_groups: u32,
    /// Where the released batch goes in the outer plan.
    #[serde(skip)]
    pub slot: Arc<ReleaseTable>,
}

impl Release {
    /// Whether the inner plan must run: its rows carry the partials and, under partition
    /// selection, the keys. A quantiles-only release over public keys (or one row) needs
    /// only its histogram plans.
    pub fn needs_inner(&self) -> bool {
        !self.partials.is_empty() || matches!(self.keys, KeySet::Selected { .. })
    }
}

/// A query the privacy analyzer accepted.
#[derive(Debug, Clone)]
pub struct PrivatePlan {
    /// The SQL as given.
    pub sql: String,
    /// Releases, in plan order.
    pub releases: Vec<Release>,
    /// The outer plan: post-processing over the released batches (and public tables).
    pub outer: LogicalPlan,
    /// The budget the plan was calibrated for.
    pub budget: QueryBudget,
    /// Whether it was calibrated.
    pub calibrated: bool,
}

impl PrivatePlan {
    /// Every measurement's calibration, in order (selections, partials, histograms).
    pub fn calibrations(&self) -> Vec<Calibration> {
        let mut out = Vec::new();
        for r in &self.releases {
            if let KeySet::Selected { calibration: Some(c), .. } = &r.keys {
                out.push(*c);
            }
            out.extend(r.partials.iter().filter_map(|p| p.calibration));
            out.extend(r.histograms.iter().filter_map(|h| h.calibration));
        }
        out
    }

    /// Number of measurements the budget is split across.
    pub fn measurement_count(&self) -> usize {
        self.releases
            .iter()
            .map(|r| r.partials.len() + r.histograms.len() + usize::from(matches!(r.keys, KeySet::Selected { .. })))
            .sum()
    }

    /// Total cost (basic composition, [`compose`]): epsilon or rho, and delta.
    pub fn total_cost(&self) -> (f64, f64) {
        compose(&self.calibrations())
    }

    /// Whether the query reads no personal data (answered exactly, at no cost).
    pub fn is_public(&self) -> bool {
        self.releases.is_empty()
    }
}

/// Calibrates measurements: implemented by the compute crate with OpenDP's privacy maps.
///
/// A measurement that cannot be calibrated is an error of the planner's own enum: a
/// [`PlannerError::Refused`](crate::PlannerError::Refused) (`INVALID_BUDGET`) when no noise
/// meets the budget share, [`PlannerError::Internal`](crate::PlannerError::Internal) for a
/// bug; the planner adds which measurement it was.
pub trait Calibrator {
    /// Noise for a vector with the given sensitivity (L1 for pure DP, L2 for zCDP) and budget share.
    fn calibrate_vector(&self, definition: PrivacyDefinition, vector_sensitivity: f64, budget: f64) -> crate::error::Result<Calibration>;
    /// Partition selection over keys, each unit reaching at most `max_partitions` keys.
    fn calibrate_selection(&self, definition: PrivacyDefinition, budget: f64, delta: f64, max_partitions: u32) -> crate::error::Result<Calibration>;
    /// Exponential-mechanism quantiles: one per key, `max_groups` keys per unit, each unit
    /// moving one key's scores by at most `max_rows`; `budget` for all keys together.
    fn calibrate_quantile(&self, definition: PrivacyDefinition, budget: f64, alpha: f64, max_rows: u32, max_groups: u32) -> crate::error::Result<Calibration>;
}

/// The composition rule of every plan, private or encrypted: basic composition, the sum of
/// the measurements' costs and of their deltas, rounded UP (never below the exact sum, as
/// OpenDP's own composition rounds). The ledger charges the sum rounded up to its nano-unit;
/// each share is calibrated a hair below its exact value ([`QueryBudget::share`]) so that the
/// rounded sum never exceeds what the query was given.
pub fn compose(calibrations: &[Calibration]) -> (f64, f64) {
    // fold from +0.0: an empty f64 sum is -0.0, which would print as "-0".
    (calibrations.iter().fold(0.0, |a, c| add_up(a, c.cost)), calibrations.iter().fold(0.0, |a, c| add_up(a, c.delta)))
}

/// `a + b` rounded up: the float sum, or the next float above it when the float sum fell
/// below the exact one (the exact rounding error, by Knuth's TwoSum).
fn add_up(a: f64, b: f64) -> f64 {
    let s = a + b;
    let bb = s - a;
    let err = (a - (s - bb)) + (b - bb);
    if err > 0.0 {
        s.next_up()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::add_up;

    #[test]
    fn costs_add_up_never_below_their_exact_sum() {
        // Exact sums stay as they are.
        assert_eq!(add_up(0.5, 0.25), 0.75);
        assert_eq!(add_up(0.0, 0.0), 0.0);
        // 0.1 + 0.2 is 0.3000000000000000444… as floats; the float sum rounds to the float
        // just above it, 0.30000000000000004: already at or above the exact sum, so kept.
        assert_eq!(add_up(0.1, 0.2), 0.1 + 0.2);
        // 1 + 2^-60 rounds down to 1 in floats: rounded up, it is the next float above 1.
        let tiny = 2f64.powi(-60);
        assert_eq!(1.0 + tiny, 1.0);
        assert_eq!(add_up(1.0, tiny), 1.0f64.next_up());
    }
}
