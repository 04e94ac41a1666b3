//! Fused queries over an approved encrypted import (`imports.<name>`), planned like any
//! private plan: the same budget split ([`crate::QueryBudget::share`]), the same
//! [`crate::Calibrator`], the same composition rule ([`crate::plan::compose`]) and the same
//! EXPLAIN renderer ([`crate::explain::ExplainTable`]). Executing them (the plaintext part
//! in DataFusion, the encrypted part on TFHE-rs, release through the keyholder) is
//! `shuyu-compute`'s.
//!
//! The plaintext part (the join on the pseudonymised key, public filters, public group keys)
//! yields, per import row, a group id or "dropped". The encrypted part (comparisons with
//! constants, conditional sums and counts) runs under encryption; integer DP noise drawn
//! with OpenDP is added under encryption and only the noised aggregates go to the keyholder.
//!
//! Contribution bounding: an import holds at most one row per pseudonym (checked at upload);
//! a person is kept if any of their public rows passes the public filters and is counted in
//! one group only (the first group, in domain order, their public rows reach). One person
//! therefore moves a SUM by at most the column's bound and a COUNT by one.
//!
//! Only columns whose bound the domain verified (a zero-knowledge proof, then clamping: the
//! bootstrapped tier) may be aggregated. Linear-tier columns rest on the data holder's word
//! and are refused in DP releases.
//!
//! ## Layout
//! - [`query`]: [`FusedQuery`], the accepted shape, split into its two parts.
//! - [`parse`]: SQL → [`FusedQuery`], or a refusal with its code.
//! - [`groups`]: [`Groups`], the product of the public domains, and the result schema.
//! - [`plan`]: [`EncryptedPlan`]: the checks against the import and the catalog, the
//!   measurements and their calibration.
//! - [`explain`]: EXPLAIN PRIVACY of a fused query.

pub mod explain;
pub mod groups;
pub mod parse;
pub mod plan;
pub mod query;
#[cfg(test)]
mod tests;

pub use groups::{result_schema, Groups};
pub use parse::{named_import, parse};
pub use plan::{plan, EncryptedPlan, ImportColumn, ImportShape};
pub use query::{Aggregate, EncryptedFilter, FusedQuery, Output, PublicSide};

/// Schema that names imports in SQL: `imports.<name>`.
pub const IMPORT_SCHEMA: &str = "imports";
/// The import's pseudonymised join-key column.
pub const PSEUDONYM_COLUMN: &str = "pseudonym";
/// The UDF the domain computes pseudonyms of a public column with.
pub const PSEUDONYM_UDF: &str = "shuyu_pseudonym";
/// Most groups one fused query may release.
pub const MAX_GROUPS: usize = 64;

