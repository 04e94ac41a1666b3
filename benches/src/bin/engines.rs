//! Local against Ballista: the workload through shuyu with releases' inner plans on the
//! local engine and on an in-process Ballista cluster (one scheduler, N executors, loopback
//! gRPC and Flight), measured in the same run, over the same files, alternating engines per
//! repetition. Prints a Markdown table of medians and the Ballista/local ratio per query.
//!
//! ```text
//! cargo run --release -p shuyu-bench --bin engines -- --size 10m [--reps 3] [--executors 2] [--vcores 1] [--pool-mb N]
//! ```

#[allow(dead_code)]
#[path = "../runner.rs"]
mod runner;
#[allow(dead_code)]
#[path = "../workload.rs"]
mod workload;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use shuyu_cluster::local::{ClusterOptions, InProcessCluster};
use shuyu_compute::InnerEngine;
use shuyu_datasets::generate::{ensure_generated, GenerateOptions};

/// Local vs Ballista at one dataset size.
#[derive(Parser, Debug)]
struct Args {
    /// Residents (`100k`, `1m`, `10m`).
    #[arg(long, default_value = "10m", value_parser = workload::parse_size)]
    size: u64,
    /// Repetitions per query and engine (the median is reported).
    #[arg(long, default_value_t = 3)]
    reps: usize,
    /// Executors of the cluster.
    #[arg(long, default_value_t = 2)]
    executors: usize,
    /// Task slots per executor.
    #[arg(long, default_value_t = 1)]
    vcores: usize,
    /// Each executor's memory pool (MiB; default unbounded).
    #[arg(long)]
    pool_mb: Option<usize>,
    /// Target partitions of the cluster's plans (default: the scope's).
    #[arg(long)]
    partitions: Option<usize>,
    /// Data folder (generated if missing).
    #[arg(long, default_value = "data/bench")]
    data_dir: PathBuf,
    /// Only these queries (by name).
    #[arg(long, value_delimiter = ',')]
    queries: Vec<String>,
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[tokio::main]
async fn main() -> runner::Result<()> {
    let args = Args::parse();
    let dir = args.data_dir.join(format!("r{}", args.size));
    let opts = GenerateOptions { residents: args.size, out_dir: dir.clone(), seed: workload::DATA_SEED, progress: std::io::stderr().is_terminal() };
    ensure_generated(&opts)?;
    let queries = if args.queries.is_empty() { workload::WORKLOAD.to_vec() } else { workload::select(&args.queries)? };
    let cluster = InProcessCluster::start(ClusterOptions { executors: args.executors, vcores: args.vcores, memory_pool_bytes: args.pool_mb.map(|m| m << 20) }).await?;
    let local = runner::private_session(&dir).await?;
    let remote = local.clone().with_engine(InnerEngine::ballista(cluster.scheduler_url(), args.partitions));
    println!(
        "local vs Ballista at {} residents: {} scheduler, {} executors x {} slots{}, {} reps, in one process on {} cores; debug={}",
        args.size,
        1,
        cluster.registered_executors().await,
        args.vcores,
        args.pool_mb.map(|m| format!(", pool {m} MiB each")).unwrap_or_default(),
        args.reps,
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        cfg!(debug_assertions),
    );
    println!("\n| query | local ms | ballista ms | ballista / local |\n|---|---:|---:|---:|");
    let mut log_sum = 0.0;
    for q in &queries {
        // One warm-up each (file listing, the scheduler's statistics cache).
        runner::run_private(&local, q).await?;
        runner::run_private(&remote, q).await?;
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for _ in 0..args.reps {
            a.push(runner::run_private(&local, q).await?.0);
            b.push(runner::run_private(&remote, q).await?.0);
        }
        let (a, b) = (median(a), median(b));
        let ratio = b.as_secs_f64() / a.as_secs_f64().max(1e-9);
        log_sum += ratio.ln();
        println!("| {} | {:.0} | {:.0} | {:.2} |", q.name, a.as_secs_f64() * 1e3, b.as_secs_f64() * 1e3, ratio);
    }
    println!("\ngeometric mean of ballista / local: {:.2}", (log_sum / queries.len() as f64).exp());
    Ok(())
}
