//! Suspension (Art. 26) and revocation (Art. 28) of units and authorizations.
//!
//! Status changes take effect at once: every call re-reads the unit and authorization
//! status inside its own transaction. Revocation, of a unit or of one authorization, first
//! commits the new state (access ends, credentials revoked, unexported products and imports
//! marked deleted, the file deletion still to do recorded — `units.files_deleted = 0`,
//! `authorizations.files_pending = 1` — all audited in one transaction), then deletes the
//! files and clears the mark with a `unit.files_deleted` / `authorization.files_deleted`
//! audit record. If the process dies in between, the next [`Store::open`] finishes the
//! deletion (idempotently; the authorization's record then says `"resumed": true`). Audit
//! records are never deleted by revocation.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use rusqlite::params;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::sql::Tx;
use crate::actor::{Actor, Principal, Role};
use crate::audit::{self, Entry};
use crate::authorizations::{self, AuthorizationStatus};
use crate::clock::to_micros;
use crate::error::{GovernanceError, Result};
use crate::ids::{AuthorizationId, ProductId, UnitId};
use crate::layout::UnitArea;
use crate::store::Store;
use crate::units::{self, UnitStatus};
use crate::validate::check_long_text;

/// What a revocation did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevocationReport {
    /// The unit concerned.
    pub unit: Option<UnitId>,
    /// Authorizations revoked.
    pub authorizations_revoked: Vec<AuthorizationId>,
    /// Credentials revoked.
    pub credentials_revoked: u64,
    /// Unexported products deleted.
    pub products_deleted: u64,
    /// Imports deleted.
    pub imports_deleted: u64,
    /// Files and directories removed from the data directory.
    pub deleted_paths: Vec<PathBuf>,
}

fn check_reason(reason: &str) -> Result<()> {
    if reason.trim().is_empty() {
        return Err(GovernanceError::invalid(
            "reason",
            "state the reason (it is recorded in the audit trail)",
        ));
    }
    check_long_text(reason, "reason", 2000)
}

/// Marks a unit's (or one authorization's) unexported products deleted; returns how many.
/// Their files are deleted after the transaction commits.
fn delete_products(
    tx: &Tx<'_>,
    unit: UnitId,
    authorization: Option<AuthorizationId>,
) -> Result<u64> {
    let rows = tx
        .prepare(
            "SELECT id FROM products
             WHERE unit_id = ?1 AND (CAST(?2 AS BIGINT) IS NULL OR authorization_id = ?2) AND status IN ('held', 'pending_review', 'rejected')",
        )?
        .query_map(params![unit, authorization], |r| r.get(0))?
        .collect::<rusqlite::Result<Vec<ProductId>>>()?;
    for id in &rows {
        tx.execute("UPDATE products SET status = 'deleted' WHERE id = ?1", [id])?;
        tx.execute(
            "UPDATE exports SET status = 'rejected' WHERE product_id = ?1 AND status = 'pending'",
            [id],
        )?;
    }
    Ok(rows.len() as u64)
}

/// Moves a unit from `from` to `to` inside the caller's transaction, audited as `action`
/// with the reason: the status change of the bureau's suspension and reinstatement, also
/// used by the system when an evaluation's rectification deadline passes.
#[allow(clippy::too_many_arguments)]
pub(crate) fn set_unit_status(
    tx: &Tx<'_>,
    actor: &Actor,
    now: DateTime<Utc>,
    unit: UnitId,
    from: UnitStatus,
    to: UnitStatus,
    action: &str,
    reason: &str,
) -> Result<()> {
    let current = units::load_unit(tx, unit)?;
    if current.status != from {
        return Err(GovernanceError::conflict(format!(
            "{unit} is {}; this applies to a {from} unit",
            current.status
        )));
    }
    tx.execute(
        "UPDATE units SET status = ?1, status_changed_at = ?2 WHERE id = ?3",
        params![to, to_micros(now), unit],
    )?;
    audit::append(
        tx,
        now,
        &Entry::ok(actor, action, unit.to_string())
            .unit(unit)
            .details(json!({ "reason": reason })),
    )?;
    Ok(())
}

