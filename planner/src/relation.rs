//! The relation walker: rewrites the input of a private aggregate so that it carries the
//! privacy-unit column, and says, for every column, what is known of it.
//!
//! Accepted below an aggregate: table scans, filters, projections, aliases (CTEs and
//! subqueries in FROM), sorts, joins on the privacy unit or with public tables, and
//! aggregates grouped by the privacy unit (per-person pre-aggregation). Everything else is
//! refused with a reason.

use std::sync::Arc;

use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::common::{Column, DFSchema};
use datafusion::logical_expr::{Expr, JoinType, LogicalPlan, Projection, TableScan};
use shuyu_datasets::{RowsPerUnit, Sensitivity, TableManifest};

use crate::error::{PlannerError, Result};
use crate::facts::{expr_facts, Facts};
use crate::refusal::{refuse, RefusalCode};
use crate::scope::ScopeCatalog;

/// Aggregates allowed in a subquery grouped by the privacy unit (per-person values).
pub const PER_UNIT_AGGREGATES: &[&str] = &["count", "sum", "avg", "min", "max", "bool_and", "bool_or"];

/// The privacy unit of a relation.
#[derive(Debug, Clone, PartialEq)]
pub struct UnitFacts {
    /// Index of the unit column in the relation's schema.
    pub index: usize,
    /// Kind of unit ("person", "enterprise").
    pub kind: String,
    /// Whether a unit has one row or many.
    pub rows: RowsPerUnit,
    /// Catalog bound on groups per unit.
    pub max_groups: u32,
    /// Catalog bound on rows per unit and group.
    pub max_rows: u32,
}

/// What is known of a relation: its unit (None for public data) and per-column facts.
#[derive(Debug, Clone)]
pub struct RelFacts {
    /// The privacy unit, or `None` when the relation holds only public data.
    pub unit: Option<UnitFacts>,
    /// Facts per column, aligned with the plan's schema.
    pub columns: Vec<Facts>,
    /// Per column: its values are unique across rows (public lookup keys).
    pub unique: Vec<bool>,
    /// Personal tables read below this point.
    pub tables: Vec<String>,
}

/// Whether a plan reads any personal table (a table with a privacy unit), subqueries included.
pub fn touches_personal(plan: &LogicalPlan, catalog: &ScopeCatalog) -> bool {
    let mut found = false;
    let _ = plan.apply_with_subqueries(|p| {
        if let LogicalPlan::TableScan(s) = p {
            if is_personal(catalog, s.table_name.table()) {
                found = true;
                return Ok(TreeNodeRecursion::Stop);
            }
        }
        Ok(TreeNodeRecursion::Continue)
    });
    found
}

fn is_personal(catalog: &ScopeCatalog, table: &str) -> bool {
    catalog.table(table).map(|t| t.privacy_unit.is_some()).unwrap_or(false)
}

/// Refuses expressions holding subqueries over personal data.
pub fn check_subqueries(expr: &Expr, catalog: &ScopeCatalog) -> Result<()> {
    let mut bad = false;
    let _ = expr.apply(|e| {
        let plan = match e {
            Expr::ScalarSubquery(s) => Some(&s.subquery),
            Expr::InSubquery(s) => Some(&s.subquery.subquery),
            Expr::Exists(s) => Some(&s.subquery.subquery),
            _ => None,
        };
        if let Some(p) = plan {
            if touches_personal(p, catalog) {
                bad = true;
                return Ok(TreeNodeRecursion::Stop);
            }
        }
        Ok(TreeNodeRecursion::Continue)
    });
    if bad {
        return refuse(
            RefusalCode::PersonalSubquery,
            "a subquery over personal data inside an expression (IN, EXISTS or a scalar subquery) would reveal rows; \
             rewrite it as a JOIN on the privacy unit or aggregate it separately",
        );
    }
    Ok(())
}

/// The relation walker.
pub struct RelationWalker<'a> {
    catalog: &'a ScopeCatalog,
}

