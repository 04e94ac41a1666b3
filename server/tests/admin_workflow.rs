//! The authorization workflow over the real admin gRPC service: the server on 127.0.0.1:0
//! over a fresh demo domain, each party with its own token. An announcement, an
//! application, its qualification review, two expert opinions, the decision and the
//! agreement that admits the unit; the new unit's data request, approved by the bureau and
//! the provider of each dataset, then granted; quality issues filed, routed and answered;
//! evaluations and rectifications. Each wrong step is refused with the gRPC code of its
//! fault and a message saying what to do; the command line (`shuyu admin …`, the binary
//! cargo built for this test) drives the same service.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use chrono::{Duration, Utc};
use shuyu_proto::admin::v1 as pb;
use shuyu_proto::admin::v1::admin_client::AdminClient;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::Channel;
use tonic::{Code, Request, Status};

/// The provider of `residents` in the demo manifests.
const RESIDENTS_PROVIDER: &str = "长春市公安局人口管理";
/// The provider of `districts`.
const DISTRICTS_PROVIDER: &str = "长春市统计局";
/// The provider of `enterprises` (named by no request here).
const ENTERPRISES_PROVIDER: &str = "长春市市场监督管理局";

static CITY: OnceLock<(tempfile::TempDir, std::path::PathBuf)> = OnceLock::new();

/// A small generated city, once per test binary.
fn city() -> &'static Path {
    &CITY
        .get_or_init(|| {
            let tmp = tempfile::tempdir().expect("temp dir");
            let out = tmp.path().join("datasets");
            shuyu_datasets::generate::generate(&shuyu_datasets::generate::GenerateOptions::new(500, &out, 11)).expect("generate the city");
            (tmp, out)
        })
        .1
}

/// A running server over a fresh demo domain.
struct Server {
    addr: SocketAddr,
    bureau_token: String,
    /// The analyst of the demo's first unit.
    analyst_token: String,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), shuyu::Error>>>,
    _dir: tempfile::TempDir,
}

impl Server {
    async fn start() -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let domain = shuyu::demo::bootstrap(&dir.path().join("domain"), city()).expect("demo domain");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind port 0");
        let addr = listener.local_addr().expect("local addr");
        let config = shuyu::config::Config { listen: addr, data_dir: dir.path().to_path_buf(), ..shuyu::config::Config::default() };
        let (tx, rx) = oneshot::channel::<()>();
        let store = domain.store.clone();
        let task = tokio::spawn(async move {
            shuyu::server::run(listener, store, &config, async {
                let _ = rx.await;
            })
            .await
        });
        Server {
            addr,
            bureau_token: domain.bureau_token.clone(),
            analyst_token: domain.units[0].token.clone(),
            shutdown: Some(tx),
            task: Some(task),
            _dir: dir,
        }
    }

    async fn client(&self, token: &str) -> Party {
        let channel = Channel::from_shared(format!("http://{}", self.addr)).expect("uri").connect().await.expect("connect");
        Party { client: AdminClient::new(channel), token: token.to_string() }
    }

    async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("server task").expect("server stopped cleanly");
        }
    }
}

/// An admin client presenting one party's token on every call.
#[derive(Clone)]
struct Party {
    client: AdminClient<Channel>,
    token: String,
}

impl Party {
    fn req<T>(&self, message: T) -> Request<T> {
        let mut r = Request::new(message);
        r.metadata_mut().insert("authorization", format!("Bearer {}", self.token).parse().expect("ascii token"));
        r
    }
}

/// Runs one admin call: `call!(party, method, message)`.
macro_rules! call {
    ($party:expr, $method:ident, $message:expr) => {{
        let a = &$party;
        let request = a.req($message);
        a.client.clone().$method(request).await.map(tonic::Response::into_inner)
    }};
}

/// Asserts a refusal's code and that its message mentions `words` (the reason to act on).
fn refused<T: std::fmt::Debug>(result: Result<T, Status>, code: Code, words: &[&str]) -> String {
    let status = result.expect_err("the step must be refused");
    let message = status.message().to_string();
    assert_eq!(status.code(), code, "{message}");
    for w in words {
        assert!(message.contains(w), "the refusal should mention {w:?}: {message}");
    }
    message
}

