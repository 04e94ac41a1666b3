//! The statistics the optimizer sees of a personal table: its row count and size, never
//! its columns' minimum, maximum, null or distinct counts.
//!
//! DataFusion estimates how many rows a predicate keeps from the file's column statistics
//! and picks join sides and modes from that estimate. The maximum of `income` is one
//! person's income, so `WHERE income > T` would be planned one way below it and another
//! above, and the running time of a query would tell the analyst on which side of `T` that
//! person is, at no cost in budget. With no column statistics, every predicate gets the
//! engine's default selectivity, the plan depends only on the query and the table's size,
//! and the join thresholds of [`crate::scope::session_config`] (on row counts and bytes)
//! keep working.

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use datafusion::catalog::Session;
use datafusion::common::{ColumnStatistics, Result, Statistics};
use datafusion::datasource::file_format::file_compression_type::FileCompressionType;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::file_format::{FileFormat, FileMeta};
use datafusion::datasource::physical_plan::{FileScanConfig, FileSinkConfig, FileSource};
use datafusion::datasource::table_schema::TableSchema;
use datafusion::object_store::{ObjectMeta, ObjectStore};
use datafusion::physical_expr::LexRequirement;
use datafusion::physical_plan::ExecutionPlan;

/// Parquet, with each file's column statistics reported as unknown.
#[derive(Debug)]
pub struct SizeOnlyParquet {
    inner: ParquetFormat,
}

impl SizeOnlyParquet {
    /// Wraps `inner`, which reads and plans the files as it would.
    pub fn new(inner: ParquetFormat) -> Self {
        SizeOnlyParquet { inner }
    }

    /// The Parquet format it wraps (how the cluster codec ships it).
    pub fn inner(&self) -> &ParquetFormat {
        &self.inner
    }
}

/// `stats` with its row count and size kept and every column's figures unknown.
pub fn size_only(stats: Statistics) -> Statistics {
    let columns = stats.column_statistics.len();
    Statistics {
        num_rows: stats.num_rows,
        total_byte_size: stats.total_byte_size,
        column_statistics: vec![ColumnStatistics::new_unknown(); columns],
    }
}

#[async_trait]
impl FileFormat for SizeOnlyParquet {
    fn get_ext(&self) -> String {
        self.inner.get_ext()
    }

    fn get_ext_with_compression(&self, c: &FileCompressionType) -> Result<String> {
        self.inner.get_ext_with_compression(c)
    }

    fn compression_type(&self) -> Option<FileCompressionType> {
        self.inner.compression_type()
    }

    async fn infer_schema(&self, state: &dyn Session, store: &Arc<dyn ObjectStore>, objects: &[ObjectMeta]) -> Result<SchemaRef> {
        self.inner.infer_schema(state, store, objects).await
    }

    async fn infer_stats(&self, state: &dyn Session, store: &Arc<dyn ObjectStore>, table_schema: SchemaRef, object: &ObjectMeta) -> Result<Statistics> {
        self.inner.infer_stats(state, store, table_schema, object).await.map(size_only)
    }

    async fn infer_stats_and_ordering(&self, state: &dyn Session, store: &Arc<dyn ObjectStore>, table_schema: SchemaRef, object: &ObjectMeta) -> Result<FileMeta> {
        let meta = self.inner.infer_stats_and_ordering(state, store, table_schema, object).await?;
        Ok(FileMeta::new(size_only(meta.statistics)).with_ordering(meta.ordering))
    }

    async fn create_physical_plan(&self, state: &dyn Session, conf: FileScanConfig) -> Result<Arc<dyn ExecutionPlan>> {
        self.inner.create_physical_plan(state, conf).await
    }

    async fn create_writer_physical_plan(
        &self,
        input: Arc<dyn ExecutionPlan>,
        state: &dyn Session,
        conf: FileSinkConfig,
        order: Option<LexRequirement>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.inner.create_writer_physical_plan(input, state, conf, order).await
    }

    fn file_source(&self, table_schema: TableSchema) -> Arc<dyn FileSource> {
        self.inner.file_source(table_schema)
    }
}
