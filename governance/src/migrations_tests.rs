//! Tests of the schema migrations: each version applied over a store of the version before.

use super::*;

#[test]
fn migrating_twice_is_a_no_op() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = Connection::open(dir.path().join("db")).unwrap();
    migrate(&mut conn, Utc::now()).unwrap();
    migrate(&mut conn, Utc::now()).unwrap();
    let versions: Vec<i64> = conn
        .prepare("SELECT version FROM migrations ORDER BY version")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    assert_eq!(versions, (1..=latest_version()).collect::<Vec<_>>());
}

#[test]
fn a_version_1_store_gains_the_revocation_flags_with_nothing_pending() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = Connection::open(dir.path().join("db")).unwrap();
    conn.execute_batch(V1).unwrap();
    conn.execute_batch(
        "CREATE TABLE migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL);
         INSERT INTO migrations VALUES (1, 'initial schema', 0);
         INSERT INTO datasets VALUES (1, 'd', 'x', 'sensitive', 'p', '/d', '', '{}', 0);
         INSERT INTO units VALUES (1, 'u', '91350100M000100Y43', 'active', 0, 0, 0);
         INSERT INTO people VALUES (1, 'a', 's', 'h', 'bureau_admin', NULL, NULL, 1, 0);
         INSERT INTO authorizations (id, unit_id, scenario, purpose, partners_json, term_start, term_end,
             rights_json, mode, privacy, delta, total_nano, cap_nano, default_nano, export_policy, status,
             granted_by, granted_at, status_changed_at)
         VALUES (1, 1, 's', 'p', '[]', 0, 10, '[]', 'free', 'pure_dp', 0, 10, 5, 1, 'automatic', 'revoked', 1, 0, 0);",
    )
    .unwrap();
    migrate(&mut conn, Utc::now()).unwrap();
    let flags: (i64, i64) = conn
        .query_row(
            "SELECT files_pending, unit_files_pending FROM authorizations WHERE id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(
        flags,
        (0, 0),
        "revocations before version 2 are not resumed"
    );
}

#[test]
fn a_version_2_store_gains_delta_totals_and_reservation_datasets() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = Connection::open(dir.path().join("db")).unwrap();
    conn.execute_batch(V1).unwrap();
    conn.execute_batch(V2).unwrap();
    conn.execute_batch(
        "CREATE TABLE migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL);
         INSERT INTO migrations VALUES (1, 'initial schema', 0), (2, 'resumable authorization revocation', 0);
         INSERT INTO datasets VALUES (1, 'd', 'x', 'sensitive', 'p', '/d', '', '{}', 0);
         INSERT INTO units VALUES (1, 'u', '91350100M000100Y43', 'active', 0, 0, 0);
         INSERT INTO people VALUES (1, 'a', 's', 'h', 'bureau_admin', NULL, NULL, 1, 0);
         INSERT INTO authorizations (id, unit_id, scenario, purpose, partners_json, term_start, term_end,
             rights_json, mode, privacy, delta, total_nano, cap_nano, default_nano, export_policy, status,
             granted_by, granted_at, status_changed_at, spent_nano)
         VALUES (1, 1, 's', 'p', '[]', 0, 10, '[]', 'free', 'zcdp', 1e-6, 2000000000, 500000000, 100000000, 'automatic', 'active', 1, 0, 0, 5),
                (2, 1, 't', 'p', '[]', 0, 10, '[]', 'free', 'pure_dp', 0, 10, 5, 1, 'automatic', 'active', 1, 0, 0, 0);
         INSERT INTO jobs (id, unit_id, authorization_id, person_id, sql_text, sql_sha256, environment, status, created_at, cost_nano)
         VALUES (1, 1, 1, 1, 'q', 'h', 'prod', 'succeeded', 0, 5);
         INSERT INTO job_datasets VALUES (1, 1);
         INSERT INTO reservations (id, authorization_id, job_id, amount_nano, actual_nano, state, holder, created_at)
         VALUES (1, 1, 1, 5, 5, 'committed', 'x', 0);",
    )
    .unwrap();
    migrate(&mut conn, Utc::now()).unwrap();
    let totals: Vec<i64> = conn
        .prepare("SELECT delta_total_atto FROM authorizations ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    // 1e-6 × ⌊2 / 0.1⌋ = 2e-5; no per-query delta, no total.
    assert_eq!(totals, vec![20_000_000_000_000, 0]);
    let (delta, actual, linked): (i64, i64, i64) = conn
        .query_row(
            "SELECT delta_atto, actual_delta_atto, (SELECT COUNT(*) FROM reservation_datasets WHERE reservation_id = 1)
             FROM reservations WHERE id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!((delta, actual, linked), (0, 0, 1));
    // The delta invariant holds from now on.
    let over = conn.execute("UPDATE authorizations SET delta_spent_atto = delta_total_atto + 1 WHERE id = 1", []);
    assert!(over.is_err(), "the CHECK refuses spending past the delta total");
}

/// A stored person: (id, role, unit, provider, active).
type PersonRow = (i64, String, Option<i64>, Option<String>, i64);

/// Every person, as stored.
fn people(conn: &Connection) -> Vec<PersonRow> {
    let mut stmt = conn.prepare("SELECT id, role, unit_id, provider, active FROM people ORDER BY id").unwrap();
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)));
    rows.unwrap().collect::<rusqlite::Result<_>>().unwrap()
}

