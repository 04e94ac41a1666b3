//! The streaming bounding pass against a direct computation of the same bounding, on
//! unit-clustered input split across batches and partitions, and its refusal of input that
//! is not clustered.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, Int64Type, Schema};
use arrow::record_batch::RecordBatch;
use datafusion::datasource::MemTable;
use datafusion::functions::core::expr_fn::get_field;
use datafusion::logical_expr::{col, LogicalPlanBuilder};
use datafusion::prelude::SessionContext;
use shuyu_planner::aggregate::BoundingOrder;
use shuyu_planner::bounding::{is_not_clustered, BoundParams, PartialInput};

/// Rows: (unit, key, flag, value).
type Row = (i64, &'static str, bool, Option<i64>);

fn rows(units: usize) -> Vec<Row> {
    // A deterministic spread: unit u has 1 + u % 7 rows over up to 4 keys; unit 3 has many
    // rows with large values, so clamping matters.
    let keys = ["a", "b", "c", "d", "e"];
    let mut out = Vec::new();
    for u in 0..units as i64 {
        let n = if u == 3 { 40 } else { 1 + (u % 7) as usize };
        for j in 0..n {
            let key = keys[((u as usize) * 3 + j) % if u % 2 == 0 { 5 } else { 2 }];
            let value = if j % 5 == 4 { None } else { Some(if u == 3 { 1000 } else { (u * 13 + j as i64) % 100 }) };
            out.push((u, key, (u + j as i64) % 3 == 0, value));
        }
    }
    out
}

fn batches(rows: &[Row], batch_rows: usize, partitions: usize) -> Vec<Vec<RecordBatch>> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("unit", DataType::Int64, false),
        Field::new("key", DataType::Utf8, false),
        Field::new("flag", DataType::Boolean, false),
        Field::new("value", DataType::Int64, true),
    ]));
    let chunks: Vec<RecordBatch> = rows
        .chunks(batch_rows)
        .map(|c| {
            let cols: Vec<ArrayRef> = vec![
                Arc::new(Int64Array::from(c.iter().map(|r| r.0).collect::<Vec<_>>())),
                Arc::new(StringArray::from(c.iter().map(|r| r.1).collect::<Vec<_>>())),
                Arc::new(BooleanArray::from(c.iter().map(|r| r.2).collect::<Vec<_>>())),
                Arc::new(Int64Array::from(c.iter().map(|r| r.3).collect::<Vec<_>>())),
            ];
            RecordBatch::try_new(schema.clone(), cols).unwrap()
        })
        .collect();
    // Contiguous runs of batches per partition, as a file scan split by ranges gives.
    let per = chunks.len().div_ceil(partitions);
    chunks.chunks(per).map(|c| c.to_vec()).collect()
}

const LO: i64 = 0;
const MAX_ROWS: i64 = 3;
const HI: i64 = 100;

/// The bounding computed directly: per unit and key, clamp the sums; keep the
/// `max_groups` smallest keys; sum per key. Returns key -> (units, rows, flagged, value).
fn expected(rows: &[Row], max_groups: usize) -> BTreeMap<String, [i64; 4]> {
    let mut per: BTreeMap<i64, BTreeMap<&str, [i64; 3]>> = BTreeMap::new();
    for (u, k, f, v) in rows {
        let e = per.entry(*u).or_default().entry(k).or_default();
        e[0] += 1;
        e[1] += i64::from(*f);
        e[2] += v.unwrap_or(0);
    }
    let mut out: BTreeMap<String, [i64; 4]> = BTreeMap::new();
    for keys in per.values() {
        for (k, s) in keys.iter().take(max_groups) {
            let o = out.entry(k.to_string()).or_default();
            o[0] += 1;
            o[1] += s[0].clamp(0, MAX_ROWS);
            o[2] += s[1].clamp(0, MAX_ROWS);
            o[3] += s[2].clamp(LO, HI * MAX_ROWS);
        }
    }
    out
}

async fn run(parts: Vec<Vec<RecordBatch>>, max_groups: usize) -> datafusion::error::Result<BTreeMap<String, [i64; 4]>> {
    run_with(parts, max_groups, BoundingOrder::ByKey, [0; 32]).await
}

