//! The fixed, versioned benchmark workload.
//!
//! Bump [`WORKLOAD_VERSION`] whenever a query is added, removed or changed, so results of
//! different versions are never compared by accident (the version is written to every JSON
//! report).

/// Version of the workload below (2: exact-answer SQL, peer queries, non-public keys).
pub const WORKLOAD_VERSION: u32 = 2;

/// Seed of the generated datasets (part of the workload: other seeds are other data).
pub const DATA_SEED: u64 = 20_240_601;

/// Ratio of medians (shuyu / plain DataFusion) the issue accepts on one-row-per-unit tables.
pub const TARGET_ONE_ROW: f64 = 1.2;
/// Ratio of medians accepted where contribution bounding is needed.
pub const TARGET_BOUNDED: f64 = 2.5;

/// Epsilon of every query unless an epsilon sweep says otherwise (the peers' budget).
pub const EPSILON: f64 = 1.0;
/// Delta available to partition selection (the peers' delta; unused by public-key queries).
pub const DELTA: f64 = 1e-6;

/// Rows of the reference comparison below.
pub const REFERENCE_ROWS: u64 = 10_000_000;
/// The fastest peer on the grouped count-and-sum (Q2) at 10 M rows in the peers' reference
/// results (SmartNoise SQL on PostgreSQL, 1.41 s, 2-core machine), the figure issue 6 sets
/// the Flight SQL cold target against (3x faster).
pub const REFERENCE_FASTEST_PEER_MS: f64 = 1410.0;

/// One benchmark query.
#[derive(Debug, Clone, Copy)]
pub struct Query {
    /// Short stable name (`--queries` selects by it).
    pub name: &'static str,
    /// The SQL, run unchanged through shuyu (in process and over Flight SQL) and plain DataFusion.
    pub sql: &'static str,
    /// The exact answer the error is measured against: the same query on plain DataFusion
    /// with values clamped to the manifests' declared bounds (no contribution bounding, so
    /// bounding's bias counts as error).
    pub truth_sql: &'static str,
    /// Leading result columns that are group keys (the rest are measures).
    pub keys: usize,
    /// Whether shuyu must bound contributions (many rows per unit): decides the target.
    pub needs_bounding: bool,
    /// The peers' query this one is (`Q1`..`Q3`), if any: then the peers run it too.
    pub peer: Option<&'static str>,
    /// Whether it can run over Flight SQL under the bench's pure-DP authorization
    /// (partition selection over non-public keys needs a zCDP budget with a delta).
    pub over_flight: bool,
    /// Whether it runs under zCDP (rho = epsilon²/2, the zCDP that epsilon-DP implies, and
    /// [`DELTA`]) instead of pure epsilon: GROUP BY over non-public keys needs partition
    /// selection, which pure DP cannot do.
    pub zcdp: bool,
}

impl Query {
    /// The ratio the issue accepts for this query.
    pub fn target(&self) -> f64 {
        if self.needs_bounding {
            TARGET_BOUNDED
        } else {
            TARGET_ONE_ROW
        }
    }
}

