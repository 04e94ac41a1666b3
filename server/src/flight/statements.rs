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
//! - **Environments**: with `x-shuyu-environment: dev` the SQL runs on the masked samples
//!   (plain DataFusion, nothing spent); otherwise in production. A production result under
//!   an export policy of `review` comes back as a one-row notice naming the export to wait
//!   for; `FETCH EXPORT '<id>'` returns it once the bureau has approved it.

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use shuyu_governance::Environment;
use arrow_flight::sql::{ActionCreatePreparedStatementResult, TicketStatementQuery};
use arrow_flight::{FlightDescriptor, FlightInfo, IpcMessage, SchemaAsIpc};
use arrow::ipc::writer::IpcWriteOptions;
use shuyu_compute::PrivateSession;
use shuyu_planner::strip_explain_privacy;

use crate::flight::caller::Caller;
use crate::flight::handles::{Handles, HeldResult, Prepared};
use crate::flight::results::{annotated, dev_annotated, held_notice, sizes, statement_info, stream, DoGetStream};
use crate::review::parse_fetch;
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

/// Runs `sql` for `caller` in its environment: the annotated schema and batches (a notice
/// in place of a result held for review). `FETCH EXPORT '<id>'` returns a released result.
pub async fn run(runner: &Runner, caller: &Caller, sql: &str, amount: Option<f64>) -> Result<(SchemaRef, Vec<RecordBatch>), Error> {
    if let Some(export) = parse_fetch(sql) {
        if caller.environment == Environment::Dev {
            return Err(Error::Usage("FETCH EXPORT returns production results: send it without x-shuyu-environment: dev".into()));
        }
        return runner.fetch_export(&caller.principal, export?).await;
    }
    match caller.environment {
        // Dev spends nothing: a budget header is irrelevant there.
        Environment::Dev => dev_annotated(&runner.run_dev(&caller.principal, caller.authorization, sql).await?, caller.authorization),
        Environment::Prod => {
            let outcome = runner.run(&caller.principal, caller.authorization, sql, amount).await?;
            match &outcome.held {
                Some(held) => held_notice(&outcome, held, caller.authorization),
                None => annotated(&outcome, caller.authorization),
            }
        }
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

/// Creates a prepared statement: plans `sql` (reads no data, spends nothing) and returns
/// the handle and the result schema.
pub async fn prepare(runner: &Runner, handles: &Handles, caller: &Caller, sql: &str) -> Result<ActionCreatePreparedStatementResult, Error> {
    let schema: SchemaRef = if let Some(export) = parse_fetch(sql) {
        // Its schema is the released result's: known once released.
        run(runner, caller, &format!("FETCH EXPORT '{}'", export?.0), None).await?.0
    } else {
        let cached = runner.scope_in(&caller.principal, caller.authorization, caller.environment).await?;
        let session = PrivateSession::new(cached.scope.clone());
        match (strip_explain_privacy(sql), caller.environment) {
            (Some(inner), _) => session.explain(inner, cached.budget).await?.schema(),
            (None, Environment::Prod) => Arc::new(session.plan(sql, cached.budget).await?.outer.schema().as_arrow().clone()),
            (None, Environment::Dev) => {
                let df = cached
                    .scope
                    .context()
                    .sql_with_options(sql, crate::runner::query_only())
                    .await
                    .map_err(|e| Error::Planner(shuyu_planner::PlannerError::Plan(e.strip_backtrace())))?;
                Arc::new(df.schema().as_arrow().clone())
            }
        }
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
    let under = Caller { principal: caller.principal.clone(), authorization: p.authorization, environment: caller.environment };
    Ok((under, p))
}
