//! Seeded, chunked Parquet generation of the demo tables (feature `generate`).
//!
//! [`generate`] writes, into one folder:
//! - `<table>.parquet` for `residents`, `medical_visits`, `enterprises`, `districts`;
//! - `<table>.toml`, the table's manifest (the embedded text of [`crate::demo`]);
//! - `dataset.json`, written last: format version, seed, sizes, row counts and file sizes.
//!
//! Output is a pure function of (residents, seed): units are cut into chunks of 64 Ki, each
//! chunk draws from its own ChaCha stream, chunks are generated in parallel (rayon) and
//! written in order, and all sampling uses only correctly rounded float operations. Memory
//! is flat: a few chunks are in flight at any time and row groups stream to the file.
//! Every file is written to a temporary name, synced, then renamed ([`files`]).

mod files;
mod rng;
mod tables;
mod words;

use std::fs;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::demo::{demo_manifest, demo_manifest_toml, DEMO_TABLES};
use crate::manifest::{ColumnType, TableManifest};
use crate::DatasetsError;

use files::{io_err, sync_dir, write_atomic, write_err, TableWriter};
use tables::{Context, CHUNK_UNITS};

/// Version of the generated format. Bumped whenever the same (residents, seed) would
/// produce different files, so [`is_generated`] never accepts stale data.
pub const FORMAT_VERSION: u32 = 2;

/// Name of the marker file written last into the output folder.
pub const DATASET_INFO_FILE: &str = "dataset.json";

/// Options of [`generate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerateOptions {
    /// Number of residents (persons); the other tables scale with it. At least 1.
    pub residents: u64,
    /// Output folder (created if missing).
    pub out_dir: PathBuf,
    /// Seed: the same (residents, seed) always gives byte-identical files.
    pub seed: u64,
    /// Show a progress bar on stderr (only when stderr is a terminal).
    pub progress: bool,
}

impl GenerateOptions {
    /// Options with the progress bar off.
    pub fn new(residents: u64, out_dir: impl Into<PathBuf>, seed: u64) -> Self {
        GenerateOptions {
            residents,
            out_dir: out_dir.into(),
            seed,
            progress: false,
        }
    }
}

/// What [`generate`] wrote for one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableReport {
    /// Table name.
    pub name: String,
    /// Rows written.
    pub rows: u64,
    /// Path of the Parquet file.
    pub path: PathBuf,
    /// Path of the manifest (TOML).
    pub manifest_path: PathBuf,
    /// Size of the Parquet file in bytes.
    pub bytes: u64,
}

/// What [`generate`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerateReport {
    /// Output folder.
    pub out_dir: PathBuf,
    /// Number of residents.
    pub residents: u64,
    /// Seed.
    pub seed: u64,
    /// One entry per table, in [`DEMO_TABLES`] order.
    pub tables: Vec<TableReport>,
}

impl GenerateReport {
    /// The entry of one table.
    pub fn table(&self, name: &str) -> Option<&TableReport> {
        self.tables.iter().find(|t| t.name == name)
    }

    /// Rows over all tables.
    pub fn total_rows(&self) -> u64 {
        self.tables.iter().map(|t| t.rows).sum()
    }

    /// Parquet bytes over all tables.
    pub fn total_bytes(&self) -> u64 {
        self.tables.iter().map(|t| t.bytes).sum()
    }
}

/// Contents of `dataset.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct DatasetInfo {
    format_version: u32,
    generator: String,
    residents: u64,
    seed: u64,
    tables: Vec<TableInfo>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct TableInfo {
    name: String,
    file: String,
    manifest: String,
    rows: u64,
    bytes: u64,
}

/// Number of enterprises generated for a number of residents: one per 20, at least 10.
pub fn enterprise_count(residents: u64) -> u64 {
    (residents / 20).max(10)
}

/// Arrow type of a manifest column type.
pub fn arrow_type(t: ColumnType) -> DataType {
    match t {
        ColumnType::Int64 => DataType::Int64,
        ColumnType::Float64 => DataType::Float64,
        ColumnType::Utf8 => DataType::Utf8,
        ColumnType::Boolean => DataType::Boolean,
        ColumnType::Date32 => DataType::Date32,
    }
}

