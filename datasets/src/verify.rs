//! Verifying a manifest's declarations against its Parquet data ([`verify_parquet`]).
//!
//! The file (or every `*.parquet` file of a folder, in name order) is streamed in batches,
//! reading only the checked columns; each column keeps a hash set of 64-bit images of its
//! values (integers exactly, strings by hash), so 10 million rows take about 160 MB per
//! checked column. A repeat found by image is confirmed by a second streaming pass that
//! counts the repeated value exactly (a string hash collision then falls back to an exact
//! check of that column). Nothing is read when the manifest declares nothing to check.

use std::fs::File;
use std::path::{Path, PathBuf};

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::{DataType, Date32Type, Float64Type, Int32Type, Int64Type};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;

use crate::declarations::{self, exact_fault, DeclarationsVerified, Fault, Key, OwnedKey, Tracker};
use crate::manifest::TableManifest;
use crate::DatasetsError;

/// Rows per batch read.
const BATCH_ROWS: usize = 64 * 1024;

fn read_err(table: &str, e: impl std::fmt::Display) -> DatasetsError {
    DatasetsError::Read(format!("table {table}: {e}"))
}

/// Checks `manifest`'s declarations (`rows_per_unit = "one"`, `unique_keys`) against the
/// Parquet data at `location` (a file, or a folder of `*.parquet` files); the witness that
/// governance's registration requires. A false declaration is
/// [`DatasetsError::Declaration`], naming the column and a count, never a value.
pub fn verify_parquet(manifest: &TableManifest, location: &Path) -> Result<DeclarationsVerified, DatasetsError> {
    let checks = declarations::checks(manifest);
    if checks.is_empty() {
        return Ok(DeclarationsVerified::checked(manifest, 0, None));
    }
    let files = parquet_files(location)?;
    let columns: Vec<String> = checks.iter().map(|c| c.column.clone()).collect();
    let mut trackers: Vec<Tracker> = checks.iter().map(|_| Tracker::default()).collect();
    let mut rows = 0u64;
    scan(manifest, &files, &columns, |i, array| {
        if i == 0 {
            rows += array.len() as u64;
        }
        for_each_key(array, |k| trackers[i].push(k))
    })?;
    for (i, check) in checks.iter().enumerate() {
        let t = &trackers[i];
        let counted = match t.first_repeat() {
            Some(dup) => count_of(manifest, &files, &check.column, dup)?,
            None => 0,
        };
        let fault = match t.fault(|_| counted) {
            Some(f) => Some(f),
            None if t.first_repeat().is_some() && t.hashed() => exact_strings(manifest, &files, &check.column)?,
            None => None,
        };
        if let Some(fault) = fault {
            return Err(check.refusal(fault));
        }
    }
    Ok(DeclarationsVerified::checked(manifest, rows, Some(location.display().to_string())))
}

/// The Parquet files at `location`, in name order.
fn parquet_files(location: &Path) -> Result<Vec<PathBuf>, DatasetsError> {
    let io = |e| DatasetsError::Io { path: location.display().to_string(), source: e };
    if !location.is_dir() {
        File::open(location).map_err(io)?;
        return Ok(vec![location.to_path_buf()]);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(location)
        .map_err(io)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(DatasetsError::Read(format!("{} holds no .parquet file to verify the declarations against", location.display())));
    }
    Ok(files)
}

/// Streams `columns` of every file, calling `f(column index, array)` per batch.
fn scan(
    manifest: &TableManifest,
    files: &[PathBuf],
    columns: &[String],
    mut f: impl FnMut(usize, &ArrayRef) -> Result<(), DatasetsError>,
) -> Result<(), DatasetsError> {
    let table = &manifest.name;
    for path in files {
        let file = File::open(path).map_err(|e| DatasetsError::Io { path: path.display().to_string(), source: e })?;
        let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| read_err(table, e))?;
        let schema = builder.schema().clone();
        let mut roots = Vec::new();
        for c in columns {
            let i = schema.index_of(c).map_err(|_| {
                DatasetsError::Declaration(format!("column {c} of table {table} is declared unique but is not in the data; fix the manifest or the data"))
            })?;
            roots.push(i);
        }
        let mask = ProjectionMask::roots(builder.parquet_schema(), roots.iter().copied());
        let reader = builder.with_projection(mask).with_batch_size(BATCH_ROWS).build().map_err(|e| read_err(table, e))?;
        for batch in reader {
            let batch = batch.map_err(|e| read_err(table, e))?;
            for (i, c) in columns.iter().enumerate() {
                let array = batch.column_by_name(c).ok_or_else(|| read_err(table, format!("column {c} missing from a batch")))?;
                f(i, array)?;
            }
        }
    }
    Ok(())
}

/// Calls `f` with each row's key (`None` for NULL).
fn for_each_key(array: &ArrayRef, mut f: impl FnMut(Option<Key<'_>>)) -> Result<(), DatasetsError> {
    match array.data_type() {
        DataType::Int64 => array.as_primitive::<Int64Type>().iter().for_each(|v| f(v.map(Key::Int))),
        DataType::Int32 => array.as_primitive::<Int32Type>().iter().for_each(|v| f(v.map(|v| Key::Int(i64::from(v))))),
        DataType::Date32 => array.as_primitive::<Date32Type>().iter().for_each(|v| f(v.map(|v| Key::Int(i64::from(v))))),
        DataType::Boolean => array.as_boolean().iter().for_each(|v| f(v.map(|v| Key::Int(i64::from(v))))),
        DataType::Float64 => array.as_primitive::<Float64Type>().iter().for_each(|v| f(v.map(Key::Float))),
        DataType::Utf8 => array.as_string::<i32>().iter().for_each(|v| f(v.map(Key::Text))),
        DataType::LargeUtf8 => array.as_string::<i64>().iter().for_each(|v| f(v.map(Key::Text))),
        DataType::Utf8View => array.as_string_view().iter().for_each(|v| f(v.map(Key::Text))),
        other => {
            return Err(DatasetsError::Declaration(format!(
                "a column declared unique is stored as {other}, whose uniqueness shuyu cannot check; declare an int64, date32, boolean, float64 or utf8 key"
            )))
        }
    }
    Ok(())
}

/// How many rows of `column` equal `key` (second pass).
fn count_of(manifest: &TableManifest, files: &[PathBuf], column: &str, key: &OwnedKey) -> Result<usize, DatasetsError> {
    let mut n = 0usize;
    scan(manifest, files, &[column.to_string()], |_, array| {
        for_each_key(array, |k| n += usize::from(k.is_some_and(|k| k.equals(key))))
    })?;
    Ok(n)
}

/// Exact check of a string column (after a hash collision): keeps every value.
fn exact_strings(manifest: &TableManifest, files: &[PathBuf], column: &str) -> Result<Option<Fault>, DatasetsError> {
    let mut values: Vec<String> = Vec::new();
    scan(manifest, files, &[column.to_string()], |_, array| {
        for_each_key(array, |k| {
            if let Some(Key::Text(s)) = k {
                values.push(s.to_string());
            }
        })
    })?;
    Ok(exact_fault(values.iter().map(String::as_str)))
}
