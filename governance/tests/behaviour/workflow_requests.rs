//! Per-scenario data requests (Art. 16, 17): reviewed by the bureau and by the provider of
//! each dataset, then granted.

use shuyu_governance::*;

use crate::common::*;

#[test]
fn a_request_is_granted_once_the_bureau_and_every_provider_approved() {
    let f = Fixture::new();
    let w = f.workflow();
    let now = f.store.now();
    let id = f.store.submit_data_request(&f.analyst_a, &data_request("mobility", &["households", "trips"], now)).unwrap();
    let req = f.store.data_request(&f.analyst_a, id).unwrap();
    assert_eq!(req.status, RequestStatus::Submitted);
    assert_eq!(req.unit, f.unit_a);
    assert_eq!(req.providers, vec!["civil affairs bureau".to_string(), TRANSPORT.to_string()]);
    assert_eq!(req.pending_parties(), vec!["bureau".to_string(), "civil affairs bureau".into(), TRANSPORT.into()]);

    match f.store.grant_data_request(&f.admin, id) {
        Err(GovernanceError::Conflict { reason }) => assert!(reason.contains("missing approval of bureau"), "{reason}"),
        other => panic!("{other:?}"),
    }
    f.store.review_data_request(&f.admin, id, true, "scenario is clear").unwrap();
    let req = f.store.review_data_request(&f.provider, id, true, "").unwrap();
    assert_eq!(req.pending_parties(), vec![TRANSPORT.to_string()]);
    assert_eq!(req.reviews[1].party, ReviewParty::Provider);
    assert_eq!(req.reviews[1].provider.as_deref(), Some("civil affairs bureau"));
    match f.store.grant_data_request(&f.admin, id) {
        Err(GovernanceError::Conflict { reason }) => {
            assert!(reason.contains("missing approval of transport bureau") && !reason.contains("civil"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    f.store.review_data_request(&w.transport, id, true, "columns are minimal").unwrap();
    let auths = f.count("authorizations");
    let auth = f.store.grant_data_request(&f.admin, id).unwrap();
    assert_eq!(f.count("authorizations"), auths + 1);
    let granted = f.store.authorization(&f.analyst_a, auth).unwrap();
    assert_eq!(granted.scenario, "mobility");
    assert_eq!(granted.datasets.len(), 2);
    let req = f.store.data_request(&f.admin, id).unwrap();
    assert_eq!(req.status, RequestStatus::Granted);
    assert_eq!(req.authorization, Some(auth));
    assert!(req.pending_parties().is_empty());
    assert!(matches!(f.store.grant_data_request(&f.admin, id), Err(GovernanceError::Conflict { .. })));
    assert!(matches!(f.store.withdraw_data_request(&f.analyst_a, id), Err(GovernanceError::Conflict { .. })));
    assert_eq!(f.audit_count("request.review"), 3);
    assert_eq!(f.audit_count("request.grant"), 1);
    f.store.verify_audit().unwrap();
}

#[test]
fn only_a_provider_of_a_requested_dataset_reviews_and_each_party_once() {
    let f = Fixture::new();
    let w = f.workflow();
    let id = f.store.submit_data_request(&f.analyst_a, &data_request("care", &["households"], f.store.now())).unwrap();
    match f.store.review_data_request(&w.transport, id, true, "") {
        Err(GovernanceError::Denied { reason }) => assert!(reason.contains("no dataset of your provider"), "{reason}"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(f.store.data_request(&w.transport, id), Err(GovernanceError::Denied { .. })));
    assert!(f.store.data_requests(&w.transport).unwrap().is_empty());
    assert_eq!(f.store.data_requests(&f.provider).unwrap().len(), 1);
    f.store.review_data_request(&f.provider, id, true, "").unwrap();
    assert!(matches!(f.store.review_data_request(&f.provider, id, false, "second thoughts"), Err(GovernanceError::Conflict { .. })));
    f.store.review_data_request(&f.admin, id, true, "").unwrap();
    assert!(matches!(f.store.review_data_request(&f.admin, id, true, ""), Err(GovernanceError::Conflict { .. })));
    assert_eq!(refused_count(&f, "request.review"), 1);
    f.store.grant_data_request(&f.admin, id).unwrap();
}

#[test]
fn a_rejected_request_cannot_be_granted() {
    let f = Fixture::new();
    let _w = f.workflow();
    let id = f.store.submit_data_request(&f.analyst_a, &data_request("care", &["households"], f.store.now())).unwrap();
    f.store.review_data_request(&f.admin, id, true, "").unwrap();
    assert!(matches!(f.store.review_data_request(&f.provider, id, false, " "), Err(GovernanceError::Invalid { .. })));
    let req = f.store.review_data_request(&f.provider, id, false, "income is not needed for this scenario").unwrap();
    assert_eq!(req.status, RequestStatus::Rejected);
    match f.store.grant_data_request(&f.admin, id) {
        Err(GovernanceError::Conflict { reason }) => assert!(reason.contains("rejected by the civil affairs bureau"), "{reason}"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(f.store.review_data_request(&f.admin, id, true, ""), Err(GovernanceError::Conflict { .. })));
    // The unit may submit a new request for the scenario.
    f.store.submit_data_request(&f.analyst_a, &data_request("care", &["households"], f.store.now())).unwrap();
}

#[test]
fn a_request_is_checked_like_a_grant_when_submitted() {
    let f = Fixture::new();
    let now = f.store.now();
    assert!(matches!(
        f.store.submit_data_request(&f.analyst_a, &data_request("care", &["secrets"], now)),
        Err(GovernanceError::Invalid { field, .. }) if field == "datasets[0].dataset"
    ));
    assert!(matches!(
        f.store.submit_data_request(&f.analyst_a, &data_request("care", &["nope"], now)),
        Err(GovernanceError::Invalid { field, .. }) if field == "datasets[0].dataset"
    ));
    let mut bad = data_request("care", &["households"], now);
    bad.datasets[0].columns = vec!["age".into()];
    assert!(matches!(f.store.submit_data_request(&f.analyst_a, &bad), Err(GovernanceError::Invalid { field, .. }) if field == "datasets[0].columns"));
    let mut bad = data_request("care", &["households"], now);
    bad.budget.per_query_cap = 5.0;
    assert!(matches!(f.store.submit_data_request(&f.analyst_a, &bad), Err(GovernanceError::Invalid { field, .. }) if field == "budget.per_query_cap"));
    // The unit already holds "ageing": one scenario, one authorization.
    assert!(matches!(f.store.submit_data_request(&f.analyst_a, &data_request("ageing", &["households"], now)), Err(GovernanceError::Conflict { .. })));
    f.store.submit_data_request(&f.analyst_a, &data_request("care", &["households"], now)).unwrap();
    assert!(matches!(f.store.submit_data_request(&f.analyst_a, &data_request("care", &["households"], now)), Err(GovernanceError::Conflict { .. })));
    assert_eq!(f.count("data_requests"), 1);
}

#[test]
fn a_unit_cannot_reach_another_units_requests() {
    let f = Fixture::new();
    let id = f.store.submit_data_request(&f.analyst_a, &data_request("care", &["households"], f.store.now())).unwrap();
    assert!(matches!(f.store.data_request(&f.analyst_b, id), Err(GovernanceError::NotFound { .. })));
    assert!(matches!(f.store.withdraw_data_request(&f.analyst_b, id), Err(GovernanceError::NotFound { .. })));
    assert!(f.store.data_requests(&f.analyst_b).unwrap().is_empty());
    assert_eq!(f.store.data_requests(&f.analyst_a).unwrap().len(), 1);
    assert_eq!(f.store.data_requests(&f.supervisor).unwrap().len(), 1);
    // The foreign reach reads as missing, and is recorded where only the bureau sees it.
    let units: Vec<Option<i64>> = Raw::open(f.dir.path())
        .rows("SELECT unit_id FROM audit WHERE action IN ('request.read', 'request.withdraw') AND outcome = 'refused'", &[])
        .into_iter()
        .map(|r| r[0].as_ref().map(|v| v.parse().unwrap()))
        .collect();
    assert_eq!(units, vec![None, None]);
}

#[test]
fn each_step_is_refused_to_the_wrong_role() {
    let f = Fixture::new();
    let w = f.workflow();
    let now = f.store.now();
    for p in [&f.admin, &f.supervisor, &f.provider, &w.expert_1, &w.applicant] {
        assert!(matches!(f.store.submit_data_request(p, &data_request("care", &["households"], now)), Err(GovernanceError::Denied { .. })));
    }
    let id = f.store.submit_data_request(&f.analyst_a, &data_request("care", &["households"], now)).unwrap();
    for p in [&f.analyst_a, &f.supervisor, &w.expert_1] {
        assert!(matches!(f.store.review_data_request(p, id, true, ""), Err(GovernanceError::Denied { .. })));
    }
    f.store.review_data_request(&f.admin, id, true, "").unwrap();
    f.store.review_data_request(&f.provider, id, true, "").unwrap();
    for p in [&f.analyst_a, &f.supervisor, &f.provider] {
        assert!(matches!(f.store.grant_data_request(p, id), Err(GovernanceError::Denied { .. })));
    }
    assert!(matches!(f.store.withdraw_data_request(&f.admin, id), Err(GovernanceError::Denied { .. })));
    assert!(matches!(f.store.data_requests(&w.expert_1), Err(GovernanceError::Denied { .. })));
    let done = f.store.withdraw_data_request(&f.analyst_a, id).unwrap();
    assert_eq!(done.status, RequestStatus::Withdrawn);
    assert!(matches!(f.store.grant_data_request(&f.admin, id), Err(GovernanceError::Conflict { .. })));
    assert_eq!(refused_count(&f, "request.grant"), 3);
}
