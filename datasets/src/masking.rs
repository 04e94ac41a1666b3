//! The dev environment's masking rules, applied to one column of a sampled table.
//!
//! Which rule a column may carry depends on its sensitivity ([`checked_rule`]): a direct
//! identifier or a unit key is hashed with the deployment's secret key or redacted, never
//! kept, generalised or shuffled; a personal or public column may carry any rule that fits
//! its type; a column that declares no rule is kept only if it is public. Anything else is
//! refused, so that a missing or unfit rule never lets a raw value into a sample.
//!
//! | rule | effect | types |
//! |---|---|---|
//! | `keep` | the value as is | all |
//! | `hash` | keyed BLAKE3 of the value: a non-negative int64, or 32 hex digits | int64, utf8 |
//! | `redact` | [`REDACTED`] for strings, null otherwise | all |
//! | `generalize` | numbers floored to a grid of about 20 steps over the declared bounds (2 significant digits without bounds); dates to the first of their month; strings to their first character | int64, float64, date32, utf8 |
//! | `shuffle` | the column's values permuted across the sample's rows | all |
//!
//! Hashes depend only on the key, the value and its type, so a unit key hashed in two
//! tables of one deployment still joins, while nobody without the key can link a hash to
//! a value.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{new_null_array, Array, ArrayRef, AsArray, Date32Array, Float64Array, Int64Array, StringArray, UInt32Array};
use arrow::datatypes::{Date32Type, Float64Type, Int64Type};
use chrono::{Datelike, NaiveDate};
use rand::seq::SliceRandom;
use rand_chacha::ChaCha20Rng;

use crate::manifest::{ColumnManifest, ColumnType, MaskingRule, Sensitivity};
use crate::DatasetsError;

/// What a redacted string reads.
pub const REDACTED: &str = "***";

/// Steps of the generalisation grid over a column's declared bounds (about).
const GRID_STEPS: f64 = 20.0;

/// The deployment's secret key for hashing masked values and choosing sampled units.
#[derive(Clone)]
pub struct MaskingKey([u8; 32]);

impl std::fmt::Debug for MaskingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MaskingKey(..)")
    }
}

