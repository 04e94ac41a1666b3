//! The workflow pages over a real store: a unit's data request filed through the portal's
//! form, reviewed by the bureau and the dataset's provider, granted by the bureau; an
//! announcement published by the bureau, and the same form forged by a supervisor refused
//! by governance.

use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::response::Response;
use axum::Router;
use shuyu_governance::{NewPerson, Role, Store};
use tower::ServiceExt;

use super::{router, ConsoleOptions};

fn id_number(first17: &str) -> String {
    format!("{first17}{}", shuyu_governance::validate::id_number_check_char(first17).expect("17 digits"))
}

async fn send(app: &Router, req: Request<Body>) -> Response {
    app.clone().oneshot(req).await.expect("the router answers")
}

fn request(method: &str, path: &str, cookie: Option<&str>, form: &str) -> Request<Body> {
    let mut b = Request::builder().method(method).uri(path).header(header::HOST, "127.0.0.1:8080");
    b = b.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some(c) = cookie {
        b = b.header(header::COOKIE, format!("shuyu_console={c}"));
    }
    b.body(Body::from(form.to_string())).expect("request")
}

async fn text(r: Response) -> String {
    String::from_utf8(axum::body::to_bytes(r.into_body(), 1 << 22).await.expect("body").to_vec()).expect("utf-8")
}

