//! Filtered, grouped sums of a linear column by public masks, and the aggregate ciphertexts
//! they produce (one LWE ciphertext per group), with DP noise added under encryption.

use super::column::{LinearColumn, LinearOrigin};
use super::ntt::{Transformed, MAX_PRODUCTS_PER_ACCUMULATOR};
use super::{plan_for, Ring, LWE_DIMENSION};
use crate::error::{CryptoError, Result};
use crate::noise::{NoiseSpec, PublicFigures};
use rayon::prelude::*;

/// Group id of a row that no group selects (filtered out by the public predicate).
pub const NO_GROUP: u32 = u32::MAX;

/// Blocks per parallel task (and per NTT accumulator, well below its capacity).
const BLOCKS_PER_TASK: usize = 64;
const _: () = assert!(BLOCKS_PER_TASK <= MAX_PRODUCTS_PER_ACCUMULATOR);

const AGGREGATE_MAGIC: &[u8; 8] = b"SYLINA03";
/// Magic of the formats before 03, which carried each group's row count and noise magnitude.
const OLD_AGGREGATE_MAGICS: [&[u8; 8]; 2] = [b"SYLINA01", b"SYLINA02"];
/// Serialized size: magic, origin, bound, import rows, noise description, body, mask.
const AGGREGATE_BYTES: usize = 8 + 1 + 4 + 8 + 9 + 16 * (1 + LWE_DIMENSION);
const BODY_OFFSET: usize = 30;

/// The encrypted sum of one group: an LWE ciphertext of dimension `kN = 4096` over the 2^128
/// torus, with the public figures that decide its exactness budget: the column's origin and
/// bound, the import's row count, and the description of the DP noise added (never a group's
/// row count nor the noise drawn, which would tell the keyholder more than the noised value).
#[derive(Clone, Debug, PartialEq)]
pub struct LinearAggregate {
    mask: Vec<u128>,
    body: u128,
    figures: PublicFigures,
    origin: LinearOrigin,
}

/// Checks, from public figures only, that every aggregate of a release over a column of
/// `origin` with `import_rows` rows and bound `bound`, noised as `spec` describes, decrypts
/// exactly unless its noise exceeds the tail bound ([`NoiseSpec::tail_bound`]): the import's
/// row count within [`LinearOrigin::max_rows_per_aggregate`] (which keeps the ciphertext noise
/// inside the rounding margin whatever the group), and `import_rows × bound + tail` inside the
/// signed message space. The domain calls it before it draws any noise.
pub fn check_release_capacity(origin: LinearOrigin, import_rows: u64, bound: u32, spec: Option<&NoiseSpec>) -> Result<()> {
    let max_rows = origin.max_rows_per_aggregate();
    if import_rows > max_rows {
        return Err(CryptoError::Capacity(format!(
            "the import holds more than {max_rows} rows, beyond the linear tier's exactness budget for one aggregate; \
             query it on the bootstrapped tier or split the import"
        )));
    }
    PublicFigures { import_rows, bound, noise: spec.copied() }.check_capacity(message_limit(origin), "linear tier")
}

/// The exclusive bound on a decrypted value's magnitude that keeps it exact: the signed message
/// space of `128 - scale` bits.
fn message_limit(origin: LinearOrigin) -> u128 {
    1u128 << (127 - origin.scale_log2())
}

impl LinearAggregate {
    /// The public figures the aggregate carries: the import's row count, the column's bound,
    /// the noise's description.
    pub fn figures(&self) -> &PublicFigures {
        &self.figures
    }

    pub(crate) fn mask(&self) -> &[u128] {
        &self.mask
    }

    pub(crate) fn body(&self) -> u128 {
        self.body
    }

    /// `log2` of the scale of the encrypted value.
    pub fn scale_log2(&self) -> u32 {
        self.origin.scale_log2()
    }

    /// How the summed column was encrypted.
    pub fn origin(&self) -> LinearOrigin {
        self.origin
    }

    /// Adds integer DP noise (drawn by the caller from the distribution `spec` describes)
    /// homomorphically: a plaintext addition to the body modulo 2^128, so the ciphertext noise
    /// does not grow. Refuses a second noise, and a release whose public figures leave the
    /// exactness budget ([`check_release_capacity`]); never looks at the drawn value (see
    /// [`crate::noise`] for a noise beyond its tail bound).
    pub fn add_noise(&mut self, noise: i64, spec: NoiseSpec) -> Result<()> {
        if self.figures.noise.is_some() {
            return Err(CryptoError::InvalidInput("this aggregate is noised already; a release adds its noise once".into()));
        }
        check_release_capacity(self.origin, self.figures.import_rows, self.figures.bound, Some(&spec))?;
        self.figures.noise = Some(spec);
        self.body = self.body.wrapping_add((noise as i128 as u128) << self.scale_log2());
        Ok(())
    }

