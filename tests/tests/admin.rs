//! End to end over gRPC: the admin service and gRPC health on the same port as Flight SQL
//! (`shuyu::server` on 127.0.0.1:0, a fresh demo domain per test), and the `shuyu admin`
//! command line against a running server.

use shuyu_tests::fixture;

use arrow_flight::sql::client::FlightSqlServiceClient;
use fixture::{city, code, message, query, rows, TestServer};
use shuyu_proto::admin::v1 as pb;
use shuyu_proto::admin::v1::admin_client::AdminClient;
use tonic::transport::Channel;
use tonic::{Code, Request};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

const COPY_QUERY: &str = "SELECT district, COUNT(*) AS n FROM residents_2024 GROUP BY district ORDER BY district";

/// An admin client presenting `token` on every call.
#[derive(Clone)]
struct Admin {
    client: AdminClient<Channel>,
    token: String,
}

impl Admin {
    async fn connect(server: &TestServer, token: &str) -> Admin {
        let channel = Channel::from_shared(format!("http://{}", server.addr)).expect("uri").connect().await.expect("connect");
        Admin { client: AdminClient::new(channel), token: token.to_string() }
    }

    fn req<T>(&self, message: T) -> Request<T> {
        let mut r = Request::new(message);
        r.metadata_mut().insert("authorization", format!("Bearer {}", self.token).parse().expect("ascii token"));
        r
    }
}

/// Runs one admin call: `call!(admin, method, message)`.
macro_rules! call {
    ($admin:expr, $method:ident, $message:expr) => {{
        let a = &$admin;
        let request = a.req($message);
        a.client.clone().$method(request).await.map(tonic::Response::into_inner)
    }};
}

fn change(id: i64, reason: &str) -> pb::LifecycleRequest {
    pb::LifecycleRequest { id, reason: reason.into() }
}

/// A Flight SQL client of a person by token, naming an authorization.
async fn analyst(server: &TestServer, token: &str, authorization: i64) -> FlightSqlServiceClient<Channel> {
    let mut c = server.anonymous().await;
    c.set_token(token.to_string());
    c.set_header("x-shuyu-authorization", authorization.to_string());
    c
}

/// What the bureau sets up through gRPC: a new dataset, unit, analyst and authorization.
struct Admitted {
    unit: i64,
    person: i64,
    token: pb::IssuedToken,
    authorization: i64,
}

async fn admit(bureau: &Admin) -> Admitted {
    let manifest_toml = shuyu_datasets::demo::demo_manifest_toml("residents").expect("residents manifest").replace(
        "name = \"residents\"",
        "name = \"residents_2024\"",
    );
    let location = city().join("residents.parquet").to_string_lossy().into_owned();
    let dataset = call!(bureau, register_dataset, pb::RegisterDatasetRequest { manifest_toml, location: location.clone() }).expect("register");
    assert_eq!((dataset.name.as_str(), dataset.classification.as_str(), dataset.location.as_str()), ("residents_2024", "sensitive", location.as_str()));

    let unit = call!(bureau, create_unit, pb::CreateUnitRequest { name: "nanguan-transit".into(), credit_code: credit_code("91220103MA0000003") })
        .expect("create unit");
    assert_eq!(unit.status, "active");
    let person = call!(
        bureau,
        create_person,
        pb::CreatePersonRequest { name: "赵静".into(), id_number: id_number("22010319920101004"), role: "unit_analyst".into(), unit: Some(unit.id), provider: None }
    )
    .expect("create person");
    let token = call!(bureau, issue_token, pb::IssueTokenRequest { person: person.id, ttl_days: 7 }).expect("issue token");
    let grant = residents_grant(unit.id, "transit", "bus network planning by district", &["person_id", "district", "age"], 90);
    let auth = call!(bureau, grant_authorization, grant).expect("grant");
    assert_eq!((auth.status.as_str(), auth.unit), ("active", unit.id));
    let budget = auth.budget.expect("budget");
    assert_eq!((budget.unit.as_str(), budget.total.as_str(), budget.spent.as_str(), budget.remaining.as_str()), ("epsilon", "3", "0", "3"));
    Admitted { unit: unit.id, person: person.id, token, authorization: auth.id }
}

