//! No personal row reaches the output unaggregated: a scan of a personal table met above
//! every release (the driver replaced each aggregate over personal data by its release
//! before it got here) would return its rows.

use datafusion::logical_expr::LogicalPlan;

use super::PlanRule;
use crate::error::Result;
use crate::refusal::{refuse, RefusalCode};
use crate::relation::touches_personal;
use crate::scope::ScopeCatalog;

/// Refuses a scan of a personal table outside any aggregate.
#[derive(Debug, Clone, Copy)]
pub struct NoRowLevelOutput;

impl PlanRule for NoRowLevelOutput {
    fn name(&self) -> &'static str {
        "no_row_level_output"
    }

    fn check(&self, node: &LogicalPlan, catalog: &ScopeCatalog) -> Result<()> {
        match node {
            LogicalPlan::TableScan(scan) if touches_personal(node, catalog) => refuse(
                RefusalCode::RowLevelOutput,
                format!(
                    "this query would return rows of the personal table {}; only aggregates may leave the domain: use \
                     COUNT, SUM, AVG, VAR, STDDEV, MEDIAN or APPROX_PERCENTILE_CONT, with GROUP BY for breakdowns (or the \
                     dev environment to inspect masked sample rows)",
                    scan.table_name.table()
                ),
            ),
            _ => Ok(()),
        }
    }
}
