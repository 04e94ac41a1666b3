//! Exact negacyclic products modulo 2^128 of a `u128` polynomial by *binary* polynomials,
//! accumulated in the number-theoretic-transform domain.
//!
//! Each `u128` coefficient is reduced modulo five 30-bit NTT-friendly primes (the primes of
//! `tfhe-ntt`'s `native_binary128` plan, whose product `P` is about 2^150); the products are
//! taken with `tfhe_ntt::prime32::Plan`, accumulated there, and brought back with Garner's
//! mixed-radix reconstruction and a *centred* lift, then reduced modulo 2^128.
//!
//! Exactness: with the left operand lifted to `[0, 2^128)` and a binary right operand, one
//! negacyclic product has integer coefficients of magnitude below `N * 2^128 = 2^139`. The
//! centred lift returns the exact integer as long as the accumulated magnitude stays below
//! `(P - 1) / 2`, which is above `2^149`; so up to `2^10` products may be accumulated before a
//! [`CrtNtt::finish`] at `N = 2048`, and `2^9` at `N = 4096` (products below `2^140`). Callers
//! keep to [`MAX_PRODUCTS_PER_ACCUMULATOR`], a quarter and a half of those.

use tfhe_ntt::fastdiv::Div32;
use tfhe_ntt::prime32::Plan;

/// The five primes (each `1 mod 2^16`, so a negacyclic NTT of size up to 2^15 exists).
pub(crate) const PRIMES: [u32; 5] = [0x3F5A_0001, 0x3F5D_0001, 0x3F76_0001, 0x3F82_0001, 0x3FAC_0001];

/// How many binary products one accumulator may hold before it must be finished (see the
/// module comment: the exact bound is 2^10 at N = 2048 and 2^9 at N = 4096; a factor 4 and 2
/// are kept as margin).
pub(crate) const MAX_PRODUCTS_PER_ACCUMULATOR: usize = 256;

/// A polynomial in CRT-NTT form: `PRIMES.len()` residue vectors of length `n`.
pub(crate) type Transformed = [Vec<u32>; 5];

/// Plans and reconstruction constants for one polynomial size.
pub(crate) struct CrtNtt {
    n: usize,
    plans: [Plan; 5],
    divs: [Div32; 5],
    /// `limb_weights[k][i] = 2^(32 i) mod p_k`.
    limb_weights: [[u64; 4]; 5],
    /// `inv[i][j] = p_i^{-1} mod p_j` for `i < j`.
    inv: [[u64; 5]; 5],
    /// `prod_{i<j} p_i mod 2^128`.
    prefix: [u128; 5],
    /// `P mod 2^128`.
    p_mod: u128,
    /// Mixed-radix digits of `(P - 1) / 2`, lowest first.
    half: [u64; 5],
}

fn pow_mod(mut b: u64, mut e: u64, p: u64) -> u64 {
    let mut r = 1u64;
    b %= p;
    while e > 0 {
        if e & 1 == 1 {
            r = r * b % p;
        }
        b = b * b % p;
        e >>= 1;
    }
    r
}

impl CrtNtt {
    /// Builds the plans for polynomial size `n` (a power of two from 32 to 2^15).
    pub(crate) fn new(n: usize) -> Self {
        let plans = PRIMES.map(|p| {
            Plan::try_new(n, p).expect("the five primes support every power-of-two size from 32 to 2^15")
        });
        let divs = PRIMES.map(Div32::new);
        let mut inv = [[0u64; 5]; 5];
        for i in 0..5 {
            for j in (i + 1)..5 {
                let pj = PRIMES[j] as u64;
                inv[i][j] = pow_mod(PRIMES[i] as u64 % pj, pj - 2, pj);
            }
        }
        let mut prefix = [1u128; 5];
        for j in 1..5 {
            prefix[j] = prefix[j - 1].wrapping_mul(PRIMES[j - 1] as u128);
        }
        let p_mod = prefix[4].wrapping_mul(PRIMES[4] as u128);
        let limb_weights = PRIMES.map(|p| {
            let p = p as u64;
            let c1 = (1u64 << 32) % p;
            [1, c1, c1 * c1 % p, c1 * c1 % p * c1 % p]
        });
        let mut this = CrtNtt { n, plans, divs, limb_weights, inv, prefix, p_mod, half: [0; 5] };
        // (P - 1) / 2 is congruent to (p_j - 1) / 2 modulo every p_j.
        let half_residues = PRIMES.map(|p| ((p - 1) / 2) as u64);
        this.half = this.digits(&half_residues);
        this
    }

    /// A zeroed transformed polynomial (the neutral accumulator).
    pub(crate) fn zero(&self) -> Transformed {
        std::array::from_fn(|_| vec![0u32; self.n])
    }

