//! The signed manifest of an exported product: what is signed, and its offline check with
//! the domain's public key alone.

use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use shuyu_privacy::PrivacyDefinition;

use super::ExportStatus;
use crate::error::{GovernanceError, Result};
use crate::ids::{AuthorizationId, ProductId, UnitId};

/// The manifest of an exported product: what it is and where it comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportManifest {
    /// Always [`MANIFEST_FORMAT`](super::MANIFEST_FORMAT).
    pub format: String,
    /// The product.
    pub product: ProductId,
    /// SHA-256 of the product's bytes.
    pub product_sha256: String,
    /// The unit.
    pub unit: UnitId,
    /// The unit's name.
    pub unit_name: String,
    /// The unit's credit code.
    pub unit_credit_code: String,
    /// The authorization.
    pub authorization: AuthorizationId,
    /// Its scenario.
    pub scenario: String,
    /// Datasets the job read (sorted).
    pub datasets: Vec<String>,
    /// The query text.
    pub query: String,
    /// Privacy cost in nano-units of `privacy`.
    pub cost_nano: u64,
    /// Epsilon (pure DP) or rho (zCDP).
    pub privacy: PrivacyDefinition,
    /// How the export was allowed.
    pub approval: ExportStatus,
    /// When the manifest was issued (RFC 3339, UTC).
    pub issued_at: String,
    /// The domain's public key (hex) that signed it.
    pub domain_key: String,
}

impl ExportManifest {
    /// The exact bytes that are signed (compact JSON of the fields in declaration order).
    pub fn signing_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// A manifest with the domain's signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedManifest {
    /// The manifest.
    pub manifest: ExportManifest,
    /// Ed25519 signature over [`ExportManifest::signing_bytes`] (hex).
    pub signature: String,
}

impl SignedManifest {
    /// Verifies the signature with the domain's public key.
    pub fn verify(&self, public_key: &[u8; 32]) -> Result<()> {
        let sig = hex::decode(&self.signature)
            .map_err(|_| GovernanceError::invalid("signature", "is not hex"))?;
        verify_manifest(public_key, &self.manifest, &sig)
    }
}

/// Verifies offline that `manifest` was signed by the domain whose public key is given.
pub fn verify_manifest(
    public_key: &[u8; 32],
    manifest: &ExportManifest,
    signature: &[u8],
) -> Result<()> {
    let key = VerifyingKey::from_bytes(public_key)
        .map_err(|_| GovernanceError::invalid("public_key", "is not an Ed25519 public key"))?;
    let sig = Signature::from_slice(signature)
        .map_err(|_| GovernanceError::invalid("signature", "is not a 64-byte Ed25519 signature"))?;
    key.verify(&manifest.signing_bytes(), &sig).map_err(|_| {
        GovernanceError::invalid("signature", "does not match the manifest and key; the manifest was altered or not issued by this domain")
    })
}