/// Arrow schema of a table: the manifest's columns in order, all nullable (the generated
/// data holds no nulls).
pub fn arrow_schema(manifest: &TableManifest) -> SchemaRef {
    Arc::new(Schema::new(
        manifest
            .columns
            .iter()
            .map(|c| Field::new(&c.name, arrow_type(c.data_type), true))
            .collect::<Vec<_>>(),
    ))
}

fn manifest_of(table: &str) -> Result<TableManifest, DatasetsError> {
    demo_manifest(table).ok_or_else(|| DatasetsError::Manifest(format!("no demo table {table}")))
}

/// Generates chunks `0..n_chunks` in parallel, a window at a time, and hands them to
/// `write` in chunk order while the next window is being generated.
fn run_chunks<T, G, W>(n_chunks: u64, generate: G, mut write: W) -> Result<(), DatasetsError>
where
    T: Send,
    G: Fn(u64) -> Result<T, DatasetsError> + Sync,
    W: FnMut(T) -> Result<(), DatasetsError> + Send,
{
    let window = (rayon::current_num_threads() as u64).max(1) * 2;
    let gen_window = |start: u64| -> Result<Vec<T>, DatasetsError> {
        let end = start.saturating_add(window).min(n_chunks);
        (start..end).into_par_iter().map(&generate).collect()
    };
    let mut pending = gen_window(0)?;
    let mut next = window;
    while !pending.is_empty() {
        let ready = std::mem::take(&mut pending);
        let (written, generated) = rayon::join(
            || ready.into_iter().try_for_each(&mut write),
            || gen_window(next),
        );
        written?;
        pending = generated?;
        next = next.saturating_add(window);
    }
    Ok(())
}

fn progress_bar(opts: &GenerateOptions, estimate: u64) -> ProgressBar {
    if !opts.progress || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(estimate), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template(
        "{spinner} {msg:15} [{bar:40}] {human_pos}/~{human_len} rows ({per_sec}, {elapsed})",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style.progress_chars("=> "));
    bar
}

/// Generates the four demo tables into `opts.out_dir`.
///
/// Any previous `dataset.json` is removed first and written again only when every file is
/// in place, so a folder is complete exactly when [`is_generated`] says so.
pub fn generate(opts: &GenerateOptions) -> Result<GenerateReport, DatasetsError> {
    generate_with_chunks(opts, CHUNK_UNITS)
}