impl<'a> RelationWalker<'a> {
    /// A walker over the tables of `catalog`.
    pub fn new(catalog: &'a ScopeCatalog) -> Self {
        RelationWalker { catalog }
    }

    /// Rewrites `plan` (the input of a private aggregate) and returns it with its facts.
    pub fn walk(&self, plan: &LogicalPlan) -> Result<(LogicalPlan, RelFacts)> {
        match plan {
            LogicalPlan::TableScan(scan) => self.scan(scan),
            LogicalPlan::Filter(f) => {
                check_subqueries(&f.predicate, self.catalog)?;
                let (input, facts) = self.walk(&f.input)?;
                let new = plan.with_new_exprs(plan.expressions(), vec![input]).map_err(internal)?;
                Ok((new, facts))
            }
            LogicalPlan::Sort(_) | LogicalPlan::Repartition(_) => {
                let (input, facts) = self.walk(plan.inputs()[0])?;
                let new = plan.with_new_exprs(plan.expressions(), vec![input]).map_err(internal)?;
                Ok((new, facts))
            }
            LogicalPlan::SubqueryAlias(_) => {
                let (input, facts) = self.walk(plan.inputs()[0])?;
                let new = plan.with_new_exprs(vec![], vec![input]).map_err(internal)?;
                Ok((new, facts))
            }
            LogicalPlan::Projection(p) => self.projection(p),
            LogicalPlan::Join(_) => self.join(plan),
            LogicalPlan::Aggregate(a) => self.per_unit_aggregate(plan, a),
            LogicalPlan::Window(_) => refuse(
                RefusalCode::WindowFunction,
                "window functions over personal rows are not allowed; compute the aggregate first and apply the \
                 window to its released values (for example in an outer query over a CTE)",
            ),
            LogicalPlan::Limit(_) => refuse(
                RefusalCode::UnboundedSensitivity,
                "LIMIT inside a subquery that feeds an aggregate picks rows across people and cannot be bounded; \
                 filter with WHERE instead, or apply LIMIT to the aggregated result",
            ),
            LogicalPlan::Distinct(_) => refuse(
                RefusalCode::UnboundedSensitivity,
                "DISTINCT over personal rows cannot be bounded; use COUNT(DISTINCT <unit column>) or GROUP BY",
            ),
            LogicalPlan::Union(_) => refuse(
                RefusalCode::UnboundedSensitivity,
                "UNION over personal data is not supported; run one aggregate per table and combine the results",
            ),
            LogicalPlan::Values(_) | LogicalPlan::EmptyRelation(_) => {
                let n = plan.schema().fields().len();
                Ok((plan.clone(), RelFacts { unit: None, columns: vec![Facts::default(); n], unique: vec![false; n], tables: vec![] }))
            }
            other => refuse(
                RefusalCode::UnboundedSensitivity,
                format!(
                    "cannot bound one person's influence through a {} step; use filters, joins on the privacy unit \
                     and GROUP BY",
                    node_name(other)
                ),
            ),
        }
    }

    fn scan(&self, scan: &TableScan) -> Result<(LogicalPlan, RelFacts)> {
        let name = scan.table_name.table();
        let manifest = self
            .catalog
            .table(name)
            .ok_or_else(|| PlannerError::Internal(format!("table {name} planned but not in the scope catalog")))?;
        // Read every granted column: the optimizer prunes what the query does not use.
        let plan = if scan.projection.is_some() || !scan.filters.is_empty() || scan.fetch.is_some() {
            LogicalPlan::TableScan(
                datafusion::logical_expr::logical_plan::TableScanBuilder::new(scan.table_name.clone(), Arc::clone(&scan.source))
                    .build()
                    .map_err(internal)?,
            )
        } else {
            LogicalPlan::TableScan(scan.clone())
        };
        let schema = plan.schema().clone();
        let columns = schema.fields().iter().map(|f| column_facts(manifest, f.name())).collect();
        let unique = schema.fields().iter().map(|f| manifest.unique_keys.iter().any(|k| k == f.name())).collect();
        let unit = match &manifest.privacy_unit {
            None => None,
            Some(u) => {
                let index = schema.fields().iter().position(|f| f.name() == &u.column).ok_or_else(|| {
                    PlannerError::Scope(format!(
                        "table {name} is personal but its privacy-unit column {} is not granted; the authorization must \
                         grant it",
                        u.column
                    ))
                })?;
                Some(UnitFacts {
                    index,
                    kind: u.kind.clone(),
                    rows: u.rows_per_unit,
                    max_groups: u.max_groups,
                    max_rows: u.max_rows,
                })
            }
        };
        let tables = if unit.is_some() { vec![name.to_string()] } else { vec![] };
        Ok((plan, RelFacts { unit, columns, unique, tables }))
    }

