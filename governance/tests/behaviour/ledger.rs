//! The ledger's arithmetic and settlement rules.

use shuyu_governance::*;

use crate::common::*;

fn prod_job(f: &Fixture) -> JobId {
    f.store
        .create_job(
            &f.analyst_a,
            &NewJob {
                authorization: f.auth_a,
                sql: "SELECT 1".into(),
                environment: Environment::Prod,
            },
        )
        .unwrap()
}

#[test]
fn reserve_commit_release_are_exact() {
    let f = Fixture::new();
    let total = Nano(1_000_000_000);
    let job = prod_job(&f);
    let r1 = f
        .store
        .reserve(f.auth_a, job, &charge(Nano::parse_decimal("0.1", "cost").unwrap()))
        .unwrap();
    let r2 = f
        .store
        .reserve(f.auth_a, job, &charge(Nano::parse_decimal("0.2", "cost").unwrap()))
        .unwrap();
    let b = f.store.budget(&f.analyst_a, f.auth_a).unwrap();
    assert_eq!(
        (b.total, b.spent, b.reserved, b.remaining),
        (total, Nano::ZERO, Nano(300_000_000), Nano(700_000_000))
    );
    let b = f.store.commit(&r1, Nano(99_999_999), Atto::ZERO).unwrap();
    assert_eq!(
        (b.spent, b.reserved, b.remaining),
        (Nano(99_999_999), Nano(200_000_000), Nano(700_000_001))
    );
    let b = f.store.release(&r2).unwrap();
    assert_eq!(
        (b.spent, b.reserved, b.remaining),
        (Nano(99_999_999), Nano::ZERO, Nano(900_000_001))
    );
    assert_eq!(b.spent.0 + b.reserved.0 + b.remaining.0, b.total.0);
    // Settled reservations cannot be settled again.
    assert!(matches!(
        f.store.commit(&r1, Nano(1), Atto::ZERO),
        Err(GovernanceError::Conflict { .. })
    ));
    assert!(matches!(
        f.store.release(&r2),
        Err(GovernanceError::Conflict { .. })
    ));
    assert_eq!(
        f.store.reservation(r2.id).unwrap().state,
        ReservationState::Released
    );
    f.store.verify_ledger().unwrap();
    // Ten charges of 0.1 add up to exactly 1.0: no float drift.
    let f = Fixture::new();
    for _ in 0..10 {
        f.spend(&f.analyst_a, f.auth_a, Nano::parse_decimal("0.1", "cost").unwrap())
            .unwrap();
    }
    let b = f.store.budget(&f.analyst_a, f.auth_a).unwrap();
    assert_eq!(b.spent, total);
    assert_eq!(b.remaining, Nano::ZERO);
}

#[test]
fn commit_cannot_exceed_the_reservation_and_release_needs_no_released_values() {
    let f = Fixture::new();
    let job = prod_job(&f);
    let r = f.store.reserve(f.auth_a, job, &charge(Nano(10))).unwrap();
    assert!(
        matches!(f.store.commit(&r, Nano(11), Atto::ZERO), Err(GovernanceError::Invalid { field, .. }) if field == "actual")
    );
    let forged = Reservation {
        amount: Nano(1),
        ..r.clone()
    };
    assert!(matches!(
        f.store.commit(&forged, Nano(1), Atto::ZERO),
        Err(GovernanceError::Invalid { .. })
    ));
    // A job cannot finish while it holds an open reservation.
    let outcome = JobOutcome {
        status: JobStatus::Succeeded,
        metering: Metering {
            releases: 3,
            ..Metering::default()
        },
        datasets: vec![],
        failure: None,
    };
    assert!(matches!(
        f.store.finish_job(job, &outcome),
        Err(GovernanceError::Conflict { .. })
    ));
    f.store.commit(&r, Nano(10), Atto::ZERO).unwrap();
    let done = f.store.finish_job(job, &outcome).unwrap();
    assert_eq!(done.cost, Nano(10));
    assert!(matches!(
        f.store.finish_job(job, &outcome),
        Err(GovernanceError::Conflict { .. })
    ));
    assert!(
        matches!(
            f.store.reserve(f.auth_a, job, &charge(Nano(1))),
            Err(GovernanceError::Conflict { .. })
        ),
        "a finished job reserves nothing"
    );
    // A job may only name the datasets its scenario grants.
    let job = prod_job(&f);
    let bad = JobOutcome {
        datasets: vec!["secrets".into()],
        ..outcome
    };
    assert!(matches!(
        f.store.finish_job(job, &bad),
        Err(GovernanceError::Invalid { .. })
    ));
}

#[test]
fn a_failed_job_releases_its_budget() {
    let f = Fixture::new();
    let job = prod_job(&f);
    let r = f.store.reserve(f.auth_a, job, &charge(Nano(400_000_000))).unwrap();
    let b = f.store.release(&r).unwrap();
    assert_eq!(b.remaining, b.total);
    let failed = f
        .store
        .finish_job(
            job,
            &JobOutcome {
                status: JobStatus::Failed,
                metering: Metering::default(),
                datasets: vec![],
                failure: Some("out of memory".into()),
            },
        )
        .unwrap();
    assert_eq!(failed.cost, Nano::ZERO);
    assert_eq!(failed.failure.as_deref(), Some("out of memory"));
}

#[test]
fn scope_holds_only_the_granted_columns() {
    let f = Fixture::new();
    let scope = f.store.scope(&f.analyst_a, f.auth_a).unwrap();
    assert_eq!(scope.tables.len(), 1);
    let t = &scope.tables[0];
    assert_eq!(t.granted_columns, vec!["person_id", "district", "age"]);
    let names: Vec<&str> = t.manifest.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names, t.granted_columns,
        "income is not granted: not in the session"
    );
    assert_eq!(
        t.manifest.privacy_unit.as_ref().unwrap().column,
        "person_id"
    );
    t.manifest.validate().unwrap();
    assert_eq!(t.location, "/data/households.parquet");
    assert_eq!(scope.budget.remaining, Nano(1_000_000_000));
    assert_eq!(scope.authorization.per_query_default, Nano(100_000_000));
    // Analysts see the catalog but not where the data lives.
    assert!(f
        .store
        .dataset(&f.analyst_a, "households")
        .unwrap()
        .location
        .is_none());
    assert!(f
        .store
        .datasets(&f.analyst_a)
        .unwrap()
        .iter()
        .all(|d| d.location.is_none()));
    assert!(f
        .store
        .dataset(&f.admin, "households")
        .unwrap()
        .location
        .is_some());
}

#[test]
fn querying_needs_the_processing_use_right() {
    let f = Fixture::new();
    let mut req = grant_request(f.unit_a, "products only", f.store.now());
    req.rights = vec![Right::ProductOperation];
    let auth = f.store.grant(&f.admin, &req).unwrap();
    let err = f.store.scope(&f.analyst_a, auth).unwrap_err();
    let GovernanceError::Denied { reason } = &err else { panic!("expected a refusal, got {err:?}") };
    assert!(reason.contains("processing_use"), "the refusal names the missing right: {reason}");
    // The authorization that grants it still opens.
    assert!(f.store.scope(&f.analyst_a, f.auth_a).is_ok());
}
