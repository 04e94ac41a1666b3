//! `shuyu cluster scheduler` and `shuyu cluster executor`: the processes of the Ballista
//! cluster releases' inner plans run on (`engine = "ballista"`), on Ballista's library
//! entry points with shuyu's codecs (`shuyu-cluster`). See docs/deployment.md.

use std::net::SocketAddr;

use clap::{Args, Subcommand};
use shuyu_cluster::process::{run_executor, start_scheduler, ExecutorOptions, SchedulerOptions};

use crate::Error;

/// `shuyu cluster …`.
#[derive(Args, Debug)]
pub struct ClusterArgs {
    /// Which process.
    #[command(subcommand)]
    pub command: ClusterCommand,
}

/// The cluster's processes.
#[derive(Subcommand, Debug)]
pub enum ClusterCommand {
    /// Runs a scheduler until it stops: front ends send it inner plans, executors poll it
    /// for tasks.
    Scheduler {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:50050")]
        listen: SocketAddr,
        /// Host name executors and front ends reach it by (default: the listen address's).
        #[arg(long)]
        external_host: Option<String>,
    },
    /// Runs an executor until it stops: it reads the datasets (the catalog's paths must be
    /// readable here) and serves shuffle and result reads on its Flight port.
    Executor {
        /// The scheduler's URL.
        #[arg(long, default_value = "http://127.0.0.1:50050")]
        scheduler: String,
        /// Address of its Flight service (a fixed port: it is advertised to the scheduler;
        /// the next port is reserved for Ballista's push-based gRPC, unused here).
        #[arg(long, default_value = "127.0.0.1:50052")]
        listen: SocketAddr,
        /// Host name other parties reach it by (default: the listen address's).
        #[arg(long)]
        external_host: Option<String>,
        /// Concurrent tasks (default: the host's cores).
        #[arg(long)]
        vcores: Option<usize>,
        /// Memory pool of its tasks, in MiB, split among its task slots; operators spill
        /// to the work directory when it is full (default: Ballista's, a share of the host's
        /// memory).
        #[arg(long)]
        memory_pool_mb: Option<usize>,
        /// Where shuffle and spill files go (default: a temporary directory).
        #[arg(long)]
        work_dir: Option<String>,
    },
}

/// The host and port of a scheduler URL `http://host:port`.
pub fn scheduler_host_port(url: &str) -> Result<(String, u16), Error> {
    let bad = || Error::Usage(format!("--scheduler {url}: expected http://host:port"));
    let rest = url.strip_prefix("http://").or_else(|| url.strip_prefix("https://")).ok_or_else(bad)?;
    let rest = rest.trim_end_matches('/');
    let (host, port) = rest.rsplit_once(':').ok_or_else(bad)?;
    let port = port.parse().map_err(|_| bad())?;
    if host.is_empty() {
        return Err(bad());
    }
    Ok((host.trim_matches(['[', ']']).to_string(), port))
}

/// Runs the process `args` names until it stops.
pub async fn run(args: ClusterArgs) -> Result<(), Error> {
    match args.command {
        ClusterCommand::Scheduler { listen, external_host } => {
            let opts = SchedulerOptions { bind: listen, external_host: external_host.unwrap_or_else(|| listen.ip().to_string()) };
            let running = start_scheduler(&opts).await?;
            println!("shuyu cluster scheduler listening on {} (front ends: [cluster] scheduler = \"http://{}\")", running.addr, running.addr);
            tokio::select! {
                r = running.task => r.map_err(|e| Error::Internal(format!("scheduler task: {e}")))?.map_err(Error::from),
                _ = crate::net::shutdown_signal() => Ok(()),
            }
        }
        ClusterCommand::Executor { scheduler, listen, external_host, vcores, memory_pool_mb, work_dir } => {
            let opts = ExecutorOptions {
                scheduler: scheduler_host_port(&scheduler)?,
                bind: listen,
                external_host: external_host.unwrap_or_else(|| listen.ip().to_string()),
                vcores,
                memory_pool_bytes: memory_pool_mb.map(|mb| mb << 20),
                work_dir,
            };
            println!("shuyu cluster executor on {listen}, polling {scheduler}");
            tokio::select! {
                r = run_executor(&opts) => r.map_err(Error::from),
                _ = crate::net::shutdown_signal() => Ok(()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::scheduler_host_port;

    #[test]
    fn scheduler_urls_name_a_host_and_port() {
        assert_eq!(scheduler_host_port("http://10.0.0.5:50050").unwrap(), ("10.0.0.5".to_string(), 50050));
        assert_eq!(scheduler_host_port("http://sched.internal:7/").unwrap(), ("sched.internal".to_string(), 7));
        for bad in ["10.0.0.5:50050", "http://10.0.0.5", "http://:1", "http://h:port"] {
            assert!(scheduler_host_port(bad).is_err(), "{bad}");
        }
    }
}
