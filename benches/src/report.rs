//! Results: statistics, the Markdown table and the JSON report.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{json, Value};

use crate::accuracy;
use crate::load::LoadResult;
use crate::peers::PeerResult;
use crate::runner::Breakdown;
use crate::sysinfo::{human_bytes, MachineInfo};
use crate::whatif::{ScopeVariant, Variant};
use crate::workload::{Query, WORKLOAD_VERSION};

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Median, extremes and every run of one timed series, in milliseconds.
#[derive(Debug, Clone)]
pub struct Timing {
    /// Median.
    pub median_ms: f64,
    /// Fastest run.
    pub min_ms: f64,
    /// Slowest run.
    pub max_ms: f64,
    /// Every run, in order.
    pub runs_ms: Vec<f64>,
}

fn median(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

impl Timing {
    /// Statistics of `runs` (not empty).
    pub fn of(runs: &[Duration]) -> Self {
        let runs_ms: Vec<f64> = runs.iter().map(|d| ms(*d)).collect();
        let mut sorted = runs_ms.clone();
        sorted.sort_by(f64::total_cmp);
        Timing {
            median_ms: median(&sorted),
            min_ms: sorted.first().copied().unwrap_or(f64::NAN),
            max_ms: sorted.last().copied().unwrap_or(f64::NAN),
            runs_ms,
        }
    }

    /// As JSON.
    pub fn to_json(&self) -> Value {
        json!({ "median_ms": self.median_ms, "min_ms": self.min_ms, "max_ms": self.max_ms, "runs_ms": self.runs_ms })
    }
}

/// Per-stage medians of several breakdowns (`None` when there are none).
pub fn median_breakdown(runs: &[Breakdown]) -> Option<Breakdown> {
    if runs.is_empty() {
        return None;
    }
    let med = |f: fn(&Breakdown) -> Duration| -> Duration {
        let mut v: Vec<Duration> = runs.iter().map(f).collect();
        v.sort();
        let n = v.len();
        if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2
        }
    };
    Some(Breakdown {
        plan: med(|b| b.plan),
        inner: med(|b| b.inner),
        histograms: med(|b| b.histograms),
        rest: med(|b| b.rest),
        execute: med(|b| b.execute),
        inner_rows: runs[0].inner_rows,
        histogram_rows: runs[0].histogram_rows,
    })
}

/// One query's results at one size.
#[derive(Debug, Clone)]
pub struct QueryResult {
    /// The query.
    pub query: Query,
    /// Plain DataFusion, end to end (SQL planning to collected batches).
    pub plain: Option<Timing>,
    /// shuyu `PrivateSession::execute`, end to end.
    pub private: Option<Timing>,
    /// `PrivateSession::plan` alone.
    pub plan: Option<Timing>,
    /// Stage medians of shuyu.
    pub breakdown: Option<Breakdown>,
    /// What-ifs (`--whatif-scope`): per scope variant, plain, shuyu and shuyu's stages.
    pub sorted: Vec<(ScopeVariant, Timing, Timing, Option<Breakdown>)>,
    /// What-if (`--whatif-sql`): hand-written alternatives to the inner plans, timed.
    pub variants: Vec<(Variant, Timing)>,
    /// Rows plain DataFusion returned.
    pub plain_rows: usize,
    /// Rows shuyu returned.
    pub private_rows: usize,
    /// Peak RSS while this query ran (VmHWM, reset before the query when possible).
    pub peak_rss: Option<u64>,
    /// Why the query could not be measured.
    pub failure: Option<String>,
    /// Relative error of shuyu's timed releases at the workload epsilon.
    pub error: Option<accuracy::Error>,
    /// shuyu over Flight SQL: the first call on a freshly started service, ms.
    pub flight_cold_ms: Option<f64>,
    /// shuyu over Flight SQL: the calls after it on the same connection.
    pub flight: Option<Timing>,
    /// Why it was not measured over Flight SQL.
    pub flight_note: Option<String>,
    /// Relative error of the Flight SQL answers (cold and warm calls).
    pub flight_error: Option<accuracy::Error>,
    /// Error of shuyu's releases at each epsilon of the sweep.
    pub sweep: Vec<(f64, accuracy::Error)>,
}

