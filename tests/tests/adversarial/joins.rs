//! Channel 3: joins that multiply one person's rows while the noise is sized for one.
//!
//! Each attack sums the target's income through a join that repeats the target's row F
//! times (F = 1 728 = 12³ for three joins with the 12 districts), so the noised sum is
//! F·income + noise and `answer / F` estimates the income with the noise divided by F.
//! Secure: the query is refused (PERMISSION_DENIED with a refusal code), or the release is
//! bounded per person as a many-rows relation, or its declared noise covers the fan-out.
//! The check is numerical and does not depend on which: the attacker's estimate must not be
//! within 1 % of the truth unless the standard deviation the release declares
//! (`shuyu.scale`), divided by F, is itself at least 1 % of the income (so the declaration
//! says the attacker could not expect that precision). With bounding, the exact part of the
//! answer is at most 200 000 (one row's bound), so the estimate is below 200 000 / 1 728 +
//! noise, thousands of deviations away from a target income of at least 60 000: the
//! tolerance never trips by chance. Today the noise is sized for one row (σ = 200 000 at
//! ρ = 0.5, so σ / F ≈ 116 yuan, under 1 % of 60 000 = 600: the estimate is within 1 %
//! with probability 1 − 3·10⁻⁷). EXPLAIN PRIVACY of each attack must agree with its
//! execution: both refused with the same code, or both accepted.

use std::fs::File;

use arrow::array::AsArray;
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type, Int64Type};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use tonic::Code;

use crate::fixture::{self, TestServer};
use crate::kit::{client_spending, observe, scalar, single_violations, target, Client, Observed};

/// Budget of one attack: the per-query cap of chunhe-health.
const RHO: &str = "0.5";

/// Three joins with the 12 districts repeat each row 12³ times.
const F3: f64 = 1728.0;

/// Whether `message` names a refusal code (an upper-case identifier such as `UNSUPPORTED_JOIN`).
fn names_a_refusal_code(message: &str) -> bool {
    message.split(|c: char| !(c.is_ascii_uppercase() || c == '_')).any(|w| w.len() >= 4 && w.contains('_'))
}

/// The declared standard deviation of the first column's noise, in output units.
fn declared_scale(o: &Observed) -> Option<f64> {
    let (schema, _) = o.reply.as_ref().ok()?;
    schema.fields().first()?.metadata().get("shuyu.scale")?.parse().ok()
}

/// Runs one fan-out attack whose true answer is `fanout × truth`, and returns its breaches.
async fn fan_out(server: &TestServer, client: &mut Client, sql: &str, fanout: f64, truth: f64) -> Vec<String> {
    let unit = server.health().clone();
    let mut v = Vec::new();
    let o = observe(server, &unit, client, sql).await;
    v.extend(single_violations(&o, &[]));
    let explained = observe(server, &unit, client, &format!("EXPLAIN PRIVACY {sql}")).await;
    match (o.error(), explained.error()) {
        (None, None) => {}
        (Some((c, _)), Some((e, _))) if c == e => {}
        _ => v.push(format!("EXPLAIN PRIVACY and execution disagree:\n    {}\n    {}", explained.describe(), o.describe())),
    }
    match o.error() {
        Some((c, m)) => {
            if c != Code::PermissionDenied || !names_a_refusal_code(m) {
                v.push(format!("a refusal is PERMISSION_DENIED with its code: {}", o.describe()));
            }
        }
        None => {
            let (_, batches) = o.reply.as_ref().expect("answered");
            let answer = scalar(batches).unwrap_or(0.0);
            let estimate = answer / fanout;
            let within = (estimate - truth).abs() <= 0.01 * truth;
            let declared = declared_scale(&o);
            let covered = declared.is_some_and(|s| s / fanout >= 0.01 * truth);
            if within && !covered {
                v.push(format!(
                    "the fan-out ×{fanout} went unaccounted: answer / {fanout} = {estimate:.2} is within 1 % of the truth \
                     while the declared noise σ = {declared:?} covers one row: {}",
                    o.describe()
                ));
            }
        }
    }
    v
}

/// Runs every `joins` clause as `SELECT SUM(r.income) FROM residents r <joins> WHERE
/// r.person_id = <target>` with fan-out `F3`, on a fresh server, and asserts no breach.
async fn assert_fan_outs_bounded(shape: &str, joins: &[&str]) {
    let with_f3: Vec<(String, f64)> = joins.iter().map(|j| (j.to_string(), F3)).collect();
    assert_fan_outs_bounded_by(shape, &with_f3).await;
}

/// Like [`assert_fan_outs_bounded`], each clause with its own fan-out.
async fn assert_fan_outs_bounded_by(shape: &str, joins: &[(String, f64)]) {
    let server = TestServer::start().await;
    let unit = server.health().clone();
    let mut client = client_spending(&server, &unit, RHO).await;
    let t = target();
    let mut all = Vec::new();
    for (j, fanout) in joins {
        let sql = format!("SELECT SUM(r.income) AS s FROM residents r {j} WHERE r.person_id = {}", t.person_id);
        all.extend(fan_out(&server, &mut client, &sql, *fanout, t.income).await);
    }
    assert!(all.is_empty(), "{shape}: {} breach(es):\n  {}", all.len(), all.join("\n  "));
    server.stop().await;
}

