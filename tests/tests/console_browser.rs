//! The web console in a real browser: headless Chromium driven through chromedriver
//! (fantoccini), against the real console (`shuyu::console::serve`) and the real Flight SQL
//! service over the same fresh demo domain. Each test has its own server, console,
//! chromedriver and browser session.
//!
//! Needs `chromedriver` and `chromium` (Debian's `chromium-driver` and `chromium`; `.ci/run`
//! installs them): without them the tests fail and say what to install. Screenshots go to
//! `<target>/console-screenshots/` (printed; `SHUYU_SCREENSHOTS` overrides it).

use std::time::Duration;

use fantoccini::{Client, Locator};
use sha2::{Digest, Sha256};
use shuyu::console::ConsoleOptions;
use shuyu_governance::{
    BudgetTerms, DataRequestId, ExportPolicy, ExportStatus, GrantedDataset, Mode, NewDataRequest, PrivacyTerms, RequestStatus, Right, Role,
};
use shuyu_privacy::PrivacyDefinition;
use shuyu_tests::browser::{self, alert_open, click_and_wait, fill, find, has, text, Chromedriver};
use shuyu_tests::console::{self, export_status, held_export, http, open, person, session_cookie, sign_in, AttackerSite, ConsoleServer};
use shuyu_tests::fixture::{self, query, rows, TestServer};

/// The provider of `residents` in the demo catalog.
const RESIDENTS_PROVIDER: &str = "长春市公安局人口管理";

/// One test's world: the Flight SQL server over a fresh demo domain, the console over the
/// same store, a chromedriver and one browser session.
struct Stage {
    server: TestServer,
    console: ConsoleServer,
    browser: Client,
    _driver: Chromedriver,
}

impl Stage {
    async fn start() -> Stage {
        let driver = Chromedriver::start();
        let server = TestServer::start().await;
        let console = ConsoleServer::start(server.domain.store.clone()).await;
        let browser = driver.session().await;
        Stage { server, console, browser, _driver: driver }
    }

    async fn finish(self) {
        self.browser.close().await.expect("close the browser");
        self.console.stop().await;
        self.server.stop().await;
    }

    fn bureau_token(&self) -> String {
        self.server.domain.bureau_token.clone()
    }
}

/// The CSRF token of the signed-in session: the hidden `csrf` input of any form on the
/// current page, else derived as the contract defines it from the session cookie.
async fn csrf_token(c: &Client) -> String {
    if let Some(input) = c.find_all(Locator::Css("input[name=csrf]")).await.expect("find_all").into_iter().next() {
        return input.attr("value").await.expect("attr").expect("the csrf input has a value");
    }
    let secret = session_cookie(c).await;
    let mut h = Sha256::new();
    h.update(b"shuyu-console-csrf-v1");
    h.update(hex::decode(&secret).unwrap_or_else(|_| secret.clone().into_bytes()));
    hex::encode(h.finalize())
}