/// [`generate`] with another chunk size (tests of the pipeline only: the chunk size is part
/// of the output format).
fn generate_with_chunks(
    opts: &GenerateOptions,
    chunk_units: u64,
) -> Result<GenerateReport, DatasetsError> {
    if opts.residents == 0 {
        return Err(DatasetsError::InvalidOptions(
            "residents must be at least 1".into(),
        ));
    }
    if opts.residents > i64::MAX as u64 / 1024 || enterprise_count(opts.residents) > 100_000_000 {
        return Err(DatasetsError::InvalidOptions(format!(
            "{} residents is more than the generator supports (2 000 000 000)",
            opts.residents
        )));
    }
    let out = opts.out_dir.as_path();
    fs::create_dir_all(out).map_err(|e| io_err(out, e))?;
    let info_path = out.join(DATASET_INFO_FILE);
    match fs::remove_file(&info_path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err(&info_path, e)),
    }

    let ctx = Context::new(opts.seed);
    let n_enterprises = enterprise_count(opts.residents);
    let bar = progress_bar(opts, opts.residents * 4 + n_enterprises + 12);
    let mut counts: Vec<(u64, u64)> = Vec::with_capacity(DEMO_TABLES.len());

    // residents and medical_visits, from the same chunks of persons.
    bar.set_message("residents");
    let mut residents =
        TableWriter::create(out, "residents", arrow_schema(&manifest_of("residents")?))?;
    let mut visits = TableWriter::create(
        out,
        "medical_visits",
        arrow_schema(&manifest_of("medical_visits")?),
    )?;
    let residents_schema = residents.schema.clone();
    let n_chunks = opts.residents.div_ceil(chunk_units);
    let mut next_visit_id: i64 = 1;
    run_chunks(
        n_chunks,
        |c| {
            let first = c * chunk_units + 1;
            let count = chunk_units.min(opts.residents - c * chunk_units);
            tables::person_chunk(&ctx, c, first, count, &residents_schema)
        },
        |chunk| {
            residents.write(&chunk.residents)?;
            let n = chunk.visits.rows();
            let batch = chunk.visits.into_batch(&visits.schema, next_visit_id)?;
            visits.write(&batch)?;
            next_visit_id += n as i64;
            bar.inc(chunk.residents.num_rows() as u64 + n);
            Ok(())
        },
    )?;
    counts.push(residents.finish()?);
    counts.push(visits.finish()?);

    // enterprises.
    bar.set_message("enterprises");
    let mut enterprises = TableWriter::create(
        out,
        "enterprises",
        arrow_schema(&manifest_of("enterprises")?),
    )?;
    let enterprises_schema = enterprises.schema.clone();
    run_chunks(
        n_enterprises.div_ceil(chunk_units),
        |c| {
            let first = c * chunk_units;
            let count = chunk_units.min(n_enterprises - first);
            tables::enterprise_chunk(&ctx, c, first, count, &enterprises_schema)
        },
        |batch| {
            enterprises.write(&batch)?;
            bar.inc(batch.num_rows() as u64);
            Ok(())
        },
    )?;
    counts.push(enterprises.finish()?);

    // districts.
    bar.set_message("districts");
    let mut districts =
        TableWriter::create(out, "districts", arrow_schema(&manifest_of("districts")?))?;
    let batch = tables::districts_batch(&districts.schema)?;
    districts.write(&batch)?;
    bar.inc(batch.num_rows() as u64);
    counts.push(districts.finish()?);

    // Manifests, then the marker.
    let mut infos = Vec::with_capacity(DEMO_TABLES.len());
    for (table, (rows, bytes)) in DEMO_TABLES.iter().zip(counts) {
        let text = demo_manifest_toml(table)
            .ok_or_else(|| DatasetsError::Manifest(format!("no demo table {table}")))?;
        write_atomic(out.join(format!("{table}.toml")), text.as_bytes())?;
        infos.push(TableInfo {
            name: (*table).to_string(),
            file: format!("{table}.parquet"),
            manifest: format!("{table}.toml"),
            rows,
            bytes,
        });
    }
    let info = DatasetInfo {
        format_version: FORMAT_VERSION,
        generator: format!("shuyu-datasets {}", env!("CARGO_PKG_VERSION")),
        residents: opts.residents,
        seed: opts.seed,
        tables: infos,
    };
    let mut json = serde_json::to_vec_pretty(&info).map_err(write_err)?;
    json.push(b'\n');
    write_atomic(info_path, &json)?;
    sync_dir(out);
    bar.set_length(bar.position());
    bar.finish_with_message("done");
    Ok(report_of(out, &info))
}

fn report_of(out: &Path, info: &DatasetInfo) -> GenerateReport {
    GenerateReport {
        out_dir: out.to_path_buf(),
        residents: info.residents,
        seed: info.seed,
        tables: info
            .tables
            .iter()
            .map(|t| TableReport {
                name: t.name.clone(),
                rows: t.rows,
                path: out.join(&t.file),
                manifest_path: out.join(&t.manifest),
                bytes: t.bytes,
            })
            .collect(),
    }
}

fn read_info(out_dir: &Path) -> Result<DatasetInfo, DatasetsError> {
    let path = out_dir.join(DATASET_INFO_FILE);
    let text = fs::read(&path).map_err(|e| io_err(&path, e))?;
    serde_json::from_slice(&text)
        .map_err(|e| DatasetsError::Manifest(format!("{}: {e}", path.display())))
}

/// The report of a complete dataset already in `out_dir` (from its `dataset.json`), if
/// [`is_generated`] holds for the sizes and seed it records.
pub fn load_report(out_dir: impl AsRef<Path>) -> Result<GenerateReport, DatasetsError> {
    let out = out_dir.as_ref();
    let info = read_info(out)?;
    if !is_generated(out, info.residents, info.seed) {
        return Err(DatasetsError::Manifest(format!(
            "{} does not hold a complete dataset of the current format",
            out.display()
        )));
    }
    Ok(report_of(out, &info))
}

