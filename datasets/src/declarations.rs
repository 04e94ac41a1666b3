//! Checking a manifest's declarations against the data: `rows_per_unit = "one"` (the
//! privacy-unit column is unique and never NULL) and every `unique_keys` column (unique and
//! never NULL). The planner relies on both to skip contribution bounding and to keep joins
//! one-row-per-unit, so a false declaration would remove bounding.
//!
//! [`DeclarationsVerified`] is the witness that the checks passed; governance's
//! `Store::register_dataset` requires one, so no caller can register a dataset unchecked. It
//! is made by `verify_parquet` (feature `verify`: streams the Parquet file) or by
//! [`DeclarationsVerified::from_key_values`] (runs the same checks over key values held in
//! memory: tests, and manifests whose data is not a Parquet file). A refusal names the
//! column and how often its first repeated value occurs (or how many rows are NULL), never a
//! value.

// Without the `verify` feature only the in-memory path uses the checks.
#![cfg_attr(not(feature = "verify"), allow(dead_code))]

use std::collections::hash_map::DefaultHasher;
use std::collections::HashSet;
use std::hash::{Hash, Hasher};

use crate::manifest::{RowsPerUnit, TableManifest};
use crate::DatasetsError;

/// Proof that a manifest's declarations hold for its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeclarationsVerified {
    table: String,
    declared: Declared,
    rows: u64,
    source: Option<String>,
}

/// What a manifest declares that the data must satisfy (compared at registration, so a
/// witness cannot be reused for another manifest).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Declared {
    unit_one: Option<String>,
    unique: Vec<String>,
}

impl Declared {
    fn of(m: &TableManifest) -> Declared {
        Declared {
            unit_one: m
                .privacy_unit
                .as_ref()
                .filter(|u| u.rows_per_unit == RowsPerUnit::One)
                .map(|u| u.column.clone()),
            unique: m.unique_keys.clone(),
        }
    }
}

impl DeclarationsVerified {
    /// The table checked.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Rows read (0 when nothing needed checking and no file was read).
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// The file or folder read, if the check read one.
    pub fn source(&self) -> Option<&str> {
        self.source.as_deref()
    }

    /// The columns whose uniqueness was checked, in check order.
    pub fn columns_checked(&self) -> Vec<String> {
        checks_of(&self.declared).into_iter().map(|c| c.column).collect()
    }

    /// Whether this witness is for `manifest`'s declarations (same table, same unit rule,
    /// same unique keys).
    pub fn covers(&self, manifest: &TableManifest) -> bool {
        self.table == manifest.name && self.declared == Declared::of(manifest)
    }

    /// Runs the checks over key values held in memory: `values(column)` gives every row's
    /// value of a checked column (`None` for NULL), as text; `rows` is the row count. For
    /// tests and for data that is not a Parquet file; production registration reads the
    /// file with `verify_parquet`.
    pub fn from_key_values<'a>(
        manifest: &TableManifest,
        values: impl Fn(&str) -> Option<Vec<Option<&'a str>>>,
    ) -> Result<DeclarationsVerified, DatasetsError> {
        let declared = Declared::of(manifest);
        let mut rows = 0u64;
        for check in checks_of(&declared) {
            let column = values(&check.column).ok_or_else(|| {
                DatasetsError::Declaration(format!(
                    "column {} is declared unique but no values were given for it",
                    check.column
                ))
            })?;
            rows = column.len() as u64;
            let mut tracker = Tracker::default();
            for v in &column {
                tracker.push(v.map(Key::Text));
            }
            let count = |dup: &OwnedKey| column.iter().filter(|v| v.is_some_and(|s| Key::Text(s).equals(dup))).count();
            let fault = match tracker.fault(count) {
                Some(f) => Some(f),
                // A repeat by hash only: a collision; decide exactly.
                None if tracker.first_repeat().is_some() => exact_fault(column.iter().flatten().copied()),
                None => None,
            };
            if let Some(fault) = fault {
                return Err(check.refusal(fault));
            }
        }
        Ok(DeclarationsVerified { table: manifest.name.clone(), declared, rows, source: None })
    }

    /// A witness for `manifest` after the checks ran over `rows` rows of `source`.
    pub(crate) fn checked(manifest: &TableManifest, rows: u64, source: Option<String>) -> DeclarationsVerified {
        DeclarationsVerified { table: manifest.name.clone(), declared: Declared::of(manifest), rows, source }
    }
}

