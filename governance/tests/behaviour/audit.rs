//! The audit chain: tamper evidence, retention and purge, queries.

use chrono::Duration;
use shuyu_governance::*;

use crate::common::*;

fn raw(f: &Fixture) -> Raw {
    Raw::open(f.dir.path())
}

#[test]
fn a_plain_update_is_refused_by_the_store() {
    let f = Fixture::new();
    let err = raw(&f)
        .execute("UPDATE audit SET outcome = 'ok' WHERE seq = 1", &[])
        .unwrap_err();
    assert!(err.to_string().contains("append-only"), "{err}");
    let err = raw(&f)
        .execute("DELETE FROM audit WHERE seq = 1", &[])
        .unwrap_err();
    assert!(err.to_string().contains("append-only"), "{err}");
    f.store.verify_audit().unwrap();
}

#[test]
fn an_altered_record_is_named_by_verify() {
    let f = Fixture::new();
    f.spend(&f.analyst_a, f.auth_a, Nano(10_000_000)).unwrap();
    let report = f.store.verify_audit().unwrap();
    assert!(report.records > 10);
    let target = 7;
    // An attacker with the file: drop the guard, then edit a record.
    let mut conn = raw(&f);
    conn.drop_trigger("audit_no_update");
    conn.execute(
        "UPDATE audit SET cost_nano = cost_nano + 1 WHERE seq = ?1",
        &[P::I(target)],
    )
    .unwrap();
    match f.store.verify_audit() {
        Err(GovernanceError::AuditBroken { seq, .. }) => assert_eq!(seq, target),
        other => panic!("expected AuditBroken at {target}, got {other:?}"),
    }
}

#[test]
fn an_altered_hash_is_named_by_verify() {
    let f = Fixture::new();
    let mut conn = raw(&f);
    conn.drop_trigger("audit_no_update");
    conn.execute(
        "UPDATE audit SET hash = (CASE WHEN substr(hash, 1, 1) = '0' THEN '1' ELSE '0' END) || substr(hash, 2) WHERE seq = 4",
        &[],
    )
    .unwrap();
    match f.store.verify_audit() {
        Err(GovernanceError::AuditBroken { seq, .. }) => assert_eq!(seq, 4),
        other => panic!("{other:?}"),
    }
}

#[test]
fn deleted_records_are_detected_in_the_middle_and_at_the_end() {
    let f = Fixture::new();
    let mut conn = raw(&f);
    conn.drop_trigger("audit_no_delete");
    conn.execute("DELETE FROM audit WHERE seq = 5", &[]).unwrap();
    match f.store.verify_audit() {
        Err(GovernanceError::AuditBroken { seq, .. }) => assert_eq!(seq, 5),
        other => panic!("{other:?}"),
    }
    let f = Fixture::new();
    let head = f.store.verify_audit().unwrap().head_seq;
    let mut conn = raw(&f);
    conn.drop_trigger("audit_no_delete");
    conn.execute("DELETE FROM audit WHERE seq = ?1", &[P::I(head)])
        .unwrap();
    match f.store.verify_audit() {
        Err(GovernanceError::AuditBroken { seq, .. }) => assert_eq!(seq, head),
        other => panic!("{other:?}"),
    }
}

