//! The application workflow (Art. 9, 12, 13): announcement, application, qualification
//! review, expert opinions, decision, signed agreement.

use chrono::Duration;
use shuyu_governance::*;

use crate::common::*;

/// An announcement open now and an application of the workflow's applicant in expert review.
fn in_expert_review(f: &Fixture, w: &WorkflowPeople) -> ApplicationId {
    let a = f.store.publish_announcement(&f.admin, &announcement(f.store.now())).unwrap();
    let id = f.store.submit_application(&w.applicant, &application(a, 100)).unwrap();
    f.store.review_qualification(&f.admin, id, true, "qualified").unwrap();
    id
}

fn approved(f: &Fixture, w: &WorkflowPeople) -> ApplicationId {
    let id = in_expert_review(f, w);
    f.store.record_expert_opinion(&w.expert_1, id, true, "sound plan").unwrap();
    f.store.record_expert_opinion(&w.expert_2, id, false, "thin staffing").unwrap();
    f.store.decide_application(&f.admin, id, true, "approved by the coordination group").unwrap();
    id
}

#[test]
fn an_application_goes_from_announcement_to_a_signed_agreement() {
    let f = Fixture::new();
    let w = f.workflow();
    let now = f.store.now();
    let a = f.store.publish_announcement(&f.admin, &announcement(now)).unwrap();
    let listed = f.store.announcements(&w.applicant).unwrap();
    assert_eq!(listed.len(), 1);
    assert!(listed[0].is_open(now));
    assert_eq!(listed[0].min_expert_opinions, 2);

    let id = f.store.submit_application(&w.applicant, &application(a, 100)).unwrap();
    let app = f.store.application(&w.applicant, id).unwrap();
    assert_eq!(app.status, ApplicationStatus::Submitted);
    assert_eq!(app.applicant_name, "Applicant Wu");
    assert_eq!(app.attachments.len(), 1);

    let app = f.store.review_qualification(&f.admin, id, true, "qualified").unwrap();
    assert_eq!(app.status, ApplicationStatus::ExpertReview);
    assert_eq!(app.qualification_note.as_deref(), Some("qualified"));
    f.store.record_expert_opinion(&w.expert_1, id, true, "sound plan").unwrap();
    let app = f.store.record_expert_opinion(&w.expert_2, id, false, "thin staffing").unwrap();
    assert_eq!(app.opinions.len(), 2);
    assert_eq!(app.opinions[0].expert_name, "Expert Sun");
    assert!(app.opinions[0].recommend && !app.opinions[1].recommend);
    let app = f.store.decide_application(&f.admin, id, true, "approved").unwrap();
    assert_eq!(app.status, ApplicationStatus::Approved);

    let units_before = f.count("units");
    let agreement = f.store.sign_agreement(&f.admin, id, &agreement_terms(now)).unwrap();
    assert_eq!(f.count("units"), units_before + 1);
    let unit = f.store.unit(&f.admin, agreement.unit).unwrap();
    assert_eq!(unit.name, "Northeast Data Services Co.");
    assert_eq!(unit.credit_code, credit_code(100));

    // The applicant is now the unit's analyst; the old session must sign in again.
    assert!(matches!(f.store.application(&w.applicant, id), Err(GovernanceError::Unauthenticated { .. })));
    let analyst = f.store.authenticate(w.applicant_token.token.expose()).unwrap();
    assert_eq!(analyst.role, Role::UnitAnalyst);
    assert_eq!(analyst.unit_id, Some(agreement.unit));
    let auth = f.store.authorization(&analyst, agreement.authorization).unwrap();
    assert_eq!(auth.unit, agreement.unit);
    assert_eq!(auth.scenario, "elderly care");
    assert_eq!(auth.status, AuthorizationStatus::Active);
    let app = f.store.application(&analyst, id).unwrap();
    assert_eq!(app.status, ApplicationStatus::Signed);
    assert_eq!((app.unit, app.authorization), (Some(agreement.unit), Some(agreement.authorization)));

    for action in ["announcement.publish", "application.submit", "application.review_qualification", "application.decide", "application.sign", "person.become_analyst"] {
        assert_eq!(f.audit_count(action), 1, "{action}");
    }
    assert_eq!(f.audit_count("application.expert_opinion"), 2);
    f.store.verify_audit().unwrap();
}

