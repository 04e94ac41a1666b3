//! Encrypted social data end to end: custodian keys and `shuyu encrypt` (the library calls
//! behind the commands: the shared target directory's binary may be another build's), upload
//! and verification over gRPC, the bureau's approval, fused SQL over Flight SQL, decryption by
//! a keyholder on loopback, a noised result charged to the budget; refusals of every
//! unsupported use and of unapproved imports.
//!
//! One test shares the expensive set-up (TFHE keys take seconds; each encrypted operation a
//! fraction of one): the bundle has four rows.

mod common;

use std::path::Path;
use std::sync::Arc;

use arrow::array::{AsArray, Int64Array};
use arrow::datatypes::Int64Type;
use common::{city, code, message, query};
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use shuyu::config::Config;
use shuyu::demo::bootstrap;
use shuyu::encrypted::{custodian, EncryptionContext};
use shuyu::runner::Runner;
use shuyu_governance::Nano;
use shuyu_compute::noise::{calibrate_scale, confidence_half_width, Mechanism};
use shuyu_proto::imports::v1::imports_client::ImportsClient;
use shuyu_proto::imports::v1::{GetEncryptionParametersRequest, UploadChunk};
use arrow_flight::sql::client::FlightSqlServiceClient;
use tonic::transport::Channel;
use tonic::Code;

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

async fn upload(client: &mut ImportsClient<Channel>, bundle: &Path, token: &str, auth: i64) -> Result<i64, tonic::Status> {
    let mut chunks = vec![UploadChunk { name: "claims".into(), description: "partner insurer's 2025 claims".into(), ..Default::default() }];
    for entry in std::fs::read_dir(bundle).expect("bundle dir") {
        let entry = entry.expect("entry");
        let data = std::fs::read(entry.path()).expect("read");
        for piece in data.chunks(1 << 20) {
            chunks.push(UploadChunk { file: entry.file_name().to_string_lossy().into(), data: piece.to_vec(), ..Default::default() });
        }
    }
    let r = client.upload_bundle(with_auth(futures::stream::iter(chunks), token, auth)).await?;
    assert_eq!(r.get_ref().rows, 4);
    assert_eq!(r.get_ref().columns, vec![format!("claim:{BOUND}:bootstrapped")]);
    Ok(r.get_ref().import_id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custodian_import_approval_fused_query_keyholder_release_and_refusals() {
    let dir = tempfile::tempdir().expect("tmp");
    let keys = dir.path().join("keys");
    let k = keys.clone();
    tokio::task::spawn_blocking(move || custodian::generate_keys(&k)).await.expect("join").expect("keys generate");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(keys.join("custodian.key")).expect("key").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the custodian's secret key is private");
    }

    // The domain: demo governance, its CRS, the keyholder on loopback, the server.
    let domain = bootstrap(&dir.path().join("domain"), city()).expect("domain");
    let kh_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let kh_addr = kh_listener.local_addr().expect("addr");
    let verifying = ed25519_dalek::VerifyingKey::from_bytes(&domain.store.domain_public_key()).expect("key");
    let keyholder = shuyu::encrypted::keyholder::open(&keys, verifying, &dir.path().join("journal")).expect("keyholder");
    tokio::spawn(shuyu::encrypted::keyholder::run(kh_listener, keyholder, std::future::pending()));
    let (k, crs_path, uri) = (keys.join("domain.keys"), dir.path().join("crs.bin"), format!("http://{kh_addr}"));
    let enc = tokio::task::spawn_blocking(move || EncryptionContext::load(&k, &crs_path, TEST_CRS_BITS, uri)).await.expect("join").expect("context");
    let runner = Arc::new(Runner::new(domain.store.clone(), Default::default()).with_encryption(Arc::new(enc)));
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
    let options = custodian::EncryptOptions {
        keys: keys.clone(),
        input,
        key_column: "person_id".into(),
        pseudonym_key: pseudonym_file,
        crs: Some(crs_file),
        authorization: auth,
        columns: vec![custodian::parse_column(&format!("claim:{BOUND}")).expect("column")],
        out: bundle.clone(),
        progress: false,
    };
    let manifest = custodian::encrypt(&options).await.expect("shuyu encrypt");
    assert_eq!(manifest.rows, 4);

    // Upload: verified (proofs, one row per person) and requested from the bureau.
    let import = upload(&mut imports, &bundle, &jobs.token, auth).await.expect("upload");

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
    assert_eq!(common::rows(&batches), 1);
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

    // The keyholder journalled the grant and the decryption, without values.
    let journal = std::fs::read_to_string(dir.path().join("journal")).expect("journal");
    assert_eq!(journal.lines().count(), 2);
    assert!(journal.contains(&format!("\"{job}\"")));
}
