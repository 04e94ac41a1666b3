//! Versioned schema migrations, recorded in the `migrations` table.
//!
//! Each migration runs in its own `BEGIN IMMEDIATE` transaction, so processes opening a
//! fresh store at once apply each version exactly once. The SQL keeps to what SQLite and
//! PostgreSQL share (INTEGER/BIGINT/TEXT/DOUBLE PRECISION, CHECK, UNIQUE, REFERENCES);
//! the two append-only triggers of the audit table are SQLite's dialect, and PL/pgSQL
//! triggers on PostgreSQL (`migrations_pg`, which applies the same versions there). Times are BIGINT microseconds (UTC), privacy
//! amounts BIGINT nano-units (epsilon, rho) and atto-units (delta). A migration may carry a
//! Rust step, run in the same transaction after its SQL, for values SQL cannot compute
//! exactly (version 3's default delta totals).
//!
//! SQLite cannot change a CHECK in place: a migration that must (version 4 widens the roles
//! of `people`) rebuilds the table (create, copy, drop, rename). A table others reference can
//! only be dropped with foreign keys off, and SQLite ignores `PRAGMA foreign_keys` inside a
//! transaction, so such a migration is marked `rebuilds`: `migrate` turns foreign keys off
//! before its transaction, runs `PRAGMA foreign_key_check` inside it (any dangling reference
//! fails the migration, which then writes nothing), commits, and turns them back on.
//! PostgreSQL changes the constraint in place instead.

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use crate::amount::Nano;
use crate::authorizations::default_delta_total;
use crate::clock::to_micros;
use crate::error::{GovernanceError, Result};
use crate::ids::AuthorizationId;
use crate::sql::Tx;

/// One schema version.
pub(crate) struct Migration {
    pub(crate) version: i64,
    pub(crate) name: &'static str,
    pub(crate) sql: &'static str,
    /// Runs after `sql`, in its transaction.
    pub(crate) step: Option<fn(&Tx<'_>) -> Result<()>>,
    /// Rebuilds a table others reference: run with foreign keys off, checked before commit.
    pub(crate) rebuilds: bool,
}

pub(crate) const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "initial schema",
        sql: V1,
        step: None,
        rebuilds: false,
    },
    Migration {
        version: 2,
        name: "resumable authorization revocation",
        sql: V2,
        step: None,
        rebuilds: false,
    },
    Migration {
        version: 3,
        name: "delta budgets, datasets of reservations, per-unit per-dataset loss caps",
        sql: V3,
        step: Some(default_delta_totals),
        rebuilds: false,
    },
    Migration {
        version: 4,
        name: "authorization workflow: announcements, applications, data requests, evaluations, routed quality issues",
        sql: V4,
        step: None,
        rebuilds: true,
    },
];

