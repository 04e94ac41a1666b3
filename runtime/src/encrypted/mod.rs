//! Encrypted social data in the runtime: fused queries over an approved import
//! (`imports.<name>`), run as jobs of the one job sequence.
//!
//! ## Layout
//! - [`context`]: what the domain holds to compute on imports: the server and public keys,
//!   its CRS, the verified and converted column caches, the per-authorization pseudonym keys.
//! - [`keyholder`]: the [`Keyholder`] trait the server's gRPC client implements.
//! - [`fused`]: the accepted query shape, parsed; the plaintext part in DataFusion; the
//!   released batch.
//! - [`execute`]: a fused query's plan (checks, groups, calibration), and its run: the
//!   plaintext part, the encrypted part with noise under encryption, release through the
//!   keyholder.
//! - [`explain`]: EXPLAIN PRIVACY of a fused query, in the planner's EXPLAIN schema.
//! - [`verify`]: an uploaded bundle checked before it is filed (bound proofs, one row per
//!   person, its authorization).

pub mod context;
pub mod execute;
pub mod explain;
pub mod fused;
pub mod keyholder;
pub mod verify;

use std::sync::Arc;

pub use context::EncryptionContext;
pub use keyholder::Keyholder;

/// The domain's encryption material and the keyholder that releases its aggregates.
#[derive(Debug, Clone)]
pub struct Encryption {
    /// Keys, CRS and caches.
    pub context: Arc<EncryptionContext>,
    /// Decrypts the noised aggregates of a job.
    pub keyholder: Arc<dyn Keyholder>,
}
