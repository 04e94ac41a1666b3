//! Annual evaluations (Art. 11, 26): rectification by a deadline, suspension when missed.

use chrono::Duration;
use shuyu_governance::*;

use crate::common::*;

fn evaluation(f: &Fixture, unit: UnitId, deadline_days: Option<i64>) -> NewEvaluation {
    NewEvaluation {
        unit,
        year: 2024,
        score: if deadline_days.is_some() { 55 } else { 88 },
        findings: "audit logs incomplete for two months".into(),
        rectification_deadline: deadline_days.map(|d| f.store.now() + Duration::days(d)),
    }
}

#[test]
fn a_missed_deadline_suspends_the_evaluation_and_the_unit() {
    let f = Fixture::new();
    let id = f.store.record_evaluation(&f.admin, &evaluation(&f, f.unit_a, Some(7))).unwrap();
    let e = &f.store.evaluations(&f.analyst_a).unwrap()[0];
    assert_eq!((e.id, e.status, e.score), (id, EvaluationStatus::RectificationRequired, 55));
    assert_eq!(e.unit_name, "Changchun Analytics Co.");
    assert_eq!(f.store.enforce_deadlines().unwrap(), vec![], "not yet due");

    f.clock.advance(Duration::days(7));
    assert_eq!(f.store.enforce_deadlines().unwrap(), vec![f.unit_a]);
    assert_eq!(f.store.evaluation(&f.admin, id).unwrap().status, EvaluationStatus::Suspended);
    assert_eq!(f.store.unit(&f.admin, f.unit_a).unwrap().status, UnitStatus::Suspended);
    assert!(matches!(f.store.evaluations(&f.analyst_a), Err(GovernanceError::Denied { .. })));
    assert!(f.store.scope(&f.analyst_b, f.auth_b).is_ok(), "the other unit is untouched");
    assert_eq!(f.store.enforce_deadlines().unwrap(), vec![], "idempotent");

    let row = Raw::open(f.dir.path()).rows("SELECT role, details FROM audit WHERE action = 'unit.suspend'", &[]).remove(0);
    let (role, details) = (row[0].clone().unwrap(), row[1].clone().unwrap());
    assert_eq!(role, "system");
    assert!(details.contains(&format!("evaluation {}", id.0)), "{details}");
    assert_eq!(f.audit_count("unit.suspend"), 1);
    assert_eq!(f.audit_count("evaluation.suspend"), 1);
    f.store.verify_audit().unwrap();

    // The bureau reinstates through the ordinary lifecycle.
    f.store.reinstate_unit(&f.admin, f.unit_a, "rectified after suspension").unwrap();
    assert_eq!(f.store.enforce_deadlines().unwrap(), vec![]);
    assert_eq!(f.store.unit(&f.admin, f.unit_a).unwrap().status, UnitStatus::Active);
}

