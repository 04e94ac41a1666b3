//! Bearer credentials: random tokens shown once, stored only as SHA-256 hashes.
//!
//! A token is `sy_` followed by 64 hex digits (256 random bits). It is returned once, inside
//! a [`SecretToken`] whose `Debug` hides it, and never written to the store or the audit
//! trail. Rotation issues a new token and revokes the old one in one transaction.

use chrono::{DateTime, Duration, Utc};
use rusqlite::params;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::sql::{OptionalExtension, Tx};
use crate::access;
use crate::actor::{Actor, Principal, Role};
use crate::audit::{self, Entry};
use crate::clock::{from_micros, to_micros};
use crate::error::{GovernanceError, Result};
use crate::ids::{CredentialId, PersonId, UnitId};
use crate::keys;
use crate::store::Store;

/// Prefix of every token (lets secret scanners find leaked ones).
pub const TOKEN_PREFIX: &str = "sy_";

/// The longest a credential may live.
pub const MAX_TTL_DAYS: i64 = 366;

/// A bearer token in the clear: give it to its holder once, never log it.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretToken(String);

impl SecretToken {
    /// The token text, to hand to its holder.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretToken(sy_…redacted)")
    }
}

/// A freshly issued credential.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    /// The credential's identifier (safe to log).
    pub credential: CredentialId,
    /// Whose it is.
    pub person: PersonId,
    /// The token itself, shown this once.
    pub token: SecretToken,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
}

/// A stored credential, without its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialInfo {
    /// Identifier.
    pub id: CredentialId,
    /// Holder.
    pub person: PersonId,
    /// Issued at.
    pub issued_at: DateTime<Utc>,
    /// Expires at.
    pub expires_at: DateTime<Utc>,
    /// Revoked at, if revoked.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// id, holder, expires_at, revoked_at, role, unit, active.
type CredentialRow = (
    CredentialId,
    PersonId,
    i64,
    Option<i64>,
    Role,
    Option<UnitId>,
    i64,
);

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Issues a credential inside the caller's transaction and audits it.
pub(crate) fn issue(
    tx: &Tx<'_>,
    actor: &Actor,
    person: PersonId,
    ttl: Duration,
    now: DateTime<Utc>,
) -> Result<IssuedToken> {
    if ttl <= Duration::zero() || ttl > Duration::days(MAX_TTL_DAYS) {
        return Err(GovernanceError::invalid(
            "ttl",
            format!("must be positive and at most {MAX_TTL_DAYS} days; rotate the token before it expires"),
        ));
    }
    let unit = person_unit(tx, person)?;
    let token = format!("{TOKEN_PREFIX}{}", hex::encode(keys::random_bytes::<32>()));
    let expires_at = now + ttl;
    let new_id = tx.insert(
        "INSERT INTO credentials (person_id, token_hash, issued_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
        params![person, token_hash(&token), to_micros(now), to_micros(expires_at)],
    )?;
    let id = CredentialId(new_id);
    let mut entry = Entry::ok(actor, "credential.issue", id.to_string())
        .details(json!({ "person": person.0, "expires_at": to_micros(expires_at) }));
    entry.unit = unit;
    audit::append(tx, now, &entry)?;
    Ok(IssuedToken {
        credential: id,
        person,
        token: SecretToken(token),
        expires_at,
    })
}

