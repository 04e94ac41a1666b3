//! The oracle cases: accepted queries and their contribution-bounded equivalents in plain
//! SQL, shared by the oracle tests (`oracle.rs`) and the engine comparison
//! (`cluster_oracle.rs`).

use datafusion::common::ScalarValue;
use shuyu_compute::PrivateSession;
use shuyu_planner::QueryBudget;

use super::compare::{keyed, plain, rows, same};

/// One accepted query, its bounded equivalent, and how many leading columns are keys.
pub struct Case {
    /// What it checks.
    pub name: &'static str,
    /// The query shuyu answers.
    pub sql: &'static str,
    /// Its bounded equivalent for plain DataFusion.
    pub bounded: &'static str,
    /// Leading key columns.
    pub keys: usize,
    /// The budget it runs with.
    pub budget: QueryBudget,
}

/// A pure-DP case at epsilon 1.
pub const fn pure(name: &'static str, sql: &'static str, bounded: &'static str, keys: usize) -> Case {
    Case { name, sql, bounded, keys, budget: QueryBudget { definition: shuyu_privacy::PrivacyDefinition::PureDp, amount: 1.0, delta: 0.0, max_groups: None, max_rows: None } }
}

/// Whether a released row is an empty key (counts 0, sums 0, means NULL).
pub fn empty_key(values: &[ScalarValue]) -> bool {
    values.iter().all(|v| v.is_null() || matches!(v.cast_to(&arrow::datatypes::DataType::Float64), Ok(ScalarValue::Float64(Some(x))) if x == 0.0))
}

/// Runs `case` on `session` and checks it against its bounded equivalent in `ctx`.
pub async fn check(session: &PrivateSession, ctx: &datafusion::prelude::SessionContext, case: &Case) {
    assert!(shuyu_compute::noise::NOISELESS, "oracle tests need the noiseless feature");
    let got = session.execute(case.sql, case.budget).await.unwrap_or_else(|e| panic!("{}: shuyu refused or failed: {e}", case.name));
    assert!(got.cost > 0.0 || got.releases == 0, "{}: a private query must cost something", case.name);
    let ours = keyed(&rows(&got.batches), case.keys);
    let theirs = keyed(&plain(ctx, case.bounded).await, case.keys);
    assert!(!theirs.is_empty(), "{}: the oracle returned nothing; the fixture is too small", case.name);
    for (k, v) in &theirs {
        let o = ours.get(k).unwrap_or_else(|| panic!("{}: key {k} missing from shuyu's result", case.name));
        assert_eq!(o.len(), v.len(), "{}: column count", case.name);
        for (a, b) in o.iter().zip(v) {
            assert!(same(a, b), "{}: key {k}: shuyu {a} vs bounded plain {b}", case.name);
        }
    }
    for (k, v) in &ours {
        if !theirs.contains_key(k) {
            assert!(empty_key(v), "{}: key {k} is not in the data but shuyu released non-empty values {v:?}", case.name);
        }
    }
}

