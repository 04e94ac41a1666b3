//! Suspension and revocation.

use chrono::Duration;
use shuyu_governance::*;

use crate::common::*;

/// Writes a file in every area of a unit; returns the directories.
fn fill_areas(f: &Fixture, analyst: &Principal, unit: UnitId) -> Vec<std::path::PathBuf> {
    UnitArea::ALL
        .iter()
        .map(|area| {
            let dir = f.store.unit_dir(analyst, unit, *area).unwrap();
            std::fs::write(dir.join("data.bin"), b"unit data").unwrap();
            dir
        })
        .collect()
}

/// A succeeded prod job with a held product whose file is under results/<unit>/.
fn held_product(f: &Fixture, analyst: &Principal, auth: AuthorizationId, file: &str) -> ProductId {
    let job = f
        .store
        .create_job(
            analyst,
            &NewJob {
                authorization: auth,
                sql: "SELECT COUNT(*) FROM households".into(),
                environment: Environment::Prod,
            },
        )
        .unwrap();
    let r = f.store.reserve(auth, job, &charge(Nano(1_000_000))).unwrap();
    f.store.commit(&r, Nano(1_000_000), Atto::ZERO).unwrap();
    f.store
        .finish_job(
            job,
            &JobOutcome {
                status: JobStatus::Succeeded,
                metering: Metering::default(),
                datasets: vec!["households".into()],
                failure: None,
            },
        )
        .unwrap();
    let unit = analyst.unit_id.unwrap();
    let dir = f.store.unit_dir(analyst, unit, UnitArea::Results).unwrap();
    std::fs::write(dir.join(file), b"noised counts").unwrap();
    f.store
        .hold_product(&NewProduct {
            job,
            name: "counts".into(),
            content_sha256: "ab".repeat(32),
            path: Some(file.into()),
            byte_size: 13,
            row_count: 2,
        })
        .unwrap()
}

#[test]
fn revoking_a_unit_deletes_its_files_and_ends_its_tokens_but_keeps_its_audit() {
    let f = Fixture::new();
    let dirs_a = fill_areas(&f, &f.analyst_a, f.unit_a);
    let dirs_b = fill_areas(&f, &f.analyst_b, f.unit_b);
    let exported = held_product(&f, &f.analyst_a, f.auth_a, "exported.parquet");
    f.store.request_export(&f.analyst_a, exported).unwrap();
    let held = held_product(&f, &f.analyst_a, f.auth_a, "held.parquet");
    let import = f
        .store
        .request_import(&f.analyst_a, "members.csv", "our members")
        .unwrap();
    f.store.review_import(&f.admin, import, true).unwrap();
    let token = f
        .store
        .issue_token(&f.admin, f.analyst_a.person_id, Duration::days(30))
        .unwrap();
    let own_token = f
        .store
        .issue_token(&f.analyst_a, f.analyst_a.person_id, Duration::days(30))
        .unwrap();
    let unit_a_records = f
        .store
        .audit_records(
            &f.supervisor,
            &AuditFilter {
                unit: Some(f.unit_a),
                ..AuditFilter::default()
            },
        )
        .unwrap();
    assert!(unit_a_records.len() > 5);

    let report = f
        .store
        .revoke_unit(&f.admin, f.unit_a, "licence withdrawn")
        .unwrap();

    for dir in &dirs_a {
        assert!(!dir.exists(), "{} should be deleted", dir.display());
    }
    for dir in &dirs_b {
        assert!(dir.join("data.bin").exists(), "another unit's files stay");
    }
    assert_eq!(report.deleted_paths.len(), 4);
    assert_eq!(report.authorizations_revoked, vec![f.auth_a]);
    assert_eq!(report.products_deleted, 1);
    assert_eq!(report.imports_deleted, 1);
    assert!(report.credentials_revoked >= 2);
    for t in [&token, &own_token] {
        assert!(matches!(
            f.store.authenticate(t.token.expose()),
            Err(GovernanceError::Unauthenticated { .. })
        ));
    }
    assert!(matches!(
        f.store.create_job(
            &f.analyst_a,
            &NewJob {
                authorization: f.auth_a,
                sql: "SELECT 1".into(),
                environment: Environment::Prod
            }
        ),
        Err(GovernanceError::Denied { .. })
    ));
    let products = f.store.products(&f.admin, Some(f.unit_a)).unwrap();
    let status = |id| products.iter().find(|p| p.id == id).unwrap().status;
    assert_eq!(status(held), ProductStatus::Deleted);
    assert_eq!(
        status(exported),
        ProductStatus::Exported,
        "what left the domain stays on record"
    );
    assert_eq!(
        f.store.authorization(&f.admin, f.auth_a).unwrap().status,
        AuthorizationStatus::Revoked
    );
    assert_eq!(
        f.store.unit(&f.admin, f.unit_a).unwrap().status,
        UnitStatus::Revoked
    );

    // The unit's audit records remain, unchanged, and the chain verifies.
    let after = f
        .store
        .audit_records(
            &f.supervisor,
            &AuditFilter {
                unit: Some(f.unit_a),
                ..AuditFilter::default()
            },
        )
        .unwrap();
    assert_eq!(&after[..unit_a_records.len()], &unit_a_records[..]);
    assert!(after.iter().any(|r| r.action == "unit.revoke"));
    assert!(after.iter().any(|r| r.action == "unit.files_deleted"));
    f.store.verify_audit().unwrap();
    f.store.verify_ledger().unwrap();
    // Nothing can bring the unit's files back.
    assert!(matches!(
        f.store.unit_dir(&f.admin, f.unit_a, UnitArea::Cache),
        Err(GovernanceError::Denied { .. })
    ));
    assert!(!dirs_a[3].exists());
    // Revocation is final.
    assert!(matches!(
        f.store.reinstate_unit(&f.admin, f.unit_a, "oops"),
        Err(GovernanceError::Conflict { .. })
    ));
}

