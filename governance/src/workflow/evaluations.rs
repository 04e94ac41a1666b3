//! Annual evaluations (Art. 11, 26): the bureau records each unit's evaluation, one per
//! unit and year, with its score and findings and, when the unit must rectify, a deadline.
//! The unit's analyst reports the rectification before the deadline and the bureau accepts
//! it. When a deadline passes with nothing reported, [`Store::enforce_deadlines`] (run by the
//! system at every [`Store::open`], and by the server every minute) marks the evaluation
//! `suspended` and suspends the unit through the same status change as the bureau's
//! [`Store::suspend_unit`], audited as the system with the evaluation named in the reason.
//!
//! `passed` (no deadline) | `rectification_required` -> `rectification_reported` (the unit,
//! before the deadline) -> `rectified` (bureau); `rectification_required` past its deadline
//! -> `suspended` (the system). The bureau reinstates the unit with
//! [`Store::reinstate_unit`].

use chrono::{DateTime, Utc};
use rusqlite::params;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::sql::{OptionalExtension, Row, Tx};
use crate::actor::{Actor, Principal, Role};
use crate::audit::{self, Entry};
use crate::clock::{from_micros, to_micros};
use crate::error::{GovernanceError, Result};
use crate::ids::{EvaluationId, PersonId, UnitId};
use crate::lifecycle::set_unit_status;
use crate::store::Store;
use crate::units::{self, UnitStatus};

use super::{check_note, show};

/// An evaluation to record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewEvaluation {
    /// The unit evaluated.
    pub unit: UnitId,
    /// The year evaluated.
    pub year: i32,
    /// Score, 0 to 100.
    pub score: u32,
    /// Findings.
    pub findings: String,
    /// By when the unit must rectify (`None`: passed, nothing to rectify).
    pub rectification_deadline: Option<DateTime<Utc>>,
}

text_enum!(
    /// Where an evaluation stands.
    pub enum EvaluationStatus {
        /// Passed; nothing to rectify.
        Passed => "passed",
        /// The unit must rectify by the deadline.
        RectificationRequired => "rectification_required",
        /// The unit reported its rectification; the bureau is to accept it.
        RectificationReported => "rectification_reported",
        /// The bureau accepted the rectification.
        Rectified => "rectified",
        /// The deadline passed without a report: the unit was suspended.
        Suspended => "suspended",
    }
);

/// A stored evaluation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evaluation {
    /// Identifier.
    pub id: EvaluationId,
    /// The unit.
    pub unit: UnitId,
    /// The unit's name.
    pub unit_name: String,
    /// The year evaluated.
    pub year: i32,
    /// Score, 0 to 100.
    pub score: u32,
    /// Findings.
    pub findings: String,
    /// By when the unit must rectify.
    pub rectification_deadline: Option<DateTime<Utc>>,
    /// The unit's rectification report.
    pub rectification: Option<String>,
    /// Status.
    pub status: EvaluationStatus,
    /// Who recorded it.
    pub evaluated_by: PersonId,
    /// When.
    pub evaluated_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "e.id, e.unit_id, u.name, e.year, e.score, e.findings, e.rectification_deadline, e.rectification, \
                       e.status, e.evaluated_by, e.evaluated_at, e.updated_at";
const FROM: &str = "FROM evaluations e JOIN units u ON u.id = e.unit_id";

type EvalRow = (Evaluation, Option<i64>, i64, i64);

fn row(r: &Row<'_>) -> rusqlite::Result<EvalRow> {
    Ok((
        Evaluation {
            id: r.get(0)?,
            unit: r.get(1)?,
            unit_name: r.get(2)?,
            year: r.get(3)?,
            score: r.get(4)?,
            findings: r.get(5)?,
            rectification_deadline: None,
            rectification: r.get(7)?,
            status: r.get(8)?,
            evaluated_by: r.get(9)?,
            evaluated_at: DateTime::<Utc>::UNIX_EPOCH,
            updated_at: DateTime::<Utc>::UNIX_EPOCH,
        },
        r.get(6)?,
        r.get(10)?,
        r.get(11)?,
    ))
}

fn decode((mut e, deadline, at, updated): EvalRow) -> Result<Evaluation> {
    e.rectification_deadline = deadline.map(from_micros).transpose()?;
    e.evaluated_at = from_micros(at)?;
    e.updated_at = from_micros(updated)?;
    Ok(e)
}

