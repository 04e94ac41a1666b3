//! Channel 1: runtime errors.
//!
//! Every attack here is a pair of queries, identical except that the target's condition
//! (`person_id = X AND income > T`, T just below or just above the target's income) is true
//! in one and false in the other, with a fallible expression evaluated only when it holds.
//! If one variant fails and the other answers, the attacker learns one bit of the target's
//! income per pair, for free: 31 pairs recover it to the cent. Secure: both refused with the
//! same code and text, at plan time (preparing the query is refused too, nothing spent) or
//! charged in full; or both answer and are charged. Never INTERNAL; no message quotes the
//! target's income, name or identity number (see [`crate::kit::pair_violations`]).

use shuyu::config::Limits;
use tonic::Code;

use crate::fixture::TestServer;
use crate::kit::{assert_pairs_secure, client_spending, observe, secrets, single_violations, target};

/// Budget of one attack query: small, so that hundreds of pairs fit in the demo's total of 2.
const PER_QUERY: &str = "0.001";

async fn run_family(family: &str, templates: &[&str]) {
    let server = TestServer::start().await;
    let unit = server.health().clone();
    let mut client = client_spending(&server, &unit, PER_QUERY).await;
    assert_pairs_secure(&server, &unit, &mut client, family, templates).await;
    server.stop().await;
}

/// Attack: `1 / (CASE WHEN <target> THEN 0 ELSE 1 END)` and its modulo, float and
/// aggregate-argument forms fail for the target only, so the error answers "is the target's
/// income above T?" (the binary search of issue 12, 31 queries to the cent).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn division_and_modulo_by_zero_are_no_oracle() {
    run_family(
        "division and modulo by zero",
        &[
            "SELECT COUNT(*) FROM residents WHERE 1 / (CASE WHEN {cond} THEN 0 ELSE 1 END) = 1",
            "SELECT COUNT(*) FROM residents WHERE age % (CASE WHEN {cond} THEN 0 ELSE 7 END) >= 0",
            "SELECT COUNT(*) FROM residents WHERE age / (age - CASE WHEN {cond} THEN age ELSE -1 END) >= 0",
            "SELECT COUNT(*) FROM residents WHERE income / (CASE WHEN {cond} THEN 0.0 ELSE 1.0 END) >= 0",
            "SELECT COUNT(*) FILTER (WHERE 10 / (CASE WHEN {cond} THEN 0 ELSE 5 END) = 2) FROM residents",
            "SELECT SUM(CASE WHEN 10 % (CASE WHEN {cond} THEN 0 ELSE 3 END) = 1 THEN 1 ELSE 0 END) FROM residents",
            "SELECT COUNT(*) FROM residents r JOIN districts d ON r.district = d.district AND 1 / (CASE WHEN {rcond} THEN 0 ELSE 1 END) = 1",
            "SELECT COUNT(*) FROM (SELECT person_id, SUM(age % (CASE WHEN {cond} THEN 0 ELSE 3 END)) AS s FROM residents GROUP BY person_id) t WHERE s >= 0",
            "SELECT district, COUNT(*) FROM residents WHERE 1 / (CASE WHEN {cond} THEN 0 ELSE 1 END) = 1 GROUP BY district",
        ],
    )
    .await;
}

