//! `/console/evaluations`: annual evaluations of the operating units (Art. 11, 26):
//! `Store::evaluations` as governance shows them, the bureau's record form
//! (`form#record-evaluation`, `Store::record_evaluation`), a unit's rectification report
//! (`Store::report_rectification`) and the bureau's acceptance of it
//! (`form.accept-rectification`, `Store::accept_rectification`).

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::Datelike;
use maud::{html, Markup};
use shuyu_governance::{Evaluation, EvaluationId, EvaluationStatus, NewEvaluation, UnitId};

use super::forms::Fields;
use super::layout::{respond, see_other, time, Ctx, Flash, NoticeQuery};
use super::security::Posted;
use super::App;
use crate::offload::store_call;
use crate::Error;

const TITLE: &str = "Evaluations";

async fn view(app: &App, ctx: &Ctx, kept: Option<&Fields>) -> Result<Markup, Error> {
    let p = ctx.principal();
    let bureau = ctx.is_bureau();
    let (list, units, year): (Vec<Evaluation>, HashMap<UnitId, String>, i32) = store_call(&app.store, move |s| {
        let units = if bureau { s.units(&p)?.into_iter().map(|u| (u.id, u.name)).collect() } else { HashMap::new() };
        Ok((s.evaluations(&p)?, units, s.now().year()))
    })
    .await?;
    let v = |name: &str, default: String| kept.map(|f| f.text(name)).unwrap_or(default);
    let analyst = ctx.role_name() == "unit_analyst";
    let mut unit_list: Vec<_> = units.iter().collect();
    unit_list.sort();
    Ok(html! {
        table id="evaluations" {
            thead { tr { th { "Id" } th { "Unit" } th { "Year" } th { "Score" } th { "Findings" } th { "Rectify by" } th { "Rectification" } th { "Status" } th {} } }
            tbody {
                @for e in &list {
                    tr data-evaluation=(e.id.0) data-status=(e.status) {
                        td { (e.id.0) }
                        td { a href=(format!("/console/units/{}", e.unit.0)) { (e.unit_name) } }
                        td { (e.year) }
                        td { (e.score) }
                        td class="findings" { (e.findings) }
                        td { @if let Some(d) = e.rectification_deadline { (time(d)) } }
                        td class="rectification" { @if let Some(r) = &e.rectification { (r) } }
                        td class="status" { (e.status) }
                        td {
                            @if bureau && e.status == EvaluationStatus::RectificationReported {
                                form class="accept-rectification" method="post" action=(format!("/console/evaluations/{}/accept", e.id.0)) {
                                    (ctx.csrf_field())
                                    button type="submit" { "Accept the rectification" }
                                }
                            }
                            @if analyst && e.status == EvaluationStatus::RectificationRequired {
                                form class="report-rectification" method="post" action=(format!("/console/evaluations/{}/rectification", e.id.0)) {
                                    (ctx.csrf_field())
                                    label { "Report " textarea name="report" rows="3" {} }
                                    button type="submit" { "Report the rectification" }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if list.is_empty() { p class="empty" { "No evaluation." } }
        @if bureau {
            h2 { "Record an evaluation" }
            form id="record-evaluation" class="wide" method="post" action="/console/evaluations" {
                (ctx.csrf_field())
                label { "Unit "
                    select name="unit" {
                        @for (id, name) in &unit_list { option value=(id.0) selected[v("unit", String::new()) == id.0.to_string()] { (name) } }
                    }
                }
                label { "Year " input name="year" type="number" value=(v("year", year.to_string())); }
                label { "Score (0–100) " input name="score" type="number" value=(v("score", String::new())); }
                label { "Findings " textarea name="findings" rows="4" { (v("findings", String::new())) } }
                label { "Rectify by (YYYY-MM-DD, empty when passed) " input name="rectification_deadline" type="text" inputmode="numeric" placeholder="YYYY-MM-DD" value=(v("rectification_deadline", String::new())); }
                button type="submit" id="record-evaluation-submit" { "Record" }
            }
        }
    })
}

/// `GET /console/evaluations`.
pub async fn page(State(app): State<App>, ctx: Ctx, Query(q): Query<NoticeQuery>) -> Response {
    let body = view(&app, &ctx, None).await;
    respond(&ctx, TITLE, Flash::from_query(&q), StatusCode::OK, body)
}

async fn after(app: &App, posted: &Posted, outcome: Result<(), Error>, notice: &str, keep: bool) -> Response {
    match outcome {
        Ok(()) => see_other(&format!("/console/evaluations?notice={notice}")),
        Err(e) => {
            let (flash, status) = Flash::refused(&e);
            let body = view(app, &posted.ctx, keep.then_some(&posted.form)).await;
            respond(&posted.ctx, TITLE, flash, status, body)
        }
    }
}

fn read(f: &Fields) -> Result<NewEvaluation, Error> {
    let deadline = match f.text("rectification_deadline").is_empty() {
        true => None,
        false => Some(f.end_of_day("rectification_deadline")?),
    };
    Ok(NewEvaluation {
        unit: UnitId(f.number("unit")?),
        year: f.number("year")?,
        score: f.number("score")?,
        findings: f.text("findings"),
        rectification_deadline: deadline,
    })
}

/// `POST /console/evaluations`: `Store::record_evaluation`.
pub async fn record(State(app): State<App>, posted: Posted) -> Response {
    let p = posted.ctx.principal();
    let outcome = async {
        let new = read(&posted.form)?;
        store_call(&app.store, move |s| s.record_evaluation(&p, &new)).await.map(|_| ())
    }
    .await;
    after(&app, &posted, outcome, "evaluation-recorded", true).await
}

/// `POST /console/evaluations/{id}/rectification`: `Store::report_rectification`.
pub async fn rectification(State(app): State<App>, Path(id): Path<i64>, posted: Posted) -> Response {
    let p = posted.ctx.principal();
    let report = posted.form.text("report");
    let outcome = store_call(&app.store, move |s| s.report_rectification(&p, EvaluationId(id), &report)).await.map(|_| ());
    after(&app, &posted, outcome, "rectification-reported", false).await
}

/// `POST /console/evaluations/{id}/accept`: `Store::accept_rectification`.
pub async fn accept(State(app): State<App>, Path(id): Path<i64>, posted: Posted) -> Response {
    let p = posted.ctx.principal();
    let outcome = store_call(&app.store, move |s| s.accept_rectification(&p, EvaluationId(id))).await.map(|_| ());
    after(&app, &posted, outcome, "rectification-accepted", false).await
}
