//! Fixtures of the end-to-end tests: a small generated city (once per test binary), a fresh
//! demo domain per test, the Flight SQL server on 127.0.0.1:0, clients, and the `shuyu`
//! binary.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use arrow::datatypes::Schema;
use arrow::record_batch::RecordBatch;
use arrow_flight::error::FlightError;
use arrow_flight::sql::client::FlightSqlServiceClient;
use arrow_flight::FlightInfo;
use futures::TryStreamExt;
use shuyu::config::{Config, Limits, Served, TlsFiles};
use shuyu::demo::{DemoDomain, DemoUnit};
use shuyu_runtime::Runtime;
use shuyu_datasets::generate::GenerateOptions;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::Channel;

/// Residents of the fixture city.
pub const RESIDENTS: u64 = 2_000;

static CITY: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();

/// The fixture city's datasets folder (generated once per test binary).
pub fn city() -> &'static Path {
    &CITY
        .get_or_init(|| {
            let tmp = tempfile::tempdir().expect("temp dir");
            let out = tmp.path().join("datasets");
            shuyu_datasets::generate::generate(&GenerateOptions::new(RESIDENTS, &out, 11)).expect("generate the fixture city");
            (tmp, out)
        })
        .1
}

/// The `shuyu` binary: `SHUYU_BIN` when set, else the one beside the test binary's `deps/`
/// folder (`cargo test --workspace` builds it, for the server crate's own command-line test).
pub fn shuyu_bin() -> PathBuf {
    if let Some(path) = std::env::var_os("SHUYU_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    let profile = exe.parent().and_then(Path::parent).expect("the test binary is in <target>/<profile>/deps");
    let bin = profile.join(format!("shuyu{}", std::env::consts::EXE_SUFFIX));
    assert!(bin.is_file(), "{} is not built: run `cargo build -p shuyu`, or set SHUYU_BIN", bin.display());
    bin
}

/// A running server over a fresh demo domain.
pub struct TestServer {
    /// The domain: store, bureau, units.
    pub domain: DemoDomain,
    /// The runner the server uses.
    pub runner: Arc<Runtime>,
    /// The bound address.
    pub addr: SocketAddr,
    /// The masked samples the server's dev environment reads.
    pub samples: PathBuf,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), shuyu::Error>>>,
    _dir: tempfile::TempDir,
}

impl TestServer {
    /// Starts a server with default limits.
    pub async fn start() -> TestServer {
        Self::start_with(Limits::default()).await
    }

    /// Starts a server with `limits`.
    pub async fn start_with(limits: Limits) -> TestServer {
        Self::start_configured(limits, None).await
    }

    /// Starts a server with `limits`, serving TLS with `tls` if given.
    pub async fn start_configured(limits: Limits, tls: Option<TlsFiles>) -> TestServer {
        Self::start_serving(limits, tls, Served::Prod, city()).await
    }

    /// Starts a server with default limits over the generated city in `datasets`.
    pub async fn start_over(datasets: &Path) -> TestServer {
        Self::start_serving(Limits::default(), None, Served::Prod, datasets).await
    }

    /// Starts a server for the dev environment only, over a domain whose catalog points at
    /// raw files that do not exist: it has the masked samples and nothing else.
    pub async fn start_dev_only() -> TestServer {
        Self::start_serving(Limits::default(), None, Served::Dev, city()).await
    }