impl QueryResult {
    /// A query that failed.
    pub fn failed(q: &Query, error: String) -> Self {
        QueryResult {
            query: *q,
            plain: None,
            private: None,
            plan: None,
            breakdown: None,
            sorted: Vec::new(),
            variants: Vec::new(),
            plain_rows: 0,
            private_rows: 0,
            peak_rss: None,
            failure: Some(error),
            error: None,
            flight_cold_ms: None,
            flight: None,
            flight_note: None,
            flight_error: None,
            sweep: Vec::new(),
        }
    }

    /// shuyu median / plain median.
    pub fn ratio(&self) -> Option<f64> {
        Some(self.private.as_ref()?.median_ms / self.plain.as_ref()?.median_ms)
    }

    /// Whether the ratio meets the query's target.
    pub fn meets_target(&self) -> Option<bool> {
        self.ratio().map(|r| r <= self.query.target())
    }
}

/// All results at one size.
#[derive(Debug, Clone)]
pub struct SizeResult {
    /// Size label (1m, 10m).
    pub label: String,
    /// Residents.
    pub residents: u64,
    /// Dataset folder.
    pub data_dir: PathBuf,
    /// (table, rows, bytes).
    pub tables: Vec<(String, u64, u64)>,
    /// Generation time when the dataset was generated by this run.
    pub generate_secs: Option<f64>,
    /// Timed runs per engine per query.
    pub reps: usize,
    /// Machine facts.
    pub machine: MachineInfo,
    /// Load average when this size finished.
    pub load_avg_end: Option<f64>,
    /// Peak RSS over this size's queries.
    pub peak_rss: Option<u64>,
    /// Per query.
    pub queries: Vec<QueryResult>,
    /// Exact answers, per query name.
    pub exact: std::collections::BTreeMap<&'static str, accuracy::Cells>,
    /// The peers (empty unless `--peers`).
    pub peers: Vec<PeerResult>,
    /// Service load, if run at this size.
    pub load: Option<LoadResult>,
    /// Peak RSS of the Flight SQL phase (service and clients in this process).
    pub flight_peak_rss: Option<u64>,
}

fn range(t: &Option<Timing>) -> String {
    match t {
        Some(t) => format!("{:.1} ({:.1}–{:.1})", t.median_ms, t.min_ms, t.max_ms),
        None => "–".into(),
    }
}