fn location(r: &Response) -> String {
    r.headers().get(header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or("").to_string()
}

/// Signs in; returns the cookie and the CSRF token of the session's forms.
async fn sign_in(app: &Router, token: &str) -> (String, String) {
    let r = send(app, request("POST", "/console/sign-in", None, &format!("token={token}"))).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let set = r.headers().get(header::SET_COOKIE).expect("cookie").to_str().expect("ascii").to_string();
    let cookie = set["shuyu_console=".len()..].split(';').next().expect("value").to_string();
    let body = text(send(app, request("GET", "/console/announcements", Some(&cookie), "")).await).await;
    let at = body.find("name=\"csrf\" value=\"").expect("csrf field") + "name=\"csrf\" value=\"".len();
    (cookie, body[at..at + 64].to_string())
}

fn enc(v: &str) -> String {
    v.bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b == b'.' || b == b'_' { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

fn form(pairs: &[(&str, &str)]) -> String {
    pairs.iter().map(|(k, v)| format!("{k}={}", enc(v))).collect::<Vec<_>>().join("&")
}

#[tokio::test]
async fn a_data_request_goes_from_the_portal_through_both_reviews_to_a_grant() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("store");
    let (admin, admin_token) = store.bootstrap_admin("Wang Fang", "11010519491231002X", chrono::Duration::days(30)).expect("bootstrap");
    let a = admin.principal();
    let manifest = shuyu_datasets::TableManifest::from_toml(
        "name = \"households\"\ndomain = \"civil_affairs\"\nprovider = \"civil_affairs_bureau\"\nclassification = \"sensitive\"\n\
         [privacy_unit]\ncolumn = \"person_id\"\nkind = \"person\"\nrows_per_unit = \"one\"\n\
         [[columns]]\nname = \"person_id\"\ntype = \"utf8\"\nsensitivity = \"unit_key\"\n\
         [[columns]]\nname = \"age\"\ntype = \"int64\"\nsensitivity = \"personal\"\nlower = 0.0\nupper = 120.0\n",
    )
    .expect("manifest");
    let verified = shuyu_governance::DeclarationsVerified::from_key_values(&manifest, |_| Some(vec![Some("a"), Some("b")])).expect("verified");
    store.register_dataset(&a, &manifest, "/data/households.parquet", &verified).expect("registered");
    let unit = store.create_unit(&a, "Changchun Analytics Co.", "91350100M000100Y43").expect("unit");
    let token = |name: &str, number: &str, role: Role, unit, provider: Option<&str>| {
        let new = NewPerson { name: name.into(), id_number: id_number(number), role, unit, provider: provider.map(str::to_string) };
        let id = store.create_person(&a, &new).expect("person");
        store.issue_token(&a, id, chrono::Duration::days(1)).expect("token").token.expose().to_string()
    };
    let analyst = token("Chen Jing", "11010519900101004", Role::UnitAnalyst, Some(unit), None);
    let provider = token("Zhao Min", "11010519850101006", Role::Provider, None, Some("civil_affairs_bureau"));
    let supervisor = token("Li Wei", "11010519800101003", Role::Supervisor, None, None);
    let app = router(store.clone(), ConsoleOptions { session_ttl: Duration::from_secs(60), secure_cookies: false });

    let (cookie, csrf) = sign_in(&app, &analyst).await;
    let new = form(&[
        ("csrf", &csrf), ("scenario", "ageing"), ("purpose", "elderly care planning"), ("partners", ""),
        ("datasets", "households: person_id, age"), ("term_days", "365"), ("privacy", "zcdp"), ("delta", "0"),
        ("total", "1"), ("per_query_cap", "0.5"), ("per_query_default", "0.1"), ("export_policy", "review"),
        ("rights", "processing_use"),
    ]);
    let r = send(&app, request("POST", "/console/portal/requests/new", Some(&cookie), &new)).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{}", text(r).await);
    let page = location(&r);
    let id: i64 = page.trim_start_matches("/console/requests/").split('?').next().expect("id").parse().expect("number");
    let body = text(send(&app, request("GET", &page, Some(&cookie), "")).await).await;
    assert!(body.contains("id=\"pending-parties\"") && body.contains("<li>bureau</li>") && body.contains("<li>civil_affairs_bureau</li>"));
    assert!(!body.contains("id=\"review-request\""), "the unit does not review its own request");

    let review = |csrf: &str, decision: &str| form(&[("csrf", csrf), ("decision", decision), ("note", "fits the scenario")]);
    let (bureau, bureau_csrf) = sign_in(&app, admin_token.token.expose()).await;
    let r = send(&app, request("POST", &format!("/console/requests/{id}/grant"), Some(&bureau), &form(&[("csrf", &bureau_csrf)]))).await;
    assert_eq!(r.status(), StatusCode::CONFLICT, "no grant before every approval");
    assert!(text(r).await.contains("id=\"refusal\""));
    let r = send(&app, request("POST", &format!("/console/requests/{id}/review"), Some(&bureau), &review(&bureau_csrf, "approve"))).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);

    let (prov, prov_csrf) = sign_in(&app, &provider).await;
    let body = text(send(&app, request("GET", &format!("/console/requests/{id}"), Some(&prov), "")).await).await;
    assert!(body.contains("id=\"review-request\""));
    let r = send(&app, request("POST", &format!("/console/requests/{id}/review"), Some(&prov), &review(&prov_csrf, "approve"))).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);

    let (sup, sup_csrf) = sign_in(&app, &supervisor).await;
    let r = send(&app, request("POST", &format!("/console/requests/{id}/grant"), Some(&sup), &form(&[("csrf", &sup_csrf)]))).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "a supervisor's forged grant is refused by governance");

    let body = text(send(&app, request("GET", &format!("/console/requests/{id}"), Some(&bureau), "")).await).await;
    assert!(body.contains("id=\"grant-request\""));
    let r = send(&app, request("POST", &format!("/console/requests/{id}/grant"), Some(&bureau), &form(&[("csrf", &bureau_csrf)]))).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let analyst_p = store.authenticate(&analyst).expect("analyst");
    let granted = store.authorizations(&analyst_p, None).expect("authorizations");
    assert_eq!(granted.iter().map(|a| a.scenario.as_str()).collect::<Vec<_>>(), vec!["ageing"]);
    let body = text(send(&app, request("GET", "/console/portal", Some(&cookie), "")).await).await;
    assert!(body.contains("<meter"), "the portal shows the new authorization's gauge");

    // Quality issues from the portal: filed by the unit, routed by the bureau with a
    // deadline, answered by the dataset's provider; the supervisor only reads.
    let issue = form(&[("csrf", &csrf), ("dataset", "households"), ("title", "ages above 120"), ("description", "some rows look mistyped")]);
    let r = send(&app, request("POST", "/console/portal/quality/new", Some(&cookie), &issue)).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{}", text(r).await);
    let issues = store.issues(&a).expect("issues");
    assert_eq!(issues.len(), 1);
    let id = issues[0].id.0;
    assert_eq!(issues[0].provider, "civil_affairs_bureau", "routed to the dataset's provider");
    let deadline = (store.now() + chrono::Duration::days(14)).format("%Y-%m-%d").to_string();
    let route = |csrf: &str| form(&[("csrf", csrf), ("deadline", &deadline)]);
    let r = send(&app, request("POST", &format!("/console/quality/{id}/route"), Some(&sup), &route(&sup_csrf))).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "a supervisor cannot route");
    let r = send(&app, request("POST", &format!("/console/quality/{id}/route"), Some(&bureau), &route(&bureau_csrf))).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let answer = form(&[("csrf", &prov_csrf), ("answer", "fixed at the source")]);
    let r = send(&app, request("POST", &format!("/console/quality/{id}/answer"), Some(&prov), &answer)).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let issue = store.issues(&a).expect("issues").remove(0);
    assert_eq!(issue.status, shuyu_governance::IssueStatus::Resolved);
    assert_eq!(issue.resolution.as_deref(), Some("fixed at the source"));
    assert!(issue.deadline.is_some() && !issue.overdue);
    let body = text(send(&app, request("GET", "/console/quality", Some(&cookie), "")).await).await;
    assert!(body.contains("fixed at the source"), "the unit sees the provider's answer");
}

