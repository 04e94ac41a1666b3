//! The keyholder as compute sees it: whoever decrypts a job's noised aggregates. The
//! server's gRPC client of `shuyu keyholder serve` implements [`Keyholder`] and is injected
//! with the [`super::Encryption`]; compute never knows the transport.

use ed25519_dalek::SigningKey;
use shuyu_crypto::release::ReleaseRequest;

use crate::ComputeError;

/// Decrypts the noised aggregates of one job.
#[async_trait::async_trait]
pub trait Keyholder: Send + Sync + std::fmt::Debug {
    /// Grants the request's job as many values as it carries, signs the grant and the
    /// request with the domain's key `signing`, and returns the decrypted values in order.
    /// A refusal or an unreachable keyholder is [`ComputeError::Keyholder`] with its fault
    /// class (permission denied, unavailable).
    async fn release(&self, signing: &SigningKey, request: ReleaseRequest) -> Result<Vec<i64>, ComputeError>;
}
