//! One round trip per function shuyu ships, through both codecs, and of a personal dataset.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema};
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{AggregateUDF, ScalarUDF};
use datafusion_proto::logical_plan::LogicalExtensionCodec;
use datafusion_proto::physical_plan::PhysicalExtensionCodec;
use shuyu_planner::bounding::{BoundParams, BoundingOrder, PartialInput};
use shuyu_planner::on_grid::OnGrid;
use shuyu_planner::statistics::SizeOnlyParquet;
use shuyu_planner::total::kernels::Kernel;

use super::{ShuyuLogicalCodec, ShuyuPhysicalCodec};
use crate::table::DatasetTable;

fn params() -> BoundParams {
    BoundParams {
        key_count: 2,
        names: vec!["__p0".into(), "__p1".into()],
        partials: vec![(PartialInput::Rows, 0, 8), (PartialInput::Value, -300, 900)],
        units_column: Some("__units".into()),
        max_groups: Some(4),
        order: BoundingOrder::Random,
        seed: [42; 32],
    }
}

fn udaf_round_trip(f: &AggregateUDF) -> (Arc<AggregateUDF>, Arc<AggregateUDF>) {
    let (l, p) = (ShuyuLogicalCodec::default(), ShuyuPhysicalCodec::default());
    let mut a = Vec::new();
    l.try_encode_udaf(f, &mut a).unwrap();
    let mut b = Vec::new();
    p.try_encode_udaf(f, &mut b).unwrap();
    assert!(!a.is_empty() && a == b, "both codecs write the parameters alike");
    (l.try_decode_udaf(f.name(), &a).unwrap(), p.try_decode_udaf(f.name(), &b).unwrap())
}

fn udf_round_trip(f: &ScalarUDF) -> (Arc<ScalarUDF>, Arc<ScalarUDF>) {
    let (l, p) = (ShuyuLogicalCodec::default(), ShuyuPhysicalCodec::default());
    let mut a = Vec::new();
    l.try_encode_udf(f, &mut a).unwrap();
    let mut b = Vec::new();
    p.try_encode_udf(f, &mut b).unwrap();
    assert!(!a.is_empty() && a == b, "{}: both codecs write it alike", f.name());
    (l.try_decode_udf(f.name(), &a).unwrap(), p.try_decode_udf(f.name(), &b).unwrap())
}

#[test]
fn the_bounding_aggregate_keeps_every_parameter_and_its_seed() {
    let f = params().udaf();
    let (a, b) = udaf_round_trip(&f);
    for g in [a, b] {
        assert_eq!(BoundParams::of(&g), Some(&params()));
        assert_eq!(*g, f, "the rebuilt function is equal to the original (plans compare equal)");
    }
    let mut other = params();
    other.seed[0] = 1;
    assert_ne!(other.udaf(), f, "the seed is part of the function");
}

#[test]
fn the_on_grid_function_keeps_its_grid() {
    let f = OnGrid::new(-5.0, 50_000.5, 12.25, 100.0, true).udf();
    let (a, b) = udf_round_trip(&f);
    for g in [a, b] {
        assert_eq!(*g, f);
        let p = OnGrid::of(&g).expect("an on-grid function");
        assert_eq!(format!("{p:?}"), format!("{:?}", OnGrid::of(&f).unwrap()));
    }
}

#[test]
fn every_total_kernel_comes_back_as_itself() {
    for k in Kernel::ALL {
        let f = k.udf();
        let (a, b) = udf_round_trip(&f);
        assert_eq!(*a, f, "{}", k.name());
        assert_eq!(*b, f, "{}", k.name());
        // Found by name too (what a plan from a codec that wrote nothing asks for).
        assert_eq!(*ShuyuLogicalCodec::default().try_decode_udf(k.name(), &[]).unwrap(), f);
    }
}

#[test]
fn other_functions_are_left_to_datafusion() {
    let abs = datafusion::functions::math::abs();
    let mut buf = Vec::new();
    ShuyuLogicalCodec::default().try_encode_udf(&abs, &mut buf).unwrap();
    assert!(buf.is_empty(), "a stock function is found by name on the other side");
    let mut buf = Vec::new();
    ShuyuPhysicalCodec::default().try_encode_udaf(&datafusion::functions_aggregate::sum::sum_udaf(), &mut buf).unwrap();
    assert!(buf.is_empty());
}

#[test]
fn a_personal_dataset_comes_back_reading_through_size_only_parquet() {
    let dir = tempfile::tempdir().unwrap();
    let url = ListingTableUrl::parse(format!("{}/", dir.path().display())).unwrap();
    let schema = Arc::new(Schema::new(vec![Field::new("person_id", DataType::Int64, false), Field::new("income", DataType::Float64, true)]));
    let mut parquet = ParquetFormat::default();
    let mut opts = parquet.options().clone();
    opts.global.pruning = false;
    opts.global.pushdown_filters = false;
    parquet = parquet.with_options(opts);
    let options = ListingOptions::new(Arc::new(SizeOnlyParquet::new(parquet))).with_file_extension(".parquet");
    let table = ListingTable::try_new(ListingTableConfig::new(url).with_listing_options(options).with_schema(schema.clone())).unwrap();
    let shipped = DatasetTable::wrap(Arc::new(table)).expect("a personal dataset");
    let codec = ShuyuLogicalCodec::default();
    let mut buf = Vec::new();
    codec.try_encode_table_provider(&"residents".into(), Arc::new(shipped.clone()), &mut buf).unwrap();
    let back = codec.try_decode_table_provider(&buf, &"residents".into(), schema.clone(), &TaskContext::default()).unwrap();
    let back = back.downcast_ref::<DatasetTable>().expect("rebuilt as a dataset");
    assert_eq!(back.paths(), shipped.paths());
    assert_eq!(back.extension(), ".parquet");
    assert_eq!(datafusion::catalog::TableProvider::schema(back.inner().as_ref()), schema);
    assert!(!back.parquet().options().global.pruning && !back.parquet().options().global.pushdown_filters, "the scope's Parquet options travel");
}
