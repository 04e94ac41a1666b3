//! The linear tier's secret key (custodian side), encryption of value blocks, and decryption
//! of aggregates.

use super::aggregate::LinearAggregate;
use super::ntt::Transformed;
use super::{
    mask_from_seed, plan_for, Ring, CONVERTED_SCALE_LOG2, PACKED_RING, SEEDED_RING, GLWE_DIMENSION, LWE_DIMENSION, MAX_CONVERTED_ROWS_PER_AGGREGATE,
    MAX_ROWS_PER_AGGREGATE, NOISE_BOUND_LOG2, POLYNOMIAL_SIZE, SCALE_LOG2,
};
use crate::error::{CryptoError, Result};
use rayon::prelude::*;
use tfhe::core_crypto::commons::math::random::{DefaultRandomGenerator, RandomGenerator, Seed, TUniform};
use tfhe::core_crypto::prelude::{
    allocate_and_generate_new_binary_glwe_secret_key, GlweDimension, PolynomialSize, SecretRandomGenerator,
};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

const KEY_MAGIC: &[u8; 8] = b"SYLINK01";

/// The binary GLWE secret key of the linear tier (`k * N = 4096` bits). Held by the custodian
/// only; zeroed on drop; its `Debug` never prints the key.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct LinearSecretKey {
    bits: Vec<u8>,
}

impl std::fmt::Debug for LinearSecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinearSecretKey(<redacted>)")
    }
}

pub(crate) fn fresh_seed() -> u128 {
    tfhe::core_crypto::seeders::new_seeder().seed().0
}

impl LinearSecretKey {
    /// Generates a fresh uniform binary key with TFHE-rs's secret generator, seeded from the
    /// operating system's entropy.
    pub fn generate() -> Self {
        let mut seeder = tfhe::core_crypto::seeders::new_seeder();
        let mut generator = SecretRandomGenerator::<DefaultRandomGenerator>::new(seeder.seed());
        let key = allocate_and_generate_new_binary_glwe_secret_key::<u128, _>(
            GlweDimension(GLWE_DIMENSION),
            PolynomialSize(POLYNOMIAL_SIZE),
            &mut generator,
        );
        let bits = key.as_ref().iter().map(|&b| b as u8).collect();
        LinearSecretKey { bits }
    }

    /// Serializes the key: an 8-byte magic with the format version, then the bits packed 8 to
    /// a byte. The caller must store the result as a secret (the buffer is zeroed on drop).
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(KEY_MAGIC.to_vec());
        out.extend(self.bits.chunks(8).map(|c| c.iter().enumerate().fold(0u8, |acc, (i, &b)| acc | (b << i))));
        out
    }

    /// Reads a key written by [`LinearSecretKey::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        if bytes.len() != 8 + LWE_DIMENSION / 8 || &bytes[..8] != KEY_MAGIC {
            return Err(CryptoError::malformed("linear secret key", "wrong length or format version"));
        }
        let bits = bytes[8..].iter().flat_map(|&byte| (0..8).map(move |i| (byte >> i) & 1)).collect();
        Ok(LinearSecretKey { bits })
    }

    /// Decrypts an aggregate: the signed sum of its values plus any DP noise added under
    /// encryption.
    pub fn decrypt(&self, aggregate: &LinearAggregate) -> i64 {
        self.decrypt_with_noise(aggregate).0
    }

    /// Decrypts an aggregate and also returns its ciphertext noise (the phase minus the
    /// rounded message), for noise-budget diagnostics.
    pub fn decrypt_with_noise(&self, aggregate: &LinearAggregate) -> (i64, i128) {
        let dot = aggregate
            .mask()
            .iter()
            .zip(&self.bits)
            .filter(|(_, &b)| b == 1)
            .fold(0u128, |acc, (&a, _)| acc.wrapping_add(a));
        let phase = aggregate.body().wrapping_sub(dot);
        let scale = aggregate.scale_log2();
        // The rounded quotient, read as a signed integer of `128 - scale` bits.
        let quotient = phase.wrapping_add(1u128 << (scale - 1)) >> scale;
        let message = ((quotient << scale) as i128 >> scale) as i64;
        let noise = phase.wrapping_sub((message as i128 as u128) << scale) as i128;
        (message, noise)
    }

    /// The key's polynomials in CRT-NTT form, for `ring` (the same 4096 bits either way: bit
    /// `j * N + i` is coefficient `i` of polynomial `j`).
    fn transformed(&self, ring: Ring) -> Vec<Transformed> {
        let ntt = plan_for(ring.n);
        (0..ring.k)
            .map(|j| {
                let ones: Zeroizing<Vec<usize>> =
                    Zeroizing::new((0..ring.n).filter(|&i| self.bits[j * ring.n + i] == 1).collect());
                let mut t = ntt.zero();
                ntt.forward_binary(&ones, &mut t);
                t
            })
            .collect()
    }
}

