//! Results held for the bureau's review (出域审核, export policy `review`).
//!
//! Under such an authorization a production result never goes straight to the analyst.
//! [`hold`] writes it (Arrow IPC) into the unit's results area of the data directory,
//! records it as a product of its job and requests its export, which waits for the
//! bureau; the analyst is told the export's id. The budget was charged when the result was
//! computed. Once the bureau approves (governance signs the export's manifest), the analyst
//! fetches it with the statement `FETCH EXPORT '<id>'` ([`fetch`]): the file is checked
//! against the product's SHA-256 and returned with the signed manifest in its metadata.
//! Before approval, or after a rejection, nothing is returned. The held file is deleted
//! with the unit's results if the authorization or unit is revoked. Nothing here logs a
//! value of a result.

use std::io::Cursor;
use std::sync::Arc;

use arrow::datatypes::{Schema, SchemaRef};
use arrow::ipc::reader::FileReader;
use arrow::ipc::writer::FileWriter;
use arrow::record_batch::RecordBatch;
use sha2::{Digest, Sha256};
use shuyu_governance::{AuthorizationId, ExportId, ExportStatus, JobId, Nano, NewProduct, Principal, ProductId, Store, UnitArea};
use shuyu_privacy::keys;

use crate::offload::store_call;
use crate::RuntimeError;

/// A result held for review.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeldExport {
    /// The export request to wait for.
    pub export: ExportId,
    /// The product holding the result.
    pub product: ProductId,
    /// Its status (pending until the bureau decides).
    pub status: ExportStatus,
}

/// The schema a held result is stored under: the result's, plus the job, authorization and
/// charge that produced it.
pub fn stored_schema(schema: &Schema, job: JobId, authorization: AuthorizationId, charged: Nano) -> SchemaRef {
    let mut md = schema.metadata().clone();
    md.insert(keys::JOB.into(), job.0.to_string());
    md.insert(keys::AUTHORIZATION.into(), authorization.0.to_string());
    md.insert(keys::CHARGED.into(), charged.to_string());
    Arc::new(Schema::new_with_metadata(schema.fields().clone(), md))
}

fn encode(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<Vec<u8>, RuntimeError> {
    let fail = |e: arrow::error::ArrowError| RuntimeError::Internal(format!("encoding a held result: {e}"));
    let mut w = FileWriter::try_new(Vec::new(), schema).map_err(fail)?;
    for b in batches {
        let b = RecordBatch::try_new(schema.clone(), b.columns().to_vec()).map_err(fail)?;
        w.write(&b).map_err(fail)?;
    }
    w.finish().map_err(fail)?;
    w.into_inner().map_err(fail)
}

/// Holds `batches` (under `schema`) of `job`, run by `p`: stored in the unit's results
/// area, recorded as a product, its export requested.
pub async fn hold(store: &Store, p: &Principal, job: JobId, schema: SchemaRef, batches: Vec<RecordBatch>) -> Result<HeldExport, RuntimeError> {
    let unit = p.unit_id.ok_or_else(|| RuntimeError::Denied("only an operating unit's analyst holds results".into()))?;
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    let bytes = encode(&schema, &batches)?;
    let sha = hex::encode(Sha256::digest(&bytes));
    let caller = p.clone();
    let dir = store_call(store, move |s| s.unit_dir(&caller, unit, UnitArea::Results)).await?;
    let name = format!("job-{}.arrow", job.0);
    let (path, tmp) = (dir.join(&name), dir.join(format!(".{name}.tmp")));
    let size = bytes.len() as u64;
    tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        std::fs::write(&tmp, &bytes)?;
        std::fs::File::open(&tmp)?.sync_all()?;
        std::fs::rename(&tmp, &path)
    })
    .await
    .map_err(|e| RuntimeError::Internal(format!("writing a held result did not complete: {e}")))?
    .map_err(RuntimeError::io("writing a held result"))?;
    let new = NewProduct { job, name: format!("result of job {}", job.0), content_sha256: sha, path: Some(name), byte_size: size, row_count: rows as u64 };
    let product = store_call(store, move |s| s.hold_product(&new)).await?;
    let caller = p.clone();
    let export = store_call(store, move |s| s.request_export(&caller, product)).await?;
    tracing::info!(job = job.0, product = product.0, export = export.id.0, "result held for the bureau's review");
    Ok(HeldExport { export: export.id, product, status: export.status })
}

