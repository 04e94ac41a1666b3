//! The domain's conversion of proven, clamped bootstrapped-tier values into the linear tier,
//! so that a column whose bound the domain has checked can be summed at linear-tier speed.
//!
//! # Why
//! A column the custodian encrypts with the linear secret key is cheap to sum but its bound
//! cannot be checked by the domain ([`super::LinearOrigin::Custodian`]). Values imported
//! through the bootstrapped tier are proven (zero-knowledge) and clamped under encryption, so
//! their bound holds; this module carries them into the linear encoding once, at import.
//!
//! # How
//! Each 32-bit value is 16 radix blocks of 2 bits (TFHE-rs `PARAM_MESSAGE_2_CARRY_2`). Blocks
//! are paired into eight 4-bit digits (`b0 + 4·b1`, noise level 5, the parameter set's
//! maximum). Each digit is keyswitched to the small key, modulus-switched with TFHE-rs's
//! centred-mean noise reduction, and blind-rotated with a 128-bit bootstrapping key whose
//! lookup table maps `d` to `d · 16^j · 2^70`: the output is an LWE ciphertext of dimension
//! 4096 over 2^128 under an intermediate key. The eight outputs sum to the value at scale
//! [`CONVERTED_SCALE_LOG2`](super::CONVERTED_SCALE_LOG2). A packing keyswitch then puts up to
//! 4096 of them into one GLWE ciphertext under the linear tier's key read as one polynomial
//! of 4096 coefficients (k = 1, N = 4096, the same key bits), whose mask is stored in full
//! ([`super::LinearBlock`]): 32 bytes per value in full blocks.
//!
//! # Noise and exactness
//! The 128-bit bootstrapping key uses TFHE-rs's noise-squashing GLWE parameters (k = 2,
//! N = 2048, TUniform(30), 128-bit security) with a finer decomposition than TFHE-rs's own
//! (base 2^10, 9 levels instead of 2^24, 3): measured output noise σ = 2^50.2 per digit
//! (2^64.6 with TFHE-rs's choice), `examples/verifiable_linear_cost.rs`. The packing key
//! (base 2^17, 5 levels, TUniform(30)) adds σ ≈ 2^51.6 per value by the standard keyswitch
//! variance `4096 · 5 · 2^34/12 · Var(TUniform(30))`. Per value σ ≈ 2^52.1; over
//! [`MAX_CONVERTED_ROWS_PER_AGGREGATE`](super::MAX_CONVERTED_ROWS_PER_AGGREGATE) = 2^24 rows
//! σ ≈ 2^64.1 against a rounding margin of 2^69, 29 standard deviations. The message space
//! at scale 2^70 is signed 57 bits: 2^24 values of 32 bits sum below 2^56.
//!
//! # Trust
//! The two keys are made by the custodian (`ConversionKey::generate`) and, like the server
//! key, are trusted to be well formed: a malformed bootstrapping key could write any value.
//! `docs/encryption.md` states the witnessed key ceremony this rests on.

use std::sync::atomic::{AtomicBool, Ordering};

use super::column::{LinearBlock, LinearColumn, LinearOrigin};
use super::key::{LinearEncryptor, LinearSecretKey};
use super::{CONVERTED_SCALE_LOG2, LWE_DIMENSION, PACKED_RING};
use crate::error::{CryptoError, Result};
use rayon::prelude::*;
use tfhe::core_crypto::prelude::*;
use tfhe::integer::IntegerCiphertext;
use tfhe::shortint::atomic_pattern::AtomicPatternServerKey;
use tfhe::shortint::ciphertext::NoiseLevel;
use tfhe::shortint::noise_squashing::atomic_pattern::AtomicPatternNoiseSquashingKey;
use tfhe::shortint::noise_squashing::{NoiseSquashingKey, NoiseSquashingPrivateKey, Shortint128BootstrappingKey};
use tfhe::shortint::parameters::{NoiseSquashingParameters, NOISE_SQUASHING_PARAM_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128};
use tfhe::shortint::PBSOrder;
use tfhe::FheUint32;
use zeroize::Zeroizing;

