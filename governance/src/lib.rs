//! # shuyu-governance
//!
//! The bureau's control over data: catalog, operating units and people, credentials,
//! authorizations, the privacy-budget ledger, the audit chain, jobs and metering, products
//! and exports, social-data imports, suspension and revocation, quality issues, reports.
//! Everything lives in one embedded SQLite file of the data directory; every write that
//! matters is one transaction that carries its own audit record.
//!
//! # Layout
//! - [`store`]: the [`Store`] handle (`Send + Sync`, cheap to clone), connection pool,
//!   transaction rules and concurrency model; [`migrations`]: versioned schema.
//! - [`layout`]: files of the data directory (database, domain keys, per-unit areas).
//! - [`access`]: [`Principal`], [`Role`], and the checks every call goes through
//!   (re-verified caller, tenant isolation, audited refusals).
//! - [`catalog`]: datasets registered from their manifests.
//! - [`units`]: operating units and real-name people; [`credentials`]: bearer tokens and
//!   [`Store::authenticate`].
//! - [`authorizations`]: one scenario per authorization, the grant checks, session scopes.
//! - [`ledger`]: reserve / commit / release in exact nano-units ([`amount`]), crash recovery.
//! - [`audit`]: the hash chain, verification, retention and purge, queries.
//! - [`jobs`]: one job per query, metering; [`exports`]: products, lineage, export review,
//!   signed manifests and [`verify_manifest`]; [`imports`]: social-data imports.
//! - [`lifecycle`]: suspend, reinstate, revoke (with deletion of the unit's files).
//! - [`quality`]: data-quality issues; [`reports`]: per-unit operation reports.
//! - [`clock`]: injectable time; [`error`]: the one error type, [`GovernanceError`].
//!
//! Privacy amounts are [`Nano`] (1e-9 epsilon or rho): charges round up, grants round
//! down, sums are exact.

#[macro_use]
mod macros;

pub mod access;
pub mod amount;
pub mod audit;
pub mod authorizations;
pub mod catalog;
pub mod clock;
pub mod credentials;
pub mod error;
pub mod exports;
pub mod ids;
pub mod imports;
pub mod jobs;
mod keys;
pub mod layout;
pub mod ledger;
pub mod lifecycle;
pub mod migrations;
pub mod quality;
pub mod reports;
pub mod store;
pub mod units;
pub mod validate;

pub use access::{Principal, Role};
pub use amount::{Nano, NANOS_PER_UNIT};
pub use audit::{AuditFilter, AuditRecord, Outcome, PurgeReport, VerifyReport, RETENTION_DAYS};
pub use authorizations::{
    Authorization, AuthorizationStatus, BudgetTerms, ExportPolicy, GrantedDataset, Mode, NewAuthorization,
    PrivacyDefinition, PrivacyKind, Right, Scope, ScopedTable,
};
pub use catalog::Dataset;
pub use clock::{Clock, ManualClock, SystemClock};
pub use credentials::{CredentialInfo, IssuedToken, SecretToken};
pub use error::{GovernanceError, Result};
pub use exports::{
    verify_manifest, ExportDecision, ExportManifest, ExportRecord, ExportStatus, Lineage, NewProduct, Product,
    ProductStatus, SignedManifest,
};
pub use ids::{
    AuthorizationId, CredentialId, DatasetId, ExportId, ImportId, IssueId, JobId, PersonId, ProductId, ReservationId,
    UnitId,
};
pub use imports::{Import, ImportStatus};
pub use jobs::{Environment, Job, JobFilter, JobOutcome, JobStatus, Metering, NewJob};
pub use layout::UnitArea;
pub use ledger::{Budget, LedgerReport, RecoveryReport, Reservation, ReservationInfo, ReservationState};
pub use lifecycle::RevocationReport;
pub use quality::{IssueStatus, QualityIssue};
pub use reports::UnitReport;
pub use store::{Store, StoreOptions};
pub use units::{NewPerson, Person, Unit, UnitStatus};
