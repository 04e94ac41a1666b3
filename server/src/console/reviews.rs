//! `/console/exports` and `/console/imports`: the bureau's review queues. A unit's export
//! under a `review` policy waits as `pending` (`Store::request_export`); the bureau
//! approves it (governance signs the manifest) or rejects it with a reason, through
//! `Store::review_export` as the admin service's `ReviewExport` does. Imports are reviewed
//! with `Store::review_import`. Supervisors see the queues without forms; a supervisor's
//! forged POST is refused by governance.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{html, Markup};
use shuyu_governance::{ExportDecision, ExportId, ExportRecord, ExportStatus, Import, ImportId, ImportStatus, Lineage, UnitId};

use super::layout::{respond, see_other, time, Ctx, Flash, NoticeQuery};
use super::security::Posted;
use super::App;
use crate::offload::store_call;
use crate::Error;

const EXPORTS: &str = "Export review";
const IMPORTS: &str = "Import review";

/// The units' names, for tables (bureau and supervisors read them all).
fn unit_names(s: &shuyu_governance::Store, p: &shuyu_governance::Principal) -> Result<HashMap<UnitId, String>, shuyu_governance::GovernanceError> {
    Ok(s.units(p)?.into_iter().map(|u| (u.id, u.name)).collect())
}

fn unit_cell(names: &HashMap<UnitId, String>, u: UnitId) -> Markup {
    html! { a href=(format!("/console/units/{}", u.0)) { (names.get(&u).map(String::as_str).unwrap_or("unit")) } }
}

fn decision_form(action: &str, class: &str, ctx: &Ctx) -> Markup {
    html! {
        form class=(class) method="post" action=(action) {
            (ctx.csrf_field())
            label { "Note " input name="note" type="text" maxlength="2000" placeholder="reason (required to reject)"; }
            button type="submit" name="decision" value="approve" { "Approve" }
            button type="submit" name="decision" value="reject" { "Reject" }
        }
    }
}

type ExportRows = (Vec<(ExportRecord, Lineage)>, HashMap<UnitId, String>);

async fn exports_view(app: &App, ctx: &Ctx) -> Result<Markup, Error> {
    let p = ctx.principal();
    let (rows, names): ExportRows = store_call(&app.store, move |s| {
        let mut exports = s.exports(&p, None)?;
        // Pending first (oldest first: the queue), then the others, newest first.
        exports.sort_by_key(|e| (e.status != ExportStatus::Pending, if e.status == ExportStatus::Pending { e.id.0 } else { -e.id.0 }));
        let rows = exports.into_iter().map(|e| s.lineage(&p, e.product).map(|l| (e, l))).collect::<Result<Vec<_>, _>>()?;
        Ok((rows, unit_names(s, &p)?))
    })
    .await?;
    let pending = rows.iter().filter(|(e, _)| e.status == ExportStatus::Pending).count();
    Ok(html! {
        p class="summary" { (pending) " export(s) waiting for review." }
        table id="exports" {
            thead { tr { th { "Export" } th { "Unit" } th { "Scenario" } th { "Product" } th { "Rows" } th { "Datasets" } th { "Cost" } th { "Requested" } th { "Status" } th { "Review" } } }
            tbody {
                @for (e, l) in &rows {
                    tr data-export=(e.id.0) data-status=(e.status) {
                        td { (e.id.0) }
                        td { (unit_cell(&names, e.unit)) }
                        td { (l.scenario) }
                        td { (l.product.name) }
                        td { (l.product.row_count) }
                        td { (l.datasets.join(", ")) }
                        td { (l.cost) }
                        td { (time(e.requested_at)) }
                        td class="status" { (e.status) }
                        td {
                            @if e.status == ExportStatus::Pending && ctx.is_bureau() {
                                (decision_form(&format!("/console/exports/{}/review", e.id.0), "review-export", ctx))
                            } @else if let Some(at) = e.reviewed_at {
                                (time(at))
                            }
                        }
                    }
                }
            }
        }
    })
}

