//! Comparing shuyu's results with plain DataFusion's.
#![allow(dead_code)]

use std::collections::BTreeMap;

use arrow::record_batch::RecordBatch;
use datafusion::common::ScalarValue;
use datafusion::prelude::SessionContext;

/// Rows as scalar vectors.
pub fn rows(batches: &[RecordBatch]) -> Vec<Vec<ScalarValue>> {
    let mut out = Vec::new();
    for b in batches {
        for r in 0..b.num_rows() {
            out.push((0..b.num_columns()).map(|c| ScalarValue::try_from_array(b.column(c), r).unwrap()).collect());
        }
    }
    out
}

fn as_f64(v: &ScalarValue) -> Option<f64> {
    if v.is_null() {
        return None;
    }
    match v.cast_to(&arrow::datatypes::DataType::Float64) {
        Ok(ScalarValue::Float64(x)) => x,
        _ => None,
    }
}

/// Whether two values agree: integers and strings exactly, floats to 1e-9 relative.
pub fn same(a: &ScalarValue, b: &ScalarValue) -> bool {
    if a.is_null() || b.is_null() {
        return a.is_null() && b.is_null();
    }
    let float = |v: &ScalarValue| matches!(v.data_type(), arrow::datatypes::DataType::Float64 | arrow::datatypes::DataType::Float32 | arrow::datatypes::DataType::Decimal128(..));
    if float(a) || float(b) {
        let (x, y) = (as_f64(a).unwrap(), as_f64(b).unwrap());
        return (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0);
    }
    if a.data_type().is_numeric() && b.data_type().is_numeric() {
        return as_f64(a) == as_f64(b);
    }
    a.to_string() == b.to_string()
}

/// Rows keyed by their first `keys` columns (as text).
pub fn keyed(rows: &[Vec<ScalarValue>], keys: usize) -> BTreeMap<String, Vec<ScalarValue>> {
    rows.iter()
        .map(|r| (r[..keys].iter().map(|v| v.to_string()).collect::<Vec<_>>().join("|"), r[keys..].to_vec()))
        .collect()
}

/// Runs plain SQL on a plain DataFusion context.
pub async fn plain(ctx: &SessionContext, sql: &str) -> Vec<Vec<ScalarValue>> {
    let b = ctx.sql(sql).await.unwrap_or_else(|e| panic!("plain SQL failed: {e}\n{sql}")).collect().await.unwrap();
    rows(&b)
}

/// A plain context with the fixture's tables registered, under the same configuration.
pub async fn plain_context(dir: &std::path::Path) -> SessionContext {
    let ctx = SessionContext::new_with_config(shuyu_planner::scope::session_config());
    for t in ["residents", "medical_visits", "enterprises", "districts"] {
        ctx.register_parquet(t, dir.join(format!("{t}.parquet")).to_str().unwrap(), Default::default()).await.unwrap();
    }
    ctx
}
