//! [`Services`]: what every path of a job uses, the governance store and the job limits.
//! The runtime owns them and hands them to the path it dispatches to, so the paths never
//! reach back into the runtime.

use shuyu_governance::Store;

use crate::limits::Limits;

/// The governance store and the job limits, shared by every path.
#[derive(Debug)]
pub struct Services {
    store: Store,
    limits: Limits,
}

impl Services {
    /// Services over `store` with `limits`.
    pub fn new(store: Store, limits: Limits) -> Self {
        Services { store, limits }
    }

    /// The governance store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The job limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }
}
