//! The unit portal (a unit's analysts): `/console/portal` (its authorizations with budget
//! gauges, its jobs, its exports: a released one shows the `FETCH EXPORT` to run), and
//! `/console/portal/quality/new` (filing a data-quality issue, `Store::file_issue`).
//! Governance scopes every read to the caller's own unit.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{html, Markup};
use shuyu_governance::{Authorization, Budget, ExportRecord, ExportStatus, Job, JobFilter, UnitId};

use super::dashboard::authorizations_table;
use super::layout::{respond, see_other, time, Ctx, Flash, NoticeQuery};
use super::security::Posted;
use super::App;
use crate::offload::store_call;
use crate::Error;

/// Jobs shown in the portal.
const JOBS: u32 = 50;

struct Mine {
    authorizations: Vec<(Authorization, Budget)>,
    jobs: Vec<Job>,
    exports: Vec<ExportRecord>,
    unit: Option<(UnitId, String)>,
}

async fn mine(app: &App, ctx: &Ctx) -> Result<Mine, Error> {
    let p = ctx.principal();
    store_call(&app.store, move |s| {
        let unit = match p.unit_id {
            Some(u) => Some((u, s.unit(&p, u)?.name)),
            None => None,
        };
        let authorizations =
            s.authorizations(&p, None)?.into_iter().map(|a| s.budget(&p, a.id).map(|b| (a, b))).collect::<Result<Vec<_>, _>>()?;
        let jobs = s.jobs(&p, &JobFilter { limit: Some(JOBS), ..JobFilter::default() })?;
        let mut exports = s.exports(&p, None)?;
        exports.reverse();
        Ok(Mine { authorizations, jobs, exports, unit })
    })
    .await
}

/// Whether an export has left the domain and can be fetched.
fn released(e: &ExportRecord) -> bool {
    matches!(e.status, ExportStatus::Automatic | ExportStatus::Approved)
}

fn view(m: &Mine) -> Markup {
    let names: HashMap<UnitId, String> = m.unit.iter().cloned().collect();
    let scenarios: HashMap<_, _> = m.authorizations.iter().map(|(a, _)| (a.id, a.scenario.as_str())).collect();
    html! {
        @if let Some((id, name)) = &m.unit {
            p class="summary" { (name) " · " a href=(format!("/console/units/{}", id.0)) { "operation report" } }
        }
        section {
            h2 { "My authorizations" }
            (authorizations_table("my-authorizations", &m.authorizations, &names))
        }
        section {
            h2 { "My jobs (latest " (JOBS) ")" }
            table id="my-jobs" {
                thead { tr { th { "Job" } th { "Scenario" } th { "Environment" } th { "Status" } th { "Cost" } th { "Started" } th { "SQL" } } }
                tbody {
                    @for j in &m.jobs {
                        tr data-job=(j.id.0) {
                            td { (j.id.0) }
                            td { (scenarios.get(&j.authorization).copied().unwrap_or("")) }
                            td { (j.environment) }
                            td class="status" { (j.status) }
                            td { (j.cost) }
                            td { (time(j.created_at)) }
                            td { code class="sql" { (j.sql) } }
                        }
                    }
                }
            }
        }
        section {
            h2 { "My exports" }
            table id="my-exports" {
                thead { tr { th { "Export" } th { "Product" } th { "Status" } th { "Requested" } th { "Fetch" } } }
                tbody {
                    @for e in &m.exports {
                        tr data-export=(e.id.0) data-status=(e.status) {
                            td { (e.id.0) }
                            td { (e.product.0) }
                            td class="status" { (e.status) }
                            td { (time(e.requested_at)) }
                            td {
                                @if released(e) {
                                    code class="fetch" { "FETCH EXPORT '" (e.id.0) "'" }
                                } @else if e.status == ExportStatus::Pending {
                                    "waiting for the bureau's review"
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `GET /console/portal`.
pub async fn page(State(app): State<App>, ctx: Ctx, Query(q): Query<NoticeQuery>) -> Response {
    let body = mine(&app, &ctx).await.map(|m| view(&m));
    respond(&ctx, "Unit portal", Flash::from_query(&q), StatusCode::OK, body)
}

const FILE_ISSUE: &str = "File a data-quality issue";

/// The datasets granted to the caller's unit (suggestions of the form).
async fn granted(app: &App, ctx: &Ctx) -> Result<Vec<String>, Error> {
    let p = ctx.principal();
    store_call(&app.store, move |s| {
        let mut names: Vec<String> = s.authorizations(&p, None)?.into_iter().flat_map(|a| a.datasets.into_iter().map(|d| d.dataset)).collect();
        names.sort();
        names.dedup();
        Ok(names)
    })
    .await
}

fn issue_view(ctx: &Ctx, datasets: &[String], posted: Option<&Posted>) -> Markup {
    let kept = |name: &str| posted.map(|p| p.form.text(name)).unwrap_or_default();
    html! {
        form id="file-issue" method="post" action="/console/portal/quality/new" {
            (ctx.csrf_field())
            label { "Dataset " input name="dataset" type="text" list="granted-datasets" value=(kept("dataset")); }
            datalist id="granted-datasets" { @for d in datasets { option value=(d) {} } }
            label { "Title " input name="title" type="text" maxlength="200" value=(kept("title")); }
            label { "Description " textarea name="description" rows="6" maxlength="8000" { (kept("description")) } }
            button type="submit" id="file-issue-submit" { "File the issue" }
        }
    }
}

/// `GET /console/portal/quality/new`.
pub async fn issue_form(State(app): State<App>, ctx: Ctx) -> Response {
    let body = granted(&app, &ctx).await.map(|d| issue_view(&ctx, &d, None));
    respond(&ctx, FILE_ISSUE, Flash::default(), StatusCode::OK, body)
}

/// `POST /console/portal/quality/new`: `Store::file_issue`.
pub async fn file_issue(State(app): State<App>, posted: Posted) -> Response {
    let ctx = &posted.ctx;
    let p = ctx.principal();
    let (dataset, title, description) = (posted.form.text("dataset"), posted.form.text("title"), posted.form.text("description"));
    match store_call(&app.store, move |s| s.file_issue(&p, &dataset, &title, &description)).await {
        Ok(_) => see_other("/console/quality?notice=issue-filed"),
        Err(e) => {
            let (flash, status) = Flash::refused(&e);
            let body = granted(&app, ctx).await.map(|d| issue_view(ctx, &d, Some(&posted)));
            respond(ctx, FILE_ISSUE, flash, status, body)
        }
    }
}