/// The export named by `FETCH EXPORT '<id>'` (also `FETCH EXPORT <id>`, any case, an
/// optional `;`), or `None` if `sql` is not that statement.
pub fn parse_fetch(sql: &str) -> Option<Result<ExportId, RuntimeError>> {
    let words: Vec<&str> = sql.trim().trim_end_matches(';').split_whitespace().collect();
    match words.as_slice() {
        [fetch, export, rest @ ..] if fetch.eq_ignore_ascii_case("fetch") && export.eq_ignore_ascii_case("export") => {
            let id = match rest {
                [one] => one.trim_matches('\'').parse::<i64>().ok(),
                _ => None,
            };
            Some(id.map(ExportId).ok_or_else(|| RuntimeError::Usage("write FETCH EXPORT '<id>' with the export id the held result named".into())))
        }
        _ => None,
    }
}

/// A released result of `p`'s unit: the stored batches, checked against the product's
/// hash, with the export's id, status and signed manifest in the schema metadata.
pub async fn fetch(store: &Store, p: &Principal, export: ExportId) -> Result<(SchemaRef, Vec<RecordBatch>), RuntimeError> {
    let unit = p.unit_id.ok_or_else(|| RuntimeError::Denied("only an operating unit's analyst fetches results".into()))?;
    let caller = p.clone();
    let records = store_call(store, move |s| s.exports(&caller, None)).await?;
    let record = records.into_iter().find(|r| r.id == export).ok_or_else(|| {
        RuntimeError::Usage(format!("{export} is not an export of your unit; use the id a held result named"))
    })?;
    let manifest = match (record.status, &record.manifest) {
        (ExportStatus::Pending, _) => {
            return Err(RuntimeError::NotServed(format!(
                "{export} is waiting for the bureau's review; the result is released once it is approved — retry then"
            )))
        }
        (ExportStatus::Rejected, _) => {
            return Err(RuntimeError::Denied(format!("the bureau rejected {export}; the result stays in the domain")));
        }
        (ExportStatus::Approved | ExportStatus::Automatic, Some(m)) => m.clone(),
        (_, None) => return Err(RuntimeError::Internal(format!("{export} is released but has no manifest"))),
    };
    let caller = p.clone();
    let product = store_call(store, move |s| s.product(&caller, record.product)).await?;
    let rel = product.path.clone().ok_or_else(|| RuntimeError::Internal(format!("{} has no stored file", product.id)))?;
    let caller = p.clone();
    let dir = store_call(store, move |s| s.unit_dir(&caller, unit, UnitArea::Results)).await?;
    let path = dir.join(rel);
    let bytes = tokio::task::spawn_blocking(move || std::fs::read(path))
        .await
        .map_err(|e| RuntimeError::Internal(format!("reading a held result did not complete: {e}")))?
        .map_err(RuntimeError::io("reading a held result"))?;
    if hex::encode(Sha256::digest(&bytes)) != product.content_sha256 {
        return Err(RuntimeError::Internal(format!("the stored result of {} does not match its recorded SHA-256", product.id)));
    }
    let fail = |e: arrow::error::ArrowError| RuntimeError::Internal(format!("decoding a held result: {e}"));
    let reader = FileReader::try_new(Cursor::new(bytes), None).map_err(fail)?;
    let stored = reader.schema();
    let batches = reader.collect::<Result<Vec<_>, _>>().map_err(fail)?;
    let mut md = stored.metadata().clone();
    md.insert(keys::EXPORT.into(), export.0.to_string());
    md.insert(keys::EXPORT_STATUS.into(), record.status.as_str().into());
    md.insert(keys::EXPORT_MANIFEST.into(), serde_json::to_string(&manifest).map_err(|e| RuntimeError::Internal(format!("manifest: {e}")))?);
    let schema = Arc::new(Schema::new_with_metadata(stored.fields().clone(), md));
    let batches = batches
        .into_iter()
        .map(|b| RecordBatch::try_new(schema.clone(), b.columns().to_vec()).map_err(fail))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((schema, batches))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fetch_statements_parse_and_others_pass_through() {
        assert_eq!(parse_fetch("FETCH EXPORT '7'").map(|r| r.ok()), Some(Some(ExportId(7))));
        assert_eq!(parse_fetch("  fetch export 12 ;").map(|r| r.ok()), Some(Some(ExportId(12))));
        assert!(matches!(parse_fetch("FETCH EXPORT 'seven'"), Some(Err(RuntimeError::Usage(_)))));
        assert!(matches!(parse_fetch("FETCH EXPORT"), Some(Err(RuntimeError::Usage(_)))));
        assert!(parse_fetch("SELECT 1").is_none());
        assert!(parse_fetch("FETCH NEXT FROM c").is_none());
    }
}
