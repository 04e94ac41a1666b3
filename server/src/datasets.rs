//! `shuyu datasets generate`.

use std::io::IsTerminal;
use std::path::Path;

use shuyu_datasets::generate::{generate as gen, GenerateOptions};

use crate::Error;

/// Generates the demo datasets into `out`.
pub fn generate(out: &Path, rows: u64, seed: u64) -> Result<(), Error> {
    let mut opts = GenerateOptions::new(rows, out, seed);
    opts.progress = std::io::stderr().is_terminal();
    let report = gen(&opts)?;
    for t in &report.tables {
        println!("{:<16} {:>12} rows  {:>12} bytes  {}", t.name, t.rows, t.bytes, t.path.display());
    }
    Ok(())
}
