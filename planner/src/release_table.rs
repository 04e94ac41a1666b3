//! The slot where a release's noised batch is placed before the outer plan runs.

use std::sync::{Arc, OnceLock};

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use datafusion::catalog::{Session, TableProvider};
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::datasource::TableType;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;

/// A table holding one release's noised values; empty until filled, filled once.
#[derive(Debug)]
pub struct ReleaseTable {
    schema: SchemaRef,
    batch: OnceLock<RecordBatch>,
}

impl ReleaseTable {
    /// An empty slot for batches of `schema`.
    pub fn new(schema: SchemaRef) -> Self {
        ReleaseTable { schema, batch: OnceLock::new() }
    }

    /// Places the noised batch; fails if one is already there or the schema differs.
    pub fn fill(&self, batch: RecordBatch) -> std::result::Result<(), String> {
        if batch.schema().fields() != self.schema.fields() {
            return Err("released batch does not match the release schema".into());
        }
        self.batch.set(batch).map_err(|_| "release slot filled twice".to_string())
    }

    /// The noised batch, once placed.
    pub fn batch(&self) -> Option<&RecordBatch> {
        self.batch.get()
    }
}

#[async_trait]
impl TableProvider for ReleaseTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Temporary
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let batch = self.batch.get().ok_or_else(|| {
            DataFusionError::Internal("a release was read before its noised values were placed".into())
        })?;
        Ok(MemorySourceConfig::try_new_exec(&[vec![batch.clone()]], self.schema(), projection.cloned())?)
    }
}
