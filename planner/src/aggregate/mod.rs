//! Analysis of one aggregate over personal data: its keys, its aggregates, and the exact,
//! contribution-bounded inner plan whose per-key sums are then noised.
//!
//! Every released aggregate is reduced to per-key sums of a bounded integer per-row value
//! (a "partial"): COUNT sums 1, SUM sums the clamped value on a fixed-point grid, AVG and
//! VAR use sums of centred values and squares beside a count. Sums on a grid are exact
//! integer arithmetic, so no floating-point rounding can leak through the sum, and the
//! noise is always discrete.
//!
//! Contribution bounding: on a one-row-per-unit relation nothing is needed (one row, one
//! key). Otherwise each unit's rows are first summed per key, each unit-key sum is clamped
//! to `max_rows` times the per-row bounds, and when a unit could reach more keys than
//! `max_groups`, only `max_groups` of its keys are kept.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::{Column, DFSchema, ScalarValue};
use datafusion::datasource::provider_as_source;
use datafusion::functions::core::expr_fn::get_field;
use datafusion::functions_aggregate::expr_fn::{count, sum};
use datafusion::logical_expr::expr::AggregateFunction;
use datafusion::logical_expr::{
    cast, lit, when, Aggregate, Expr, ExprFunctionExt, LogicalPlan, LogicalPlanBuilder, SortExpr,
};
use shuyu_privacy::PrivacyDefinition;

pub use crate::bounding::BoundingOrder;
use crate::bounding::{BoundParams, PartialInput};
use crate::budget::QueryBudget;
use crate::error::{PlannerError, Result};
use crate::facts::{expr_facts, Facts};
use crate::on_grid::OnGrid;
use crate::plan::{Histogram, KeySet, Output, OutputKind, Partial, Release};
use crate::refusal::{refuse, RefusalCode};
use crate::relation::{column_at, RelationWalker};
use crate::release_table::ReleaseTable;
use crate::rules::select_keys::UNITS_COLUMN;
use crate::rules::{self, AggregateDraft};
use crate::scope::ScopeCatalog;

mod function;

pub use crate::rules::select_keys::MAX_PUBLIC_KEYS;
/// Largest per-row magnitude on a grid: sums of a billion rows stay exact in i64.
const MAX_GRID_VALUE: f64 = 2_147_483_648.0;
/// Buckets of a real-valued quantile histogram.
const QUANTILE_BUCKETS: usize = 256;
/// Largest integer range given one bucket per value.
const MAX_INTEGER_BUCKETS: f64 = 1024.0;

/// Options of the analyzer.
#[derive(Debug, Clone, Copy, Default)]
pub struct PlanOptions {
    /// How bounding picks what to keep.
    pub bounding_order: BoundingOrder,
}

/// One requested partial before deduplication.
struct PartialReq {
    label: String,
    /// Per-row Int64 value; `None` counts distinct units.
    expr: Option<Expr>,
    /// A count (of rows where `cond` holds, or of all rows): a native COUNT, not a sum.
    count: bool,
    /// Condition of a conditional count.
    cond: Option<Expr>,
    lo: f64,
    hi: f64,
}

/// The scope's secret seed of contribution bounding ([`BoundParams::seed`]): drawn once per
/// scope, so plans of the same query are equal (and their exact results reusable, see
/// compute's exact cache) and every run of one plan bounds alike.
#[derive(Debug)]
pub struct BoundingSeed(pub [u8; 32]);

impl Default for BoundingSeed {
    fn default() -> Self {
        BoundingSeed(crate::bounding::fresh_seed())
    }
}

/// Analyzes one private aggregate into a release.
pub struct AggregateAnalysis<'a> {
    /// Catalog of the scope.
    pub catalog: &'a ScopeCatalog,
    /// The query's budget (bounds overrides and delta).
    pub budget: &'a QueryBudget,
    /// Options.
    pub options: PlanOptions,
}

fn col(name: &str) -> Expr {
    Expr::Column(Column::from_name(name))
}

fn clamp(e: Expr, lo: f64, hi: f64, integer: bool) -> Expr {
    let (l, h) = if integer { (lit(lo as i64), lit(hi as i64)) } else { (lit(lo), lit(hi)) };
    when(e.clone().lt(l.clone()), l)
        .when(e.clone().gt(h.clone()), h)
        .otherwise(e)
        .expect("CASE with WHEN branches builds")
}

