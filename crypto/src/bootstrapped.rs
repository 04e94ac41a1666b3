//! The bootstrapped tier: TFHE-rs integers (`integer` feature) for predicates over encrypted
//! columns, conditional sums and counts, parallel across rows with rayon.
//!
//! Values enter the domain only as `ProvenCompactCiphertextList`s: data holders encrypt with
//! the custodian's compact public key and prove, with TFHE-rs's zero-knowledge proof of
//! knowledge against the domain's CRS, that each list is a well-formed encryption of integers
//! of the declared width (8, 16 or 32 bits: the declared bound rounded up to a type width).
//! The domain verifies every proof at import ([`import_chunk`]) and then clamps each value
//! homomorphically to the exact bound (`min(value, bound)`) when the bound is below the
//! width's maximum. Sums accumulate in 64 bits.

use crate::error::{CryptoError, Result};
use crate::keys::{from_tfhe_bytes, to_tfhe_bytes, DomainCrs};
use crate::noise::{NoiseSpec, PublicFigures};
use rayon::prelude::*;
use tfhe::prelude::*;
use tfhe::zk::ZkComputeLoad;
use tfhe::{
    CompactCiphertextList, CompactPublicKey, FheBool, FheUint16, FheUint32, FheUint64, FheUint8,
    ProvenCompactCiphertextList, ServerKey,
};

pub use crate::params::{config, PARAMETER_SET};

/// Installs the server key on the calling thread and on every thread of the current rayon
/// pool (TFHE-rs keeps it thread-local). Call once before any operation of this module.
pub fn install_server_key(server_key: &ServerKey) {
    tfhe::set_server_key(server_key.clone());
    rayon::broadcast(|_| tfhe::set_server_key(server_key.clone()));
}

/// Bit width of the proven integer type of a column: the declared bound rounded up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ValueWidth {
    /// `FheUint8`.
    W8,
    /// `FheUint16`.
    W16,
    /// `FheUint32`.
    W32,
}

impl ValueWidth {
    /// The narrowest width holding `bound`.
    pub fn for_bound(bound: u32) -> Self {
        if bound <= u8::MAX as u32 {
            ValueWidth::W8
        } else if bound <= u16::MAX as u32 {
            ValueWidth::W16
        } else {
            ValueWidth::W32
        }
    }

    /// Number of bits.
    pub fn bits(self) -> usize {
        match self {
            ValueWidth::W8 => 8,
            ValueWidth::W16 => 16,
            ValueWidth::W32 => 32,
        }
    }

    /// The largest value of the width.
    pub fn max(self) -> u32 {
        (u64::from(u32::MAX) >> (32 - self.bits())) as u32
    }

    /// How many values of this width one proven list carries under `crs`.
    pub fn values_per_list(self, crs: &DomainCrs) -> usize {
        crs.max_bits() / self.bits()
    }
}

/// Data-holder side: encrypts up to [`ValueWidth::values_per_list`] values with the compact
/// public key and proves them. `metadata` binds the proof to its place (authorization, column,
/// chunk: see [`proof_metadata`]); the domain verifies with the same metadata.
pub fn encrypt_chunk(
    column: &str,
    first_row: u64,
    values: &[u32],
    bound: u32,
    public_key: &CompactPublicKey,
    crs: &DomainCrs,
    metadata: &[u8],
) -> Result<ProvenCompactCiphertextList> {
    let width = ValueWidth::for_bound(bound);
    if values.is_empty() || values.len() > width.values_per_list(crs) {
        return Err(CryptoError::InvalidInput(format!(
            "a proven list holds 1..={} values of {} bits under this CRS",
            width.values_per_list(crs),
            width.bits()
        )));
    }
    if let Some(i) = values.iter().position(|&v| v > bound) {
        return Err(CryptoError::AboveBound { column: column.to_string(), row: first_row + i as u64, bound });
    }
    let mut builder = ProvenCompactCiphertextList::builder(public_key);
    for &v in values {
        builder.push_with_num_bits(v, width.bits())?;
    }
    Ok(builder.build_with_proof_packed(crs.crs(), metadata, ZkComputeLoad::Proof)?)
}

