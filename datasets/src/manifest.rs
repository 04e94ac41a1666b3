//! Catalog manifests: what a dataset declares about itself (TOML, one file per table).
//!
//! The manifest is the privacy contract of a table. The planner reads the privacy unit,
//! the bounds and the public domains from it; governance registers it in the catalog;
//! the dev environment applies its masking rules. Nothing here reads data.

use serde::{Deserialize, Serialize};

use crate::DatasetsError;

/// Classification level of a dataset (Art. 8 of the measures).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Classification {
    /// Open to the public without conditions.
    Open,
    /// Open with conditions: may be authorized.
    Conditional,
    /// Sensitive personal or enterprise data: may be authorized, only through private plans.
    Sensitive,
    /// State secret: may be registered, never authorized.
    StateSecret,
    /// Public safety: may be registered, never authorized.
    PublicSafety,
}

impl Classification {
    /// Whether an authorization may ever grant a dataset of this level (Art. 8).
    pub fn is_authorizable(self) -> bool {
        !matches!(
            self,
            Classification::StateSecret | Classification::PublicSafety
        )
    }
}

/// How many rows one privacy unit may have in a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RowsPerUnit {
    /// Exactly one row per unit: no contribution bounding pass is needed.
    One,
    /// Any number of rows per unit: contribution bounding applies.
    Many,
}

/// Logical type of a column, as stored in Parquet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnType {
    /// 64-bit signed integer.
    Int64,
    /// 64-bit float.
    Float64,
    /// UTF-8 string.
    Utf8,
    /// Boolean.
    Boolean,
    /// Calendar date (days since the epoch).
    Date32,
}

/// How sensitive a column is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sensitivity {
    /// Public attribute (a district name, a department).
    Public,
    /// Ordinary attribute of a unit (age, income): usable in aggregates.
    Personal,
    /// Direct identifier (name, ID number): never grouped on, never output.
    DirectIdentifier,
    /// The privacy-unit key itself.
    UnitKey,
}

/// How the dev environment masks a column in its sampled copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MaskingRule {
    /// Kept as is (public and ordinary personal columns; never an identifier).
    Keep,
    /// Replaced by a keyed hash (join keys stay joinable inside one sample).
    Hash,
    /// Replaced by a fixed redaction string or null.
    Redact,
    /// Numeric values rounded to a coarse grid; strings keep a prefix.
    Generalize,
    /// Values shuffled across rows of the sample.
    Shuffle,
}

/// One column of a table manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnManifest {
    /// Column name.
    pub name: String,
    /// Column type.
    #[serde(rename = "type")]
    pub data_type: ColumnType,
    /// Sensitivity class.
    pub sensitivity: Sensitivity,
    /// Declared lower bound (numeric columns); values are clamped into the bounds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lower: Option<f64>,
    /// Declared upper bound (numeric columns).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upper: Option<f64>,
    /// Public value domain, where the column has one (every key may be released).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_domain: Option<Vec<String>>,
    /// Dev masking rule. `None` (not declared) keeps a public column as it is and refuses
    /// to sample any other column (see the `masking` module of the `samples` feature).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub masking: Option<MaskingRule>,
    /// Free-text description.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
}

impl ColumnManifest {
    /// Declared bounds, if both ends are declared.
    pub fn bounds(&self) -> Option<(f64, f64)> {
        match (self.lower, self.upper) {
            (Some(l), Some(u)) => Some((l, u)),
            _ => None,
        }
    }
}

/// The privacy unit of a personal table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrivacyUnit {
    /// Column holding the unit key.
    pub column: String,
    /// Kind of unit ("person", "enterprise"): tables share a unit only if the kinds match.
    pub kind: String,
    /// Rows per unit in this table.
    pub rows_per_unit: RowsPerUnit,
    /// Default bound on the number of groups one unit may contribute to.
    #[serde(default = "default_max_groups")]
    pub max_groups: u32,
    /// Default bound on the number of rows one unit may contribute to one group.
    #[serde(default = "default_max_rows")]
    pub max_rows: u32,
}

fn default_max_groups() -> u32 {
    1
}
fn default_max_rows() -> u32 {
    1
}

/// The manifest of one table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableManifest {
    /// Table name (the SQL name).
    pub name: String,
    /// Domain (health, employment, enterprise, geography…).
    pub domain: String,
    /// Classification level.
    pub classification: Classification,
    /// Providing department.
    #[serde(default)]
    pub provider: String,
    /// Free-text description.
    #[serde(default)]
    pub description: String,
    /// Privacy unit; `None` for a public lookup table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privacy_unit: Option<PrivacyUnit>,
    /// Columns whose values are unique across rows (a public lookup key).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unique_keys: Vec<String>,
    /// Columns, in file order.
    pub columns: Vec<ColumnManifest>,
}

impl TableManifest {
    /// Parses a manifest from TOML and checks it.
    pub fn from_toml(text: &str) -> Result<Self, DatasetsError> {
        let m: TableManifest =
            toml::from_str(text).map_err(|e| DatasetsError::Manifest(e.to_string()))?;
        m.validate()?;
        Ok(m)
    }

    /// Serialises the manifest as TOML.
    pub fn to_toml(&self) -> Result<String, DatasetsError> {
        toml::to_string_pretty(self).map_err(|e| DatasetsError::Manifest(e.to_string()))
    }

    /// Looks a column up by name.
    pub fn column(&self, name: &str) -> Option<&ColumnManifest> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// Checks internal consistency: the unit column exists, bounds are ordered, names unique.
    pub fn validate(&self) -> Result<(), DatasetsError> {
        let bad = |msg: String| {
            Err(DatasetsError::Manifest(format!(
                "table {}: {msg}",
                self.name
            )))
        };
        let mut seen = std::collections::HashSet::new();
        for c in &self.columns {
            if !seen.insert(c.name.as_str()) {
                return bad(format!("column {} is declared twice", c.name));
            }
            match (c.lower, c.upper) {
                (Some(l), Some(u)) if !(l.is_finite() && u.is_finite() && l <= u) => {
                    return bad(format!(
                        "column {} has bounds that are not finite and ordered",
                        c.name
                    ));
                }
                (Some(_), None) | (None, Some(_)) => {
                    return bad(format!(
                        "column {} declares only one bound; declare both",
                        c.name
                    ));
                }
                _ => {}
            }
            if c.bounds().is_some()
                && !matches!(c.data_type, ColumnType::Int64 | ColumnType::Float64)
            {
                return bad(format!("column {} has bounds but is not numeric", c.name));
            }
        }
        if let Some(u) = &self.privacy_unit {
            match self.column(&u.column) {
                None => return bad(format!("privacy unit column {} is not a column", u.column)),
                Some(c) if c.sensitivity != Sensitivity::UnitKey => {
                    return bad(format!(
                        "privacy unit column {} must have sensitivity unit_key",
                        u.column
                    ))
                }
                _ => {}
            }
            if u.max_groups == 0 || u.max_rows == 0 {
                return bad("max_groups and max_rows must be at least 1".into());
            }
        }
        for k in &self.unique_keys {
            if self.column(k).is_none() {
                return bad(format!("unique key {k} is not a column"));
            }
        }
        Ok(())
    }
}
