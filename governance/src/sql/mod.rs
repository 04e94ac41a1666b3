//! The SQL the governance store speaks, on either backend: SQLite (one embedded file) or
//! PostgreSQL (one server shared by several front ends).
//!
//! Statements are written once, in the dialect both accept (`?N` parameters, which the
//! PostgreSQL side renumbers `$N`; `CAST(SUM(..) AS BIGINT)` where a sum is read back).
//! Values travel in SQLite's value model (NULL, integer, real, text, blob) through rusqlite's
//! `ToSql`/`FromSql`, which every stored type implements; [`pg`] maps that model onto
//! PostgreSQL's `BIGINT`, `DOUBLE PRECISION`, `TEXT` and `BYTEA` exactly.
//!
//! - [`Conn`]: one connection of either backend; [`Tx`]: the transaction a store closure runs
//!   in, with `execute`, `query_row`, `prepare` and `insert` (which returns the new row's id).
//! - [`Row`]: a result row, read with `get` as a rusqlite row is.

pub(crate) mod pg;

use std::cell::RefCell;

use rusqlite::types::{FromSql, FromSqlError, Value, ValueRef};
use rusqlite::ToSql;

use crate::error::{GovernanceError, Result};

/// One connection to the store, of either backend.
pub(crate) enum Conn {
    /// An SQLite connection to the store's file.
    Sqlite(rusqlite::Connection),
    /// A PostgreSQL session.
    Postgres(Box<pg::PgConn>),
}

impl Conn {
    /// Runs statements without parameters or results (transaction control).
    pub(crate) fn batch(&mut self, sql: &str) -> Result<()> {
        match self {
            Conn::Sqlite(c) => Ok(c.execute_batch(sql)?),
            Conn::Postgres(c) => c.batch(sql),
        }
    }

    /// Whether a transaction is open on this connection (the backend may have ended it on an
    /// error).
    pub(crate) fn in_transaction(&self) -> bool {
        match self {
            Conn::Sqlite(c) => !c.is_autocommit(),
            Conn::Postgres(c) => c.in_transaction(),
        }
    }

    /// Opens a read transaction: one consistent snapshot.
    pub(crate) fn begin_read(&mut self) -> Result<()> {
        match self {
            Conn::Sqlite(c) => Ok(c.execute_batch("BEGIN DEFERRED")?),
            Conn::Postgres(c) => c.batch("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"),
        }
    }

    /// Whether the connection can no longer be used (its server session ended).
    pub(crate) fn is_broken(&self) -> bool {
        match self {
            Conn::Sqlite(_) => false,
            Conn::Postgres(c) => c.is_closed(),
        }
    }

    /// The statement that opens a write transaction: it takes the store's one write lock
    /// before anything is read.
    pub(crate) fn begin_write(&mut self) -> Result<()> {
        match self {
            Conn::Sqlite(c) => Ok(c.execute_batch("BEGIN IMMEDIATE")?),
            Conn::Postgres(c) => c.begin_write(),
        }
    }

    /// A transaction handle over this connection (the caller has opened the transaction).
    pub(crate) fn tx(&mut self) -> Tx<'_> {
        match self {
            Conn::Sqlite(c) => Tx::sqlite(c),
            Conn::Postgres(c) => Tx::postgres(c),
        }
    }
}

/// Statement parameters: `params![..]`, an array of one type, or `()` for none.
pub(crate) trait Params {
    /// The parameters in order.
    fn values(&self) -> Vec<&dyn ToSql>;
}

impl Params for () {
    fn values(&self) -> Vec<&dyn ToSql> {
        Vec::new()
    }
}

impl Params for &[&dyn ToSql] {
    fn values(&self) -> Vec<&dyn ToSql> {
        self.to_vec()
    }
}

impl<T: ToSql, const N: usize> Params for [T; N] {
    fn values(&self) -> Vec<&dyn ToSql> {
        self.iter().map(|v| v as &dyn ToSql).collect()
    }
}

impl<T: ToSql, const N: usize> Params for &[T; N] {
    fn values(&self) -> Vec<&dyn ToSql> {
        self.iter().map(|v| v as &dyn ToSql).collect()
    }
}

impl Params for Vec<Value> {
    fn values(&self) -> Vec<&dyn ToSql> {
        self.iter().map(|v| v as &dyn ToSql).collect()
    }
}

/// The transaction a store closure runs in.
pub(crate) struct Tx<'c> {
    inner: Inner<'c>,
}