/// Decomposition base (log2) of the 128-bit bootstrapping key.
pub const BOOTSTRAP_BASE_LOG: usize = 10;
/// Decomposition levels of the 128-bit bootstrapping key.
pub const BOOTSTRAP_LEVELS: usize = 9;
/// Decomposition base (log2) of the packing keyswitch key.
pub const PACKING_BASE_LOG: usize = 17;
/// Decomposition levels of the packing keyswitch key.
pub const PACKING_LEVELS: usize = 5;
/// Bits per converted digit (two 2-bit radix blocks).
const DIGIT_BITS: usize = 4;
/// Radix blocks of a `FheUint32`.
const BLOCKS_PER_VALUE: usize = 16;

/// What the domain needs to convert proven values into the linear tier: a 128-bit
/// bootstrapping key from the bootstrapped tier's small key to an intermediate key, and a
/// packing keyswitch key from that key to the linear tier's GLWE key. Neither decrypts.
pub struct ConversionKey {
    squashing: NoiseSquashingKey,
    packing: LwePackingKeyswitchKeyOwned<u128>,
}

impl std::fmt::Debug for ConversionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ConversionKey { bootstrapping_key, packing_key }")
    }
}

fn conversion_parameters() -> NoiseSquashingParameters {
    let NoiseSquashingParameters::Classic(mut params) = NOISE_SQUASHING_PARAM_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128 else {
        unreachable!("TFHE-rs's CPU noise-squashing parameters are classic")
    };
    params.decomp_base_log = DecompositionBaseLog(BOOTSTRAP_BASE_LOG);
    params.decomp_level_count = DecompositionLevelCount(BOOTSTRAP_LEVELS);
    NoiseSquashingParameters::Classic(params)
}

impl ConversionKey {
    /// Generates the key (custodian side) and expands it at once; see
    /// [`CompressedConversionKey::generate`].
    pub fn generate(client_key: &tfhe::ClientKey, linear: &LinearSecretKey) -> Self {
        CompressedConversionKey::generate(client_key, linear).decompress()
    }

    /// Size of the two keys in memory, in bytes.
    pub fn byte_len(&self) -> usize {
        let bsk = self.bootstrapping_key().0;
        let glwe = bsk.glwe_size().0;
        bsk.input_lwe_dimension().0 * glwe * glwe * BOOTSTRAP_LEVELS * bsk.polynomial_size().0 * 16
            + self.packing.as_ref().len() * 16
    }

    fn bootstrapping_key(&self) -> (&Fourier128LweBootstrapKeyOwned, &tfhe::shortint::server_key::ModulusSwitchConfiguration<u64>) {
        let AtomicPatternNoiseSquashingKey::Standard(pattern) = self.squashing.atomic_pattern() else {
            unreachable!("KS-PBS parameters give the standard atomic pattern")
        };
        let Shortint128BootstrappingKey::Classic { bsk, modulus_switch_noise_reduction_key } = pattern.bootstrapping_key() else {
            unreachable!("classic parameters give a classic bootstrapping key")
        };
        (bsk, modulus_switch_noise_reduction_key)
    }

    /// Converts proven, clamped values (each at most `bound`, as the bootstrapped tier's import
    /// guarantees; nothing here checks it) into a linear column of origin
    /// [`LinearOrigin::Converted`]. Work is spread over rayon's pool by value; blocks of 4096
    /// values are packed one at a time. Only parameter mismatches between the keys are
    /// detected: keys of the same parameters from another ceremony give wrong sums.
    pub fn convert_column(&self, server_key: &tfhe::ServerKey, values: &[FheUint32], bound: u32) -> Result<LinearColumn> {
        self.convert_column_until(server_key, values, bound, &AtomicBool::new(false))
    }

