//! [`PrivacyDefinition`] as SQLite text (`"pure_dp"`, `"zcdp"`), for governance's store.

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};

use crate::PrivacyDefinition;

impl ToSql for PrivacyDefinition {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_str()))
    }
}

impl FromSql for PrivacyDefinition {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        PrivacyDefinition::parse(value.as_str()?)
            .ok_or_else(|| FromSqlError::Other("unknown PrivacyDefinition value in the store".into()))
    }
}

#[cfg(test)]
mod tests {
    use rusqlite::Connection;

    use crate::PrivacyDefinition;

    #[test]
    fn stored_as_its_text_and_read_back() {
        let conn = Connection::open_in_memory().expect("sqlite");
        conn.execute("CREATE TABLE t (d TEXT NOT NULL)", []).expect("table");
        for d in PrivacyDefinition::ALL {
            conn.execute("INSERT INTO t (d) VALUES (?1)", [d]).expect("insert");
        }
        let texts: Vec<String> =
            conn.prepare("SELECT d FROM t").expect("prepare").query_map([], |r| r.get(0)).expect("query").collect::<Result<_, _>>().expect("rows");
        assert_eq!(texts, ["pure_dp", "zcdp"]);
        let back: Vec<PrivacyDefinition> =
            conn.prepare("SELECT d FROM t").expect("prepare").query_map([], |r| r.get(0)).expect("query").collect::<Result<_, _>>().expect("rows");
        assert_eq!(back, PrivacyDefinition::ALL);
        let unknown = conn.query_row("SELECT 'epsilon'", [], |r| r.get::<_, PrivacyDefinition>(0));
        assert!(unknown.is_err());
    }
}
