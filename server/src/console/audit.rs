//! `/console/audit`: the latest audit records (`Store::audit_records`, filtered by unit and
//! action) and the chain's verification (`Store::verify_audit`: "chain verified: N records"
//! or where it breaks). Verification takes no principal in governance, so the console gates
//! it by role as the admin service does: bureau and supervisors.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{html, Markup};
use serde::Deserialize;
use shuyu_governance::{AuditFilter, AuditRecord, GovernanceError, UnitId};

use super::layout::{respond, time, Ctx, Flash};
use super::App;
use crate::offload::store_call;
use crate::Error;

/// Records shown.
const SHOWN: usize = 200;
/// Records read back from the head of the chain to find the latest matching ones.
const WINDOW: i64 = 10_000;

/// The filter form's fields (`GET`, no CSRF: it changes nothing).
#[derive(Debug, Default, Deserialize)]
pub struct AuditQuery {
    /// Only this unit (its id).
    pub unit: Option<String>,
    /// Only this action (`export.approve`).
    pub action: Option<String>,
}

/// The chain's state as shown.
enum Chain {
    Verified(u64),
    Broken(String),
}

fn filter_of(q: &AuditQuery) -> Result<AuditFilter, Error> {
    let unit = match q.unit.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(u) => Some(UnitId(u.parse().map_err(|_| Error::Usage("field unit: enter a unit's number".into()))?)),
    };
    let action = q.action.as_deref().map(str::trim).filter(|a| !a.is_empty()).map(str::to_string);
    Ok(AuditFilter { unit, action, ..AuditFilter::default() })
}

async fn view(app: &App, ctx: &Ctx, q: &AuditQuery) -> Result<Markup, Error> {
    let mut filter = filter_of(q)?;
    let p = ctx.principal();
    let oversees = ctx.oversees();
    let (records, chain) = store_call(&app.store, move |s| {
        let (chain, head) = if oversees {
            match s.verify_audit() {
                Ok(v) => (Some(Chain::Verified(v.records)), Some(v.head_seq)),
                Err(e @ GovernanceError::AuditBroken { .. }) => (Some(Chain::Broken(e.to_string())), None),
                Err(e) => return Err(e),
            }
        } else {
            (None, None)
        };
        // Oldest first from a window at the head of the chain; the latest SHOWN are kept.
        filter.after_seq = head.map(|h| (h - WINDOW).max(0));
        let mut records: Vec<AuditRecord> = s.audit_records(&p, &filter)?;
        let skip = records.len().saturating_sub(SHOWN);
        records.drain(..skip);
        records.reverse();
        Ok((records, chain))
    })
    .await?;
    Ok(html! {
        @match &chain {
            Some(Chain::Verified(n)) => p id="chain-status" class="verified" { "chain verified: " (n) " records" },
            Some(Chain::Broken(why)) => p id="chain-status" class="broken refusal" { "chain broken: " (why) },
            None => {},
        }
        form id="audit-filter" method="get" action="/console/audit" {
            label { "Unit " input name="unit" type="number" value=(q.unit.as_deref().unwrap_or("")); }
            label { "Action " input name="action" type="text" placeholder="export.approve" value=(q.action.as_deref().unwrap_or("")); }
            button type="submit" id="audit-filter-submit" { "Filter" }
        }
        p class="summary" { "The latest " (records.len()) " matching records, newest first." }
        table id="audit" {
            thead { tr { th { "Seq" } th { "At" } th { "Role" } th { "Person" } th { "Unit" } th { "Action" } th { "Object" } th { "Outcome" } th { "Cost" } } }
            tbody {
                @for r in &records {
                    tr data-seq=(r.seq) class=(r.outcome) {
                        td { (r.seq) }
                        td { (time(r.at)) }
                        td { (r.role) }
                        td { @if let Some(p) = r.actor_person { (p.0) } }
                        td { @if let Some(u) = r.unit { a href=(format!("/console/units/{}", u.0)) { (u.0) } } }
                        td class="action" { (r.action) }
                        td { (r.object) }
                        td class="outcome" { (r.outcome) }
                        td { (r.cost) }
                    }
                }
            }
        }
    })
}

/// `GET /console/audit`.
pub async fn page(State(app): State<App>, ctx: Ctx, Query(q): Query<AuditQuery>) -> Response {
    let body = view(&app, &ctx, &q).await;
    respond(&ctx, "Audit trail", Flash::default(), StatusCode::OK, body)
}
