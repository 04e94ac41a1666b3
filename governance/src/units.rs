//! Operating units and real-name people.
//!
//! An ID number is never stored: only SHA-256 over the domain's secret pepper (a file in
//! `domain/`, not in the database), a per-person random salt, and the number.

use chrono::{DateTime, Duration, Utc};
use rusqlite::params;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::sql::{OptionalExtension, Row, Tx};
use crate::actor::{Actor, Principal, Role};
use crate::audit::{self, Entry};
use crate::clock::{from_micros, to_micros};
use crate::credentials::{self, IssuedToken};
use crate::error::{GovernanceError, Result};
use crate::ids::{PersonId, UnitId};
use crate::keys;
use crate::store::Store;
use crate::validate::{check_credit_code, check_id_number, check_text};

text_enum!(
    /// Standing of an operating unit.
    pub enum UnitStatus {
        /// May work.
        Active => "active",
        /// Temporarily stopped by the bureau (Art. 26).
        Suspended => "suspended",
        /// Access ended for good and its data deleted (Art. 28).
        Revoked => "revoked",
    }
);

/// An operating unit (授权运营单位).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unit {
    /// Identifier.
    pub id: UnitId,
    /// Registered name.
    pub name: String,
    /// Unified social credit code.
    pub credit_code: String,
    /// Standing.
    pub status: UnitStatus,
    /// When it was admitted.
    pub created_at: DateTime<Utc>,
}

/// A person to register.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewPerson {
    /// Real name.
    pub name: String,
    /// Resident ID number (hashed with a salt, never stored).
    pub id_number: String,
    /// Role.
    pub role: Role,
    /// The unit (required for analysts, absent otherwise).
    pub unit: Option<UnitId>,
    /// The providing department (required for providers, absent otherwise).
    pub provider: Option<String>,
}

/// A registered person (no ID number).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    /// Identifier.
    pub id: PersonId,
    /// Real name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Unit (analysts).
    pub unit: Option<UnitId>,
    /// Providing department (providers).
    pub provider: Option<String>,
    /// Whether the account may act.
    pub active: bool,
}

impl Person {
    /// The principal this person acts as.
    pub fn principal(&self) -> Principal {
        Principal {
            person_id: self.id,
            unit_id: self.unit,
            role: self.role,
        }
    }
}

pub(crate) fn unit_from_row(
    r: &Row<'_>,
) -> rusqlite::Result<(UnitId, String, String, UnitStatus, i64)> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
}

pub(crate) fn load_unit(conn: &Tx<'_>, id: UnitId) -> Result<Unit> {
    let (id, name, credit_code, status, created) = conn
        .query_row(
            "SELECT id, name, credit_code, status, created_at FROM units WHERE id = ?1",
            [id],
            unit_from_row,
        )
        .optional()?
        .ok_or_else(|| GovernanceError::not_found(id.to_string()))?;
    Ok(Unit {
        id,
        name,
        credit_code,
        status,
        created_at: from_micros(created)?,
    })
}

const PERSON_COLUMNS: &str = "id, name, role, unit_id, provider, active";

fn person_from_row(r: &Row<'_>) -> rusqlite::Result<Person> {
    Ok(Person {
        id: r.get(0)?,
        name: r.get(1)?,
        role: r.get(2)?,
        unit: r.get(3)?,
        provider: r.get(4)?,
        active: r.get::<_, i64>(5)? != 0,
    })
}

pub(crate) fn load_person(conn: &Tx<'_>, id: PersonId) -> Result<Person> {
    conn.query_row(
        &format!("SELECT {PERSON_COLUMNS} FROM people WHERE id = ?1"),
        [id],
        person_from_row,
    )
    .optional()?
    .ok_or_else(|| GovernanceError::not_found(id.to_string()))
}

/// Admits an operating unit inside the caller's transaction (the checks and audit of
/// [`Store::create_unit`], reused when an agreement is signed): the name, a valid credit code
/// not already registered.
pub(crate) fn insert_unit(
    tx: &Tx<'_>,
    actor: &Actor,
    now: DateTime<Utc>,
    name: &str,
    credit_code: &str,
) -> Result<UnitId> {
    check_text(name, "name", 200)?;
    let code = credit_code.trim().to_ascii_uppercase();
    check_credit_code(&code, "credit_code")?;
    if let Some(existing) = unit_by_credit_code(tx, &code)? {
        return Err(GovernanceError::conflict(format!(
            "this credit code is already registered as {existing}; use that unit"
        )));
    }
    let new_id = tx.insert(
        "INSERT INTO units (name, credit_code, status, created_at, status_changed_at)
         VALUES (?1, ?2, 'active', ?3, ?3)",
        params![name, code, to_micros(now)],
    )?;
    let id = UnitId(new_id);
    audit::append(
        tx,
        now,
        &Entry::ok(actor, "unit.create", id.to_string()).unit(id),
    )?;
    Ok(id)
}

/// The unit registered under a (normalised) credit code, if any.
pub(crate) fn unit_by_credit_code(conn: &Tx<'_>, code: &str) -> Result<Option<UnitId>> {
    conn.query_row("SELECT id FROM units WHERE credit_code = ?1", [code], |r| r.get(0)).optional()
}

