//! Jobs: one per query, with its environment, status, cost, metering (Art. 19) and the
//! datasets it read (lineage).
//!
//! The SQL text is kept with the job (the unit wrote it and may read it back); the audit
//! trail only gets its SHA-256.

use chrono::{DateTime, Utc};
use rusqlite::params;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use shuyu_privacy::Fault;

use crate::sql::{OptionalExtension, Row, Tx};
use crate::actor::{Actor, Principal, Role};
use crate::amount::Nano;
use crate::audit::{self, Entry};
use crate::authorizations;
use crate::clock::{from_micros, to_micros};
use crate::error::{GovernanceError, Result};
use crate::ids::{AuthorizationId, DatasetId, JobId, PersonId, UnitId};
use crate::store::Store;
use crate::validate::check_long_text;

/// Longest SQL text accepted.
pub const MAX_SQL_BYTES: usize = 1 << 20;

text_enum!(
    /// Where a query runs (R4).
    pub enum Environment {
        /// Masked, sampled copy; spends no budget.
        Dev => "dev",
        /// The real data, through the private path only.
        Prod => "prod",
    }
);

text_enum!(
    /// Where a job stands.
    pub enum JobStatus {
        /// Started, not finished.
        Running => "running",
        /// Finished with a result.
        Succeeded => "succeeded",
        /// Failed while running.
        Failed => "failed",
        /// Refused (planner, budget, status).
        Refused => "refused",
    }
);

impl JobStatus {
    /// How a job that ended with an error of class `fault` is recorded: `refused` when it was
    /// turned down before it ran (bad SQL, a privacy refusal, the budget, a permission),
    /// `failed` when it ran and stopped (at run time, past a limit, after its budget was
    /// reserved and charged, or for a bug).
    pub fn ended_by(fault: Fault) -> JobStatus {
        match fault {
            Fault::InvalidArgument
            | Fault::Refused(_)
            | Fault::PermissionDenied
            | Fault::Unauthenticated
            | Fault::NotFound
            | Fault::BudgetExhausted
            | Fault::FailedPrecondition => JobStatus::Refused,
            Fault::QueryFailed
            | Fault::ResourceLimit
            | Fault::TimedOut
            | Fault::Charged
            | Fault::Unavailable
            | Fault::IntegrityBroken
            | Fault::Internal => JobStatus::Failed,
        }
    }
}

/// Resources a job used (billable to the unit).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metering {
    /// Rows scanned.
    pub rows_scanned: u64,
    /// Bytes scanned.
    pub bytes_scanned: u64,
    /// CPU time in milliseconds.
    pub cpu_ms: u64,
    /// Homomorphic operations.
    pub encrypted_ops: u64,
    /// Noised values released.
    pub releases: u64,
}

impl Metering {
    /// Adds another job's metering (saturating).
    pub fn add(&mut self, other: &Metering) {
        self.rows_scanned = self.rows_scanned.saturating_add(other.rows_scanned);
        self.bytes_scanned = self.bytes_scanned.saturating_add(other.bytes_scanned);
        self.cpu_ms = self.cpu_ms.saturating_add(other.cpu_ms);
        self.encrypted_ops = self.encrypted_ops.saturating_add(other.encrypted_ops);
        self.releases = self.releases.saturating_add(other.releases);
    }
}

/// A job to start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewJob {
    /// The scenario it runs under.
    pub authorization: AuthorizationId,
    /// The SQL text.
    pub sql: String,
    /// Dev or prod.
    pub environment: Environment,
}

/// How a job ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobOutcome {
    /// Succeeded, failed or refused.
    pub status: JobStatus,
    /// Resources used.
    pub metering: Metering,
    /// Datasets the job read (must be granted by its authorization).
    pub datasets: Vec<String>,
    /// Why it failed or was refused (no data values).
    pub failure: Option<String>,
}

/// A job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    /// Identifier.
    pub id: JobId,
    /// Unit.
    pub unit: UnitId,
    /// Authorization.
    pub authorization: AuthorizationId,
    /// Who sent it.
    pub person: PersonId,
    /// SQL text.
    pub sql: String,
    /// Dev or prod.
    pub environment: Environment,
    /// Status.
    pub status: JobStatus,
    /// Started at.
    pub created_at: DateTime<Utc>,
    /// Finished at.
    pub finished_at: Option<DateTime<Utc>>,
    /// Privacy cost settled so far.
    pub cost: Nano,
    /// Resources used.
    pub metering: Metering,
    /// Datasets read.
    pub datasets: Vec<String>,
    /// Why it failed or was refused.
    pub failure: Option<String>,
}

/// Filters of a job listing.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct JobFilter {
    /// Only this unit (bureau and supervisors; analysts always get their own).
    pub unit: Option<UnitId>,
    /// Only this authorization.
    pub authorization: Option<AuthorizationId>,
    /// Only this status.
    pub status: Option<JobStatus>,
    /// At most this many, newest first (default and maximum 1,000).
    pub limit: Option<u32>,
}