/// One uniqueness check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Check {
    /// The column.
    pub(crate) column: String,
    /// Whether it is the privacy unit declared one row per unit (else a unique key).
    pub(crate) unit: bool,
}

impl Check {
    /// The refusal of a false declaration: the column and a count, never a value.
    pub(crate) fn refusal(&self, fault: Fault) -> DatasetsError {
        let declared = if self.unit {
            "is declared one row per unit (rows_per_unit = \"one\")"
        } else {
            "is declared a unique key (unique_keys)"
        };
        let fix = if self.unit {
            "fix the manifest (rows_per_unit = \"many\") or the data"
        } else {
            "fix the manifest (remove it from unique_keys) or the data"
        };
        let what = match fault {
            Fault::Null(1) => "one of its rows is NULL".to_string(),
            Fault::Null(n) => format!("{n} of its rows are NULL"),
            Fault::Repeated(n) => format!("one of its values occurs {n} times"),
        };
        DatasetsError::Declaration(format!("{} {declared}, but {what}; {fix}", self.column))
    }
}

/// The checks a manifest's declarations need, in order: the unit column, then unique keys.
pub(crate) fn checks(manifest: &TableManifest) -> Vec<Check> {
    checks_of(&Declared::of(manifest))
}

fn checks_of(d: &Declared) -> Vec<Check> {
    let mut out: Vec<Check> = d.unit_one.iter().map(|c| Check { column: c.clone(), unit: true }).collect();
    for k in &d.unique {
        if !out.iter().any(|c| &c.column == k) {
            out.push(Check { column: k.clone(), unit: false });
        }
    }
    out
}

/// Why a declaration is false.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    /// This many rows are NULL.
    Null(u64),
    /// The first value seen twice occurs this many times.
    Repeated(u64),
}

/// A key value as read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Key<'a> {
    /// Integers, dates and booleans (exact).
    Int(i64),
    /// Floats, by their bits (-0 as 0, every NaN as one).
    Float(f64),
    /// Strings (tracked by a 64-bit hash, confirmed exactly).
    Text(&'a str),
}

/// A key value kept to count its occurrences in a second pass (never shown).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum OwnedKey {
    /// See [`Key::Int`].
    Int(i64),
    /// See [`Key::Float`] (normalised bits).
    Float(u64),
    /// See [`Key::Text`].
    Text(String),
}

fn float_bits(f: f64) -> u64 {
    if f.is_nan() {
        f64::NAN.to_bits()
    } else if f == 0.0 {
        0
    } else {
        f.to_bits()
    }
}

impl Key<'_> {
    fn owned(&self) -> OwnedKey {
        match *self {
            Key::Int(v) => OwnedKey::Int(v),
            Key::Float(f) => OwnedKey::Float(float_bits(f)),
            Key::Text(s) => OwnedKey::Text(s.to_string()),
        }
    }

    /// A 64-bit image, injective except for strings (hashed).
    fn image(&self) -> u64 {
        match *self {
            Key::Int(v) => v as u64,
            Key::Float(f) => float_bits(f),
            Key::Text(s) => {
                let mut h = DefaultHasher::new();
                s.hash(&mut h);
                h.finish()
            }
        }
    }

    /// Whether this key matches a kept one exactly.
    pub(crate) fn equals(&self, other: &OwnedKey) -> bool {
        match (self, other) {
            (Key::Int(a), OwnedKey::Int(b)) => a == b,
            (Key::Float(a), OwnedKey::Float(b)) => float_bits(*a) == *b,
            (Key::Text(a), OwnedKey::Text(b)) => a == b,
            _ => false,
        }
    }
}