impl Store {
    /// The directory of one of the caller's unit areas (created on demand). Analysts get
    /// their own unit's; the bureau passes `unit`.
    pub fn unit_dir(&self, p: &Principal, unit: UnitId, area: UnitArea) -> Result<PathBuf> {
        self.observe(p, "unit.dir", unit.to_string(), |tx, actor, _| {
            actor.require(&[Role::BureauAdmin, Role::UnitAnalyst], "reach unit files")?;
            actor.require_tenant(unit, &unit.to_string())?;
            if units::load_unit(tx, unit)?.status == UnitStatus::Revoked {
                return Err(GovernanceError::denied(format!(
                    "{unit} is revoked; its files were deleted and may not return"
                )));
            }
            Ok(())
        })?;
        let dir = self.inner.layout.unit_dir(area, unit);
        std::fs::create_dir_all(&dir).map_err(|e| GovernanceError::io(&dir, e))?;
        Ok(dir)
    }

    fn change_unit_status(
        &self,
        p: &Principal,
        unit: UnitId,
        from: UnitStatus,
        to: UnitStatus,
        action: &str,
        reason: &str,
    ) -> Result<()> {
        self.act(p, action, unit.to_string(), |tx, actor, now| {
            actor.require(&[Role::BureauAdmin], "change a unit's status")?;
            check_reason(reason)?;
            set_unit_status(tx, actor, now, unit, from, to, action, reason)
        })
    }

    /// Suspends a unit at once: its people cannot authenticate, its jobs cannot reserve.
    pub fn suspend_unit(&self, p: &Principal, unit: UnitId, reason: &str) -> Result<()> {
        self.change_unit_status(
            p,
            unit,
            UnitStatus::Active,
            UnitStatus::Suspended,
            "unit.suspend",
            reason,
        )
    }

    /// Reinstates a suspended unit.
    pub fn reinstate_unit(&self, p: &Principal, unit: UnitId, reason: &str) -> Result<()> {
        self.change_unit_status(
            p,
            unit,
            UnitStatus::Suspended,
            UnitStatus::Active,
            "unit.reinstate",
            reason,
        )
    }

    /// Revokes a unit for good: all its authorizations end, its credentials are revoked,
    /// its unexported products and imports are deleted, and its files under
    /// `imports/`, `results/`, `keys/` and `cache/` are removed. Its audit records stay.
    pub fn revoke_unit(
        &self,
        p: &Principal,
        unit: UnitId,
        reason: &str,
    ) -> Result<RevocationReport> {
        let mut report = self.act(p, "unit.revoke", unit.to_string(), |tx, actor, now| {
            actor.require(&[Role::BureauAdmin], "revoke units")?;
            check_reason(reason)?;
            let current = units::load_unit(tx, unit)?;
            if current.status == UnitStatus::Revoked {
                return Err(GovernanceError::conflict(format!("{unit} is already revoked")));
            }
            let at = to_micros(now);
            tx.execute("UPDATE units SET status = 'revoked', status_changed_at = ?1, files_deleted = 0 WHERE id = ?2", params![at, unit])?;
            let auths = tx
                .prepare("SELECT id FROM authorizations WHERE unit_id = ?1 AND status <> 'revoked' ORDER BY id")?
                .query_map([unit], |r| r.get(0))?
                .collect::<rusqlite::Result<Vec<AuthorizationId>>>()?;
            tx.execute(
                "UPDATE authorizations SET status = 'revoked', status_changed_at = ?1 WHERE unit_id = ?2 AND status <> 'revoked'",
                params![at, unit],
            )?;
            let credentials = tx.execute(
                "UPDATE credentials SET revoked_at = ?1
                 WHERE revoked_at IS NULL AND person_id IN (SELECT id FROM people WHERE unit_id = ?2)",
                params![at, unit],
            )? as u64;
            let products = delete_products(tx, unit, None)?;
            let imports = tx.execute("UPDATE imports SET status = 'deleted' WHERE unit_id = ?1 AND status <> 'deleted'", [unit])? as u64;
            audit::append(
                tx,
                now,
                &Entry::ok(actor, "unit.revoke", unit.to_string()).unit(unit).details(json!({
                    "reason": reason,
                    "authorizations": auths.iter().map(|a| a.0).collect::<Vec<_>>(),
                    "credentials_revoked": credentials,
                    "products_deleted": products,
                    "imports_deleted": imports,
                })),
            )?;
            Ok(RevocationReport {
                unit: Some(unit),
                authorizations_revoked: auths,
                credentials_revoked: credentials,
                products_deleted: products,
                imports_deleted: imports,
                deleted_paths: Vec::new(),
            })
        })?;
        report.deleted_paths = self.delete_unit_files(unit)?;
        Ok(report)
    }

