//! Declarations verified against Parquet files: false ones refused with a count and never a
//! value, true ones (the generated demo tables among them) accepted.

#![allow(missing_docs)]

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;
use shuyu_datasets::{demo_manifest, demo_manifests, generate, verify_parquet, DatasetsError, GenerateOptions, TableManifest};

/// Writes `columns` as a Parquet file, in batches of `batch` rows and small row groups, so
/// that a repeat can sit across batches and row groups.
fn write(path: &Path, columns: Vec<(&str, ArrayRef)>, batch: usize) {
    let schema = Arc::new(Schema::new(columns.iter().map(|(n, a)| Field::new(*n, a.data_type().clone(), true)).collect::<Vec<_>>()));
    let all = RecordBatch::try_new(schema.clone(), columns.into_iter().map(|(_, a)| a).collect()).expect("batch");
    let props = WriterProperties::builder().set_max_row_group_row_count(Some(3)).build();
    let mut w = ArrowWriter::try_new(File::create(path).expect("create"), schema, Some(props)).expect("writer");
    let mut at = 0;
    while at < all.num_rows() {
        let n = batch.min(all.num_rows() - at);
        w.write(&all.slice(at, n)).expect("write");
        at += n;
    }
    w.close().expect("close");
}

fn strings(v: &[Option<&str>]) -> ArrayRef {
    Arc::new(StringArray::from(v.to_vec()))
}

fn residents() -> TableManifest {
    demo_manifest("residents").expect("residents")
}

fn districts() -> TableManifest {
    demo_manifest("districts").expect("districts")
}

fn refusal(r: Result<shuyu_datasets::DeclarationsVerified, DatasetsError>) -> String {
    match r {
        Err(DatasetsError::Declaration(m)) => m,
        other => panic!("expected a declaration refusal, got {other:?}"),
    }
}

#[test]
fn a_duplicated_unit_is_refused_with_its_count_and_without_its_value() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("residents.parquet");
    let ids = [Some("220102000001"), Some("220102000777"), Some("220102000003"), Some("220102000004"), Some("220102000777"), Some("220102000006"), Some("220102000777")];
    write(&path, vec![("person_id", strings(&ids))], 2);
    let m = refusal(verify_parquet(&residents(), &path));
    assert_eq!(
        m,
        "person_id is declared one row per unit (rows_per_unit = \"one\"), but one of its values occurs 3 times; \
         fix the manifest (rows_per_unit = \"many\") or the data"
    );
    assert!(!m.contains("777"), "no value in the message: {m}");
}

#[test]
fn a_null_unit_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("residents.parquet");
    write(&path, vec![("person_id", strings(&[Some("a"), None, Some("b")]))], 8);
    let m = refusal(verify_parquet(&residents(), &path));
    assert!(m.starts_with("person_id is declared one row per unit") && m.contains("one of its rows is NULL"), "{m}");
}

#[test]
fn a_false_unique_key_is_refused_and_integer_keys_are_exact() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("districts.parquet");
    write(&path, vec![("district", strings(&[Some("南关区"), Some("朝阳区"), Some("南关区")]))], 1);
    let m = refusal(verify_parquet(&districts(), &path));
    assert_eq!(
        m,
        "district is declared a unique key (unique_keys), but one of its values occurs 2 times; \
         fix the manifest (remove it from unique_keys) or the data"
    );
    assert!(!m.contains("南关"), "{m}");

    // An int64 key: i64 images are exact, so only a real repeat is refused.
    let mut m = districts();
    m.unique_keys = vec!["code".into()];
    m.columns.push(shuyu_datasets::ColumnManifest {
        name: "code".into(),
        data_type: shuyu_datasets::ColumnType::Int64,
        sensitivity: shuyu_datasets::Sensitivity::Public,
        lower: None,
        upper: None,
        public_domain: None,
        masking: None,
        description: String::new(),
    });
    let ints = dir.path().join("codes.parquet");
    write(&ints, vec![("code", Arc::new(Int64Array::from(vec![1, -1, i64::MAX, i64::MIN, 0])) as ArrayRef)], 2);
    let ok = verify_parquet(&m, &ints).expect("distinct integers");
    assert_eq!((ok.rows(), ok.columns_checked()), (5, vec!["code".to_string()]));
    write(&ints, vec![("code", Arc::new(Int64Array::from(vec![5, 6, 5, 5, 5])) as ArrayRef)], 2);
    assert!(refusal(verify_parquet(&m, &ints)).contains("occurs 4 times"));
}

#[test]
fn a_declared_column_missing_from_the_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("residents.parquet");
    write(&path, vec![("other", strings(&[Some("a")]))], 1);
    let m = refusal(verify_parquet(&residents(), &path));
    assert!(m.contains("person_id") && m.contains("not in the data"), "{m}");
    assert!(matches!(verify_parquet(&residents(), &dir.path().join("absent.parquet")), Err(DatasetsError::Io { .. })));
}

#[test]
fn the_generated_demo_tables_declare_the_truth() {
    let dir = tempfile::tempdir().unwrap();
    generate(&GenerateOptions::new(3_000, dir.path(), 7)).expect("generate");
    for m in demo_manifests() {
        let path = dir.path().join(format!("{}.parquet", m.name));
        let v = verify_parquet(&m, &path).unwrap_or_else(|e| panic!("{}: {e}", m.name));
        assert!(v.covers(&m));
        // medical_visits declares many rows per unit and no unique key: nothing is read.
        let checked = !v.columns_checked().is_empty();
        assert_eq!(checked, m.name != "medical_visits", "{}", m.name);
        assert_eq!(v.rows() > 0, checked, "{}", m.name);
    }
    // A folder of files is read whole: the same residents twice repeat every unit.
    let twice = tempfile::tempdir().unwrap();
    for name in ["a.parquet", "b.parquet"] {
        std::fs::copy(dir.path().join("residents.parquet"), twice.path().join(name)).unwrap();
    }
    assert!(refusal(verify_parquet(&residents(), twice.path())).contains("occurs 2 times"));
}

#[test]
fn a_field_type_that_cannot_be_checked_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("residents.parquet");
    let list = arrow::array::ListArray::from_iter_primitive::<arrow::datatypes::Int32Type, _, _>(vec![Some(vec![Some(1)])]);
    write(&path, vec![("person_id", Arc::new(list) as ArrayRef)], 1);
    assert!(refusal(verify_parquet(&residents(), &path)).contains("cannot check"));
}