async fn run_with(parts: Vec<Vec<RecordBatch>>, max_groups: usize, order: BoundingOrder, seed: [u8; 32]) -> datafusion::error::Result<BTreeMap<String, [i64; 4]>> {
    let schema = parts[0][0].schema();
    let ctx = SessionContext::new();
    ctx.register_table("t", Arc::new(MemTable::try_new(schema, parts)?))?;
    let params = BoundParams {
        key_count: 1,
        names: vec!["rows".into(), "flagged".into(), "value".into()],
        partials: vec![(PartialInput::Rows, 0, MAX_ROWS), (PartialInput::Where, 0, MAX_ROWS), (PartialInput::Value, LO, HI * MAX_ROWS)],
        units_column: Some("units".into()),
        max_groups: Some(max_groups),
        order,
        seed,
    };
    let scan = ctx.table("t").await?.into_unoptimized_plan();
    let out = ["__k0", "units", "rows", "flagged", "value"].map(|n| get_field(col("b"), n).alias(n)).to_vec();
    let plan = LogicalPlanBuilder::from(scan)
        .aggregate(Vec::<datafusion::prelude::Expr>::new(), vec![params.call(vec![col("unit"), col("key"), col("flag"), col("value")]).alias("b")])?
        .unnest_column("b")?
        .project(out)?
        .build()?;
    let got = ctx.execute_logical_plan(plan).await?.collect().await?;
    let mut map = BTreeMap::new();
    for b in &got {
        let k = b.column(0).as_string::<i32>();
        let vals: Vec<&Int64Array> = (1..5).map(|i| b.column(i).as_primitive::<Int64Type>()).collect();
        for r in 0..b.num_rows() {
            assert!(k.is_valid(r));
            map.insert(k.value(r).to_string(), [vals[0].value(r), vals[1].value(r), vals[2].value(r), vals[3].value(r)]);
        }
    }
    Ok(map)
}

#[tokio::test]
async fn matches_the_direct_bounding_across_batches_and_partitions() {
    let data = rows(500);
    for (batch_rows, partitions) in [(10_000, 1), (7, 1), (7, 2), (3, 4), (1, 3)] {
        for max_groups in [1, 2, 5] {
            let got = run(batches(&data, batch_rows, partitions), max_groups).await.unwrap();
            assert_eq!(got, expected(&data, max_groups), "batch {batch_rows} rows, {partitions} partitions, max_groups {max_groups}");
        }
    }
}

/// Random bounding is a function of the data and the seed: the same keys are kept however
/// the rows are split into batches and partitions (as a retried or re-planned cluster task
/// splits them), and another seed keeps others.
#[tokio::test]
async fn seeded_random_bounding_is_the_same_on_every_split() {
    let data = rows(500);
    let seed = [7u8; 32];
    let want = run_with(batches(&data, 10_000, 1), 1, BoundingOrder::Random, seed).await.unwrap();
    for (batch_rows, partitions) in [(7, 1), (7, 2), (3, 4), (1, 3)] {
        let got = run_with(batches(&data, batch_rows, partitions), 1, BoundingOrder::Random, seed).await.unwrap();
        assert_eq!(got, want, "batch {batch_rows} rows, {partitions} partitions");
    }
    let units: i64 = want.values().map(|v| v[0]).sum();
    assert_eq!(units, 500, "one key kept per unit");
    let other = run_with(batches(&data, 10_000, 1), 1, BoundingOrder::Random, [8u8; 32]).await.unwrap();
    assert_ne!(other, want, "another seed draws other keys");
    assert_ne!(want, run(batches(&data, 10_000, 1), 1).await.unwrap(), "random is not key order");
}

