//! # shuyu-bench
//!
//! Runs a fixed workload through shuyu (`PrivateSession::execute`) and through plain
//! DataFusion (same session configuration, same Parquet files) in one process, at one or
//! more dataset sizes, and prints the ratio of their median times.
//!
//! ```text
//! cargo run --release -p shuyu-bench -- --sizes 1m,10m [--reps 5] [--data-dir DIR] [--out DIR] [--queries q1,q2]
//! ```
//!
//! Per query: one warm-up of each engine, then `--reps` alternating runs (plain, shuyu,
//! plain, shuyu, ...) so machine noise spreads over both; then `--reps` runs of planning
//! alone, and a few stage-by-stage runs of shuyu (plan, inner plans, histograms, assembly
//! and noise, outer plan). Results go to stdout (Markdown) and to
//! `<out>/engine-<size>.json`.
//!
//! Layout: [`workload`] (the versioned queries and targets), [`runner`] (the two engines
//! and the breakdown), [`sysinfo`] (machine facts, RSS), [`report`] (Markdown and JSON).

mod report;
mod runner;
mod sysinfo;
mod whatif;
mod workload;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use shuyu_datasets::generate::{ensure_generated, GenerateOptions};

use report::{QueryResult, SizeResult, Timing};
use runner::Breakdown;
use workload::{Query, DATA_SEED};