    /// Forward transform of an arbitrary `u128` polynomial into `out`.
    pub(crate) fn forward_u128(&self, poly: &[u128], out: &mut Transformed) {
        debug_assert_eq!(poly.len(), self.n);
        for (k, buf) in out.iter_mut().enumerate() {
            let div = self.divs[k];
            let [_, c1, c2, c3] = self.limb_weights[k];
            for (o, &v) in buf.iter_mut().zip(poly) {
                // v = l0 + l1 2^32 + l2 2^64 + l3 2^96 with l_i < 2^32 and c_i = 2^(32 i) mod p
                // < 2^30: l0 + l1 c1 + l2 c2 + l3 c3 < 2^32 + 3 * 2^62 < 2^64, one reduction.
                let limb = |shift: u32| (v >> shift) as u64 & 0xFFFF_FFFF;
                let folded = limb(0) + limb(32) * c1 + limb(64) * c2 + limb(96) * c3;
                *o = Div32::rem_u64(folded, div);
            }
            self.plans[k].fwd(buf);
        }
    }

    /// Forward transform of a binary polynomial given as the positions of its ones.
    pub(crate) fn forward_binary(&self, ones: &[usize], out: &mut Transformed) {
        for (k, buf) in out.iter_mut().enumerate() {
            buf.fill(0);
            for &i in ones {
                buf[i] = 1;
            }
            self.plans[k].fwd(buf);
        }
    }

    /// `acc += lhs * rhs` in the transformed domain.
    pub(crate) fn mul_accumulate(&self, acc: &mut Transformed, lhs: &Transformed, rhs: &Transformed) {
        for k in 0..5 {
            self.plans[k].mul_accumulate(&mut acc[k], &lhs[k], &rhs[k]);
        }
    }

    /// Inverse transform of an accumulator; returns the exact sum of its products modulo 2^128.
    pub(crate) fn finish(&self, mut acc: Transformed) -> Vec<u128> {
        for (plan, residues) in self.plans.iter().zip(acc.iter_mut()) {
            plan.normalize(residues);
            plan.inv(residues);
        }
        (0..self.n)
            .map(|i| {
                let residues: [u64; 5] = std::array::from_fn(|k| acc[k][i] as u64);
                self.reconstruct(&residues)
            })
            .collect()
    }

    /// Garner mixed-radix digits (lowest first) of the integer in `[0, P)` with these residues.
    fn digits(&self, residues: &[u64; 5]) -> [u64; 5] {
        let mut v = [0u64; 5];
        for j in 0..5 {
            let pj = PRIMES[j] as u64;
            let mut t = residues[j] % pj;
            for (i, &vi) in v[..j].iter().enumerate() {
                t = (t + pj - vi % pj) % pj * self.inv[i][j] % pj;
            }
            v[j] = t;
        }
        v
    }

    /// Centred reconstruction modulo 2^128.
    fn reconstruct(&self, residues: &[u64; 5]) -> u128 {
        let v = self.digits(residues);
        let x = v.iter().zip(&self.prefix).fold(0u128, |x, (&d, &w)| x.wrapping_add((d as u128).wrapping_mul(w)));
        // x > (P-1)/2 means the true integer is x - P (negative).
        let negative = v.iter().rev().zip(self.half.iter().rev()).find(|(a, b)| a != b).is_some_and(|(a, b)| a > b);
        if negative {
            x.wrapping_sub(self.p_mod)
        } else {
            x
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    fn schoolbook(a: &[u128], ones: &[usize], n: usize) -> Vec<u128> {
        let mut out = vec![0u128; n];
        for &j in ones {
            for (i, &ai) in a.iter().enumerate() {
                let k = i + j;
                if k < n {
                    out[k] = out[k].wrapping_add(ai);
                } else {
                    out[k - n] = out[k - n].wrapping_sub(ai);
                }
            }
        }
        out
    }

    #[test]
    fn accumulated_binary_products_are_exact_mod_2_128() {
        let n = 64;
        let ntt = CrtNtt::new(n);
        let mut rng = rand::rng();
        let mut acc = ntt.zero();
        let mut expected = vec![0u128; n];
        let mut ta = ntt.zero();
        let mut tm = ntt.zero();
        for round in 0..MAX_PRODUCTS_PER_ACCUMULATOR {
            // Extreme coefficients in some rounds: all ones bits, to reach the magnitude bound.
            let a: Vec<u128> = (0..n).map(|_| if round % 3 == 0 { u128::MAX } else { rng.random() }).collect();
            let ones: Vec<usize> = (0..n).filter(|_| round % 3 == 0 || rng.random_bool(0.5)).collect();
            ntt.forward_u128(&a, &mut ta);
            ntt.forward_binary(&ones, &mut tm);
            ntt.mul_accumulate(&mut acc, &ta, &tm);
            for (e, s) in expected.iter_mut().zip(schoolbook(&a, &ones, n)) {
                *e = e.wrapping_add(s);
            }
        }
        assert_eq!(ntt.finish(acc), expected);
    }
}
