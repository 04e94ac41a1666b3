//! The linear tier's secret key (custodian side), encryption of value blocks, and decryption
//! of aggregates.

use super::aggregate::LinearAggregate;
use super::ntt::Transformed;
use super::{mask_from_seed, plan, GLWE_DIMENSION, LWE_DIMENSION, NOISE_BOUND_LOG2, POLYNOMIAL_SIZE, SCALE_LOG2};
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
        let message = (phase.wrapping_add(1u128 << (SCALE_LOG2 - 1)) >> SCALE_LOG2) as u64 as i64;
        let noise = phase.wrapping_sub((message as u64 as u128) << SCALE_LOG2) as i128;
        (message, noise)
    }

    /// The key's polynomials in CRT-NTT form.
    fn transformed(&self) -> [Transformed; GLWE_DIMENSION] {
        let ntt = plan();
        std::array::from_fn(|j| {
            let ones: Vec<usize> =
                (0..POLYNOMIAL_SIZE).filter(|&i| self.bits[j * POLYNOMIAL_SIZE + i] == 1).collect();
            let mut t = ntt.zero();
            ntt.forward_binary(&ones, &mut t);
            t
        })
    }
}

/// One block of up to `N` encrypted values: the public mask seed and one body coefficient per
/// value (`16` bytes per value).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinearBlock {
    seed: u128,
    body: Vec<u128>,
}

impl LinearBlock {
    /// Number of values in the block.
    pub fn rows(&self) -> usize {
        self.body.len()
    }

    pub(crate) fn seed(&self) -> u128 {
        self.seed
    }

    pub(crate) fn body(&self) -> &[u128] {
        &self.body
    }

    /// Serialized size in bytes.
    pub fn byte_len(&self) -> usize {
        20 + 16 * self.body.len()
    }

    /// Serializes the block: seed (16 bytes LE), value count (u32 LE), bodies (16 bytes LE each).
    pub fn write_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.seed.to_le_bytes());
        out.extend_from_slice(&(self.body.len() as u32).to_le_bytes());
        for b in &self.body {
            out.extend_from_slice(&b.to_le_bytes());
        }
    }

    /// Reads one block from the front of `bytes`; returns it and the bytes consumed.
    pub fn read_from(bytes: &[u8]) -> Result<(Self, usize)> {
        let bad = || CryptoError::malformed("linear block", "truncated");
        let seed = u128::from_le_bytes(bytes.get(..16).ok_or_else(bad)?.try_into().map_err(|_| bad())?);
        let rows = u32::from_le_bytes(bytes.get(16..20).ok_or_else(bad)?.try_into().map_err(|_| bad())?) as usize;
        if rows == 0 || rows > POLYNOMIAL_SIZE {
            return Err(CryptoError::malformed("linear block", "value count outside 1..=2048"));
        }
        let end = 20 + 16 * rows;
        let body = bytes
            .get(20..end)
            .ok_or_else(bad)?
            .chunks_exact(16)
            .map(|c| u128::from_le_bytes(c.try_into().expect("16-byte chunk")))
            .collect();
        Ok((LinearBlock { seed, body }, end))
    }
}

/// An encrypted column of the linear tier: full blocks of `N` values, the last one possibly
/// shorter, and the declared bound of its values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinearColumn {
    blocks: Vec<LinearBlock>,
    bound: u32,
}

impl LinearColumn {
    /// Assembles a column; refuses a short block anywhere but at the end.
    pub fn new(blocks: Vec<LinearBlock>, bound: u32) -> Result<Self> {
        if let Some(i) = blocks.iter().rev().skip(1).position(|b| b.rows() != POLYNOMIAL_SIZE) {
            return Err(CryptoError::InvalidInput(format!(
                "block {} of a linear column holds fewer than {POLYNOMIAL_SIZE} values; only the last block may",
                blocks.len() - 2 - i
            )));
        }
        Ok(LinearColumn { blocks, bound })
    }

    /// The blocks, in row order.
    pub fn blocks(&self) -> &[LinearBlock] {
        &self.blocks
    }

    /// The declared upper bound of every value.
    pub fn bound(&self) -> u32 {
        self.bound
    }

    /// Number of values.
    pub fn rows(&self) -> u64 {
        self.blocks.iter().map(|b| b.rows() as u64).sum()
    }

    /// Serialized size of all blocks in bytes.
    pub fn byte_len(&self) -> usize {
        self.blocks.iter().map(LinearBlock::byte_len).sum()
    }
}

/// Encrypts values under a [`LinearSecretKey`] (custodian side).
/// Holds the key in transformed form, zeroed on drop.
pub struct LinearEncryptor {
    key_ntt: [Transformed; GLWE_DIMENSION],
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
    /// Prepares the key for encryption.
    pub fn new(key: &LinearSecretKey) -> Self {
        LinearEncryptor { key_ntt: key.transformed() }
    }

    /// Encrypts up to `N` values (each `<= bound`) into one block with a fresh mask seed and
    /// fresh `TUniform(30)` noise. Refuses a value above the bound, naming its row only.
    pub fn encrypt_block(&self, column: &str, first_row: u64, values: &[u32], bound: u32) -> Result<LinearBlock> {
        if values.is_empty() || values.len() > POLYNOMIAL_SIZE {
            return Err(CryptoError::InvalidInput(format!("a block holds 1..={POLYNOMIAL_SIZE} values")));
        }
        if let Some(i) = values.iter().position(|&v| v > bound) {
            return Err(CryptoError::AboveBound { column: column.to_string(), row: first_row + i as u64, bound });
        }
        let seed = fresh_seed();
        let mut noise = vec![0u128; values.len()];
        let mut noise_generator = RandomGenerator::<DefaultRandomGenerator>::new(Seed(fresh_seed()));
        noise_generator.fill_slice_with_random_from_distribution(&mut noise, TUniform::<u128>::new(NOISE_BOUND_LOG2));
        let mut body = self.mask_times_key(seed);
        body.truncate(values.len());
        for ((b, &v), e) in body.iter_mut().zip(values).zip(&noise) {
            *b = b.wrapping_add((v as u128) << SCALE_LOG2).wrapping_add(*e);
        }
        noise.zeroize();
        Ok(LinearBlock { seed, body })
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

    /// `sum_j A_j * S_j` for the mask expanded from `seed`.
    fn mask_times_key(&self, seed: u128) -> Vec<u128> {
        let ntt = plan();
        let mask = mask_from_seed(seed);
        let mut acc = ntt.zero();
        let mut t = ntt.zero();
        for (j, key) in self.key_ntt.iter().enumerate() {
            ntt.forward_u128(&mask[j * POLYNOMIAL_SIZE..(j + 1) * POLYNOMIAL_SIZE], &mut t);
            ntt.mul_accumulate(&mut acc, &t, key);
        }
        ntt.finish(acc)
    }
}