fn id_number(first17: &str) -> String {
    let check = shuyu_governance::validate::id_number_check_char(first17).expect("17 digits");
    format!("{first17}{check}")
}

fn credit_code(first17: &str) -> String {
    let check = shuyu_governance::validate::credit_code_check_char(first17).expect("17 characters");
    format!("{first17}{check}")
}

/// The bureau registers a person with `role` (and `provider`) and issues them a token.
async fn person(server: &Server, bureau: &Party, name: &str, id17: &str, role: &str, provider: Option<&str>) -> (pb::Person, Party) {
    let new = pb::CreatePersonRequest { name: name.into(), id_number: id_number(id17), role: role.into(), unit: None, provider: provider.map(str::to_string) };
    let p = call!(bureau, create_person, new).expect("create person");
    assert_eq!(p.role, role, "the role maps both ways");
    let token = call!(bureau, issue_token, pb::IssueTokenRequest { person: p.id, ttl_days: 7 }).expect("issue token");
    let party = server.client(&token.token).await;
    (p, party)
}

fn qualified() -> pb::Qualifications {
    pb::Qualifications {
        good_standing: true,
        no_major_violations: true,
        not_dishonest: true,
        security_officer: "data security department, Zhou Hang".into(),
        mlps_level3: true,
        dsmm_level3: true,
        no_high_risk: true,
    }
}

fn application(announcement: i64, qualifications: pb::Qualifications) -> pb::SubmitApplicationRequest {
    pb::SubmitApplicationRequest {
        announcement,
        company: "nanhu-mobility".into(),
        credit_code: credit_code("91220103MA0000003"),
        scenario: "mobility".into(),
        purpose: "commuting research by district".into(),
        qualifications: Some(qualifications),
        attachments: vec![pb::Attachment { name: "licence.pdf".into(), sha256: "0f".repeat(32) }],
    }
}