    /// [`ConversionKey::convert_column`], stopping with [`CryptoError::Stopped`] at the next
    /// value once `stop` is set (a server shutting down does not wait for a whole column:
    /// about 4 s per value and core).
    pub fn convert_column_until(&self, server_key: &tfhe::ServerKey, values: &[FheUint32], bound: u32, stop: &AtomicBool) -> Result<LinearColumn> {
        let integer: &tfhe::integer::ServerKey = server_key.as_ref();
        let shortint: &tfhe::shortint::ServerKey = integer.as_ref();
        let AtomicPatternServerKey::Standard(pattern) = &shortint.atomic_pattern else {
            return Err(CryptoError::InvalidInput("the server key is not of the KS-PBS atomic pattern".into()));
        };
        let (bsk, _) = self.bootstrapping_key();
        if pattern.pbs_order != PBSOrder::KeyswitchBootstrap
            || pattern.key_switching_key.output_key_lwe_dimension() != bsk.input_lwe_dimension()
        {
            return Err(CryptoError::InvalidInput(
                "the conversion key does not fit this server key's parameters; generate both in one key ceremony".into(),
            ));
        }
        let luts: Vec<GlweCiphertextOwned<u128>> = (0..BLOCKS_PER_VALUE / 2)
            .map(|digit| {
                generate_programmable_bootstrap_glwe_lut(
                    bsk.polynomial_size(),
                    bsk.glwe_size(),
                    1 << DIGIT_BITS,
                    CiphertextModulus::new_native(),
                    1u128 << CONVERTED_SCALE_LOG2,
                    |d: u128| d << (DIGIT_BITS * digit),
                )
            })
            .collect();
        let lwe_size = bsk.output_lwe_dimension().to_lwe_size();
        let blocks = values
            .chunks(PACKED_RING.n)
            .map(|chunk| {
                // Each value's LWE ciphertext is written in place into the list the packing
                // keyswitch reads (4096 × 64 KB for a full block).
                let mut list = LweCiphertextList::new(0u128, lwe_size, LweCiphertextCount(chunk.len()), CiphertextModulus::new_native());
                list.par_iter_mut()
                    .zip(chunk.par_iter())
                    .try_for_each(|(mut out, value)| {
                        if stop.load(Ordering::Relaxed) {
                            return Err(CryptoError::Stopped("converting a column into the linear tier"));
                        }
                        self.convert_value(shortint, &pattern.key_switching_key, &luts, value, &mut out)
                    })?;
                Ok(self.pack(&list))
            })
            .collect::<Result<Vec<_>>>()?;
        LinearColumn::with_origin(blocks, bound, LinearOrigin::Converted)
    }

    /// One value: eight digit bootstraps summed into `sum`, an LWE ciphertext of dimension 4096
    /// holding zero on entry.
    fn convert_value(
        &self,
        shortint: &tfhe::shortint::ServerKey,
        keyswitch_key: &LweKeyswitchKeyOwned<u64>,
        luts: &[GlweCiphertextOwned<u128>],
        value: &FheUint32,
        sum: &mut LweCiphertextMutView<'_, u128>,
    ) -> Result<()> {
        let (radix, ..) = value.clone().into_raw_parts();
        let blocks = radix.blocks();
        if blocks.len() != BLOCKS_PER_VALUE {
            return Err(CryptoError::InvalidInput(format!(
                "a converted value has {BLOCKS_PER_VALUE} radix blocks; this one has {}",
                blocks.len()
            )));
        }
        let (bsk, modulus_switch) = self.bootstrapping_key();
        let fft = Fft128::new(bsk.polynomial_size());
        let fft = fft.as_view();
        let mut buffers = ComputationBuffers::new();
        buffers.resize(
            blind_rotate_f128_lwe_ciphertext_mem_optimized_requirement::<u128>(bsk.glwe_size(), bsk.polynomial_size(), fft)
                .unaligned_bytes_required(),
        );
        let mut digit_out = LweCiphertext::new(0u128, sum.lwe_size(), CiphertextModulus::new_native());
        let mut switched = LweCiphertext::new(0u64, keyswitch_key.output_lwe_size(), keyswitch_key.ciphertext_modulus());
        let log_modulus = bsk.polynomial_size().to_blind_rotation_input_modulus_log();
        for (pair, lut) in blocks.chunks_exact(2).zip(luts) {
            let [low, high] = [&pair[0], &pair[1]].map(|block| clean(shortint, block));
            let digit = shortint.unchecked_add(&shortint.unchecked_scalar_mul(&high, 4), &low);
            keyswitch_lwe_ciphertext(keyswitch_key, &digit.ct, &mut switched);
            let msed = modulus_switch.lwe_ciphertext_modulus_switch::<usize, _>(&switched, log_modulus);
            blind_rotate_f128_lwe_ciphertext_mem_optimized(&msed, &mut digit_out, lut, bsk, fft, buffers.stack());
            lwe_ciphertext_add_assign(sum, &digit_out);
        }
        Ok(())
    }

