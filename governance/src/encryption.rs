//! Secrets of the encrypted-data path (DESIGN "Encrypted social data"): the domain's
//! Ed25519 key signs release requests to a keyholder (the key that signs export manifests),
//! and a separate secret root derives each authorization's pseudonym key.

use ed25519_dalek::SigningKey;

use crate::error::Result;
use crate::keys;
use crate::store::Store;

impl Store {
    /// The domain's Ed25519 signing key, to sign job grants and release requests sent to a
    /// keyholder (the same key signs export manifests; [`Store::domain_public_key`] is its
    /// public half). Never log it or store it elsewhere.
    pub fn domain_signing_key(&self) -> &SigningKey {
        &self.inner.signing_key
    }

    /// The domain's secret root of pseudonym keys (`domain/pseudonym.key`, 32 random bytes,
    /// created once, readable by the owner only). Each authorization's pseudonym key is
    /// derived from it with a keyed hash; the root never leaves the domain.
    pub fn pseudonym_root(&self) -> Result<[u8; 32]> {
        keys::load_or_create_secret(&self.inner.layout.domain_dir().join("pseudonym.key"))
    }
}
