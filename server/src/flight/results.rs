//! Results on the wire: the service's schema metadata, FlightInfo, and DoGet streams.
//!
//! Besides what `shuyu-compute` puts in a result schema (`shuyu.cost`, `shuyu.delta`,
//! `shuyu.definition`, `shuyu.releases`, and per column `shuyu.mechanism`, `shuyu.scale`,
//! `shuyu.ci95_half_width`), the service adds:
//! - `shuyu.job`: the job id that recorded the query;
//! - `shuyu.authorization`: the authorization it was charged to;
//! - `shuyu.charged`: what the ledger charged, exactly (decimal, 9 digits at most);
//! - `shuyu.budget_remaining` and `shuyu.budget_total`: the authorization's budget after it;
//! - `shuyu.delta_charged`, `shuyu.delta_remaining`, `shuyu.delta_total`: the same for delta
//!   (exact decimals, 18 digits at most);
//! - `shuyu.loss`: the unit's composed privacy loss after it on each dataset the
//!   authorization grants, over all the unit's authorizations, as a JSON array of
//!   `{"dataset", "epsilon", "delta", "cap_epsilon", "cap_delta", "remaining_epsilon",
//!   "remaining_delta"}` (exact decimals as strings; the cap fields are null without a cap);
//! - `shuyu.environment`: `prod` or `dev` (every result);
//! - on a result held for review, instead of its rows, one row (`export`, `status`,
//!   `message`) and `shuyu.export`, `shuyu.export_status` (see [`shuyu_runtime::review`]).
//!
//! A dev result carries `shuyu.environment = dev`, `shuyu.job`, `shuyu.authorization`,
//! `shuyu.charged = 0`.
//!
//! Scan figures (rows and bytes read, CPU time) are exact and depend on the data (pruning,
//! filters), so they stay in the bureau's job records and never reach the analyst
//! (docs/threat-model.md lists what a response carries). Every key is a constant of
//! [`shuyu_privacy::keys`].

use std::pin::Pin;
use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::error::FlightError;
use arrow_flight::sql::{ProstMessageExt, TicketStatementQuery};
use arrow_flight::{FlightData, FlightDescriptor, FlightEndpoint, FlightInfo, Ticket};
use futures::{Stream, TryStreamExt};
use prost::Message;
use shuyu_governance::{AuthorizationId, PrivacyLoss};
use shuyu_privacy::keys;
use tonic::Status;

use shuyu_runtime::review::HeldExport;
use shuyu_runtime::{DevOutcome, Outcome};
use crate::Error;

/// A DoGet response stream.
pub type DoGetStream = Pin<Box<dyn Stream<Item = Result<FlightData, Status>> + Send + 'static>>;

/// The loss view as `shuyu.loss` carries it.
fn loss_json(losses: &[PrivacyLoss]) -> String {
    let text = |v: Option<String>| v.map_or(serde_json::Value::Null, serde_json::Value::String);
    let rows: Vec<serde_json::Value> = losses
        .iter()
        .map(|l| {
            serde_json::json!({
                "dataset": l.dataset,
                "epsilon": l.epsilon.to_string(),
                "delta": l.delta.to_string(),
                "cap_epsilon": text(l.cap.map(|c| c.epsilon.to_string())),
                "cap_delta": text(l.cap.map(|c| c.delta.to_string())),
                "remaining_epsilon": text(l.remaining.map(|r| r.0.to_string())),
                "remaining_delta": text(l.remaining.map(|r| r.1.to_string())),
            })
        })
        .collect();
    serde_json::Value::Array(rows).to_string()
}

/// The outcome's batches under a schema that also carries the service's metadata.
pub fn annotated(outcome: &Outcome, authorization: AuthorizationId) -> Result<(SchemaRef, Vec<RecordBatch>), Error> {
    let schema = outcome.result.schema.as_ref();
    let mut md = schema.metadata().clone();
    md.insert(keys::JOB.into(), outcome.job.0.to_string());
    md.insert(keys::AUTHORIZATION.into(), authorization.0.to_string());
    md.insert(keys::CHARGED.into(), outcome.charged.to_string());
    md.insert(keys::BUDGET_REMAINING.into(), outcome.budget.remaining.to_string());
    md.insert(keys::BUDGET_TOTAL.into(), outcome.budget.total.to_string());
    md.insert(keys::DELTA_CHARGED.into(), outcome.charged_delta.to_string());
    md.insert(keys::DELTA_REMAINING.into(), outcome.budget.delta_remaining.to_string());
    md.insert(keys::DELTA_TOTAL.into(), outcome.budget.delta_total.to_string());
    md.insert(keys::LOSS.into(), loss_json(&outcome.losses));
    let schema = Arc::new(Schema::new_with_metadata(schema.fields().clone(), md));
    let batches = outcome
        .result
        .batches
        .iter()
        .map(|b| b.clone().with_schema(schema.clone()).map_err(|e| Error::Internal(format!("result schema: {e}"))))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((schema, batches))
}

