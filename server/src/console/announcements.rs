//! `/console/announcements`: the bureau's annual announcements and their application
//! windows (`Store::announcements`), publishing one (`form#publish-announcement`,
//! `Store::publish_announcement`) and closing one (`Store::close_announcement`).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::Datelike;
use maud::{html, Markup};
use shuyu_governance::{Announcement, AnnouncementId, NewAnnouncement};

use super::forms::Fields;
use super::layout::{respond, see_other, time, Ctx, Flash, NoticeQuery};
use super::security::Posted;
use super::App;
use crate::offload::store_call;
use crate::Error;

const TITLE: &str = "Announcements";

async fn view(app: &App, ctx: &Ctx, kept: Option<&Fields>) -> Result<Markup, Error> {
    let p = ctx.principal();
    let (list, now): (Vec<Announcement>, _) = store_call(&app.store, move |s| Ok((s.announcements(&p)?, s.now()))).await?;
    let v = |name: &str, default: String| kept.map(|f| f.text(name)).unwrap_or(default);
    Ok(html! {
        table id="announcements" {
            thead { tr { th { "Id" } th { "Year" } th { "Title" } th { "Conditions" } th { "Opens" } th { "Closes" } th { "Expert opinions" } th { "Window" } th {} } }
            tbody {
                @for a in &list {
                    tr data-announcement=(a.id.0) {
                        td { (a.id.0) }
                        td { (a.year) }
                        td class="title" { (a.title) }
                        td class="conditions" { (a.conditions) }
                        td { (time(a.opens_at)) }
                        td { (time(a.closes_at)) }
                        td { (a.min_expert_opinions) }
                        td class="window" { @if a.is_open(now) { "open" } @else if now < a.opens_at { "not yet open" } @else { "closed" } }
                        td {
                            @if ctx.is_bureau() && now < a.closes_at {
                                form class="close-announcement" method="post" action=(format!("/console/announcements/{}/close", a.id.0)) {
                                    (ctx.csrf_field())
                                    button type="submit" { "Close now" }
                                }
                            }
                            @if a.is_open(now) && matches!(ctx.role_name(), "applicant" | "unit_analyst") {
                                a href=(format!("/console/portal/applications/new?announcement={}", a.id.0)) { "Apply" }
                            }
                        }
                    }
                }
            }
        }
        @if list.is_empty() { p class="empty" { "No announcement has been published." } }
        @if ctx.is_bureau() {
            h2 { "Publish an announcement" }
            form id="publish-announcement" method="post" action="/console/announcements" {
                (ctx.csrf_field())
                label { "Year " input name="year" type="number" value=(v("year", now.year().to_string())); }
                label { "Title " input name="title" type="text" maxlength="200" value=(v("title", String::new())); }
                label { "Conditions " textarea name="conditions" rows="4" { (v("conditions", String::new())) } }
                label { "Opens (YYYY-MM-DD) " input name="opens_at" type="text" inputmode="numeric" placeholder="YYYY-MM-DD" value=(v("opens_at", now.format("%Y-%m-%d").to_string())); }
                label { "Closes (YYYY-MM-DD, end of day) " input name="closes_at" type="text" inputmode="numeric" placeholder="YYYY-MM-DD" value=(v("closes_at", String::new())); }
                label { "Expert opinions needed " input name="min_expert_opinions" type="number" value=(v("min_expert_opinions", "1".into())); }
                button type="submit" id="publish-announcement-submit" { "Publish" }
            }
        }
    })
}

/// `GET /console/announcements`.
pub async fn page(State(app): State<App>, ctx: Ctx, Query(q): Query<NoticeQuery>) -> Response {
    let body = view(&app, &ctx, None).await;
    respond(&ctx, TITLE, Flash::from_query(&q), StatusCode::OK, body)
}

fn read(f: &Fields) -> Result<NewAnnouncement, Error> {
    Ok(NewAnnouncement {
        year: f.number("year")?,
        title: f.text("title"),
        conditions: f.text("conditions"),
        opens_at: f.day("opens_at")?,
        closes_at: f.end_of_day("closes_at")?,
        min_expert_opinions: f.number("min_expert_opinions")?,
    })
}

/// `POST /console/announcements`: `Store::publish_announcement`.
pub async fn publish(State(app): State<App>, posted: Posted) -> Response {
    let p = posted.ctx.principal();
    let outcome = async {
        let new = read(&posted.form)?;
        store_call(&app.store, move |s| s.publish_announcement(&p, &new)).await
    }
    .await;
    match outcome {
        Ok(_) => see_other("/console/announcements?notice=announcement-published"),
        Err(e) => {
            let (flash, status) = Flash::refused(&e);
            let body = view(&app, &posted.ctx, Some(&posted.form)).await;
            respond(&posted.ctx, TITLE, flash, status, body)
        }
    }
}

/// `POST /console/announcements/{id}/close`: `Store::close_announcement`.
pub async fn close(State(app): State<App>, Path(id): Path<i64>, posted: Posted) -> Response {
    let p = posted.ctx.principal();
    match store_call(&app.store, move |s| s.close_announcement(&p, AnnouncementId(id))).await {
        Ok(_) => see_other("/console/announcements?notice=announcement-closed"),
        Err(e) => {
            let (flash, status) = Flash::refused(&e);
            let body = view(&app, &posted.ctx, None).await;
            respond(&posted.ctx, TITLE, flash, status, body)
        }
    }
}
