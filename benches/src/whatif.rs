//! What-if variants used to locate and size fixes (not part of the acceptance numbers).
//!
//! - `sorted`: the same Parquet files registered with their real physical order declared
//!   (`residents` and `medical_visits` are generated in `person_id` order), for shuyu (a
//!   [`Scope`] built with [`Scope::from_context`]) and for plain DataFusion alike. The
//!   planner could do this from the manifest or the Parquet `sorting_columns`.
//! - [`analyze`]: `EXPLAIN ANALYZE` of plain DataFusion and of each shuyu inner and
//!   histogram plan (per-operator time and rows).

use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, AsArray};
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl};
use datafusion::logical_expr::{col, LogicalPlan};
use datafusion::prelude::SessionContext;
use shuyu_compute::PrivateSession;
use shuyu_datasets::demo::DEMO_TABLES;
use shuyu_datasets::demo_manifest;
use shuyu_planner::{Scope, ScopeCatalog};

use crate::runner::{budget, Result};

/// Tables the generator writes in `person_id` order.
const SORTED_BY: &[(&str, &str)] = &[("residents", "person_id"), ("medical_visits", "person_id")];

/// A context with the scope's configuration and every demo table registered as the scope
/// registers it, plus the declared `person_id` order of the tables that have it.
pub async fn sorted_context(dir: &Path) -> Result<(SessionContext, ScopeCatalog)> {
    let ctx = SessionContext::new_with_config(shuyu_planner::scope::session_config());
    let mut catalog = ScopeCatalog::default();
    for t in DEMO_TABLES {
        let m = demo_manifest(t).ok_or_else(|| format!("no demo manifest {t}"))?;
        let url = ListingTableUrl::parse(dir.join(format!("{t}.parquet")).to_string_lossy())?;
        let mut options = ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
        if let Some((_, c)) = SORTED_BY.iter().find(|(n, _)| *n == t) {
            options = options.with_file_sort_order(vec![vec![col(*c).sort(true, false)]]);
        }
        let schema = options.infer_schema(&ctx.state(), &url).await?;
        let config = ListingTableConfig::new(url).with_listing_options(options).with_schema(schema);
        ctx.register_table(t, Arc::new(ListingTable::try_new(config)?))?;
        catalog.insert(m);
    }
    Ok((ctx, catalog))
}

/// shuyu over [`sorted_context`] (a second context, so plain and shuyu share no caches).
pub async fn sorted_session(dir: &Path) -> Result<PrivateSession> {
    let (ctx, catalog) = sorted_context(dir).await?;
    Ok(PrivateSession::new(Scope::from_context(ctx, catalog)))
}

async fn analyzed(ctx: &SessionContext, plan: LogicalPlan) -> Result<String> {
    let batches = ctx.execute_logical_plan(plan).await?.explain(false, true)?.collect().await?;
    let mut out = String::new();
    for b in &batches {
        let plans = b.column(1).as_string_opt::<i32>().ok_or("EXPLAIN ANALYZE output is not text")?;
        for i in 0..plans.len() {
            if plans.is_valid(i) {
                out.push_str(plans.value(i));
                out.push('\n');
            }
        }
    }
    Ok(out)
}

/// `EXPLAIN ANALYZE` of plain DataFusion and of shuyu's inner and histogram plans.
pub async fn analyze(ctx: &SessionContext, s: &PrivateSession, sql: &str) -> Result<String> {
    let mut out = String::new();
    let plain = ctx.sql(sql).await?.into_unoptimized_plan();
    out.push_str(&format!("-- plain DataFusion\n{}", analyzed(ctx, plain).await?));
    let plan = s.plan(sql, budget()).await?;
    let sctx = s.scope().context();
    for r in &plan.releases {
        out.push_str(&format!("-- shuyu release {} inner plan\n{}", r.index, analyzed(sctx, r.plan.clone()).await?));
        for (i, h) in r.histograms.iter().enumerate() {
            out.push_str(&format!("-- shuyu release {} histogram {i}\n{}", r.index, analyzed(sctx, h.plan.clone()).await?));
        }
    }
    Ok(out)
}