/// The parts of a job the ledger checks.
#[derive(Debug, Clone)]
pub(crate) struct JobRow {
    pub(crate) unit: UnitId,
    pub(crate) authorization: AuthorizationId,
    pub(crate) person: PersonId,
    pub(crate) environment: Environment,
    pub(crate) status: JobStatus,
    pub(crate) releases: i64,
}

pub(crate) fn load_job_row(conn: &Tx<'_>, id: JobId) -> Result<JobRow> {
    conn.query_row(
        "SELECT unit_id, authorization_id, person_id, environment, status, releases FROM jobs WHERE id = ?1",
        [id],
        |r| {
            Ok(JobRow {
                unit: r.get(0)?,
                authorization: r.get(1)?,
                person: r.get(2)?,
                environment: r.get(3)?,
                status: r.get(4)?,
                releases: r.get(5)?,
            })
        },
    )
    .optional()?
    .ok_or_else(|| GovernanceError::not_found(id.to_string()))
}

const JOB_COLUMNS: &str = "id, unit_id, authorization_id, person_id, sql_text, environment, status, created_at, finished_at,
    cost_nano, rows_scanned, bytes_scanned, cpu_ms, encrypted_ops, releases, failure";

type RawJob = (
    JobId,
    UnitId,
    AuthorizationId,
    PersonId,
    String,
    Environment,
    JobStatus,
    i64,
    Option<i64>,
    Nano,
    [i64; 5],
    Option<String>,
);

fn raw_job(r: &Row<'_>) -> rusqlite::Result<RawJob> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
        r.get(9)?,
        [r.get(10)?, r.get(11)?, r.get(12)?, r.get(13)?, r.get(14)?],
        r.get(15)?,
    ))
}

fn decode_job(conn: &Tx<'_>, raw: RawJob) -> Result<Job> {
    let (
        id,
        unit,
        authorization,
        person,
        sql,
        environment,
        status,
        created,
        finished,
        cost,
        m,
        failure,
    ) = raw;
    let u = |v: i64| u64::try_from(v).unwrap_or(0);
    let datasets = conn
        .prepare("SELECT d.name FROM job_datasets jd JOIN datasets d ON d.id = jd.dataset_id WHERE jd.job_id = ?1 ORDER BY d.name")?
        .query_map([id], |r| r.get(0))?
        .collect::<rusqlite::Result<Vec<String>>>()?;
    Ok(Job {
        id,
        unit,
        authorization,
        person,
        sql,
        environment,
        status,
        created_at: from_micros(created)?,
        finished_at: finished.map(from_micros).transpose()?,
        cost,
        metering: Metering {
            rows_scanned: u(m[0]),
            bytes_scanned: u(m[1]),
            cpu_ms: u(m[2]),
            encrypted_ops: u(m[3]),
            releases: u(m[4]),
        },
        datasets,
        failure,
    })
}

pub(crate) fn load_job(conn: &Tx<'_>, id: JobId) -> Result<Job> {
    let raw = conn
        .query_row(
            &format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?1"),
            [id],
            raw_job,
        )
        .optional()?
        .ok_or_else(|| GovernanceError::not_found(id.to_string()))?;
    decode_job(conn, raw)
}

fn sql_i64(v: u64, field: &str) -> Result<i64> {
    i64::try_from(v).map_err(|_| GovernanceError::invalid(field, "is too large"))
}

impl Store {
    /// Starts a job for the calling analyst under one of its unit's authorizations, which
    /// must be usable now (active, in term, unit active).
    pub fn create_job(&self, p: &Principal, new: &NewJob) -> Result<JobId> {
        self.act(p, "job.create", new.authorization.to_string(), |tx, actor, now| {
            let unit = actor.require_unit("run queries")?;
            let row = authorizations::load_row(tx, new.authorization)?;
            actor.require_owner(row.unit, &new.authorization.to_string())?;
            authorizations::require_usable(tx, &row, now)?;
            if new.sql.trim().is_empty() {
                return Err(GovernanceError::invalid("sql", "must not be empty"));
            }
            if new.sql.len() > MAX_SQL_BYTES {
                return Err(GovernanceError::invalid("sql", format!("must be at most {MAX_SQL_BYTES} bytes")));
            }
            let digest = hex::encode(Sha256::digest(new.sql.as_bytes()));
            let new_id = tx.insert(
                "INSERT INTO jobs (unit_id, authorization_id, person_id, sql_text, sql_sha256, environment, status, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'running', ?7)",
                params![unit, new.authorization, actor.person, new.sql, digest, new.environment, to_micros(now)],
            )?;
            let id = JobId(new_id);
            audit::append(
                tx,
                now,
                &Entry::ok(actor, "job.create", id.to_string()).details(json!({
                    "authorization": new.authorization.0,
                    "environment": new.environment.as_str(),
                    "sql_sha256": digest,
                })),
            )?;
            Ok(id)
        })
    }

