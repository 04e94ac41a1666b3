//! The plaintext part of a fused query: the pseudonym function the public side joins on, the
//! group of each import row (the public filters and group keys, run in DataFusion under the
//! total-evaluation pass), and the released batch.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BinaryBuilder, Float64Array, Int64Array, StringArray};
use arrow::datatypes::DataType;
use arrow::record_batch::RecordBatch;
use datafusion::logical_expr::{create_udf, ColumnarValue, Volatility};
use datafusion::prelude::SessionContext;
use shuyu_crypto::pseudonym::{Pseudonym, PseudonymKey};
use shuyu_planner::encrypted::{result_schema, Aggregate, FusedQuery, Groups, Output, PSEUDONYM_UDF};
use shuyu_planner::{PlannerError, Scope};

use crate::ComputeError;

/// Registers [`PSEUDONYM_UDF`] (`Utf8` → 32-byte `Binary`) with `key` on `ctx`.
pub fn register_pseudonym_udf(ctx: &SessionContext, key: PseudonymKey) {
    let key = Arc::new(key);
    let udf = create_udf(
        PSEUDONYM_UDF,
        vec![DataType::Utf8],
        DataType::Binary,
        Volatility::Immutable,
        Arc::new(move |args: &[ColumnarValue]| {
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let input = arrays[0].as_string::<i32>();
            let mut out = BinaryBuilder::with_capacity(input.len(), input.len() * 32);
            for i in 0..input.len() {
                if input.is_null(i) {
                    out.append_null();
                } else {
                    out.append_value(key.pseudonymise(input.value(i).as_bytes()).0);
                }
            }
            Ok(ColumnarValue::Array(Arc::new(out.finish()) as ArrayRef))
        }),
    );
    ctx.register_udf(udf);
}

/// Runs the plaintext part: per import row (given its pseudonyms), its group id or
/// [`shuyu_crypto::linear::NO_GROUP`].
pub async fn plaintext_groups(
    scope: &Scope,
    query: &FusedQuery,
    groups: &Groups,
    pseudonym_key: PseudonymKey,
    import_rows: &[Pseudonym],
) -> Result<Vec<u32>, ComputeError> {
    let Some(public) = &query.public else {
        return Ok(vec![0; import_rows.len()]);
    };
    let ctx = SessionContext::new_with_state(scope.context().state());
    register_pseudonym_udf(&ctx, pseudonym_key);
    let quote = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    let mut select = vec![format!(
        "{PSEUDONYM_UDF}(CAST({}.{} AS VARCHAR)) AS __pseudonym",
        quote(&public.alias),
        quote(&public.key_column)
    )];
    for (i, g) in query.group_by.iter().enumerate() {
        select.push(format!("CAST({}.{} AS VARCHAR) AS __group_{i}", quote(&public.alias), quote(g)));
    }
    let mut sql = format!("SELECT {} FROM {} AS {}", select.join(", "), quote(&public.table), quote(&public.alias));
    if !public.filters.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&public.filters.iter().map(|f| format!("({f})")).collect::<Vec<_>>().join(" AND "));
    }
    // The analyst's filters run on personal rows: the same total-evaluation pass as any
    // private plan makes them unable to fail (or refuses them here).
    let state = ctx.state();
    let planning = |e: datafusion::error::DataFusionError| ComputeError::Planner(PlannerError::from_planning(e));
    let plan = state.create_logical_plan(&sql).await.map_err(planning)?;
    let plan = state.analyzer().execute_and_check(plan, state.config_options(), |_, _| {}).map_err(planning)?;
    let plan = shuyu_planner::total::make_total(plan)?;
    let frame = ctx.execute_logical_plan(plan).await.map_err(planning)?;
    let batches = frame.collect().await.map_err(|_| ComputeError::Internal("the public part of an encrypted query failed".into()))?;
    // Each person counts in one group only: the smallest group id their rows reach.
    let mut by_person: HashMap<[u8; 32], u32> = HashMap::new();
    for batch in &batches {
        let pseudonyms = batch.column(0).as_binary::<i32>();
        // `CAST(… AS VARCHAR)` may come back as Utf8View: read every key column as Utf8.
        let group_columns: Vec<ArrayRef> = (0..query.group_by.len())
            .map(|i| arrow::compute::cast(batch.column(i + 1), &DataType::Utf8))
            .collect::<Result<_, _>>()
            .map_err(|_| ComputeError::Internal("the public part of an encrypted query returned keys that are not text".into()))?;
        let group_columns: Vec<&StringArray> = group_columns.iter().map(|c| c.as_string::<i32>()).collect();
        for row in 0..batch.num_rows() {
            if pseudonyms.is_null(row) || group_columns.iter().any(|c| c.is_null(row)) {
                continue;
            }
            let values: Vec<&str> = group_columns.iter().map(|c| c.value(row)).collect();
            let Some(id) = groups.id(&values) else { continue };
            let Ok(p) = <[u8; 32]>::try_from(pseudonyms.value(row)) else { continue };
            by_person.entry(p).and_modify(|g| *g = (*g).min(id)).or_insert(id);
        }
    }
    Ok(import_rows.iter().map(|p| by_person.get(&p.0).copied().unwrap_or(shuyu_crypto::linear::NO_GROUP)).collect())
}

/// Builds the result batch under the plan's [`result_schema`], one row per group.
pub fn result_batch(
    query: &FusedQuery,
    groups: &Groups,
    sums: &HashMap<String, Vec<i64>>,
    counts: Option<&[i64]>,
) -> Result<RecordBatch, ComputeError> {
    let n = groups.len();
    let mut columns: Vec<ArrayRef> = Vec::new();
    let group_values: Vec<Vec<String>> = (0..n).map(|g| groups.values(g)).collect();
    for (_, output) in &query.outputs {
        match output {
            Output::Group(i) => {
                columns.push(Arc::new(StringArray::from_iter_values(group_values.iter().map(|v| v[*i].clone()))));
            }
            Output::Aggregate(Aggregate::Sum(c)) => {
                let values = sums.get(c).ok_or_else(|| ComputeError::Internal(format!("no sum for {c}")))?;
                columns.push(Arc::new(Int64Array::from(values.clone())));
            }
            Output::Aggregate(Aggregate::Count) => {
                let values = counts.ok_or_else(|| ComputeError::Internal("no count".into()))?;
                columns.push(Arc::new(Int64Array::from(values.to_vec())));
            }
            Output::Aggregate(Aggregate::Avg(c)) => {
                let s = sums.get(c).ok_or_else(|| ComputeError::Internal(format!("no sum for {c}")))?;
                let k = counts.ok_or_else(|| ComputeError::Internal("no count".into()))?;
                // Post-processing of two noised releases; a noised count below one reads as one.
                let avg: Vec<f64> = s.iter().zip(k).map(|(&s, &k)| s as f64 / k.max(1) as f64).collect();
                columns.push(Arc::new(Float64Array::from(avg)));
            }
        }
    }
    RecordBatch::try_new(result_schema(query), columns).map_err(|e| ComputeError::Internal(e.to_string()))
}
