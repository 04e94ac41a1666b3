//! # shuyu-governance
//!
//! The bureau's control over data: catalog, operating units and people, credentials,
//! the authorization workflow, authorizations, the privacy-budget ledger, the audit chain, jobs and metering, products
//! and exports, social-data imports, suspension and revocation, quality issues, reports.
//! Everything lives in one embedded SQLite file of the data directory; every write that
//! matters is one transaction that carries its own audit record.
//!
//! # Layout
//! - [`store`]: the [`Store`] handle (`Send + Sync`, cheap to clone), connection pool,
//!   transaction rules and concurrency model; [`group_commit`]: concurrent writes sharing
//!   one transaction and one fsync, each returning once durable; [`migrations`]: versioned
//!   schema (`migrations_pg`: the same versions on PostgreSQL). `sql`: the one SQL layer over
//!   both backends (SQLite, PostgreSQL: [`Backend`]); `holders`: which handles are alive.
//! - [`layout`]: files of the data directory (database, domain keys, per-unit areas).
//! - [`actor`]: [`Principal`], [`Role`] and the crate's verified caller, with its role and
//!   tenant checks.
//! - [`access`]: resolving a principal against the store, the checks every call goes through
//!   (re-verified caller, tenant isolation, audited refusals).
//! - [`catalog`]: datasets registered from their manifests, with the witness
//!   ([`shuyu_datasets::DeclarationsVerified`]) that their declarations hold for the data.
//! - [`units`]: operating units and real-name people; [`credentials`]: bearer tokens and
//!   [`Store::authenticate`].
//! - [`authorizations`]: one scenario per authorization, the grant checks, session scopes;
//!   its privacy terms hold `shuyu_privacy::PrivacyDefinition`, stored as `pure_dp`/`zcdp`.
//! - [`ledger`]: reserve / commit / release in exact nano-units of epsilon/rho and
//!   atto-units of delta ([`amount`]; converted from input in [`amount_input`]), crash recovery; [`loss`]: each unit's composed
//!   privacy loss per dataset across its authorizations, and the bureau's caps on it.
//! - [`audit`]: the hash chain, verification, retention and purge, queries.
//! - [`jobs`]: one job per query, metering; [`exports`]: products, lineage, export review
//!   (exports need the `product_operation` right), signed manifests and [`verify_manifest`];
//!   [`encryption`]: the domain's release-signing key and pseudonym root (encrypted imports).
//!   [`imports`]: social-data imports.
//! - [`lifecycle`]: suspend, reinstate, revoke (with deletion of the unit's or the
//!   authorization's files, finished by the next [`Store::open`] if a crash interrupts it).
//! - [`quality`]: data-quality issues, routed to the provider with a deadline and answered;
//!   [`reports`]: per-unit operation reports.
//! - [`workflow`]: the authorization workflow (Art. 9, 11-14, 16, 17, 26): announcements,
//!   applications with qualifications, qualification and expert review, the decision and
//!   the signed agreement (unit, analyst and first authorization in one transaction);
//!   per-scenario data requests reviewed by the bureau and each provider, then granted;
//!   annual evaluations, rectification, and suspension when a deadline is missed
//!   ([`Store::enforce_deadlines`], also run at [`Store::open`]).
//! - [`clock`]: injectable time; [`error`]: the one error type, [`GovernanceError`], and its
//!   fault class (`fault()`, from which [`JobStatus::ended_by`] records a job's end).
//!
//! Privacy amounts are [`Nano`] (1e-9 epsilon or rho) and [`Atto`] (1e-18 delta): charges
//! round up, grants round down, both exactly; sums are exact.
//!
//! # Example: from an empty data directory to one charged query
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use chrono::Duration;
//! use shuyu_governance::*;
//! use shuyu_privacy::PrivacyDefinition;
//!
//! let dir = tempfile::tempdir()?;
//! let store = Store::open(dir.path())?;
//! let (admin, _token) = store.bootstrap_admin("Wang Fang", "11010519491231002X", Duration::days(30))?;
//! let admin = admin.principal();
//! let manifest = shuyu_datasets::TableManifest::from_toml(r#"
//!     name = "households"
//!     domain = "civil_affairs"
//!     classification = "sensitive"
//!     [privacy_unit]
//!     column = "person_id"
//!     kind = "person"
//!     rows_per_unit = "one"
//!     [[columns]]
//!     name = "person_id"
//!     type = "utf8"
//!     sensitivity = "unit_key"
//!     [[columns]]
//!     name = "age"
//!     type = "int64"
//!     sensitivity = "personal"
//!     lower = 0.0
//!     upper = 120.0
//! "#)?;
//! // The declarations (one row per person_id) are checked against the data: here over key
//! // values in memory; a real registration streams the Parquet file with
//! // `shuyu_datasets::verify_parquet` (feature `verify`).
//! let verified = DeclarationsVerified::from_key_values(&manifest, |_| Some(vec![Some("a"), Some("b")]))?;
//! store.register_dataset(&admin, &manifest, "/data/households.parquet", &verified)?;
//! let unit = store.create_unit(&admin, "Changchun Analytics Co.", "91350100M000100Y43")?;
//! let analyst = store.create_person(&admin, &NewPerson {
//!     name: "Chen Jing".into(), id_number: "110105199001010045".into(),
//!     role: Role::UnitAnalyst, unit: Some(unit), provider: None,
//! })?;
//! let token = store.issue_token(&admin, analyst, Duration::days(7))?;
//! let analyst = store.authenticate(token.token.expose())?;
//!
//! let now = store.now();
//! let auth = store.grant(&admin, &NewAuthorization {
//!     unit, scenario: "ageing".into(), purpose: "elderly care planning".into(), partners: vec![],
//!     datasets: vec![GrantedDataset { dataset: "households".into(), columns: vec!["person_id".into(), "age".into()] }],
//!     term_start: now, term_end: now + Duration::days(365),
//!     rights: vec![Right::ProcessingUse], mode: Mode::Free,
//!     privacy: PrivacyTerms { kind: PrivacyDefinition::PureDp, delta: 0.0 },
//!     budget: BudgetTerms { total: 1.0, per_query_cap: 0.5, per_query_default: 0.1, delta_total: None },
//!     export_policy: ExportPolicy::Automatic,
//! })?;
//!
//! let job = store.create_job(&analyst, &NewJob {
//!     authorization: auth, sql: "SELECT AVG(age) FROM households".into(), environment: Environment::Prod,
//! })?;
//! let cost = Nano::charge(0.125, "cost")?; // exact: rounded up to the nano-unit
//! let charge = Charge::new(cost, Atto::ZERO, vec!["households".into()]);
//! let reservation = store.reserve(auth, job, &charge)?;
//! let budget = store.commit(&reservation, cost, Atto::ZERO)?;
//! assert_eq!(budget.remaining, Nano::parse_decimal("0.875", "remaining")?);
//! store.finish_job(job, &JobOutcome {
//!     status: JobStatus::Succeeded, metering: Metering { releases: 1, ..Metering::default() },
//!     datasets: vec!["households".into()], failure: None,
//! })?;
//! store.verify_ledger()?;
//! store.verify_audit()?;
//! # Ok(())
//! # }
//! ```

