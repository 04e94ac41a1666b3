//! The Arrow Flight SQL service: what data scientists' tools (ADBC, pyarrow, JDBC) talk to.
//!
//! Every call is authenticated (`authorization: Bearer <token>`, or the handshake first)
//! and acts under one authorization of the caller's unit, in production (privately, on the
//! real data) or, with `x-shuyu-environment: dev`, on the masked samples; both through the
//! governed [`Runtime`]. Under an authorization whose export policy is `review`, production
//! results are held for the bureau and fetched after approval with `FETCH EXPORT '<id>'`
//! ([`shuyu_runtime::review`]). What is served:
//! - statement queries (GetFlightInfo + DoGet) — [`statements`];
//! - prepared statements (create, execute, close; no parameters) — [`statements`];
//! - GetSqlInfo, GetCatalogs, GetDbSchemas, GetTables (with schemas), GetTableTypes —
//!   [`catalog`], listing only what the authorization grants.
//!
//! Writes (updates, ingestion), Substrait plans and transactions are refused. Errors become
//! gRPC statuses through `From<Error> for tonic::Status` (see [`crate::error`]).
//!
//! ## Layout
//! - [`caller`]: headers → authenticated caller, authorization, environment, budget.
//! - [`handshake`]: Basic → Bearer.
//! - [`handles`]: held results and prepared statements behind opaque handles.
//! - [`statements`]: running statements and prepared statements.
//! - [`catalog`]: the metadata calls.
//! - [`results`]: schema metadata, FlightInfo and DoGet streams.

pub mod caller;
pub mod catalog;
pub mod handles;
pub mod handshake;
pub mod results;
pub mod statements;

use std::sync::Arc;

use arrow::record_batch::RecordBatch;
use arrow_flight::flight_service_server::{FlightService, FlightServiceServer};
use arrow_flight::sql::server::{FlightSqlService, PeekableFlightDataStream};
use arrow_flight::sql::{
    ActionClosePreparedStatementRequest, ActionCreatePreparedStatementRequest, ActionCreatePreparedStatementResult,
    CommandGetCatalogs, CommandGetDbSchemas, CommandGetSqlInfo, CommandGetTableTypes, CommandGetTables, CommandPreparedStatementQuery,
    CommandPreparedStatementUpdate, CommandStatementIngest, CommandStatementQuery, CommandStatementSubstraitPlan, CommandStatementUpdate,
    DoPutPreparedStatementResult, SqlInfo, TicketStatementQuery,
};
use arrow_flight::{Action, FlightDescriptor, FlightInfo, HandshakeRequest, Ticket};
use tonic::{Request, Response, Status, Streaming};

use crate::flight::handles::Handles;
use crate::flight::handshake::HandshakeStream;
use crate::flight::results::{command_info, stream};
use shuyu_runtime::Runtime;
use crate::Error;

/// The Flight SQL service over a governed runtime.
#[derive(Debug, Clone)]
pub struct FlightSqlServer {
    runtime: Arc<Runtime>,
    handles: Arc<Handles>,
}

type DoGetResponse = Result<Response<<FlightSqlServer as FlightService>::DoGetStream>, Status>;

impl FlightSqlServer {
    /// A service running queries with `runtime`.
    pub fn new(runtime: Arc<Runtime>) -> Self {
        FlightSqlServer { runtime, handles: Arc::new(Handles::new()) }
    }

    /// The tonic service to add to a server.
    pub fn into_service(self) -> FlightServiceServer<Self> {
        FlightServiceServer::new(self)
    }

    /// The runtime (its store, limits and scope cache).
    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.runtime
    }

    async fn caller<T>(&self, request: &Request<T>) -> Result<caller::Caller, Error> {
        caller::resolve(&self.runtime, request.metadata()).await
    }

    async fn authenticated<T>(&self, request: &Request<T>) -> Result<shuyu_governance::Principal, Error> {
        caller::authenticate(&self.runtime, request.metadata()).await
    }
}

/// A one-batch DoGet response.
fn one_batch(batch: RecordBatch) -> DoGetResponse {
    Ok(Response::new(stream(batch.schema(), vec![batch])))
}

fn read_only() -> Status {
    Error::Denied("the domain is read-only: only SELECT queries run here, and only their noised aggregates leave it".into()).into()
}

#[tonic::async_trait]
impl FlightSqlService for FlightSqlServer {
    type FlightService = FlightSqlServer;

    async fn do_handshake(&self, request: Request<Streaming<HandshakeRequest>>) -> Result<Response<HandshakeStream>, Status> {
        Ok(handshake::handshake(&self.runtime, request.metadata()).await?)
    }

    async fn get_flight_info_statement(&self, query: CommandStatementQuery, request: Request<FlightDescriptor>) -> Result<Response<FlightInfo>, Status> {
        let caller = self.caller(&request).await?;
        let amount = caller::budget_override(request.metadata())?;
        let info = statements::execute(&self.runtime, &self.handles, &caller, &query.query, amount, request.into_inner()).await?;
        Ok(Response::new(info))
    }

    async fn get_flight_info_prepared_statement(
        &self,
        query: CommandPreparedStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let caller = self.caller(&request).await?;
        let amount = caller::budget_override(request.metadata())?;
        let (under, prepared) = statements::prepared(&self.handles, &caller, &query.prepared_statement_handle)?;
        let info = statements::execute(&self.runtime, &self.handles, &under, &prepared.sql, amount, request.into_inner()).await?;
        Ok(Response::new(info))
    }

