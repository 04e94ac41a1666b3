//! The web console's pages at the demo's size, in process: `shuyu::console::router` called
//! with `tower::ServiceExt::oneshot` and a signed-in session cookie, no socket.
//!
//! The store is the demo's: `shuyu::demo::bootstrap` (the bureau, the catalog, two units
//! with one authorization each) over a small generated city, the demo's twelve queries
//! through the runtime (jobs, charges, a held export approved and fetched, refusals), then
//! `shuyu::demo::workflow::walk` (announcement, application, experts, agreement: a third
//! unit; a data request approved and granted) and one query under the grant. The city is
//! smaller than the demo's (2 000 residents): the pages show governance records, whose
//! counts are the demo's, not data.
//!
//! Before measuring, it prints each page's weight (HTML bytes, plus the one stylesheet) and
//! a median of 21 plain calls against the 100 ms budget; then criterion measures each page.
//!
//! `cargo bench -p shuyu --bench console` (release); `cargo bench -p shuyu --bench console
//! --profile dev` for a debug build's figure.

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use std::path::Path;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use criterion::{criterion_group, criterion_main, Criterion};
use shuyu::config::Limits;
use shuyu::console::ConsoleOptions;
use shuyu::demo::DemoDomain;
use shuyu_datasets::generate::GenerateOptions;
use shuyu_governance::ExportDecision;
use shuyu_runtime::Runtime;
use tower::ServiceExt;

/// A page answers within this (the console's budget).
const BUDGET: Duration = Duration::from_millis(100);

/// The demo's queries (server/src/demo/mod.rs): `chunhe-health`'s, then `beilin-jobs'`.
const HEALTH: &[&str] = &[
    "EXPLAIN PRIVACY SELECT department, COUNT(*) AS visits, AVG(cost) AS avg_cost FROM medical_visits GROUP BY department",
    "SELECT department, COUNT(*) AS visits, AVG(cost) AS avg_cost FROM medical_visits GROUP BY department ORDER BY visits DESC",
    "SELECT r.district, COUNT(*) AS visits, SUM(v.cost) AS total_cost FROM medical_visits v JOIN residents r ON v.person_id = r.person_id GROUP BY r.district ORDER BY total_cost DESC",
    "SELECT CASE WHEN age < 18 THEN '0-17' WHEN age < 60 THEN '18-59' ELSE '60+' END AS age_band, COUNT(DISTINCT v.person_id) AS patients FROM medical_visits v JOIN residents r ON v.person_id = r.person_id GROUP BY 1 ORDER BY 1",
    "SELECT hospital, COUNT(*) AS visits FROM medical_visits GROUP BY hospital ORDER BY visits DESC LIMIT 10",
    "SELECT person_id, cost FROM medical_visits WHERE cost > 40000",
    "SELECT name FROM residents",
];
const JOBS: &[&str] = &[
    "SELECT district, AVG(CASE WHEN employed THEN 1 ELSE 0 END) AS employment_rate, MEDIAN(age) AS median_age FROM residents WHERE age BETWEEN 18 AND 60 GROUP BY district ORDER BY employment_rate DESC",
    "WITH e AS (SELECT district, COUNT(*) AS firms, SUM(employees) AS jobs FROM enterprises GROUP BY district) SELECT e.district, e.firms, e.jobs, e.firms / d.area_km2 AS firms_per_km2 FROM e JOIN districts d ON e.district = d.district ORDER BY firms_per_km2 DESC",
    "SELECT industry, COUNT(*) AS firms, AVG(employees) AS avg_employees FROM enterprises WHERE founded_year >= 2010 GROUP BY industry",
    "SELECT district, MAX(age) FROM residents GROUP BY district",
    "SELECT COUNT(*) FROM medical_visits",
];

/// The demo-sized store, the console's router, and signed-in cookies.
struct Demo {
    _dir: tempfile::TempDir,
    domain: DemoDomain,
    router: Router,
    bureau: String,
    analyst: String,
    walk: shuyu::demo::workflow::Walk,
}

fn build(rt: &tokio::runtime::Runtime) -> Demo {
    let dir = tempfile::tempdir().expect("temp dir");
    let datasets = dir.path().join("datasets");
    shuyu_datasets::generate::generate(&GenerateOptions::new(2_000, &datasets, 11)).expect("generate the city");
    let domain = shuyu::demo::bootstrap(&dir.path().join("domain"), &datasets).expect("demo domain");
    let runtime = Runtime::new(domain.store.clone(), Limits::default());
    let mut held = Vec::new();
    rt.block_on(async {
        for (u, queries) in domain.units.iter().zip([HEALTH, JOBS]) {
            for sql in queries {
                // Refusals are part of the demo: they are audited, and shown on the pages.
                if let Ok(o) = runtime.query(&u.analyst, u.authorization, sql, None).await {
                    held.extend(o.held.map(|h| (u.clone(), h.export)));
                }
            }
        }
        let (u, export) = held.first().cloned().expect("beilin-jobs' results are held");
        domain.store.review_export(&domain.bureau, export, &ExportDecision::Approve).expect("approve");
        runtime.fetch_export(&u.analyst, export).await.expect("fetch");
    });
    let walk = shuyu::demo::workflow::walk(&domain).expect("the workflow walk");
    rt.block_on(async {
        let sql = "SELECT district, COUNT(*) AS residents, AVG(age) AS avg_age FROM residents GROUP BY district ORDER BY district";
        runtime.query(&walk.analyst, walk.granted, sql, None).await.expect("a query under the grant");
    });
    let router = shuyu::console::router(domain.store.clone(), ConsoleOptions::default());
    let bureau = rt.block_on(sign_in(&router, &domain.bureau_token));
    let analyst = rt.block_on(sign_in(&router, &domain.units[0].token));
    Demo { _dir: dir, domain, router, bureau, analyst, walk }
}

