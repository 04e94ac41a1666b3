//! The catalog: datasets registered from their manifests.
//!
//! Every level can be registered (Art. 8 wants the catalog complete); whether a level may
//! enter an authorization is [`Classification::is_authorizable`], checked at grant time.

use chrono::{DateTime, Utc};
use rusqlite::params;
use serde::{Deserialize, Serialize};
use serde_json::json;
use shuyu_datasets::{Classification, DeclarationsVerified, TableManifest};

use crate::sql::{OptionalExtension, Tx};
use crate::actor::{Principal, Role};
use crate::audit::{self, Entry};
use crate::clock::{from_micros, to_micros};
use crate::error::{GovernanceError, Result};
use crate::ids::DatasetId;
use crate::store::Store;
use crate::validate::check_text;

/// A registered dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dataset {
    /// Identifier.
    pub id: DatasetId,
    /// The manifest as registered (name, domain, level, provider, columns…).
    pub manifest: TableManifest,
    /// Where the data is (Parquet path or URL); only shown to the bureau, supervisors and
    /// providers.
    pub location: Option<String>,
    /// When it was registered.
    pub registered_at: DateTime<Utc>,
}

impl Dataset {
    /// The dataset's SQL name.
    pub fn name(&self) -> &str {
        &self.manifest.name
    }

    /// Its classification level.
    pub fn classification(&self) -> Classification {
        self.manifest.classification
    }
}

fn classification_text(c: Classification) -> &'static str {
    match c {
        Classification::Open => "open",
        Classification::Conditional => "conditional",
        Classification::Sensitive => "sensitive",
        Classification::StateSecret => "state_secret",
        Classification::PublicSafety => "public_safety",
    }
}

fn json_text<T: Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v)
        .map_err(|e| GovernanceError::Internal(format!("serialising failed: {e}")))
}

