//! The oracle cases on both engines: with noise off and deterministic bounding, every case
//! returns the same rows on a real Ballista cluster (one scheduler, two executors, over
//! gRPC and Arrow Flight on loopback, several partitions) as on the local engine, and both
//! match their bounded equivalents in plain DataFusion. Then what a client sees when the
//! cluster fails: the same value-free errors as local failures.
//!
//! Run with `cargo test -p shuyu-compute --no-default-features --features noiseless --test cluster_oracle`.

mod common;

use std::sync::Arc;

use common::cases::{check, Case, CASES};
use common::compare::{plain_context, rows};
use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::prelude::SessionContext;
use shuyu_cluster::local::{ClusterOptions, InProcessCluster};
use shuyu_compute::{ComputeError, InnerEngine, PrivateSession, QueryResult};
use shuyu_planner::{QueryBudget, Scope};
use shuyu_privacy::Fault;

/// Partitions of every plan: file scans are split into this many ranges (however small the
/// fixture's files) and shuffles into this many tasks.
const PARTITIONS: usize = 4;

/// `scope` over a context that splits its scans into [`PARTITIONS`] partitions.
fn partitioned(scope: &Scope) -> Scope {
    // (No new default catalog: it would replace the scope's, which holds its tables.)
    let mut config = scope.context().state().config().clone().with_target_partitions(PARTITIONS).with_create_default_catalog_and_schema(false);
    config.options_mut().optimizer.repartition_file_min_size = 1;
    let state = SessionStateBuilder::new_from_existing(scope.context().state()).with_config(config).build();
    scope.with_context(SessionContext::new_with_state(state))
}

async fn cluster(opts: ClusterOptions) -> InProcessCluster {
    let c = InProcessCluster::start(opts).await.expect("in-process cluster starts");
    assert_eq!(c.registered_executors().await, c.executors(), "every executor registered");
    c
}

/// The same scope on the local engine and on `cluster`; exact results are not reused (the
/// two sessions share the scope's cache, which would answer the second from the first).
fn both(scope: &Scope, cluster: &InProcessCluster) -> (PrivateSession, PrivateSession) {
    let local = common::deterministic(scope.clone()).with_exact_reuse(false);
    let remote = common::deterministic(scope.clone()).with_exact_reuse(false).with_engine(InnerEngine::ballista(cluster.scheduler_url(), Some(PARTITIONS)));
    (local, remote)
}