fn load(conn: &Tx<'_>, id: EvaluationId) -> Result<Evaluation> {
    conn.query_row(&format!("SELECT {COLUMNS} {FROM} WHERE e.id = ?1"), [id], row)
        .optional()?
        .map(decode)
        .transpose()?
        .ok_or_else(|| GovernanceError::not_found(id.to_string()))
}

fn check(conn: &Tx<'_>, new: &NewEvaluation, now: DateTime<Utc>) -> Result<()> {
    let unit = units::load_unit(conn, new.unit)
        .map_err(|_| GovernanceError::invalid("unit", "names no registered unit"))?;
    if unit.status == UnitStatus::Revoked {
        return Err(GovernanceError::invalid("unit", format!("{} is revoked; there is nothing left to evaluate", new.unit)));
    }
    if !(2000..=9999).contains(&new.year) {
        return Err(GovernanceError::invalid("year", "must be a four-digit year"));
    }
    if new.score > 100 {
        return Err(GovernanceError::invalid("score", "must be between 0 and 100"));
    }
    check_note(&new.findings, "findings", true, "state the evaluation's findings (Art. 26)")?;
    if let Some(d) = new.rectification_deadline {
        if d <= now {
            return Err(GovernanceError::invalid(
                "rectification_deadline",
                "is already past; give the unit a deadline in the future",
            ));
        }
    }
    Ok(())
}

impl Store {
    /// Records a unit's annual evaluation (bureau); one per unit and year. With a
    /// rectification deadline the unit must rectify by then.
    pub fn record_evaluation(&self, p: &Principal, new: &NewEvaluation) -> Result<EvaluationId> {
        self.act(p, "evaluation.record", new.unit.to_string(), |tx, actor, now| {
            actor.require(&[Role::BureauAdmin], "record evaluations")?;
            check(tx, new, now)?;
            let existing: Option<EvaluationId> = tx
                .query_row(
                    "SELECT id FROM evaluations WHERE unit_id = ?1 AND year = ?2",
                    params![new.unit, new.year],
                    |r| r.get(0),
                )
                .optional()?;
            if let Some(e) = existing {
                return Err(GovernanceError::conflict(format!(
                    "{} already has {e} for this year; one evaluation per unit and year",
                    new.unit
                )));
            }
            let status = match new.rectification_deadline {
                Some(_) => EvaluationStatus::RectificationRequired,
                None => EvaluationStatus::Passed,
            };
            let at = to_micros(now);
            let new_id = tx.insert(
                "INSERT INTO evaluations (unit_id, year, score, findings, rectification_deadline, status, evaluated_by, evaluated_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
                params![new.unit, new.year, new.score, new.findings, new.rectification_deadline.map(to_micros), status, actor.person, at],
            )?;
            let id = EvaluationId(new_id);
            audit::append(
                tx,
                now,
                &Entry::ok(actor, "evaluation.record", id.to_string()).unit(new.unit).details(json!({
                    "year": new.year,
                    "score": new.score,
                    "status": status.as_str(),
                    "rectification_deadline": new.rectification_deadline.map(to_micros),
                })),
            )?;
            Ok(id)
        })
    }

    /// The unit's analyst reports its rectification, before the deadline.
    pub fn report_rectification(&self, p: &Principal, id: EvaluationId, report: &str) -> Result<Evaluation> {
        self.act(p, "evaluation.report_rectification", id.to_string(), |tx, actor, now| {
            actor.require_unit("report a rectification")?;
            let e = load(tx, id)?;
            actor.require_owner(e.unit, &id.to_string())?;
            if e.status != EvaluationStatus::RectificationRequired {
                return Err(GovernanceError::conflict(format!(
                    "{id} is {}; a rectification is reported only when one is required",
                    e.status
                )));
            }
            if let Some(d) = e.rectification_deadline.filter(|d| *d <= now) {
                return Err(GovernanceError::conflict(format!(
                    "the rectification deadline of {id} passed at {}; the unit's data use is suspended; contact the bureau",
                    show(d)
                )));
            }
            check_note(report, "report", true, "describe the rectification carried out")?;
            tx.execute(
                "UPDATE evaluations SET status = 'rectification_reported', rectification = ?1, updated_at = ?2 WHERE id = ?3",
                params![report, to_micros(now), id],
            )?;
            audit::append(tx, now, &Entry::ok(actor, "evaluation.report_rectification", id.to_string()))?;
            load(tx, id)
        })
    }

