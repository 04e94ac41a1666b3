//! `/console/portal/applications/new`: an applicant (or a unit's analyst re-applying)
//! submits an application to an open announcement (`form#application`,
//! `Store::submit_application`), declaring the qualifications of Art. 12 and 13 and listing
//! its attachments by name and SHA-256.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{html, Markup};
use serde::Deserialize;
use shuyu_governance::{Announcement, AnnouncementId, Attachment, NewApplication, Qualifications};

use super::forms::Fields;
use super::layout::{respond, see_other, Ctx, Flash};
use super::security::Posted;
use super::App;
use crate::offload::store_call;
use crate::Error;

const TITLE: &str = "Apply to operate";

/// `?announcement=ID`: the announcement to preselect.
#[derive(Debug, Default, Deserialize)]
pub struct ApplyQuery {
    /// The announcement.
    pub announcement: Option<i64>,
}

/// The declared qualifications' checkboxes: field name and what it declares.
const DECLARATIONS: [(&str, &str); 6] = [
    ("good_standing", "12(1) sound operation, qualifications, staff and technical capacity"),
    ("no_major_violations", "12(2) no major violations by the company or its legal representative"),
    ("not_dishonest", "12(3) not on the list of seriously dishonest entities"),
    ("mlps_level3", "13(2) MLPS level 3 and commercial cryptography in practice"),
    ("dsmm_level3", "13(3) DSMS certified, DCMM and DSMM level 3 or above"),
    ("no_high_risk", "13(4) no medium or high risk in the data-security assessment"),
];

async fn view(app: &App, ctx: &Ctx, kept: Option<&Fields>, preselect: Option<i64>) -> Result<Markup, Error> {
    let p = ctx.principal();
    let open: Vec<Announcement> = store_call(&app.store, move |s| {
        let now = s.now();
        Ok(s.announcements(&p)?.into_iter().filter(|a| a.is_open(now)).collect())
    })
    .await?;
    let v = |name: &str| kept.map(|f| f.text(name)).unwrap_or_default();
    let chosen = kept.and_then(|f| f.text("announcement").parse().ok()).or(preselect);
    Ok(html! {
        @if open.is_empty() {
            p class="empty" id="no-open-announcement" { "No announcement is open for applications now; wait for the next one." }
        }
        form id="application" class="wide" method="post" action="/console/portal/applications/new" {
            (ctx.csrf_field())
            label { "Announcement "
                select name="announcement" {
                    @for a in &open {
                        option value=(a.id.0) selected[chosen == Some(a.id.0)] { (a.year) " · " (a.title) }
                    }
                }
            }
            label { "Company " input name="company" type="text" maxlength="200" value=(v("company")); }
            label { "Unified social credit code " input name="credit_code" type="text" maxlength="18" value=(v("credit_code")); }
            label { "Scenario " input name="scenario" type="text" maxlength="200" value=(v("scenario")); }
            label { "Purpose " textarea name="purpose" rows="3" { (v("purpose")) } }
            label { "13(1) data-security officer and department " input name="security_officer" type="text" maxlength="200" value=(v("security_officer")); }
            fieldset {
                legend { "Declarations" }
                @for (name, text) in DECLARATIONS {
                    label { input type="checkbox" name=(name) value="yes" checked[kept.is_some_and(|f| f.checked(name))]; " " (text) }
                }
            }
            label { "Attachments (one `file name: sha256` a line) " textarea name="attachments" rows="3" { (v("attachments")) } }
            button type="submit" id="submit-application" { "Submit the application" }
        }
    })
}

/// `GET /console/portal/applications/new`.
pub async fn form(State(app): State<App>, ctx: Ctx, Query(q): Query<ApplyQuery>) -> Response {
    let body = view(&app, &ctx, None, q.announcement).await;
    respond(&ctx, TITLE, Flash::default(), StatusCode::OK, body)
}

/// `file: sha256` lines.
fn attachments(text: &str) -> Result<Vec<Attachment>, Error> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .enumerate()
        .map(|(i, line)| {
            let (name, sha) = line
                .rsplit_once(':')
                .ok_or_else(|| Error::Usage(format!("field attachments, line {}: write `file name: sha256`", i + 1)))?;
            Ok(Attachment { name: name.trim().to_string(), sha256: sha.trim().to_ascii_lowercase() })
        })
        .collect()
}

fn read(f: &Fields) -> Result<NewApplication, Error> {
    Ok(NewApplication {
        announcement: AnnouncementId(f.number("announcement")?),
        company: f.text("company"),
        credit_code: f.text("credit_code"),
        scenario: f.text("scenario"),
        purpose: f.text("purpose"),
        qualifications: Qualifications {
            good_standing: f.checked("good_standing"),
            no_major_violations: f.checked("no_major_violations"),
            not_dishonest: f.checked("not_dishonest"),
            security_officer: f.text("security_officer"),
            mlps_level3: f.checked("mlps_level3"),
            dsmm_level3: f.checked("dsmm_level3"),
            no_high_risk: f.checked("no_high_risk"),
        },
        attachments: attachments(&f.text("attachments"))?,
    })
}

/// `POST /console/portal/applications/new`: `Store::submit_application`.
pub async fn submit(State(app): State<App>, posted: Posted) -> Response {
    let p = posted.ctx.principal();
    let outcome = async {
        let new = read(&posted.form)?;
        store_call(&app.store, move |s| s.submit_application(&p, &new)).await
    }
    .await;
    match outcome {
        Ok(id) => see_other(&format!("/console/applications/{}?notice=application-submitted", id.0)),
        Err(e) => {
            let (flash, status) = Flash::refused(&e);
            let body = view(&app, &posted.ctx, Some(&posted.form), None).await;
            respond(&posted.ctx, TITLE, flash, status, body)
        }
    }
}
