//! Filtered, grouped sums of a linear column by public masks, and the aggregate ciphertexts
//! they produce (one LWE ciphertext per group), with DP noise added under encryption.

use super::key::{LinearColumn, LinearOrigin};
use super::ntt::{Transformed, MAX_PRODUCTS_PER_ACCUMULATOR};
use super::{plan_for, Ring, LWE_DIMENSION};
use crate::error::{CryptoError, Result};
use rayon::prelude::*;

/// Group id of a row that no group selects (filtered out by the public predicate).
pub const NO_GROUP: u32 = u32::MAX;

/// Blocks per parallel task (and per NTT accumulator, well below its capacity).
const BLOCKS_PER_TASK: usize = 64;
const _: () = assert!(BLOCKS_PER_TASK <= MAX_PRODUCTS_PER_ACCUMULATOR);

const AGGREGATE_MAGIC: &[u8; 8] = b"SYLINA02";
/// Serialized size: magic, rows, bound, origin, noise magnitude, body, mask.
const AGGREGATE_BYTES: usize = 8 + 8 + 4 + 1 + 16 + 16 * (1 + LWE_DIMENSION);

/// The encrypted sum of one group: an LWE ciphertext of dimension `kN = 4096` over the 2^128
/// torus, with the bookkeeping that keeps it inside the exactness budget.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinearAggregate {
    mask: Vec<u128>,
    body: u128,
    rows: u64,
    bound: u32,
    origin: LinearOrigin,
    /// Largest absolute value of the DP noise added so far (sum of magnitudes).
    noise_magnitude: u128,
}

impl LinearAggregate {
    /// Number of rows summed.
    pub fn rows(&self) -> u64 {
        self.rows
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

    /// The exclusive bound on the decrypted value's magnitude that keeps it exact: the signed
    /// message space of `128 - scale` bits.
    fn message_limit(&self) -> u128 {
        1u128 << (127 - self.scale_log2())
    }

    /// The largest magnitude the decrypted value can have: `rows * bound + |noise added|`.
    pub fn max_magnitude(&self) -> u128 {
        self.rows as u128 * self.bound as u128 + self.noise_magnitude
    }

    /// Adds integer DP noise (drawn by the caller) homomorphically: a plaintext addition to the
    /// body, so the ciphertext noise does not grow. Refuses when the noised sum could leave the
    /// signed 64-bit message space.
    pub fn add_noise(&mut self, noise: i64) -> Result<()> {
        let magnitude = self.max_magnitude() + noise.unsigned_abs() as u128;
        if magnitude >= self.message_limit() {
            return Err(CryptoError::Capacity(format!(
                "the noised sum could exceed 2^{} in magnitude; lower the bound or the noise scale",
                127 - self.scale_log2()
            )));
        }
        self.noise_magnitude += noise.unsigned_abs() as u128;
        self.body = self.body.wrapping_add((noise as i128 as u128) << self.scale_log2());
        Ok(())
    }

    /// Serializes the aggregate (magic, rows, bound, origin, noise magnitude, body, mask; little
    /// endian).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(AGGREGATE_BYTES);
        out.extend_from_slice(AGGREGATE_MAGIC);
        out.extend_from_slice(&self.rows.to_le_bytes());
        out.extend_from_slice(&self.bound.to_le_bytes());
        out.push(match self.origin {
            LinearOrigin::Custodian => 0,
            LinearOrigin::Converted => 1,
        });
        out.extend_from_slice(&self.noise_magnitude.to_le_bytes());
        out.extend_from_slice(&self.body.to_le_bytes());
        for m in &self.mask {
            out.extend_from_slice(&m.to_le_bytes());
        }
        out
    }

    /// Reads an aggregate written by [`LinearAggregate::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        if bytes.len() != AGGREGATE_BYTES || &bytes[..8] != AGGREGATE_MAGIC {
            return Err(CryptoError::malformed("linear aggregate", "wrong length or format version"));
        }
        let u128_at = |o: usize| u128::from_le_bytes(bytes[o..o + 16].try_into().expect("16 bytes"));
        let rows = u64::from_le_bytes(bytes[8..16].try_into().expect("8 bytes"));
        let bound = u32::from_le_bytes(bytes[16..20].try_into().expect("4 bytes"));
        let origin = match bytes[20] {
            0 => LinearOrigin::Custodian,
            1 => LinearOrigin::Converted,
            _ => return Err(CryptoError::malformed("linear aggregate", "unknown column origin")),
        };
        let noise_magnitude = u128_at(21);
        let body = u128_at(37);
        let mask = (0..LWE_DIMENSION).map(|i| u128_at(53 + 16 * i)).collect();
        let aggregate = LinearAggregate { mask, body, rows, bound, origin, noise_magnitude };
        if rows > origin.max_rows_per_aggregate() || aggregate.max_magnitude() >= aggregate.message_limit() {
            return Err(CryptoError::malformed("linear aggregate", "outside the exactness budget"));
        }
        Ok(aggregate)
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
    let mut counts = vec![0u64; num_groups];
    for &g in groups {
        if g != NO_GROUP {
            *counts.get_mut(g as usize).ok_or_else(|| {
                CryptoError::InvalidInput(format!("group id {g} outside 0..{num_groups}"))
            })? += 1;
        }
    }
    let max_rows = column.origin().max_rows_per_aggregate();
    if counts.iter().any(|&c| c > max_rows) {
        return Err(CryptoError::Capacity(format!(
            "a group holds more than {max_rows} rows, beyond the linear tier's exactness budget"
        )));
    }
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
        .zip(counts)
        .map(|(partial, rows)| {
            let partial = partial.unwrap_or(Partial { mask_products: vec![0; LWE_DIMENSION], body: 0 });
            LinearAggregate {
                mask: extract_mask(ring, &partial.mask_products),
                body: partial.body,
                rows,
                bound: column.bound(),
                origin: column.origin(),
                noise_magnitude: 0,
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
