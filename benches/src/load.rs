//! Service load: N concurrent Flight SQL clients on loopback for a bounded time, then the
//! ledger checked against what the clients were told.
//!
//! Each client loops over the load queries (the public-key workload queries, rotated so the
//! clients do not all ask the same thing at once) until the time is up. A refusal because
//! the unit already runs its maximum of concurrent jobs is counted and retried after 5 ms;
//! any other failure is counted as an error. Afterwards the authorization's committed total
//! must equal the sum of `shuyu.charged` over every answer the clients received, with no
//! reservation left open, and the ledger's hash chain must verify.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use shuyu_governance::Nano;
use tokio::task::JoinSet;

use crate::stats::Timing;
use crate::runner::Result;
use crate::service::Service;

/// What the load phase measured.
#[derive(Debug, Clone)]
pub struct LoadResult {
    /// Concurrent clients.
    pub clients: usize,
    /// Jobs one unit may run at once (the server's cap).
    pub max_jobs: u32,
    /// Wall time from the first request to the last answer.
    pub elapsed: Duration,
    /// Latency of every answer.
    pub latency: Timing,
    /// 99th percentile latency, ms.
    pub p99_ms: f64,
    /// Answers received.
    pub answered: usize,
    /// Refusals over the concurrency cap (retried).
    pub busy: usize,
    /// Other failures.
    pub errors: usize,
    /// Sum of what the clients were told they were charged.
    pub told: Nano,
    /// The ledger's committed total afterwards.
    pub spent: Nano,
    /// The ledger's open reservations afterwards.
    pub reserved: Nano,
    /// Whether the ledger's chain verified.
    pub ledger_verified: bool,
    /// The queries the clients rotated over.
    pub queries: Vec<&'static str>,
}

impl LoadResult {
    /// Queries answered per second.
    pub fn qps(&self) -> f64 {
        self.answered as f64 / self.elapsed.as_secs_f64()
    }

    /// Whether the ledger holds exactly what the clients were told.
    pub fn ledger_ok(&self) -> bool {
        self.ledger_verified && self.spent == self.told && self.reserved == Nano::ZERO
    }

    /// As JSON.
    pub fn to_json(&self) -> Value {
        json!({
            "clients": self.clients,
            "max_jobs_per_unit": self.max_jobs,
            "elapsed_s": self.elapsed.as_secs_f64(),
            "answered": self.answered,
            "qps": self.qps(),
            "latency_ms": self.latency.to_json(),
            "p50_ms": self.latency.median_ms,
            "p99_ms": self.p99_ms,
            "refused_busy": self.busy,
            "errors": self.errors,
            "told_total": self.told.to_string(),
            "ledger_spent": self.spent.to_string(),
            "ledger_reserved": self.reserved.to_string(),
            "ledger_verified": self.ledger_verified,
            "ledger_ok": self.ledger_ok(),
            "queries": self.queries,
        })
    }
}

/// Nearest-rank percentile of sorted values.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

struct ClientReport {
    latencies: Vec<Duration>,
    told: Nano,
    busy: usize,
    errors: usize,
}

/// Runs `clients` clients against `service` for `duration`, each query at `epsilon`.
pub async fn run(service: &Service, clients: usize, duration: Duration, epsilon: f64, queries: Vec<&'static str>, max_jobs: u32) -> Result<LoadResult> {
    let before = service.budget()?;
    let mut conns = Vec::with_capacity(clients);
    for _ in 0..clients {
        conns.push(service.client(epsilon).await?);
    }
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = JoinSet::new();
    for (i, mut client) in conns.into_iter().enumerate() {
        let queries = queries.clone();
        tasks.spawn(async move {
            let mut r = ClientReport { latencies: Vec::new(), told: Nano::ZERO, busy: 0, errors: 0 };
            let mut k = i;
            while Instant::now() < deadline {
                let sql = queries[k % queries.len()];
                match client.query(sql).await {
                    Ok(a) => {
                        k += 1;
                        r.latencies.push(a.elapsed);
                        r.told = r.told.checked_add(a.charged).unwrap_or(r.told);
                    }
                    Err(arrow_flight::error::FlightError::Tonic(s)) if s.code() == tonic::Code::ResourceExhausted => {
                        r.busy += 1;
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    Err(_) => {
                        r.errors += 1;
                        k += 1;
                    }
                }
            }
            r
        });
    }
    let reports = tasks.join_all().await;
    let elapsed = started.elapsed();
    let mut lat: Vec<Duration> = Vec::new();
    let (mut told, mut busy, mut errors) = (Nano::ZERO, 0, 0);
    for r in reports {
        lat.extend(&r.latencies);
        told = told.checked_add(r.told).ok_or("charged total overflows")?;
        busy += r.busy;
        errors += r.errors;
    }
    let after = service.budget()?;
    let spent = Nano(after.spent.0.saturating_sub(before.spent.0));
    let ledger_verified = service.store.verify_ledger().is_ok();
    let latency = Timing::of(&lat);
    let mut sorted = latency.runs_ms.clone();
    sorted.sort_by(f64::total_cmp);
    Ok(LoadResult {
        clients,
        max_jobs,
        elapsed,
        p99_ms: percentile(&sorted, 0.99),
        latency,
        answered: lat.len(),
        busy,
        errors,
        told,
        spent,
        reserved: after.reserved,
        ledger_verified,
        queries,
    })
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.5), 51.0);
        assert_eq!(percentile(&v, 0.99), 99.0);
        assert_eq!(percentile(&v, 1.0), 100.0);
        assert!(percentile(&[], 0.5).is_nan());
    }
}

#[cfg(test)]
mod service_tests {
    use std::time::Duration;

    use shuyu_datasets::generate::{generate, GenerateOptions};

    use crate::service::{limits, Service};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn load_over_flight_sql_leaves_the_ledger_equal_to_what_clients_were_told() {
        let tmp = tempfile::tempdir().expect("temp dir");
        let dir = tmp.path().join("city");
        generate(&GenerateOptions::new(2_000, &dir, 5)).expect("generate");
        let svc = Service::start(&dir, limits(2)).await.expect("service");
        // Six clients against a cap of two concurrent jobs: some are refused and retry.
        let queries = vec!["SELECT COUNT(*) FROM residents", "SELECT district, COUNT(*) FROM residents GROUP BY district"];
        let r = super::run(&svc, 6, Duration::from_secs(2), 0.5, queries, 2).await.expect("load");
        assert!(r.answered > 0, "some queries are answered");
        assert_eq!(r.errors, 0, "nothing fails but for the concurrency cap");
        assert_eq!(r.told.0, r.answered as u64 * 500_000_000, "every answer is charged its 0.5 epsilon");
        assert!(r.ledger_ok(), "ledger committed {} vs told {}, reserved {}", r.spent, r.told, r.reserved);
        // A cold query on a fresh connection returns the noisy count and its charge.
        let mut c = svc.client(1.0).await.expect("client");
        let a = c.query("SELECT COUNT(*) FROM residents").await.expect("answer");
        assert_eq!(a.batches.iter().map(|b| b.num_rows()).sum::<usize>(), 1);
        assert_eq!(a.charged.0, 1_000_000_000);
        svc.stop().await.expect("stops");
    }
}
