//! Masked samples of a generated city: what they keep, what they never contain, and that a
//! refused build leaves the previous samples in place.

use std::collections::HashSet;
use std::fs::File;
use std::path::Path;

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::Int64Type;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use shuyu_datasets::generate::{generate, GenerateOptions};
use shuyu_datasets::masking::{MaskingKey, REDACTED};
use shuyu_datasets::sample::{build_samples, load_samples_report, sample_manifest, source_tables, SampleOptions};
use shuyu_datasets::{DatasetsError, MaskingRule};

const RESIDENTS: u64 = 2_000;

fn read(path: &Path) -> Vec<RecordBatch> {
    let file = File::open(path).expect("open parquet");
    ParquetRecordBatchReaderBuilder::try_new(file).expect("reader").build().expect("build").map(|b| b.expect("batch")).collect()
}

fn strings(batches: &[RecordBatch], column: &str) -> Vec<Option<String>> {
    batches.iter().flat_map(|b| b.column_by_name(column).expect("column").as_string::<i32>().iter().map(|v| v.map(str::to_string)).collect::<Vec<_>>()).collect()
}

fn ints(batches: &[RecordBatch], column: &str) -> Vec<Option<i64>> {
    batches.iter().flat_map(|b| b.column_by_name(column).expect("column").as_primitive::<Int64Type>().iter().collect::<Vec<_>>()).collect()
}

fn city(dir: &Path) -> std::path::PathBuf {
    let out = dir.join("datasets");
    generate(&GenerateOptions::new(RESIDENTS, &out, 5)).expect("generate");
    out
}

#[test]
fn samples_hold_masked_rows_of_sampled_units_and_no_identifier() {
    let tmp = tempfile::tempdir().expect("tmp");
    let raw = city(tmp.path());
    let out = tmp.path().join("dev");
    let key = MaskingKey::from_bytes([3; 32]);
    let opts = SampleOptions { fraction: 0.2, max_rows: 100_000, seed: 9 };
    let report = build_samples(&source_tables(&raw).expect("tables"), &out, &opts, &key).expect("samples");
    assert_eq!(load_samples_report(&out).expect("report"), Some(report.clone()));

    let residents = read(&out.join("residents.parquet"));
    let rows: usize = residents.iter().map(RecordBatch::num_rows).sum();
    assert_eq!(report.table("residents").expect("residents").rows, rows as u64);
    // Binomial(2000, 0.2): mean 400, sd 17.9; 300..500 is beyond 5 sd either side.
    assert!((300..500).contains(&rows), "{rows} residents sampled");

    let raw_residents = read(&raw.join("residents.parquet"));
    let raw_names: HashSet<String> = strings(&raw_residents, "name").into_iter().flatten().collect();
    let raw_ids: HashSet<String> = strings(&raw_residents, "id_number").into_iter().flatten().collect();
    let raw_persons: HashSet<i64> = ints(&raw_residents, "person_id").into_iter().flatten().collect();
    for column in ["name", "id_number"] {
        let values = strings(&residents, column);
        assert!(values.iter().all(|v| v.as_deref() == Some(REDACTED)), "{column} is redacted");
        assert!(values.iter().flatten().all(|v| !raw_names.contains(v) && !raw_ids.contains(v)));
    }
    let persons: Vec<i64> = ints(&residents, "person_id").into_iter().flatten().collect();
    assert_eq!(persons.len(), rows);
    assert!(persons.iter().all(|p| !raw_persons.contains(p)), "unit keys are hashed");
    assert!(ints(&residents, "age").into_iter().flatten().all(|a| a % 5 == 0), "ages in five-year bands");

    // Sampled by unit: every sampled visit's person is a sampled resident (same fraction).
    let visits = read(&out.join("medical_visits.parquet"));
    let sampled: HashSet<i64> = persons.into_iter().collect();
    let visit_persons: Vec<i64> = ints(&visits, "person_id").into_iter().flatten().collect();
    assert!(!visit_persons.is_empty());
    assert!(visit_persons.iter().all(|p| sampled.contains(p)), "joins on the unit key still match");

    // Public lookups are kept whole; manifests travel with the samples.
    assert_eq!(report.table("districts").expect("districts").rows, 12);
    let m = sample_manifest(&out, "residents").expect("manifest").expect("present");
    assert_eq!(m.column("name").and_then(|c| c.masking), Some(MaskingRule::Redact));
    assert!(sample_manifest(&out, "nope").expect("read").is_none());
}

#[test]
fn the_row_cap_holds_and_the_same_seed_and_key_give_the_same_sample() {
    let tmp = tempfile::tempdir().expect("tmp");
    let raw = city(tmp.path());
    let tables = source_tables(&raw).expect("tables");
    let key = MaskingKey::from_bytes([4; 32]);
    let opts = SampleOptions { fraction: 1.0, max_rows: 50, seed: 2 };
    let a = build_samples(&tables, &tmp.path().join("a"), &opts, &key).expect("a");
    let b = build_samples(&tables, &tmp.path().join("b"), &opts, &key).expect("b");
    assert!(a.tables.iter().all(|t| t.rows <= 50), "{a:?}");
    assert_eq!(a, b);
    let pa = ints(&read(&tmp.path().join("a/residents.parquet")), "person_id");
    let pb = ints(&read(&tmp.path().join("b/residents.parquet")), "person_id");
    assert_eq!(pa, pb);
}

#[test]
fn an_unfit_rule_refuses_the_build_and_keeps_the_previous_samples() {
    let tmp = tempfile::tempdir().expect("tmp");
    let raw = city(tmp.path());
    let out = tmp.path().join("dev");
    let key = MaskingKey::from_bytes([5; 32]);
    let mut tables = source_tables(&raw).expect("tables");
    let before = build_samples(&tables, &out, &SampleOptions::default(), &key).expect("first build");

    let residents = tables.iter_mut().find(|t| t.manifest.name == "residents").expect("residents");
    residents.manifest.columns.iter_mut().find(|c| c.name == "id_number").expect("id_number").masking = Some(MaskingRule::Keep);
    let e = build_samples(&tables, &out, &SampleOptions { seed: 77, ..SampleOptions::default() }, &key).expect_err("refused");
    assert!(matches!(&e, DatasetsError::Masking(m) if m.contains("id_number")), "{e}");
    assert_eq!(load_samples_report(&out).expect("report"), Some(before), "previous samples untouched");
    let leftovers: Vec<_> = std::fs::read_dir(tmp.path()).expect("list").flatten().filter(|e| e.file_name().to_string_lossy().starts_with('.')).collect();
    assert!(leftovers.is_empty(), "no staging folder left behind");

    let residents = tables.iter_mut().find(|t| t.manifest.name == "residents").expect("residents");
    residents.manifest.columns.iter_mut().find(|c| c.name == "id_number").expect("id_number").masking = None;
    assert!(build_samples(&tables, &out, &SampleOptions::default(), &key).is_err(), "a missing rule on an identifier is refused");
}
