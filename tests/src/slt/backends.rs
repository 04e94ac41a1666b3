//! The suite's paths: the library (a compute [`PrivateSession`], or the [`Runtime`] under an
//! authorization) and the wire (a Flight SQL client of the server).

use std::sync::Arc;

use arrow::datatypes::Schema;
use arrow_flight::error::FlightError;
use arrow_flight::sql::client::FlightSqlServiceClient;
use shuyu_compute::{PrivateSession, QueryResult};
use shuyu_planner::QueryBudget;
use shuyu_privacy::{keys, PrivacyDefinition};
use shuyu_runtime::{Answer, Call, Runtime};
use tonic::transport::Channel;

use super::{Answered, Backend};
use crate::fixture;

impl From<QueryResult> for Answered {
    fn from(r: QueryResult) -> Self {
        Answered { schema: r.schema, batches: r.batches, cost: r.cost, delta: r.delta, releases: r.releases }
    }
}

/// The engine alone: a private session over a planner scope, every budget expressible.
pub struct SessionBackend(pub PrivateSession);

#[async_trait::async_trait]
impl Backend for SessionBackend {
    fn states(&self, _: &QueryBudget) -> bool {
        true
    }

    async fn run(&self, sql: &str, budget: &QueryBudget) -> Result<Answered, String> {
        self.0.execute(sql, *budget).await.map(Answered::from).map_err(|e| e.to_string())
    }
}

/// What an authorization lets one query state: its definition and delta, and a positive
/// amount (`x-shuyu-budget`); contribution bounds cannot be lowered from outside.
#[derive(Debug, Clone, Copy)]
pub struct Terms {
    /// The authorization's definition.
    pub definition: PrivacyDefinition,
    /// Its per-query delta.
    pub delta: f64,
    /// Dev statements spend nothing: every budget directive is moot.
    pub dev: bool,
}

impl Terms {
    fn states(&self, b: &QueryBudget) -> bool {
        self.dev
            || (b.definition == self.definition
                && b.delta == self.delta
                && b.amount.is_finite()
                && b.amount > 0.0
                && b.max_groups.is_none()
                && b.max_rows.is_none())
    }
}

/// The governed library path: [`Runtime::run`] under an authorization (one job per
/// statement, charged and audited as over the wire).
pub struct RuntimeBackend {
    /// The runtime.
    pub runtime: Arc<Runtime>,
    /// Who asks, under which authorization, in which environment.
    pub call: Call,
    /// What the authorization lets one query state.
    pub terms: Terms,
}

#[async_trait::async_trait]
impl Backend for RuntimeBackend {
    fn states(&self, budget: &QueryBudget) -> bool {
        self.terms.states(budget)
    }

    async fn run(&self, sql: &str, budget: &QueryBudget) -> Result<Answered, String> {
        let call = if self.terms.dev { self.call.clone() } else { self.call.clone().spending(Some(budget.amount)) };
        match self.runtime.run(&call, sql).await.map_err(|e| e.to_string())? {
            // A result held for review answers its schema and no rows, as over the wire.
            Answer::Prod(o) => Ok(o.result.into()),
            Answer::Dev(d) => Ok(Answered { schema: d.schema, batches: d.batches, cost: 0.0, delta: 0.0, releases: 0 }),
            Answer::Export { schema, batches } => Ok(Answered { schema, batches, cost: 0.0, delta: 0.0, releases: 0 }),
        }
    }
}

/// The wire: arrow-flight's Flight SQL client of the server, the amount in `x-shuyu-budget`;
/// cost, delta and releases read from the answer's schema metadata.
pub struct FlightBackend {
    /// A client with the analyst's token and authorization (and environment) set.
    pub client: FlightSqlServiceClient<Channel>,
    /// What the authorization lets one query state.
    pub terms: Terms,
}

fn metadata_f64(schema: &Schema, key: &str) -> f64 {
    schema.metadata().get(key).and_then(|v| v.parse().ok()).unwrap_or(0.0)
}

/// The measurements of one release as the answer describes it: one per noised partial and
/// per quantile histogram, and one for a partition selection of its keys.
fn measurements(release: &serde_json::Value) -> usize {
    let len = |k: &str| release.get(k).and_then(serde_json::Value::as_array).map_or(0, Vec::len);
    len("partials") + len("histograms") + usize::from(release.get("keys").and_then(|k| k.get("Selected")).is_some())
}

#[async_trait::async_trait]
impl Backend for FlightBackend {
    fn states(&self, budget: &QueryBudget) -> bool {
        self.terms.states(budget)
    }

    async fn run(&self, sql: &str, budget: &QueryBudget) -> Result<Answered, String> {
        let mut client = self.client.clone();
        if !self.terms.dev {
            client.set_header(shuyu::flight::caller::BUDGET_HEADER, budget.amount.to_string());
        }
        let (schema, batches) = fixture::query(&mut client, sql).await.map_err(|e| match e {
            FlightError::Tonic(s) => s.message().to_string(),
            other => other.to_string(),
        })?;
        let releases = schema
            .metadata()
            .get(keys::RELEASES)
            .and_then(|v| serde_json::from_str::<Vec<serde_json::Value>>(v).ok())
            .map_or(0, |r| r.iter().map(measurements).sum());
        let (cost, delta) = (metadata_f64(&schema, keys::COST), metadata_f64(&schema, keys::DELTA));
        Ok(Answered { schema, batches, cost, delta, releases })
    }
}
