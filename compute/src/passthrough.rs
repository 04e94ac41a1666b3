//! The post-processing plan without DataFusion when it only selects and renames: a chain of
//! projections of plain columns (and subquery aliases) over one release's table, as for
//! `SELECT k, COUNT(*), SUM(x) FROM t GROUP BY k`. Such a plan's result is the release's
//! batch with its columns picked and renamed, so planning and running it in DataFusion (a
//! fixed cost that dominates small queries) is skipped. Anything else — a filter, sort,
//! limit, expression, join or window — returns `None` and runs in DataFusion.

use std::sync::Arc;

use arrow::array::ArrayRef;
use arrow::record_batch::RecordBatch;
use datafusion::logical_expr::{Expr, LogicalPlan};
use shuyu_planner::plan::PrivatePlan;

/// For each output column of `plan`, the index of the release-table column it reads, and
/// the name of that table; `None` unless `plan` only selects and renames columns of one table.
fn columns_of(plan: &LogicalPlan) -> Option<(Vec<usize>, String)> {
    match plan {
        LogicalPlan::Projection(p) => {
            let (below, table) = columns_of(&p.input)?;
            let input = p.input.schema();
            let picked = p
                .expr
                .iter()
                .map(|e| {
                    let mut e = e;
                    while let Expr::Alias(a) = e {
                        e = &a.expr;
                    }
                    let Expr::Column(c) = e else { return None };
                    let c = c.clone();
                    input.index_of_column(&c).ok().and_then(|i| below.get(i).copied())
                })
                .collect::<Option<Vec<_>>>()?;
            Some((picked, table))
        }
        LogicalPlan::SubqueryAlias(a) => columns_of(&a.input),
        LogicalPlan::TableScan(scan) if scan.filters.is_empty() && scan.fetch.is_none() => {
            let width = scan.source.schema().fields().len();
            let picked = scan.projection.clone().unwrap_or_else(|| (0..width).collect());
            Some((picked, scan.table_name.table().to_string()))
        }
        _ => None,
    }
}

/// The result of `plan.outer` taken straight from its one filled release table, when the
/// outer plan only selects and renames.
pub fn direct_result(plan: &PrivatePlan) -> Option<RecordBatch> {
    let [release] = plan.releases.as_slice() else { return None };
    let (picked, table) = columns_of(&plan.outer)?;
    if table != shuyu_planner::analyzer::release_table_name(release.index) {
        return None;
    }
    let batch = release.slot.batch()?;
    let columns = picked.iter().map(|i| batch.columns().get(*i).cloned()).collect::<Option<Vec<ArrayRef>>>()?;
    let schema = Arc::new(plan.outer.schema().as_arrow().clone());
    RecordBatch::try_new(schema, columns).ok()
}
