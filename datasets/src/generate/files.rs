//! Writing the generated files: each to a temporary name, synced, then renamed into place,
//! so a folder never holds a half-written file under its final name.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use arrow::datatypes::{DataType, SchemaRef};
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;

use super::FORMAT_VERSION;
use crate::DatasetsError;

/// Rows per Parquet row group.
const ROW_GROUP_ROWS: usize = 256 * 1024;

pub(super) fn io_err(path: &Path, source: std::io::Error) -> DatasetsError {
    DatasetsError::Io {
        path: path.display().to_string(),
        source,
    }
}

pub(super) fn write_err(e: impl std::fmt::Display) -> DatasetsError {
    DatasetsError::Write(e.to_string())
}

/// A file under construction: removed on drop unless committed.
struct TempFile {
    tmp: PathBuf,
    target: PathBuf,
    committed: bool,
}

impl TempFile {
    fn new(target: PathBuf) -> Self {
        let file_name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = target.with_file_name(format!(".{file_name}.tmp.{}", std::process::id()));
        TempFile {
            tmp,
            target,
            committed: false,
        }
    }

    fn create(&self) -> Result<File, DatasetsError> {
        File::create(&self.tmp).map_err(|e| io_err(&self.tmp, e))
    }

    /// Syncs the finished file and renames it to its target; returns its size.
    fn commit(mut self, file: File) -> Result<u64, DatasetsError> {
        file.sync_all().map_err(|e| io_err(&self.tmp, e))?;
        let bytes = file.metadata().map_err(|e| io_err(&self.tmp, e))?.len();
        drop(file);
        fs::rename(&self.tmp, &self.target).map_err(|e| io_err(&self.target, e))?;
        self.committed = true;
        Ok(bytes)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// Writes a small file atomically.
pub(super) fn write_atomic(target: PathBuf, contents: &[u8]) -> Result<u64, DatasetsError> {
    let tmp = TempFile::new(target);
    let mut file = tmp.create()?;
    file.write_all(contents).map_err(|e| io_err(&tmp.tmp, e))?;
    tmp.commit(file)
}

/// A Parquet file being streamed.
pub(super) struct TableWriter {
    /// The file's schema (the batches written must have it).
    pub(super) schema: SchemaRef,
    writer: ArrowWriter<File>,
    tmp: TempFile,
    rows: u64,
}

/// Integer columns written in ascending order: the privacy unit of `residents` and
/// `medical_visits` (rows are clustered by person) and the visit id.
const ASCENDING_COLUMNS: [&str; 2] = ["person_id", "visit_id"];

impl TableWriter {
    pub(super) fn create(out_dir: &Path, table: &str, schema: SchemaRef) -> Result<Self, DatasetsError> {
        let tmp = TempFile::new(out_dir.join(format!("{table}.parquet")));
        let file = tmp.create()?;
        let level = ZstdLevel::try_new(3).map_err(write_err)?;
        let mut props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(level))
            .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
            .set_created_by(format!(
                "shuyu-datasets format {FORMAT_VERSION} (parquet-rs)"
            ));
        // An ascending id column is mostly steps of 0 and 1: delta encoding stores it in about
        // one bit per row and decodes it without a dictionary lookup. Every private query over
        // a many-rows-per-unit table reads its unit column, so this is on the hot path.
        for name in ASCENDING_COLUMNS {
            if schema.field_with_name(name).is_ok_and(|f| f.data_type() == &DataType::Int64) {
                let path = ColumnPath::from(name);
                props = props
                    .set_column_dictionary_enabled(path.clone(), false)
                    .set_column_encoding(path, Encoding::DELTA_BINARY_PACKED);
            }
        }
        let props = props.build();
        let writer = ArrowWriter::try_new(file, schema.clone(), Some(props)).map_err(write_err)?;
        Ok(TableWriter {
            schema,
            writer,
            tmp,
            rows: 0,
        })
    }

    pub(super) fn write(&mut self, batch: &RecordBatch) -> Result<(), DatasetsError> {
        self.writer.write(batch).map_err(write_err)?;
        self.rows += batch.num_rows() as u64;
        Ok(())
    }

    /// Finishes the file, syncs it and moves it into place.
    pub(super) fn finish(self) -> Result<(u64, u64), DatasetsError> {
        let file = self.writer.into_inner().map_err(write_err)?;
        let bytes = self.tmp.commit(file)?;
        Ok((self.rows, bytes))
    }
}

/// Makes the renames durable (best effort; not every platform can sync a folder).
pub(super) fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}
