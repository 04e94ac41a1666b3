//! The store handle: one SQLite file in WAL mode, a small connection pool, and the rules
//! every transaction follows.
//!
//! Concurrency model:
//! - Every write is one `BEGIN IMMEDIATE` transaction: it takes SQLite's write lock before it
//!   reads anything, so a check (`spent + reserved + amount <= total`) and the write that
//!   depends on it see the same state, across threads and processes alike.
//! - Inside one handle a write gate (a mutex) queues the handle's own writers, so they wait
//!   on a condition rather than on SQLite's sleeping busy handler. Separate handles and
//!   separate processes contend on the file lock, bounded by the busy timeout.
//! - Reads run in deferred transactions on pooled connections, concurrently with writers
//!   (WAL readers see the last committed state).
//! - `synchronous = FULL`: a committed charge or audit record survives a crash of the process
//!   and of the machine.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use ed25519_dalek::SigningKey;
use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};

use crate::clock::{Clock, SystemClock};
use crate::error::{GovernanceError, Result};
use crate::keys;
use crate::layout::Layout;
use crate::migrations;

/// How to open a store.
#[derive(Clone)]
pub struct StoreOptions {
    /// Where the current time comes from (inject a [`crate::ManualClock`] in tests).
    pub clock: Arc<dyn Clock>,
    /// How long a writer waits for another process's write lock before failing.
    pub busy_timeout: Duration,
    /// How many idle connections the handle keeps open.
    pub max_idle_connections: usize,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            clock: Arc::new(SystemClock),
            busy_timeout: Duration::from_secs(60),
            max_idle_connections: 8,
        }
    }
}

impl std::fmt::Debug for StoreOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreOptions")
            .field("busy_timeout", &self.busy_timeout)
            .field("max_idle_connections", &self.max_idle_connections)
            .finish_non_exhaustive()
    }
}

/// A handle on the governance store of one data directory. Cheap to clone, `Send + Sync`.
#[derive(Clone)]
pub struct Store {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("data_dir", &self.inner.layout.root())
            .field("holder", &self.inner.holder)
            .finish_non_exhaustive()
    }
}

pub(crate) struct Inner {
    pub(crate) layout: Layout,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) signing_key: SigningKey,
    pub(crate) pepper: [u8; 32],
    /// This handle's identity in the ledger's `holder` column.
    pub(crate) holder: String,
    /// Kept locked while the handle lives: tells other handles this holder is alive.
    holder_lock: Option<File>,
    pool: Mutex<Vec<Connection>>,
    write_gate: Mutex<()>,
    options: StoreOptions,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Closing the file releases the lock; the file itself is only a name.
        self.holder_lock = None;
        let _ = std::fs::remove_file(self.layout.holder_lock(&self.holder));
    }
}

/// A pooled connection, returned to the pool on drop.
pub(crate) struct PooledConnection<'a> {
    inner: &'a Inner,
    conn: Option<Connection>,
}

impl std::ops::Deref for PooledConnection<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.conn.as_ref().expect("connection present until drop")
    }
}

impl std::ops::DerefMut for PooledConnection<'_> {
    fn deref_mut(&mut self) -> &mut Connection {
        self.conn.as_mut().expect("connection present until drop")
    }
}

impl Drop for PooledConnection<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            let mut pool = self
                .inner
                .pool
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if pool.len() < self.inner.options.max_idle_connections {
                pool.push(conn);
            }
        }
    }
}

impl Store {
    /// Opens (creating on first use) the store in `data_dir` with the system clock.
    ///
    /// Opening migrates the schema, creates the domain key, settles reservations left open
    /// by crashed handles (they count as spent), finishes interrupted revocations, and
    /// suspends units whose evaluation's rectification deadline passed
    /// ([`Store::enforce_deadlines`]).
    pub fn open(data_dir: impl AsRef<Path>) -> Result<Store> {
        Store::open_with(data_dir, StoreOptions::default())
    }

