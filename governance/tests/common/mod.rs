//! Shared fixture of the integration tests: a store with a bureau administrator, a
//! supervisor, a provider, two units with one analyst and one authorization each.
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Duration, DurationRound, Utc};
use shuyu_datasets::{
    Classification, ColumnManifest, ColumnType, DeclarationsVerified, MaskingRule, PrivacyUnit,
    RowsPerUnit, Sensitivity, TableManifest,
};
use shuyu_governance::validate::{credit_code_check_char, id_number_check_char};
use shuyu_governance::*;
use shuyu_privacy::PrivacyDefinition;
use tempfile::TempDir;

mod raw;
pub use raw::{Raw, P};

/// The file of a test data directory that names its PostgreSQL database.
pub(crate) const TEST_STORE: &str = "test-store";

/// A fresh data directory. Its store is SQLite, or a fresh PostgreSQL database when
/// `SHUYU_TEST_POSTGRES` names a server (a libpq connection string without `dbname`;
/// `scripts/test.sh` starts a private cluster on a unix socket and runs the suite again).
pub fn store_dir() -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    if let Ok(server) = std::env::var("SHUYU_TEST_POSTGRES") {
        let name = format!("shuyu_test_{}", hex::encode(rand::random::<[u8; 8]>()));
        let mut admin = postgres::Client::connect(&format!("{server} dbname=postgres"), postgres::NoTls)
            .expect("SHUYU_TEST_POSTGRES names a PostgreSQL server that accepts connections");
        admin.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
        std::fs::write(dir.path().join(TEST_STORE), format!("{server} dbname={name}")).unwrap();
    }
    dir
}

/// `options` with the backend of the data directory `path` (see [`store_dir`]).
pub fn with_backend(path: &Path, options: StoreOptions) -> StoreOptions {
    match std::fs::read_to_string(path.join(TEST_STORE)) {
        Ok(url) => StoreOptions { backend: Backend::Postgres { url, password: None }, ..options },
        Err(_) => options,
    }
}

/// Opens the store of a data directory made by [`store_dir`].
pub fn open(path: impl AsRef<Path>) -> Store {
    open_with(path, StoreOptions::default())
}

/// Opens the store of a data directory made by [`store_dir`] with `options`.
pub fn open_with(path: impl AsRef<Path>, options: StoreOptions) -> Store {
    let path = path.as_ref();
    Store::open_with(path, with_backend(path, options)).unwrap()
}

/// A valid resident ID number, distinct per seed.
pub fn id_number(seed: u32) -> String {
    let first17 = format!("11010519900101{:03}", seed % 1000);
    format!("{first17}{}", id_number_check_char(&first17).unwrap())
}

/// A valid unified social credit code, distinct per seed.
pub fn credit_code(seed: u32) -> String {
    let first17 = format!("9111000{:010}", seed);
    format!("{first17}{}", credit_code_check_char(&first17).unwrap())
}

fn column(name: &str, data_type: ColumnType, sensitivity: Sensitivity) -> ColumnManifest {
    ColumnManifest {
        name: name.into(),
        data_type,
        sensitivity,
        lower: None,
        upper: None,
        public_domain: None,
        masking: Some(MaskingRule::Keep),
        description: String::new(),
    }
}

/// A personal table: person_id (unit key), district (public domain), age, income.
pub fn manifest(name: &str, classification: Classification) -> TableManifest {
    let mut district = column("district", ColumnType::Utf8, Sensitivity::Public);
    district.public_domain = Some(vec!["north".into(), "south".into()]);
    let mut age = column("age", ColumnType::Int64, Sensitivity::Personal);
    age.lower = Some(0.0);
    age.upper = Some(120.0);
    age.masking = Some(MaskingRule::Generalize);
    let mut income = column("income", ColumnType::Float64, Sensitivity::Personal);
    income.lower = Some(0.0);
    income.upper = Some(1e6);
    let mut person = column("person_id", ColumnType::Utf8, Sensitivity::UnitKey);
    person.masking = Some(MaskingRule::Hash);
    TableManifest {
        name: name.into(),
        domain: "civil_affairs".into(),
        classification,
        provider: "civil affairs bureau".into(),
        description: "households".into(),
        privacy_unit: Some(PrivacyUnit {
            column: "person_id".into(),
            kind: "person".into(),
            rows_per_unit: RowsPerUnit::One,
            max_groups: 1,
            max_rows: 1,
        }),
        unique_keys: vec![],
        columns: vec![person, district, age, income],
    }
}

