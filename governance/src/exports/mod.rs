//! Data products and their export (出域审核, Art. 25).
//!
//! A finished job's result is held in the domain as a product, with lineage back to its job,
//! authorization and datasets. Exporting needs the `product_operation` right (产品经营权) on
//! the product's authorization: without it a request is refused (and the refusal audited),
//! whatever the policy, and the bureau cannot approve it either. Export is automatic under
//! an authorization whose policy is `automatic` (production results are DP aggregates),
//! else it waits for the bureau. Every
//! exported product gets a manifest signed with the domain's Ed25519 key, verifiable offline
//! with [`verify_manifest`] and the public key alone. Results of the dev environment never
//! leave the domain.

use chrono::{DateTime, SecondsFormat, Utc};
use ed25519_dalek::Signer;
use rusqlite::params;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::sql::{OptionalExtension, Row, Tx};
use crate::actor::{Actor, Principal, Role};
use crate::amount::Nano;
use crate::audit::{self, Entry};
use crate::authorizations::{self, ExportPolicy, Right};
use crate::clock::{from_micros, to_micros};
use crate::error::{GovernanceError, Result};
use crate::ids::{AuthorizationId, ExportId, JobId, PersonId, ProductId, UnitId};
use crate::jobs::{self, Environment, JobStatus};
use crate::layout::check_relative_path;
use crate::store::Store;
use crate::units;
use crate::validate::{check_long_text, check_text};

mod manifest;

pub use manifest::{verify_manifest, ExportManifest, SignedManifest};

/// Format tag of export manifests.
pub const MANIFEST_FORMAT: &str = "shuyu-export-manifest/1";

text_enum!(
    /// Where a product stands.
    pub enum ProductStatus {
        /// Held in the domain.
        Held => "held",
        /// Export requested, waiting for the bureau.
        PendingReview => "pending_review",
        /// Exported with a signed manifest.
        Exported => "exported",
        /// Export refused by the bureau; still held in the domain.
        Rejected => "rejected",
        /// Deleted (revocation).
        Deleted => "deleted",
    }
);

text_enum!(
    /// Where an export request stands.
    pub enum ExportStatus {
        /// Waiting for the bureau.
        Pending => "pending",
        /// Released automatically under the authorization's policy.
        Automatic => "automatic",
        /// Approved by the bureau.
        Approved => "approved",
        /// Refused by the bureau.
        Rejected => "rejected",
    }
);

/// A product to hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewProduct {
    /// The job that produced it (must have succeeded).
    pub job: JobId,
    /// A name for the unit.
    pub name: String,
    /// SHA-256 of the product's bytes (64 hex digits).
    pub content_sha256: String,
    /// Its file, relative to `results/<unit>/`, if stored as a file.
    pub path: Option<String>,
    /// Size in bytes.
    pub byte_size: u64,
    /// Rows (noised aggregates).
    pub row_count: u64,
}

/// A held product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Product {
    /// Identifier.
    pub id: ProductId,
    /// The job that produced it.
    pub job: JobId,
    /// The unit.
    pub unit: UnitId,
    /// The authorization.
    pub authorization: AuthorizationId,
    /// Name.
    pub name: String,
    /// SHA-256 of its bytes.
    pub content_sha256: String,
    /// File relative to `results/<unit>/`.
    pub path: Option<String>,
    /// Size in bytes.
    pub byte_size: u64,
    /// Rows.
    pub row_count: u64,
    /// Status.
    pub status: ProductStatus,
    /// Created at.
    pub created_at: DateTime<Utc>,
}

/// Where a product comes from (R6: sources traceable).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lineage {
    /// The product.
    pub product: Product,
    /// Its job.
    pub job: JobId,
    /// The job's environment.
    pub environment: Environment,
    /// The authorization.
    pub authorization: AuthorizationId,
    /// The scenario.
    pub scenario: String,
    /// The person who ran the job.
    pub person: PersonId,
    /// Datasets the job read.
    pub datasets: Vec<String>,
    /// Privacy cost of the job (nano-units).
    pub cost: Nano,
}