/// In place of a result held for review: one row naming the export to wait for, under the
/// outcome's metadata (what was charged, the budget left) and the export's id and status.
pub fn held_notice(outcome: &Outcome, held: &HeldExport, authorization: AuthorizationId) -> Result<(SchemaRef, Vec<RecordBatch>), Error> {
    let (annotated_schema, _) = annotated(outcome, authorization)?;
    let mut md = annotated_schema.metadata().clone();
    md.insert(keys::EXPORT.into(), held.export.0.to_string());
    md.insert(keys::EXPORT_STATUS.into(), held.status.as_str().into());
    let schema = Arc::new(Schema::new_with_metadata(
        vec![Field::new("export", DataType::Int64, false), Field::new("status", DataType::Utf8, false), Field::new("message", DataType::Utf8, false)],
        md,
    ));
    let message = format!(
        "the result is held in the domain for the bureau's review (this authorization's export policy); {} was charged. \
         Once the bureau approves {}, fetch the result with: FETCH EXPORT '{}'",
        outcome.charged, held.export, held.export.0
    );
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(vec![held.export.0])),
        Arc::new(StringArray::from(vec![held.status.as_str()])),
        Arc::new(StringArray::from(vec![message])),
    ];
    let batch = RecordBatch::try_new(schema.clone(), columns).map_err(|e| Error::Internal(format!("held notice: {e}")))?;
    Ok((schema, vec![batch]))
}

/// A dev result under a schema with the service's metadata (nothing charged).
pub fn dev_annotated(outcome: &DevOutcome, authorization: AuthorizationId) -> Result<(SchemaRef, Vec<RecordBatch>), Error> {
    let mut md = outcome.schema.metadata().clone();
    md.insert(keys::JOB.into(), outcome.job.0.to_string());
    md.insert(keys::AUTHORIZATION.into(), authorization.0.to_string());
    md.insert(keys::CHARGED.into(), "0".into());
    let schema = Arc::new(Schema::new_with_metadata(outcome.schema.fields().clone(), md));
    let batches = outcome
        .batches
        .iter()
        .map(|b| RecordBatch::try_new(schema.clone(), b.columns().to_vec()).map_err(|e| Error::Internal(format!("result schema: {e}"))))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((schema, batches))
}

/// A FlightInfo whose one endpoint's ticket names the held result `handle`.
pub fn statement_info(schema: &Schema, handle: &str, rows: usize, bytes: usize, descriptor: FlightDescriptor) -> Result<FlightInfo, Error> {
    let ticket = TicketStatementQuery { statement_handle: handle.as_bytes().to_vec().into() };
    let endpoint = FlightEndpoint::new().with_ticket(Ticket::new(ticket.as_any().encode_to_vec()));
    Ok(FlightInfo::new()
        .try_with_schema(schema)
        .map_err(|e| Error::Internal(format!("encoding a result schema: {e}")))?
        .with_endpoint(endpoint)
        .with_descriptor(descriptor)
        .with_total_records(rows as i64)
        .with_total_bytes(bytes as i64)
        .with_ordered(true))
}

/// Rows and in-memory bytes of a result.
pub fn sizes(batches: &[RecordBatch]) -> (usize, usize) {
    (batches.iter().map(RecordBatch::num_rows).sum(), batches.iter().map(RecordBatch::get_array_memory_size).sum())
}

/// A FlightInfo for a metadata command: its ticket is the command itself.
pub fn command_info(schema: &Schema, command: impl ProstMessageExt, descriptor: FlightDescriptor) -> Result<FlightInfo, Error> {
    let endpoint = FlightEndpoint::new().with_ticket(Ticket::new(command.as_any().encode_to_vec()));
    Ok(FlightInfo::new()
        .try_with_schema(schema)
        .map_err(|e| Error::Internal(format!("encoding a metadata schema: {e}")))?
        .with_endpoint(endpoint)
        .with_descriptor(descriptor))
}

/// Streams `batches` under `schema` (sent first, so an empty result still has its schema).
pub fn stream(schema: SchemaRef, batches: Vec<RecordBatch>) -> DoGetStream {
    let input = futures::stream::iter(batches.into_iter().map(Ok::<_, FlightError>));
    Box::pin(FlightDataEncoderBuilder::new().with_schema(schema).build(input).map_err(Status::from))
}