/// A valid grant request for `unit` on `households(person_id, district, age)`, with both
/// rights (processing use and product operation, which exports need).
pub fn grant_request(unit: UnitId, scenario: &str, now: DateTime<Utc>) -> NewAuthorization {
    NewAuthorization {
        unit,
        scenario: scenario.into(),
        purpose: "ageing population study".into(),
        partners: vec!["city university".into()],
        datasets: vec![GrantedDataset {
            dataset: "households".into(),
            columns: vec!["person_id".into(), "district".into(), "age".into()],
        }],
        term_start: now - Duration::days(1),
        term_end: now + Duration::days(365),
        rights: vec![Right::ProcessingUse, Right::ProductOperation],
        mode: Mode::Free,
        privacy: PrivacyTerms {
            kind: PrivacyDefinition::PureDp,
            delta: 1e-7,
        },
        budget: BudgetTerms {
            total: 1.0,
            per_query_cap: 0.5,
            per_query_default: 0.1,
            delta_total: None,
        },
        export_policy: ExportPolicy::Automatic,
    }
}

/// The witness that `m`'s declarations hold, checked over a few distinct key values held in
/// memory (these manifests have no Parquet file): every declared column gets the values
/// `k0, k1, k2`.
pub fn verified(m: &TableManifest) -> DeclarationsVerified {
    DeclarationsVerified::from_key_values(m, |_| Some(vec![Some("k0"), Some("k1"), Some("k2")]))
        .expect("distinct keys satisfy every declaration")
}

/// Registers `m` (bureau) with its in-memory witness.
pub fn register(store: &Store, admin: &Principal, m: &TableManifest, location: &str) -> Result<DatasetId> {
    store.register_dataset(admin, m, location, &verified(m))
}

/// A charge of `amount`, no delta, naming no dataset.
pub fn charge(amount: Nano) -> Charge {
    Charge::new(amount, Atto::ZERO, vec![])
}

/// The fixture.
pub struct Fixture {
    pub dir: TempDir,
    pub clock: Arc<ManualClock>,
    pub store: Store,
    pub admin: Principal,
    pub admin_token: IssuedToken,
    pub supervisor: Principal,
    pub provider: Principal,
    pub unit_a: UnitId,
    pub analyst_a: Principal,
    pub unit_b: UnitId,
    pub analyst_b: Principal,
    pub auth_a: AuthorizationId,
    pub auth_b: AuthorizationId,
}

impl Fixture {
    /// A fresh fixture whose clock starts at the current time (whole seconds).
    pub fn new() -> Fixture {
        Self::with_budget(BudgetTerms {
            total: 1.0,
            per_query_cap: 0.5,
            per_query_default: 0.1,
            delta_total: None,
        })
    }

    /// A fixture whose unit A authorization has the given budget.
    pub fn with_budget(budget: BudgetTerms) -> Fixture {
        let dir = store_dir();
        let now = Utc::now().duration_trunc(Duration::seconds(1)).unwrap();
        let clock = Arc::new(ManualClock::new(now));
        let store = open_with(
            dir.path(),
            StoreOptions {
                clock: clock.clone(),
                ..StoreOptions::default()
            },
        );
        let (admin_person, admin_token) = store
            .bootstrap_admin("Admin Wang", &id_number(1), Duration::days(30))
            .unwrap();
        let admin = admin_person.principal();
        let supervisor = person(
            &store,
            &admin,
            "Supervisor Li",
            2,
            Role::Supervisor,
            None,
            None,
        );
        let provider = person(
            &store,
            &admin,
            "Provider Zhao",
            3,
            Role::Provider,
            None,
            Some("civil affairs bureau"),
        );
        register(&store, &admin, &manifest("households", Classification::Sensitive), "/data/households.parquet").unwrap();
        register(&store, &admin, &manifest("secrets", Classification::StateSecret), "/data/secrets.parquet").unwrap();
        let unit_a = store
            .create_unit(&admin, "Changchun Analytics Co.", &credit_code(1))
            .unwrap();
        let unit_b = store
            .create_unit(&admin, "Jilin Data Ltd.", &credit_code(2))
            .unwrap();
        let analyst_a = person(
            &store,
            &admin,
            "Analyst Chen",
            4,
            Role::UnitAnalyst,
            Some(unit_a),
            None,
        );
        let analyst_b = person(
            &store,
            &admin,
            "Analyst Liu",
            5,
            Role::UnitAnalyst,
            Some(unit_b),
            None,
        );
        let mut req = grant_request(unit_a, "ageing", now);
        req.budget = budget;
        let auth_a = store.grant(&admin, &req).unwrap();
        let auth_b = store
            .grant(&admin, &grant_request(unit_b, "ageing", now))
            .unwrap();
        Fixture {
            dir,
            clock,
            store,
            admin,
            admin_token,
            supervisor,
            provider,
            unit_a,
            analyst_a,
            unit_b,
            analyst_b,
            auth_a,
            auth_b,
        }
    }

