//! Release requests: what the domain sends the custodian's keyholder to decrypt, signed with
//! the domain's Ed25519 key over a digest that binds the job, the authorization and every
//! ciphertext; and job grants, signed just before a job's release request, telling the
//! keyholder how many values that job may release.
//!
//! Nothing in either carries a figure that depends on the data other than the noised
//! ciphertexts: a grant is job, authorization and value count (releases × public groups); a
//! request is job, authorization and the values, each an aggregate whose only clear fields are
//! public figures shared by every group of its release (tier, origin, per-row bound, the
//! import's row count, the noise's distribution and scale). `docs/encryption.md` lists them.

use crate::bootstrapped::BootstrappedAggregate;
use crate::error::{CryptoError, Result};
use crate::linear::LinearAggregate;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};

/// The tier of one encrypted value in a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tier {
    /// A [`LinearAggregate`].
    Linear,
    /// A [`BootstrappedAggregate`].
    Bootstrapped,
}

impl Tier {
    fn tag(self) -> u8 {
        match self {
            Tier::Linear => 1,
            Tier::Bootstrapped => 2,
        }
    }
    fn from_tag(tag: u8) -> Result<Self> {
        match tag {
            1 => Ok(Tier::Linear),
            2 => Ok(Tier::Bootstrapped),
            _ => Err(CryptoError::malformed("release request", "unknown tier")),
        }
    }
}

/// One noised encrypted value, serialized.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncryptedValue {
    /// Its tier.
    pub tier: Tier,
    /// Its serialized aggregate.
    pub bytes: Vec<u8>,
}

fn unnoised() -> CryptoError {
    CryptoError::InvalidInput("an aggregate without DP noise cannot be released; add the release's noise first".into())
}

impl EncryptedValue {
    /// Wraps a noised linear aggregate; refuses one without noise.
    pub fn linear(aggregate: &LinearAggregate) -> Result<Self> {
        aggregate.figures().noise.as_ref().ok_or_else(unnoised)?;
        Ok(EncryptedValue { tier: Tier::Linear, bytes: aggregate.to_bytes() })
    }

    /// Wraps a noised bootstrapped aggregate; refuses one without noise.
    pub fn bootstrapped(aggregate: &BootstrappedAggregate) -> Result<Self> {
        aggregate.figures().noise.as_ref().ok_or_else(unnoised)?;
        Ok(EncryptedValue { tier: Tier::Bootstrapped, bytes: aggregate.to_bytes()? })
    }

    /// What anyone reads of the value without a key: its header (public figures) and, for
    /// the bootstrapped tier, each block's degree, noise level and triviality. The keyholder
    /// sees exactly this; it must not depend on the data (the release attack tests compare
    /// it across groups).
    pub fn clear_fields(&self) -> Result<(Vec<u8>, Vec<(u64, String, bool)>)> {
        match self.tier {
            Tier::Linear => Ok((self.bytes.get(..30).ok_or_else(|| CryptoError::malformed("linear aggregate", "truncated"))?.to_vec(), Vec::new())),
            Tier::Bootstrapped => {
                let body = self.bytes.get(29..).ok_or_else(|| CryptoError::malformed("bootstrapped aggregate", "truncated"))?;
                let fhe: tfhe::FheUint64 = tfhe::safe_serialization::safe_deserialize(body, 1 << 30)
                    .map_err(|e| CryptoError::malformed("bootstrapped aggregate", e.to_string()))?;
                let (radix, ..) = fhe.into_raw_parts();
                let blocks = tfhe::integer::IntegerCiphertext::blocks(&radix)
                    .iter()
                    .map(|b| (b.degree.get(), format!("{:?}", b.noise_level()), b.is_trivial()))
                    .collect();
                Ok((self.bytes[..29].to_vec(), blocks))
            }
        }
    }
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.0.len() < n {
            return Err(CryptoError::malformed("release message", "truncated"));
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }
    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8 bytes")))
    }
    fn bytes(&mut self) -> Result<&'a [u8]> {
        let n = usize::try_from(self.u64()?).map_err(|_| CryptoError::malformed("release message", "length"))?;
        self.take(n)
    }
    fn string(&mut self) -> Result<String> {
        String::from_utf8(self.bytes()?.to_vec()).map_err(|_| CryptoError::malformed("release message", "not UTF-8"))
    }
    fn signature(&mut self) -> Result<Option<Signature>> {
        match self.take(1)?[0] {
            0 => Ok(None),
            1 => Ok(Some(Signature::from_bytes(self.take(64)?.try_into().expect("64 bytes")))),
            _ => Err(CryptoError::malformed("release message", "signature flag")),
        }
    }
}