/// Decimal grid for values of magnitude up to `max_abs`: 100 (cents) when it fits, coarser otherwise.
fn grid_for(max_abs: f64, integer: bool) -> f64 {
    let mut g = if integer { 1.0 } else { 100.0 };
    while max_abs * g > MAX_GRID_VALUE && g > 1e-12 {
        g /= 10.0;
    }
    g
}

fn unalias(e: &Expr) -> (&Expr, Option<&str>) {
    match e {
        Expr::Alias(a) => (a.expr.as_ref(), Some(a.name.as_str())),
        other => (other, None),
    }
}

impl<'a> AggregateAnalysis<'a> {
    /// Analyzes `agg` (whose input reads personal data) as release number `index`.
    pub fn analyze(&self, agg: &Aggregate, index: usize) -> Result<Release> {
        let walker = RelationWalker::new(self.catalog);
        let (input, rel) = walker.walk(&agg.input)?;
        let Some(unit) = rel.unit.clone() else {
            return Err(PlannerError::Internal("private aggregate over a relation without a unit".into()));
        };
        let in_schema = input.schema().clone();
        let unit_col = column_at(&in_schema, unit.index);

        // The rules: contribution bounds, the GROUP BY keys, how the keys are chosen.
        let mut draft = AggregateDraft::new(agg, &in_schema, &rel, &unit, self.budget);
        rules::apply_all(&mut draft)?;
        let one = draft.one_row_per_unit();
        let (max_rows, max_groups, bound_groups) = (draft.max_rows, draft.max_groups, draft.bound_groups);
        let (key_exprs, _): (Vec<Expr>, Vec<_>) = draft.keys.into_iter().unzip();
        let mut keys = draft.key_set;
        let units_column = UNITS_COLUMN.to_string();

        // Aggregates.
        let key_count = key_exprs.len();
        let mut reqs: Vec<PartialReq> = Vec::new();
        let mut outputs: Vec<Output> = Vec::new();
        let mut quantiles: Vec<(Expr, (f64, f64), bool, f64)> = Vec::new();
        for (i, e) in agg.aggr_expr.iter().enumerate() {
            let field = agg.schema.field(key_count + i);
            let (inner, _) = unalias(e);
            let Expr::AggregateFunction(f) = inner else {
                return Err(PlannerError::Internal("aggregate expression is not an aggregate function".into()));
            };
            let kind = self.aggregate(f, &in_schema, &rel.columns, &unit_col, &mut reqs, &mut quantiles)?;
            outputs.push(Output {
                name: field.name().clone(),
                aggregate: inner.schema_name().to_string(),
                kind,
                data_type: field.data_type().clone(),
            });
        }

        // Inner plan.
        let order = self.options.bounding_order;
        let key_names: Vec<String> = (0..key_count).map(|i| format!("__k{i}")).collect();
        // The unit column is read only where it is needed: grouping per unit (many rows per
        // unit), counting units (COUNT(DISTINCT unit), partition selection).
        let need_units = matches!(keys, KeySet::Selected { .. }) || reqs.iter().any(|r| r.expr.is_none());
        let read_unit = !one || need_units;
        let mut proj: Vec<Expr> = Vec::new();
        if read_unit {
            proj.push(Expr::Column(unit_col.clone()).alias("__unit"));
        }
        for (k, e) in key_exprs.iter().enumerate() {
            proj.push(e.clone().alias(&key_names[k]));
        }
        // Counts are native COUNTs (with FILTER on a projected condition); other partials sum
        // a projected per-row value.
        let value_reqs: Vec<usize> = (0..reqs.len()).filter(|i| reqs[*i].expr.is_some()).collect();
        for i in &value_reqs {
            let r = &reqs[*i];
            match (&r.count, &r.cond) {
                (true, Some(c)) => proj.push(c.clone().alias(format!("__c{i}"))),
                (true, None) => {}
                (false, _) => proj.push(r.expr.clone().expect("filtered").alias(format!("__v{i}"))),
            }
        }
        if proj.is_empty() {
            proj.push(lit(1i64).alias("__one"));
        }
        let level_agg = |i: usize, name: String| -> Result<Expr> {
            let r = &reqs[i];
            Ok(match (&r.count, &r.cond) {
                (true, Some(_)) => count(lit(1i64)).filter(col(&format!("__c{i}"))).build().map_err(internal)?.alias(name),
                (true, None) => count(lit(1i64)).alias(name),
                (false, _) => sum(col(&format!("__v{i}"))).alias(name),
            })
        };
        let base_plan = LogicalPlanBuilder::from(input.clone()).project(proj).map_err(internal)?.build().map_err(internal)?;
        let base = LogicalPlanBuilder::from(base_plan.clone());
        let key_cols: Vec<Expr> = key_names.iter().map(|k| col(k)).collect();
        let partial_name = |i: usize, r: &PartialReq| if r.expr.is_none() { units_column.clone() } else { format!("__p{i}") };
        let count_units = need_units || (value_reqs.is_empty() && key_cols.is_empty());
        // Many rows per unit, with an integer unit column: one streaming bounding pass over
        // unit-clustered input, with the two-level hash plan as the fallback.
        let unit_type = in_schema.field(unit.index).data_type();
        let streaming = if !one && (unit_type.is_signed_integer() || matches!(unit_type, DataType::UInt8 | DataType::UInt16 | DataType::UInt32)) {
            let mut args = vec![cast(col("__unit"), DataType::Int64)];
            args.extend(key_cols.iter().cloned());
            let mut names = Vec::new();
            let mut inputs = Vec::new();
            for i in &value_reqs {
                let r = &reqs[*i];
                let (l, h) = unit_sum_bounds(r, max_rows);
                let input = match (&r.count, &r.cond) {
                    (true, None) => PartialInput::Rows,
                    (true, Some(_)) => {
                        args.push(col(&format!("__c{i}")));
                        PartialInput::Where
                    }
                    (false, _) => {
                        args.push(col(&format!("__v{i}")));
                        PartialInput::Value
                    }
                };
                names.push(partial_name(*i, r));
                inputs.push((input, l, h));
            }
            let params = BoundParams {
                key_count,
                names: names.clone(),
                partials: inputs,
                units_column: count_units.then(|| units_column.clone()),
                max_groups: bound_groups.then_some(max_groups as usize),
                order,
                seed: self.catalog.state().get_or_default::<BoundingSeed>().0,
            };
            let mut out: Vec<Expr> = key_names.iter().map(|k| get_field(col("__bounded"), k.as_str()).alias(k)).collect();
            if count_units {
                out.push(get_field(col("__bounded"), units_column.as_str()).alias(&units_column));
            }
            out.extend(names.iter().map(|n| get_field(col("__bounded"), n.as_str()).alias(n)));
            Some(
                LogicalPlanBuilder::from(base_plan.clone())
                    .aggregate(Vec::<Expr>::new(), vec![params.call(args).alias("__bounded")])
                    .and_then(|b| b.unnest_column("__bounded"))
                    .and_then(|b| b.project(out))
                    .and_then(|b| b.build())
                    .map_err(internal)?,
            )
        } else {
            None
        };
        let plan = if one {
            let mut aggs = Vec::new();
            if need_units {
                aggs.push(count(col("__unit")).alias(units_column.clone()));
            }
            for i in &value_reqs {
                aggs.push(level_agg(*i, format!("__p{i}"))?);
            }
            if aggs.is_empty() && key_cols.is_empty() {
                // Only quantiles: DataFusion needs at least one aggregate or key.
                aggs.push(count(lit(1i64)).alias("__rows"));
            }
            base.aggregate(key_cols.clone(), aggs).map_err(internal)?.build().map_err(internal)?
        } else {
            // Level 1: per unit and key.
            let mut group1 = vec![col("__unit")];
            group1.extend(key_cols.iter().cloned());
            let aggs1: Vec<Expr> = value_reqs.iter().map(|i| level_agg(*i, format!("__s{i}"))).collect::<Result<_>>()?;
            let mut b = base.aggregate(group1, aggs1).map_err(internal)?;
            // Clamp each unit's per-key sums to max_rows times the per-row bounds.
            let mut proj1 = vec![col("__unit")];
            proj1.extend(key_cols.iter().cloned());
            for i in &value_reqs {
                let r = &reqs[*i];
                // A unit's sum over 1..=max_rows rows lies in [min(lo, L·lo), max(hi, L·hi)]:
                // with lo > 0, one row may sum to lo, which L·lo would wrongly raise.
                let (l, h) = unit_sum_bounds(r, max_rows);
                proj1.push(clamp(col(&format!("__s{i}")), l as f64, h as f64, true).alias(format!("__s{i}")));
            }
            b = b.project(proj1).map_err(internal)?;
            if bound_groups {
                // Rows here are one per (unit, key): a keyed hash of both orders them as a
                // random draw would, and gives the same order on every run and retried task.
                let order_by: Vec<SortExpr> = match order {
                    BoundingOrder::Random => vec![shuffled_key(&key_names).sort(true, false)],
                    BoundingOrder::ByKey => key_cols.iter().map(|k| k.clone().sort(true, false)).collect(),
                };
                let rn = datafusion::functions_window::expr_fn::row_number()
                    .partition_by(vec![col("__unit")])
                    .order_by(order_by)
                    .build()
                    .map_err(internal)?
                    .alias("__rn");
                b = b.window(vec![rn]).map_err(internal)?;
                b = b.filter(col("__rn").lt_eq(lit(max_groups as i64))).map_err(internal)?;
            }
            let mut aggs2 = Vec::new();
            if count_units {
                aggs2.push(count(col("__unit")).alias(units_column.clone()));
            }
            for i in &value_reqs {
                aggs2.push(sum(col(&format!("__s{i}"))).alias(format!("__p{i}")));
            }
            b.aggregate(key_cols.clone(), aggs2).map_err(internal)?.build().map_err(internal)?
        };

        // Partials with sensitivities.
        let g = max_groups as f64;
        let vector_factor = match self.budget.definition {
            PrivacyDefinition::PureDp => g,
            PrivacyDefinition::Zcdp => g.sqrt(),
        };
        let partials: Vec<Partial> = reqs
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let per_key = if r.expr.is_none() { 1.0 } else { max_rows as f64 * r.lo.abs().max(r.hi.abs()) };
                Partial {
                    column: partial_name(i, r),
                    label: r.label.clone(),
                    sensitivity: per_key,
                    vector_sensitivity: per_key * vector_factor,
                    calibration: None,
                }
            })
            .collect();
        if let KeySet::Selected { max_partitions, .. } = &mut keys {
            *max_partitions = max_groups;
        }

        // Quantile histograms.
        let mut histograms = Vec::new();
        for (x, (lo, hi), integer, alpha) in quantiles {
            let (buckets, bucket_expr, hist_bounds) = if integer && hi - lo < MAX_INTEGER_BUCKETS {
                let n = (hi - lo) as usize + 1;
                (n, cast(clamp(x.clone(), lo, hi, true), DataType::Int64) - lit(lo as i64), (lo - 0.5, hi + 0.5))
            } else {
                let w = (hi - lo) / QUANTILE_BUCKETS as f64;
                let raw = cast(
                    datafusion::functions::math::floor().call(vec![(cast(clamp(x.clone(), lo, hi, false), DataType::Float64) - lit(lo)) / lit(w)]),
                    DataType::Int64,
                );
                (QUANTILE_BUCKETS, clamp(raw, 0.0, (QUANTILE_BUCKETS - 1) as f64, true), (lo, hi))
            };
            let mut hp: Vec<Expr> = vec![Expr::Column(unit_col.clone()).alias("__unit")];
            for (k, e) in key_exprs.iter().enumerate() {
                hp.push(e.clone().alias(&key_names[k]));
            }
            hp.push(bucket_expr.alias("__bucket"));
            let mut hb = LogicalPlanBuilder::from(input.clone())
                .filter(x.clone().is_not_null())
                .map_err(internal)?
                .project(hp)
                .map_err(internal)?;
            if !one {
                let mut part = vec![col("__unit")];
                part.extend(key_cols.iter().cloned());
                let rn = datafusion::functions_window::expr_fn::row_number()
                    .partition_by(part)
                    .order_by(match order {
                        BoundingOrder::Random => vec![datafusion::functions::math::random().call(vec![]).sort(true, false)],
                        BoundingOrder::ByKey => vec![col("__bucket").sort(true, false)],
                    })
                    .build()
                    .map_err(internal)?
                    .alias("__rn");
                hb = hb.window(vec![rn]).map_err(internal)?.filter(col("__rn").lt_eq(lit(max_rows as i64))).map_err(internal)?;
                if bound_groups {
                    // Which of a unit's keys it keeps: in key order for the oracle tests, else
                    // in an order no one can predict (a keyed hash of unit and key, the same
                    // for all rows of a key, which a per-row random number would not be).
                    let key_order: Vec<SortExpr> = match order {
                        BoundingOrder::ByKey => key_cols.iter().map(|k| k.clone().sort(true, false)).collect(),
                        BoundingOrder::Random => vec![shuffled_key(&key_names).sort(true, false)],
                    };
                    let gr = datafusion::functions_window::expr_fn::dense_rank()
                        .partition_by(vec![col("__unit")])
                        .order_by(key_order)
                        .build()
                        .map_err(internal)?
                        .alias("__gr");
                    hb = hb.window(vec![gr]).map_err(internal)?.filter(col("__gr").lt_eq(lit(max_groups as i64))).map_err(internal)?;
                }
            }
            let mut hg = key_cols.clone();
            hg.push(col("__bucket"));
            let hplan = hb.aggregate(hg, vec![count(lit(1i64)).alias("__n")]).map_err(internal)?.build().map_err(internal)?;
            histograms.push(Histogram { plan: hplan, bounds: hist_bounds, buckets, alpha, max_rows, max_groups, calibration: None });
        }

        // Release schema: keys then outputs, with the aggregate's types and nullability.
        let mut fields = Vec::new();
        for i in 0..key_count {
            let f = agg.schema.field(i);
            fields.push(Field::new(format!("__k{i}"), f.data_type().clone(), true));
        }
        for (j, o) in outputs.iter().enumerate() {
            let f = agg.schema.field(key_count + j);
            fields.push(Field::new(format!("__a{j}"), o.data_type.clone(), f.is_nullable()));
        }
        let schema = Arc::new(Schema::new(fields));
        let key_types = (0..key_count).map(|i| agg.schema.field(i).data_type().clone()).collect();
        Ok(Release {
            index,
            tables: rel.tables.clone(),
            plan: streaming.clone().unwrap_or_else(|| plan.clone()),
            fallback: streaming.is_some().then_some(plan),
            key_count,
            key_types,
            keys,
            partials,
            histograms,
            outputs,
            schema: schema.clone(),
            max_rows,
            max_groups,
            slot: Arc::new(ReleaseTable::new(schema)),
        })
    }
}

