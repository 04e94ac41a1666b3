//! EXPLAIN PRIVACY: the measurements of a calibrated plan as a table, one row each and a
//! total row. One renderer, [`ExplainTable`], for private plans ([`explain_batch`]) and for
//! fused queries over encrypted imports (`crate::encrypted::explain`). Deterministic: it
//! reads no data and spends nothing.

use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;

use shuyu_privacy::PrivacyDefinition;

use crate::plan::{Calibration, KeySet, OutputKind, PrivatePlan};

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

/// One row of EXPLAIN PRIVACY: a measurement (or the total, with no release).
#[derive(Debug, Clone)]
pub struct ExplainRow {
    /// Release index (`None` on the total row).
    pub release: Option<i64>,
    /// The output columns that use the measurement.
    pub column: String,
    /// What is measured, for humans.
    pub measure: String,
    /// The sensitivity the noise is calibrated to.
    pub sensitivity: Option<f64>,
    /// The calibration (`None`: the plan was not calibrated).
    pub calibration: Option<Calibration>,
    /// 95 % confidence half-width of one released value, in the output's units.
    pub half_width: Option<f64>,
    /// How the released keys are chosen.
    pub keys: String,
}

/// The rows of one EXPLAIN PRIVACY table, closed by its total row.
#[derive(Debug, Default)]
pub struct ExplainTable {
    rows: Vec<ExplainRow>,
}

impl ExplainTable {
    /// Adds one measurement's row.
    pub fn push(&mut self, row: ExplainRow) {
        self.rows.push(row);
    }

    /// The table, closed by the total row: `measure` says how the measurements compose,
    /// `cost` and `delta` are what the plan spends in `definition`'s unit.
    pub fn finish(self, measure: String, definition: PrivacyDefinition, cost: f64, delta: f64) -> RecordBatch {
        let mut rows = self.rows;
        let total = ExplainRow { release: None, column: "(total)".into(), measure, sensitivity: None, calibration: None, half_width: None, keys: String::new() };
        let mechanism = |r: &ExplainRow| match (r.release, r.calibration) {
            (None, _) => format!("{} (delta {delta:e})", definition.unit_name()),
            (Some(_), Some(c)) => c.mechanism.name().to_string(),
            (Some(_), None) => "uncalibrated".to_string(),
        };
        rows.push(total);
        let last = rows.len() - 1;
        let cols: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(rows.iter().map(|r| r.release).collect::<Vec<_>>())),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.column.as_str()))),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.measure.as_str()))),
            Arc::new(StringArray::from_iter_values(rows.iter().map(mechanism))),
            Arc::new(Float64Array::from(rows.iter().map(|r| r.sensitivity).collect::<Vec<_>>())),
            Arc::new(Float64Array::from(rows.iter().map(|r| r.calibration.map(|c| c.scale)).collect::<Vec<_>>())),
            Arc::new(Float64Array::from(
                rows.iter().enumerate().map(|(i, r)| if i == last { Some(cost) } else { r.calibration.map(|c| c.cost) }).collect::<Vec<_>>(),
            )),
            Arc::new(Float64Array::from(rows.iter().map(|r| r.half_width).collect::<Vec<_>>())),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.keys.as_str()))),
        ];
        RecordBatch::try_new(explain_schema(), cols).expect("explain columns match their schema")
    }
}

/// The keys text of a release over the product of public domains (`size` keys).
pub fn public_keys_text(size: usize) -> String {
    format!("public domain: {size} keys, empty ones included")
}

/// The keys text of a release without GROUP BY.
pub const GLOBAL_KEYS_TEXT: &str = "one row";

fn keys_text(k: &KeySet) -> String {
    match k {
        KeySet::Global => GLOBAL_KEYS_TEXT.into(),
        KeySet::Public { size, .. } => public_keys_text(*size),
        KeySet::Selected { calibration: Some(c), max_partitions, .. } => format!(
            "partition selection: keys with noisy unit count >= {} (at most {max_partitions} keys per unit)",
            c.threshold
        ),
        KeySet::Selected { .. } => "partition selection".into(),
    }
}

/// One row per measurement (partials, selections, quantiles) and a total row.
pub fn explain_batch(plan: &PrivatePlan) -> RecordBatch {
    let mut table = ExplainTable::default();
    for r in &plan.releases {
        let kt = keys_text(&r.keys);
        let release = Some(r.index as i64);
        if let KeySet::Selected { calibration: Some(c), .. } = &r.keys {
            table.push(ExplainRow {
                release,
                column: "(keys)".into(),
                measure: "count(distinct unit) per key".into(),
                sensitivity: Some(1.0),
                calibration: Some(*c),
                half_width: None,
                keys: kt.clone(),
            });
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
            table.push(ExplainRow {
                release,
                column: users.join(", "),
                measure: p.label.clone(),
                sensitivity: Some(p.vector_sensitivity),
                calibration: p.calibration,
                half_width: p.calibration.map(|c| c.half_width / unit.unwrap_or(1.0)),
                keys: kt.clone(),
            });
        }
        for (hi, h) in r.histograms.iter().enumerate() {
            let users: Vec<&str> = r
                .outputs
                .iter()
                .filter(|o| matches!(o.kind, OutputKind::Quantile { histogram, .. } if histogram == hi))
                .map(|o| o.name.as_str())
                .collect();
            table.push(ExplainRow {
                release,
                column: users.join(", "),
                measure: format!("quantile over {} candidates in [{}, {}]", h.buckets, h.bounds.0, h.bounds.1),
                sensitivity: Some(h.max_rows as f64),
                calibration: h.calibration,
                half_width: None,
                keys: kt.clone(),
            });
        }
    }
    let (total, delta) = plan.total_cost();
    let measure = format!("{} releases, {} measurements, basic composition", plan.releases.len(), plan.measurement_count());
    table.finish(measure, plan.budget.definition, total, delta)
}
