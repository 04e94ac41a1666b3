//! Social-data imports (Art. 10(3), 18(3)): a unit's own data, usable only after the
//! bureau's approval and only by that unit. Files live under `imports/<unit>/<name>`.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use rusqlite::params;
use serde::{Deserialize, Serialize};

use crate::sql::{OptionalExtension, Tx};
use crate::actor::{Principal, Role};
use crate::audit::{self, Entry};
use crate::clock::{from_micros, to_micros};
use crate::error::{GovernanceError, Result};
use crate::ids::{ImportId, UnitId};
use crate::layout::{check_file_name, UnitArea};
use crate::store::Store;
use crate::validate::check_long_text;

text_enum!(
    /// Where an import stands.
    pub enum ImportStatus {
        /// Waiting for the bureau.
        Requested => "requested",
        /// Approved: usable by its unit.
        Approved => "approved",
        /// Refused by the bureau.
        Rejected => "rejected",
        /// Deleted (revocation).
        Deleted => "deleted",
    }
);

/// A social-data import.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Import {
    /// Identifier.
    pub id: ImportId,
    /// The unit.
    pub unit: UnitId,
    /// Name (the file name under `imports/<unit>/`).
    pub name: String,
    /// What the data is and where it was lawfully obtained.
    pub description: String,
    /// Status.
    pub status: ImportStatus,
    /// Requested at.
    pub requested_at: DateTime<Utc>,
    /// Reviewed at.
    pub reviewed_at: Option<DateTime<Utc>>,
}

fn load(conn: &Tx<'_>, id: ImportId) -> Result<Import> {
    type Raw = (UnitId, String, String, ImportStatus, i64, Option<i64>);
    let (unit, name, description, status, requested, reviewed): Raw = conn
        .query_row(
            "SELECT unit_id, name, description, status, requested_at, reviewed_at FROM imports WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)),
        )
        .optional()?
        .ok_or_else(|| GovernanceError::not_found(id.to_string()))?;
    Ok(Import {
        id,
        unit,
        name,
        description,
        status,
        requested_at: from_micros(requested)?,
        reviewed_at: reviewed.map(from_micros).transpose()?,
    })
}

impl Store {
    /// A unit asks to import a file of its own data; the returned import says where to put
    /// it (see [`Store::import_path`]) once approved.
    pub fn request_import(&self, p: &Principal, name: &str, description: &str) -> Result<ImportId> {
        self.act(p, "import.request", format!("import {name}"), |tx, actor, now| {
            let unit = actor.require_unit("import social data")?;
            check_file_name(name, "name")?;
            check_long_text(description, "description", 4000)?;
            let taken: Option<i64> = tx
                .query_row("SELECT id FROM imports WHERE unit_id = ?1 AND name = ?2", params![unit, name], |r| r.get(0))
                .optional()?;
            if let Some(existing) = taken {
                return Err(GovernanceError::conflict(format!("the unit already has import {existing} with this name; pick another")));
            }
            let new_id = tx.insert(
                "INSERT INTO imports (unit_id, name, rel_path, description, status, requested_by, requested_at)
                 VALUES (?1, ?2, ?3, ?4, 'requested', ?5, ?6)",
                params![unit, name, format!("imports/{}/{name}", unit.0), description, actor.person, to_micros(now)],
            )?;
            let id = ImportId(new_id);
            audit::append(tx, now, &Entry::ok(actor, "import.request", id.to_string()))?;
            Ok(id)
        })
    }

    /// The bureau approves or rejects an import request.
    pub fn review_import(&self, p: &Principal, import: ImportId, approve: bool) -> Result<Import> {
        self.act(p, "import.review", import.to_string(), |tx, actor, now| {
            actor.require(&[Role::BureauAdmin], "review imports")?;
            let current = load(tx, import)?;
            if current.status != ImportStatus::Requested {
                return Err(GovernanceError::conflict(format!(
                    "{import} is {}; only requested imports are reviewed",
                    current.status
                )));
            }
            let status = if approve {
                ImportStatus::Approved
            } else {
                ImportStatus::Rejected
            };
            tx.execute(
                "UPDATE imports SET status = ?1, reviewed_by = ?2, reviewed_at = ?3 WHERE id = ?4",
                params![status, actor.person, to_micros(now), import],
            )?;
            let action = if approve {
                "import.approve"
            } else {
                "import.reject"
            };
            audit::append(
                tx,
                now,
                &Entry::ok(actor, action, import.to_string()).unit(current.unit),
            )?;
            load(tx, import)
        })
    }

    /// Imports of the caller's unit (bureau and supervisors: all).
    pub fn imports(&self, p: &Principal) -> Result<Vec<Import>> {
        self.observe(p, "import.list", "imports", |tx, actor, _| {
            actor.require(
                &[Role::BureauAdmin, Role::Supervisor, Role::UnitAnalyst],
                "list imports",
            )?;
            let unit = if actor.sees_all_units() {
                None
            } else {
                Some(actor.require_unit("list its imports")?)
            };
            let ids: Vec<ImportId> = tx
                .prepare("SELECT id FROM imports WHERE (CAST(?1 AS BIGINT) IS NULL OR unit_id = ?1) ORDER BY id")?
                .query_map(params![unit], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            ids.into_iter().map(|id| load(tx, id)).collect()
        })
    }

    /// Where the unit's file for an import goes (`imports/<unit>/<name>`; the directory is
    /// created). Only for the requesting unit, once approved.
    pub fn import_path(&self, p: &Principal, name: &str) -> Result<PathBuf> {
        self.approved_import(p, name, "import.path")
    }

    /// The file of an approved import of the caller's unit, ready to read. Refused for
    /// other units, for imports not (or no longer) approved, and if the file is missing.
    pub fn usable_import(&self, p: &Principal, name: &str) -> Result<PathBuf> {
        let path = self.approved_import(p, name, "import.use")?;
        if !path.is_file() {
            return Err(GovernanceError::not_found(format!(
                "the file of import {name} (upload it first)"
            )));
        }
        Ok(path)
    }

    fn approved_import(&self, p: &Principal, name: &str, action: &str) -> Result<PathBuf> {
        let unit = self.observe(p, action, format!("import {name}"), |tx, actor, _| {
            let unit = actor.require_unit("use imports")?;
            check_file_name(name, "name")?;
            let status: Option<ImportStatus> = tx
                .query_row("SELECT status FROM imports WHERE unit_id = ?1 AND name = ?2", params![unit, name], |r| r.get(0))
                .optional()?;
            match status {
                Some(ImportStatus::Approved) => Ok(unit),
                Some(s) => Err(GovernanceError::denied(format!(
                    "import {name} is {s}; only imports approved by the bureau can be used"
                ))),
                None => Err(GovernanceError::denied(format!(
                    "the unit has no import named {name}; request it and wait for the bureau's approval"
                ))),
            }
        })?;
        let dir = self.inner.layout.unit_dir(UnitArea::Imports, unit);
        std::fs::create_dir_all(&dir).map_err(|e| GovernanceError::io(&dir, e))?;
        Ok(dir.join(name))
    }
}
