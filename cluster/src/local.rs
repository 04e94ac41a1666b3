//! An in-process cluster: one scheduler and N executors on loopback, each on a free port,
//! talking real gRPC and Arrow Flight to each other, as separate hosts would. For tests,
//! `shuyu demo --engine ballista` and benchmarks. Its tasks live on the Tokio runtime that
//! started it and end with it.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ballista_core::serde::protobuf::scheduler_grpc_client::SchedulerGrpcClient;
use ballista_core::{ConfigProducer, RuntimeProducer};
use ballista_executor::new_standalone_executor_from_builder;

use crate::codec::ShuyuCodec;
use crate::error::{ClusterError, Result};
use crate::process::{executor_runtime, start_scheduler, RunningScheduler, SchedulerOptions};
use crate::session::{cluster_config, function_registry};

/// How to build an in-process cluster.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// Executors (at least one).
    pub executors: usize,
    /// Task slots per executor.
    pub vcores: usize,
    /// Each executor's memory pool in bytes (`None`: unbounded).
    pub memory_pool_bytes: Option<usize>,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        ClusterOptions { executors: 2, vcores: 2, memory_pool_bytes: None }
    }
}

/// A running in-process cluster.
#[derive(Debug)]
pub struct InProcessCluster {
    scheduler: RunningScheduler,
    executors: usize,
}

impl InProcessCluster {
    /// Starts a scheduler and `opts.executors` executors on loopback and waits until every
    /// executor has registered.
    pub async fn start(opts: ClusterOptions) -> Result<Self> {
        if opts.executors == 0 || opts.vcores == 0 {
            return Err(ClusterError::Config("an in-process cluster needs at least one executor with one task slot".into()));
        }
        let bind = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        let scheduler = start_scheduler(&SchedulerOptions { bind, external_host: "127.0.0.1".into() }).await?;
        let url = format!("http://{}", scheduler.addr);
        let codec = ShuyuCodec::default();
        for _ in 0..opts.executors {
            let client = connect(&url).await?;
            let config_producer: ConfigProducer = Arc::new(cluster_config);
            let runtime = executor_runtime(opts.memory_pool_bytes).map_err(|e| ClusterError::Start(e.to_string()))?;
            let runtime_producer: RuntimeProducer = Arc::new(move |_| Ok(runtime.clone()));
            new_standalone_executor_from_builder(client, opts.vcores, config_producer, runtime_producer, codec.ballista(), function_registry())
                .await
                .map_err(|e| ClusterError::Start(format!("executor: {e}")))?;
        }
        let cluster = InProcessCluster { scheduler, executors: opts.executors };
        cluster.wait_for_executors(Duration::from_secs(30)).await?;
        Ok(cluster)
    }

    /// The scheduler's URL (`http://127.0.0.1:port`), as the front end's configuration
    /// names it.
    pub fn scheduler_url(&self) -> String {
        format!("http://{}", self.scheduler.addr)
    }

    /// The scheduler's address.
    pub fn scheduler_addr(&self) -> SocketAddr {
        self.scheduler.addr
    }

    /// How many executors were started.
    pub fn executors(&self) -> usize {
        self.executors
    }

    /// Stops the scheduler (executors then fail their polls; their tasks end with the
    /// runtime). Queries sent afterwards fail as with an unreachable cluster.
    pub fn stop_scheduler(&self) {
        self.scheduler.task.abort();
    }

    /// How many executors have registered with the scheduler.
    pub async fn registered_executors(&self) -> usize {
        self.scheduler.executors().await
    }

    async fn wait_for_executors(&self, limit: Duration) -> Result<()> {
        // Executors register on their first poll of the scheduler.
        let start = Instant::now();
        loop {
            let alive = self.scheduler.executors().await;
            if alive >= self.executors {
                return Ok(());
            }
            if start.elapsed() > limit {
                return Err(ClusterError::Start(format!("only {alive} of {} executors registered within {limit:?}", self.executors)));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn connect(url: &str) -> Result<SchedulerGrpcClient<tonic::transport::Channel>> {
    let mut last = String::new();
    for _ in 0..100 {
        match SchedulerGrpcClient::connect(url.to_string()).await {
            Ok(c) => return Ok(c.max_decoding_message_size(64 << 20).max_encoding_message_size(64 << 20)),
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Err(ClusterError::Start(format!("cannot reach the scheduler at {url}: {last}")))
}
