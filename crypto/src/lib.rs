//! Encrypted social data for shuyu (REQUIREMENTS R8, DESIGN "Encrypted social data").
//!
//! Layout:
//! - [`bootstrapped`]: the bootstrapped tier (TFHE-rs integers, proven imports, predicates).
//! - [`bundle`]: the import bundle (manifest + framed ciphertext files), streaming writer.
//! - [`error`]: the crate's error enum and the fault class of each error (`fault()`).
//! - [`keyholder`]: the keyholder policy: grants, signed release requests, journal.
//! - [`keys`]: custodian keys, domain keys, the domain's CRS; versioned serialization.
//! - [`linear`]: the linear tier (packed GLWE over the 2^128 torus, sums by public masks) and
//!   the domain's conversion of proven, clamped values into it.
//! - [`noise`]: integer DP noise added to aggregates under encryption.
//! - [`params`]: the TFHE-rs parameter set of the bootstrapped tier.
//! - [`pseudonym`]: keyed-hash (HMAC-SHA256) pseudonyms of the join key.
//! - [`release`]: job grants and release requests, Ed25519-signed by the domain.
pub mod bootstrapped;
pub mod bundle;
pub mod error;
pub mod keyholder;
pub mod keys;
pub mod linear;
pub mod noise;
pub mod params;
pub mod pseudonym;
pub mod release;

pub use error::{CryptoError, Result};
