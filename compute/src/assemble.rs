//! One release, from exact inner results to a noised batch.
//!
//! 1. Read the inner plan's rows: per key, the exact bounded partial sums and unit count.
//! 2. Choose the released keys: every public key (missing ones count zero), or the keys
//!    that pass DP partition selection, or the single global row.
//! 3. Noise each partial vector over the released keys (one OpenDP vector measurement,
//!    drawn in parallel chunks).
//! 4. Derive each output column from noisy partials only (post-processing).

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Float64Array, Int64Array};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Int64Type};
use arrow::record_batch::RecordBatch;
use datafusion::common::ScalarValue;
use shuyu_planner::plan::{KeySet, OutputKind, Release};
use shuyu_privacy::{Mechanism, PrivacyDefinition};

use crate::calibrator::selection_of;
use crate::error::{ComputeError, Result};
use crate::noise;

/// Exact per-key values read from the inner plan.
#[derive(Debug, Default)]
pub struct InnerRows {
    /// Keys in first-seen order.
    pub keys: Vec<Vec<ScalarValue>>,
    /// Index of each key.
    pub index: HashMap<Vec<ScalarValue>, usize>,
    /// Per partial column name: value per key (NULL sums count as 0).
    pub columns: HashMap<String, Vec<i64>>,
}

fn int_column(batch: &RecordBatch, name: &str) -> Result<Vec<i64>> {
    let a = batch.column_by_name(name).ok_or_else(|| ComputeError::Internal(format!("inner plan lacks column {name}")))?;
    let a = cast(a, &DataType::Int64).map_err(|_| ComputeError::Internal(format!("column {name} is not integer")))?;
    let a = a.as_primitive::<Int64Type>();
    Ok((0..a.len()).map(|i| if a.is_null(i) { 0 } else { a.value(i) }).collect())
}

/// Collects the inner plan's batches, keyed by the release's key columns.
pub fn read_inner(release: &Release, batches: &[RecordBatch], columns: &[String]) -> Result<InnerRows> {
    let mut rows = InnerRows::default();
    for c in columns {
        rows.columns.insert(c.clone(), Vec::new());
    }
    for b in batches {
        let keys: Vec<ArrayRef> = (0..release.key_count)
            .map(|k| {
                let a = b.column_by_name(&format!("__k{k}")).ok_or_else(|| ComputeError::Internal("inner plan lacks a key column".into()))?;
                cast(a, &release.key_types[k]).map_err(|_| ComputeError::Internal("key column type".into()))
            })
            .collect::<Result<_>>()?;
        let vals: Vec<(String, Vec<i64>)> = columns.iter().map(|c| int_column(b, c).map(|v| (c.clone(), v))).collect::<Result<_>>()?;
        for r in 0..b.num_rows() {
            let key: Vec<ScalarValue> = keys
                .iter()
                .map(|a| ScalarValue::try_from_array(a, r).map_err(|_| ComputeError::Internal("key value".into())))
                .collect::<Result<_>>()?;
            let idx = match rows.index.get(&key) {
                Some(i) => *i,
                None => {
                    rows.keys.push(key.clone());
                    rows.index.insert(key, rows.keys.len() - 1);
                    for (c, _) in &vals {
                        rows.columns.get_mut(c).expect("inserted above").push(0);
                    }
                    rows.keys.len() - 1
                }
            };
            for (c, v) in &vals {
                let col = rows.columns.get_mut(c).expect("inserted above");
                col[idx] = col[idx].saturating_add(v[r]);
            }
        }
    }
    Ok(rows)
}

/// The cartesian product of the key domains, cast to the key types.
fn public_keys(domains: &[Vec<ScalarValue>], types: &[DataType]) -> Result<Vec<Vec<ScalarValue>>> {
    let mut out: Vec<Vec<ScalarValue>> = vec![vec![]];
    for (d, t) in domains.iter().zip(types) {
        let cast_d: Vec<ScalarValue> = d
            .iter()
            .map(|v| v.cast_to(t).map_err(|_| ComputeError::Internal("a public domain value does not fit its key type".into())))
            .collect::<Result<_>>()?;
        let mut next = Vec::with_capacity(out.len() * cast_d.len());
        for prefix in &out {
            for v in &cast_d {
                let mut k = prefix.clone();
                k.push(v.clone());
                next.push(k);
            }
        }
        out = next;
    }
    Ok(out)
}

