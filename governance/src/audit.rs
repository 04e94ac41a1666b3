//! The audit trail: append-only, hash-chained, verifiable end to end.
//!
//! Record `n` stores `prev_hash` = hash of record `n-1` (or the anchor) and
//! `hash` = SHA-256 over a canonical, length-prefixed encoding of all its fields and
//! `prev_hash`. `audit_state` keeps the anchor (where the chain starts after a purge) and the
//! head (the last record), so removing records at either end is detected too. Records are
//! appended inside the transaction of the action they record, so they commit or vanish with
//! it. Details never hold data values, SQL text, tokens or ID numbers.

use chrono::{DateTime, Duration, Utc};
use rusqlite::params;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::sql::{Row, Tx};
use crate::actor::{Actor, Principal, Role};
use crate::amount::Nano;
use crate::clock::{from_micros, to_micros};
use crate::error::{GovernanceError, Result};
use crate::ids::{PersonId, UnitId};
use crate::store::Store;

/// The minimum retention of audit records (Art. 28: at least six months).
pub const RETENTION_DAYS: i64 = 180;

/// Domain separator of the record hash.
const HASH_DOMAIN: &[u8] = b"shuyu-audit-record-v1";

text_enum!(
    /// How an audited action ended.
    pub enum Outcome {
        /// Done.
        Ok => "ok",
        /// Refused (role, tenant, status, budget).
        Refused => "refused",
        /// Attempted and failed.
        Failed => "failed",
    }
);

/// One audit record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Position in the chain (1, 2, …; gapless).
    pub seq: i64,
    /// When (never earlier than the record before).
    pub at: DateTime<Utc>,
    /// The acting person (`None` for the system).
    pub actor_person: Option<PersonId>,
    /// The unit concerned.
    pub unit: Option<UnitId>,
    /// The actor's role (`system` for the store itself).
    pub role: String,
    /// What was done (`ledger.commit`, `unit.revoke`…).
    pub action: String,
    /// On what (`authorization 3`, `job 17`…).
    pub object: String,
    /// How it ended.
    pub outcome: Outcome,
    /// Privacy cost involved, in nano-units (0 if none).
    pub cost: Nano,
    /// Structured details (identifiers, counts, refusal kinds; never data values).
    pub details: serde_json::Value,
    /// Hash of the record before (or of the anchor).
    pub prev_hash: String,
    /// Hash of this record.
    pub hash: String,
}

/// What [`Store::verify_audit`] found on a chain that verifies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyReport {
    /// Records checked.
    pub records: u64,
    /// Last purged record (0 if never purged): the chain starts after it.
    pub anchor_seq: i64,
    /// Hash the first remaining record must point to.
    pub anchor_hash: String,
    /// Last record.
    pub head_seq: i64,
    /// Hash of the last record.
    pub head_hash: String,
}

/// What a purge removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurgeReport {
    /// Records deleted.
    pub purged: u64,
    /// The new anchor: last purged record.
    pub anchor_seq: i64,
    /// Its hash, stored as the chain's anchor.
    pub anchor_hash: String,
}

/// Filters of an audit query.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AuditFilter {
    /// Only records concerning this unit.
    pub unit: Option<UnitId>,
    /// Only this exact action.
    pub action: Option<String>,
    /// Only actions starting with this prefix (`ledger.`).
    pub action_prefix: Option<String>,
    /// Only records at or after this time.
    pub from: Option<DateTime<Utc>>,
    /// Only records strictly before this time.
    pub to: Option<DateTime<Utc>>,
    /// Only records with a sequence number above this (for paging).
    pub after_seq: Option<i64>,
    /// At most this many records (default and maximum 10,000).
    pub limit: Option<u32>,
}

/// A record to append.
pub(crate) struct Entry<'a> {
    pub(crate) actor: &'a Actor,
    pub(crate) unit: Option<UnitId>,
    pub(crate) action: &'a str,
    pub(crate) object: String,
    pub(crate) outcome: Outcome,
    pub(crate) cost: Nano,
    pub(crate) details: serde_json::Value,
}

impl<'a> Entry<'a> {
    /// A successful action of `actor` on `object`, concerning the actor's unit.
    pub(crate) fn ok(actor: &'a Actor, action: &'a str, object: impl Into<String>) -> Self {
        Entry {
            actor,
            unit: actor.unit,
            action,
            object: object.into(),
            outcome: Outcome::Ok,
            cost: Nano::ZERO,
            details: json!({}),
        }
    }