/// One column's check in progress: the images seen, the NULL rows, the first repeat.
#[derive(Debug, Default)]
pub(crate) struct Tracker {
    seen: HashSet<u64>,
    nulls: u64,
    first_repeat: Option<OwnedKey>,
    hashed: bool,
}

impl Tracker {
    /// Records one row's value.
    pub(crate) fn push(&mut self, key: Option<Key<'_>>) {
        match key {
            None => self.nulls += 1,
            Some(k) => {
                self.hashed |= matches!(k, Key::Text(_));
                if !self.seen.insert(k.image()) && self.first_repeat.is_none() {
                    self.first_repeat = Some(k.owned());
                }
            }
        }
    }

    /// The value seen twice first (by image), if any.
    pub(crate) fn first_repeat(&self) -> Option<&OwnedKey> {
        self.first_repeat.as_ref()
    }

    /// Whether string images were used (a repeat may then be a hash collision).
    pub(crate) fn hashed(&self) -> bool {
        self.hashed
    }

    /// The fault, given a way to count a value's exact occurrences; `None` if the column is
    /// unique and never NULL. A repeat whose exact count is below 2 was a hash collision:
    /// the caller must then check the column exactly ([`exact_fault`]).
    pub(crate) fn fault(&self, count: impl Fn(&OwnedKey) -> usize) -> Option<Fault> {
        if self.nulls > 0 {
            return Some(Fault::Null(self.nulls));
        }
        let n = count(self.first_repeat.as_ref()?) as u64;
        (n >= 2).then_some(Fault::Repeated(n))
    }
}

/// Exact check of string values (after a hash collision): the first value seen twice and
/// its count, by exact comparison.
pub(crate) fn exact_fault<'a>(values: impl Iterator<Item = &'a str> + Clone) -> Option<Fault> {
    let mut seen: HashSet<&str> = HashSet::new();
    let repeat = values.clone().find(|v| !seen.insert(v))?;
    Some(Fault::Repeated(values.filter(|v| *v == repeat).count() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo_manifest;

    fn residents() -> TableManifest {
        demo_manifest("residents").expect("residents")
    }

    #[test]
    fn a_repeated_unit_is_refused_with_its_count_and_not_its_value() {
        let m = residents();
        let ids = ["p1", "secret-id", "p3", "secret-id", "secret-id"];
        let e = DeclarationsVerified::from_key_values(&m, |c| (c == "person_id").then(|| ids.iter().map(|v| Some(*v)).collect()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("person_id is declared one row per unit"), "{e}");
        assert!(e.contains("one of its values occurs 3 times"), "{e}");
        assert!(e.contains("rows_per_unit = \"many\""), "{e}");
        assert!(!e.contains("secret-id"), "the value must not appear: {e}");
    }

    #[test]
    fn nulls_and_true_declarations() {
        let m = residents();
        let e = DeclarationsVerified::from_key_values(&m, |_| Some(vec![Some("a"), None, None])).unwrap_err().to_string();
        assert!(e.contains("2 of its rows are NULL"), "{e}");
        let ok = DeclarationsVerified::from_key_values(&m, |_| Some(vec![Some("a"), Some("b")])).expect("unique");
        assert!(ok.covers(&m) && ok.rows() == 2 && ok.columns_checked() == vec!["person_id".to_string()]);
        let mut other = m.clone();
        other.unique_keys.push("district".into());
        assert!(!ok.covers(&other), "a witness covers only the declarations it checked");
    }

    #[test]
    fn exact_fallback_counts_by_equality() {
        assert_eq!(exact_fault(["a", "b", "c"].into_iter()), None);
        assert_eq!(exact_fault(["a", "b", "a", "b", "b"].into_iter()), Some(Fault::Repeated(2)));
    }
}