/// Loads a dataset by name (full record, location included).
pub(crate) fn load_by_name(conn: &Tx<'_>, name: &str) -> Result<Option<Dataset>> {
    let row: Option<(DatasetId, String, String, i64)> = conn
        .query_row(
            "SELECT id, manifest_json, location, registered_at FROM datasets WHERE name = ?1",
            [name],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()?;
    row.map(decode).transpose()
}

/// Loads a dataset by id (full record, location included).
pub(crate) fn load(conn: &Tx<'_>, id: DatasetId) -> Result<Dataset> {
    let row: Option<(DatasetId, String, String, i64)> = conn
        .query_row(
            "SELECT id, manifest_json, location, registered_at FROM datasets WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()?;
    row.map(decode)
        .transpose()?
        .ok_or_else(|| GovernanceError::not_found(id.to_string()))
}

fn decode((id, manifest, location, at): (DatasetId, String, String, i64)) -> Result<Dataset> {
    let manifest: TableManifest = serde_json::from_str(&manifest).map_err(|e| {
        GovernanceError::Internal(format!("stored manifest of {id} does not parse: {e}"))
    })?;
    Ok(Dataset {
        id,
        manifest,
        location: Some(location),
        registered_at: from_micros(at)?,
    })
}

impl Store {
    /// Registers a dataset from its manifest (bureau). `location` is its Parquet path or URL.
    ///
    /// `verified` proves the manifest's declarations (`rows_per_unit = "one"`, unique keys)
    /// hold for the data: made by `shuyu_datasets::verify_parquet` over the file at
    /// `location` (or, for data that is not a Parquet file, by
    /// [`DeclarationsVerified::from_key_values`]). A witness of another manifest, or of
    /// another location, is refused.
    pub fn register_dataset(
        &self,
        p: &Principal,
        manifest: &TableManifest,
        location: &str,
        verified: &DeclarationsVerified,
    ) -> Result<DatasetId> {
        self.act(p, "dataset.register", format!("dataset {}", manifest.name), |tx, actor, now| {
            actor.require(&[Role::BureauAdmin], "register datasets")?;
            manifest
                .validate()
                .map_err(|e| GovernanceError::invalid("manifest", format!("{e}; fix the manifest file")))?;
            let name_ok = !manifest.name.is_empty()
                && manifest.name.len() <= 128
                && manifest.name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                && !manifest.name.as_bytes()[0].is_ascii_digit();
            if !name_ok {
                return Err(GovernanceError::invalid(
                    "manifest.name",
                    "must be an SQL identifier: letters, digits and '_', not starting with a digit",
                ));
            }
            if manifest.columns.is_empty() {
                return Err(GovernanceError::invalid("manifest.columns", "declare at least one column"));
            }
            check_text(&manifest.domain, "manifest.domain", 100)?;
            check_text(location, "location", 2048)?;
            if !verified.covers(manifest) {
                return Err(GovernanceError::invalid(
                    "verified",
                    "checked the declarations of another manifest; verify this manifest's declarations against its data",
                ));
            }
            if verified.source().is_some_and(|s| s != location) {
                return Err(GovernanceError::invalid(
                    "verified",
                    "checked the data at another location; verify the declarations against the file being registered",
                ));
            }
            if load_by_name(tx, &manifest.name)?.is_some() {
                return Err(GovernanceError::conflict(format!(
                    "dataset {} is already registered; pick another name",
                    manifest.name
                )));
            }
            let new_id = tx.insert(
                "INSERT INTO datasets (name, domain, classification, provider, location, description, manifest_json, registered_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    manifest.name,
                    manifest.domain,
                    classification_text(manifest.classification),
                    manifest.provider,
                    location,
                    manifest.description,
                    json_text(manifest)?,
                    to_micros(now)
                ],
            )?;
            let id = DatasetId(new_id);
            let mut stmt = tx.prepare(
                "INSERT INTO dataset_columns (dataset_id, position, name, data_type, sensitivity, lower_bound, upper_bound, public_domain_json, masking)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?;
            for (i, c) in manifest.columns.iter().enumerate() {
                stmt.execute(params![
                    id,
                    i as i64,
                    c.name,
                    serde_name(&c.data_type),
                    serde_name(&c.sensitivity),
                    c.lower,
                    c.upper,
                    c.public_domain.as_ref().map(json_text).transpose()?,
                    serde_name(&c.masking),
                ])?;
            }
            audit::append(
                tx,
                now,
                &Entry::ok(actor, "dataset.register", id.to_string()).details(json!({
                    "name": manifest.name,
                    "classification": classification_text(manifest.classification),
                    "authorizable": manifest.classification.is_authorizable(),
                    "columns": manifest.columns.len(),
                    "declarations_checked": verified.columns_checked(),
                    "rows_checked": verified.rows(),
                })),
            )?;
            Ok(id)
        })
    }

    /// A dataset by name. Analysts see the manifest but not the location.
    pub fn dataset(&self, p: &Principal, name: &str) -> Result<Dataset> {
        self.observe(
            p,
            "dataset.read",
            format!("dataset {name}"),
            |tx, actor, _| {
                let mut d = load_by_name(tx, name)?
                    .ok_or_else(|| GovernanceError::not_found(format!("dataset {name}")))?;
                if actor.role == Some(Role::UnitAnalyst) {
                    d.location = None;
                }
                Ok(d)
            },
        )
    }

    /// The whole catalog. Analysts see manifests but not locations.
    pub fn datasets(&self, p: &Principal) -> Result<Vec<Dataset>> {
        self.observe(p, "dataset.list", "datasets", |tx, actor, _| {
            let mut stmt = tx.prepare(
                "SELECT id, manifest_json, location, registered_at FROM datasets ORDER BY name",
            )?;
            let rows = stmt
                .query_map((), |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let hide = actor.role == Some(Role::UnitAnalyst);
            rows.into_iter()
                .map(|row| {
                    let mut d = decode(row)?;
                    if hide {
                        d.location = None;
                    }
                    Ok(d)
                })
                .collect()
        })
    }
}

/// The serde name of a manifest enum value (`int64`, `unit_key`, `hash`).
fn serde_name<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}