fn person_unit(conn: &Tx<'_>, person: PersonId) -> Result<Option<UnitId>> {
    let row: Option<(Option<UnitId>, i64)> = conn
        .query_row(
            "SELECT unit_id, active FROM people WHERE id = ?1",
            [person],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    match row {
        None => Err(GovernanceError::not_found(person.to_string())),
        Some((_, 0)) => Err(GovernanceError::invalid(
            "person",
            "the account is deactivated; register it again",
        )),
        Some((unit, _)) => Ok(unit),
    }
}

/// The holder of a credential; refuses anyone but the holder and the bureau.
fn credential_holder(
    conn: &Tx<'_>,
    actor: &Actor,
    credential: CredentialId,
) -> Result<PersonId> {
    let holder: PersonId = conn
        .query_row(
            "SELECT person_id FROM credentials WHERE id = ?1",
            [credential],
            |r| r.get(0),
        )
        .optional()?
        .ok_or_else(|| GovernanceError::not_found(credential.to_string()))?;
    if actor.person != Some(holder) {
        actor.require(&[Role::BureauAdmin], "manage other people's credentials")?;
    }
    Ok(holder)
}

impl Store {
    /// Issues a new credential for `person` (the bureau, or the person itself).
    pub fn issue_token(
        &self,
        p: &Principal,
        person: PersonId,
        ttl: Duration,
    ) -> Result<IssuedToken> {
        self.act(
            p,
            "credential.issue",
            person.to_string(),
            |tx, actor, now| {
                if actor.person != Some(person) {
                    actor.require(&[Role::BureauAdmin], "issue credentials for other people")?;
                }
                issue(tx, actor, person, ttl, now)
            },
        )
    }

    /// Rotates a credential: issues a new one and revokes the old one, atomically.
    pub fn rotate_token(
        &self,
        p: &Principal,
        credential: CredentialId,
        ttl: Duration,
    ) -> Result<IssuedToken> {
        self.act(p, "credential.rotate", credential.to_string(), |tx, actor, now| {
            let holder = credential_holder(tx, actor, credential)?;
            let fresh = issue(tx, actor, holder, ttl, now)?;
            let changed = tx.execute(
                "UPDATE credentials SET revoked_at = ?1, replaced_by = ?2 WHERE id = ?3 AND revoked_at IS NULL",
                params![to_micros(now), fresh.credential, credential],
            )?;
            if changed == 0 {
                return Err(GovernanceError::conflict(format!(
                    "{credential} is already revoked; issue a new credential instead"
                )));
            }
            let mut entry = Entry::ok(actor, "credential.rotate", credential.to_string())
                .details(json!({ "replaced_by": fresh.credential.0 }));
            entry.unit = person_unit(tx, holder)?;
            audit::append(tx, now, &entry)?;
            Ok(fresh)
        })
    }

    /// Revokes a credential (the bureau, or its holder).
    pub fn revoke_token(&self, p: &Principal, credential: CredentialId) -> Result<()> {
        self.act(
            p,
            "credential.revoke",
            credential.to_string(),
            |tx, actor, now| {
                let holder = credential_holder(tx, actor, credential)?;
                tx.execute(
                    "UPDATE credentials SET revoked_at = ?1 WHERE id = ?2 AND revoked_at IS NULL",
                    params![to_micros(now), credential],
                )?;
                let mut entry = Entry::ok(actor, "credential.revoke", credential.to_string());
                entry.unit = person_unit(tx, holder).ok().flatten();
                audit::append(tx, now, &entry)?;
                Ok(())
            },
        )
    }

    /// A person's credentials, without secrets (the bureau, or the person itself).
    pub fn credentials(&self, p: &Principal, person: PersonId) -> Result<Vec<CredentialInfo>> {
        self.observe(p, "credential.list", person.to_string(), |tx, actor, _| {
            if actor.person != Some(person) {
                actor.require(&[Role::BureauAdmin], "list other people's credentials")?;
            }
            let mut stmt = tx.prepare(
                "SELECT id, person_id, issued_at, expires_at, revoked_at FROM credentials
                 WHERE person_id = ?1 ORDER BY id",
            )?;
            let rows = stmt
                .query_map([person], |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get::<_, Option<i64>>(4)?,
                    ))
                })?
                .collect::<rusqlite::Result<Vec<(CredentialId, PersonId, i64, i64, Option<i64>)>>>(
                )?;
            rows.into_iter()
                .map(|(id, person, i, e, r)| {
                    Ok(CredentialInfo {
                        id,
                        person,
                        issued_at: from_micros(i)?,
                        expires_at: from_micros(e)?,
                        revoked_at: r.map(from_micros).transpose()?,
                    })
                })
                .collect()
        })
    }

    /// Resolves a bearer token to its principal. Fails for unknown, expired and revoked
    /// tokens, deactivated people, and people of suspended or revoked units; failures
    /// are audited (without the token).
    pub fn authenticate(&self, token: &str) -> Result<Principal> {
        let hash = token_hash(token);
        let mut claimed = Actor::anonymous();
        let out = self.read(|tx| {
            let now = to_micros(self.now());
            let row: Option<CredentialRow> = tx
                .query_row(
                    "SELECT c.id, c.person_id, c.expires_at, c.revoked_at, p.role, p.unit_id, p.active
                     FROM credentials c JOIN people p ON p.id = c.person_id
                     WHERE c.token_hash = ?1",
                    [&hash],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?)),
                )
                .optional()?;
            let Some((_, person, expires, revoked, role, unit, active)) = row else {
                return Err(GovernanceError::Unauthenticated { reason: "the token is unknown" });
            };
            claimed = Actor { person: Some(person), unit, role: Some(role), provider: None, anonymous: false };
            if revoked.is_some() {
                return Err(GovernanceError::Unauthenticated { reason: "the token was revoked or rotated" });
            }
            if expires <= now {
                return Err(GovernanceError::Unauthenticated { reason: "the token has expired" });
            }
            if active == 0 {
                return Err(GovernanceError::Unauthenticated { reason: "the account is deactivated" });
            }
            if let Some(u) = unit {
                access::check_unit_active(tx, u).map_err(|e| match e {
                    GovernanceError::Denied { reason } => GovernanceError::UnitInactive { reason },
                    other => other,
                })?;
            }
            Ok(Principal { person_id: person, unit_id: unit, role })
        });
        self.record_refusal(&out, &claimed, "credential.authenticate", "credential");
        out
    }
}