    /// Opens the store with explicit options (an injected clock, timeouts).
    pub fn open_with(data_dir: impl AsRef<Path>, options: StoreOptions) -> Result<Store> {
        let layout = Layout::new(data_dir.as_ref());
        layout.create()?;

        let holder = hex::encode(keys::random_bytes::<12>());
        let lock_path = layout.holder_lock(&holder);
        // Locked under a temporary name, then renamed: the lock file is never visible unlocked,
        // so no other handle can take a live holder for a dead one.
        let tmp_path = lock_path.with_extension("lock.tmp");
        let lock = File::create(&tmp_path).map_err(|e| GovernanceError::io(&tmp_path, e))?;
        lock.lock().map_err(|e| GovernanceError::io(&tmp_path, e))?;
        std::fs::rename(&tmp_path, &lock_path).map_err(|e| GovernanceError::io(&lock_path, e))?;

        let signing_key = SigningKey::from_bytes(&keys::load_or_create_secret(
            &layout.domain_dir().join("signing.key"),
        )?);
        let public = layout.domain_dir().join("signing.pub");
        if !public.exists() {
            // Written whole under a private name, then renamed into place.
            let tmp = public.with_extension(format!("pub.tmp-{holder}"));
            let text = hex::encode(signing_key.verifying_key().to_bytes());
            std::fs::write(&tmp, text).map_err(|e| GovernanceError::io(&tmp, e))?;
            std::fs::rename(&tmp, &public).map_err(|e| GovernanceError::io(&public, e))?;
        }
        let pepper = keys::load_or_create_secret(&layout.domain_dir().join("id_pepper"))?;

        let store = Store {
            inner: Arc::new(Inner {
                layout,
                clock: options.clock.clone(),
                signing_key,
                pepper,
                holder,
                holder_lock: Some(lock),
                pool: Mutex::new(Vec::new()),
                write_gate: Mutex::new(()),
                options,
            }),
        };
        {
            let conn = store.connection()?;
            set_wal(&conn)?;
        }
        {
            let mut conn = store.connection()?;
            migrations::migrate(&mut conn, store.now())?;
        }
        store.recover_abandoned()?;
        store.finish_revocations()?;
        store.enforce_deadlines()?;
        Ok(store)
    }

    /// The data directory of this store.
    pub fn data_dir(&self) -> &Path {
        self.inner.layout.root()
    }

    /// The database file.
    pub fn database_path(&self) -> PathBuf {
        self.inner.layout.database()
    }

    /// The current time of the store's clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.inner.clock.now()
    }

    /// Takes a connection from the pool, opening one if none is idle.
    pub(crate) fn connection(&self) -> Result<PooledConnection<'_>> {
        let idle = self
            .inner
            .pool
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let conn = match idle {
            Some(c) => c,
            None => open_connection(
                &self.inner.layout.database(),
                self.inner.options.busy_timeout,
            )?,
        };
        Ok(PooledConnection {
            inner: &self.inner,
            conn: Some(conn),
        })
    }

    /// Runs `f` in one `BEGIN IMMEDIATE` transaction; commits if it returns `Ok`, else rolls
    /// back (nothing written).
    pub(crate) fn write<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        let _gate = self
            .inner
            .write_gate
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut conn = self.connection()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }

    /// Runs `f` in one read transaction (a consistent snapshot).
    pub(crate) fn read<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        let mut conn = self.connection()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }
}

fn open_connection(path: &Path, busy: Duration) -> Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(busy)?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(conn)
}

/// Switches the file to WAL (persistent). Several processes may race to do it on a fresh
/// file; the loser can get `SQLITE_BUSY` without the busy handler, so it retries.
fn set_wal(conn: &Connection) -> Result<()> {
    let mut last = None;
    for attempt in 0..200u64 {
        match conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0)) {
            Ok(mode) if mode.eq_ignore_ascii_case("wal") => return Ok(()),
            Ok(mode) => {
                return Err(GovernanceError::Internal(format!(
                    "the store could not switch to WAL (journal mode is {mode})"
                )))
            }
            Err(e) if is_busy(&e) => {
                last = Some(e);
                std::thread::sleep(Duration::from_millis(5 + attempt.min(20)));
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(last
        .map(GovernanceError::Store)
        .unwrap_or_else(|| GovernanceError::Internal("WAL switch failed".into())))
}

pub(crate) fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy) | Some(rusqlite::ErrorCode::DatabaseLocked)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_is_send_and_sync() {
        fn check<T: Send + Sync + Clone>() {}
        check::<Store>();
    }

    #[test]
    fn opening_twice_keeps_the_same_domain_key() {
        let dir = tempfile::tempdir().unwrap();
        let a = Store::open(dir.path()).unwrap().domain_public_key();
        let b = Store::open(dir.path()).unwrap().domain_public_key();
        assert_eq!(a, b);
        let mode: String = Store::open(dir.path())
            .unwrap()
            .connection()
            .unwrap()
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
    }
}
