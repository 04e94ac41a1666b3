//! Operation reports per unit and period (Art. 11, 26, 27), as JSON (serde) and Markdown.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::params;
use serde::{Deserialize, Serialize};
use shuyu_privacy::PrivacyDefinition;

use crate::actor::{Principal, Role};
use crate::amount::{Atto, Nano};
use crate::authorizations::{self, AuthorizationStatus};
use crate::clock::{from_micros, to_micros};
use crate::error::{GovernanceError, Result};
use crate::exports::ExportStatus;
use crate::ids::{AuthorizationId, ExportId, IssueId, ProductId, UnitId};
use crate::jobs::Metering;
use crate::loss::{self, PrivacyLoss};
use crate::quality::IssueStatus;
use crate::store::Store;
use crate::units::{self, Unit};

/// A dataset and how many jobs of the period read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatasetUse {
    /// Dataset name.
    pub dataset: String,
    /// Jobs that read it.
    pub jobs: u64,
}

/// Job counts of the period.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobCounts {
    /// All jobs started in the period.
    pub total: u64,
    /// By status (`succeeded`, `failed`, `refused`, `running`).
    pub by_status: BTreeMap<String, u64>,
    /// By environment (`dev`, `prod`).
    pub by_environment: BTreeMap<String, u64>,
}

/// Budget of one authorization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BudgetLine {
    /// The authorization.
    pub authorization: AuthorizationId,
    /// Its scenario.
    pub scenario: String,
    /// Epsilon or rho.
    pub privacy: PrivacyDefinition,
    /// Status at report time.
    pub status: AuthorizationStatus,
    /// Total granted.
    pub total: Nano,
    /// Settled within the period.
    pub spent_in_period: Nano,
    /// Settled since the grant.
    pub spent_to_date: Nano,
    /// Delta total granted.
    pub delta_total: Atto,
    /// Delta settled since the grant.
    pub delta_spent_to_date: Atto,
}

/// A product exported in the period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportLine {
    /// The export.
    pub export: ExportId,
    /// The product.
    pub product: ProductId,
    /// Automatic or approved.
    pub approval: ExportStatus,
    /// When it left the domain.
    pub at: DateTime<Utc>,
}

/// A status change of the unit or one of its authorizations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusEvent {
    /// When.
    pub at: DateTime<Utc>,
    /// What (`unit.suspend`, `authorization.revoke`…).
    pub action: String,
    /// On what.
    pub object: String,
}

/// A quality issue filed in the period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssueLine {
    /// The issue.
    pub id: IssueId,
    /// The dataset.
    pub dataset: String,
    /// Title.
    pub title: String,
    /// Status now.
    pub status: IssueStatus,
}

/// Incidents of the period.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incidents {
    /// Refused requests (role, tenant, status, budget).
    pub refusals: u64,
    /// Refusals by kind (`denied`, `budget_exhausted`…).
    pub refusals_by_kind: BTreeMap<String, u64>,
    /// Suspensions, reinstatements and revocations.
    pub status_changes: Vec<StatusEvent>,
    /// Quality issues filed.
    pub quality_issues: Vec<IssueLine>,
}

/// The operation report of one unit over `[from, to)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnitReport {
    /// The unit.
    pub unit: Unit,
    /// Start of the period (inclusive).
    pub from: DateTime<Utc>,
    /// End of the period (exclusive).
    pub to: DateTime<Utc>,
    /// When the report was made.
    pub generated_at: DateTime<Utc>,
    /// Datasets read by the period's jobs.
    pub datasets_used: Vec<DatasetUse>,
    /// Jobs.
    pub jobs: JobCounts,
    /// Metering totals of the period's jobs.
    pub metering: Metering,
    /// Budget per authorization.
    pub budgets: Vec<BudgetLine>,
    /// Composed privacy loss per dataset over all the unit's authorizations, to date
    /// (reserved charges included).
    pub privacy_losses: Vec<PrivacyLoss>,
    /// Products exported.
    pub exports: Vec<ExportLine>,
    /// Incidents.
    pub incidents: Incidents,
}