/// Where a block's GLWE mask comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
enum BlockMask {
    /// Expanded from a public seed (custodian encryption with the secret key).
    Seeded(u128),
    /// Stored in full (one polynomial of 4096 coefficients, [`super::PACKED_RING`]): blocks the
    /// domain packs itself ([`super::ConversionKey`]), whose masks come out of a keyswitch.
    Explicit(Vec<u128>),
}

/// Flag in the serialized value count of a block with an explicit mask.
const EXPLICIT_MASK_FLAG: u32 = 1 << 31;

/// One block of encrypted values: the GLWE mask (a public seed, for up to 2048 values the
/// custodian encrypted; or the full mask of up to 4096 values the domain packed) and one body
/// coefficient per value (`16` bytes per value).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinearBlock {
    mask: BlockMask,
    body: Vec<u128>,
}

impl LinearBlock {
    /// A block packed by the domain: its full mask and the first `rows` body coefficients.
    pub(crate) fn packed(mask: Vec<u128>, body: Vec<u128>) -> Self {
        debug_assert_eq!(mask.len(), LWE_DIMENSION);
        debug_assert!(body.len() <= PACKED_RING.n);
        LinearBlock { mask: BlockMask::Explicit(mask), body }
    }

    /// The ring of the block's GLWE ciphertext.
    pub(crate) fn ring(&self) -> Ring {
        match self.mask {
            BlockMask::Seeded(_) => SEEDED_RING,
            BlockMask::Explicit(_) => PACKED_RING,
        }
    }

    /// Number of values in the block.
    pub fn rows(&self) -> usize {
        self.body.len()
    }

    /// The block's GLWE mask, `k` polynomials of `N` coefficients (4096 coefficients in all).
    pub(crate) fn mask(&self) -> std::borrow::Cow<'_, [u128]> {
        match &self.mask {
            BlockMask::Seeded(seed) => std::borrow::Cow::Owned(mask_from_seed(*seed)),
            BlockMask::Explicit(mask) => std::borrow::Cow::Borrowed(mask),
        }
    }

    pub(crate) fn body(&self) -> &[u128] {
        &self.body
    }

    /// Serialized size in bytes.
    pub fn byte_len(&self) -> usize {
        let mask = match self.mask {
            BlockMask::Seeded(_) => 0,
            BlockMask::Explicit(_) => 16 * LWE_DIMENSION,
        };
        20 + 16 * self.body.len() + mask
    }

    /// Serializes the block: seed (16 bytes LE, zero for an explicit mask), value count (u32 LE,
    /// its top bit set for an explicit mask), bodies (16 bytes LE each), then an explicit mask.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        let (seed, flag) = match self.mask {
            BlockMask::Seeded(seed) => (seed, 0),
            BlockMask::Explicit(_) => (0, EXPLICIT_MASK_FLAG),
        };
        out.extend_from_slice(&seed.to_le_bytes());
        out.extend_from_slice(&(self.body.len() as u32 | flag).to_le_bytes());
        for b in &self.body {
            out.extend_from_slice(&b.to_le_bytes());
        }
        if let BlockMask::Explicit(mask) = &self.mask {
            for m in mask {
                out.extend_from_slice(&m.to_le_bytes());
            }
        }
    }

    /// Reads one block from the front of `bytes`; returns it and the bytes consumed.
    pub fn read_from(bytes: &[u8]) -> Result<(Self, usize)> {
        let bad = || CryptoError::malformed("linear block", "truncated");
        let u128s = |range: std::ops::Range<usize>| -> Result<Vec<u128>> {
            Ok(bytes
                .get(range)
                .ok_or_else(bad)?
                .chunks_exact(16)
                .map(|c| u128::from_le_bytes(c.try_into().expect("16-byte chunk")))
                .collect())
        };
        let seed = u128::from_le_bytes(bytes.get(..16).ok_or_else(bad)?.try_into().map_err(|_| bad())?);
        let count = u32::from_le_bytes(bytes.get(16..20).ok_or_else(bad)?.try_into().map_err(|_| bad())?);
        let explicit = count & EXPLICIT_MASK_FLAG != 0;
        let rows = (count & !EXPLICIT_MASK_FLAG) as usize;
        let capacity = if explicit { PACKED_RING.n } else { SEEDED_RING.n };
        if rows == 0 || rows > capacity {
            return Err(CryptoError::malformed("linear block", format!("value count outside 1..={capacity}")));
        }
        let end = 20 + 16 * rows;
        let body = u128s(20..end)?;
        if !explicit {
            return Ok((LinearBlock { mask: BlockMask::Seeded(seed), body }, end));
        }
        let mask_end = end + 16 * LWE_DIMENSION;
        Ok((LinearBlock { mask: BlockMask::Explicit(u128s(end..mask_end)?), body }, mask_end))
    }
}

