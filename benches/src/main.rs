//! # shuyu-bench
//!
//! The benchmark suite: a fixed, versioned workload of analyst queries run, at one or more
//! dataset sizes, through shuyu in process (`PrivateSession::execute`), through shuyu's
//! Arrow Flight SQL service (started in this process on loopback, cold first call and warm
//! calls), through plain DataFusion (same session configuration and Parquet files: the
//! headline ratio), and — with `--peers` — through the DP peers in Python. Per query: time
//! (median and spread), relative error against the exact answer at the same epsilon, and
//! peak memory; then error against epsilon, a service load phase, and a report folder
//! (JSON, Markdown, SVG plots).
//!
//! ```text
//! cargo run --release -p shuyu-bench -- --sizes 100k,1m,10m [--peers] [--reps 5]
//! ```
//!
//! Layout: [`workload`] (the versioned queries and targets), [`runner`] (the in-process
//! engines and the stage breakdown), [`service`] (the Flight SQL service and client),
//! [`accuracy`] (cells and relative error), [`peers`] (the Python peers), [`load`] (the
//! concurrent-clients phase), [`stats`] (medians and extremes of timed series), [`timing`]
//! (the timing channel), [`sysinfo`] (machine facts, RSS), [`report`] (per-size
//! Markdown and JSON), [`summary`] (the cross-size report folder), [`plots`] (SVG),
//! [`whatif`] (diagnostics: other setups, EXPLAIN ANALYZE).
//!
//! Encrypted aggregation (the `crypto/` crate) is not part of the workload yet: when it
//! lands, its fused aggregates join [`workload::WORKLOAD`] as queries of their own, and
//! its micro-benchmark sits beside `compute/benches/noise.rs`.

mod accuracy;
mod load;
mod peers;
mod plots;
mod service;
mod summary;
mod report;
mod runner;
mod stats;
mod sysinfo;
mod timing;
mod whatif;
mod workload;

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use shuyu_datasets::generate::{ensure_generated, GenerateOptions};

use report::{QueryResult, SizeResult};
use stats::Timing;
use runner::Breakdown;
use workload::{Query, DATA_SEED, EPSILON};