/// A pure-ε grant over `residents_2024` (total 3, cap 1, default 0.5, automatic export),
/// from yesterday for `days` days.
fn residents_grant(unit: i64, scenario: &str, purpose: &str, columns: &[&str], days: i64) -> pb::GrantAuthorizationRequest {
    let now = chrono::Utc::now();
    pb::GrantAuthorizationRequest {
        unit,
        scenario: scenario.into(),
        purpose: purpose.into(),
        datasets: vec![pb::GrantedDataset { dataset: "residents_2024".into(), columns: columns.iter().map(|c| c.to_string()).collect() }],
        term_start: (now - chrono::Duration::days(1)).to_rfc3339(),
        term_end: (now + chrono::Duration::days(days)).to_rfc3339(),
        rights: vec!["processing_use".into()],
        privacy: "pure_dp".into(),
        budget_total: 3.0,
        per_query_cap: 1.0,
        per_query_default: 0.5,
        export_policy: "automatic".into(),
        ..Default::default()
    }
}

/// A valid resident ID number from its first 17 digits (with its check character).
fn id_number(first17: &str) -> String {
    let check = shuyu_governance::validate::id_number_check_char(first17).expect("17 digits");
    format!("{first17}{check}")
}

/// A valid unified social credit code from its first 17 characters.
fn credit_code(first17: &str) -> String {
    let check = shuyu_governance::validate::credit_code_check_char(first17).expect("17 characters");
    format!("{first17}{check}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bureau_administers_over_grpc_and_flight_sql_sees_each_change_on_the_next_call() {
    let server = TestServer::start().await;
    let bureau = Admin::connect(&server, &server.domain.bureau_token).await;
    let new = admit(&bureau).await;

    // The new analyst queries the newly registered dataset under the new authorization.
    let mut flight = analyst(&server, &new.token.token, new.authorization).await;
    let (_, batches) = query(&mut flight, COPY_QUERY).await.expect("the granted query runs");
    assert_eq!(rows(&batches), 12, "one row per district");
    let shown = call!(bureau, get_authorization, pb::GetAuthorizationRequest { id: new.authorization }).expect("show");
    let budget = shown.budget.expect("budget");
    assert_eq!(budget.spent, "0.5", "the per-query default was charged");
    assert_eq!(budget.remaining, "2.5");

    // Suspension and reinstatement of the unit take effect on the next call.
    call!(bureau, suspend_unit, change(new.unit, "late annual report")).expect("suspend unit");
    let e = query(&mut flight, COPY_QUERY).await.expect_err("suspended unit");
    assert_eq!(code(&e), Code::PermissionDenied, "{}", message(&e));
    assert!(message(&e).contains("suspended"), "says why: {}", message(&e));
    call!(bureau, reinstate_unit, change(new.unit, "report filed")).expect("reinstate unit");
    query(&mut flight, COPY_QUERY).await.expect("answers again once reinstated");

    // So do those of the authorization.
    call!(bureau, suspend_authorization, change(new.authorization, "audit")).expect("suspend authorization");
    let e = query(&mut flight, COPY_QUERY).await.expect_err("suspended authorization");
    assert_eq!(code(&e), Code::PermissionDenied, "{}", message(&e));
    let listed = call!(bureau, list_authorizations, pb::ListAuthorizationsRequest { unit: Some(new.unit) }).expect("list");
    assert_eq!(listed.authorizations.iter().map(|a| (a.id, a.status.as_str())).collect::<Vec<_>>(), [(new.authorization, "suspended")]);
    call!(bureau, reinstate_authorization, change(new.authorization, "audit done")).expect("reinstate authorization");
    query(&mut flight, COPY_QUERY).await.expect("answers again");

    // Revoking the authorization ends it; revoking the unit ends its tokens.
    let revoked = call!(bureau, revoke_authorization, change(new.authorization, "scenario ended")).expect("revoke authorization");
    assert_eq!(revoked.revocation.expect("report").authorizations_revoked, [new.authorization]);
    let e = query(&mut flight, COPY_QUERY).await.expect_err("revoked authorization");
    assert_eq!(code(&e), Code::PermissionDenied, "{}", message(&e));
    let revoked = call!(bureau, revoke_unit, change(new.unit, "licence withdrawn")).expect("revoke unit").revocation.expect("report");
    assert!(revoked.credentials_revoked >= 1, "{revoked:?}");
    let e = query(&mut flight, COPY_QUERY).await.expect_err("revoked unit");
    assert_eq!(code(&e), Code::Unauthenticated, "its tokens ended with it: {}", message(&e));
    let unit = call!(bureau, get_unit, pb::GetUnitRequest { id: new.unit }).expect("show unit");
    assert_eq!(unit.status, "revoked");

    // The other units were never touched.
    let mut health = server.client(server.health()).await;
    query(&mut health, "SELECT district, COUNT(*) AS n FROM residents GROUP BY district").await.expect("other units unaffected");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_secret_is_shown_once_and_works_until_revoked() {
    let server = TestServer::start().await;
    let bureau = Admin::connect(&server, &server.domain.bureau_token).await;
    let new = admit(&bureau).await;
    assert_eq!(new.token.person, new.person);
    assert!(new.token.token.len() >= 32, "a long random secret");

    let listed = call!(bureau, list_tokens, pb::ListTokensRequest { person: new.person }).expect("list tokens");
    assert_eq!(listed.tokens.iter().map(|t| t.credential).collect::<Vec<_>>(), [new.token.credential]);
    assert!(listed.tokens[0].revoked_at.is_none());
    // No later reply carries the secret.
    let replies = [
        format!("{listed:?}"),
        format!("{:?}", call!(bureau, get_person, pb::GetPersonRequest { id: new.person }).expect("person")),
        format!("{:?}", call!(bureau, query_audit, pb::QueryAuditRequest::default()).expect("audit")),
    ];
    for reply in &replies {
        assert!(!reply.contains(&new.token.token), "the secret was sent again");
    }

    let mut flight = analyst(&server, &new.token.token, new.authorization).await;
    query(&mut flight, COPY_QUERY).await.expect("the token works");
    call!(bureau, revoke_token, pb::RevokeTokenRequest { credential: new.token.credential }).expect("revoke token");
    let e = query(&mut flight, COPY_QUERY).await.expect_err("revoked token");
    assert_eq!(code(&e), Code::Unauthenticated);
    let listed = call!(bureau, list_tokens, pb::ListTokensRequest { person: new.person }).expect("list tokens");
    assert!(listed.tokens[0].revoked_at.is_some());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analysts_are_refused_and_supervisors_may_only_read() {
    let server = TestServer::start().await;
    let bureau = Admin::connect(&server, &server.domain.bureau_token).await;
    let health_unit = server.health().unit.0;

    // Analysts: no admin call at all, read or write.
    let analyst = Admin::connect(&server, &server.health().token).await;
    let e = call!(analyst, list_units, pb::ListUnitsRequest {}).expect_err("analyst lists");
    assert_eq!(e.code(), Code::PermissionDenied, "{}", e.message());
    assert!(e.message().contains("Arrow Flight SQL"), "says where analysts go: {}", e.message());
    let e = call!(analyst, get_authorization, pb::GetAuthorizationRequest { id: server.health().authorization.0 }).expect_err("own authorization");
    assert_eq!(e.code(), Code::PermissionDenied);
    let e = call!(analyst, reinstate_unit, change(health_unit, "self-service")).expect_err("analyst writes");
    assert_eq!(e.code(), Code::PermissionDenied);

    // No token, or a forged one.
    let e = call!(Admin::connect(&server, "forged").await, list_units, pb::ListUnitsRequest {}).expect_err("forged");
    assert_eq!(e.code(), Code::Unauthenticated);
    let mut bare = AdminClient::new(Channel::from_shared(format!("http://{}", server.addr)).expect("uri").connect().await.expect("connect"));
    let e = bare.list_units(pb::ListUnitsRequest {}).await.expect_err("no token");
    assert_eq!(e.code(), Code::Unauthenticated);
    assert!(e.message().contains("Bearer"), "says what to send: {}", e.message());

    // A supervisor, registered and issued a token by the bureau over gRPC.
    let person = call!(
        bureau,
        create_person,
        pb::CreatePersonRequest { name: "孙丽".into(), id_number: id_number("22010619750505005"), role: "supervisor".into(), unit: None, provider: None }
    )
    .expect("supervisor");
    let token = call!(bureau, issue_token, pb::IssueTokenRequest { person: person.id, ttl_days: 1 }).expect("token");
    let supervisor = Admin::connect(&server, &token.token).await;
    let units = call!(supervisor, list_units, pb::ListUnitsRequest {}).expect("supervisor lists units");
    assert_eq!(units.units.iter().map(|u| u.name.as_str()).collect::<Vec<_>>(), ["chunhe-health", "beilin-jobs"]);
    let auths = call!(supervisor, list_authorizations, pb::ListAuthorizationsRequest { unit: None }).expect("supervisor lists authorizations");
    assert_eq!(auths.authorizations.len(), 2);
    call!(supervisor, list_datasets, pb::ListDatasetsRequest {}).expect("supervisor reads the catalog");
    call!(supervisor, query_audit, pb::QueryAuditRequest::default()).expect("supervisor reads the audit trail");
    call!(supervisor, verify_audit, pb::VerifyAuditRequest {}).expect("supervisor verifies the chain");
    let from = (chrono::Utc::now() - chrono::Duration::days(1)).to_rfc3339();
    let report = call!(supervisor, unit_report, pb::UnitReportRequest { unit: health_unit, from, to: String::new() }).expect("report");
    let doc: serde_json::Value = serde_json::from_str(&report.json).expect("report JSON");
    assert_eq!(doc["unit"]["name"], "chunhe-health");
    assert!(report.markdown.starts_with("# Operation report: chunhe-health"), "{}", report.markdown);

    let e = call!(supervisor, suspend_unit, change(health_unit, "overreach")).expect_err("supervisor writes");
    assert_eq!(e.code(), Code::PermissionDenied);
    assert!(e.message().contains("read-only"), "{}", e.message());
    let e = call!(supervisor, issue_token, pb::IssueTokenRequest { person: person.id, ttl_days: 1 }).expect_err("supervisor issues");
    assert_eq!(e.code(), Code::PermissionDenied);
    let e = call!(supervisor, create_unit, pb::CreateUnitRequest { name: "x".into(), credit_code: credit_code("91220103MA0000003") }).expect_err("create");
    assert_eq!(e.code(), Code::PermissionDenied);
    // Nothing changed.
    let unit = call!(bureau, get_unit, pb::GetUnitRequest { id: health_unit }).expect("unit");
    assert_eq!(unit.status, "active");
    assert_eq!(call!(bureau, list_units, pb::ListUnitsRequest {}).expect("units").units.len(), 2);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_clear_codes_and_change_nothing() {
    let server = TestServer::start().await;
    let bureau = Admin::connect(&server, &server.domain.bureau_token).await;
    let e = call!(bureau, get_unit, pb::GetUnitRequest { id: 999 }).expect_err("no such unit");
    assert_eq!(e.code(), Code::NotFound);
    let e = call!(bureau, register_dataset, pb::RegisterDatasetRequest { manifest_toml: "name = ".into(), location: "x".into() }).expect_err("bad toml");
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("manifest"), "{}", e.message());
    let grant = pb::GrantAuthorizationRequest { unit: server.health().unit.0, privacy: "epsilon".into(), term_end: "2030-01-01T00:00:00Z".into(), ..Default::default() };
    let e = call!(bureau, grant_authorization, grant).expect_err("bad privacy");
    assert_eq!(e.code(), Code::InvalidArgument);
    assert_eq!(e.message(), "privacy must be one of: pure_dp, zcdp");
    let e = call!(bureau, suspend_unit, change(server.health().unit.0, "")).expect_err("no reason");
    assert_eq!(e.code(), Code::InvalidArgument, "{}", e.message());
    let e = call!(bureau, reinstate_unit, change(server.health().unit.0, "not suspended")).expect_err("not suspended");
    assert_eq!(e.code(), Code::FailedPrecondition, "{}", e.message());
    let unit = call!(bureau, get_unit, pb::GetUnitRequest { id: server.health().unit.0 }).expect("unit");
    assert_eq!(unit.status, "active");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_false_declaration_is_refused_at_registration_with_a_count_and_no_value() {
    let server = TestServer::start().await;
    let bureau = Admin::connect(&server, &server.domain.bureau_token).await;
    // medical_visits has many visits per person: declaring one row per unit is false.
    let manifest_toml = shuyu_datasets::demo::demo_manifest_toml("medical_visits")
        .expect("manifest")
        .replace("name = \"medical_visits\"", "name = \"visits_claimed_unique\"")
        .replace("rows_per_unit = \"many\"", "rows_per_unit = \"one\"");
    let location = city().join("medical_visits.parquet").to_string_lossy().into_owned();
    let e = call!(bureau, register_dataset, pb::RegisterDatasetRequest { manifest_toml, location }).expect_err("false declaration");
    assert_eq!(e.code(), Code::InvalidArgument, "{}", e.message());
    assert!(e.message().starts_with("person_id is declared one row per unit (rows_per_unit = \"one\"), but one of its values occurs "), "{}", e.message());
    assert!(e.message().ends_with("times; fix the manifest (rows_per_unit = \"many\") or the data"), "{}", e.message());
    // All the message says of the data is the count: a number of at least 2, no person id.
    let count = e.message().split("occurs ").nth(1).and_then(|t| t.split(' ').next()).and_then(|n| n.parse::<u64>().ok());
    assert!(count.is_some_and(|n| n >= 2), "{}", e.message());
    let e = call!(bureau, get_dataset, pb::GetDatasetRequest { name: "visits_claimed_unique".into() }).expect_err("not registered");
    assert_eq!(e.code(), Code::NotFound);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bureau_caps_a_units_privacy_loss_on_a_dataset_across_its_authorizations() {
    let server = TestServer::start().await;
    let bureau = Admin::connect(&server, &server.domain.bureau_token).await;
    let new = admit(&bureau).await;
    let cap = pb::SetLossCapRequest { unit: new.unit, dataset: "residents_2024".into(), epsilon: 0.7, delta: 0.0 };
    let loss = call!(bureau, set_loss_cap, cap).expect("cap");
    assert_eq!((loss.epsilon.as_str(), loss.cap_epsilon.as_deref(), loss.remaining_epsilon.as_deref()), ("0", Some("0.7"), Some("0.7")));

    // One query at the default 0.5 fits; a second, under a second authorization over the
    // same dataset, would make 1.0 > 0.7 and is refused before anything runs.
    let mut flight = analyst(&server, &new.token.token, new.authorization).await;
    query(&mut flight, COPY_QUERY).await.expect("first query");
    let second = residents_grant(new.unit, "transit-2", "a second study of the same residents", &["person_id", "district"], 30);
    let second = call!(bureau, grant_authorization, second).expect("second grant");
    let mut other = analyst(&server, &new.token.token, second.id).await;
    let e = query(&mut other, COPY_QUERY).await.expect_err("past the cap");
    assert_eq!(code(&e), Code::ResourceExhausted, "{}", message(&e));
    assert!(message(&e).contains("on dataset residents_2024") && message(&e).contains("epsilon 0.2"), "{}", message(&e));
    let budget = call!(bureau, get_authorization, pb::GetAuthorizationRequest { id: second.id }).expect("show").budget.expect("budget");
    assert_eq!((budget.spent.as_str(), budget.delta_total.as_str(), budget.delta_remaining.as_str()), ("0", "0", "0"), "nothing was charged");

    let losses = call!(bureau, list_privacy_losses, pb::ListPrivacyLossesRequest { unit: Some(new.unit), dataset: None }).expect("losses").losses;
    assert_eq!(losses.len(), 1);
    let l = &losses[0];
    assert_eq!((l.dataset.as_str(), l.epsilon.as_str(), l.delta.as_str(), l.authorizations.clone()), ("residents_2024", "0.5", "0", vec![new.authorization, second.id]));

    // Without the cap the same query runs.
    call!(bureau, clear_loss_cap, pb::ClearLossCapRequest { unit: new.unit, dataset: "residents_2024".into() }).expect("uncap");
    query(&mut other, COPY_QUERY).await.expect("uncapped");
    let filter = pb::QueryAuditRequest { unit: Some(new.unit), action_prefix: Some("loss.".into()), ..Default::default() };
    let actions: Vec<String> = call!(bureau, query_audit, filter).expect("audit").records.into_iter().map(|r| r.action).collect();
    assert_eq!(actions, ["loss.cap_set", "loss.cap_clear"]);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_change_is_in_the_audit_trail_and_the_chain_verifies_over_the_api() {
    let server = TestServer::start().await;
    let bureau = Admin::connect(&server, &server.domain.bureau_token).await;
    let unit = server.jobs().unit.0;
    call!(bureau, suspend_unit, change(unit, "inspection")).expect("suspend");
    call!(bureau, reinstate_unit, change(unit, "inspection passed")).expect("reinstate");

    let filter = pb::QueryAuditRequest { unit: Some(unit), action_prefix: Some("unit.".into()), ..Default::default() };
    let records = call!(bureau, query_audit, filter).expect("query").records;
    let actions: Vec<(&str, &str)> = records.iter().map(|r| (r.action.as_str(), r.outcome.as_str())).collect();
    assert_eq!(actions, [("unit.create", "ok"), ("unit.suspend", "ok"), ("unit.reinstate", "ok")]);
    assert!(records.iter().all(|r| r.actor_person == Some(server.domain.bureau.person_id.0) && r.role == "bureau_admin"));
    assert!(records[1].details_json.contains("inspection"), "{}", records[1].details_json);

    let all = call!(bureau, query_audit, pb::QueryAuditRequest::default()).expect("all").records;
    let verified = call!(bureau, verify_audit, pb::VerifyAuditRequest {}).expect("verify");
    let last = all.last().expect("records");
    assert_eq!((verified.head_seq, verified.head_hash.as_str()), (last.seq, last.hash.as_str()));
    assert_eq!(verified.records, all.len() as u64);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_reports_both_services_serving_on_the_same_port() {
    let server = TestServer::start().await;
    let channel = Channel::from_shared(format!("http://{}", server.addr)).expect("uri").connect().await.expect("connect");
    let mut health = HealthClient::new(channel);
    for service in ["", "shuyu.admin.v1.Admin", "arrow.flight.protocol.FlightService"] {
        let reply = health.check(HealthCheckRequest { service: service.into() }).await.expect("check").into_inner();
        assert_eq!(reply.status(), ServingStatus::Serving, "{service:?}");
    }
    let e = health.check(HealthCheckRequest { service: "no.such.Service".into() }).await.expect_err("unknown");
    assert_eq!(e.code(), Code::NotFound);
    server.stop().await;
}

/// Columns a line takes in a terminal: East Asian wide characters (the demo's Chinese
/// purposes) take two.
fn display_width(line: &str) -> usize {
    let wide = |c: char| matches!(c, '\u{1100}'..='\u{115F}' | '\u{2E80}'..='\u{A4CF}' | '\u{AC00}'..='\u{D7A3}' | '\u{F900}'..='\u{FAFF}' | '\u{FF00}'..='\u{FF60}');
    line.chars().map(|c| if wide(c) { 2 } else { 1 }).sum()
}

/// Runs the `shuyu` binary with `args` and `env`, returning (success, stdout, stderr).
async fn shuyu(args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let mut cmd = tokio::process::Command::new(fixture::shuyu_bin());
    cmd.args(args).env_remove("SHUYU_TOKEN").env_remove("SHUYU_ENDPOINT").env("RUST_LOG", "off");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().await.expect("run shuyu");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_command_line_prints_json_tables_and_refusals() {
    let server = TestServer::start().await;
    let endpoint = format!("grpc://{}", server.addr);
    let bureau = [("SHUYU_TOKEN", server.domain.bureau_token.as_str())];

    let (ok, out, err) = shuyu(&["admin", "--endpoint", &endpoint, "--output", "json", "unit", "list"], &bureau).await;
    assert!(ok, "{err}");
    let reply: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    let names: Vec<&str> = reply["units"].as_array().expect("units").iter().map(|u| u["name"].as_str().expect("name")).collect();
    assert_eq!(names, ["chunhe-health", "beilin-jobs"]);

    // Suspend through the command line; Flight SQL refuses on the next call.
    let unit = server.health().unit.0.to_string();
    let (ok, _, err) = shuyu(&["admin", "--endpoint", &endpoint, "unit", "suspend", &unit, "--reason", "inspection"], &bureau).await;
    assert!(ok, "{err}");
    let mut flight = server.client(server.health()).await;
    let e = query(&mut flight, "SELECT district, COUNT(*) AS n FROM residents GROUP BY district").await.expect_err("suspended");
    assert_eq!(code(&e), Code::PermissionDenied);

    // Table output: aligned columns, the authorization's budget flattened.
    let (ok, out, err) = shuyu(&["admin", "--endpoint", &endpoint, "authorization", "list"], &bureau).await;
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().filter(|l| !l.is_empty()).collect();
    assert!(lines[1].contains("| id ") && lines[1].contains("budget.remaining"), "{out}");
    assert_eq!(lines.len(), 6, "border, header, border, two rows, border: {out}");
    assert!(lines.iter().all(|l| display_width(l) == display_width(lines[0])), "aligned: {out}");

    // The credentials file of `shuyu demo` gives endpoint and token.
    let dir = tempfile::tempdir().expect("temp dir");
    let creds = dir.path().join("credentials.json");
    let body = serde_json::json!({ "flight_sql_uri": endpoint, "bureau_token": server.domain.bureau_token, "units": [] });
    std::fs::write(&creds, body.to_string()).expect("write credentials");
    let (ok, out, err) = shuyu(&["admin", "--credentials", &creds.to_string_lossy(), "--output", "json", "audit", "verify"], &[]).await;
    assert!(ok, "{err}");
    let verified: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert!(verified["records"].as_u64().expect("records") > 0);

    // An analyst's token is refused with the server's code and reason, on stderr.
    let (ok, out, err) = shuyu(&["admin", "--endpoint", &endpoint, "unit", "list"], &[("SHUYU_TOKEN", server.jobs().token.as_str())]).await;
    assert!(!ok && out.is_empty());
    assert!(err.contains("PermissionDenied") && err.contains("analysts"), "{err}");
    // The token is never echoed, not even by --help.
    let (_, help, _) = shuyu(&["admin", "--help"], &[("SHUYU_TOKEN", "sy_do_not_print_me")]).await;
    assert!(help.contains("--token") && !help.contains("sy_do_not_print_me"), "{help}");
    // No endpoint: a usage error saying how to name one.
    let (ok, _, err) = shuyu(&["admin", "unit", "list"], &bureau).await;
    assert!(!ok && err.contains("--endpoint"), "{err}");
    server.stop().await;
}
