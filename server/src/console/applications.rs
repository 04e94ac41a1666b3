//! `/console/applications` and `/console/applications/ID`: applications to become an
//! operating unit, as governance shows them to the caller (`Store::applications`,
//! `Store::application`), and the steps on them: the bureau's qualification review
//! (`form#qualification`), an expert's opinion (`form#opinion`), the coordination group's
//! decision recorded by the bureau (`form#decision`), the agreement (`form#agreement`:
//! creates the unit and its first authorization), and the applicant's withdrawal.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{html, Markup};
use shuyu_governance::{Application, ApplicationId, ApplicationStatus};

use super::forms::Fields;
use super::layout::{respond, see_other, time, Ctx, Flash, NoticeQuery};
use super::security::Posted;
use super::terms;
use super::App;
use crate::offload::store_call;
use crate::Error;

const LIST: &str = "Applications";
const ONE: &str = "Application";

async fn list_view(app: &App, ctx: &Ctx) -> Result<Markup, Error> {
    let p = ctx.principal();
    let list: Vec<Application> = store_call(&app.store, move |s| s.applications(&p)).await?;
    Ok(html! {
        @if matches!(ctx.role_name(), "applicant" | "unit_analyst") {
            p { a href="/console/portal/applications/new" { "Submit an application" } }
        }
        table id="applications" {
            thead { tr { th { "Id" } th { "Company" } th { "Applicant" } th { "Scenario" } th { "Status" } th { "Opinions" } th { "Submitted" } } }
            tbody {
                @for a in &list {
                    tr data-application=(a.id.0) data-status=(a.status) {
                        td { a href=(format!("/console/applications/{}", a.id.0)) { (a.id.0) } }
                        td class="company" { a href=(format!("/console/applications/{}", a.id.0)) { (a.company) } }
                        td { (a.applicant_name) }
                        td { (a.scenario) }
                        td class="status" { (a.status) }
                        td { (a.opinions.len()) }
                        td { (time(a.submitted_at)) }
                    }
                }
            }
        }
        @if list.is_empty() { p class="empty" { "No application." } }
    })
}

/// `GET /console/applications`.
pub async fn list(State(app): State<App>, ctx: Ctx, Query(q): Query<NoticeQuery>) -> Response {
    let body = list_view(&app, &ctx).await;
    respond(&ctx, LIST, Flash::from_query(&q), StatusCode::OK, body)
}