/// Benchmark shuyu against plain DataFusion, over Flight SQL, and against the DP peers.
#[derive(Debug, Parser)]
#[command(name = "shuyu-bench", version)]
struct Args {
    /// Residents per dataset, comma-separated (100k, 1m, 10m, 2500000); medical_visits is about 3x.
    #[arg(long, value_delimiter = ',', default_value = "100k,1m")]
    sizes: Vec<String>,
    /// Timed runs of each engine per query (after one warm-up each); also the warm Flight SQL calls.
    #[arg(long, default_value_t = 5)]
    reps: usize,
    /// Stage-by-stage shuyu runs per query (0 = skip the breakdown).
    #[arg(long, default_value_t = 3)]
    breakdown_reps: usize,
    /// Where datasets are generated (one folder per size) or reused; peer environments go
    /// to `<data-dir>/peers/`.
    #[arg(long, default_value = "data/bench")]
    data_dir: PathBuf,
    /// Where per-size JSON results are written (engine-<size>.json).
    #[arg(long, default_value = "target/bench-results")]
    out: PathBuf,
    /// Where the report (results.json, summary.md, SVG plots) is written.
    #[arg(long, default_value = "target/bench-report")]
    report_dir: PathBuf,
    /// Only these queries (names from the workload), comma-separated.
    #[arg(long, value_delimiter = ',')]
    queries: Vec<String>,
    /// Skip the Flight SQL measurements.
    #[arg(long)]
    no_flight: bool,
    /// Run the DP peers (Python), creating their environments under <data-dir>/peers when missing.
    #[arg(long)]
    peers: bool,
    /// Only these peers, comma-separated (exact_duckdb, smartnoise, opendp_polars, qrlew_duckdb, tumult).
    #[arg(long, value_delimiter = ',')]
    peer_list: Vec<String>,
    /// Python interpreter that creates the peers' environments (3.11: the pinned peer
    /// packages do not all install on newer ones).
    #[arg(long, env = "SHUYU_BENCH_PYTHON", default_value = "python3")]
    python: String,
    /// Releases per query and epsilon for each peer.
    #[arg(long, default_value_t = 3)]
    peer_reps: usize,
    /// Wall-clock limit of one peer at one size, seconds (finished queries are kept).
    #[arg(long, default_value_t = 900)]
    peer_timeout: u64,
    /// Epsilons of the error-vs-epsilon sweep (the peers' queries; shuyu and the peers).
    #[arg(long, value_delimiter = ',', default_value = "0.1,0.3,1,3")]
    sweep_eps: Vec<f64>,
    /// Sizes the sweep runs at (default: the first size).
    #[arg(long, value_delimiter = ',')]
    sweep_sizes: Vec<String>,
    /// Releases per epsilon in the sweep (shuyu).
    #[arg(long, default_value_t = 10)]
    sweep_reps: usize,
    /// Concurrent Flight SQL clients of the load phase (0 = skip it).
    #[arg(long, default_value_t = 16)]
    load_clients: usize,
    /// Duration of the load phase, seconds.
    #[arg(long, default_value_t = 20)]
    load_secs: u64,
    /// Size the load phase runs at (default: the first size).
    #[arg(long)]
    load_size: Option<String>,
    /// Jobs the unit may run at once during the load phase (the server's cap).
    #[arg(long, default_value_t = 4)]
    load_max_jobs: u32,
    /// Interleaved (true, false) pairs per timing-channel candidate (`benches/src/timing.rs`; 0 = skip).
    #[arg(long, default_value_t = 200)]
    timing_reps: usize,
    /// Size the timing phase runs at (default: the first size).
    #[arg(long)]
    timing_size: Option<String>,
    /// Run only the timing phase (no workload, sweep, load or peers).
    #[arg(long)]
    timing_only: bool,
    /// Print the physical plans (plain, and shuyu's inner and histogram plans) of each query.
    #[arg(long)]
    explain: bool,
    /// Print EXPLAIN ANALYZE (per-operator time and rows) of plain and of shuyu's inner plans.
    #[arg(long)]
    analyze: bool,
    /// Also time both engines under other DataFusion setups (what-ifs), comma-separated:
    /// sorted (declare the person_id order), sorted_prefer, skip_partial.
    #[arg(long, value_delimiter = ',')]
    whatif_scope: Vec<String>,
    /// Also time hand-written alternatives to shuyu's inner plans (what planner fixes would run).
    #[arg(long)]
    whatif_sql: bool,
    /// Abort a size when a query's warm-up peak RSS exceeds this fraction of physical memory.
    #[arg(long, default_value_t = 0.75)]
    max_rss_fraction: f64,
    /// List the workload and exit.
    #[arg(long)]
    list: bool,
}

