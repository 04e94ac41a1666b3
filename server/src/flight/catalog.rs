//! The metadata calls tools browse with: GetSqlInfo, GetCatalogs, GetDbSchemas, GetTables
//! (with schemas) and GetTableTypes. Tables come from the caller's authorization only: the
//! same scoped session the queries run in, so a table or column outside the grant is never
//! listed.

use std::sync::{Arc, OnceLock};

use arrow::datatypes::Schema;
use arrow::record_batch::RecordBatch;
use arrow_flight::sql::metadata::{SqlInfoData, SqlInfoDataBuilder};
use arrow_flight::sql::{CommandGetCatalogs, CommandGetDbSchemas, CommandGetSqlInfo, CommandGetTableTypes, CommandGetTables, SqlInfo};

use crate::flight::caller::Caller;
use shuyu_runtime::Runtime;
use crate::Error;

/// The one catalog of a scoped session.
pub const CATALOG: &str = "shuyu";
/// The one schema of a scoped session.
pub const SCHEMA: &str = "public";
/// The one table type.
pub const TABLE_TYPE: &str = "TABLE";

fn arrow_error(e: arrow_flight::error::FlightError) -> Error {
    Error::Internal(format!("building a metadata result: {e}"))
}

/// What GetSqlInfo answers.
pub fn sql_info() -> Result<&'static SqlInfoData, Error> {
    static INFO: OnceLock<Result<SqlInfoData, String>> = OnceLock::new();
    INFO.get_or_init(|| {
        let mut b = SqlInfoDataBuilder::new();
        b.append(SqlInfo::FlightSqlServerName, "shuyu");
        b.append(SqlInfo::FlightSqlServerVersion, env!("CARGO_PKG_VERSION"));
        b.append(SqlInfo::FlightSqlServerArrowVersion, "1.3");
        b.append(SqlInfo::FlightSqlServerReadOnly, true);
        b.append(SqlInfo::FlightSqlServerSql, true);
        b.append(SqlInfo::FlightSqlServerSubstrait, false);
        // 0: no transactions.
        b.append(SqlInfo::FlightSqlServerTransaction, 0i32);
        b.append(SqlInfo::FlightSqlServerCancel, false);
        b.append(SqlInfo::FlightSqlServerBulkIngestion, false);
        b.append(SqlInfo::FlightSqlServerStatementTimeout, 0i32);
        b.append(SqlInfo::SqlIdentifierQuoteChar, "\"");
        b.build().map_err(|e| e.to_string())
    })
    .as_ref()
    .map_err(|e| Error::Internal(format!("server info: {e}")))
}

/// GetSqlInfo.
pub fn sql_info_batch(query: CommandGetSqlInfo) -> Result<RecordBatch, Error> {
    query.into_builder(sql_info()?).build().map_err(arrow_error)
}

/// GetCatalogs.
pub fn catalogs(query: CommandGetCatalogs) -> Result<RecordBatch, Error> {
    let mut b = query.into_builder();
    b.append(CATALOG);
    b.build().map_err(arrow_error)
}

/// GetDbSchemas (the builder applies the client's filters).
pub fn schemas(query: CommandGetDbSchemas) -> Result<RecordBatch, Error> {
    let mut b = query.into_builder();
    b.append(CATALOG, SCHEMA);
    b.build().map_err(arrow_error)
}

/// GetTableTypes.
pub fn table_types(query: CommandGetTableTypes) -> Result<RecordBatch, Error> {
    let mut b = query.into_builder();
    b.append(TABLE_TYPE);
    b.build().map_err(arrow_error)
}

/// GetTables: the tables of the caller's authorization, with their granted columns only
/// (the builder applies the client's filters), as stored in the caller's environment.
pub async fn tables(runtime: &Runtime, caller: &Caller, query: CommandGetTables) -> Result<RecordBatch, Error> {
    let cached = runtime.scope_in(&caller.principal, caller.authorization, caller.environment).await?;
    let mut b = query.into_builder();
    let ctx = cached.scope.context();
    let mut names = cached.tables.clone();
    names.sort();
    for name in &names {
        let provider = ctx
            .table_provider(name.as_str())
            .await
            .map_err(|e| Error::Internal(format!("table {name} of the scope: {}", e.strip_backtrace())))?;
        b.append(CATALOG, SCHEMA, name, TABLE_TYPE, provider.schema().as_ref()).map_err(arrow_error)?;
    }
    b.build().map_err(arrow_error)
}

/// The schema of GetTables results (for FlightInfo).
pub fn tables_schema(query: CommandGetTables) -> Arc<Schema> {
    query.into_builder().schema()
}
