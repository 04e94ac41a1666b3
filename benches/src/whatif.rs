//! What-if variants used to locate and size fixes (not part of the acceptance numbers).
//!
//! - [`SCOPE_VARIANTS`]: the same Parquet files registered with another DataFusion setup
//!   (e.g. their real physical order declared: `residents` and `medical_visits` are
//!   generated in `person_id` order), for shuyu (a [`Scope`] built with
//!   [`Scope::from_context`]) and for plain DataFusion alike.
//! - [`VARIANTS`]: hand-written SQL alternatives to shuyu's inner plans.
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

use crate::runner::{budget_of, Result};
use crate::workload::EPSILON;

/// Tables the generator writes in `person_id` order.
const SORTED_BY: &[(&str, &str)] = &[("residents", "person_id"), ("medical_visits", "person_id")];

/// A variant of the scope's DataFusion setup (same files, same tables).
#[derive(Debug, Clone, Copy)]
pub struct ScopeVariant {
    /// Name (`--whatif-scope` selects by it).
    pub name: &'static str,
    /// What it changes.
    pub change: &'static str,
    /// Declare the `person_id` order of `residents` and `medical_visits`.
    pub sorted: bool,
    /// `datafusion.optimizer.prefer_existing_sort`.
    pub prefer_existing_sort: bool,
    /// `datafusion.execution.skip_partial_aggregation_probe_ratio_threshold` (default 0.8).
    pub skip_partial_ratio: Option<f64>,
}

/// The scope variants.
pub const SCOPE_VARIANTS: &[ScopeVariant] = &[
    ScopeVariant {
        name: "sorted",
        change: "ListingOptions::with_file_sort_order([person_id ASC]) on residents and medical_visits",
        sorted: true,
        prefer_existing_sort: false,
        skip_partial_ratio: None,
    },
    ScopeVariant {
        name: "sorted_prefer",
        change: "sorted, and prefer_existing_sort = true (keep the order instead of re-sorting)",
        sorted: true,
        prefer_existing_sort: true,
        skip_partial_ratio: None,
    },
    ScopeVariant {
        name: "skip_partial",
        change: "skip_partial_aggregation_probe_ratio_threshold = 0.1 (per-unit partial aggregation reduces rows by < 3x)",
        sorted: false,
        prefer_existing_sort: false,
        skip_partial_ratio: Some(0.1),
    },
];

/// The named scope variants (unknown names are an error).
pub fn scope_variants(names: &[String]) -> std::result::Result<Vec<ScopeVariant>, String> {
    names
        .iter()
        .map(|n| {
            SCOPE_VARIANTS.iter().find(|v| v.name == n).copied().ok_or_else(|| {
                let known: Vec<&str> = SCOPE_VARIANTS.iter().map(|v| v.name).collect();
                format!("unknown scope variant {n}; known: {}", known.join(", "))
            })
        })
        .collect()
}

/// A context with the scope's configuration (changed as `v` says) and every demo table
/// registered as the scope registers it (declaring the `person_id` order when `v.sorted`).
pub async fn variant_context(dir: &Path, v: &ScopeVariant) -> Result<(SessionContext, ScopeCatalog)> {
    let mut config = shuyu_planner::scope::session_config();
    config.options_mut().optimizer.prefer_existing_sort = v.prefer_existing_sort;
    if let Some(r) = v.skip_partial_ratio {
        config.options_mut().execution.skip_partial_aggregation_probe_ratio_threshold = r;
    }
    let ctx = SessionContext::new_with_config(config);
    let mut catalog = ScopeCatalog::default();
    for t in DEMO_TABLES {
        let m = demo_manifest(t).ok_or_else(|| format!("no demo manifest {t}"))?;
        let url = ListingTableUrl::parse(dir.join(format!("{t}.parquet")).to_string_lossy())?;
        let mut options = ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
        if v.sorted {
            if let Some((_, c)) = SORTED_BY.iter().find(|(n, _)| *n == t) {
                options = options.with_file_sort_order(vec![vec![col(*c).sort(true, false)]]);
            }
        }
        let schema = options.infer_schema(&ctx.state(), &url).await?;
        let config = ListingTableConfig::new(url).with_listing_options(options).with_schema(schema);
        ctx.register_table(t, Arc::new(ListingTable::try_new(config)?))?;
        catalog.insert(m);
    }
    Ok((ctx, catalog))
}

/// Plain DataFusion and shuyu over two separate [`variant_context`]s (no shared caches).
pub async fn variant_engines(dir: &Path, v: &ScopeVariant) -> Result<(SessionContext, PrivateSession)> {
    let plain = variant_context(dir, v).await?.0;
    let (ctx, catalog) = variant_context(dir, v).await?;
    Ok((plain, PrivateSession::new(Scope::from_context(ctx, catalog)).with_exact_reuse(false)))
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
pub async fn analyze(ctx: &SessionContext, s: &PrivateSession, q: &crate::workload::Query) -> Result<String> {
    let sql = q.sql;
    let mut out = String::new();
    let plain = ctx.sql(sql).await?.into_unoptimized_plan();
    out.push_str(&format!("-- plain DataFusion\n{}", analyzed(ctx, plain).await?));
    let plan = s.plan(sql, budget_of(q, EPSILON)).await?;
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
        name: "int_key_no_window",
        change: "floor with the (unit, key) pair packed into one Int64 (key = index in its public domain), no window",
        sql: "SELECT __uk % 16 AS __k0, count(*) AS __units, sum(LEAST(__s0, 8)) AS __p0, sum(LEAST(GREATEST(__s1, 0), 40000000)) AS __p1 FROM (\
              SELECT person_id * 16 + CASE department WHEN '内科' THEN 0 WHEN '外科' THEN 1 WHEN '儿科' THEN 2 WHEN '妇产科' THEN 3 \
              WHEN '眼科' THEN 4 WHEN '口腔科' THEN 5 WHEN '急诊科' THEN 6 WHEN '中医科' THEN 7 WHEN '皮肤科' THEN 8 ELSE 9 END AS __uk, \
              sum(1) AS __s0, sum(CAST(round(CASE WHEN cost < 0 THEN 0 WHEN cost > 50000 THEN 50000 ELSE cost END * 100) AS BIGINT)) AS __s1 \
              FROM medical_visits GROUP BY __uk) t GROUP BY __uk % 16",
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
        query: "visits_dept_count_sum",
        name: "single_pass_floor",
        change: "floor for a streaming per-unit bounding operator on unit-clustered files: one pass over the same columns",
        sql: "SELECT department AS __k0, count(person_id) AS __units, count(*) AS __p0, \
              sum(CAST(round(CASE WHEN cost < 0 THEN 0 WHEN cost > 50000 THEN 50000 ELSE cost END * 100) AS BIGINT)) AS __p1 \
              FROM medical_visits GROUP BY department",
    },
    Variant {
        query: "visits_count_avg",
        name: "single_pass_floor",
        change: "floor for a streaming per-unit bounding operator on unit-clustered files: one pass over the same columns",
        sql: "SELECT count(person_id) AS __units, count(*) AS __p0, \
              sum(CAST(round((CASE WHEN cost < 0 THEN 0 WHEN cost > 50000 THEN 50000 ELSE cost END - 25000) * 100) AS BIGINT)) AS __p1, \
              count(cost) AS __p2 FROM medical_visits",
    },
    Variant {
        query: "visits_count_avg",
        name: "per_unit_only",
        change: "reference: the per-unit aggregation alone (what any correct bounding must do without declared order)",
        sql: "SELECT count(*) FROM (SELECT person_id FROM medical_visits GROUP BY person_id) t",
    },
];
