//! The privacy analyzer: parses and plans SQL in a scoped session, then walks the logical
//! plan from the top. Each aggregate over personal data becomes a release (see
//! [`crate::aggregate`]) and is replaced by a placeholder that will hold its noised
//! values; everything above it is post-processing. The privacy rules ([`crate::rules`]) see
//! every node the walk visits: any personal row that would reach the output unaggregated is
//! refused.

use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::logical_expr::LogicalPlan;

use crate::aggregate::{placeholder, AggregateAnalysis, PlanOptions};
use crate::budget::QueryBudget;
use crate::error::{from_df, to_df, PlannerError, Result};
use crate::plan::{Calibrator, KeySet, PrivatePlan, Release};
use crate::refusal::{refuse, RefusalCode};
use crate::relation::touches_personal;
use crate::rules;
use crate::scope::Scope;

/// Most releases one query may make.
pub const MAX_RELEASES: usize = 16;

/// Plans `sql` in `scope` into a private plan (not yet calibrated).
pub async fn plan_query(scope: &Scope, sql: &str, budget: QueryBudget, options: PlanOptions) -> Result<PrivatePlan> {
    budget.validate()?;
    let state = scope.context().state();
    let plan = state.create_logical_plan(sql).await.map_err(PlannerError::from_planning)?;
    match &plan {
        LogicalPlan::Ddl(_) | LogicalPlan::Dml(_) | LogicalPlan::Copy(_) | LogicalPlan::Statement(_) | LogicalPlan::DescribeTable(_) => {
            return refuse(RefusalCode::NotAQuery, "only SELECT queries are accepted; tables are managed by the bureau");
        }
        LogicalPlan::Explain(_) | LogicalPlan::Analyze(_) => {
            return refuse(RefusalCode::NotAQuery, "use EXPLAIN PRIVACY <query> to see a query's releases and cost");
        }
        _ => {}
    }
    let plan = state
        .analyzer()
        .execute_and_check(plan, state.config_options(), |_, _| {})
        .map_err(PlannerError::from_planning)?;
    let mut releases: Vec<Release> = Vec::new();
    let outer = rewrite_outer(&plan, scope, &budget, options, &mut releases)?;
    Ok(PrivatePlan { sql: sql.to_string(), releases, outer, budget, calibrated: false })
}

fn rewrite_outer(plan: &LogicalPlan, scope: &Scope, budget: &QueryBudget, options: PlanOptions, releases: &mut Vec<Release>) -> Result<LogicalPlan> {
    let catalog = scope.catalog();
    // Every rule sees every node above the releases (each looks at its own kind of node).
    rules::check_node(plan, catalog)?;
    match plan {
        LogicalPlan::Aggregate(agg) if touches_personal(&agg.input, catalog) => {
            if releases.len() >= MAX_RELEASES {
                return refuse(RefusalCode::UnboundedSensitivity, format!("a query may make at most {MAX_RELEASES} aggregates over personal data"));
            }
            // Every expression it evaluates on personal rows becomes total, or the query is
            // refused here, before anything is reserved or read.
            let total = crate::total::make_total(plan.clone())?;
            let LogicalPlan::Aggregate(total_agg) = &total else {
                return Err(PlannerError::Internal("the total-evaluation pass changed an aggregate's kind".into()));
            };
            same_types(&agg.schema, &total_agg.schema)?;
            let analysis = AggregateAnalysis { catalog, budget, options };
            let release = analysis.analyze(total_agg, releases.len())?;
            let ph = placeholder(&release, &agg.schema)?;
            releases.push(release);
            Ok(ph)
        }
        _ => plan
            .clone()
            .map_children(|child| rewrite_outer(&child, scope, budget, options, releases).map(Transformed::yes).map_err(to_df))
            .map(|t| t.data)
            .map_err(from_df),
    }
}

/// The pass keeps every output's name and type: the outer plan was planned against them.
fn same_types(a: &datafusion::common::DFSchema, b: &datafusion::common::DFSchema) -> Result<()> {
    let same = a.fields().len() == b.fields().len()
        && a.fields().iter().zip(b.fields().iter()).all(|(x, y)| x.name() == y.name() && x.data_type() == y.data_type());
    if same {
        Ok(())
    } else {
        Err(PlannerError::Internal(format!("the total-evaluation pass changed an aggregate's output: {a} became {b}")))
    }
}

/// Splits the query's budget evenly across its measurements (and its δ across its partition
/// selections) and calibrates each.
pub fn calibrate(plan: &mut PrivatePlan, calibrator: &dyn Calibrator) -> Result<()> {
    let m = plan.measurement_count();
    if m == 0 {
        plan.calibrated = true;
        return Ok(());
    }
    let def = plan.budget.definition;
    let share = plan.budget.share(m);
    let selections = plan.releases.iter().filter(|r| matches!(r.keys, KeySet::Selected { .. })).count();
    let delta = plan.budget.delta_share(selections);
    let fail = |what: &str, e: PlannerError| e.context(&format!("cannot calibrate {what}"));
    for r in &mut plan.releases {
        if let KeySet::Selected { max_partitions, calibration, .. } = &mut r.keys {
            *calibration = Some(calibrator.calibrate_selection(def, share, delta, *max_partitions).map_err(|e| fail("partition selection", e))?);
        }
        for p in &mut r.partials {
            p.calibration = Some(calibrator.calibrate_vector(def, p.vector_sensitivity, share).map_err(|e| fail(&p.label, e))?);
        }
        for h in &mut r.histograms {
            h.calibration = Some(calibrator.calibrate_quantile(def, share, h.alpha, h.max_rows, h.max_groups).map_err(|e| fail("a quantile", e))?);
        }
    }
    plan.calibrated = true;
    Ok(())
}

/// Strips `EXPLAIN PRIVACY` from the front of a statement, if present.
pub fn strip_explain_privacy(sql: &str) -> Option<&str> {
    let t = sql.trim_start();
    let mut words = t.splitn(3, char::is_whitespace);
    let a = words.next()?;
    let b = words.next()?;
    if a.eq_ignore_ascii_case("explain") && b.eq_ignore_ascii_case("privacy") {
        Some(words.next().unwrap_or("").trim_start())
    } else {
        None
    }
}

/// The placeholder table name of release `i`, for tests and EXPLAIN.
pub fn release_table_name(i: usize) -> String {
    format!("__shuyu_release_{i}")
}

/// The slots of a plan's releases.
pub fn slots(plan: &PrivatePlan) -> Vec<Arc<crate::release_table::ReleaseTable>> {
    plan.releases.iter().map(|r| r.slot.clone()).collect()
}
