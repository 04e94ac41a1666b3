//! `shuyu query`: one private query over a local folder of generated datasets.

use std::path::Path;

use shuyu_compute::PrivateSession;
use shuyu_datasets::demo_manifests;
use shuyu_planner::{GrantedTable, QueryBudget, Scope};

use crate::output::{render, Format};
use crate::Error;

/// Opens a scope over every demo table found in `dir`.
pub async fn local_scope(dir: &Path) -> Result<Scope, Error> {
    let mut grants = Vec::new();
    for m in demo_manifests() {
        let path = dir.join(format!("{}.parquet", m.name));
        if path.exists() {
            grants.push(GrantedTable::new(m, None, path));
        }
    }
    if grants.is_empty() {
        return Err(Error::Usage(format!(
            "no datasets in {}; run `shuyu datasets generate --out {}` first",
            dir.display(),
            dir.display()
        )));
    }
    Ok(Scope::open(&grants).await?)
}

/// Runs `sql` privately and prints the result and its cost.
pub async fn run_local(dir: &Path, sql: &str, epsilon: f64, rho: Option<f64>, delta: f64, format: Format) -> Result<(), Error> {
    let budget = match rho {
        Some(r) => QueryBudget::zcdp(r, delta),
        None => QueryBudget::pure(epsilon),
    };
    let session = PrivateSession::new(local_scope(dir).await?);
    let r = session.execute(sql, budget).await?;
    println!("{}", render(&r.batches, format));
    if !r.explain {
        eprintln!("cost: {} {} (delta {}), {} measurements, {:.1} ms", r.cost, budget.definition.unit_name(), r.delta, r.releases, r.elapsed.as_secs_f64() * 1e3);
    }
    Ok(())
}
