//! Crash recovery of the ledger: open reservations whose holder died are settled as spent.
//!
//! Every reservation names the store handle that made it (`holder`), and each live handle
//! holds a lock naming it ([`crate::holders`]: a file lock on `run/<holder>.lock`, or a
//! PostgreSQL session lock). When a handle opens, any open reservation whose holder's lock
//! can be taken belongs to a process that died: it is settled as spent
//! (state `recovered`, full reserved amount and delta) and audited. A live holder's
//! reservations are never touched.

use rusqlite::params;
use serde_json::json;

use crate::actor::Actor;
use crate::amount::{Atto, Nano};
use crate::audit::{self, Entry};
use crate::clock::to_micros;
use crate::error::Result;
use crate::ids::{AuthorizationId, JobId, ReservationId, UnitId};
use crate::ledger::{move_counters, Moves, RecoveryReport};
use crate::store::Store;

impl Store {
    /// Settles as spent the open reservations of store handles that no longer run (their
    /// process crashed or dropped the handle mid-job). Runs at every [`Store::open`]; safe to
    /// call at any time, from any process.
    pub fn recover_abandoned(&self) -> Result<RecoveryReport> {
        let holders: Vec<String> = self.read(|tx| {
            let mut stmt =
                tx.prepare("SELECT DISTINCT holder FROM reservations WHERE state = 'open'")?;
            let rows = stmt
                .query_map((), |r| r.get(0))?
                .collect::<rusqlite::Result<Vec<String>>>()?;
            Ok(rows)
        })?;
        let mut report = RecoveryReport::default();
        for holder in holders {
            if holder == self.inner.holder {
                continue;
            }
            // Holding the dead holder's lock keeps two recoveries from racing on it.
            let Some(claim) = crate::holders::claim_dead(&self.inner.layout, &holder, self.backend())? else {
                continue; // alive
            };
            self.write(|tx| {
                let now = self.now();
                let mut stmt = tx.prepare(
                    "SELECT r.id, r.authorization_id, r.job_id, r.amount_nano, a.unit_id, r.delta_atto
                     FROM reservations r JOIN authorizations a ON a.id = r.authorization_id
                     WHERE r.state = 'open' AND r.holder = ?1 ORDER BY r.id",
                )?;
                type Open = (ReservationId, AuthorizationId, JobId, Nano, UnitId, Atto);
                let open = stmt
                    .query_map([&holder], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)))?
                    .collect::<rusqlite::Result<Vec<Open>>>()?;
                let system = Actor::system();
                for (id, auth, job, amount, unit, delta) in open {
                    tx.execute(
                        "UPDATE reservations SET state = 'recovered', closed_at = ?1 WHERE id = ?2 AND state = 'open'",
                        params![to_micros(now), id],
                    )?;
                    let moves = Moves { spent: amount.sql(), reserved: -amount.sql(), delta_spent: delta.sql(), delta_reserved: -delta.sql() };
                    move_counters(tx, auth, moves)?;
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
                            .details(json!({
                                "reservation": id.0,
                                "job": job.0,
                                "delta_atto": delta.attos(),
                                "reason": "holder ended with the reservation open; counted as spent",
                            })),
                    )?;
                    report.recovered.push(id);
                    report.amount = report.amount.saturating_add(amount);
                    report.delta = report.delta.saturating_add(delta);
                }
                Ok(())
            })?;
            if let crate::holders::Claim::File(Some(_)) = &claim {
                let _ = std::fs::remove_file(self.inner.layout.holder_lock(&holder));
            }
            drop(claim);
        }
        if *self.backend() == crate::store::Backend::Sqlite {
            self.sweep_stale_locks();
        }
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
            if let Ok(f) = std::fs::File::open(entry.path()) {
                if f.try_lock().is_ok() {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
    }
}
