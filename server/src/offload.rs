//! Governance store calls on tokio's blocking pool (`shuyu_runtime::offload`), answering
//! with this crate's error, for the admin, imports and authentication edges.

use shuyu_governance::{GovernanceError, Store};

use crate::Error;

/// Runs `f` with a handle of `store` on the blocking pool.
pub async fn store_call<T, F>(store: &Store, f: F) -> Result<T, Error>
where
    T: Send + 'static,
    F: FnOnce(&Store) -> Result<T, GovernanceError> + Send + 'static,
{
    Ok(shuyu_runtime::offload::store_call(store, f).await?)
}