const V1: &str = r#"
CREATE TABLE datasets (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    domain TEXT NOT NULL,
    classification TEXT NOT NULL,
    provider TEXT NOT NULL,
    location TEXT NOT NULL,
    description TEXT NOT NULL,
    manifest_json TEXT NOT NULL,
    registered_at BIGINT NOT NULL
);
CREATE TABLE dataset_columns (
    dataset_id INTEGER NOT NULL REFERENCES datasets(id),
    position INTEGER NOT NULL,
    name TEXT NOT NULL,
    data_type TEXT NOT NULL,
    sensitivity TEXT NOT NULL,
    lower_bound DOUBLE PRECISION,
    upper_bound DOUBLE PRECISION,
    public_domain_json TEXT,
    masking TEXT NOT NULL,
    PRIMARY KEY (dataset_id, name)
);
CREATE TABLE units (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    credit_code TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL CHECK (status IN ('active', 'suspended', 'revoked')),
    created_at BIGINT NOT NULL,
    status_changed_at BIGINT NOT NULL,
    files_deleted INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE people (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    id_salt TEXT NOT NULL,
    id_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('bureau_admin', 'supervisor', 'unit_analyst', 'provider')),
    unit_id INTEGER REFERENCES units(id),
    provider TEXT,
    active INTEGER NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL
);
CREATE INDEX people_unit ON people(unit_id);
CREATE TABLE credentials (
    id INTEGER PRIMARY KEY,
    person_id INTEGER NOT NULL REFERENCES people(id),
    token_hash TEXT NOT NULL UNIQUE,
    issued_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT,
    replaced_by INTEGER
);
CREATE INDEX credentials_person ON credentials(person_id);
CREATE TABLE authorizations (
    id INTEGER PRIMARY KEY,
    unit_id INTEGER NOT NULL REFERENCES units(id),
    scenario TEXT NOT NULL,
    purpose TEXT NOT NULL,
    partners_json TEXT NOT NULL,
    term_start BIGINT NOT NULL,
    term_end BIGINT NOT NULL,
    rights_json TEXT NOT NULL,
    mode TEXT NOT NULL,
    price_cents BIGINT,
    privacy TEXT NOT NULL,
    delta DOUBLE PRECISION NOT NULL,
    total_nano BIGINT NOT NULL CHECK (total_nano > 0),
    cap_nano BIGINT NOT NULL CHECK (cap_nano > 0 AND cap_nano <= total_nano),
    default_nano BIGINT NOT NULL CHECK (default_nano > 0 AND default_nano <= cap_nano),
    export_policy TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('active', 'suspended', 'revoked')),
    spent_nano BIGINT NOT NULL DEFAULT 0 CHECK (spent_nano >= 0),
    reserved_nano BIGINT NOT NULL DEFAULT 0 CHECK (reserved_nano >= 0),
    granted_by INTEGER NOT NULL REFERENCES people(id),
    granted_at BIGINT NOT NULL,
    status_changed_at BIGINT NOT NULL,
    UNIQUE (unit_id, scenario),
    CHECK (term_start < term_end),
    CHECK (spent_nano + reserved_nano <= total_nano)
);
CREATE TABLE grants (
    authorization_id INTEGER NOT NULL REFERENCES authorizations(id),
    dataset_id INTEGER NOT NULL REFERENCES datasets(id),
    column_name TEXT NOT NULL,
    PRIMARY KEY (authorization_id, dataset_id, column_name)
);
CREATE TABLE jobs (
    id INTEGER PRIMARY KEY,
    unit_id INTEGER NOT NULL REFERENCES units(id),
    authorization_id INTEGER NOT NULL REFERENCES authorizations(id),
    person_id INTEGER NOT NULL REFERENCES people(id),
    sql_text TEXT NOT NULL,
    sql_sha256 TEXT NOT NULL,
    environment TEXT NOT NULL CHECK (environment IN ('dev', 'prod')),
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    finished_at BIGINT,
    cost_nano BIGINT NOT NULL DEFAULT 0,
    rows_scanned BIGINT NOT NULL DEFAULT 0,
    bytes_scanned BIGINT NOT NULL DEFAULT 0,
    cpu_ms BIGINT NOT NULL DEFAULT 0,
    encrypted_ops BIGINT NOT NULL DEFAULT 0,
    releases BIGINT NOT NULL DEFAULT 0,
    failure TEXT
);
CREATE INDEX jobs_unit ON jobs(unit_id, created_at);
CREATE TABLE job_datasets (
    job_id INTEGER NOT NULL REFERENCES jobs(id),
    dataset_id INTEGER NOT NULL REFERENCES datasets(id),
    PRIMARY KEY (job_id, dataset_id)
);
CREATE TABLE reservations (
    id INTEGER PRIMARY KEY,
    authorization_id INTEGER NOT NULL REFERENCES authorizations(id),
    job_id INTEGER NOT NULL REFERENCES jobs(id),
    amount_nano BIGINT NOT NULL CHECK (amount_nano > 0),
    actual_nano BIGINT CHECK (actual_nano >= 0 AND actual_nano <= amount_nano),
    state TEXT NOT NULL CHECK (state IN ('open', 'committed', 'released', 'recovered')),
    holder TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    closed_at BIGINT
);
CREATE INDEX reservations_state ON reservations(state, holder);
CREATE INDEX reservations_authorization ON reservations(authorization_id);
CREATE INDEX reservations_job ON reservations(job_id);
CREATE TABLE products (
    id INTEGER PRIMARY KEY,
    job_id INTEGER NOT NULL REFERENCES jobs(id),
    unit_id INTEGER NOT NULL REFERENCES units(id),
    authorization_id INTEGER NOT NULL REFERENCES authorizations(id),
    name TEXT NOT NULL,
    content_sha256 TEXT NOT NULL,
    rel_path TEXT,
    byte_size BIGINT NOT NULL,
    row_count BIGINT NOT NULL,
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX products_unit ON products(unit_id);
CREATE TABLE exports (
    id INTEGER PRIMARY KEY,
    product_id INTEGER NOT NULL UNIQUE REFERENCES products(id),
    status TEXT NOT NULL,
    requested_by INTEGER NOT NULL REFERENCES people(id),
    requested_at BIGINT NOT NULL,
    reviewed_by INTEGER REFERENCES people(id),
    reviewed_at BIGINT,
    manifest_json TEXT,
    signature_hex TEXT
);
CREATE TABLE imports (
    id INTEGER PRIMARY KEY,
    unit_id INTEGER NOT NULL REFERENCES units(id),
    name TEXT NOT NULL,
    rel_path TEXT NOT NULL,
    description TEXT NOT NULL,
    status TEXT NOT NULL,
    requested_by INTEGER NOT NULL REFERENCES people(id),
    requested_at BIGINT NOT NULL,
    reviewed_by INTEGER REFERENCES people(id),
    reviewed_at BIGINT,
    UNIQUE (unit_id, name)
);
CREATE TABLE quality_issues (
    id INTEGER PRIMARY KEY,
    unit_id INTEGER NOT NULL REFERENCES units(id),
    dataset_id INTEGER NOT NULL REFERENCES datasets(id),
    provider TEXT NOT NULL,
    title TEXT NOT NULL,
    description TEXT NOT NULL,
    status TEXT NOT NULL,
    filed_by INTEGER NOT NULL REFERENCES people(id),
    filed_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    resolution TEXT
);
CREATE TABLE audit (
    seq BIGINT PRIMARY KEY,
    at BIGINT NOT NULL,
    actor_person BIGINT,
    unit_id BIGINT,
    role TEXT NOT NULL,
    action TEXT NOT NULL,
    object TEXT NOT NULL,
    outcome TEXT NOT NULL,
    cost_nano BIGINT NOT NULL,
    details TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX audit_unit ON audit(unit_id, at);
CREATE INDEX audit_at ON audit(at);
CREATE TABLE audit_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    anchor_seq BIGINT NOT NULL,
    anchor_hash TEXT NOT NULL,
    anchor_at BIGINT NOT NULL,
    head_seq BIGINT NOT NULL,
    head_hash TEXT NOT NULL,
    head_at BIGINT NOT NULL
);
INSERT INTO audit_state (id, anchor_seq, anchor_hash, anchor_at, head_seq, head_hash, head_at)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000', 0,
        0, '0000000000000000000000000000000000000000000000000000000000000000', 0);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN
    SELECT RAISE(ABORT, 'the audit trail is append-only');