/// The workload, in run order.
pub const WORKLOAD: &[Query] = &[
    Query {
        name: "count",
        sql: "SELECT COUNT(*) FROM residents",
        truth_sql: "SELECT COUNT(*) FROM residents",
        keys: 0,
        needs_bounding: false,
        peer: Some("Q1"),
        over_flight: true,
        zcdp: false,
    },
    Query {
        name: "district_count_sum",
        sql: "SELECT district, COUNT(*), SUM(income) FROM residents GROUP BY district",
        truth_sql: "SELECT district, COUNT(*), SUM(LEAST(GREATEST(income, 0.0), 200000.0)) FROM residents GROUP BY district",
        keys: 1,
        needs_bounding: false,
        peer: Some("Q2"),
        over_flight: true,
        zcdp: false,
    },
    Query {
        name: "employed_avg_age",
        sql: "SELECT district, AVG(age) FROM residents WHERE employed GROUP BY district",
        truth_sql: "SELECT district, AVG(LEAST(GREATEST(age, 0), 100)) FROM residents WHERE employed GROUP BY district",
        keys: 1,
        needs_bounding: false,
        peer: Some("Q3"),
        over_flight: true,
        zcdp: false,
    },
    Query {
        name: "gender_var_income",
        sql: "SELECT gender, VAR(income) FROM residents GROUP BY gender",
        truth_sql: "SELECT gender, VAR(LEAST(GREATEST(income, 0.0), 200000.0)) FROM residents GROUP BY gender",
        keys: 1,
        needs_bounding: false,
        peer: None,
        over_flight: true,
        zcdp: false,
    },
    Query {
        name: "district_median_age",
        sql: "SELECT district, MEDIAN(age) FROM residents GROUP BY district",
        truth_sql: "SELECT district, MEDIAN(LEAST(GREATEST(age, 0), 100)) FROM residents GROUP BY district",
        keys: 1,
        needs_bounding: false,
        peer: None,
        over_flight: true,
        zcdp: false,
    },
    Query {
        name: "visits_dept_count_sum",
        sql: "SELECT department, COUNT(*), SUM(cost) FROM medical_visits GROUP BY department",
        truth_sql: "SELECT department, COUNT(*), SUM(LEAST(GREATEST(cost, 0.0), 50000.0)) FROM medical_visits GROUP BY department",
        keys: 1,
        needs_bounding: true,
        peer: None,
        over_flight: true,
        zcdp: false,
    },
    Query {
        name: "visits_count_avg",
        sql: "SELECT COUNT(*), AVG(cost) FROM medical_visits",
        truth_sql: "SELECT COUNT(*), AVG(LEAST(GREATEST(cost, 0.0), 50000.0)) FROM medical_visits",
        keys: 0,
        needs_bounding: true,
        peer: None,
        over_flight: true,
        zcdp: false,
    },
    Query {
        name: "visits_join_district",
        sql: "SELECT r.district, COUNT(*) FROM medical_visits v JOIN residents r ON v.person_id = r.person_id GROUP BY r.district",
        truth_sql: "SELECT r.district, COUNT(*) FROM medical_visits v JOIN residents r ON v.person_id = r.person_id GROUP BY r.district",
        keys: 1,
        needs_bounding: true,
        peer: None,
        over_flight: true,
        zcdp: false,
    },
    Query {
        name: "visits_hospital_count",
        sql: "SELECT hospital, COUNT(*) FROM medical_visits GROUP BY hospital",
        truth_sql: "SELECT hospital, COUNT(*) FROM medical_visits GROUP BY hospital",
        keys: 1,
        needs_bounding: true,
        peer: None,
        over_flight: false,
        zcdp: true,
    },
];

/// The queries named in `names` (all when empty), in workload order; unknown names are an error.
pub fn select(names: &[String]) -> Result<Vec<Query>, String> {
    if names.is_empty() {
        return Ok(WORKLOAD.to_vec());
    }
    for n in names {
        if !WORKLOAD.iter().any(|q| q.name == n) {
            let known: Vec<&str> = WORKLOAD.iter().map(|q| q.name).collect();
            return Err(format!("unknown query {n}; known: {}", known.join(", ")));
        }
    }
    Ok(WORKLOAD.iter().filter(|q| names.iter().any(|n| n == q.name)).copied().collect())
}

/// Parses a size: `20k`, `1m`, `10m`, `2.5m`, `1000000` or `1_000_000`.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim().to_ascii_lowercase().replace('_', "");
    let (num, mult) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1_000.0),
        Some('m') => (&t[..t.len() - 1], 1_000_000.0),
        Some('g') | Some('b') => (&t[..t.len() - 1], 1_000_000_000.0),
        _ => (t.as_str(), 1.0),
    };
    let v: f64 = num.parse().map_err(|_| format!("bad size {s:?} (try 20k, 1m, 10m)"))?;
    let n = (v * mult).round();
    if !(1.0..=2e9).contains(&n) {
        return Err(format!("size {s:?} out of range (1 ..= 2 000 000 000 residents)"));
    }
    Ok(n as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("20k"), Ok(20_000));
        assert_eq!(parse_size("1m"), Ok(1_000_000));
        assert_eq!(parse_size("10M"), Ok(10_000_000));
        assert_eq!(parse_size("2.5m"), Ok(2_500_000));
        assert_eq!(parse_size("1_000"), Ok(1_000));
        assert!(parse_size("0").is_err());
        assert!(parse_size("x").is_err());
    }

    #[test]
    fn names_are_unique_and_selectable() {
        let mut names: Vec<&str> = WORKLOAD.iter().map(|q| q.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), WORKLOAD.len());
        assert_eq!(select(&["count".into()]).map(|v| v.len()), Ok(1));
        assert!(select(&["nope".into()]).is_err());
    }

    #[test]
    fn peer_queries_are_the_three_shared_ones_once_each() {
        let mut peers: Vec<&str> = WORKLOAD.iter().filter_map(|q| q.peer).collect();
        peers.sort_unstable();
        assert_eq!(peers, ["Q1", "Q2", "Q3"]);
    }
}
