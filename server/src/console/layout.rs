//! The page frame: `<h1>`, `nav#nav` (links by role, sign-out), `span#whoami`, the notice
//! of a successful POST (`p#notice`), a refusal (`p#refusal`), and the mapping of an error
//! to a refusal's status and text.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup, DOCTYPE};
use serde::Deserialize;
use shuyu_governance::Role;
use shuyu_privacy::Fault;

use super::session::Session;
use crate::Error;

/// The signed-in caller of a request, re-verified by governance.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// The session.
    pub session: Session,
    /// The person's name, as governance has it now.
    pub name: String,
    /// The person's role, as governance has it now.
    pub role: Role,
}

impl Ctx {
    /// The governance principal of the caller.
    pub fn principal(&self) -> shuyu_governance::Principal {
        self.session.principal.clone()
    }

    /// The role's stored name (`bureau_admin`, `supervisor`, …).
    pub fn role_name(&self) -> &'static str {
        self.role.as_str()
    }

    /// Whether the caller is a bureau admin (shown action forms of the bureau).
    pub fn is_bureau(&self) -> bool {
        self.role_name() == "bureau_admin"
    }

    /// Whether the caller reads the whole domain (bureau and supervisors).
    pub fn oversees(&self) -> bool {
        matches!(self.role_name(), "bureau_admin" | "supervisor")
    }

    /// The hidden CSRF field every form carries.
    pub fn csrf_field(&self) -> Markup {
        html! { input type="hidden" name="csrf" value=(self.session.csrf); }
    }
}

/// `?notice=CODE` after a successful POST: only known codes are shown, with fixed texts.
#[derive(Debug, Default, Deserialize)]
pub struct NoticeQuery {
    /// The notice's code.
    pub notice: Option<String>,
}

/// The fixed text of a notice code.
fn notice_text(code: &str) -> Option<&'static str> {
    Some(match code {
        "export-approved" => "The export was approved and its manifest signed; the unit can fetch it now.",
        "export-rejected" => "The export was rejected; the unit has been told the reason.",
        "import-approved" => "The import was approved; the unit may upload and use it.",
        "import-rejected" => "The import was rejected.",
        "issue-filed" => "The data-quality issue was filed; the bureau routes it to the dataset's provider.",
        "issue-routed" => "The issue was routed to the dataset's provider with its deadline.",
        "issue-answered" => "The issue was answered and resolved.",
        "announcement-published" => "The announcement was published.",
        "announcement-closed" => "The announcement was closed.",
        "application-submitted" => "The application was submitted.",
        "application-updated" => "The application was updated.",
        "agreement-signed" => "The agreement was signed and the first authorization granted.",
        "request-submitted" => "The data request was submitted for review by the bureau and the providers.",
        "request-reviewed" => "Your review of the data request was recorded.",
        "request-granted" => "The data request was granted as an authorization.",
        "request-withdrawn" => "The data request was withdrawn.",
        "evaluation-recorded" => "The evaluation was recorded.",
        "rectification-reported" => "The rectification report was recorded.",
        "rectification-accepted" => "The rectification was accepted.",
        _ => return None,
    })
}

/// What a page shows above its content: a notice, or a refusal.
#[derive(Debug, Default)]
pub struct Flash {
    /// The notice of a successful POST.
    pub notice: Option<&'static str>,
    /// Why the last POST was refused.
    pub refusal: Option<String>,
}

impl Flash {
    /// The notice named by the query, if it is a known one.
    pub fn from_query(q: &NoticeQuery) -> Flash {
        Flash { notice: q.notice.as_deref().and_then(notice_text), refusal: None }
    }

    /// A refusal, with the status it answers with.
    pub fn refused(e: &Error) -> (Flash, StatusCode) {
        let (status, reason) = refusal_of(e);
        (Flash { notice: None, refusal: Some(reason) }, status)
    }
}