END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
WHEN old.seq > (SELECT anchor_seq FROM audit_state WHERE id = 1)
BEGIN
    SELECT RAISE(ABORT, 'the audit trail is append-only; purge moves the anchor first');
END;
"#;

/// An authorization's revocation deletes files after its transaction commits; these flags,
/// set in that transaction and cleared once the files are gone, let [`crate::Store::open`]
/// finish a deletion interrupted by a crash. `files_pending`: the revoked authorization's
/// product files are still to be deleted; `unit_files_pending`: the unit's areas too (the
/// revocation left the unit no authorization in force).
const V2: &str = r#"
ALTER TABLE authorizations ADD COLUMN files_pending INTEGER NOT NULL DEFAULT 0;
ALTER TABLE authorizations ADD COLUMN unit_files_pending INTEGER NOT NULL DEFAULT 0;
"#;

/// Delta becomes a budget. `delta` stays the per-query delta (the most one query may use);
/// each authorization gains a delta total and its spent and reserved counters (atto-units,
/// 1e-18), with the same invariant as epsilon/rho (the CHECK of the last column, which SQLite
/// and PostgreSQL both accept on an added column). Reservations carry their delta and the
/// delta committed. `reservation_datasets` records which datasets each reservation's query
/// reads, for the per-unit, per-dataset privacy-loss view; `loss_caps` holds the bureau's
/// optional cap on that loss. Existing authorizations get the default total of
/// [`default_delta_total`] (computed by [`default_delta_totals`]). Existing reservations are
/// linked to the datasets their job recorded (every table its scope granted: a superset, so
/// the loss view over-counts rather than misses); the delta they used was never recorded and
/// counts as 0.
const V3: &str = r#"
ALTER TABLE authorizations ADD COLUMN delta_total_atto BIGINT NOT NULL DEFAULT 0
    CHECK (delta_total_atto >= 0 AND delta_total_atto < 1000000000000000000);
ALTER TABLE authorizations ADD COLUMN delta_spent_atto BIGINT NOT NULL DEFAULT 0 CHECK (delta_spent_atto >= 0);
ALTER TABLE authorizations ADD COLUMN delta_reserved_atto BIGINT NOT NULL DEFAULT 0
    CHECK (delta_reserved_atto >= 0 AND delta_spent_atto + delta_reserved_atto <= delta_total_atto);
ALTER TABLE reservations ADD COLUMN delta_atto BIGINT NOT NULL DEFAULT 0 CHECK (delta_atto >= 0);
ALTER TABLE reservations ADD COLUMN actual_delta_atto BIGINT
    CHECK (actual_delta_atto >= 0 AND actual_delta_atto <= delta_atto);