#[tokio::test]
async fn the_bureau_publishes_an_announcement_and_a_supervisors_forged_form_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("store");
    let (admin, admin_token) = store.bootstrap_admin("Wang Fang", "11010519491231002X", chrono::Duration::days(30)).expect("bootstrap");
    let id = store
        .create_person(&admin.principal(), &NewPerson { name: "Li Wei".into(), id_number: id_number("11010519800101003"), role: Role::Supervisor, unit: None, provider: None })
        .expect("supervisor");
    let supervisor = store.issue_token(&admin.principal(), id, chrono::Duration::days(1)).expect("token").token.expose().to_string();
    let app = router(store.clone(), ConsoleOptions::default());
    let closes = (store.now() + chrono::Duration::days(30)).format("%Y-%m-%d").to_string();
    let opens = store.now().format("%Y-%m-%d").to_string();
    let publish = |csrf: &str| {
        form(&[("csrf", csrf), ("year", "2031"), ("title", "Call <2031>"), ("conditions", "Art. 12 and 13"), ("opens_at", &opens), ("closes_at", &closes), ("min_expert_opinions", "1")])
    };
    let (sup, sup_csrf) = sign_in(&app, &supervisor).await;
    let body = text(send(&app, request("GET", "/console/announcements", Some(&sup), "")).await).await;
    assert!(!body.contains("id=\"publish-announcement\""), "no publish form for a supervisor");
    let r = send(&app, request("POST", "/console/announcements", Some(&sup), &publish(&sup_csrf))).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(store.announcements(&admin.principal()).expect("list").is_empty(), "nothing published");

    let (bureau, csrf) = sign_in(&app, admin_token.token.expose()).await;
    let r = send(&app, request("POST", "/console/announcements", Some(&bureau), &publish(&csrf))).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let body = text(send(&app, request("GET", &location(&r), Some(&bureau), "")).await).await;
    assert!(body.contains("id=\"notice\"") && body.contains("Call &lt;2031&gt;"));
    assert!(body.contains("<td class=\"window\">open</td>"));
}