/// How a linear column's ciphertexts were made, which decides what its bound is worth.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinearOrigin {
    /// Encrypted by the custodian with the secret key: the domain cannot check the values
    /// against the declared bound, so releases over such a column are refused.
    Custodian,
    /// Converted by the domain from proven, clamped bootstrapped-tier values
    /// ([`super::ConversionKey`]): every value is at most the bound. Scale `2^70`.
    Converted,
}

impl LinearOrigin {
    /// `log2` of the scale the values sit at.
    pub fn scale_log2(self) -> u32 {
        match self {
            LinearOrigin::Custodian => SCALE_LOG2,
            LinearOrigin::Converted => CONVERTED_SCALE_LOG2,
        }
    }

    /// Most rows one aggregate of such a column may sum and stay exact.
    pub fn max_rows_per_aggregate(self) -> u64 {
        match self {
            LinearOrigin::Custodian => MAX_ROWS_PER_AGGREGATE,
            LinearOrigin::Converted => MAX_CONVERTED_ROWS_PER_AGGREGATE,
        }
    }
}

/// An encrypted column of the linear tier: full blocks of `N` values, the last one possibly
/// shorter, the declared bound of its values and how they were encrypted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinearColumn {
    blocks: Vec<LinearBlock>,
    bound: u32,
    origin: LinearOrigin,
}

impl LinearColumn {
    /// Assembles a column the custodian encrypted; refuses a short block anywhere but at the
    /// end.
    pub fn new(blocks: Vec<LinearBlock>, bound: u32) -> Result<Self> {
        Self::with_origin(blocks, bound, LinearOrigin::Custodian)
    }

    /// Assembles a column of the given origin. Only the domain's own conversion, or the
    /// domain's store reading back what the conversion wrote, may claim
    /// [`LinearOrigin::Converted`]. All blocks share one ring, and all but the last are full.
    pub fn with_origin(blocks: Vec<LinearBlock>, bound: u32, origin: LinearOrigin) -> Result<Self> {
        let ring = match origin {
            LinearOrigin::Custodian => blocks.first().map_or(SEEDED_RING, LinearBlock::ring),
            LinearOrigin::Converted => PACKED_RING,
        };
        if blocks.iter().any(|b| b.ring() != ring) {
            return Err(CryptoError::InvalidInput(
                "a linear column mixes seeded and packed blocks, or a converted column holds seeded ones".into(),
            ));
        }
        if let Some(i) = blocks.iter().rev().skip(1).position(|b| b.rows() != ring.n) {
            return Err(CryptoError::InvalidInput(format!(
                "block {} of a linear column holds fewer than {} values; only the last block may",
                blocks.len() - 2 - i,
                ring.n
            )));
        }
        Ok(LinearColumn { blocks, bound, origin })
    }

    /// The ring of the column's blocks.
    pub(crate) fn ring(&self) -> Ring {
        match self.origin {
            LinearOrigin::Custodian => self.blocks.first().map_or(SEEDED_RING, LinearBlock::ring),
            LinearOrigin::Converted => PACKED_RING,
        }
    }

    /// The blocks, in row order.
    pub fn blocks(&self) -> &[LinearBlock] {
        &self.blocks
    }

    /// The declared upper bound of every value.
    pub fn bound(&self) -> u32 {
        self.bound
    }

    /// How the column's ciphertexts were made.
    pub fn origin(&self) -> LinearOrigin {
        self.origin
    }

    /// Number of values.
    pub fn rows(&self) -> u64 {
        self.blocks.iter().map(|b| b.rows() as u64).sum()
    }

    /// Serialized size of all blocks in bytes.
    pub fn byte_len(&self) -> usize {
        self.blocks.iter().map(LinearBlock::byte_len).sum()
    }

    /// Serializes the column: its blocks' frames, one after the other ([`LinearBlock::write_to`]).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.byte_len());
        for block in &self.blocks {
            block.write_to(&mut out);
        }
        out
    }

    /// Reads a column written by [`LinearColumn::to_bytes`], of the given bound and origin, and
    /// checks it holds `rows` values.
    pub fn from_bytes(bytes: &[u8], bound: u32, origin: LinearOrigin, rows: u64) -> Result<Self> {
        let mut blocks = Vec::new();
        let mut rest = bytes;
        while !rest.is_empty() {
            let (block, used) = LinearBlock::read_from(rest)?;
            blocks.push(block);
            rest = &rest[used..];
        }
        let column = Self::with_origin(blocks, bound, origin)?;
        if column.rows() != rows {
            return Err(CryptoError::malformed("linear column", "row count differs from the import's"));
        }
        Ok(column)
    }
}

