//! The linear tier: values packed 2048 to a seeded GLWE ciphertext over the 2^128 torus,
//! summed with filters and groups computed in the clear by the domain, with no bootstrapping.
//!
//! # Parameters and security
//! GLWE dimension `k = 2`, polynomial size `N = 2048` (LWE dimension `kN = 4096` after sample
//! extraction), binary secret key, noise `TUniform(30)` (integers in `[-2^30, 2^30]`), native
//! modulus `q = 2^128`: the GLWE part of TFHE-rs's vetted noise-squashing parameter set
//! `NOISE_SQUASHING_PARAM_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128` (TFHE-rs 1.8), estimated by
//! Zama at 128 bits of security. Masks are uniform, expanded from a fresh 128-bit public seed
//! per block with TFHE-rs's AES-CTR CSPRNG (as TFHE-rs's own seeded ciphertexts do), so only the
//! body is stored: 16 bytes per value plus 16 bytes per block.
//!
//! # Encoding and the exactness budget
//! A value `v < 2^32` sits at coefficient `i` of the body as `v * 2^64 + e_i` (scale
//! `Δ = 2^64`). The domain sums the values of rows selected by a *binary* public mask `M`
//! (rows of one group that pass the plaintext filter) by multiplying the ciphertext by the
//! polynomial `sum_i M_i X^(N-1-i)` and extracting coefficient `N - 1`; the product never wraps
//! for that coefficient, so the extracted LWE ciphertext has phase
//! `Δ * sum_i M_i v_i + sum_i M_i e_i`: the noise is the plain sum of the selected rows' noises.
//!
//! Worst case (deterministic, no tail probability): with `n` selected rows,
//! `|noise| <= n * 2^30` and `0 <= sum <= n * (2^32 - 1)`. Decryption rounds the phase to the
//! nearest multiple of `2^64` and reads the quotient as a signed 64-bit integer, so it is exact
//! whenever `|noise| < 2^63` and `|sum + dp_noise| < 2^63`. Every figure of that budget is a
//! public one, so that no aggregate has to carry a group's row count: `n` is bounded by the
//! import's row count `R` (known to the custodian, who encrypted it), capped at `2^31 - 1`
//! ([`MAX_ROWS_PER_AGGREGATE`]), so the noise is below `2^61` and the sum below `2^63 - 2^32`;
//! and the DP noise by the tail bound `T` of its public scale
//! ([`crate::noise::NoiseSpec::tail_bound`], exceeded with probability below 2^-64). A release
//! is accepted only while `R * bound + T < 2^63` ([`check_release_capacity`]). So sums are exact
//! for imports of up to 2,147,483,647 values of 32 bits, far beyond the 10 million the service
//! needs; a noise draw beyond `T` wraps in the message space (see [`crate::noise`]).
//!
//! Those are the figures of columns the custodian encrypts ([`LinearOrigin::Custodian`]),
//! whose bound the domain cannot check. Columns the domain converts from proven, clamped
//! bootstrapped-tier values ([`LinearOrigin::Converted`], [`ConversionKey`]) sit at scale
//! 2^70 with a statistical noise budget, exact for [`MAX_CONVERTED_ROWS_PER_AGGREGATE`] rows.
//!
//! The NTT products are exact modulo 2^128 (see [`ntt`]); accumulators are finished every
//! [`ntt::MAX_PRODUCTS_PER_ACCUMULATOR`] blocks.

mod aggregate;
mod column;
mod convert;
mod key;
pub(crate) mod ntt;

pub use aggregate::{check_release_capacity, grouped_sum, LinearAggregate, NO_GROUP};
pub use convert::{CompressedConversionKey, ConversionKey, BOOTSTRAP_BASE_LOG, BOOTSTRAP_LEVELS, PACKING_BASE_LOG, PACKING_LEVELS};
pub use column::{LinearBlock, LinearColumn, LinearOrigin};
pub use key::{LinearEncryptor, LinearSecretKey};