/// The metadata every proof of a chunk is bound to (so a proven list cannot be replayed under
/// another authorization, column or position).
pub fn proof_metadata(authorization_id: &str, column: &str, chunk: u64) -> Vec<u8> {
    let mut out = b"shuyu/zk-bound/v1\0".to_vec();
    for part in [authorization_id.as_bytes(), column.as_bytes()] {
        out.extend_from_slice(&(part.len() as u64).to_le_bytes());
        out.extend_from_slice(part);
    }
    out.extend_from_slice(&chunk.to_le_bytes());
    out
}

/// Domain side: verifies the proof of one chunk, expands it as integers of the declared
/// width (refusing any other layout), widens to 32 bits and clamps to `bound`. Needs the
/// server key installed.
#[allow(clippy::too_many_arguments)]
pub fn import_chunk(
    column: &str,
    chunk: u64,
    list: &ProvenCompactCiphertextList,
    expected_values: usize,
    bound: u32,
    public_key: &CompactPublicKey,
    crs: &DomainCrs,
    metadata: &[u8],
) -> Result<Vec<FheUint32>> {
    let rejected = || CryptoError::ProofRejected { column: column.to_string(), chunk };
    let expander = list.verify_and_expand(crs.crs(), public_key, metadata).map_err(|_| rejected())?;
    if expander.len() != expected_values {
        return Err(rejected());
    }
    let width = ValueWidth::for_bound(bound);
    let values = (0..expected_values)
        .into_par_iter()
        .map(|i| {
            let value: FheUint32 = match width {
                ValueWidth::W8 => expander.get::<FheUint8>(i).ok().flatten().map(|v| v.cast_into()),
                ValueWidth::W16 => expander.get::<FheUint16>(i).ok().flatten().map(|v| v.cast_into()),
                ValueWidth::W32 => expander.get::<FheUint32>(i).ok().flatten(),
            }
            .ok_or_else(rejected)?;
            Ok(if bound < width.max() { value.min(bound) } else { value })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(values)
}

const STORED_VALUES_MAGIC: &[u8; 8] = b"SYBOOV01";

/// Serializes imported (verified and clamped) values for the domain's own storage: magic,
/// count, then each value framed by its length (TFHE-rs safe serialization).
pub fn values_to_bytes(values: &[FheUint32]) -> Result<Vec<u8>> {
    let mut out = STORED_VALUES_MAGIC.to_vec();
    out.extend_from_slice(&(values.len() as u64).to_le_bytes());
    for value in values {
        let bytes = to_tfhe_bytes(value, "stored value")?;
        out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
        out.extend_from_slice(&bytes);
    }
    Ok(out)
}

/// Reads values written by [`values_to_bytes`].
pub fn values_from_bytes(bytes: &[u8]) -> Result<Vec<FheUint32>> {
    fn take<'a>(rest: &mut &'a [u8], n: usize) -> Result<&'a [u8]> {
        let (head, tail) = rest.split_at_checked(n).ok_or_else(|| CryptoError::malformed("stored values", "truncated"))?;
        *rest = tail;
        Ok(head)
    }
    fn length(rest: &mut &[u8]) -> Result<usize> {
        let n = u64::from_le_bytes(take(rest, 8)?.try_into().expect("8 bytes"));
        usize::try_from(n).map_err(|_| CryptoError::malformed("stored values", "length"))
    }
    let mut rest = bytes
        .strip_prefix(STORED_VALUES_MAGIC.as_slice())
        .ok_or_else(|| CryptoError::malformed("stored values", "not stored values or another version"))?;
    let count = length(&mut rest)?;
    let mut values = Vec::new();
    for _ in 0..count {
        let len = length(&mut rest)?;
        values.push(from_tfhe_bytes(take(&mut rest, len)?, "stored value")?);
    }
    if !rest.is_empty() {
        return Err(CryptoError::malformed("stored values", "trailing bytes"));
    }
    Ok(values)
}

