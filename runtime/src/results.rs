//! Results marked with the environment they come from (`shuyu.environment`), under one
//! schema for the batches and their metadata.

use std::sync::Arc;

use arrow::datatypes::{Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use shuyu_compute::QueryResult;
use shuyu_governance::Environment;
use shuyu_privacy::keys;

use crate::RuntimeError;

/// `schema` with the environment marker.
pub fn with_environment(schema: &Schema, environment: Environment) -> SchemaRef {
    let mut md = schema.metadata().clone();
    md.insert(keys::ENVIRONMENT.into(), environment.as_str().into());
    Arc::new(Schema::new_with_metadata(schema.fields().clone(), md))
}

/// Batches under `schema` (same columns, the service's metadata).
pub fn rebatch(batches: Vec<RecordBatch>, schema: &SchemaRef) -> Result<Vec<RecordBatch>, RuntimeError> {
    batches
        .into_iter()
        .map(|b| RecordBatch::try_new(schema.clone(), b.columns().to_vec()).map_err(|e| RuntimeError::Internal(format!("result schema: {e}"))))
        .collect()
}

/// A result marked with its environment.
pub fn marked(mut result: QueryResult, environment: Environment) -> Result<QueryResult, RuntimeError> {
    result.schema = with_environment(&result.schema, environment);
    let batches = std::mem::take(&mut result.batches);
    result.batches = rebatch(batches, &result.schema)?;
    Ok(result)
}
