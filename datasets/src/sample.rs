//! Masked samples: the data of the dev environment.
//!
//! [`build_samples`] reads each source table (Parquet and its manifest), keeps a seeded
//! sample of its rows, masks every column by its manifest's rule ([`crate::masking`]) and
//! writes the result, with the manifests and a `samples.json` report, into one folder. The
//! folder is replaced whole or not at all: everything is written into a temporary sibling
//! first, then renamed into place. Before any data is read, every column's rule is checked;
//! one unfit rule refuses the whole build, and the previous samples stay.
//!
//! **Which rows.** Personal tables are sampled by privacy unit: a unit is kept when a keyed
//! hash of (seed, unit kind, unit key) falls below the table's fraction, so a resident kept
//! in `residents` keeps their rows in `medical_visits` and joins still match inside the
//! samples. Tables without a privacy unit (public lookups) are kept whole up to the row cap.
//! A table's fraction is `min(fraction, max_rows / rows)`; the row cap is then enforced
//! exactly. Nobody without the deployment's key can tell from a unit key whether it was
//! sampled.

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray};
use arrow::compute::{concat_batches, filter_record_batch};
use arrow::datatypes::{DataType, Int64Type, SchemaRef};
use arrow::record_batch::RecordBatch;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use serde::{Deserialize, Serialize};

use crate::manifest::TableManifest;
use crate::masking::{checked_rule, mask, MaskingKey};
use crate::DatasetsError;

/// The report file of a samples folder, written last.
pub const SAMPLES_FILE: &str = "samples.json";
/// Format version of samples folders.
pub const SAMPLES_FORMAT: u32 = 1;

/// How much to sample.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SampleOptions {
    /// Share of units (or rows) to keep, in (0, 1].
    pub fraction: f64,
    /// Most rows of one table's sample.
    pub max_rows: u64,
    /// Seed of the selection and of shuffles.
    pub seed: u64,
}

impl Default for SampleOptions {
    fn default() -> Self {
        SampleOptions { fraction: 0.1, max_rows: 10_000, seed: 1 }
    }
}

/// A table to sample: its manifest (the catalog's) and its Parquet file.
#[derive(Debug, Clone)]
pub struct SourceTable {
    /// The manifest whose masking rules apply.
    pub manifest: TableManifest,
    /// The raw Parquet file.
    pub location: PathBuf,
}

/// One sampled table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampledTable {
    /// Table name.
    pub name: String,
    /// Rows of the source.
    pub source_rows: u64,
    /// Rows of the sample.
    pub rows: u64,
    /// The fraction applied to this table.
    pub fraction: f64,
}

/// Contents of `samples.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleReport {
    /// [`SAMPLES_FORMAT`].
    pub format: u32,
    /// The options used.
    pub options: SampleOptions,
    /// The tables, in build order.
    pub tables: Vec<SampledTable>,
}

impl SampleReport {
    /// A table of the report.
    pub fn table(&self, name: &str) -> Option<&SampledTable> {
        self.tables.iter().find(|t| t.name == name)
    }
}

fn io_err(path: &Path, e: std::io::Error) -> DatasetsError {
    DatasetsError::Io { path: path.display().to_string(), source: e }
}

fn read_err(table: &str, e: impl std::fmt::Display) -> DatasetsError {
    DatasetsError::Read(format!("table {table}: {e}"))
}

fn write_err(e: impl std::fmt::Display) -> DatasetsError {
    DatasetsError::Write(e.to_string())
}

/// The tables of a datasets folder: every `<name>.toml` manifest with its `<name>.parquet`.
pub fn source_tables(dir: &Path) -> Result<Vec<SourceTable>, DatasetsError> {
    let mut tables = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| io_err(dir, e))? {
        let path = entry.map_err(|e| io_err(dir, e))?.path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        let text = fs::read_to_string(&path).map_err(|e| io_err(&path, e))?;
        let manifest = TableManifest::from_toml(&text)?;
        let location = dir.join(format!("{}.parquet", manifest.name));
        if !location.is_file() {
            return Err(DatasetsError::InvalidOptions(format!(
                "{} declares table {} but {} is missing",
                path.display(),
                manifest.name,
                location.display()
            )));
        }
        tables.push(SourceTable { manifest, location });
    }
    tables.sort_by(|a, b| a.manifest.name.cmp(&b.manifest.name));
    if tables.is_empty() {
        return Err(DatasetsError::InvalidOptions(format!("no table manifests (*.toml) in {}", dir.display())));
    }
    Ok(tables)
}