enum Inner<'c> {
    Sqlite(&'c rusqlite::Connection),
    Postgres(RefCell<&'c mut pg::PgConn>),
}

impl<'c> Tx<'c> {
    /// A handle over an SQLite connection inside a transaction.
    pub(crate) fn sqlite(conn: &'c rusqlite::Connection) -> Tx<'c> {
        Tx { inner: Inner::Sqlite(conn) }
    }

    /// A handle over a PostgreSQL session inside a transaction.
    pub(crate) fn postgres(conn: &'c mut pg::PgConn) -> Tx<'c> {
        Tx { inner: Inner::Postgres(RefCell::new(conn)) }
    }

    /// Runs one statement; returns the number of rows it changed.
    pub(crate) fn execute(&self, sql: &str, params: impl Params) -> Result<usize> {
        match &self.inner {
            Inner::Sqlite(c) => Ok(c.execute(sql, rusqlite::params_from_iter(params.values()))?),
            Inner::Postgres(c) => c.borrow_mut().execute(sql, &params.values()),
        }
    }

    /// Runs statements without parameters (tests end a transaction behind the lane's back).
    #[cfg(test)]
    pub(crate) fn execute_batch(&self, sql: &str) -> Result<()> {
        match &self.inner {
            Inner::Sqlite(c) => Ok(c.execute_batch(sql)?),
            Inner::Postgres(c) => c.borrow_mut().batch(sql),
        }
    }

    /// Runs an `INSERT` into a table whose key is `id`; returns the new row's id.
    pub(crate) fn insert(&self, sql: &str, params: impl Params) -> Result<i64> {
        match &self.inner {
            Inner::Sqlite(c) => {
                c.execute(sql, rusqlite::params_from_iter(params.values()))?;
                Ok(c.last_insert_rowid())
            }
            Inner::Postgres(c) => {
                let rows = c.borrow_mut().query(&format!("{sql} RETURNING id"), &params.values())?;
                let row = rows.first().ok_or_else(|| GovernanceError::Internal("an insert returned no id".into()))?;
                Ok(Row::Values(row).get(0)?)
            }
        }
    }

    /// The first row of a query, mapped by `f`; `QueryReturnedNoRows` if there is none (see
    /// [`OptionalExtension`]).
    pub(crate) fn query_row<T>(&self, sql: &str, params: impl Params, f: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>) -> Result<T> {
        match &self.inner {
            Inner::Sqlite(c) => Ok(c.query_row(sql, rusqlite::params_from_iter(params.values()), |r| f(&Row::Sqlite(r)))?),
            Inner::Postgres(c) => {
                let rows = c.borrow_mut().query(sql, &params.values())?;
                match rows.first() {
                    Some(r) => Ok(f(&Row::Values(r))?),
                    None => Err(GovernanceError::Store(rusqlite::Error::QueryReturnedNoRows)),
                }
            }
        }
    }

    /// A statement to run several times or to read many rows from.
    pub(crate) fn prepare(&self, sql: &str) -> Result<Statement<'_, 'c>> {
        if let Inner::Sqlite(c) = &self.inner {
            return Ok(Statement { tx: self, sql: sql.to_string(), sqlite: Some(c.prepare_cached(sql)?) });
        }
        Ok(Statement { tx: self, sql: sql.to_string(), sqlite: None })
    }
}

/// A prepared statement of a [`Tx`].
pub(crate) struct Statement<'t, 'c> {
    tx: &'t Tx<'c>,
    sql: String,
    sqlite: Option<rusqlite::CachedStatement<'t>>,
}

impl Statement<'_, '_> {
    /// Runs the statement once; returns the number of rows it changed.
    pub(crate) fn execute(&mut self, params: impl Params) -> Result<usize> {
        match &mut self.sqlite {
            Some(s) => Ok(s.execute(rusqlite::params_from_iter(params.values()))?),
            None => self.tx.execute(&self.sql, params),
        }
    }

    /// Every row, mapped by `f`, as an iterator of results (SQLite reads the rows as the
    /// iterator advances).
    pub(crate) fn query_map<T, F>(&mut self, params: impl Params, f: F) -> Result<MappedRows<'_, F>>
    where
        F: FnMut(&Row<'_>) -> rusqlite::Result<T>,
    {
        match &mut self.sqlite {
            Some(s) => Ok(MappedRows::Sqlite(s.query(rusqlite::params_from_iter(params.values()))?, f)),
            None => {
                let rows = match &self.tx.inner {
                    Inner::Postgres(c) => c.borrow_mut().query(&self.sql, &params.values())?,
                    Inner::Sqlite(_) => unreachable!("SQLite statements are prepared"),
                };
                Ok(MappedRows::Values(rows.into_iter(), f))
            }
        }
    }
}

/// The rows of [`Statement::query_map`], each mapped.
pub(crate) enum MappedRows<'s, F> {
    /// Read from SQLite as the iterator advances.
    Sqlite(rusqlite::Rows<'s>, F),
    /// Read from PostgreSQL at once.
    Values(std::vec::IntoIter<Vec<Value>>, F),
}

impl<T, F> Iterator for MappedRows<'_, F>
where
    F: FnMut(&Row<'_>) -> rusqlite::Result<T>,
{
    type Item = rusqlite::Result<T>;

    fn next(&mut self) -> Option<rusqlite::Result<T>> {
        match self {
            MappedRows::Sqlite(rows, f) => match rows.next() {
                Ok(Some(r)) => Some(f(&Row::Sqlite(r))),
                Ok(None) => None,
                Err(e) => Some(Err(e)),
            },
            MappedRows::Values(rows, f) => rows.next().map(|v| f(&Row::Values(&v))),
        }
    }
}

/// One result row.
pub(crate) enum Row<'a> {
    /// A row of an SQLite statement.
    Sqlite(&'a rusqlite::Row<'a>),
    /// A row read from PostgreSQL, as values.
    Values(&'a [Value]),
}

impl Row<'_> {
    /// Column `idx`, converted as rusqlite converts it.
    pub(crate) fn get<I: ColumnIndex, T: FromSql>(&self, idx: I) -> rusqlite::Result<T> {
        let idx = idx.index();
        match self {
            Row::Sqlite(r) => r.get(idx),
            Row::Values(v) => {
                let value = v.get(idx).ok_or(rusqlite::Error::InvalidColumnIndex(idx))?;
                T::column_result(ValueRef::from(value)).map_err(|e| match e {
                    FromSqlError::InvalidType => rusqlite::Error::InvalidColumnType(idx, format!("column {idx}"), value.data_type()),
                    FromSqlError::OutOfRange(i) => rusqlite::Error::IntegralValueOutOfRange(idx, i),
                    other => rusqlite::Error::FromSqlConversionFailure(idx, value.data_type(), Box::new(other)),
                })
            }
        }
    }
}

/// A column position.
pub(crate) trait ColumnIndex {
    /// The position.
    fn index(self) -> usize;
}

impl ColumnIndex for usize {
    fn index(self) -> usize {
        self
    }
}

/// `.optional()` on a store result: no row becomes `None`.
pub(crate) trait OptionalExtension<T> {
    /// `Ok(None)` where the query returned no row.
    fn optional(self) -> Result<Option<T>>;
}

impl<T> OptionalExtension<T> for Result<T> {
    fn optional(self) -> Result<Option<T>> {
        match self {
            Ok(v) => Ok(Some(v)),
            Err(GovernanceError::Store(rusqlite::Error::QueryReturnedNoRows)) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// Rewrites `?N` and `?` parameters as PostgreSQL's `$N`, outside quoted text.
pub(crate) fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut next = 1usize;
    let mut quote: Option<char> = None;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match quote {
            Some(q) => {
                out.push(c);
                if c == q {
                    quote = None;
                }
            }
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                out.push(c);
            }
            None if c == '?' => {
                let mut digits = String::new();
                while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    digits.push(*d);
                    chars.next();
                }
                let n = if digits.is_empty() { next } else { digits.parse().unwrap_or(next) };
                next = next.max(n + 1);
                out.push('$');
                out.push_str(&n.to_string());
            }
            None => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::numbered;

    #[test]
    fn parameters_are_numbered_outside_quotes() {
        assert_eq!(numbered("SELECT a FROM t WHERE b = ?1 AND c = ?2 OR d = ?1"), "SELECT a FROM t WHERE b = $1 AND c = $2 OR d = $1");
        assert_eq!(numbered("UPDATE t SET a = ? WHERE b = ?"), "UPDATE t SET a = $1 WHERE b = $2");
        assert_eq!(numbered("SELECT '?1', \"q?\" FROM t WHERE x = ?3"), "SELECT '?1', \"q?\" FROM t WHERE x = $3");
        assert_eq!(numbered("SELECT 'it''s ?' WHERE a = ?12"), "SELECT 'it''s ?' WHERE a = $12");
    }
}
