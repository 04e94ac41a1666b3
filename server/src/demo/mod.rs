//! `shuyu demo`: the main job on embedded defaults.
//!
//! 1. Generates the demo city (100 000 residents by default) unless the folder has it, and
//!    builds the masked samples of the dev environment (`DIR/dev`).
//! 2. Opens the governance store in the data directory; bootstraps the bureau, registers
//!    the datasets, admits two operating units with one analyst and one authorization each:
//!    `chunhe-health` (zCDP, residents without name and ID number, medical visits,
//!    districts) and `beilin-jobs` (pure epsilon, residents' person_id, district, age and
//!    employment, enterprises, districts).
//! 3. Each analyst asks real questions; every answer is planned privately, reserved,
//!    noised, committed to the budget ledger and audited. Refusals are shown with reasons.
//!    `beilin-jobs` exports under review: its results are held for the bureau, which
//!    approves one; the analyst then fetches it. A dev query runs on the masked samples.
//! 4. Walks the authorization workflow once ([`workflow`]): announcement, application,
//!    reviews, agreement (a third unit, `nanhu-mobility`), a data request approved by the
//!    bureau and the providers, the grant; the new unit queries under it.
//! 5. Verifies the audit chain and the ledger, and writes `DIR/credentials.json`
//!    ([`credentials`]).
//! 6. Unless `--no-serve`: serves Arrow Flight SQL on `--listen` and the web console on
//!    `--console-listen` until Ctrl-C, with the bound addresses in `credentials.json`
//!    (`flight_sql_uri`, `console_url`) and each demo person's console sign-in.

pub mod credentials;
pub mod workflow;

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use chrono::Duration as ChronoDuration;
use shuyu_datasets::generate::{ensure_generated, GenerateOptions};
use shuyu_governance::validate::{credit_code_check_char, id_number_check_char};
use shuyu_governance::{
    Atto, AuthorizationId, BudgetTerms, ExportDecision, ExportPolicy, GrantedDataset, Mode, NewAuthorization, NewPerson, Principal, PrivacyTerms, Right,
    Role, Store, UnitId,
};
use shuyu_privacy::PrivacyDefinition;

use crate::config::{ClusterConfig, Config, EngineKind, Limits, Served};
use shuyu_runtime::dev::SamplesJob;
use crate::output::{render, Format};
use shuyu_runtime::Runtime;
use crate::{server, Error, DEFAULT_SEED};

pub(crate) fn token_ttl() -> ChronoDuration {
    ChronoDuration::days(90)
}

pub(crate) fn credit_code(body17: &str) -> Result<String, Error> {
    let check = credit_code_check_char(body17).ok_or_else(|| Error::Internal(format!("demo credit code {body17} is malformed")))?;
    Ok(format!("{body17}{check}"))
}

pub(crate) fn id_number(body17: &str) -> Result<String, Error> {
    let check = id_number_check_char(body17).ok_or_else(|| Error::Internal(format!("demo ID number {body17} is malformed")))?;
    Ok(format!("{body17}{check}"))
}

/// One operating unit of the demo, with its analyst and authorization.
#[derive(Debug, Clone)]
pub struct DemoUnit {
    /// The unit's name (`chunhe-health`, `beilin-jobs`).
    pub name: &'static str,
    /// The unit.
    pub unit: UnitId,
    /// Its one authorization.
    pub authorization: AuthorizationId,
    /// Its analyst, authenticated.
    pub analyst: Principal,
    /// The analyst's bearer token.
    pub token: String,
}

/// The demo domain: the store, the bureau and the two units.
#[derive(Debug, Clone)]
pub struct DemoDomain {
    /// The governance store.
    pub store: Store,
    /// The bureau's administrator.
    pub bureau: Principal,
    /// The administrator's bearer token.
    pub bureau_token: String,
    /// `chunhe-health` then `beilin-jobs`.
    pub units: Vec<DemoUnit>,
}

