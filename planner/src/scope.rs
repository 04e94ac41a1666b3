//! The scoped session: a DataFusion context holding only the tables and columns that one
//! authorization grants. Nothing else exists in it: no other table, no other column, no
//! information schema, no URL tables.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use arrow::datatypes::{Schema, SchemaRef};
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl};
use datafusion::prelude::{SessionConfig, SessionContext};
use shuyu_datasets::{ColumnManifest, Sensitivity, TableManifest};

use crate::error::{PlannerError, Result};
use crate::scope_state::ScopeState;
use crate::statistics::SizeOnlyParquet;

/// One granted table: its manifest, the columns granted, and where its data lives.
#[derive(Debug, Clone)]
pub struct GrantedTable {
    /// The table's manifest (the whole catalog entry).
    pub manifest: TableManifest,
    /// The exact columns granted (minimum necessary); `None` grants every column.
    pub columns: Option<Vec<String>>,
    /// Parquet file or folder.
    pub location: PathBuf,
}

impl GrantedTable {
    /// A grant of the named columns of a table stored at `location`.
    pub fn new(manifest: TableManifest, columns: Option<Vec<String>>, location: impl Into<PathBuf>) -> Self {
        GrantedTable { manifest, columns, location: location.into() }
    }

    /// The manifest restricted to the granted columns.
    pub fn scoped_manifest(&self) -> Result<TableManifest> {
        let mut m = self.manifest.clone();
        if let Some(cols) = &self.columns {
            for c in cols {
                if m.column(c).is_none() {
                    return Err(PlannerError::Scope(format!(
                        "the grant names column {c}, which table {} does not have",
                        m.name
                    )));
                }
            }
            m.columns.retain(|c| cols.contains(&c.name));
        }
        Ok(m)
    }
}

/// Privacy-relevant facts about the tables visible in one scope, by table name.
#[derive(Debug, Clone, Default)]
pub struct ScopeCatalog {
    tables: BTreeMap<String, TableManifest>,
    /// What executors keep for this scope (compute's exact results), shared by its clones.
    state: Arc<ScopeState>,
}

impl ScopeCatalog {
    /// The scoped manifest of a table, if it is in scope.
    pub fn table(&self, name: &str) -> Option<&TableManifest> {
        self.tables.get(name)
    }

    /// Facts about one column.
    pub fn column(&self, table: &str, column: &str) -> Option<&ColumnManifest> {
        self.tables.get(table).and_then(|t| t.column(column))
    }

    /// The names of the tables in scope.
    pub fn table_names(&self) -> impl Iterator<Item = &str> {
        self.tables.keys().map(String::as_str)
    }

    /// What executors keep for this scope (compute's cache of exact results).
    pub fn state(&self) -> &ScopeState {
        &self.state
    }

    /// Inserts a table (used by [`Scope::open`] and by tests).
    pub fn insert(&mut self, m: TableManifest) {
        self.tables.insert(m.name.clone(), m);
    }
}

/// A session scoped to one authorization.
#[derive(Clone)]
pub struct Scope {
    ctx: SessionContext,
    catalog: Arc<ScopeCatalog>,
}

impl std::fmt::Debug for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scope").field("tables", &self.catalog.tables.keys().collect::<Vec<_>>()).finish()
    }
}

/// The DataFusion configuration of scoped sessions.
pub fn session_config() -> SessionConfig {
    let mut config = SessionConfig::new()
        .with_information_schema(false)
        .with_create_default_catalog_and_schema(true)
        .with_default_catalog_and_schema("shuyu", "public");
    // Keep strings as plain Utf8 so results and manifests agree on types.
    config.options_mut().execution.parquet.schema_force_view_types = false;
    // Join a one-row-per-unit table of up to a few million rows by broadcasting it (its
    // hash table built once, shared by all partitions) rather than repartitioning both
    // sides by key: the many-rows side then keeps its file order, so a relation clustered
    // by unit stays clustered through the join and bounding can stream over it.
    config.options_mut().optimizer.hash_join_single_partition_threshold = 256 << 20;
    config.options_mut().optimizer.hash_join_single_partition_threshold_rows = 16 << 20;
    // No pruning by row-group or page statistics, and no bloom filters: whether a row group
    // is read would depend on the minimum and maximum of personal columns (one person's
    // value at the edge of a page), and so would the time a query takes. Every scan reads
    // every row group of the granted columns.
    let parquet = &mut config.options_mut().execution.parquet;
    parquet.pruning = false;
    parquet.enable_page_index = false;
    parquet.bloom_filter_on_read = false;
    parquet.pushdown_filters = false;
    config
}