/// Attack: 64-bit integer overflow in `+`, `-`, `*`, `abs`, negation, `power`,
/// `factorial`, `gcd`, `lcm` and float-to-integer casts, reached only when the target's
/// condition holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn integer_overflow_is_no_oracle() {
    run_family(
        "i64 overflow",
        &[
            "SELECT COUNT(*) FROM residents WHERE age * (CASE WHEN {cond} THEN 9223372036854775807 ELSE 1 END) >= 0",
            "SELECT COUNT(*) FROM residents WHERE age + (CASE WHEN {cond} THEN 9223372036854775807 ELSE 0 END) >= 0",
            "SELECT COUNT(*) FROM residents WHERE (CASE WHEN {cond} THEN -9223372036854775807 ELSE 0 END) - age <= 0",
            "SELECT COUNT(*) FROM residents WHERE abs(CASE WHEN {cond} THEN -9223372036854775807 - 1 ELSE age END) >= 0",
            "SELECT COUNT(*) FROM residents WHERE -(CASE WHEN {cond} THEN -9223372036854775807 - 1 ELSE age END) <= 0",
            "SELECT COUNT(*) FROM residents WHERE power(age, CASE WHEN {cond} THEN 40 ELSE 1 END) >= 0",
            "SELECT COUNT(*) FROM residents WHERE factorial(CASE WHEN {cond} THEN 25 ELSE 1 END) >= 1",
            "SELECT COUNT(*) FROM residents WHERE gcd(CASE WHEN {cond} THEN -9223372036854775807 - 1 ELSE 1 END, 0) >= 0",
            "SELECT COUNT(*) FROM residents WHERE lcm(age, CASE WHEN {cond} THEN 9223372036854775807 ELSE 1 END) >= 0",
            "SELECT COUNT(*) FROM residents WHERE CAST(income * (CASE WHEN {cond} THEN 1e300 ELSE 1 END) AS BIGINT) >= 0",
            "SELECT SUM(CASE WHEN age * (CASE WHEN {cond} THEN 9223372036854775807 ELSE 1 END) > 0 THEN 1 ELSE 0 END) FROM residents",
        ],
    )
    .await;
}

/// Attack: a cast of a string (or an out-of-range number) to a number, date, timestamp or
/// boolean that fails only for the target, explicit or by implicit coercion; and the
/// target's own income cast through text to an integer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn casts_are_no_oracle() {
    run_family(
        "casts",
        &[
            "SELECT COUNT(*) FROM residents WHERE CAST(CASE WHEN {cond} THEN 'x' ELSE '1' END AS BIGINT) = 1",
            "SELECT COUNT(*) FROM residents WHERE CAST(CASE WHEN {cond} THEN 'x' ELSE '1.5' END AS DOUBLE) > 0",
            "SELECT COUNT(*) FROM residents WHERE CAST(CASE WHEN {cond} THEN 'x' ELSE '1' END AS DECIMAL(10, 2)) > 0",
            "SELECT COUNT(*) FROM residents WHERE CAST(CASE WHEN {cond} THEN '2020-13-45' ELSE '2020-01-01' END AS DATE) IS NOT NULL",
            "SELECT COUNT(*) FROM residents WHERE CAST(CASE WHEN {cond} THEN 'nope' ELSE '2020-01-01T00:00:00' END AS TIMESTAMP) IS NOT NULL",
            "SELECT COUNT(*) FROM residents WHERE CAST(CASE WHEN {cond} THEN 'maybe' ELSE 'true' END AS BOOLEAN)",
            "SELECT COUNT(*) FROM residents WHERE CAST(CASE WHEN {cond} THEN 300 ELSE 1 END AS TINYINT) > 0",
            "SELECT COUNT(*) FROM residents WHERE CAST(CASE WHEN {cond} THEN CAST(income AS VARCHAR) || 'x' ELSE '1' END AS BIGINT) >= 0",
            "SELECT COUNT(*) FROM residents WHERE age < CASE WHEN {cond} THEN 'x' ELSE '500' END",
            "SELECT COUNT(*) FROM residents WHERE arrow_cast(CASE WHEN {cond} THEN 'x' ELSE '1' END, 'Int64') = 1",
            "SELECT COUNT(*) FROM (SELECT person_id, MAX(CAST(CASE WHEN {cond} THEN 'x' ELSE '1' END AS INT)) AS m FROM residents GROUP BY person_id) t WHERE m >= 0",
        ],
    )
    .await;
}