/// How `shuyu demo` runs.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Data directory (datasets, governance store, credentials).
    pub data_dir: PathBuf,
    /// Residents to generate.
    pub rows: u64,
    /// Output format of result tables.
    pub format: Format,
    /// Serve Flight SQL on this address after the script (`None`: stop after it).
    pub listen: Option<SocketAddr>,
    /// Serve the web console on this address after the script (`None`: no console).
    pub console_listen: Option<SocketAddr>,
    /// Job limits of the runtime.
    pub limits: Limits,
    /// Where releases' inner plans run: `Ballista` starts a scheduler and two executors on
    /// loopback (in this process, talking gRPC) and runs the demo's queries through them.
    pub engine: EngineKind,
}

/// Opens a fresh store in `store_dir` and bootstraps the bureau, registers the demo
/// datasets found in `datasets`, and admits the two units with one analyst and one
/// authorization each.
pub fn bootstrap(store_dir: &Path, datasets: &Path) -> Result<DemoDomain, Error> {
    bootstrap_with(store_dir, datasets, shuyu_governance::StoreOptions::default())
}

/// [`bootstrap`] with the store opened with `options` (its backend: a fresh PostgreSQL
/// database shared by several front ends, for one).
pub fn bootstrap_with(store_dir: &Path, datasets: &Path, options: shuyu_governance::StoreOptions) -> Result<DemoDomain, Error> {
    let store = Store::open_with(store_dir, options)?;
    let (admin, admin_token) = store.bootstrap_admin("长春市政务服务和数字化建设管理局 管理员", &id_number("22010219800101001")?, token_ttl())?;
    let bureau = admin.principal();
    for m in shuyu_datasets::demo_manifests() {
        let path = datasets.join(format!("{}.parquet", m.name));
        let verified = shuyu_datasets::verify_parquet(&m, &path)?;
        store.register_dataset(&bureau, &m, &path.to_string_lossy(), &verified)?;
    }
    let specs = [
        ("chunhe-health", credit_code("91220101MA0000001")?, "王敏", id_number("22010419900312002")?),
        ("beilin-jobs", credit_code("91220102MA0000002")?, "李强", id_number("22010519880725003")?),
    ];
    let now = store.now();
    let mut units = Vec::new();
    for (i, (name, credit, analyst, analyst_id)) in specs.into_iter().enumerate() {
        let unit = store.create_unit(&bureau, name, &credit)?;
        let person = store.create_person(
            &bureau,
            &NewPerson { name: analyst.into(), id_number: analyst_id, role: Role::UnitAnalyst, unit: Some(unit), provider: None },
        )?;
        let token = store.issue_token(&bureau, person, token_ttl())?;
        let (scenario, purpose, datasets, privacy, budget) = if i == 0 {
            (
                "health",
                "区域医疗资源配置研究：各区就诊量、费用与人口结构",
                vec![
                    GrantedDataset { dataset: "residents".into(), columns: cols(&["person_id", "district", "gender", "age", "income", "employed"]) },
                    GrantedDataset { dataset: "medical_visits".into(), columns: cols(&["visit_id", "person_id", "visit_date", "hospital", "department", "cost"]) },
                    GrantedDataset { dataset: "districts".into(), columns: cols(&["district", "area_km2", "population_2020"]) },
                ],
                PrivacyTerms { kind: PrivacyDefinition::Zcdp, delta: 1e-6 },
                BudgetTerms { total: 2.0, per_query_cap: 0.5, per_query_default: 0.1, delta_total: None },
            )
        } else {
            (
                "employment",
                "就业景气指数：各区就业率、年龄结构与企业分布",
                vec![
                    GrantedDataset { dataset: "residents".into(), columns: cols(&["person_id", "district", "age", "employed"]) },
                    GrantedDataset { dataset: "enterprises".into(), columns: cols(&["credit_code", "district", "industry", "registered_capital", "employees", "founded_year"]) },
                    GrantedDataset { dataset: "districts".into(), columns: cols(&["district", "area_km2", "population_2020"]) },
                ],
                PrivacyTerms { kind: PrivacyDefinition::PureDp, delta: 0.0 },
                BudgetTerms { total: 10.0, per_query_cap: 2.0, per_query_default: 1.0, delta_total: None },
            )
        };
        let authorization = store.grant(
            &bureau,
            &NewAuthorization {
                unit,
                scenario: scenario.into(),
                purpose: purpose.into(),
                partners: vec![],
                datasets,
                term_start: now - ChronoDuration::days(1),
                term_end: now + ChronoDuration::days(365),
                rights: vec![Right::ProcessingUse, Right::ProductOperation],
                mode: if i == 0 { Mode::Free } else { Mode::Paid { price_cents: 500_000 } },
                privacy,
                budget,
                export_policy: if i == 0 { ExportPolicy::Automatic } else { ExportPolicy::Review },
            },
        )?;
        let analyst = store.authenticate(token.token.expose())?;
        units.push(DemoUnit { name, unit, authorization, analyst, token: token.token.expose().to_string() });
    }
    Ok(DemoDomain { store, bureau, bureau_token: admin_token.token.expose().to_string(), units })
}