    async fn start_serving(limits: Limits, tls: Option<TlsFiles>, served: Served, datasets: &Path) -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = dir.path().join("domain");
        let domain = match served {
            Served::Prod => shuyu::demo::bootstrap(&store, datasets).expect("demo domain"),
            // A dev-only domain: the datasets were registered (and their declarations
            // verified) where the raw files were, and then the files were taken away.
            Served::Dev => {
                let raw = dir.path().join("raw-files-taken-away");
                copy_dir(datasets, &raw);
                let domain = shuyu::demo::bootstrap(&store, &raw).expect("demo domain");
                std::fs::remove_dir_all(&raw).expect("take the raw files away");
                domain
            }
        };
        let samples = dir.path().join("dev");
        let job = shuyu_runtime::dev::SamplesJob {
            datasets: datasets.to_path_buf(),
            out: samples.clone(),
            key: dir.path().join("secrets/masking.key"),
            options: shuyu_datasets::sample::SampleOptions::default(),
        };
        shuyu_runtime::dev::build(&job).expect("masked samples");
        let runner = Arc::new(Runtime::with_environments(domain.store.clone(), limits, served, Some(samples.clone())));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind port 0");
        let addr = listener.local_addr().expect("local addr");
        let (tx, rx) = oneshot::channel::<()>();
        let config = Config { listen: addr, data_dir: dir.path().to_path_buf(), limits, tls, environment: served, ..Config::default() };
        let r = runner.clone();
        let task = tokio::spawn(async move {
            shuyu::server::run_with(listener, r, &config, async {
                let _ = rx.await;
            })
            .await
        });
        TestServer { domain, runner, addr, samples, shutdown: Some(tx), task: Some(task), _dir: dir }
    }

    /// `chunhe-health` (zCDP, total 2, cap 0.5, default 0.1).
    pub fn health(&self) -> &DemoUnit {
        &self.domain.units[0]
    }

    /// `beilin-jobs` (pure epsilon, total 10, cap 2, default 1).
    pub fn jobs(&self) -> &DemoUnit {
        &self.domain.units[1]
    }

    /// A client without credentials.
    pub async fn anonymous(&self) -> FlightSqlServiceClient<Channel> {
        let channel = Channel::from_shared(format!("http://{}", self.addr)).expect("uri").connect().await.expect("connect");
        FlightSqlServiceClient::new(channel)
    }

    /// A client of `unit`'s analyst, naming its authorization.
    pub async fn client(&self, unit: &DemoUnit) -> FlightSqlServiceClient<Channel> {
        self.client_under(unit, unit.authorization).await
    }

    /// A client of `unit`'s analyst, naming authorization `auth` (another of the unit's).
    pub async fn client_under(&self, unit: &DemoUnit, auth: shuyu_governance::AuthorizationId) -> FlightSqlServiceClient<Channel> {
        let mut c = self.anonymous().await;
        c.set_token(unit.token.clone());
        c.set_header("x-shuyu-authorization", auth.0.to_string());
        c
    }

    /// A client of `unit`'s analyst in the dev environment.
    pub async fn dev_client(&self, unit: &DemoUnit) -> FlightSqlServiceClient<Channel> {
        let mut c = self.client(unit).await;
        c.set_header("x-shuyu-environment", "dev");
        c
    }

    /// Stops the server and checks it stopped cleanly.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("server task").expect("server stopped cleanly");
        }
    }
}

/// The gRPC code of a failed client call.
pub fn code(e: &FlightError) -> tonic::Code {
    match e {
        FlightError::Tonic(s) => s.code(),
        other => panic!("expected a gRPC status, got {other:?}"),
    }
}

/// The gRPC message of a failed client call.
pub fn message(e: &FlightError) -> String {
    match e {
        FlightError::Tonic(s) => s.message().to_string(),
        other => panic!("expected a gRPC status, got {other:?}"),
    }
}

/// A metadata field of a failed client call's status (`x-shuyu-refusal-code`, …).
pub fn status_field(e: &FlightError, key: &str) -> Option<String> {
    match e {
        FlightError::Tonic(s) => s.metadata().get(key).map(|v| v.to_str().expect("an ascii field").to_string()),
        other => panic!("expected a gRPC status, got {other:?}"),
    }
}

/// The refusal code a failed call carries as a field, not in its text.
pub fn refusal_code(e: &FlightError) -> Option<String> {
    status_field(e, shuyu::error::REFUSAL_CODE_HEADER)
}

/// The fault class a failed call carries as a field (`refused`, `budget_exhausted`, …).
pub fn fault(e: &FlightError) -> Option<String> {
    status_field(e, shuyu::error::FAULT_HEADER)
}

/// Fetches every endpoint of `info`: the schema of the stream and its batches.
pub async fn fetch(client: &mut FlightSqlServiceClient<Channel>, info: FlightInfo) -> Result<(Arc<Schema>, Vec<RecordBatch>), FlightError> {
    let mut schema = None;
    let mut batches = Vec::new();
    for endpoint in info.endpoint {
        let ticket = endpoint.ticket.expect("endpoint has a ticket");
        let mut stream = client.do_get(ticket).await?;
        let mut got: Vec<RecordBatch> = (&mut stream).try_collect().await?;
        if schema.is_none() {
            schema = stream.schema().cloned().or_else(|| got.first().map(|b| b.schema()));
        }
        batches.append(&mut got);
    }
    Ok((schema.unwrap_or_else(|| Arc::new(Schema::empty())), batches))
}

/// Runs `sql` as a statement query: GetFlightInfo then DoGet.
pub async fn query(client: &mut FlightSqlServiceClient<Channel>, sql: &str) -> Result<(Arc<Schema>, Vec<RecordBatch>), FlightError> {
    let info = client.execute(sql.to_string(), None).await?;
    fetch(client, info).await
}

/// Total rows of batches.
pub fn rows(batches: &[RecordBatch]) -> usize {
    batches.iter().map(RecordBatch::num_rows).sum()
}

/// Copies the files of `from` (one level) into a new folder `to`.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create the copy");
    for entry in std::fs::read_dir(from).expect("read the city") {
        let entry = entry.expect("city entry");
        assert!(entry.file_type().expect("file type").is_file(), "the fixture city is one flat folder");
        std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy a city file");
    }
}
