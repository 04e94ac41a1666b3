//! `/console/units/ID`: a unit's operation report (`Store::unit_report`, as the admin
//! service's `UnitReport`) over a period (default: since the unit was admitted), with
//! `svg#budget-spent`: each authorization's budget spent over time, from the unit's jobs
//! (`Store::jobs`: each settled job's cost, at the time it finished).

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Duration, Utc};
use maud::{html, Markup};
use serde::Deserialize;
use shuyu_governance::{AuthorizationId, Environment, Job, JobFilter, UnitId, UnitReport};

use super::forms::parse_day;
use super::layout::{gauge, respond, time, Ctx, Flash};
use super::svg::{self, SpentSeries};
use super::App;
use crate::offload::store_call;
use crate::Error;

/// The period's form (`GET`).
#[derive(Debug, Default, Deserialize)]
pub struct PeriodQuery {
    /// First day, `YYYY-MM-DD` (default: the unit's admission).
    pub from: Option<String>,
    /// Last day, `YYYY-MM-DD` (default: now).
    pub to: Option<String>,
}

fn day_field(v: &Option<String>, name: &str) -> Result<Option<DateTime<Utc>>, Error> {
    match v.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(t) => parse_day(t).map(Some).ok_or_else(|| Error::Usage(format!("field {name}: enter a date as YYYY-MM-DD"))),
    }
}

/// Each authorization's share of its budget spent, as a step line over `[from, to]`.
pub fn spent_series(report: &UnitReport, jobs: &[Job], from: DateTime<Utc>) -> Vec<SpentSeries> {
    let mut by_auth: BTreeMap<AuthorizationId, Vec<(DateTime<Utc>, u64)>> = BTreeMap::new();
    for j in jobs.iter().filter(|j| j.environment == Environment::Prod && j.cost.0 > 0) {
        by_auth.entry(j.authorization).or_default().push((j.finished_at.unwrap_or(j.created_at), j.cost.0));
    }
    report
        .budgets
        .iter()
        .map(|b| {
            let total = b.total.0.max(1) as f64;
            let mut charges = by_auth.remove(&b.authorization).unwrap_or_default();
            charges.sort();
            let mut spent = 0u64;
            let mut points = Vec::new();
            let mut started = false;
            for (at, cost) in charges {
                if at > from && !started {
                    points.push((from, spent as f64 / total));
                    started = true;
                }
                if started {
                    points.push((at, spent as f64 / total));
                }
                spent = spent.saturating_add(cost);
                if started {
                    points.push((at, spent as f64 / total));
                }
            }
            if !started {
                points.push((from, spent as f64 / total));
            }
            SpentSeries { label: format!("{} {}", b.authorization, b.scenario), points }
        })
        .collect()
}

fn view(r: &UnitReport, jobs: &[Job]) -> Markup {
    let series = spent_series(r, jobs, r.from);
    html! {
        p class="summary" {
            (r.unit.name) " · credit code " (r.unit.credit_code) " · status " span class="status" id="unit-status" { (r.unit.status) }
            " · period " (time(r.from)) " – " (time(r.to))
        }
        form id="report-period" method="get" action=(format!("/console/units/{}", r.unit.id.0)) {
            label { "From " input name="from" type="text" inputmode="numeric" placeholder="YYYY-MM-DD" value=(r.from.format("%Y-%m-%d")); }
            label { "To " input name="to" type="text" inputmode="numeric" placeholder="YYYY-MM-DD" value=(r.to.format("%Y-%m-%d")); }
            button type="submit" { "Show" }
        }
        section {
            h2 { "Budget spent over time" }
            (svg::budget_spent(&series, r.from, r.to))
        }
        section {
            h2 { "Budgets" }
            table id="budgets" {
                thead { tr { th { "Authorization" } th { "Scenario" } th { "Status" } th { "Spent to date" } th { "In period" } th { "δ" } } }
                tbody {
                    @for b in &r.budgets {
                        tr data-authorization=(b.authorization.0) {
                            td { (b.authorization.0) }
                            td { (b.scenario) }
                            td { (b.status) }
                            td { (gauge(b.spent_to_date.as_f64(), b.total.as_f64(), &format!("{} of {} spent", b.spent_to_date, b.total))) }
                            td { (b.spent_in_period) }
                            td { "δ " (b.delta_spent_to_date) " of " (b.delta_total) }
                        }
                    }
                }
            }
        }
        section {
            h2 { "Jobs" }
            p { (r.jobs.total) " jobs in the period." }
            table id="job-counts" {
                tbody {
                    @for (status, n) in &r.jobs.by_status { tr { th { (status) } td { (n) } } }
                    @for (env, n) in &r.jobs.by_environment { tr { th { (env) } td { (n) } } }
                }
            }
            h3 { "Datasets used" }
            ul id="datasets-used" { @for d in &r.datasets_used { li { (d.dataset) ": " (d.jobs) " jobs" } } }
            h3 { "Metering" }
            p { (r.metering.rows_scanned) " rows scanned, " (r.metering.cpu_ms) " ms CPU, " (r.metering.releases) " values released." }
        }
        section {
            h2 { "Exports" }
            table id="report-exports" {
                thead { tr { th { "Export" } th { "Product" } th { "Approval" } th { "At" } } }
                tbody { @for e in &r.exports { tr { td { (e.export.0) } td { (e.product.0) } td { (e.approval) } td { (time(e.at)) } } } }
            }
        }
        section {
            h2 { "Incidents" }
            p { (r.incidents.refusals) " refused requests." }
            ul id="status-changes" { @for s in &r.incidents.status_changes { li { (time(s.at)) " " (s.action) " " (s.object) } } }
            ul id="report-issues" { @for i in &r.incidents.quality_issues { li { (i.id) " " (i.dataset) ": " (i.title) " (" (i.status) ")" } } }
        }
    }
}

/// `GET /console/units/{id}`.
pub async fn page(State(app): State<App>, ctx: Ctx, Path(id): Path<i64>, Query(q): Query<PeriodQuery>) -> Response {
    let p = ctx.principal();
    let body = async {
        let (from, to) = (day_field(&q.from, "from")?, day_field(&q.to, "to")?);
        let (report, jobs) = store_call(&app.store, move |s| {
            let unit = s.unit(&p, UnitId(id))?;
            let now = s.now();
            let to = to.map(|t| t + Duration::days(1)).unwrap_or(now);
            let from = from.unwrap_or(unit.created_at).min(to - Duration::seconds(1));
            let report = s.unit_report(&p, UnitId(id), from, to)?;
            let jobs = s.jobs(&p, &JobFilter { unit: Some(UnitId(id)), limit: Some(1000), ..JobFilter::default() })?;
            Ok((report, jobs))
        })
        .await?;
        Ok::<_, Error>(view(&report, &jobs))
    }
    .await;
    respond(&ctx, "Unit report", Flash::default(), StatusCode::OK, body)
}