    fn projection(&self, p: &Projection) -> Result<(LogicalPlan, RelFacts)> {
        for e in &p.expr {
            check_subqueries(e, self.catalog)?;
        }
        let (input, in_facts) = self.walk(&p.input)?;
        let in_schema = input.schema().clone();
        let mut exprs = p.expr.clone();
        let mut unit_index = None;
        if let Some(u) = &in_facts.unit {
            let (q, f) = in_schema.qualified_field(u.index);
            let unit_col = Column::new(q.cloned(), f.name());
            unit_index = exprs.iter().position(|e| is_plain_column(e, &unit_col));
            if unit_index.is_none() {
                // Keep the unit column flowing up, under a name no user column has.
                exprs.push(Expr::Column(unit_col));
                unit_index = Some(exprs.len() - 1);
            }
        }
        let new = LogicalPlan::Projection(Projection::try_new(exprs.clone(), Arc::new(input)).map_err(internal)?);
        let columns: Vec<Facts> = exprs.iter().map(|e| expr_facts(e, &in_schema, &in_facts.columns)).collect();
        let unique = exprs
            .iter()
            .map(|e| match plain_column(e) {
                Some(c) => in_schema.index_of_column(c).map(|i| in_facts.unique[i]).unwrap_or(false),
                None => false,
            })
            .collect();
        let unit = in_facts.unit.map(|u| UnitFacts { index: unit_index.unwrap_or(u.index), ..u });
        Ok((new, RelFacts { unit, columns, unique, tables: in_facts.tables }))
    }

