//! Data-quality issues (Art. 14(1)): filed by a unit against a dataset it is granted,
//! routed by the bureau to the dataset's provider with a deadline, answered by the provider,
//! tracked by the bureau. An issue past its deadline and not resolved reads as `overdue`.
//!
//! States: `open` (filed) -> `routed` (bureau, [`Store::route_issue`]) -> `resolved`
//! (the provider, [`Store::answer_issue`]). [`Store::update_issue`] still lets the provider or
//! the bureau set `in_progress` or `resolved` directly.

use chrono::{DateTime, Utc};
use rusqlite::params;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::sql::{OptionalExtension, Row, Tx};
use crate::actor::{Principal, Role};
use crate::audit::{self, Entry};
use crate::catalog;
use crate::clock::{from_micros, to_micros};
use crate::error::{GovernanceError, Result};
use crate::ids::{DatasetId, IssueId, PersonId, UnitId};
use crate::store::Store;
use crate::validate::{check_long_text, check_text};

text_enum!(
    /// Where an issue stands.
    pub enum IssueStatus {
        /// Filed, not yet taken up.
        Open => "open",
        /// Routed by the bureau to the provider, with a deadline (Art. 14(1)).
        Routed => "routed",
        /// The provider works on it.
        InProgress => "in_progress",
        /// Fixed or answered.
        Resolved => "resolved",
    }
);

/// A data-quality issue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QualityIssue {
    /// Identifier.
    pub id: IssueId,
    /// The unit that filed it.
    pub unit: UnitId,
    /// The dataset.
    pub dataset: DatasetId,
    /// The dataset's name.
    pub dataset_name: String,
    /// The provider it is routed to.
    pub provider: String,
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// Status.
    pub status: IssueStatus,
    /// Who filed it.
    pub filed_by: PersonId,
    /// Filed at.
    pub filed_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// The provider's or bureau's answer.
    pub resolution: Option<String>,
    /// By when the provider must answer (set when the bureau routes it).
    pub deadline: Option<DateTime<Utc>>,
    /// When the bureau routed it to the provider.
    pub routed_at: Option<DateTime<Utc>>,
    /// The deadline has passed and the issue is not resolved (computed when read).
    pub overdue: bool,
}

const ISSUE_COLUMNS: &str = "q.id, q.unit_id, q.dataset_id, d.name, q.provider, q.title, q.description, q.status, q.filed_by, q.filed_at, q.updated_at, q.resolution, q.deadline, q.routed_at";

type IssueRow = (QualityIssue, i64, i64, Option<i64>, Option<i64>);

fn issue_row(r: &Row<'_>) -> rusqlite::Result<IssueRow> {
    Ok((
        QualityIssue {
            id: r.get(0)?,
            unit: r.get(1)?,
            dataset: r.get(2)?,
            dataset_name: r.get(3)?,
            provider: r.get(4)?,
            title: r.get(5)?,
            description: r.get(6)?,
            status: r.get(7)?,
            filed_by: r.get(8)?,
            filed_at: DateTime::<Utc>::UNIX_EPOCH,
            updated_at: DateTime::<Utc>::UNIX_EPOCH,
            resolution: r.get(11)?,
            deadline: None,
            routed_at: None,
            overdue: false,
        },
        r.get(9)?,
        r.get(10)?,
        r.get(12)?,
        r.get(13)?,
    ))
}

fn finish((mut q, filed, updated, deadline, routed): IssueRow, now: DateTime<Utc>) -> Result<QualityIssue> {
    q.filed_at = from_micros(filed)?;
    q.updated_at = from_micros(updated)?;
    q.deadline = deadline.map(from_micros).transpose()?;
    q.routed_at = routed.map(from_micros).transpose()?;
    q.overdue = q.status != IssueStatus::Resolved && q.deadline.is_some_and(|d| d <= now);
    Ok(q)
}

fn load(conn: &Tx<'_>, id: IssueId, now: DateTime<Utc>) -> Result<QualityIssue> {
    conn.query_row(
        &format!("SELECT {ISSUE_COLUMNS} FROM quality_issues q JOIN datasets d ON d.id = q.dataset_id WHERE q.id = ?1"),
        [id],
        issue_row,
    )
    .optional()?
    .map(|row| finish(row, now))
    .transpose()?
    .ok_or_else(|| GovernanceError::not_found(id.to_string()))
}