async fn imports_view(app: &App, ctx: &Ctx) -> Result<Markup, Error> {
    let p = ctx.principal();
    let (imports, names): (Vec<Import>, _) = store_call(&app.store, move |s| Ok((s.imports(&p)?, unit_names(s, &p)?))).await?;
    let pending = imports.iter().filter(|i| i.status == ImportStatus::Requested).count();
    Ok(html! {
        p class="summary" { (pending) " import(s) waiting for review." }
        table id="imports" {
            thead { tr { th { "Import" } th { "Unit" } th { "Name" } th { "Description" } th { "Requested" } th { "Status" } th { "Review" } } }
            tbody {
                @for i in &imports {
                    tr data-import=(i.id.0) data-status=(i.status) {
                        td { (i.id.0) }
                        td { (unit_cell(&names, i.unit)) }
                        td { (i.name) }
                        td { (i.description) }
                        td { (time(i.requested_at)) }
                        td class="status" { (i.status) }
                        td {
                            @if i.status == ImportStatus::Requested && ctx.is_bureau() {
                                (decision_form(&format!("/console/imports/{}/review", i.id.0), "review-import", ctx))
                            } @else if let Some(at) = i.reviewed_at {
                                (time(at))
                            }
                        }
                    }
                }
            }
        }
    })
}

/// `GET /console/exports`.
pub async fn exports_page(State(app): State<App>, ctx: Ctx, Query(q): Query<NoticeQuery>) -> Response {
    let body = exports_view(&app, &ctx).await;
    respond(&ctx, EXPORTS, Flash::from_query(&q), StatusCode::OK, body)
}

/// `GET /console/imports`.
pub async fn imports_page(State(app): State<App>, ctx: Ctx, Query(q): Query<NoticeQuery>) -> Response {
    let body = imports_view(&app, &ctx).await;
    respond(&ctx, IMPORTS, Flash::from_query(&q), StatusCode::OK, body)
}

/// `approve` or `reject` from the form's button.
fn approves(posted: &Posted) -> Result<bool, Error> {
    Ok(posted.form.choice("decision", &["approve", "reject"])? == "approve")
}

/// `POST /console/exports/{id}/review`: `Store::review_export` with the decision.
pub async fn review_export(State(app): State<App>, Path(id): Path<i64>, posted: Posted) -> Response {
    let ctx = posted.ctx.clone();
    let outcome = async {
        let approve = approves(&posted)?;
        let decision = if approve { ExportDecision::Approve } else { ExportDecision::Reject { reason: posted.form.text("note") } };
        let p = ctx.principal();
        store_call(&app.store, move |s| s.review_export(&p, ExportId(id), &decision)).await?;
        Ok::<_, Error>(approve)
    }
    .await;
    match outcome {
        Ok(true) => see_other("/console/exports?notice=export-approved"),
        Ok(false) => see_other("/console/exports?notice=export-rejected"),
        Err(e) => {
            let (flash, status) = Flash::refused(&e);
            let body = exports_view(&app, &ctx).await;
            respond(&ctx, EXPORTS, flash, status, body)
        }
    }
}

/// `POST /console/imports/{id}/review`: `Store::review_import` with the decision (imports
/// carry no reviewer's note).
pub async fn review_import(State(app): State<App>, Path(id): Path<i64>, posted: Posted) -> Response {
    let ctx = posted.ctx.clone();
    let outcome = async {
        let approve = approves(&posted)?;
        let p = ctx.principal();
        store_call(&app.store, move |s| s.review_import(&p, ImportId(id), approve)).await?;
        Ok::<_, Error>(approve)
    }
    .await;
    match outcome {
        Ok(true) => see_other("/console/imports?notice=import-approved"),
        Ok(false) => see_other("/console/imports?notice=import-rejected"),
        Err(e) => {
            let (flash, status) = Flash::refused(&e);
            let body = imports_view(&app, &ctx).await;
            respond(&ctx, IMPORTS, flash, status, body)
        }
    }
}