fn put_signature(out: &mut Vec<u8>, signature: &Option<Signature>) {
    match signature {
        None => out.push(0),
        Some(s) => {
            out.push(1);
            out.extend_from_slice(&s.to_bytes());
        }
    }
}

/// A job's allowance at the keyholder: how many values the job may have decrypted. Signed by
/// the domain and sent just before the job's release request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobGrant {
    /// The job.
    pub job_id: String,
    /// The authorization the job runs under.
    pub authorization_id: String,
    /// Number of values the job releases.
    pub values: u64,
    /// The domain's signature over [`JobGrant::digest`], if signed.
    pub signature: Option<Signature>,
}

impl JobGrant {
    /// An unsigned grant.
    pub fn new(job_id: impl Into<String>, authorization_id: impl Into<String>, values: u64) -> Self {
        JobGrant { job_id: job_id.into(), authorization_id: authorization_id.into(), values, signature: None }
    }

    /// SHA-256 over a domain-separated encoding of the grant's fields.
    pub fn digest(&self) -> [u8; 32] {
        let mut data = b"shuyu/job-grant/v1\0".to_vec();
        put_str(&mut data, &self.job_id);
        put_str(&mut data, &self.authorization_id);
        data.extend_from_slice(&self.values.to_le_bytes());
        Sha256::digest(&data).into()
    }

    /// Signs the grant with the domain's key.
    pub fn sign(mut self, key: &SigningKey) -> Self {
        self.signature = Some(key.sign(&self.digest()));
        self
    }

    /// Checks the signature against the domain's public key.
    pub fn verify(&self, domain: &VerifyingKey) -> Result<()> {
        verify(domain, &self.digest(), &self.signature, "job grant")
    }

    /// Wire form, little endian: magic `SYGRNT01`, job id and authorization id (u64 length +
    /// UTF-8 each), value count (u64), signature (u8 flag, 64 bytes).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = b"SYGRNT01".to_vec();
        put_str(&mut out, &self.job_id);
        put_str(&mut out, &self.authorization_id);
        out.extend_from_slice(&self.values.to_le_bytes());
        put_signature(&mut out, &self.signature);
        out
    }

    /// Reads the wire form.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader(bytes);
        if r.take(8)? != b"SYGRNT01" {
            return Err(CryptoError::malformed("job grant", "not a job grant or another version"));
        }
        let grant = JobGrant { job_id: r.string()?, authorization_id: r.string()?, values: r.u64()?, signature: r.signature()? };
        if !r.0.is_empty() {
            return Err(CryptoError::malformed("job grant", "trailing bytes"));
        }
        Ok(grant)
    }
}

fn verify(domain: &VerifyingKey, digest: &[u8; 32], signature: &Option<Signature>, what: &str) -> Result<()> {
    let signature = signature
        .as_ref()
        .ok_or_else(|| CryptoError::ReleaseRefused(format!("the {what} is not signed by the domain")))?;
    domain
        .verify(digest, signature)
        .map_err(|_| CryptoError::ReleaseRefused(format!("the {what}'s signature does not verify against the domain's key")))
}