/// Turns an applicant into an analyst of `unit` (an agreement was signed), in the caller's
/// transaction, audited as `person.become_analyst`. The person's credentials stay valid; a
/// session opened as applicant must sign in again (its role no longer matches).
pub(crate) fn make_analyst(
    tx: &Tx<'_>,
    actor: &Actor,
    now: DateTime<Utc>,
    person: PersonId,
    unit: UnitId,
) -> Result<()> {
    let target = load_person(tx, person)?;
    if target.role != Role::Applicant {
        return Err(GovernanceError::conflict(format!(
            "{person} is a {} account; only an applicant becomes a new unit's analyst",
            target.role
        )));
    }
    tx.execute(
        "UPDATE people SET role = 'unit_analyst', unit_id = ?1, provider = NULL WHERE id = ?2",
        params![unit, person],
    )?;
    audit::append(
        tx,
        now,
        &Entry::ok(actor, "person.become_analyst", person.to_string())
            .unit(unit)
            .details(json!({ "from": Role::Applicant.as_str(), "to": Role::UnitAnalyst.as_str() })),
    )?;
    Ok(())
}

impl Store {
    fn id_hash(&self, salt: &[u8], id_number: &str) -> String {
        let mut h = Sha256::new();
        h.update(b"shuyu-id-number-v1");
        h.update(self.inner.pepper);
        h.update(salt);
        h.update(id_number.to_ascii_uppercase().as_bytes());
        hex::encode(h.finalize())
    }

    /// Inserts a person after checking the request; the caller audits.
    fn insert_person(
        &self,
        tx: &Tx<'_>,
        new: &NewPerson,
        now: DateTime<Utc>,
    ) -> Result<PersonId> {
        check_text(&new.name, "name", 100)?;
        check_id_number(&new.id_number, "id_number")?;
        match (new.role, new.unit, &new.provider) {
            (Role::UnitAnalyst, Some(u), None) => {
                let unit = load_unit(tx, u)
                    .map_err(|_| GovernanceError::invalid("unit", "names no registered unit"))?;
                if unit.status != UnitStatus::Active {
                    return Err(GovernanceError::invalid(
                        "unit",
                        format!("{u} is {}; reinstate it before adding staff", unit.status),
                    ));
                }
            }
            (Role::UnitAnalyst, _, _) => {
                return Err(GovernanceError::invalid(
                    "unit",
                    "an analyst must belong to exactly one unit and no provider",
                ))
            }
            (Role::Provider, None, Some(p)) => check_text(p, "provider", 200)?,
            (Role::Provider, _, _) => {
                return Err(GovernanceError::invalid(
                    "provider",
                    "a provider's staff names its department and no unit",
                ))
            }
            (_, None, None) => {}
            (_, _, _) => {
                return Err(GovernanceError::invalid(
                    "unit",
                    "bureau, supervisory, expert and applicant accounts belong to no unit or provider",
                ))
            }
        }
        let salt: [u8; 16] = keys::random_bytes();
        let new_id = tx.insert(
            "INSERT INTO people (name, id_salt, id_hash, role, unit_id, provider, active, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1, ?7)",
            params![
                new.name,
                hex::encode(salt),
                self.id_hash(&salt, &new.id_number),
                new.role,
                new.unit,
                new.provider,
                to_micros(now)
            ],
        )?;
        Ok(PersonId(new_id))
    }

    /// Registers the first bureau administrator and issues its first credential. Refused once
    /// any administrator exists (then administrators add people with [`Store::create_person`]).
    pub fn bootstrap_admin(
        &self,
        name: &str,
        id_number: &str,
        ttl: Duration,
    ) -> Result<(Person, IssuedToken)> {
        self.write(|tx| {
            let now = self.now();
            let admins: i64 = tx.query_row(
                "SELECT COUNT(*) FROM people WHERE role = 'bureau_admin'",
                (),
                |r| r.get(0),
            )?;
            if admins > 0 {
                return Err(GovernanceError::conflict(
                    "a bureau administrator already exists; ask one to add people",
                ));
            }
            let new = NewPerson {
                name: name.to_string(),
                id_number: id_number.to_string(),
                role: Role::BureauAdmin,
                unit: None,
                provider: None,
            };
            let id = self.insert_person(tx, &new, now)?;
            let actor = Actor {
                person: Some(id),
                unit: None,
                role: Some(Role::BureauAdmin),
                provider: None,
                anonymous: false,
            };
            audit::append(
                tx,
                now,
                &Entry::ok(&actor, "person.bootstrap_admin", id.to_string()),
            )?;
            let token = credentials::issue(tx, &actor, id, ttl, now)?;
            Ok((load_person(tx, id)?, token))
        })
    }

    /// Admits an operating unit (bureau).
    pub fn create_unit(&self, p: &Principal, name: &str, credit_code: &str) -> Result<UnitId> {
        self.act(p, "unit.create", "unit", |tx, actor, now| {
            actor.require(&[Role::BureauAdmin], "admit operating units")?;
            insert_unit(tx, actor, now, name, credit_code)
        })
    }

