//! No subquery over personal data inside an expression: its rows would be compared,
//! filtered on or returned outside any release.

use datafusion::logical_expr::LogicalPlan;

use super::PlanRule;
use crate::error::Result;
use crate::relation::check_subqueries;
use crate::scope::ScopeCatalog;

/// Refuses an expression holding a subquery that reads a personal table.
#[derive(Debug, Clone, Copy)]
pub struct NoPersonalSubqueries;

impl PlanRule for NoPersonalSubqueries {
    fn name(&self) -> &'static str {
        "no_personal_subqueries"
    }

    fn check(&self, node: &LogicalPlan, catalog: &ScopeCatalog) -> Result<()> {
        node.expressions().iter().try_for_each(|e| check_subqueries(e, catalog))
    }
}