    fn join(&self, plan: &LogicalPlan) -> Result<(LogicalPlan, RelFacts)> {
        let LogicalPlan::Join(j) = plan else { unreachable!("join() called on a join") };
        if let Some(f) = &j.filter {
            check_subqueries(f, self.catalog)?;
        }
        let (left, lf) = self.walk(&j.left)?;
        let (right, rf) = self.walk(&j.right)?;
        let pairs = equi_pairs(j);
        let left_width = left.schema().fields().len();
        let new = plan.with_new_exprs(plan.expressions(), vec![left.clone(), right.clone()]).map_err(internal)?;
        let keeps_right = !matches!(j.join_type, JoinType::LeftSemi | JoinType::LeftAnti | JoinType::LeftMark);
        let keeps_left = !matches!(j.join_type, JoinType::RightSemi | JoinType::RightAnti | JoinType::RightMark);
        let mut columns = Vec::new();
        let mut unique = Vec::new();
        if keeps_left {
            columns.extend(lf.columns.iter().cloned());
            unique.extend(std::iter::repeat_n(false, lf.columns.len()));
        }
        if keeps_right {
            columns.extend(rf.columns.iter().cloned());
            unique.extend(std::iter::repeat_n(false, rf.columns.len()));
        }
        // Column facts after the join: an outer join may null a side, which keeps bounds
        // and domains valid (NULL is not a value).
        let mut tables = lf.tables.clone();
        tables.extend(rf.tables.iter().cloned());
        let unit = match (&lf.unit, &rf.unit) {
            (None, None) => None,
            (Some(u), None) | (None, Some(u)) => {
                let personal_left = lf.unit.is_some();
                let public = if personal_left { &rf } else { &lf };
                // The public side must not be preserved by the join: its unmatched rows
                // would exist or not depending on personal data.
                let ok = match j.join_type {
                    JoinType::Inner => true,
                    JoinType::Left | JoinType::LeftSemi | JoinType::LeftAnti => personal_left,
                    JoinType::Right | JoinType::RightSemi | JoinType::RightAnti => !personal_left,
                    _ => false,
                };
                if !ok {
                    return refuse(
                        RefusalCode::UnsupportedJoin,
                        format!(
                            "a {} join that keeps unmatched rows of a public table beside personal data is not \
                             supported; use an INNER join, or a LEFT join with the personal table on the left",
                            j.join_type
                        ),
                    );
                }
                // A join with a public table keeps one row per unit only where that is proven:
                // an equality between a column of the personal side and a declared (and, at
                // registration, verified) unique column of the public side. Anything else — a
                // condition naming one side only, a cross join, a non-equi or OR condition —
                // may repeat a person's rows, so the result is bounded as many rows per unit.
                let (personal_schema, public_schema) = if personal_left { (left.schema(), right.schema()) } else { (right.schema(), left.schema()) };
                let on_unique = pairs.iter().any(|(l, r)| {
                    let proven = |p: &Expr, q: &Expr| {
                        let personal_col = side_index(p, personal_schema).is_some() && side_index(p, public_schema).is_none();
                        let unique_col = side_index(q, personal_schema).is_none()
                            && side_index(q, public_schema).map(|i| public.unique[i]).unwrap_or(false);
                        personal_col && unique_col
                    };
                    proven(l, r) || proven(r, l)
                });
                let semi = matches!(j.join_type, JoinType::LeftSemi | JoinType::LeftAnti | JoinType::RightSemi | JoinType::RightAnti);
                let rows = if on_unique || semi { u.rows } else { RowsPerUnit::Many };
                let index = if personal_left || !keeps_left { u.index } else { left_width + u.index };
                Some(UnitFacts { index, rows, ..u.clone() })
            }
            (Some(lu), Some(ru)) => {
                if lu.kind != ru.kind {
                    return refuse(
                        RefusalCode::MixedPrivacyUnits,
                        format!(
                            "this join combines tables protected per {} and per {}; a release can protect one kind of \
                             unit at a time, so aggregate each side separately",
                            lu.kind, ru.kind
                        ),
                    );
                }
                let lcol = column_at(left.schema(), lu.index);
                let rcol = column_at(right.schema(), ru.index);
                let on_unit = pairs.iter().any(|(l, r)| {
                    (is_plain_column(l, &lcol) && is_plain_column(r, &rcol)) || (is_plain_column(l, &rcol) && is_plain_column(r, &lcol))
                });
                if !on_unit {
                    return refuse(
                        RefusalCode::UnsupportedJoin,
                        format!(
                            "two personal tables may be joined only on their privacy unit ({} = {}); add that equality \
                             to the ON clause",
                            lcol.flat_name(),
                            rcol.flat_name()
                        ),
                    );
                }
                let (index, base) = match j.join_type {
                    JoinType::Inner | JoinType::Left | JoinType::LeftSemi | JoinType::LeftAnti => (lu.index, lu),
                    JoinType::Right => (left_width + ru.index, ru),
                    JoinType::RightSemi | JoinType::RightAnti => (ru.index, ru),
                    _ => {
                        return refuse(
                            RefusalCode::UnsupportedJoin,
                            "a FULL join of personal tables may leave the privacy unit empty; use an INNER or LEFT join",
                        )
                    }
                };
                let rows = if lu.rows == RowsPerUnit::One && ru.rows == RowsPerUnit::One { RowsPerUnit::One } else { RowsPerUnit::Many };
                // Bounding applies to the joined rows. A one-row-per-unit side adds no rows per
                // unit, so the other side's bounds hold; between two many-row sides the
                // stricter bound is taken.
                let (max_groups, max_rows) = match (lu.rows, ru.rows) {
                    (RowsPerUnit::One, RowsPerUnit::Many) => (ru.max_groups, ru.max_rows),
                    (RowsPerUnit::Many, RowsPerUnit::One) => (lu.max_groups, lu.max_rows),
                    _ => (lu.max_groups.min(ru.max_groups), lu.max_rows.min(ru.max_rows)),
                };
                Some(UnitFacts { index, kind: base.kind.clone(), rows, max_groups, max_rows })
            }
        };
        // The joined schema's unit column must be the one we track.
        Ok((new, RelFacts { unit, columns, unique, tables }))
    }

