//! Portable, deterministic sampling.
//!
//! Every value is derived from the raw 64-bit words of a ChaCha8 stream using only IEEE
//! basic operations (+, -, *, /, sqrt, round), which are correctly rounded everywhere.
//! The platform's `ln`/`exp`/`powf` may differ in the last bit between libms, so this
//! module carries its own: the generated files are byte-identical on every machine.

use rand::RngCore;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// The random stream of one chunk of one table.
pub(crate) struct Stream {
    rng: ChaCha8Rng,
}

/// SplitMix64 step: a bijective mixer used to derive keys from the user's seed.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Stream {
    /// The stream of chunk `chunk` of table number `table`, under the dataset seed `seed`.
    ///
    /// The key depends on (seed, table); the ChaCha stream number is the chunk index, so
    /// chunks are independent and can be generated in any order on any thread.
    pub(crate) fn new(seed: u64, table: u64, chunk: u64) -> Self {
        let mut state = seed ^ table.wrapping_mul(0xA076_1D64_78BD_642F);
        let mut key = [0u8; 32];
        for part in key.chunks_exact_mut(8) {
            part.copy_from_slice(&splitmix64(&mut state).to_le_bytes());
        }
        let mut rng = ChaCha8Rng::from_seed(key);
        rng.set_stream(chunk);
        Stream { rng }
    }

    /// A raw 64-bit word.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.rng.next_u64()
    }

    /// Uniform in `[0, 1)` with 53 bits of resolution.
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `(0, 1]` (safe to take the logarithm of).
    pub(crate) fn unit_open0(&mut self) -> f64 {
        1.0 - self.unit()
    }

    /// Uniform integer in `[0, n)` (multiply-shift; bias below 2^-40 for the ranges used).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform integer in `[lo, hi]`.
    pub(crate) fn range(&mut self, lo: i64, hi: i64) -> i64 {
        let span = (hi - lo) as u64 + 1;
        lo + self.below(span) as i64
    }

    /// True with probability `p`.
    pub(crate) fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Standard normal deviate (Marsaglia's polar method).
    pub(crate) fn normal(&mut self) -> f64 {
        loop {
            let u = 2.0 * self.unit() - 1.0;
            let v = 2.0 * self.unit() - 1.0;
            let s = u * u + v * v;
            if s > 0.0 && s < 1.0 {
                return u * (-2.0 * ln(s) / s).sqrt();
            }
        }
    }

    /// Log-normal deviate with the given median and log-scale sigma.
    pub(crate) fn log_normal(&mut self, median: f64, sigma: f64) -> f64 {
        median * exp(sigma * self.normal())
    }

    /// Exponential deviate with the given mean.
    pub(crate) fn exponential(&mut self, mean: f64) -> f64 {
        -mean * ln(self.unit_open0())
    }

    /// Pareto deviate: `scale * U^(-1/alpha)`, at least `scale`.
    pub(crate) fn pareto(&mut self, scale: f64, alpha: f64) -> f64 {
        scale * exp(-ln(self.unit_open0()) / alpha)
    }

    /// Poisson deviate (Knuth's product method; meant for small means, below ~30).
    pub(crate) fn poisson(&mut self, mean: f64) -> u64 {
        let limit = exp(-mean);
        let mut k = 0u64;
        let mut p = self.unit_open0();
        while p > limit {
            k += 1;
            p *= self.unit_open0();
        }
        k
    }
}

/// A categorical distribution over indices with integer weights.
pub(crate) struct Weighted {
    cumulative: Vec<u64>,
}

impl Weighted {
    /// From integer weights (at least one positive).
    pub(crate) fn new(weights: &[u64]) -> Self {
        let mut total = 0u64;
        let cumulative = weights
            .iter()
            .map(|w| {
                total += w;
                total
            })
            .collect();
        Weighted { cumulative }
    }

    /// Zipf-like weights `round(1e6 / (rank+1)^s)` for `n` items.
    pub(crate) fn zipf(n: usize, s: f64) -> Self {
        let weights: Vec<u64> = (0..n)
            .map(|i| {
                let w = 1_000_000.0 * exp(-s * ln((i + 1) as f64));
                w.round().max(1.0) as u64
            })
            .collect();
        Weighted::new(&weights)
    }