/// Polynomial size `N`: values per block.
pub const POLYNOMIAL_SIZE: usize = 2048;
/// GLWE dimension `k`.
pub const GLWE_DIMENSION: usize = 2;
/// `log2` of the TUniform noise bound.
pub const NOISE_BOUND_LOG2: u32 = 30;
/// `log2` of the scale: values sit in the upper 64 bits of the torus.
pub const SCALE_LOG2: u32 = 64;
/// Most rows one aggregate may sum and stay exact (see the module comment).
pub const MAX_ROWS_PER_AGGREGATE: u64 = (1 << 31) - 1;
/// `log2` of the scale of columns the domain converted from proven values ([`ConversionKey`]):
/// a larger scale, because a bootstrap's output noise is far above a fresh encryption's.
pub const CONVERTED_SCALE_LOG2: u32 = 70;
/// Most rows one aggregate of a converted column may sum and stay exact (see [`ConversionKey`]'s
/// module): 2^24, above the 10 million the service needs.
pub const MAX_CONVERTED_ROWS_PER_AGGREGATE: u64 = 1 << 24;
/// Name of the parameter set, written in manifests.
pub const PARAMETER_SET: &str = "shuyu-linear-v1/glwe-k2-n2048-tuniform30-q2^128 (TFHE-rs 1.8 NOISE_SQUASHING_PARAM_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128 GLWE)";

/// LWE dimension of an extracted aggregate.
pub const LWE_DIMENSION: usize = GLWE_DIMENSION * POLYNOMIAL_SIZE;

/// Values per block of a converted column: the domain packs them into one GLWE of dimension 1
/// and polynomial size 4096, the same 4096 key bits read as one polynomial, so that a full
/// block stores 16 bytes of mask and 16 of body per value.
pub const PACKED_POLYNOMIAL_SIZE: usize = 4096;

/// The ring of a block's GLWE ciphertext.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Ring {
    /// GLWE dimension.
    pub(crate) k: usize,
    /// Polynomial size.
    pub(crate) n: usize,
}

/// Blocks the custodian encrypts (seeded masks): `k = 2`, `N = 2048`.
pub(crate) const SEEDED_RING: Ring = Ring { k: GLWE_DIMENSION, n: POLYNOMIAL_SIZE };
/// Blocks the domain packs (explicit masks): `k = 1`, `N = 4096`.
pub(crate) const PACKED_RING: Ring = Ring { k: 1, n: PACKED_POLYNOMIAL_SIZE };
const _: () = assert!(SEEDED_RING.k * SEEDED_RING.n == LWE_DIMENSION && PACKED_RING.k * PACKED_RING.n == LWE_DIMENSION);

/// The CRT-NTT plan of one of the two polynomial sizes.
fn plan_for(n: usize) -> &'static ntt::CrtNtt {
    static SEEDED: std::sync::OnceLock<ntt::CrtNtt> = std::sync::OnceLock::new();
    static PACKED: std::sync::OnceLock<ntt::CrtNtt> = std::sync::OnceLock::new();
    match n {
        POLYNOMIAL_SIZE => SEEDED.get_or_init(|| ntt::CrtNtt::new(POLYNOMIAL_SIZE)),
        PACKED_POLYNOMIAL_SIZE => PACKED.get_or_init(|| ntt::CrtNtt::new(PACKED_POLYNOMIAL_SIZE)),
        _ => unreachable!("blocks use polynomial size 2048 or 4096"),
    }
}

/// Expands the public mask of a block from its seed (`k` polynomials of `N` coefficients).
fn mask_from_seed(seed: u128) -> Vec<u128> {
    use tfhe::core_crypto::commons::math::random::{DefaultRandomGenerator, RandomGenerator};
    use tfhe::core_crypto::commons::math::random::Seed;
    let mut generator = RandomGenerator::<DefaultRandomGenerator>::new(Seed(seed));
    let mut mask = vec![0u128; LWE_DIMENSION];
    generator.fill_slice_with_random_uniform(&mut mask);
    mask
}