    /// Serializes the aggregate, little endian: magic `SYLINA03`, origin (u8: 0 custodian,
    /// 1 converted), bound (u32), import rows (u64), noise description (u8 distribution: 0 none,
    /// 1 discrete Laplace, 2 discrete Gaussian; f64 scale), body (u128), mask (4096 × u128).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(AGGREGATE_BYTES);
        out.extend_from_slice(AGGREGATE_MAGIC);
        out.push(match self.origin {
            LinearOrigin::Custodian => 0,
            LinearOrigin::Converted => 1,
        });
        out.extend_from_slice(&self.figures.bound.to_le_bytes());
        out.extend_from_slice(&self.figures.import_rows.to_le_bytes());
        NoiseSpec::write_to(self.figures.noise.as_ref(), &mut out);
        debug_assert_eq!(out.len(), BODY_OFFSET);
        out.extend_from_slice(&self.body.to_le_bytes());
        for m in &self.mask {
            out.extend_from_slice(&m.to_le_bytes());
        }
        out
    }

    /// Reads an aggregate written by [`LinearAggregate::to_bytes`]; refuses the older formats
    /// (which carried per-group figures) and public figures outside the exactness budget.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        if bytes.len() >= 8 && OLD_AGGREGATE_MAGICS.iter().any(|m| &bytes[..8] == m.as_slice()) {
            return Err(CryptoError::malformed(
                "linear aggregate",
                "an older format that carried each group's row count and noise magnitude; \
                 this version reads format 03 only: upgrade the domain that sent it",
            ));
        }
        if bytes.len() != AGGREGATE_BYTES || &bytes[..8] != AGGREGATE_MAGIC {
            return Err(CryptoError::malformed("linear aggregate", "wrong length or format version"));
        }
        let u128_at = |o: usize| u128::from_le_bytes(bytes[o..o + 16].try_into().expect("16 bytes"));
        let origin = match bytes[8] {
            0 => LinearOrigin::Custodian,
            1 => LinearOrigin::Converted,
            _ => return Err(CryptoError::malformed("linear aggregate", "unknown column origin")),
        };
        let bound = u32::from_le_bytes(bytes[9..13].try_into().expect("4 bytes"));
        let import_rows = u64::from_le_bytes(bytes[13..21].try_into().expect("8 bytes"));
        let noise = NoiseSpec::read_from(bytes[21..30].try_into().expect("9 bytes"), "linear aggregate")?;
        let body = u128_at(BODY_OFFSET);
        let mask = (0..LWE_DIMENSION).map(|i| u128_at(BODY_OFFSET + 16 + 16 * i)).collect();
        check_release_capacity(origin, import_rows, bound, noise.as_ref())
            .map_err(|_| CryptoError::malformed("linear aggregate", "its public figures are outside the exactness budget"))?;
        Ok(LinearAggregate { mask, body, figures: PublicFigures { import_rows, bound, noise }, origin })
    }
}

/// Per-group partial result of one task: `A * M` for each mask polynomial, and the body sum.
struct Partial {
    mask_products: Vec<u128>,
    body: u128,
}

/// Sums the values of `column` per group: `groups[row]` is the row's group in
/// `0..num_groups`, or [`NO_GROUP`] when the public filter drops it. Returns one aggregate per
/// group (a group with no row encrypts 0). Work is spread over rayon's pool by blocks.
pub fn grouped_sum(column: &LinearColumn, groups: &[u32], num_groups: usize) -> Result<Vec<LinearAggregate>> {
    if groups.len() as u64 != column.rows() {
        return Err(CryptoError::InvalidInput(format!(
            "{} group ids for a column of {} rows",
            groups.len(),
            column.rows()
        )));
    }
    if let Some(&g) = groups.iter().find(|&&g| g != NO_GROUP && g as usize >= num_groups) {
        return Err(CryptoError::InvalidInput(format!("group id {g} outside 0..{num_groups}")));
    }
    // Exactness from public figures: the import's size bounds every group's (the ciphertext
    // noise of a group is the sum of its rows' noises). The DP noise is checked by `add_noise`.
    check_release_capacity(column.origin(), column.rows(), column.bound(), None)?;
    let blocks = column.blocks();
    let ring = column.ring();
    let partials = blocks
        .par_chunks(BLOCKS_PER_TASK)
        .enumerate()
        .map(|(task, chunk)| sum_task(ring, chunk, task * BLOCKS_PER_TASK, groups, num_groups))
        .reduce(
            || (0..num_groups).map(|_| None).collect::<Vec<Option<Partial>>>(),
            |mut left, right| {
                for (l, r) in left.iter_mut().zip(right) {
                    match (l.as_mut(), r) {
                        (_, None) => {}
                        (None, Some(r)) => *l = Some(r),
                        (Some(l), Some(r)) => {
                            for (a, b) in l.mask_products.iter_mut().zip(&r.mask_products) {
                                *a = a.wrapping_add(*b);
                            }
                            l.body = l.body.wrapping_add(r.body);
                        }
                    }
                }
                left
            },
        );
    Ok(partials
        .into_iter()
        .map(|partial| {
            let partial = partial.unwrap_or(Partial { mask_products: vec![0; LWE_DIMENSION], body: 0 });
            LinearAggregate {
                mask: extract_mask(ring, &partial.mask_products),
                body: partial.body,
                figures: PublicFigures { import_rows: column.rows(), bound: column.bound(), noise: None },
                origin: column.origin(),
            }
        })
        .collect())
}

