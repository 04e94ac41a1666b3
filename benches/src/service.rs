//! shuyu's Arrow Flight SQL service, started in this process on loopback port 0 over a
//! freshly bootstrapped governance store, and a Flight SQL client of it.
//!
//! The domain is the bench's own (not the demo's): one bureau, one operating unit with one
//! analyst, and one pure-DP authorization over the full demo tables with a budget large
//! enough for the whole run (total 10⁶ epsilon, at most 10 per query, 1 by default).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::datatypes::Schema;
use arrow::record_batch::RecordBatch;
use arrow_flight::sql::client::FlightSqlServiceClient;
use chrono::Duration as ChronoDuration;
use futures::TryStreamExt;
use shuyu::config::{Config, Limits};
use shuyu_runtime::Runtime;
use shuyu_governance::validate::{credit_code_check_char, id_number_check_char};
use shuyu_governance::{
    AuthorizationId, Budget, BudgetTerms, ExportPolicy, GrantedDataset, Mode, Nano, NewAuthorization, NewPerson, Principal, PrivacyTerms,
    Right, Role, Store,
};
use shuyu_privacy::{keys, PrivacyDefinition};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::Channel;

use crate::runner::Result;

/// Header naming the authorization a call acts under.
const AUTHORIZATION_HEADER: &str = "x-shuyu-authorization";
/// Header setting what one query may spend.
const BUDGET_HEADER: &str = "x-shuyu-budget";

/// Job limits of the bench's server: the defaults, with room for the 10 M bounded queries.
pub fn limits(max_jobs_per_unit: u32) -> Limits {
    Limits { memory_per_job_mb: 16 * 1024, query_timeout_secs: 900, max_jobs_per_unit }
}

fn with_check(body17: &str, check: fn(&str) -> Option<char>) -> Result<String> {
    let c = check(body17).ok_or_else(|| format!("malformed bench identifier {body17}"))?;
    Ok(format!("{body17}{c}"))
}

/// A running service and the analyst who queries it.
pub struct Service {
    /// The governance store.
    pub store: Store,
    /// The bureau's administrator (reads the ledger).
    pub bureau: Principal,
    /// The analyst's authorization.
    pub authorization: AuthorizationId,
    token: String,
    addr: std::net::SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::result::Result<(), shuyu::Error>>>,
    _dir: tempfile::TempDir,
}

impl Service {
    /// Bootstraps a fresh store over the demo tables in `datasets` and serves Flight SQL on
    /// 127.0.0.1:0 with `limits`.
    pub async fn start(datasets: &Path, limits: Limits) -> Result<Service> {
        let dir = tempfile::tempdir()?;
        let store = Store::open(dir.path().join("domain"))?;
        let ttl = ChronoDuration::days(1);
        let (admin, _) = store.bootstrap_admin("bench bureau", &with_check("11010119800101001", id_number_check_char)?, ttl)?;
        let bureau = admin.principal();
        let mut granted = Vec::new();
        for m in shuyu_datasets::demo_manifests() {
            let path = datasets.join(format!("{}.parquet", m.name));
            let verified = shuyu_datasets::verify_parquet(&m, &path)?;
            store.register_dataset(&bureau, &m, &path.to_string_lossy(), &verified)?;
            granted.push(GrantedDataset { dataset: m.name.clone(), columns: m.columns.iter().map(|c| c.name.clone()).filter(|c| !is_identifier(&m, c)).collect() });
        }
        let unit = store.create_unit(&bureau, "bench-unit", &with_check("91110101MA0000009", credit_code_check_char)?)?;
        let person = store.create_person(
            &bureau,
            &NewPerson { name: "bench analyst".into(), id_number: with_check("11010119900101002", id_number_check_char)?, role: Role::UnitAnalyst, unit: Some(unit), provider: None },
        )?;
        let token = store.issue_token(&bureau, person, ttl)?.token.expose().to_string();
        let now = store.now();
        let authorization = store.grant(
            &bureau,
            &NewAuthorization {
                unit,
                scenario: "benchmark".into(),
                purpose: "shuyu-bench: latency, error and load of the private query service".into(),
                partners: vec![],
                datasets: granted,
                term_start: now - ChronoDuration::days(1),
                term_end: now + ChronoDuration::days(1),
                rights: vec![Right::ProcessingUse],
                mode: Mode::Free,
                privacy: PrivacyTerms { kind: PrivacyDefinition::PureDp, delta: 0.0 },
                budget: BudgetTerms { total: 1e6, per_query_cap: 10.0, per_query_default: 1.0, delta_total: None },
                export_policy: ExportPolicy::Automatic,
            },
        )?;
        let runtime = Arc::new(Runtime::new(store.clone(), limits));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = oneshot::channel::<()>();
        let config = Config { listen: addr, data_dir: dir.path().to_path_buf(), limits, ..Config::default() };
        let task = tokio::spawn(async move {
            shuyu::server::run_with(listener, runtime, &config, async {
                let _ = rx.await;
            })
            .await
        });
        Ok(Service { store, bureau, authorization, token, addr, shutdown: Some(tx), task: Some(task), _dir: dir })
    }