/// Released keys and, per released key, its row in the inner results (if present).
pub fn choose_keys(release: &Release, inner: &InnerRows, def: PrivacyDefinition) -> Result<(Vec<Vec<ScalarValue>>, Vec<Option<usize>>)> {
    match &release.keys {
        KeySet::Global => Ok((vec![vec![]], vec![inner.index.get(&vec![]).copied()])),
        KeySet::Public { domains, .. } => {
            let keys = public_keys(domains, &release.key_types)?;
            let rows = keys.iter().map(|k| inner.index.get(k).copied()).collect();
            Ok((keys, rows))
        }
        KeySet::Selected { units_column, max_partitions, calibration } => {
            let c = calibration.as_ref().ok_or_else(|| ComputeError::Internal("uncalibrated partition selection".into()))?;
            let units = inner.columns.get(units_column).ok_or_else(|| ComputeError::Internal("no unit counts".into()))?;
            let sel = selection_of(c, def, *max_partitions);
            let kept = noise::select_partitions(units, &sel)?;
            // Released in key order: the order rows were found in must not show.
            let mut chosen: Vec<usize> = (0..kept.len()).filter(|i| kept[*i].is_some()).collect();
            chosen.sort_by(|a, b| {
                inner.keys[*a].partial_cmp(&inner.keys[*b]).unwrap_or_else(|| format!("{:?}", inner.keys[*a]).cmp(&format!("{:?}", inner.keys[*b])))
            });
            let keys = chosen.iter().map(|i| inner.keys[*i].clone()).collect();
            let rows = chosen.into_iter().map(Some).collect();
            Ok((keys, rows))
        }
    }
}

/// Noisy partial vectors over the released keys.
pub fn noisy_partials(release: &Release, inner: &InnerRows, rows: &[Option<usize>], def: PrivacyDefinition) -> Result<Vec<Vec<i64>>> {
    let mech = Mechanism::for_definition(def, true);
    release
        .partials
        .iter()
        .map(|p| {
            let c = p.calibration.as_ref().ok_or_else(|| ComputeError::Internal("uncalibrated partial".into()))?;
            let exact = inner.columns.get(&p.column).ok_or_else(|| ComputeError::Internal(format!("no partial {}", p.column)))?;
            let mut v: Vec<i64> = rows.iter().map(|r| r.map(|i| exact[i]).unwrap_or(0)).collect();
            noise::add_integer_noise(&mut v, mech, c.scale)?;
            Ok(v)
        })
        .collect()
}

/// Derives one output column (as f64) from noisy partials and quantiles.
pub fn output_values(kind: &OutputKind, partials: &[Vec<i64>], quantiles: &[Vec<f64>], n: usize) -> Vec<Option<f64>> {
    (0..n)
        .map(|i| match kind {
            OutputKind::Count { partial } => Some(partials[*partial][i].max(0) as f64),
            OutputKind::Sum { partial, grid, non_negative } => {
                let v = partials[*partial][i] as f64 / grid;
                Some(if *non_negative { v.max(0.0) } else { v })
            }
            OutputKind::Avg { sum, count, grid, mid, bounds } => {
                let c = partials[*count][i];
                if c <= 0 {
                    return None;
                }
                let v = mid + (partials[*sum][i] as f64 / grid) / c as f64;
                Some(v.clamp(bounds.0, bounds.1))
            }
            OutputKind::Variance { sum, sum_sq, count, grid, grid_sq, bounds, sample, stddev } => {
                let c = partials[*count][i];
                if c <= i64::from(*sample) {
                    return None;
                }
                let n = c as f64;
                let m1 = partials[*sum][i] as f64 / grid / n;
                let m2 = partials[*sum_sq][i] as f64 / grid_sq / n;
                let half = (bounds.1 - bounds.0) / 2.0;
                let mut var = (m2 - m1 * m1).clamp(0.0, half * half);
                if *sample {
                    var *= n / (n - 1.0);
                }
                Some(if *stddev { var.sqrt() } else { var })
            }
            OutputKind::Quantile { histogram, .. } => Some(quantiles[*histogram][i]),
        })
        .collect()
}