/// Attack: a regular expression whose pattern or flags depend on the target's data and are
/// invalid (or exceed the compiled-size limit) only when the condition holds, in every
/// regex function and operator.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regular_expressions_are_no_oracle() {
    run_family(
        "regular expressions",
        &[
            "SELECT COUNT(*) FROM residents WHERE regexp_like(district, CASE WHEN {cond} THEN '(' ELSE '区' END)",
            "SELECT COUNT(*) FROM residents WHERE district ~ CASE WHEN {cond} THEN '[' ELSE '区' END",
            "SELECT COUNT(*) FROM residents WHERE district ~* CASE WHEN {cond} THEN '(?' ELSE '区' END",
            "SELECT COUNT(*) FROM residents WHERE regexp_replace(district, CASE WHEN {cond} THEN '(' ELSE 'x' END, 'y') <> ''",
            "SELECT COUNT(*) FROM residents WHERE regexp_match(district, CASE WHEN {cond} THEN '*' ELSE '区' END) IS NOT NULL",
            "SELECT COUNT(*) FROM residents WHERE regexp_count(district, CASE WHEN {cond} THEN '(' ELSE '区' END) >= 0",
            "SELECT COUNT(*) FROM residents WHERE regexp_instr(district, CASE WHEN {cond} THEN '(' ELSE '区' END) >= 0",
            "SELECT COUNT(*) FROM residents WHERE regexp_like(district, CASE WHEN {cond} THEN 'a{1000}{1000}' ELSE '区' END)",
            "SELECT COUNT(*) FROM residents WHERE regexp_like(district, '区', CASE WHEN {cond} THEN 'z' ELSE 'i' END)",
            "SELECT COUNT(*) FROM residents WHERE district LIKE CASE WHEN {cond} THEN '区\\' ELSE '%区' END",
        ],
    )
    .await;
}

/// Attack: timestamp and date parsing and construction that fail only for the target:
/// unparsable text, a format that does not match, out-of-range parts, a zero-width bin, an
/// unknown unit, and epoch values that overflow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timestamp_and_date_parsing_is_no_oracle() {
    run_family(
        "timestamp and date parsing",
        &[
            "SELECT COUNT(*) FROM residents WHERE to_timestamp(CASE WHEN {cond} THEN 'garbage' ELSE '2020-01-01T00:00:00' END) IS NOT NULL",
            "SELECT COUNT(*) FROM residents WHERE to_date(CASE WHEN {cond} THEN 'garbage' ELSE '2020-01-01' END) IS NOT NULL",
            "SELECT COUNT(*) FROM residents WHERE to_timestamp(CASE WHEN {cond} THEN '01/02/2020' ELSE '2020-01-02' END, '%Y-%m-%d') IS NOT NULL",
            "SELECT COUNT(*) FROM residents WHERE to_unixtime(CASE WHEN {cond} THEN 'garbage' ELSE '2020-01-01T00:00:00' END) > 0",
            "SELECT COUNT(*) FROM residents WHERE make_date(2020, CASE WHEN {cond} THEN 13 ELSE 1 END, 1) IS NOT NULL",
            "SELECT COUNT(*) FROM residents WHERE to_char(DATE '2020-01-01', CASE WHEN {cond} THEN '%Q' ELSE '%Y' END) <> ''",
            "SELECT COUNT(*) FROM residents WHERE date_trunc(CASE WHEN {cond} THEN 'fortnight' ELSE 'day' END, TIMESTAMP '2020-01-01T00:00:00') IS NOT NULL",
            "SELECT COUNT(*) FROM residents WHERE date_part(CASE WHEN {cond} THEN 'bogus' ELSE 'year' END, DATE '2020-01-01') > 0",
            "SELECT COUNT(*) FROM residents WHERE date_bin(CASE WHEN {cond} THEN INTERVAL '0 minutes' ELSE INTERVAL '1 day' END, TIMESTAMP '2020-01-01T00:00:00') IS NOT NULL",
            "SELECT COUNT(*) FROM residents WHERE from_unixtime(CASE WHEN {cond} THEN 9223372036854775807 ELSE 0 END) IS NOT NULL",
            "SELECT COUNT(*) FROM residents WHERE to_timestamp_seconds(CASE WHEN {cond} THEN 9223372036854775807 ELSE 0 END) IS NOT NULL",
            "SELECT COUNT(*) FROM residents WHERE to_timestamp(CASE WHEN {cond} THEN 1e300 ELSE 0.0 END) IS NOT NULL",
        ],
    )
    .await;
}