impl MaskingKey {
    /// A key from its bytes (tests; deployments use [`MaskingKey::load_or_create`]).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        MaskingKey(bytes)
    }

    /// Reads the key stored at `path` (64 hex digits), or creates it from the operating
    /// system's random source (file mode 0600) if the file does not exist.
    pub fn load_or_create(path: &Path) -> Result<Self, DatasetsError> {
        let io = |e: std::io::Error| DatasetsError::Io { path: path.display().to_string(), source: e };
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let bytes = hex::decode(text.trim()).ok().and_then(|b| <[u8; 32]>::try_from(b).ok()).ok_or_else(|| {
                    DatasetsError::Masking(format!(
                        "the masking key {} is not 64 hex digits; restore it from a backup (or delete it to start a new key, which changes every hash)",
                        path.display()
                    ))
                })?;
                Ok(MaskingKey(bytes))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty() && !d.exists()) {
                    std::fs::create_dir_all(dir).map_err(io)?;
                    #[cfg(unix)]
                    {
                        use std::os::unix::fs::PermissionsExt;
                        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(io)?;
                    }
                }
                let key: [u8; 32] = rand::random();
                write_secret(path, hex::encode(key).as_bytes()).map_err(io)?;
                Ok(MaskingKey(key))
            }
            Err(e) => Err(io(e)),
        }
    }

    /// Keyed BLAKE3 of `value` under a purpose (`domain`), length-prefixed so that no two
    /// (domain, value) pairs hash the same input.
    pub(crate) fn digest(&self, domain: &str, value: &[u8]) -> [u8; 32] {
        let mut h = blake3::Hasher::new_keyed(&self.0);
        h.update(&(domain.len() as u64).to_le_bytes());
        h.update(domain.as_bytes());
        h.update(&(value.len() as u64).to_le_bytes());
        h.update(value);
        *h.finalize().as_bytes()
    }

    /// A keyed number in [0, 1) for `value` under `domain`.
    pub(crate) fn uniform(&self, domain: &str, value: &[u8]) -> f64 {
        let d = self.digest(domain, value);
        let mut top = [0u8; 8];
        top.copy_from_slice(&d[..8]);
        // 53 random bits: every double in [0, 1) on the grid 2^-53.
        (u64::from_le_bytes(top) >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn write_secret(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    o.mode(0o600);
    let mut f = o.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

fn refuse(table: &str, c: &ColumnManifest, why: &str) -> DatasetsError {
    DatasetsError::Masking(format!("table {table}, column {}: {why}; fix the column's `masking` in the manifest", c.name))
}

/// The rule that masks column `c` of `table` in a sample, after checking that it fits the
/// column's sensitivity and type. Refuses (naming the column) rather than let a raw value
/// through.
pub fn checked_rule(table: &str, c: &ColumnManifest) -> Result<MaskingRule, DatasetsError> {
    let identifying = matches!(c.sensitivity, Sensitivity::DirectIdentifier | Sensitivity::UnitKey);
    let rule = match (c.masking, c.sensitivity) {
        (Some(r), _) => r,
        (None, Sensitivity::Public) => MaskingRule::Keep,
        (None, _) => return Err(refuse(table, c, "it declares no masking rule and is not public")),
    };
    if identifying && !matches!(rule, MaskingRule::Hash | MaskingRule::Redact) {
        return Err(refuse(table, c, "an identifier or unit key must be masked with `hash` or `redact`"));
    }
    let fits = match rule {
        MaskingRule::Keep | MaskingRule::Redact | MaskingRule::Shuffle => true,
        MaskingRule::Hash => matches!(c.data_type, ColumnType::Int64 | ColumnType::Utf8),
        MaskingRule::Generalize => !matches!(c.data_type, ColumnType::Boolean),
    };
    if !fits {
        return Err(refuse(table, c, "its rule does not apply to its type (hash: int64 or utf8; generalize: not boolean)"));
    }
    Ok(rule)
}

/// Masks one column of a sample with `rule` (from [`checked_rule`]). `rng` drives shuffles.
pub fn mask(rule: MaskingRule, c: &ColumnManifest, values: &ArrayRef, key: &MaskingKey, rng: &mut ChaCha20Rng) -> Result<ArrayRef, DatasetsError> {
    let expected = crate::generate::arrow_type(c.data_type);
    if values.data_type() != &expected {
        return Err(DatasetsError::Masking(format!(
            "column {} is stored as {}, its manifest says {expected}; regenerate the data or fix the manifest",
            c.name,
            values.data_type()
        )));
    }
    let out: ArrayRef = match rule {
        MaskingRule::Keep => values.clone(),
        MaskingRule::Redact => match c.data_type {
            ColumnType::Utf8 => Arc::new(StringArray::from(vec![REDACTED; values.len()])),
            _ => new_null_array(&expected, values.len()),
        },
        MaskingRule::Hash => match c.data_type {
            ColumnType::Int64 => Arc::new(values.as_primitive::<Int64Type>().unary::<_, Int64Type>(|v| hash_i64(key, v))),
            ColumnType::Utf8 => {
                let s = values.as_string::<i32>();
                Arc::new(s.iter().map(|v| v.map(|v| hash_str(key, v))).collect::<StringArray>())
            }
            _ => return Err(DatasetsError::Masking(format!("column {}: hash applies to int64 and utf8 only", c.name))),
        },
        MaskingRule::Generalize => generalize(c, values)?,
        MaskingRule::Shuffle => {
            let mut idx: Vec<u32> = (0..values.len() as u32).collect();
            idx.shuffle(rng);
            arrow::compute::take(values.as_ref(), &UInt32Array::from(idx), None).map_err(|e| DatasetsError::Masking(e.to_string()))?
        }
    };
    Ok(out)
}

/// Keyed hash of an int64, as a non-negative int64.
pub fn hash_i64(key: &MaskingKey, v: i64) -> i64 {
    let d = key.digest("mask:int64", &v.to_le_bytes());
    let mut top = [0u8; 8];
    top.copy_from_slice(&d[..8]);
    (u64::from_le_bytes(top) >> 1) as i64
}

/// Keyed hash of a string, as 32 hex digits.
pub fn hash_str(key: &MaskingKey, v: &str) -> String {
    hex::encode(&key.digest("mask:utf8", v.as_bytes())[..16])
}

/// A round step (1, 2 or 5 times a power of ten) of at least `raw`.
fn nice_step(raw: f64) -> f64 {
    if !(raw.is_finite() && raw > 0.0) {
        return 1.0;
    }
    let p = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0].into_iter().map(|m| m * p).find(|s| *s >= raw).unwrap_or(10.0 * p)
}

/// Floors `v` to the column's grid: steps of about a twentieth of the declared range from
/// the lower bound, or two significant digits without bounds.
pub fn generalize_number(c: &ColumnManifest, v: f64, integer: bool) -> f64 {
    if !v.is_finite() {
        return v;
    }
    let (origin, mut step) = match c.bounds() {
        Some((l, u)) => (l, nice_step((u - l) / GRID_STEPS)),
        None if v == 0.0 => return 0.0,
        None => (0.0, 10f64.powf(v.abs().log10().floor() - 1.0)),
    };
    if integer {
        step = step.max(1.0).round();
    }
    origin + ((v - origin) / step).floor() * step
}

/// The first day of the month of a date (days since the epoch).
pub fn first_of_month(days: i32) -> i32 {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    let Some(date) = epoch.checked_add_signed(chrono::Duration::days(i64::from(days))) else {
        return days;
    };
    let first = date.with_day(1).unwrap_or(date);
    (first - epoch).num_days() as i32
}

fn generalize(c: &ColumnManifest, values: &ArrayRef) -> Result<ArrayRef, DatasetsError> {
    Ok(match c.data_type {
        ColumnType::Int64 => {
            let a: &Int64Array = values.as_primitive::<Int64Type>();
            Arc::new(a.unary::<_, Int64Type>(|v| generalize_number(c, v as f64, true) as i64))
        }
        ColumnType::Float64 => {
            let a: &Float64Array = values.as_primitive::<Float64Type>();
            Arc::new(a.unary::<_, Float64Type>(|v| generalize_number(c, v, false)))
        }
        ColumnType::Date32 => {
            let a: &Date32Array = values.as_primitive::<Date32Type>();
            Arc::new(a.unary::<_, Date32Type>(first_of_month))
        }
        ColumnType::Utf8 => {
            let s = values.as_string::<i32>();
            Arc::new(s.iter().map(|v| v.map(|v| v.chars().take(1).collect::<String>())).collect::<StringArray>())
        }
        ColumnType::Boolean => return Err(DatasetsError::Masking(format!("column {}: booleans cannot be generalised", c.name))),
    })
}

#[cfg(test)]
mod tests {
    use arrow::array::BooleanArray;
    use rand::SeedableRng;

    use super::*;

    fn col(name: &str, t: ColumnType, s: Sensitivity, rule: Option<MaskingRule>) -> ColumnManifest {
        ColumnManifest {
            name: name.into(),
            data_type: t,
            sensitivity: s,
            lower: None,
            upper: None,
            public_domain: None,
            masking: rule,
            description: String::new(),
        }
    }

    fn key() -> MaskingKey {
        MaskingKey::from_bytes([7; 32])
    }

    fn rng() -> ChaCha20Rng {
        ChaCha20Rng::seed_from_u64(1)
    }

    #[test]
    fn identifiers_are_only_hashed_or_redacted() {
        for s in [Sensitivity::DirectIdentifier, Sensitivity::UnitKey] {
            for bad in [None, Some(MaskingRule::Keep), Some(MaskingRule::Generalize), Some(MaskingRule::Shuffle)] {
                let e = checked_rule("t", &col("name", ColumnType::Utf8, s, bad)).expect_err("refused");
                assert!(e.to_string().contains("column name"), "{e}");
            }
            for good in [MaskingRule::Hash, MaskingRule::Redact] {
                assert_eq!(checked_rule("t", &col("name", ColumnType::Utf8, s, Some(good))).expect("fits"), good);
            }
        }
    }

    #[test]
    fn a_missing_rule_keeps_public_columns_and_refuses_the_others() {
        assert_eq!(checked_rule("t", &col("d", ColumnType::Utf8, Sensitivity::Public, None)).expect("public"), MaskingRule::Keep);
        assert!(checked_rule("t", &col("age", ColumnType::Int64, Sensitivity::Personal, None)).is_err());
        assert_eq!(
            checked_rule("t", &col("age", ColumnType::Int64, Sensitivity::Personal, Some(MaskingRule::Keep))).expect("declared"),
            MaskingRule::Keep
        );
    }

    #[test]
    fn rules_that_do_not_fit_the_type_are_refused() {
        assert!(checked_rule("t", &col("x", ColumnType::Float64, Sensitivity::Personal, Some(MaskingRule::Hash))).is_err());
        assert!(checked_rule("t", &col("x", ColumnType::Date32, Sensitivity::UnitKey, Some(MaskingRule::Hash))).is_err());
        assert!(checked_rule("t", &col("x", ColumnType::Boolean, Sensitivity::Personal, Some(MaskingRule::Generalize))).is_err());
        assert!(checked_rule("t", &col("x", ColumnType::Boolean, Sensitivity::Personal, Some(MaskingRule::Shuffle))).is_ok());
    }

    #[test]
    fn hashes_are_keyed_deterministic_and_hide_the_value() {
        let c = col("id", ColumnType::Utf8, Sensitivity::DirectIdentifier, Some(MaskingRule::Hash));
        let values: ArrayRef = Arc::new(StringArray::from(vec![Some("220102198001010011"), None, Some("220102198001010011")]));
        let out = mask(MaskingRule::Hash, &c, &values, &key(), &mut rng()).expect("masked");
        let out = out.as_string::<i32>();
        assert_eq!(out.value(0), out.value(2), "equal values hash equally (joins survive)");
        assert!(out.is_null(1), "nulls stay null");
        assert_eq!(out.value(0).len(), 32);
        assert!(!out.value(0).contains("2201"));
        let other = mask(MaskingRule::Hash, &c, &values, &MaskingKey::from_bytes([8; 32]), &mut rng()).expect("masked");
        assert_ne!(other.as_string::<i32>().value(0), out.value(0), "another deployment's key gives other hashes");

        let n = col("person_id", ColumnType::Int64, Sensitivity::UnitKey, Some(MaskingRule::Hash));
        let ids: ArrayRef = Arc::new(Int64Array::from(vec![1, 2, 1]));
        let h = mask(MaskingRule::Hash, &n, &ids, &key(), &mut rng()).expect("masked");
        let h = h.as_primitive::<Int64Type>();
        assert_eq!(h.value(0), h.value(2));
        assert_ne!(h.value(0), h.value(1));
        assert!(h.values().iter().all(|v| *v >= 0 && *v != 1 && *v != 2));
    }

    #[test]
    fn redaction_replaces_every_value() {
        let c = col("name", ColumnType::Utf8, Sensitivity::DirectIdentifier, Some(MaskingRule::Redact));
        let values: ArrayRef = Arc::new(StringArray::from(vec!["王敏", "李强"]));
        let out = mask(MaskingRule::Redact, &c, &values, &key(), &mut rng()).expect("masked");
        assert!(out.as_string::<i32>().iter().all(|v| v == Some(REDACTED)));
        let n = col("income", ColumnType::Float64, Sensitivity::Personal, Some(MaskingRule::Redact));
        let nums: ArrayRef = Arc::new(Float64Array::from(vec![1.5, 2.5]));
        assert_eq!(mask(MaskingRule::Redact, &n, &nums, &key(), &mut rng()).expect("masked").null_count(), 2);
    }

    #[test]
    fn generalisation_floors_to_a_grid_over_the_bounds() {
        let mut age = col("age", ColumnType::Int64, Sensitivity::Personal, Some(MaskingRule::Generalize));
        (age.lower, age.upper) = (Some(0.0), Some(100.0));
        // (100 - 0) / 20 = 5: five-year bands.
        let values: ArrayRef = Arc::new(Int64Array::from(vec![0, 4, 5, 37, 99]));
        let out = mask(MaskingRule::Generalize, &age, &values, &key(), &mut rng()).expect("masked");
        assert_eq!(out.as_primitive::<Int64Type>().values().to_vec(), vec![0, 0, 5, 35, 95]);

        let mut year = col("founded_year", ColumnType::Int64, Sensitivity::Personal, Some(MaskingRule::Generalize));
        (year.lower, year.upper) = (Some(1949.0), Some(2026.0));
        // 77 / 20 = 3.85 rounds up to a step of 5 from 1949.
        assert_eq!(generalize_number(&year, 2013.0, true), 2009.0);

        let unbounded = col("x", ColumnType::Float64, Sensitivity::Personal, Some(MaskingRule::Generalize));
        assert_eq!(generalize_number(&unbounded, 12345.6, false), 12000.0);
        assert!((generalize_number(&unbounded, -0.0456, false) + 0.046).abs() < 1e-12, "floored towards minus infinity");

        // 2024-03-17 is day 19799 since the epoch; 2024-03-01 is day 19783.
        assert_eq!(first_of_month(19799), 19783);
        let hospital = col("hospital", ColumnType::Utf8, Sensitivity::Personal, Some(MaskingRule::Generalize));
        let names: ArrayRef = Arc::new(StringArray::from(vec!["长春市第一医院"]));
        assert_eq!(mask(MaskingRule::Generalize, &hospital, &names, &key(), &mut rng()).expect("masked").as_string::<i32>().value(0), "长");
    }

    #[test]
    fn shuffling_permutes_the_values() {
        let c = col("employed", ColumnType::Boolean, Sensitivity::Personal, Some(MaskingRule::Shuffle));
        let bits: Vec<bool> = (0..64).map(|i| i % 3 == 0).collect();
        let values: ArrayRef = Arc::new(BooleanArray::from(bits.clone()));
        let out = mask(MaskingRule::Shuffle, &c, &values, &key(), &mut rng()).expect("masked");
        let out: Vec<bool> = out.as_boolean().iter().map(|v| v.unwrap_or(false)).collect();
        assert_eq!(out.iter().filter(|b| **b).count(), bits.iter().filter(|b| **b).count(), "same multiset");
        assert_ne!(out, bits, "a 64-row permutation leaves the order unchanged with probability 1/64!·…");
    }

    #[test]
    fn a_stored_type_other_than_the_manifest_is_refused() {
        let c = col("age", ColumnType::Int64, Sensitivity::Personal, Some(MaskingRule::Keep));
        let values: ArrayRef = Arc::new(StringArray::from(vec!["42"]));
        assert!(mask(MaskingRule::Keep, &c, &values, &key(), &mut rng()).is_err());
    }

    #[test]
    fn keys_are_created_once_and_read_back() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("secrets/masking.key");
        let a = MaskingKey::load_or_create(&path).expect("created");
        let b = MaskingKey::load_or_create(&path).expect("read");
        assert_eq!(a.0, b.0);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777, 0o600);
        }
        std::fs::write(&path, "not hex").expect("write");
        assert!(matches!(MaskingKey::load_or_create(&path), Err(DatasetsError::Masking(_))));
        assert_eq!(format!("{a:?}"), "MaskingKey(..)", "the key never shows in logs");
    }
}