/// Per-key bucket counts of one histogram, for the released keys.
pub fn quantile_values(
    release: &Release,
    hist_index: usize,
    batches: &[RecordBatch],
    keys: &[Vec<ScalarValue>],
    def: PrivacyDefinition,
) -> Result<Vec<f64>> {
    let h = &release.histograms[hist_index];
    let c = h.calibration.as_ref().ok_or_else(|| ComputeError::Internal("uncalibrated quantile".into()))?;
    let index: HashMap<&Vec<ScalarValue>, usize> = keys.iter().enumerate().map(|(i, k)| (k, i)).collect();
    let mut counts = vec![vec![0i64; h.buckets]; keys.len()];
    for b in batches {
        let key_arrays: Vec<ArrayRef> = (0..release.key_count)
            .map(|k| {
                let a = b.column_by_name(&format!("__k{k}")).ok_or_else(|| ComputeError::Internal("histogram key".into()))?;
                cast(a, &release.key_types[k]).map_err(|_| ComputeError::Internal("histogram key type".into()))
            })
            .collect::<Result<_>>()?;
        let bucket = int_column(b, "__bucket")?;
        let n = int_column(b, "__n")?;
        for r in 0..b.num_rows() {
            let key: Vec<ScalarValue> = key_arrays
                .iter()
                .map(|a| ScalarValue::try_from_array(a, r).map_err(|_| ComputeError::Internal("key value".into())))
                .collect::<Result<_>>()?;
            if let Some(&i) = index.get(&key) {
                let bk = bucket[r].clamp(0, h.buckets as i64 - 1) as usize;
                counts[i][bk] = counts[i][bk].saturating_add(n[r]);
            }
        }
    }
    counts
        .iter()
        .map(|cnt| Ok(noise::dp_quantile_at_scale(cnt, h.bounds.0, h.bounds.1, h.alpha, def, c.scale)?))
        .collect()
}

/// Builds the released batch: key columns then output columns, in the release schema.
pub fn build_batch(release: &Release, keys: &[Vec<ScalarValue>], outputs: Vec<Vec<Option<f64>>>) -> Result<RecordBatch> {
    let mut cols: Vec<ArrayRef> = Vec::new();
    for k in 0..release.key_count {
        let t = &release.key_types[k];
        let a = if keys.is_empty() {
            arrow::array::new_empty_array(t)
        } else {
            ScalarValue::iter_to_array(keys.iter().map(|key| key[k].clone()))
                .map_err(|_| ComputeError::Internal("building key column".into()))?
        };
        cols.push(cast(&a, t).map_err(|_| ComputeError::Internal("key column type".into()))?);
    }
    for (o, vals) in release.outputs.iter().zip(outputs) {
        let f: ArrayRef = Arc::new(Float64Array::from(vals));
        let a = match &o.data_type {
            DataType::Int64 | DataType::Int32 | DataType::Int16 | DataType::Int8 | DataType::UInt64 | DataType::UInt32 => {
                let rounded: Int64Array = f.as_primitive::<arrow::datatypes::Float64Type>().unary_opt(|v| Some(v.round() as i64));
                cast(&rounded, &o.data_type)
            }
            t => cast(&f, t),
        }
        .map_err(|_| ComputeError::Internal(format!("output {} type", o.name)))?;
        cols.push(a);
    }
    RecordBatch::try_new(release.schema.clone(), cols).map_err(|e| ComputeError::Internal(format!("release batch: {e}")))
}
