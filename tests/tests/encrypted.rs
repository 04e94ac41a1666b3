//! Encrypted social data end to end, the custodian's side through the `shuyu` binary itself
//! (`shuyu keys generate`, `shuyu encrypt`, `shuyu keyholder serve` on loopback): upload and
//! verification over gRPC, the bureau's approval, fused SQL over Flight SQL (global and
//! grouped, and its EXPLAIN PRIVACY), decryption by the keyholder, noised results charged to
//! the budget; refusals of every unsupported use and of unapproved imports. The domain holds
//! the custodian's conversion keys, so the upload also converts the proven column into the
//! linear tier: the filtered query runs on the bootstrapped tier, the grouped one (no
//! encrypted filter) on the linear tier.
//!
//! The domain reaches the keyholder through a tap that records the exact bytes of every grant
//! and release request (then forwards them): the attack on the keyholder's view (see
//! `assert_uniform_release`) checks that nothing in them but the ciphertexts differs between
//! groups of different sizes, so no group's row count and no noise magnitude reach the
//! keyholder.
//!
//! One test shares the expensive set-up (TFHE keys take seconds, the conversion key about a
//! minute; each encrypted operation a fraction of one, each conversion about 4 s per value):
//! the bundle has four rows.

use shuyu_tests::fixture;
use shuyu_tests::slt::backends::{FlightBackend, RuntimeBackend, Terms};
use shuyu_tests::slt::{self, Backend};

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use arrow::array::{AsArray, Int64Array};
use arrow::datatypes::Int64Type;
use fixture::{city, code, message, query, refusal_code};
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use shuyu::config::Config;
use shuyu::demo::bootstrap;
use shuyu_runtime::EncryptionContext;
use shuyu_runtime::Runtime;
use shuyu_governance::Nano;
use shuyu_compute::noise::{calibrate_scale, confidence_half_width};
use shuyu_privacy::Mechanism;
use shuyu_proto::imports::v1::imports_client::ImportsClient;
use shuyu_proto::imports::v1::{GetEncryptionParametersRequest, UploadChunk};
use shuyu_proto::keyholder::v1::keyholder_client::KeyholderClient;
use shuyu_proto::keyholder::v1::keyholder_server::{Keyholder as KeyholderRpc, KeyholderServer};
use shuyu_proto::keyholder::v1::{DecryptRequest, DecryptResponse, RegisterJobRequest, RegisterJobResponse};
use arrow::datatypes::DataType;
use arrow_flight::sql::client::FlightSqlServiceClient;
use tonic::transport::Channel;
use tonic::Code;


/// The domain's encryption material with the server's gRPC client of the keyholder at `uri`.
fn encryption(enc: &Arc<EncryptionContext>, uri: &str) -> shuyu_runtime::Encryption {
    shuyu_runtime::Encryption { context: enc.clone(), keyholder: Arc::new(shuyu::keyholder::DomainKeyholderClient::new(uri)) }
}

/// Bits per proven list of the test CRS: four 8-bit values, so the bundle is one list.
const TEST_CRS_BITS: usize = 32;
/// The declared bound of the encrypted column.
const BOUND: u32 = 200;


fn with_auth<T>(message: T, token: &str, authorization: i64) -> tonic::Request<T> {
    let mut r = tonic::Request::new(message);
    r.metadata_mut().insert("authorization", format!("Bearer {token}").parse().expect("header"));
    r.metadata_mut().insert("x-shuyu-authorization", authorization.to_string().parse().expect("header"));
    r
}

/// Four residents: three adults, then one minor (the public filter drops the minor).
async fn pick_residents() -> Vec<i64> {
    let ctx = SessionContext::new();
    let path = city().join("residents.parquet");
    ctx.register_parquet("residents", path.to_string_lossy().as_ref(), ParquetReadOptions::default()).await.expect("residents");
    let mut ids = Vec::new();
    for sql in [
        "SELECT person_id FROM residents WHERE age >= 18 ORDER BY person_id LIMIT 3",
        "SELECT person_id FROM residents WHERE age < 18 ORDER BY person_id LIMIT 1",
    ] {
        for b in ctx.sql(sql).await.expect("sql").collect().await.expect("collect") {
            ids.extend(b.column(0).as_primitive::<Int64Type>().values().iter().copied());
        }
    }
    assert_eq!(ids.len(), 4);
    ids
}