fn sorted(r: &QueryResult) -> Vec<String> {
    let mut v: Vec<String> = rows(&r.batches).iter().map(|row| format!("{row:?}")).collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_oracle_case_is_identical_on_the_cluster_and_matches_plain_datafusion() {
    let cluster = cluster(ClusterOptions { executors: 2, vcores: 2, memory_pool_bytes: None }).await;
    let scope = partitioned(&common::full_scope().await);
    let (local, remote) = both(&scope, &cluster);
    let ctx = plain_context(common::data_dir()).await;
    let extra = [
        Case { name: "median (quantile histograms on the cluster)", sql: "SELECT gender, MEDIAN(age) FROM residents GROUP BY gender", bounded: "", keys: 1, budget: QueryBudget::pure(1.0) },
        Case { name: "partition selection", sql: "SELECT hospital, COUNT(*) FROM medical_visits GROUP BY hospital", bounded: "", keys: 1, budget: QueryBudget::zcdp(0.5, 1e-6) },
        Case {
            name: "bounded many rows per unit over a join, two keys",
            sql: "SELECT r.district, v.department, COUNT(*), SUM(v.cost) FROM medical_visits v JOIN residents r ON v.person_id = r.person_id GROUP BY r.district, v.department",
            bounded: "",
            keys: 2,
            budget: QueryBudget::pure(1.0),
        },
    ];
    for case in CASES.iter().chain(&extra) {
        let a = local.execute(case.sql, case.budget).await.unwrap_or_else(|e| panic!("{}: local: {e}", case.name));
        let b = remote.execute(case.sql, case.budget).await.unwrap_or_else(|e| panic!("{}: ballista: {e}", case.name));
        assert_eq!(sorted(&a), sorted(&b), "{}: the engines differ", case.name);
        assert_eq!((a.cost, a.releases), (b.cost, b.releases), "{}", case.name);
        assert_eq!(a.schema, b.schema, "{}: result schemas (metadata included)", case.name);
        if !case.bounded.is_empty() {
            check(&remote, &ctx, case).await;
        }
    }
    assert_eq!(remote.engine().name(), "ballista");
    assert_eq!(local.unclustered_tables(), remote.unclustered_tables(), "both engines took the same bounding path");
}

/// Every table of the fixture rewritten as `parts` Parquet files of contiguous rows (the
/// order of the original, so each file still holds whole runs of units), in one folder per
/// table under `dir`; the scope over those folders.
async fn split_scope(dir: &std::path::Path, parts: usize) -> Scope {
    let plain = plain_context(common::data_dir()).await;
    let mut grants = Vec::new();
    for table in ["residents", "medical_visits", "enterprises", "districts"] {
        let batches = plain.table(table).await.unwrap().collect().await.unwrap();
        let all = arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap();
        let folder = dir.join(table);
        std::fs::create_dir_all(&folder).unwrap();
        let per = all.num_rows().div_ceil(parts);
        for (i, start) in (0..all.num_rows()).step_by(per).enumerate() {
            let chunk = all.slice(start, per.min(all.num_rows() - start));
            let file = std::fs::File::create(folder.join(format!("part-{i}.parquet"))).unwrap();
            let mut w = datafusion::parquet::arrow::ArrowWriter::try_new(file, chunk.schema(), None).unwrap();
            w.write(&chunk).unwrap();
            w.close().unwrap();
        }
        grants.push(shuyu_planner::GrantedTable::new(shuyu_datasets::demo_manifest(table).unwrap(), None, format!("{}/", folder.display())));
    }
    Scope::open(&grants).await.expect("scope over split files")
}

/// The same cases over tables split into several files: the scan itself has several
/// partitions, spread over both executors, and the streaming bounding pass merges units
/// across them (no fallback) with the local engine's result.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn split_files_give_several_scan_partitions_and_the_same_results() {
    let cluster = cluster(ClusterOptions { executors: 2, vcores: 2, memory_pool_bytes: None }).await;
    let dir = tempfile::tempdir().unwrap();
    let scope = partitioned(&split_scope(dir.path(), 3).await);
    let plan = scope.context().sql("SELECT person_id FROM medical_visits").await.unwrap().create_physical_plan().await.unwrap();
    assert!(datafusion::physical_plan::ExecutionPlanProperties::output_partitioning(&plan).partition_count() >= 3, "the scan of three files has several partitions");
    let (local, remote) = both(&scope, &cluster);
    for case in CASES {
        let a = local.execute(case.sql, case.budget).await.unwrap_or_else(|e| panic!("{}: local: {e}", case.name));
        let b = remote.execute(case.sql, case.budget).await.unwrap_or_else(|e| panic!("{}: ballista: {e}", case.name));
        assert_eq!(sorted(&a), sorted(&b), "{}: the engines differ over split files", case.name);
    }
    assert!(remote.unclustered_tables().is_empty(), "split files are still clustered: {:?}", remote.unclustered_tables());
    assert!(local.unclustered_tables().is_empty());
}

/// Joins planned as partitioned hash joins (as on a large cluster): the join's output is no
/// longer ordered by unit, the streaming pass on the executors fails with NotClustered, the
/// front end recognises it in the cluster's text and runs the hash fallback on the cluster,
/// with the local engine's result.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_fallback_runs_on_the_cluster_when_a_shuffle_breaks_clustering() {
    let cluster = cluster(ClusterOptions::default()).await;
    let base = partitioned(&common::full_scope().await);
    let mut config = base.context().state().config().clone().with_create_default_catalog_and_schema(false);
    config.options_mut().optimizer.hash_join_single_partition_threshold = 0;
    config.options_mut().optimizer.hash_join_single_partition_threshold_rows = 0;
    let config = ballista_core::extension::SessionConfigExt::with_ballista_broadcast_join_threshold_rows(
        ballista_core::extension::SessionConfigExt::with_ballista_broadcast_join_threshold_bytes(config, 0),
        0,
    );
    let state = SessionStateBuilder::new_from_existing(base.context().state()).with_config(config).build();
    let scope = base.with_context(SessionContext::new_with_state(state));
    let (local, remote) = both(&scope, &cluster);
    let sql = "SELECT r.district, COUNT(*), SUM(v.cost) FROM medical_visits v JOIN residents r ON v.person_id = r.person_id GROUP BY r.district";
    let a = local.execute(sql, QueryBudget::pure(1.0)).await.unwrap();
    let b = remote.execute(sql, QueryBudget::pure(1.0)).await.unwrap();
    assert_eq!(sorted(&a), sorted(&b));
    assert!(!remote.unclustered_tables().is_empty(), "the partitioned join broke clustering on the cluster: the fallback ran");
}

