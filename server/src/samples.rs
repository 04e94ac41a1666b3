//! `shuyu dev samples`: builds the dev environment's masked samples
//! ([`shuyu_runtime::dev::build`]) and prints what was sampled.

use shuyu_runtime::dev::{build, SamplesJob};

use crate::Error;

/// Builds the masked samples `job` describes and prints a line per table.
pub fn run_samples(job: &SamplesJob) -> Result<(), Error> {
    let report = build(job)?;
    println!("masked samples in {} (fraction {}, at most {} rows per table, seed {}):", job.out.display(), job.options.fraction, job.options.max_rows, job.options.seed);
    for t in &report.tables {
        println!("   {:<16} {:>8} of {:>10} rows", t.name, t.rows, t.source_rows);
    }
    Ok(())
}
