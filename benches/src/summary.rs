//! The report folder: `results.json` (every size), `summary.md` (headline table, targets,
//! the whole workload, scaling, error against epsilon, load, peers, memory) and SVG plots
//! (`latency-<Q>.svg`: latency against rows per system; `error-eps-<Q>.svg`: error against
//! epsilon per system).

use std::fmt::Write as _;
use std::path::Path;

use serde_json::json;

use crate::accuracy;
use crate::peers::PeerResult;
use crate::plots::{self, Series};
use crate::report::{self, exact_of_peer_query, QueryResult, SizeResult};
use crate::stats::Timing;
use crate::sysinfo::human_bytes;
use crate::timing::TimingResult;
use crate::workload::{EPSILON, REFERENCE_FASTEST_PEER_MS, REFERENCE_ROWS, WORKLOAD_VERSION};

const PEER_QUERIES: [&str; 3] = ["Q1", "Q2", "Q3"];

fn of_peer<'a>(r: &'a SizeResult, peer_query: &str) -> Option<&'a QueryResult> {
    r.queries.iter().find(|q| q.query.peer == Some(peer_query))
}

/// Median time (ms) and error of a peer's query at `epsilon`.
fn peer_cell(r: &SizeResult, p: &PeerResult, q: &str, epsilon: f64) -> Option<(f64, Option<f64>)> {
    let run = p.run(q, epsilon)?;
    if run.times.is_empty() {
        return None;
    }
    let err = exact_of_peer_query(r, q).and_then(|e| accuracy::Error::of(&run.answers, e).mean_rel);
    Some((Timing::of(&run.times).median_ms, if p.peer.private { err } else { Some(0.0) }))
}

fn ms(v: f64) -> String {
    if !v.is_finite() {
        "–".into()
    } else if v >= 1000.0 {
        format!("{:.2} s", v / 1000.0)
    } else if v >= 10.0 {
        format!("{v:.0} ms")
    } else {
        format!("{v:.1} ms")
    }
}

fn opt_ms(v: Option<f64>) -> String {
    v.map(ms).unwrap_or_else(|| "–".into())
}

fn err(v: Option<f64>) -> String {
    match v {
        // A noisy release can hit the exact value (discrete noise at small scale): plain "0".
        Some(x) if x == 0.0 => "0".into(),
        Some(x) => format!("{x:.1e}"),
        None => "–".into(),
    }
}

/// Rows the query reads: the rows of every table its SQL names.
fn rows_read(r: &SizeResult, sql: &str) -> u64 {
    r.tables.iter().filter(|(name, _, _)| sql.contains(name.as_str())).map(|t| t.1).sum()
}

/// Writes the report folder for `sizes` (every size run so far).
/// `timing` is the timing-channel phase, once it has run.
pub fn write(dir: &Path, sizes: &[SizeResult], venv_failures: &[(&str, String)], command: &str, timing: Option<&TimingResult>) -> crate::runner::Result<()> {
    std::fs::create_dir_all(dir)?;
    // Smallest size first, whatever order they ran in.
    let mut sizes = sizes.to_vec();
    sizes.sort_by_key(|r| r.residents);
    let sizes = sizes.as_slice();
    let results = json!({
        "benchmark": "shuyu-bench",
        "workload_version": WORKLOAD_VERSION,
        "command": command,
        "epsilon": EPSILON,
        "delta": crate::workload::DELTA,
        "sizes": sizes.iter().map(report::json).collect::<Vec<_>>(),
        "peer_environment_failures": venv_failures.iter().map(|(v, e)| json!({"venv": v, "error": e})).collect::<Vec<_>>(),
        "timing_channel": timing.map(TimingResult::to_json),
    });
    let mut text = serde_json::to_vec_pretty(&results)?;
    text.push(b'\n');
    std::fs::write(dir.join("results.json"), text)?;
    let mut plots_written = Vec::new();
    for q in PEER_QUERIES {
        let name = format!("latency-{q}.svg");
        std::fs::write(dir.join(&name), plots::log_log(&format!("{q}: latency vs rows (epsilon 1)"), "rows", "ms (median)", &latency_series(sizes, q))?)?;
        plots_written.push(name);
        let name = format!("error-eps-{q}.svg");
        std::fs::write(dir.join(&name), plots::log_log(&format!("{q}: relative error vs epsilon"), "epsilon", "mean relative error", &error_series(sizes, q))?)?;
        plots_written.push(name);
    }
    let name = "latency-workload.svg".to_string();
    std::fs::write(dir.join(&name), plots::log_log("shuyu in process: latency vs rows read, every query", "rows read", "ms (median)", &workload_series(sizes))?)?;
    plots_written.push(name);
    let mut md = markdown(sizes, venv_failures, command, &plots_written);
    if let Some(t) = timing {
        md.push_str(&t.markdown());
    }
    std::fs::write(dir.join("summary.md"), md)?;
    Ok(())
}