#[test]
fn an_interrupted_revocation_finishes_at_the_next_open() {
    let f = Fixture::new();
    f.store
        .revoke_unit(&f.admin, f.unit_a, "licence withdrawn")
        .unwrap();
    // Simulate a crash between the committed revocation and the file deletion.
    let leftover = f.dir.path().join("cache").join(f.unit_a.0.to_string());
    std::fs::create_dir_all(&leftover).unwrap();
    std::fs::write(leftover.join("x"), b"x").unwrap();
    Raw::open(f.dir.path()).execute("UPDATE units SET files_deleted = 0 WHERE id = ?1", &[P::I(f.unit_a.0)]).unwrap();
    let reopened = crate::common::open(f.dir.path());
    assert!(!leftover.exists());
    reopened.verify_audit().unwrap();
}

#[test]
fn revoking_authorizations_deletes_their_products_then_the_units_files() {
    let f = Fixture::new();
    let second = f
        .store
        .grant(
            &f.admin,
            &grant_request(f.unit_a, "transport", f.store.now()),
        )
        .unwrap();
    let dirs = fill_areas(&f, &f.analyst_a, f.unit_a);
    let p1 = held_product(&f, &f.analyst_a, f.auth_a, "first.parquet");
    let p2 = held_product(&f, &f.analyst_a, second, "second.parquet");
    let results = f
        .store
        .unit_dir(&f.analyst_a, f.unit_a, UnitArea::Results)
        .unwrap();

    let report = f
        .store
        .revoke_authorization(&f.admin, f.auth_a, "scenario ended early")
        .unwrap();
    assert_eq!(report.products_deleted, 1);
    assert!(!results.join("first.parquet").exists());
    assert!(
        results.join("second.parquet").exists(),
        "the other scenario's product stays"
    );
    assert!(
        dirs.iter().all(|d| d.exists()),
        "the unit still holds an authorization in force"
    );
    assert_eq!(
        f.store.product(&f.analyst_a, p1).unwrap().status,
        ProductStatus::Deleted
    );
    assert_eq!(
        f.store.product(&f.analyst_a, p2).unwrap().status,
        ProductStatus::Held
    );
    assert!(matches!(
        f.spend(&f.analyst_a, f.auth_a, Nano(1)),
        Err(GovernanceError::Denied { .. })
    ));
    f.spend(&f.analyst_a, second, Nano(1)).unwrap();

    let report = f
        .store
        .revoke_authorization(&f.admin, second, "scenario ended")
        .unwrap();
    assert!(
        dirs.iter().all(|d| !d.exists()),
        "no authorization left in force: the unit's files go"
    );
    assert!(report.deleted_paths.len() >= 4);
    // The unit itself is not revoked: its people still authenticate.
    let token = f
        .store
        .issue_token(&f.admin, f.analyst_a.person_id, Duration::days(1))
        .unwrap();
    assert!(f.store.authenticate(token.token.expose()).is_ok());
    f.store.verify_audit().unwrap();
}