/// Runs the demo: datasets, domain, scripted queries, checks, credentials; then serves
/// Flight SQL until Ctrl-C when `listen` is set.
pub async fn run(opts: &DemoOptions) -> Result<(), Error> {
    let data_dir = opts.data_dir.as_path();
    let format = opts.format;
    let mut serve_config = opts.listen.map(|listen| Config { listen, data_dir: data_dir.to_path_buf(), limits: opts.limits, ..Config::default() });
    if let Some(c) = &serve_config {
        // Refused before the script rather than after it.
        server::check_transport(c.listen, c)?;
        if let Some(console) = opts.console_listen {
            server::check_console_transport(console, c)?;
        }
    }
    std::fs::create_dir_all(data_dir).map_err(Error::io("creating the data directory"))?;
    let datasets = data_dir.join("datasets");
    let mut gen = GenerateOptions::new(opts.rows, &datasets, DEFAULT_SEED);
    gen.progress = std::io::stderr().is_terminal();
    println!("== datasets: {} residents in {}", opts.rows, datasets.display());
    let report = ensure_generated(&gen)?;
    for t in &report.tables {
        println!("   {:<16} {:>10} rows", t.name, t.rows);
    }
    let samples = SamplesJob::in_data_dir(data_dir, shuyu_datasets::sample::SampleOptions::default());
    let sampled = shuyu_runtime::dev::build(&samples)?;
    println!("== dev environment: masked samples in {}", samples.out.display());
    for t in &sampled.tables {
        println!("   {:<16} {:>10} rows", t.name, t.rows);
    }

    let store_dir = data_dir.join("domain");
    // The previous run's tokens die with its domain.
    if let Err(e) = std::fs::remove_file(data_dir.join("credentials.json")) {
        if e.kind() != std::io::ErrorKind::NotFound {
            return Err(Error::io("removing the previous credentials.json")(e));
        }
    }
    if store_dir.exists() {
        // A fresh domain each run keeps the demo repeatable (tokens are shown once only).
        std::fs::remove_dir_all(&store_dir).map_err(Error::io("clearing the previous demo domain"))?;
    }
    let domain = bootstrap(&store_dir, &datasets)?;
    let store = domain.store.clone();
    println!("\n== bureau: administrator registered; catalog:");
    for m in shuyu_datasets::demo_manifests() {
        println!("   {:<16} domain {:<11} level {:?}", m.name, m.domain, m.classification);
    }
    for u in &domain.units {
        let a = store.authorization(&domain.bureau, u.authorization)?;
        println!(
            "\n== unit {} admitted; scenario {} granted: {} {} total, {} per query by default",
            u.name,
            a.scenario,
            a.total_budget,
            a.privacy.kind.unit_name(),
            a.per_query_default
        );
    }
    // Kept until the demo ends: the cluster's tasks live on this runtime.
    let cluster = match opts.engine {
        EngineKind::Local => None,
        EngineKind::Ballista => {
            let c = shuyu_cluster::InProcessCluster::start(shuyu_cluster::local::ClusterOptions::default()).await?;
            println!(
                "\n== Ballista cluster: scheduler on {} and {} executors (loopback); releases' inner plans run there, noise and the ledger here",
                c.scheduler_url(),
                c.registered_executors().await
            );
            if let Some(config) = &mut serve_config {
                config.engine = EngineKind::Ballista;
                config.cluster = Some(ClusterConfig { scheduler: c.scheduler_url(), partitions: None });
            }
            Some(c)
        }
    };
    let engine = cluster.as_ref().map(|c| shuyu_compute::InnerEngine::ballista(c.scheduler_url(), None)).unwrap_or_default();
    let runtime = Runtime::with_environments(store.clone(), opts.limits, Served::Prod, Some(samples.out.clone())).with_engine(engine);

    let health: &[(&str, Option<f64>)] = &[
        ("EXPLAIN PRIVACY SELECT department, COUNT(*) AS visits, AVG(cost) AS avg_cost FROM medical_visits GROUP BY department", None),
        ("SELECT department, COUNT(*) AS visits, AVG(cost) AS avg_cost FROM medical_visits GROUP BY department ORDER BY visits DESC", None),
        ("SELECT r.district, COUNT(*) AS visits, SUM(v.cost) AS total_cost FROM medical_visits v JOIN residents r ON v.person_id = r.person_id GROUP BY r.district ORDER BY total_cost DESC", Some(0.2)),
        ("SELECT CASE WHEN age < 18 THEN '0-17' WHEN age < 60 THEN '18-59' ELSE '60+' END AS age_band, COUNT(DISTINCT v.person_id) AS patients FROM medical_visits v JOIN residents r ON v.person_id = r.person_id GROUP BY 1 ORDER BY 1", None),
        ("SELECT hospital, COUNT(*) AS visits FROM medical_visits GROUP BY hospital ORDER BY visits DESC LIMIT 10", None),
        ("SELECT person_id, cost FROM medical_visits WHERE cost > 40000", None),
        ("SELECT name FROM residents", None),
    ];
    let jobs: &[(&str, Option<f64>)] = &[
        ("SELECT district, AVG(CASE WHEN employed THEN 1 ELSE 0 END) AS employment_rate, MEDIAN(age) AS median_age FROM residents WHERE age BETWEEN 18 AND 60 GROUP BY district ORDER BY employment_rate DESC", None),
        ("WITH e AS (SELECT district, COUNT(*) AS firms, SUM(employees) AS jobs FROM enterprises GROUP BY district) SELECT e.district, e.firms, e.jobs, e.firms / d.area_km2 AS firms_per_km2 FROM e JOIN districts d ON e.district = d.district ORDER BY firms_per_km2 DESC", None),
        ("SELECT industry, COUNT(*) AS firms, AVG(employees) AS avg_employees FROM enterprises WHERE founded_year >= 2010 GROUP BY industry", Some(2.0)),
        ("SELECT district, MAX(age) FROM residents GROUP BY district", None),
        ("SELECT COUNT(*) FROM medical_visits", None),
    ];
    let mut held = Vec::new();
    for (u, queries) in domain.units.iter().zip([health, jobs]) {
        let (unit, principal, auth) = (u.name, &u.analyst, u.authorization);
        println!("\n=============== {unit} ===============");
        for (sql, amount) in queries.iter() {
            println!("\n> {sql}");
            match runtime.query(principal, auth, sql, *amount).await {
                Ok(o) => {
                    match &o.held {
                        Some(h) => {
                            println!("   held for the bureau's review as {} (export policy `review`)", h.export);
                            held.push((u.clone(), h.export));
                        }
                        None => println!("{}", render(&o.result.batches, format)),
                    }
                    if !o.result.explain {
                        println!(
                            "   spent {:.4} {}; budget left {:.4} of {:.4}  ({} ms)",
                            o.result.cost,
                            o.budget.kind.unit_name(),
                            o.budget.remaining.as_f64(),
                            o.budget.total.as_f64(),
                            o.result.elapsed.as_millis()
                        );
                        if o.charged_delta > Atto::ZERO {
                            println!("   delta spent {}; delta left {} of {}", o.charged_delta, o.budget.delta_remaining, o.budget.delta_total);
                        }
                    }
                }
                Err(e) => println!("   refused: {e}"),
            }
        }
    }

    if let Some((u, export)) = held.first() {
        store.review_export(&domain.bureau, *export, &ExportDecision::Approve)?;
        println!("\n== bureau approves {export}; {} fetches it (FETCH EXPORT '{}'):", u.name, export.0);
        let (_, batches) = runtime.fetch_export(&u.analyst, *export).await?;
        println!("{}", render(&batches, format));
    }
    let health_unit = &domain.units[0];
    let dev_sql = "SELECT person_id, district, age, income FROM residents ORDER BY age DESC LIMIT 5";
    println!("\n== dev environment ({}): the same SQL, no privacy rewrite, masked samples, no budget\n> {dev_sql}", health_unit.name);
    let dev = runtime.query_dev(&health_unit.analyst, health_unit.authorization, dev_sql).await?;
    println!("{}", render(&dev.batches, format));

    let walk = workflow::walk(&domain)?;
    let sql = "SELECT district, COUNT(*) AS residents, AVG(age) AS avg_age FROM residents GROUP BY district ORDER BY district";
    println!("\n== {} queries under its new authorization {}\n> {sql}", walk.unit_name, walk.granted);
    let o = runtime.query(&walk.analyst, walk.granted, sql, None).await?;
    println!("{}", render(&o.result.batches, format));
    println!("   spent {:.4} {}; budget left {:.4} of {:.4}", o.result.cost, o.budget.kind.unit_name(), o.budget.remaining.as_f64(), o.budget.total.as_f64());

    let audit = store.verify_audit()?;
    let ledger = store.verify_ledger()?;
    println!("\n== audit chain: {audit:?}\n== ledger: {ledger:?}");
    let mut served = credentials::Addresses::default();
    let Some(config) = serve_config else {
        return credentials::write(data_dir, &domain, &walk, &served);
    };
    let listener = server::bind(config.listen).await?;
    let bound = listener.local_addr().map_err(Error::io("reading the listener's address"))?;
    served.flight_sql_uri = Some(server::flight_sql_uri(bound));
    let console = match opts.console_listen {
        Some(addr) => {
            let l = server::bind(addr).await?;
            served.console_url = Some(format!("http://{}/console/", l.local_addr().map_err(Error::io("reading the console's address"))?));
            Some(l)
        }
        None => None,
    };
    credentials::write(data_dir, &domain, &walk, &served)?;
    let shown = |o: &Option<String>| o.clone().unwrap_or_default();
    println!("\n== Arrow Flight SQL on {} (Ctrl-C stops); connect with an analyst token from credentials.json", shown(&served.flight_sql_uri));
    println!(
        "== the bureau administers it on the same port: shuyu admin --credentials {} unit list",
        data_dir.join("credentials.json").display()
    );
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        server::shutdown_signal().await;
        let _ = stop.send(true);
    });
    let until_stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    tokio::spawn(crate::deadlines::enforce_every(store.clone(), crate::deadlines::PERIOD, until_stopped(stopped.clone())));
    let Some(console) = console else {
        return server::run(listener, store, &config, until_stopped(stopped)).await;
    };
    println!(
        "== web console on {}: sign in with a token from credentials.json (`console_sign_ins`)",
        shown(&served.console_url)
    );
    let options = crate::console::ConsoleOptions::default();
    let (grpc, web) = tokio::join!(
        server::run(listener, store.clone(), &config, until_stopped(stopped.clone())),
        crate::console::serve(console, store, options, until_stopped(stopped)),
    );
    grpc.and(web)
}

pub(crate) fn cols(c: &[&str]) -> Vec<String> {
    c.iter().map(|s| s.to_string()).collect()
}
