//! The budget ledger: reserve before compute, commit after, exact to the nano-unit (epsilon,
//! rho) and to the atto-unit (delta).
//!
//! Each authorization row carries two counters per budget, `spent_nano`/`reserved_nano` and
//! `delta_spent_atto`/`delta_reserved_atto`, kept equal to the sums over its reservations
//! (committed actuals plus recovered amounts, and open amounts). A reservation checks and
//! moves them in one `BEGIN IMMEDIATE` transaction, so no interleaving of threads or
//! processes can push `spent + reserved` over a total; the table's CHECK constraints refuse
//! it a second time. The same transaction checks the bureau's caps on the unit's privacy loss
//! per dataset ([`crate::loss`]) over the datasets the reservation names.
//!
//! Open reservations of a handle that died are settled as spent at the next open
//! ([`crate::recovery`]).

use rusqlite::params;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::sql::{OptionalExtension, Tx};
use crate::actor::{Actor, Principal, Role};
use crate::amount::{Atto, Nano};
use crate::audit::{self, Entry};
use crate::authorizations::{self, budget_of, Budget};
use crate::clock::to_micros;
use crate::error::{GovernanceError, Result};
use crate::ids::{AuthorizationId, DatasetId, JobId, ReservationId};
use crate::jobs::{self, Environment, JobStatus};
use crate::loss;
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

/// What a query asks the ledger to hold before it computes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Charge {
    /// Epsilon or rho (the authorization's definition), rounded up ([`Nano::charge`]).
    pub amount: Nano,
    /// The query's total delta (every partition selection's), rounded up ([`Atto::charge`]).
    pub delta: Atto,
    /// The catalog names of the datasets (tables) the query reads personal data from. Each
    /// must be granted by the authorization; the unit's loss cap on each is checked.
    pub datasets: Vec<String>,
}

impl Charge {
    /// A charge of `amount` and `delta` reading `datasets`.
    pub fn new(amount: Nano, delta: Atto, datasets: Vec<String>) -> Charge {
        Charge { amount, delta, datasets }
    }
}

/// A budget reservation held by a running job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    /// Identifier.
    pub id: ReservationId,
    /// The authorization charged.
    pub authorization: AuthorizationId,
    /// The job it is for.
    pub job: JobId,
    /// The amount reserved (epsilon or rho).
    pub amount: Nano,
    /// The delta reserved.
    pub delta: Atto,
    /// The datasets the query reads, in catalog-name order.
    pub datasets: Vec<String>,
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
    /// The delta committed (committed reservations only).
    pub actual_delta: Option<Atto>,
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
    /// Their total delta.
    pub delta: Atto,
}

/// The budget as recorded in an authorization row.
struct ReservationRow {
    authorization: AuthorizationId,
    job: JobId,
    amount: Nano,
    actual: Option<Nano>,
    delta: Atto,
    actual_delta: Option<Atto>,
    state: ReservationState,
}

fn load_reservation(conn: &Tx<'_>, id: ReservationId) -> Result<ReservationRow> {
    conn.query_row(
        "SELECT authorization_id, job_id, amount_nano, actual_nano, state, delta_atto, actual_delta_atto FROM reservations WHERE id = ?1",
        [id],
        |r| {
            Ok(ReservationRow {
                authorization: r.get(0)?,
                job: r.get(1)?,
                amount: r.get(2)?,
                actual: r.get(3)?,
                state: r.get(4)?,
                delta: r.get(5)?,
                actual_delta: r.get(6)?,
            })
        },
    )
    .optional()?
    .ok_or_else(|| GovernanceError::not_found(id.to_string()))
}

/// The catalog names of the datasets a reservation reads, in name order.
fn reservation_datasets(conn: &Tx<'_>, id: ReservationId) -> Result<Vec<String>> {
    let names = conn
        .prepare(
            "SELECT d.name FROM reservation_datasets rd JOIN datasets d ON d.id = rd.dataset_id
             WHERE rd.reservation_id = ?1 ORDER BY d.name",
        )?
        .query_map([id], |r| r.get(0))?
        .collect::<rusqlite::Result<Vec<String>>>()?;
    Ok(names)
}

