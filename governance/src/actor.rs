//! Who is calling: [`Principal`] (an authenticated caller), [`Role`], and the crate's
//! [`Actor`] (the verified caller inside a transaction, or the system), with the role and
//! tenant checks every call makes. [`crate::access`] resolves a principal into an actor.

use serde::{Deserialize, Serialize};

use crate::error::{GovernanceError, Result};
use crate::ids::{PersonId, UnitId};

text_enum!(
    /// What a person may do.
    pub enum Role {
        /// The bureau: catalog, units, authorizations, reviews, lifecycle.
        BureauAdmin => "bureau_admin",
        /// Supervisory authority: reads audit and reports.
        Supervisor => "supervisor",
        /// A real-name data scientist of an operating unit.
        UnitAnalyst => "unit_analyst",
        /// A data provider's staff: quality issues and data requests of its datasets.
        Provider => "provider",
        /// A third-party expert: reviews applications (Art. 9(2)); no unit, no provider.
        Expert => "expert",
        /// The contact of a prospective operating unit: applies to an announcement
        /// (Art. 9(2)); no unit, no provider. Becomes the new unit's analyst at signing.
        Applicant => "applicant",
    }
);

impl Role {
    /// Every role, in order.
    pub const ALL: [Role; 6] = [
        Role::BureauAdmin,
        Role::Supervisor,
        Role::UnitAnalyst,
        Role::Provider,
        Role::Expert,
        Role::Applicant,
    ];
}

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
