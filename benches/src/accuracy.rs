//! Relative error of noisy answers against the exact answer, one function for every system.
//!
//! An answer is a set of cells, `"<key>|<measure>"` → value, where `<key>` joins the group
//! key values with `/` (empty for a query without GROUP BY) and `<measure>` is the measure's
//! position (`m0`, `m1`, …) — so shuyu's batches and a peer's JSON cells compare alike. The
//! error of one release is the mean over the exact answer's cells of |noisy − exact| /
//! |exact|; cells whose exact value is 0 are not scored (relative error is undefined) and a
//! cell the release lacks (a suppressed group) is counted as missing, not scored. The error
//! of a system is the mean over its releases.

use std::collections::BTreeMap;

use arrow::array::{Array, AsArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type};
use arrow::record_batch::RecordBatch;
use arrow::util::display::array_value_to_string;
use serde_json::{json, Value};

/// Cells of one answer.
pub type Cells = BTreeMap<String, f64>;

/// The cell name of measure `index` under `key`.
pub fn cell(key: &str, index: usize) -> String {
    format!("{key}|m{index}")
}

/// The cells of `batches`: the first `keys` columns are group keys, the rest measures.
/// Null measures are left out (a missing cell).
pub fn cells(batches: &[RecordBatch], keys: usize) -> Result<Cells, String> {
    let mut out = Cells::new();
    for b in batches {
        if b.num_columns() < keys {
            return Err(format!("an answer has {} columns, fewer than its {keys} keys", b.num_columns()));
        }
        let measures: Vec<_> = (keys..b.num_columns())
            .map(|c| cast(b.column(c), &DataType::Float64).map_err(|e| format!("measure column {c} is not numeric: {e}")))
            .collect::<Result<_, _>>()?;
        for row in 0..b.num_rows() {
            let key = (0..keys)
                .map(|c| array_value_to_string(b.column(c), row).map_err(|e| e.to_string()))
                .collect::<Result<Vec<_>, _>>()?
                .join("/");
            for (i, m) in measures.iter().enumerate() {
                if m.is_valid(row) {
                    out.insert(cell(&key, i), m.as_primitive::<Float64Type>().value(row));
                }
            }
        }
    }
    Ok(out)
}

/// Error of a series of releases against one exact answer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Error {
    /// Mean over releases of the mean relative error over scored cells (`None`: nothing scored).
    pub mean_rel: Option<f64>,
    /// The largest per-release error.
    pub max_rel: Option<f64>,
    /// Releases scored.
    pub releases: usize,
    /// Exact cells missing from releases, summed over releases.
    pub missing_cells: usize,
}

impl Error {
    /// Scores `releases` against `exact`.
    pub fn of(releases: &[Cells], exact: &Cells) -> Error {
        let mut per_release = Vec::with_capacity(releases.len());
        let mut missing = 0;
        for r in releases {
            let mut errs = Vec::new();
            for (k, t) in exact {
                if *t == 0.0 {
                    continue;
                }
                match r.get(k) {
                    Some(v) => errs.push((v - t).abs() / t.abs()),
                    None => missing += 1,
                }
            }
            if !errs.is_empty() {
                per_release.push(errs.iter().sum::<f64>() / errs.len() as f64);
            }
        }
        let n = per_release.len();
        Error {
            mean_rel: (n > 0).then(|| per_release.iter().sum::<f64>() / n as f64),
            max_rel: per_release.iter().copied().reduce(f64::max),
            releases: releases.len(),
            missing_cells: missing,
        }
    }

    /// As JSON.
    pub fn to_json(&self) -> Value {
        json!({ "mean_rel": self.mean_rel, "max_rel": self.max_rel, "releases": self.releases, "missing_cells": self.missing_cells })
    }
}

/// Renames a peer's measure names (`count`, `sum`, `avg` in the order of its query's
/// measures) to positional ones, so its cells compare with shuyu's.
pub fn from_peer(cells: &serde_json::Map<String, Value>, measures: &[&str]) -> Cells {
    let mut out = Cells::new();
    for (k, v) in cells {
        let Some((key, name)) = k.rsplit_once('|') else { continue };
        let (Some(i), Some(v)) = (measures.iter().position(|m| *m == name), v.as_f64()) else { continue };
        out.insert(cell(key, i), v);
    }
    out
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Float64Array, Int64Array, StringArray};
    use arrow::datatypes::{Field, Schema};

    use super::*;

    fn batch() -> RecordBatch {
        let schema = Schema::new(vec![
            Field::new("k", DataType::Utf8, false),
            Field::new("n", DataType::Int64, false),
            Field::new("s", DataType::Float64, true),
        ]);
        RecordBatch::try_new(
            Arc::new(schema),
            vec![
                Arc::new(StringArray::from(vec!["a", "b"])),
                Arc::new(Int64Array::from(vec![10, 20])),
                Arc::new(Float64Array::from(vec![Some(1.5), None])),
            ],
        )
        .expect("batch")
    }

    #[test]
    fn cells_key_by_group_and_measure_position_and_skip_nulls() {
        let c = cells(&[batch()], 1).expect("cells");
        let want: Cells = [("a|m0", 10.0), ("a|m1", 1.5), ("b|m0", 20.0)].into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        assert_eq!(c, want);
        let ungrouped = cells(&[batch()], 0).expect("cells");
        assert_eq!(ungrouped.get("|m1"), Some(&20.0), "without keys every row writes the one cell (the last wins)");
    }

    #[test]
    fn error_is_mean_relative_error_with_missing_and_zero_cells_not_scored() {
        let exact: Cells = [("a|m0", 100.0), ("b|m0", 50.0), ("z|m0", 0.0)].into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        // Release 1: 10 % and 2 % off -> 6 %. Release 2: b missing, a 20 % off -> 20 %.
        let r1: Cells = [("a|m0", 110.0), ("b|m0", 49.0), ("z|m0", 3.0)].into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        let r2: Cells = [("a|m0", 80.0)].into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        let e = Error::of(&[r1, r2], &exact);
        assert!((e.mean_rel.expect("scored") - 0.13).abs() < 1e-12);
        assert!((e.max_rel.expect("scored") - 0.2).abs() < 1e-12);
        assert_eq!(e.missing_cells, 1);
        assert_eq!(e.releases, 2);
        assert_eq!(Error::of(&[], &exact).mean_rel, None);
    }

    #[test]
    fn peer_cells_map_measure_names_to_positions() {
        let v = json!({"D1|count": 3.0, "D1|sum": 4.5, "|count": 7.0, "D1|other": 1.0});
        let c = from_peer(v.as_object().expect("object"), &["count", "sum"]);
        let want: Cells = [("D1|m0", 3.0), ("D1|m1", 4.5), ("|m0", 7.0)].into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        assert_eq!(c, want);
    }
}