/// Whether `out_dir` already holds the complete dataset of (residents, seed) in the current
/// format: `dataset.json` matches, every Parquet file has the recorded size, and every
/// manifest equals the embedded one.
pub fn is_generated(out_dir: impl AsRef<Path>, residents: u64, seed: u64) -> bool {
    let out = out_dir.as_ref();
    let Ok(info) = read_info(out) else {
        return false;
    };
    if info.format_version != FORMAT_VERSION || info.residents != residents || info.seed != seed {
        return false;
    }
    let names: Vec<&str> = info.tables.iter().map(|t| t.name.as_str()).collect();
    if names != DEMO_TABLES {
        return false;
    }
    info.tables.iter().all(|t| {
        let size_ok =
            fs::metadata(out.join(&t.file)).is_ok_and(|m| m.is_file() && m.len() == t.bytes);
        let manifest_ok = fs::read_to_string(out.join(&t.manifest))
            .is_ok_and(|text| Some(text.as_str()) == demo_manifest_toml(&t.name));
        size_ok && manifest_ok
    })
}

/// Generates unless `opts.out_dir` already holds the same dataset; returns its report.
pub fn ensure_generated(opts: &GenerateOptions) -> Result<GenerateReport, DatasetsError> {
    if is_generated(&opts.out_dir, opts.residents, opts.seed) {
        load_report(&opts.out_dir)
    } else {
        generate(opts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
        let mut out: Vec<(String, Vec<u8>)> = fs::read_dir(dir)
            .expect("read_dir")
            .map(|e| {
                let e = e.expect("entry");
                (
                    e.file_name().to_string_lossy().into_owned(),
                    fs::read(e.path()).expect("read"),
                )
            })
            .collect();
        out.sort();
        out
    }

    fn run_in_pool(threads: usize, opts: &GenerateOptions, chunk: u64) -> GenerateReport {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("pool");
        pool.install(|| generate_with_chunks(opts, chunk))
            .expect("generate")
    }

    /// Many small chunks (several windows) give the same bytes on 1 and 3 threads.
    #[test]
    fn output_does_not_depend_on_thread_count() {
        let a = tempfile::tempdir().expect("tmp");
        let b = tempfile::tempdir().expect("tmp");
        let ra = run_in_pool(1, &GenerateOptions::new(9_000, a.path(), 11), 500);
        let rb = run_in_pool(3, &GenerateOptions::new(9_000, b.path(), 11), 500);
        assert_eq!(
            ra.tables
                .iter()
                .map(|t| (t.rows, t.bytes))
                .collect::<Vec<_>>(),
            rb.tables
                .iter()
                .map(|t| (t.rows, t.bytes))
                .collect::<Vec<_>>()
        );
        let (fa, fb) = (files(a.path()), files(b.path()));
        assert_eq!(
            fa.len(),
            9,
            "4 parquet + 4 toml + dataset.json, no temp files"
        );
        assert!(fa == fb, "files differ between 1 and 3 threads");
        // Visit ids run 1..=M across chunks.
        let visits = ra.table("medical_visits").expect("visits");
        assert!(visits.rows > 20_000);
        assert_eq!(ra.table("enterprises").map(|t| t.rows), Some(450));
        // A different chunk size is a different stream layout, hence different data.
        let c = tempfile::tempdir().expect("tmp");
        run_in_pool(2, &GenerateOptions::new(9_000, c.path(), 11), 1_000);
        assert_ne!(
            fs::read(a.path().join("residents.parquet")).expect("a"),
            fs::read(c.path().join("residents.parquet")).expect("c")
        );
    }

    #[test]
    fn zero_residents_is_refused() {
        let d = tempfile::tempdir().expect("tmp");
        let err = generate(&GenerateOptions::new(0, d.path(), 1)).expect_err("must fail");
        assert!(matches!(err, DatasetsError::InvalidOptions(_)), "{err}");
        assert!(!d.path().join(DATASET_INFO_FILE).exists());
    }
}