impl Store {
    /// A unit's analyst files an issue against a dataset granted to the unit.
    pub fn file_issue(
        &self,
        p: &Principal,
        dataset: &str,
        title: &str,
        description: &str,
    ) -> Result<IssueId> {
        self.act(p, "issue.file", format!("dataset {dataset}"), |tx, actor, now| {
            let unit = actor.require_unit("file data-quality issues")?;
            check_text(title, "title", 200)?;
            check_long_text(description, "description", 8000)?;
            let d = catalog::load_by_name(tx, dataset)?
                .ok_or_else(|| GovernanceError::invalid("dataset", "names no dataset in the catalog"))?;
            let granted: Option<i64> = tx
                .query_row(
                    "SELECT 1 FROM grants g JOIN authorizations a ON a.id = g.authorization_id
                     WHERE a.unit_id = ?1 AND g.dataset_id = ?2 LIMIT 1",
                    params![unit, d.id],
                    |r| r.get(0),
                )
                .optional()?;
            if granted.is_none() {
                return Err(GovernanceError::denied("issues can only be filed against datasets granted to the unit"));
            }
            let at = to_micros(now);
            let new_id = tx.insert(
                "INSERT INTO quality_issues (unit_id, dataset_id, provider, title, description, status, filed_by, filed_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, 'open', ?6, ?7, ?7)",
                params![unit, d.id, d.manifest.provider, title, description, actor.person, at],
            )?;
            let id = IssueId(new_id);
            audit::append(
                tx,
                now,
                &Entry::ok(actor, "issue.file", id.to_string()).details(json!({ "dataset": d.id.0, "provider": d.manifest.provider })),
            )?;
            Ok(id)
        })
    }

    /// The provider (of the issue's dataset) or the bureau moves an issue along.
    pub fn update_issue(
        &self,
        p: &Principal,
        id: IssueId,
        status: IssueStatus,
        resolution: Option<&str>,
    ) -> Result<QualityIssue> {
        self.act(p, "issue.update", id.to_string(), |tx, actor, now| {
            actor.require(&[Role::BureauAdmin, Role::Provider], "update data-quality issues")?;
            let issue = load(tx, id, now)?;
            if actor.role == Some(Role::Provider) && actor.provider.as_deref() != Some(issue.provider.as_str()) {
                return Err(GovernanceError::denied(format!("{id} is routed to another provider")));
            }
            if let Some(r) = resolution {
                check_long_text(r, "resolution", 8000)?;
            }
            tx.execute(
                "UPDATE quality_issues SET status = ?1, resolution = COALESCE(?2, resolution), updated_at = ?3 WHERE id = ?4",
                params![status, resolution, to_micros(now), id],
            )?;
            audit::append(
                tx,
                now,
                &Entry::ok(actor, "issue.update", id.to_string()).unit(issue.unit).details(json!({ "status": status.as_str() })),
            )?;
            load(tx, id, now)
        })
    }

    /// The bureau routes an open issue to its dataset's provider, to be answered by
    /// `deadline` (in the future).
    pub fn route_issue(&self, p: &Principal, id: IssueId, deadline: DateTime<Utc>) -> Result<QualityIssue> {
        self.act(p, "issue.route", id.to_string(), |tx, actor, now| {
            actor.require(&[Role::BureauAdmin], "route data-quality issues")?;
            let issue = load(tx, id, now)?;
            if issue.status != IssueStatus::Open {
                return Err(GovernanceError::conflict(format!(
                    "{id} is {}; only an open issue is routed",
                    issue.status
                )));
            }
            if deadline <= now {
                return Err(GovernanceError::invalid(
                    "deadline",
                    "is already past; give the provider a deadline in the future",
                ));
            }
            let at = to_micros(now);
            tx.execute(
                "UPDATE quality_issues SET status = 'routed', deadline = ?1, routed_at = ?2, updated_at = ?2 WHERE id = ?3",
                params![to_micros(deadline), at, id],
            )?;
            audit::append(
                tx,
                now,
                &Entry::ok(actor, "issue.route", id.to_string())
                    .unit(issue.unit)
                    .details(json!({ "provider": issue.provider, "deadline": to_micros(deadline) })),
            )?;
            load(tx, id, now)
        })
    }

