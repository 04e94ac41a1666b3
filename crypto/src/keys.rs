//! Key material of the two tiers: what the custodian keeps secret, what the domain may hold,
//! and the CRS the domain generates for bound proofs. Serialized with TFHE-rs's versioned
//! `safe_serialization` inside a small framed envelope (magic, format version, sections).

use crate::error::{CryptoError, Result};
use crate::linear::LinearSecretKey;
use tfhe::safe_serialization::{safe_deserialize, safe_serialize};
use tfhe::zk::CompactPkeCrs;
use tfhe::{ClientKey, CompactPublicKey, CompressedServerKey, ServerKey};
use zeroize::Zeroizing;

/// Upper bound on any serialized key section read back (the uncompressed server key is about
/// 172 MB; the compressed one is smaller).
const SERIALIZATION_LIMIT: u64 = 1 << 30;

const CUSTODIAN_MAGIC: &[u8; 8] = b"SYCUST01";
const DOMAIN_MAGIC: &[u8; 8] = b"SYDOMK01";
const CRS_MAGIC: &[u8; 8] = b"SYZCRS01";

/// The custodian's secret keys: the TFHE-rs client key (bootstrapped tier) and the linear
/// tier's GLWE key. Never leaves the custodian; no `Debug`, no `Display`.
pub struct CustodianKeys {
    client_key: ClientKey,
    linear: LinearSecretKey,
}

impl std::fmt::Debug for CustodianKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CustodianKeys(<redacted>)")
    }
}

/// What the domain holds: the (compressed) server key for bootstrapped operations and the
/// compact public key data holders encrypt with. Neither decrypts anything.
#[derive(Clone)]
pub struct DomainKeys {
    server_key: CompressedServerKey,
    public_key: CompactPublicKey,
}

impl std::fmt::Debug for DomainKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DomainKeys { server_key, public_key }")
    }
}

fn put_section(out: &mut Vec<u8>, section: &[u8]) {
    out.extend_from_slice(&(section.len() as u64).to_le_bytes());
    out.extend_from_slice(section);
}

fn take_section<'a>(bytes: &mut &'a [u8], what: &'static str) -> Result<&'a [u8]> {
    let len = bytes.get(..8).ok_or_else(|| CryptoError::malformed(what, "truncated"))?;
    let len = u64::from_le_bytes(len.try_into().expect("8 bytes")) as usize;
    let section = bytes.get(8..8usize.saturating_add(len)).ok_or_else(|| CryptoError::malformed(what, "truncated"))?;
    *bytes = &bytes[8 + len..];
    Ok(section)
}

fn check_magic<'a>(bytes: &'a [u8], magic: &[u8; 8], what: &'static str) -> Result<&'a [u8]> {
    match bytes.strip_prefix(magic.as_slice()) {
        Some(rest) => Ok(rest),
        None => Err(CryptoError::malformed(what, "not this object or another format version")),
    }
}

pub(crate) fn to_tfhe_bytes<T: serde::Serialize + tfhe::Versionize + tfhe::named::Named>(
    object: &T,
    what: &'static str,
) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    safe_serialize(object, &mut out, SERIALIZATION_LIMIT).map_err(|e| CryptoError::malformed(what, e.to_string()))?;
    Ok(out)
}

