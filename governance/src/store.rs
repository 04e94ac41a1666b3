//! The store handle: one SQLite file in WAL mode, or one PostgreSQL database shared by
//! several front ends ([`Backend`]); a small connection pool; and the rules every transaction
//! follows.
//!
//! Concurrency model:
//! - Every write runs inside a `BEGIN IMMEDIATE` transaction: it takes SQLite's write lock
//!   before it reads anything, so a check (`spent + reserved + amount <= total`) and the write
//!   that depends on it see the same state, across threads and processes alike.
//! - Inside one handle the writers take turns on one write lane ([`crate::group_commit`]):
//!   they wait on a condition rather than on SQLite's sleeping busy handler, and concurrent
//!   writers share one transaction and one fsync (group commit), each in its own savepoint;
//!   each returns only once that transaction is committed. Separate handles and separate
//!   processes contend on the file lock, bounded by the busy timeout.
//! - Reads run in deferred transactions on pooled connections, concurrently with writers
//!   (WAL readers see the last committed state).
//! - `synchronous = FULL`: a committed charge or audit record survives a crash of the process
//!   and of the machine.
//! - On PostgreSQL the same rules hold across front ends: a write takes one advisory lock
//!   before it reads ([`crate::sql::pg`]), reads are `REPEATABLE READ` snapshots, and a live
//!   handle holds a session lock naming its holder ([`crate::holders`]).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use ed25519_dalek::SigningKey;
use rusqlite::{Connection, OpenFlags};

use crate::clock::{Clock, SystemClock};
use crate::error::{GovernanceError, Result};
use crate::group_commit::{WriteLane, WriteStats};
use crate::holders::HolderLock;
use crate::sql::pg::PgConn;
use crate::sql::{Conn, Tx};
use crate::keys;
use crate::layout::Layout;
use crate::migrations;

/// Writes per group commit by default: enough for every query in flight on a front end
/// (32 concurrent clients, each with a few writes per query) to share one fsync.
pub const DEFAULT_MAX_BATCH: usize = 64;

/// Where the store's tables live.
#[derive(Clone, Default, PartialEq, Eq)]
pub enum Backend {
    /// One SQLite file in the data directory (`governance.db`): one host.
    #[default]
    Sqlite,
    /// One PostgreSQL database shared by several front ends. Neither the URL nor the
    /// password is ever logged or displayed.
    Postgres {
        /// The connection URL: `postgres://user@host/db` or `host=… dbname=… user=…`.
        url: String,
        /// The password, if the server asks for one (kept out of the URL).
        password: Option<String>,
    },
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Backend::Sqlite => f.write_str("Sqlite"),
            Backend::Postgres { .. } => f.write_str("Postgres { url: <hidden>, password: <hidden> }"),
        }
    }
}

/// How to open a store.
#[derive(Clone)]
pub struct StoreOptions {
    /// Where the current time comes from (inject a [`crate::ManualClock`] in tests).
    pub clock: Arc<dyn Clock>,
    /// Where the tables live (default: SQLite in the data directory).
    pub backend: Backend,
    /// How long a writer waits for another process's write lock before failing (SQLite).
    pub busy_timeout: Duration,
    /// How many idle connections the handle keeps open.
    pub max_idle_connections: usize,
    /// At most this many concurrent writes share one transaction and one fsync (group
    /// commit); 1 commits every write on its own.
    pub max_batch: usize,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            clock: Arc::new(SystemClock),
            backend: Backend::Sqlite,
            busy_timeout: Duration::from_secs(60),
            max_idle_connections: 8,
            max_batch: DEFAULT_MAX_BATCH,
        }
    }
}

impl std::fmt::Debug for StoreOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreOptions")
            .field("backend", &self.backend)
            .field("busy_timeout", &self.busy_timeout)
            .field("max_idle_connections", &self.max_idle_connections)
            .field("max_batch", &self.max_batch)
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
    holder_lock: Option<HolderLock>,
    pool: Mutex<Vec<Conn>>,
    lane: WriteLane,
    options: StoreOptions,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(lock) = self.holder_lock.take() {
            lock.release(&self.layout, &self.holder);
        }
    }
}

/// A pooled connection, returned to the pool on drop.
pub(crate) struct PooledConnection<'a> {
    inner: &'a Inner,
    conn: Option<Conn>,
}

impl std::ops::Deref for PooledConnection<'_> {
    type Target = Conn;
    fn deref(&self) -> &Conn {
        self.conn.as_ref().expect("connection present until drop")
    }
}

impl std::ops::DerefMut for PooledConnection<'_> {
    fn deref_mut(&mut self) -> &mut Conn {
        self.conn.as_mut().expect("connection present until drop")
    }
}

impl Drop for PooledConnection<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take().filter(|c| !c.is_broken()) {
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
        let holder_lock = HolderLock::take(&layout, &holder, &options.backend)?;

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
                holder_lock: Some(holder_lock),
                pool: Mutex::new(Vec::new()),
                lane: WriteLane::new(options.max_batch),
                options,
            }),
        };
        {
            let mut conn = store.connection()?;
            match &mut *conn {
                Conn::Sqlite(c) => {
                    set_wal(c)?;
                    migrations::migrate(c, store.now())?;
                }
                Conn::Postgres(c) => crate::migrations_pg::migrate(c, store.now())?,
            }
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

    /// The database file (SQLite; with PostgreSQL the tables live on the server).
    pub fn database_path(&self) -> PathBuf {
        self.inner.layout.database()
    }

    /// Where the tables live.
    pub fn backend(&self) -> &Backend {
        &self.inner.options.backend
    }

    /// What this handle's write lane has done: writes, and the transactions (fsyncs) they
    /// were committed in.
    pub fn write_stats(&self) -> WriteStats {
        self.inner.lane.stats()
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
            None => self.open_conn()?,
        };
        Ok(PooledConnection {
            inner: &self.inner,
            conn: Some(conn),
        })
    }

    /// Opens a new connection to the store.
    pub(crate) fn open_conn(&self) -> Result<Conn> {
        match &self.inner.options.backend {
            Backend::Sqlite => Ok(Conn::Sqlite(open_connection(&self.inner.layout.database(), self.inner.options.busy_timeout)?)),
            Backend::Postgres { url, password } => Ok(Conn::Postgres(Box::new(PgConn::connect(url, password.as_deref())?))),
        }
    }

    /// Runs `f` as one write: inside a `BEGIN IMMEDIATE` transaction, in a savepoint of its
    /// own. Its statements are kept if it returns `Ok`, rolled back if not (nothing written);
    /// returns once the transaction holding them is committed (group commit), so an `Ok` is
    /// durable.
    pub(crate) fn write<T>(&self, f: impl FnOnce(&Tx<'_>) -> Result<T>) -> Result<T> {
        self.inner.lane.write(|| self.open_conn(), f)
    }

    /// Runs `f` in one read transaction (a consistent snapshot).
    pub(crate) fn read<T>(&self, f: impl FnOnce(&Tx<'_>) -> Result<T>) -> Result<T> {
        let mut conn = self.connection()?;
        conn.begin_read()?;
        let out = f(&conn.tx());
        let end = conn.batch(if out.is_ok() { "COMMIT" } else { "ROLLBACK" });
        let out = out?;
        end?;
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
        let store = Store::open(dir.path()).unwrap();
        let mut conn = store.connection().unwrap();
        let mode: String = conn.tx().query_row("PRAGMA journal_mode", (), |r| r.get(0)).unwrap();
        assert_eq!(mode, "wal");
    }
}