/// An export request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportRecord {
    /// Identifier.
    pub id: ExportId,
    /// The product.
    pub product: ProductId,
    /// The unit.
    pub unit: UnitId,
    /// Status.
    pub status: ExportStatus,
    /// Requested at.
    pub requested_at: DateTime<Utc>,
    /// Reviewed (or released) at.
    pub reviewed_at: Option<DateTime<Utc>>,
    /// The signed manifest, once exported.
    pub manifest: Option<SignedManifest>,
}

/// The bureau's decision on an export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExportDecision {
    /// Release it.
    Approve,
    /// Keep it in the domain, for this reason.
    Reject {
        /// Why (told to the unit).
        reason: String,
    },
}

const PRODUCT_COLUMNS: &str =
    "id, job_id, unit_id, authorization_id, name, content_sha256, rel_path, byte_size, row_count, status, created_at";

fn product_row(r: &Row<'_>) -> rusqlite::Result<(Product, i64)> {
    let created: i64 = r.get(10)?;
    Ok((
        Product {
            id: r.get(0)?,
            job: r.get(1)?,
            unit: r.get(2)?,
            authorization: r.get(3)?,
            name: r.get(4)?,
            content_sha256: r.get(5)?,
            path: r.get(6)?,
            byte_size: u64::try_from(r.get::<_, i64>(7)?).unwrap_or(0),
            row_count: u64::try_from(r.get::<_, i64>(8)?).unwrap_or(0),
            status: r.get(9)?,
            created_at: DateTime::<Utc>::UNIX_EPOCH,
        },
        created,
    ))
}

pub(crate) fn load_product(conn: &Tx<'_>, id: ProductId) -> Result<Product> {
    let (mut p, created) = conn
        .query_row(
            &format!("SELECT {PRODUCT_COLUMNS} FROM products WHERE id = ?1"),
            [id],
            product_row,
        )
        .optional()?
        .ok_or_else(|| GovernanceError::not_found(id.to_string()))?;
    p.created_at = from_micros(created)?;
    Ok(p)
}

fn load_export(conn: &Tx<'_>, id: ExportId) -> Result<ExportRecord> {
    type Raw = (
        ProductId,
        UnitId,
        ExportStatus,
        i64,
        Option<i64>,
        Option<String>,
        Option<String>,
    );
    let (product, unit, status, requested, reviewed, manifest, signature): Raw = conn
        .query_row(
            "SELECT e.product_id, p.unit_id, e.status, e.requested_at, e.reviewed_at, e.manifest_json, e.signature_hex
             FROM exports e JOIN products p ON p.id = e.product_id WHERE e.id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?)),
        )
        .optional()?
        .ok_or_else(|| GovernanceError::not_found(id.to_string()))?;
    let manifest = match (manifest, signature) {
        (Some(m), Some(signature)) => Some(SignedManifest {
            manifest: serde_json::from_str(&m)
                .map_err(|e| GovernanceError::Internal(format!("stored manifest of {id}: {e}")))?,
            signature,
        }),
        _ => None,
    };
    Ok(ExportRecord {
        id,
        product,
        unit,
        status,
        requested_at: from_micros(requested)?,
        reviewed_at: reviewed.map(from_micros).transpose()?,
        manifest,
    })
}

impl Store {
    /// The domain's Ed25519 public key (distribute it to verify manifests offline).
    pub fn domain_public_key(&self) -> [u8; 32] {
        self.inner.signing_key.verifying_key().to_bytes()
    }