    /// Deletes a revoked unit's files and records it.
    fn delete_unit_files(&self, unit: UnitId) -> Result<Vec<PathBuf>> {
        let deleted = self.inner.layout.delete_unit_files(unit)?;
        self.write(|tx| {
            let now = self.now();
            tx.execute("UPDATE units SET files_deleted = 1 WHERE id = ?1", [unit])?;
            audit::append(
                tx,
                now,
                &Entry::ok(&Actor::system(), "unit.files_deleted", unit.to_string())
                    .unit(unit)
                    .details(json!({ "areas": deleted.len() })),
            )?;
            Ok(())
        })?;
        Ok(deleted)
    }

    /// Deletes the files a revoked authorization left pending (`files_pending`): the files
    /// of its deleted products and, if the revocation left the unit no authorization in
    /// force (`unit_files_pending`), the unit's areas. Idempotent: files already gone are
    /// skipped. Clears the flags and audits `authorization.files_deleted` (and
    /// `unit.files_deleted` for the areas) in one transaction, unless another handle
    /// finished first. `resumed` marks a deletion finished at open after a crash.
    fn delete_authorization_files(
        &self,
        id: AuthorizationId,
        resumed: bool,
    ) -> Result<Vec<PathBuf>> {
        let (unit, unit_files, files) = self.read(|tx| {
            let (unit, unit_files): (UnitId, bool) = tx.query_row(
                "SELECT unit_id, unit_files_pending FROM authorizations WHERE id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            let files = tx
                .prepare(
                    "SELECT rel_path FROM products
                     WHERE authorization_id = ?1 AND status = 'deleted' AND rel_path IS NOT NULL ORDER BY id",
                )?
                .query_map([id], |r| r.get::<_, String>(0))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok((unit, unit_files, files))
        })?;
        let results = self.inner.layout.unit_dir(UnitArea::Results, unit);
        let mut deleted = Vec::new();
        for file in files {
            let file = results.join(file);
            match std::fs::remove_file(&file) {
                Ok(()) => deleted.push(file),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(GovernanceError::io(&file, e)),
            }
        }
        let files_deleted = deleted.len();
        let areas = if unit_files {
            self.inner.layout.delete_unit_files(unit)?
        } else {
            Vec::new()
        };
        self.write(|tx| {
            let now = self.now();
            let cleared = tx.execute(
                "UPDATE authorizations SET files_pending = 0, unit_files_pending = 0 WHERE id = ?1 AND files_pending = 1",
                [id],
            )?;
            if cleared == 0 {
                return Ok(()); // another handle finished this deletion and recorded it
            }
            audit::append(
                tx,
                now,
                &Entry::ok(&Actor::system(), "authorization.files_deleted", id.to_string())
                    .unit(unit)
                    .details(json!({ "files": files_deleted, "unit_files": unit_files, "resumed": resumed })),
            )?;
            if unit_files {
                audit::append(
                    tx,
                    now,
                    &Entry::ok(&Actor::system(), "unit.files_deleted", unit.to_string())
                        .unit(unit)
                        .details(json!({ "areas": areas.len(), "after": id.0, "resumed": resumed })),
                )?;
            }
            Ok(())
        })?;
        deleted.extend(areas);
        Ok(deleted)
    }

    /// Finishes revocations (of units and of authorizations) interrupted before their files
    /// were deleted (run at open).
    pub(crate) fn finish_revocations(&self) -> Result<()> {
        let (units, auths): (Vec<UnitId>, Vec<AuthorizationId>) = self.read(|tx| {
            let units = tx
                .prepare("SELECT id FROM units WHERE status = 'revoked' AND files_deleted = 0")?
                .query_map((), |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            let auths = tx
                .prepare("SELECT id FROM authorizations WHERE status = 'revoked' AND files_pending = 1 ORDER BY id")?
                .query_map((), |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            Ok((units, auths))
        })?;
        for unit in units {
            self.delete_unit_files(unit)?;
        }
        for id in auths {
            self.delete_authorization_files(id, true)?;
        }
        Ok(())
    }

    fn change_authorization_status(
        &self,
        p: &Principal,
        id: AuthorizationId,
        from: &str,
        to: &str,
        action: &str,
        reason: &str,
    ) -> Result<()> {
        self.act(p, action, id.to_string(), |tx, actor, now| {
            actor.require(&[Role::BureauAdmin], "change an authorization's status")?;
            check_reason(reason)?;
            let row = authorizations::load_row(tx, id)?;
            if row.stored_status != from {
                return Err(GovernanceError::conflict(format!(
                    "{id} is {}; this applies to a {from} authorization",
                    row.status(now)
                )));
            }
            tx.execute(
                "UPDATE authorizations SET status = ?1, status_changed_at = ?2 WHERE id = ?3",
                params![to, to_micros(now), id],
            )?;
            audit::append(
                tx,
                now,
                &Entry::ok(actor, action, id.to_string())
                    .unit(row.unit)
                    .details(json!({ "reason": reason })),
            )?;
            Ok(())
        })
    }

    /// Suspends an authorization at once: no job can start or reserve under it.
    pub fn suspend_authorization(
        &self,
        p: &Principal,
        id: AuthorizationId,
        reason: &str,
    ) -> Result<()> {
        self.change_authorization_status(
            p,
            id,
            "active",
            "suspended",
            "authorization.suspend",
            reason,
        )
    }

    /// Reinstates a suspended authorization (its term still applies).
    pub fn reinstate_authorization(
        &self,
        p: &Principal,
        id: AuthorizationId,
        reason: &str,
    ) -> Result<()> {
        self.change_authorization_status(
            p,
            id,
            "suspended",
            "active",
            "authorization.reinstate",
            reason,
        )
    }

    /// Revokes an authorization for good: access ends, its unexported products are deleted
    /// (with their files); when the unit holds no other authorization in force, the unit's
    /// imports and files under `imports/`, `results/`, `keys/`, `cache/` are deleted too.
    /// The file deletion is recorded as pending in the revocation's transaction: if the
    /// process dies before it is done, the next [`Store::open`] finishes it.
    pub fn revoke_authorization(
        &self,
        p: &Principal,
        id: AuthorizationId,
        reason: &str,
    ) -> Result<RevocationReport> {
        let mut report = self.act(p, "authorization.revoke", id.to_string(), |tx, actor, now| {
            actor.require(&[Role::BureauAdmin], "revoke authorizations")?;
            check_reason(reason)?;
            let row = authorizations::load_row(tx, id)?;
            if row.stored_status == "revoked" {
                return Err(GovernanceError::conflict(format!("{id} is already revoked")));
            }
            let products = delete_products(tx, row.unit, Some(id))?;
            let others = tx
                .prepare("SELECT id FROM authorizations WHERE unit_id = ?1 AND id <> ?2")?
                .query_map(params![row.unit, id], |r| r.get(0))?
                .collect::<rusqlite::Result<Vec<AuthorizationId>>>()?;
            let mut in_force = 0;
            for other in others {
                let st = authorizations::load_row(tx, other)?.status(now);
                if matches!(st, AuthorizationStatus::Active | AuthorizationStatus::Suspended | AuthorizationStatus::Pending) {
                    in_force += 1;
                }
            }
            let last = in_force == 0;
            // The deletion still to do is recorded with the revocation itself, so a crash
            // before the files are gone is finished by the next open.
            tx.execute(
                "UPDATE authorizations SET status = 'revoked', status_changed_at = ?1, files_pending = 1, unit_files_pending = ?2
                 WHERE id = ?3",
                params![to_micros(now), last, id],
            )?;
            let imports = if last {
                tx.execute("UPDATE imports SET status = 'deleted' WHERE unit_id = ?1 AND status <> 'deleted'", [row.unit])? as u64
            } else {
                0
            };
            audit::append(
                tx,
                now,
                &Entry::ok(actor, "authorization.revoke", id.to_string()).unit(row.unit).details(json!({
                    "reason": reason,
                    "products_deleted": products,
                    "imports_deleted": imports,
                    "unit_files_deleted": last,
                })),
            )?;
            Ok(RevocationReport {
                unit: Some(row.unit),
                authorizations_revoked: vec![id],
                credentials_revoked: 0,
                products_deleted: products,
                imports_deleted: imports,
                deleted_paths: Vec::new(),
            })
        })?;
        report.deleted_paths = self.delete_authorization_files(id, false)?;
        Ok(report)
    }
}