/// Resolves the datasets a charge names: each once, each granted by the authorization.
fn charged_datasets(conn: &Tx<'_>, auth: AuthorizationId, names: &[String]) -> Result<Vec<(DatasetId, String)>> {
    let granted = authorizations::granted(conn, auth)?;
    let mut out: Vec<(DatasetId, String)> = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let Some((id, g)) = granted.iter().find(|(_, g)| &g.dataset == name) else {
            return Err(GovernanceError::invalid(
                format!("datasets[{i}]"),
                format!("is not a dataset {auth} grants; name only the granted tables the query reads"),
            ));
        };
        if !out.iter().any(|(d, _)| d == id) {
            out.push((*id, g.dataset.clone()));
        }
    }
    out.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(out)
}

/// Loads a reservation and checks it is the caller's and still open.
fn open_reservation(conn: &Tx<'_>, r: &Reservation) -> Result<ReservationRow> {
    let row = load_reservation(conn, r.id)?;
    if row.authorization != r.authorization || row.job != r.job || row.amount != r.amount || row.delta != r.delta {
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

/// Signed changes of an authorization's four counters.
#[derive(Default)]
pub(crate) struct Moves {
    pub(crate) spent: i64,
    pub(crate) reserved: i64,
    pub(crate) delta_spent: i64,
    pub(crate) delta_reserved: i64,
}

/// Moves an authorization's counters, refusing to break either invariant.
pub(crate) fn move_counters(conn: &Tx<'_>, auth: AuthorizationId, m: Moves) -> Result<()> {
    let changed = conn.execute(
        "UPDATE authorizations SET spent_nano = spent_nano + ?1, reserved_nano = reserved_nano + ?2,
                delta_spent_atto = delta_spent_atto + ?4, delta_reserved_atto = delta_reserved_atto + ?5
         WHERE id = ?3 AND spent_nano + ?1 >= 0 AND reserved_nano + ?2 >= 0
           AND spent_nano + ?1 + reserved_nano + ?2 <= total_nano
           AND delta_spent_atto + ?4 >= 0 AND delta_reserved_atto + ?5 >= 0
           AND delta_spent_atto + ?4 + delta_reserved_atto + ?5 <= delta_total_atto",
        params![m.spent, m.reserved, auth, m.delta_spent, m.delta_reserved],
    )?;
    if changed != 1 {
        return Err(GovernanceError::Internal(format!(
            "the counters of {auth} would leave their bounds"
        )));
    }
    Ok(())
}

impl Store {
    /// Reserves a query's charge (epsilon/rho and delta) of an authorization's budget for a
    /// running production job, recording the datasets it reads.
    ///
    /// Atomic: refused if `spent + reserved + amount > total` or the same for delta, if the
    /// amount or the delta exceeds its per-query cap, if the query would push the unit's
    /// privacy loss on any dataset it reads past the bureau's cap there ([`crate::loss`]), if
    /// a dataset is not granted, if the authorization is not active and in term, or if its
    /// unit is not active. Refusals are audited.
    pub fn reserve(&self, authorization: AuthorizationId, job: JobId, charge: &Charge) -> Result<Reservation> {
        let (amount, delta) = (charge.amount, charge.delta);
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
            let budget = budget_of(&row);
            if delta > budget.delta_per_query {
                return Err(GovernanceError::DeltaOverCap { authorization: authorization.0, requested: delta, cap: budget.delta_per_query });
            }
            if amount > budget.remaining {
                return Err(GovernanceError::BudgetExhausted { authorization: authorization.0, requested: amount, remaining: budget.remaining });
            }
            if delta > budget.delta_remaining {
                return Err(GovernanceError::DeltaExhausted { authorization: authorization.0, requested: delta, remaining: budget.delta_remaining });
            }
            let datasets = charged_datasets(tx, authorization, &charge.datasets)?;
            loss::check_caps(tx, row.unit, row.privacy, amount, delta, &datasets)?;
            let new_id = tx.insert(
                "INSERT INTO reservations (authorization_id, job_id, amount_nano, state, holder, created_at, delta_atto)
                 VALUES (?1, ?2, ?3, 'open', ?4, ?5, ?6)",
                params![authorization, job, amount, self.inner.holder, to_micros(now), delta],
            )?;
            let id = ReservationId(new_id);
            for (dataset, _) in &datasets {
                tx.execute("INSERT INTO reservation_datasets (reservation_id, dataset_id) VALUES (?1, ?2)", params![id, dataset])?;
            }
            move_counters(tx, authorization, Moves { reserved: amount.sql(), delta_reserved: delta.sql(), ..Moves::default() })?;
            let names: Vec<String> = datasets.into_iter().map(|(_, n)| n).collect();
            audit::append(
                tx,
                now,
                &Entry::ok(&claimed, "ledger.reserve", authorization.to_string())
                    .cost(amount)
                    .details(json!({ "reservation": id.0, "job": job.0, "delta_atto": delta.attos(), "datasets": names })),
            )?;
            Ok(Reservation { id, authorization, job, amount, delta, datasets: names })
        });
        self.record_refusal(&out, &claimed, "ledger.reserve", &authorization.to_string());
        out
    }

    /// Settles a reservation at its actual cost (`actual <= reserved`, `actual_delta <=`
    /// the reserved delta); the differences return to the budget. Allowed whatever the
    /// authorization's status: noise was drawn.
    pub fn commit(&self, reservation: &Reservation, actual: Nano, actual_delta: Atto) -> Result<Budget> {
        self.write(|tx| {
            let now = self.now();
            let row = open_reservation(tx, reservation)?;
            if actual > row.amount {
                return Err(GovernanceError::invalid(
                    "actual",
                    format!("must not exceed the reserved amount {}; reserve the full cost before releasing values", row.amount),
                ));
            }
            if actual_delta > row.delta {
                return Err(GovernanceError::invalid(
                    "actual_delta",
                    format!("must not exceed the reserved delta {}; reserve the full delta before releasing values", row.delta),
                ));
            }
            let j = jobs::load_job_row(tx, reservation.job)?;
            tx.execute(
                "UPDATE reservations SET state = 'committed', actual_nano = ?1, actual_delta_atto = ?4, closed_at = ?2
                 WHERE id = ?3 AND state = 'open'",
                params![actual, to_micros(now), reservation.id, actual_delta],
            )?;
            let moves = Moves {
                spent: actual.sql(),
                reserved: -row.amount.sql(),
                delta_spent: actual_delta.sql(),
                delta_reserved: -row.delta.sql(),
            };
            move_counters(tx, row.authorization, moves)?;
            tx.execute("UPDATE jobs SET cost_nano = cost_nano + ?1 WHERE id = ?2", params![actual, reservation.job])?;
            audit::append(
                tx,
                now,
                &Entry::ok(&job_actor(&j), "ledger.commit", row.authorization.to_string()).cost(actual).details(json!({
                    "reservation": reservation.id.0,
                    "job": reservation.job.0,
                    "reserved_nano": row.amount.nanos(),
                    "delta_atto": actual_delta.attos(),
                    "reserved_delta_atto": row.delta.attos(),
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
                "UPDATE reservations SET state = 'released', actual_nano = 0, actual_delta_atto = 0, closed_at = ?1
                 WHERE id = ?2 AND state = 'open'",
                params![to_micros(now), reservation.id],
            )?;
            move_counters(tx, row.authorization, Moves { reserved: -row.amount.sql(), delta_reserved: -row.delta.sql(), ..Moves::default() })?;
            audit::append(
                tx,
                now,
                &Entry::ok(&job_actor(&j), "ledger.release", row.authorization.to_string())
                    .details(json!({
                        "reservation": reservation.id.0,
                        "job": reservation.job.0,
                        "reserved_nano": row.amount.nanos(),
                        "reserved_delta_atto": row.delta.attos(),
                    })),
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
                    delta: r.delta,
                    datasets: reservation_datasets(tx, id)?,
                },
                state: r.state,
                actual: r.actual,
                actual_delta: r.actual_delta,
            })
        })
    }

    /// Checks every authorization's counters (epsilon/rho and delta) and every job's cost
    /// against the reservations.
    pub fn verify_ledger(&self) -> Result<LedgerReport> {
        self.read(|tx| {
            let mut stmt = tx.prepare(
                "SELECT a.id, a.total_nano, a.spent_nano, a.reserved_nano,
                    (SELECT CAST(COALESCE(SUM(r.actual_nano), 0) AS BIGINT) FROM reservations r WHERE r.authorization_id = a.id AND r.state = 'committed'),
                    (SELECT CAST(COALESCE(SUM(r.amount_nano), 0) AS BIGINT) FROM reservations r WHERE r.authorization_id = a.id AND r.state = 'recovered'),
                    (SELECT CAST(COALESCE(SUM(r.amount_nano), 0) AS BIGINT) FROM reservations r WHERE r.authorization_id = a.id AND r.state = 'open'),
                    a.delta_total_atto, a.delta_spent_atto, a.delta_reserved_atto,
                    (SELECT CAST(COALESCE(SUM(r.actual_delta_atto), 0) AS BIGINT) FROM reservations r WHERE r.authorization_id = a.id AND r.state = 'committed'),
                    (SELECT CAST(COALESCE(SUM(r.delta_atto), 0) AS BIGINT) FROM reservations r WHERE r.authorization_id = a.id AND r.state = 'recovered'),
                    (SELECT CAST(COALESCE(SUM(r.delta_atto), 0) AS BIGINT) FROM reservations r WHERE r.authorization_id = a.id AND r.state = 'open')
                 FROM authorizations a ORDER BY a.id",
            )?;
            let rows = stmt
                .query_map((), |r| {
                    let mut v = [0i64; 12];
                    for (i, x) in v.iter_mut().enumerate() {
                        *x = r.get(i + 1)?;
                    }
                    Ok((r.get::<_, i64>(0)?, v))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            for (id, v) in &rows {
                let broken = |reason: String| GovernanceError::LedgerBroken { authorization: *id, reason };
                for (unit, [total, spent, reserved, committed, recovered, open]) in
                    [("nano", [v[0], v[1], v[2], v[3], v[4], v[5]]), ("atto of delta", [v[6], v[7], v[8], v[9], v[10], v[11]])]
                {
                    let settled = i128::from(committed) + i128::from(recovered);
                    if i128::from(spent) != settled {
                        return Err(broken(format!("spent is {spent} {unit} but the settled reservations sum to {settled}")));
                    }
                    if reserved != open {
                        return Err(broken(format!("reserved is {reserved} {unit} but the open reservations sum to {open}")));
                    }
                    if i128::from(spent) + i128::from(reserved) > i128::from(total) {
                        return Err(broken(format!("spent plus reserved ({}) exceeds the total {total} {unit}", i128::from(spent) + i128::from(reserved))));
                    }
                }
            }
            let bad_job: Option<(i64, i64)> = tx
                .query_row(
                    "SELECT j.id, j.authorization_id FROM jobs j WHERE j.cost_nano <>
                        (SELECT CAST(COALESCE(SUM(CASE WHEN r.state = 'committed' THEN r.actual_nano
                                                  WHEN r.state = 'recovered' THEN r.amount_nano ELSE 0 END), 0) AS BIGINT)
                         FROM reservations r WHERE r.job_id = j.id)
                     LIMIT 1",
                    (),
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
                "SELECT COUNT(*), CAST(COALESCE(SUM(CASE WHEN state = 'open' THEN 1 ELSE 0 END), 0) AS BIGINT) FROM reservations",
                (),
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            Ok(LedgerReport { authorizations: rows.len() as u64, reservations: reservations as u64, open: open as u64 })
        })
    }
}
