//! Data requests (Art. 16, 17): `/console/requests` (`table#requests`, as governance shows
//! them to the caller), `/console/requests/ID` (the terms, the reviews, `ul#pending-parties`,
//! `form#review-request` for the bureau and the datasets' providers, `form#grant-request`
//! for the bureau once every party approved, withdrawal by the unit), and
//! `/console/portal/requests/new` (`form#data-request`, `Store::submit_data_request`).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{html, Markup};
use shuyu_governance::{DataRequest, DataRequestId, RequestStatus};

use super::forms::Fields;
use super::layout::{respond, see_other, time, Ctx, Flash, NoticeQuery};
use super::security::Posted;
use super::terms;
use super::App;
use crate::offload::store_call;
use crate::Error;

const LIST: &str = "Data requests";
const ONE: &str = "Data request";
const NEW: &str = "Request data";

async fn list_view(app: &App, ctx: &Ctx) -> Result<Markup, Error> {
    let p = ctx.principal();
    let list: Vec<DataRequest> = store_call(&app.store, move |s| s.data_requests(&p)).await?;
    Ok(html! {
        @if ctx.role_name() == "unit_analyst" { p { a href="/console/portal/requests/new" { "Request data for a new scenario" } } }
        table id="requests" {
            thead { tr { th { "Id" } th { "Unit" } th { "Scenario" } th { "Datasets" } th { "Status" } th { "Pending" } th { "Submitted" } } }
            tbody {
                @for r in &list {
                    tr data-request=(r.id.0) data-status=(r.status) {
                        td { a href=(format!("/console/requests/{}", r.id.0)) { (r.id.0) } }
                        td { (r.unit.0) }
                        td class="scenario" { a href=(format!("/console/requests/{}", r.id.0)) { (r.terms.scenario) } }
                        td { (r.terms.datasets.iter().map(|d| d.dataset.as_str()).collect::<Vec<_>>().join(", ")) }
                        td class="status" { (r.status) }
                        td { @if r.status == RequestStatus::Submitted { (r.pending_parties().join(", ")) } }
                        td { (time(r.submitted_at)) }
                    }
                }
            }
        }
        @if list.is_empty() { p class="empty" { "No data request." } }
    })
}

/// `GET /console/requests`.
pub async fn list(State(app): State<App>, ctx: Ctx, Query(q): Query<NoticeQuery>) -> Response {
    let body = list_view(&app, &ctx).await;
    respond(&ctx, LIST, Flash::from_query(&q), StatusCode::OK, body)
}

fn one_markup(r: &DataRequest, ctx: &Ctx) -> Markup {
    let pending = r.pending_parties();
    let action = |step: &str| format!("/console/requests/{}/{step}", r.id.0);
    let open = r.status == RequestStatus::Submitted;
    html! {
        dl {
            dt { "Status" } dd id="request-status" { (r.status) }
            dt { "Unit" } dd { (r.unit.0) }
            dt { "Providers" } dd { (r.providers.join(", ")) }
            @if let Some(a) = r.authorization { dt { "Authorization" } dd id="request-authorization" { (a.0) } }
        }
        (terms::show(&r.terms))
        h2 { "Waiting for" }
        ul id="pending-parties" { @if open { @for p in &pending { li { (p) } } } }
        h2 { "Reviews" }
        table id="request-reviews" {
            thead { tr { th { "Party" } th { "Provider" } th { "Decision" } th { "Note" } th { "At" } } }
            tbody {
                @for v in &r.reviews {
                    tr { td { (v.party) } td { (v.provider.as_deref().unwrap_or("")) } td { @if v.approved { "approved" } @else { "rejected" } } td { (v.note) } td { (time(v.at)) } }
                }
            }
        }
        @if open && matches!(ctx.role_name(), "bureau_admin" | "provider") {
            h2 { "Your review" }
            form id="review-request" method="post" action=(action("review")) {
                (ctx.csrf_field())
                label { "Note " input name="note" type="text" maxlength="2000"; }
                button type="submit" name="decision" value="approve" { "Approve" }
                button type="submit" name="decision" value="reject" { "Reject" }
            }
        }
        @if open && ctx.is_bureau() && pending.is_empty() {
            form id="grant-request" method="post" action=(action("grant")) {
                (ctx.csrf_field())
                button type="submit" id="grant-request-submit" { "Grant the authorization" }
            }
        }
        @if open && ctx.role_name() == "unit_analyst" {
            form id="withdraw-request" method="post" action=(action("withdraw")) {
                (ctx.csrf_field())
                button type="submit" { "Withdraw the request" }
            }
        }
        p { a href="/console/requests" { "All data requests" } }
    }
}

