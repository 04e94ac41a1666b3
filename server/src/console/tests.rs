//! The console over a real store in a temporary directory, through the router in-process
//! (`tower::ServiceExt::oneshot`): sign-in and its cookie, sessions and their expiry, CSRF
//! and Origin checks, security headers, escaping, and governance's refusals.

use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::response::Response;
use axum::Router;
use shuyu_governance::{ImportId, ImportStatus, NewPerson, Role, Store, UnitId};
use tower::ServiceExt;

use super::{router, ConsoleOptions};

struct Domain {
    _dir: tempfile::TempDir,
    store: Store,
    admin: String,
    supervisor: String,
    analyst: String,
    unit: UnitId,
}

fn id_number(first17: &str) -> String {
    let check = shuyu_governance::validate::id_number_check_char(first17).expect("17 digits");
    format!("{first17}{check}")
}

fn domain() -> Domain {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("store");
    let (admin, token) = store.bootstrap_admin("Wang Fang", "11010519491231002X", chrono::Duration::days(30)).expect("bootstrap");
    let a = admin.principal();
    let unit = store.create_unit(&a, "Changchun Analytics Co.", "91350100M000100Y43").expect("unit");
    let person = |name: &str, number: &str, role: Role, unit: Option<UnitId>| {
        let id = store.create_person(&a, &NewPerson { name: name.into(), id_number: id_number(number), role, unit, provider: None }).expect("person");
        store.issue_token(&a, id, chrono::Duration::days(1)).expect("token").token.expose().to_string()
    };
    let analyst = person("Chen Jing", "11010519900101004", Role::UnitAnalyst, Some(unit));
    let supervisor = person("Li Wei", "11010519800101003", Role::Supervisor, None);
    Domain { store, admin: token.token.expose().to_string(), supervisor, analyst, unit, _dir: dir }
}

fn app(d: &Domain, ttl: Duration) -> Router {
    router(d.store.clone(), ConsoleOptions { session_ttl: ttl, secure_cookies: false })
}

async fn send(app: &Router, req: Request<Body>) -> Response {
    app.clone().oneshot(req).await.expect("the router answers")
}

fn get(path: &str, cookie: Option<&str>) -> Request<Body> {
    let mut b = Request::get(path).header(header::HOST, "127.0.0.1:8080");
    if let Some(c) = cookie {
        b = b.header(header::COOKIE, format!("shuyu_console={c}"));
    }
    b.body(Body::empty()).expect("request")
}

fn post(path: &str, cookie: Option<&str>, form: &str) -> Request<Body> {
    let mut b = Request::post(path).header(header::HOST, "127.0.0.1:8080").header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some(c) = cookie {
        b = b.header(header::COOKIE, format!("shuyu_console={c}"));
    }
    b.body(Body::from(form.to_string())).expect("request")
}

async fn text(r: Response) -> String {
    let bytes = axum::body::to_bytes(r.into_body(), 1 << 22).await.expect("body");
    String::from_utf8(bytes.to_vec()).expect("utf-8")
}