    /// Packs up to 4096 converted values into one block under the linear tier's key, read as
    /// one polynomial of 4096 coefficients.
    fn pack(&self, list: &LweCiphertextListOwned<u128>) -> LinearBlock {
        let mut glwe =
            GlweCiphertext::new(0u128, GlweSize(PACKED_RING.k + 1), PolynomialSize(PACKED_RING.n), CiphertextModulus::new_native());
        par_keyswitch_lwe_ciphertext_list_and_pack_in_glwe_ciphertext(&self.packing, list, &mut glwe);
        let mask = glwe.get_mask().as_ref().to_vec();
        let body = glwe.get_body().as_ref()[..list.lwe_ciphertext_count().0].to_vec();
        LinearBlock::packed(mask, body)
    }
}

/// Coefficients of one GLWE ciphertext of the packing key (mask and body, [`PACKED_RING`]).
const GLWE_LEN: usize = (PACKED_RING.k + 1) * PACKED_RING.n;

/// The packing keyswitch key from `input` to the linear key, in seeded form (one mask seed and
/// one body per GLWE), in the order TFHE-rs's `generate_lwe_packing_keyswitch_key` lays the key
/// out: per input key element, one GLWE per level from the last level to the first, each
/// encrypting the element's recomposition summand `s_i * 2^(128 - base_log * level)` in
/// coefficient 0. The encryptions use the linear tier's exact CRT-NTT products, in parallel,
/// instead of TFHE-rs's sequential generator (seconds instead of about 6 minutes).
fn seeded_packing_key(input: &LweSecretKey<&[u128]>, linear: &LinearSecretKey) -> (Vec<u128>, Vec<u128>) {
    let encryptor = LinearEncryptor::for_ring(linear, PACKED_RING);
    let n = PACKED_RING.n;
    let count = input.lwe_dimension().0 * PACKING_LEVELS;
    let mut seeds = vec![0u128; count];
    let mut bodies = vec![0u128; count * n];
    seeds
        .par_chunks_mut(PACKING_LEVELS)
        .zip(bodies.par_chunks_mut(PACKING_LEVELS * n))
        .zip(input.as_ref().par_iter())
        .for_each(|((seeds, bodies), &element)| {
            let mut plaintext = Zeroizing::new(vec![0u128; n]);
            let levels = (1..=PACKING_LEVELS).rev();
            for ((seed, body), level) in seeds.iter_mut().zip(bodies.chunks_exact_mut(n)).zip(levels) {
                plaintext[0] = element << (128 - PACKING_BASE_LOG * level);
                let (s, b) = encryptor.encrypt_seeded(&plaintext);
                *seed = s;
                body.copy_from_slice(&b);
            }
        });
    (seeds, bodies)
}

/// The conversion key as the custodian ships it to the domain: the 128-bit bootstrapping key
/// compressed by TFHE-rs (seeded masks, about 0.78 GB) and the packing key as one seed and one
/// body per GLWE (about 1.34 GB). [`CompressedConversionKey::decompress`] expands both (5.1 GB).
pub struct CompressedConversionKey {
    squashing: tfhe::integer::noise_squashing::CompressedNoiseSquashingKey,
    packing_seeds: Vec<u128>,
    packing_bodies: Vec<u128>,
}

impl std::fmt::Debug for CompressedConversionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CompressedConversionKey { bootstrapping_key, packing_key }")
    }
}

const CONVERSION_MAGIC: &[u8; 8] = b"SYCONV01";

impl CompressedConversionKey {
    /// Generates the key (custodian side, from the secret keys of both tiers; about a minute on
    /// 2 cores). The intermediate key is fresh and dropped here: nothing is ever decrypted
    /// under it.
    pub fn generate(client_key: &tfhe::ClientKey, linear: &LinearSecretKey) -> Self {
        let integer: &tfhe::integer::ClientKey = client_key.as_ref();
        let intermediate = NoiseSquashingPrivateKey::new(conversion_parameters());
        let (packing_seeds, packing_bodies) =
            seeded_packing_key(&intermediate.post_noise_squashing_lwe_secret_key(), linear);
        let intermediate = tfhe::integer::noise_squashing::NoiseSquashingPrivateKey::from_raw_parts(intermediate);
        let squashing = integer.new_compressed_noise_squashing_key(&intermediate);
        CompressedConversionKey { squashing, packing_seeds, packing_bodies }
    }