UPDATE reservations SET actual_delta_atto = 0 WHERE state IN ('committed', 'released');
CREATE TABLE reservation_datasets (
    reservation_id INTEGER NOT NULL REFERENCES reservations(id),
    dataset_id INTEGER NOT NULL REFERENCES datasets(id),
    PRIMARY KEY (reservation_id, dataset_id)
);
CREATE INDEX reservation_datasets_dataset ON reservation_datasets(dataset_id);
INSERT INTO reservation_datasets (reservation_id, dataset_id)
    SELECT r.id, jd.dataset_id FROM reservations r JOIN job_datasets jd ON jd.job_id = r.job_id;
CREATE TABLE loss_caps (
    unit_id INTEGER NOT NULL REFERENCES units(id),
    dataset_id INTEGER NOT NULL REFERENCES datasets(id),
    epsilon_nano BIGINT NOT NULL CHECK (epsilon_nano > 0),
    delta_atto BIGINT NOT NULL CHECK (delta_atto >= 0 AND delta_atto < 1000000000000000000),
    set_by INTEGER NOT NULL REFERENCES people(id),
    set_at BIGINT NOT NULL,
    PRIMARY KEY (unit_id, dataset_id)
);
"#;

/// The authorization workflow (Art. 9, 11, 14, 16, 17, 26). `people` is rebuilt so its CHECK
/// accepts the roles `expert` and `applicant` (rows, ids and the index kept). New tables:
/// announcements and their window; applications with declared qualifications (JSON) and
/// attachment digests (JSON), the experts' opinions (one per expert and application); data
/// requests with their terms (JSON, a grant request without the unit), the providers of
/// their datasets, and one review per party (`provider` is '' for the bureau); annual
/// evaluations, one per unit and year. Quality issues gain a deadline and the time they were
/// routed (their status is free text: no CHECK to change).
const V4: &str = r#"
CREATE TABLE people_v4 (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    id_salt TEXT NOT NULL,
    id_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('bureau_admin', 'supervisor', 'unit_analyst', 'provider', 'expert', 'applicant')),
    unit_id INTEGER REFERENCES units(id),
    provider TEXT,
    active INTEGER NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL
);
INSERT INTO people_v4 (id, name, id_salt, id_hash, role, unit_id, provider, active, created_at)
    SELECT id, name, id_salt, id_hash, role, unit_id, provider, active, created_at FROM people;
DROP TABLE people;
ALTER TABLE people_v4 RENAME TO people;
CREATE INDEX people_unit ON people(unit_id);
CREATE TABLE announcements (
    id INTEGER PRIMARY KEY,
    year INTEGER NOT NULL,
    title TEXT NOT NULL,
    conditions TEXT NOT NULL,
    opens_at BIGINT NOT NULL,
    closes_at BIGINT NOT NULL,
    min_expert_opinions INTEGER NOT NULL CHECK (min_expert_opinions >= 1),
    published_by INTEGER NOT NULL REFERENCES people(id),
    published_at BIGINT NOT NULL,
    CHECK (opens_at <= closes_at)
);
CREATE TABLE applications (
    id INTEGER PRIMARY KEY,
    announcement_id INTEGER NOT NULL REFERENCES announcements(id),
    applicant_id INTEGER NOT NULL REFERENCES people(id),
    company TEXT NOT NULL,
    credit_code TEXT NOT NULL,
    scenario TEXT NOT NULL,
    purpose TEXT NOT NULL,
    qualifications_json TEXT NOT NULL,
    attachments_json TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('submitted', 'qualification_failed', 'expert_review', 'approved', 'rejected', 'signed', 'withdrawn')),
    qualification_note TEXT,
    decision_note TEXT,
    unit_id INTEGER REFERENCES units(id),
    authorization_id INTEGER REFERENCES authorizations(id),
    submitted_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX applications_applicant ON applications(applicant_id);
CREATE INDEX applications_announcement ON applications(announcement_id);
CREATE TABLE application_opinions (
    application_id INTEGER NOT NULL REFERENCES applications(id),
    expert_id INTEGER NOT NULL REFERENCES people(id),
    recommend INTEGER NOT NULL,
    opinion TEXT NOT NULL,
    at BIGINT NOT NULL,
    PRIMARY KEY (application_id, expert_id)
);
CREATE TABLE data_requests (
    id INTEGER PRIMARY KEY,
    unit_id INTEGER NOT NULL REFERENCES units(id),
    requested_by INTEGER NOT NULL REFERENCES people(id),
    scenario TEXT NOT NULL,
    terms_json TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('submitted', 'rejected', 'granted', 'withdrawn')),
    authorization_id INTEGER REFERENCES authorizations(id),
    submitted_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX data_requests_unit ON data_requests(unit_id);