#[tokio::test]
async fn a_unit_with_huge_values_moves_a_key_by_the_bound_only() {
    let data = rows(50);
    let got = run(batches(&data, 4, 2), 5).await.unwrap();
    let mut without: Vec<Row> = data.iter().copied().filter(|r| r.0 != 3).collect();
    without.sort_by_key(|r| r.0);
    let other = run(batches(&without, 4, 2), 5).await.unwrap();
    for (k, v) in &got {
        let w = other.get(k).copied().unwrap_or_default();
        assert!((v[3] - w[3]).abs() <= HI * MAX_ROWS, "key {k}: unit 3 moved the value sum by {}", v[3] - w[3]);
        assert!((v[1] - w[1]).abs() <= MAX_ROWS);
    }
}

#[tokio::test]
async fn input_not_clustered_by_unit_fails_and_releases_nothing() {
    let mut data = rows(100);
    // Unit 10's rows also appear after unit 90's: inside one batch the order breaks.
    let moved: Vec<Row> = data.iter().copied().filter(|r| r.0 == 10).collect();
    data.retain(|r| r.0 != 10 || r.1 == "zzz");
    data.extend(moved);
    let err = run(batches(&data, 100_000, 1), 5).await.unwrap_err();
    assert!(is_not_clustered(&err), "{err}");
    // The same, where each batch is sorted but two batches overlap.
    let mut a: Vec<Row> = rows(100).into_iter().filter(|r| r.0 % 2 == 0).collect();
    let b: Vec<Row> = rows(100).into_iter().filter(|r| r.0 % 2 == 1).collect();
    let split = a.len();
    a.extend(b);
    let err = run(batches(&a, split, 2), 5).await.unwrap_err();
    assert!(is_not_clustered(&err), "{err}");
}

#[test]
fn the_fixture_exercises_clamping_and_key_limits() {
    let data = rows(500);
    let mut keys_per_unit: HashMap<i64, std::collections::HashSet<&str>> = HashMap::new();
    for r in &data {
        keys_per_unit.entry(r.0).or_default().insert(r.1);
    }
    assert!(keys_per_unit.values().any(|k| k.len() > 2), "some unit must reach more keys than max_groups");
    assert!(data.iter().filter(|r| r.0 == 3).count() as i64 > MAX_ROWS);
}

/// The no-key pass: per unit, all rows summed, clamped, then summed over units.
#[tokio::test]
async fn the_global_pass_matches_the_direct_bounding() {
    // The keyed fixture without its key; unit 3's values exceed the per-row bound.
    let data: Vec<(i64, bool, Option<i64>)> = rows(300).into_iter().map(|(u, _, f, v)| (u, f, v)).collect();
    let bounds = [(0, MAX_ROWS), (0, MAX_ROWS), (LO, HI * MAX_ROWS)];
    let want = direct_global(&data, bounds);
    for (batch_rows, partitions) in [(100_000, 1), (5, 1), (5, 3), (1, 2)] {
        assert_eq!(run_global(&data, batch_rows, partitions, bounds).await, want, "batch {batch_rows} rows, {partitions} partitions");
    }
}

/// Per unit: rows, flagged rows and the value sum, each clamped; summed over units, with the
/// unit count first. The direct computation the global pass must match.
fn direct_global(data: &[(i64, bool, Option<i64>)], bounds: [(i64, i64); 3]) -> Vec<i64> {
    let mut per: BTreeMap<i64, [i64; 3]> = BTreeMap::new();
    for (u, f, v) in data {
        let e = per.entry(*u).or_default();
        e[0] += 1;
        e[1] += i64::from(*f);
        e[2] += v.unwrap_or(0);
    }
    per.values().fold(vec![0i64; 4], |mut acc, s| {
        acc[0] += 1;
        for p in 0..3 {
            acc[p + 1] += s[p].clamp(bounds[p].0, bounds[p].1);
        }
        acc
    })
}