async fn client_at(addr: std::net::SocketAddr, unit: &shuyu::demo::DemoUnit) -> FlightSqlServiceClient<Channel> {
    let channel = Channel::from_shared(format!("http://{addr}")).expect("uri").connect().await.expect("connect");
    let mut c = FlightSqlServiceClient::new(channel);
    c.set_token(unit.token.clone());
    c.set_header("x-shuyu-authorization", unit.authorization.0.to_string());
    c
}

async fn upload(client: &mut ImportsClient<Channel>, bundle: &Path, name: &str, tier: &str, token: &str, auth: i64) -> Result<i64, tonic::Status> {
    let mut chunks = vec![UploadChunk { name: name.into(), description: "partner insurer's 2025 claims".into(), ..Default::default() }];
    for entry in std::fs::read_dir(bundle).expect("bundle dir") {
        let entry = entry.expect("entry");
        let data = std::fs::read(entry.path()).expect("read");
        for piece in data.chunks(1 << 20) {
            chunks.push(UploadChunk { file: entry.file_name().to_string_lossy().into(), data: piece.to_vec(), ..Default::default() });
        }
    }
    let r = client.upload_bundle(with_auth(futures::stream::iter(chunks), token, auth)).await?;
    assert_eq!(r.get_ref().rows, 4);
    assert_eq!(r.get_ref().columns, vec![format!("claim:{BOUND}:{tier}")]);
    Ok(r.get_ref().import_id)
}

/// Runs the `shuyu` binary built with this test and returns its stdout; fails the test with
/// its stderr on a non-zero exit.
fn shuyu(args: &[&std::ffi::OsStr]) -> String {
    let out = std::process::Command::new(fixture::shuyu_bin()).args(args).output().expect("run shuyu");
    assert!(out.status.success(), "shuyu {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The keyholder process, killed when the test ends.
struct Keyholder(std::process::Child);

impl Drop for Keyholder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Largest keyholder message the tap relays (as the keyholder itself accepts).
const MAX_KEYHOLDER_MESSAGE: usize = 256 << 20;

/// What the keyholder received, byte for byte: each `RegisterJob` grant and each `Decrypt`
/// release request, in order.
#[derive(Clone, Default)]
struct Recorded {
    grants: Arc<Mutex<Vec<Vec<u8>>>>,
    requests: Arc<Mutex<Vec<Vec<u8>>>>,
}

/// A keyholder in front of the real one: records what the domain sends, forwards it.
#[derive(Clone)]
struct Tap {
    upstream: String,
    recorded: Recorded,
}

impl Tap {
    async fn upstream(&self) -> Result<KeyholderClient<Channel>, tonic::Status> {
        let uri = self.upstream.replacen("grpc://", "http://", 1);
        let channel = Channel::from_shared(uri).expect("uri").connect().await.map_err(|e| tonic::Status::unavailable(e.to_string()))?;
        Ok(KeyholderClient::new(channel).max_encoding_message_size(MAX_KEYHOLDER_MESSAGE))
    }
}

#[tonic::async_trait]
impl KeyholderRpc for Tap {
    async fn register_job(&self, request: tonic::Request<RegisterJobRequest>) -> Result<tonic::Response<RegisterJobResponse>, tonic::Status> {
        let request = request.into_inner();
        self.recorded.grants.lock().expect("lock").push(request.grant.clone());
        self.upstream().await?.register_job(request).await
    }

    async fn decrypt(&self, request: tonic::Request<DecryptRequest>) -> Result<tonic::Response<DecryptResponse>, tonic::Status> {
        let request = request.into_inner();
        self.recorded.requests.lock().expect("lock").push(request.release_request.clone());
        self.upstream().await?.decrypt(request).await
    }
}

/// Starts the tap in front of the keyholder at `upstream`; returns its address.
async fn start_tap(upstream: String, recorded: Recorded) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let service = KeyholderServer::new(Tap { upstream, recorded }).max_decoding_message_size(MAX_KEYHOLDER_MESSAGE);
    tokio::spawn(tonic::transport::Server::builder().add_service(service).serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)));
    format!("http://{addr}")
}

