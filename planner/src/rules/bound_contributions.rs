//! Contribution bounds: how many rows one unit may contribute to one key (`max_rows`) and to
//! how many keys (`max_groups`). On a one-row-per-unit input both are 1 and nothing needs
//! bounding; otherwise the catalog's bounds apply, lowered (never raised) by the query's
//! budget, and at least 1.

use super::{AggregateDraft, AggregateRule};
use crate::error::Result;

/// Sets the draft's `max_rows` and declared `max_groups`.
#[derive(Debug, Clone, Copy)]
pub struct BoundContributions;

impl AggregateRule for BoundContributions {
    fn name(&self) -> &'static str {
        "bound_contributions"
    }

    fn apply(&self, draft: &mut AggregateDraft<'_>) -> Result<()> {
        if draft.one_row_per_unit() {
            (draft.max_rows, draft.max_groups) = (1, 1);
            return Ok(());
        }
        let cap_rows = draft.budget.max_rows.unwrap_or(u32::MAX);
        let cap_groups = draft.budget.max_groups.unwrap_or(u32::MAX);
        draft.max_rows = draft.unit.max_rows.min(cap_rows).max(1);
        draft.max_groups = draft.unit.max_groups.min(cap_groups).max(1);
        Ok(())
    }
}