    /// Builds and signs the manifest of a product, inside the exporting transaction.
    fn sign_manifest(
        &self,
        conn: &Tx<'_>,
        product: &Product,
        approval: ExportStatus,
        now: DateTime<Utc>,
    ) -> Result<SignedManifest> {
        let job = jobs::load_job(conn, product.job)?;
        let auth = authorizations::load_row(conn, product.authorization)?;
        let unit = units::load_unit(conn, product.unit)?;
        let manifest = ExportManifest {
            format: MANIFEST_FORMAT.to_string(),
            product: product.id,
            product_sha256: product.content_sha256.clone(),
            unit: unit.id,
            unit_name: unit.name,
            unit_credit_code: unit.credit_code,
            authorization: auth.id,
            scenario: auth.scenario,
            datasets: job.datasets,
            query: job.sql,
            cost_nano: job.cost.nanos(),
            privacy: auth.privacy,
            approval,
            issued_at: now.to_rfc3339_opts(SecondsFormat::Micros, true),
            domain_key: hex::encode(self.domain_public_key()),
        };
        let signature = hex::encode(
            self.inner
                .signing_key
                .sign(&manifest.signing_bytes())
                .to_bytes(),
        );
        Ok(SignedManifest {
            manifest,
            signature,
        })
    }

    /// Holds a succeeded job's result as a product (server-internal, after the job finished).
    pub fn hold_product(&self, new: &NewProduct) -> Result<ProductId> {
        self.write(|tx| {
            let now = self.now();
            let job = jobs::load_job_row(tx, new.job)?;
            if job.status != JobStatus::Succeeded {
                return Err(GovernanceError::conflict(format!("{} is {}; only a succeeded job has a product", new.job, job.status)));
            }
            if units::load_unit(tx, job.unit)?.status == units::UnitStatus::Revoked {
                return Err(GovernanceError::denied(format!("{} is revoked; its results may no longer be held", job.unit)));
            }
            check_text(&new.name, "name", 200)?;
            let hash_ok = new.content_sha256.len() == 64 && new.content_sha256.bytes().all(|b| b.is_ascii_hexdigit());
            if !hash_ok {
                return Err(GovernanceError::invalid("content_sha256", "must be 64 hex digits (SHA-256 of the product)"));
            }
            if let Some(path) = &new.path {
                check_relative_path(path, "path")?;
            }
            let new_id = tx.insert(
                "INSERT INTO products (job_id, unit_id, authorization_id, name, content_sha256, rel_path, byte_size, row_count, status, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'held', ?9)",
                params![
                    new.job,
                    job.unit,
                    job.authorization,
                    new.name,
                    new.content_sha256.to_ascii_lowercase(),
                    new.path,
                    i64::try_from(new.byte_size).map_err(|_| GovernanceError::invalid("byte_size", "is too large"))?,
                    i64::try_from(new.row_count).map_err(|_| GovernanceError::invalid("row_count", "is too large"))?,
                    to_micros(now)
                ],
            )?;
            let id = ProductId(new_id);
            let actor = Actor::analyst(job.person, job.unit);
            audit::append(
                tx,
                now,
                &Entry::ok(&actor, "product.hold", id.to_string())
                    .details(json!({ "job": new.job.0, "authorization": job.authorization.0, "rows": new.row_count })),
            )?;
            Ok(id)
        })
    }

    /// A product (its unit, the bureau, supervisors).
    pub fn product(&self, p: &Principal, id: ProductId) -> Result<Product> {
        self.observe(p, "product.read", id.to_string(), |tx, actor, _| {
            actor.require(
                &[Role::BureauAdmin, Role::Supervisor, Role::UnitAnalyst],
                "read products",
            )?;
            let product = load_product(tx, id)?;
            actor.require_owner(product.unit, &id.to_string())?;
            Ok(product)
        })
    }

