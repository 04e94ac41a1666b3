//! The cluster's processes on Ballista's library entry points, with shuyu's codecs:
//! `shuyu cluster scheduler` ([`start_scheduler`]) and `shuyu cluster executor`
//! ([`run_executor`]).
//!
//! Both use pull-based scheduling (executors poll the scheduler for tasks), so an executor
//! needs to reach the scheduler, and every executor's Flight port must be reachable from the
//! other executors and the front end (shuffle reads and results).

use std::net::SocketAddr;
use std::sync::Arc;

use ballista_core::config::TaskSchedulingPolicy;
use ballista_executor::executor_process::{start_executor_process, ExecutorProcessConfig};
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;
use ballista_scheduler::scheduler_process::{create_scheduler, start_grpc_service_with_listener};
use ballista_scheduler::scheduler_server::SchedulerServer;
use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion_proto::protobuf::{LogicalPlanNode, PhysicalPlanNode};
use tokio::task::JoinHandle;

use crate::codec::ShuyuCodec;
use crate::error::{ClusterError, Result};
use crate::session::{cluster_config, function_registry, session_builder};

/// A scheduler's settings.
#[derive(Debug, Clone)]
pub struct SchedulerOptions {
    /// Where it listens (port 0 picks a free one).
    pub bind: SocketAddr,
    /// The host name executors and front ends reach it by.
    pub external_host: String,
}

/// The Ballista scheduler configuration of `opts`, with shuyu's codecs and sessions.
pub fn scheduler_config(opts: &SchedulerOptions) -> SchedulerConfig {
    let codec = ShuyuCodec::default();
    SchedulerConfig {
        bind_host: opts.bind.ip().to_string(),
        bind_port: opts.bind.port(),
        external_host: opts.external_host.clone(),
        scheduling_policy: TaskSchedulingPolicy::PullStaged,
        override_logical_codec: Some(codec.logical),
        override_physical_codec: Some(codec.physical),
        override_session_builder: Some(session_builder()),
        override_config_producer: Some(Arc::new(cluster_config)),
        ..SchedulerConfig::default()
    }
}

/// A running scheduler: the address it listens on and its server task.
pub struct RunningScheduler {
    /// The bound address (the real port when 0 was asked for).
    pub addr: SocketAddr,
    /// The gRPC server; it ends only on error.
    pub task: JoinHandle<Result<()>>,
    server: SchedulerServer<LogicalPlanNode, PhysicalPlanNode>,
}

impl std::fmt::Debug for RunningScheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningScheduler").field("addr", &self.addr).finish()
    }
}

impl RunningScheduler {
    /// How many executors have registered with it.
    pub async fn executors(&self) -> usize {
        self.server.state.executor_manager.get_executors_state().await.map(|v| v.len()).unwrap_or(0)
    }
}

/// Starts a scheduler on `opts.bind` and returns once it listens.
pub async fn start_scheduler(opts: &SchedulerOptions) -> Result<RunningScheduler> {
    let listener = tokio::net::TcpListener::bind(opts.bind).await.map_err(|e| ClusterError::Start(format!("scheduler on {}: {e}", opts.bind)))?;
    let addr = listener.local_addr().map_err(|e| ClusterError::Start(e.to_string()))?;
    let mut opts = opts.clone();
    opts.bind = addr;
    let config = scheduler_config(&opts);
    config.validate().map_err(|e| ClusterError::Config(e.to_string()))?;
    let cluster = BallistaCluster::new_from_config(&config).await.map_err(|e| ClusterError::Start(e.to_string()))?;
    let scheduler = create_scheduler::<LogicalPlanNode, PhysicalPlanNode>(cluster, Arc::new(config)).await.map_err(|e| ClusterError::Start(e.to_string()))?;
    let server = scheduler.clone();
    let task = tokio::spawn(async move { start_grpc_service_with_listener(listener, scheduler).await.map_err(|e| ClusterError::Start(e.to_string())) });
    tracing::info!(%addr, "cluster scheduler listening");
    Ok(RunningScheduler { addr, task, server })
}

/// An executor's settings.
#[derive(Debug, Clone)]
pub struct ExecutorOptions {
    /// The scheduler's host and port.
    pub scheduler: (String, u16),
    /// Where its Flight service listens (shuffle and result reads).
    pub bind: SocketAddr,
    /// The host name other parties reach it by.
    pub external_host: String,
    /// Concurrent tasks (default: the host's cores).
    pub vcores: Option<usize>,
    /// Its memory pool in bytes, split among its task slots (spilling when full); `None`:
    /// Ballista's default (a fraction of the host's memory).
    pub memory_pool_bytes: Option<usize>,
    /// Where shuffle files are written (default: a temporary directory).
    pub work_dir: Option<String>,
}

/// The runtime of an executor's tasks: a fair spilling pool of `bytes` when given.
pub fn executor_runtime(bytes: Option<usize>) -> datafusion::common::Result<Arc<RuntimeEnv>> {
    let mut b = RuntimeEnvBuilder::new();
    if let Some(bytes) = bytes {
        b = b.with_memory_pool(Arc::new(FairSpillPool::new(bytes)));
    }
    b.build_arc()
}

/// Runs an executor until it stops (Ballista's executor process, with shuyu's codecs).
pub async fn run_executor(opts: &ExecutorOptions) -> Result<()> {
    let codec = ShuyuCodec::default();
    let pool = opts.memory_pool_bytes;
    let defaults = ExecutorProcessConfig::default();
    let config = ExecutorProcessConfig {
        bind_host: opts.bind.ip().to_string(),
        external_host: Some(opts.external_host.clone()),
        port: opts.bind.port(),
        grpc_port: opts.bind.port().saturating_add(1),
        scheduler_host: opts.scheduler.0.clone(),
        scheduler_port: opts.scheduler.1,
        vcores: opts.vcores.unwrap_or(defaults.vcores),
        task_scheduling_policy: TaskSchedulingPolicy::PullStaged,
        work_dir: opts.work_dir.clone(),
        override_logical_codec: Some(codec.logical),
        override_physical_codec: Some(codec.physical),
        override_config_producer: Some(Arc::new(cluster_config)),
        override_function_registry: Some(Arc::new(function_registry())),
        memory_pool_size: pool.map(|b| b as u64),
        ..defaults
    };
    if opts.bind.port() == 0 {
        return Err(ClusterError::Config("an executor process needs a fixed port (it advertises it to the scheduler)".into()));
    }
    start_executor_process(Arc::new(config)).await.map_err(|e| ClusterError::Start(format!("executor: {e}")))
}
