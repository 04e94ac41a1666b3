//! No window function over personal rows: a window keeps every row and computes across
//! persons (a rank, a running sum), so each output row depends on individuals.

use datafusion::logical_expr::LogicalPlan;

use super::PlanRule;
use crate::error::Result;
use crate::refusal::{refuse, RefusalCode};
use crate::relation::touches_personal;
use crate::scope::ScopeCatalog;

/// Refuses a window over an input that reads personal data.
#[derive(Debug, Clone, Copy)]
pub struct NoWindows;

impl PlanRule for NoWindows {
    fn name(&self) -> &'static str {
        "no_windows"
    }

    fn check(&self, node: &LogicalPlan, catalog: &ScopeCatalog) -> Result<()> {
        match node {
            LogicalPlan::Window(w) if touches_personal(&w.input, catalog) => refuse(
                RefusalCode::WindowFunction,
                "window functions over personal rows are not allowed; aggregate first (in a CTE) and apply the window to \
                 the released values",
            ),
            _ => Ok(()),
        }
    }
}
