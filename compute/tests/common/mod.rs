//! Shared fixtures: a small generated city and scopes over it.
#![allow(dead_code)]

pub mod cases;
pub mod compare;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use shuyu_compute::PrivateSession;
use shuyu_datasets::{demo_manifest, generate::GenerateOptions};
use shuyu_planner::{BoundingOrder, GrantedTable, PlanOptions, Scope};

/// Residents in the fixture city.
pub const RESIDENTS: u64 = 3_000;

static DIR: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();

/// The fixture's data directory (generated once per test binary).
pub fn data_dir() -> &'static Path {
    &DIR.get_or_init(|| {
        let tmp = tempfile::tempdir().expect("temp dir");
        let out = tmp.path().join("city");
        shuyu_datasets::generate::generate(&GenerateOptions::new(RESIDENTS, &out, 7)).expect("generate fixture city");
        (tmp, out)
    })
    .1
}

/// A grant of `columns` (None = all) of a demo table.
pub fn grant(table: &str, columns: Option<&[&str]>) -> GrantedTable {
    let m = demo_manifest(table).expect("demo table");
    GrantedTable::new(m, columns.map(|c| c.iter().map(|s| s.to_string()).collect()), data_dir().join(format!("{table}.parquet")))
}

/// Every demo table, every column.
pub async fn full_scope() -> Scope {
    Scope::open(&[grant("residents", None), grant("medical_visits", None), grant("enterprises", None), grant("districts", None)])
        .await
        .expect("scope opens")
}

/// The health scenario of the demo: residents without name and ID number, visits, districts.
pub async fn health_scope() -> Scope {
    Scope::open(&[
        grant("residents", Some(&["person_id", "district", "gender", "age", "income", "employed"])),
        grant("medical_visits", None),
        grant("districts", None),
    ])
    .await
    .expect("scope opens")
}

/// The employment scenario: residents' person_id, district, age, employed; enterprises; districts.
pub async fn jobs_scope() -> Scope {
    Scope::open(&[
        grant("residents", Some(&["person_id", "district", "age", "employed"])),
        grant("enterprises", None),
        grant("districts", None),
    ])
    .await
    .expect("scope opens")
}

/// A session with deterministic bounding (for exact comparisons).
pub fn deterministic(scope: Scope) -> PrivateSession {
    PrivateSession::new(scope).with_options(PlanOptions { bounding_order: BoundingOrder::ByKey })
}
