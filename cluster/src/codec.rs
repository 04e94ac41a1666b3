//! shuyu's extension codecs: how its functions and datasets cross the wire to the scheduler
//! and the executors.
//!
//! DataFusion serializes a call to a user-defined function by name, plus whatever bytes the
//! codec writes for it; the receiving party asks its codec to rebuild the function from
//! those bytes. shuyu's functions carry parameters that are part of their meaning (the
//! bounding aggregate's bounds, keys per unit and secret seed; the on-grid function's grid),
//! so each is written as JSON of its parameters ([`Encoded`]) and rebuilt from it; the
//! total kernels are written by name. A personal dataset is written as its paths, file
//! extension and Parquet options ([`crate::table::DatasetTable`]). Everything else is
//! delegated to Ballista's own codecs (its shuffle and cache nodes, stock file formats).
//!
//! The same [`ShuyuCodec`] pair is installed on the front end's client session
//! ([`crate::session`]), the scheduler and every executor ([`crate::process`]).

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use ballista_core::serde::{BallistaLogicalExtensionCodec, BallistaPhysicalExtensionCodec};
use datafusion::catalog::TableProvider;
use datafusion::common::{DataFusionError, Result, TableReference};
use datafusion::config::TableParquetOptions;
use datafusion::datasource::file_format::parquet::{ParquetFormat, ParquetFormatFactory};
use datafusion::datasource::file_format::FileFormatFactory;
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{AggregateUDF, Extension, LogicalPlan, ScalarUDF};
use datafusion::physical_plan::ExecutionPlan;
use datafusion_proto::logical_plan::LogicalExtensionCodec;
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};
use prost::Message;
use serde::{Deserialize, Serialize};
use shuyu_planner::bounding::BoundParams;
use shuyu_planner::on_grid::OnGrid;
use shuyu_planner::total::kernels::Kernel;

use crate::table::DatasetTable;

/// What shuyu writes for one of its functions or tables.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Encoded {
    /// The bounding aggregate, with its parameters (seed included).
    BoundByUnit(BoundParams),
    /// The on-grid function, with its grid.
    OnGrid(OnGrid),
    /// A total kernel, by name.
    Kernel(String),
    /// A personal dataset.
    Dataset {
        /// Its paths, as URLs.
        paths: Vec<String>,
        /// The file extension it lists.
        extension: String,
        /// Its Parquet options, as DataFusion's protobuf message.
        parquet: Vec<u8>,
    },
}

fn to_bytes(e: &Encoded, buf: &mut Vec<u8>) -> Result<()> {
    serde_json::to_writer(buf, e).map_err(|err| DataFusionError::Internal(format!("shuyu codec: encoding failed: {err}")))
}

fn from_bytes(buf: &[u8]) -> Result<Encoded> {
    serde_json::from_slice(buf).map_err(|err| DataFusionError::Internal(format!("shuyu codec: decoding failed (a front end and a cluster of different shuyu versions?): {err}")))
}

/// Writes `udf` if it is one of shuyu's (else writes nothing, and DataFusion finds the
/// function by name on the other side).
pub fn encode_udf(udf: &ScalarUDF, buf: &mut Vec<u8>) -> Result<()> {
    if let Some(g) = OnGrid::of(udf) {
        return to_bytes(&Encoded::OnGrid(g), buf);
    }
    if let Some(k) = Kernel::from_name(udf.name()) {
        return to_bytes(&Encoded::Kernel(k.name().to_string()), buf);
    }
    Ok(())
}

/// Rebuilds a function [`encode_udf`] wrote; `None` when `buf` is empty (not shuyu's).
pub fn decode_udf(name: &str, buf: &[u8]) -> Result<Option<Arc<ScalarUDF>>> {
    if buf.is_empty() {
        return Ok(Kernel::from_name(name).map(|k| Arc::new(k.udf())));
    }
    match from_bytes(buf)? {
        Encoded::OnGrid(g) => Ok(Some(Arc::new(g.udf()))),
        Encoded::Kernel(k) => Kernel::from_name(&k)
            .map(|k| Some(Arc::new(k.udf())))
            .ok_or_else(|| DataFusionError::Internal(format!("shuyu codec: unknown kernel {k}"))),
        _ => Err(DataFusionError::Internal(format!("shuyu codec: {name} is not a scalar function"))),
    }
}

/// Writes `udaf` if it is the bounding aggregate.
pub fn encode_udaf(udaf: &AggregateUDF, buf: &mut Vec<u8>) -> Result<()> {
    match BoundParams::of(udaf) {
        Some(p) => to_bytes(&Encoded::BoundByUnit(p.clone()), buf),
        None => Ok(()),
    }
}

/// Rebuilds an aggregate [`encode_udaf`] wrote; `None` when `buf` is empty (not shuyu's).
pub fn decode_udaf(name: &str, buf: &[u8]) -> Result<Option<Arc<AggregateUDF>>> {
    if buf.is_empty() {
        return Ok(None);
    }
    match from_bytes(buf)? {
        Encoded::BoundByUnit(p) => Ok(Some(Arc::new(p.udaf()))),
        _ => Err(DataFusionError::Internal(format!("shuyu codec: {name} is not an aggregate function"))),
    }
}

/// Writes a personal dataset's table.
pub fn encode_dataset(table: &DatasetTable, buf: &mut Vec<u8>) -> Result<()> {
    let factory = ParquetFormatFactory::new_with_options(table.parquet().options().clone());
    let parquet = datafusion_proto::protobuf::TableParquetOptions::from(&factory).encode_to_vec();
    to_bytes(&Encoded::Dataset { paths: table.paths(), extension: table.extension().to_string(), parquet }, buf)
}

