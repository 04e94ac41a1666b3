//! The dev environment, results held for review, and metering, end to end over Flight SQL
//! (arrow-flight's client against `shuyu::server` on 127.0.0.1:0).

use shuyu_tests::fixture;

use std::collections::HashSet;
use std::fs::File;

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::{Int64Type, Schema};
use chrono::Duration;
use fixture::{city, code, message, query, rows, TestServer};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use shuyu_datasets::masking::REDACTED;
use shuyu_datasets::sample::load_samples_report;
use shuyu_governance::{
    AuditFilter, AuthorizationId, BudgetTerms, Environment, ExportDecision, ExportId, ExportPolicy, GrantedDataset, JobFilter, JobStatus,
    Mode, Nano, NewAuthorization, PrivacyTerms, Right, SignedManifest,
};
use shuyu_privacy::PrivacyDefinition;
use tonic::Code;

const GROUPED: &str = "SELECT district, COUNT(*) AS n FROM residents GROUP BY district ORDER BY district";

fn md<'a>(schema: &'a Schema, key: &str) -> &'a str {
    schema.metadata().get(key).map(String::as_str).unwrap_or_else(|| panic!("schema metadata lacks {key}: {:?}", schema.metadata()))
}

fn raw(table: &str) -> Vec<RecordBatch> {
    let file = File::open(city().join(format!("{table}.parquet"))).expect("raw parquet");
    ParquetRecordBatchReaderBuilder::try_new(file).expect("reader").build().expect("build").map(|b| b.expect("batch")).collect()
}

fn strings(batches: &[RecordBatch], column: &str) -> Vec<String> {
    batches.iter().flat_map(|b| b.column_by_name(column).expect("column").as_string::<i32>().iter().flatten().map(str::to_string).collect::<Vec<_>>()).collect()
}

fn ints(batches: &[RecordBatch], column: &str) -> Vec<i64> {
    batches.iter().flat_map(|b| b.column_by_name(column).expect("column").as_primitive::<Int64Type>().iter().flatten().collect::<Vec<_>>()).collect()
}

/// Grants `unit` another authorization (the bureau), for the tests' own scenarios.
fn grant(server: &TestServer, unit: shuyu_governance::UnitId, scenario: &str, datasets: Vec<GrantedDataset>, rights: Vec<Right>, policy: ExportPolicy) -> AuthorizationId {
    let store = &server.domain.store;
    let now = store.now();
    store
        .grant(
            &server.domain.bureau,
            &NewAuthorization {
                unit,
                scenario: scenario.into(),
                purpose: "testing the dev environment and export review".into(),
                partners: vec![],
                datasets,
                term_start: now - Duration::days(1),
                term_end: now + Duration::days(30),
                rights,
                mode: Mode::Free,
                privacy: PrivacyTerms { kind: PrivacyDefinition::PureDp, delta: 0.0 },
                budget: BudgetTerms { total: 5.0, per_query_cap: 1.0, per_query_default: 0.5, delta_total: None },
                export_policy: policy,
            },
        )
        .expect("grant")
}

