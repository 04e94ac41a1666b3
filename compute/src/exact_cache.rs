//! Exact inner results kept for reuse within one scope.
//!
//! A release's inner plan computes exact, contribution-bounded per-key sums; noise is drawn
//! afterwards. Reusing those sums for the same plan in the same scope is safe: every answer
//! still draws fresh noise and is charged in full, so each answer is a separate DP
//! measurement of the same bounded aggregate and the costs compose as usual. It only spares
//! re-reading the data. The cache belongs to the scope (one authorization's view of the
//! catalog), so one unit's queries never warm another's, and a changed grant or catalog
//! builds a new scope with an empty cache. Entries are bounded in bytes, least recently used
//! first out. It is kept in the scope's [`shuyu_planner::scope_state::ScopeState`] ([`of`]).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use arrow::record_batch::RecordBatch;
use datafusion::logical_expr::LogicalPlan;

/// Bytes of exact results one scope keeps by default.
pub const DEFAULT_CAPACITY: usize = 64 << 20;

#[derive(Debug, Default)]
struct Entries {
    map: HashMap<LogicalPlan, Arc<Vec<RecordBatch>>>,
    /// Least recently used first.
    order: VecDeque<LogicalPlan>,
    bytes: usize,
}

/// The cache of exact results of the scope whose catalog is `catalog`.
pub fn of(catalog: &shuyu_planner::ScopeCatalog) -> Arc<ExactCache> {
    catalog.state().get_or_default::<ExactCache>()
}

/// Exact inner results by plan, bounded in bytes.
#[derive(Debug)]
pub struct ExactCache {
    capacity: usize,
    entries: Mutex<Entries>,
}

impl Default for ExactCache {
    fn default() -> Self {
        ExactCache::new(DEFAULT_CAPACITY)
    }
}

fn size(batches: &[RecordBatch]) -> usize {
    batches.iter().map(RecordBatch::get_array_memory_size).sum()
}

impl ExactCache {
    /// A cache of at most `capacity` bytes (0 disables it).
    pub fn new(capacity: usize) -> Self {
        ExactCache { capacity, entries: Mutex::new(Entries::default()) }
    }

    /// The exact result of `plan`, if kept.
    pub fn get(&self, plan: &LogicalPlan) -> Option<Arc<Vec<RecordBatch>>> {
        let mut e = self.entries.lock().ok()?;
        let hit = e.map.get(plan).cloned()?;
        if let Some(i) = e.order.iter().position(|p| p == plan) {
            let p = e.order.remove(i).expect("position is in range");
            e.order.push_back(p);
        }
        Some(hit)
    }

    /// Keeps the exact result of `plan`, evicting the least recently used results to fit.
    /// Results larger than the whole capacity are not kept.
    pub fn put(&self, plan: &LogicalPlan, batches: Arc<Vec<RecordBatch>>) {
        let bytes = size(&batches);
        if bytes > self.capacity {
            return;
        }
        let Ok(mut e) = self.entries.lock() else { return };
        if let Some(old) = e.map.remove(plan) {
            e.bytes -= size(&old);
            e.order.retain(|p| p != plan);
        }
        while e.bytes + bytes > self.capacity {
            let Some(victim) = e.order.pop_front() else { break };
            if let Some(old) = e.map.remove(&victim) {
                e.bytes -= size(&old);
            }
        }
        e.bytes += bytes;
        e.order.push_back(plan.clone());
        e.map.insert(plan.clone(), batches);
    }

    /// Number of results kept.
    pub fn len(&self) -> usize {
        self.entries.lock().map(|e| e.map.len()).unwrap_or(0)
    }

    /// Whether nothing is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Int64Array;
    use datafusion::logical_expr::LogicalPlanBuilder;
    use datafusion::prelude::lit;

    fn plan(v: i64) -> LogicalPlan {
        LogicalPlanBuilder::empty(true).project(vec![lit(v)]).unwrap().build().unwrap()
    }

    fn batch(n: usize) -> Arc<Vec<RecordBatch>> {
        let a = Int64Array::from(vec![7i64; n]);
        Arc::new(vec![RecordBatch::try_from_iter(vec![("x", Arc::new(a) as _)]).unwrap()])
    }

    #[test]
    fn keeps_results_by_plan_and_evicts_the_least_recently_used() {
        let one = size(&batch(1000));
        let cache = ExactCache::new(one * 2);
        cache.put(&plan(1), batch(1000));
        cache.put(&plan(2), batch(1000));
        assert!(cache.get(&plan(1)).is_some(), "plan 1 kept");
        // Plan 2 is now the least recently used: the third result evicts it.
        cache.put(&plan(3), batch(1000));
        assert_eq!(cache.len(), 2);
        assert!(cache.get(&plan(2)).is_none());
        assert!(cache.get(&plan(1)).is_some() && cache.get(&plan(3)).is_some());
        assert!(cache.get(&plan(4)).is_none(), "a plan never run is not answered");
    }

    #[test]
    fn results_larger_than_the_capacity_are_not_kept() {
        let cache = ExactCache::new(size(&batch(10)));
        cache.put(&plan(1), batch(100_000));
        assert!(cache.is_empty());
        let off = ExactCache::new(0);
        off.put(&plan(1), batch(1));
        assert!(off.is_empty());
    }
}