/// Rebuilds a personal dataset's table from what [`encode_dataset`] wrote.
pub fn decode_dataset(buf: &[u8], schema: SchemaRef) -> Result<DatasetTable> {
    match from_bytes(buf)? {
        Encoded::Dataset { paths, extension, parquet } => {
            let proto = datafusion_proto::protobuf::TableParquetOptions::decode(parquet.as_slice())
                .map_err(|e| DataFusionError::Internal(format!("shuyu codec: parquet options: {e}")))?;
            let options = TableParquetOptions::try_from(&proto)?;
            DatasetTable::rebuild(&paths, &extension, schema, ParquetFormat::default().with_options(options))
        }
        _ => Err(DataFusionError::Internal("shuyu codec: not a dataset".into())),
    }
}

/// The function methods both codecs share: shuyu's functions first, then Ballista's.
macro_rules! shuyu_functions {
    () => {
        fn try_decode_udf(&self, name: &str, buf: &[u8]) -> Result<Arc<ScalarUDF>> {
            match decode_udf(name, buf)? {
                Some(f) => Ok(f),
                None => self.inner.try_decode_udf(name, buf),
            }
        }

        fn try_encode_udf(&self, node: &ScalarUDF, buf: &mut Vec<u8>) -> Result<()> {
            encode_udf(node, buf)
        }

        fn try_decode_udaf(&self, name: &str, buf: &[u8]) -> Result<Arc<AggregateUDF>> {
            match decode_udaf(name, buf)? {
                Some(f) => Ok(f),
                None => self.inner.try_decode_udaf(name, buf),
            }
        }

        fn try_encode_udaf(&self, node: &AggregateUDF, buf: &mut Vec<u8>) -> Result<()> {
            encode_udaf(node, buf)
        }
    };
}

/// The logical codec: shuyu's functions and datasets, then Ballista's.
#[derive(Debug, Default)]
pub struct ShuyuLogicalCodec {
    inner: BallistaLogicalExtensionCodec,
}

impl LogicalExtensionCodec for ShuyuLogicalCodec {
    fn try_decode(&self, buf: &[u8], inputs: &[LogicalPlan], ctx: &TaskContext) -> Result<Extension> {
        self.inner.try_decode(buf, inputs, ctx)
    }

    fn try_encode(&self, node: &Extension, buf: &mut Vec<u8>) -> Result<()> {
        self.inner.try_encode(node, buf)
    }

    fn try_decode_table_provider(&self, buf: &[u8], table_ref: &TableReference, schema: SchemaRef, ctx: &TaskContext) -> Result<Arc<dyn TableProvider>> {
        if buf.first() == Some(&b'{') {
            return Ok(Arc::new(decode_dataset(buf, schema)?));
        }
        self.inner.try_decode_table_provider(buf, table_ref, schema, ctx)
    }

    fn try_encode_table_provider(&self, table_ref: &TableReference, node: Arc<dyn TableProvider>, buf: &mut Vec<u8>) -> Result<()> {
        if let Some(t) = node.downcast_ref::<DatasetTable>() {
            return encode_dataset(t, buf);
        }
        self.inner.try_encode_table_provider(table_ref, node, buf)
    }

    fn try_decode_file_format(&self, buf: &[u8], ctx: &TaskContext) -> Result<Arc<dyn FileFormatFactory>> {
        self.inner.try_decode_file_format(buf, ctx)
    }

    fn try_encode_file_format(&self, buf: &mut Vec<u8>, node: Arc<dyn FileFormatFactory>) -> Result<()> {
        self.inner.try_encode_file_format(buf, node)
    }

    shuyu_functions!();
}

/// The physical codec: shuyu's functions, then Ballista's (shuffle reader and writer...).
#[derive(Debug, Default)]
pub struct ShuyuPhysicalCodec {
    inner: BallistaPhysicalExtensionCodec,
}

impl PhysicalExtensionCodec for ShuyuPhysicalCodec {
    fn try_decode(&self, buf: &[u8], inputs: &[Arc<dyn ExecutionPlan>], ctx: &TaskContext, converter: &dyn PhysicalProtoConverterExtension) -> Result<Arc<dyn ExecutionPlan>> {
        self.inner.try_decode(buf, inputs, ctx, converter)
    }

    fn try_encode(&self, node: Arc<dyn ExecutionPlan>, buf: &mut Vec<u8>, converter: &dyn PhysicalProtoConverterExtension) -> Result<()> {
        self.inner.try_encode(node, buf, converter)
    }

    shuyu_functions!();
}

/// shuyu's codec pair, as every party installs it.
#[derive(Debug, Clone)]
pub struct ShuyuCodec {
    /// The logical codec (front end → scheduler).
    pub logical: Arc<dyn LogicalExtensionCodec>,
    /// The physical codec (scheduler → executors, executors → executors).
    pub physical: Arc<dyn PhysicalExtensionCodec>,
}

impl Default for ShuyuCodec {
    fn default() -> Self {
        ShuyuCodec { logical: Arc::new(ShuyuLogicalCodec::default()), physical: Arc::new(ShuyuPhysicalCodec::default()) }
    }
}

impl ShuyuCodec {
    /// The pair as Ballista's codec type.
    pub fn ballista(&self) -> ballista_core::serde::BallistaCodec {
        ballista_core::serde::BallistaCodec::new(self.logical.clone(), self.physical.clone())
    }
}

#[cfg(test)]
#[path = "codec_tests.rs"]
mod tests;
