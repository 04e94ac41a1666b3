//! Data-quality issues: filed by a unit, routed to the provider, tracked by the bureau.

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
