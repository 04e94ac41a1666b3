//! SQL statements over Flight SQL.
//!
//! - **Statement queries**: GetFlightInfo runs the query through the governed [`Runner`]
//!   (job, reserve, execute, commit, audit) and holds the noised result under a random
//!   handle; the FlightInfo's ticket carries only that handle; DoGet hands the result to
//!   the same person once. The budget is charged exactly once, by the server, whatever the
//!   client sends afterwards.
//! - **Prepared statements**: creating one plans the SQL (no data read, nothing spent) to
//!   return its result schema, or the refusal at once; executing it runs it like a
//!   statement query. Parameters are not supported: values go into the SQL text.

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow_flight::sql::{ActionCreatePreparedStatementResult, TicketStatementQuery};
use arrow_flight::{FlightDescriptor, FlightInfo, IpcMessage, SchemaAsIpc};
use arrow::ipc::writer::IpcWriteOptions;
use shuyu_compute::PrivateSession;
use shuyu_planner::strip_explain_privacy;

use crate::flight::caller::Caller;
use crate::flight::handles::{Handles, HeldResult, Prepared};
use crate::flight::results::{annotated, sizes, statement_info, stream, DoGetStream};
use crate::runner::Runner;
use crate::Error;

/// Runs `sql` for `caller` and holds its result; returns the FlightInfo naming it.
pub async fn execute(
    runner: &Runner,
    handles: &Handles,
    caller: &Caller,
    sql: &str,
    amount: Option<f64>,
    descriptor: FlightDescriptor,
) -> Result<FlightInfo, Error> {
    let (schema, batches) = run(runner, caller, sql, amount).await?;
    let (rows, bytes) = sizes(&batches);
    let handle = handles.hold_result(caller.principal.person_id, HeldResult { schema: schema.clone(), batches })?;
    let info = statement_info(&schema, &handle, rows, bytes, descriptor)?;
    Ok(info)
}

/// Runs `sql` for `caller`: the annotated schema and batches.
pub async fn run(runner: &Runner, caller: &Caller, sql: &str, amount: Option<f64>) -> Result<(SchemaRef, Vec<arrow::record_batch::RecordBatch>), Error> {
    let outcome = runner.run(&caller.principal, caller.authorization, sql, amount).await?;
    annotated(&outcome, caller.authorization)
}

/// DoGet of a statement ticket: the held result, once, to the person who ran it.
pub fn fetch(handles: &Handles, caller_person: shuyu_governance::PersonId, ticket: &TicketStatementQuery) -> Result<DoGetStream, Error> {
    let handle = std::str::from_utf8(&ticket.statement_handle).map_err(|_| Error::Usage("the ticket is not one this server issued".into()))?;
    let held = handles.take_result(caller_person, handle)?.ok_or_else(|| {
        Error::Usage("the ticket is unknown, already fetched or expired (results wait 10 minutes for one fetch); run the query again".into())
    })?;
    Ok(stream(held.schema, held.batches))
}

/// Creates a prepared statement: plans `sql` (reads no data, spends nothing) and returns
/// the handle and the result schema.
pub async fn prepare(runner: &Runner, handles: &Handles, caller: &Caller, sql: &str) -> Result<ActionCreatePreparedStatementResult, Error> {
    let cached = runner.scope(&caller.principal, caller.authorization).await?;
    let session = PrivateSession::new(cached.scope.clone());
    let schema: SchemaRef = match strip_explain_privacy(sql) {
        Some(inner) => session.explain(inner, cached.budget).await?.schema(),
        None => Arc::new(session.plan(sql, cached.budget).await?.outer.schema().as_arrow().clone()),
    };
    let IpcMessage(dataset_schema) = SchemaAsIpc::new(&schema, &IpcWriteOptions::default())
        .try_into()
        .map_err(|e: arrow::error::ArrowError| Error::Internal(format!("encoding a prepared schema: {e}")))?;
    let handle = handles.prepare(caller.principal.person_id, Prepared { authorization: caller.authorization, sql: sql.to_string() })?;
    Ok(ActionCreatePreparedStatementResult {
        prepared_statement_handle: handle.into_bytes().into(),
        dataset_schema,
        parameter_schema: Default::default(),
    })
}

/// The prepared statement named by `handle`, for `caller` (under its own authorization).
pub fn prepared(handles: &Handles, caller: &Caller, handle: &[u8]) -> Result<(Caller, Prepared), Error> {
    let unknown = || Error::Usage("the prepared statement is unknown, closed or expired; prepare it again".into());
    let name = std::str::from_utf8(handle).map_err(|_| unknown())?;
    let p = handles.prepared(caller.principal.person_id, name)?.ok_or_else(unknown)?;
    let under = Caller { principal: caller.principal.clone(), authorization: p.authorization };
    Ok((under, p))
}