    /// Sets the unit concerned.
    pub(crate) fn unit(mut self, unit: UnitId) -> Self {
        self.unit = Some(unit);
        self
    }

    /// Sets the privacy cost.
    pub(crate) fn cost(mut self, cost: Nano) -> Self {
        self.cost = cost;
        self
    }

    /// Sets the details.
    pub(crate) fn details(mut self, details: serde_json::Value) -> Self {
        self.details = details;
        self
    }
}

/// The fields covered by a record's hash, as stored.
struct Canonical<'a> {
    seq: i64,
    at: i64,
    actor: Option<i64>,
    unit: Option<i64>,
    role: &'a str,
    action: &'a str,
    object: &'a str,
    outcome: &'a str,
    cost: i64,
    details: &'a str,
    prev_hash: &'a str,
}

impl Canonical<'_> {
    /// SHA-256 over the domain separator and every field, each length-prefixed (u64 BE), with
    /// absent ids encoded as the empty string.
    fn hash(&self) -> String {
        let opt = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
        let fields: [&str; 11] = [
            &self.seq.to_string(),
            &self.at.to_string(),
            &opt(self.actor),
            &opt(self.unit),
            self.role,
            self.action,
            self.object,
            self.outcome,
            &self.cost.to_string(),
            self.details,
            self.prev_hash,
        ];
        let mut h = Sha256::new();
        h.update(HASH_DOMAIN);
        for f in fields {
            h.update((f.len() as u64).to_be_bytes());
            h.update(f.as_bytes());
        }
        hex::encode(h.finalize())
    }
}

struct ChainState {
    anchor_seq: i64,
    anchor_hash: String,
    head_seq: i64,
    head_hash: String,
    head_at: i64,
}

fn chain_state(conn: &Tx<'_>) -> Result<ChainState> {
    conn.query_row(
        "SELECT anchor_seq, anchor_hash, head_seq, head_hash, head_at FROM audit_state WHERE id = 1",
        (),
        |r| {
            Ok(ChainState {
                anchor_seq: r.get(0)?,
                anchor_hash: r.get(1)?,
                head_seq: r.get(2)?,
                head_hash: r.get(3)?,
                head_at: r.get(4)?,
            })
        },
    )
}

/// Appends a record inside the caller's (IMMEDIATE) transaction; returns its sequence number.
pub(crate) fn append(tx: &Tx<'_>, now: DateTime<Utc>, e: &Entry<'_>) -> Result<i64> {
    let state = chain_state(tx)?;
    let seq = state.head_seq + 1;
    let at = to_micros(now).max(state.head_at);
    let details = serde_json::to_string(&e.details).map_err(|err| {
        GovernanceError::Internal(format!("audit details do not serialize: {err}"))
    })?;
    let canonical = Canonical {
        seq,
        at,
        actor: e.actor.person.map(|p| p.0),
        unit: e.unit.map(|u| u.0),
        role: e.actor.role_name(),
        action: e.action,
        object: &e.object,
        outcome: e.outcome.as_str(),
        cost: e.cost.sql(),
        details: &details,
        prev_hash: &state.head_hash,
    };
    let hash = canonical.hash();
    tx.execute(
        "INSERT INTO audit (seq, at, actor_person, unit_id, role, action, object, outcome, cost_nano, details, prev_hash, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        params![
            seq,
            at,
            canonical.actor,
            canonical.unit,
            canonical.role,
            canonical.action,
            canonical.object,
            canonical.outcome,
            canonical.cost,
            details,
            state.head_hash,
            hash
        ],
    )?;
    tx.execute(
        "UPDATE audit_state SET head_seq = ?1, head_hash = ?2, head_at = ?3 WHERE id = 1",
        params![seq, hash, at],
    )?;
    Ok(seq)
}

const COLUMNS: &str =
    "seq, at, actor_person, unit_id, role, action, object, outcome, cost_nano, details, prev_hash, hash";

struct RawRecord {
    seq: i64,
    at: i64,
    actor: Option<i64>,
    unit: Option<i64>,
    role: String,
    action: String,
    object: String,
    outcome: String,
    cost: i64,
    details: String,
    prev_hash: String,
    hash: String,
}