    /// An aggregate grouped by the privacy unit below the released aggregate: per-person
    /// values (visits per person, spend per person) that the outer aggregate then bounds.
    fn per_unit_aggregate(&self, plan: &LogicalPlan, a: &datafusion::logical_expr::Aggregate) -> Result<(LogicalPlan, RelFacts)> {
        let (input, in_facts) = self.walk(&a.input)?;
        let Some(u) = in_facts.unit.clone() else {
            let new = plan.with_new_exprs(plan.expressions(), vec![input]).map_err(internal)?;
            let n = new.schema().fields().len();
            return Ok((new, RelFacts { unit: None, columns: vec![Facts::default(); n], unique: vec![false; n], tables: vec![] }));
        };
        let in_schema = input.schema().clone();
        let unit_col = column_at(&in_schema, u.index);
        let Some(pos) = a.group_expr.iter().position(|e| is_plain_column(e, &unit_col)) else {
            return refuse(
                RefusalCode::UnboundedSensitivity,
                "an aggregate inside a subquery over personal data must group by the privacy unit \
                 (one row per person); otherwise aggregate once, at the outer level",
            );
        };
        for e in a.group_expr.iter().chain(a.aggr_expr.iter()) {
            check_subqueries(e, self.catalog)?;
        }
        for e in &a.aggr_expr {
            let inner = match e {
                Expr::Alias(x) => x.expr.as_ref(),
                other => other,
            };
            if let Expr::AggregateFunction(f) = inner {
                // Per-person values: functions whose work and result are bounded per row.
                let name = f.func.name();
                if !PER_UNIT_AGGREGATES.contains(&name) {
                    return refuse(
                        RefusalCode::UnsupportedAggregate,
                        format!(
                            "{name} inside a per-person subquery is not supported; use one of {} there",
                            PER_UNIT_AGGREGATES.join(", ")
                        ),
                    );
                }
            }
        }
        let new = plan.with_new_exprs(plan.expressions(), vec![input]).map_err(internal)?;
        let mut columns: Vec<Facts> = a.group_expr.iter().map(|e| expr_facts(e, &in_schema, &in_facts.columns)).collect();
        for e in &a.aggr_expr {
            columns.push(per_unit_aggregate_facts(e, &in_schema, &in_facts.columns));
        }
        let n = columns.len();
        let rows = if a.group_expr.len() == 1 { RowsPerUnit::One } else { RowsPerUnit::Many };
        Ok((new, RelFacts { unit: Some(UnitFacts { index: pos, rows, ..u }), columns, unique: vec![false; n], tables: in_facts.tables }))
    }
}