#[test]
fn a_version_3_store_keeps_its_people_and_accepts_the_new_roles() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = Connection::open(dir.path().join("db")).unwrap();
    conn.pragma_update(None, "foreign_keys", "ON").unwrap();
    conn.execute_batch(V1).unwrap();
    conn.execute_batch(V2).unwrap();
    conn.execute_batch(V3).unwrap();
    conn.execute_batch(
        "CREATE TABLE migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL);
         INSERT INTO migrations VALUES (1, 'initial schema', 0), (2, 'resumable authorization revocation', 0), (3, 'delta budgets', 0);
         INSERT INTO units VALUES (1, 'u', '91350100M000100Y43', 'active', 0, 0, 0);
         INSERT INTO people VALUES (1, 'a', 's1', 'h1', 'bureau_admin', NULL, NULL, 1, 0),
                                   (2, 'b', 's2', 'h2', 'unit_analyst', 1, NULL, 1, 5),
                                   (3, 'c', 's3', 'h3', 'provider', NULL, 'civil affairs', 0, 7);
         INSERT INTO credentials (id, person_id, token_hash, issued_at, expires_at) VALUES (1, 2, 't', 0, 10);",
    )
    .unwrap();
    let before = people(&conn);
    migrate(&mut conn, Utc::now()).unwrap();
    let after = people(&conn);
    assert_eq!(after, before);
    let fk: i64 = conn.query_row("PRAGMA foreign_keys", [], |r| r.get(0)).unwrap();
    assert_eq!(fk, 1, "foreign keys are back on after the rebuild");
    assert_eq!(conn.prepare("PRAGMA foreign_key_check").unwrap().query_map([], |_| Ok(())).unwrap().count(), 0);
    conn.execute_batch(
        "INSERT INTO people VALUES (4, 'd', 's4', 'h4', 'expert', NULL, NULL, 1, 9), (5, 'e', 's5', 'h5', 'applicant', NULL, NULL, 1, 9);",
    )
    .unwrap();
    assert!(conn.execute("INSERT INTO people VALUES (6, 'f', 's', 'h', 'auditor', NULL, NULL, 1, 9)", []).is_err());
    // The credential still refers to its person, and the reference is enforced.
    assert!(conn.execute("INSERT INTO credentials (person_id, token_hash, issued_at, expires_at) VALUES (99, 'u', 0, 10)", []).is_err());
    let index: i64 = conn
        .query_row("SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = 'people_unit'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(index, 1);
    let version: i64 = conn.query_row("SELECT MAX(version) FROM migrations", [], |r| r.get(0)).unwrap();
    assert_eq!(version, 4);
}