impl RawRecord {
    fn from_row(r: &Row<'_>) -> rusqlite::Result<RawRecord> {
        Ok(RawRecord {
            seq: r.get(0)?,
            at: r.get(1)?,
            actor: r.get(2)?,
            unit: r.get(3)?,
            role: r.get(4)?,
            action: r.get(5)?,
            object: r.get(6)?,
            outcome: r.get(7)?,
            cost: r.get(8)?,
            details: r.get(9)?,
            prev_hash: r.get(10)?,
            hash: r.get(11)?,
        })
    }

    fn canonical(&self) -> Canonical<'_> {
        Canonical {
            seq: self.seq,
            at: self.at,
            actor: self.actor,
            unit: self.unit,
            role: &self.role,
            action: &self.action,
            object: &self.object,
            outcome: &self.outcome,
            cost: self.cost,
            details: &self.details,
            prev_hash: &self.prev_hash,
        }
    }

    fn into_record(self) -> Result<AuditRecord> {
        let broken = |reason: &str| GovernanceError::AuditBroken {
            seq: self.seq,
            reason: reason.to_string(),
        };
        Ok(AuditRecord {
            seq: self.seq,
            at: from_micros(self.at)?,
            actor_person: self.actor.map(PersonId),
            unit: self.unit.map(UnitId),
            outcome: Outcome::parse(&self.outcome).ok_or_else(|| broken("unknown outcome"))?,
            cost: u64::try_from(self.cost)
                .map(Nano)
                .map_err(|_| broken("negative cost"))?,
            details: serde_json::from_str(&self.details)
                .map_err(|_| broken("details are not JSON"))?,
            role: self.role,
            action: self.action,
            object: self.object,
            prev_hash: self.prev_hash,
            hash: self.hash,
        })
    }
}

/// Verifies the whole chain from the anchor to the head.
pub(crate) fn verify(conn: &Tx<'_>) -> Result<VerifyReport> {
    let state = chain_state(conn)?;
    let mut prev = state.anchor_hash.clone();
    let mut expected = state.anchor_seq + 1;
    let mut records = 0u64;
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM audit WHERE seq > ?1 ORDER BY seq"
    ))?;
    for rec in stmt.query_map([state.anchor_seq], RawRecord::from_row)? {
        let rec = rec?;
        if rec.seq != expected {
            return Err(GovernanceError::AuditBroken {
                seq: expected,
                reason: format!(
                    "the record is missing (the next one present is {})",
                    rec.seq
                ),
            });
        }
        if rec.prev_hash != prev {
            return Err(GovernanceError::AuditBroken {
                seq: rec.seq,
                reason: "its prev_hash does not match the record before it".into(),
            });
        }
        let hash = rec.canonical().hash();
        if hash != rec.hash {
            return Err(GovernanceError::AuditBroken {
                seq: rec.seq,
                reason: "its content does not match its hash".into(),
            });
        }
        prev = hash;
        expected += 1;
        records += 1;
    }
    let last = expected - 1;
    if last != state.head_seq || prev != state.head_hash {
        return Err(GovernanceError::AuditBroken {
            seq: last + 1,
            reason: format!(
                "the chain ends at {last} but the head is {}",
                state.head_seq
            ),
        });
    }
    Ok(VerifyReport {
        records,
        anchor_seq: state.anchor_seq,
        anchor_hash: state.anchor_hash,
        head_seq: state.head_seq,
        head_hash: state.head_hash,
    })
}

impl Store {
    /// Verifies the audit chain end to end; the error names the first broken record.
    pub fn verify_audit(&self) -> Result<VerifyReport> {
        self.read(verify)
    }