    /// Products of the caller's unit (bureau and supervisors: of `unit`, or all).
    pub fn products(&self, p: &Principal, unit: Option<UnitId>) -> Result<Vec<Product>> {
        self.observe(p, "product.list", "products", |tx, actor, _| {
            actor.require(
                &[Role::BureauAdmin, Role::Supervisor, Role::UnitAnalyst],
                "list products",
            )?;
            let unit = if actor.sees_all_units() {
                unit
            } else {
                if let Some(u) = unit {
                    actor.require_tenant(u, &u.to_string())?;
                }
                Some(actor.require_unit("list its products")?)
            };
            let rows = match unit {
                Some(u) => tx
                    .prepare(&format!(
                        "SELECT {PRODUCT_COLUMNS} FROM products WHERE unit_id = ?1 ORDER BY id"
                    ))?
                    .query_map([u], product_row)?
                    .collect::<rusqlite::Result<Vec<_>>>()?,
                None => tx
                    .prepare(&format!(
                        "SELECT {PRODUCT_COLUMNS} FROM products ORDER BY id"
                    ))?
                    .query_map((), product_row)?
                    .collect::<rusqlite::Result<Vec<_>>>()?,
            };
            rows.into_iter()
                .map(|(mut p, c)| {
                    p.created_at = from_micros(c)?;
                    Ok(p)
                })
                .collect()
        })
    }

    /// The lineage of a product: job, scenario, person, datasets.
    pub fn lineage(&self, p: &Principal, id: ProductId) -> Result<Lineage> {
        self.observe(p, "product.lineage", id.to_string(), |tx, actor, _| {
            actor.require(
                &[Role::BureauAdmin, Role::Supervisor, Role::UnitAnalyst],
                "trace products",
            )?;
            let product = load_product(tx, id)?;
            actor.require_owner(product.unit, &id.to_string())?;
            let job = jobs::load_job(tx, product.job)?;
            let auth = authorizations::load_row(tx, product.authorization)?;
            Ok(Lineage {
                job: job.id,
                environment: job.environment,
                authorization: auth.id,
                scenario: auth.scenario,
                person: job.person,
                datasets: job.datasets,
                cost: job.cost,
                product,
            })
        })
    }

    /// Requests the export of a product. Under an `automatic` policy a production product is
    /// exported at once with a signed manifest; under `review` it waits for the bureau.
    /// Refused ([`GovernanceError::Denied`], nothing written but the audited refusal) unless
    /// the product's authorization is usable and grants [`Right::ProductOperation`]
    /// (产品经营权). Dev results never leave the domain.
    pub fn request_export(&self, p: &Principal, product: ProductId) -> Result<ExportRecord> {
        self.act(p, "export.request", product.to_string(), |tx, actor, now| {
            actor.require_unit("request exports")?;
            let prod = load_product(tx, product)?;
            actor.require_owner(prod.unit, &product.to_string())?;
            let job = jobs::load_job_row(tx, prod.job)?;
            if job.environment != Environment::Prod {
                return Err(GovernanceError::denied("results of the dev environment never leave the domain; run the query in prod"));
            }
            if !matches!(prod.status, ProductStatus::Held | ProductStatus::Rejected) {
                return Err(GovernanceError::conflict(format!("{product} is {}; nothing to request", prod.status)));
            }
            let auth = authorizations::load_row(tx, prod.authorization)?;
            authorizations::require_usable(tx, &auth, now)?;
            authorizations::require_right(tx, auth.id, Right::ProductOperation, "exporting a data product")?;
            tx.execute("DELETE FROM exports WHERE product_id = ?1 AND status = 'rejected'", [product])?;
            let automatic = auth.export_policy == ExportPolicy::Automatic;
            let (status, product_status, manifest) = if automatic {
                let signed = self.sign_manifest(tx, &prod, ExportStatus::Automatic, now)?;
                (ExportStatus::Automatic, ProductStatus::Exported, Some(signed))
            } else {
                (ExportStatus::Pending, ProductStatus::PendingReview, None)
            };
            let (manifest_json, signature) = match &manifest {
                Some(m) => (
                    Some(serde_json::to_string(&m.manifest).map_err(|e| GovernanceError::Internal(e.to_string()))?),
                    Some(m.signature.clone()),
                ),
                None => (None, None),
            };
            let new_id = tx.insert(
                "INSERT INTO exports (product_id, status, requested_by, requested_at, reviewed_at, manifest_json, signature_hex)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![product, status, actor.person, to_micros(now), automatic.then(|| to_micros(now)), manifest_json, signature],
            )?;
            let id = ExportId(new_id);
            tx.execute("UPDATE products SET status = ?1 WHERE id = ?2", params![product_status, product])?;
            let action = if automatic { "export.automatic" } else { "export.request" };
            audit::append(
                tx,
                now,
                &Entry::ok(actor, action, product.to_string()).cost(Nano::ZERO).details(json!({
                    "export": id.0,
                    "authorization": prod.authorization.0,
                    "status": status.as_str(),
                    "product_sha256": prod.content_sha256,
                })),
            )?;
            load_export(tx, id)
        })
    }