async fn run_global(data: &[(i64, bool, Option<i64>)], batch_rows: usize, partitions: usize, bounds: [(i64, i64); 3]) -> Vec<i64> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("unit", DataType::Int64, false),
        Field::new("flag", DataType::Boolean, false),
        Field::new("value", DataType::Int64, true),
    ]));
    let chunks: Vec<RecordBatch> = data
        .chunks(batch_rows)
        .map(|c| {
            let cols: Vec<ArrayRef> = vec![
                Arc::new(Int64Array::from(c.iter().map(|r| r.0).collect::<Vec<_>>())),
                Arc::new(BooleanArray::from(c.iter().map(|r| r.1).collect::<Vec<_>>())),
                Arc::new(Int64Array::from(c.iter().map(|r| r.2).collect::<Vec<_>>())),
            ];
            RecordBatch::try_new(schema.clone(), cols).unwrap()
        })
        .collect();
    let per = chunks.len().div_ceil(partitions);
    let parts: Vec<Vec<RecordBatch>> = chunks.chunks(per).map(|c| c.to_vec()).collect();
    let ctx = SessionContext::new();
    ctx.register_table("t", Arc::new(MemTable::try_new(schema, parts).unwrap())).unwrap();
    let params = BoundParams {
        key_count: 0,
        names: vec!["rows".into(), "flagged".into(), "value".into()],
        partials: vec![(PartialInput::Rows, bounds[0].0, bounds[0].1), (PartialInput::Where, bounds[1].0, bounds[1].1), (PartialInput::Value, bounds[2].0, bounds[2].1)],
        units_column: Some("units".into()),
        max_groups: None,
        order: BoundingOrder::Random,
        seed: [0; 32],
    };
    let scan = ctx.table("t").await.unwrap().into_unoptimized_plan();
    let out = ["units", "rows", "flagged", "value"].map(|n| get_field(col("b"), n).alias(n)).to_vec();
    let plan = LogicalPlanBuilder::from(scan)
        .aggregate(Vec::<datafusion::prelude::Expr>::new(), vec![params.call(vec![col("unit"), col("flag"), col("value")]).alias("b")])
        .unwrap()
        .unnest_column("b")
        .unwrap()
        .project(out)
        .unwrap()
        .build()
        .unwrap();
    let got = ctx.execute_logical_plan(plan).await.unwrap().collect().await.unwrap();
    let b = got.iter().find(|b| b.num_rows() > 0).expect("one row");
    (0..4).map(|i| b.column(i).as_primitive::<Int64Type>().value(0)).collect()
}

/// Runs longer than the row bound, among many short ones, with every value inside the per-row
/// bounds (the case where the pass sums whole slices and clamps only the long runs), and
/// with values of both signs. Lengths and values come from a fixed linear congruential
/// sequence so every configuration is reproducible.
#[tokio::test]
async fn the_global_pass_clamps_exactly_the_long_runs() {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move |m: u64| {
        state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) % m
    };
    // Values in [-40, 100] (null every 9th row); 1 in 25 units has 20 to 80 rows.
    let mut data: Vec<(i64, bool, Option<i64>)> = Vec::new();
    for u in 0..2_000i64 {
        let n = if next(25) == 0 { 20 + next(61) } else { 1 + next(4) };
        for _ in 0..n {
            let v = if data.len() % 9 == 8 { None } else { Some(next(141) as i64 - 40) };
            data.push((u, next(3) == 0, v));
        }
    }
    let long = data.windows(4).filter(|w| w[0].0 == w[3].0).count();
    assert!(long > 50, "the fixture must have runs longer than the bound of 3 rows");
    // Bounds for 3 rows: counts in [0, 3]; values in [3·(-40), 3·100].
    let bounds = [(0, MAX_ROWS), (0, MAX_ROWS), (-40 * MAX_ROWS, HI * MAX_ROWS)];
    let want = direct_global(&data, bounds);
    for (batch_rows, partitions) in [(1_000_000, 1), (8192, 2), (257, 1), (64, 3), (7, 2), (1, 2)] {
        assert_eq!(run_global(&data, batch_rows, partitions, bounds).await, want, "batch {batch_rows} rows, {partitions} partitions");
    }
    // A value bound so tight that even one row may exceed it: every run is clamped apart.
    let tight = [(0, MAX_ROWS), (0, MAX_ROWS), (-10, 10)];
    let want = direct_global(&data, tight);
    for (batch_rows, partitions) in [(1_000_000, 1), (100, 2)] {
        assert_eq!(run_global(&data, batch_rows, partitions, tight).await, want, "tight bound, batch {batch_rows} rows");
    }
}
