//! The linear tier's secret key (custodian side), encryption of value blocks, and decryption
//! of aggregates.

use super::aggregate::LinearAggregate;
use super::column::{BlockMask, LinearBlock, LinearColumn};
use super::ntt::Transformed;
use super::{mask_from_seed, plan_for, Ring, GLWE_DIMENSION, LWE_DIMENSION, NOISE_BOUND_LOG2, POLYNOMIAL_SIZE, SCALE_LOG2, SEEDED_RING};
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

/// Encrypts under a [`LinearSecretKey`]: value blocks of the custodian's layout
/// ([`SEEDED_RING`]), or, for the conversion's packing key, GLWE ciphertexts of the key read
/// as one polynomial of 4096 coefficients ([`super::PACKED_RING`]). Holds the key in transformed
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
