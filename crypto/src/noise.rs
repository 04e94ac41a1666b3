//! Noise under encryption: integer DP noise, drawn by the caller (the compute crate, with
//! OpenDP), added homomorphically to every aggregate before anything is decrypted.
//!
//! On the linear tier the noise is a clear integer added to the encrypted aggregate (a
//! plaintext addition: the ciphertext noise does not grow, [`noise_linear`]); on the
//! bootstrapped tier it is encrypted under the compact public key and summed with the group's
//! terms ([`crate::bootstrapped::ReleaseNoise`]). Either way the keyholder only ever decrypts
//! `sum + noise`. The domain must forget the drawn noise once added (it never stores or logs
//! it): otherwise it could subtract it from the released value.
//!
//! # What an aggregate says about its noise: the public description only
//! An aggregate records the noise's distribution and scale ([`NoiseSpec`]), never the value
//! drawn nor its magnitude: the scale is a public figure (it follows from the budget and the
//! declared bound, and the analyst sees it in the result's metadata), the same for every group
//! of a release. Exactness is decided from public figures only: the import's row count times
//! the per-row bound plus the noise's [tail bound](NoiseSpec::tail_bound), a magnitude the noise
//! exceeds with probability below 2^-64.
//!
//! # When the drawn noise exceeds its tail bound
//! Nothing refuses it: the noise is added modulo the tier's message space as always. The
//! decrypted value is then `sum + noise` reduced into the signed message space, a fixed function
//! of `sum + noise`, so the release stays exactly as differentially private as `sum + noise`
//! (post-processing); only its accuracy is lost, with probability below 2^-64 per value.
//! Failing the job, clamping the noise or drawing again would each make the output depend on
//! the noise in a way that is not a post-processing of `sum + noise` (values just inside
//! `f(D) ± T` become impossible for a neighbouring data set), turning pure DP into
//! (ε, δ ≈ 2^-62)-DP that the ledger does not account. So the cap is used for the exactness
//! decision only, never applied to a drawn value.

use shuyu_privacy::Mechanism;

use crate::error::{CryptoError, Result};
use crate::linear::LinearAggregate;

/// Largest scale a [`NoiseSpec`] accepts: its tail bound (at most about `45.06 × 2^58`) stays
/// below 2^64; larger scales could never fit either tier's message space anyway.
pub const MAX_NOISE_SCALE: f64 = (1u64 << 58) as f64;

/// The public description of the noise one release adds to each of its aggregates: its
/// mechanism (shuyu-privacy's discrete Laplace or discrete Gaussian, OpenDP's exact integer
/// samplers) and scale. Never the drawn value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NoiseSpec {
    mechanism: Mechanism,
    scale: f64,
}

/// `65 · ln 2`: `e^-(65 ln 2) = 2^-65`.
const LN_2_TIMES_65: f64 = 65.0 * std::f64::consts::LN_2;
/// Relative margin over the `f64` rounding of the tail bound's product (2^-40).
const RELATIVE_MARGIN: f64 = 1.0 / (1u64 << 40) as f64;

impl NoiseSpec {
    /// The noise of a release: an integer mechanism (discrete Laplace or discrete Gaussian),
    /// and a `scale` finite, non-negative and at most [`MAX_NOISE_SCALE`].
    pub fn new(mechanism: Mechanism, scale: f64) -> Result<Self> {
        match mechanism {
            Mechanism::DiscreteLaplace | Mechanism::DiscreteGaussian => {}
            Mechanism::Laplace | Mechanism::Gaussian | Mechanism::ExponentialQuantile | Mechanism::PartitionSelection => {
                return Err(CryptoError::InvalidInput(format!(
                    "noise under encryption is integer noise (discrete Laplace or discrete Gaussian), not {}",
                    mechanism.name()
                )))
            }
        }
        if !(scale.is_finite() && (0.0..=MAX_NOISE_SCALE).contains(&scale)) {
            return Err(CryptoError::InvalidInput(
                "a noise scale must be finite and within 0..=2^58; raise the budget or lower the bound".into(),
            ));
        }
        Ok(NoiseSpec { mechanism, scale })
    }

    /// The mechanism (discrete Laplace or discrete Gaussian).
    pub fn mechanism(&self) -> Mechanism {
        self.mechanism
    }

    /// The scale (`b` or `σ`).
    pub fn scale(&self) -> f64 {
        self.scale
    }

