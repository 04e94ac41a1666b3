//! Data-quality issues (Art. 14(1)): filed by a unit against a dataset it is granted,
//! routed to the dataset's provider, tracked by the bureau.

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use serde_json::json;

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
}

const ISSUE_COLUMNS: &str = "q.id, q.unit_id, q.dataset_id, d.name, q.provider, q.title, q.description, q.status, q.filed_by, q.filed_at, q.updated_at, q.resolution";

fn issue_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(QualityIssue, i64, i64)> {
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
        },
        r.get(9)?,
        r.get(10)?,
    ))
}

fn finish((mut q, filed, updated): (QualityIssue, i64, i64)) -> Result<QualityIssue> {
    q.filed_at = from_micros(filed)?;
    q.updated_at = from_micros(updated)?;
    Ok(q)
}

fn load(conn: &Connection, id: IssueId) -> Result<QualityIssue> {
    conn.query_row(
        &format!("SELECT {ISSUE_COLUMNS} FROM quality_issues q JOIN datasets d ON d.id = q.dataset_id WHERE q.id = ?1"),
        [id],
        issue_row,
    )
    .optional()?
    .map(finish)
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
            tx.execute(
                "INSERT INTO quality_issues (unit_id, dataset_id, provider, title, description, status, filed_by, filed_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, 'open', ?6, ?7, ?7)",
                params![unit, d.id, d.manifest.provider, title, description, actor.person, at],
            )?;
            let id = IssueId(tx.last_insert_rowid());
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
            let issue = load(tx, id)?;
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
            load(tx, id)
        })
    }

    /// Issues the caller may see: a unit's own, a provider's routed ones, all for the bureau
    /// and supervisors.
    pub fn issues(&self, p: &Principal) -> Result<Vec<QualityIssue>> {
        self.observe(p, "issue.list", "issues", |tx, actor, _| {
            let base = format!("SELECT {ISSUE_COLUMNS} FROM quality_issues q JOIN datasets d ON d.id = q.dataset_id");
            let rows = match actor.role {
                Some(Role::BureauAdmin) | Some(Role::Supervisor) => tx
                    .prepare(&format!("{base} ORDER BY q.id"))?
                    .query_map([], issue_row)?
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
            rows.into_iter().map(finish).collect()
        })
    }
}
