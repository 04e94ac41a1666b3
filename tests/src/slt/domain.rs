//! What the suite's sessions hold: a generated city, the library's planner scopes over it,
//! and for the governed paths a demo domain over the same city whose health unit holds one
//! authorization per scope, with budgets no file exhausts and results released at once.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use chrono::Duration;
use shuyu_datasets::{demo_manifest, generate::GenerateOptions};
use shuyu_governance::{
    AuthorizationId, BudgetTerms, ExportPolicy, GrantedDataset, Mode, NewAuthorization, PrivacyTerms, Right,
};
use shuyu_planner::{GrantedTable, Scope};
use shuyu_privacy::PrivacyDefinition;

use crate::fixture::TestServer;

/// Residents of the suite's city (the expectations of the `.slt` files are of this city).
pub const RESIDENTS: u64 = 3_000;
/// The seed of its generation.
pub const SEED: u64 = 7;

static CITY: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();

/// The suite's city (generated once per test binary).
pub fn city() -> &'static Path {
    &CITY
        .get_or_init(|| {
            let tmp = tempfile::tempdir().expect("temp dir");
            let out = tmp.path().join("city");
            shuyu_datasets::generate::generate(&GenerateOptions::new(RESIDENTS, &out, SEED)).expect("generate the suite's city");
            (tmp, out)
        })
        .1
}

/// The tables and columns of a scope: `(table, None)` grants every column.
fn tables(scope: &str) -> Result<Vec<(&'static str, Option<&'static [&'static str]>)>, String> {
    Ok(match scope {
        "health" => vec![
            ("residents", Some(&["person_id", "district", "gender", "age", "income", "employed"][..])),
            ("medical_visits", None),
            ("districts", None),
        ],
        "jobs" => vec![("residents", Some(&["person_id", "district", "age", "employed"][..])), ("enterprises", None), ("districts", None)],
        "full" | "zcdp" => vec![("residents", None), ("medical_visits", None), ("enterprises", None), ("districts", None)],
        other => return Err(format!("unknown scope `{other}`")),
    })
}

/// The planner scope of `scope` over the suite's city, for the library path.
pub async fn scope(scope: &str) -> Result<Scope, String> {
    let granted: Vec<GrantedTable> = tables(scope)?
        .into_iter()
        .map(|(table, columns)| {
            let m = demo_manifest(table).expect("a demo table");
            let columns = columns.map(|c| c.iter().map(|s| s.to_string()).collect());
            GrantedTable::new(m, columns, city().join(format!("{table}.parquet")))
        })
        .collect();
    Scope::open(&granted).await.map_err(|e| e.to_string())
}

/// The governed domain: a server over the suite's city, and the health unit's authorization
/// of every scope (`dev` is the unit's own demo authorization, run in the dev environment).
pub struct GovernedDomain {
    /// The running server (its runtime is the library's governed path).
    pub server: TestServer,
    /// The authorization of each scope.
    pub authorizations: HashMap<String, AuthorizationId>,
}

impl GovernedDomain {
    /// Starts the server and grants one authorization per scope.
    pub async fn start() -> GovernedDomain {
        let server = TestServer::start_over(city()).await;
        let (store, bureau, unit) = (&server.domain.store, &server.domain.bureau, server.health().unit);
        let mut authorizations = HashMap::new();
        for name in ["health", "jobs", "full", "zcdp"] {
            let datasets = tables(name)
                .expect("a known scope")
                .into_iter()
                .map(|(table, columns)| {
                    let columns = match columns {
                        Some(c) => c.iter().map(|s| s.to_string()).collect(),
                        None => demo_manifest(table).expect("a demo table").columns.iter().map(|c| c.name.clone()).collect(),
                    };
                    GrantedDataset { dataset: table.to_string(), columns }
                })
                .collect();
            let privacy = if name == "zcdp" {
                PrivacyTerms { kind: PrivacyDefinition::Zcdp, delta: 1e-6 }
            } else {
                PrivacyTerms { kind: PrivacyDefinition::PureDp, delta: 0.0 }
            };
            let now = store.now();
            let id = store
                .grant(
                    bureau,
                    &NewAuthorization {
                        unit,
                        scenario: format!("slt-{name}"),
                        purpose: format!("the sqllogictest suite's `{name}` scope"),
                        partners: vec![],
                        datasets,
                        term_start: now - Duration::days(1),
                        term_end: now + Duration::days(30),
                        rights: vec![Right::ProcessingUse, Right::ProductOperation],
                        mode: Mode::Free,
                        privacy,
                        budget: BudgetTerms { total: 10_000.0, per_query_cap: 100.0, per_query_default: 1.0, delta_total: None },
                        export_policy: ExportPolicy::Automatic,
                    },
                )
                .expect("grant the scope's authorization");
            authorizations.insert(name.to_string(), id);
        }
        authorizations.insert("dev".to_string(), server.health().authorization);
        GovernedDomain { server, authorizations }
    }

    /// The authorization of `scope`.
    pub fn authorization(&self, scope: &str) -> Result<AuthorizationId, String> {
        self.authorizations.get(scope).copied().ok_or_else(|| format!("unknown scope `{scope}`"))
    }
}