    /// The bureau approves (signs the manifest) or rejects a pending export. Approval is
    /// refused if the product's authorization does not grant the `product_operation` right.
    pub fn review_export(
        &self,
        p: &Principal,
        export: ExportId,
        decision: &ExportDecision,
    ) -> Result<ExportRecord> {
        self.act(p, "export.review", export.to_string(), |tx, actor, now| {
            actor.require(&[Role::BureauAdmin], "review exports")?;
            let record = load_export(tx, export)?;
            if record.status != ExportStatus::Pending {
                return Err(GovernanceError::conflict(format!("{export} is {}; only pending exports are reviewed", record.status)));
            }
            let product = load_product(tx, record.product)?;
            let (status, product_status, manifest, reason) = match decision {
                ExportDecision::Approve => {
                    authorizations::require_right(tx, product.authorization, Right::ProductOperation, "exporting a data product")?;
                    let signed = self.sign_manifest(tx, &product, ExportStatus::Approved, now)?;
                    (ExportStatus::Approved, ProductStatus::Exported, Some(signed), None)
                }
                ExportDecision::Reject { reason } => {
                    check_long_text(reason, "reason", 2000)?;
                    (ExportStatus::Rejected, ProductStatus::Rejected, None, Some(reason.clone()))
                }
            };
            let manifest_json = manifest
                .as_ref()
                .map(|m| serde_json::to_string(&m.manifest).map_err(|e| GovernanceError::Internal(e.to_string())))
                .transpose()?;
            tx.execute(
                "UPDATE exports SET status = ?1, reviewed_by = ?2, reviewed_at = ?3, manifest_json = ?4, signature_hex = ?5 WHERE id = ?6",
                params![status, actor.person, to_micros(now), manifest_json, manifest.as_ref().map(|m| m.signature.clone()), export],
            )?;
            tx.execute("UPDATE products SET status = ?1 WHERE id = ?2", params![product_status, product.id])?;
            audit::append(
                tx,
                now,
                &Entry::ok(actor, if reason.is_some() { "export.reject" } else { "export.approve" }, record.product.to_string())
                    .unit(record.unit)
                    .details(json!({ "export": export.0, "reason": reason })),
            )?;
            load_export(tx, export)
        })
    }

    /// Export requests: the bureau and supervisors see all (optionally by status), an
    /// analyst its unit's.
    pub fn exports(
        &self,
        p: &Principal,
        status: Option<ExportStatus>,
    ) -> Result<Vec<ExportRecord>> {
        self.observe(p, "export.list", "exports", |tx, actor, _| {
            actor.require(&[Role::BureauAdmin, Role::Supervisor, Role::UnitAnalyst], "list exports")?;
            let unit = if actor.sees_all_units() { None } else { Some(actor.require_unit("list its exports")?) };
            let ids: Vec<ExportId> = tx
                .prepare(
                    "SELECT e.id FROM exports e JOIN products p ON p.id = e.product_id
                     WHERE (CAST(?1 AS BIGINT) IS NULL OR p.unit_id = ?1) AND (CAST(?2 AS TEXT) IS NULL OR e.status = ?2) ORDER BY e.id",
                )?
                .query_map(params![unit, status], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            ids.into_iter().map(|id| load_export(tx, id)).collect()
        })
    }
}