/// A comparison of an encrypted value with a clear constant (the shared vocabulary's).
pub use shuyu_privacy::Comparison;

/// Evaluates `values[i] <cmp> constant` for every row, in parallel (one encrypted comparison,
/// a handful of bootstraps, per row).
pub fn compare(values: &[FheUint32], comparison: Comparison, constant: u32) -> Vec<FheBool> {
    values
        .par_iter()
        .map(|v| match comparison {
            Comparison::Eq => v.eq(constant),
            Comparison::Ne => v.ne(constant),
            Comparison::Lt => v.lt(constant),
            Comparison::Le => v.le(constant),
            Comparison::Gt => v.gt(constant),
            Comparison::Ge => v.ge(constant),
        })
        .collect()
}

/// Row-wise conjunction of two encrypted predicates.
pub fn and(left: &[FheBool], right: &[FheBool]) -> Result<Vec<FheBool>> {
    if left.len() != right.len() {
        return Err(CryptoError::InvalidInput("predicates of different lengths".into()));
    }
    Ok(left.par_iter().zip(right).map(|(a, b)| a & b).collect())
}

/// Row-wise `if condition then value else other` with a clear `other` (encrypted select).
pub fn select_or(conditions: &[FheBool], values: &[FheUint32], other: u32) -> Result<Vec<FheUint32>> {
    if conditions.len() != values.len() {
        return Err(CryptoError::InvalidInput("condition and value columns of different lengths".into()));
    }
    Ok(conditions
        .par_iter()
        .zip(values)
        .map(|(c, v)| c.if_then_else(v, &FheUint32::encrypt_trivial(other)))
        .collect())
}

/// The encrypted result of one group of the bootstrapped tier (64-bit accumulator), with the
/// public figures that decide its exactness: the per-row bound (the column's bound for a sum,
/// 1 for a count), the import's row count and the description of the DP noise added. Never a
/// group's row count nor the noise drawn.
#[derive(Clone)]
pub struct BootstrappedAggregate {
    value: FheUint64,
    figures: PublicFigures,
}

const BOOT_AGGREGATE_MAGIC: &[u8; 8] = b"SYBOOA02";
/// Magic of the format before 02, which carried each group's largest magnitude
/// (`rows × bound + |noise|`).
const OLD_BOOT_AGGREGATE_MAGIC: &[u8; 8] = b"SYBOOA01";
/// Bytes before the TFHE-rs ciphertext: magic, bound, import rows, noise description.
const BOOT_HEADER_BYTES: usize = 8 + 4 + 8 + 9;

/// Exclusive bound on a decrypted magnitude of the bootstrapped tier: the signed 64-bit range.
const BOOT_MESSAGE_LIMIT: u128 = 1 << 63;

/// Checks, from public figures only, that every aggregate of a bootstrapped release over an
/// import of `import_rows` rows with per-row bound `bound`, noised as `spec` describes, stays in
/// the signed 64-bit message space unless its noise exceeds the tail bound. The domain calls it
/// before it draws any noise.
pub fn check_release_capacity(import_rows: u64, bound: u32, spec: Option<&NoiseSpec>) -> Result<()> {
    PublicFigures { import_rows, bound, noise: spec.copied() }.check_capacity(BOOT_MESSAGE_LIMIT, "bootstrapped tier")
}

impl BootstrappedAggregate {
    /// The public figures the aggregate carries: the import's row count, the per-row bound,
    /// the noise's description.
    pub fn figures(&self) -> &PublicFigures {
        &self.figures
    }

    pub(crate) fn value(&self) -> &FheUint64 {
        &self.value
    }

