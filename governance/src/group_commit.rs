//! Group commit: the writes of concurrent callers share one SQLite transaction and one fsync.
//!
//! A handle has one write lane: one connection and, while writers are queued, one open
//! `BEGIN IMMEDIATE` transaction (a *batch*). Writers take turns on the lane. Each runs its
//! closure inside its own `SAVEPOINT`, so a refusal or an error rolls back that writer's
//! statements only, and every writer sees the effects of the writers before it in the batch
//! (the ledger's `spent + reserved <= total` check and the audit chain's head see them).
//!
//! When a writer finishes and nobody is queued behind it (or the batch is full), it commits
//! the batch; otherwise it hands the lane to the next writer. Every writer of a batch waits
//! until the batch is settled and only then returns, so a result, a charge above all, is
//! reported only once it is durable (`synchronous = FULL`). If the commit fails, every
//! writer of the batch gets the error and nothing of the batch was written.
//!
//! With a batch size of 1 the lane is the plain one-transaction-per-write path.

use std::collections::HashMap;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};


use crate::error::{GovernanceError, Result};
use crate::sql::{Conn, Tx};

/// The lane's shared state.
#[derive(Default)]
struct State {
    /// The lane's connection; `None` while a writer holds it (or before first use).
    conn: Option<Conn>,
    /// The open batch, if a transaction is open on the lane's connection.
    open: Option<u64>,
    /// Writers whose statements are in the open batch.
    members: usize,
    /// A writer is running, or a commit is in flight.
    busy: bool,
    /// Writers waiting for their turn.
    waiting: usize,
    /// The last batch id handed out.
    last: u64,
    /// Every batch up to this one is settled.
    settled: u64,
    /// Failed batches: the error each member gets, and how many members still have to read it.
    failed: HashMap<u64, (SharedError, usize)>,
    /// What the lane has done so far.
    stats: WriteStats,
}

/// What a handle's write lane has done since the handle was opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteStats {
    /// Writes run (each one closure, kept or rolled back).
    pub writes: u64,
    /// Transactions committed: each one fsync of the log.
    pub commits: u64,
    /// Transactions that failed to commit, or were lost (every write in them failed).
    pub failed: u64,
}

/// A commit error, re-created for every member of the failed batch.
#[derive(Clone)]
enum SharedError {
    Sqlite(rusqlite::ffi::Error, Option<String>),
    Other(String),
}

impl SharedError {
    fn of(e: &GovernanceError) -> SharedError {
        match e {
            GovernanceError::Store(rusqlite::Error::SqliteFailure(code, msg)) => SharedError::Sqlite(*code, msg.clone()),
            other => SharedError::Other(other.to_string()),
        }
    }

    fn error(&self) -> GovernanceError {
        match self {
            SharedError::Sqlite(code, msg) => GovernanceError::Store(rusqlite::Error::SqliteFailure(*code, msg.clone())),
            SharedError::Other(msg) => GovernanceError::Internal(format!("the write batch did not commit: {msg}")),
        }
    }
}

/// One handle's write lane.
pub(crate) struct WriteLane {
    state: Mutex<State>,
    turn: Condvar,
    max_batch: usize,
}

/// What one writer did inside the batch.
enum Member<T> {
    /// Its savepoint was released (`Ok`) or rolled back (`Err`); the batch goes on.
    Done(Result<T>),
    /// SQLite rolled the whole transaction back (or a savepoint statement failed): the batch
    /// is lost.
    Lost(GovernanceError),
}

impl WriteLane {
    /// A lane committing at most `max_batch` writers per transaction (at least 1).
    pub(crate) fn new(max_batch: usize) -> WriteLane {
        WriteLane { state: Mutex::new(State::default()), turn: Condvar::new(), max_batch: max_batch.max(1) }
    }