fn per_unit_aggregate_facts(e: &Expr, schema: &DFSchema, columns: &[Facts]) -> Facts {
    let e = match e {
        Expr::Alias(a) => a.expr.as_ref(),
        other => other,
    };
    let Expr::AggregateFunction(f) = e else { return Facts::default() };
    let arg = f.params.args.first().map(|a| expr_facts(a, schema, columns)).unwrap_or_default();
    let taint = Facts { from_unit: arg.from_unit, from_identifier: arg.from_identifier, ..Facts::default() };
    match f.func.name() {
        // A count per person is at least 0; LEAST(n, k) bounds it above.
        "count" => Facts { bounds: Some((0.0, f64::INFINITY)), integer: true, ..taint },
        "min" | "max" | "avg" | "median" | "approx_median" => Facts { bounds: arg.bounds, integer: arg.integer && f.func.name() != "avg", ..taint },
        "sum" => {
            let bounds = arg.bounds.map(|(l, h)| (if l >= 0.0 { 0.0 } else { f64::NEG_INFINITY }, if h <= 0.0 { 0.0 } else { f64::INFINITY }));
            Facts { bounds, integer: arg.integer, ..taint }
        }
        "bool_and" | "bool_or" => Facts { boolean: true, ..taint },
        _ => taint,
    }
}

fn column_facts(m: &TableManifest, name: &str) -> Facts {
    let Some(c) = m.column(name) else { return Facts::default() };
    let integer = matches!(c.data_type, shuyu_datasets::ColumnType::Int64);
    let boolean = matches!(c.data_type, shuyu_datasets::ColumnType::Boolean);
    let dt = match c.data_type {
        shuyu_datasets::ColumnType::Int64 => arrow::datatypes::DataType::Int64,
        shuyu_datasets::ColumnType::Float64 => arrow::datatypes::DataType::Float64,
        shuyu_datasets::ColumnType::Utf8 => arrow::datatypes::DataType::Utf8,
        shuyu_datasets::ColumnType::Boolean => arrow::datatypes::DataType::Boolean,
        shuyu_datasets::ColumnType::Date32 => arrow::datatypes::DataType::Date32,
    };
    let domain = c.public_domain.as_ref().and_then(|d| {
        d.iter().map(|v| datafusion::common::ScalarValue::try_from_string(v.clone(), &dt).ok()).collect::<Option<Vec<_>>>()
    });
    Facts {
        bounds: c.bounds(),
        domain,
        from_unit: c.sensitivity == Sensitivity::UnitKey,
        from_identifier: c.sensitivity == Sensitivity::DirectIdentifier,
        integer,
        boolean,
    }
}

/// Equality pairs of a join: its `on` list and the `a = b` conjuncts of its filter (the SQL
/// planner leaves ON equalities in the filter until the optimizer extracts them).
fn equi_pairs(j: &datafusion::logical_expr::Join) -> Vec<(Expr, Expr)> {
    let mut out = j.on.clone();
    if let Some(f) = &j.filter {
        for c in datafusion::logical_expr::utils::split_conjunction(f) {
            if let Expr::BinaryExpr(b) = c {
                if b.op == datafusion::logical_expr::Operator::Eq {
                    out.push((b.left.as_ref().clone(), b.right.as_ref().clone()));
                }
            }
        }
    }
    out
}

/// The index in `schema` of the plain column `e` names, if it names one there.
fn side_index(e: &Expr, schema: &DFSchema) -> Option<usize> {
    plain_column(e).and_then(|c| schema.index_of_column(c).ok())
}

/// The column at index `i` of a schema, with its qualifier.
pub fn column_at(schema: &DFSchema, i: usize) -> Column {
    let (q, f) = schema.qualified_field(i);
    Column::new(q.cloned(), f.name())
}

/// The column an expression refers to, when it is a plain (possibly aliased or cast-free) column.
pub fn plain_column(e: &Expr) -> Option<&Column> {
    match e {
        Expr::Column(c) => Some(c),
        Expr::Alias(a) => plain_column(&a.expr),
        _ => None,
    }
}

fn is_plain_column(e: &Expr, c: &Column) -> bool {
    plain_column(e).map(|x| x == c || (x.relation.is_none() && x.name == c.name)).unwrap_or(false)
}

/// A short name of a plan node, for messages.
pub fn node_name(p: &LogicalPlan) -> String {
    let d = p.display().to_string();
    d.split(':').next().unwrap_or("plan").trim().to_string()
}

fn internal(e: datafusion::error::DataFusionError) -> PlannerError {
    PlannerError::Internal(e.strip_backtrace())
}
