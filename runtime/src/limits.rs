//! Resource limits of jobs: a concurrency cap per operating unit, and a job-private
//! DataFusion memory pool over a shared (cached) scope.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use datafusion::execution::memory_pool::GreedyMemoryPool;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::SessionStateBuilder;
use datafusion::prelude::SessionContext;
use shuyu_governance::UnitId;
use shuyu_planner::Scope;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use serde::Deserialize;

use crate::RuntimeError;

/// Resource limits of one job (one query).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// DataFusion memory pool of one job, in MiB; a query that needs more is refused.
    pub memory_per_job_mb: u64,
    /// Wall-clock limit of one job, in seconds.
    pub query_timeout_secs: u64,
    /// Jobs one operating unit may run at the same time.
    pub max_jobs_per_unit: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { memory_per_job_mb: 1024, query_timeout_secs: 120, max_jobs_per_unit: 4 }
    }
}

impl Limits {
    /// The memory pool size in bytes.
    pub fn memory_bytes(&self) -> usize {
        usize::try_from(self.memory_per_job_mb.saturating_mul(1 << 20)).unwrap_or(usize::MAX)
    }

    /// The per-job time limit.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.query_timeout_secs)
    }
}

/// Which environments a server serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Served {
    /// Production (the real data, privately) and dev (the masked samples).
    #[default]
    Prod,
    /// Dev only: the server opens the masked samples and never a raw dataset; production
    /// requests are refused.
    Dev,
}

impl std::str::FromStr for Served {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s.trim() {
            "prod" => Ok(Served::Prod),
            "dev" => Ok(Served::Dev),
            _ => Err(()),
        }
    }
}


/// At most `per_unit` running jobs for each operating unit.
#[derive(Debug)]
pub struct UnitSlots {
    per_unit: u32,
    units: Mutex<HashMap<UnitId, Arc<Semaphore>>>,
}

/// A running job's slot; dropping it frees the slot.
#[derive(Debug)]
pub struct Slot {
    _permit: OwnedSemaphorePermit,
}

impl UnitSlots {
    /// Slots for `per_unit` concurrent jobs per unit.
    pub fn new(per_unit: u32) -> Self {
        UnitSlots { per_unit: per_unit.max(1), units: Mutex::new(HashMap::new()) }
    }

    /// Takes a slot for `unit` at once, or refuses if the unit already runs its maximum.
    pub fn try_acquire(&self, unit: UnitId) -> Result<Slot, RuntimeError> {
        let sem = {
            let mut units = self.units.lock().map_err(|_| RuntimeError::Internal("unit slot table poisoned".into()))?;
            units.entry(unit).or_insert_with(|| Arc::new(Semaphore::new(self.per_unit as usize))).clone()
        };
        sem.try_acquire_owned().map(|p| Slot { _permit: p }).map_err(|_| {
            RuntimeError::Busy(format!(
                "{unit} already runs {} queries, the most one unit may run at once; wait for one to finish and retry",
                self.per_unit
            ))
        })
    }
}

/// The same scope (same registered tables, caches and configuration) in a context whose
/// memory pool holds at most `bytes`: a query that needs more fails with
/// "resources exhausted" instead of taking the server's memory.
pub fn with_memory_limit(scope: &Scope, bytes: usize) -> Result<Scope, RuntimeError> {
    let base = scope.context().state();
    let runtime = RuntimeEnvBuilder::from_runtime_env(base.runtime_env())
        .with_memory_pool(Arc::new(GreedyMemoryPool::new(bytes)))
        .build_arc()
        .map_err(|e| RuntimeError::Internal(format!("job runtime: {}", e.strip_backtrace())))?;
    let state = SessionStateBuilder::new_from_existing(base).with_runtime_env(runtime).build();
    Ok(scope.with_context(SessionContext::new_with_state(state)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_unit_gets_its_slots_and_no_more_while_others_are_unaffected() {
        let slots = UnitSlots::new(2);
        let a = UnitId(1);
        let first = slots.try_acquire(a).expect("first slot");
        let _second = slots.try_acquire(a).expect("second slot");
        assert!(matches!(slots.try_acquire(a), Err(RuntimeError::Busy(_))));
        assert!(slots.try_acquire(UnitId(2)).is_ok(), "another unit has its own slots");
        drop(first);
        assert!(slots.try_acquire(a).is_ok(), "a freed slot can be taken again");
    }

    #[test]
    fn a_job_scope_has_its_own_bounded_pool_and_the_same_tables() {
        use datafusion::execution::memory_pool::MemoryLimit;
        let ctx = SessionContext::new();
        ctx.register_batch("t", arrow::record_batch::RecordBatch::new_empty(std::sync::Arc::new(arrow::datatypes::Schema::empty())))
            .expect("register");
        let shared = Scope::from_context(ctx, shuyu_planner::ScopeCatalog::default());
        let job = with_memory_limit(&shared, 1 << 20).expect("job scope");
        assert!(matches!(job.context().runtime_env().memory_pool.memory_limit(), MemoryLimit::Finite(n) if n == 1 << 20));
        assert!(matches!(shared.context().runtime_env().memory_pool.memory_limit(), MemoryLimit::Infinite));
        assert!(job.context().table_exist("t").expect("lookup"), "the job sees the scope's tables");
    }
}
