//! No `SELECT DISTINCT` over personal rows: the set of values present in the data is itself
//! a release of individuals' values (a rare value shows its one holder).

use datafusion::logical_expr::LogicalPlan;

use super::PlanRule;
use crate::error::Result;
use crate::refusal::{refuse, RefusalCode};
use crate::relation::touches_personal;
use crate::scope::ScopeCatalog;

/// Refuses `DISTINCT` over an input that reads personal data.
#[derive(Debug, Clone, Copy)]
pub struct NoDistinct;

impl PlanRule for NoDistinct {
    fn name(&self) -> &'static str {
        "no_distinct"
    }

    fn check(&self, node: &LogicalPlan, catalog: &ScopeCatalog) -> Result<()> {
        match node {
            LogicalPlan::Distinct(d) if touches_personal(d.input(), catalog) => refuse(
                RefusalCode::RowLevelOutput,
                "SELECT DISTINCT over personal data releases the values present in the data; use GROUP BY with an aggregate",
            ),
            _ => Ok(()),
        }
    }
}
