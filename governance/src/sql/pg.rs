//! The PostgreSQL backend: sessions, the write lock, and the value mapping.
//!
//! - Every write transaction takes one transaction-scoped advisory lock
//!   (`pg_advisory_xact_lock(WRITE_LOCK)`) before it reads anything, as SQLite's
//!   `BEGIN IMMEDIATE` does: writes of all front ends are serialised, so a check
//!   (`spent + reserved + amount <= total`) and the write that depends on it see the same state,
//!   and the audit chain stays one chain. Group commit ([`crate::group_commit`]) makes the
//!   serialisation cheap: one transaction carries the writes of every concurrent query of a
//!   front end.
//! - Reads run in `REPEATABLE READ READ ONLY` transactions: one consistent snapshot each.
//! - `synchronous_commit` stays `on` (the server's default is checked at connect): a
//!   committed charge is on the server's disk.
//! - Values: SQLite's integer, real, text and blob become `BIGINT`, `DOUBLE PRECISION`, `TEXT`
//!   and `BYTEA`; NULL is NULL. A value of another type is an error, never a guess.

use std::collections::HashMap;
use std::error::Error as StdError;

use bytes::BytesMut;
use postgres::types::{to_sql_checked, FromSql, IsNull, ToSql, Type};
use postgres::{Client, NoTls, Statement};
use rusqlite::types::{ToSqlOutput, Value, ValueRef};

use super::numbered;
use crate::error::{GovernanceError, Result};

/// The two-key advisory lock every write transaction holds (the key space of the two-key form
/// does not overlap the one-key form, which holders use).
const WRITE_LOCK: (i32, i32) = (0x7368_7579, 1);

type BoxError = Box<dyn StdError + Sync + Send>;

/// One PostgreSQL session with its prepared statements.
pub(crate) struct PgConn {
    /// Always `Some` until dropped.
    client: Option<Client>,
    statements: HashMap<String, Statement>,
    in_tx: bool,
}

impl PgConn {
    /// Connects to `url` (a `postgres://` URL or a key=value connection string), with
    /// `password` if given.
    pub(crate) fn connect(url: &str, password: Option<&str>) -> Result<PgConn> {
        let mut config: postgres::Config = url.parse().map_err(|_| GovernanceError::Invalid {
            field: "store_url".into(),
            reason: "is not a PostgreSQL connection URL (postgres://user@host/db or host=… dbname=… user=…)".into(),
        })?;
        if let Some(p) = password {
            config.password(p);
        }
        let client = config.connect(NoTls)?;
        let mut conn = PgConn { client: Some(client), statements: HashMap::new(), in_tx: false };
        let sync: String = conn.client().query_one("SHOW synchronous_commit", &[])?.get(0);
        if sync == "off" {
            return Err(GovernanceError::Invalid {
                field: "store".into(),
                reason: "the PostgreSQL server runs with synchronous_commit = off, so a reported charge could be lost in a crash; set it to on".into(),
            });
        }
        Ok(conn)
    }

    fn client(&mut self) -> &mut Client {
        self.client.as_mut().expect("the client lives until the session is dropped")
    }

    /// Runs statements without parameters; tracks whether a transaction is open.
    pub(crate) fn batch(&mut self, sql: &str) -> Result<()> {
        let out = self.client().batch_execute(sql).map_err(GovernanceError::from);
        let head = sql.trim_start().to_ascii_uppercase();
        if head.starts_with("BEGIN") || head.starts_with("START") {
            self.in_tx = out.is_ok();
        } else if head.starts_with("COMMIT") || (head.starts_with("ROLLBACK") && !head.starts_with("ROLLBACK TO")) || head.starts_with("END") {
            self.in_tx = false;
        }
        if out.is_err() && self.client().is_closed() {
            self.in_tx = false;
        }
        out
    }

    /// Opens a write transaction holding the store's write lock.
    pub(crate) fn begin_write(&mut self) -> Result<()> {
        self.batch("BEGIN")?;
        let locked = self.client().execute("SELECT pg_advisory_xact_lock($1, $2)", &[&WRITE_LOCK.0, &WRITE_LOCK.1]);
        if let Err(e) = locked {
            let _ = self.batch("ROLLBACK");
            return Err(GovernanceError::from(e));
        }
        Ok(())
    }

    /// Whether a transaction is open.
    pub(crate) fn in_transaction(&self) -> bool {
        self.in_tx && !self.is_closed()
    }

    /// Whether the session ended (the server went away).
    pub(crate) fn is_closed(&self) -> bool {
        self.client.as_ref().is_none_or(Client::is_closed)
    }