#[test]
fn purge_keeps_180_days_and_leaves_a_verifiable_anchor() {
    let f = Fixture::new();
    let start = f.store.now();
    f.spend(&f.analyst_a, f.auth_a, Nano(10_000_000)).unwrap();
    let old = f.store.verify_audit().unwrap();
    f.clock.advance(Duration::days(200));
    f.store
        .suspend_unit(&f.admin, f.unit_b, "audit of records")
        .unwrap();

    // Anything newer than 180 days is refused, and nothing is written.
    let records_before = f.count("audit");
    let err = f
        .store
        .purge_audit_before(&f.admin, f.store.now() - Duration::days(179))
        .unwrap_err();
    assert!(
        matches!(&err, GovernanceError::Invalid { field, .. } if field == "cutoff"),
        "{err}"
    );
    assert_eq!(f.count("audit"), records_before);
    assert!(matches!(
        f.store
            .purge_audit_before(&f.supervisor, start + Duration::days(1)),
        Err(GovernanceError::Denied { .. })
    ));

    let report = f
        .store
        .purge_audit_before(&f.admin, start + Duration::days(1))
        .unwrap();
    assert_eq!(report.anchor_seq, old.head_seq);
    assert_eq!(report.anchor_hash, old.head_hash);
    assert_eq!(report.purged, old.records);
    let after = f.store.verify_audit().unwrap();
    assert_eq!(after.anchor_seq, old.head_seq);
    assert_eq!(after.anchor_hash, old.head_hash);
    // The purge itself is on record, with the anchor.
    let purge = f
        .store
        .audit_records(
            &f.supervisor,
            &AuditFilter {
                action: Some("audit.purge".into()),
                ..AuditFilter::default()
            },
        )
        .unwrap();
    assert_eq!(
        purge
            .iter()
            .filter(|r| r.outcome == Outcome::Refused)
            .count(),
        1,
        "the supervisor's attempt"
    );
    let done: Vec<_> = purge.iter().filter(|r| r.outcome == Outcome::Ok).collect();
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].details["anchor_hash"], old.head_hash.as_str());
    // A second purge with the same cutoff removes nothing, and the chain still grows.
    assert_eq!(
        f.store
            .purge_audit_before(&f.admin, start + Duration::days(1))
            .unwrap()
            .purged,
        0
    );
    f.store
        .reinstate_unit(&f.admin, f.unit_b, "audit done")
        .unwrap();
    f.spend(&f.analyst_b, f.auth_b, Nano(1)).unwrap();
    assert!(f.store.verify_audit().unwrap().records > 2);
}

#[test]
fn supervisors_filter_by_unit_action_and_time() {
    let f = Fixture::new();
    let t1 = f.store.now();
    f.clock.advance(Duration::hours(1));
    let t2 = f.store.now();
    f.spend(&f.analyst_a, f.auth_a, Nano(10_000_000)).unwrap();
    f.spend(&f.analyst_b, f.auth_b, Nano(20_000_000)).unwrap();
    let q = |filter: AuditFilter| f.store.audit_records(&f.supervisor, &filter).unwrap();
    let commits_a = q(AuditFilter {
        unit: Some(f.unit_a),
        action: Some("ledger.commit".into()),
        ..AuditFilter::default()
    });
    assert_eq!(commits_a.len(), 1);
    assert_eq!(commits_a[0].cost, Nano(10_000_000));
    assert_eq!(commits_a[0].role, "unit_analyst");
    let ledger = q(AuditFilter {
        action_prefix: Some("ledger.".into()),
        ..AuditFilter::default()
    });
    assert_eq!(ledger.len(), 4);
    let early = q(AuditFilter {
        from: Some(t1),
        to: Some(t2),
        ..AuditFilter::default()
    });
    assert!(early.iter().all(|r| r.at < t2));
    let late = q(AuditFilter {
        from: Some(t2),
        ..AuditFilter::default()
    });
    assert!(late.iter().all(|r| r.at >= t2) && !late.is_empty());
    assert_eq!(early.len() + late.len(), q(AuditFilter::default()).len());
    let page = q(AuditFilter {
        after_seq: Some(3),
        limit: Some(2),
        ..AuditFilter::default()
    });
    assert_eq!(page.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![4, 5]);
    // Providers do not read the audit trail.
    assert!(matches!(
        f.store.audit_records(&f.provider, &AuditFilter::default()),
        Err(GovernanceError::Denied { .. })
    ));
    // Details carry no SQL text.
    assert!(q(AuditFilter::default())
        .iter()
        .all(|r| !r.details.to_string().contains("SELECT")));
}