    /// The bureau accepts a reported rectification.
    pub fn accept_rectification(&self, p: &Principal, id: EvaluationId) -> Result<Evaluation> {
        self.act(p, "evaluation.accept_rectification", id.to_string(), |tx, actor, now| {
            actor.require(&[Role::BureauAdmin], "accept rectifications")?;
            let e = load(tx, id)?;
            if e.status != EvaluationStatus::RectificationReported {
                return Err(GovernanceError::conflict(format!(
                    "{id} is {}; only a reported rectification is accepted",
                    e.status
                )));
            }
            tx.execute(
                "UPDATE evaluations SET status = 'rectified', updated_at = ?1 WHERE id = ?2",
                params![to_micros(now), id],
            )?;
            audit::append(tx, now, &Entry::ok(actor, "evaluation.accept_rectification", id.to_string()).unit(e.unit))?;
            load(tx, id)
        })
    }

    /// Suspends, as the system, every evaluation whose rectification deadline has passed
    /// with nothing reported, and its unit if active (one transaction per evaluation, each
    /// audited). Returns the units suspended now. Idempotent.
    pub fn enforce_deadlines(&self) -> Result<Vec<UnitId>> {
        let due: Vec<EvaluationId> = self.read(|tx| {
            Ok(tx
                .prepare(
                    "SELECT id FROM evaluations WHERE status = 'rectification_required' AND rectification_deadline <= ?1 ORDER BY id",
                )?
                .query_map([to_micros(self.now())], |r| r.get(0))?
                .collect::<rusqlite::Result<Vec<_>>>()?)
        })?;
        let mut suspended = Vec::new();
        for id in due {
            let unit = self.write(|tx| {
                let now = self.now();
                let e = load(tx, id)?;
                let overdue = e.status == EvaluationStatus::RectificationRequired
                    && e.rectification_deadline.is_some_and(|d| d <= now);
                if !overdue {
                    return Ok(None); // reported or enforced by another handle meanwhile
                }
                let system = Actor::system();
                tx.execute(
                    "UPDATE evaluations SET status = 'suspended', updated_at = ?1 WHERE id = ?2",
                    params![to_micros(now), id],
                )?;
                audit::append(
                    tx,
                    now,
                    &Entry::ok(&system, "evaluation.suspend", id.to_string()).unit(e.unit).details(json!({
                        "rectification_deadline": e.rectification_deadline.map(to_micros),
                    })),
                )?;
                if units::load_unit(tx, e.unit)?.status != UnitStatus::Active {
                    return Ok(None);
                }
                let reason = format!("{id}: the rectification deadline passed without a rectification report (Art. 26)");
                set_unit_status(tx, &system, now, e.unit, UnitStatus::Active, UnitStatus::Suspended, "unit.suspend", &reason)?;
                Ok(Some(e.unit))
            })?;
            if let Some(u) = unit {
                if !suspended.contains(&u) {
                    suspended.push(u);
                }
            }
        }
        Ok(suspended)
    }

    /// Evaluations the caller may see, oldest first: the bureau and supervisors all; a
    /// unit its own.
    pub fn evaluations(&self, p: &Principal) -> Result<Vec<Evaluation>> {
        self.observe(p, "evaluation.list", "evaluations", |tx, actor, _| {
            actor.require(&[Role::BureauAdmin, Role::Supervisor, Role::UnitAnalyst], "list evaluations")?;
            let unit = if actor.sees_all_units() { None } else { Some(actor.require_unit("list its evaluations")?) };
            let rows = tx
                .prepare(&format!("SELECT {COLUMNS} {FROM} WHERE CAST(?1 AS BIGINT) IS NULL OR e.unit_id = ?1 ORDER BY e.id"))?
                .query_map([unit], row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            rows.into_iter().map(decode).collect()
        })
    }

    /// One evaluation (bureau, supervisors, or the unit's analysts; another unit's reads as
    /// not found).
    pub fn evaluation(&self, p: &Principal, id: EvaluationId) -> Result<Evaluation> {
        self.observe(p, "evaluation.read", id.to_string(), |tx, actor, _| {
            actor.require(&[Role::BureauAdmin, Role::Supervisor, Role::UnitAnalyst], "read evaluations")?;
            let e = load(tx, id)?;
            actor.require_owner(e.unit, &id.to_string())?;
            Ok(e)
        })
    }
}
