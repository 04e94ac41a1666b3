//! # shuyu-datasets
//!
//! Deterministic generators of a realistic city's public data, and the catalog manifests
//! that declare each table's privacy contract.
//!
//! ## Layout
//! - [`manifest`]: manifest types (TOML): classification, privacy unit, per-column type,
//!   sensitivity, bounds, public domain, masking rule.
//! - [`demo`] (always available): the four demo tables of a synthetic Changchun
//!   (`residents`, `medical_visits`, `enterprises`, `districts`), their manifests embedded
//!   from `manifests/*.toml` ([`demo_manifests`]), and their public domains as constants.
//! - `generate` (feature `generate`, default): `generate()` writes the demo tables as
//!   Parquet, with their manifests and a `dataset.json` marker, byte-identical for the same
//!   (residents, seed); `is_generated` tells whether a folder already holds them.
//!   Internals: `generate/rng.rs` (ChaCha streams per chunk, portable samplers),
//!   `generate/tables.rs` (row generators), `generate/words.rs` (word lists, district facts),
//!   `generate/files.rs` (temporary files, atomic renames, the Parquet writer).
//! - `masking` (feature `samples`): the dev environment's masking rules, checked against
//!   each column's sensitivity and type, and the deployment's secret `MaskingKey`.
//! - [`declarations`]: the [`DeclarationsVerified`] witness and the checks of
//!   `rows_per_unit = "one"` and `unique_keys` (unique, never NULL); `verify` (feature
//!   `verify`): `verify_parquet()` streams a table's Parquet data through them.
//! - `sample` (feature `samples`): `build_samples()` writes seeded, masked samples of the
//!   tables (sampled by privacy unit so joins still match) into a folder replaced whole.
//! - `examples/generate.rs`: command-line front end (`cargo run --release --example generate
//!   -- <residents> <out_dir> [seed]`).
//!
//! Without the `generate` feature the crate has no Arrow, Parquet or rayon dependency: it is
//! the manifest types and the demo manifests, for governance's catalog.

pub mod declarations;
pub mod demo;
#[cfg(feature = "generate")]
pub mod generate;
pub mod manifest;
#[cfg(feature = "samples")]
pub mod masking;
#[cfg(feature = "samples")]
pub mod sample;
#[cfg(feature = "verify")]
pub mod verify;

pub use declarations::DeclarationsVerified;
pub use demo::{demo_manifest, demo_manifests};
use shuyu_privacy::Fault;
#[cfg(feature = "generate")]
pub use generate::{
    ensure_generated, generate, is_generated, load_report, GenerateOptions, GenerateReport,
    TableReport,
};
#[cfg(feature = "verify")]
pub use verify::verify_parquet;
pub use manifest::{
    Classification, ColumnManifest, ColumnType, MaskingRule, PrivacyUnit, RowsPerUnit, Sensitivity,
    TableManifest,
};

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
pub enum DatasetsError {
    /// A manifest is malformed or inconsistent.
    #[error("invalid manifest: {0}")]
    Manifest(String),
    /// Reading or writing a file failed.
    #[error("i/o error on {path}: {source}")]
    Io {
        /// The file concerned.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A column's masking rule is missing or does not fit it; or the data does not match
    /// its manifest.
    #[error("cannot mask: {0}")]
    Masking(String),
    /// A manifest's declaration (`rows_per_unit = "one"`, a unique key) does not hold for
    /// its data; the message names the column and a count, never a value.
    #[error("a declaration of the manifest is false: {0}")]
    Declaration(String),
    /// Reading Parquet data failed.
    #[error("reading data failed: {0}")]
    Read(String),
    /// Writing Parquet or Arrow data failed.
    #[error("writing data failed: {0}")]
    Write(String),
    /// The generator was asked for something it cannot do (e.g. zero residents).
    #[error("invalid options: {0}")]
    InvalidOptions(String),
}

impl DatasetsError {
    /// The fault class: a manifest, masking rule, declaration or option the caller gave is
    /// wrong; reading or writing files failed on the server.
    pub fn fault(&self) -> Fault {
        match self {
            DatasetsError::Manifest(_)
            | DatasetsError::Masking(_)
            | DatasetsError::Declaration(_)
            | DatasetsError::InvalidOptions(_) => Fault::InvalidArgument,
            DatasetsError::Io { .. } | DatasetsError::Read(_) | DatasetsError::Write(_) => Fault::Internal,
        }
    }
}
