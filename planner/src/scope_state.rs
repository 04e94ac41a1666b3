//! What an executor keeps per scope (compute's cache of exact results, say): typed slots,
//! one value per type, shared by every clone of a scope's catalog and empty in a new scope
//! (a changed grant or catalog opens a new scope). The planner itself never reads them.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

/// Typed per-scope state.
#[derive(Default)]
pub struct ScopeState {
    slots: Mutex<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>,
}

impl std::fmt::Debug for ScopeState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.slots.lock().unwrap_or_else(PoisonError::into_inner).len();
        f.debug_struct("ScopeState").field("slots", &n).finish()
    }
}

impl ScopeState {
    /// The scope's value of type `T`, created with `T::default()` on first use.
    pub fn get_or_default<T: Any + Send + Sync + Default>(&self) -> Arc<T> {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        let slot = slots.entry(TypeId::of::<T>()).or_insert_with(|| Arc::new(T::default()));
        Arc::clone(slot).downcast::<T>().expect("a slot holds the type it is keyed by")
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::ScopeState;

    #[derive(Default)]
    struct Counter(AtomicU32);

    #[test]
    fn one_value_per_type_shared_by_every_caller() {
        let state = ScopeState::default();
        state.get_or_default::<Counter>().0.fetch_add(1, Ordering::Relaxed);
        state.get_or_default::<Counter>().0.fetch_add(1, Ordering::Relaxed);
        assert_eq!(state.get_or_default::<Counter>().0.load(Ordering::Relaxed), 2, "one value shared by every caller");
        assert!(state.get_or_default::<String>().is_empty(), "another type has its own slot, made by its default");
        // A clone of nothing: another scope's state starts empty.
        assert_eq!(ScopeState::default().get_or_default::<Counter>().0.load(Ordering::Relaxed), 0);
    }
}