fn latency_series(sizes: &[SizeResult], q: &str) -> Vec<Series> {
    let mut out: Vec<Series> = Vec::new();
    let mut push = |name: &str, x: f64, y: Option<f64>| {
        let Some(y) = y else { return };
        match out.iter_mut().find(|s| s.0 == name) {
            Some(s) => s.1.push((x, y)),
            None => out.push((name.to_string(), vec![(x, y)])),
        }
    };
    for r in sizes {
        let x = r.residents as f64;
        if let Some(w) = of_peer(r, q) {
            push("plain DataFusion (exact)", x, w.plain.as_ref().map(|t| t.median_ms));
            push("shuyu in process", x, w.private.as_ref().map(|t| t.median_ms));
            push("shuyu Flight SQL cold", x, w.flight_cold_ms);
            push("shuyu Flight SQL warm", x, w.flight.as_ref().map(|t| t.median_ms));
        }
        for p in &r.peers {
            push(p.peer.name, x, peer_cell(r, p, q, EPSILON).map(|c| c.0));
        }
    }
    out
}

fn error_series(sizes: &[SizeResult], q: &str) -> Vec<Series> {
    let Some(r) = sizes.iter().find(|r| of_peer(r, q).is_some_and(|w| !w.sweep.is_empty())) else { return Vec::new() };
    let mut out: Vec<Series> = Vec::new();
    if let Some(w) = of_peer(r, q) {
        out.push((format!("shuyu ({} rows)", r.label), w.sweep.iter().filter_map(|(e, x)| Some((*e, x.mean_rel?))).collect()));
    }
    for p in r.peers.iter().filter(|p| p.peer.private) {
        let mut eps: Vec<f64> = p.runs.iter().filter(|run| run.query == q).map(|run| run.epsilon).collect();
        eps.sort_by(f64::total_cmp);
        out.push((p.peer.name.to_string(), eps.iter().filter_map(|e| Some((*e, peer_cell(r, p, q, *e)?.1?))).collect()));
    }
    out
}

fn workload_series(sizes: &[SizeResult]) -> Vec<Series> {
    let Some(first) = sizes.first() else { return Vec::new() };
    first
        .queries
        .iter()
        .map(|q0| {
            let pts = sizes
                .iter()
                .filter_map(|r| {
                    let q = r.queries.iter().find(|q| q.query.name == q0.query.name)?;
                    Some((rows_read(r, q.query.sql) as f64, q.private.as_ref()?.median_ms))
                })
                .collect();
            (q0.query.name.to_string(), pts)
        })
        .collect()
}

fn markdown(sizes: &[SizeResult], venv_failures: &[(&str, String)], command: &str, plots: &[String]) -> String {
    let mut s = String::new();
    let m = sizes.first().map(|r| &r.machine);
    let _ = writeln!(s, "# shuyu-bench report (workload v{WORKLOAD_VERSION})\n");
    let _ = writeln!(s, "Command: `{command}`  ");
    if let Some(m) = m {
        let _ = writeln!(
            s,
            "Machine: {} cores, {}, {}; {}; engine sources {}; {} build.\n",
            m.cores,
            m.cpu_model.as_deref().unwrap_or("unknown CPU"),
            m.mem_total.map(human_bytes).unwrap_or_else(|| "? memory".into()),
            m.rustc,
            m.engine_fingerprint,
            if m.release { "release" } else { "DEBUG (timings not representative)" }
        );
    }
    let _ = writeln!(
        s,
        "Every system answers at epsilon = {EPSILON} per query (delta = 1e-6 where a mechanism needs one), with the same \
         clamping bounds (age [0, 100], income [0, 200000], cost [0, 50000]). Time = median wall time of one release \
         (compile or plan, execute, noise, fetch); error = mean over releases of the mean |noisy − exact| / |exact| \
         over the answer's cells, against the exact answer on clamped values.\n"
    );

    if sizes.is_empty() {
        // --timing-only: the timing section is the whole report.
        return s;
    }
    headline(&mut s, sizes);
    targets(&mut s, sizes);
    workload_tables(&mut s, sizes);
    scaling(&mut s, sizes);
    sweep(&mut s, sizes);
    load(&mut s, sizes);
    peers(&mut s, sizes, venv_failures);
    let _ = writeln!(s, "## Plots\n");
    for p in plots {
        let _ = writeln!(s, "- [{p}]({p})");
    }
    s
}