    /// A unit: any unit for bureau and supervisors, only its own for an analyst.
    pub fn unit(&self, p: &Principal, id: UnitId) -> Result<Unit> {
        self.observe(p, "unit.read", id.to_string(), |tx, actor, _| {
            actor.require(
                &[Role::BureauAdmin, Role::Supervisor, Role::UnitAnalyst],
                "read units",
            )?;
            actor.require_tenant(id, &id.to_string())?;
            load_unit(tx, id)
        })
    }

    /// Every unit (bureau and supervisors).
    pub fn units(&self, p: &Principal) -> Result<Vec<Unit>> {
        self.observe(p, "unit.list", "units", |tx, actor, _| {
            actor.require(&[Role::BureauAdmin, Role::Supervisor], "list units")?;
            let mut stmt = tx.prepare(
                "SELECT id, name, credit_code, status, created_at FROM units ORDER BY id",
            )?;
            let rows = stmt
                .query_map((), unit_from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            rows.into_iter()
                .map(|(id, name, credit_code, status, c)| {
                    Ok(Unit {
                        id,
                        name,
                        credit_code,
                        status,
                        created_at: from_micros(c)?,
                    })
                })
                .collect()
        })
    }

    /// Registers a real-name person (bureau).
    pub fn create_person(&self, p: &Principal, new: &NewPerson) -> Result<PersonId> {
        self.act(p, "person.create", "person", |tx, actor, now| {
            actor.require(&[Role::BureauAdmin], "register people")?;
            let id = self.insert_person(tx, new, now)?;
            let mut entry = Entry::ok(actor, "person.create", id.to_string())
                .details(json!({ "role": new.role.as_str() }));
            entry.unit = new.unit;
            audit::append(tx, now, &entry)?;
            Ok(id)
        })
    }

    /// A person (bureau and supervisors: anyone; analysts: people of their unit).
    pub fn person(&self, p: &Principal, id: PersonId) -> Result<Person> {
        self.observe(p, "person.read", id.to_string(), |tx, actor, _| {
            let person = load_person(tx, id)?;
            if actor.person == Some(id) {
                return Ok(person);
            }
            actor.require(
                &[Role::BureauAdmin, Role::Supervisor, Role::UnitAnalyst],
                "read other people",
            )?;
            match person.unit {
                Some(u) => actor.require_tenant(u, &id.to_string())?,
                None if !actor.sees_all_units() => {
                    return Err(GovernanceError::denied(
                        "analysts can only read people of their own unit",
                    ))
                }
                None => {}
            }
            Ok(person)
        })
    }

    /// People, optionally of one unit, by id (bureau and supervisors). ID numbers are never
    /// returned: only their salted hashes are stored.
    pub fn people(&self, p: &Principal, unit: Option<UnitId>) -> Result<Vec<Person>> {
        self.observe(p, "person.list", "people", |tx, actor, _| {
            actor.require(&[Role::BureauAdmin, Role::Supervisor], "list people")?;
            let mut stmt = tx.prepare(&format!(
                "SELECT {PERSON_COLUMNS} FROM people WHERE CAST(?1 AS BIGINT) IS NULL OR unit_id = ?1 ORDER BY id"
            ))?;
            let rows = stmt
                .query_map([unit], person_from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
    }

    /// Whether `id_number` is the one registered for the person (bureau; identity checks).
    pub fn id_number_matches(
        &self,
        p: &Principal,
        person: PersonId,
        id_number: &str,
    ) -> Result<bool> {
        self.observe(p, "person.check_id", person.to_string(), |tx, actor, _| {
            actor.require(&[Role::BureauAdmin], "check identities")?;
            let (salt, hash): (String, String) = tx
                .query_row(
                    "SELECT id_salt, id_hash FROM people WHERE id = ?1",
                    [person],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?
                .ok_or_else(|| GovernanceError::not_found(person.to_string()))?;
            let salt = hex::decode(salt)
                .map_err(|_| GovernanceError::Internal("stored salt is not hex".into()))?;
            Ok(self.id_hash(&salt, id_number) == hash)
        })
    }

    /// Deactivates a person and revokes every credential it holds (bureau).
    pub fn deactivate_person(&self, p: &Principal, person: PersonId) -> Result<()> {
        self.act(p, "person.deactivate", person.to_string(), |tx, actor, now| {
            actor.require(&[Role::BureauAdmin], "deactivate people")?;
            let target = load_person(tx, person)?;
            tx.execute("UPDATE people SET active = 0 WHERE id = ?1", [person])?;
            let revoked = tx.execute(
                "UPDATE credentials SET revoked_at = ?1 WHERE person_id = ?2 AND revoked_at IS NULL",
                params![to_micros(now), person],
            )?;
            let mut entry = Entry::ok(actor, "person.deactivate", person.to_string())
                .details(json!({ "credentials_revoked": revoked }));
            entry.unit = target.unit;
            audit::append(tx, now, &entry)?;
            Ok(())
        })
    }
}
