//! How the released keys are chosen. Without GROUP BY: one row. When every key has a public
//! domain and their product is at most [`MAX_PUBLIC_KEYS`]: every key of the product, empty
//! ones included (which keys exist in the data is never released). Otherwise: keys found in
//! the data, each released only if a noisy count of its units passes a threshold (partition
//! selection), which needs a zCDP budget with δ > 0. A unit's keys are bounded to
//! `max_groups` when it may reach more keys than that.

use datafusion::common::ScalarValue;
use shuyu_privacy::PrivacyDefinition;

use super::{AggregateDraft, AggregateRule};
use crate::error::Result;
use crate::facts::Facts;
use crate::plan::KeySet;
use crate::refusal::{refuse, RefusalCode};

/// Most keys a public-domain GROUP BY may release.
pub const MAX_PUBLIC_KEYS: usize = 100_000;

/// The inner plan's column of per-key counts of distinct units (partition selection).
pub const UNITS_COLUMN: &str = "__units";

/// Sets the draft's key set, final `max_groups` and `bound_groups`.
#[derive(Debug, Clone, Copy)]
pub struct SelectKeys;

impl AggregateRule for SelectKeys {
    fn name(&self) -> &'static str {
        "select_keys"
    }

    fn apply(&self, draft: &mut AggregateDraft<'_>) -> Result<()> {
        let domains: Vec<Option<Vec<ScalarValue>>> = draft.keys.iter().map(|(_, f)| Facts::public_domain(f)).collect();
        let product: Option<usize> = domains.iter().try_fold(1usize, |acc, d| d.as_ref().and_then(|d| acc.checked_mul(d.len().max(1))));
        let declared = draft.max_groups;
        if draft.keys.is_empty() {
            (draft.key_set, draft.max_groups) = (KeySet::Global, 1);
        } else if let Some(n) = product.filter(|n| *n <= MAX_PUBLIC_KEYS) {
            let domains = domains.into_iter().map(Option::unwrap_or_default).collect();
            (draft.key_set, draft.max_groups) = (KeySet::Public { domains, size: n }, declared.min(n.max(1) as u32));
        } else {
            let budget = draft.budget;
            if budget.delta <= 0.0 || budget.definition == PrivacyDefinition::PureDp {
                let missing: Vec<String> =
                    draft.keys.iter().zip(&domains).filter(|(_, d)| d.is_none()).map(|((e, _), _)| e.schema_name().to_string()).collect();
                if missing.is_empty() {
                    return refuse(
                        RefusalCode::TooManyGroups,
                        format!("the GROUP BY keys have more than {MAX_PUBLIC_KEYS} combinations; group by fewer or coarser keys"),
                    );
                }
                return refuse(
                    RefusalCode::PartitionSelectionNeedsDelta,
                    format!(
                        "GROUP BY {} has no public domain, so its keys must be chosen by DP partition selection, which \
                         needs a zCDP budget with delta > 0; group by a column with a public domain (or a CASE over \
                         constants), or ask the bureau for a zCDP authorization with a delta",
                        missing.join(", ")
                    ),
                );
            }
            draft.key_set = KeySet::Selected { units_column: UNITS_COLUMN.to_string(), max_partitions: declared, calibration: None };
        }
        draft.bound_groups = !draft.one_row_per_unit()
            && match &draft.key_set {
                KeySet::Global => false,
                KeySet::Public { size, .. } => *size as u32 > draft.max_groups,
                KeySet::Selected { .. } => true,
            };
        Ok(())
    }
}
