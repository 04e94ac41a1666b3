//! EXPLAIN PRIVACY of a fused query, by the one renderer ([`ExplainTable`]): one row per
//! release (the summed columns, then the count, with the tier each runs on) and a total row.
//! Reads no ciphertext and spends nothing.

use arrow::record_batch::RecordBatch;

use super::plan::EncryptedPlan;
use super::query::{Aggregate, Output};
use crate::explain::{public_keys_text, ExplainRow, ExplainTable, GLOBAL_KEYS_TEXT};

/// The tier a summed column runs on, as EXPLAIN names it.
pub fn tier_text(linear: bool) -> &'static str {
    if linear {
        "linear tier, converted at import"
    } else {
        "bootstrapped tier"
    }
}

/// The EXPLAIN PRIVACY table of `plan`; `linear[i]` says whether the `i`-th summed column
/// runs on the linear tier (compute decides it from the import's converted columns).
pub fn explain_batch(plan: &EncryptedPlan, linear: &[bool]) -> RecordBatch {
    let query = &plan.query;
    let keys = if query.group_by.is_empty() { GLOBAL_KEYS_TEXT.to_string() } else { public_keys_text(plan.groups.len()) };
    let users = |want: &dyn Fn(&Aggregate) -> bool| -> String {
        let names: Vec<&str> = query.outputs.iter().filter(|(_, o)| matches!(o, Output::Aggregate(a) if want(a))).map(|(n, _)| n.as_str()).collect();
        names.join(", ")
    };
    let mut table = ExplainTable::default();
    let sums = plan.measurements.len() - usize::from(plan.count);
    for (i, m) in plan.measurements.iter().enumerate() {
        let (column, measure) = if i < sums {
            let c = &m.column;
            let tier = tier_text(linear.get(i).copied().unwrap_or(false));
            let measure = format!("{} ({tier}, bound {} verified at import)", m.label, m.sensitivity);
            (users(&|a| matches!(a, Aggregate::Sum(x) | Aggregate::Avg(x) if x == c)), measure)
        } else {
            (users(&|a| matches!(a, Aggregate::Count | Aggregate::Avg(_))), m.label.clone())
        };
        table.push(ExplainRow {
            release: Some(0),
            column,
            measure,
            sensitivity: Some(m.vector_sensitivity),
            calibration: m.calibration,
            half_width: m.calibration.map(|c| c.half_width),
            keys: keys.clone(),
        });
    }
    let measure = format!("{} releases, basic composition; noise added under encryption", plan.releases());
    table.finish(measure, plan.budget.definition, plan.total_cost(), 0.0)
}
