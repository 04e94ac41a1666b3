//! `/console/`: the bureau's and supervisors' dashboard: units and their status, every
//! authorization with its budget gauge (spent of total, δ spent of δ total), jobs per day.
//! Other roles are sent to their own home page.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{html, Markup};
use shuyu_governance::{Authorization, Budget, JobFilter, Unit, UnitId};

use super::layout::{gauge, home, respond, see_other, Ctx, Flash, NoticeQuery};
use super::svg;
use super::App;
use crate::offload::store_call;
use crate::Error;

/// Days shown in the jobs-per-day plot.
const DAYS: u32 = 14;

/// What the dashboard shows, read in one call on the blocking pool.
struct Overview {
    units: Vec<Unit>,
    authorizations: Vec<(Authorization, Budget)>,
    jobs_per_day: Vec<(chrono::NaiveDate, u64)>,
}

async fn overview(app: &App, ctx: &Ctx) -> Result<Overview, Error> {
    let p = ctx.principal();
    store_call(&app.store, move |s| {
        let units = s.units(&p)?;
        let authorizations =
            s.authorizations(&p, None)?.into_iter().map(|a| s.budget(&p, a.id).map(|b| (a, b))).collect::<Result<Vec<_>, _>>()?;
        let jobs = s.jobs(&p, &JobFilter { limit: Some(1000), ..JobFilter::default() })?;
        let today = s.now().date_naive();
        Ok(Overview { units, authorizations, jobs_per_day: svg::per_day(jobs.iter().map(|j| j.created_at), today, DAYS) })
    })
    .await
}

/// The row cells of a budget: gauge, figures, δ.
pub fn budget_cells(b: &Budget) -> Markup {
    let label = format!("{} of {} spent ({} reserved)", b.spent, b.total, b.reserved);
    html! {
        td class="budget" { (gauge(b.spent.as_f64(), b.total.as_f64(), &label)) }
        td class="delta" { "δ " (b.delta_spent) " of " (b.delta_total) }
    }
}

/// A table of authorizations with their budgets (`table#ID`).
pub fn authorizations_table(id: &str, rows: &[(Authorization, Budget)], unit_names: &HashMap<UnitId, String>) -> Markup {
    html! {
        table id=(id) {
            thead { tr { th { "Id" } th { "Unit" } th { "Scenario" } th { "Status" } th { "Privacy" } th { "Budget" } th { "δ" } th { "Term" } } }
            tbody {
                @for (a, b) in rows {
                    tr data-authorization=(a.id.0) {
                        td { (a.id.0) }
                        td { a href=(format!("/console/units/{}", a.unit.0)) { (unit_names.get(&a.unit).map(String::as_str).unwrap_or("unit")) } }
                        td class="scenario" { (a.scenario) }
                        td class="status" { (a.status) }
                        td { (privacy_name(b)) }
                        (budget_cells(b))
                        td { (a.term_start.format("%Y-%m-%d")) " – " (a.term_end.format("%Y-%m-%d")) }
                    }
                }
            }
        }
    }
}

/// `pure_dp (ε)` or `zcdp (ρ)`.
pub fn privacy_name(b: &Budget) -> &'static str {
    match b.kind {
        shuyu_privacy::PrivacyDefinition::PureDp => "ε (pure DP)",
        shuyu_privacy::PrivacyDefinition::Zcdp => "ρ (zCDP)",
    }
}

fn view(o: &Overview) -> Markup {
    let names: HashMap<UnitId, String> = o.units.iter().map(|u| (u.id, u.name.clone())).collect();
    html! {
        section {
            h2 { "Operating units" }
            table id="units" {
                thead { tr { th { "Id" } th { "Name" } th { "Credit code" } th { "Status" } th { "Admitted" } } }
                tbody {
                    @for u in &o.units {
                        tr data-unit=(u.id.0) {
                            td { (u.id.0) }
                            td class="unit-name" { a href=(format!("/console/units/{}", u.id.0)) { (u.name) } }
                            td { (u.credit_code) }
                            td class="status" { (u.status) }
                            td { (super::layout::time(u.created_at)) }
                        }
                    }
                }
            }
        }
        section {
            h2 { "Authorizations and budgets" }
            (authorizations_table("authorizations", &o.authorizations, &names))
        }
        section {
            h2 { "Jobs per day (last " (DAYS) " days)" }
            (svg::jobs_per_day(&o.jobs_per_day))
        }
    }
}

/// `GET /console/`.
pub async fn page(State(app): State<App>, ctx: Ctx, Query(q): Query<NoticeQuery>) -> Response {
    if !ctx.oversees() {
        return see_other(home(ctx.role_name()));
    }
    let body = overview(&app, &ctx).await.map(|o| view(&o));
    respond(&ctx, "Dashboard", Flash::from_query(&q), StatusCode::OK, body)
}
