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
use rayon::prelude::*;
use tfhe::prelude::*;
use tfhe::shortint::parameters::{
    PARAM_KEYSWITCH_TO_SMALL_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128, PARAM_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128,
    PARAM_PKE_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128,
};
use tfhe::zk::ZkComputeLoad;
use tfhe::{
    CompactPublicKey, Config, ConfigBuilder, FheBool, FheUint16, FheUint32, FheUint64, FheUint8,
    ProvenCompactCiphertextList, ServerKey,
};

/// Name of the parameter sets, written in manifests.
pub const PARAMETER_SET: &str = "TFHE-rs 1.8 PARAM_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128 + PARAM_PKE_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128 (ZK PKE v2)";

/// The TFHE-rs configuration of the tier: default 2-bit-message parameters (128-bit security,
/// failure probability 2^-128) with dedicated compact public-key parameters for proven
/// encryption.
pub fn config() -> Config {
    ConfigBuilder::with_custom_parameters(PARAM_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128)
        .use_dedicated_compact_public_key_parameters((
            PARAM_PKE_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128,
            PARAM_KEYSWITCH_TO_SMALL_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128,
        ))
        .build()
}

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

/// A comparison of an encrypted value with a clear constant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Comparison {
    /// `value = c`
    Eq,
    /// `value <> c`
    Ne,
    /// `value < c`
    Lt,
    /// `value <= c`
    Le,
    /// `value > c`
    Gt,
    /// `value >= c`
    Ge,
}

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

/// The encrypted result of one group of the bootstrapped tier (64-bit accumulator).
#[derive(Clone)]
pub struct BootstrappedAggregate {
    value: FheUint64,
    max_magnitude: u128,
}

const BOOT_AGGREGATE_MAGIC: &[u8; 8] = b"SYBOOA01";

impl BootstrappedAggregate {
    /// The largest magnitude the decrypted value can have (rows times bound, plus noise).
    pub fn max_magnitude(&self) -> u128 {
        self.max_magnitude
    }

    pub(crate) fn value(&self) -> &FheUint64 {
        &self.value
    }

    /// Adds integer DP noise homomorphically (a clear-scalar addition modulo 2^64, read back
    /// as a signed 64-bit integer). Refuses when the noised value could exceed 2^63.
    pub fn add_noise(&mut self, noise: i64) -> Result<()> {
        let magnitude = self.max_magnitude + noise.unsigned_abs() as u128;
        if magnitude >= 1u128 << 63 {
            return Err(CryptoError::Capacity("the noised value could exceed 2^63 in magnitude".into()));
        }
        self.max_magnitude = magnitude;
        self.value += noise as u64;
        Ok(())
    }

    /// Serializes the aggregate (TFHE-rs safe serialization).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut out = BOOT_AGGREGATE_MAGIC.to_vec();
        out.extend_from_slice(&self.max_magnitude.to_le_bytes());
        out.extend_from_slice(&to_tfhe_bytes(&self.value, "bootstrapped aggregate")?);
        Ok(out)
    }

    /// Reads an aggregate written by [`BootstrappedAggregate::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let rest = bytes
            .strip_prefix(BOOT_AGGREGATE_MAGIC.as_slice())
            .filter(|r| r.len() > 16)
            .ok_or_else(|| CryptoError::malformed("bootstrapped aggregate", "not this object or truncated"))?;
        let max_magnitude = u128::from_le_bytes(rest[..16].try_into().expect("16 bytes"));
        if max_magnitude >= 1u128 << 63 {
            return Err(CryptoError::malformed("bootstrapped aggregate", "outside the 64-bit budget"));
        }
        Ok(BootstrappedAggregate { value: from_tfhe_bytes(&rest[16..], "bootstrapped aggregate")?, max_magnitude })
    }
}

fn check_groups(rows: usize, groups: &[u32], num_groups: usize) -> Result<Vec<u64>> {
    if groups.len() != rows {
        return Err(CryptoError::InvalidInput(format!("{} group ids for {rows} rows", groups.len())));
    }
    let mut counts = vec![0u64; num_groups];
    for &g in groups {
        if g != crate::linear::NO_GROUP {
            *counts
                .get_mut(g as usize)
                .ok_or_else(|| CryptoError::InvalidInput(format!("group id {g} outside 0..{num_groups}")))? += 1;
        }
    }
    Ok(counts)
}

fn sum_by_group(terms: Vec<(u32, FheUint64)>, counts: &[u64], per_row_max: u128) -> Vec<BootstrappedAggregate> {
    let mut by_group: Vec<Vec<FheUint64>> = counts.iter().map(|_| Vec::new()).collect();
    for (g, term) in terms {
        by_group[g as usize].push(term);
    }
    by_group
        .into_par_iter()
        .zip(counts)
        .map(|(terms, &rows)| BootstrappedAggregate {
            // TFHE-rs's multi-operand sum: carry-save additions and one final propagation,
            // far fewer bootstraps than pairwise additions.
            value: if terms.is_empty() { FheUint64::encrypt_trivial(0u64) } else { terms.iter().sum() },
            max_magnitude: rows as u128 * per_row_max,
        })
        .collect()
}

/// Sums `values` per public group (`groups[row]`, [`crate::linear::NO_GROUP`] to drop a row),
/// counting a row only where its encrypted `condition` holds (when given).
pub fn conditional_sum(
    values: &[FheUint32],
    bound: u32,
    conditions: Option<&[FheBool]>,
    groups: &[u32],
    num_groups: usize,
) -> Result<Vec<BootstrappedAggregate>> {
    let counts = check_groups(values.len(), groups, num_groups)?;
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
    Ok(sum_by_group(terms, &counts, bound as u128))
}

/// Counts, per public group, the rows whose encrypted `condition` holds.
pub fn conditional_count(conditions: &[FheBool], groups: &[u32], num_groups: usize) -> Result<Vec<BootstrappedAggregate>> {
    let counts = check_groups(conditions.len(), groups, num_groups)?;
    let terms = (0..conditions.len())
        .into_par_iter()
        .filter(|&i| groups[i] != crate::linear::NO_GROUP)
        .map(|i| (groups[i], FheUint64::cast_from(conditions[i].clone())))
        .collect();
    Ok(sum_by_group(terms, &counts, 1))
}