/// Percent-encodes a form value.
fn form_value(v: &str) -> String {
    v.bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b"-._~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

/// Signs in with `token`; the `Cookie` header value of the session.
async fn sign_in(router: &Router, token: &str) -> String {
    let req = Request::post("/console/sign-in")
        .header(header::HOST, "127.0.0.1")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(format!("token={}", form_value(token))))
        .expect("request");
    let resp = router.clone().oneshot(req).await.expect("sign-in answers");
    assert_eq!(resp.status(), StatusCode::SEE_OTHER, "signing in redirects to the dashboard");
    let set = resp.headers().get(header::SET_COOKIE).expect("a session cookie").to_str().expect("ascii");
    set.split(';').next().expect("name=value").to_string()
}

/// GETs `path` with `cookie`; the status and the body's bytes.
async fn get(router: &Router, path: &str, cookie: &str) -> (StatusCode, usize) {
    let req = Request::get(path).header(header::HOST, "127.0.0.1").header(header::COOKIE, cookie).body(Body::empty()).expect("request");
    let resp = router.clone().oneshot(req).await.expect("the console answers");
    let status = resp.status();
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX).await.expect("the body");
    (status, body.len())
}

/// Every page with its viewer's cookie.
fn pages(d: &Demo) -> Vec<(String, String)> {
    let b = |p: String| (p, d.bureau.clone());
    let mut v = vec![
        b("/console/".into()),
        b("/console/datasets".into()),
        b("/console/exports".into()),
        b("/console/imports".into()),
        b("/console/announcements".into()),
        b("/console/applications".into()),
        b(format!("/console/applications/{}", d.walk.application.0)),
        b("/console/requests".into()),
        b(format!("/console/requests/{}", d.walk.request.0)),
        b("/console/quality".into()),
        b("/console/evaluations".into()),
        b("/console/audit".into()),
    ];
    for u in &d.domain.units {
        v.push(b(format!("/console/units/{}", u.unit.0)));
    }
    v.push(b(format!("/console/units/{}", d.walk.unit.0)));
    for p in ["/console/portal", "/console/portal/requests/new", "/console/portal/quality/new"] {
        v.push((p.into(), d.analyst.clone()));
    }
    v
}

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

fn console_pages(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("tokio");
    let demo = build(&rt);
    let pages = pages(&demo);
    let (css_status, css) = rt.block_on(get(&demo.router, "/console/static/console.css", &demo.bureau));
    assert_eq!(css_status, StatusCode::OK, "the stylesheet is served");
    println!("\nconsole pages at the demo's size ({} units, profile {}):", demo.domain.units.len() + 1, profile());
    println!("{:<36} {:>9} {:>9} {:>10} {:>8}", "page", "html B", "+css B", "median ms", "budget");
    let mut over = Vec::new();
    for (path, cookie) in &pages {
        let (status, bytes) = rt.block_on(get(&demo.router, path, cookie));
        assert_eq!(status, StatusCode::OK, "{path} answers 200");
        let times: Vec<Duration> = (0..21)
            .map(|_| {
                let t = Instant::now();
                rt.block_on(get(&demo.router, path, cookie));
                t.elapsed()
            })
            .collect();
        let m = median(times);
        let ok = m < BUDGET;
        if !ok {
            over.push(path.clone());
        }
        println!("{path:<36} {bytes:>9} {:>9} {:>10.2} {:>8}", bytes + css, m.as_secs_f64() * 1e3, if ok { "ok" } else { "OVER" });
    }
    println!("stylesheet /console/static/console.css: {css} B");
    if !over.is_empty() {
        println!("over the {} ms budget: {over:?}", BUDGET.as_millis());
    }

    let mut group = c.benchmark_group("console_page");
    group.sample_size(20);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(2));
    for (path, cookie) in &pages {
        group.bench_function(path.as_str(), |b| b.iter(|| rt.block_on(get(&demo.router, path, cookie))));
    }
    group.finish();
}

/// The build profile of this binary, from its path (`<target>/<profile>/deps/…`).
fn profile() -> String {
    let exe = std::env::current_exe().unwrap_or_default();
    exe.ancestors().nth(2).and_then(Path::file_name).map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "?".into())
}

criterion_group!(benches, console_pages);
criterion_main!(benches);