/// The Markdown tables of one size.
pub fn markdown(r: &SizeResult) -> String {
    let mut s = String::new();
    let rows_of = |name: &str| r.tables.iter().find(|t| t.0 == name).map(|t| t.1).unwrap_or(0);
    s.push_str(&format!(
        "\n### {}: residents {} rows, medical_visits {} rows (workload v{}, {} reps, {} cores{})\n\n",
        r.label,
        rows_of("residents"),
        rows_of("medical_visits"),
        WORKLOAD_VERSION,
        r.reps,
        r.machine.cores,
        if r.machine.release { "" } else { ", DEBUG BUILD" }
    ));
    s.push_str("| query | bounding | plain ms median (min–max) | shuyu ms median (min–max) | ratio | target | plan ms | rows plain/shuyu | peak RSS |\n");
    s.push_str("|---|---|---:|---:|---:|---:|---:|---:|---:|\n");
    for q in &r.queries {
        let ratio = match (q.ratio(), q.meets_target()) {
            (Some(x), Some(true)) => format!("{x:.2}x"),
            (Some(x), _) => format!("**{x:.2}x** ✗"),
            _ => format!("ERROR: {}", q.failure.as_deref().unwrap_or("?")),
        };
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | ≤{}x | {} | {}/{} | {} |\n",
            q.query.name,
            if q.query.needs_bounding { "yes" } else { "no" },
            range(&q.plain),
            range(&q.private),
            ratio,
            q.query.target(),
            q.plan.as_ref().map(|t| format!("{:.2}", t.median_ms)).unwrap_or_else(|| "–".into()),
            q.plain_rows,
            q.private_rows,
            q.peak_rss.map(human_bytes).unwrap_or_else(|| "?".into()),
        ));
    }
    s.push_str("\nWhere shuyu's time goes (medians of the stage-by-stage runs, ms). plan = PrivateSession::plan; inner, histograms = \
                those DataFusion plans run alone; rest = execute_plan minus them (assembly, noise, outer plan); \
                inner/plain = (inner + histograms) / plain median:\n\n");
    s.push_str("| query | plan | inner plans | histograms | rest | execute_plan | inner/plain | inner rows |\n");
    s.push_str("|---|---:|---:|---:|---:|---:|---:|---:|\n");
    for q in &r.queries {
        let Some(b) = &q.breakdown else { continue };
        let plain = q.plain.as_ref().map(|t| t.median_ms).unwrap_or(f64::NAN);
        s.push_str(&format!(
            "| {} | {:.2} | {:.1} | {:.1} | {:.2} | {:.1} | {:.2}x | {} |\n",
            q.query.name,
            ms(b.plan),
            ms(b.inner),
            ms(b.histograms),
            ms(b.rest),
            ms(b.execute),
            (ms(b.inner) + ms(b.histograms)) / plain,
            b.inner_rows + b.histogram_rows,
        ));
    }
    if r.queries.iter().any(|q| !q.sorted.is_empty()) {
        s.push_str("\nWhat-if: other DataFusion setups of the same files, applied to both engines (ms):\n\n");
        s.push_str("| query | variant | plain | shuyu | ratio | shuyu inner | shuyu vs default plain |\n");
        s.push_str("|---|---|---:|---:|---:|---:|---:|\n");
        for q in &r.queries {
            let default_plain = q.plain.as_ref().map(|t| t.median_ms).unwrap_or(f64::NAN);
            for (v, p, sh, b) in &q.sorted {
                s.push_str(&format!(
                    "| {} | {} | {} | {} | {:.2}x | {} | {:.2}x |\n",
                    q.query.name,
                    v.name,
                    range(&Some(p.clone())),
                    range(&Some(sh.clone())),
                    sh.median_ms / p.median_ms,
                    b.as_ref().map(|b| format!("{:.1}", ms(b.inner) + ms(b.histograms))).unwrap_or_else(|| "–".into()),
                    sh.median_ms / default_plain,
                ));
            }
        }
        for v in crate::whatif::SCOPE_VARIANTS {
            if r.queries.iter().any(|q| q.sorted.iter().any(|s| s.0.name == v.name)) {
                s.push_str(&format!("\n- `{}`: {}", v.name, v.change));
            }
        }
        s.push('\n');
    }
    if r.queries.iter().any(|q| !q.variants.is_empty()) {
        s.push_str("\nWhat-if: alternatives to shuyu's inner plans, run on the plain context (ms; 'projected' = (variant + plan + rest) / plain median):\n\n");
        s.push_str("| query | variant | current inner | variant | projected ratio | change |\n");
        s.push_str("|---|---|---:|---:|---:|---|\n");
        for q in &r.queries {
            let (Some(b), Some(p)) = (&q.breakdown, &q.plain) else { continue };
            let inner = ms(b.inner) + ms(b.histograms);
            for (v, t) in &q.variants {
                s.push_str(&format!(
                    "| {} | {} | {:.1} | {} | {:.2}x | {} |\n",
                    q.query.name,
                    v.name,
                    inner,
                    range(&Some(t.clone())),
                    (t.median_ms + ms(b.plan) + ms(b.rest)) / p.median_ms,
                    v.change
                ));
            }
        }
    }
    s.push_str(&format!(
        "\nPeak RSS at {}: {}; load average {:.2} at start, {:.2} at end; engine sources {}; {}.\n",
        r.label,
        r.peak_rss.map(human_bytes).unwrap_or_else(|| "?".into()),
        r.machine.load_avg.unwrap_or(f64::NAN),
        r.load_avg_end.unwrap_or(f64::NAN),
        r.machine.engine_fingerprint,
        r.machine.rustc
    ));
    s
}

fn breakdown_json(b: &Breakdown) -> Value {
    json!({
        "plan_ms": ms(b.plan),
        "inner_ms": ms(b.inner),
        "histograms_ms": ms(b.histograms),
        "rest_ms": ms(b.rest),
        "execute_plan_ms": ms(b.execute),
        "inner_rows": b.inner_rows,
        "histogram_rows": b.histogram_rows,
    })
}

