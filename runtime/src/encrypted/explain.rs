//! EXPLAIN PRIVACY of a fused query, in the planner's EXPLAIN schema: one row per release
//! (the summed columns, then the count, with their tier) and a total row. Reads no
//! ciphertext and spends nothing.

use std::sync::Arc;

use shuyu_compute::noise::confidence_half_width;
use shuyu_privacy::{Mechanism, PrivacyDefinition};

use super::context::EncryptionContext;
use super::execute::{EncryptedPlan, Releases};
use super::fused::{self, FusedQuery};
use crate::RuntimeError;

/// The EXPLAIN PRIVACY table of `plan`.
pub(crate) fn batch(plan: &EncryptedPlan, enc: &EncryptionContext) -> Result<arrow::record_batch::RecordBatch, RuntimeError> {
    let linear = plan.linear(enc);
    explain_batch(&plan.query, &plan.releases, &linear, &plan.calibration, plan.mechanism, plan.cost, plan.groups.len(), plan.budget.definition)
        .map_err(RuntimeError::Internal)
}

/// EXPLAIN PRIVACY of a fused query, in the planner's EXPLAIN schema: one row per release
/// (the summed columns, then the count) and a total row.
#[allow(clippy::too_many_arguments)]
fn explain_batch(
    query: &FusedQuery,
    releases: &Releases,
    linear: &[bool],
    plan: &[(f64, f64)],
    mechanism: Mechanism,
    total: f64,
    groups: usize,
    definition: PrivacyDefinition,
) -> Result<arrow::record_batch::RecordBatch, String> {
    use arrow::array::{ArrayRef, Float64Array, Int64Array, StringArray};
    use fused::{Aggregate, Output};
    let keys = if query.group_by.is_empty() { "one row".to_string() } else { format!("public domain: {groups} keys, empty ones included") };
    let users = |want: &dyn Fn(&Aggregate) -> bool| -> String {
        query
            .outputs
            .iter()
            .filter(|(_, o)| matches!(o, Output::Aggregate(a) if want(a)))
            .map(|(name, _)| name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let encrypted_count = !query.encrypted_filters.is_empty();
    let mut rows: Vec<(Option<i64>, String, String, String, Option<f64>, Option<f64>, Option<f64>, Option<f64>, String)> = Vec::new();
    let measures = releases.sums.iter().zip(linear).map(|((c, b), &linear)| {
        let tier = if linear { "linear tier, converted at import" } else { "bootstrapped tier" };
        (
            users(&|a| matches!(a, Aggregate::Sum(x) | Aggregate::Avg(x) if x == c)),
            format!("sum({c}) under encryption ({tier}, bound {b} verified at import)"),
            f64::from(*b),
        )
    });
    let count = releases.count.then(|| {
        let measure = if encrypted_count { "count(*) under encryption" } else { "count(*) of plaintext matches" };
        (users(&|a| matches!(a, Aggregate::Count | Aggregate::Avg(_))), measure.to_string(), 1.0)
    });
    for ((column, measure, sensitivity), (scale, cost)) in measures.chain(count).zip(plan) {
        let half = confidence_half_width(mechanism, *scale, 0.95).map_err(|e| e.to_string())?;
        rows.push((Some(0), column, measure, mechanism.name().to_string(), Some(sensitivity), Some(*scale), Some(*cost), Some(half), keys.clone()));
    }
    let unit = definition.unit_name();
    rows.push((None, "(total)".into(), format!("{} releases, basic composition; noise added under encryption", plan.len()), format!("{unit} (delta 0e0)"), None, None, Some(total), None, String::new()));
    let cols: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(rows.iter().map(|r| r.0).collect::<Vec<_>>())),
        Arc::new(StringArray::from(rows.iter().map(|r| r.1.clone()).collect::<Vec<_>>())),
        Arc::new(StringArray::from(rows.iter().map(|r| r.2.clone()).collect::<Vec<_>>())),
        Arc::new(StringArray::from(rows.iter().map(|r| r.3.clone()).collect::<Vec<_>>())),
        Arc::new(Float64Array::from(rows.iter().map(|r| r.4).collect::<Vec<_>>())),
        Arc::new(Float64Array::from(rows.iter().map(|r| r.5).collect::<Vec<_>>())),
        Arc::new(Float64Array::from(rows.iter().map(|r| r.6).collect::<Vec<_>>())),
        Arc::new(Float64Array::from(rows.iter().map(|r| r.7).collect::<Vec<_>>())),
        Arc::new(StringArray::from(rows.iter().map(|r| r.8.clone()).collect::<Vec<_>>())),
    ];
    arrow::record_batch::RecordBatch::try_new(shuyu_planner::explain::explain_schema(), cols).map_err(|e| e.to_string())
}