/// Magic of the release request's wire form, format 02 (its values are aggregates of the formats
/// that carry public figures only: `SYLINA03`, `SYBOOA02`).
const RELEASE_MAGIC: &[u8; 8] = b"SYRELQ02";
/// Magic of format 01, whose aggregates carried per-group row counts and noise magnitudes.
const OLD_RELEASE_MAGIC: &[u8; 8] = b"SYRELQ01";

/// A request to decrypt the noised values of one job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReleaseRequest {
    /// The job.
    pub job_id: String,
    /// The authorization the job runs under.
    pub authorization_id: String,
    /// The noised encrypted values, in release order.
    pub values: Vec<EncryptedValue>,
    /// The domain's signature over [`ReleaseRequest::digest`], if signed.
    pub signature: Option<Signature>,
}

impl ReleaseRequest {
    /// An unsigned request.
    pub fn new(job_id: impl Into<String>, authorization_id: impl Into<String>, values: Vec<EncryptedValue>) -> Self {
        ReleaseRequest { job_id: job_id.into(), authorization_id: authorization_id.into(), values, signature: None }
    }

    /// SHA-256 over a domain-separated encoding of job, authorization, value count and each
    /// value's tier and SHA-256: changing any ciphertext invalidates the signature.
    pub fn digest(&self) -> [u8; 32] {
        let mut data = b"shuyu/release/v2\0".to_vec();
        put_str(&mut data, &self.job_id);
        put_str(&mut data, &self.authorization_id);
        data.extend_from_slice(&(self.values.len() as u64).to_le_bytes());
        for value in &self.values {
            data.push(value.tier.tag());
            data.extend_from_slice(&Sha256::digest(&value.bytes));
        }
        Sha256::digest(&data).into()
    }

    /// Signs the request with the domain's key.
    pub fn sign(mut self, key: &SigningKey) -> Self {
        self.signature = Some(key.sign(&self.digest()));
        self
    }

    /// Checks the signature against the domain's public key.
    pub fn verify(&self, domain: &VerifyingKey) -> Result<()> {
        verify(domain, &self.digest(), &self.signature, "release request")
    }

    /// Wire form (for a gRPC `bytes` field), little endian: magic `SYRELQ02`, job id and
    /// authorization id (u64 length + UTF-8 each), value count (u64), per value its tier (u8:
    /// 1 linear, 2 bootstrapped) and serialized aggregate (u64 length + bytes), then the
    /// signature (u8 flag, 64 bytes).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = RELEASE_MAGIC.to_vec();
        put_str(&mut out, &self.job_id);
        put_str(&mut out, &self.authorization_id);
        out.extend_from_slice(&(self.values.len() as u64).to_le_bytes());
        for value in &self.values {
            out.push(value.tier.tag());
            out.extend_from_slice(&(value.bytes.len() as u64).to_le_bytes());
            out.extend_from_slice(&value.bytes);
        }
        put_signature(&mut out, &self.signature);
        out
    }

    /// Reads the wire form.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader(bytes);
        let magic = r.take(8)?;
        if magic == OLD_RELEASE_MAGIC {
            return Err(CryptoError::malformed(
                "release request",
                "format 01, whose aggregates carried each group's row count and noise magnitude; \
                 this keyholder reads format 02 only: upgrade the domain",
            ));
        }
        if magic != RELEASE_MAGIC {
            return Err(CryptoError::malformed("release request", "not a release request or another version"));
        }
        let job_id = r.string()?;
        let authorization_id = r.string()?;
        let count = r.u64()?;
        let mut values = Vec::new();
        for _ in 0..count {
            let tier = Tier::from_tag(r.take(1)?[0])?;
            values.push(EncryptedValue { tier, bytes: r.bytes()?.to_vec() });
        }
        let signature = r.signature()?;
        if !r.0.is_empty() {
            return Err(CryptoError::malformed("release request", "trailing bytes"));
        }
        Ok(ReleaseRequest { job_id, authorization_id, values, signature })
    }
}