    /// Serializes the aggregate, little endian: magic `SYBOOA02`, bound (u32), import rows
    /// (u64), noise description (u8 distribution: 0 none, 1 discrete Laplace, 2 discrete
    /// Gaussian; f64 scale), then the `FheUint64` (TFHE-rs safe serialization).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut out = BOOT_AGGREGATE_MAGIC.to_vec();
        out.extend_from_slice(&self.figures.bound.to_le_bytes());
        out.extend_from_slice(&self.figures.import_rows.to_le_bytes());
        NoiseSpec::write_to(self.figures.noise.as_ref(), &mut out);
        debug_assert_eq!(out.len(), BOOT_HEADER_BYTES);
        out.extend_from_slice(&to_tfhe_bytes(&self.value, "bootstrapped aggregate")?);
        Ok(out)
    }

    /// Reads an aggregate written by [`BootstrappedAggregate::to_bytes`]; refuses the older
    /// format (which carried a per-group magnitude) and public figures outside the budget.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        if bytes.starts_with(OLD_BOOT_AGGREGATE_MAGIC) {
            return Err(CryptoError::malformed(
                "bootstrapped aggregate",
                "an older format that carried each group's magnitude (row count and noise); \
                 this version reads format 02 only: upgrade the domain that sent it",
            ));
        }
        let rest = bytes
            .strip_prefix(BOOT_AGGREGATE_MAGIC.as_slice())
            .filter(|r| r.len() > BOOT_HEADER_BYTES - 8)
            .ok_or_else(|| CryptoError::malformed("bootstrapped aggregate", "not this object or truncated"))?;
        let bound = u32::from_le_bytes(rest[..4].try_into().expect("4 bytes"));
        let import_rows = u64::from_le_bytes(rest[4..12].try_into().expect("8 bytes"));
        let noise = NoiseSpec::read_from(rest[12..21].try_into().expect("9 bytes"), "bootstrapped aggregate")?;
        check_release_capacity(import_rows, bound, noise.as_ref())
            .map_err(|_| CryptoError::malformed("bootstrapped aggregate", "its public figures are outside the 64-bit budget"))?;
        let value = from_tfhe_bytes(&rest[21..], "bootstrapped aggregate")?;
        Ok(BootstrappedAggregate { value, figures: PublicFigures { import_rows, bound, noise } })
    }
}

fn check_groups(rows: usize, groups: &[u32], num_groups: usize) -> Result<()> {
    if groups.len() != rows {
        return Err(CryptoError::InvalidInput(format!("{} group ids for {rows} rows", groups.len())));
    }
    if let Some(&g) = groups.iter().find(|&&g| g != crate::linear::NO_GROUP && g as usize >= num_groups) {
        return Err(CryptoError::InvalidInput(format!("group id {g} outside 0..{num_groups}")));
    }
    Ok(())
}

/// The DP noise of one bootstrapped release: the value drawn for each group (by the caller,
/// from the distribution `spec` describes), and the compact public key it is encrypted under.
#[derive(Clone, Copy)]
pub struct ReleaseNoise<'a> {
    /// One draw per group, in group order.
    pub draws: &'a [i64],
    /// The public description of the noise (distribution and scale).
    pub spec: NoiseSpec,
    /// The custodian's compact public key.
    pub public_key: &'a CompactPublicKey,
}

impl std::fmt::Debug for ReleaseNoise<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReleaseNoise").field("spec", &self.spec).finish_non_exhaustive()
    }
}

/// Fresh encryptions of the draws under the compact public key (64-bit integers, modulo 2^64),
/// expanded to the compute parameters: a keyswitch and a bootstrap per block, so every block is
/// a real, non-trivial ciphertext at nominal noise.
fn encrypt_draws(noise: &ReleaseNoise<'_>) -> Result<Vec<FheUint64>> {
    let mut builder = CompactCiphertextList::builder(noise.public_key);
    for &draw in noise.draws {
        builder.push(draw as u64);
    }
    let expander = builder.build_packed().expand()?;
    (0..noise.draws.len())
        .map(|i| expander.get::<FheUint64>(i)?.ok_or_else(|| CryptoError::Tfhe("an encrypted noise did not expand".into())))
        .collect()
}

/// Checks a release's noise before any encrypted work: one draw per group, and public figures
/// inside the 64-bit budget.
fn check_noise(noise: &ReleaseNoise<'_>, num_groups: usize, import_rows: u64, bound: u32) -> Result<()> {
    if noise.draws.len() != num_groups {
        return Err(CryptoError::InvalidInput(format!("{} noise values for {num_groups} groups", noise.draws.len())));
    }
    check_release_capacity(import_rows, bound, Some(&noise.spec))
}