/// Attack: string and array positions that are invalid only for the target: a negative
/// substring length, a start that overflows, field 0 of `split_part`, out-of-range array
/// elements, a zero slice stride, a zero range step, dimension 0 of `array_length`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn array_and_string_index_access_is_no_oracle() {
    run_family(
        "array and string index access",
        &[
            "SELECT COUNT(*) FROM residents WHERE substr(district, 1, CASE WHEN {cond} THEN -1 ELSE 1 END) <> ''",
            "SELECT COUNT(*) FROM residents WHERE substr(district, CASE WHEN {cond} THEN -9223372036854775807 - 1 ELSE 1 END, 2) <> ''",
            "SELECT COUNT(*) FROM residents WHERE split_part(district, '区', CASE WHEN {cond} THEN 0 ELSE 1 END) IS NOT NULL",
            "SELECT COUNT(*) FROM residents WHERE make_array(1, 2, 3)[CASE WHEN {cond} THEN 0 ELSE 1 END] IS NOT NULL",
            "SELECT COUNT(*) FROM residents WHERE array_element(make_array(age, age), CASE WHEN {cond} THEN 9223372036854775807 ELSE 1 END) >= 0",
            "SELECT COUNT(*) FROM residents WHERE array_slice(make_array(1, 2, 3), 1, 2, CASE WHEN {cond} THEN 0 ELSE 1 END) IS NOT NULL",
            "SELECT COUNT(*) FROM residents WHERE range(1, 5, CASE WHEN {cond} THEN 0 ELSE 1 END) IS NOT NULL",
            "SELECT COUNT(*) FROM residents WHERE array_length(make_array(1, 2), CASE WHEN {cond} THEN 0 ELSE 1 END) > 0",
            "SELECT COUNT(*) FROM residents WHERE left(district, CASE WHEN {cond} THEN -9223372036854775807 - 1 ELSE 1 END) IS NOT NULL",
            "SELECT COUNT(*) FROM residents WHERE overlay(district PLACING 'x' FROM CASE WHEN {cond} THEN -1 ELSE 1 END) <> ''",
        ],
    )
    .await;
}

/// Attack: the other fallible functions of this build's DataFusion (string, unicode,
/// crypto, math, nested and core features): `chr` of an invalid code point, `digest` with an
/// unknown algorithm, `lpad`/`repeat` past their size limits, `round` with an out-of-range
/// precision, `map` with a duplicate key (whose DataFusion message quotes the key: here the
/// target's income), arrays of different lengths, and a type name computed from data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_fallible_functions_are_no_oracle() {
    run_family(
        "other fallible functions",
        &[
            "SELECT COUNT(*) FROM residents WHERE chr(CASE WHEN {cond} THEN 0 ELSE 65 END) <> ''",
            "SELECT COUNT(*) FROM residents WHERE chr(CASE WHEN {cond} THEN 1114112 ELSE 65 END) <> ''",
            "SELECT COUNT(*) FROM residents WHERE digest(district, CASE WHEN {cond} THEN 'nope' ELSE 'md5' END) IS NOT NULL",
            "SELECT COUNT(*) FROM residents WHERE lpad(district, CASE WHEN {cond} THEN 2147483648 ELSE 3 END) <> ''",
            "SELECT COUNT(*) FROM residents WHERE repeat('a', CASE WHEN {cond} THEN 9223372036854775807 ELSE 1 END) <> ''",
            "SELECT COUNT(*) FROM residents WHERE round(income, CASE WHEN {cond} THEN 2147483648 ELSE 1 END) >= 0",
            "SELECT COUNT(*) FROM residents WHERE map(make_array(CAST(income AS VARCHAR), CASE WHEN {cond} THEN CAST(income AS VARCHAR) ELSE 'k' END), make_array(1, 2)) IS NOT NULL",
            "SELECT COUNT(*) FROM residents WHERE array_distance(make_array(1.0, 2.0), CASE WHEN {cond} THEN make_array(1.0) ELSE make_array(1.0, 2.0) END) >= 0",
            "SELECT COUNT(*) FROM residents WHERE arrow_cast(age, CASE WHEN {cond} THEN 'Int8' ELSE 'Int64' END) >= 0",
        ],
    )
    .await;
}