    fn statement(&mut self, sql: &str) -> Result<Statement> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let s = self.client().prepare(&numbered(sql))?;
        self.statements.insert(sql.to_string(), s.clone());
        Ok(s)
    }

    /// Runs one statement; returns the rows it changed.
    pub(crate) fn execute(&mut self, sql: &str, params: &[&dyn rusqlite::ToSql]) -> Result<usize> {
        let stmt = self.statement(sql)?;
        let values = bind(params)?;
        let refs: Vec<&(dyn ToSql + Sync)> = values.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
        let n = self.client().execute(&stmt, &refs)?;
        Ok(n as usize)
    }

    /// Runs a query; returns its rows as values.
    pub(crate) fn query(&mut self, sql: &str, params: &[&dyn rusqlite::ToSql]) -> Result<Vec<Vec<Value>>> {
        let stmt = self.statement(sql)?;
        let values = bind(params)?;
        let refs: Vec<&(dyn ToSql + Sync)> = values.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
        let rows = self.client().query(&stmt, &refs)?;
        rows.iter()
            .map(|r| {
                (0..r.len())
                    .map(|i| r.try_get::<_, Cell>(i).map(|c| c.0).map_err(GovernanceError::from))
                    .collect()
            })
            .collect()
    }

    /// Takes the session-scoped advisory lock `key` if nobody holds it.
    pub(crate) fn try_lock(&mut self, key: i64) -> Result<bool> {
        let row = self.client().query_one("SELECT pg_try_advisory_lock($1)", &[&key])?;
        Ok(row.get(0))
    }

    /// Releases the session-scoped advisory lock `key`.
    pub(crate) fn unlock(&mut self, key: i64) -> Result<()> {
        self.client().execute("SELECT pg_advisory_unlock($1)", &[&key])?;
        Ok(())
    }
}

impl Drop for PgConn {
    /// Closing a session blocks on the client's own runtime, which panics on a thread that
    /// drives asynchronous tasks (the last handle of a store may be dropped on one): the
    /// session is closed on a thread of its own, and waited for, so that its locks (a
    /// holder's) are released when the drop returns. Closing takes one round trip.
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            if let Ok(closer) = std::thread::Builder::new().name("shuyu-pg-close".into()).spawn(move || drop(client)) {
                let _ = closer.join();
            }
        }
    }
}

/// The parameters as owned values.
fn bind(params: &[&dyn rusqlite::ToSql]) -> Result<Vec<Param>> {
    params
        .iter()
        .map(|p| match p.to_sql()? {
            ToSqlOutput::Borrowed(v) => Ok(Param(owned(v)?)),
            ToSqlOutput::Owned(v) => Ok(Param(v)),
            _ => Err(GovernanceError::Internal("a parameter has no PostgreSQL form".into())),
        })
        .collect()
}

fn owned(v: ValueRef<'_>) -> Result<Value> {
    Ok(match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Integer(i),
        ValueRef::Real(f) => Value::Real(f),
        ValueRef::Text(t) => Value::Text(String::from_utf8(t.to_vec()).map_err(|_| GovernanceError::Internal("a text parameter is not UTF-8".into()))?),
        ValueRef::Blob(b) => Value::Blob(b.to_vec()),
    })
}

/// A parameter: one SQLite value, written as the column's PostgreSQL type.
#[derive(Debug)]
struct Param(Value);

impl ToSql for Param {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> std::result::Result<IsNull, BoxError> {
        match &self.0 {
            Value::Null => Ok(IsNull::Yes),
            Value::Integer(i) => match *ty {
                Type::INT8 => i.to_sql(ty, out),
                Type::INT4 => i32::try_from(*i)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(*i)?.to_sql(ty, out),
                Type::BOOL => (*i != 0).to_sql(ty, out),
                Type::FLOAT8 => (*i as f64).to_sql(ty, out),
                _ => Err(format!("an integer parameter where the statement needs {ty}").into()),
            },
            Value::Real(f) => match *ty {
                Type::FLOAT8 => f.to_sql(ty, out),
                Type::FLOAT4 => (*f as f32).to_sql(ty, out),
                _ => Err(format!("a real parameter where the statement needs {ty}").into()),
            },
            Value::Text(s) => match *ty {
                Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => s.as_str().to_sql(ty, out),
                _ => Err(format!("a text parameter where the statement needs {ty}").into()),
            },
            Value::Blob(b) => match *ty {
                Type::BYTEA => b.as_slice().to_sql(ty, out),
                _ => Err(format!("a blob parameter where the statement needs {ty}").into()),
            },
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// A result cell read back into SQLite's value model.
struct Cell(Value);

impl<'a> FromSql<'a> for Cell {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> std::result::Result<Self, BoxError> {
        let v = match *ty {
            Type::INT8 => Value::Integer(i64::from_sql(ty, raw)?),
            Type::INT4 => Value::Integer(i32::from_sql(ty, raw)?.into()),
            Type::INT2 => Value::Integer(i16::from_sql(ty, raw)?.into()),
            Type::BOOL => Value::Integer(bool::from_sql(ty, raw)?.into()),
            Type::FLOAT8 => Value::Real(f64::from_sql(ty, raw)?),
            Type::FLOAT4 => Value::Real(f32::from_sql(ty, raw)?.into()),
            Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => Value::Text(String::from_sql(ty, raw)?),
            Type::BYTEA => Value::Blob(Vec::<u8>::from_sql(ty, raw)?),
            _ => return Err(format!("the store returned a {ty} column, which governance does not read; cast it in the statement").into()),
        };
        Ok(Cell(v))
    }

    fn from_sql_null(_: &Type) -> std::result::Result<Self, BoxError> {
        Ok(Cell(Value::Null))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

#[cfg(test)]
#[path = "pg_tests.rs"]
mod tests;
