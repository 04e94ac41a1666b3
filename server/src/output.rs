//! Printing results.

use arrow::record_batch::RecordBatch;
use arrow::util::pretty::pretty_format_batches;

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned text table.
    Table,
    /// One JSON array of row objects.
    Json,
}

/// Renders batches in a format.
pub fn render(batches: &[RecordBatch], format: Format) -> String {
    match format {
        Format::Table => pretty_format_batches(batches).map(|t| t.to_string()).unwrap_or_else(|e| format!("(cannot render: {e})")),
        Format::Json => {
            let mut w = arrow::json::ArrayWriter::new(Vec::new());
            let refs: Vec<&RecordBatch> = batches.iter().collect();
            if w.write_batches(&refs).is_err() || w.finish().is_err() {
                return "[]".into();
            }
            String::from_utf8(w.into_inner()).unwrap_or_else(|_| "[]".into())
        }
    }
}
