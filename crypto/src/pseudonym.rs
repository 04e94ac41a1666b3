//! Pseudonymisation of the join key: HMAC-SHA256 under a per-authorization key, so the
//! custodian (on social data) and the domain (on public data) derive the same pseudonym while
//! nobody without the key can link a pseudonym back to a person by hashing candidates.

use crate::error::{CryptoError, Result};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Domain-separation label mixed into every pseudonym (format version 1).
const LABEL: &[u8] = b"shuyu/pseudonym/v1\0";

/// The 32-byte secret of one authorization's pseudonyms. Zeroed on drop; `Debug` never prints
/// it and there is no `Display`.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct PseudonymKey([u8; 32]);

impl std::fmt::Debug for PseudonymKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PseudonymKey(<redacted>)")
    }
}

/// A pseudonymised join key (HMAC-SHA256 output).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct Pseudonym(pub [u8; 32]);

impl Pseudonym {
    /// Lower-case hex, the form stored in bundles and joined on in SQL.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl PseudonymKey {
    /// A fresh random key from the operating system's entropy.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::fill(&mut bytes);
        PseudonymKey(bytes)
    }

    /// Wraps 32 secret bytes (e.g. read from the authorization's secret store).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        PseudonymKey(bytes)
    }

    /// Reads the key from its hex form (64 hex digits).
    pub fn from_hex(text: &str) -> Result<Self> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text.trim(), &mut bytes)
            .map_err(|_| CryptoError::malformed("pseudonym key", "expected 64 hex digits"))?;
        Ok(PseudonymKey(bytes))
    }

    /// The key's hex form, for the authorization's secret store only.
    pub fn to_hex_secret(&self) -> String {
        hex::encode(self.0)
    }

    /// The pseudonym of one join-key value (its UTF-8 or binary bytes, as the catalog declares).
    pub fn pseudonymise(&self, join_key: &[u8]) -> Pseudonym {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC accepts any key length");
        mac.update(LABEL);
        mac.update(join_key);
        Pseudonym(mac.finalize().into_bytes().into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_key_same_pseudonym_other_key_other_pseudonym() {
        let key = PseudonymKey::from_bytes([7; 32]);
        let again = PseudonymKey::from_hex(&key.to_hex_secret()).unwrap();
        assert_eq!(key.pseudonymise(b"110101199001011234"), again.pseudonymise(b"110101199001011234"));
        assert_ne!(key.pseudonymise(b"110101199001011234"), key.pseudonymise(b"110101199001011235"));
        let other = PseudonymKey::from_bytes([8; 32]);
        assert_ne!(key.pseudonymise(b"x"), other.pseudonymise(b"x"));
        assert_eq!(format!("{key:?}"), "PseudonymKey(<redacted>)");
    }

    #[test]
    fn pseudonym_is_hmac_sha256_over_label_and_key() {
        // Independent computation with the RFC 2104 construction.
        use sha2::Digest;
        let key = [0x0bu8; 32];
        let message = [LABEL, b"abc".as_slice()].concat();
        let mut ipad = [0x36u8; 64];
        let mut opad = [0x5cu8; 64];
        for i in 0..32 {
            ipad[i] ^= key[i];
            opad[i] ^= key[i];
        }
        let inner = Sha256::new().chain_update(ipad).chain_update(&message).finalize();
        let outer = Sha256::new().chain_update(opad).chain_update(inner).finalize();
        assert_eq!(PseudonymKey::from_bytes(key).pseudonymise(b"abc").0.as_slice(), outer.as_slice());
    }
}
