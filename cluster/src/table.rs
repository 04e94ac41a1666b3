//! A personal dataset as it leaves the front end.
//!
//! The scope registers each dataset as a [`ListingTable`] over Parquet; a personal one reads
//! through [`SizeOnlyParquet`], which hides its column statistics from the optimizer (they
//! are one person's values at the extremes). DataFusion's plan serialization knows only its
//! stock file formats, and shipping the table as a stock Parquet scan would let the
//! scheduler plan with those statistics again. So [`ship`] wraps every such table in a
//! [`DatasetTable`], which [`crate::codec`] sends as its paths, file extension and Parquet
//! options, and which the scheduler and executors rebuild as the same `ListingTable` over
//! `SizeOnlyParquet`. The paths are the catalog's (`file://` on a shared filesystem, or an
//! object-store URL registered on every party).

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use datafusion::catalog::{ScanArgs, ScanResult, Session, TableProvider};
use datafusion::common::tree_node::Transformed;
use datafusion::common::{Result, Statistics};
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl};
use datafusion::datasource::{provider_as_source, source_as_provider};
use datafusion::logical_expr::{Expr, LogicalPlan, TableProviderFilterPushDown, TableType};
use datafusion::physical_plan::ExecutionPlan;
use shuyu_planner::statistics::SizeOnlyParquet;

/// A dataset's `ListingTable` over [`SizeOnlyParquet`], wrapped so that it serializes.
#[derive(Debug, Clone)]
pub struct DatasetTable {
    inner: Arc<ListingTable>,
}

impl DatasetTable {
    /// Wraps `inner`, if it is a listing table reading through [`SizeOnlyParquet`].
    pub fn wrap(inner: Arc<ListingTable>) -> Option<Self> {
        inner.options().format.downcast_ref::<SizeOnlyParquet>()?;
        Some(DatasetTable { inner })
    }

    /// Builds the table from what [`crate::codec`] ships: its paths, file extension, schema
    /// and Parquet options.
    pub fn rebuild(paths: &[String], extension: &str, schema: SchemaRef, parquet: ParquetFormat) -> Result<Self> {
        let urls = paths.iter().map(ListingTableUrl::parse).collect::<Result<Vec<_>>>()?;
        let options = ListingOptions::new(Arc::new(SizeOnlyParquet::new(parquet))).with_file_extension(extension);
        let config = ListingTableConfig::new_with_multi_paths(urls).with_listing_options(options).with_schema(schema);
        Ok(DatasetTable { inner: Arc::new(ListingTable::try_new(config)?) })
    }

    /// The wrapped table.
    pub fn inner(&self) -> &Arc<ListingTable> {
        &self.inner
    }

    /// The table's paths, as URLs.
    pub fn paths(&self) -> Vec<String> {
        self.inner.table_paths().iter().map(|p| p.as_str().to_string()).collect()
    }

    /// The file extension it lists.
    pub fn extension(&self) -> &str {
        &self.inner.options().file_extension
    }

    /// The Parquet format it reads with.
    pub fn parquet(&self) -> &ParquetFormat {
        self.inner
            .options()
            .format
            .downcast_ref::<SizeOnlyParquet>()
            .map(SizeOnlyParquet::inner)
            .expect("a DatasetTable wraps SizeOnlyParquet")
    }
}

#[async_trait]
impl TableProvider for DatasetTable {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }

    fn table_type(&self) -> TableType {
        self.inner.table_type()
    }

    async fn scan(&self, state: &dyn Session, projection: Option<&Vec<usize>>, filters: &[Expr], limit: Option<usize>) -> Result<Arc<dyn ExecutionPlan>> {
        self.inner.scan(state, projection, filters, limit).await
    }

    async fn scan_with_args<'a>(&self, state: &dyn Session, args: ScanArgs<'a>) -> Result<ScanResult> {
        self.inner.scan_with_args(state, args).await
    }

    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> Result<Vec<TableProviderFilterPushDown>> {
        self.inner.supports_filters_pushdown(filters)
    }

    fn statistics(&self) -> Option<Statistics> {
        self.inner.statistics()
    }
}

/// `plan` with every personal dataset (subqueries included) wrapped in a [`DatasetTable`],
/// ready to be serialized for the cluster. Other tables are left as they are: a stock
/// Parquet listing table serializes natively, and anything else fails to serialize with
/// DataFusion's own error (the front end only ships inner plans over datasets).
pub fn ship(plan: LogicalPlan) -> Result<LogicalPlan> {
    plan.transform_up_with_subqueries(|node| {
        let LogicalPlan::TableScan(scan) = &node else { return Ok(Transformed::no(node)) };
        let Ok(provider) = source_as_provider(&scan.source) else { return Ok(Transformed::no(node)) };
        if provider.is::<DatasetTable>() {
            return Ok(Transformed::no(node));
        }
        let Some(listing) = provider.downcast_ref::<ListingTable>() else { return Ok(Transformed::no(node)) };
        let Some(table) = DatasetTable::wrap(Arc::new(listing.clone())) else { return Ok(Transformed::no(node)) };
        let mut scan = scan.clone();
        scan.source = provider_as_source(Arc::new(table));
        Ok(Transformed::yes(LogicalPlan::TableScan(scan)))
    })
    .map(|t| t.data)
}