fn u(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn day(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

impl UnitReport {
    /// The report as pretty JSON.
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string_pretty(self)
            .map_err(|e| GovernanceError::Internal(format!("report does not serialise: {e}")))
    }

    /// The report as Markdown.
    pub fn to_markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "# Operation report: {} ({})\n",
            self.unit.name, self.unit.credit_code
        );
        let _ = writeln!(
            s,
            "Period: {} to {} · unit status: {} · generated {}\n",
            day(self.from),
            day(self.to),
            self.unit.status,
            day(self.generated_at)
        );
        let _ = writeln!(s, "## Data used\n");
        if self.datasets_used.is_empty() {
            let _ = writeln!(s, "No dataset was read.\n");
        } else {
            let _ = writeln!(s, "| dataset | jobs |\n|---|---:|");
            for d in &self.datasets_used {
                let _ = writeln!(s, "| {} | {} |", d.dataset, d.jobs);
            }
            s.push('\n');
        }
        let _ = writeln!(s, "## Jobs\n\n{} jobs.\n", self.jobs.total);
        let _ = writeln!(s, "| status | jobs |\n|---|---:|");
        for (k, v) in &self.jobs.by_status {
            let _ = writeln!(s, "| {k} | {v} |");
        }
        let _ = writeln!(s, "\n| environment | jobs |\n|---|---:|");
        for (k, v) in &self.jobs.by_environment {
            let _ = writeln!(s, "| {k} | {v} |");
        }
        let m = &self.metering;
        let _ = writeln!(s, "\n## Metering\n\n| measure | total |\n|---|---:|");
        let _ = writeln!(s, "| rows scanned | {} |\n| bytes scanned | {} |\n| CPU ms | {} |\n| encrypted operations | {} |\n| releases | {} |",
            m.rows_scanned, m.bytes_scanned, m.cpu_ms, m.encrypted_ops, m.releases);
        let _ = writeln!(s, "\n## Privacy budget\n\n| authorization | scenario | status | unit | spent in period | spent to date | total | delta spent | delta total |\n|---|---|---|---|---:|---:|---:|---:|---:|");
        for b in &self.budgets {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                b.authorization.0,
                b.scenario,
                b.status,
                b.privacy.unit_name(),
                b.spent_in_period,
                b.spent_to_date,
                b.total,
                b.delta_spent_to_date,
                b.delta_total
            );
        }
        if !self.privacy_losses.is_empty() {
            let _ = writeln!(
                s,
                "\n## Privacy loss per dataset (all authorizations, to date)\n\n| dataset | epsilon | delta | cap epsilon | cap delta |\n|---|---:|---:|---:|---:|"
            );
            for l in &self.privacy_losses {
                let (ce, cd) = l.cap.map_or(("none".to_string(), "none".to_string()), |c| (c.epsilon.to_string(), c.delta.to_string()));
                let _ = writeln!(s, "| {} | {} | {} | {ce} | {cd} |", l.dataset, l.epsilon, l.delta);
            }
        }
        let _ = writeln!(
            s,
            "\n## Products exported\n\n{} products.\n",
            self.exports.len()
        );
        if !self.exports.is_empty() {
            let _ = writeln!(
                s,
                "| product | export | approval | at |\n|---:|---:|---|---|"
            );
            for e in &self.exports {
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {} |",
                    e.product.0,
                    e.export.0,
                    e.approval,
                    day(e.at)
                );
            }
            s.push('\n');
        }
        let i = &self.incidents;
        let _ = writeln!(s, "## Incidents\n\n{} refused requests.\n", i.refusals);
        for (k, v) in &i.refusals_by_kind {
            let _ = writeln!(s, "- {k}: {v}");
        }
        if !i.status_changes.is_empty() {
            let _ = writeln!(s, "\n| at | status change | object |\n|---|---|---|");
            for e in &i.status_changes {
                let _ = writeln!(s, "| {} | {} | {} |", day(e.at), e.action, e.object);
            }
        }
        if !i.quality_issues.is_empty() {
            let _ = writeln!(
                s,
                "\n| issue | dataset | title | status |\n|---:|---|---|---|"
            );
            for q in &i.quality_issues {
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {} |",
                    q.id.0,
                    q.dataset,
                    q.title.replace('|', "\\|"),
                    q.status
                );
            }
        }
        s
    }
}

