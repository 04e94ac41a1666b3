//! The budget ledger: reserve before compute, commit after, exact to the nano-unit.
//!
//! Each authorization row carries two counters, `spent_nano` and `reserved_nano`, kept equal
//! to the sums over its reservations (committed actuals plus recovered amounts, and open
//! amounts). A reservation checks and moves them in one `BEGIN IMMEDIATE` transaction, so no
//! interleaving of threads or processes can push `spent + reserved` over the total; the
//! table's `CHECK (spent_nano + reserved_nano <= total_nano)` refuses it a second time.
//!
//! Every reservation names the store handle that made it (`holder`), and each live handle
//! holds an exclusive lock on `run/<holder>.lock`. When a handle opens, any open reservation
//! whose holder's lock can be taken belongs to a process that died: it is settled as spent
//! (state `recovered`, full reserved amount) and audited. A live holder's reservations are
//! never touched.

use std::fs::{File, TryLockError};

use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::access::{Actor, Principal, Role};
use crate::amount::Nano;
use crate::audit::{self, Entry};
use crate::authorizations::{self, AuthRow, PrivacyKind};
use crate::clock::to_micros;
use crate::error::{GovernanceError, Result};
use crate::ids::{AuthorizationId, JobId, ReservationId, UnitId};
use crate::jobs::{self, Environment, JobStatus};
use crate::store::Store;

text_enum!(
    /// Where a reservation stands.
    pub enum ReservationState {
        /// Reserved; the job is computing.
        Open => "open",
        /// Settled at its actual cost.
        Committed => "committed",
        /// Given back: the job failed before any noised value existed.
        Released => "released",
        /// Settled as fully spent after its holder crashed.
        Recovered => "recovered",
    }
);

/// A budget reservation held by a running job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    /// Identifier.
    pub id: ReservationId,
    /// The authorization charged.
    pub authorization: AuthorizationId,
    /// The job it is for.
    pub job: JobId,
    /// The amount reserved.
    pub amount: Nano,
}

/// A reservation as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReservationInfo {
    /// The reservation.
    pub reservation: Reservation,
    /// Its state.
    pub state: ReservationState,
    /// What was committed (committed reservations only).
    pub actual: Option<Nano>,
}

/// The budget of an authorization. `total = spent + reserved + remaining`, exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Budget {
    /// The authorization.
    pub authorization: AuthorizationId,
    /// Epsilon or rho.
    pub kind: PrivacyKind,
    /// Granted total.
    pub total: Nano,
    /// Committed (and recovered) charges.
    pub spent: Nano,
    /// Held by running jobs.
    pub reserved: Nano,
    /// What new reservations may still take.
    pub remaining: Nano,
}

/// What [`Store::verify_ledger`] checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerReport {
    /// Authorizations checked.
    pub authorizations: u64,
    /// Reservations checked.
    pub reservations: u64,
    /// Reservations still open (held by live handles).
    pub open: u64,
}

/// What crash recovery settled.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryReport {
    /// Reservations settled as spent.
    pub recovered: Vec<ReservationId>,
    /// Their total amount.
    pub amount: Nano,
}

/// The budget as recorded in an authorization row.
pub(crate) fn budget_of(row: &AuthRow) -> Budget {
    Budget {
        authorization: row.id,
        kind: row.privacy,
        total: row.total,
        spent: row.spent,
        reserved: row.reserved,
        remaining: row
            .total
            .saturating_sub(row.spent)
            .saturating_sub(row.reserved),
    }
}

struct ReservationRow {
    authorization: AuthorizationId,
    job: JobId,
    amount: Nano,
    actual: Option<Nano>,
    state: ReservationState,
}

fn load_reservation(conn: &Connection, id: ReservationId) -> Result<ReservationRow> {
    conn.query_row(
        "SELECT authorization_id, job_id, amount_nano, actual_nano, state FROM reservations WHERE id = ?1",
        [id],
        |r| {
            Ok(ReservationRow {
                authorization: r.get(0)?,
                job: r.get(1)?,
                amount: r.get(2)?,
                actual: r.get(3)?,
                state: r.get(4)?,
            })
        },
    )
    .optional()?
    .ok_or_else(|| GovernanceError::not_found(id.to_string()))
}

/// Loads a reservation and checks it is the caller's and still open.
fn open_reservation(conn: &Connection, r: &Reservation) -> Result<ReservationRow> {
    let row = load_reservation(conn, r.id)?;
    if row.authorization != r.authorization || row.job != r.job || row.amount != r.amount {
        return Err(GovernanceError::invalid(
            "reservation",
            "does not match the stored reservation; pass the one reserve returned",
        ));
    }
    match row.state {
        ReservationState::Open => Ok(row),
        ReservationState::Recovered => Err(GovernanceError::conflict(format!(
            "{} was settled as fully spent by crash recovery; its whole amount is already counted",
            r.id
        ))),
        s => Err(GovernanceError::conflict(format!(
            "{} is already {s}; nothing left to settle",
            r.id
        ))),
    }
}

