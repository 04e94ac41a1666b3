//! Fused queries over encrypted imports, executed: the domain's encryption material and
//! caches, the plaintext part in DataFusion, the encrypted part on shuyu-crypto's tiers with
//! noise drawn by [`crate::noise`] added under encryption, and the release through the
//! keyholder. The planner plans them (`shuyu_planner::encrypted`); the runtime runs them as
//! jobs.
//!
//! ## Layout
//! - [`context`]: [`EncryptionContext`]: the server and public keys, the CRS, the verified
//!   and converted column caches, the background conversions (stopped at shutdown).
//! - [`keyholder`]: the [`Keyholder`] trait, injected by the server (its gRPC client).
//! - [`verify`]: an uploaded bundle verified before it is filed (bound proofs, one row per
//!   person, its authorization), and its conversion into the linear tier started.
//! - [`plaintext`]: the pseudonym UDF, each import row's group, the released batch.
//! - [`execute`]: [`Prepared`]: the plan checked against the tiers, its EXPLAIN, its run.

pub mod context;
pub mod execute;
pub mod keyholder;
pub mod plaintext;
pub mod verify;

use std::sync::Arc;

pub use context::{EncryptionContext, CONVERTED_DIR, CRS_MAX_BITS};
pub use execute::{prepare, Prepared};
pub use keyholder::Keyholder;

/// The domain's encryption material and the keyholder that releases its aggregates.
#[derive(Debug, Clone)]
pub struct Encryption {
    /// Keys, CRS and caches.
    pub context: Arc<EncryptionContext>,
    /// Decrypts the noised aggregates of a job.
    pub keyholder: Arc<dyn Keyholder>,
}