fn yes(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

fn details(a: &Application) -> Markup {
    let q = &a.qualifications;
    html! {
        dl class="application" {
            dt { "Status" } dd id="application-status" { (a.status) }
            dt { "Company" } dd { (a.company) " · credit code " (a.credit_code) }
            dt { "Applicant" } dd { (a.applicant_name) }
            dt { "Announcement" } dd { (a.announcement.0) }
            dt { "Scenario" } dd { (a.scenario) }
            dt { "Purpose" } dd { (a.purpose) }
            @if let Some(n) = &a.qualification_note { dt { "Qualification review" } dd { (n) } }
            @if let Some(n) = &a.decision_note { dt { "Decision" } dd { (n) } }
            @if let Some(u) = a.unit { dt { "Unit" } dd { a href=(format!("/console/units/{}", u.0)) { (u.0) } } }
            @if let Some(x) = a.authorization { dt { "Authorization" } dd { (x.0) } }
        }
        h2 { "Declared qualifications (Art. 12, 13)" }
        table id="qualifications" {
            tbody {
                tr { th { "12(1) sound operation, qualifications, staff, capacity" } td { (yes(q.good_standing)) } }
                tr { th { "12(2) no major violations" } td { (yes(q.no_major_violations)) } }
                tr { th { "12(3) not on the serious-dishonesty list" } td { (yes(q.not_dishonest)) } }
                tr { th { "13(1) data-security officer" } td { (q.security_officer) } }
                tr { th { "13(2) MLPS level 3, commercial cryptography" } td { (yes(q.mlps_level3)) } }
                tr { th { "13(3) DSMM level 3 or above" } td { (yes(q.dsmm_level3)) } }
                tr { th { "13(4) no medium or high risk" } td { (yes(q.no_high_risk)) } }
            }
        }
        h2 { "Attachments" }
        ul id="attachments" { @for f in &a.attachments { li { (f.name) " " code { (f.sha256) } } } }
        h2 { "Expert opinions" }
        ul id="opinions" {
            @for o in &a.opinions {
                li { (o.expert_name) ": " strong { @if o.recommend { "recommends" } @else { "does not recommend" } } " — " (o.opinion) " (" (time(o.at)) ")" }
            }
        }
    }
}

fn forms(a: &Application, ctx: &Ctx, kept: Option<&Fields>) -> Markup {
    let action = |step: &str| format!("/console/applications/{}/{step}", a.id.0);
    let bureau = ctx.is_bureau();
    html! {
        @if bureau && a.status == ApplicationStatus::Submitted {
            h2 { "Qualification review" }
            form id="qualification" method="post" action=(action("qualification")) {
                (ctx.csrf_field())
                label { "Note " input name="note" type="text" maxlength="2000"; }
                button type="submit" name="decision" value="pass" { "Qualified: to expert review" }
                button type="submit" name="decision" value="fail" { "Not qualified" }
            }
        }
        @if ctx.role_name() == "expert" && a.status == ApplicationStatus::ExpertReview {
            h2 { "Your opinion" }
            form id="opinion" method="post" action=(action("opinion")) {
                (ctx.csrf_field())
                label { "Opinion " textarea name="opinion" rows="4" {} }
                button type="submit" name="recommend" value="yes" { "Recommend" }
                button type="submit" name="recommend" value="no" { "Do not recommend" }
            }
        }
        @if bureau && a.status == ApplicationStatus::ExpertReview {
            h2 { "Decision of the coordination group" }
            form id="decision" method="post" action=(action("decision")) {
                (ctx.csrf_field())
                label { "Note " input name="note" type="text" maxlength="2000"; }
                button type="submit" name="decision" value="approve" { "Approve" }
                button type="submit" name="decision" value="reject" { "Reject" }
            }
        }
        @if bureau && a.status == ApplicationStatus::Approved {
            h2 { "Agreement and first authorization" }
            form id="agreement" class="wide" method="post" action=(action("agreement")) {
                (ctx.csrf_field())
                (terms::fields(kept, &a.scenario, &a.purpose))
                button type="submit" id="sign-agreement" { "Sign the agreement" }
            }
        }
        @if matches!(ctx.role_name(), "applicant" | "unit_analyst") && matches!(a.status, ApplicationStatus::Submitted | ApplicationStatus::ExpertReview) {
            form id="withdraw-application" method="post" action=(action("withdraw")) {
                (ctx.csrf_field())
                button type="submit" { "Withdraw the application" }
            }
        }
    }
}

async fn one_view(app: &App, ctx: &Ctx, id: i64, kept: Option<&Fields>) -> Result<Markup, Error> {
    let p = ctx.principal();
    let a = store_call(&app.store, move |s| s.application(&p, ApplicationId(id))).await?;
    Ok(html! { (details(&a)) (forms(&a, ctx, kept)) p { a href="/console/applications" { "All applications" } } })
}

/// `GET /console/applications/{id}`.
pub async fn one(State(app): State<App>, ctx: Ctx, Path(id): Path<i64>, Query(q): Query<NoticeQuery>) -> Response {
    let body = one_view(&app, &ctx, id, None).await;
    respond(&ctx, ONE, Flash::from_query(&q), StatusCode::OK, body)
}

/// A step's outcome: 303 back to the application with `notice`, or its page with the refusal.
async fn after(app: &App, posted: &Posted, id: i64, outcome: Result<(), Error>, notice: &str) -> Response {
    match outcome {
        Ok(()) => see_other(&format!("/console/applications/{id}?notice={notice}")),
        Err(e) => {
            let (flash, status) = Flash::refused(&e);
            let body = one_view(app, &posted.ctx, id, Some(&posted.form)).await;
            respond(&posted.ctx, ONE, flash, status, body)
        }
    }
}

/// `POST /console/applications/{id}/qualification`: `Store::review_qualification`.
pub async fn qualification(State(app): State<App>, Path(id): Path<i64>, posted: Posted) -> Response {
    let p = posted.ctx.principal();
    let outcome = async {
        let passed = posted.form.choice("decision", &["pass", "fail"])? == "pass";
        let note = posted.form.text("note");
        store_call(&app.store, move |s| s.review_qualification(&p, ApplicationId(id), passed, &note)).await.map(|_| ())
    }
    .await;
    after(&app, &posted, id, outcome, "application-updated").await
}

/// `POST /console/applications/{id}/opinion`: `Store::record_expert_opinion`.
pub async fn opinion(State(app): State<App>, Path(id): Path<i64>, posted: Posted) -> Response {
    let p = posted.ctx.principal();
    let outcome = async {
        let recommend = posted.form.choice("recommend", &["yes", "no"])? == "yes";
        let text = posted.form.text("opinion");
        store_call(&app.store, move |s| s.record_expert_opinion(&p, ApplicationId(id), recommend, &text)).await.map(|_| ())
    }
    .await;
    after(&app, &posted, id, outcome, "application-updated").await
}

/// `POST /console/applications/{id}/decision`: `Store::decide_application`.
pub async fn decision(State(app): State<App>, Path(id): Path<i64>, posted: Posted) -> Response {
    let p = posted.ctx.principal();
    let outcome = async {
        let approved = posted.form.choice("decision", &["approve", "reject"])? == "approve";
        let note = posted.form.text("note");
        store_call(&app.store, move |s| s.decide_application(&p, ApplicationId(id), approved, &note)).await.map(|_| ())
    }
    .await;
    after(&app, &posted, id, outcome, "application-updated").await
}

/// `POST /console/applications/{id}/agreement`: `Store::sign_agreement` with the terms.
pub async fn agreement(State(app): State<App>, Path(id): Path<i64>, posted: Posted) -> Response {
    let p = posted.ctx.principal();
    let outcome = async {
        let terms = terms::read(&posted.form, app.store.now())?;
        store_call(&app.store, move |s| s.sign_agreement(&p, ApplicationId(id), &terms)).await.map(|_| ())
    }
    .await;
    after(&app, &posted, id, outcome, "agreement-signed").await
}

/// `POST /console/applications/{id}/withdraw`: `Store::withdraw_application`.
pub async fn withdraw(State(app): State<App>, Path(id): Path<i64>, posted: Posted) -> Response {
    let p = posted.ctx.principal();
    let outcome = store_call(&app.store, move |s| s.withdraw_application(&p, ApplicationId(id))).await.map(|_| ());
    after(&app, &posted, id, outcome, "application-updated").await
}