impl Store {
    /// The operation report of a unit over `[from, to)` (bureau, supervisors, or the unit's
    /// own analysts).
    pub fn unit_report(
        &self,
        p: &Principal,
        unit: UnitId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<UnitReport> {
        self.observe(p, "report.unit", unit.to_string(), |tx, actor, now| {
            actor.require(&[Role::BureauAdmin, Role::Supervisor, Role::UnitAnalyst], "read reports")?;
            actor.require_tenant(unit, &unit.to_string())?;
            if from >= to {
                return Err(GovernanceError::invalid("to", "must be after from"));
            }
            let unit_row = units::load_unit(tx, unit)?;
            let (f, t) = (to_micros(from), to_micros(to));

            let datasets_used = tx
                .prepare(
                    "SELECT d.name, COUNT(*) FROM job_datasets jd JOIN jobs j ON j.id = jd.job_id JOIN datasets d ON d.id = jd.dataset_id
                     WHERE j.unit_id = ?1 AND j.created_at >= ?2 AND j.created_at < ?3 GROUP BY d.name ORDER BY d.name",
                )?
                .query_map(params![unit, f, t], |r| Ok(DatasetUse { dataset: r.get(0)?, jobs: u(r.get(1)?) }))?
                .collect::<rusqlite::Result<Vec<_>>>()?;

            let mut jobs = JobCounts::default();
            let mut metering = Metering::default();
            let rows = tx
                .prepare(
                    "SELECT status, environment, COUNT(*), CAST(SUM(rows_scanned) AS BIGINT), CAST(SUM(bytes_scanned) AS BIGINT), CAST(SUM(cpu_ms) AS BIGINT), CAST(SUM(encrypted_ops) AS BIGINT), CAST(SUM(releases) AS BIGINT)
                     FROM jobs WHERE unit_id = ?1 AND created_at >= ?2 AND created_at < ?3 GROUP BY status, environment",
                )?
                .query_map(params![unit, f, t], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, [r.get::<_, i64>(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?]))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            for (status, env, [n, rows, bytes, cpu, enc, rel]) in rows {
                jobs.total += u(n);
                *jobs.by_status.entry(status).or_default() += u(n);
                *jobs.by_environment.entry(env).or_default() += u(n);
                metering.add(&Metering { rows_scanned: u(rows), bytes_scanned: u(bytes), cpu_ms: u(cpu), encrypted_ops: u(enc), releases: u(rel) });
            }

            let auth_ids = tx
                .prepare("SELECT id FROM authorizations WHERE unit_id = ?1 ORDER BY id")?
                .query_map([unit], |r| r.get(0))?
                .collect::<rusqlite::Result<Vec<AuthorizationId>>>()?;
            let mut budgets = Vec::new();
            for id in auth_ids {
                let row = authorizations::load_row(tx, id)?;
                let in_period: i64 = tx.query_row(
                    "SELECT CAST(COALESCE(SUM(CASE WHEN state = 'committed' THEN actual_nano ELSE amount_nano END), 0) AS BIGINT)
                     FROM reservations WHERE authorization_id = ?1 AND state IN ('committed', 'recovered') AND closed_at >= ?2 AND closed_at < ?3",
                    params![id, f, t],
                    |r| r.get(0),
                )?;
                budgets.push(BudgetLine {
                    authorization: id,
                    scenario: row.scenario.clone(),
                    privacy: row.privacy,
                    status: row.status(now),
                    total: row.total,
                    spent_in_period: Nano(u(in_period)),
                    spent_to_date: row.spent,
                    delta_total: row.delta_total,
                    delta_spent_to_date: row.delta_spent,
                });
            }

            let exports = tx
                .prepare(
                    "SELECT e.id, e.product_id, e.status, e.reviewed_at FROM exports e JOIN products p ON p.id = e.product_id
                     WHERE p.unit_id = ?1 AND e.status IN ('automatic', 'approved') AND e.reviewed_at >= ?2 AND e.reviewed_at < ?3 ORDER BY e.id",
                )?
                .query_map(params![unit, f, t], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get::<_, i64>(3)?)))?
                .collect::<rusqlite::Result<Vec<(ExportId, ProductId, ExportStatus, i64)>>>()?
                .into_iter()
                .map(|(export, product, approval, at)| Ok(ExportLine { export, product, approval, at: from_micros(at)? }))
                .collect::<Result<Vec<_>>>()?;

            let mut incidents = Incidents::default();
            let refusals = tx
                .prepare("SELECT details FROM audit WHERE unit_id = ?1 AND outcome = 'refused' AND at >= ?2 AND at < ?3")?
                .query_map(params![unit, f, t], |r| r.get::<_, String>(0))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            for details in refusals {
                let kind = serde_json::from_str::<serde_json::Value>(&details)
                    .ok()
                    .and_then(|v| v.get("refusal").and_then(|k| k.as_str()).map(str::to_string))
                    .unwrap_or_else(|| "unknown".into());
                incidents.refusals += 1;
                *incidents.refusals_by_kind.entry(kind).or_default() += 1;
            }
            incidents.status_changes = tx
                .prepare(
                    "SELECT at, action, object FROM audit WHERE unit_id = ?1 AND outcome = 'ok' AND at >= ?2 AND at < ?3
                     AND action IN ('unit.suspend', 'unit.reinstate', 'unit.revoke', 'authorization.suspend', 'authorization.reinstate', 'authorization.revoke')
                     ORDER BY seq",
                )?
                .query_map(params![unit, f, t], |r| Ok((r.get::<_, i64>(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<rusqlite::Result<Vec<(i64, String, String)>>>()?
                .into_iter()
                .map(|(at, action, object)| Ok(StatusEvent { at: from_micros(at)?, action, object }))
                .collect::<Result<Vec<_>>>()?;
            incidents.quality_issues = tx
                .prepare(
                    "SELECT q.id, d.name, q.title, q.status FROM quality_issues q JOIN datasets d ON d.id = q.dataset_id
                     WHERE q.unit_id = ?1 AND q.filed_at >= ?2 AND q.filed_at < ?3 ORDER BY q.id",
                )?
                .query_map(params![unit, f, t], |r| Ok(IssueLine { id: r.get(0)?, dataset: r.get(1)?, title: r.get(2)?, status: r.get(3)? }))?
                .collect::<rusqlite::Result<Vec<_>>>()?;

            Ok(UnitReport {
                unit: unit_row,
                from,
                to,
                generated_at: now,
                datasets_used,
                jobs,
                metering,
                budgets,
                privacy_losses: loss::losses(tx, Some(unit), None)?,
                exports,
                incidents,
            })
        })
    }
}