/// Attack (issue 12's reproduction): `JOIN districts a ON a.district = a.district`, three
/// times. The condition names a unique public key, so today the relation stays one row per
/// person, while each join multiplies every row by 12.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_self_condition_join_does_not_multiply_a_person() {
    assert_fan_outs_bounded(
        "self-condition join",
        &["JOIN districts a ON a.district = a.district JOIN districts b ON b.district = b.district JOIN districts c ON c.district = c.district"],
    )
    .await;
}

/// Attack: cross joins with a public table (explicit, comma-separated, and `ON TRUE`),
/// which repeat each person's row once per public row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cross_join_with_a_public_table_does_not_multiply_a_person() {
    assert_fan_outs_bounded(
        "cross join",
        &[
            "CROSS JOIN districts a CROSS JOIN districts b CROSS JOIN districts c",
            "JOIN districts a ON TRUE JOIN districts b ON TRUE JOIN districts c ON TRUE",
            ", districts a, districts b, districts c",
        ],
    )
    .await;
}

/// Attack: non-equi joins (`r.age < a.area_km2` holds for every district), alone and
/// beside an equality on a unique public key that matches the public side with itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_equi_join_does_not_multiply_a_person() {
    assert_fan_outs_bounded(
        "non-equi join",
        &[
            "JOIN districts a ON r.age < a.area_km2 JOIN districts b ON r.age < b.area_km2 JOIN districts c ON r.age < c.area_km2",
            "JOIN districts a ON a.district = a.district AND r.age < a.area_km2 \
             JOIN districts b ON b.district = b.district AND r.age < b.area_km2 \
             JOIN districts c ON c.district = c.district AND r.age < c.area_km2",
        ],
    )
    .await;
}

/// Attack: an `OR` in the join condition (`r.district = a.district OR a.population_2020 >
/// 0` matches every district), alone and beside an equality on the unique key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_or_join_condition_does_not_multiply_a_person() {
    assert_fan_outs_bounded(
        "OR condition",
        &[
            "JOIN districts a ON r.district = a.district OR a.population_2020 > 0 \
             JOIN districts b ON r.district = b.district OR b.population_2020 > 0 \
             JOIN districts c ON r.district = c.district OR c.population_2020 > 0",
            "JOIN districts a ON (r.district = a.district OR a.population_2020 > 0) AND a.district = a.district \
             JOIN districts b ON (r.district = b.district OR b.population_2020 > 0) AND b.district = b.district \
             JOIN districts c ON (r.district = c.district OR c.population_2020 > 0) AND c.district = c.district",
        ],
    )
    .await;
}

/// Attack: a join condition that names one side only, or names the personal side without
/// matching it to the key: `a.population_2020 > 0`, `a.district = lower(a.district)`, and
/// `a.district = COALESCE(a.district, r.district)` all hold for every district.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_condition_on_one_side_only_does_not_multiply_a_person() {
    assert_fan_outs_bounded(
        "condition naming one side only",
        &[
            "JOIN districts a ON a.population_2020 > 0 JOIN districts b ON b.population_2020 > 0 JOIN districts c ON c.population_2020 > 0",
            "JOIN districts a ON a.district = lower(a.district) JOIN districts b ON b.district = lower(b.district) \
             JOIN districts c ON c.district = lower(c.district)",
            "JOIN districts a ON a.district = COALESCE(a.district, r.district) \
             JOIN districts b ON b.district = COALESCE(b.district, r.district) \
             JOIN districts c ON c.district = COALESCE(c.district, r.district)",
        ],
    )
    .await;
}

/// Attack: subqueries over public tables that repeat rows (a public table crossed with
/// itself or with VALUES, UNION ALL), matched on the personal district, and a projection of
/// the unique key matched with itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_public_subquery_that_repeats_rows_does_not_multiply_a_person() {
    let crossed = "(SELECT x.district FROM districts x CROSS JOIN districts y)";
    let values = "(SELECT d.district FROM districts d CROSS JOIN (VALUES (1), (2), (3), (4), (5), (6), (7), (8), (9), (10), (11), (12)) v(k))";
    let union = "(SELECT district FROM districts UNION ALL SELECT district FROM districts)";
    let joined = |s: &str| format!("JOIN {s} s1 ON r.district = s1.district JOIN {s} s2 ON r.district = s2.district JOIN {s} s3 ON r.district = s3.district");
    let self_matched = "JOIN (SELECT district FROM districts) s1 ON s1.district = s1.district \
                        JOIN (SELECT district FROM districts) s2 ON s2.district = s2.district \
                        JOIN (SELECT district FROM districts) s3 ON s3.district = s3.district";
    assert_fan_outs_bounded_by(
        "public subquery repeating rows",
        &[(joined(crossed), F3), (joined(values), F3), (joined(union), 8.0), (self_matched.to_string(), F3)],
    )
    .await;
}