/// Attack: the failures the property test (`compute/tests/total_evaluation.rs`) found in
/// accepted plans, conditioned on the target: the square root of a negative, `power(0, -1)`,
/// negating `i64::MIN`, rounding an integer past its type, and a date with no calendar form
/// cast to text each raised in DataFusion 55 for the target's row only. Secure: the same
/// reading whichever way the target's condition falls.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn math_kernels_negation_and_date_text_are_no_oracle() {
    run_family(
        "math kernels, negation and date text",
        &[
            "SELECT COUNT(*) FROM residents WHERE sqrt(CASE WHEN {cond} THEN -1.0 ELSE 4.0 END) > 1",
            "SELECT COUNT(*) FROM residents WHERE power(0.0, CASE WHEN {cond} THEN -1.0 ELSE 1.0 END) >= 0",
            "SELECT COUNT(*) FROM residents WHERE -(CASE WHEN {cond} THEN -9223372036854775807 - 1 ELSE 1 END) < age",
            "SELECT COUNT(*) FROM residents WHERE abs(CASE WHEN {cond} THEN -9223372036854775807 - 1 ELSE 1 END) > 0",
            "SELECT COUNT(*) FROM residents WHERE round(CASE WHEN {cond} THEN 9223372036854775807 ELSE 1 END) > 0",
            "SELECT COUNT(*) FROM residents WHERE length(CAST(CAST(CASE WHEN {cond} THEN 2147483647 ELSE 1 END AS DATE) AS VARCHAR)) > 0",
        ],
    )
    .await;
}

/// Attack (and a bug of issue 12): well-typed statements that end in INTERNAL tell the
/// attacker about the planner's state and are not answers. Secure: each answers (charged)
/// or is refused with a non-internal code, at plan time or charged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_statement_ends_in_an_internal_error() {
    let server = TestServer::start().await;
    let unit = server.health().clone();
    let mut client = client_spending(&server, &unit, PER_QUERY).await;
    let t = target();
    let mut breaches = Vec::new();
    for sql in [
        "SELECT district, SUM(income) FROM residents WHERE CAST(age AS VARCHAR) > 1 GROUP BY district",
        "SELECT COUNT(*) FROM residents WHERE CAST(income AS VARCHAR) > 1",
        "SELECT COUNT(*) FROM residents WHERE CAST(age AS VARCHAR) < 'z'",
        "SELECT COUNT(*) FROM residents WHERE age BETWEEN CAST(income AS VARCHAR) AND 100",
    ] {
        let o = observe(&server, &unit, &mut client, sql).await;
        breaches.extend(single_violations(&o, &secrets(t)));
    }
    assert!(breaches.is_empty(), "{}", breaches.join("\n"));
    server.stop().await;
}

/// Attack: a failure after the budget was reserved (the memory pool, the time limit, or
/// an execution error) that is refunded is a free query, and one whose text names its cause
/// says which resource one row exhausted. A cross join of every resident with the districts
/// four times over (41 million rows) exceeds a 1 MiB pool or a 1 s limit after planning.
/// Secure: refused at plan time with nothing spent, or charged in full; and every failure
/// after reservation reads the same, whatever its cause.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_after_reservation_is_charged_and_reads_the_same_whatever_its_cause() {
    let limits = Limits { memory_per_job_mb: 1, query_timeout_secs: 1, ..Limits::default() };
    let server = TestServer::start_with(limits).await;
    let unit = server.health().clone();
    let mut client = client_spending(&server, &unit, PER_QUERY).await;
    let t = target();
    let heavy = "SELECT COUNT(*) FROM residents r CROSS JOIN districts a CROSS JOIN districts b CROSS JOIN districts c CROSS JOIN districts d";
    let sorted = "SELECT hospital, COUNT(*) FROM medical_visits m JOIN residents r ON m.person_id = r.person_id CROSS JOIN districts a CROSS JOIN districts b GROUP BY hospital";
    let division = format!(
        "SELECT COUNT(*) FROM residents WHERE 1 / (CASE WHEN person_id = {} THEN 0 ELSE 1 END) = 1",
        t.person_id
    );
    let mut breaches = Vec::new();
    let mut after_reservation = Vec::new();
    for sql in [heavy, sorted, division.as_str()] {
        let o = observe(&server, &unit, &mut client, sql).await;
        breaches.extend(single_violations(&o, &secrets(t)));
        if let Some((c, m)) = o.error() {
            if !o.refused_at_plan_time() {
                after_reservation.push((c, m.to_string(), o.describe()));
            }
        }
    }
    if let Some((c0, m0, _)) = after_reservation.first() {
        for (c, m, d) in &after_reservation[1..] {
            if c != c0 || m != m0 {
                breaches.push(format!("failures after reservation read differently ({c0:?}: {m0} vs {d})"));
            }
        }
        assert_ne!(*c0, Code::Internal);
    }
    assert!(breaches.is_empty(), "{} breach(es):\n  {}", breaches.len(), breaches.join("\n  "));
    server.stop().await;
}