#[test]
fn applications_are_accepted_only_while_the_window_is_open() {
    let f = Fixture::new();
    let w = f.workflow();
    let now = f.store.now();
    let mut later = announcement(now + Duration::days(2));
    later.closes_at = now + Duration::days(10);
    let a = f.store.publish_announcement(&f.admin, &later).unwrap();
    match f.store.submit_application(&w.applicant, &application(a, 100)) {
        Err(GovernanceError::Conflict { reason }) => assert!(reason.contains("opens at"), "{reason}"),
        other => panic!("before the window: {other:?}"),
    }
    f.clock.advance(Duration::days(3));
    let id = f.store.submit_application(&w.applicant, &application(a, 100)).unwrap();
    f.clock.advance(Duration::days(8));
    match f.store.submit_application(&w.applicant, &application(a, 101)) {
        Err(GovernanceError::Conflict { reason }) => {
            assert!(reason.contains("closed at") && reason.contains("next announcement"), "{reason}")
        }
        other => panic!("after the window: {other:?}"),
    }
    // An application submitted in time goes on after the window closed.
    f.store.review_qualification(&f.admin, id, true, "qualified").unwrap();

    let b = f.store.publish_announcement(&f.admin, &announcement(f.store.now())).unwrap();
    let closed = f.store.close_announcement(&f.admin, b).unwrap();
    assert!(!closed.is_open(f.store.now()));
    assert!(matches!(f.store.submit_application(&w.applicant, &application(b, 102)), Err(GovernanceError::Conflict { .. })));
    assert!(matches!(f.store.close_announcement(&f.admin, b), Err(GovernanceError::Conflict { .. })));
    assert_eq!(f.count("applications"), 1);
}

