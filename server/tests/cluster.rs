//! The Ballista engine through the binary: `shuyu cluster scheduler` and two
//! `shuyu cluster executor` processes on loopback answer private queries exactly as the
//! local engine does, and `shuyu demo --engine ballista` runs its whole script through an
//! in-process cluster.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use shuyu_compute::{InnerEngine, PrivateSession};
use shuyu_planner::{BoundingOrder, GrantedTable, PlanOptions, QueryBudget, Scope};

/// A port free now (the OS picked it; a process started next binds it).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// A child process of this test, killed when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(args: &[&str]) -> Process {
    let child = Command::new(env!("CARGO_BIN_EXE_shuyu"))
        .args(args)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start shuyu");
    Process(child)
}

async fn scope(dir: &Path) -> Scope {
    shuyu_datasets::generate::generate(&shuyu_datasets::generate::GenerateOptions::new(2_000, dir, 3)).expect("generate");
    let grant = |t: &str| GrantedTable::new(shuyu_datasets::demo_manifest(t).expect("demo table"), None, dir.join(format!("{t}.parquet")));
    Scope::open(&[grant("residents"), grant("medical_visits"), grant("districts")]).await.expect("scope")
}

fn rows(r: &shuyu_compute::QueryResult) -> Vec<String> {
    let mut v: Vec<String> = r
        .batches
        .iter()
        .flat_map(|b| (0..b.num_rows()).map(move |i| (0..b.num_columns()).map(|c| arrow::util::display::array_value_to_string(b.column(c), i).unwrap_or_default()).collect::<Vec<_>>().join("|")))
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_processes_answer_like_the_local_engine() {
    let (sp, e1, e2) = (free_port(), free_port(), free_port());
    let scheduler = format!("127.0.0.1:{sp}");
    let url = format!("http://{scheduler}");
    let _s = spawn(&["cluster", "scheduler", "--listen", &scheduler]);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let _a = spawn(&["cluster", "executor", "--scheduler", &url, "--listen", &format!("127.0.0.1:{e1}"), "--vcores", "2"]);
    let _b = spawn(&["cluster", "executor", "--scheduler", &url, "--listen", &format!("127.0.0.1:{e2}"), "--vcores", "2"]);
    let dir = tempfile::tempdir().expect("temp dir");
    let scope = scope(dir.path()).await;
    let options = PlanOptions { bounding_order: BoundingOrder::ByKey };
    let local = PrivateSession::new(scope.clone()).with_options(options).with_exact_reuse(false);
    let remote = PrivateSession::new(scope).with_options(options).with_exact_reuse(false).with_engine(InnerEngine::ballista(url, Some(4)));
    let mut last = None;
    for sql in [
        "SELECT district, COUNT(*), AVG(income) FROM residents GROUP BY district",
        "SELECT r.district, COUNT(*), SUM(v.cost) FROM medical_visits v JOIN residents r ON v.person_id = r.person_id GROUP BY r.district",
        "SELECT department, COUNT(*) FROM medical_visits GROUP BY department",
    ] {
        // The first query waits for the processes to be up (executors register on their first poll).
        let mut tries = 0;
        let b = loop {
            match remote.execute(sql, QueryBudget::pure(1.0)).await {
                Ok(b) => break b,
                Err(e) if tries < 40 => {
                    last = Some(e.to_string());
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                Err(e) => panic!("{sql}: {e} (earlier: {last:?})"),
            }
        };
        let a = local.execute(sql, QueryBudget::pure(1.0)).await.expect("local");
        // Noise differs between runs; the released keys and the costs must not.
        assert_eq!(a.releases, b.releases, "{sql}");
        assert_eq!(a.cost, b.cost, "{sql}");
        assert_eq!(a.num_rows(), b.num_rows(), "{sql}");
        assert_eq!(a.schema.fields(), b.schema.fields(), "{sql}");
        let keys = |r: &shuyu_compute::QueryResult| rows(r).iter().map(|l| l.split('|').next().unwrap_or("").to_string()).collect::<Vec<_>>();
        assert_eq!(keys(&a), keys(&b), "{sql}");
    }
}

#[test]
fn the_demo_runs_its_script_on_a_ballista_cluster() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = Command::new(env!("CARGO_BIN_EXE_shuyu"))
        .args(["demo", "--engine", "ballista", "--no-serve", "--rows", "3000", "--data-dir"])
        .arg(dir.path())
        .env("RUST_LOG", "off")
        .output()
        .expect("run the demo");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("== Ballista cluster: scheduler on http://127.0.0.1:") && stdout.contains("and 2 executors"), "{stdout}");
    assert!(stdout.contains("spent "), "answers were charged:\n{stdout}");
    assert!(!stdout.contains("internal error") && !stdout.contains("unavailable"), "{stdout}");
    assert!(stdout.contains("== audit chain: "), "{stdout}");
}

#[test]
fn an_unknown_engine_is_refused_naming_the_choices() {
    let out = Command::new(env!("CARGO_BIN_EXE_shuyu")).args(["demo", "--engine", "spark", "--no-serve"]).output().expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("local") && err.contains("ballista"), "{err}");
}