/// Every oracle case.
pub const CASES: &[Case] = &[
    // Regression: SUM(x) FILTER (WHERE a) and SUM(x) in one SELECT once shared one partial.
    pure(
        "filtered and unfiltered sums of one column",
        "SELECT district, SUM(income) FILTER (WHERE employed) AS e, SUM(income) AS s FROM residents GROUP BY district",
        "SELECT district, SUM(CASE WHEN employed THEN ROUND(income * 100) END) / 100, SUM(ROUND(income * 100)) / 100 FROM residents GROUP BY district",
        1,
    ),
    // Regression: CAST(a AS DOUBLE) / 2 was typed as integer division (truncated bounds and grid).
    pure(
        "a whole number cast to DOUBLE divides exactly",
        "SELECT district, SUM(CAST(age AS DOUBLE) / 2) FROM residents GROUP BY district",
        "SELECT district, SUM(ROUND(CAST(age AS DOUBLE) / 2 * 100)) / 100 FROM residents GROUP BY district",
        1,
    ),
    // Total evaluation: integer division by a value that is 0 for some rows yields NULL for
    // those rows (which add nothing), where plain DataFusion raises an error.
    pure(
        "integer division by zero adds nothing",
        "SELECT district, COUNT(*) FROM residents WHERE 100 / (age - 30) > 2 GROUP BY district",
        // (NULLIF turns the zero divisor into NULL, as the total kernel does.)
        "SELECT district, COUNT(*) FROM residents WHERE 100 / NULLIF(age - 30, 0) > 2 GROUP BY district",
        1,
    ),
    pure("count", "SELECT COUNT(*) FROM residents", "SELECT COUNT(*) FROM residents", 0),
    pure(
        "district breakdown",
        "SELECT district, COUNT(*) AS n, SUM(income) AS s, AVG(age) AS a FROM residents GROUP BY district",
        // income is in [0, 200000] with cents; summed on the cent grid.
        "SELECT district, COUNT(*), SUM(ROUND(income * 100)) / 100, AVG(CAST(age AS DOUBLE)) FROM residents GROUP BY district",
        1,
    ),
    pure(
        "spread by gender",
        "SELECT gender, VAR(income), STDDEV(age), VAR_POP(age) FROM residents GROUP BY gender",
        "SELECT gender, VAR(income), STDDEV(CAST(age AS DOUBLE)), VAR_POP(CAST(age AS DOUBLE)) FROM residents GROUP BY gender",
        1,
    ),
    pure(
        "filtered",
        "SELECT district, COUNT(*) FROM residents WHERE age >= 18 AND employed GROUP BY district",
        "SELECT district, COUNT(*) FROM residents WHERE age >= 18 AND employed GROUP BY district",
        1,
    ),
    pure(
        "age bands",
        "SELECT CASE WHEN age < 18 THEN 'minor' WHEN age < 65 THEN 'adult' ELSE 'senior' END AS band, COUNT(*) FROM residents GROUP BY 1",
        "SELECT CASE WHEN age < 18 THEN 'minor' WHEN age < 65 THEN 'adult' ELSE 'senior' END AS band, COUNT(*) FROM residents GROUP BY 1",
        1,
    ),
    pure(
        "group by bounded integer",
        "SELECT age, COUNT(*) FROM residents WHERE age BETWEEN 30 AND 40 GROUP BY age",
        "SELECT age, COUNT(*) FROM residents WHERE age BETWEEN 30 AND 40 GROUP BY age",
        1,
    ),
    pure(
        "having order limit",
        "SELECT district, COUNT(*) AS n FROM residents GROUP BY district HAVING COUNT(*) > 100 ORDER BY n DESC LIMIT 5",
        "SELECT district, COUNT(*) AS n FROM residents GROUP BY district HAVING COUNT(*) > 100 ORDER BY n DESC LIMIT 5",
        1,
    ),
    pure(
        "employment rate",
        "SELECT district, SUM(CASE WHEN employed THEN 1 ELSE 0 END) * 1.0 / COUNT(*) AS rate FROM residents GROUP BY district",
        "SELECT district, SUM(CASE WHEN employed THEN 1 ELSE 0 END) * 1.0 / COUNT(*) AS rate FROM residents GROUP BY district",
        1,
    ),
    pure(
        "indicator mean and variance (half-integer centre)",
        "SELECT district, AVG(CASE WHEN employed THEN 1 ELSE 0 END) AS rate, VAR_POP(CASE WHEN employed THEN 1 ELSE 0 END) AS v FROM residents GROUP BY district",
        "SELECT district, AVG(CASE WHEN employed THEN 1.0 ELSE 0.0 END), VAR_POP(CASE WHEN employed THEN 1.0 ELSE 0.0 END) FROM residents GROUP BY district",
        1,
    ),
    pure(
        "density via public join",
        "WITH c AS (SELECT district, COUNT(*) AS n FROM residents GROUP BY district) \
         SELECT c.district, c.n / d.area_km2 AS density FROM c JOIN districts d ON c.district = d.district",
        "WITH c AS (SELECT district, COUNT(*) AS n FROM residents GROUP BY district) \
         SELECT c.district, c.n / d.area_km2 AS density FROM c JOIN districts d ON c.district = d.district",
        1,
    ),
    pure(
        "filter clause",
        "SELECT district, COUNT(*) FILTER (WHERE age > 60) AS old, AVG(income) FILTER (WHERE employed) AS inc FROM residents GROUP BY district",
        "SELECT district, COUNT(*) FILTER (WHERE age > 60), AVG(income) FILTER (WHERE employed) FROM residents GROUP BY district",
        1,
    ),
    pure(
        "enterprises",
        "SELECT industry, COUNT(*), AVG(employees) FROM enterprises GROUP BY industry",
        "SELECT industry, COUNT(*), AVG(CAST(employees AS DOUBLE)) FROM enterprises GROUP BY industry",
        1,
    ),
    pure(
        "visits by department (bounded)",
        "SELECT department, COUNT(*) AS n, SUM(cost) AS total FROM medical_visits GROUP BY department",
        // Per person and department: at most 8 rows' worth, costs clamped to [0, 50000] on the
        // cent grid; a person keeps at most 4 departments (the first by name).
        "WITH per AS (SELECT person_id, department, LEAST(COUNT(*), 8) AS c, \
                LEAST(GREATEST(SUM(CAST(ROUND(LEAST(GREATEST(cost, 0.0), 50000.0) * 100) AS BIGINT)), 0), 40000000) AS s \
              FROM medical_visits GROUP BY person_id, department), \
         ranked AS (SELECT *, ROW_NUMBER() OVER (PARTITION BY person_id ORDER BY department) AS rn FROM per) \
         SELECT department, SUM(c), SUM(s) / 100.0 FROM ranked WHERE rn <= 4 GROUP BY department",
        1,
    ),
    pure(
        "global visits (bounded)",
        "SELECT COUNT(*), AVG(cost) FROM medical_visits",
        // No GROUP BY: one key per person; AVG = 25000 + centred sum / count.
        "WITH per AS (SELECT person_id, LEAST(COUNT(*), 8) AS c, \
                LEAST(GREATEST(SUM(CAST(ROUND((LEAST(GREATEST(cost, 0.0), 50000.0) - 25000.0) * 100) AS BIGINT)), -20000000), 20000000) AS s \
              FROM medical_visits GROUP BY person_id) \
         SELECT SUM(c), 25000.0 + (SUM(s) / 100.0) / SUM(c) FROM per",
        0,
    ),
    pure(
        "join on the unit (bounded)",
        "SELECT r.district, COUNT(*) FROM medical_visits v JOIN residents r ON v.person_id = r.person_id GROUP BY r.district",
        "WITH per AS (SELECT v.person_id, r.district, LEAST(COUNT(*), 8) AS c FROM medical_visits v JOIN residents r \
                ON v.person_id = r.person_id GROUP BY v.person_id, r.district), \
         ranked AS (SELECT *, ROW_NUMBER() OVER (PARTITION BY person_id ORDER BY district) AS rn FROM per) \
         SELECT district, SUM(c) FROM ranked WHERE rn <= 4 GROUP BY district",
        1,
    ),
    pure(
        "distinct patients",
        "SELECT department, COUNT(DISTINCT person_id) FROM medical_visits GROUP BY department",
        "WITH per AS (SELECT DISTINCT person_id, department FROM medical_visits), \
         ranked AS (SELECT *, ROW_NUMBER() OVER (PARTITION BY person_id ORDER BY department) AS rn FROM per) \
         SELECT department, COUNT(*) FROM ranked WHERE rn <= 4 GROUP BY department",
        1,
    ),
    pure(
        "positive lower bound with many rows per person",
        // cost + 100 lies in [100, 50100]: a person with one visit sums to at least 100, not 8 x 100.
        "SELECT department, SUM(cost + 100) FROM medical_visits GROUP BY department",
        "WITH per AS (SELECT person_id, department, \
                LEAST(SUM(CAST(ROUND((LEAST(GREATEST(cost + 100, 100.0), 50100.0)) * 100) AS BIGINT)), 40080000) AS s \
              FROM medical_visits GROUP BY person_id, department), \
         ranked AS (SELECT *, ROW_NUMBER() OVER (PARTITION BY person_id ORDER BY department) AS rn FROM per) \
         SELECT department, SUM(s) / 100.0 FROM ranked WHERE rn <= 4 GROUP BY department",
        1,
    ),
    pure(
        "per-person subquery",
        "SELECT AVG(n), COUNT(*) FROM (SELECT person_id, LEAST(COUNT(*), 20) AS n FROM medical_visits GROUP BY person_id) t",
        "SELECT AVG(CAST(n AS DOUBLE)), COUNT(*) FROM (SELECT person_id, LEAST(COUNT(*), 20) AS n FROM medical_visits GROUP BY person_id) t",
        0,
    ),
    pure(
        "public table only",
        "SELECT district, area_km2 FROM districts WHERE area_km2 > 1000 ORDER BY area_km2 DESC",
        "SELECT district, area_km2 FROM districts WHERE area_km2 > 1000 ORDER BY area_km2 DESC",
        1,
    ),
];