fn headline(s: &mut String, sizes: &[SizeResult]) {
    let _ = writeln!(s, "## Headline: the peers' three queries\n");
    let _ = writeln!(s, "Q1 `SELECT COUNT(*) FROM residents`; Q2 `SELECT district, COUNT(*), SUM(income) … GROUP BY district`; Q3 `SELECT district, AVG(age) … WHERE employed GROUP BY district` (districts are public keys).\n");
    for r in sizes {
        let _ = writeln!(s, "### {} residents\n", r.label);
        let _ = writeln!(s, "| system | Q1 time | Q1 error | Q2 time | Q2 error | Q3 time | Q3 error | load |");
        let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---:|");
        type Pick = fn(&QueryResult) -> Option<f64>;
        let rows: [(&str, Pick, Pick); 4] = [
            ("plain DataFusion (exact, same process; error 0 by definition)", |w| w.plain.as_ref().map(|t| t.median_ms), |_| Some(0.0)),
            ("shuyu in process", |w| w.private.as_ref().map(|t| t.median_ms), |w| w.error.as_ref()?.mean_rel),
            ("shuyu Flight SQL, cold (error over cold + warm answers)", |w| w.flight_cold_ms, |w| w.flight_error.as_ref()?.mean_rel),
            ("shuyu Flight SQL, warm", |w| w.flight.as_ref().map(|t| t.median_ms), |w| w.flight_error.as_ref()?.mean_rel),
        ];
        for (name, time, error) in rows {
            let _ = write!(s, "| {name} |");
            for q in PEER_QUERIES {
                match of_peer(r, q) {
                    Some(w) => {
                        let e = error(w);
                        let _ = write!(s, " {} | {} |", opt_ms(time(w)), err(e));
                    }
                    None => {
                        let _ = write!(s, " – | – |");
                    }
                }
            }
            let _ = writeln!(s, " – |");
        }
        for p in &r.peers {
            let _ = write!(s, "| {}{} |", p.peer.name, if p.status == "ok" { String::new() } else { format!(" ({})", p.status) });
            for q in PEER_QUERIES {
                match peer_cell(r, p, q, EPSILON) {
                    Some((t, e)) => {
                        let _ = write!(s, " {} | {} |", ms(t), err(e));
                    }
                    None => {
                        let _ = write!(s, " – | – |");
                    }
                }
            }
            let _ = writeln!(s, " {} |", p.load.map(|d| ms(d.as_secs_f64() * 1e3)).unwrap_or_else(|| "–".into()));
        }
        let _ = writeln!(s);
    }
}

fn targets(s: &mut String, sizes: &[SizeResult]) {
    let _ = writeln!(s, "## Targets\n");
    for r in sizes {
        let one_row: Vec<&QueryResult> = r.queries.iter().filter(|q| !q.query.needs_bounding && q.ratio().is_some()).collect();
        let met = one_row.iter().filter(|q| q.meets_target() == Some(true)).count();
        let list: Vec<String> = one_row.iter().map(|q| format!("{} {:.2}x", q.query.name, q.ratio().unwrap_or(f64::NAN))).collect();
        let _ = writeln!(s, "- {}: shuyu within 1.2x of plain DataFusion on one-row-per-unit queries: {met} of {} ({})", r.label, one_row.len(), list.join(", "));
        for q in PEER_QUERIES {
            let Some(w) = of_peer(r, q) else { continue };
            let ours = w.error.as_ref().and_then(|e| e.mean_rel);
            let best = r
                .peers
                .iter()
                .filter(|p| p.peer.private)
                .filter_map(|p| Some((p.peer.name, peer_cell(r, p, q, EPSILON)?.1?)))
                .min_by(|a, b| a.1.total_cmp(&b.1));
            if let (Some(ours), Some((name, e))) = (ours, best) {
                let _ = writeln!(
                    s,
                    "- {}: {q} error {} vs best peer {name} {}: {}",
                    r.label,
                    err(Some(ours)),
                    err(Some(e)),
                    if ours <= e { "no worse ✓" } else { "worse ✗ (same-epsilon noise; within sampling spread when the reps are few)" }
                );
            }
        }
    }
    for r in sizes.iter().filter(|r| r.residents == REFERENCE_ROWS) {
        if let Some(cold) = of_peer(r, "Q2").and_then(|w| w.flight_cold_ms) {
            let _ = writeln!(
                s,
                "- {}: Q2 through Flight SQL, cold, {} vs the fastest peer recorded in the peers' reference results \
                 (SmartNoise SQL on PostgreSQL, {}): {:.1}x faster — target 3x {}",
                r.label,
                ms(cold),
                ms(REFERENCE_FASTEST_PEER_MS),
                REFERENCE_FASTEST_PEER_MS / cold,
                if REFERENCE_FASTEST_PEER_MS / cold >= 3.0 { "✓" } else { "✗" }
            );
        }
        let fastest = r.peers.iter().filter(|p| p.peer.private).filter_map(|p| Some((p.peer.name, peer_cell(r, p, "Q2", EPSILON)?.0))).min_by(|a, b| a.1.total_cmp(&b.1));
        if let (Some(cold), Some((name, t))) = (of_peer(r, "Q2").and_then(|w| w.flight_cold_ms), fastest) {
            let _ = writeln!(s, "- {}: Q2 Flight SQL cold vs the fastest peer measured in this run ({name}, {}): {:.1}x", r.label, ms(t), t / cold);
        }
    }
    let _ = writeln!(s);
}

