//! Every `.slt` file of the suite (see [`shuyu_tests::slt`]) through both paths: the library
//! (a compute `PrivateSession` for the scope files, the runtime for the dev file) and a Flight
//! SQL client against the server on 127.0.0.1:0. `encrypted` files need an approved import
//! and run in `tests/encrypted.rs`.

use std::sync::Arc;

use shuyu_compute::PrivateSession;
use shuyu_privacy::PrivacyDefinition;
use shuyu_runtime::Call;
use shuyu_tests::slt::backends::{FlightBackend, RuntimeBackend, SessionBackend, Terms};
use shuyu_tests::slt::domain::{self, GovernedDomain};
use shuyu_tests::slt::{self, Backend, FileReport};

/// What an authorization of `scope` lets one query state.
fn terms(scope: &str) -> Terms {
    match scope {
        "zcdp" => Terms { definition: PrivacyDefinition::Zcdp, delta: 1e-6, dev: false },
        "dev" => Terms { definition: PrivacyDefinition::PureDp, delta: 0.0, dev: true },
        _ => Terms { definition: PrivacyDefinition::PureDp, delta: 0.0, dev: false },
    }
}

fn report(path: &std::path::Path, via: &str, r: &FileReport, all: &mut Vec<String>) {
    let name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    println!("{name} via {via}: {} records, {} skipped, {} failures", r.ran, r.skipped, r.failures.len());
    all.extend(r.failures.iter().map(|f| format!("[{via}] {f}")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_slt_file_through_the_library_and_through_flight_sql() {
    let files = slt::files();
    assert!(!files.is_empty(), "no .slt files found");
    let governed = GovernedDomain::start().await;
    let analyst = governed.server.health().clone();
    let mut all = Vec::new();
    let (mut ran_library, mut ran_wire) = (0, 0);
    for path in &files {
        let scope = match slt::file_scope(path) {
            Ok(s) => s,
            Err(e) => {
                all.push(e);
                continue;
            }
        };
        if scope == "encrypted" {
            println!("{}: run by tests/encrypted.rs", path.display());
            continue;
        }
        let auth = match governed.authorization(&scope) {
            Ok(a) => a,
            Err(e) => {
                all.push(format!("{}: {e}", path.display()));
                continue;
            }
        };
        let budget = slt::default_budget(&scope);
        let library: Arc<dyn Backend> = if scope == "dev" {
            Arc::new(RuntimeBackend { runtime: governed.server.runner.clone(), call: Call::dev(&analyst.analyst, auth), terms: terms(&scope) })
        } else {
            let s = domain::scope(&scope).await.expect("the scope opens");
            Arc::new(SessionBackend(PrivateSession::new(s)))
        };
        let r = slt::run_file(path, library, budget).await;
        ran_library += r.ran;
        report(path, "library", &r, &mut all);
        let mut client = governed.server.client_under(&analyst, auth).await;
        if scope == "dev" {
            client.set_header("x-shuyu-environment", "dev");
        }
        let wire: Arc<dyn Backend> = Arc::new(FlightBackend { client, terms: terms(&scope) });
        let r = slt::run_file(path, wire, budget).await;
        ran_wire += r.ran;
        report(path, "flight-sql", &r, &mut all);
    }
    println!("sqllogictest: {} files, {ran_library} records through the library, {ran_wire} through Flight SQL", files.len());
    assert!(ran_wire * 2 > ran_library, "most records run over the wire too ({ran_wire} of {ran_library})");
    assert!(all.is_empty(), "{} sqllogictest failures:\n\n{}", all.len(), all.join("\n\n"));
    governed.server.stop().await;
}