/// Benchmark shuyu against plain DataFusion on the generated demo city.
#[derive(Debug, Parser)]
#[command(name = "shuyu-bench", version)]
struct Args {
    /// Residents per dataset, comma-separated (20k, 1m, 10m, 2500000); medical_visits is about 3x.
    #[arg(long, value_delimiter = ',', default_value = "1m,10m")]
    sizes: Vec<String>,
    /// Timed runs of each engine per query (after one warm-up each).
    #[arg(long, default_value_t = 5)]
    reps: usize,
    /// Stage-by-stage shuyu runs per query (0 = skip the breakdown).
    #[arg(long, default_value_t = 3)]
    breakdown_reps: usize,
    /// Where datasets are generated (one folder per size) or reused.
    #[arg(long, default_value = "data/bench")]
    data_dir: PathBuf,
    /// Where JSON results are written (engine-<size>.json).
    #[arg(long, default_value = "target/bench-results")]
    out: PathBuf,
    /// Only these queries (names from the workload), comma-separated.
    #[arg(long, value_delimiter = ',')]
    queries: Vec<String>,
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
            println!("{:24} bounding={:5} target<={}x  {}", q.name, q.needs_bounding, q.target(), q.sql);
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

/// Runs every size; returns whether every query ran (targets missed are reported, not errors).
async fn run(args: &Args) -> runner::Result<bool> {
    if args.reps == 0 {
        return Err("--reps must be at least 1".into());
    }
    let queries = workload::select(&args.queries)?;
    let sizes: Vec<u64> = args.sizes.iter().map(|s| workload::parse_size(s)).collect::<Result<_, _>>()?;
    let machine = sysinfo::MachineInfo::collect();
    if !machine.release {
        eprintln!("warning: this is a debug build; timings are not representative (use --release)");
    }
    eprintln!(
        "shuyu-bench: workload v{}, {} queries, sizes {:?}, {} reps, {} cores, load {:.2}",
        workload::WORKLOAD_VERSION,
        queries.len(),
        sizes.iter().map(|n| size_label(*n)).collect::<Vec<_>>(),
        args.reps,
        machine.cores,
        machine.load_avg.unwrap_or(f64::NAN)
    );
    let mut all_ok = true;
    let mut overall_peak = 0u64;
    let per_query_peaks = sysinfo::reset_peak();
    for &n in &sizes {
        let r = run_size(args, &queries, n, &machine, per_query_peaks).await?;
        all_ok &= r.queries.iter().all(|q| q.error.is_none());
        overall_peak = overall_peak.max(r.peak_rss.unwrap_or(0));
        println!("{}", report::markdown(&r));
        std::fs::create_dir_all(&args.out)?;
        let path = args.out.join(format!("engine-{}.json", r.label));
        let mut json = serde_json::to_vec_pretty(&report::json(&r))?;
        json.push(b'\n');
        std::fs::write(&path, json)?;
        eprintln!("wrote {}", path.display());
    }
    let hwm = sysinfo::peak_rss().unwrap_or(0);
    println!(
        "Peak RSS (VmHWM) over the run: {}{}",
        sysinfo::human_bytes(overall_peak.max(hwm)),
        if per_query_peaks { " (max of per-query peaks; VmHWM is reset before each query)" } else { "" }
    );
    Ok(all_ok)
}

async fn run_size(args: &Args, queries: &[Query], n: u64, machine: &sysinfo::MachineInfo, per_query_peaks: bool) -> runner::Result<SizeResult> {
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
    let mem_total = machine.mem_total;
    let mut results = Vec::with_capacity(queries.len());
    let mut size_peak = sysinfo::peak_rss();
    for q in queries {
        if per_query_peaks {
            sysinfo::reset_peak();
        }
        let r = run_query(args, &plain, &private, &scope_variants, q, &label, mem_total).await;
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
    Ok(SizeResult {
        label,
        residents: n,
        data_dir: dir,
        tables: data.tables.iter().map(|t| (t.name.clone(), t.rows, t.bytes)).collect(),
        generate_secs: if was_there { None } else { Some(gen_secs) },
        reps: args.reps,
        machine: machine.clone(),
        load_avg_end: sysinfo::load_avg(),
        peak_rss: size_peak,
        queries: results,
    })
}

async fn run_query(
    args: &Args,
    plain: &datafusion::prelude::SessionContext,
    private: &shuyu_compute::PrivateSession,
    scope_variants: &[(whatif::ScopeVariant, datafusion::prelude::SessionContext, shuyu_compute::PrivateSession)],
    q: &Query,
    label: &str,
    mem_total: Option<u64>,
) -> runner::Result<QueryResult> {
    if args.explain {
        println!("## {} ({label})\n```text\n{}```\n", q.name, runner::explain(plain, private, q.sql).await?);
    }
    // Warm-up (also the RSS probe: peaks are checked by the caller after each query).
    let (_, plain_rows) = runner::run_plain(plain, q.sql).await?;
    let (_, private_rows) = runner::run_private(private, q.sql).await?;
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
    for _ in 0..args.reps {
        p.push(runner::run_plain(plain, q.sql).await?.0);
        s.push(runner::run_private(private, q.sql).await?.0);
    }
    if args.analyze {
        println!("## {} ({label}) EXPLAIN ANALYZE\n```text\n{}```\n", q.name, whatif::analyze(plain, private, q.sql).await?);
    }
    let mut sorted_t = Vec::new();
    for (v, sp, ss) in scope_variants {
        if args.explain {
            println!("## {} ({label}, scope variant {})\n```text\n{}```\n", q.name, v.name, runner::explain(sp, ss, q.sql).await?);
        }
        runner::run_plain(sp, q.sql).await?;
        runner::run_private(ss, q.sql).await?;
        let (mut a, mut b) = (Vec::with_capacity(args.reps), Vec::with_capacity(args.reps));
        for _ in 0..args.reps {
            a.push(runner::run_plain(sp, q.sql).await?.0);
            b.push(runner::run_private(ss, q.sql).await?.0);
        }
        let mut bd = Vec::with_capacity(args.breakdown_reps);
        for _ in 0..args.breakdown_reps {
            bd.push(runner::breakdown(ss, q.sql).await?);
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
        pl.push(runner::run_plan(private, q.sql).await?);
    }
    let mut bds: Vec<Breakdown> = Vec::with_capacity(args.breakdown_reps);
    for _ in 0..args.breakdown_reps {
        bds.push(runner::breakdown(private, q.sql).await?);
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
        error: None,
    };
    eprintln!(
        "[{label}] {}: plain {:.1} ms, shuyu {:.1} ms, ratio {:.2} (target <= {})",
        q.name,
        plain_t.median_ms,
        private_t.median_ms,
        r.ratio().unwrap_or(f64::NAN),
        q.target()
    );
    Ok(r)
}
