//! Data-quality issues: filed by a unit, routed to the provider, tracked by the bureau.

use chrono::Duration;
use shuyu_governance::*;

use crate::common::*;

#[test]
fn an_issue_is_routed_to_the_provider_and_tracked() {
    let f = Fixture::new();
    let id = f
        .store
        .file_issue(
            &f.analyst_a,
            "households",
            "ages above 120",
            "some rows exceed the declared bound",
        )
        .unwrap();
    let issues = f.store.issues(&f.provider).unwrap();
    assert_eq!(issues.len(), 1);
    assert_eq!(issues[0].provider, "civil affairs bureau");
    assert_eq!(issues[0].status, IssueStatus::Open);

    let other = person(
        &f.store,
        &f.admin,
        "Provider Qian",
        20,
        Role::Provider,
        None,
        Some("transport bureau"),
    );
    assert!(f.store.issues(&other).unwrap().is_empty());
    assert!(matches!(
        f.store
            .update_issue(&other, id, IssueStatus::Resolved, None),
        Err(GovernanceError::Denied { .. })
    ));
    assert!(matches!(
        f.store
            .update_issue(&f.analyst_a, id, IssueStatus::Resolved, None),
        Err(GovernanceError::Denied { .. })
    ));

    f.store
        .update_issue(&f.provider, id, IssueStatus::InProgress, None)
        .unwrap();
    let done = f
        .store
        .update_issue(
            &f.provider,
            id,
            IssueStatus::Resolved,
            Some("clamped at source"),
        )
        .unwrap();
    assert_eq!(done.status, IssueStatus::Resolved);
    assert_eq!(done.resolution.as_deref(), Some("clamped at source"));
    assert_eq!(
        f.store.issues(&f.analyst_a).unwrap()[0].status,
        IssueStatus::Resolved
    );
    assert!(f.store.issues(&f.analyst_b).unwrap().is_empty());
    assert_eq!(f.store.issues(&f.admin).unwrap().len(), 1);
}

#[test]
fn issues_only_against_granted_datasets() {
    let f = Fixture::new();
    assert!(matches!(
        f.store.file_issue(&f.analyst_a, "secrets", "t", "d"),
        Err(GovernanceError::Denied { .. })
    ));
    assert!(matches!(
        f.store.file_issue(&f.analyst_a, "nope", "t", "d"),
        Err(GovernanceError::Invalid { .. })
    ));
    assert!(matches!(
        f.store.file_issue(&f.analyst_a, "households", "", "d"),
        Err(GovernanceError::Invalid { .. })
    ));
}

#[test]
fn the_bureau_routes_an_issue_with_a_deadline_and_the_provider_answers() {
    let f = Fixture::new();
    let now = f.store.now();
    let id = f.store.file_issue(&f.analyst_a, "households", "missing districts", "district is empty for some rows").unwrap();
    let issue = f.store.issue(&f.analyst_a, id).unwrap();
    assert_eq!((issue.status, issue.deadline, issue.overdue), (IssueStatus::Open, None, false));

    assert!(matches!(f.store.route_issue(&f.analyst_a, id, now + Duration::days(5)), Err(GovernanceError::Denied { .. })));
    assert!(matches!(f.store.route_issue(&f.provider, id, now + Duration::days(5)), Err(GovernanceError::Denied { .. })));
    assert!(matches!(f.store.route_issue(&f.admin, id, now), Err(GovernanceError::Invalid { field, .. }) if field == "deadline"));
    assert!(matches!(f.store.answer_issue(&f.provider, id, "fixed"), Err(GovernanceError::Conflict { .. })), "not routed yet");
    let routed = f.store.route_issue(&f.admin, id, now + Duration::days(5)).unwrap();
    assert_eq!(routed.status, IssueStatus::Routed);
    assert_eq!(routed.deadline, Some(now + Duration::days(5)));
    assert_eq!(routed.routed_at, Some(now));
    assert!(!routed.overdue);
    assert!(matches!(f.store.route_issue(&f.admin, id, now + Duration::days(9)), Err(GovernanceError::Conflict { .. })));

    f.clock.advance(Duration::days(6));
    assert!(f.store.issues(&f.admin).unwrap()[0].overdue);
    assert!(f.store.issue(&f.provider, id).unwrap().overdue);
    let other = person(&f.store, &f.admin, "Provider Qian", 20, Role::Provider, None, Some("transport bureau"));
    assert!(matches!(f.store.answer_issue(&other, id, "not ours"), Err(GovernanceError::Denied { .. })));
    assert!(matches!(f.store.issue(&other, id), Err(GovernanceError::Denied { .. })));
    assert!(matches!(f.store.answer_issue(&f.admin, id, "fixed"), Err(GovernanceError::Denied { .. })));
    assert!(matches!(f.store.answer_issue(&f.provider, id, ""), Err(GovernanceError::Invalid { .. })));
    let done = f.store.answer_issue(&f.provider, id, "districts backfilled from the registry").unwrap();
    assert_eq!(done.status, IssueStatus::Resolved);
    assert_eq!(done.resolution.as_deref(), Some("districts backfilled from the registry"));
    assert!(!done.overdue);
    assert!(matches!(f.store.answer_issue(&f.provider, id, "again"), Err(GovernanceError::Conflict { .. })));
    assert!(matches!(f.store.issue(&f.analyst_b, id), Err(GovernanceError::NotFound { .. })));
    let late = Raw::open(f.dir.path()).text("SELECT details FROM audit WHERE action = 'issue.answer' AND outcome = 'ok'", &[]);
    assert!(late.contains("\"late\":true"), "{late}");
}