#[test]
fn a_rectification_reported_in_time_is_accepted_and_a_late_one_refused() {
    let f = Fixture::new();
    let id = f.store.record_evaluation(&f.admin, &evaluation(&f, f.unit_a, Some(7))).unwrap();
    let late = f.store.record_evaluation(&f.admin, &evaluation(&f, f.unit_b, Some(3))).unwrap();
    f.clock.advance(Duration::days(5));
    // Unit B's deadline passed (not yet enforced): its report is refused.
    match f.store.report_rectification(&f.analyst_b, late, "logs restored") {
        Err(GovernanceError::Conflict { reason }) => assert!(reason.contains("deadline") && reason.contains("passed"), "{reason}"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(f.store.report_rectification(&f.analyst_a, id, ""), Err(GovernanceError::Invalid { .. })));
    let e = f.store.report_rectification(&f.analyst_a, id, "logs restored, retention raised").unwrap();
    assert_eq!(e.status, EvaluationStatus::RectificationReported);
    assert_eq!(e.rectification.as_deref(), Some("logs restored, retention raised"));
    assert!(matches!(f.store.report_rectification(&f.analyst_a, id, "again"), Err(GovernanceError::Conflict { .. })));

    f.clock.advance(Duration::days(5));
    // A reported rectification is not suspended when its deadline passes; B's is.
    assert_eq!(f.store.enforce_deadlines().unwrap(), vec![f.unit_b]);
    assert!(matches!(f.store.accept_rectification(&f.supervisor, id), Err(GovernanceError::Denied { .. })));
    let e = f.store.accept_rectification(&f.admin, id).unwrap();
    assert_eq!(e.status, EvaluationStatus::Rectified);
    assert!(matches!(f.store.accept_rectification(&f.admin, id), Err(GovernanceError::Conflict { .. })));
    assert!(matches!(f.store.accept_rectification(&f.admin, late), Err(GovernanceError::Conflict { .. })));
    assert_eq!(f.store.unit(&f.admin, f.unit_a).unwrap().status, UnitStatus::Active);
}

#[test]
fn opening_the_store_enforces_missed_deadlines() {
    let f = Fixture::new();
    f.store.record_evaluation(&f.admin, &evaluation(&f, f.unit_b, Some(1))).unwrap();
    f.clock.advance(Duration::days(2));
    let reopened = crate::common::open_with(f.dir.path(), StoreOptions { clock: f.clock.clone(), ..StoreOptions::default() });
    assert_eq!(reopened.unit(&f.admin, f.unit_b).unwrap().status, UnitStatus::Suspended);
    assert_eq!(f.store.unit(&f.admin, f.unit_a).unwrap().status, UnitStatus::Active);
}

#[test]
fn evaluations_are_the_bureaus_checked_and_seen_by_their_unit_only() {
    let f = Fixture::new();
    let w = f.workflow();
    let new = evaluation(&f, f.unit_a, None);
    for p in [&f.analyst_a, &f.supervisor, &f.provider, &w.expert_1] {
        assert!(matches!(f.store.record_evaluation(p, &new), Err(GovernanceError::Denied { .. })));
    }
    let passed = f.store.record_evaluation(&f.admin, &new).unwrap();
    assert_eq!(f.store.evaluation(&f.analyst_a, passed).unwrap().status, EvaluationStatus::Passed);
    assert!(matches!(f.store.record_evaluation(&f.admin, &new), Err(GovernanceError::Conflict { .. })), "one per unit and year");
    assert!(matches!(f.store.report_rectification(&f.analyst_a, passed, "nothing"), Err(GovernanceError::Conflict { .. })));
    let mut bad = NewEvaluation { year: 2023, ..new.clone() };
    bad.score = 101;
    assert!(matches!(f.store.record_evaluation(&f.admin, &bad), Err(GovernanceError::Invalid { field, .. }) if field == "score"));
    let bad = NewEvaluation { year: 2023, rectification_deadline: Some(f.store.now()), ..new.clone() };
    assert!(matches!(f.store.record_evaluation(&f.admin, &bad), Err(GovernanceError::Invalid { field, .. }) if field == "rectification_deadline"));
    let bad = NewEvaluation { year: 2023, unit: UnitId(999), ..new.clone() };
    assert!(matches!(f.store.record_evaluation(&f.admin, &bad), Err(GovernanceError::Invalid { field, .. }) if field == "unit"));

    let b = f.store.record_evaluation(&f.admin, &evaluation(&f, f.unit_b, Some(10))).unwrap();
    assert!(matches!(f.store.evaluation(&f.analyst_a, b), Err(GovernanceError::NotFound { .. })));
    assert!(matches!(f.store.report_rectification(&f.analyst_a, b, "ours"), Err(GovernanceError::NotFound { .. })));
    assert_eq!(f.store.evaluations(&f.analyst_a).unwrap().iter().map(|e| e.id).collect::<Vec<_>>(), vec![passed]);
    assert_eq!(f.store.evaluations(&f.supervisor).unwrap().len(), 2);
    assert!(matches!(f.store.evaluations(&f.provider), Err(GovernanceError::Denied { .. })));
}