#[test]
fn status_changes_need_the_bureau_a_reason_and_the_right_state() {
    let f = Fixture::new();
    assert!(matches!(
        f.store.suspend_unit(&f.analyst_a, f.unit_a, "self"),
        Err(GovernanceError::Denied { .. })
    ));
    assert!(matches!(
        f.store.suspend_unit(&f.admin, f.unit_a, " "),
        Err(GovernanceError::Invalid { .. })
    ));
    assert!(matches!(
        f.store.reinstate_unit(&f.admin, f.unit_a, "not suspended"),
        Err(GovernanceError::Conflict { .. })
    ));
    assert!(matches!(
        f.store
            .reinstate_authorization(&f.admin, f.auth_a, "not suspended"),
        Err(GovernanceError::Conflict { .. })
    ));
    f.store
        .suspend_authorization(&f.admin, f.auth_a, "inspection")
        .unwrap();
    assert!(matches!(
        f.store.suspend_authorization(&f.admin, f.auth_a, "again"),
        Err(GovernanceError::Conflict { .. })
    ));
}

#[test]
fn a_reservation_taken_before_suspension_can_still_be_settled() {
    let f = Fixture::new();
    let job = f.prod_job(&f.analyst_a, f.auth_a);
    let r = f.store.reserve(f.auth_a, job, &charge(Nano(5_000_000))).unwrap();
    f.store
        .suspend_unit(&f.admin, f.unit_a, "inspection")
        .unwrap();
    let budget = f.store.commit(&r, Nano(4_000_000), Atto::ZERO).unwrap();
    assert_eq!(budget.spent, Nano(4_000_000));
    let job = f
        .store
        .finish_job(
            job,
            &JobOutcome {
                status: JobStatus::Succeeded,
                metering: Metering {
                    releases: 1,
                    ..Metering::default()
                },
                datasets: vec![],
                failure: None,
            },
        )
        .unwrap();
    assert_eq!(job.cost, Nano(4_000_000));
}

/// The `authorization.files_deleted` / `unit.files_deleted` records of an object.
fn deletion_records(
    store: &Store,
    admin: &Principal,
    action: &str,
    object: &str,
) -> Vec<AuditRecord> {
    store
        .audit_records(
            admin,
            &AuditFilter {
                action: Some(action.into()),
                ..AuditFilter::default()
            },
        )
        .unwrap()
        .into_iter()
        .filter(|r| r.object == object)
        .collect()
}

/// Puts a revoked authorization back in the state a crash right after its revocation
/// committed leaves: deletion pending, files still there.
fn interrupt_deletion(f: &Fixture, auth: AuthorizationId, unit_files: bool) {
    Raw::open(f.dir.path())
        .execute(
            "UPDATE authorizations SET files_pending = 1, unit_files_pending = ?1 WHERE id = ?2",
            &[P::I(i64::from(unit_files)), P::I(auth.0)],
        )
        .unwrap();
}

fn files_pending(f: &Fixture, auth: AuthorizationId) -> (bool, bool) {
    let row = Raw::open(f.dir.path()).rows("SELECT files_pending, unit_files_pending FROM authorizations WHERE id = ?1", &[P::I(auth.0)]).remove(0);
    let flag = |i: usize| row[i].as_deref().unwrap().parse::<i64>().unwrap() != 0;
    (flag(0), flag(1))
}