/// The JSON report of one size.
pub fn json(r: &SizeResult) -> Value {
    let m = &r.machine;
    json!({
        "benchmark": "shuyu-bench engine",
        "workload_version": WORKLOAD_VERSION,
        "size": r.label,
        "residents": r.residents,
        "data_dir": r.data_dir.display().to_string(),
        "tables": r.tables.iter().map(|(n, rows, bytes)| json!({"name": n, "rows": rows, "bytes": bytes})).collect::<Vec<_>>(),
        "generate_secs": r.generate_secs,
        "reps": r.reps,
        "protocol": "one warm-up per engine, then reps alternating runs (plain, shuyu, ...); ratio = shuyu median / plain median",
        "budget": "pure epsilon = 1.0",
        "machine": {
            "cores": m.cores,
            "cpu_model": m.cpu_model,
            "mem_total_bytes": m.mem_total,
            "rustc": m.rustc,
            "engine_fingerprint": m.engine_fingerprint,
            "release_build": m.release,
            "os": m.os,
            "load_avg_start": m.load_avg,
            "load_avg_end": r.load_avg_end,
        },
        "peak_rss_bytes": r.peak_rss,
        "queries": r.queries.iter().map(|q| json!({
            "name": q.query.name,
            "sql": q.query.sql,
            "needs_bounding": q.query.needs_bounding,
            "target_ratio": q.query.target(),
            "plain": q.plain.as_ref().map(Timing::to_json),
            "shuyu": q.private.as_ref().map(Timing::to_json),
            "plan_only": q.plan.as_ref().map(Timing::to_json),
            "ratio": q.ratio(),
            "meets_target": q.meets_target(),
            "breakdown": q.breakdown.as_ref().map(breakdown_json),
            "whatif_scope": q.sorted.iter().map(|(v, p, sh, b)| json!({
                "variant": v.name,
                "change": v.change,
                "plain": p.to_json(),
                "shuyu": sh.to_json(),
                "ratio": sh.median_ms / p.median_ms,
                "breakdown": b.as_ref().map(breakdown_json),
            })).collect::<Vec<_>>(),
            "whatif_sql": q.variants.iter().map(|(v, t)| json!({
                "name": v.name, "change": v.change, "sql": v.sql, "timing": t.to_json(),
            })).collect::<Vec<_>>(),
            "rows_plain": q.plain_rows,
            "rows_shuyu": q.private_rows,
            "peak_rss_bytes": q.peak_rss,
            "failure": q.failure,
            "error_at_epsilon_1": q.error.as_ref().map(accuracy::Error::to_json),
            "flight_cold_ms": q.flight_cold_ms,
            "flight_warm": q.flight.as_ref().map(Timing::to_json),
            "flight_note": q.flight_note,
            "flight_error": q.flight_error.as_ref().map(accuracy::Error::to_json),
            "error_vs_epsilon": q.sweep.iter().map(|(e, err)| json!({"epsilon": e, "error": err.to_json()})).collect::<Vec<_>>(),
            "exact_answer": r.exact.get(q.query.name),
        })).collect::<Vec<_>>(),
        "flight_peak_rss_bytes": r.flight_peak_rss,
        "peers": r.peers.iter().map(|p| peer_json(r, p)).collect::<Vec<_>>(),
        "load": r.load.as_ref().map(LoadResult::to_json),
    })
}

fn peer_json(r: &SizeResult, p: &PeerResult) -> Value {
    json!({
        "peer": p.peer.name,
        "differentially_private": p.peer.private,
        "status": p.status,
        "reason": p.reason,
        "load_s": p.load.map(|d| d.as_secs_f64()),
        "versions": p.versions,
        "notes": p.notes,
        "peak_rss_bytes": p.peak_rss,
        "runs": p.runs.iter().map(|run| {
            let exact = crate::summary::exact_of_peer_query(r, &run.query);
            json!({
                "query": run.query,
                "epsilon": run.epsilon,
                "time": Timing::of(&run.times).to_json(),
                "error": exact.map(|e| accuracy::Error::of(&run.answers, e).to_json()),
            })
        }).collect::<Vec<_>>(),
    })
}