/// Bounds of one unit's per-key sum of a partial over 1..=`max_rows` rows:
/// `[min(lo, L·lo), max(hi, L·hi)]` (with lo > 0, one row may sum to lo, which L·lo would
/// wrongly raise).
fn unit_sum_bounds(r: &PartialReq, max_rows: u32) -> (i64, i64) {
    let lf = max_rows as f64;
    (r.lo.min(r.lo * lf).round() as i64, r.hi.max(r.hi * lf).round() as i64)
}

/// `md5(unit | keys | salt)`: a per-(unit, key) order that is random to the analyst (the salt
/// is drawn once per process and never shown) and equal on every row of one key.
fn shuffled_key(key_names: &[String]) -> Expr {
    static SALT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let salt = SALT.get_or_init(|| format!("{:032x}", rand::random::<u128>()));
    let mut parts = vec![cast(col("__unit"), DataType::Utf8)];
    for k in key_names {
        parts.push(lit("|"));
        parts.push(datafusion::functions::expr_fn::coalesce(vec![cast(col(k), DataType::Utf8), lit("\u{0}")]));
    }
    parts.push(lit(salt.as_str()));
    datafusion::functions::crypto::expr_fn::md5(datafusion::functions::string::expr_fn::concat(parts))
}

fn internal(e: datafusion::error::DataFusionError) -> PlannerError {
    PlannerError::Internal(e.strip_backtrace())
}

/// The placeholder that stands where the aggregate was: the release's slot, renamed back to
/// the aggregate's qualified output names.
pub fn placeholder(release: &Release, agg_schema: &DFSchema) -> Result<LogicalPlan> {
    let name = format!("__shuyu_release_{}", release.index);
    let source = provider_as_source(release.slot.clone() as Arc<dyn datafusion::catalog::TableProvider>);
    let exprs: Vec<Expr> = (0..agg_schema.fields().len())
        .map(|i| {
            let (q, f) = agg_schema.qualified_field(i);
            let inner = release.schema.field(i).name().clone();
            col(&inner).alias_qualified(q.cloned(), f.name())
        })
        .collect();
    LogicalPlanBuilder::scan(name, source, None)
        .and_then(|b| b.project(exprs))
        .and_then(|b| b.build())
        .map_err(internal)
}