    /// Serializes the key: magic, the bootstrapping key (TFHE-rs safe serialization, length
    /// prefixed), the number of packing GLWEs (u64 LE), their seeds, their bodies (u128 LE).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let squashing = crate::keys::to_tfhe_bytes(&self.squashing, "conversion key")?;
        let mut out = Vec::with_capacity(8 + 8 + squashing.len() + 8 + 16 * (self.packing_seeds.len() + self.packing_bodies.len()));
        out.extend_from_slice(CONVERSION_MAGIC);
        out.extend_from_slice(&(squashing.len() as u64).to_le_bytes());
        out.extend_from_slice(&squashing);
        out.extend_from_slice(&(self.packing_seeds.len() as u64).to_le_bytes());
        for v in self.packing_seeds.iter().chain(&self.packing_bodies) {
            out.extend_from_slice(&v.to_le_bytes());
        }
        Ok(out)
    }

    /// Reads a key written by [`CompressedConversionKey::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let bad = |why: &str| CryptoError::malformed("conversion key", why.to_string());
        let rest = bytes.strip_prefix(CONVERSION_MAGIC.as_slice()).ok_or_else(|| bad("not a conversion key or another format version"))?;
        let u64_at = |b: &[u8], at: usize| -> Result<usize> {
            Ok(u64::from_le_bytes(b.get(at..at + 8).ok_or_else(|| bad("truncated"))?.try_into().expect("8 bytes")) as usize)
        };
        let len = u64_at(rest, 0)?;
        let squashing_bytes = rest.get(8..8usize.saturating_add(len)).ok_or_else(|| bad("truncated"))?;
        let squashing = crate::keys::from_tfhe_bytes(squashing_bytes, "conversion key")?;
        let rest = &rest[8 + len..];
        let count = u64_at(rest, 0)?;
        let expected = (LWE_DIMENSION * PACKING_LEVELS, 8 + 16 * count * (1 + PACKED_RING.n));
        if count != expected.0 || rest.len() != expected.1 {
            return Err(bad("the packing key does not have the expected size"));
        }
        let (seeds, bodies) = rest[8..].split_at(16 * count);
        let read = |bytes: &[u8]| -> Vec<u128> {
            bytes.chunks_exact(16).map(|c| u128::from_le_bytes(c.try_into().expect("16 bytes"))).collect()
        };
        Ok(CompressedConversionKey { squashing, packing_seeds: read(seeds), packing_bodies: read(bodies) })
    }

    /// Expands the key for use: the bootstrapping key into TFHE-rs's 128-bit Fourier form, the
    /// packing masks from their seeds.
    pub fn decompress(&self) -> ConversionKey {
        let squashing = self.squashing.decompress().into_raw_parts();
        let mut container = vec![0u128; self.packing_seeds.len() * GLWE_LEN];
        container
            .par_chunks_mut(GLWE_LEN)
            .zip(self.packing_seeds.par_iter())
            .zip(self.packing_bodies.par_chunks(PACKED_RING.n))
            .for_each(|((glwe, &seed), body)| {
                glwe[..LWE_DIMENSION].copy_from_slice(&super::mask_from_seed(seed));
                glwe[LWE_DIMENSION..].copy_from_slice(body);
            });
        let packing = LwePackingKeyswitchKey::from_container(
            container,
            DecompositionBaseLog(PACKING_BASE_LOG),
            DecompositionLevelCount(PACKING_LEVELS),
            GlweSize(PACKED_RING.k + 1),
            PolynomialSize(PACKED_RING.n),
            CiphertextModulus::new_native(),
        );
        ConversionKey { squashing, packing }
    }
}

/// A block with an empty carry and nominal noise, bootstrapping it only when it is not.
fn clean(shortint: &tfhe::shortint::ServerKey, block: &tfhe::shortint::Ciphertext) -> tfhe::shortint::Ciphertext {
    if block.degree.get() < 4 && block.noise_level() <= NoiseLevel::NOMINAL {
        block.clone()
    } else {
        shortint.message_extract(block)
    }
}