async fn one_view(app: &App, ctx: &Ctx, id: i64) -> Result<Markup, Error> {
    let p = ctx.principal();
    let r = store_call(&app.store, move |s| s.data_request(&p, DataRequestId(id))).await?;
    Ok(one_markup(&r, ctx))
}

/// `GET /console/requests/{id}`.
pub async fn one(State(app): State<App>, ctx: Ctx, Path(id): Path<i64>, Query(q): Query<NoticeQuery>) -> Response {
    let body = one_view(&app, &ctx, id).await;
    respond(&ctx, ONE, Flash::from_query(&q), StatusCode::OK, body)
}

async fn after(app: &App, posted: &Posted, id: i64, outcome: Result<(), Error>, notice: &str) -> Response {
    match outcome {
        Ok(()) => see_other(&format!("/console/requests/{id}?notice={notice}")),
        Err(e) => {
            let (flash, status) = Flash::refused(&e);
            let body = one_view(app, &posted.ctx, id).await;
            respond(&posted.ctx, ONE, flash, status, body)
        }
    }
}

/// `POST /console/requests/{id}/review`: `Store::review_data_request`.
pub async fn review(State(app): State<App>, Path(id): Path<i64>, posted: Posted) -> Response {
    let p = posted.ctx.principal();
    let outcome = async {
        let approved = posted.form.choice("decision", &["approve", "reject"])? == "approve";
        let note = posted.form.text("note");
        store_call(&app.store, move |s| s.review_data_request(&p, DataRequestId(id), approved, &note)).await.map(|_| ())
    }
    .await;
    after(&app, &posted, id, outcome, "request-reviewed").await
}

/// `POST /console/requests/{id}/grant`: `Store::grant_data_request`.
pub async fn grant(State(app): State<App>, Path(id): Path<i64>, posted: Posted) -> Response {
    let p = posted.ctx.principal();
    let outcome = store_call(&app.store, move |s| s.grant_data_request(&p, DataRequestId(id))).await.map(|_| ());
    after(&app, &posted, id, outcome, "request-granted").await
}

/// `POST /console/requests/{id}/withdraw`: `Store::withdraw_data_request`.
pub async fn withdraw(State(app): State<App>, Path(id): Path<i64>, posted: Posted) -> Response {
    let p = posted.ctx.principal();
    let outcome = store_call(&app.store, move |s| s.withdraw_data_request(&p, DataRequestId(id))).await.map(|_| ());
    after(&app, &posted, id, outcome, "request-withdrawn").await
}

fn new_markup(ctx: &Ctx, kept: Option<&Fields>) -> Markup {
    html! {
        form id="data-request" class="wide" method="post" action="/console/portal/requests/new" {
            (ctx.csrf_field())
            (terms::fields(kept, "", ""))
            button type="submit" id="submit-request" { "Submit the request" }
        }
    }
}

/// `GET /console/portal/requests/new`.
pub async fn new_form(ctx: Ctx) -> Response {
    respond(&ctx, NEW, Flash::default(), StatusCode::OK, Ok(new_markup(&ctx, None)))
}

/// `POST /console/portal/requests/new`: `Store::submit_data_request`.
pub async fn submit(State(app): State<App>, posted: Posted) -> Response {
    let p = posted.ctx.principal();
    let outcome = async {
        let new = terms::read(&posted.form, app.store.now())?;
        store_call(&app.store, move |s| s.submit_data_request(&p, &new)).await
    }
    .await;
    match outcome {
        Ok(id) => see_other(&format!("/console/requests/{}?notice=request-submitted", id.0)),
        Err(e) => {
            let (flash, status) = Flash::refused(&e);
            respond(&posted.ctx, NEW, flash, status, Ok(new_markup(&posted.ctx, Some(&posted.form))))
        }
    }
}