fn job_actor(job: &jobs::JobRow) -> Actor {
    Actor::analyst(job.person, job.unit)
}

/// Moves an authorization's counters by signed deltas, refusing to break the invariant.
fn move_counters(
    conn: &Connection,
    auth: AuthorizationId,
    spent_delta: i64,
    reserved_delta: i64,
) -> Result<()> {
    let changed = conn.execute(
        "UPDATE authorizations SET spent_nano = spent_nano + ?1, reserved_nano = reserved_nano + ?2
         WHERE id = ?3 AND spent_nano + ?1 >= 0 AND reserved_nano + ?2 >= 0
           AND spent_nano + ?1 + reserved_nano + ?2 <= total_nano",
        params![spent_delta, reserved_delta, auth],
    )?;
    if changed != 1 {
        return Err(GovernanceError::Internal(format!(
            "the counters of {auth} would leave their bounds"
        )));
    }
    Ok(())
}

impl Store {
    /// Reserves `amount` of an authorization's budget for a running production job.
    ///
    /// Atomic: refused if `spent + reserved + amount > total`, if `amount` exceeds the
    /// per-query cap, if the authorization is not active and in term, or if its unit is not
    /// active. Refusals are audited.
    pub fn reserve(
        &self,
        authorization: AuthorizationId,
        job: JobId,
        amount: Nano,
    ) -> Result<Reservation> {
        let mut claimed = Actor::system();
        let out = self.write(|tx| {
            let now = self.now();
            let j = jobs::load_job_row(tx, job)?;
            claimed = job_actor(&j);
            if j.authorization != authorization {
                return Err(GovernanceError::invalid("job", format!("{job} runs under another authorization")));
            }
            if j.environment != Environment::Prod {
                return Err(GovernanceError::invalid("job", "is a dev job: dev runs use masked samples and spend no budget"));
            }
            if j.status != JobStatus::Running {
                return Err(GovernanceError::conflict(format!("{job} is {}; start a new job", j.status)));
            }
            let row = authorizations::load_row(tx, authorization)?;
            authorizations::require_usable(tx, &row, now)?;
            if amount == Nano::ZERO {
                return Err(GovernanceError::invalid("amount", "must be greater than 0"));
            }
            if amount > row.cap {
                return Err(GovernanceError::OverCap { authorization: authorization.0, requested: amount, cap: row.cap });
            }
            let remaining = budget_of(&row).remaining;
            if amount > remaining {
                return Err(GovernanceError::BudgetExhausted { authorization: authorization.0, requested: amount, remaining });
            }
            tx.execute(
                "INSERT INTO reservations (authorization_id, job_id, amount_nano, state, holder, created_at)
                 VALUES (?1, ?2, ?3, 'open', ?4, ?5)",
                params![authorization, job, amount, self.inner.holder, to_micros(now)],
            )?;
            let id = ReservationId(tx.last_insert_rowid());
            move_counters(tx, authorization, 0, amount.sql())?;
            audit::append(
                tx,
                now,
                &Entry::ok(&claimed, "ledger.reserve", authorization.to_string())
                    .cost(amount)
                    .details(json!({ "reservation": id.0, "job": job.0 })),
            )?;
            Ok(Reservation { id, authorization, job, amount })
        });
        self.record_refusal(&out, &claimed, "ledger.reserve", &authorization.to_string());
        out
    }

    /// Settles a reservation at its actual cost (`actual <= reserved`); the difference
    /// returns to the budget. Allowed whatever the authorization's status: noise was drawn.
    pub fn commit(&self, reservation: &Reservation, actual: Nano) -> Result<Budget> {
        self.write(|tx| {
            let now = self.now();
            let row = open_reservation(tx, reservation)?;
            if actual > row.amount {
                return Err(GovernanceError::invalid(
                    "actual",
                    format!("must not exceed the reserved amount {}; reserve the full cost before releasing values", row.amount),
                ));
            }
            let j = jobs::load_job_row(tx, reservation.job)?;
            tx.execute(
                "UPDATE reservations SET state = 'committed', actual_nano = ?1, closed_at = ?2 WHERE id = ?3 AND state = 'open'",
                params![actual, to_micros(now), reservation.id],
            )?;
            move_counters(tx, row.authorization, actual.sql(), -row.amount.sql())?;
            tx.execute("UPDATE jobs SET cost_nano = cost_nano + ?1 WHERE id = ?2", params![actual, reservation.job])?;
            audit::append(
                tx,
                now,
                &Entry::ok(&job_actor(&j), "ledger.commit", row.authorization.to_string()).cost(actual).details(json!({
                    "reservation": reservation.id.0,
                    "job": reservation.job.0,
                    "reserved_nano": row.amount.nanos(),
                })),
            )?;
            Ok(budget_of(&authorizations::load_row(tx, row.authorization)?))
        })
    }