fn workload_tables(s: &mut String, sizes: &[SizeResult]) {
    let _ = writeln!(s, "## The whole workload\n");
    for r in sizes {
        let _ = writeln!(s, "### {} residents ({} reps)\n", r.label, r.reps);
        let _ = writeln!(s, "| query | bounding | plain | shuyu in process | ratio | Flight SQL cold | Flight SQL warm | error (ε=1) | peak RSS |");
        let _ = writeln!(s, "|---|---|---:|---:|---:|---:|---:|---:|---:|");
        for q in &r.queries {
            let ratio = match (q.ratio(), q.meets_target()) {
                (Some(x), Some(true)) => format!("{x:.2}x"),
                (Some(x), _) => format!("**{x:.2}x** (target {}x)", q.query.target()),
                _ => format!("failed: {}", q.failure.as_deref().unwrap_or("?")),
            };
            let flight_cold = match (&q.flight_cold_ms, &q.flight_note) {
                (Some(c), _) => ms(*c),
                (None, Some(n)) => n.clone(),
                _ => "–".into(),
            };
            let _ = writeln!(
                s,
                "| `{}` | {} | {} | {} | {} | {} | {} | {} | {} |",
                q.query.name,
                if q.query.needs_bounding { "yes" } else { "no" },
                opt_ms(q.plain.as_ref().map(|t| t.median_ms)),
                q.private.as_ref().map(|t| format!("{} ({}–{})", ms(t.median_ms), ms(t.min_ms), ms(t.max_ms))).unwrap_or_else(|| "–".into()),
                ratio,
                flight_cold,
                opt_ms(q.flight.as_ref().map(|t| t.median_ms)),
                err(q.error.as_ref().and_then(|e| e.mean_rel)),
                q.peak_rss.map(human_bytes).unwrap_or_else(|| "?".into()),
            );
        }
        let _ = writeln!(
            s,
            "\nPeak RSS at {}: {} (Flight SQL phase {}).\n",
            r.label,
            r.peak_rss.map(human_bytes).unwrap_or_else(|| "?".into()),
            r.flight_peak_rss.map(human_bytes).unwrap_or_else(|| "–".into())
        );
    }
}

fn scaling(s: &mut String, sizes: &[SizeResult]) {
    if sizes.len() < 2 {
        return;
    }
    let _ = writeln!(s, "## Scaling: shuyu in process, nanoseconds per row read\n");
    let _ = write!(s, "| query |");
    for r in sizes {
        let _ = write!(s, " {} |", r.label);
    }
    let _ = writeln!(s, " plain at {} |", sizes.last().map(|r| r.label.as_str()).unwrap_or(""));
    let _ = writeln!(s, "|---|{}---:|", "---:|".repeat(sizes.len()));
    for q0 in &sizes[0].queries {
        let _ = write!(s, "| `{}` |", q0.query.name);
        for r in sizes {
            let cell = r
                .queries
                .iter()
                .find(|q| q.query.name == q0.query.name)
                .and_then(|q| Some(q.private.as_ref()?.median_ms * 1e6 / rows_read(r, q.query.sql) as f64));
            let _ = write!(s, " {} |", cell.map(|v| format!("{v:.1}")).unwrap_or_else(|| "–".into()));
        }
        let last = sizes.last().and_then(|r| {
            let q = r.queries.iter().find(|q| q.query.name == q0.query.name)?;
            Some(q.plain.as_ref()?.median_ms * 1e6 / rows_read(r, q.query.sql) as f64)
        });
        let _ = writeln!(s, " {} |", last.map(|v| format!("{v:.1}")).unwrap_or_else(|| "–".into()));
    }
    let _ = writeln!(s);
}

