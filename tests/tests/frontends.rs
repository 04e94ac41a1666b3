//! Several front ends sharing one domain: two `shuyu serve` processes (the real binary) over
//! one PostgreSQL store (a private cluster on a unix socket), one data directory and one
//! Ballista cluster on loopback (a scheduler and two executors, in this test's process), 32
//! Flight SQL clients split across them for a fixed time.
//!
//! 1. Under load: afterwards the ledger's committed total equals, per authorization, exactly
//!    what clients were told they were charged; nothing is open or overspent
//!    (`verify_ledger`), and the audit chain, written by both front ends at once, verifies.
//! 2. One front end is SIGKILLed mid-load. The other keeps answering. The next handle to
//!    open the store settles the dead front end's open reservations as spent; the committed
//!    total is then what clients were told plus, at most, the queries that were in flight on
//!    the killed front end (never less: no answer a client received goes uncharged), and the
//!    ledger and the chain still verify.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_flight::sql::client::FlightSqlServiceClient;
use shuyu_governance::{AuthorizationId, Backend, Nano, Store, StoreOptions};
use shuyu_tests::fixture::{city, code, message, query, shuyu_bin};
use shuyu_tests::postgres::PrivateCluster;
use tokio::task::JoinSet;
use tonic::transport::Channel;
use tonic::Code;

const CLIENTS: usize = 32;
const SQL: &str = "SELECT district, COUNT(*) AS n FROM residents GROUP BY district";
/// Per-query budgets, small enough that neither authorization runs out in the test.
const BUDGETS: [&str; 2] = ["0.0005", "0.001"];
/// Jobs one unit may run at once on one front end (the default limit).
const SLOTS_PER_UNIT: u64 = 4;

/// A `shuyu serve` process, killed when dropped.
struct FrontEnd {
    child: Child,
    uri: String,
}

impl Drop for FrontEnd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_front_end(data_dir: &std::path::Path, url: &str, scheduler: &str) -> FrontEnd {
    let mut child = Command::new(shuyu_bin())
        .arg("serve")
        .env("SHUYU_DATA_DIR", data_dir)
        .env("SHUYU_ENGINE", "ballista")
        .env("SHUYU_CLUSTER_SCHEDULER", scheduler)
        .env("SHUYU_LISTEN", "127.0.0.1:0")
        .env("SHUYU_CONSOLE", "false")
        .env("SHUYU_STORE", "postgres")
        .env("SHUYU_STORE_URL", url)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start shuyu serve");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    out.read_line(&mut line).expect("the server's first line");
    let addr = line
        .trim()
        .strip_prefix("shuyu: Arrow Flight SQL, admin and health on grpc://")
        .unwrap_or_else(|| panic!("unexpected first line: {line}"))
        .to_string();
    // Keep draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in out.lines() {});
    FrontEnd { child, uri: format!("http://{addr}") }
}

async fn client(uri: &str, token: &str, auth: AuthorizationId, budget: &str) -> FlightSqlServiceClient<Channel> {
    let channel = Channel::from_shared(uri.to_string()).expect("uri").connect().await.expect("connect");
    let mut c = FlightSqlServiceClient::new(channel);
    c.set_token(token.to_string());
    c.set_header("x-shuyu-authorization", auth.0.to_string());
    c.set_header("x-shuyu-budget", budget);
    c
}

/// What one client saw.
#[derive(Default)]
struct Seen {
    unit: usize,
    front_end: usize,
    told: Nano,
    answers: u64,
    answers_after_kill: u64,
    largest: Nano,
    /// The client's front end went away (only the killed one's clients).
    lost: bool,
}