    /// Counts rows of a table through a separate connection.
    pub fn count(&self, table: &str) -> i64 {
        Raw::open(self.dir.path()).int(&format!("SELECT COUNT(*) FROM {table}"), &[])
    }

    /// Number of audit records with this action.
    pub fn audit_count(&self, action: &str) -> i64 {
        Raw::open(self.dir.path()).int("SELECT COUNT(*) FROM audit WHERE action = ?1", &[P::T(action)])
    }

    /// Runs a production query costing `cost` (reserved and committed in full).
    /// A production job of `analyst` under `auth` running `SELECT 1`.
    pub fn prod_job(&self, analyst: &Principal, auth: AuthorizationId) -> JobId {
        self.store
            .create_job(analyst, &NewJob { authorization: auth, sql: "SELECT 1".into(), environment: Environment::Prod })
            .unwrap()
    }

    pub fn dev_job(&self, analyst: &Principal, auth: AuthorizationId) -> JobId {
        self.store
            .create_job(analyst, &NewJob { authorization: auth, sql: "SELECT 1".into(), environment: Environment::Dev })
            .unwrap()
    }

    pub fn spend(&self, analyst: &Principal, auth: AuthorizationId, cost: Nano) -> Result<Budget> {
        spend(&self.store, analyst, auth, cost, cost)
    }
}

/// Registers a person.
pub fn person(
    store: &Store,
    admin: &Principal,
    name: &str,
    seed: u32,
    role: Role,
    unit: Option<UnitId>,
    provider: Option<&str>,
) -> Principal {
    let id = store
        .create_person(
            admin,
            &NewPerson {
                name: name.into(),
                id_number: id_number(seed),
                role,
                unit,
                provider: provider.map(str::to_string),
            },
        )
        .unwrap();
    Principal {
        person_id: id,
        unit_id: unit,
        role,
    }
}

/// One production query: job, reserve, commit `actual`, finish.
pub fn spend(
    store: &Store,
    analyst: &Principal,
    auth: AuthorizationId,
    reserve: Nano,
    actual: Nano,
) -> Result<Budget> {
    let job = store.create_job(
        analyst,
        &NewJob {
            authorization: auth,
            sql: "SELECT COUNT(*) FROM households".into(),
            environment: Environment::Prod,
        },
    )?;
    let outcome = |status, releases| JobOutcome {
        status,
        metering: Metering {
            rows_scanned: 100,
            bytes_scanned: 4096,
            cpu_ms: 3,
            encrypted_ops: 0,
            releases,
        },
        datasets: vec!["households".into()],
        failure: None,
    };
    match store.reserve(auth, job, &Charge::new(reserve, Atto::ZERO, vec!["households".into()])) {
        Ok(r) => {
            let budget = store.commit(&r, actual, Atto::ZERO)?;
            store.finish_job(job, &outcome(JobStatus::Succeeded, 1))?;
            Ok(budget)
        }
        Err(e) => {
            store.finish_job(job, &outcome(JobStatus::Refused, 0))?;
            Err(e)
        }
    }
}