pub(crate) fn from_tfhe_bytes<T>(bytes: &[u8], what: &'static str) -> Result<T>
where
    T: serde::de::DeserializeOwned + tfhe::Unversionize + tfhe::named::Named,
{
    safe_deserialize(bytes, SERIALIZATION_LIMIT).map_err(|e| CryptoError::malformed(what, e))
}

impl CustodianKeys {
    /// Generates fresh keys for both tiers (the TFHE-rs keys use [`crate::params::config`]).
    pub fn generate() -> Self {
        CustodianKeys {
            client_key: ClientKey::generate(crate::params::config()),
            linear: LinearSecretKey::generate(),
        }
    }

    /// Derives the keys the domain may hold (slow: the server key takes seconds to build).
    pub fn domain_keys(&self) -> DomainKeys {
        DomainKeys {
            server_key: CompressedServerKey::new(&self.client_key),
            public_key: CompactPublicKey::new(&self.client_key),
        }
    }

    /// The TFHE-rs client key (decrypts bootstrapped-tier aggregates).
    pub fn client_key(&self) -> &ClientKey {
        &self.client_key
    }

    /// The linear tier's secret key (encrypts linear columns, decrypts their aggregates).
    pub fn linear_key(&self) -> &LinearSecretKey {
        &self.linear
    }

    /// Serializes both secret keys; the result must be stored as a secret (the buffer is
    /// zeroed when dropped).
    pub fn to_bytes(&self) -> Result<Zeroizing<Vec<u8>>> {
        let mut out = Zeroizing::new(CUSTODIAN_MAGIC.to_vec());
        put_section(&mut out, &Zeroizing::new(to_tfhe_bytes(&self.client_key, "client key")?));
        put_section(&mut out, &self.linear.to_bytes());
        Ok(out)
    }

    /// Reads keys written by [`CustodianKeys::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut rest = check_magic(bytes, CUSTODIAN_MAGIC, "custodian keys")?;
        let client_key = from_tfhe_bytes(take_section(&mut rest, "custodian keys")?, "client key")?;
        let linear = LinearSecretKey::from_bytes(take_section(&mut rest, "custodian keys")?)?;
        if !rest.is_empty() {
            return Err(CryptoError::malformed("custodian keys", "trailing bytes"));
        }
        Ok(CustodianKeys { client_key, linear })
    }
}

impl DomainKeys {
    /// The compact public key data holders encrypt bootstrapped-tier columns with.
    pub fn public_key(&self) -> &CompactPublicKey {
        &self.public_key
    }

    /// Decompresses the server key (done once per process; set it with
    /// [`crate::bootstrapped::install_server_key`]).
    pub fn server_key(&self) -> ServerKey {
        self.server_key.decompress()
    }

    /// Serializes the domain's keys.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut out = DOMAIN_MAGIC.to_vec();
        put_section(&mut out, &to_tfhe_bytes(&self.server_key, "server key")?);
        put_section(&mut out, &to_tfhe_bytes(&self.public_key, "public key")?);
        Ok(out)
    }

    /// Reads keys written by [`DomainKeys::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut rest = check_magic(bytes, DOMAIN_MAGIC, "domain keys")?;
        let server_key = from_tfhe_bytes(take_section(&mut rest, "domain keys")?, "server key")?;
        let public_key = from_tfhe_bytes(take_section(&mut rest, "domain keys")?, "public key")?;
        if !rest.is_empty() {
            return Err(CryptoError::malformed("domain keys", "trailing bytes"));
        }
        Ok(DomainKeys { server_key, public_key })
    }
}

/// The common reference string of the zero-knowledge bound proofs. Generated by the domain
/// (so the unit cannot know a trapdoor) and handed to data holders with the public key.
#[derive(Clone)]
pub struct DomainCrs {
    crs: CompactPkeCrs,
    max_bits: usize,
}

impl DomainCrs {
    /// Generates a CRS for proven lists of up to `max_bits` plaintext bits (for example 512:
    /// 16 values of 32 bits, or 64 of 8 bits, per proven list).
    pub fn generate(max_bits: usize) -> Result<Self> {
        Ok(DomainCrs { crs: CompactPkeCrs::from_config(crate::params::config(), max_bits)?, max_bits })
    }

    /// The TFHE-rs CRS.
    pub fn crs(&self) -> &CompactPkeCrs {
        &self.crs
    }

    /// Plaintext bits one proven list may carry.
    pub fn max_bits(&self) -> usize {
        self.max_bits
    }

    /// Serializes the CRS.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut out = CRS_MAGIC.to_vec();
        out.extend_from_slice(&(self.max_bits as u64).to_le_bytes());
        out.extend_from_slice(&to_tfhe_bytes(&self.crs, "CRS")?);
        Ok(out)
    }

    /// Reads a CRS written by [`DomainCrs::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let rest = check_magic(bytes, CRS_MAGIC, "CRS")?;
        let max_bits = u64::from_le_bytes(rest.get(..8).ok_or_else(|| CryptoError::malformed("CRS", "truncated"))?.try_into().expect("8 bytes")) as usize;
        Ok(DomainCrs { crs: from_tfhe_bytes(&rest[8..], "CRS")?, max_bits })
    }
}
