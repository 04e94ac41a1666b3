//! The privacy definition a budget is stated in.

use std::fmt;

/// Privacy definition of a budget: what an authorization's amounts, a query's budget and a
/// measurement's cost are measured in.
///
/// Its serde form and stored text are the snake-case names `"pure_dp"` and `"zcdp"` (the
/// governance store, the admin API and the JSON of EXPLAIN and result metadata rely on them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrivacyDefinition {
    /// Pure differential privacy: amounts are epsilon, sensitivities L1, noise from the
    /// Laplace family.
    PureDp,
    /// Zero-concentrated differential privacy: amounts are rho, sensitivities L2, noise from
    /// the Gaussian family.
    Zcdp,
}

impl PrivacyDefinition {
    /// Every definition, in the order of [`PrivacyDefinition::NAMES`].
    pub const ALL: [PrivacyDefinition; 2] = [PrivacyDefinition::PureDp, PrivacyDefinition::Zcdp];

    /// Every stored name, in the order of [`PrivacyDefinition::ALL`].
    pub const NAMES: &'static [&'static str] = &["pure_dp", "zcdp"];

    /// The stored (and displayed) name: `"pure_dp"` or `"zcdp"`.
    pub fn as_str(self) -> &'static str {
        match self {
            PrivacyDefinition::PureDp => "pure_dp",
            PrivacyDefinition::Zcdp => "zcdp",
        }
    }

    /// Parses a stored name (exactly `"pure_dp"` or `"zcdp"`).
    pub fn parse(text: &str) -> Option<Self> {
        PrivacyDefinition::ALL.into_iter().find(|d| d.as_str() == text)
    }

    /// The name of the budget's unit: `"epsilon"` (pure DP) or `"rho"` (zCDP).
    pub fn unit_name(self) -> &'static str {
        match self {
            PrivacyDefinition::PureDp => "epsilon",
            PrivacyDefinition::Zcdp => "rho",
        }
    }
}

impl fmt::Display for PrivacyDefinition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::PrivacyDefinition;

    #[test]
    fn names_round_trip_and_units_are_epsilon_and_rho() {
        for (d, name) in PrivacyDefinition::ALL.into_iter().zip(PrivacyDefinition::NAMES) {
            assert_eq!(d.as_str(), *name);
            assert_eq!(d.to_string(), *name);
            assert_eq!(PrivacyDefinition::parse(name), Some(d));
        }
        assert_eq!(PrivacyDefinition::PureDp.unit_name(), "epsilon");
        assert_eq!(PrivacyDefinition::Zcdp.unit_name(), "rho");
        for bad in ["epsilon", "rho", "PureDp", "Zcdp", "pure-dp", ""] {
            assert_eq!(PrivacyDefinition::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn serde_form_is_the_stored_name() {
        for d in PrivacyDefinition::ALL {
            let json = serde_json::to_string(&d).expect("serialises");
            assert_eq!(json, format!("\"{}\"", d.as_str()));
            assert_eq!(serde_json::from_str::<PrivacyDefinition>(&json).expect("parses"), d);
        }
        assert!(serde_json::from_str::<PrivacyDefinition>("\"PureDp\"").is_err());
    }
}