/// The people and data of the authorization workflow, added to a fixture on demand: two
/// experts, an applicant, and a second dataset (`trips`) with its own provider's staff.
pub struct WorkflowPeople {
    pub expert_1: Principal,
    pub expert_2: Principal,
    pub applicant: Principal,
    /// The applicant's bearer token (to sign in again after becoming an analyst).
    pub applicant_token: IssuedToken,
    /// Staff of `transport bureau`, the provider of `trips`.
    pub transport: Principal,
}

/// The provider of `trips`.
pub const TRANSPORT: &str = "transport bureau";

impl Fixture {
    /// Registers the workflow's people and the `trips` dataset.
    pub fn workflow(&self) -> WorkflowPeople {
        let mut trips = manifest("trips", Classification::Sensitive);
        trips.provider = TRANSPORT.into();
        register(&self.store, &self.admin, &trips, "/data/trips.parquet").unwrap();
        let expert_1 = person(&self.store, &self.admin, "Expert Sun", 40, Role::Expert, None, None);
        let expert_2 = person(&self.store, &self.admin, "Expert Zhou", 41, Role::Expert, None, None);
        let applicant = person(&self.store, &self.admin, "Applicant Wu", 42, Role::Applicant, None, None);
        let applicant_token = self.store.issue_token(&self.admin, applicant.person_id, Duration::days(30)).unwrap();
        let transport = person(&self.store, &self.admin, "Provider Feng", 43, Role::Provider, None, Some(TRANSPORT));
        WorkflowPeople { expert_1, expert_2, applicant, applicant_token, transport }
    }
}

/// An announcement open from `now` for 30 days, needing two expert opinions.
pub fn announcement(now: DateTime<Utc>) -> NewAnnouncement {
    NewAnnouncement {
        year: 2025,
        title: "public data authorization 2025".into(),
        conditions: "free for public interest, paid for industry; Art. 12 and 13 apply".into(),
        opens_at: now,
        closes_at: now + Duration::days(30),
        min_expert_opinions: 2,
    }
}

/// Qualifications that all hold.
pub fn qualifications() -> Qualifications {
    Qualifications {
        good_standing: true,
        no_major_violations: true,
        not_dishonest: true,
        security_officer: "Ma Lin, data security department".into(),
        mlps_level3: true,
        dsmm_level3: true,
        no_high_risk: true,
    }
}

/// An application of a new company (credit code from `seed`) to `announcement`.
pub fn application(announcement: AnnouncementId, seed: u32) -> NewApplication {
    NewApplication {
        announcement,
        company: "Northeast Data Services Co.".into(),
        credit_code: credit_code(seed),
        scenario: "elderly care".into(),
        purpose: "plan elderly care places by district".into(),
        qualifications: qualifications(),
        attachments: vec![Attachment { name: "licence.pdf".into(), sha256: "ab".repeat(32) }],
    }
}

/// Agreement terms granting `households` for one year.
pub fn agreement_terms(now: DateTime<Utc>) -> AgreementTerms {
    let g = grant_request(UnitId(0), "elderly care", now);
    AgreementTerms {
        scenario: g.scenario,
        purpose: g.purpose,
        partners: g.partners,
        datasets: g.datasets,
        term_start: g.term_start,
        term_end: g.term_end,
        rights: g.rights,
        mode: g.mode,
        privacy: g.privacy,
        budget: g.budget,
        export_policy: g.export_policy,
    }
}

/// A data request for `scenario` on `datasets` (each with person_id, district, age).
pub fn data_request(scenario: &str, datasets: &[&str], now: DateTime<Utc>) -> NewDataRequest {
    let g = grant_request(UnitId(0), scenario, now);
    NewDataRequest {
        scenario: g.scenario,
        purpose: g.purpose,
        partners: g.partners,
        datasets: datasets
            .iter()
            .map(|d| GrantedDataset {
                dataset: (*d).into(),
                columns: vec!["person_id".into(), "district".into(), "age".into()],
            })
            .collect(),
        term_start: g.term_start,
        term_end: g.term_end,
        rights: g.rights,
        mode: g.mode,
        privacy: g.privacy,
        budget: g.budget,
        export_policy: g.export_policy,
    }
}

/// Number of refused audit records with this action.
pub fn refused_count(f: &Fixture, action: &str) -> i64 {
    Raw::open(f.dir.path()).int("SELECT COUNT(*) FROM audit WHERE action = ?1 AND outcome = 'refused'", &[P::T(action)])
}