    /// A new connection of the analyst, spending `epsilon` per query.
    pub async fn client(&self, epsilon: f64) -> Result<Client> {
        let channel = Channel::from_shared(format!("http://{}", self.addr))?.connect().await?;
        let mut c = FlightSqlServiceClient::new(channel);
        c.set_token(self.token.clone());
        c.set_header(AUTHORIZATION_HEADER, self.authorization.0.to_string());
        c.set_header(BUDGET_HEADER, format!("{epsilon}"));
        Ok(Client { inner: c })
    }

    /// The authorization's budget as the ledger has it.
    pub fn budget(&self) -> Result<Budget> {
        Ok(self.store.budget(&self.bureau, self.authorization)?)
    }

    /// Stops the server and waits for it.
    pub async fn stop(mut self) -> Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await??;
        }
        Ok(())
    }
}

/// Direct identifiers cannot be granted; everything else of the demo tables is.
fn is_identifier(m: &shuyu_datasets::TableManifest, column: &str) -> bool {
    m.column(column).is_some_and(|c| matches!(c.sensitivity, shuyu_datasets::Sensitivity::DirectIdentifier))
}

/// One answer over Flight SQL.
pub struct Answer {
    /// Wall time: GetFlightInfo (the governed run) and DoGet of every endpoint.
    pub elapsed: Duration,
    /// The batches.
    pub batches: Vec<RecordBatch>,
    /// What the server said it charged.
    pub charged: Nano,
}

/// A Flight SQL client of the analyst.
pub struct Client {
    inner: FlightSqlServiceClient<Channel>,
}

impl Client {
    /// Runs `sql` as a statement query and fetches its result.
    pub async fn query(&mut self, sql: &str) -> std::result::Result<Answer, arrow_flight::error::FlightError> {
        let start = Instant::now();
        let info = self.inner.execute(sql.to_string(), None).await?;
        let mut schema: Option<Arc<Schema>> = None;
        let mut batches = Vec::new();
        for endpoint in info.endpoint {
            let Some(ticket) = endpoint.ticket else { continue };
            let mut stream = self.inner.do_get(ticket).await?;
            let mut got: Vec<RecordBatch> = (&mut stream).try_collect().await?;
            if schema.is_none() {
                schema = stream.schema().cloned().or_else(|| got.first().map(|b| b.schema()));
            }
            batches.append(&mut got);
        }
        let elapsed = start.elapsed();
        let charged = schema
            .as_ref()
            .and_then(|s| s.metadata().get(keys::CHARGED))
            .and_then(|c| Nano::parse_decimal(c, "charged").ok())
            .unwrap_or(Nano::ZERO);
        Ok(Answer { elapsed, batches, charged })
    }
}