/// Seeded random bounding: where a unit keeps only some of its keys, which ones is drawn
/// from the scope's seed and the unit, so the cluster (other partitions, other task order,
/// possibly retried tasks) keeps exactly what the local engine keeps.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn random_bounding_keeps_the_same_keys_on_both_engines() {
    let cluster = cluster(ClusterOptions::default()).await;
    let scope = partitioned(&common::full_scope().await);
    let local = PrivateSession::new(scope.clone()).with_exact_reuse(false);
    let remote = PrivateSession::new(scope.clone()).with_exact_reuse(false).with_engine(InnerEngine::ballista(cluster.scheduler_url(), Some(PARTITIONS)));
    let budget = QueryBudget { max_groups: Some(1), ..QueryBudget::pure(1.0) };
    let sql = "SELECT department, COUNT(*), SUM(cost) FROM medical_visits GROUP BY department";
    let a = local.execute(sql, budget).await.unwrap();
    let b = remote.execute(sql, budget).await.unwrap();
    assert_eq!(sorted(&a), sorted(&b));
    assert!(local.unclustered_tables().is_empty() && remote.unclustered_tables().is_empty(), "both took the streaming pass");
}

/// The distinct values of `column` in the fixture's `table` (what an error must not quote).
async fn values(table: &str, column: &str) -> Vec<String> {
    let ctx = plain_context(common::data_dir()).await;
    let b = ctx.sql(&format!("SELECT DISTINCT CAST({column} AS VARCHAR) FROM {table}")).await.unwrap().collect().await.unwrap();
    rows(&b).iter().map(|r| r[0].to_string()).filter(|v| v.len() > 2).collect()
}

/// Attack: make the cluster fail on a data value, run out of memory, or be gone, and read
/// what comes back. Secure: the same sanitised error as the local engine gives for the same
/// failure, quoting no value, address or job id.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cluster_failures_read_like_local_ones_and_quote_no_value() {
    let cluster = cluster(ClusterOptions::default()).await;
    let scope = common::full_scope().await;
    let ctx = scope.context();
    let names = values("residents", "name").await;
    assert!(!names.is_empty());
    // A failing cast over a personal dataset, run as an inner plan on each engine.
    let plan = ctx.state().create_logical_plan("SELECT CAST(name AS INT) AS n FROM residents").await.unwrap();
    let local = InnerEngine::Local.collect(ctx, &plan).await.unwrap_err();
    let remote = InnerEngine::ballista(cluster.scheduler_url(), Some(PARTITIONS)).collect(ctx, &plan).await.unwrap_err();
    assert_eq!(remote.to_string(), local.to_string(), "a failed cast reads the same on both engines");
    assert_eq!(remote.fault(), local.fault());
    let text = remote.to_string();
    assert!(!names.iter().any(|n| text.contains(n.as_str())), "the error quotes a name: {text}");
    for cluster_word in ["127.0.0.1", "Job ", "stage", "Task", "executor"] {
        assert!(!text.contains(cluster_word), "the error names the cluster ({cluster_word}): {text}");
    }

    // Memory: executors whose pools are too small for a join's build side.
    let small = InProcessCluster::start(ClusterOptions { executors: 2, vcores: 1, memory_pool_bytes: Some(4 << 10) }).await.unwrap();
    let sql = "SELECT r.district, COUNT(*) FROM medical_visits v JOIN residents r ON v.person_id = r.person_id GROUP BY r.district";
    let runtime = RuntimeEnvBuilder::new().with_memory_pool(Arc::new(FairSpillPool::new(4 << 10))).build_arc().unwrap();
    let limited = SessionStateBuilder::new_from_existing(ctx.state()).with_runtime_env(runtime).build();
    let local_small = common::deterministic(scope.with_context(SessionContext::new_with_state(limited))).with_exact_reuse(false);
    let remote_small = common::deterministic(scope.clone()).with_exact_reuse(false).with_engine(InnerEngine::ballista(small.scheduler_url(), Some(PARTITIONS)));
    let a = local_small.execute(sql, QueryBudget::pure(1.0)).await.unwrap_err();
    let b = remote_small.execute(sql, QueryBudget::pure(1.0)).await.unwrap_err();
    assert!(matches!(a, ComputeError::ResourcesExhausted(_)), "local: {a}");
    assert_eq!(b.to_string(), a.to_string(), "an exhausted pool reads the same on both engines");
    assert_eq!(b.fault(), Fault::ResourceLimit);

    // Gone: the scheduler stops; the query fails as unavailable, naming no address.
    cluster.stop_scheduler();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let remote = common::deterministic(scope.clone()).with_exact_reuse(false).with_engine(InnerEngine::ballista(cluster.scheduler_url(), None));
    let gone = remote.execute("SELECT COUNT(*) FROM residents", QueryBudget::pure(1.0)).await.unwrap_err();
    assert_eq!(gone.fault(), Fault::Unavailable, "{gone}");
    assert!(!gone.to_string().contains("127.0.0.1"), "{gone}");
}