/// Visits per person and the sum of their costs (each clamped to the public bound 50 000).
fn visits() -> Vec<(i64, usize, f64)> {
    let file = File::open(fixture::city().join("medical_visits.parquet")).expect("medical_visits.parquet");
    let reader = ParquetRecordBatchReaderBuilder::try_new(file).expect("Parquet").build().expect("reader");
    let mut per: std::collections::BTreeMap<i64, (usize, f64)> = Default::default();
    for batch in reader {
        let batch = batch.expect("batch");
        let ids = cast(batch.column_by_name("person_id").expect("person_id"), &DataType::Int64).expect("i64");
        let costs = cast(batch.column_by_name("cost").expect("cost"), &DataType::Float64).expect("f64");
        for i in 0..batch.num_rows() {
            let e = per.entry(ids.as_primitive::<Int64Type>().value(i)).or_default();
            e.0 += 1;
            e.1 += costs.as_primitive::<Float64Type>().value(i).clamp(0.0, 50_000.0);
        }
    }
    per.into_iter().map(|(p, (n, c))| (p, n, c)).collect()
}

/// Attack: self-joins of a personal table on its unit. Three copies of medical_visits
/// joined on person_id give a person with k visits k³ rows and multiply the sum of their
/// costs by k²; residents joined with itself on person_id must stay exactly like residents.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_self_join_on_the_unit_does_not_multiply_a_person() {
    let server = TestServer::start().await;
    let unit = server.health().clone();
    let mut client = client_spending(&server, &unit, RHO).await;
    let (person, k, cost) = visits().into_iter().max_by_key(|(p, n, _)| (*n, -*p)).expect("visits");
    assert!(k >= 3, "the busiest patient has {k} visits");
    let sql = format!(
        "SELECT SUM(m.cost) AS s FROM medical_visits m JOIN medical_visits m2 ON m.person_id = m2.person_id \
         JOIN medical_visits m3 ON m.person_id = m3.person_id WHERE m.person_id = {person}"
    );
    let mut all = fan_out(&server, &mut client, &sql, (k * k) as f64, cost).await;
    let t = target();
    let self_joined = format!(
        "SELECT SUM(r.income) AS s FROM residents r JOIN residents r2 ON r.person_id = r2.person_id \
         JOIN residents r3 ON r2.person_id = r3.person_id WHERE r.person_id = {}",
        t.person_id
    );
    all.extend(fan_out(&server, &mut client, &self_joined, 1.0, t.income).await);
    assert!(all.is_empty(), "self-join on the unit: {} breach(es):\n  {}", all.len(), all.join("\n  "));
    server.stop().await;
}

/// EXPLAIN PRIVACY rows without the columns that name output columns (`column`,
/// `measure`), so that plans over differently named inputs compare.
async fn explained(client: &mut Client, sql: &str) -> Vec<String> {
    let (_, batches) = fixture::query(client, &format!("EXPLAIN PRIVACY {sql}")).await.unwrap_or_else(|e| panic!("EXPLAIN {sql}: {e}"));
    let mut rows = Vec::new();
    for b in &batches {
        let text = arrow::util::pretty::pretty_format_batches(&[b.project(&[0, 3, 4, 5, 6, 7, 8]).expect("columns")]).expect("format").to_string();
        rows.push(text);
    }
    rows
}

/// The legitimate shape: an equi-join of the personal table's column with a public column
/// declared unique (`districts.district`) adds no row, so it stays accepted and its plan is
/// exactly the plan without the join (same mechanism, sensitivity, scale, cost and keys),
/// and the answer is the target's income with one row's noise. This holds today and must
/// keep holding: the fix must not refuse or over-noise ordinary lookups.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_on_a_unique_public_key_stays_one_row_per_person() {
    let server = TestServer::start().await;
    let unit = server.health().clone();
    let mut client = client_spending(&server, &unit, RHO).await;
    let t = target();
    let plain = format!("SELECT SUM(r.income) AS s FROM residents r WHERE r.person_id = {}", t.person_id);
    let joined = format!("SELECT SUM(r.income) AS s FROM residents r JOIN districts d ON r.district = d.district WHERE r.person_id = {}", t.person_id);
    assert_eq!(explained(&mut client, &joined).await, explained(&mut client, &plain).await, "the lookup join changes nothing in the plan");
    let o = observe(&server, &unit, &mut client, &joined).await;
    assert!(single_violations(&o, &[]).is_empty(), "{}", o.describe());
    let answer = scalar(&o.reply.as_ref().expect("the lookup join is answered").1).expect("a sum");
    let sigma = declared_scale(&o).expect("the sum declares its noise");
    // Six standard deviations: a false alarm once in 500 million runs.
    assert!((answer - t.income).abs() <= 6.0 * sigma, "answer {answer} vs one row of noise σ = {sigma}");
    server.stop().await;
}
