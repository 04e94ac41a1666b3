//! `/console/quality`: data-quality issues as the caller may see them (`Store::issues`):
//! the bureau routes an open issue to its dataset's provider with a deadline
//! (`Store::route_issue`), the provider answers it (`Store::answer_issue`). Units file
//! issues from the portal.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{html, Markup};
use shuyu_governance::{IssueId, IssueStatus, QualityIssue};

use super::layout::{respond, see_other, time, Ctx, Flash, NoticeQuery};
use super::security::Posted;
use super::App;
use crate::offload::store_call;
use crate::Error;

const TITLE: &str = "Data-quality issues";

async fn view(app: &App, ctx: &Ctx) -> Result<Markup, Error> {
    let p = ctx.principal();
    let issues: Vec<QualityIssue> = store_call(&app.store, move |s| s.issues(&p)).await?;
    let provider = ctx.role_name() == "provider";
    Ok(html! {
        table id="issues" {
            thead { tr { th { "Issue" } th { "Dataset" } th { "Unit" } th { "Provider" } th { "Title" } th { "Description" } th { "Status" } th { "Deadline" } th { "Answer" } th { "Action" } } }
            tbody {
                @for i in &issues {
                    tr data-issue=(i.id.0) data-status=(i.status) class=[i.overdue.then_some("overdue")] {
                        td { (i.id.0) }
                        td { (i.dataset_name) }
                        td { (i.unit.0) }
                        td { (i.provider) }
                        td class="title" { (i.title) }
                        td class="description" { (i.description) }
                        td class="status" { (i.status) @if i.overdue { " (overdue)" } }
                        td { @if let Some(d) = i.deadline { (d.format("%Y-%m-%d")) } }
                        td class="answer" { @if let Some(r) = &i.resolution { (r) } }
                        td {
                            @if ctx.is_bureau() && i.status == IssueStatus::Open {
                                form class="route-issue" method="post" action=(format!("/console/quality/{}/route", i.id.0)) {
                                    (ctx.csrf_field())
                                    label { "Deadline " input name="deadline" type="text" inputmode="numeric" placeholder="YYYY-MM-DD"; }
                                    button type="submit" { "Route to provider" }
                                }
                            }
                            @if provider && matches!(i.status, IssueStatus::Routed | IssueStatus::InProgress) {
                                form class="answer-issue" method="post" action=(format!("/console/quality/{}/answer", i.id.0)) {
                                    (ctx.csrf_field())
                                    label { "Answer " textarea name="answer" rows="3" maxlength="8000" {} }
                                    button type="submit" { "Answer and resolve" }
                                }
                            }
                            @if let Some(at) = i.routed_at { span class="routed" { "routed " (time(at)) } }
                        }
                    }
                }
            }
        }
        @if issues.is_empty() { p class="empty" { "No issue." } }
    })
}

/// `GET /console/quality`.
pub async fn page(State(app): State<App>, ctx: Ctx, Query(q): Query<NoticeQuery>) -> Response {
    let body = view(&app, &ctx).await;
    respond(&ctx, TITLE, Flash::from_query(&q), StatusCode::OK, body)
}

async fn after(app: &App, ctx: &Ctx, outcome: Result<(), Error>, notice: &str) -> Response {
    match outcome {
        Ok(()) => see_other(&format!("/console/quality?notice={notice}")),
        Err(e) => {
            let (flash, status) = Flash::refused(&e);
            let body = view(app, ctx).await;
            respond(ctx, TITLE, flash, status, body)
        }
    }
}

/// `POST /console/quality/{id}/route`: `Store::route_issue` with the deadline (end of the
/// day given, UTC).
pub async fn route(State(app): State<App>, Path(id): Path<i64>, posted: Posted) -> Response {
    let p = posted.ctx.principal();
    let outcome = async {
        let deadline = posted.form.end_of_day("deadline")?;
        store_call(&app.store, move |s| s.route_issue(&p, IssueId(id), deadline)).await.map(|_| ())
    }
    .await;
    after(&app, &posted.ctx, outcome, "issue-routed").await
}

/// `POST /console/quality/{id}/answer`: `Store::answer_issue`.
pub async fn answer(State(app): State<App>, Path(id): Path<i64>, posted: Posted) -> Response {
    let p = posted.ctx.principal();
    let text = posted.form.text("answer");
    let outcome = store_call(&app.store, move |s| s.answer_issue(&p, IssueId(id), &text)).await.map(|_| ());
    after(&app, &posted.ctx, outcome, "issue-answered").await
}