/// Sample extraction at coefficient `N - 1`: the LWE mask entry for key bit `(j, u)` is
/// coefficient `N - 1 - u` of `A_j * M` (no sign change: the index never wraps). In both rings
/// key bit `(j, u)` is bit `j * N + u` of the same 4096-bit key.
fn extract_mask(ring: Ring, products: &[u128]) -> Vec<u128> {
    let n = ring.n;
    (0..ring.k).flat_map(|j| (0..n).map(move |u| products[j * n + n - 1 - u])).collect()
}

fn sum_task(ring: Ring, blocks: &[super::LinearBlock], first_block: usize, groups: &[u32], num_groups: usize) -> Vec<Option<Partial>> {
    let ntt = plan_for(ring.n);
    let n = ring.n;
    let mut accumulators: Vec<Option<Vec<Transformed>>> = (0..num_groups).map(|_| None).collect();
    let mut bodies = vec![0u128; num_groups];
    let mut ones: Vec<Vec<usize>> = vec![Vec::new(); num_groups];
    let mut mask_t: Vec<Transformed> = (0..ring.k).map(|_| ntt.zero()).collect();
    let mut selector_t = ntt.zero();
    for (offset, block) in blocks.iter().enumerate() {
        let start = (first_block + offset) * n;
        let block_groups = &groups[start..start + block.rows()];
        ones.iter_mut().for_each(Vec::clear);
        for (i, (&g, &b)) in block_groups.iter().zip(block.body()).enumerate() {
            if g != NO_GROUP {
                ones[g as usize].push(n - 1 - i);
                bodies[g as usize] = bodies[g as usize].wrapping_add(b);
            }
        }
        if ones.iter().all(Vec::is_empty) {
            continue;
        }
        let mask = block.mask();
        for (j, t) in mask_t.iter_mut().enumerate() {
            ntt.forward_u128(&mask[j * n..(j + 1) * n], t);
        }
        for (g, positions) in ones.iter().enumerate() {
            if positions.is_empty() {
                continue;
            }
            ntt.forward_binary(positions, &mut selector_t);
            let acc = accumulators[g].get_or_insert_with(|| (0..ring.k).map(|_| ntt.zero()).collect());
            for (a, t) in acc.iter_mut().zip(&mask_t) {
                ntt.mul_accumulate(a, t, &selector_t);
            }
        }
    }
    accumulators
        .into_iter()
        .zip(bodies)
        .map(|(acc, body)| {
            acc.map(|acc| {
                let mask_products = acc.into_iter().flat_map(|poly| ntt.finish(poly)).collect();
                Partial { mask_products, body }
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linear::{LinearEncryptor, LinearSecretKey, NOISE_BOUND_LOG2, SCALE_LOG2};

    /// Direct noise-budget check at the worst-case magnitudes of [`MAX_ROWS_PER_AGGREGATE`]
    /// rows: the phase of a real aggregate is shifted by plaintext amounts so that its message
    /// is the largest admissible noised sum and its noise the worst-case sum of noises; the
    /// decryption must still be exact, and one step beyond the rounding margin it must not be.
    #[test]
    fn worst_case_magnitudes_stay_exact() {
        let key = LinearSecretKey::generate();
        let column = LinearEncryptor::new(&key).encrypt_column("c", &[u32::MAX; 2048], u32::MAX).unwrap();
        let mut aggregate = grouped_sum(&column, &[0; 2048], 1).unwrap().remove(0);
        let (sum, noise) = key.decrypt_with_noise(&aggregate);
        assert_eq!(sum, 2048 * u32::MAX as i64);

        let n = crate::linear::MAX_ROWS_PER_AGGREGATE as i128;
        let worst_sum = n * u32::MAX as i128; // below 2^63
        let worst_noise = n << NOISE_BOUND_LOG2; // below 2^61
        let shift_message = worst_sum - sum as i128;
        let shift_noise = worst_noise - noise;
        aggregate.body = aggregate
            .body
            .wrapping_add((shift_message as u128) << SCALE_LOG2)
            .wrapping_add(shift_noise as u128);
        assert_eq!(key.decrypt_with_noise(&aggregate), (worst_sum as i64, worst_noise));
        // Negative worst case: the noise at its most negative.
        aggregate.body = aggregate.body.wrapping_sub((2 * worst_noise) as u128);
        assert_eq!(key.decrypt_with_noise(&aggregate), (worst_sum as i64, -worst_noise));
        // The rounding margin is 2^63: a noise of exactly 2^63 is decoded as the next message,
        // which is why the budget keeps the noise below 2^61.
        aggregate.body = aggregate.body.wrapping_add((worst_noise + (1i128 << 63)) as u128);
        assert_ne!(key.decrypt(&aggregate), worst_sum as i64);
    }
}
