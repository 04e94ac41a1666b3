//! [`Services`]: what every path of a job uses, the governance store, the job limits and
//! the engine inner plans run on.
//! The runtime owns them and hands them to the path it dispatches to, so the paths never
//! reach back into the runtime.

use shuyu_compute::InnerEngine;
use shuyu_governance::Store;

use crate::limits::Limits;

/// The governance store, the job limits and the inner engine, shared by every path.
#[derive(Debug)]
pub struct Services {
    store: Store,
    limits: Limits,
    engine: InnerEngine,
}

impl Services {
    /// Services over `store` with `limits`.
    pub fn new(store: Store, limits: Limits) -> Self {
        Services { store, limits, engine: InnerEngine::Local }
    }

    /// Where releases' inner plans run (the local engine unless configured).
    pub fn engine(&self) -> &InnerEngine {
        &self.engine
    }

    /// Runs releases' inner plans on `engine`.
    pub fn set_engine(&mut self, engine: InnerEngine) {
        self.engine = engine;
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