    /// Gives a reservation back. Only for a job that failed before any noised value
    /// existed: refused once the job has recorded releases or holds a product.
    pub fn release(&self, reservation: &Reservation) -> Result<Budget> {
        self.write(|tx| {
            let now = self.now();
            let row = open_reservation(tx, reservation)?;
            let j = jobs::load_job_row(tx, reservation.job)?;
            let products: i64 = tx.query_row("SELECT COUNT(*) FROM products WHERE job_id = ?1", [reservation.job], |r| r.get(0))?;
            if j.releases > 0 || products > 0 {
                return Err(GovernanceError::conflict(format!(
                    "{} has released noised values; commit its cost instead of releasing it",
                    reservation.job
                )));
            }
            tx.execute(
                "UPDATE reservations SET state = 'released', actual_nano = 0, closed_at = ?1 WHERE id = ?2 AND state = 'open'",
                params![to_micros(now), reservation.id],
            )?;
            move_counters(tx, row.authorization, 0, -row.amount.sql())?;
            audit::append(
                tx,
                now,
                &Entry::ok(&job_actor(&j), "ledger.release", row.authorization.to_string())
                    .details(json!({ "reservation": reservation.id.0, "job": reservation.job.0, "reserved_nano": row.amount.nanos() })),
            )?;
            Ok(budget_of(&authorizations::load_row(tx, row.authorization)?))
        })
    }

    /// The budget of an authorization (bureau, supervisors, or the holding unit).
    pub fn budget(&self, p: &Principal, authorization: AuthorizationId) -> Result<Budget> {
        self.observe(
            p,
            "ledger.budget",
            authorization.to_string(),
            |tx, actor, _| {
                actor.require(
                    &[Role::BureauAdmin, Role::Supervisor, Role::UnitAnalyst],
                    "read budgets",
                )?;
                let row = authorizations::load_row(tx, authorization)?;
                actor.require_owner(row.unit, &authorization.to_string())?;
                Ok(budget_of(&row))
            },
        )
    }

    /// A reservation as stored (server-internal: units never reach this directly).
    pub fn reservation(&self, id: ReservationId) -> Result<ReservationInfo> {
        self.read(|tx| {
            let r = load_reservation(tx, id)?;
            Ok(ReservationInfo {
                reservation: Reservation {
                    id,
                    authorization: r.authorization,
                    job: r.job,
                    amount: r.amount,
                },
                state: r.state,
                actual: r.actual,
            })
        })
    }

