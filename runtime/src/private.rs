//! The private path: a query over the authorization's tables, planned into releases by
//! the planner, reserved, executed by compute under the job limits, settled.
//!
//! `EXPLAIN PRIVACY` takes the same path up to planning: its job reads no data, reserves
//! nothing and is charged nothing.

use shuyu_compute::{PrivateSession, QueryResult};
use shuyu_governance::Environment;
use shuyu_planner::QueryBudget;
use tokio::time::timeout_at;

use crate::services::Services;
use crate::job::Job;
use crate::limits::with_memory_limit;
use crate::metering::{metered, ScanMeter};
use crate::results::marked;
use crate::call::{Call, Outcome};
use crate::scope_cache::CachedScope;
use crate::RuntimeError;

/// The budget of one query: the authorization's default, or `amount` of its definition.
pub fn budget(cached: &CachedScope, amount: Option<f64>) -> QueryBudget {
    let mut budget = cached.budget;
    if let Some(a) = amount {
        budget.amount = a;
    }
    budget
}

/// Runs `inner` (the statement `sql` without its `EXPLAIN PRIVACY` prefix) for `call` as
/// one job.
pub async fn run(rt: &Services, call: &Call, cached: &CachedScope, sql: &str, inner: &str, explain: bool) -> Result<Outcome, RuntimeError> {
    let budget = budget(cached, call.amount);
    let meter = ScanMeter::new();
    // Under the Ballista engine the memory limit binds this front end's part of the job (the
    // post-processing plan); the cluster's part is bound by its executors' memory pools.
    let session = PrivateSession::new(metered(&with_memory_limit(&cached.scope, rt.limits().memory_bytes())?, &meter)).with_engine(rt.engine().clone());
    let mut job = Job::open(rt.store(), &call.principal, call.authorization, sql, Environment::Prod, &cached.tables, meter).await?;
    let deadline = tokio::time::Instant::now() + rt.limits().timeout();
    let timed_out = || RuntimeError::Timeout(rt.limits().timeout());

    if explain {
        let batch = match timeout_at(deadline, session.explain(inner, budget)).await {
            Ok(Ok(batch)) => batch,
            Ok(Err(e)) => return job.fail(e.into()).await,
            Err(_) => return job.fail(timed_out()).await,
        };
        let id = job.id();
        let settled = job.succeed(0.0, 0.0, 0).await?;
        let result = QueryResult::explained(batch);
        return finished(result, id, settled);
    }

    let plan = match timeout_at(deadline, session.plan(inner, budget)).await {
        Ok(Ok(plan)) => plan,
        Ok(Err(e)) => return job.fail(e.into()).await,
        Err(_) => return job.fail(timed_out()).await,
    };
    let (cost, delta) = plan.total_cost();
    // The personal tables the query reads (each release's), for the per-dataset loss caps.
    let mut datasets: Vec<String> = plan.releases.iter().flat_map(|r| r.tables.iter().cloned()).collect();
    datasets.sort();
    datasets.dedup();
    // A plan without releases reads public tables only (the planner turns every aggregate
    // over personal data into a release and refuses anything else): nothing to reserve, and
    // the job is recorded as charged nothing.
    if !plan.releases.is_empty() {
        job.reserve(cost, delta, datasets).await?;
    }
    let result = match timeout_at(deadline, session.execute_plan(&plan)).await {
        Ok(Ok(result)) => result,
        Ok(Err(e)) => return job.fail(e.into()).await,
        Err(_) => return job.fail(timed_out()).await,
    };
    let id = job.id();
    let settled = job.succeed(result.cost, result.delta, result.releases as u64).await?;
    finished(result, id, settled)
}

/// The outcome of a settled production job.
pub fn finished(result: QueryResult, job: shuyu_governance::JobId, settled: crate::job::Settled) -> Result<Outcome, RuntimeError> {
    Ok(Outcome {
        result: marked(result, Environment::Prod)?,
        job,
        charged: settled.charged,
        charged_delta: settled.charged_delta,
        budget: settled.budget,
        losses: Vec::new(),
        metering: settled.metering,
        held: None,
    })
}
