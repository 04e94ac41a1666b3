//! Who is calling: principals, roles, and the checks every call goes through.
//!
//! A [`Principal`] comes from [`Store::authenticate`]. Each call re-reads the person and
//! the unit inside its own transaction, so a suspension or revocation takes effect at once,
//! even for sessions that authenticated before it. Refusals (role, tenant, status) are
//! recorded in the audit trail in a transaction of their own, after the refused work was
//! rolled back.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Transaction};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::amount::Nano;
use crate::audit::{self, Entry, Outcome};
use crate::error::{GovernanceError, Result};
use crate::ids::{PersonId, UnitId};
use crate::store::Store;
use crate::units::UnitStatus;

text_enum!(
    /// What a person may do.
    pub enum Role {
        /// The bureau: catalog, units, authorizations, reviews, lifecycle.
        BureauAdmin => "bureau_admin",
        /// Supervisory authority: reads audit and reports.
        Supervisor => "supervisor",
        /// A real-name data scientist of an operating unit.
        UnitAnalyst => "unit_analyst",
        /// A data provider's staff: quality issues of its datasets.
        Provider => "provider",
    }
);

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    /// The real-name person.
    pub person_id: PersonId,
    /// The person's operating unit (analysts only).
    pub unit_id: Option<UnitId>,
    /// The person's role.
    pub role: Role,
}

/// The verified caller inside a transaction (or the system itself).
#[derive(Debug, Clone)]
pub(crate) struct Actor {
    pub(crate) person: Option<PersonId>,
    pub(crate) unit: Option<UnitId>,
    /// `None` for the system (crash recovery, scheduled work).
    pub(crate) role: Option<Role>,
    /// The provider a provider's staff works for.
    pub(crate) provider: Option<String>,
    /// An unidentified caller (an unknown token), rather than the system.
    pub(crate) anonymous: bool,
}

impl Actor {
    /// The store itself (recovery after a crash).
    pub(crate) fn system() -> Actor {
        Actor {
            person: None,
            unit: None,
            role: None,
            provider: None,
            anonymous: false,
        }
    }

    /// A unit's analyst acting through one of its jobs (ledger, job and product records).
    pub(crate) fn analyst(person: PersonId, unit: UnitId) -> Actor {
        Actor {
            person: Some(person),
            unit: Some(unit),
            role: Some(Role::UnitAnalyst),
            provider: None,
            anonymous: false,
        }
    }

    /// A caller that could not be identified (recording a failed authentication).
    pub(crate) fn anonymous() -> Actor {
        Actor {
            anonymous: true,
            ..Actor::system()
        }
    }

    /// The principal as claimed, before verification (for recording refusals).
    pub(crate) fn claimed(p: &Principal) -> Actor {
        Actor {
            person: Some(p.person_id),
            unit: p.unit_id,
            role: Some(p.role),
            provider: None,
            anonymous: false,
        }
    }

    /// The role's stored name (`system` for the store itself, `anonymous` for an unknown
    /// caller).
    pub(crate) fn role_name(&self) -> &'static str {
        match self.role {
            Some(r) => r.as_str(),
            None if self.anonymous => "anonymous",
            None => "system",
        }
    }

    /// Refuses unless the actor has one of `roles`.
    pub(crate) fn require(&self, roles: &[Role], doing: &str) -> Result<()> {
        match self.role {
            Some(r) if roles.contains(&r) => Ok(()),
            _ => Err(GovernanceError::denied(format!(
                "only {} may {doing}; ask someone with that role",
                roles
                    .iter()
                    .map(|r| r.as_str())
                    .collect::<Vec<_>>()
                    .join(" or ")
            ))),
        }
    }

    /// The actor's unit; refuses callers that are not a unit's analyst.
    pub(crate) fn require_unit(&self, doing: &str) -> Result<UnitId> {
        match (self.role, self.unit) {
            (Some(Role::UnitAnalyst), Some(u)) => Ok(u),
            _ => Err(GovernanceError::denied(format!(
                "only an operating unit's analyst may {doing}"
            ))),
        }
    }

    /// Whether the actor reads across units (bureau and supervisors).
    pub(crate) fn sees_all_units(&self) -> bool {
        matches!(self.role, Some(Role::BureauAdmin) | Some(Role::Supervisor))
    }

    /// Refuses access to another unit's object named by its id, as if it did not exist
    /// (`what` is what a missing object is called, `authorization 7`), so a unit cannot
    /// probe the identifiers of others.
    pub(crate) fn require_owner(&self, owner: UnitId, what: &str) -> Result<()> {
        if self.sees_all_units() || self.unit == Some(owner) {
            Ok(())
        } else {
            Err(GovernanceError::foreign(what))
        }
    }

    /// Refuses access to another unit's object (tenant isolation).
    pub(crate) fn require_tenant(&self, owner: UnitId, what: &str) -> Result<()> {
        if self.sees_all_units() || self.unit == Some(owner) {
            Ok(())
        } else {
            Err(GovernanceError::denied(format!(
                "{what} belongs to another operating unit; a unit can only reach its own objects"
            )))
        }
    }
}

/// Verifies a principal against the store: the person exists, is active, has this role and
/// unit, and the unit (if any) is active.
pub(crate) fn resolve(conn: &Connection, p: &Principal) -> Result<Actor> {
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
pub(crate) fn check_unit_active(conn: &Connection, unit: UnitId) -> Result<()> {
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
        f: impl FnOnce(&Transaction<'_>, &Actor, DateTime<Utc>) -> Result<T>,
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
        f: impl FnOnce(&Transaction<'_>, &Actor, DateTime<Utc>) -> Result<T>,
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
