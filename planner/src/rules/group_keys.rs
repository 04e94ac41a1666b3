//! The GROUP BY keys of an aggregate over personal data: no grouping sets (each grouping
//! would be a release of its own, uncounted), no key derived from the privacy unit (one
//! released row per unit), no key derived from a direct identifier.

use super::{AggregateDraft, AggregateRule};
use crate::error::Result;
use crate::facts::expr_facts;
use crate::refusal::{refuse, RefusalCode};
use datafusion::logical_expr::Expr;

/// Checks every key and records it with its facts.
#[derive(Debug, Clone, Copy)]
pub struct GroupKeys;

impl AggregateRule for GroupKeys {
    fn name(&self) -> &'static str {
        "group_keys"
    }

    fn apply(&self, draft: &mut AggregateDraft<'_>) -> Result<()> {
        let mut keys = Vec::new();
        for g in &draft.agg.group_expr {
            if matches!(g, Expr::GroupingSet(_)) {
                return refuse(RefusalCode::UnboundedSensitivity, "ROLLUP, CUBE and GROUPING SETS are not supported; run one query per grouping");
            }
            let f = expr_facts(g, draft.input_schema, &draft.rel.columns);
            if f.from_unit {
                let kind = &draft.unit.kind;
                return refuse(
                    RefusalCode::GroupByUnit,
                    format!(
                        "grouping by the privacy unit ({}) would release one value per {kind}; group by a public attribute \
                         instead, or aggregate per {kind} in a subquery and aggregate again outside it",
                        g.schema_name(),
                    ),
                );
            }
            if f.from_identifier {
                return refuse(
                    RefusalCode::GroupByIdentifier,
                    format!("grouping by {} uses a direct identifier; identifiers may never be grouped on or released", g.schema_name()),
                );
            }
            keys.push((g.clone(), f));
        }
        draft.keys = keys;
        Ok(())
    }
}