    /// Draws an index.
    pub(crate) fn sample(&self, s: &mut Stream) -> usize {
        let total = self.cumulative.last().copied().unwrap_or(0);
        if total == 0 {
            return 0;
        }
        let x = s.below(total);
        self.cumulative.partition_point(|&c| c <= x)
    }
}

const LN2: f64 = std::f64::consts::LN_2;

/// Natural logarithm of a positive, finite, normal `x`, from basic operations only.
pub(crate) fn ln(x: f64) -> f64 {
    if x.is_nan() || x <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if x.is_infinite() {
        return f64::INFINITY;
    }
    let mut x = x;
    let mut e: i64 = 0;
    // Scale subnormals into the normal range.
    if x < f64::MIN_POSITIVE {
        x *= (1u64 << 54) as f64;
        e -= 54;
    }
    let bits = x.to_bits();
    e += ((bits >> 52) & 0x7ff) as i64 - 1023;
    let mut m = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | (1023u64 << 52));
    if m > std::f64::consts::SQRT_2 {
        m *= 0.5;
        e += 1;
    }
    // ln(m) = 2 atanh(f), f = (m-1)/(m+1), |f| < 0.172.
    let f = (m - 1.0) / (m + 1.0);
    let s = f * f;
    let mut poly = 1.0 / 23.0;
    for k in (0..11).rev() {
        poly = poly * s + 1.0 / (2 * k + 1) as f64;
    }
    e as f64 * LN2 + 2.0 * f * poly
}

/// Exponential function, from basic operations only (saturates outside ±700).
pub(crate) fn exp(x: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    let x = x.clamp(-700.0, 700.0);
    let k = (x / LN2).round();
    // Cody-Waite reduction: k * LN2_HI is exact, so r keeps full precision.
    const LN2_HI: f64 = 6.931_471_803_691_238e-1;
    const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;
    let r = (x - k * LN2_HI) - k * LN2_LO;
    // Taylor series of e^r for |r| <= 0.35, degree 16.
    let mut poly = 1.0;
    for n in (1..=16).rev() {
        poly = 1.0 + poly * r / n as f64;
    }
    let scale = f64::from_bits(((k as i64 + 1023) as u64) << 52);
    poly * scale
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ln_and_exp_are_accurate() {
        for &x in &[
            1e-300,
            1e-10,
            0.001,
            0.5,
            1.0,
            1.5,
            2.0,
            std::f64::consts::E,
            42_000.0,
            1e300,
        ] {
            let rel = (ln(x) - x.ln()).abs() / x.ln().abs().max(1.0);
            assert!(rel < 1e-14, "ln({x}) = {} vs {}", ln(x), x.ln());
        }
        for &x in &[-700.0, -20.0, -1.0, -0.1, 0.0, 0.3, 1.0, 10.0, 300.0] {
            let rel = (exp(x) - x.exp()).abs() / x.exp();
            assert!(rel < 1e-14, "exp({x}) = {} vs {}", exp(x), x.exp());
        }
    }

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let a: Vec<u64> = (0..4).map(|_| Stream::new(7, 1, 3).next_u64()).collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        assert_ne!(
            Stream::new(7, 1, 3).next_u64(),
            Stream::new(7, 1, 4).next_u64()
        );
        assert_ne!(
            Stream::new(7, 1, 3).next_u64(),
            Stream::new(7, 2, 3).next_u64()
        );
        assert_ne!(
            Stream::new(7, 1, 3).next_u64(),
            Stream::new(8, 1, 3).next_u64()
        );
    }

    #[test]
    fn samplers_have_the_right_moments() {
        let mut s = Stream::new(1, 0, 0);
        let n = 200_000;
        let xs: Vec<f64> = (0..n).map(|_| s.normal()).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.01, "mean {mean}");
        assert!((var - 1.0).abs() < 0.02, "var {var}");
        let p: f64 = (0..n).map(|_| s.poisson(3.0) as f64).sum::<f64>() / n as f64;
        assert!((p - 3.0).abs() < 0.03, "poisson mean {p}");
        let w = Weighted::new(&[1, 0, 3]);
        let mut counts = [0u32; 3];
        for _ in 0..40_000 {
            counts[w.sample(&mut s)] += 1;
        }
        assert_eq!(counts[1], 0);
        assert!(
            (counts[2] as f64 / counts[0] as f64 - 3.0).abs() < 0.2,
            "{counts:?}"
        );
        for _ in 0..1000 {
            let r = s.range(-3, 5);
            assert!((-3..=5).contains(&r));
        }
    }
}