/// Attack by the keyholder (or anyone reading its traffic) on one grouped release: read each
/// aggregate's clear fields to learn its group's exact row count or the magnitude of the noise
/// drawn for it. Either one undoes the DP noise: knowing `|noise|` leaves two candidates for the
/// true sum, and a group known to hold one row gives that person's claim to within the noise,
/// or exactly with `|noise|`. (Before this fix each linear aggregate carried its group's row
/// count and `|noise|`, and each bootstrapped one `rows × bound + |noise|`, so the headers of an
/// empty district and of one holding an adult differed and this check failed.)
///
/// The check: every value's clear fields are the same whatever its group holds (here most
/// districts hold no adult of the import, some one or more, and every group's noise differs),
/// the header states only public figures (the column's bound, the import's 4 rows, discrete
/// Laplace; the caller checks the scale against EXPLAIN PRIVACY), and no bootstrapped block is
/// trivial (an empty group's would be readable without any key). Returns the header.
fn assert_uniform_release(request: &[u8], tier: shuyu_crypto::release::Tier, groups: usize) -> Vec<u8> {
    let request = shuyu_crypto::release::ReleaseRequest::from_bytes(request).expect("a release request");
    assert_eq!(request.values.len(), groups, "one value per public group");
    assert!(request.values.iter().all(|v| v.tier == tier));
    let fields: Vec<_> = request.values.iter().map(|v| v.clear_fields().expect("readable aggregate")).collect();
    assert!(fields.iter().all(|f| f == &fields[0]), "a group's clear fields differ from another's: {fields:?}");
    assert!(fields[0].1.iter().all(|b| !b.2), "no trivial block");
    let header = &fields[0].0;
    let at = if tier == shuyu_crypto::release::Tier::Linear { 9 } else { 8 };
    assert_eq!(u32::from_le_bytes(header[at..at + 4].try_into().expect("4")), BOUND, "the column's bound");
    assert_eq!(u64::from_le_bytes(header[at + 4..at + 12].try_into().expect("8")), 4, "the import's 4 rows");
    assert_eq!(header[at + 12], 1, "discrete Laplace");
    header.clone()
}