    /// Records how a job ended (server-internal: it is accepted even if the unit was
    /// suspended meanwhile, so metering and cost are never lost). Its reservations must all
    /// be settled first.
    pub fn finish_job(&self, job: JobId, outcome: &JobOutcome) -> Result<Job> {
        self.write(|tx| {
            let now = self.now();
            let j = load_job_row(tx, job)?;
            if j.status != JobStatus::Running {
                return Err(GovernanceError::conflict(format!("{job} already ended as {}", j.status)));
            }
            if outcome.status == JobStatus::Running {
                return Err(GovernanceError::invalid("status", "must be succeeded, failed or refused"));
            }
            let open: i64 = tx.query_row(
                "SELECT COUNT(*) FROM reservations WHERE job_id = ?1 AND state = 'open'",
                [job],
                |r| r.get(0),
            )?;
            if open > 0 {
                return Err(GovernanceError::conflict(format!(
                    "{job} still holds {open} open reservation(s); commit or release them first"
                )));
            }
            if let Some(f) = &outcome.failure {
                check_long_text(f, "failure", 2000)?;
            }
            let granted = authorizations::granted(tx, j.authorization)?;
            let mut dataset_ids: Vec<DatasetId> = Vec::new();
            for (i, name) in outcome.datasets.iter().enumerate() {
                let Some((did, _)) = granted.iter().find(|(_, g)| &g.dataset == name) else {
                    return Err(GovernanceError::invalid(
                        format!("datasets[{i}]"),
                        format!("is not granted by {}; a job can only read its scenario's datasets", j.authorization),
                    ));
                };
                if !dataset_ids.contains(did) {
                    dataset_ids.push(*did);
                }
            }
            let m = &outcome.metering;
            tx.execute(
                "UPDATE jobs SET status = ?1, finished_at = ?2, rows_scanned = ?3, bytes_scanned = ?4, cpu_ms = ?5,
                    encrypted_ops = ?6, releases = ?7, failure = ?8 WHERE id = ?9",
                params![
                    outcome.status,
                    to_micros(now),
                    sql_i64(m.rows_scanned, "metering.rows_scanned")?,
                    sql_i64(m.bytes_scanned, "metering.bytes_scanned")?,
                    sql_i64(m.cpu_ms, "metering.cpu_ms")?,
                    sql_i64(m.encrypted_ops, "metering.encrypted_ops")?,
                    sql_i64(m.releases, "metering.releases")?,
                    outcome.failure,
                    job
                ],
            )?;
            for did in &dataset_ids {
                tx.execute("INSERT INTO job_datasets (job_id, dataset_id) VALUES (?1, ?2)", params![job, did])?;
            }
            let full = load_job(tx, job)?;
            let actor = Actor::analyst(j.person, j.unit);
            audit::append(
                tx,
                now,
                &Entry::ok(&actor, "job.finish", job.to_string()).cost(full.cost).details(json!({
                    "status": outcome.status.as_str(),
                    "environment": j.environment.as_str(),
                    "authorization": j.authorization.0,
                    "datasets": dataset_ids.iter().map(|d| d.0).collect::<Vec<_>>(),
                    "metering": m,
                })),
            )?;
            Ok(full)
        })
    }

    /// A job (its unit, the bureau, supervisors).
    pub fn job(&self, p: &Principal, id: JobId) -> Result<Job> {
        self.observe(p, "job.read", id.to_string(), |tx, actor, _| {
            actor.require(
                &[Role::BureauAdmin, Role::Supervisor, Role::UnitAnalyst],
                "read jobs",
            )?;
            let j = load_job(tx, id)?;
            actor.require_owner(j.unit, &id.to_string())?;
            Ok(j)
        })
    }

    /// Jobs, newest first. Analysts only ever get their own unit's.
    pub fn jobs(&self, p: &Principal, filter: &JobFilter) -> Result<Vec<Job>> {
        self.observe(p, "job.list", "jobs", |tx, actor, _| {
            actor.require(
                &[Role::BureauAdmin, Role::Supervisor, Role::UnitAnalyst],
                "list jobs",
            )?;
            let unit = if actor.sees_all_units() {
                filter.unit
            } else {
                if let Some(u) = filter.unit {
                    actor.require_tenant(u, &u.to_string())?;
                }
                Some(actor.require_unit("list its jobs")?)
            };
            let mut sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE 1 = 1");
            let mut args: Vec<rusqlite::types::Value> = Vec::new();
            if let Some(u) = unit {
                args.push(u.0.into());
                sql.push_str(&format!(" AND unit_id = ?{}", args.len()));
            }
            if let Some(a) = filter.authorization {
                args.push(a.0.into());
                sql.push_str(&format!(" AND authorization_id = ?{}", args.len()));
            }
            if let Some(s) = filter.status {
                args.push(s.as_str().to_string().into());
                sql.push_str(&format!(" AND status = ?{}", args.len()));
            }
            sql.push_str(&format!(
                " ORDER BY id DESC LIMIT {}",
                filter.limit.unwrap_or(1000).min(1000)
            ));
            let raws = tx
                .prepare(&sql)?
                .query_map(args, raw_job)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            raws.into_iter().map(|raw| decode_job(tx, raw)).collect()
        })
    }
}
