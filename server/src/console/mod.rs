//! The web console of the bureau and the portal of operating units: an axum HTTP server
//! of server-side HTML (maud: every value escaped by construction), no script at all, one
//! small stylesheet, plots as inline SVG.
//!
//! The console is another edge over the same governance operations as the admin gRPC
//! service: each page and form calls the [`Store`] methods the admin service calls, on the
//! blocking pool ([`crate::offload`]), as the signed-in person. Governance authorizes every
//! call and re-verifies the caller each time; the console only hides the forms a role
//! cannot use (a forged POST is still refused by governance, and shown as a refusal).
//!
//! ## Layout
//! - this module: [`ConsoleOptions`], [`router`], [`serve`], the route table.
//! - [`session`]: in-memory sessions keyed by SHA-256 of the cookie secret, absolute
//!   expiry, the CSRF token's derivation.
//! - [`security`]: security headers (middleware), the signed-in caller extractor
//!   ([`layout::Ctx`]), the POST checks ([`security::Posted`]: Origin, CSRF).
//! - [`layout`]: the page frame (title, nav, whoami), notices and refusals, the mapping of
//!   an error to a refusal's status. [`forms`]: reading posted fields.
//! - [`signin`]: sign-in and sign-out.
//! - pages: [`dashboard`] (units, authorizations with budget gauges, jobs per day),
//!   [`catalog`] (datasets), [`reviews`] (export and import review queues), [`audit`] (trail
//!   and chain verification), [`units`] (a unit's report, budget spent over time),
//!   [`portal`] (a unit's authorizations, jobs, exports; filing a quality issue),
//!   [`quality`] (issues: routing, answers).
//! - workflow pages: [`announcements`], [`applications`] (review, opinions, decision,
//!   agreement) and [`apply`] (an applicant's form), [`requests`] (data requests: review,
//!   grant, the portal's form), [`evaluations`]; [`terms`]: an authorization's terms as
//!   form fields. [`svg`]: the inline plots.
//! - `static/console.css`: the stylesheet, embedded.

pub mod announcements;
pub mod applications;
pub mod apply;
pub mod audit;
pub mod catalog;
pub mod dashboard;
pub mod evaluations;
pub mod forms;
pub mod layout;
pub mod portal;
pub mod quality;
pub mod requests;
pub mod reviews;
pub mod security;
pub mod session;
pub mod signin;
pub mod svg;
pub mod terms;
pub mod units;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_workflow;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use maud::html;
use shuyu_governance::Store;
use tokio::net::TcpListener;

use crate::Error;
use session::Sessions;

/// How the console runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsoleOptions {
    /// How long a session lasts from sign-in, whatever the activity (default 30 minutes).
    pub session_ttl: Duration,
    /// Mark the session cookie `Secure` (behind TLS; false on loopback http).
    pub secure_cookies: bool,
}

impl Default for ConsoleOptions {
    fn default() -> Self {
        ConsoleOptions { session_ttl: Duration::from_secs(30 * 60), secure_cookies: false }
    }
}

/// What every handler shares: the store, the sessions, the options.
#[derive(Debug, Clone)]
pub struct App {
    /// The governance store.
    pub store: Store,
    /// The live sessions.
    pub sessions: Arc<Sessions>,
    /// The options.
    pub options: ConsoleOptions,
}

/// The stylesheet, embedded.
const CSS: &str = include_str!("static/console.css");

async fn stylesheet() -> Response {
    let mut r = CSS.into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/css; charset=utf-8"));
    r
}

async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, layout::bare_page("Not found", html! {
        p class="refusal" id="refusal" { "There is no such page; go back to the console." }
        p { a href="/console/" { "The console" } }
    }))
        .into_response()
}

async fn to_console() -> Response {
    layout::see_other("/console/")
}

/// The console's routes over `store` (for `serve`, tests and in-process benches).
pub fn router(store: Store, options: ConsoleOptions) -> Router {
    let app = App { store, sessions: Arc::new(Sessions::new(options.session_ttl)), options };
    Router::new()
        .route("/", get(to_console))
        .route("/console", get(to_console))
        .route("/console/static/console.css", get(stylesheet))
        .route("/console/sign-in", get(signin::form).post(signin::sign_in))
        .route("/console/sign-out", post(signin::sign_out))
        .route("/console/", get(dashboard::page))
        .route("/console/datasets", get(catalog::page))
        .route("/console/exports", get(reviews::exports_page))
        .route("/console/exports/{id}/review", post(reviews::review_export))
        .route("/console/imports", get(reviews::imports_page))
        .route("/console/imports/{id}/review", post(reviews::review_import))
        .route("/console/audit", get(audit::page))
        .route("/console/units/{id}", get(units::page))
        .route("/console/portal", get(portal::page))
        .route("/console/portal/quality/new", get(portal::issue_form).post(portal::file_issue))
        .route("/console/quality", get(quality::page))
        .route("/console/quality/{id}/route", post(quality::route))
        .route("/console/quality/{id}/answer", post(quality::answer))
        .route("/console/announcements", get(announcements::page).post(announcements::publish))
        .route("/console/announcements/{id}/close", post(announcements::close))
        .route("/console/applications", get(applications::list))
        .route("/console/applications/{id}", get(applications::one))
        .route("/console/applications/{id}/qualification", post(applications::qualification))
        .route("/console/applications/{id}/opinion", post(applications::opinion))
        .route("/console/applications/{id}/decision", post(applications::decision))
        .route("/console/applications/{id}/agreement", post(applications::agreement))
        .route("/console/applications/{id}/withdraw", post(applications::withdraw))
        .route("/console/portal/applications/new", get(apply::form).post(apply::submit))
        .route("/console/requests", get(requests::list))
        .route("/console/requests/{id}", get(requests::one))
        .route("/console/requests/{id}/review", post(requests::review))
        .route("/console/requests/{id}/grant", post(requests::grant))
        .route("/console/requests/{id}/withdraw", post(requests::withdraw))
        .route("/console/portal/requests/new", get(requests::new_form).post(requests::submit))
        .route("/console/evaluations", get(evaluations::page).post(evaluations::record))
        .route("/console/evaluations/{id}/rectification", post(evaluations::rectification))
        .route("/console/evaluations/{id}/accept", post(evaluations::accept))
        .fallback(not_found)
        .layer(axum::middleware::from_fn(security::headers))
        .with_state(app)
}

/// Serves the console on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    store: Store,
    options: ConsoleOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    axum::serve(listener, router(store, options)).with_graceful_shutdown(shutdown).await.map_err(Error::io("serving the web console"))
}