#[macro_use]
mod macros;

pub mod access;
pub mod actor;
pub mod amount;
pub mod amount_input;
pub mod audit;
pub mod authorizations;
pub mod catalog;
pub mod clock;
pub mod credentials;
pub mod error;
pub mod exports;
pub mod ids;
pub mod encryption;
pub mod imports;
pub mod jobs;
mod keys;
pub mod layout;
pub mod ledger;
pub mod lifecycle;
pub mod group_commit;
mod holders;
pub mod migrations;
mod migrations_pg;
pub mod loss;
pub mod quality;
mod recovery;
pub mod reports;
mod sql;
pub mod store;
pub mod units;
pub mod validate;
pub mod workflow;

pub use actor::{Principal, Role};
pub use amount::{Atto, Nano, ATTOS_PER_UNIT, NANOS_PER_UNIT};
pub use audit::{AuditFilter, AuditRecord, Outcome, PurgeReport, VerifyReport, RETENTION_DAYS};
pub use authorizations::{
    Authorization, AuthorizationStatus, Budget, BudgetTerms, ExportPolicy, GrantedDataset, Mode,
    NewAuthorization, PrivacyTerms, Right, ScenarioTerms, Scope, ScopedTable,
};
pub use catalog::Dataset;
pub use shuyu_datasets::DeclarationsVerified;
pub use clock::{Clock, ManualClock, SystemClock};
pub use credentials::{CredentialInfo, IssuedToken, SecretToken};
pub use error::{GovernanceError, Result, ServerError};
pub use exports::{
    verify_manifest, ExportDecision, ExportManifest, ExportRecord, ExportStatus, Lineage,
    NewProduct, Product, ProductStatus, SignedManifest,
};
pub use ids::{
    AnnouncementId, ApplicationId, AuthorizationId, CredentialId, DataRequestId, DatasetId,
    EvaluationId, ExportId, ImportId, IssueId, JobId, PersonId, ProductId, ReservationId, UnitId,
};
pub use imports::{Import, ImportStatus};
pub use jobs::{Environment, Job, JobFilter, JobOutcome, JobStatus, Metering, NewJob};
pub use layout::UnitArea;
pub use ledger::{
    Charge, LedgerReport, RecoveryReport, Reservation, ReservationInfo, ReservationState,
};
pub use loss::{LossCap, PrivacyLoss, CONVERSION_DELTA};
pub use lifecycle::RevocationReport;
pub use quality::{IssueStatus, QualityIssue};
pub use reports::UnitReport;
pub use group_commit::WriteStats;
pub use store::{Backend, Store, StoreOptions, DEFAULT_MAX_BATCH};
pub use units::{NewPerson, Person, Unit, UnitStatus};
pub use workflow::{
    Agreement, AgreementTerms, Announcement, Application, ApplicationStatus, Attachment,
    DataRequest, Evaluation, EvaluationStatus, ExpertOpinion, NewAnnouncement, NewApplication,
    NewDataRequest, NewEvaluation, Qualifications, RequestReview, RequestStatus, ReviewParty,
};