fn cols(c: &[&str]) -> Vec<String> {
    c.iter().map(|s| s.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_returns_masked_sample_rows_spends_nothing_and_is_marked_dev_in_results_jobs_and_audit() {
    let server = TestServer::start().await;
    let health = server.health().clone();
    // A scenario granting the direct identifiers, to show they never leave unmasked.
    let auth = grant(
        &server,
        health.unit,
        "identity-check",
        vec![GrantedDataset { dataset: "residents".into(), columns: cols(&["person_id", "name", "id_number", "district", "age"]) }],
        vec![Right::ProcessingUse],
        ExportPolicy::Automatic,
    );
    let mut client = server.dev_client(&health).await;
    client.set_header("x-shuyu-authorization", auth.0.to_string());

    let (schema, batches) = query(&mut client, "SELECT * FROM residents").await.expect("row-level output is allowed in dev");
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(names, ["person_id", "name", "id_number", "district", "age"], "the granted columns only");
    assert_eq!(md(&schema, "shuyu.environment"), "dev");
    assert_eq!(md(&schema, "shuyu.charged"), "0");
    assert_eq!(md(&schema, "shuyu.authorization"), auth.0.to_string());
    let sampled = load_samples_report(&server.samples).expect("report").expect("samples").table("residents").expect("residents").rows;
    assert_eq!(rows(&batches) as u64, sampled);
    assert!(sampled > 0 && sampled < fixture::RESIDENTS, "a sample, not the table: {sampled}");

    let raw_residents = raw("residents");
    let raw_text: HashSet<String> = strings(&raw_residents, "name").into_iter().chain(strings(&raw_residents, "id_number")).collect();
    let raw_ids: HashSet<i64> = ints(&raw_residents, "person_id").into_iter().collect();
    for column in ["name", "id_number"] {
        let values = strings(&batches, column);
        assert_eq!(values.len() as u64, sampled);
        assert!(values.iter().all(|v| v == REDACTED && !raw_text.contains(v)), "{column} is redacted");
    }
    assert!(ints(&batches, "person_id").iter().all(|p| !raw_ids.contains(p)), "unit keys are hashed");
    assert!(ints(&batches, "age").iter().all(|a| a % 5 == 0), "ages generalised to five-year bands");

    let store = &server.domain.store;
    let budget = store.budget(&server.domain.bureau, auth).expect("budget");
    assert_eq!((budget.spent, budget.reserved), (Nano::ZERO, Nano::ZERO), "dev spends nothing");
    let job_id: i64 = md(&schema, "shuyu.job").parse().expect("job id");
    let jobs = store.jobs(&server.domain.bureau, &JobFilter { authorization: Some(auth), ..JobFilter::default() }).expect("jobs");
    let job = jobs.iter().find(|j| j.id.0 == job_id).expect("the job");
    assert_eq!((job.environment, job.status, job.cost), (Environment::Dev, JobStatus::Succeeded, Nano::ZERO));
    assert_eq!(job.metering.rows_scanned, sampled, "a full scan reads every row of the sample");
    assert!(job.metering.bytes_scanned > 0);
    assert!(!schema.metadata().contains_key("shuyu.rows_scanned"), "scan figures stay in the job record");

    let filter = AuditFilter { unit: Some(health.unit), action_prefix: Some("job.".into()), ..AuditFilter::default() };
    let records = store.audit_records(&server.domain.bureau, &filter).expect("audit");
    let of_job: Vec<_> = records.iter().filter(|r| r.object == job.id.to_string()).collect();
    assert_eq!(of_job.len(), 2, "created and finished: {of_job:?}");
    assert!(of_job.iter().all(|r| r.details["environment"] == "dev"), "{of_job:?}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_runs_plain_sql_over_the_samples_but_only_queries() {
    let server = TestServer::start().await;
    let health = server.health().clone();
    let mut client = server.dev_client(&health).await;
    // Joins on the hashed unit key match inside the samples (sampled by unit).
    let (_, batches) = query(&mut client, "SELECT COUNT(*) AS n FROM medical_visits v JOIN residents r ON v.person_id = r.person_id")
        .await
        .expect("join");
    let joined = batches[0].column(0).as_primitive::<Int64Type>().value(0);
    let visits = load_samples_report(&server.samples).expect("report").expect("samples").table("medical_visits").expect("visits").rows;
    assert_eq!(joined as u64, visits, "every sampled visit finds its sampled resident");
    // What prod refuses as row-level output or an unsupported aggregate runs in dev.
    let (_, batches) = query(&mut client, "SELECT district, MAX(age) FROM residents GROUP BY district").await.expect("MAX in dev");
    assert!(rows(&batches) > 0);
    // EXPLAIN PRIVACY plans privately over the samples: the prod plan and its cost.
    let (schema, _) = query(&mut client, &format!("EXPLAIN PRIVACY {GROUPED}")).await.expect("explain");
    assert_eq!(md(&schema, "shuyu.environment"), "dev");
    // Not a table outside the grant, nor a column outside it.
    let e = query(&mut client, "SELECT COUNT(*) FROM enterprises").await.expect_err("not granted");
    assert_eq!(code(&e), Code::InvalidArgument, "{}", message(&e));
    // No DDL: an external table over the raw files cannot be declared; nor files written.
    let raw_path = city().join("residents.parquet");
    let ddl = format!("CREATE EXTERNAL TABLE raw STORED AS PARQUET LOCATION '{}'", raw_path.display());
    let e = query(&mut client, &ddl).await.expect_err("DDL");
    assert_eq!(code(&e), Code::InvalidArgument, "{}", message(&e));
    let out = server.samples.join("copied.parquet");
    let e = query(&mut client, &format!("COPY (SELECT * FROM residents) TO '{}'", out.display())).await.expect_err("COPY");
    assert_eq!(code(&e), Code::InvalidArgument, "{}", message(&e));
    assert!(!out.exists());
    // A runaway result is cut at the row cap, and the server stays healthy.
    let e = query(&mut client, "SELECT a.age FROM residents a, residents b, residents c").await.expect_err("too many rows");
    assert_eq!(code(&e), Code::ResourceExhausted, "{}", message(&e));
    assert!(message(&e).contains("at most"), "{}", message(&e));
    let e = query(&mut client, "EXPLAIN SELECT * FROM residents").await.expect_err("plain EXPLAIN shows server paths");
    assert_eq!(code(&e), Code::InvalidArgument, "{}", message(&e));
    // Prepared statements plan plainly in dev too (prod would refuse this at prepare time).
    let mut stmt = client.prepare("SELECT person_id, age FROM residents".to_string(), None).await.expect("prepared in dev");
    let names: Vec<String> = stmt.dataset_schema().expect("schema").fields().iter().map(|f| f.name().clone()).collect();
    assert_eq!(names, ["person_id", "age"]);
    let info = stmt.execute().await.expect("executed");
    let (schema, batches) = fixture::fetch(&mut client, info).await.expect("rows");
    assert_eq!(md(&schema, "shuyu.environment"), "dev");
    let residents = load_samples_report(&server.samples).expect("report").expect("samples").table("residents").expect("residents").rows;
    assert_eq!(rows(&batches) as u64, residents);
    let budget = server.domain.store.budget(&server.domain.bureau, health.authorization).expect("budget");
    assert_eq!(budget.spent, Nano::ZERO);

    // A sample built under weaker rules than the catalog's is not served.
    let manifest_path = server.samples.join("residents.toml");
    let mut m = shuyu_datasets::TableManifest::from_toml(&std::fs::read_to_string(&manifest_path).expect("read")).expect("manifest");
    m.columns.iter_mut().find(|c| c.name == "age").expect("age").masking = Some(shuyu_datasets::MaskingRule::Keep);
    std::fs::write(&manifest_path, m.to_toml().expect("toml")).expect("write");
    let e = query(&mut client, "SELECT age FROM residents").await.expect_err("other rules");
    assert_eq!(code(&e), Code::FailedPrecondition, "{}", message(&e));
    assert!(message(&e).contains("other masking rules") && message(&e).contains("age"), "{}", message(&e));
    std::fs::remove_file(&manifest_path).expect("remove");
    let e = query(&mut client, "SELECT age FROM residents").await.expect_err("no sample");
    assert_eq!(code(&e), Code::FailedPrecondition, "{}", message(&e));
    assert!(message(&e).contains("no masked sample of table residents"), "{}", message(&e));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dev_only_server_answers_from_the_samples_without_raw_files_and_refuses_prod() {
    let server = TestServer::start_dev_only().await;
    let health = server.health().clone();
    let catalog = server.domain.store.dataset(&server.domain.bureau, "residents").expect("dataset");
    let location = catalog.location.expect("the bureau sees the location");
    assert!(!std::path::Path::new(&location).exists(), "the catalog's raw file is not on this server: {location}");

    let mut dev = server.dev_client(&health).await;
    let (schema, batches) = query(&mut dev, "SELECT COUNT(*) AS n FROM residents").await.expect("dev works without raw data");
    assert_eq!(md(&schema, "shuyu.environment"), "dev");
    let sampled = load_samples_report(&server.samples).expect("report").expect("samples").table("residents").expect("residents").rows;
    assert_eq!(batches[0].column(0).as_primitive::<Int64Type>().value(0) as u64, sampled);
    let info = dev.get_tables(arrow_flight::sql::CommandGetTables::default()).await.expect("dev tables");
    let (_, tables) = fixture::fetch(&mut dev, info).await.expect("table rows");
    assert_eq!(rows(&tables), 3);

    let mut prod = server.client(&health).await;
    for e in [
        query(&mut prod, GROUPED).await.expect_err("prod query"),
        prod.get_tables(arrow_flight::sql::CommandGetTables::default()).await.expect_err("prod tables"),
        query(&mut prod, "FETCH EXPORT '1'").await.expect_err("prod results"),
    ] {
        assert_eq!(code(&e), Code::FailedPrecondition, "{}", message(&e));
        assert!(message(&e).contains("serves only the dev environment"), "{}", message(&e));
    }
    let jobs = server.domain.store.jobs(&server.domain.bureau, &JobFilter::default()).expect("jobs");
    assert!(jobs.iter().all(|j| j.environment == Environment::Dev), "no prod job ever started here");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_result_under_review_is_held_charged_and_released_only_after_approval() {
    let server = TestServer::start().await;
    let (jobs, health) = (server.jobs().clone(), server.health().clone());
    let (store, bureau) = (server.domain.store.clone(), server.domain.bureau.clone());
    let mut client = server.client(&jobs).await;

    let (schema, batches) = query(&mut client, GROUPED).await.expect("held");
    assert_eq!(rows(&batches), 1, "a notice, not the result");
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(names, ["export", "status", "message"]);
    let export = ExportId(batches[0].column(0).as_primitive::<Int64Type>().value(0));
    assert_eq!(md(&schema, "shuyu.export"), export.0.to_string());
    assert_eq!(md(&schema, "shuyu.export_status"), "pending");
    let text = batches[0].column(2).as_string::<i32>().value(0).to_string();
    assert!(text.contains(&format!("FETCH EXPORT '{}'", export.0)), "{text}");
    // Charged when computed, not when released.
    assert_eq!(md(&schema, "shuyu.charged"), "1");
    assert_eq!(store.budget(&bureau, jobs.authorization).expect("budget").spent, Nano::parse_decimal("1", "x").expect("1"));

    let fetch = format!("FETCH EXPORT '{}'", export.0);
    let e = query(&mut client, &fetch).await.expect_err("pending");
    assert_eq!(code(&e), Code::FailedPrecondition, "{}", message(&e));
    assert!(message(&e).contains("waiting for the bureau's review"), "{}", message(&e));
    let mut other = server.client(&health).await;
    let e = query(&mut other, &fetch).await.expect_err("another unit's export");
    assert_eq!(code(&e), Code::InvalidArgument, "{}", message(&e));

    store.review_export(&bureau, export, &ExportDecision::Approve).expect("approve");
    let (schema, batches) = query(&mut client, &fetch).await.expect("released");
    assert_eq!(rows(&batches), 12, "every district");
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(names, ["district", "n"]);
    assert_eq!(md(&schema, "shuyu.export_status"), "approved");
    assert_eq!(md(&schema, "shuyu.environment"), "prod");
    let signed: SignedManifest = serde_json::from_str(md(&schema, "shuyu.export_manifest")).expect("manifest JSON");
    signed.verify(&store.domain_public_key()).expect("signed by the domain");
    assert_eq!(signed.manifest.query, GROUPED);
    let again = query(&mut client, &fetch).await.expect("released results may be fetched again").1;
    assert_eq!(again, batches);
    assert_eq!(store.budget(&bureau, jobs.authorization).expect("budget").spent, Nano::parse_decimal("1", "x").expect("1"), "fetching is free");

    // A rejected export never comes out.
    let (_, notice) = query(&mut client, GROUPED).await.expect("held again");
    let second = ExportId(notice[0].column(0).as_primitive::<Int64Type>().value(0));
    store.review_export(&bureau, second, &ExportDecision::Reject { reason: "too fine-grained".into() }).expect("reject");
    let e = query(&mut client, &format!("FETCH EXPORT {}", second.0)).await.expect_err("rejected");
    assert_eq!(code(&e), Code::PermissionDenied, "{}", message(&e));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn review_without_the_export_right_is_refused_before_anything_runs() {
    let server = TestServer::start().await;
    let jobs = server.jobs().clone();
    let auth = grant(
        &server,
        jobs.unit,
        "no-export",
        vec![GrantedDataset { dataset: "residents".into(), columns: cols(&["person_id", "district"]) }],
        vec![Right::ProcessingUse],
        ExportPolicy::Review,
    );
    let mut client = server.client(&jobs).await;
    client.set_header("x-shuyu-authorization", auth.0.to_string());
    let e = query(&mut client, GROUPED).await.expect_err("refused");
    assert_eq!(code(&e), Code::PermissionDenied, "{}", message(&e));
    assert!(message(&e).contains("product_operation"), "{}", message(&e));
    let budget = server.domain.store.budget(&server.domain.bureau, auth).expect("budget");
    assert_eq!((budget.spent, budget.reserved), (Nano::ZERO, Nano::ZERO));
    // EXPLAIN PRIVACY releases nothing, so it still answers.
    query(&mut client, &format!("EXPLAIN PRIVACY {GROUPED}")).await.expect("explain");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prod_jobs_meter_the_rows_and_bytes_their_scans_read() {
    let server = TestServer::start().await;
    let health = server.health().clone();
    let mut client = server.client(&health).await;
    let (schema, _) = query(&mut client, GROUPED).await.expect("answer");
    let job_id: i64 = md(&schema, "shuyu.job").parse().expect("job id");
    let store = &server.domain.store;
    let jobs = store.jobs(&server.domain.bureau, &JobFilter { authorization: Some(health.authorization), ..JobFilter::default() }).expect("jobs");
    let job = jobs.iter().find(|j| j.id.0 == job_id).expect("the job");
    let m = job.metering;
    // Each scan of the private plan reads the whole table: a positive multiple of its rows.
    assert!(m.rows_scanned >= fixture::RESIDENTS && m.rows_scanned % fixture::RESIDENTS == 0, "{m:?}");
    let file = std::fs::metadata(city().join("residents.parquet")).expect("file").len();
    assert!(m.bytes_scanned > 0 && m.bytes_scanned <= file * (m.rows_scanned / fixture::RESIDENTS), "{m:?} of a {file}-byte file");
    assert!(!schema.metadata().keys().any(|k| k.ends_with("_scanned")), "scan figures stay in the job record: {:?}", schema.metadata());
    assert!(m.releases > 0);
    // A refused query scans nothing.
    let e = query(&mut client, "SELECT person_id FROM residents").await.expect_err("refused");
    assert_eq!(code(&e), Code::PermissionDenied);
    let refused = store.jobs(&server.domain.bureau, &JobFilter { status: Some(JobStatus::Refused), ..JobFilter::default() }).expect("jobs");
    assert!(refused.iter().all(|j| j.metering.rows_scanned == 0));
    server.stop().await;
}