fn sweep(s: &mut String, sizes: &[SizeResult]) {
    for r in sizes.iter().filter(|r| r.queries.iter().any(|q| !q.sweep.is_empty())) {
        let _ = writeln!(s, "## Error against epsilon at {} residents\n", r.label);
        let _ = writeln!(s, "| query | system | {} |", r.queries.iter().find(|q| !q.sweep.is_empty()).map(|q| q.sweep.iter().map(|(e, _)| format!("ε={e}")).collect::<Vec<_>>().join(" | ")).unwrap_or_default());
        let n = r.queries.iter().find(|q| !q.sweep.is_empty()).map(|q| q.sweep.len()).unwrap_or(0);
        let _ = writeln!(s, "|---|---|{}", "---:|".repeat(n));
        for q in PEER_QUERIES {
            let Some(w) = of_peer(r, q) else { continue };
            let _ = writeln!(s, "| {q} | shuyu | {} |", w.sweep.iter().map(|(_, e)| err(e.mean_rel)).collect::<Vec<_>>().join(" | "));
            for p in r.peers.iter().filter(|p| p.peer.private) {
                let cells: Vec<String> = w.sweep.iter().map(|(e, _)| err(peer_cell(r, p, q, *e).and_then(|c| c.1))).collect();
                let _ = writeln!(s, "| {q} | {} | {} |", p.peer.name, cells.join(" | "));
            }
        }
        let _ = writeln!(s);
    }
}

fn load(s: &mut String, sizes: &[SizeResult]) {
    for r in sizes {
        let Some(l) = &r.load else { continue };
        let _ = writeln!(s, "## Service load at {} residents\n", r.label);
        let _ = writeln!(
            s,
            "{} concurrent Flight SQL clients on loopback for {:.1} s (at most {} jobs at once per unit), rotating over {} \
             one-row-per-unit queries at epsilon {EPSILON}: {} answers, **{:.1} queries/s**, p50 **{}**, p99 **{}**; \
             {} refusals over the concurrency cap (retried), {} other errors. Ledger afterwards: committed {} = told {}, \
             reserved {}, chain verified: {} → {}.\n",
            l.clients,
            l.elapsed.as_secs_f64(),
            l.max_jobs,
            l.queries.len(),
            l.answered,
            l.qps(),
            ms(l.latency.median_ms),
            ms(l.p99_ms),
            l.busy,
            l.errors,
            l.spent,
            l.told,
            l.reserved,
            l.ledger_verified,
            if l.ledger_ok() { "consistent ✓" } else { "MISMATCH ✗" }
        );
    }
}

fn peers(s: &mut String, sizes: &[SizeResult], venv_failures: &[(&str, String)]) {
    if sizes.iter().all(|r| r.peers.is_empty()) {
        let _ = writeln!(s, "## Peers\n\nNot run (add `--peers`; the environments are created under `<data-dir>/peers/`).\n");
        return;
    }
    let _ = writeln!(s, "## Peers\n");
    for (v, e) in venv_failures {
        let _ = writeln!(s, "- environment `{v}` could not be created: {e}");
    }
    for r in sizes {
        for p in &r.peers {
            let versions = p.versions.as_object().map(|o| o.iter().map(|(k, v)| format!("{k} {}", v.as_str().unwrap_or("?"))).collect::<Vec<_>>().join(", ")).unwrap_or_default();
            let _ = writeln!(
                s,
                "- {} `{}`: {}{}; load {}; peak RSS {}; {}{}",
                r.label,
                p.peer.name,
                p.status,
                p.reason.as_deref().map(|x| format!(" ({x})")).unwrap_or_default(),
                p.load.map(|d| ms(d.as_secs_f64() * 1e3)).unwrap_or_else(|| "–".into()),
                p.peak_rss.map(human_bytes).unwrap_or_else(|| "?".into()),
                versions,
                if p.notes.is_empty() { String::new() } else { format!("; {}", p.notes.join("; ")) }
            );
        }
    }
    let _ = writeln!(s);
}