    /// A magnitude `T` such that `P(|Z| > T) < 2^-64` for one draw `Z` of this noise, from the
    /// public scale alone.
    ///
    /// *Discrete Laplace of scale `b`*, with `α = e^(-1/b)`: `P(Z = k) = (1-α)/(1+α) · α^|k|`,
    /// so for an integer `t ≥ 1`, `P(|Z| ≥ t) = 2 · (1-α)/(1+α) · α^t / (1-α) = 2α^t / (1+α)
    /// < 2 e^(-t/b)`. With `t = ⌈65 ln 2 · b⌉`, `e^(-t/b) ≤ 2^-65`, hence `P(|Z| ≥ t) < 2^-64`.
    ///
    /// *Discrete Gaussian of scale `σ`*: Canonne, Kamath and Steinke (*The Discrete Gaussian
    /// for Differential Privacy*, NeurIPS 2020) show that `N_Z(0, σ²)` is σ²-subgaussian,
    /// `E[e^(λZ)] ≤ e^(λ²σ²/2)` for every real `λ`; Chernoff's bound then gives
    /// `P(Z ≥ t) ≤ e^(-t²/(2σ²))`, and by symmetry `P(|Z| ≥ t) ≤ 2 e^(-t²/(2σ²))`. With
    /// `t = ⌈σ · √(130 ln 2)⌉`, `t²/(2σ²) ≥ 65 ln 2`, hence `P(|Z| ≥ t) ≤ 2^-64`, and
    /// `P(|Z| > t) ≤ P(|Z| ≥ t + 1) < 2^-64`.
    ///
    /// Both products are computed in `f64`, whose rounding (a few units of 2^-53, relative) the
    /// factor `1 + 2^-40` more than covers before rounding up; the final `+ 1` covers the step
    /// from `≥` to `>`. Scale 0 adds no noise: 0.
    pub fn tail_bound(&self) -> u64 {
        if self.scale == 0.0 {
            return 0;
        }
        // `new` admits the two integer mechanisms only; a Gaussian tail is the wider of the two.
        let t = match self.mechanism {
            Mechanism::DiscreteLaplace => LN_2_TIMES_65 * self.scale,
            Mechanism::DiscreteGaussian | Mechanism::Laplace | Mechanism::Gaussian | Mechanism::ExponentialQuantile | Mechanism::PartitionSelection => {
                (2.0 * LN_2_TIMES_65).sqrt() * self.scale
            }
        };
        // At most about 45.06 · 2^58 < 2^64 - 1 for the largest scale accepted.
        (t * (1.0 + RELATIVE_MARGIN)).ceil() as u64 + 1
    }

    /// Wire form: a tag (1 discrete Laplace, 2 discrete Gaussian) and the scale's IEEE-754
    /// bits, little endian (9 bytes).
    pub(crate) fn write_to(spec: Option<&NoiseSpec>, out: &mut Vec<u8>) {
        match spec {
            None => {
                out.push(0);
                out.extend_from_slice(&0u64.to_le_bytes());
            }
            Some(s) => {
                // `new` admits the two integer mechanisms only.
                out.push(match s.mechanism {
                    Mechanism::DiscreteLaplace => 1,
                    Mechanism::DiscreteGaussian | Mechanism::Laplace | Mechanism::Gaussian | Mechanism::ExponentialQuantile | Mechanism::PartitionSelection => 2,
                });
                out.extend_from_slice(&s.scale.to_bits().to_le_bytes());
            }
        }
    }

    /// Reads [`NoiseSpec::write_to`]'s 9 bytes.
    pub(crate) fn read_from(bytes: &[u8; 9], what: &'static str) -> Result<Option<NoiseSpec>> {
        let scale = f64::from_bits(u64::from_le_bytes(bytes[1..].try_into().expect("8 bytes")));
        let mechanism = match bytes[0] {
            0 if scale.to_bits() == 0 => return Ok(None),
            1 => Mechanism::DiscreteLaplace,
            2 => Mechanism::DiscreteGaussian,
            _ => return Err(CryptoError::malformed(what, "unknown noise distribution")),
        };
        NoiseSpec::new(mechanism, scale).map(Some).map_err(|_| CryptoError::malformed(what, "noise scale out of range"))
    }
}

/// Adds `noises[i]` to `aggregates[i]` for every linear aggregate of one release, whose noise
/// is described by `spec`.
pub fn noise_linear(aggregates: &mut [LinearAggregate], noises: &[i64], spec: NoiseSpec) -> Result<()> {
    check_lengths(aggregates.len(), noises.len())?;
    aggregates.iter_mut().zip(noises).try_for_each(|(a, &n)| a.add_noise(n, spec))
}

fn check_lengths(aggregates: usize, noises: usize) -> Result<()> {
    if aggregates != noises {
        return Err(CryptoError::InvalidInput(format!("{noises} noise values for {aggregates} aggregates")));
    }
    Ok(())
}