    /// The provider an issue is routed to answers it: `routed` or `in_progress` ->
    /// `resolved`, with the answer. An answer after the deadline is accepted and recorded as
    /// late.
    pub fn answer_issue(&self, p: &Principal, id: IssueId, answer: &str) -> Result<QualityIssue> {
        self.act(p, "issue.answer", id.to_string(), |tx, actor, now| {
            actor.require(&[Role::Provider], "answer data-quality issues")?;
            let issue = load(tx, id, now)?;
            if actor.provider.as_deref() != Some(issue.provider.as_str()) {
                return Err(GovernanceError::denied(format!("{id} is routed to another provider")));
            }
            if !matches!(issue.status, IssueStatus::Routed | IssueStatus::InProgress) {
                return Err(GovernanceError::conflict(format!(
                    "{id} is {}; only a routed or in-progress issue is answered",
                    issue.status
                )));
            }
            if answer.trim().is_empty() {
                return Err(GovernanceError::invalid("answer", "state what was done about the issue"));
            }
            check_long_text(answer, "answer", 8000)?;
            tx.execute(
                "UPDATE quality_issues SET status = 'resolved', resolution = ?1, updated_at = ?2 WHERE id = ?3",
                params![answer, to_micros(now), id],
            )?;
            audit::append(
                tx,
                now,
                &Entry::ok(actor, "issue.answer", id.to_string())
                    .unit(issue.unit)
                    .details(json!({ "late": issue.overdue })),
            )?;
            load(tx, id, now)
        })
    }

    /// One issue: the bureau and supervisors any, a provider those routed to it, a unit its
    /// own (another unit's reads as not found).
    pub fn issue(&self, p: &Principal, id: IssueId) -> Result<QualityIssue> {
        self.observe(p, "issue.read", id.to_string(), |tx, actor, now| {
            actor.require(
                &[Role::BureauAdmin, Role::Supervisor, Role::Provider, Role::UnitAnalyst],
                "read data-quality issues",
            )?;
            let issue = load(tx, id, now)?;
            if actor.role == Some(Role::Provider) {
                if actor.provider.as_deref() != Some(issue.provider.as_str()) {
                    return Err(GovernanceError::denied(format!("{id} is routed to another provider")));
                }
            } else {
                actor.require_owner(issue.unit, &id.to_string())?;
            }
            Ok(issue)
        })
    }

    /// Issues the caller may see: a unit's own, a provider's routed ones, all for the bureau
    /// and supervisors.
    pub fn issues(&self, p: &Principal) -> Result<Vec<QualityIssue>> {
        self.observe(p, "issue.list", "issues", |tx, actor, now| {
            let base = format!("SELECT {ISSUE_COLUMNS} FROM quality_issues q JOIN datasets d ON d.id = q.dataset_id");
            let rows = match actor.role {
                Some(Role::BureauAdmin) | Some(Role::Supervisor) => tx
                    .prepare(&format!("{base} ORDER BY q.id"))?
                    .query_map((), issue_row)?
                    .collect::<rusqlite::Result<Vec<_>>>()?,
                Some(Role::Provider) => tx
                    .prepare(&format!("{base} WHERE q.provider = ?1 ORDER BY q.id"))?
                    .query_map([actor.provider.clone().unwrap_or_default()], issue_row)?
                    .collect::<rusqlite::Result<Vec<_>>>()?,
                _ => {
                    let unit = actor.require_unit("list its issues")?;
                    tx.prepare(&format!("{base} WHERE q.unit_id = ?1 ORDER BY q.id"))?
                        .query_map([unit], issue_row)?
                        .collect::<rusqlite::Result<Vec<_>>>()?
                }
            };
            rows.into_iter().map(|row| finish(row, now)).collect()
        })
    }
}