fn form_headers<'a>(cookie: &'a str, origin: &'a str) -> Vec<(&'static str, &'a str)> {
    vec![("Content-Type", "application/x-www-form-urlencoded"), ("Cookie", cookie), ("Origin", origin)]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bureau_approves_a_held_export_in_the_browser_and_the_analyst_fetches_it() {
    let s = Stage::start().await;
    let export = held_export(&s.server).await;
    let c = &s.browser;
    sign_in(c, &s.console, &s.bureau_token()).await;
    assert!(text(c, "#whoami").await.contains("bureau_admin"), "whoami names the role");
    open(c, &s.console, "/console/exports").await;
    let row = find(c, &format!("table#exports tr[data-export='{}']", export.0)).await;
    let form = row.find(Locator::Css("form.review-export")).await.expect("the pending export has a review form");
    let action = form.attr("action").await.expect("attr").expect("an action");
    assert_eq!(action, format!("/console/exports/{}/review", export.0));
    fill(&form, "note", "checked: district counts only").await;
    form.find(Locator::Css("button[name=decision][value=approve]")).await.expect("an approve button").click().await.expect("click approve");
    let notice = text(c, "#notice").await;
    assert!(!notice.is_empty(), "the console confirms the decision");
    assert!(!has(c, "#refusal").await, "no refusal");
    assert_eq!(export_status(&s.server, export), ExportStatus::Approved);

    let jobs = s.server.jobs().clone();
    let mut analyst = s.server.client(&jobs).await;
    let (schema, batches) = query(&mut analyst, &format!("FETCH EXPORT '{}'", export.0)).await.expect("the approved export is fetched");
    assert_eq!(rows(&batches), 12, "the released result: one row per district");
    assert!(schema.field_with_name("n").is_ok(), "the result's own columns, not a notice: {schema:?}");
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_request_filed_in_the_portal_is_approved_granted_and_queried() {
    let s = Stage::start().await;
    let c = &s.browser;
    let health = s.server.health().clone();
    let provider = person(&s.server, "户籍数据专员", "22010219810101107", Role::Provider, None, Some(RESIDENTS_PROVIDER));

    sign_in(c, &s.console, &health.token).await;
    open(c, &s.console, "/console/portal/requests/new").await;
    let form = find(c, "form#data-request").await;
    for (name, value) in [
        ("scenario", "ageing"),
        ("purpose", "各区老龄化程度研究"),
        ("partners", ""),
        ("datasets", "residents: person_id, district, age"),
        ("term_days", "90"),
        ("privacy", "zcdp"),
        ("delta", "0.000001"),
        ("total", "1"),
        ("per_query_cap", "0.5"),
        ("per_query_default", "0.1"),
        ("export_policy", "automatic"),
    ] {
        fill(&form, name, value).await;
    }
    click_and_wait(c, "button#submit-request", "#notice").await;
    assert!(!has(c, "#refusal").await, "the request is accepted: {}", c.source().await.unwrap_or_default());
    let d = &s.server.domain;
    let requests = d.store.data_requests(&d.bureau).expect("list requests");
    let request = requests.iter().find(|r| r.terms.scenario == "ageing").expect("the filed request is in governance");
    let id: DataRequestId = request.id;
    assert_eq!(request.unit, health.unit);
    assert_eq!(request.status, RequestStatus::Submitted);
    let mut pending = request.pending_parties();
    pending.sort();
    assert_eq!(pending, vec!["bureau".to_string(), RESIDENTS_PROVIDER.to_string()]);
    let page = format!("/console/requests/{}", id.0);

    sign_in(c, &s.console, &provider).await;
    open(c, &s.console, &page).await;
    assert!(text(c, "ul#pending-parties").await.contains(RESIDENTS_PROVIDER), "the provider is listed as pending");
    click_and_wait(c, "form#review-request button[name=decision][value=approve]", "#notice").await;
    let after = d.store.data_request(&d.bureau, id).expect("the request");
    assert_eq!(after.pending_parties(), vec!["bureau".to_string()], "the provider's approval is recorded");

    sign_in(c, &s.console, &s.bureau_token()).await;
    open(c, &s.console, &page).await;
    assert!(!has(c, "form#grant-request").await, "no grant before the bureau approves");
    click_and_wait(c, "form#review-request button[name=decision][value=approve]", "#notice").await;
    open(c, &s.console, &page).await;
    click_and_wait(c, "form#grant-request button", "#notice").await;
    assert!(!has(c, "#refusal").await, "the grant is accepted");
    let granted = d.store.data_request(&d.bureau, id).expect("the request");
    assert_eq!(granted.status, RequestStatus::Granted);
    let auth = granted.authorization.expect("the grant names its authorization");

    let mut analyst = s.server.client_under(&health, auth).await;
    let sql = "SELECT district, COUNT(*) AS n FROM residents GROUP BY district ORDER BY district";
    let (schema, batches) = query(&mut analyst, sql).await.expect("a query under the new authorization");
    assert_eq!(rows(&batches), 12);
    let md = schema.metadata();
    assert_eq!(md.get("shuyu.authorization"), Some(&auth.0.to_string()));
    assert_eq!(md.get("shuyu.charged").map(String::as_str), Some("0.1"), "the new terms' default rho was charged");
    assert!(schema.field_with_name("n").expect("n").metadata().contains_key("shuyu.ci95_half_width"), "a noised answer carries its error");
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supervisor_sees_the_pages_without_forms_and_a_forged_post_is_refused_by_governance() {
    let s = Stage::start().await;
    let c = &s.browser;
    let export = held_export(&s.server).await;
    let supervisor = person(&s.server, "网信办 监督员", "22010219750101104", Role::Supervisor, None, None);
    sign_in(c, &s.console, &supervisor).await;
    assert!(text(c, "#whoami").await.contains("supervisor"));
    for (path, table) in [
        ("/console/", "table#units"),
        ("/console/exports", "table#exports"),
        ("/console/requests", "table#requests"),
        ("/console/audit", "table#audit"),
        ("/console/datasets", "table#datasets"),
    ] {
        open(c, &s.console, path).await;
        find(c, table).await;
        // Filters are GET forms; actions are POSTs.
        let forms = c.find_all(Locator::Css("form[method='post' i]")).await.expect("forms");
        for f in forms {
            let action = f.attr("action").await.expect("attr").unwrap_or_default();
            assert_eq!(action, "/console/sign-out", "{path}: a supervisor gets no action form, found one posting to {action}");
        }
    }
    open(c, &s.console, "/console/exports").await;
    find(c, &format!("tr[data-export='{}']", export.0)).await;
    assert!(!has(c, "form.review-export").await);

    let cookie = format!("{}={}", console::COOKIE, session_cookie(c).await);
    let csrf = csrf_token(c).await;
    let origin = format!("http://{}", s.console.addr);
    let body = format!("csrf={csrf}&decision=approve&note=forged");
    let reply = http(s.console.addr, "POST", &format!("/console/exports/{}/review", export.0), &form_headers(&cookie, &origin), &body).await;
    assert_eq!(reply.status, 403, "{reply:?}");
    assert!(reply.body.contains("id=\"refusal\""), "the refusal is shown: {}", reply.body);
    assert!(reply.body.contains("only bureau_admin may review exports"), "governance's reason: {}", reply.body);
    assert!(reply.header("content-security-policy").is_some_and(|v| v.contains("default-src 'none'")), "{reply:?}");
    assert_eq!(export_status(&s.server, export), ExportStatus::Pending, "nothing was reviewed");
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_session_sends_the_browser_back_to_sign_in() {
    let s = Stage::start().await;
    let c = &s.browser;
    let options = ConsoleOptions { session_ttl: Duration::from_secs(2), ..ConsoleOptions::default() };
    let short = ConsoleServer::start_with(s.server.domain.store.clone(), options).await;
    sign_in(c, &short, &s.bureau_token()).await;
    open(c, &short, "/console/exports").await;
    find(c, "table#exports").await;
    // Past the two-second lifetime (the expiry is absolute, so waiting is the test).
    tokio::time::sleep(Duration::from_millis(3_000)).await;
    c.refresh().await.expect("reload");
    let notice = text(c, "#session-expired").await;
    assert!(notice.contains("expired"), "{notice}");
    let url = c.current_url().await.expect("url");
    assert_eq!(url.path(), "/console/sign-in");
    assert!(has(c, "form#sign-in").await);
    assert!(!has(c, "#whoami").await, "signed out");
    short.stop().await;
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cross_site_form_without_the_csrf_token_is_refused() {
    let s = Stage::start().await;
    let c = &s.browser;
    let export = held_export(&s.server).await;
    let target = s.console.url(&format!("/console/exports/{}/review", export.0));
    let page = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Prize</title></head><body><h1>You won</h1>\
         <form id=\"attack\" method=\"post\" action=\"{target}\">\
         <input type=\"hidden\" name=\"decision\" value=\"approve\"><input type=\"hidden\" name=\"note\" value=\"\">\
         <button type=\"submit\" id=\"claim\">Claim your prize</button></form></body></html>"
    );
    let attacker = AttackerSite::serve(page).await;
    sign_in(c, &s.console, &s.bureau_token()).await;
    c.goto(&attacker.url()).await.expect("open the attacker's page");
    click_and_wait(c, "#claim", "#refusal").await;
    let url = c.current_url().await.expect("url");
    assert_eq!(url.as_str(), target, "the browser shows the console's answer to the forged post");
    assert_eq!(export_status(&s.server, export), ExportStatus::Pending, "the forged approval did nothing");

    // The status of what the browser got: the same post, replayed with the session cookie.
    let cookie = format!("{}={}", console::COOKIE, session_cookie_at(c, &s.console).await);
    let path = format!("/console/exports/{}/review", export.0);
    let from_attacker = format!("http://{}", attacker.addr);
    let reply = http(s.console.addr, "POST", &path, &form_headers(&cookie, &from_attacker), "decision=approve&note=").await;
    assert_eq!(reply.status, 403, "{reply:?}");
    assert!(reply.body.contains("id=\"refusal\""), "{}", reply.body);
    let same_origin = format!("http://{}", s.console.addr);
    let reply = http(s.console.addr, "POST", &path, &form_headers(&cookie, &same_origin), "decision=approve&note=").await;
    assert_eq!(reply.status, 403, "a same-origin post without the token is refused too: {reply:?}");
    assert_eq!(export_status(&s.server, export), ExportStatus::Pending);
    // The session itself still works.
    open(c, &s.console, "/console/exports").await;
    find(c, &format!("tr[data-export='{}'] form.review-export", export.0)).await;
    s.finish().await;
}

/// The session cookie, read on a console page (the cookie's path is `/console`).
async fn session_cookie_at(c: &Client, console: &ConsoleServer) -> String {
    open(c, console, "/console/").await;
    session_cookie(c).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn markup_in_catalog_text_renders_as_text() {
    let s = Stage::start().await;
    let c = &s.browser;
    let payload = "<script>alert(1)</script>";
    let d = &s.server.domain;
    let mut m = shuyu_datasets::demo_manifests().into_iter().find(|m| m.name == "districts").expect("the districts manifest");
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("markup_probe.parquet");
    std::fs::copy(fixture::city().join("districts.parquet"), &file).expect("copy the districts file");
    let location = file.to_string_lossy().to_string();

    // A dataset's name is an SQL identifier: the catalog refuses the payload as a name...
    m.name = payload.into();
    let verified = shuyu_datasets::verify_parquet(&m, &file).expect("verify");
    let refused = d.store.register_dataset(&d.bureau, &m, &location, &verified).expect_err("not an identifier");
    assert!(refused.to_string().contains("SQL identifier"), "{refused}");
    // ...so it goes where the catalog takes free text: the domain and the description.
    m.name = "markup_probe".into();
    m.domain = payload.into();
    m.description = payload.into();
    let verified = shuyu_datasets::verify_parquet(&m, &file).expect("verify");
    d.store.register_dataset(&d.bureau, &m, &location, &verified).expect("register the probe");

    sign_in(c, &s.console, &s.bureau_token()).await;
    open(c, &s.console, "/console/datasets").await;
    find(c, "table#datasets").await;
    let mut names = Vec::new();
    for td in c.find_all(Locator::Css("td.dataset-name")).await.expect("names") {
        names.push(td.text().await.expect("text").trim().to_string());
    }
    assert!(names.iter().any(|n| n == "markup_probe"), "{names:?}");
    let mut literal = 0;
    for td in c.find_all(Locator::Css("table#datasets td")).await.expect("cells") {
        if td.text().await.expect("text").trim() == payload {
            literal += 1;
        }
    }
    assert!(literal >= 1, "the payload is shown as its literal text in the table");
    assert!(!has(c, "script").await, "no script element in the page");
    assert!(!alert_open(c).await, "no alert is open");
    let source = c.source().await.expect("source");
    assert!(source.contains("&lt;script&gt;"), "the payload is escaped in the HTML");
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn screenshots_of_the_main_pages() {
    let s = Stage::start().await;
    let c = &s.browser;
    let dir = browser::screenshots_dir();
    println!("console screenshots: {}", dir.display());
    held_export(&s.server).await;
    let health = s.server.health().clone();
    let now = s.server.domain.store.now();
    s.server
        .domain
        .store
        .submit_data_request(
            &health.analyst,
            &NewDataRequest {
                scenario: "ageing".into(),
                purpose: "各区老龄化程度研究".into(),
                partners: vec![],
                datasets: vec![GrantedDataset { dataset: "residents".into(), columns: vec!["person_id".into(), "district".into(), "age".into()] }],
                term_start: now,
                term_end: now + chrono::Duration::days(90),
                rights: vec![Right::ProcessingUse],
                mode: Mode::Free,
                privacy: PrivacyTerms { kind: PrivacyDefinition::Zcdp, delta: 1e-6 },
                budget: BudgetTerms { total: 1.0, per_query_cap: 0.5, per_query_default: 0.1, delta_total: None },
                export_policy: ExportPolicy::Automatic,
            },
        )
        .expect("a request to show");

    console::forget_session(c, &s.console).await;
    find(c, "form#sign-in").await;
    let mut shots = vec![browser::screenshot(c, &dir, "sign-in").await];
    sign_in(c, &s.console, &s.bureau_token()).await;
    let unit_page = format!("/console/units/{}", health.unit.0);
    for (name, path, shows) in [
        ("dashboard", "/console/", "svg#jobs-per-day"),
        ("exports", "/console/exports", "table#exports"),
        ("requests", "/console/requests", "table#requests"),
        ("audit", "/console/audit", "#chain-status"),
        ("unit-report", unit_page.as_str(), "svg#budget-spent"),
    ] {
        open(c, &s.console, path).await;
        find(c, shows).await;
        shots.push(browser::screenshot(c, &dir, name).await);
    }
    assert!(text(c, "#whoami").await.contains("bureau_admin"));
    sign_in(c, &s.console, &health.token).await;
    open(c, &s.console, "/console/portal").await;
    find(c, "table#my-authorizations").await;
    shots.push(browser::screenshot(c, &dir, "portal").await);
    for shot in &shots {
        let size = std::fs::metadata(shot).expect("the screenshot exists").len();
        assert!(size > 2_000, "{} is a real page ({size} bytes)", shot.display());
        println!("  {}", shot.display());
    }
    assert_eq!(shots.len(), 7);
    s.finish().await;
}
