//! Every mechanism that releases a value.

use std::fmt;

use crate::PrivacyDefinition;

/// A mechanism that releases a value: one of the four additive noises on a vector of sums
/// or counts, the exponential mechanism for quantiles, or partition selection.
///
/// Its serde form is the snake-case [`Mechanism::name`] (`"discrete_laplace"`, …), as in the
/// `shuyu.releases` JSON of result metadata and in EXPLAIN PRIVACY.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mechanism {
    /// Discrete Laplace on integers (pure DP; scale `b`, P(k) ∝ exp(-|k|/b)).
    DiscreteLaplace,
    /// Discrete Gaussian on integers (zCDP; scale `σ`, P(k) ∝ exp(-k²/(2σ²))).
    DiscreteGaussian,
    /// Laplace on floats (pure DP), OpenDP's floating-point-safe sampler (discrete Laplace on
    /// the 2^-1074 grid).
    Laplace,
    /// Gaussian on floats (zCDP), OpenDP's floating-point-safe sampler (discrete Gaussian on
    /// the 2^-1074 grid).
    Gaussian,
    /// Exponential mechanism over quantile scores (report noisy max), under either definition.
    ExponentialQuantile,
    /// Thresholded noisy counts of units (partition selection), under either definition.
    PartitionSelection,
}

impl Mechanism {
    /// Every mechanism.
    pub const ALL: [Mechanism; 6] = [
        Mechanism::DiscreteLaplace,
        Mechanism::DiscreteGaussian,
        Mechanism::Laplace,
        Mechanism::Gaussian,
        Mechanism::ExponentialQuantile,
        Mechanism::PartitionSelection,
    ];

    /// The additive mechanism shuyu uses for a release of integers (`integer`) or floats
    /// under that definition.
    pub fn for_definition(definition: PrivacyDefinition, integer: bool) -> Mechanism {
        match (definition, integer) {
            (PrivacyDefinition::PureDp, true) => Mechanism::DiscreteLaplace,
            (PrivacyDefinition::PureDp, false) => Mechanism::Laplace,
            (PrivacyDefinition::Zcdp, true) => Mechanism::DiscreteGaussian,
            (PrivacyDefinition::Zcdp, false) => Mechanism::Gaussian,
        }
    }

    /// Whether the mechanism releases integers: the discrete Laplace and Gaussian, and
    /// partition selection (noisy integer counts). The float noises and the exponential
    /// quantile (a bucket's midpoint) release floats.
    pub fn is_integer(self) -> bool {
        match self {
            Mechanism::DiscreteLaplace | Mechanism::DiscreteGaussian | Mechanism::PartitionSelection => true,
            Mechanism::Laplace | Mechanism::Gaussian | Mechanism::ExponentialQuantile => false,
        }
    }

    /// The privacy definition the mechanism's cost is stated in, when the mechanism fixes it:
    /// epsilon for the Laplace family (given an L1 sensitivity), rho for the Gaussian family
    /// (L2 sensitivity). The exponential quantile and partition selection serve either
    /// definition: `None`.
    pub fn definition(self) -> Option<PrivacyDefinition> {
        match self {
            Mechanism::DiscreteLaplace | Mechanism::Laplace => Some(PrivacyDefinition::PureDp),
            Mechanism::DiscreteGaussian | Mechanism::Gaussian => Some(PrivacyDefinition::Zcdp),
            Mechanism::ExponentialQuantile | Mechanism::PartitionSelection => None,
        }
    }

    /// Short lowercase name, as shown in EXPLAIN PRIVACY and in result metadata.
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::DiscreteLaplace => "discrete_laplace",
            Mechanism::DiscreteGaussian => "discrete_gaussian",
            Mechanism::Laplace => "laplace",
            Mechanism::Gaussian => "gaussian",
            Mechanism::ExponentialQuantile => "exponential_quantile",
            Mechanism::PartitionSelection => "partition_selection",
        }
    }
}

impl fmt::Display for Mechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::Mechanism;
    use crate::PrivacyDefinition;

    #[test]
    fn serde_form_and_display_are_the_name() {
        let names: Vec<&str> = Mechanism::ALL.iter().map(|m| m.name()).collect();
        assert_eq!(
            names,
            ["discrete_laplace", "discrete_gaussian", "laplace", "gaussian", "exponential_quantile", "partition_selection"]
        );
        for m in Mechanism::ALL {
            assert_eq!(m.to_string(), m.name());
            let json = serde_json::to_string(&m).expect("serialises");
            assert_eq!(json, format!("\"{}\"", m.name()));
            assert_eq!(serde_json::from_str::<Mechanism>(&json).expect("parses"), m);
        }
    }

    #[test]
    fn additive_mechanisms_match_their_definition_and_value_type() {
        for def in PrivacyDefinition::ALL {
            for integer in [true, false] {
                let m = Mechanism::for_definition(def, integer);
                assert_eq!(m.definition(), Some(def));
                assert_eq!(m.is_integer(), integer);
            }
        }
        assert_eq!(Mechanism::ExponentialQuantile.definition(), None);
        assert_eq!(Mechanism::PartitionSelection.definition(), None);
        assert!(Mechanism::PartitionSelection.is_integer());
        assert!(!Mechanism::ExponentialQuantile.is_integer());
    }
}
