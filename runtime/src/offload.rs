//! Governance store calls (SQLite, blocking, possibly waiting on the write lock) run on
//! tokio's blocking pool, so a busy store never stalls the threads serving gRPC.

use shuyu_governance::{GovernanceError, Store};

use crate::RuntimeError;

/// Runs `f` with a handle of `store` on the blocking pool.
pub async fn store_call<T, F>(store: &Store, f: F) -> Result<T, RuntimeError>
where
    T: Send + 'static,
    F: FnOnce(&Store) -> Result<T, GovernanceError> + Send + 'static,
{
    let store = store.clone();
    tokio::task::spawn_blocking(move || f(&store))
        .await
        .map_err(|e| RuntimeError::Internal(format!("a store task did not complete: {e}")))?
        .map_err(RuntimeError::from)
}