/// A hand-written alternative to shuyu's inner plan(s) for one workload query: what a
/// planner change would execute instead. Timed on the plain context against the inner
/// plans' time from the breakdown.
#[derive(Debug, Clone, Copy)]
pub struct Variant {
    /// Workload query it replaces the inner plans of.
    pub query: &'static str,
    /// Short name.
    pub name: &'static str,
    /// The planner change it stands for.
    pub change: &'static str,
    /// Equivalent SQL (same bounds and grids as shuyu's inner plan).
    pub sql: &'static str,
}

/// The variants.
pub const VARIANTS: &[Variant] = &[
    Variant {
        query: "visits_join_district",
        name: "no_group_bounding",
        change: "district comes from residents (one row per person) joined on the unit: one key per unit, no ROW_NUMBER window",
        sql: "SELECT __k0, count(__unit) AS __units, sum(__s0) AS __p0 FROM (\
              SELECT __unit, __k0, CASE WHEN __s0 < 0 THEN 0 WHEN __s0 > 8 THEN 8 ELSE __s0 END AS __s0 FROM (\
              SELECT v.person_id AS __unit, r.district AS __k0, sum(1) AS __s0 FROM medical_visits v JOIN residents r \
              ON v.person_id = r.person_id GROUP BY v.person_id, r.district) t1) t2 GROUP BY __k0",
    },
    Variant {
        query: "visits_join_district",
        name: "bound_before_join",
        change: "also bound (per-unit sums, clamp) on medical_visits before joining the one-row-per-unit residents",
        sql: "SELECT r.district AS __k0, count(v.person_id) AS __units, sum(v.s) AS __p0 FROM (\
              SELECT person_id, LEAST(count(*), 8) AS s FROM medical_visits GROUP BY person_id) v \
              JOIN residents r ON v.person_id = r.person_id GROUP BY r.district",
    },
    Variant {
        query: "visits_dept_count_sum",
        name: "no_window_floor",
        change: "floor for a fused bounding operator: per-(unit, key) sums and clamps, no repartition/sort/ROW_NUMBER",
        sql: "SELECT __k0, count(__unit) AS __units, sum(LEAST(__s0, 8)) AS __p0, sum(LEAST(GREATEST(__s1, 0), 40000000)) AS __p1 FROM (\
              SELECT person_id AS __unit, department AS __k0, sum(1) AS __s0, \
              sum(CAST(round(CASE WHEN cost < 0 THEN 0 WHEN cost > 50000 THEN 50000 ELSE cost END * 100) AS BIGINT)) AS __s1 \
              FROM medical_visits GROUP BY person_id, department) t GROUP BY __k0",
    },
    Variant {
        query: "visits_dept_count_sum",
        name: "window_by_key",
        change: "same plan with ROW_NUMBER ordered by the key instead of random(): the cost of the random sort key",
        sql: "SELECT __k0, count(__unit) AS __units, sum(__s0) AS __p0, sum(__s1) AS __p1 FROM (\
              SELECT __unit, __k0, __s0, __s1, row_number() OVER (PARTITION BY __unit ORDER BY __k0) AS __rn FROM (\
              SELECT person_id AS __unit, department AS __k0, LEAST(sum(1), 8) AS __s0, \
              LEAST(GREATEST(sum(CAST(round(CASE WHEN cost < 0 THEN 0 WHEN cost > 50000 THEN 50000 ELSE cost END * 100) AS BIGINT)), 0), 40000000) AS __s1 \
              FROM medical_visits GROUP BY person_id, department) t1) t2 WHERE __rn <= 4 GROUP BY __k0",
    },
    Variant {
        query: "district_median_age",
        name: "histogram_only_int",
        change: "skip the inner plan when the release has no partials and public keys; integer buckets for an integer column",
        sql: "SELECT district AS __k0, CASE WHEN age < 0 THEN 0 WHEN age > 100 THEN 100 ELSE age END AS __bucket, count(1) AS __n \
              FROM residents WHERE age IS NOT NULL GROUP BY district, __bucket",
    },
    Variant {
        query: "visits_count_avg",
        name: "per_unit_only",
        change: "reference: the per-unit aggregation alone (what any correct bounding must do without declared order)",
        sql: "SELECT count(*) FROM (SELECT person_id FROM medical_visits GROUP BY person_id) t",
    },
];