/// Encrypts under a [`LinearSecretKey`]: value blocks of the custodian's layout
/// ([`SEEDED_RING`]), or, for the conversion's packing key, GLWE ciphertexts of the key read
/// as one polynomial of 4096 coefficients ([`PACKED_RING`]). Holds the key in transformed
/// form, zeroed on drop.
pub struct LinearEncryptor {
    ring: Ring,
    key_ntt: Vec<Transformed>,
}

impl Drop for LinearEncryptor {
    fn drop(&mut self) {
        for poly in &mut self.key_ntt {
            for residues in poly.iter_mut() {
                residues.zeroize();
            }
        }
    }
}

impl LinearEncryptor {
    /// Prepares the key for encrypting value blocks (the custodian's layout).
    pub fn new(key: &LinearSecretKey) -> Self {
        Self::for_ring(key, SEEDED_RING)
    }

    /// Prepares the key for GLWE ciphertexts of `ring`.
    pub(crate) fn for_ring(key: &LinearSecretKey, ring: Ring) -> Self {
        LinearEncryptor { ring, key_ntt: key.transformed(ring) }
    }

    /// Encrypts up to `N` values (each `<= bound`) into one block with a fresh mask seed and
    /// fresh `TUniform(30)` noise. Refuses a value above the bound, naming its row only.
    pub fn encrypt_block(&self, column: &str, first_row: u64, values: &[u32], bound: u32) -> Result<LinearBlock> {
        debug_assert_eq!(self.ring, SEEDED_RING, "value blocks are of the custodian's layout");
        if values.is_empty() || values.len() > POLYNOMIAL_SIZE {
            return Err(CryptoError::InvalidInput(format!("a block holds 1..={POLYNOMIAL_SIZE} values")));
        }
        if let Some(i) = values.iter().position(|&v| v > bound) {
            return Err(CryptoError::AboveBound { column: column.to_string(), row: first_row + i as u64, bound });
        }
        let plaintext: Vec<u128> = values.iter().map(|&v| (v as u128) << SCALE_LOG2).collect();
        let (seed, body) = self.encrypt_seeded(&plaintext);
        Ok(LinearBlock { mask: BlockMask::Seeded(seed), body })
    }

    /// Encrypts a whole column in parallel (blocks of `N` values).
    pub fn encrypt_column(&self, column: &str, values: &[u32], bound: u32) -> Result<LinearColumn> {
        let blocks = values
            .par_chunks(POLYNOMIAL_SIZE)
            .enumerate()
            .map(|(i, chunk)| self.encrypt_block(column, (i * POLYNOMIAL_SIZE) as u64, chunk, bound))
            .collect::<Result<Vec<_>>>()?;
        LinearColumn::new(blocks, bound)
    }

    /// Encrypts `plaintext` (at most `N` coefficients, already scaled; the rest are 0) with a
    /// mask expanded from a fresh public seed and `TUniform(30)` noise. Returns the seed and the
    /// first `plaintext.len()` body coefficients (the mask is `mask_from_seed(seed)`).
    pub(crate) fn encrypt_seeded(&self, plaintext: &[u128]) -> (u128, Vec<u128>) {
        let (ntt, n) = (plan_for(self.ring.n), self.ring.n);
        let seed = fresh_seed();
        let mask = mask_from_seed(seed);
        let mut acc = ntt.zero();
        let mut t = ntt.zero();
        for (j, key) in self.key_ntt.iter().enumerate() {
            ntt.forward_u128(&mask[j * n..(j + 1) * n], &mut t);
            ntt.mul_accumulate(&mut acc, &t, key);
        }
        let mut body = ntt.finish(acc);
        body.truncate(plaintext.len());
        let mut noise = vec![0u128; plaintext.len()];
        let mut noise_generator = RandomGenerator::<DefaultRandomGenerator>::new(Seed(fresh_seed()));
        noise_generator.fill_slice_with_random_from_distribution(&mut noise, TUniform::<u128>::new(NOISE_BOUND_LOG2));
        for ((b, e), p) in body.iter_mut().zip(&noise).zip(plaintext) {
            *b = b.wrapping_add(*e).wrapping_add(*p);
        }
        noise.zeroize();
        (seed, body)
    }
}