/// Starts `shuyu keyholder serve` on a free loopback port and returns it with the address it
/// printed.
fn start_keyholder(keys: &Path, domain_key: &Path, journal: &Path) -> (Keyholder, String) {
    use std::io::BufRead;
    let mut child = std::process::Command::new(fixture::shuyu_bin())
        .arg("keyholder")
        .arg("serve")
        .arg("--keys")
        .arg(keys)
        .arg("--domain-key")
        .arg(domain_key)
        .arg("--listen")
        .arg("127.0.0.1:0")
        .arg("--journal")
        .arg(journal)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start the keyholder");
    let stdout = child.stdout.take().expect("stdout");
    let guard = Keyholder(child);
    let mut line = String::new();
    std::io::BufReader::new(stdout).read_line(&mut line).expect("the keyholder's address");
    let uri = line.trim().strip_prefix("shuyu keyholder on ").unwrap_or_else(|| panic!("unexpected first line: {line}")).to_string();
    (guard, uri)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custodian_import_approval_fused_query_keyholder_release_and_refusals() {
    let dir = tempfile::tempdir().expect("tmp");
    let keys = dir.path().join("keys");
    let k = keys.clone();
    tokio::task::spawn_blocking(move || shuyu(&["keys".as_ref(), "generate".as_ref(), "--out".as_ref(), k.as_os_str()]))
        .await
        .expect("join");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(keys.join("custodian.key")).expect("key").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the custodian's secret key is private");
    }

    // The domain: demo governance, its CRS, the keyholder on loopback, the server.
    let domain = bootstrap(&dir.path().join("domain"), city()).expect("domain");
    let domain_key = dir.path().join("domain.pub");
    std::fs::write(&domain_key, hex::encode(domain.store.domain_public_key())).expect("domain key");
    let (_keyholder, uri) = start_keyholder(&keys, &domain_key, &dir.path().join("journal"));
    assert!(uri.starts_with("grpc://127.0.0.1:"), "{uri}");
    let tapped = Recorded::default();
    let uri = start_tap(uri, tapped.clone()).await;
    let (k, crs_path, conversion) = (keys.join("domain.keys"), dir.path().join("crs.bin"), keys.join("conversion.keys"));
    let enc = tokio::task::spawn_blocking(move || {
        EncryptionContext::load(&k, &crs_path, TEST_CRS_BITS)?.with_conversion_keys(Some(&conversion))
    })
    .await
    .expect("join")
    .expect("context");
    assert!(enc.conversion().is_some());
    let enc = Arc::new(enc);
    let runner = Arc::new(Runtime::new(domain.store.clone(), Default::default()).with_encryption(encryption(&enc, &uri)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let config = Config { listen: addr, data_dir: dir.path().to_path_buf(), ..Config::default() };
    let r = runner.clone();
    tokio::spawn(async move { shuyu::server::run_with(listener, r, &config, std::future::pending()).await });

    let jobs = &domain.units[1];
    let auth = jobs.authorization.0;
    let channel = Channel::from_shared(format!("http://{addr}")).expect("uri").connect().await.expect("connect");
    let mut imports = ImportsClient::new(channel.clone());

    // The custodian gets the authorization's parameters and encrypts with the binary.
    let params = imports.get_encryption_parameters(with_auth(GetEncryptionParametersRequest {}, &jobs.token, auth)).await.expect("params");
    let params = params.into_inner();
    assert_eq!(params.authorization_id, auth);
    let (pseudonym_file, crs_file) = (dir.path().join("pseudonym.key"), dir.path().join("crs.from-domain"));
    std::fs::write(&pseudonym_file, &params.pseudonym_key_hex).expect("write");
    std::fs::write(&crs_file, &params.crs).expect("write");
    let ids = pick_residents().await;
    let claims = [50u32, 120, 200, 90];
    let mut csv = String::from("person_id,claim\n");
    for (id, c) in ids.iter().zip(claims) {
        csv.push_str(&format!("{id},{c}\n"));
    }
    let input = dir.path().join("claims.csv");
    std::fs::write(&input, csv).expect("csv");
    let bundle = dir.path().join("bundle");
    let encrypt = |column: String, out: std::path::PathBuf| {
        let (keys, input, pseudonym_file, crs_file) = (keys.clone(), input.clone(), pseudonym_file.clone(), crs_file.clone());
        tokio::task::spawn_blocking(move || {
            let auth_arg = auth.to_string();
            let args: Vec<&std::ffi::OsStr> = vec![
                "encrypt".as_ref(),
                "--keys".as_ref(),
                keys.as_os_str(),
                "--input".as_ref(),
                input.as_os_str(),
                "--key-column".as_ref(),
                "person_id".as_ref(),
                "--pseudonym-key".as_ref(),
                pseudonym_file.as_os_str(),
                "--crs".as_ref(),
                crs_file.as_os_str(),
                "--authorization".as_ref(),
                auth_arg.as_ref(),
                "--column".as_ref(),
                column.as_ref(),
                "--out".as_ref(),
                out.as_os_str(),
            ];
            shuyu(&args);
        })
    };
    encrypt(format!("claim:{BOUND}"), bundle.clone()).await.expect("shuyu encrypt");
    let manifest: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(bundle.join("manifest.json")).expect("manifest")).expect("json");
    assert_eq!(manifest["rows"], 4);

    // Upload: verified (proofs, one row per person) and requested from the bureau; the
    // conversion into the linear tier follows in the background.
    let import = upload(&mut imports, &bundle, "claims", "bootstrapped", &jobs.token, auth).await.expect("upload");


    let mut flight = client_at(addr, jobs).await;
    let sql = "SELECT COUNT(*) AS n, SUM(i.claim) AS total FROM imports.claims i \
               JOIN residents r ON i.pseudonym = shuyu_pseudonym(r.person_id) WHERE r.age >= 18 AND i.claim > 60";
    let e = query(&mut flight, sql).await.expect_err("not approved yet");
    assert_eq!(code(&e), Code::PermissionDenied);
    assert!(message(&e).contains("import claims is requested; only imports approved by the bureau can be used"), "{}", message(&e));

    // The other unit does not see it.
    let mut other = client_at(addr, &domain.units[0]).await;
    let e = query(&mut other, sql).await.expect_err("other unit");
    assert_eq!(code(&e), Code::PermissionDenied);
    assert!(message(&e).contains("the unit has no import named claims"), "{}", message(&e));

    domain.store.review_import(&domain.bureau, shuyu_governance::ImportId(import), true).expect("approve");
    // The background conversion (8 bootstraps per value, four values) lands in the import's
    // `.converted` directory; waiting for it keeps the query timings below apart from it.
    let filed = domain.store.import_path(&jobs.analyst, "claims").expect("import path");
    let waited = std::time::Instant::now();
    while !enc.has_converted(&filed, "claim") {
        assert!(waited.elapsed() < std::time::Duration::from_secs(600), "the conversion did not finish in 10 minutes");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }

    // Refusals, each with its code and reason (before any budget is spent).
    let join = "FROM imports.claims i JOIN residents r ON i.pseudonym = shuyu_pseudonym(r.person_id)";
    for (bad, want) in [
        (format!("SELECT i.claim {join}"), "refused [ROW_LEVEL_OUTPUT]: encrypted column claim cannot be output"),
        (format!("SELECT COUNT(*) {join} GROUP BY i.claim"), "refused [ROW_LEVEL_OUTPUT]: encrypted column claim cannot be grouped by"),
        ("SELECT SUM(i.claim) FROM imports.claims i JOIN residents r ON i.claim = r.age".to_string(), "refused [UNSUPPORTED_JOIN]: an encrypted import joins public data only on its pseudonymised key"),
        (format!("SELECT MAX(i.claim) {join}"), "refused [UNSUPPORTED_AGGREGATE]: max() is not supported over encrypted columns"),
        (format!("SELECT SUM(i.claim) {join} WHERE i.claim > r.age"), "refused [UNSUPPORTED_AGGREGATE]: conditions on encrypted columns compare one column with an integer constant"),
        ("SELECT SUM(i.claim) FROM imports.claims i JOIN residents r ON i.pseudonym = shuyu_pseudonym(r.age)".to_string(), "refused [UNSUPPORTED_JOIN]: join on residents.person_id, the table's privacy-unit column"),
    ] {
        let e = query(&mut flight, &bad).await.expect_err(&bad);
        assert_eq!(code(&e), Code::PermissionDenied, "{bad}");
        assert!(message(&e).starts_with(want), "{bad}: {}", message(&e));
    }
    // The same claims encrypted on the linear tier: imported, but refused in a release, since
    // their bound rests on the data holder's word.
    let linear = dir.path().join("bundle-linear");
    encrypt(format!("claim:{BOUND}:linear"), linear.clone()).await.expect("shuyu encrypt, linear");
    let linear_import = upload(&mut imports, &linear, "claims_linear", "linear", &jobs.token, auth).await.expect("upload linear");
    domain.store.review_import(&domain.bureau, shuyu_governance::ImportId(linear_import), true).expect("approve");
    let e = query(&mut flight, "SELECT SUM(i.claim) FROM imports.claims_linear i JOIN residents r ON i.pseudonym = shuyu_pseudonym(r.person_id)")
        .await
        .expect_err("linear tier");
    assert_eq!(code(&e), Code::PermissionDenied);
    assert!(
        message(&e).starts_with("refused [UNBOUNDED_SENSITIVITY]: column claim of import claims_linear is linear-tier: its bound rests on the data holder's word"),
        "{}",
        message(&e)
    );
    let before = domain.store.budget(&jobs.analyst, jobs.authorization).expect("budget");

    // The fused query: the public filter drops the minor, the encrypted one the claim of 50.
    flight.set_header("x-shuyu-budget", "2");
    // beilin-jobs exports under review: the fused result is held like any other, charged
    // when computed, and released once the bureau approves.
    let (notice, held) = query(&mut flight, sql).await.expect("fused query");
    assert_eq!(notice.metadata()["shuyu.export_status"], "pending");
    let export = shuyu_governance::ExportId(held[0].column(0).as_primitive::<Int64Type>().value(0));
    let fetch = format!("FETCH EXPORT '{}'", export.0);
    let e = query(&mut flight, &fetch).await.expect_err("pending review");
    assert_eq!(code(&e), Code::FailedPrecondition);
    domain.store.review_export(&domain.bureau, export, &shuyu_governance::ExportDecision::Approve).expect("approve");
    let (_, batches) = query(&mut flight, &fetch).await.expect("released");
    let schema = notice;
    assert_eq!(fixture::rows(&batches), 1);
    let n = batches[0].column(0).as_any().downcast_ref::<Int64Array>().expect("n").value(0);
    let total = batches[0].column(1).as_any().downcast_ref::<Int64Array>().expect("total").value(0);
    // Two releases share epsilon 2: each is discrete Laplace at epsilon 1, scale = sensitivity
    // (1 for the count, the bound for the sum). The noise stays within its 1 - 1e-9
    // confidence half-width (a failure rate of 2e-9 per run).
    let half = |sensitivity: f64| {
        let scale = calibrate_scale(Mechanism::DiscreteLaplace, sensitivity, 1.0).expect("scale");
        confidence_half_width(Mechanism::DiscreteLaplace, scale, 1.0 - 1e-9).expect("half width") as i64
    };
    assert!((n - 2).abs() <= half(1.0), "noised count {n} too far from 2");
    assert!((total - 320).abs() <= half(f64::from(BOUND)), "noised sum {total} too far from 320");

    // Charged through the ledger: the composed cost of the two releases, at most the epsilon
    // of 2 asked for (each release is calibrated just below its half), recorded on the job.
    let job: i64 = schema.metadata()["shuyu.job"].parse().expect("job id");
    let charged = Nano::parse_decimal(&schema.metadata()["shuyu.charged"], "charged").expect("charged");
    assert!(charged.as_f64() <= 2.0 && charged.as_f64() > 1.999, "charged {charged}");
    let after = domain.store.budget(&jobs.analyst, jobs.authorization).expect("budget");
    assert_eq!(after.spent.saturating_sub(before.spent), charged);
    assert_eq!(after.reserved, before.reserved);
    let recorded = domain.store.job(&jobs.analyst, shuyu_governance::JobId(job)).expect("job");
    assert_eq!(recorded.status, shuyu_governance::JobStatus::Succeeded);
    assert_eq!(recorded.metering.releases, 2);

    // EXPLAIN PRIVACY of the fused query: its two releases and their total, answered at once
    // (not held for review), reading no ciphertext and spending nothing.
    let (_, explained) = query(&mut flight, &format!("EXPLAIN PRIVACY {sql}")).await.expect("explain");
    let e = &explained[0];
    let text = |c: usize, r: usize| e.column(c).as_string::<i32>().value(r).to_string();
    let number = |c: usize, r: usize| e.column(c).as_primitive::<arrow::datatypes::Float64Type>().value(r);
    assert_eq!(e.num_rows(), 3, "sum, count, total");
    assert_eq!((text(1, 0), text(1, 1), text(1, 2)), ("total".to_string(), "n".to_string(), "(total)".to_string()));
    assert!(text(2, 0).starts_with(&format!("sum(claim) under encryption (bootstrapped tier, bound {BOUND}")), "{}", text(2, 0));
    assert_eq!(text(2, 1), "count(*) under encryption", "the count is under the encrypted condition claim > 60");
    assert_eq!((text(3, 0), number(4, 0), number(4, 1)), ("discrete_laplace".to_string(), f64::from(BOUND), 1.0));
    assert!((number(6, 0) + number(6, 1) - 2.0).abs() < 1e-6 && (number(6, 2) - 2.0).abs() < 1e-6, "each release costs half of the epsilon 2 asked for");
    let scale = calibrate_scale(Mechanism::DiscreteLaplace, f64::from(BOUND), number(6, 0)).expect("scale");
    assert!((number(5, 0) - scale).abs() <= 1e-6 * scale, "the sum's scale is its sensitivity over its epsilon");
    assert_eq!(text(8, 0), "one row");
    let unchanged = domain.store.budget(&jobs.analyst, jobs.authorization).expect("budget");
    assert_eq!((unchanged.spent, unchanged.reserved), (after.spent, after.reserved), "EXPLAIN PRIVACY spends nothing");

    // A grouped fused query: public group keys (every key of the domain, empty ones included),
    // the count of plaintext matches noised in the clear, the sum under encryption on the
    // linear tier (no encrypted filter, and the column was converted at upload).
    let districts = {
        let ctx = SessionContext::new();
        let path = city().join("residents.parquet");
        ctx.register_parquet("residents", path.to_string_lossy().as_ref(), ParquetReadOptions::default()).await.expect("residents");
        let list = ids[..3].iter().map(|i| i.to_string()).collect::<Vec<_>>().join(",");
        let mut out = HashMap::new();
        for b in ctx.sql(&format!("SELECT person_id, district FROM residents WHERE person_id IN ({list})")).await.expect("sql").collect().await.expect("collect") {
            for r in 0..b.num_rows() {
                out.insert(b.column(0).as_primitive::<Int64Type>().value(r), b.column(1).as_string_view().value(r).to_string());
            }
        }
        out
    };
    let grouped = "SELECT r.district, COUNT(*) AS n, SUM(i.claim) AS total FROM imports.claims i \
                   JOIN residents r ON i.pseudonym = shuyu_pseudonym(r.person_id) WHERE r.age >= 18 GROUP BY r.district";
    let (_, explained) = query(&mut flight, &format!("EXPLAIN PRIVACY {grouped}")).await.expect("explain grouped");
    let measure = explained[0].column(2).as_string::<i32>().value(0).to_string();
    assert!(measure.starts_with(&format!("sum(claim) under encryption (linear tier, converted at import, bound {BOUND}")), "{measure}");
    // Prepared through Flight SQL: the runtime checks and calibrates the fused query and
    // answers its result schema, reading no ciphertext and spending nothing; executing the
    // prepared statement then runs it as any fused query.
    let before_prepare = domain.store.budget(&jobs.analyst, jobs.authorization).expect("budget");
    let mut prepared = flight.prepare(grouped.to_string(), None).await.expect("a fused query prepares");
    let planned = prepared.dataset_schema().expect("prepared schema").clone();
    let shape: Vec<(&str, &DataType)> = planned.fields().iter().map(|f| (f.name().as_str(), f.data_type())).collect();
    assert_eq!(shape, [("district", &DataType::Utf8), ("n", &DataType::Int64), ("total", &DataType::Int64)]);
    let unspent = domain.store.budget(&jobs.analyst, jobs.authorization).expect("budget");
    assert_eq!((unspent.spent, unspent.reserved), (before_prepare.spent, before_prepare.reserved), "preparing spends nothing");
    let refused = flight
        .prepare("SELECT i.claim, COUNT(*) AS n FROM imports.claims i GROUP BY i.claim".to_string(), None)
        .await
        .expect_err("grouping by an encrypted column is refused at prepare");
    assert_eq!(refusal_code(&refused).as_deref(), Some("ROW_LEVEL_OUTPUT"), "{}", message(&refused));
    let info = prepared.execute().await.expect("the prepared fused query executes");
    let (_, held) = fixture::fetch(&mut flight, info).await.expect("grouped fused query");
    let export = shuyu_governance::ExportId(held[0].column(0).as_primitive::<Int64Type>().value(0));
    domain.store.review_export(&domain.bureau, export, &shuyu_governance::ExportDecision::Approve).expect("approve");
    let (schema, batches) = query(&mut flight, &format!("FETCH EXPORT '{}'", export.0)).await.expect("released");
    assert_eq!(schema.fields().iter().map(|f| f.name().as_str()).collect::<Vec<_>>(), ["district", "n", "total"]);
    let b = &batches[0];
    let keys: Vec<String> = (0..b.num_rows()).map(|r| b.column(0).as_string::<i32>().value(r).to_string()).collect();
    let manifest = shuyu_datasets::demo_manifest("residents").expect("residents manifest");
    let domain_order = manifest.columns.iter().find(|c| c.name == "district").and_then(|c| c.public_domain.clone()).expect("district domain");
    assert_eq!(keys, domain_order, "every key of the public domain (12 districts), in domain order");
    for (r, key) in keys.iter().enumerate() {
        let members: Vec<usize> = (0..3).filter(|i| districts[&ids[*i]] == *key).collect();
        let (n_true, sum_true) = (members.len() as i64, members.iter().map(|i| i64::from(claims[*i])).sum::<i64>());
        let n = b.column(1).as_primitive::<Int64Type>().value(r);
        let total = b.column(2).as_primitive::<Int64Type>().value(r);
        assert!((n - n_true).abs() <= half(1.0), "group {key}: noised count {n} too far from {n_true}");
        assert!((total - sum_true).abs() <= half(f64::from(BOUND)), "group {key}: noised sum {total} too far from {sum_true}");
    }

    // What the keyholder received for the grouped release: twelve linear aggregates (the count
    // is noised in the clear) whose headers are identical although some districts hold adults
    // of the import and most hold none, the noise scale being the one EXPLAIN PRIVACY states.
    // (A linear ciphertext of an empty group still has a zero mask: the residual risk that
    // docs/encryption.md states under "What each party learns".)
    let linear_header = assert_uniform_release(&tapped.requests.lock().expect("lock")[1], shuyu_crypto::release::Tier::Linear, keys.len());
    let stated = explained[0].column(5).as_primitive::<arrow::datatypes::Float64Type>().value(0);
    assert_eq!(f64::from_le_bytes(linear_header[22..30].try_into().expect("8")), stated, "the public scale");
    let grant = shuyu_crypto::release::JobGrant::from_bytes(&tapped.grants.lock().expect("lock")[1]).expect("grant");
    assert_eq!(grant.values, keys.len() as u64, "the grant counts the public groups only");

    // A converted column that went missing (a restart interrupted its conversion, say) is
    // converted again when a query next loads the column; that query runs on the bootstrapped
    // tier meanwhile.
    std::fs::remove_file(filed.join(".converted").join("claim")).expect("remove the converted column");
    let (_, explained) = query(&mut flight, &format!("EXPLAIN PRIVACY {grouped}")).await.expect("explain grouped");
    let measure = explained[0].column(2).as_string::<i32>().value(0).to_string();
    assert!(measure.starts_with("sum(claim) under encryption (bootstrapped tier"), "{measure}");
    query(&mut flight, grouped).await.expect("grouped fused query on the bootstrapped tier");
    // The same release on the bootstrapped tier: identical headers and block metadata for every
    // group, no trivial block (an empty group's would be readable without the key).
    let boot_header = assert_uniform_release(&tapped.requests.lock().expect("lock")[2], shuyu_crypto::release::Tier::Bootstrapped, keys.len());
    let stated = explained[0].column(5).as_primitive::<arrow::datatypes::Float64Type>().value(0);
    assert_eq!(f64::from_le_bytes(boot_header[21..29].try_into().expect("8")), stated, "the public scale");
    let waited = std::time::Instant::now();
    while !enc.has_converted(&filed, "claim") {
        assert!(waited.elapsed() < std::time::Duration::from_secs(600), "the column was not converted again in 10 minutes");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }

    // The job's time limit covers the encrypted part: past it the job fails, the encrypted
    // work stops, nothing reaches the keyholder, and the charge stands (noise had been drawn).
    // The analyst reads the one generic text of every charged failure; the job record, for the
    // bureau, names the time limit.
    let hurried = Runtime::new(domain.store.clone(), shuyu::config::Limits { query_timeout_secs: 0, ..Default::default() }).with_encryption(encryption(&enc, &uri));
    let before_timeout = domain.store.budget(&jobs.analyst, jobs.authorization).expect("budget");
    let err = hurried.query(&jobs.analyst, jobs.authorization, sql, Some(2.0)).await.expect_err("no time to compute");
    assert!(err.to_string().starts_with("the query stopped after its budget was reserved"), "{err}");
    let shuyu_runtime::RuntimeError::Charged { job: stopped, .. } = err else { panic!("a charged failure, not {err}") };
    let stopped = domain.store.job(&domain.bureau, stopped).expect("job");
    assert_eq!(stopped.status, shuyu_governance::JobStatus::Failed);
    assert!(stopped.failure.as_deref().is_some_and(|f| f.contains("time limit")), "{:?}", stopped.failure);
    let after_timeout = domain.store.budget(&jobs.analyst, jobs.authorization).expect("budget");
    let spent = after_timeout.spent.saturating_sub(before_timeout.spent).as_f64();
    assert!(spent > 1.999 && spent <= 2.0, "the timed-out job is charged ({spent})");
    assert_eq!(after_timeout.reserved, before_timeout.reserved);

    // The keyholder journalled each job's grant and decryption, without values.
    let journal = std::fs::read_to_string(dir.path().join("journal")).expect("journal");
    assert_eq!(journal.lines().count(), 6, "three fused jobs, a grant and a decryption each; EXPLAIN reached no keyholder");
    assert_eq!((tapped.grants.lock().expect("lock").len(), tapped.requests.lock().expect("lock").len()), (3, 3));
    assert!(journal.contains(&format!("\"{job}\"")));

    // The suite's encrypted statements (slt/encrypted.slt), through the runtime and through
    // Flight SQL: refusals, EXPLAIN PRIVACY, and a fused query that runs.
    let terms = Terms { definition: shuyu_privacy::PrivacyDefinition::PureDp, delta: 0.0, dev: false };
    let library: Arc<dyn Backend> =
        Arc::new(RuntimeBackend { runtime: runner.clone(), call: shuyu_runtime::Call::prod(&jobs.analyst, jobs.authorization), terms });
    let wire: Arc<dyn Backend> = Arc::new(FlightBackend { client: client_at(addr, jobs).await, terms });
    for (via, backend) in [("library", library), ("flight-sql", wire)] {
        let report = slt::run_file(&slt::file("encrypted.slt"), backend, slt::default_budget("encrypted")).await;
        assert!(report.failures.is_empty(), "encrypted.slt via {via}:\n\n{}", report.failures.join("\n\n"));
        assert!(report.ran == 9 && report.skipped == 0, "encrypted.slt via {via}: every record runs: {report:?}");
    }
}
