//! The adversarial fixture of the total-evaluation property test: a personal table `t` whose
//! columns hold the values most likely to make an expression fail (zeros, NULLs, integer and
//! float extremes, NaN and infinities, empty and 100 KB strings, strings that look like
//! numbers, dates and regular expressions, calendar extremes), with bounds declared in its
//! manifest, and a public lookup table `p` to join with. Both are written to Parquet in a
//! temporary directory and opened as one scope.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, Date32Array, Float64Array, Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;
use shuyu_datasets::TableManifest;
use shuyu_planner::{GrantedTable, Scope};

/// Length of the long strings (bytes).
pub const LONG: usize = 100_000;

/// Rows of `t`; every value list below is cycled through with its own stride, so each value
/// appears at least once and values of different columns meet in many combinations.
pub const ROWS: usize = 96;

const T_MANIFEST: &str = r#"
name = "t"
domain = "test"
classification = "sensitive"

[privacy_unit]
column = "pid"
kind = "person"
rows_per_unit = "many"
max_groups = 2
max_rows = 2

[[columns]]
name = "pid"
type = "int64"
sensitivity = "unit_key"

[[columns]]
name = "i"
type = "int64"
sensitivity = "personal"
lower = -100.0
upper = 100.0

[[columns]]
name = "f"
type = "float64"
sensitivity = "personal"
lower = -1000.0
upper = 1000.0

[[columns]]
name = "s"
type = "utf8"
sensitivity = "personal"

[[columns]]
name = "b"
type = "boolean"
sensitivity = "personal"

[[columns]]
name = "d"
type = "date32"
sensitivity = "personal"

[[columns]]
name = "k"
type = "utf8"
sensitivity = "public"
public_domain = ["a", "b", "c"]
"#;

const P_MANIFEST: &str = r#"
name = "p"
domain = "test"
classification = "open"
unique_keys = ["k"]

[[columns]]
name = "k"
type = "utf8"
sensitivity = "public"
public_domain = ["a", "b", "c"]

[[columns]]
name = "w"
type = "int64"
sensitivity = "public"

[[columns]]
name = "label"
type = "utf8"
sensitivity = "public"
"#;

fn ints() -> Vec<Option<i64>> {
    vec![Some(0), Some(-1), Some(1), Some(i64::MIN), Some(i64::MAX), None, Some(7), Some(42), Some(100_000), Some(-100_000)]
}

fn floats() -> Vec<Option<f64>> {
    vec![
        Some(0.0),
        Some(-0.0),
        Some(f64::NAN),
        Some(f64::INFINITY),
        Some(f64::NEG_INFINITY),
        Some(f64::MAX),
        Some(f64::MIN),
        Some(f64::MIN_POSITIVE),
        Some(5e-324),
        Some(1.5),
        Some(-7.25),
        None,
    ]
}

fn strings() -> Vec<Option<String>> {
    let long_a = "a".repeat(LONG);
    let long_regex = format!("({}", "x".repeat(LONG - 1));
    [
        "", " ", "[", "(a+)+$", "%_\\", "長春市朝阳区", "😀\u{301}", "123", "-9223372036854775808", "1e400", "NaN", "true",
        "2024-02-30", "2024-01-01", "1970-01-01T00:00:00Z", "+275760-09-13", "a,b,,c", "%Y-%m-%d %Q", "\u{0}",
    ]
    .iter()
    .map(|s| Some(s.to_string()))
    .chain([Some(long_a), Some(long_regex), None])
    .collect()
}

fn dates() -> Vec<Option<i32>> {
    // Epoch, 0001-01-01, 9999-12-31, the Date32 extremes, 2024-01-01, NULL.
    vec![Some(0), Some(-719_162), Some(2_932_896), Some(i32::MAX), Some(i32::MIN), Some(19_723), None]
}

fn cycle<T: Clone>(values: &[T], stride: usize, offset: usize) -> Vec<T> {
    (0..ROWS).map(|r| values[(r * stride + offset) % values.len()].clone()).collect()
}

fn write(path: &Path, batch: &RecordBatch) {
    let file = std::fs::File::create(path).expect("create parquet file");
    let mut w = ArrowWriter::try_new(file, batch.schema(), None).expect("parquet writer");
    w.write(batch).expect("write batch");
    w.close().expect("close parquet file");
}

fn personal_batch() -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("pid", DataType::Int64, false),
        Field::new("i", DataType::Int64, true),
        Field::new("f", DataType::Float64, true),
        Field::new("s", DataType::Utf8, true),
        Field::new("b", DataType::Boolean, true),
        Field::new("d", DataType::Date32, true),
        Field::new("k", DataType::Utf8, true),
    ]));
    // Two rows per unit, clustered by unit (as the bounding pass prefers).
    let pid: Vec<i64> = (0..ROWS as i64).map(|r| r / 2).collect();
    let keys = [Some("a"), Some("b"), Some("c"), None, Some("zz")];
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(pid)),
        Arc::new(Int64Array::from(cycle(&ints(), 1, 0))),
        Arc::new(Float64Array::from(cycle(&floats(), 5, 1))),
        Arc::new(StringArray::from(cycle(&strings(), 1, 0))),
        Arc::new(BooleanArray::from(cycle(&[Some(true), Some(false), None], 1, 0))),
        Arc::new(Date32Array::from(cycle(&dates(), 3, 2))),
        Arc::new(StringArray::from(cycle(&keys, 2, 0))),
    ];
    RecordBatch::try_new(schema, columns).expect("personal batch")
}

fn public_batch() -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Utf8, false),
        Field::new("w", DataType::Int64, true),
        Field::new("label", DataType::Utf8, true),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(vec!["a", "b", "c"])),
        Arc::new(Int64Array::from(vec![Some(0), Some(i64::MAX), None])),
        Arc::new(StringArray::from(vec![Some(""), Some("["), Some("a".repeat(1000).as_str())])),
    ];
    RecordBatch::try_new(schema, columns).expect("public batch")
}

/// Writes both tables under `dir` and opens a scope granting every column of both.
pub async fn scope(dir: &Path) -> Scope {
    write(&dir.join("t.parquet"), &personal_batch());
    write(&dir.join("p.parquet"), &public_batch());
    let t = TableManifest::from_toml(T_MANIFEST).expect("t manifest");
    let p = TableManifest::from_toml(P_MANIFEST).expect("p manifest");
    Scope::open(&[GrantedTable::new(t, None, dir.join("t.parquet")), GrantedTable::new(p, None, dir.join("p.parquet"))])
        .await
        .expect("adversarial scope opens")
}
