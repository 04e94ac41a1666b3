//! Result schema metadata: what a client learns about the noise in what it received.
//!
//! Schema-level keys: `shuyu.cost` (epsilon or rho), `shuyu.delta`, `shuyu.definition`,
//! `shuyu.releases` (JSON: every measurement with mechanism, scale, cost and 95 % half-width),
//! `shuyu.noiseless` (only "true" in test builds). Field-level keys, on output columns that
//! are a count or a sum as released: `shuyu.mechanism`, `shuyu.scale`, `shuyu.ci95_half_width`.
//! The keys are [`shuyu_privacy::keys`]' constants.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::datatypes::{Schema, SchemaRef};
use datafusion::logical_expr::{Expr, LogicalPlan};
use shuyu_planner::plan::{OutputKind, PrivatePlan};
use shuyu_privacy::keys;

/// Builds the result schema with metadata.
pub fn annotate(schema: &SchemaRef, plan: &PrivatePlan) -> SchemaRef {
    let (cost, delta) = plan.total_cost();
    let mut md: HashMap<String, String> = schema.metadata().clone();
    md.insert(keys::COST.into(), format!("{cost}"));
    md.insert(keys::DELTA.into(), format!("{delta}"));
    md.insert(keys::DEFINITION.into(), plan.budget.definition.unit_name().into());
    md.insert(keys::RELEASES.into(), serde_json::to_string(&plan.releases).unwrap_or_default());
    if crate::noise::NOISELESS {
        md.insert(keys::NOISELESS.into(), "true".into());
    }
    // Per released output name: (mechanism, scale, half-width in output units).
    let mut per_output: HashMap<String, (&'static str, f64, f64)> = HashMap::new();
    for r in &plan.releases {
        for o in &r.outputs {
            let (p, unit) = match &o.kind {
                OutputKind::Count { partial } => (*partial, 1.0),
                OutputKind::Sum { partial, grid, .. } => (*partial, *grid),
                _ => continue,
            };
            if let Some(c) = r.partials[p].calibration {
                per_output.insert(o.name.clone(), (c.mechanism.name(), c.scale / unit, c.half_width / unit));
            }
        }
    }
    let sources = output_sources(&plan.outer);
    let fields: Vec<_> = schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let src = sources.get(i).cloned().flatten().unwrap_or_else(|| f.name().clone());
            match per_output.get(&src) {
                Some((m, s, h)) => {
                    let mut fm = f.metadata().clone();
                    fm.insert(keys::MECHANISM.into(), (*m).into());
                    fm.insert(keys::SCALE.into(), format!("{s}"));
                    fm.insert(keys::CI95_HALF_WIDTH.into(), format!("{h}"));
                    Arc::new(f.as_ref().clone().with_metadata(fm))
                }
                None => f.clone(),
            }
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, md))
}

/// For each output column of the outer plan, the name of the column it passes through
/// unchanged from below (through sorts, limits and filters), if any.
fn output_sources(plan: &LogicalPlan) -> Vec<Option<String>> {
    match plan {
        LogicalPlan::Projection(p) => p
            .expr
            .iter()
            .map(|e| {
                let mut inner = e;
                while let Expr::Alias(a) = inner {
                    inner = a.expr.as_ref();
                }
                match inner {
                    Expr::Column(c) => Some(c.name.clone()),
                    _ => None,
                }
            })
            .collect(),
        LogicalPlan::Sort(_) | LogicalPlan::Limit(_) | LogicalPlan::Filter(_) | LogicalPlan::SubqueryAlias(_) => {
            output_sources(plan.inputs()[0])
        }
        _ => plan.schema().fields().iter().map(|f| Some(f.name().clone())).collect(),
    }
}
