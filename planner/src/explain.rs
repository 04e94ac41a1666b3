//! EXPLAIN PRIVACY: the releases of a calibrated plan as a table. Deterministic: it reads
//! no data and spends nothing.

use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;

use crate::plan::{KeySet, OutputKind, PrivatePlan};

/// Schema of the EXPLAIN PRIVACY result.
pub fn explain_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("release", DataType::Int64, true),
        Field::new("column", DataType::Utf8, false),
        Field::new("measure", DataType::Utf8, false),
        Field::new("mechanism", DataType::Utf8, false),
        Field::new("sensitivity", DataType::Float64, true),
        Field::new("scale", DataType::Float64, true),
        Field::new("cost", DataType::Float64, true),
        Field::new("ci95_half_width", DataType::Float64, true),
        Field::new("keys", DataType::Utf8, false),
    ]))
}

fn keys_text(k: &KeySet) -> String {
    match k {
        KeySet::Global => "one row".into(),
        KeySet::Public { size, .. } => format!("public domain: {size} keys, empty ones included"),
        KeySet::Selected { calibration: Some(c), max_partitions, .. } => format!(
            "partition selection: keys with noisy unit count >= {} (at most {max_partitions} keys per unit)",
            c.threshold
        ),
        KeySet::Selected { .. } => "partition selection".into(),
    }
}

/// One row per measurement (partials, selections, quantiles) and a total row.
pub fn explain_batch(plan: &PrivatePlan) -> RecordBatch {
    let mut release = Vec::new();
    let mut column = Vec::new();
    let mut measure = Vec::new();
    let mut mechanism = Vec::new();
    let mut sensitivity = Vec::new();
    let mut scale = Vec::new();
    let mut cost = Vec::new();
    let mut half = Vec::new();
    let mut keys = Vec::new();
    for r in &plan.releases {
        let kt = keys_text(&r.keys);
        if let KeySet::Selected { calibration: Some(c), .. } = &r.keys {
            release.push(Some(r.index as i64));
            column.push("(keys)".to_string());
            measure.push("count(distinct unit) per key".to_string());
            mechanism.push(c.mechanism.name().to_string());
            sensitivity.push(Some(1.0));
            scale.push(Some(c.scale));
            cost.push(Some(c.cost));
            half.push(None);
            keys.push(kt.clone());
        }
        for (pi, p) in r.partials.iter().enumerate() {
            let users: Vec<&str> = r
                .outputs
                .iter()
                .filter(|o| match &o.kind {
                    OutputKind::Count { partial } | OutputKind::Sum { partial, .. } => *partial == pi,
                    OutputKind::Avg { sum, count, .. } => *sum == pi || *count == pi,
                    OutputKind::Variance { sum, sum_sq, count, .. } => *sum == pi || *sum_sq == pi || *count == pi,
                    OutputKind::Quantile { .. } => false,
                })
                .map(|o| o.name.as_str())
                .collect();
            // Half-width in the output's own units where the output is this partial alone.
            let unit = r.outputs.iter().find_map(|o| match &o.kind {
                OutputKind::Count { partial } if *partial == pi => Some(1.0),
                OutputKind::Sum { partial, grid, .. } if *partial == pi => Some(*grid),
                _ => None,
            });
            release.push(Some(r.index as i64));
            column.push(users.join(", "));
            measure.push(p.label.clone());
            let c = p.calibration;
            mechanism.push(c.map(|c| c.mechanism.name().to_string()).unwrap_or_else(|| "uncalibrated".into()));
            sensitivity.push(Some(p.vector_sensitivity));
            scale.push(c.map(|c| c.scale));
            cost.push(c.map(|c| c.cost));
            half.push(c.map(|c| c.half_width / unit.unwrap_or(1.0)));
            keys.push(kt.clone());
        }
        for (hi, h) in r.histograms.iter().enumerate() {
            let users: Vec<&str> = r
                .outputs
                .iter()
                .filter(|o| matches!(o.kind, OutputKind::Quantile { histogram, .. } if histogram == hi))
                .map(|o| o.name.as_str())
                .collect();
            release.push(Some(r.index as i64));
            column.push(users.join(", "));
            measure.push(format!("quantile over {} candidates in [{}, {}]", h.buckets, h.bounds.0, h.bounds.1));
            let c = h.calibration;
            mechanism.push(c.map(|c| c.mechanism.name().to_string()).unwrap_or_else(|| "uncalibrated".into()));
            sensitivity.push(Some(h.max_rows as f64));
            scale.push(c.map(|c| c.scale));
            cost.push(c.map(|c| c.cost));
            half.push(None);
            keys.push(kt.clone());
        }
    }
    let (total, delta) = plan.total_cost();
    release.push(None);
    column.push("(total)".into());
    measure.push(format!("{} releases, {} measurements, basic composition", plan.releases.len(), plan.measurement_count()));
    mechanism.push(format!("{} (delta {delta:e})", plan.budget.definition.unit_name()));
    sensitivity.push(None);
    scale.push(None);
    cost.push(Some(total));
    half.push(None);
    keys.push(String::new());
    let cols: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(release)),
        Arc::new(StringArray::from(column)),
        Arc::new(StringArray::from(measure)),
        Arc::new(StringArray::from(mechanism)),
        Arc::new(Float64Array::from(sensitivity)),
        Arc::new(Float64Array::from(scale)),
        Arc::new(Float64Array::from(cost)),
        Arc::new(Float64Array::from(half)),
        Arc::new(StringArray::from(keys)),
    ];
    RecordBatch::try_new(explain_schema(), cols).expect("explain columns match their schema")
}
