//! The keyholder as the runtime sees it: whoever decrypts a job's noised aggregates. The
//! server's gRPC client of `shuyu keyholder serve` implements [`Keyholder`]; the runtime
//! never knows the transport.

use ed25519_dalek::SigningKey;
use shuyu_crypto::release::ReleaseRequest;

use crate::RuntimeError;

/// Decrypts the noised aggregates of one job.
#[async_trait::async_trait]
pub trait Keyholder: Send + Sync + std::fmt::Debug {
    /// Grants the request's job as many values as it carries, signs the grant and the
    /// request with the domain's key `signing`, and returns the decrypted values in order.
    /// A refusal is [`RuntimeError::Denied`], an unreachable keyholder
    /// [`RuntimeError::Unavailable`].
    async fn release(&self, signing: &SigningKey, request: ReleaseRequest) -> Result<Vec<i64>, RuntimeError>;
}
