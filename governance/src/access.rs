//! The checks every call goes through: a principal resolved against the store.
//!
//! A [`Principal`] comes from [`Store::authenticate`]. Each call re-reads the person and
//! the unit inside its own transaction, so a suspension or revocation takes effect at once,
//! even for sessions that authenticated before it. Refusals (role, tenant, status) are
//! recorded in the audit trail in a transaction of their own, after the refused work was
//! rolled back.

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::sql::{OptionalExtension, Tx};
use crate::amount::Nano;
use crate::audit::{self, Entry, Outcome};
use crate::actor::{Actor, Principal, Role};
use crate::error::{GovernanceError, Result};
use crate::ids::UnitId;
use crate::store::Store;
use crate::units::UnitStatus;

/// Verifies a principal against the store: the person exists, is active, has this role and
/// unit, and the unit (if any) is active.
pub(crate) fn resolve(conn: &Tx<'_>, p: &Principal) -> Result<Actor> {
    let row: Option<(Role, Option<UnitId>, Option<String>, bool)> = conn
        .query_row(
            "SELECT role, unit_id, provider, active FROM people WHERE id = ?1",
            [p.person_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get::<_, i64>(3)? != 0)),
        )
        .optional()?;
    let Some((role, unit, provider, active)) = row else {
        return Err(GovernanceError::Unauthenticated {
            reason: "the person is unknown",
        });
    };
    if !active {
        return Err(GovernanceError::Unauthenticated {
            reason: "the person's account is deactivated",
        });
    }
    if role != p.role || unit != p.unit_id {
        return Err(GovernanceError::Unauthenticated {
            reason: "the session's role or unit no longer matches the account; sign in again",
        });
    }
    if let Some(u) = unit {
        check_unit_active(conn, u)?;
    }
    Ok(Actor {
        person: Some(p.person_id),
        unit,
        role: Some(role),
        provider,
        anonymous: false,
    })
}

/// Refuses if the unit is suspended or revoked.
pub(crate) fn check_unit_active(conn: &Tx<'_>, unit: UnitId) -> Result<()> {
    let status: Option<UnitStatus> = conn
        .query_row("SELECT status FROM units WHERE id = ?1", [unit], |r| {
            r.get(0)
        })
        .optional()?;
    match status {
        Some(UnitStatus::Active) => Ok(()),
        Some(UnitStatus::Suspended) => Err(GovernanceError::denied(format!(
            "{unit} is suspended by the bureau; nothing can run until it is reinstated"
        ))),
        Some(UnitStatus::Revoked) => Err(GovernanceError::denied(format!(
            "{unit} is revoked; its access has ended"
        ))),
        None => Err(GovernanceError::not_found(unit.to_string())),
    }
}

impl Store {
    /// Runs a write on behalf of `p`: verifies the caller, runs `f` in one IMMEDIATE
    /// transaction (which appends its own audit record), and records a refusal if `f` (or the
    /// verification) refused.
    pub(crate) fn act<T>(
        &self,
        p: &Principal,
        action: &str,
        object: impl Into<String>,
        f: impl FnOnce(&Tx<'_>, &Actor, DateTime<Utc>) -> Result<T>,
    ) -> Result<T> {
        let object = object.into();
        let out = self.write(|tx| {
            let actor = resolve(tx, p)?;
            f(tx, &actor, self.now())
        });
        self.record_refusal(&out, &Actor::claimed(p), action, &object);
        out
    }

    /// Runs a read on behalf of `p` in one snapshot; records a refusal if it refused.
    pub(crate) fn observe<T>(
        &self,
        p: &Principal,
        action: &str,
        object: impl Into<String>,
        f: impl FnOnce(&Tx<'_>, &Actor, DateTime<Utc>) -> Result<T>,
    ) -> Result<T> {
        let object = object.into();
        let out = self.read(|tx| {
            let actor = resolve(tx, p)?;
            f(tx, &actor, self.now())
        });
        self.record_refusal(&out, &Actor::claimed(p), action, &object);
        out
    }

    /// Appends a `refused` audit record when `out` is a refusal. The refusal stands even if
    /// recording it fails (nothing was done), so that failure is not surfaced. A reach for
    /// another unit's object is recorded without a unit, so only the bureau and supervisors
    /// see it: the caller's own unit must not learn that the object exists.
    pub(crate) fn record_refusal<T>(
        &self,
        out: &Result<T>,
        actor: &Actor,
        action: &str,
        object: &str,
    ) {
        if let Err(e) = out {
            if e.is_refusal() {
                let _ = self.write(|tx| {
                    audit::append(
                        tx,
                        self.now(),
                        &Entry {
                            actor,
                            unit: match e {
                                GovernanceError::NotFound { foreign: true, .. } => None,
                                _ => actor.unit,
                            },
                            action,
                            object: object.to_string(),
                            outcome: Outcome::Refused,
                            cost: Nano::ZERO,
                            details: json!({ "refusal": e.kind(), "reason": e.to_string() }),
                        },
                    )
                });
            }
        }
    }
}
