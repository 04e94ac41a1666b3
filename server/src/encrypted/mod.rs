//! Encrypted social data in the service (issue 5, DESIGN "Encrypted social data").
//!
//! ## Layout
//! - [`custodian`]: the key custodian's commands, run outside the domain: `shuyu keys
//!   generate` and `shuyu encrypt` (CSV or Parquet in, an import bundle out).
//! - [`keyholder`]: `shuyu keyholder serve` (the gRPC keyholder over shuyu-crypto's
//!   [`Keyholder`](shuyu_crypto::keyholder::Keyholder)) and the domain's client of it.
//! - [`context`]: what the domain holds to compute on imports: the server and public keys,
//!   its CRS, the keyholder's address, the per-authorization pseudonym keys.
//! - [`imports`]: the analysts' `shuyu.imports.v1.Imports` service: encryption parameters,
//!   bundle upload, verification and the import request.
//! - [`execute`]: a fused query as a governed job: checks, reservation, encrypted part,
//!   keyholder release, commit, job record.
//! - [`fused`]: queries naming an approved import (`imports.<name>`): the plaintext part in
//!   DataFusion, the encrypted part on the bootstrapped tier (or the linear tier for sums over
//!   columns converted at upload, with no encrypted filter), noise under encryption,
//!   release through the keyholder, charged and audited like any other job.

pub mod context;
pub mod custodian;
pub mod execute;
pub mod fused;
pub mod imports;
pub mod keyholder;

pub use context::EncryptionContext;
