//! SQL statements over Flight SQL.
//!
//! - **Statement queries**: GetFlightInfo runs the query through the [`Runtime`]
//!   (job, reserve, execute, commit, audit) and holds the noised result under a random
//!   handle; the FlightInfo's ticket carries only that handle; DoGet hands the result to
//!   the same person once. The budget is charged exactly once, by the server, whatever the
//!   client sends afterwards.
//! - **Prepared statements**: creating one prepares the SQL in the runtime (no data read,
//!   nothing spent; queries over encrypted imports too) to return its result schema, or the
//!   refusal at once; executing it runs it like a
//!   statement query. Parameters are not supported: values go into the SQL text.
//! - **Environments**: with `x-shuyu-environment: dev` the SQL runs on the masked samples
//!   (plain DataFusion, nothing spent); otherwise in production. A production result under
//!   an export policy of `review` comes back as a one-row notice naming the export to wait
//!   for; `FETCH EXPORT '<id>'` returns it once the bureau has approved it.

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use arrow_flight::sql::{ActionCreatePreparedStatementResult, TicketStatementQuery};
use arrow_flight::{FlightDescriptor, FlightInfo, IpcMessage, SchemaAsIpc};
use arrow::ipc::writer::IpcWriteOptions;
use shuyu_runtime::{Answer, Runtime};

use crate::flight::caller::Caller;
use crate::flight::handles::{Handles, HeldResult, Prepared};
use crate::flight::results::{annotated, dev_annotated, held_notice, sizes, statement_info, stream, DoGetStream};
use crate::Error;

/// Runs `sql` for `caller` and holds its result; returns the FlightInfo naming it.
pub async fn execute(
    runtime: &Runtime,
    handles: &Handles,
    caller: &Caller,
    sql: &str,
    amount: Option<f64>,
    descriptor: FlightDescriptor,
) -> Result<FlightInfo, Error> {
    let (schema, batches) = run(runtime, caller, sql, amount).await?;
    let (rows, bytes) = sizes(&batches);
    let handle = handles.hold_result(caller.principal.person_id, HeldResult { schema: schema.clone(), batches })?;
    let info = statement_info(&schema, &handle, rows, bytes, descriptor)?;
    Ok(info)
}

/// Runs `sql` for `caller` in its environment through the runtime: the annotated schema
/// and batches (a notice in place of a result held for review, a released export as it was
/// stored).
pub async fn run(runtime: &Runtime, caller: &Caller, sql: &str, amount: Option<f64>) -> Result<(SchemaRef, Vec<RecordBatch>), Error> {
    match runtime.run(&caller.call(amount), sql).await? {
        Answer::Export { schema, batches } => Ok((schema, batches)),
        Answer::Dev(outcome) => dev_annotated(&outcome, caller.authorization),
        Answer::Prod(outcome) => match &outcome.held {
            Some(held) => held_notice(&outcome, held, caller.authorization),
            None => annotated(&outcome, caller.authorization),
        },
    }
}

/// DoGet of a statement ticket: the held result, once, to the person who ran it.
pub fn fetch(handles: &Handles, caller_person: shuyu_governance::PersonId, ticket: &TicketStatementQuery) -> Result<DoGetStream, Error> {
    let handle = std::str::from_utf8(&ticket.statement_handle).map_err(|_| Error::Usage("the ticket is not one this server issued".into()))?;
    let held = handles.take_result(caller_person, handle)?.ok_or_else(|| {
        Error::Usage("the ticket is unknown, already fetched or expired (results wait 10 minutes for one fetch); run the query again".into())
    })?;
    Ok(stream(held.schema, held.batches))
}

/// Creates a prepared statement: the runtime prepares `sql` (no job, no data read, nothing
/// spent; an encrypted query's checks included) and the handle and result schema are
/// returned, or the refusal at once.
pub async fn prepare(runtime: &Runtime, handles: &Handles, caller: &Caller, sql: &str) -> Result<ActionCreatePreparedStatementResult, Error> {
    let schema = runtime.prepare(&caller.call(None), sql).await?;
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
    let under = Caller { principal: caller.principal.clone(), authorization: p.authorization, environment: caller.environment };
    Ok((under, p))
}
