//! Which store handles are alive: each live handle holds a lock naming its holder, and a
//! holder whose lock can be taken is dead ([`crate::recovery`] then settles its open
//! reservations as spent).
//!
//! - SQLite: an exclusive file lock on `run/<holder>.lock` in the data directory, locked under
//!   a temporary name and then renamed, so the file is never visible unlocked.
//! - PostgreSQL: a session-scoped advisory lock keyed by the holder, held by a connection the
//!   handle keeps open; the server releases it when the session ends, however the front end
//!   died.

use std::fs::{File, TryLockError};
use std::sync::Mutex;

use sha2::{Digest, Sha256};

use crate::error::{GovernanceError, Result};
use crate::layout::Layout;
use crate::sql::pg::PgConn;
use crate::store::Backend;

/// The lock a live handle holds for as long as it lives.
pub(crate) enum HolderLock {
    /// The locked `run/<holder>.lock`.
    File(File),
    /// The session holding the advisory lock.
    Session(Mutex<Box<PgConn>>),
}

/// The advisory-lock key of a holder (the one-key form; writes use the two-key form).
fn key(holder: &str) -> i64 {
    let digest = Sha256::digest(holder.as_bytes());
    i64::from_be_bytes(digest[..8].try_into().expect("8 bytes"))
}

impl HolderLock {
    /// Takes the lock of a new holder.
    pub(crate) fn take(layout: &Layout, holder: &str, backend: &Backend) -> Result<HolderLock> {
        match backend {
            Backend::Sqlite => {
                let path = layout.holder_lock(holder);
                let tmp = path.with_extension("lock.tmp");
                let lock = File::create(&tmp).map_err(|e| GovernanceError::io(&tmp, e))?;
                lock.lock().map_err(|e| GovernanceError::io(&tmp, e))?;
                std::fs::rename(&tmp, &path).map_err(|e| GovernanceError::io(&path, e))?;
                Ok(HolderLock::File(lock))
            }
            Backend::Postgres { url, password } => {
                let mut session = PgConn::connect(url, password.as_deref())?;
                if !session.try_lock(key(holder))? {
                    return Err(GovernanceError::Internal("a fresh holder's lock is taken (key collision); open the store again".into()));
                }
                Ok(HolderLock::Session(Mutex::new(Box::new(session))))
            }
        }
    }

    /// Releases the lock when the handle closes.
    pub(crate) fn release(self, layout: &Layout, holder: &str) {
        match self {
            HolderLock::File(file) => {
                // Closing the file releases the lock; the file itself is only a name.
                drop(file);
                let _ = std::fs::remove_file(layout.holder_lock(holder));
            }
            // Ending the session releases the lock.
            HolderLock::Session(session) => drop(session),
        }
    }
}

/// A dead holder's lock, held while its reservations are settled so that two recoveries do
/// not race on them.
pub(crate) enum Claim {
    /// The file lock (or nothing: the holder left no file).
    File(Option<File>),
    /// The session holding the dead holder's advisory lock.
    Session(Box<PgConn>, i64),
}

impl Drop for Claim {
    fn drop(&mut self) {
        if let Claim::Session(session, key) = self {
            let _ = session.unlock(*key);
        }
    }
}

/// Claims `holder` if it is dead; `None` if it is alive.
pub(crate) fn claim_dead(layout: &Layout, holder: &str, backend: &Backend) -> Result<Option<Claim>> {
    match backend {
        Backend::Sqlite => {
            let path = layout.holder_lock(holder);
            match File::open(&path) {
                Ok(f) => match f.try_lock() {
                    Ok(()) => Ok(Some(Claim::File(Some(f)))),
                    Err(TryLockError::WouldBlock) => Ok(None),
                    Err(TryLockError::Error(e)) => Err(GovernanceError::io(&path, e)),
                },
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Some(Claim::File(None))),
                Err(e) => Err(GovernanceError::io(&path, e)),
            }
        }
        Backend::Postgres { url, password } => {
            let mut session = PgConn::connect(url, password.as_deref())?;
            let k = key(holder);
            Ok(session.try_lock(k)?.then(|| Claim::Session(Box::new(session), k)))
        }
    }
}
