//! Encrypted social data at the domain's edges (issue 5, DESIGN "Encrypted social data").
//! Fused queries over approved imports run in `shuyu-runtime` (`shuyu_runtime::encrypted`).
//!
//! ## Layout
//! - [`custodian`]: the key custodian's commands, run outside the domain: `shuyu keys
//!   generate` and `shuyu encrypt` (CSV or Parquet in, an import bundle out).
//! - [`keyholder`]: `shuyu keyholder serve` (the gRPC keyholder over shuyu-crypto's
//!   [`Keyholder`](shuyu_crypto::keyholder::Keyholder)) and the domain's client of it, the
//!   runtime's [`shuyu_runtime::Keyholder`].
//! - [`imports`]: the analysts' `shuyu.imports.v1.Imports` service: encryption parameters,
//!   bundle upload, verification and the import request.

pub mod custodian;
pub mod imports;
pub mod keyholder;