/// The status and text of a refusal: 400 invalid, 403 denied, 404 not found, 409 conflict;
/// a failure of the server is 500 with a generic text (details in the server log only).
pub fn refusal_of(e: &Error) -> (StatusCode, String) {
    let status = match e.fault() {
        Fault::InvalidArgument | Fault::QueryFailed => StatusCode::BAD_REQUEST,
        Fault::Refused(_) | Fault::PermissionDenied | Fault::Unauthenticated | Fault::BudgetExhausted => StatusCode::FORBIDDEN,
        Fault::NotFound => StatusCode::NOT_FOUND,
        Fault::FailedPrecondition => StatusCode::CONFLICT,
        Fault::ResourceLimit => StatusCode::TOO_MANY_REQUESTS,
        Fault::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Fault::TimedOut | Fault::Charged | Fault::IntegrityBroken | Fault::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let text = match e.fault() {
        Fault::Internal => {
            tracing::error!(error = %e, "console request failed");
            "the server failed to answer (internal error); retry later, and if it persists ask the bureau to look at the server log".to_string()
        }
        _ => e.to_string(),
    };
    (status, text)
}

/// Links of the navigation, by role.
fn links(role: &str) -> &'static [(&'static str, &'static str)] {
    match role {
        "bureau_admin" | "supervisor" => &[
            ("/console/", "Dashboard"),
            ("/console/datasets", "Datasets"),
            ("/console/exports", "Exports"),
            ("/console/imports", "Imports"),
            ("/console/announcements", "Announcements"),
            ("/console/applications", "Applications"),
            ("/console/requests", "Data requests"),
            ("/console/quality", "Quality"),
            ("/console/evaluations", "Evaluations"),
            ("/console/audit", "Audit"),
        ],
        "unit_analyst" => &[
            ("/console/portal", "Portal"),
            ("/console/datasets", "Datasets"),
            ("/console/portal/requests/new", "Request data"),
            ("/console/requests", "My requests"),
            ("/console/portal/quality/new", "File an issue"),
            ("/console/quality", "Quality"),
            ("/console/evaluations", "Evaluations"),
            ("/console/announcements", "Announcements"),
            ("/console/applications", "Applications"),
        ],
        "provider" => &[
            ("/console/datasets", "Datasets"),
            ("/console/requests", "Data requests"),
            ("/console/quality", "Quality"),
        ],
        "expert" => &[("/console/announcements", "Announcements"), ("/console/applications", "Applications")],
        _ => &[
            ("/console/announcements", "Announcements"),
            ("/console/applications", "My applications"),
            ("/console/portal/applications/new", "Apply"),
        ],
    }
}

/// The page where a role lands after sign-in.
pub fn home(role: &str) -> &'static str {
    links(role).first().map(|(href, _)| *href).unwrap_or("/console/announcements")
}

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · shuyu console" }
            link rel="stylesheet" href="/console/static/console.css";
        }
    }
}

/// A page of a signed-in caller.
pub fn page(ctx: &Ctx, title: &str, flash: &Flash, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                header {
                    nav id="nav" {
                        @for (href, label) in links(ctx.role_name()) { a href=(href) { (label) } }
                    }
                    div class="who" {
                        span id="whoami" { (ctx.name) " (" (ctx.role_name()) ")" }
                        form id="sign-out" method="post" action="/console/sign-out" {
                            (ctx.csrf_field())
                            button type="submit" id="sign-out-submit" { "Sign out" }
                        }
                    }
                }
                main {
                    h1 { (title) }
                    @if let Some(n) = flash.notice { p class="notice" id="notice" { (n) } }
                    @if let Some(r) = &flash.refusal { p class="refusal" id="refusal" { (r) } }
                    (body)
                }
            }
        }
    }
}

/// A page without a session (sign-in, not found).
pub fn bare_page(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body { main { h1 { (title) } (body) } }
        }
    }
}

/// Frames `body` as a page answering `status`; a failed body becomes a refusal.
pub fn respond(ctx: &Ctx, title: &str, mut flash: Flash, status: StatusCode, body: Result<Markup, Error>) -> Response {
    match body {
        Ok(body) => (status, page(ctx, title, &flash, body)).into_response(),
        Err(e) => {
            let (own, reason) = refusal_of(&e);
            let status = if status == StatusCode::OK { own } else { status };
            flash.refusal.get_or_insert(reason);
            (status, page(ctx, title, &flash, html! {})).into_response()
        }
    }
}

/// A refusal page of a signed-in caller (a forged or stale form).
pub fn refusal_page(ctx: &Ctx, status: StatusCode, reason: &str) -> Response {
    let flash = Flash { notice: None, refusal: Some(reason.to_string()) };
    (status, page(ctx, "Refused", &flash, html! { p { a href=(home(ctx.role_name())) { "Back to the console" } } })).into_response()
}

/// `303 See Other` to `to` (a path of the console, never built from input).
pub fn see_other(to: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// A time as shown in tables (UTC, to the minute).
pub fn time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// A budget gauge: `<meter>` of spent over total, with the figures.
pub fn gauge(spent: f64, total: f64, label: &str) -> Markup {
    html! {
        meter min="0" max=(total) value=(spent.min(total)) title=(label) { (label) }
        " " span class="figures" { (label) }
    }
}