CREATE TABLE data_request_datasets (
    request_id INTEGER NOT NULL REFERENCES data_requests(id),
    dataset_id INTEGER NOT NULL REFERENCES datasets(id),
    provider TEXT NOT NULL,
    PRIMARY KEY (request_id, dataset_id)
);
CREATE INDEX data_request_datasets_provider ON data_request_datasets(provider);
CREATE TABLE data_request_reviews (
    request_id INTEGER NOT NULL REFERENCES data_requests(id),
    party TEXT NOT NULL CHECK (party IN ('bureau', 'provider')),
    provider TEXT NOT NULL,
    reviewer_id INTEGER NOT NULL REFERENCES people(id),
    approved INTEGER NOT NULL,
    note TEXT NOT NULL,
    at BIGINT NOT NULL,
    PRIMARY KEY (request_id, party, provider),
    CHECK ((party = 'bureau' AND provider = '') OR (party = 'provider' AND provider <> ''))
);
CREATE TABLE evaluations (
    id INTEGER PRIMARY KEY,
    unit_id INTEGER NOT NULL REFERENCES units(id),
    year INTEGER NOT NULL,
    score INTEGER NOT NULL CHECK (score >= 0 AND score <= 100),
    findings TEXT NOT NULL,
    rectification_deadline BIGINT,
    rectification TEXT,
    status TEXT NOT NULL CHECK (status IN ('passed', 'rectification_required', 'rectification_reported', 'rectified', 'suspended')),
    evaluated_by INTEGER NOT NULL REFERENCES people(id),
    evaluated_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (unit_id, year)
);
CREATE INDEX evaluations_deadline ON evaluations(status, rectification_deadline);
ALTER TABLE quality_issues ADD COLUMN deadline BIGINT;
ALTER TABLE quality_issues ADD COLUMN routed_at BIGINT;
"#;

/// Version 3's step: gives every existing authorization the default delta total.
fn default_delta_totals(tx: &Tx<'_>) -> Result<()> {
    let rows = tx
        .prepare("SELECT id, delta, total_nano, default_nano FROM authorizations")?
        .query_map((), |r| Ok((r.get::<_, AuthorizationId>(0)?, r.get::<_, f64>(1)?, r.get::<_, Nano>(2)?, r.get::<_, Nano>(3)?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    for (id, delta, total, default) in rows {
        let delta_total = default_delta_total(delta, total, default)?;
        tx.execute("UPDATE authorizations SET delta_total_atto = ?1 WHERE id = ?2", params![delta_total, id])?;
    }
    Ok(())
}

/// The schema version this build writes.
pub fn latest_version() -> i64 {
    MIGRATIONS.last().map(|m| m.version).unwrap_or(0)
}

/// Applies every missing migration.
pub(crate) fn migrate(conn: &mut Connection, now: DateTime<Utc>) -> Result<()> {
    for m in MIGRATIONS {
        if m.rebuilds {
            // Outside any transaction: SQLite ignores the pragma inside one.
            conn.pragma_update(None, "foreign_keys", "OFF")?;
            let out = apply(conn, m, now);
            let on = conn.pragma_update(None, "foreign_keys", "ON");
            out?;
            on?;
        } else {
            apply(conn, m, now)?;
        }
    }
    Ok(())
}

/// Applies one migration in its own IMMEDIATE transaction, unless already recorded.
fn apply(conn: &mut Connection, m: &Migration, now: DateTime<Utc>) -> Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS migrations (
            version INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            applied_at BIGINT NOT NULL
        )",
    )?;
    let done: Option<i64> = tx
        .query_row(
            "SELECT version FROM migrations WHERE version = ?1",
            [m.version],
            |r| r.get(0),
        )
        .optional()?;
    if done.is_none() {
        tx.execute_batch(m.sql)?;
        if let Some(step) = m.step {
            step(&Tx::sqlite(&tx))?;
        }
        if m.rebuilds {
            let dangling = tx.prepare("PRAGMA foreign_key_check")?.query_map([], |_| Ok(()))?.count();
            if dangling > 0 {
                return Err(GovernanceError::Internal(format!(
                    "migration {} would leave {dangling} rows referring to missing rows; nothing was changed; restore the store from a backup",
                    m.version
                )));
            }
        }
        tx.execute(
            "INSERT INTO migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
            params![m.version, m.name, to_micros(now)],
        )?;
    }
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
#[path = "migrations_tests.rs"]
mod tests;