/// One noised aggregate per group (one per noise draw, which [`check_noise`] matched to the
/// groups): the multi-operand sum of the group's terms and of a fresh
/// public-key encryption of the group's noise draw. The noise enters as an operand rather than
/// as a clear scalar added afterwards, and that is what makes every aggregate's ciphertext
/// alike whatever its group holds: every block of every aggregate is a real ciphertext that
/// came out of a bootstrap (the expansion's, or the sum's final carry propagation), at the same
/// degree and noise level (`tests/bootstrapped.rs` checks this). Without an encrypted operand
/// an empty group's aggregate would be a trivial ciphertext (mask zero: its value readable
/// without any key, its emptiness plain), which a clear noise added afterwards would not
/// change, and a group of one row would keep the widened value's trivial upper blocks. It is
/// also cheaper than a fresh encryption of zero followed by a clear-scalar addition: one carry
/// propagation per group, not two.
fn sum_by_group(terms: Vec<(u32, FheUint64)>, import_rows: u64, bound: u32, noise: &ReleaseNoise<'_>) -> Result<Vec<BootstrappedAggregate>> {
    let mut by_group: Vec<Vec<FheUint64>> = encrypt_draws(noise)?.into_iter().map(|draw| vec![draw]).collect();
    for (g, term) in terms {
        by_group[g as usize].push(term);
    }
    let spec = noise.spec;
    Ok(by_group
        .into_par_iter()
        .map(|terms| {
            // TFHE-rs's multi-operand sum: carry-save additions and one final propagation, far
            // fewer bootstraps than pairwise additions.
            let value = terms.iter().sum();
            BootstrappedAggregate { value, figures: PublicFigures { import_rows, bound, noise: Some(spec) } }
        })
        .collect())
}

/// Sums `values` per public group (`groups[row]`, [`crate::linear::NO_GROUP`] to drop a row),
/// counting a row only where its encrypted `condition` holds (when given), and adds each
/// group's DP noise under encryption (see [`ReleaseNoise`]): the aggregates come out noised.
/// Refuses, before any encrypted work, a release whose public figures leave the 64-bit budget
/// ([`check_release_capacity`]). Needs the server key installed.
pub fn conditional_sum(
    values: &[FheUint32],
    bound: u32,
    conditions: Option<&[FheBool]>,
    groups: &[u32],
    num_groups: usize,
    noise: &ReleaseNoise<'_>,
) -> Result<Vec<BootstrappedAggregate>> {
    check_groups(values.len(), groups, num_groups)?;
    check_noise(noise, num_groups, values.len() as u64, bound)?;
    if conditions.is_some_and(|c| c.len() != values.len()) {
        return Err(CryptoError::InvalidInput("condition and value columns of different lengths".into()));
    }
    let terms = (0..values.len())
        .into_par_iter()
        .filter(|&i| groups[i] != crate::linear::NO_GROUP)
        .map(|i| {
            let value = match conditions {
                Some(c) => c[i].if_then_zero(&values[i]),
                None => values[i].clone(),
            };
            (groups[i], value.cast_into())
        })
        .collect();
    sum_by_group(terms, values.len() as u64, bound, noise)
}

/// Counts, per public group, the rows whose encrypted `condition` holds, noised as in
/// [`conditional_sum`].
pub fn conditional_count(
    conditions: &[FheBool],
    groups: &[u32],
    num_groups: usize,
    noise: &ReleaseNoise<'_>,
) -> Result<Vec<BootstrappedAggregate>> {
    check_groups(conditions.len(), groups, num_groups)?;
    check_noise(noise, num_groups, conditions.len() as u64, 1)?;
    let terms = (0..conditions.len())
        .into_par_iter()
        .filter(|&i| groups[i] != crate::linear::NO_GROUP)
        .map(|i| (groups[i], FheUint64::cast_from(conditions[i].clone())))
        .collect();
    sum_by_group(terms, conditions.len() as u64, 1, noise)
}