/// Runs the clients until `stop`; `killed` tells when front end 0 is gone.
async fn load(
    uris: [String; 2],
    units: Vec<(String, AuthorizationId)>,
    duration: Duration,
    kill_at: Option<(Duration, FrontEnd)>,
) -> Vec<Seen> {
    let killed = Arc::new(AtomicBool::new(false));
    let mut tasks = JoinSet::new();
    for i in 0..CLIENTS {
        let (unit, front_end) = (i % 2, (i / 2) % 2);
        let mut c = client(&uris[front_end], &units[unit].0, units[unit].1, BUDGETS[unit]).await;
        let killed = killed.clone();
        tasks.spawn(async move {
            let mut seen = Seen { unit, front_end, ..Seen::default() };
            let end = Instant::now() + duration;
            while Instant::now() < end {
                match query(&mut c, SQL).await {
                    Ok((schema, _)) => {
                        let charged = schema.metadata().get("shuyu.charged").expect("charged is reported");
                        let charged = Nano::parse_decimal(charged, "charged").expect("a decimal");
                        seen.told = seen.told.checked_add(charged).expect("no overflow");
                        seen.largest = seen.largest.max(charged);
                        seen.answers += 1;
                        if killed.load(Ordering::SeqCst) {
                            seen.answers_after_kill += 1;
                        }
                    }
                    Err(e) if code(&e) == Code::ResourceExhausted && message(&e).contains("the most one unit may run at once") => {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    Err(_) if front_end == 0 && killed.load(Ordering::SeqCst) => {
                        seen.lost = true;
                        break;
                    }
                    Err(e) => panic!("client {i}: unexpected failure {e}"),
                }
            }
            seen
        });
    }
    if let Some((at, mut victim)) = kill_at {
        tokio::time::sleep(at).await;
        // Flagged first: its clients may see the broken connection before `kill` returns.
        killed.store(true, Ordering::SeqCst);
        victim.child.kill().expect("SIGKILL the front end");
        victim.child.wait().expect("reap it");
    }
    let mut out = Vec::new();
    while let Some(r) = tasks.join_next().await {
        out.push(r.expect("a client task"));
    }
    out
}

/// The spent total of each demo authorization, read through a fresh handle (whose opening
/// settles the open reservations of dead front ends); `None` while a reservation is still
/// open (held by a session the server has not ended yet).
fn settled(data_dir: &std::path::Path, url: &str, bureau: &shuyu_governance::Principal, auths: &[AuthorizationId]) -> Option<Vec<Nano>> {
    let options = StoreOptions { backend: Backend::Postgres { url: url.to_string(), password: None }, ..StoreOptions::default() };
    let store = Store::open_with(data_dir.join("domain"), options).expect("open the shared store");
    let ledger = store.verify_ledger().expect("the ledger verifies: nothing overspent");
    if ledger.open > 0 {
        return None;
    }
    store.verify_audit().expect("the audit chain verifies");
    Some(auths.iter().map(|a| store.budget(bureau, *a).expect("budget").spent).collect())
}

/// [`settled`], waiting up to 30 s for the sessions of a killed front end to end.
fn spent(data_dir: &std::path::Path, url: &str, bureau: &shuyu_governance::Principal, auths: &[AuthorizationId]) -> Vec<Nano> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = settled(data_dir, url, bureau, auths) {
            return v;
        }
        assert!(Instant::now() < deadline, "a reservation stayed open 30 s after its front end died");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn told_by_unit(seen: &[Seen]) -> [Nano; 2] {
    let mut told = [Nano::ZERO; 2];
    for s in seen {
        told[s.unit] = told[s.unit].checked_add(s.told).expect("no overflow");
    }
    told
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_front_ends_over_one_postgres_store_charge_exactly_and_survive_a_kill() {
    let (cluster, url) = tokio::task::spawn_blocking(|| {
        let cluster = PrivateCluster::start();
        let url = cluster.database("shuyu");
        (cluster, url)
    })
    .await
    .expect("join");
    let dir = tempfile::tempdir().expect("tmp");
    let options = StoreOptions { backend: Backend::Postgres { url: url.clone(), password: None }, ..StoreOptions::default() };
    // The store's PostgreSQL client blocks: off the async workers, as the server does.
    let store_dir = dir.path().join("domain");
    let domain = tokio::task::spawn_blocking(move || shuyu::demo::bootstrap_with(&store_dir, city(), options))
        .await
        .expect("join")
        .expect("the demo domain in PostgreSQL");
    let units: Vec<(String, AuthorizationId)> = domain.units.iter().map(|u| (u.token.clone(), u.authorization)).collect();
    let auths: Vec<AuthorizationId> = units.iter().map(|u| u.1).collect();
    let bureau = domain.bureau;
    drop(domain.store);

    let cluster_engine = shuyu_cluster::InProcessCluster::start(shuyu_cluster::local::ClusterOptions::default()).await.expect("the Ballista cluster");
    let scheduler = cluster_engine.scheduler_url();
    let (data, u) = (dir.path().to_path_buf(), url.clone());
    let (a, b) = tokio::task::spawn_blocking(move || (start_front_end(&data, &u, &scheduler), start_front_end(&data, &u, &scheduler)))
        .await
        .expect("join");
    let uris = [a.uri.clone(), b.uri.clone()];

    // 1. Both front ends under load.
    let seen = load(uris.clone(), units.clone(), Duration::from_secs(8), None).await;
    let told = told_by_unit(&seen);
    for fe in 0..2 {
        assert!(seen.iter().filter(|s| s.front_end == fe).map(|s| s.answers).sum::<u64>() > 0, "front end {fe} answered");
    }
    let (d, u, a2, p) = (dir.path().to_path_buf(), url.clone(), auths.clone(), bureau.clone());
    let after_load = tokio::task::spawn_blocking(move || spent(&d, &u, &p, &a2)).await.expect("join");
    assert_eq!(after_load, told.to_vec(), "the committed totals equal what clients were told");
    println!("phase 1: {} answers, told {:?}", seen.iter().map(|s| s.answers).sum::<u64>(), told);

    // 2. Front end 0 is killed mid-load.
    let seen = load(uris, units, Duration::from_secs(8), Some((Duration::from_secs(4), a))).await;
    let told2 = told_by_unit(&seen);
    let survivors_after_kill: u64 = seen.iter().filter(|s| s.front_end == 1).map(|s| s.answers_after_kill).sum();
    assert!(survivors_after_kill > 0, "the surviving front end kept answering");
    assert!(seen.iter().filter(|s| s.front_end == 1).all(|s| !s.lost));
    let (d, u, a2, p) = (dir.path().to_path_buf(), url.clone(), auths.clone(), bureau.clone());
    let after_kill = tokio::task::spawn_blocking(move || spent(&d, &u, &p, &a2)).await.expect("join");
    for unit in 0..2 {
        let charged = Nano(after_kill[unit].0 - after_load[unit].0);
        let largest = seen.iter().filter(|s| s.unit == unit).map(|s| s.largest).max().unwrap_or(Nano::ZERO);
        assert!(charged >= told2[unit], "unit {unit}: {charged:?} committed is less than the {:?} clients were told", told2[unit]);
        let excess = charged.0 - told2[unit].0;
        assert!(
            excess <= SLOTS_PER_UNIT * largest.0,
            "unit {unit}: {excess} nano charged beyond what clients were told, more than the {SLOTS_PER_UNIT} queries that could be in flight on the killed front end"
        );
        println!("phase 2, unit {unit}: told {:?}, committed {charged:?} (in flight at the kill: {excess} nano)", told2[unit]);
    }
    drop(b);
    drop(cluster_engine);
    drop(cluster);
}
