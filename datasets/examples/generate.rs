//! Generates the demo tables: `generate <residents> <out_dir> [seed]`.
//!
//! Prints the report and the wall time; use `/usr/bin/time -v` for peak memory.

use std::process::ExitCode;
use std::time::Instant;

use shuyu_datasets::{generate, GenerateOptions};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: {} <residents> <out_dir> [seed]", args[0]);
        return ExitCode::from(2);
    }
    let (Ok(residents), Ok(seed)) = (
        args[1].replace('_', "").parse::<u64>(),
        args.get(3).map_or(Ok(42), |s| s.parse::<u64>()),
    ) else {
        eprintln!("residents and seed must be unsigned integers");
        return ExitCode::from(2);
    };
    let opts = GenerateOptions {
        residents,
        out_dir: args[2].clone().into(),
        seed,
        progress: true,
    };
    let start = Instant::now();
    match generate(&opts) {
        Ok(report) => {
            for t in &report.tables {
                println!(
                    "{:16} {:>12} rows {:>14} bytes  {}",
                    t.name,
                    t.rows,
                    t.bytes,
                    t.path.display()
                );
            }
            println!(
                "total {} rows, {} bytes in {:.2?}",
                report.total_rows(),
                report.total_bytes(),
                start.elapsed()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
