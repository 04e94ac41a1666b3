//! Server-side state behind opaque handles: results waiting for their DoGet, and prepared
//! statements. A ticket or prepared-statement handle carries only a random name; what it
//! names (the SQL, the noised result, the authorization) stays here, bound to the person
//! who created it. Another person presenting the handle finds nothing. Entries expire.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use shuyu_governance::{AuthorizationId, PersonId};

use crate::Error;

/// How long a result waits for its DoGet.
const RESULT_TTL: Duration = Duration::from_secs(10 * 60);
/// How long a prepared statement lives after its last use.
const PREPARED_TTL: Duration = Duration::from_secs(60 * 60);
/// Most results held at once (all callers).
const MAX_RESULTS: usize = 4096;
/// Most prepared statements held at once (all callers).
const MAX_PREPARED: usize = 4096;

/// A noised result waiting to be fetched (once).
#[derive(Debug, Clone)]
pub struct HeldResult {
    /// Schema with the service's metadata.
    pub schema: SchemaRef,
    /// The batches.
    pub batches: Vec<RecordBatch>,
}

/// A prepared statement.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The authorization it was prepared under.
    pub authorization: AuthorizationId,
    /// The SQL.
    pub sql: String,
}

#[derive(Debug)]
struct Entry<T> {
    owner: PersonId,
    value: T,
    expires: Instant,
}

/// Results and prepared statements by handle.
#[derive(Debug, Default)]
pub struct Handles {
    results: Mutex<HashMap<String, Entry<HeldResult>>>,
    prepared: Mutex<HashMap<String, Entry<Prepared>>>,
}

impl Handles {
    /// Empty tables.
    pub fn new() -> Self {
        Self::default()
    }

    /// Holds a result for `owner`; returns its handle.
    pub fn hold_result(&self, owner: PersonId, result: HeldResult) -> Result<String, Error> {
        insert(&self.results, "r", owner, result, RESULT_TTL, MAX_RESULTS)
    }

    /// Takes (removes) a held result; `None` if unknown, expired or someone else's.
    pub fn take_result(&self, owner: PersonId, handle: &str) -> Result<Option<HeldResult>, Error> {
        let mut map = lock(&self.results)?;
        match map.get(handle) {
            Some(e) if e.owner == owner && e.expires > Instant::now() => Ok(map.remove(handle).map(|e| e.value)),
            _ => Ok(None),
        }
    }

    /// Holds a prepared statement for `owner`; returns its handle.
    pub fn prepare(&self, owner: PersonId, prepared: Prepared) -> Result<String, Error> {
        insert(&self.prepared, "p", owner, prepared, PREPARED_TTL, MAX_PREPARED)
    }

    /// A prepared statement of `owner` (renewing its lifetime).
    pub fn prepared(&self, owner: PersonId, handle: &str) -> Result<Option<Prepared>, Error> {
        let mut map = lock(&self.prepared)?;
        let now = Instant::now();
        match map.get_mut(handle) {
            Some(e) if e.owner == owner && e.expires > now => {
                e.expires = now + PREPARED_TTL;
                Ok(Some(e.value.clone()))
            }
            _ => Ok(None),
        }
    }

    /// Closes a prepared statement of `owner`; whether it existed.
    pub fn close(&self, owner: PersonId, handle: &str) -> Result<bool, Error> {
        let mut map = lock(&self.prepared)?;
        match map.get(handle) {
            Some(e) if e.owner == owner => Ok(map.remove(handle).is_some()),
            _ => Ok(false),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> Result<std::sync::MutexGuard<'_, T>, Error> {
    m.lock().map_err(|_| Error::Internal("handle table poisoned".into()))
}

fn insert<T>(table: &Mutex<HashMap<String, Entry<T>>>, kind: &str, owner: PersonId, value: T, ttl: Duration, max: usize) -> Result<String, Error> {
    let mut map = lock(table)?;
    let now = Instant::now();
    map.retain(|_, e| e.expires > now);
    if map.len() >= max {
        return Err(Error::Busy("the server holds too many unfetched results or prepared statements; fetch or close yours and retry".into()));
    }
    let handle = format!("{kind}-{:032x}", rand::random::<u128>());
    map.insert(handle.clone(), Entry { owner, value, expires: now + ttl });
    Ok(handle)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::datatypes::Schema;

    use super::*;

    #[test]
    fn a_result_is_fetched_once_and_only_by_its_owner() {
        let h = Handles::new();
        let (alice, bob) = (PersonId(1), PersonId(2));
        let handle = h.hold_result(alice, HeldResult { schema: Arc::new(Schema::empty()), batches: vec![] }).expect("held");
        assert!(h.take_result(bob, &handle).expect("lookup").is_none());
        assert!(h.take_result(alice, &handle).expect("lookup").is_some());
        assert!(h.take_result(alice, &handle).expect("lookup").is_none(), "fetched once");
    }

    #[test]
    fn prepared_statements_are_private_and_closable() {
        let h = Handles::new();
        let (alice, bob) = (PersonId(1), PersonId(2));
        let handle = h.prepare(alice, Prepared { authorization: AuthorizationId(3), sql: "SELECT 1".into() }).expect("prepared");
        assert!(h.prepared(bob, &handle).expect("lookup").is_none());
        assert!(!h.close(bob, &handle).expect("close"));
        assert_eq!(h.prepared(alice, &handle).expect("lookup").map(|p| p.authorization), Some(AuthorizationId(3)));
        assert!(h.close(alice, &handle).expect("close"));
        assert!(h.prepared(alice, &handle).expect("lookup").is_none());
    }
}
