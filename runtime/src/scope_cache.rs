//! Opened planner scopes, one per authorization, so that a query does not re-read the
//! Parquet footers of its tables.
//!
//! The cache is never the authority: every use first asks the store for the
//! authorization's scope (which checks the caller, the tenant, the authorization's status
//! and term and the unit's status), so a suspension or revocation takes effect on the next
//! call. A failed check evicts the entry; a changed grant (tables, columns, location,
//! privacy terms) reopens it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use shuyu_governance::{AuthorizationId, Scope as GrantedScope};
use shuyu_planner::{GrantedTable, QueryBudget, Scope};
use shuyu_privacy::PrivacyDefinition;

use crate::RuntimeError;

/// One authorization's opened scope.
#[derive(Debug)]
pub struct CachedScope {
    /// What the grant looked like when the scope was opened.
    fingerprint: String,
    /// The planner scope: only the granted tables and columns exist in it.
    pub scope: Scope,
    /// The default budget of one query (the authorization's definition and default amount).
    pub budget: QueryBudget,
    /// Names of the granted tables.
    pub tables: Vec<String>,
}

/// Opened scopes by authorization.
#[derive(Debug, Default)]
pub struct ScopeCache {
    entries: Mutex<HashMap<AuthorizationId, Arc<CachedScope>>>,
}

impl ScopeCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// The opened scope of `granted` (just checked by the store), from the cache when the
    /// grant has not changed.
    pub async fn get(&self, granted: &GrantedScope) -> Result<Arc<CachedScope>, RuntimeError> {
        let id = granted.authorization.id;
        let fingerprint = fingerprint(granted);
        if let Some(hit) = self.lock()?.get(&id).filter(|c| c.fingerprint == fingerprint) {
            return Ok(hit.clone());
        }
        let grants: Vec<GrantedTable> =
            granted.tables.iter().map(|t| GrantedTable::new(t.manifest.clone(), None, &t.location)).collect();
        let scope = Scope::open(&grants).await?;
        let a = &granted.authorization;
        let default = a.per_query_default.as_f64();
        let budget = match a.privacy.kind {
            PrivacyDefinition::PureDp => QueryBudget::pure(default),
            PrivacyDefinition::Zcdp => QueryBudget::zcdp(default, a.privacy.delta),
        };
        let tables = granted.tables.iter().map(|t| t.manifest.name.clone()).collect();
        let entry = Arc::new(CachedScope { fingerprint, scope, budget, tables });
        self.lock()?.insert(id, entry.clone());
        Ok(entry)
    }

    /// Drops the scope of an authorization (its check failed).
    pub fn evict(&self, id: AuthorizationId) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(&id);
        }
    }

    /// Whether a scope is held for `id` (tests).
    pub fn contains(&self, id: AuthorizationId) -> bool {
        self.entries.lock().map(|e| e.contains_key(&id)).unwrap_or(false)
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, HashMap<AuthorizationId, Arc<CachedScope>>>, RuntimeError> {
        self.entries.lock().map_err(|_| RuntimeError::Internal("scope cache poisoned".into()))
    }
}

/// Everything of a grant that shapes the opened scope or its default budget.
fn fingerprint(s: &GrantedScope) -> String {
    let a = &s.authorization;
    let mut f = format!("{}|{}|{}|{}", a.privacy.kind.as_str(), a.privacy.delta, a.per_query_default.nanos(), s.tables.len());
    for t in &s.tables {
        f.push_str(&format!("|{}:{}:{}", t.manifest.name, t.location, t.granted_columns.join(",")));
    }
    f
}
