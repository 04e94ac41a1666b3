//! `shuyu demo`: the main job on embedded defaults.
//!
//! 1. Generates the demo city (100 000 residents by default) unless the folder has it.
//! 2. Opens the governance store in the data directory; bootstraps the bureau, registers
//!    the datasets, admits two operating units with one analyst and one authorization each:
//!    `chunhe-health` (zCDP, residents without name and ID number, medical visits,
//!    districts) and `beilin-jobs` (pure epsilon, residents' person_id, district, age and
//!    employment, enterprises, districts).
//! 3. Each analyst asks real questions; every answer is planned privately, reserved,
//!    noised, committed to the budget ledger and audited. Refusals are shown with reasons.
//! 4. Verifies the audit chain and the ledger, and writes `DIR/credentials.json`.

use std::io::IsTerminal;
use std::path::Path;
use chrono::{Duration as ChronoDuration, Utc};
use serde_json::json;
use shuyu_datasets::generate::{ensure_generated, GenerateOptions};
use shuyu_governance::validate::{credit_code_check_char, id_number_check_char};
use shuyu_governance::{
    AuthorizationId, BudgetTerms, ExportPolicy, GrantedDataset, Mode, NewAuthorization, Principal, PrivacyDefinition, PrivacyKind, Right,
    Role, Store,
};
use shuyu_governance::units::NewPerson;

use crate::output::{render, Format};
use crate::{runner, CliError, DEFAULT_SEED};

fn token_ttl() -> ChronoDuration {
    ChronoDuration::days(90)
}

fn credit_code(body17: &str) -> String {
    format!("{body17}{}", credit_code_check_char(body17).expect("valid alphabet"))
}

fn id_number(body17: &str) -> String {
    format!("{body17}{}", id_number_check_char(body17).expect("digits"))
}

struct Unit {
    name: &'static str,
    credit: String,
    analyst: &'static str,
    analyst_id: String,
}

/// Runs the demo in `data_dir` with `rows` residents.
pub async fn run(data_dir: &Path, rows: u64, format: Format) -> Result<(), CliError> {
    let io = |what: &str| {
        let what = what.to_string();
        move |source| CliError::Io { what, source }
    };
    std::fs::create_dir_all(data_dir).map_err(io("creating the data directory"))?;
    let datasets = data_dir.join("datasets");
    let mut opts = GenerateOptions::new(rows, &datasets, DEFAULT_SEED);
    opts.progress = std::io::stderr().is_terminal();
    println!("== datasets: {} residents in {}", rows, datasets.display());
    let report = ensure_generated(&opts)?;
    for t in &report.tables {
        println!("   {:<16} {:>10} rows", t.name, t.rows);
    }

    let store_dir = data_dir.join("domain");
    if store_dir.exists() {
        // A fresh domain each run keeps the demo repeatable (tokens are shown once only).
        std::fs::remove_dir_all(&store_dir).map_err(io("clearing the previous demo domain"))?;
    }
    let store = Store::open(&store_dir)?;
    let (admin, admin_token) = store.bootstrap_admin("长春市政务服务和数字化建设管理局 管理员", &id_number("22010219800101001"), token_ttl())?;
    let bureau = admin.principal();
    println!("\n== bureau: administrator registered; catalog:");
    for m in shuyu_datasets::demo_manifests() {
        let path = datasets.join(format!("{}.parquet", m.name));
        store.register_dataset(&bureau, &m, &path.to_string_lossy())?;
        println!("   {:<16} domain {:<11} level {:?}", m.name, m.domain, m.classification);
    }

    let units = [
        Unit { name: "chunhe-health", credit: credit_code("91220101MA0000001"), analyst: "王敏", analyst_id: id_number("22010419900312002") },
        Unit { name: "beilin-jobs", credit: credit_code("91220102MA0000002"), analyst: "李强", analyst_id: id_number("22010519880725003") },
    ];
    let now = Utc::now();
    let mut creds = Vec::new();
    let mut sessions: Vec<(Principal, AuthorizationId)> = Vec::new();
    for (i, u) in units.iter().enumerate() {
        let unit = store.create_unit(&bureau, u.name, &u.credit)?;
        let person = store.create_person(
            &bureau,
            &NewPerson { name: u.analyst.into(), id_number: u.analyst_id.clone(), role: Role::UnitAnalyst, unit: Some(unit), provider: None },
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
                PrivacyDefinition { kind: PrivacyKind::Zcdp, delta: 1e-6 },
                BudgetTerms { total: 2.0, per_query_cap: 0.5, per_query_default: 0.1 },
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
                PrivacyDefinition { kind: PrivacyKind::PureDp, delta: 0.0 },
                BudgetTerms { total: 10.0, per_query_cap: 2.0, per_query_default: 1.0 },
            )
        };
        let auth = store.grant(
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
        println!(
            "\n== unit {} admitted; scenario {} granted: {} {} total, {} per query by default",
            u.name,
            scenario,
            budget.total,
            privacy.kind.unit_name(),
            budget.per_query_default
        );
        creds.push(json!({ "unit": u.name, "authorization": auth.to_string(), "analyst_token": token.token.expose() }));
        sessions.push((analyst, auth));
    }

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
    for ((principal, auth), (unit, queries)) in sessions.iter().zip([("chunhe-health", health), ("beilin-jobs", jobs)]) {
        println!("\n=============== {unit} ===============");
        for (sql, amount) in queries.iter() {
            println!("\n> {sql}");
            match runner::run(&store, principal, *auth, sql, *amount).await {
                Ok(o) => {
                    println!("{}", render(&o.result.batches, format));
                    if !o.result.explain {
                        println!(
                            "   spent {:.4} {}; budget left {:.4} of {:.4}  ({} ms)",
                            o.result.cost,
                            o.budget.kind.unit_name(),
                            o.budget.remaining.as_f64(),
                            o.budget.total.as_f64(),
                            o.result.elapsed.as_millis()
                        );
                    }
                }
                Err(e) => println!("   refused: {e}"),
            }
        }
    }

    let audit = store.verify_audit()?;
    let ledger = store.verify_ledger()?;
    println!("\n== audit chain: {audit:?}\n== ledger: {ledger:?}");
    let cred = json!({
        "flight_sql_uri": serde_json::Value::Null,
        "note": "the Flight SQL service is not part of this build yet; tokens work with the governance store",
        "bureau_token": admin_token.token.expose(),
        "units": creds,
    });
    let path = data_dir.join("credentials.json");
    write_secret(&path, &serde_json::to_string_pretty(&cred).unwrap_or_default()).map_err(io("writing credentials.json"))?;
    println!("== credentials (shown once, file mode 0600): {}", path.display());
    Ok(())
}

fn cols(c: &[&str]) -> Vec<String> {
    c.iter().map(|s| s.to_string()).collect()
}

fn write_secret(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    o.mode(0o600);
    let mut f = o.open(path)?;
    f.write_all(text.as_bytes())
}