    /// What the lane has done so far.
    pub(crate) fn stats(&self) -> WriteStats {
        self.lock().stats
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn wait<'a>(&self, g: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        self.turn.wait(g).unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` as one writer of the current batch; returns once the batch is settled.
    /// `open` opens the lane's connection on first use.
    pub(crate) fn write<T>(
        &self,
        open: impl FnOnce() -> Result<Conn>,
        f: impl FnOnce(&Tx<'_>) -> Result<T>,
    ) -> Result<T> {
        let mut st = self.lock();
        st.waiting += 1;
        while st.busy {
            st = self.wait(st);
        }
        st.waiting -= 1;
        st.busy = true;
        let conn = match st.conn.take() {
            Some(c) => c,
            None => match open() {
                Ok(c) => c,
                Err(e) => return Err(self.hand_over(st, e)),
            },
        };
        let mut conn = conn;
        let batch = match st.open {
            Some(b) => b,
            None => {
                if let Err(e) = conn.begin_write() {
                    if !conn.is_broken() {
                        st.conn = Some(conn);
                    }
                    return Err(self.hand_over(st, e));
                }
                st.last += 1;
                st.open = Some(st.last);
                st.last
            }
        };
        drop(st);

        let mut guard = Unwind { lane: self, conn: Some(conn), batch };
        let member = run_member(guard.conn.as_mut().expect("held"), f);
        let mut conn = guard.conn.take().expect("held");
        drop(guard);

        let mut st = self.lock();
        st.stats.writes += 1;
        let out = match member {
            Member::Lost(e) => {
                if conn.in_transaction() {
                    let _ = conn.batch("ROLLBACK");
                }
                let members = st.members;
                self.settle(&mut st, conn, batch, Some((SharedError::Other("an earlier write of the batch failed; retry".into()), members)));
                return Err(e);
            }
            Member::Done(out) => out,
        };
        st.members += 1;
        if st.waiting > 0 && st.members < self.max_batch {
            // Hand the lane to the next writer; whoever ends the batch commits it.
            st.conn = Some(conn);
            st.busy = false;
            self.turn.notify_all();
            while st.settled < batch {
                st = self.wait(st);
            }
        } else {
            let members = st.members;
            drop(st);
            let committed = conn.batch("COMMIT");
            if committed.is_err() && conn.in_transaction() {
                let _ = conn.batch("ROLLBACK");
            }
            st = self.lock();
            let failure = committed.as_ref().err().map(|e| (SharedError::of(e), members));
            self.settle(&mut st, conn, batch, failure);
        }
        self.outcome(&mut st, batch, out)
    }

    /// Gives up the turn after a failure before the writer ran (nothing of it is in a batch).
    fn hand_over(&self, mut st: MutexGuard<'_, State>, e: GovernanceError) -> GovernanceError {
        st.busy = false;
        self.turn.notify_all();
        e
    }

    /// Closes `batch`: records its failure for its members, frees the lane, wakes everyone.
    fn settle(&self, st: &mut State, conn: Conn, batch: u64, failure: Option<(SharedError, usize)>) {
        match failure {
            Some((err, members)) => {
                st.stats.failed += 1;
                if members > 0 {
                    st.failed.insert(batch, (err, members));
                }
            }
            None => st.stats.commits += 1,
        }
        st.open = None;
        st.members = 0;
        st.settled = batch;
        st.conn = Some(conn).filter(|c| !c.is_broken());
        st.busy = false;
        self.turn.notify_all();
    }

    /// A member's result once its batch is settled: its own, unless the batch failed.
    fn outcome<T>(&self, st: &mut State, batch: u64, out: Result<T>) -> Result<T> {
        let Some((err, left)) = st.failed.get_mut(&batch) else { return out };
        let e = err.error();
        *left -= 1;
        if *left == 0 {
            st.failed.remove(&batch);
        }
        // A writer refused or failed on its own keeps its own error: nothing of it was written.
        match out {
            Ok(_) => Err(e),
            Err(own) => Err(own),
        }
    }
}

/// Runs one writer inside a savepoint.
fn run_member<T>(conn: &mut Conn, f: impl FnOnce(&Tx<'_>) -> Result<T>) -> Member<T> {
    if let Err(e) = conn.batch("SAVEPOINT member") {
        return Member::Lost(e);
    }
    let out = f(&conn.tx());
    if !conn.in_transaction() {
        // The backend ended the transaction itself (a full disk, an I/O error, a lost
        // session): the batch is gone.
        return Member::Lost(out.err().unwrap_or_else(|| GovernanceError::Internal("the write transaction ended early".into())));
    }
    let close = match out {
        Ok(_) => conn.batch("RELEASE member"),
        Err(_) => conn.batch("ROLLBACK TO member; RELEASE member"),
    };
    match close {
        Ok(()) => Member::Done(out),
        Err(e) => Member::Lost(e),
    }
}

/// Fails the batch if the writer's closure panics: the transaction is rolled back, the members
/// already in it are told, and the lane is freed (the panic then goes on).
struct Unwind<'a> {
    lane: &'a WriteLane,
    conn: Option<Conn>,
    batch: u64,
}

impl Drop for Unwind<'_> {
    fn drop(&mut self) {
        let Some(mut conn) = self.conn.take() else { return };
        if conn.in_transaction() {
            let _ = conn.batch("ROLLBACK");
        }
        let mut st = self.lane.lock();
        let members = st.members;
        let err = SharedError::Other("a write of the batch panicked; retry".into());
        self.lane.settle(&mut st, conn, self.batch, Some((err, members)));
    }
}

#[cfg(test)]
#[path = "group_commit_tests.rs"]
mod tests;