fn location(r: &Response) -> &str {
    r.headers().get(header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or("")
}

/// Signs in with `token`; returns the cookie value and the whole `Set-Cookie` header.
async fn sign_in(app: &Router, token: &str) -> (String, String) {
    let r = send(app, post("/console/sign-in", None, &format!("token={token}"))).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let set = r.headers().get(header::SET_COOKIE).expect("a cookie").to_str().expect("ascii").to_string();
    let value = set.strip_prefix("shuyu_console=").and_then(|v| v.split(';').next()).expect("the session cookie").to_string();
    (value, set)
}

/// The CSRF token of the forms of `page`.
async fn csrf(app: &Router, cookie: &str, page: &str) -> String {
    let body = text(send(app, get(page, Some(cookie))).await).await;
    let at = body.find("name=\"csrf\" value=\"").expect("a CSRF field") + "name=\"csrf\" value=\"".len();
    body[at..at + 64].to_string()
}

fn import_status(d: &Domain, id: ImportId) -> ImportStatus {
    let admin = d.store.authenticate(&d.admin).expect("admin");
    d.store.imports(&admin).expect("imports").into_iter().find(|i| i.id == id).expect("the import").status
}

fn request_import(d: &Domain) -> ImportId {
    let analyst = d.store.authenticate(&d.analyst).expect("analyst");
    d.store.request_import(&analyst, "survey.parquet", "a survey the unit ran itself").expect("import requested")
}

#[tokio::test]
async fn signing_in_sets_a_strict_http_only_cookie_and_opens_the_dashboard() {
    let d = domain();
    let app = app(&d, Duration::from_secs(60));
    let (cookie, set) = sign_in(&app, &d.admin).await;
    assert_eq!(cookie.len(), 64, "32 random bytes in hex");
    for part in ["HttpOnly", "SameSite=Strict", "Path=/console"] {
        assert!(set.contains(part), "{set}");
    }
    assert!(!set.contains("Secure"), "no Secure flag on loopback http");
    let r = send(&app, get("/console/", Some(&cookie))).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body = text(r).await;
    for needle in ["id=\"units\"", "id=\"authorizations\"", "id=\"jobs-per-day\"", "id=\"nav\"", "Changchun Analytics Co."] {
        assert!(body.contains(needle), "{needle} missing");
    }
    assert!(body.contains("<span id=\"whoami\">Wang Fang (bureau_admin)</span>"));

    let r = send(&app, post("/console/sign-in", None, "token=not-a-token")).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(text(r).await.contains("id=\"sign-in-error\""));
}

#[tokio::test]
async fn a_page_without_a_session_redirects_to_sign_in() {
    let d = domain();
    let app = app(&d, Duration::from_secs(60));
    for path in ["/console/", "/console/datasets", "/console/exports", "/console/portal"] {
        let r = send(&app, get(path, None)).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{path}");
        assert_eq!(location(&r), "/console/sign-in?expired=1", "{path}");
    }
    let r = send(&app, get("/console/", Some(&"ab".repeat(32)))).await;
    assert_eq!(location(&r), "/console/sign-in?expired=1", "an unknown session");
    let r = send(&app, get("/", None)).await;
    assert_eq!(location(&r), "/console/");
}

#[tokio::test]
async fn a_post_without_its_csrf_token_is_refused_and_changes_nothing() {
    let d = domain();
    let import = request_import(&d);
    let app = app(&d, Duration::from_secs(60));
    let (cookie, _) = sign_in(&app, &d.admin).await;
    let path = format!("/console/imports/{}/review", import.0);
    for form in ["decision=approve&note=", "decision=approve&csrf=0000"] {
        let r = send(&app, post(&path, Some(&cookie), form)).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{form}");
        assert!(text(r).await.contains("id=\"refusal\""));
        assert_eq!(import_status(&d, import), ImportStatus::Requested, "nothing changed");
    }
    let r = send(&app, post("/console/sign-out", Some(&cookie), "")).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "sign-out needs the token too");
    assert_eq!(send(&app, get("/console/", Some(&cookie))).await.status(), StatusCode::OK, "still signed in");

    // Another site's form, even with the token, is refused on its Origin.
    let token = csrf(&app, &cookie, "/console/imports").await;
    let mut req = post(&path, Some(&cookie), &format!("decision=approve&csrf={token}"));
    req.headers_mut().insert(header::ORIGIN, "http://evil.example".parse().expect("origin"));
    assert_eq!(send(&app, req).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(import_status(&d, import), ImportStatus::Requested);

    // With the token, the review goes through and the page says so.
    let r = send(&app, post(&path, Some(&cookie), &format!("decision=approve&note=&csrf={token}"))).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/console/imports?notice=import-approved");
    assert_eq!(import_status(&d, import), ImportStatus::Approved);
    assert!(text(send(&app, get(location(&r), Some(&cookie))).await).await.contains("id=\"notice\""));
}

#[tokio::test]
async fn a_supervisor_sees_the_queue_without_forms_and_a_forged_review_is_refused_by_governance() {
    let d = domain();
    let import = request_import(&d);
    let app = app(&d, Duration::from_secs(60));
    let (cookie, _) = sign_in(&app, &d.supervisor).await;
    let body = text(send(&app, get("/console/imports", Some(&cookie))).await).await;
    assert!(body.contains(&format!("data-import=\"{}\"", import.0)));
    assert!(!body.contains("class=\"review-import\""), "no review form for a supervisor");
    let token = csrf(&app, &cookie, "/console/imports").await;
    let r = send(&app, post(&format!("/console/imports/{}/review", import.0), Some(&cookie), &format!("decision=approve&csrf={token}"))).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let body = text(r).await;
    assert!(body.contains("id=\"refusal\"") && body.contains("only bureau_admin may review imports"), "governance's reason is shown");
    assert_eq!(import_status(&d, import), ImportStatus::Requested);
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let d = domain();
    let app = app(&d, Duration::from_secs(60));
    let (cookie, _) = sign_in(&app, &d.admin).await;
    let responses = [
        send(&app, get("/console/sign-in", None)).await,
        send(&app, get("/console/", None)).await,
        send(&app, get("/console/", Some(&cookie))).await,
        send(&app, get("/console/static/console.css", None)).await,
        send(&app, get("/console/nowhere", None)).await,
        send(&app, post("/console/sign-out", Some(&cookie), "")).await,
    ];
    for r in &responses {
        let h = r.headers();
        assert_eq!(h.get(header::CONTENT_SECURITY_POLICY).expect("CSP"), super::security::CSP);
        assert_eq!(h.get(header::X_CONTENT_TYPE_OPTIONS).expect("nosniff"), "nosniff");
        assert_eq!(h.get(header::REFERRER_POLICY).expect("referrer"), "same-origin");
        assert_eq!(h.get(header::CACHE_CONTROL).expect("cache"), "no-store");
    }
    assert_eq!(responses[3].headers().get(header::CONTENT_TYPE).expect("type"), "text/css; charset=utf-8");
    assert_eq!(responses[4].status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn catalog_values_are_escaped() {
    let d = domain();
    let admin = d.store.authenticate(&d.admin).expect("admin");
    let manifest = shuyu_datasets::TableManifest::from_toml(
        r#"
        name = "households"
        domain = "<script>alert(1)</script>"
        provider = "<b>bureau</b>"
        classification = "sensitive"
        [privacy_unit]
        column = "person_id"
        kind = "person"
        rows_per_unit = "one"
        [[columns]]
        name = "person_id"
        type = "utf8"
        sensitivity = "unit_key"
        "#,
    )
    .expect("manifest");
    let verified = shuyu_governance::DeclarationsVerified::from_key_values(&manifest, |_| Some(vec![Some("a"), Some("b")])).expect("verified");
    d.store.register_dataset(&admin, &manifest, "/data/households.parquet", &verified).expect("registered");
    let app = app(&d, Duration::from_secs(60));
    let (cookie, _) = sign_in(&app, &d.admin).await;
    let body = text(send(&app, get("/console/datasets", Some(&cookie))).await).await;
    assert!(body.contains("<td class=\"dataset-name\">households</td>"));
    assert!(body.contains("&lt;script&gt;alert(1)&lt;/script&gt;") && !body.contains("<script>"), "escaped");
    assert!(body.contains("&lt;b&gt;bureau&lt;/b&gt;"));
}

#[tokio::test]
async fn an_expired_session_redirects_to_sign_in_with_expired() {
    let d = domain();
    let app = app(&d, Duration::from_millis(200));
    let (cookie, _) = sign_in(&app, &d.admin).await;
    assert_eq!(send(&app, get("/console/", Some(&cookie))).await.status(), StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let r = send(&app, get("/console/", Some(&cookie))).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/console/sign-in?expired=1");
    let body = text(send(&app, get(location(&r), None)).await).await;
    assert!(body.contains("id=\"session-expired\""));
}

#[tokio::test]
async fn a_suspended_units_analyst_is_signed_out_and_the_portal_shows_only_its_unit() {
    let d = domain();
    let app = app(&d, Duration::from_secs(60));
    let (cookie, _) = sign_in(&app, &d.analyst).await;
    let r = send(&app, get("/console/portal", Some(&cookie))).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body = text(r).await;
    for needle in ["id=\"my-authorizations\"", "id=\"my-jobs\"", "id=\"my-exports\"", "Chen Jing (unit_analyst)"] {
        assert!(body.contains(needle), "{needle} missing");
    }
    let r = send(&app, get("/console/", Some(&cookie))).await;
    assert_eq!(location(&r), "/console/portal", "an analyst's home is the portal");
    let admin = d.store.authenticate(&d.admin).expect("admin");
    d.store.suspend_unit(&admin, d.unit, "annual evaluation failed").expect("suspended");
    let r = send(&app, get("/console/portal", Some(&cookie))).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/console/sign-in?ended=1");
    assert_eq!(location(&send(&app, get("/console/portal", Some(&cookie))).await), "/console/sign-in?expired=1", "the session is gone");
}

#[tokio::test]
async fn the_audit_page_verifies_the_chain_and_the_unit_report_plots_budget_spent() {
    let d = domain();
    let app = app(&d, Duration::from_secs(60));
    let (cookie, _) = sign_in(&app, &d.admin).await;
    let body = text(send(&app, get("/console/audit", Some(&cookie))).await).await;
    assert!(body.contains("id=\"chain-status\"") && body.contains("chain verified: "), "chain status shown");
    assert!(body.contains("id=\"audit\"") && body.contains("unit.create"));
    let r = send(&app, get(&format!("/console/units/{}", d.unit.0), Some(&cookie))).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(text(r).await.contains("id=\"budget-spent\""));
    let r = send(&app, get("/console/units/999", Some(&cookie))).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(text(r).await.contains("id=\"refusal\""));
}