    /// Checks every authorization's counters and every job's cost against the reservations.
    pub fn verify_ledger(&self) -> Result<LedgerReport> {
        self.read(|tx| {
            let mut stmt = tx.prepare(
                "SELECT a.id, a.total_nano, a.spent_nano, a.reserved_nano,
                    (SELECT COALESCE(SUM(r.actual_nano), 0) FROM reservations r WHERE r.authorization_id = a.id AND r.state = 'committed'),
                    (SELECT COALESCE(SUM(r.amount_nano), 0) FROM reservations r WHERE r.authorization_id = a.id AND r.state = 'recovered'),
                    (SELECT COALESCE(SUM(r.amount_nano), 0) FROM reservations r WHERE r.authorization_id = a.id AND r.state = 'open')
                 FROM authorizations a ORDER BY a.id",
            )?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((r.get::<_, i64>(0)?, [r.get::<_, i64>(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?]))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            for (id, [total, spent, reserved, committed, recovered, open]) in &rows {
                let broken = |reason: String| GovernanceError::LedgerBroken { authorization: *id, reason };
                if *spent != committed + recovered {
                    return Err(broken(format!("spent is {spent} nano but the settled reservations sum to {}", committed + recovered)));
                }
                if reserved != open {
                    return Err(broken(format!("reserved is {reserved} nano but the open reservations sum to {open}")));
                }
                if spent + reserved > *total {
                    return Err(broken(format!("spent plus reserved ({}) exceeds the total {total}", spent + reserved)));
                }
            }
            let bad_job: Option<(i64, i64)> = tx
                .query_row(
                    "SELECT j.id, j.authorization_id FROM jobs j WHERE j.cost_nano <>
                        (SELECT COALESCE(SUM(CASE WHEN r.state = 'committed' THEN r.actual_nano
                                                  WHEN r.state = 'recovered' THEN r.amount_nano ELSE 0 END), 0)
                         FROM reservations r WHERE r.job_id = j.id)
                     LIMIT 1",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            if let Some((job, auth)) = bad_job {
                return Err(GovernanceError::LedgerBroken {
                    authorization: auth,
                    reason: format!("the cost of job {job} differs from its settled reservations"),
                });
            }
            let (reservations, open): (i64, i64) = tx.query_row(
                "SELECT COUNT(*), COALESCE(SUM(CASE WHEN state = 'open' THEN 1 ELSE 0 END), 0) FROM reservations",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            Ok(LedgerReport { authorizations: rows.len() as u64, reservations: reservations as u64, open: open as u64 })
        })
    }

    /// Settles as spent the open reservations of store handles that no longer run (their
    /// process crashed or dropped the handle mid-job). Runs at every [`Store::open`]; safe to
    /// call at any time, from any process.
    pub fn recover_abandoned(&self) -> Result<RecoveryReport> {
        let holders: Vec<String> = self.read(|tx| {
            let mut stmt =
                tx.prepare("SELECT DISTINCT holder FROM reservations WHERE state = 'open'")?;
            let rows = stmt
                .query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<Vec<String>>>()?;
            Ok(rows)
        })?;
        let mut report = RecoveryReport::default();
        for holder in holders {
            if holder == self.inner.holder {
                continue;
            }
            let path = self.inner.layout.holder_lock(&holder);
            // Holding the dead holder's lock keeps two recoveries from racing on it.
            let lock = match File::open(&path) {
                Ok(f) => match f.try_lock() {
                    Ok(()) => Some(f),
                    Err(TryLockError::WouldBlock) => continue, // alive
                    Err(TryLockError::Error(e)) => return Err(GovernanceError::io(&path, e)),
                },
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => return Err(GovernanceError::io(&path, e)),
            };
            self.write(|tx| {
                let now = self.now();
                let mut stmt = tx.prepare(
                    "SELECT r.id, r.authorization_id, r.job_id, r.amount_nano, a.unit_id
                     FROM reservations r JOIN authorizations a ON a.id = r.authorization_id
                     WHERE r.state = 'open' AND r.holder = ?1 ORDER BY r.id",
                )?;
                let open = stmt
                    .query_map([&holder], |r| {
                        Ok((r.get::<_, ReservationId>(0)?, r.get::<_, AuthorizationId>(1)?, r.get::<_, JobId>(2)?, r.get::<_, Nano>(3)?, r.get::<_, UnitId>(4)?))
                    })?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                let system = Actor::system();
                for (id, auth, job, amount, unit) in open {
                    tx.execute(
                        "UPDATE reservations SET state = 'recovered', closed_at = ?1 WHERE id = ?2 AND state = 'open'",
                        params![to_micros(now), id],
                    )?;
                    move_counters(tx, auth, amount.sql(), -amount.sql())?;
                    tx.execute("UPDATE jobs SET cost_nano = cost_nano + ?1 WHERE id = ?2", params![amount, job])?;
                    tx.execute(
                        "UPDATE jobs SET status = 'failed', finished_at = ?1,
                            failure = 'the server stopped while the job ran; its reserved budget counts as spent'
                         WHERE id = ?2 AND status = 'running'",
                        params![to_micros(now), job],
                    )?;
                    audit::append(
                        tx,
                        now,
                        &Entry::ok(&system, "ledger.recover", auth.to_string())
                            .unit(unit)
                            .cost(amount)
                            .details(json!({ "reservation": id.0, "job": job.0, "reason": "holder ended with the reservation open; counted as spent" })),
                    )?;
                    report.recovered.push(id);
                    report.amount = report.amount.checked_add(amount).unwrap_or(report.amount);
                }
                Ok(())
            })?;
            if lock.is_some() {
                let _ = std::fs::remove_file(&path);
            }
        }
        self.sweep_stale_locks();
        Ok(report)
    }

    /// Removes the lock files of handles that ended without an open reservation (no live
    /// process holds them). Best effort: a leftover file only costs a little disk.
    fn sweep_stale_locks(&self) {
        let dir = self.inner.layout.run_dir();
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return;
        };
        let own = format!("{}.lock", self.inner.holder);
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.ends_with(".lock") || name == own {
                continue;
            }
            if let Ok(f) = File::open(entry.path()) {
                if f.try_lock().is_ok() {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
    }
}
