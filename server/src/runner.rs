//! One query of an authorization, end to end, in the production environment:
//! governance checks → private planning → budget reservation → execution → commit → job
//! record. A refusal or a failure before any noise exists releases the reservation; once
//! noise has been drawn, the charge is committed whatever happens next.

use std::time::Instant;

use shuyu_compute::{ComputeError, PrivateSession, QueryResult};
use shuyu_governance::{
    AuthorizationId, Budget, Environment, JobId, JobOutcome, JobStatus, Metering, Nano, NewJob, Principal, PrivacyKind, Store,
};
use shuyu_planner::{strip_explain_privacy, GrantedTable, QueryBudget, Scope};

use crate::CliError;

/// What a governed query returned.
#[derive(Debug)]
pub struct Outcome {
    /// The result (noised values, or EXPLAIN PRIVACY rows).
    pub result: QueryResult,
    /// The job that recorded it.
    pub job: JobId,
    /// The authorization's budget after the charge.
    pub budget: Budget,
}

/// Opens the planner scope of an authorization (its granted tables and columns only).
pub async fn open_scope(store: &Store, p: &Principal, auth: AuthorizationId) -> Result<(Scope, QueryBudget, Vec<String>), CliError> {
    let s = store.scope(p, auth)?;
    let grants: Vec<GrantedTable> = s.tables.iter().map(|t| GrantedTable::new(t.manifest.clone(), None, &t.location)).collect();
    let scope = Scope::open(&grants).await?;
    let default = s.authorization.per_query_default.as_f64();
    let budget = match s.authorization.privacy.kind {
        PrivacyKind::PureDp => QueryBudget::pure(default),
        PrivacyKind::Zcdp => QueryBudget::zcdp(default, s.authorization.privacy.delta),
    };
    let tables = s.tables.iter().map(|t| t.manifest.name.clone()).collect();
    Ok((scope, budget, tables))
}

/// Runs `sql` under authorization `auth` for caller `p`, spending `amount` (default: the
/// authorization's per-query default).
pub async fn run(store: &Store, p: &Principal, auth: AuthorizationId, sql: &str, amount: Option<f64>) -> Result<Outcome, CliError> {
    let (scope, mut budget, tables) = open_scope(store, p, auth).await?;
    if let Some(a) = amount {
        budget.amount = a;
    }
    let session = PrivateSession::new(scope);
    let job = store.create_job(p, &NewJob { authorization: auth, sql: sql.to_string(), environment: Environment::Prod })?;
    let finish = |status: JobStatus, metering: Metering, failure: Option<String>| {
        store.finish_job(job, &JobOutcome { status, metering, datasets: tables.clone(), failure })
    };
    let start = Instant::now();

    if let Some(inner) = strip_explain_privacy(sql) {
        return match session.execute(&format!("EXPLAIN PRIVACY {inner}"), budget).await {
            Ok(result) => {
                finish(JobStatus::Succeeded, Metering::default(), None)?;
                Ok(Outcome { result, job, budget: store.budget(p, auth)? })
            }
            Err(e) => {
                finish(status_of(&e), Metering::default(), Some(e.to_string()))?;
                Err(e.into())
            }
        };
    }

    let plan = match session.plan(sql, budget).await {
        Ok(plan) => plan,
        Err(e) => {
            finish(status_of(&e), Metering::default(), Some(e.to_string()))?;
            return Err(e.into());
        }
    };
    let (cost, _delta) = plan.total_cost();
    let reservation = match Nano::charge(cost, "query cost").and_then(|n| store.reserve(auth, job, n)) {
        Ok(r) => r,
        Err(e) => {
            finish(JobStatus::Refused, Metering::default(), Some(e.to_string()))?;
            return Err(e.into());
        }
    };
    match session.execute_plan(&plan).await {
        Ok(result) => {
            let budget_after = store.commit(&reservation, Nano::charge(result.cost, "query cost")?)?;
            let metering = Metering {
                cpu_ms: start.elapsed().as_millis() as u64,
                releases: result.releases as u64,
                ..Metering::default()
            };
            finish(JobStatus::Succeeded, metering, None)?;
            Ok(Outcome { result, job, budget: budget_after })
        }
        Err(e) => {
            // Noise exists once any release was placed: the charge then stands.
            let noised = plan.releases.iter().any(|r| r.slot.batch().is_some());
            if noised {
                store.commit(&reservation, reservation_amount(&reservation))?;
            } else {
                store.release(&reservation)?;
            }
            finish(JobStatus::Failed, Metering::default(), Some(e.to_string()))?;
            Err(e.into())
        }
    }
}

fn reservation_amount(r: &shuyu_governance::Reservation) -> Nano {
    r.amount
}

fn status_of(e: &ComputeError) -> JobStatus {
    if e.refusal().is_some() || matches!(e, ComputeError::Planner(shuyu_planner::PlannerError::Plan(_))) {
        JobStatus::Refused
    } else {
        JobStatus::Failed
    }
}