impl Scope {
    /// Opens a scope: registers each granted table, exposing only its granted columns.
    pub async fn open(grants: &[GrantedTable]) -> Result<Self> {
        let ctx = SessionContext::new_with_config(session_config());
        let mut catalog = ScopeCatalog::default();
        for g in grants {
            let manifest = g.scoped_manifest()?;
            let schema = Self::granted_schema(&ctx, g, &manifest).await?;
            let url = ListingTableUrl::parse(g.location.to_string_lossy())
                .map_err(|e| PlannerError::Scope(format!("table {}: bad location: {}", manifest.name, e.strip_backtrace())))?;
            // A personal table's column statistics are one person's values at the extremes:
            // the optimizer sees its size only (see `crate::statistics`).
            let format: Arc<dyn FileFormat> = if manifest.privacy_unit.is_some() {
                Arc::new(SizeOnlyParquet::new(parquet_format(&ctx)))
            } else {
                Arc::new(parquet_format(&ctx))
            };
            let options = ListingOptions::new(format).with_file_extension(".parquet");
            let config = ListingTableConfig::new(url).with_listing_options(options).with_schema(schema);
            let table = ListingTable::try_new(config)
                .map_err(|e| PlannerError::Scope(format!("table {}: {}", manifest.name, e.strip_backtrace())))?;
            ctx.register_table(manifest.name.as_str(), Arc::new(table))
                .map_err(|e| PlannerError::Scope(e.strip_backtrace()))?;
            catalog.insert(manifest);
        }
        Ok(Scope { ctx, catalog: Arc::new(catalog) })
    }

    /// A scope over tables already registered in `ctx` (tests and in-memory data), with an
    /// empty [`ScopeState`] (no exact results kept yet).
    pub fn from_context(ctx: SessionContext, mut catalog: ScopeCatalog) -> Self {
        catalog.state = Arc::default();
        Scope { ctx, catalog: Arc::new(catalog) }
    }

    /// The same scope (same tables, same data, same [`ScopeState`]) run through
    /// another context over the same tables, e.g. one with a job's memory limit.
    pub fn with_context(&self, ctx: SessionContext) -> Self {
        Scope { ctx, catalog: self.catalog.clone() }
    }

    async fn granted_schema(ctx: &SessionContext, g: &GrantedTable, m: &TableManifest) -> Result<SchemaRef> {
        let url = ListingTableUrl::parse(g.location.to_string_lossy())
            .map_err(|e| PlannerError::Scope(format!("table {}: bad location: {}", m.name, e.strip_backtrace())))?;
        let options = ListingOptions::new(Arc::new(parquet_format(&ctx))).with_file_extension(".parquet");
        let file_schema = options
            .infer_schema(&ctx.state(), &url)
            .await
            .map_err(|e| PlannerError::Scope(format!("table {}: cannot read its schema: {}", m.name, e.strip_backtrace())))?;
        let mut fields = Vec::with_capacity(m.columns.len());
        for c in &m.columns {
            let f = file_schema.field_with_name(&c.name).map_err(|_| {
                PlannerError::Scope(format!("table {}: column {} is in the manifest but not in the data", m.name, c.name))
            })?;
            fields.push(f.clone());
        }
        Ok(Arc::new(Schema::new(fields)))
    }

    /// The DataFusion context (only the granted tables are registered in it).
    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }

    /// The privacy facts of the tables in scope.
    pub fn catalog(&self) -> &ScopeCatalog {
        &self.catalog
    }
}

/// The Parquet format with the session's options (plain Utf8 strings, as configured).
fn parquet_format(ctx: &SessionContext) -> ParquetFormat {
    ParquetFormat::default().with_options(ctx.state().table_options().parquet.clone())
}

/// Whether a column is a direct identifier.
pub fn is_identifier(c: &ColumnManifest) -> bool {
    c.sensitivity == Sensitivity::DirectIdentifier
}