/// The manifest a sample was built under (`<dir>/<table>.toml`), `None` if the folder has
/// no sample of `table`.
pub fn sample_manifest(dir: &Path, table: &str) -> Result<Option<TableManifest>, DatasetsError> {
    let path = dir.join(format!("{table}.toml"));
    match fs::read_to_string(&path) {
        Ok(text) => Ok(Some(TableManifest::from_toml(&text)?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err(&path, e)),
    }
}

/// The report of a complete samples folder, `None` if it has none.
pub fn load_samples_report(dir: &Path) -> Result<Option<SampleReport>, DatasetsError> {
    let path = dir.join(SAMPLES_FILE);
    match fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text).map(Some).map_err(|e| read_err(SAMPLES_FILE, e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err(&path, e)),
    }
}

/// A folder being built next to its target; removed unless committed.
struct StagingDir {
    path: PathBuf,
    committed: bool,
}

impl Drop for StagingDir {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

/// Samples and masks `tables` into `out` (replaced whole on success, untouched on failure).
pub fn build_samples(tables: &[SourceTable], out: &Path, opts: &SampleOptions, key: &MaskingKey) -> Result<SampleReport, DatasetsError> {
    if !(opts.fraction > 0.0 && opts.fraction <= 1.0) {
        return Err(DatasetsError::InvalidOptions("the sample fraction must be in (0, 1]".into()));
    }
    if opts.max_rows == 0 {
        return Err(DatasetsError::InvalidOptions("the sample row cap must be at least 1".into()));
    }
    // Every rule is checked before any row is read.
    for t in tables {
        for c in &t.manifest.columns {
            checked_rule(&t.manifest.name, c)?;
        }
    }
    let name = out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "samples".into());
    let parent = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    fs::create_dir_all(parent).map_err(|e| io_err(parent, e))?;
    let nonce: u64 = rand::random();
    let staging = StagingDir { path: parent.join(format!(".{name}.tmp-{nonce:016x}")), committed: false };
    fs::create_dir(&staging.path).map_err(|e| io_err(&staging.path, e))?;

    let mut report = SampleReport { format: SAMPLES_FORMAT, options: *opts, tables: Vec::new() };
    for t in tables {
        report.tables.push(sample_table(t, &staging.path, opts, key)?);
        let text = t.manifest.to_toml()?;
        let path = staging.path.join(format!("{}.toml", t.manifest.name));
        fs::write(&path, text).map_err(|e| io_err(&path, e))?;
    }
    let json = serde_json::to_string_pretty(&report).map_err(write_err)?;
    let path = staging.path.join(SAMPLES_FILE);
    fs::write(&path, json).map_err(|e| io_err(&path, e))?;

    let mut staging = staging;
    let old = parent.join(format!(".{name}.old-{nonce:016x}"));
    let had_old = out.exists();
    if had_old {
        fs::rename(out, &old).map_err(|e| io_err(out, e))?;
    }
    if let Err(e) = fs::rename(&staging.path, out) {
        if had_old {
            let _ = fs::rename(&old, out);
        }
        return Err(io_err(out, e));
    }
    staging.committed = true;
    if had_old {
        fs::remove_dir_all(&old).map_err(|e| io_err(&old, e))?;
    }
    Ok(report)
}

