//! A bounded load test on loopback: 32 concurrent Flight SQL clients (16 per unit), each
//! getting a fixed number of answers, under the default cap on concurrent jobs per unit.
//! Checks that the ledger's committed total equals the sum of what clients were told they
//! were charged, that jobs over the cap are refused with RESOURCE_EXHAUSTED and nothing
//! else, and that the server answers normally afterwards. Prints p50/p99 latency and
//! queries per second (run with `--nocapture` to see them).

use shuyu_tests::fixture;

use std::time::{Duration, Instant};

use fixture::{code, message, query, TestServer};
use shuyu::config::Limits;
use shuyu_governance::Nano;
use tokio::task::JoinSet;
use tonic::Code;

const CLIENTS: usize = 32;
const ANSWERS_PER_CLIENT: usize = 3;
/// Refusals for the concurrency cap one client may meet before the test gives up.
const MAX_BUSY_RETRIES: usize = 500;
/// The whole test must finish within this.
const DEADLINE: Duration = Duration::from_secs(300);
const SQL: &str = "SELECT district, COUNT(*) AS n FROM residents GROUP BY district";

struct ClientReport {
    unit: usize,
    told: Nano,
    latencies: Vec<Duration>,
    busy: usize,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_two_clients_are_charged_exactly_what_they_are_told() {
    let limits = Limits::default();
    let server = TestServer::start_with(limits).await;
    let units = [server.health().clone(), server.jobs().clone()];
    // Small per-query budgets so that 48 queries fit in each authorization's total.
    let budgets = ["0.01", "0.05"];
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for i in 0..CLIENTS {
        let u = i % 2;
        let mut client = server.client(&units[u]).await;
        client.set_header("x-shuyu-budget", budgets[u]);
        tasks.spawn(async move {
            let mut report = ClientReport { unit: u, told: Nano::ZERO, latencies: Vec::new(), busy: 0 };
            while report.latencies.len() < ANSWERS_PER_CLIENT {
                let t = Instant::now();
                match query(&mut client, SQL).await {
                    Ok((schema, _)) => {
                        report.latencies.push(t.elapsed());
                        let charged = schema.metadata().get("shuyu.charged").expect("charged is reported");
                        let charged = Nano::parse_decimal(charged, "charged").expect("decimal");
                        report.told = report.told.checked_add(charged).expect("no overflow");
                    }
                    Err(e) if code(&e) == Code::ResourceExhausted && message(&e).contains("the most one unit may run at once") => {
                        report.busy += 1;
                        assert!(report.busy <= MAX_BUSY_RETRIES, "client {i} was refused too often");
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    Err(e) => panic!("client {i}: unexpected failure {:?}: {}", code(&e), message(&e)),
                }
            }
            report
        });
    }
    let reports = tokio::time::timeout(DEADLINE, tasks.join_all()).await.expect("the load test finished in time");
    let elapsed = started.elapsed();

    let mut told = [Nano::ZERO, Nano::ZERO];
    let mut latencies: Vec<Duration> = Vec::new();
    let mut busy = 0;
    for r in &reports {
        told[r.unit] = told[r.unit].checked_add(r.told).expect("no overflow");
        latencies.extend(&r.latencies);
        busy += r.busy;
    }
    for (u, unit) in units.iter().enumerate() {
        let budget = server.domain.store.budget(&server.domain.bureau, unit.authorization).expect("budget");
        assert_eq!(budget.spent, told[u], "{}: the ledger's committed total is the sum of what clients were told", unit.name);
        assert_eq!(budget.reserved, Nano::ZERO, "{}: no reservation is left open", unit.name);
    }
    let expected = Nano::parse_decimal("0.48", "x").expect("decimal");
    assert_eq!(told[0], expected, "16 clients x 3 answers x 0.01");
    server.domain.store.verify_ledger().expect("the ledger verifies");
    server.domain.store.verify_audit().expect("the audit chain verifies");

    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 - 1.0) * p).round() as usize];
    let answered = latencies.len();
    assert_eq!(answered, CLIENTS * ANSWERS_PER_CLIENT);
    println!(
        "load: {CLIENTS} clients, {answered} answers in {:.2} s ({:.1} queries/s), p50 {:.1} ms, p99 {:.1} ms, {busy} refused over the cap of {} jobs per unit",
        elapsed.as_secs_f64(),
        answered as f64 / elapsed.as_secs_f64(),
        pct(0.5).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        limits.max_jobs_per_unit
    );

    // The server is healthy afterwards.
    let mut client = server.client(&units[1]).await;
    query(&mut client, SQL).await.expect("answers after the load");
    server.stop().await;
}