/// What an aggregate on the keyholder's wire says about itself: public figures only, the
/// same for every group of a release. Never a group's row count, never the noise drawn.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PublicFigures {
    /// Rows of the import the aggregate was computed over (the custodian encrypted them), not
    /// the rows its group summed.
    pub import_rows: u64,
    /// The per-row bound (the column's bound for a sum, 1 for a count).
    pub bound: u32,
    /// The description of the DP noise added, if any.
    pub noise: Option<NoiseSpec>,
}

impl PublicFigures {
    /// The public bound on a decrypted value's magnitude, exceeded with probability below
    /// 2^-64: `import_rows × bound + tail bound of the noise`.
    pub fn max_magnitude(&self) -> u128 {
        self.import_rows as u128 * self.bound as u128 + self.noise.as_ref().map_or(0, NoiseSpec::tail_bound) as u128
    }

    /// The exactness decision of one release: every value of it is exact unless its noise
    /// exceeds the tail bound, when [`PublicFigures::max_magnitude`] is below `limit` (the
    /// tier's exclusive bound on a decrypted magnitude). `what` names the tier.
    pub(crate) fn check_capacity(&self, limit: u128, what: &str) -> Result<()> {
        if self.max_magnitude() >= limit {
            return Err(CryptoError::Capacity(format!(
                "on the {what}, the import's row count times the bound plus the noise's tail bound reaches 2^{}; \
                 lower the column's bound, raise the query's budget (a smaller noise scale), or split the import",
                limit.trailing_zeros()
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tail bound's probability, checked against the exact discrete Laplace tail
    /// `2α^t/(1+α)` in `f64` at several scales: below 2^-64, and not wastefully far below
    /// (the bound one less than `T` would already exceed 2^-66).
    #[test]
    fn laplace_tail_bound_has_the_stated_probability() {
        for b in [0.5, 1.0, 7.3, 200.0, 1e6, 1e12] {
            let t = NoiseSpec::new(Mechanism::DiscreteLaplace, b).unwrap().tail_bound() as f64;
            let alpha = (-1.0 / b).exp();
            let tail = |t: f64| 2.0 * (-t / b).exp() / (1.0 + alpha);
            assert!(tail(t) < 2f64.powi(-64), "scale {b}");
            assert!(tail(t - 2.0 - b * 2.0 * std::f64::consts::LN_2) > 2f64.powi(-64), "scale {b}: the bound is tight within 2 bits");
        }
    }

    /// The Gaussian bound against the continuous Gaussian's tail (the discrete one is smaller,
    /// by subgaussianity): `2 e^(-t²/(2σ²)) ≤ 2^-64`.
    #[test]
    fn gaussian_tail_bound_has_the_stated_probability() {
        for sigma in [0.5, 1.0, 3.7, 1e3, 1e9] {
            let t = NoiseSpec::new(Mechanism::DiscreteGaussian, sigma).unwrap().tail_bound() as f64;
            assert!(2.0 * (-(t * t) / (2.0 * sigma * sigma)).exp() <= 2f64.powi(-64), "sigma {sigma}");
            assert!(t <= 9.5 * sigma + 2.0, "sigma {sigma}: about 9.49 sigma");
        }
        assert_eq!(NoiseSpec::new(Mechanism::DiscreteGaussian, 0.0).unwrap().tail_bound(), 0);
    }

    #[test]
    fn scales_out_of_range_are_refused_and_specs_round_trip() {
        for bad in [-1.0, f64::NAN, f64::INFINITY, MAX_NOISE_SCALE * 2.0] {
            assert!(NoiseSpec::new(Mechanism::DiscreteLaplace, bad).is_err());
        }
        for continuous in [Mechanism::Laplace, Mechanism::Gaussian, Mechanism::ExponentialQuantile, Mechanism::PartitionSelection] {
            assert!(NoiseSpec::new(continuous, 1.0).is_err(), "{continuous:?} is not integer noise");
        }
        let spec = NoiseSpec::new(Mechanism::DiscreteGaussian, 12.5).unwrap();
        let mut out = Vec::new();
        NoiseSpec::write_to(Some(&spec), &mut out);
        assert_eq!(NoiseSpec::read_from(&out.clone().try_into().unwrap(), "t").unwrap(), Some(spec));
        out.clear();
        NoiseSpec::write_to(None, &mut out);
        assert_eq!(NoiseSpec::read_from(&out.try_into().unwrap(), "t").unwrap(), None);
        assert!(NoiseSpec::read_from(&[3, 0, 0, 0, 0, 0, 0, 0, 0], "t").is_err());
    }
}