    /// Audit records matching `filter`, oldest first. Bureau and supervisors read every
    /// unit; an analyst reads only records of its own unit; providers are refused.
    pub fn audit_records(&self, p: &Principal, filter: &AuditFilter) -> Result<Vec<AuditRecord>> {
        self.observe(p, "audit.query", "audit", |tx, actor, _| {
            actor.require(
                &[Role::BureauAdmin, Role::Supervisor, Role::UnitAnalyst],
                "read the audit trail",
            )?;
            let unit = if actor.sees_all_units() {
                filter.unit
            } else {
                let own = actor.require_unit("read its audit records")?;
                if let Some(u) = filter.unit {
                    actor.require_tenant(u, &u.to_string())?;
                }
                Some(own)
            };
            let limit = filter.limit.unwrap_or(10_000).min(10_000);
            let mut sql = format!("SELECT {COLUMNS} FROM audit WHERE seq > ?1");
            let mut args: Vec<rusqlite::types::Value> = vec![filter.after_seq.unwrap_or(0).into()];
            let mut push = |clause: &str, v: rusqlite::types::Value| {
                args.push(v);
                sql.push_str(&format!(" AND {clause} ?{}", args.len()));
            };
            if let Some(u) = unit {
                push("unit_id =", u.0.into());
            }
            if let Some(a) = &filter.action {
                push("action =", a.clone().into());
            }
            if let Some(from) = filter.from {
                push("at >=", to_micros(from).into());
            }
            if let Some(to) = filter.to {
                push("at <", to_micros(to).into());
            }
            if let Some(prefix) = &filter.action_prefix {
                args.push((prefix.chars().count() as i64).into());
                args.push(prefix.clone().into());
                sql.push_str(&format!(
                    " AND substr(action, 1, ?{}) = ?{}",
                    args.len() - 1,
                    args.len()
                ));
            }
            sql.push_str(&format!(" ORDER BY seq LIMIT {limit}"));
            let mut stmt = tx.prepare(&sql)?;
            let raw = stmt
                .query_map(args, RawRecord::from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            raw.into_iter().map(RawRecord::into_record).collect()
        })
    }

    /// Deletes audit records older than `cutoff`, which must be at least
    /// [`RETENTION_DAYS`] in the past. The chain must verify first; the hash of the last
    /// purged record becomes the stored anchor, and the purge itself is recorded, so the
    /// remaining chain still verifies.
    pub fn purge_audit_before(&self, p: &Principal, cutoff: DateTime<Utc>) -> Result<PurgeReport> {
        self.act(p, "audit.purge", "audit", |tx, actor, now| {
            actor.require(&[Role::BureauAdmin], "purge the audit trail")?;
            let newest_allowed = now - Duration::days(RETENTION_DAYS);
            if cutoff > newest_allowed {
                return Err(GovernanceError::invalid(
                    "cutoff",
                    format!(
                        "records are kept at least {RETENTION_DAYS} days; choose a cutoff on or before {}",
                        newest_allowed.format("%Y-%m-%d")
                    ),
                ));
            }
            verify(tx)?;
            let state = chain_state(tx)?;
            let first_kept: Option<i64> = tx.query_row(
                "SELECT MIN(seq) FROM audit WHERE seq > ?1 AND at >= ?2",
                params![state.anchor_seq, to_micros(cutoff)],
                |r| r.get(0),
            )?;
            let last_purged = first_kept.map(|s| s - 1).unwrap_or(state.head_seq);
            if last_purged <= state.anchor_seq {
                return Ok(PurgeReport { purged: 0, anchor_seq: state.anchor_seq, anchor_hash: state.anchor_hash });
            }
            let (anchor_hash, anchor_at): (String, i64) = tx.query_row(
                "SELECT hash, at FROM audit WHERE seq = ?1",
                [last_purged],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            tx.execute(
                "UPDATE audit_state SET anchor_seq = ?1, anchor_hash = ?2, anchor_at = ?3 WHERE id = 1",
                params![last_purged, anchor_hash, anchor_at],
            )?;
            let purged = tx.execute(
                "DELETE FROM audit WHERE seq > ?1 AND seq <= ?2",
                params![state.anchor_seq, last_purged],
            )? as u64;
            append(
                tx,
                now,
                &Entry::ok(actor, "audit.purge", "audit").details(json!({
                    "purged_records": purged,
                    "purged_through_seq": last_purged,
                    "anchor_hash": anchor_hash,
                    "cutoff": to_micros(cutoff),
                })),
            )?;
            Ok(PurgeReport { purged, anchor_seq: last_purged, anchor_hash })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canonical<'a>(details: &'a str, object: &'a str) -> Canonical<'a> {
        Canonical {
            seq: 1,
            at: 2,
            actor: Some(3),
            unit: None,
            role: "bureau_admin",
            action: "unit.create",
            object,
            outcome: "ok",
            cost: 0,
            details,
            prev_hash: "00",
        }
    }

    #[test]
    fn the_hash_covers_every_field_without_ambiguity() {
        let a = canonical("{}", "unit 1").hash();
        assert_eq!(a, canonical("{}", "unit 1").hash());
        assert_ne!(a, canonical("{} ", "unit 1").hash());
        assert_ne!(a, canonical("{}", "unit 2").hash());
        // Moving bytes between adjacent fields changes the hash (length prefixes).
        assert_ne!(canonical("a", "bc").hash(), canonical("ab", "c").hash());
        assert_eq!(a.len(), 64);
    }
}