    async fn get_flight_info_catalogs(&self, query: CommandGetCatalogs, request: Request<FlightDescriptor>) -> Result<Response<FlightInfo>, Status> {
        self.authenticated(&request).await?;
        let schema = query.into_builder().schema();
        Ok(Response::new(command_info(&schema, query, request.into_inner())?))
    }

    async fn get_flight_info_schemas(&self, query: CommandGetDbSchemas, request: Request<FlightDescriptor>) -> Result<Response<FlightInfo>, Status> {
        self.authenticated(&request).await?;
        let schema = query.clone().into_builder().schema();
        Ok(Response::new(command_info(&schema, query, request.into_inner())?))
    }

    async fn get_flight_info_tables(&self, query: CommandGetTables, request: Request<FlightDescriptor>) -> Result<Response<FlightInfo>, Status> {
        let caller = self.caller(&request).await?;
        // Checked now, so that naming an authorization one may not use fails here already.
        self.runtime.scope_in(&caller.principal, caller.authorization, caller.environment).await.map_err(Error::from)?;
        let schema = catalog::tables_schema(query.clone());
        Ok(Response::new(command_info(&schema, query, request.into_inner())?))
    }

    async fn get_flight_info_table_types(&self, query: CommandGetTableTypes, request: Request<FlightDescriptor>) -> Result<Response<FlightInfo>, Status> {
        self.authenticated(&request).await?;
        let schema = query.into_builder().schema();
        Ok(Response::new(command_info(&schema, query, request.into_inner())?))
    }

    async fn get_flight_info_sql_info(&self, query: CommandGetSqlInfo, request: Request<FlightDescriptor>) -> Result<Response<FlightInfo>, Status> {
        self.authenticated(&request).await?;
        let schema = query.clone().into_builder(catalog::sql_info()?).schema();
        Ok(Response::new(command_info(&schema, query, request.into_inner())?))
    }

    async fn do_get_statement(&self, ticket: TicketStatementQuery, request: Request<Ticket>) -> DoGetResponse {
        let p = self.authenticated(&request).await?;
        Ok(Response::new(statements::fetch(&self.handles, p.person_id, &ticket)?))
    }

    async fn do_get_prepared_statement(&self, query: CommandPreparedStatementQuery, request: Request<Ticket>) -> DoGetResponse {
        let caller = self.caller(&request).await?;
        let amount = caller::budget_override(request.metadata())?;
        let (under, prepared) = statements::prepared(&self.handles, &caller, &query.prepared_statement_handle)?;
        let (schema, batches) = statements::run(&self.runtime, &under, &prepared.sql, amount).await?;
        Ok(Response::new(stream(schema, batches)))
    }

    async fn do_get_catalogs(&self, query: CommandGetCatalogs, request: Request<Ticket>) -> DoGetResponse {
        self.authenticated(&request).await?;
        one_batch(catalog::catalogs(query)?)
    }

    async fn do_get_schemas(&self, query: CommandGetDbSchemas, request: Request<Ticket>) -> DoGetResponse {
        self.authenticated(&request).await?;
        one_batch(catalog::schemas(query)?)
    }

    async fn do_get_tables(&self, query: CommandGetTables, request: Request<Ticket>) -> DoGetResponse {
        let caller = self.caller(&request).await?;
        one_batch(catalog::tables(&self.runtime, &caller, query).await?)
    }

    async fn do_get_table_types(&self, query: CommandGetTableTypes, request: Request<Ticket>) -> DoGetResponse {
        self.authenticated(&request).await?;
        one_batch(catalog::table_types(query)?)
    }

    async fn do_get_sql_info(&self, query: CommandGetSqlInfo, request: Request<Ticket>) -> DoGetResponse {
        self.authenticated(&request).await?;
        one_batch(catalog::sql_info_batch(query)?)
    }

    async fn do_put_statement_update(&self, _ticket: CommandStatementUpdate, request: Request<PeekableFlightDataStream>) -> Result<i64, Status> {
        self.authenticated(&request).await?;
        Err(read_only())
    }

    async fn do_put_statement_ingest(&self, _ticket: CommandStatementIngest, request: Request<PeekableFlightDataStream>) -> Result<i64, Status> {
        self.authenticated(&request).await?;
        Err(read_only())
    }

    async fn do_put_substrait_plan(&self, _query: CommandStatementSubstraitPlan, request: Request<PeekableFlightDataStream>) -> Result<i64, Status> {
        self.authenticated(&request).await?;
        Err(Error::Usage("Substrait plans are not accepted: send SQL".into()).into())
    }

    async fn do_put_prepared_statement_query(
        &self,
        _query: CommandPreparedStatementQuery,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<DoPutPreparedStatementResult, Status> {
        self.authenticated(&request).await?;
        Err(Error::Usage("query parameters are not supported: write the values into the SQL text".into()).into())
    }

    async fn do_put_prepared_statement_update(
        &self,
        _query: CommandPreparedStatementUpdate,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        self.authenticated(&request).await?;
        Err(read_only())
    }

    async fn do_action_create_prepared_statement(
        &self,
        query: ActionCreatePreparedStatementRequest,
        request: Request<Action>,
    ) -> Result<ActionCreatePreparedStatementResult, Status> {
        let caller = self.caller(&request).await?;
        Ok(statements::prepare(&self.runtime, &self.handles, &caller, &query.query).await?)
    }

    async fn do_action_close_prepared_statement(&self, query: ActionClosePreparedStatementRequest, request: Request<Action>) -> Result<(), Status> {
        let p = self.authenticated(&request).await?;
        let handle = String::from_utf8_lossy(&query.prepared_statement_handle);
        self.handles.close(p.person_id, &handle)?;
        Ok(())
    }

    async fn register_sql_info(&self, _id: i32, _result: &SqlInfo) {}
}