/// The canonical label of a size (1m, 10m, 20k, 1234).
fn size_label(n: u64) -> String {
    if n % 1_000_000 == 0 {
        format!("{}m", n / 1_000_000)
    } else if n % 1_000 == 0 {
        format!("{}k", n / 1_000)
    } else {
        n.to_string()
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    if args.list {
        println!("workload version {}", workload::WORKLOAD_VERSION);
        for q in workload::WORKLOAD {
            println!(
                "{:24} bounding={:5} target<={}x peer={:3} flight={:5} {}",
                q.name,
                q.needs_bounding,
                q.target(),
                q.peer.unwrap_or("-"),
                q.over_flight,
                q.sql
            );
        }
        return ExitCode::SUCCESS;
    }
    match run(&args).await {
        Ok(all_ok) => {
            if all_ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

/// What the sizes share: the selected queries and peers, machine facts, phase choices.
struct Plan {
    queries: Vec<Query>,
    peers: Vec<peers::Peer>,
    sweep_sizes: Vec<u64>,
    load_size: Option<u64>,
    machine: sysinfo::MachineInfo,
    per_query_peaks: bool,
}

/// Runs every size; returns whether every query ran (targets missed are reported, not errors).
async fn run(args: &Args) -> runner::Result<bool> {
    if args.reps == 0 {
        return Err("--reps must be at least 1".into());
    }
    if args.sweep_eps.iter().any(|e| !(e.is_finite() && *e > 0.0 && *e <= 10.0)) {
        return Err("--sweep-eps values must be in (0, 10] (the bench authorization's per-query cap is 10)".into());
    }
    let queries = workload::select(&args.queries)?;
    let sizes: Vec<u64> = args.sizes.iter().map(|s| workload::parse_size(s)).collect::<Result<_, _>>()?;
    let first = *sizes.first().ok_or("--sizes is empty")?;
    let sweep_sizes = if args.sweep_sizes.is_empty() {
        vec![first]
    } else {
        args.sweep_sizes.iter().map(|s| workload::parse_size(s)).collect::<Result<_, _>>()?
    };
    let load_size = match (&args.load_size, args.load_clients) {
        (_, 0) => None,
        (Some(s), _) => Some(workload::parse_size(s)?),
        (None, _) => Some(first),
    };
    let peers = if args.peers { peers::select(&args.peer_list)? } else { Vec::new() };
    let machine = sysinfo::MachineInfo::collect();
    if !machine.release {
        eprintln!("warning: this is a debug build; timings are not representative (use --release)");
    }
    eprintln!(
        "shuyu-bench: workload v{}, {} queries, sizes {:?}, {} reps, {} cores, load {:.2}, peers {}",
        workload::WORKLOAD_VERSION,
        queries.len(),
        sizes.iter().map(|n| size_label(*n)).collect::<Vec<_>>(),
        args.reps,
        machine.cores,
        machine.load_avg.unwrap_or(f64::NAN),
        if peers.is_empty() { "not requested (--peers)".to_string() } else { peers.iter().map(|p| p.name).collect::<Vec<_>>().join(", ") }
    );
    let peer_root = args.data_dir.join("peers");
    let mut venv_failures = Vec::new();
    if !peers.is_empty() {
        venv_failures = peers::ensure_venvs(&peer_root, &peers, &args.python);
    }
    let per_query_peaks = sysinfo::reset_peak();
    let plan = Plan { queries, peers, sweep_sizes, load_size, machine, per_query_peaks };
    let mut all_ok = true;
    let mut overall_peak = 0u64;
    let mut results = Vec::new();
    for &n in sizes.iter().filter(|_| !args.timing_only) {
        let r = run_size(args, &plan, n).await?;
        all_ok &= r.queries.iter().all(|q| q.failure.is_none());
        overall_peak = overall_peak.max(r.peak_rss.unwrap_or(0));
        println!("{}", report::markdown(&r));
        std::fs::create_dir_all(&args.out)?;
        let path = args.out.join(format!("engine-{}.json", r.label));
        let mut json = serde_json::to_vec_pretty(&report::json(&r))?;
        json.push(b'\n');
        std::fs::write(&path, json)?;
        eprintln!("wrote {}", path.display());
        results.push(r);
        // Rewritten after every size, so a long run leaves a report even if stopped.
        summary::write(&args.report_dir, &results, &venv_failures, &command_line(), None)?;
    }
    if args.timing_reps > 0 {
        let n = args.timing_size.as_deref().map(workload::parse_size).transpose()?.unwrap_or(first);
        let dir = args.data_dir.join(size_label(n));
        let data = ensure_generated(&GenerateOptions { residents: n, out_dir: dir.clone(), seed: DATA_SEED, progress: std::io::stderr().is_terminal() })?;
        let (plain, private) = (runner::plain_context(&data).await?, runner::private_session(&dir).await?);
        let opts = timing::Options { reps: args.timing_reps, flight: !args.no_flight };
        let t = timing::run(&dir, &plain, &private, &size_label(n), opts).await?;
        all_ok &= t.candidates.iter().all(|c| !matches!(c.status, timing::Status::Failed(_)));
        summary::write(&args.report_dir, &results, &venv_failures, &command_line(), Some(&t))?;
    }
    let hwm = sysinfo::peak_rss().unwrap_or(0);
    println!(
        "Peak RSS (VmHWM) over the run: {}{}",
        sysinfo::human_bytes(overall_peak.max(hwm)),
        if per_query_peaks { " (max of per-phase peaks; VmHWM is reset before each query and phase)" } else { "" }
    );
    println!("Report: {}", args.report_dir.join("summary.md").display());
    Ok(all_ok)
}

fn command_line() -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    format!("cargo run --release -p shuyu-bench -- {}", args.join(" "))
}

async fn run_size(args: &Args, plan: &Plan, n: u64) -> runner::Result<SizeResult> {
    let label = size_label(n);
    let dir = args.data_dir.join(&label);
    let t = Instant::now();
    let opts = GenerateOptions { residents: n, out_dir: dir.clone(), seed: DATA_SEED, progress: std::io::stderr().is_terminal() };
    let was_there = shuyu_datasets::is_generated(&dir, n, DATA_SEED);
    if !was_there {
        eprintln!("[{label}] generating {n} residents into {} ...", dir.display());
    }
    let data = ensure_generated(&opts)?;
    let gen_secs = t.elapsed().as_secs_f64();
    eprintln!(
        "[{label}] dataset {} ({}; {} rows, {}) in {:.1} s",
        dir.display(),
        if was_there { "reused" } else { "generated" },
        data.total_rows(),
        sysinfo::human_bytes(data.total_bytes()),
        gen_secs
    );

    let plain = runner::plain_context(&data).await?;
    let private = runner::private_session(&dir).await?;
    let mut scope_variants = Vec::new();
    for v in whatif::scope_variants(&args.whatif_scope)? {
        let (p, s) = whatif::variant_engines(&dir, &v).await?;
        scope_variants.push((v, p, s));
    }
    let mut exact = BTreeMap::new();
    for q in &plan.queries {
        exact.insert(q.name, accuracy::cells(&runner::exact(&plain, q.truth_sql).await?, q.keys)?);
    }
    let mem_total = plan.machine.mem_total;
    let mut results = Vec::with_capacity(plan.queries.len());
    let mut size_peak = sysinfo::peak_rss();
    for q in &plan.queries {
        if plan.per_query_peaks {
            sysinfo::reset_peak();
        }
        let r = run_query(args, &plain, &private, &scope_variants, q, &label, mem_total, &exact[q.name]).await;
        let peak = sysinfo::peak_rss();
        size_peak = size_peak.max(peak);
        let mut r = match r {
            Ok(r) => r,
            Err(e) => {
                eprintln!("[{label}] {}: ERROR {e}", q.name);
                QueryResult::failed(q, e.to_string())
            }
        };
        r.peak_rss = peak;
        results.push(r);
    }

    // Error against epsilon (the peers' queries).
    if plan.sweep_sizes.contains(&n) {
        for r in results.iter_mut().filter(|r| r.query.peer.is_some() && r.failure.is_none()) {
            for &eps in &args.sweep_eps {
                let mut answers = Vec::with_capacity(args.sweep_reps);
                for _ in 0..args.sweep_reps {
                    answers.push(accuracy::cells(&runner::release(&private, &r.query, eps).await?.1, r.query.keys)?);
                }
                r.sweep.push((eps, accuracy::Error::of(&answers, &exact[r.query.name])));
            }
            eprintln!("[{label}] {}: error vs epsilon {:?}", r.query.name, r.sweep.iter().map(|(e, x)| (*e, x.mean_rel)).collect::<Vec<_>>());
        }
    }

    // shuyu over Flight SQL: a fresh service per query for the cold call.
    let mut flight_peak = None;
    if !args.no_flight {
        if plan.per_query_peaks {
            sysinfo::reset_peak();
        }
        for r in results.iter_mut().filter(|r| r.failure.is_none()) {
            if !r.query.over_flight {
                r.flight_note = Some("not over Flight SQL: partition selection over non-public keys needs a delta, which pure-DP authorizations do not carry".into());
                continue;
            }
            if let Err(e) = flight(args, &dir, r, &label, &exact[r.query.name]).await {
                eprintln!("[{label}] {} over Flight SQL: ERROR {e}", r.query.name);
                r.flight_note = Some(format!("failed: {e}"));
            }
        }
        flight_peak = sysinfo::peak_rss();
        size_peak = size_peak.max(flight_peak);
    }

    // The peers, on the same residents file, at the workload epsilon (and the sweep's).
    let mut peer_results = Vec::new();
    if !plan.peers.is_empty() {
        let mut epsilons = vec![EPSILON];
        if plan.sweep_sizes.contains(&n) {
            epsilons.extend(args.sweep_eps.iter().copied().filter(|e| (*e - EPSILON).abs() > 1e-12));
        }
        let job = peers::Job {
            parquet: dir.join("residents.parquet"),
            rows: n,
            epsilons,
            reps: args.peer_reps,
            timeout: Duration::from_secs(args.peer_timeout),
            work_dir: args.data_dir.join("peers").join("runs").join(&label),
        };
        for p in &plan.peers {
            eprintln!("[{label}] peer {} ...", p.name);
            let t = Instant::now();
            let r = peers::run(&args.data_dir.join("peers"), *p, &job);
            eprintln!("[{label}] peer {}: {} in {:.0} s{}", p.name, r.status, t.elapsed().as_secs_f64(), r.reason.as_deref().map(|x| format!(" ({x})")).unwrap_or_default());
            peer_results.push(r);
        }
    }

    // Service load.
    let mut load = None;
    if plan.load_size == Some(n) && !args.no_flight {
        if plan.per_query_peaks {
            sysinfo::reset_peak();
        }
        let queries: Vec<&'static str> = plan.queries.iter().filter(|q| !q.needs_bounding && q.over_flight).map(|q| q.sql).collect();
        if queries.is_empty() {
            eprintln!("[{label}] load: no one-row-per-unit query selected; skipped");
        } else {
            let svc = service::Service::start(&dir, service::limits(args.load_max_jobs)).await?;
            eprintln!("[{label}] load: {} clients for {} s ...", args.load_clients, args.load_secs);
            let l = load::run(&svc, args.load_clients, Duration::from_secs(args.load_secs), EPSILON, queries, args.load_max_jobs).await?;
            svc.stop().await?;
            eprintln!(
                "[{label}] load: {} answers, {:.1} q/s, p50 {:.1} ms, p99 {:.1} ms, {} busy, {} errors, ledger {}",
                l.answered,
                l.qps(),
                l.latency.median_ms,
                l.p99_ms,
                l.busy,
                l.errors,
                if l.ledger_ok() { "= told" } else { "MISMATCH" }
            );
            size_peak = size_peak.max(sysinfo::peak_rss());
            load = Some(l);
        }
    }

    Ok(SizeResult {
        label,
        residents: n,
        data_dir: dir,
        tables: data.tables.iter().map(|t| (t.name.clone(), t.rows, t.bytes)).collect(),
        generate_secs: if was_there { None } else { Some(gen_secs) },
        reps: args.reps,
        machine: plan.machine.clone(),
        load_avg_end: sysinfo::load_avg(),
        peak_rss: size_peak,
        queries: results,
        exact,
        peers: peer_results,
        load,
        flight_peak_rss: flight_peak,
    })
}

/// One query over Flight SQL: a fresh service, a new connection, the cold first call, then
/// `--reps` warm calls on the same connection.
async fn flight(args: &Args, dir: &Path, r: &mut QueryResult, label: &str, exact: &accuracy::Cells) -> runner::Result<()> {
    let svc = service::Service::start(dir, service::limits(4)).await?;
    let result = async {
        let t = Instant::now();
        let mut client = svc.client(EPSILON).await?;
        let cold = client.query(r.query.sql).await?;
        let cold_ms = t.elapsed().as_secs_f64() * 1e3;
        let mut answers = vec![accuracy::cells(&cold.batches, r.query.keys)?];
        let mut warm = Vec::with_capacity(args.reps);
        for _ in 0..args.reps {
            let a = client.query(r.query.sql).await?;
            warm.push(a.elapsed);
            answers.push(accuracy::cells(&a.batches, r.query.keys)?);
        }
        r.flight_error = Some(accuracy::Error::of(&answers, exact));
        eprintln!("[{label}] {}: Flight SQL cold {:.1} ms (rows {}), warm median {:.1} ms", r.query.name, cold_ms, cold.batches.iter().map(|b| b.num_rows()).sum::<usize>(), Timing::of(&warm).median_ms);
        r.flight_cold_ms = Some(cold_ms);
        r.flight = Some(Timing::of(&warm));
        Ok::<(), runner::BoxError>(())
    }
    .await;
    svc.stop().await?;
    result
}

async fn run_query(
    args: &Args,
    plain: &datafusion::prelude::SessionContext,
    private: &shuyu_compute::PrivateSession,
    scope_variants: &[(whatif::ScopeVariant, datafusion::prelude::SessionContext, shuyu_compute::PrivateSession)],
    q: &Query,
    label: &str,
    mem_total: Option<u64>,
    exact: &accuracy::Cells,
) -> runner::Result<QueryResult> {
    if args.explain {
        println!("## {} ({label})\n```text\n{}```\n", q.name, runner::explain(plain, private, q).await?);
    }
    // Warm-up (also the RSS probe: peaks are checked by the caller after each query).
    let (_, plain_rows) = runner::run_plain(plain, q.sql).await?;
    let (_, private_rows) = runner::run_private(private, q).await?;
    // RSS sanity check before any timing: the warm-ups are the probes.
    let warm_peak = sysinfo::peak_rss();
    let human = |b: Option<u64>| b.map(sysinfo::human_bytes).unwrap_or_else(|| "?".into());
    eprintln!(
        "[{label}] {}: warm-up done (rows plain {plain_rows}, shuyu {private_rows}; peak RSS {}, RSS now {}, available {})",
        q.name,
        human(warm_peak),
        human(sysinfo::rss()),
        human(sysinfo::mem_available())
    );
    if let (Some(p), Some(total)) = (warm_peak, mem_total) {
        if p as f64 > args.max_rss_fraction * total as f64 {
            return Err(format!(
                "peak RSS {} during warm-up exceeds {:.0}% of physical memory ({}); not timing it",
                sysinfo::human_bytes(p),
                args.max_rss_fraction * 100.0,
                sysinfo::human_bytes(total)
            )
            .into());
        }
    }
    let mut p = Vec::with_capacity(args.reps);
    let mut s = Vec::with_capacity(args.reps);
    let mut answers = Vec::with_capacity(args.reps);
    for _ in 0..args.reps {
        p.push(runner::run_plain(plain, q.sql).await?.0);
        let (t, batches) = runner::release(private, q, EPSILON).await?;
        s.push(t);
        answers.push(accuracy::cells(&batches, q.keys)?);
    }
    let error = accuracy::Error::of(&answers, exact);
    if args.analyze {
        println!("## {} ({label}) EXPLAIN ANALYZE\n```text\n{}```\n", q.name, whatif::analyze(plain, private, q).await?);
    }
    let mut sorted_t = Vec::new();
    for (v, sp, ss) in scope_variants {
        if args.explain {
            println!("## {} ({label}, scope variant {})\n```text\n{}```\n", q.name, v.name, runner::explain(sp, ss, q).await?);
        }
        runner::run_plain(sp, q.sql).await?;
        runner::run_private(ss, q).await?;
        let (mut a, mut b) = (Vec::with_capacity(args.reps), Vec::with_capacity(args.reps));
        for _ in 0..args.reps {
            a.push(runner::run_plain(sp, q.sql).await?.0);
            b.push(runner::run_private(ss, q).await?.0);
        }
        let mut bd = Vec::with_capacity(args.breakdown_reps);
        for _ in 0..args.breakdown_reps {
            bd.push(runner::breakdown(ss, q).await?);
        }
        sorted_t.push((*v, Timing::of(&a), Timing::of(&b), report::median_breakdown(&bd)));
    }
    let mut variants = Vec::new();
    if args.whatif_sql {
        for v in whatif::VARIANTS.iter().filter(|v| v.query == q.name) {
            runner::run_plain(plain, v.sql).await?;
            let mut t = Vec::with_capacity(args.reps);
            for _ in 0..args.reps {
                t.push(runner::run_plain(plain, v.sql).await?.0);
            }
            variants.push((*v, Timing::of(&t)));
        }
    }
    let mut pl = Vec::with_capacity(args.reps);
    for _ in 0..args.reps {
        pl.push(runner::run_plan(private, q).await?);
    }
    let mut bds: Vec<Breakdown> = Vec::with_capacity(args.breakdown_reps);
    for _ in 0..args.breakdown_reps {
        bds.push(runner::breakdown(private, q).await?);
    }
    let plain_t = Timing::of(&p);
    let private_t = Timing::of(&s);
    let r = QueryResult {
        query: *q,
        plain: Some(plain_t.clone()),
        private: Some(private_t.clone()),
        plan: Some(Timing::of(&pl)),
        breakdown: report::median_breakdown(&bds),
        sorted: sorted_t,
        variants,
        plain_rows,
        private_rows,
        peak_rss: None,
        failure: None,
        error: Some(error),
        flight_cold_ms: None,
        flight: None,
        flight_note: None,
        flight_error: None,
        sweep: Vec::new(),
    };
    eprintln!(
        "[{label}] {}: plain {:.1} ms, shuyu {:.1} ms, ratio {:.2} (target <= {}), error {:.2e}",
        q.name,
        plain_t.median_ms,
        private_t.median_ms,
        r.ratio().unwrap_or(f64::NAN),
        q.target(),
        r.error.as_ref().and_then(|e| e.mean_rel).unwrap_or(f64::NAN)
    );
    Ok(r)
}