/// Terms over `residents` and `districts` (zCDP, total 1), without a unit.
fn terms(scenario: &str) -> pb::GrantAuthorizationRequest {
    let now = Utc::now();
    pb::GrantAuthorizationRequest {
        scenario: scenario.into(),
        purpose: "commuting research by district".into(),
        datasets: vec![
            pb::GrantedDataset { dataset: "residents".into(), columns: vec!["person_id".into(), "district".into(), "age".into()] },
            pb::GrantedDataset { dataset: "districts".into(), columns: vec!["district".into(), "area_km2".into()] },
        ],
        term_start: (now - Duration::minutes(1)).to_rfc3339(),
        term_end: (now + Duration::days(180)).to_rfc3339(),
        rights: vec!["processing_use".into()],
        privacy: "zcdp".into(),
        delta: 1e-6,
        budget_total: 1.0,
        per_query_cap: 0.25,
        per_query_default: 0.05,
        export_policy: "automatic".into(),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_applicant_becomes_a_unit_and_its_data_request_is_granted_after_every_approval() {
    let server = Server::start().await;
    let bureau = server.client(&server.bureau_token).await;
    let analyst = server.client(&server.analyst_token).await;
    let (_, applicant) = person(&server, &bureau, "Zhou Hang", "22010619910606009", "applicant", None).await;
    let (_, expert_a) = person(&server, &bureau, "Zhao Li", "22010219700505005", "expert", None).await;
    let (_, expert_b) = person(&server, &bureau, "Sun Yue", "22010219720909006", "expert", None).await;
    let (_, residents_staff) = person(&server, &bureau, "Residents Staff", "22010219810101007", "provider", Some(RESIDENTS_PROVIDER)).await;
    let (_, districts_staff) = person(&server, &bureau, "Districts Staff", "22010219820202008", "provider", Some(DISTRICTS_PROVIDER)).await;
    let (_, enterprises_staff) = person(&server, &bureau, "Enterprises Staff", "22010219830303000", "provider", Some(ENTERPRISES_PROVIDER)).await;

    // Announcements: the bureau's alone to publish; a closed one takes no applications.
    let publish = |title: &str| pb::PublishAnnouncementRequest {
        year: 2027,
        title: title.into(),
        conditions: "Art. 12 and 13 qualifications; one authorization per scenario".into(),
        opens_at: String::new(),
        closes_at: (Utc::now() + Duration::days(30)).to_rfc3339(),
        min_expert_opinions: 2,
    };
    refused(call!(analyst, publish_announcement, publish("by an analyst")), Code::PermissionDenied, &[]);
    let announcement = call!(bureau, publish_announcement, publish("2027 call")).expect("publish");
    assert!(announcement.open && announcement.min_expert_opinions == 2, "{announcement:?}");
    let earlier = call!(bureau, publish_announcement, publish("2027 early call")).expect("publish");
    let closed = call!(bureau, close_announcement, pb::CloseAnnouncementRequest { id: earlier.id }).expect("close");
    assert!(!closed.open);
    let listed = call!(applicant, list_announcements, pb::ListAnnouncementsRequest {}).expect("any role lists them");
    assert_eq!(listed.announcements.iter().map(|a| (a.id, a.open)).collect::<Vec<_>>(), [(announcement.id, true), (earlier.id, false)]);
    refused(call!(applicant, submit_application, application(earlier.id, qualified())), Code::FailedPrecondition, &["next announcement"]);

    // An unmet qualification is refused naming its article; a complete one is accepted.
    let dishonest = pb::Qualifications { not_dishonest: false, ..qualified() };
    refused(call!(applicant, submit_application, application(announcement.id, dishonest)), Code::InvalidArgument, &["12"]);
    let submitted = call!(applicant, submit_application, application(announcement.id, qualified())).expect("apply");
    assert_eq!((submitted.status.as_str(), submitted.company.as_str()), ("submitted", "nanhu-mobility"));
    let id = submitted.id;

    // Qualification review, by the bureau only, before any expert opinion.
    refused(call!(expert_a, record_expert_opinion, pb::RecordExpertOpinionRequest { id, recommend: true, opinion: "early".into() }), Code::FailedPrecondition, &[]);
    let review = pb::ReviewQualificationRequest { id, passed: true, note: "Art. 12 and 13 declarations complete".into() };
    refused(call!(applicant, review_qualification, review.clone()), Code::PermissionDenied, &[]);
    let reviewed = call!(bureau, review_qualification, review).expect("review");
    assert_eq!(reviewed.status, "expert_review");

    // Two experts' opinions; one each; the decision waits for both.
    let opinion = |recommend: bool, text: &str| pb::RecordExpertOpinionRequest { id, recommend, opinion: text.into() };
    refused(call!(bureau, record_expert_opinion, opinion(true, "the bureau is no expert")), Code::PermissionDenied, &[]);
    call!(expert_a, record_expert_opinion, opinion(true, "minimal data, clear scenario")).expect("first opinion");
    refused(call!(expert_a, record_expert_opinion, opinion(false, "changed my mind")), Code::FailedPrecondition, &[]);
    let decide = pb::DecideApplicationRequest { id, approved: true, note: "coordination group approves".into() };
    refused(call!(bureau, decide_application, decide.clone()), Code::FailedPrecondition, &["missing approval"]);
    let opined = call!(expert_b, record_expert_opinion, opinion(true, "no medium or high risk")).expect("second opinion");
    assert_eq!(opined.opinions.iter().map(|o| o.recommend).collect::<Vec<_>>(), [true, true]);
    refused(call!(expert_b, decide_application, decide.clone()), Code::PermissionDenied, &[]);
    assert_eq!(call!(bureau, decide_application, decide).expect("decide").status, "approved");

    // The agreement: terms are the grant's, without a unit; signing admits the unit.
    let with_unit = pb::SignAgreementRequest { id, terms: Some(pb::GrantAuthorizationRequest { unit: 1, ..terms("mobility") }) };
    refused(call!(bureau, sign_agreement, with_unit), Code::InvalidArgument, &["leave terms.unit unset"]);
    refused(call!(applicant, sign_agreement, pb::SignAgreementRequest { id, terms: Some(terms("mobility")) }), Code::PermissionDenied, &[]);
    let agreement = call!(bureau, sign_agreement, pb::SignAgreementRequest { id, terms: Some(terms("mobility")) }).expect("sign");
    let first = agreement.authorization.expect("first authorization");
    assert_eq!((first.unit, first.status.as_str(), first.scenario.as_str()), (agreement.unit, "active", "mobility"));
    let signed = call!(applicant, get_application, pb::GetApplicationRequest { id }).expect("its applicant sees it");
    assert_eq!((signed.status.as_str(), signed.unit, signed.authorization), ("signed", Some(agreement.unit), Some(first.id)));
    let unit = call!(bureau, get_unit, pb::GetUnitRequest { id: agreement.unit }).expect("the admitted unit");
    assert_eq!((unit.name.as_str(), unit.status.as_str()), ("nanhu-mobility", "active"));
    let became = call!(bureau, get_person, pb::GetPersonRequest { id: signed.applicant }).expect("the applicant");
    assert_eq!((became.role.as_str(), became.unit), ("unit_analyst", Some(agreement.unit)), "the applicant is now the unit's analyst");

    // The new unit's data request: the bureau and each dataset's provider approve, then the grant.
    let new_analyst = applicant;
    let request = call!(new_analyst, submit_data_request, pb::SubmitDataRequestRequest { terms: Some(terms("commute-age")) }).expect("request");
    assert_eq!((request.status.as_str(), request.unit), ("submitted", agreement.unit));
    assert_eq!(request.terms.as_ref().map(|t| (t.unit, t.scenario.as_str())), Some((agreement.unit, "commute-age")));
    let mut pending = request.pending.clone();
    pending.sort();
    let mut expected = vec!["bureau".to_string(), DISTRICTS_PROVIDER.to_string(), RESIDENTS_PROVIDER.to_string()];
    expected.sort();
    assert_eq!(pending, expected);
    let rid = request.id;
    let approve = |note: &str| pb::ReviewDataRequestRequest { id: rid, approved: true, note: note.into() };
    refused(call!(enterprises_staff, review_data_request, approve("not mine")), Code::PermissionDenied, &[]);
    call!(bureau, review_data_request, approve("scenario clear, columns minimal")).expect("bureau approves");
    call!(residents_staff, review_data_request, approve("agreed")).expect("residents' provider approves");
    let message = refused(call!(bureau, grant_data_request, pb::GrantDataRequestRequest { id: rid }), Code::FailedPrecondition, &["missing approval"]);
    assert!(message.contains(DISTRICTS_PROVIDER), "names whose approval is missing: {message}");
    refused(call!(residents_staff, review_data_request, approve("again")), Code::FailedPrecondition, &[]);
    let approved = call!(districts_staff, review_data_request, approve("agreed")).expect("districts' provider approves");
    assert!(approved.pending.is_empty(), "{:?}", approved.pending);
    assert_eq!(approved.reviews.len(), 3);
    refused(call!(new_analyst, grant_data_request, pb::GrantDataRequestRequest { id: rid }), Code::PermissionDenied, &[]);
    let granted = call!(bureau, grant_data_request, pb::GrantDataRequestRequest { id: rid }).expect("grant");
    assert_eq!((granted.unit, granted.scenario.as_str(), granted.status.as_str()), (agreement.unit, "commute-age", "active"));
    let shown = call!(new_analyst, get_data_request, pb::GetDataRequestRequest { id: rid }).expect("its unit sees it");
    assert_eq!((shown.status.as_str(), shown.authorization), ("granted", Some(granted.id)));
    let seen = call!(residents_staff, list_data_requests, pb::ListDataRequestsRequest {}).expect("a provider lists those naming its datasets");
    assert_eq!(seen.requests.iter().map(|r| r.id).collect::<Vec<_>>(), [rid]);
    assert!(call!(enterprises_staff, list_data_requests, pb::ListDataRequestsRequest {}).expect("list").requests.is_empty());
    refused(call!(new_analyst, withdraw_data_request, pb::WithdrawDataRequestRequest { id: rid }), Code::FailedPrecondition, &[]);

    // The bureau's own methods stay closed to the workflow's parties.
    refused(call!(districts_staff, list_units, pb::ListUnitsRequest {}), Code::PermissionDenied, &["workflow's methods"]);
    refused(call!(expert_a, list_units, pb::ListUnitsRequest {}), Code::PermissionDenied, &["workflow's methods"]);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quality_issue_is_filed_by_the_unit_routed_by_the_bureau_and_answered_by_its_provider() {
    let server = Server::start().await;
    let bureau = server.client(&server.bureau_token).await;
    let analyst = server.client(&server.analyst_token).await;
    let (_, residents_staff) = person(&server, &bureau, "Residents Staff", "22010219810101007", "provider", Some(RESIDENTS_PROVIDER)).await;
    let (_, districts_staff) = person(&server, &bureau, "Districts Staff", "22010219820202008", "provider", Some(DISTRICTS_PROVIDER)).await;

    let file = pb::FileIssueRequest { dataset: "residents".into(), title: "ages above 120".into(), description: "column age: 3 rows above its bound".into() };
    refused(call!(bureau, file_issue, file.clone()), Code::PermissionDenied, &[]);
    let issue = call!(analyst, file_issue, file).expect("file");
    assert_eq!((issue.status.as_str(), issue.provider.as_str(), issue.dataset_name.as_str()), ("open", RESIDENTS_PROVIDER, "residents"));
    assert!(issue.deadline.is_none() && !issue.overdue);
    let id = issue.id;

    let answer = pb::AnswerIssueRequest { id, answer: "the bound was wrong; manifest corrected".into() };
    refused(call!(residents_staff, answer_issue, answer.clone()), Code::FailedPrecondition, &[]);
    let deadline = (Utc::now() + Duration::days(7)).to_rfc3339();
    refused(call!(analyst, route_issue, pb::RouteIssueRequest { id, deadline: deadline.clone() }), Code::PermissionDenied, &[]);
    refused(call!(bureau, route_issue, pb::RouteIssueRequest { id, deadline: "next week".into() }), Code::InvalidArgument, &["RFC 3339"]);
    let routed = call!(bureau, route_issue, pb::RouteIssueRequest { id, deadline }).expect("route");
    assert_eq!(routed.status, "routed");
    assert!(routed.deadline.is_some() && routed.routed_at.is_some() && !routed.overdue, "{routed:?}");

    refused(call!(districts_staff, answer_issue, answer.clone()), Code::PermissionDenied, &[]);
    let answered = call!(residents_staff, answer_issue, answer).expect("answer");
    assert_eq!((answered.status.as_str(), answered.resolution.as_deref()), ("resolved", Some("the bound was wrong; manifest corrected")));

    let theirs = call!(analyst, list_issues, pb::ListIssuesRequest {}).expect("the unit lists its issues");
    assert_eq!(theirs.issues.iter().map(|i| (i.id, i.status.as_str())).collect::<Vec<_>>(), [(id, "resolved")]);
    assert!(call!(districts_staff, list_issues, pb::ListIssuesRequest {}).expect("list").issues.is_empty(), "routed to another provider");
    let reopened = call!(bureau, update_issue, pb::UpdateIssueRequest { id, status: "in_progress".into(), resolution: None }).expect("update");
    assert_eq!(reopened.status, "in_progress");
    refused(call!(bureau, update_issue, pb::UpdateIssueRequest { id, status: "closed".into(), resolution: None }), Code::InvalidArgument, &["in_progress"]);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_evaluation_requiring_rectification_is_reported_by_the_unit_and_accepted_by_the_bureau() {
    let server = Server::start().await;
    let bureau = server.client(&server.bureau_token).await;
    let analyst = server.client(&server.analyst_token).await;
    let unit = call!(bureau, list_units, pb::ListUnitsRequest {}).expect("units").units[0].id;
    let record = pb::RecordEvaluationRequest {
        unit,
        year: 2026,
        score: 68,
        findings: "access reviews not documented".into(),
        rectification_deadline: Some((Utc::now() + Duration::days(30)).to_rfc3339()),
    };
    refused(call!(analyst, record_evaluation, record.clone()), Code::PermissionDenied, &[]);
    let evaluation = call!(bureau, record_evaluation, record.clone()).expect("record");
    assert_eq!((evaluation.unit, evaluation.status.as_str(), evaluation.score), (unit, "rectification_required", 68));
    refused(call!(bureau, record_evaluation, record), Code::FailedPrecondition, &[]);

    let id = evaluation.id;
    refused(call!(bureau, accept_rectification, pb::AcceptRectificationRequest { id }), Code::FailedPrecondition, &[]);
    let reported = call!(analyst, report_rectification, pb::ReportRectificationRequest { id, report: "reviews documented monthly".into() }).expect("report");
    assert_eq!((reported.status.as_str(), reported.rectification.as_deref()), ("rectification_reported", Some("reviews documented monthly")));
    let accepted = call!(bureau, accept_rectification, pb::AcceptRectificationRequest { id }).expect("accept");
    assert_eq!(accepted.status, "rectified");
    let theirs = call!(analyst, list_evaluations, pb::ListEvaluationsRequest {}).expect("the unit lists its own");
    assert_eq!(theirs.evaluations.iter().map(|e| e.id).collect::<Vec<_>>(), [id]);
    server.stop().await;
}

/// Runs `shuyu admin --endpoint … --token TOKEN ARGS… --output json` and parses its output.
async fn cli(addr: SocketAddr, token: &str, args: &[&str]) -> Result<serde_json::Value, String> {
    let mut all = vec!["admin".to_string(), "--endpoint".into(), format!("grpc://{addr}"), "--output".into(), "json".into()];
    all.extend(args.iter().map(|a| a.to_string()));
    let token = token.to_string();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_shuyu")).args(&all).env("SHUYU_TOKEN", token).env_remove("SHUYU_ENDPOINT").env("RUST_LOG", "off").output()
    })
    .await
    .expect("the command ran")
    .expect("run shuyu");
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(serde_json::from_slice(&out.stdout).expect("JSON output"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_line_creates_experts_and_applicants_and_walks_announcements_and_issues() {
    let server = Server::start().await;
    let (bureau, analyst) = (server.bureau_token.clone(), server.analyst_token.clone());
    let addr = server.addr;
    for (role, id17) in [("expert", "22010219700505005"), ("applicant", "22010619910606009")] {
        let id_number = id_number(id17);
        let made = cli(addr, &bureau, &["person", "create", "--name", "Someone", "--id-number", &id_number, "--role", role]).await.expect("create");
        assert_eq!(made["role"], role, "{made}");
    }
    let closes = (Utc::now() + Duration::days(30)).to_rfc3339();
    let publish = ["announcement", "publish", "--year", "2027", "--title", "2027 call", "--conditions", "Art. 12, 13", "--closes-at", &closes];
    let err = cli(addr, &analyst, &publish).await.expect_err("an analyst may not publish");
    assert!(err.contains("PermissionDenied"), "{err}");
    let published = cli(addr, &bureau, &publish).await.expect("publish");
    assert_eq!((published["open"].as_bool(), published["min_expert_opinions"].as_u64()), (Some(true), Some(2)), "{published}");
    let listed = cli(addr, &analyst, &["announcement", "list"]).await.expect("any role lists");
    assert_eq!(listed["announcements"].as_array().map(Vec::len), Some(1), "{listed}");

    let filed = cli(addr, &analyst, &["quality", "file", "--dataset", "residents", "--title", "ages", "--description", "column age: 3 rows above its bound"])
        .await
        .expect("file");
    let id = filed["id"].to_string();
    let deadline = (Utc::now() + Duration::days(7)).to_rfc3339();
    let routed = cli(addr, &bureau, &["quality", "route", &id, "--deadline", &deadline]).await.expect("route");
    assert_eq!(routed["status"], "routed", "{routed}");
    let err = cli(addr, &bureau, &["request", "grant", "99"]).await.expect_err("no such request");
    assert!(err.contains("NotFound"), "{err}");
    server.stop().await;
}
