//! One aggregate function of a private aggregate, reduced to the partials it needs (COUNT,
//! SUM on a grid, AVG and VAR from centred sums beside a count, quantile histograms), with
//! its FILTER applied as a guard and its output kind for the release.

use super::*;

impl AggregateAnalysis<'_> {
    pub(super) fn aggregate(
        &self,
        f: &AggregateFunction,
        schema: &DFSchema,
        columns: &[Facts],
        unit_col: &Column,
        reqs: &mut Vec<PartialReq>,
        quantiles: &mut Vec<(Expr, (f64, f64), bool, f64)>,
    ) -> Result<OutputKind> {
        let name = f.func.name().to_ascii_lowercase();
        let p = &f.params;
        let shown = Expr::AggregateFunction(f.clone()).schema_name().to_string();
        // FILTER (WHERE c) becomes CASE WHEN c THEN arg END.
        let guard = |e: Expr| -> Expr {
            match &p.filter {
                Some(c) => when(c.as_ref().clone(), e).end().expect("CASE builds"),
                None => e,
            }
        };
        // Partials are shared between aggregates by label: the label names the filter, so
        // SUM(x) FILTER (WHERE a) and SUM(x) are two partials.
        let filtered = p.filter.as_ref().map(|c| format!(" where {}", c.schema_name())).unwrap_or_default();
        let arg = p.args.first().cloned();
        let is_star = arg.as_ref().map(|a| matches!(a, Expr::Literal(v, _) if !v.is_null())).unwrap_or(true);
        let mut push = |reqs: &mut Vec<PartialReq>, label: String, expr: Expr, lo: f64, hi: f64| -> usize {
            if let Some(i) = reqs.iter().position(|r| r.label == label) {
                return i;
            }
            reqs.push(PartialReq { label, expr: Some(expr), count: false, cond: None, lo, hi });
            reqs.len() - 1
        };
        let count_of = |reqs: &mut Vec<PartialReq>, push: &mut dyn FnMut(&mut Vec<PartialReq>, String, Expr, f64, f64) -> usize, x: Option<&Expr>| -> usize {
            let cond = match (x, &p.filter) {
                (None, None) => None,
                (None, Some(c)) => Some(c.as_ref().clone()),
                (Some(x), None) => Some(x.clone().is_not_null()),
                (Some(x), Some(c)) => Some(c.as_ref().clone().and(x.clone().is_not_null())),
            };
            let label = match &cond {
                None => "count(*)".to_string(),
                Some(c) => format!("count where {}", c.schema_name()),
            };
            let i = push(reqs, label, lit(1i64), 0.0, 1.0);
            reqs[i].count = true;
            reqs[i].cond = cond;
            i
        };
        let bounded = |x: &Expr| -> Result<(Facts, (f64, f64))> {
            let fx = expr_facts(x, schema, columns);
            if fx.from_identifier {
                return refuse(RefusalCode::DirectIdentifier, format!("{shown} aggregates a direct identifier; identifiers may only be counted"));
            }
            match fx.finite_bounds() {
                Some(b) => Ok((fx, b)),
                None => refuse(
                    RefusalCode::UnboundedAggregate,
                    format!(
                        "{shown}: the value {} has no declared bounds, so one person's influence cannot be bounded; \
                         aggregate a column with declared bounds, or clamp it with LEAST/GREATEST or a CASE to constants",
                        x.schema_name()
                    ),
                ),
            }
        };
        match name.as_str() {
            "count" => {
                if p.distinct {
                    let Some(x) = &arg else { return refuse(RefusalCode::UnsupportedAggregate, "COUNT(DISTINCT) needs a column") };
                    let is_unit = matches!(crate::relation::plain_column(x), Some(c) if c == unit_col || (c.relation.is_none() && c.name == unit_col.name));
                    if !is_unit || p.filter.is_some() {
                        return refuse(
                            RefusalCode::UnsupportedAggregate,
                            format!(
                                "{shown}: COUNT(DISTINCT ...) is supported on the privacy unit ({}) only, without FILTER; \
                                 to count distinct values of another column, GROUP BY it and count the groups",
                                unit_col.name
                            ),
                        );
                    }
                    let i = if let Some(i) = reqs.iter().position(|r| r.expr.is_none() && r.label == "count(distinct unit)") {
                        i
                    } else {
                        reqs.push(PartialReq { label: "count(distinct unit)".into(), expr: None, count: false, cond: None, lo: 0.0, hi: 1.0 });
                        reqs.len() - 1
                    };
                    return Ok(OutputKind::Count { partial: i });
                }
                let x = if is_star { None } else { arg.as_ref() };
                let i = count_of(reqs, &mut push, x);
                Ok(OutputKind::Count { partial: i })
            }
            "sum" | "avg" | "mean" | "var" | "var_samp" | "var_sample" | "var_pop" | "var_population" | "stddev" | "stddev_samp"
            | "stddev_pop" => {
                if p.distinct {
                    return refuse(RefusalCode::UnsupportedAggregate, format!("{shown}: DISTINCT inside {name} cannot be bounded; drop DISTINCT"));
                }
                let Some(x) = arg else { return refuse(RefusalCode::UnsupportedAggregate, format!("{shown} needs an argument")) };
                let (fx, (lo, hi)) = bounded(&x)?;
                let integer = fx.integer;
                if name == "sum" {
                    let grid = grid_for(lo.abs().max(hi.abs()), integer);
                    let label = format!("sum({}) x {grid}{filtered}", x.schema_name());
                    let i = push(reqs, label, guard(OnGrid::new(lo, hi, 0.0, grid, false).call(x.clone())), (lo * grid).floor(), (hi * grid).ceil());
                    return Ok(OutputKind::Sum { partial: i, grid, non_negative: lo >= 0.0 });
                }
                // Centre at the exact midpoint. For whole numbers with a half-integer midpoint
                // (a 0/1 indicator: mid 0.5), a grid of 2 keeps every centred value whole, so
                // one row moves the sum by at most half the range.
                let mid = (lo + hi) / 2.0;
                let half_step = integer && mid.fract() != 0.0;
                let half = (hi - lo) / 2.0;
                let grid = grid_for(half, integer) * if half_step { 2.0 } else { 1.0 };
                let s = push(
                    reqs,
                    format!("sum({} - {mid}) x {grid}{filtered}", x.schema_name()),
                    guard(OnGrid::new(lo, hi, mid, grid, false).call(x.clone())),
                    -(half * grid).ceil(),
                    (half * grid).ceil(),
                );
                let c = count_of(reqs, &mut push, Some(&x));
                if name == "avg" || name == "mean" {
                    return Ok(OutputKind::Avg { sum: s, count: c, grid, mid, bounds: (lo, hi) });
                }
                let sq_max = half * half;
                // (x - mid)^2 with a half-integer mid is a multiple of 1/4: a grid of 4 keeps it whole.
                let grid_sq = grid_for(sq_max, integer) * if half_step { 4.0 } else { 1.0 };
                let sq = OnGrid::new(lo, hi, mid, grid_sq, true).call(x.clone());
                let q = push(reqs, format!("sum(({} - {mid})^2) x {grid_sq}{filtered}", x.schema_name()), guard(sq), 0.0, (sq_max * grid_sq).ceil());
                let sample = !name.ends_with("pop") && !name.ends_with("population");
                Ok(OutputKind::Variance { sum: s, sum_sq: q, count: c, grid, grid_sq, bounds: (lo, hi), sample, stddev: name.starts_with("stddev") })
            }
            "median" | "approx_median" | "approx_percentile_cont" | "percentile_cont" | "quantile_cont" => {
                if p.distinct {
                    return refuse(RefusalCode::UnsupportedAggregate, format!("{shown}: DISTINCT inside a quantile cannot be bounded"));
                }
                let Some(x) = arg else { return refuse(RefusalCode::UnsupportedAggregate, format!("{shown} needs an argument")) };
                let alpha = if name.contains("median") {
                    0.5
                } else {
                    match p.args.get(1) {
                        Some(Expr::Literal(v, _)) => match v.clone().cast_to(&DataType::Float64) {
                            Ok(ScalarValue::Float64(Some(a))) if (0.0..=1.0).contains(&a) => a,
                            _ => return refuse(RefusalCode::UnsupportedAggregate, format!("{shown}: the percentile must be a constant between 0 and 1")),
                        },
                        _ => return refuse(RefusalCode::UnsupportedAggregate, format!("{shown}: the percentile must be a constant between 0 and 1")),
                    }
                };
                let (fx, b) = bounded(&x)?;
                let x = guard(x);
                quantiles.push((x, b, fx.integer, alpha));
                Ok(OutputKind::Quantile { histogram: quantiles.len() - 1, alpha })
            }
            "min" | "max" => refuse(
                RefusalCode::UnsupportedAggregate,
                format!(
                    "{shown}: MIN and MAX reveal one person's value; use APPROX_PERCENTILE_CONT(col, 0.01) or \
                     APPROX_PERCENTILE_CONT(col, 0.99) (a DP quantile) instead"
                ),
            ),
            other => refuse(
                RefusalCode::UnsupportedAggregate,
                format!("{shown}: the aggregate {other} has no private version; use COUNT, SUM, AVG, VAR, STDDEV, MEDIAN or APPROX_PERCENTILE_CONT"),
            ),
        }
    }
}