#[test]
fn an_interrupted_authorization_revocation_finishes_at_the_next_open() {
    let f = Fixture::new();
    let second = f
        .store
        .grant(
            &f.admin,
            &grant_request(f.unit_a, "transport", f.store.now()),
        )
        .unwrap();
    let dirs = fill_areas(&f, &f.analyst_a, f.unit_a);
    held_product(&f, &f.analyst_a, f.auth_a, "first.parquet");
    held_product(&f, &f.analyst_a, second, "second.parquet");
    let results = f
        .store
        .unit_dir(&f.analyst_a, f.unit_a, UnitArea::Results)
        .unwrap();
    f.store
        .revoke_authorization(&f.admin, f.auth_a, "scenario ended early")
        .unwrap();
    // Done without a crash: nothing pending, the deletion recorded as not resumed.
    assert_eq!(files_pending(&f, f.auth_a), (false, false));
    let object = f.auth_a.to_string();
    let live = deletion_records(&f.store, &f.admin, "authorization.files_deleted", &object);
    assert_eq!(live.len(), 1);
    assert_eq!(live[0].details["resumed"], false);
    assert_eq!(live[0].details["files"], 1);

    // Simulate a crash between the committed revocation and the file deletion.
    let leftover = results.join("first.parquet");
    std::fs::write(&leftover, b"noised counts").unwrap();
    interrupt_deletion(&f, f.auth_a, false);

    let reopened = crate::common::open(f.dir.path());
    assert!(
        !leftover.exists(),
        "the revoked authorization's product file is deleted"
    );
    assert!(
        results.join("second.parquet").exists(),
        "the other scenario's product stays"
    );
    assert!(
        dirs.iter().all(|d| d.exists()),
        "the unit still holds an authorization in force"
    );
    assert_eq!(files_pending(&f, f.auth_a), (false, false));
    reopened.verify_audit().unwrap();
    let records = deletion_records(&reopened, &f.admin, "authorization.files_deleted", &object);
    assert_eq!(records.len(), 2);
    let resumed = &records[1];
    assert_eq!(resumed.details["resumed"], true);
    assert_eq!(resumed.details["files"], 1);
    assert_eq!(resumed.details["unit_files"], false);
    assert_eq!(resumed.role, "system");
    assert_eq!(resumed.unit, Some(f.unit_a));
    assert!(
        deletion_records(
            &reopened,
            &f.admin,
            "unit.files_deleted",
            &f.unit_a.to_string()
        )
        .is_empty(),
        "the unit's areas were not to be deleted"
    );

    // Idempotent: another open finds nothing pending and records nothing more.
    let again = crate::common::open(f.dir.path());
    assert_eq!(
        deletion_records(&again, &f.admin, "authorization.files_deleted", &object).len(),
        2
    );
    again.verify_audit().unwrap();
}

#[test]
fn an_interrupted_revocation_of_the_last_authorization_deletes_the_units_files_at_the_next_open() {
    let f = Fixture::new();
    held_product(&f, &f.analyst_a, f.auth_a, "first.parquet");
    f.store
        .revoke_authorization(&f.admin, f.auth_a, "scenario ended")
        .unwrap();
    let unit = f.unit_a.to_string();
    assert_eq!(
        deletion_records(&f.store, &f.admin, "unit.files_deleted", &unit).len(),
        1
    );

    // Simulate a crash before anything was deleted: the product file and every area of the
    // unit are still there.
    let areas = fill_areas(&f, &f.analyst_a, f.unit_a);
    let product_file = areas[1].join("first.parquet");
    std::fs::write(&product_file, b"noised counts").unwrap();
    interrupt_deletion(&f, f.auth_a, true);
    // Unit B's files are not concerned.
    let other = fill_areas(&f, &f.analyst_b, f.unit_b);

    let reopened = crate::common::open(f.dir.path());
    assert!(!product_file.exists());
    for dir in &areas {
        assert!(!dir.exists(), "{} should be deleted", dir.display());
    }
    assert!(other.iter().all(|d| d.join("data.bin").exists()));
    assert_eq!(files_pending(&f, f.auth_a), (false, false));
    reopened.verify_audit().unwrap();
    let auth_records = deletion_records(
        &reopened,
        &f.admin,
        "authorization.files_deleted",
        &f.auth_a.to_string(),
    );
    assert_eq!(auth_records.len(), 2);
    assert_eq!(auth_records[1].details["resumed"], true);
    assert_eq!(auth_records[1].details["unit_files"], true);
    let unit_records = deletion_records(&reopened, &f.admin, "unit.files_deleted", &unit);
    assert_eq!(unit_records.len(), 2);
    assert_eq!(unit_records[1].details["resumed"], true);
    assert_eq!(unit_records[1].details["areas"], 4);
    assert_eq!(unit_records[1].details["after"], f.auth_a.0);
    // The unit itself is not revoked: its analyst still works in its areas.
    assert_eq!(
        reopened.unit(&f.admin, f.unit_a).unwrap().status,
        UnitStatus::Active
    );
}