#[test]
fn an_unmet_qualification_is_refused_naming_the_article() {
    let f = Fixture::new();
    let w = f.workflow();
    let a = f.store.publish_announcement(&f.admin, &announcement(f.store.now())).unwrap();
    let mut new = application(a, 100);
    new.qualifications.mlps_level3 = false;
    match f.store.submit_application(&w.applicant, &new) {
        Err(GovernanceError::Invalid { field, reason }) => {
            assert_eq!(field, "qualifications.mlps_level3");
            assert!(reason.contains("Art. 13(2)"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    let mut new = application(a, 100);
    new.qualifications.not_dishonest = false;
    assert!(matches!(f.store.submit_application(&w.applicant, &new), Err(GovernanceError::Invalid { field, .. }) if field == "qualifications.not_dishonest"));
    let mut new = application(a, 100);
    new.qualifications.security_officer = " ".into();
    assert!(matches!(f.store.submit_application(&w.applicant, &new), Err(GovernanceError::Invalid { field, .. }) if field == "qualifications.security_officer"));
    let mut new = application(a, 100);
    new.attachments[0].sha256 = "AB".repeat(32);
    assert!(matches!(f.store.submit_application(&w.applicant, &new), Err(GovernanceError::Invalid { field, .. }) if field == "attachments[0].sha256"));
    let mut new = application(a, 100);
    new.credit_code = "91350100M000100Y44".into();
    assert!(matches!(f.store.submit_application(&w.applicant, &new), Err(GovernanceError::Invalid { field, .. }) if field == "credit_code"));
    // A credit code already registered belongs to that unit's analysts.
    let mut new = application(a, 100);
    new.credit_code = credit_code(1);
    assert!(matches!(f.store.submit_application(&w.applicant, &new), Err(GovernanceError::Conflict { .. })));
    assert_eq!(f.count("applications"), 0);
}

#[test]
fn each_step_is_refused_to_the_wrong_role_and_audited() {
    let f = Fixture::new();
    let w = f.workflow();
    let now = f.store.now();
    let denied = |r: Result<Application>| matches!(r, Err(GovernanceError::Denied { .. }));
    assert!(matches!(f.store.publish_announcement(&f.supervisor, &announcement(now)), Err(GovernanceError::Denied { .. })));
    assert!(matches!(f.store.publish_announcement(&w.applicant, &announcement(now)), Err(GovernanceError::Denied { .. })));
    let a = f.store.publish_announcement(&f.admin, &announcement(now)).unwrap();
    assert!(matches!(f.store.close_announcement(&w.expert_1, a), Err(GovernanceError::Denied { .. })));
    assert!(matches!(f.store.submit_application(&f.supervisor, &application(a, 100)), Err(GovernanceError::Denied { .. })));
    assert!(matches!(f.store.submit_application(&w.expert_1, &application(a, 100)), Err(GovernanceError::Denied { .. })));
    let id = f.store.submit_application(&w.applicant, &application(a, 100)).unwrap();

    assert!(denied(f.store.review_qualification(&f.analyst_a, id, true, "ok")));
    assert!(denied(f.store.review_qualification(&w.expert_1, id, true, "ok")));
    assert!(denied(f.store.review_qualification(&f.supervisor, id, true, "ok")));
    f.store.review_qualification(&f.admin, id, true, "qualified").unwrap();
    assert!(denied(f.store.record_expert_opinion(&f.admin, id, true, "fine")));
    assert!(denied(f.store.record_expert_opinion(&w.applicant, id, true, "fine")));
    assert!(denied(f.store.record_expert_opinion(&f.supervisor, id, true, "fine")));
    f.store.record_expert_opinion(&w.expert_1, id, true, "fine").unwrap();
    f.store.record_expert_opinion(&w.expert_2, id, true, "fine").unwrap();
    assert!(denied(f.store.decide_application(&w.expert_1, id, true, "approve")));
    assert!(denied(f.store.decide_application(&f.supervisor, id, true, "approve")));
    f.store.decide_application(&f.admin, id, true, "approved").unwrap();
    assert!(matches!(f.store.sign_agreement(&f.supervisor, id, &agreement_terms(now)), Err(GovernanceError::Denied { .. })));
    assert!(matches!(f.store.sign_agreement(&w.applicant, id, &agreement_terms(now)), Err(GovernanceError::Denied { .. })));
    assert!(denied(f.store.application(&f.provider, id)));

    // Supervisors and experts read every application.
    assert_eq!(f.store.application(&f.supervisor, id).unwrap().status, ApplicationStatus::Approved);
    assert_eq!(f.store.applications(&w.expert_2).unwrap().len(), 1);
    assert_eq!(refused_count(&f, "application.review_qualification"), 3);
    assert_eq!(refused_count(&f, "application.expert_opinion"), 3);
    assert_eq!(refused_count(&f, "application.decide"), 2);
    assert_eq!(refused_count(&f, "application.sign"), 2);
}

#[test]
fn the_decision_needs_the_experts_and_each_expert_gives_one_opinion() {
    let f = Fixture::new();
    let w = f.workflow();
    let id = in_expert_review(&f, &w);
    match f.store.decide_application(&f.admin, id, true, "approve") {
        Err(GovernanceError::Conflict { reason }) => assert!(reason.contains("missing approval") && reason.contains("0 expert"), "{reason}"),
        other => panic!("{other:?}"),
    }
    f.store.record_expert_opinion(&w.expert_1, id, true, "sound plan").unwrap();
    assert!(matches!(f.store.record_expert_opinion(&w.expert_1, id, false, "changed my mind"), Err(GovernanceError::Conflict { .. })));
    assert!(matches!(f.store.decide_application(&f.admin, id, true, "approve"), Err(GovernanceError::Conflict { .. })));
    assert!(matches!(f.store.record_expert_opinion(&w.expert_2, id, true, ""), Err(GovernanceError::Invalid { .. })));
    f.store.record_expert_opinion(&w.expert_2, id, true, "agree").unwrap();
    assert!(matches!(f.store.decide_application(&f.admin, id, false, ""), Err(GovernanceError::Invalid { .. })));
    let app = f.store.decide_application(&f.admin, id, false, "no budget this year").unwrap();
    assert_eq!(app.status, ApplicationStatus::Rejected);
    assert_eq!(app.opinions.len(), 2);
    // Settled: no more opinions, no signature.
    let late = person(&f.store, &f.admin, "Expert Hu", 44, Role::Expert, None, None);
    assert!(matches!(f.store.record_expert_opinion(&late, id, true, "late"), Err(GovernanceError::Conflict { .. })));
    assert!(matches!(f.store.sign_agreement(&f.admin, id, &agreement_terms(f.store.now())), Err(GovernanceError::Conflict { .. })));
}

#[test]
fn a_failed_qualification_review_ends_the_application() {
    let f = Fixture::new();
    let w = f.workflow();
    let a = f.store.publish_announcement(&f.admin, &announcement(f.store.now())).unwrap();
    let id = f.store.submit_application(&w.applicant, &application(a, 100)).unwrap();
    assert!(matches!(f.store.review_qualification(&f.admin, id, false, ""), Err(GovernanceError::Invalid { .. })));
    let app = f.store.review_qualification(&f.admin, id, false, "the DSMM certificate has expired").unwrap();
    assert_eq!(app.status, ApplicationStatus::QualificationFailed);
    assert!(matches!(f.store.record_expert_opinion(&w.expert_1, id, true, "fine"), Err(GovernanceError::Conflict { .. })));
    assert!(matches!(f.store.review_qualification(&f.admin, id, true, "again"), Err(GovernanceError::Conflict { .. })));
    // A new application to the same announcement is possible once the first is settled.
    f.store.submit_application(&w.applicant, &application(a, 100)).unwrap();
}

#[test]
fn a_refused_signature_leaves_nothing() {
    let f = Fixture::new();
    let w = f.workflow();
    let id = approved(&f, &w);
    let (units, people, auths) = (f.count("units"), f.count("people"), f.count("authorizations"));
    let mut terms = agreement_terms(f.store.now());
    terms.datasets[0].columns.push("no_such_column".into());
    assert!(matches!(f.store.sign_agreement(&f.admin, id, &terms), Err(GovernanceError::Invalid { field, .. }) if field == "datasets[0].columns[3]"));
    assert_eq!((f.count("units"), f.count("people"), f.count("authorizations")), (units, people, auths));
    assert_eq!(f.audit_count("unit.create"), 2, "only the fixture's two units were created");
    let app = f.store.application(&w.applicant, id).unwrap();
    assert_eq!(app.status, ApplicationStatus::Approved);
    assert_eq!(app.unit, None);
    assert_eq!(f.store.authenticate(w.applicant_token.token.expose()).unwrap().role, Role::Applicant);

    // The credit code was registered in the meantime: the unit is not created twice.
    f.store.create_unit(&f.admin, "Northeast Data Services Co.", &credit_code(100)).unwrap();
    assert!(matches!(f.store.sign_agreement(&f.admin, id, &agreement_terms(f.store.now())), Err(GovernanceError::Conflict { .. })));
    assert_eq!(f.count("authorizations"), auths);
    assert_eq!(f.store.authenticate(w.applicant_token.token.expose()).unwrap().role, Role::Applicant);
}

#[test]
fn an_analyst_re_applies_for_its_own_unit_and_the_unit_is_reused() {
    let f = Fixture::new();
    let w = f.workflow();
    let a = f.store.publish_announcement(&f.admin, &announcement(f.store.now())).unwrap();
    let mut other = application(a, 100);
    assert!(matches!(f.store.submit_application(&f.analyst_a, &other), Err(GovernanceError::Invalid { field, .. }) if field == "credit_code"));
    other.credit_code = credit_code(1);
    other.company = "Changchun Analytics Co.".into();
    let id = f.store.submit_application(&f.analyst_a, &other).unwrap();
    assert!(matches!(f.store.submit_application(&f.analyst_a, &other), Err(GovernanceError::Conflict { .. })), "one pending application per announcement");
    f.store.review_qualification(&f.admin, id, true, "qualified").unwrap();
    f.store.record_expert_opinion(&w.expert_1, id, true, "good record").unwrap();
    f.store.record_expert_opinion(&w.expert_2, id, true, "good record").unwrap();
    f.store.decide_application(&f.admin, id, true, "renewed").unwrap();
    let units = f.count("units");
    let agreement = f.store.sign_agreement(&f.admin, id, &agreement_terms(f.store.now())).unwrap();
    assert_eq!(agreement.unit, f.unit_a);
    assert_eq!(f.count("units"), units);
    assert_eq!(f.store.authorization(&f.analyst_a, agreement.authorization).unwrap().unit, f.unit_a);
    // Unit A's other analysts see it; unit B does not.
    assert_eq!(f.store.applications(&f.analyst_a).unwrap().len(), 1);
    assert!(f.store.applications(&f.analyst_b).unwrap().is_empty());
    assert!(matches!(f.store.application(&f.analyst_b, id), Err(GovernanceError::NotFound { .. })));
}

#[test]
fn an_applicant_sees_and_withdraws_only_its_own_applications() {
    let f = Fixture::new();
    let w = f.workflow();
    let other = person(&f.store, &f.admin, "Applicant Qin", 45, Role::Applicant, None, None);
    let a = f.store.publish_announcement(&f.admin, &announcement(f.store.now())).unwrap();
    let mine = f.store.submit_application(&w.applicant, &application(a, 100)).unwrap();
    let theirs = f.store.submit_application(&other, &application(a, 101)).unwrap();
    assert_eq!(f.store.applications(&w.applicant).unwrap().iter().map(|a| a.id).collect::<Vec<_>>(), vec![mine]);
    assert_eq!(f.store.applications(&f.admin).unwrap().len(), 2);
    assert!(matches!(f.store.application(&w.applicant, theirs), Err(GovernanceError::NotFound { .. })));
    assert!(matches!(f.store.withdraw_application(&w.applicant, theirs), Err(GovernanceError::NotFound { .. })));
    assert!(matches!(f.store.withdraw_application(&f.admin, mine), Err(GovernanceError::Denied { .. })));
    let done = f.store.withdraw_application(&w.applicant, mine).unwrap();
    assert_eq!(done.status, ApplicationStatus::Withdrawn);
    assert!(matches!(f.store.review_qualification(&f.admin, mine, true, "ok"), Err(GovernanceError::Conflict { .. })));
    // After the decision, no withdrawal.
    f.store.review_qualification(&f.admin, theirs, true, "ok").unwrap();
    f.store.record_expert_opinion(&w.expert_1, theirs, true, "ok").unwrap();
    f.store.record_expert_opinion(&w.expert_2, theirs, true, "ok").unwrap();
    f.store.decide_application(&f.admin, theirs, true, "approved").unwrap();
    assert!(matches!(f.store.withdraw_application(&other, theirs), Err(GovernanceError::Conflict { .. })));
    // The reach for another applicant's application is audited without a unit.
    assert_eq!(refused_count(&f, "application.read"), 1);
}
