//! The fixed, versioned benchmark workload.
//!
//! Bump [`WORKLOAD_VERSION`] whenever a query is added, removed or changed, so results of
//! different versions are never compared by accident (the version is written to every JSON
//! report).

/// Version of the workload below.
pub const WORKLOAD_VERSION: u32 = 1;

/// Seed of the generated datasets (part of the workload: other seeds are other data).
pub const DATA_SEED: u64 = 20_240_601;

/// Ratio of medians (shuyu / plain DataFusion) the issue accepts on one-row-per-unit tables.
pub const TARGET_ONE_ROW: f64 = 1.2;
/// Ratio of medians accepted where contribution bounding is needed.
pub const TARGET_BOUNDED: f64 = 2.5;

/// One benchmark query.
#[derive(Debug, Clone, Copy)]
pub struct Query {
    /// Short stable name (`--queries` selects by it).
    pub name: &'static str,
    /// The SQL, run unchanged through both engines.
    pub sql: &'static str,
    /// Whether shuyu must bound contributions (many rows per unit): decides the target.
    pub needs_bounding: bool,
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
    Query { name: "count", sql: "SELECT COUNT(*) FROM residents", needs_bounding: false },
    Query {
        name: "district_count_sum",
        sql: "SELECT district, COUNT(*), SUM(income) FROM residents GROUP BY district",
        needs_bounding: false,
    },
    Query {
        name: "employed_avg_age",
        sql: "SELECT district, AVG(age) FROM residents WHERE employed GROUP BY district",
        needs_bounding: false,
    },
    Query { name: "gender_var_income", sql: "SELECT gender, VAR(income) FROM residents GROUP BY gender", needs_bounding: false },
    Query {
        name: "district_median_age",
        sql: "SELECT district, MEDIAN(age) FROM residents GROUP BY district",
        needs_bounding: false,
    },
    Query {
        name: "visits_dept_count_sum",
        sql: "SELECT department, COUNT(*), SUM(cost) FROM medical_visits GROUP BY department",
        needs_bounding: true,
    },
    Query { name: "visits_count_avg", sql: "SELECT COUNT(*), AVG(cost) FROM medical_visits", needs_bounding: true },
    Query {
        name: "visits_join_district",
        sql: "SELECT r.district, COUNT(*) FROM medical_visits v JOIN residents r ON v.person_id = r.person_id GROUP BY r.district",
        needs_bounding: true,
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
}