/// The keyed selection of one batch's rows.
fn selection(t: &SourceTable, batch: &RecordBatch, fraction: f64, first_row: u64, opts: &SampleOptions, key: &MaskingKey) -> Result<BooleanArray, DatasetsError> {
    let m = &t.manifest;
    let Some(unit) = &m.privacy_unit else {
        let domain = format!("sample:{}:{}:row", opts.seed, m.name);
        return Ok((0..batch.num_rows() as u64).map(|i| Some(key.uniform(&domain, &(first_row + i).to_le_bytes()) < fraction)).collect());
    };
    let column = batch.column_by_name(&unit.column).ok_or_else(|| read_err(&m.name, format!("the privacy unit column {} is not in the data", unit.column)))?;
    let domain = format!("sample:{}:{}", opts.seed, unit.kind);
    let keep = |bytes: &[u8]| key.uniform(&domain, bytes) < fraction;
    Ok(match column.data_type() {
        DataType::Int64 => column.as_primitive::<Int64Type>().iter().map(|v| Some(v.is_some_and(|v| keep(&v.to_le_bytes())))).collect(),
        DataType::Utf8 => column.as_string::<i32>().iter().map(|v| Some(v.is_some_and(|v| keep(v.as_bytes())))).collect(),
        other => return Err(read_err(&m.name, format!("the privacy unit column {} is stored as {other}; expected int64 or utf8", unit.column))),
    })
}

fn sample_table(t: &SourceTable, dir: &Path, opts: &SampleOptions, key: &MaskingKey) -> Result<SampledTable, DatasetsError> {
    let m = &t.manifest;
    let file = File::open(&t.location).map_err(|e| io_err(&t.location, e))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| read_err(&m.name, e))?;
    let source_rows = u64::try_from(builder.metadata().file_metadata().num_rows()).unwrap_or(0);
    let reader = builder.build().map_err(|e| read_err(&m.name, e))?;
    let cap = opts.max_rows as f64 / source_rows.max(1) as f64;
    let fraction = match m.privacy_unit {
        Some(_) => opts.fraction.min(cap),
        None => cap.min(1.0),
    };

    let schema: SchemaRef = crate::generate::arrow_schema(m);
    let mut kept: Vec<RecordBatch> = Vec::new();
    let (mut seen, mut rows) = (0u64, 0u64);
    for batch in reader {
        let batch = batch.map_err(|e| read_err(&m.name, e))?;
        let chosen = filter_record_batch(&batch, &selection(t, &batch, fraction, seen, opts, key)?).map_err(|e| read_err(&m.name, e))?;
        seen += batch.num_rows() as u64;
        let room = (opts.max_rows - rows) as usize;
        let chosen = chosen.slice(0, chosen.num_rows().min(room));
        rows += chosen.num_rows() as u64;
        // Only the manifest's columns, in its order: an undeclared column is never copied.
        let columns = m
            .columns
            .iter()
            .map(|c| chosen.column_by_name(&c.name).cloned().ok_or_else(|| read_err(&m.name, format!("column {} is in the manifest but not in the data", c.name))))
            .collect::<Result<Vec<ArrayRef>, _>>()?;
        kept.push(RecordBatch::try_new(schema.clone(), columns).map_err(|e| read_err(&m.name, e))?);
        if rows >= opts.max_rows {
            break;
        }
    }
    let all = concat_batches(&schema, &kept).map_err(|e| read_err(&m.name, e))?;
    let mut rng = ChaCha20Rng::seed_from_u64(opts.seed ^ fnv(m.name.as_bytes()));
    let masked = m
        .columns
        .iter()
        .zip(all.columns())
        .map(|(c, values)| mask(checked_rule(&m.name, c)?, c, values, key, &mut rng))
        .collect::<Result<Vec<ArrayRef>, _>>()?;
    let batch = RecordBatch::try_new(schema.clone(), masked).map_err(write_err)?;

    let path = dir.join(format!("{}.parquet", m.name));
    let file = File::create(&path).map_err(|e| io_err(&path, e))?;
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).map_err(write_err)?))
        .set_created_by("shuyu-datasets masked sample (parquet-rs)".into())
        .build();
    let mut writer = ArrowWriter::try_new(file, schema, Some(props)).map_err(write_err)?;
    writer.write(&batch).map_err(write_err)?;
    let file = writer.into_inner().map_err(write_err)?;
    file.sync_all().map_err(|e| io_err(&path, e))?;
    Ok(SampledTable { name: m.name.clone(), source_rows, rows: batch.num_rows() as u64, fraction })
}

/// FNV-1a of a name: a per-table offset of the shuffle seed.
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}
