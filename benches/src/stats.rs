//! [`Timing`]: the median, extremes and every run of one timed series.

use std::time::Duration;

use serde_json::{json, Value};

/// A duration in milliseconds.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Median, extremes and every run of one timed series, in milliseconds.
#[derive(Debug, Clone)]
pub struct Timing {
    /// Median.
    pub median_ms: f64,
    /// Fastest run.
    pub min_ms: f64,
    /// Slowest run.
    pub max_ms: f64,
    /// Every run, in order.
    pub runs_ms: Vec<f64>,
}

fn median(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

impl Timing {
    /// Statistics of `runs` (not empty).
    pub fn of(runs: &[Duration]) -> Self {
        let runs_ms: Vec<f64> = runs.iter().map(|d| ms(*d)).collect();
        let mut sorted = runs_ms.clone();
        sorted.sort_by(f64::total_cmp);
        Timing {
            median_ms: median(&sorted),
            min_ms: sorted.first().copied().unwrap_or(f64::NAN),
            max_ms: sorted.last().copied().unwrap_or(f64::NAN),
            runs_ms,
        }
    }

    /// As JSON.
    pub fn to_json(&self) -> Value {
        json!({ "median_ms": self.median_ms, "min_ms": self.min_ms, "max_ms": self.max_ms, "runs_ms": self.runs_ms })
    }
}
