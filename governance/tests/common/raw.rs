//! Direct SQL on a test store's database, on either backend.

use std::path::Path;

use super::TEST_STORE;

/// A parameter of a [`Raw`] statement.
pub enum P<'a> {
    /// An integer.
    I(i64),
    /// Text.
    T(&'a str),
}

/// Direct SQL on a test store's database, bypassing the governance API: what an attacker
/// with the database file or server would do, and how tests inspect what was stored.
/// Statements use `?N` parameters (renumbered `$N` on PostgreSQL).
pub enum Raw {
    /// The SQLite file.
    Sqlite(rusqlite::Connection),
    /// The PostgreSQL database.
    Postgres(postgres::Client),
}

fn sqlite_values(params: &[P<'_>]) -> Vec<rusqlite::types::Value> {
    params
        .iter()
        .map(|p| match p {
            P::I(i) => (*i).into(),
            P::T(t) => t.to_string().into(),
        })
        .collect()
}

fn pg_values(params: &[P<'_>]) -> Vec<Box<dyn postgres::types::ToSql + Sync>> {
    params
        .iter()
        .map(|p| -> Box<dyn postgres::types::ToSql + Sync> {
            match p {
                P::I(i) => Box::new(*i),
                P::T(t) => Box::new(t.to_string()),
            }
        })
        .collect()
}

impl Raw {
    /// Opens the database of the data directory `path` (see [`store_dir`]).
    pub fn open(path: &Path) -> Raw {
        match std::fs::read_to_string(path.join(TEST_STORE)) {
            Ok(url) => Raw::Postgres(postgres::Client::connect(&url, postgres::NoTls).unwrap()),
            Err(_) => Raw::Sqlite(rusqlite::Connection::open(path.join("governance.db")).unwrap()),
        }
    }

    fn pg_sql(sql: &str) -> String {
        let mut out = String::new();
        let mut chars = sql.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '?' && chars.peek().is_some_and(|d| d.is_ascii_digit()) {
                out.push('$');
            } else {
                out.push(c);
            }
        }
        out
    }

    /// Runs a statement; the error's message (the database's own words) if it fails.
    pub fn execute(&mut self, sql: &str, params: &[P<'_>]) -> std::result::Result<u64, String> {
        match self {
            Raw::Sqlite(c) => {
                let values = sqlite_values(params);
                c.execute(sql, rusqlite::params_from_iter(values)).map(|n| n as u64).map_err(|e| e.to_string())
            }
            Raw::Postgres(c) => {
                let values = pg_values(params);
                let refs: Vec<&(dyn postgres::types::ToSql + Sync)> = values.iter().map(|b| b.as_ref()).collect();
                c.execute(&Self::pg_sql(sql), &refs)
                    .map_err(|e| e.as_db_error().map(|d| d.message().to_string()).unwrap_or_else(|| e.to_string()))
            }
        }
    }

    /// Every row of a query, each column read as an integer or text (NULL as `None`).
    pub fn rows(&mut self, sql: &str, params: &[P<'_>]) -> Vec<Vec<Option<String>>> {
        match self {
            Raw::Sqlite(c) => {
                let values = sqlite_values(params);
                let mut stmt = c.prepare(sql).unwrap();
                let n = stmt.column_count();
                stmt.query_map(rusqlite::params_from_iter(values), |r| {
                    (0..n)
                        .map(|i| {
                            Ok(match r.get_ref(i)? {
                                rusqlite::types::ValueRef::Null => None,
                                rusqlite::types::ValueRef::Integer(v) => Some(v.to_string()),
                                rusqlite::types::ValueRef::Text(t) => Some(String::from_utf8_lossy(t).into_owned()),
                                other => panic!("unexpected column {other:?}"),
                            })
                        })
                        .collect()
                })
                .unwrap()
                .collect::<rusqlite::Result<_>>()
                .unwrap()
            }
            Raw::Postgres(c) => {
                let values = pg_values(params);
                let refs: Vec<&(dyn postgres::types::ToSql + Sync)> = values.iter().map(|b| b.as_ref()).collect();
                let rows = c.query(&Self::pg_sql(sql), &refs).unwrap();
                rows.iter()
                    .map(|r| {
                        (0..r.len())
                            .map(|i| match *r.columns()[i].type_() {
                                postgres::types::Type::INT8 => r.get::<_, Option<i64>>(i).map(|v| v.to_string()),
                                postgres::types::Type::INT4 => r.get::<_, Option<i32>>(i).map(|v| v.to_string()),
                                postgres::types::Type::NUMERIC => panic!("cast sums to BIGINT in test queries"),
                                _ => r.get::<_, Option<String>>(i),
                            })
                            .collect()
                    })
                    .collect()
            }
        }
    }

    /// Drops one of the audit table's append-only triggers.
    pub fn drop_trigger(&mut self, name: &str) {
        let sql = match self {
            Raw::Sqlite(_) => format!("DROP TRIGGER {name}"),
            Raw::Postgres(_) => format!("DROP TRIGGER {name} ON audit"),
        };
        self.execute(&sql, &[]).unwrap();
    }

    /// How many text values anywhere in the database contain `needle` (PostgreSQL: every
    /// text column of every table).
    pub fn text_containing(&mut self, needle: &str) -> i64 {
        let columns = self.rows(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public' AND data_type = 'text'",
            &[],
        );
        columns
            .into_iter()
            .map(|c| {
                let (t, c) = (c[0].clone().unwrap(), c[1].clone().unwrap());
                self.int(&format!("SELECT COUNT(*) FROM {t} WHERE strpos({c}, CAST(?1 AS TEXT)) > 0"), &[P::T(needle)])
            })
            .sum()
    }

    /// The first column of the first row, as an integer.
    pub fn int(&mut self, sql: &str, params: &[P<'_>]) -> i64 {
        self.rows(sql, params)[0][0].as_deref().expect("not NULL").parse().unwrap()
    }

    /// The first column of the first row, as text.
    pub fn text(&mut self, sql: &str, params: &[P<'_>]) -> String {
        self.rows(sql, params)[0][0].clone().expect("not NULL")
    }
}
