//! The authorization workflow's methods of the admin service: announcements, applications
//! and agreements, data requests, quality issues and evaluations.
//!
//! Unlike the bureau's other methods, these are open to every signed-in role
//! ([`Access::Workflow`]): applicants apply, experts give opinions, analysts request data,
//! file issues and report rectifications, providers review requests and answer issues.
//! Which role may take which step is governance's decision, made in the step's transaction
//! and audited when refused (a wrong role is `PermissionDenied`, a step out of order
//! `FailedPrecondition`). Each function here is one RPC; [`super`] delegates to it.

use shuyu_governance::{
    AnnouncementId, ApplicationId, AuthorizationId, DataRequestId, EvaluationId, GovernanceError, IssueId, Principal, Store,
};
use shuyu_proto::admin::v1 as pb;
use tonic::{Request, Response, Status};

use super::convert_workflow as cw;
use super::{convert, Access, AdminService};

/// What an RPC answers.
type Reply<T> = Result<Response<T>, Status>;

/// The announcement `id` as the caller sees it.
fn announcement_view(s: &Store, p: &Principal, id: AnnouncementId) -> Result<pb::Announcement, GovernanceError> {
    let now = s.now();
    s.announcements(p)?
        .iter()
        .find(|a| a.id == id)
        .map(|a| cw::announcement(a, now))
        .ok_or_else(|| GovernanceError::Internal(format!("{id} is not listed right after it was written")))
}

/// An authorization with its budget.
fn authorization_view(s: &Store, p: &Principal, id: AuthorizationId) -> Result<pb::AuthorizationView, GovernanceError> {
    Ok(convert::authorization(&s.authorization(p, id)?, &s.budget(p, id)?))
}

// --- Announcements ---

/// `PublishAnnouncement`.
pub(super) async fn publish_announcement(svc: &AdminService, request: Request<pb::PublishAnnouncementRequest>) -> Reply<pb::Announcement> {
    let (md, _, r) = request.into_parts();
    let caller = svc.caller(&md, Access::Workflow).await?;
    let new = cw::new_announcement(&r, svc.store.now())?;
    svc.run_as(caller, move |s, p| {
        let id = s.publish_announcement(p, &new)?;
        announcement_view(s, p, id)
    })
    .await
}

/// `ListAnnouncements`.
pub(super) async fn list_announcements(svc: &AdminService, request: Request<pb::ListAnnouncementsRequest>) -> Reply<pb::ListAnnouncementsResponse> {
    svc.run(request.metadata(), Access::Workflow, |s, p| {
        let now = s.now();
        Ok(pb::ListAnnouncementsResponse { announcements: s.announcements(p)?.iter().map(|a| cw::announcement(a, now)).collect() })
    })
    .await
}

/// `CloseAnnouncement`.
pub(super) async fn close_announcement(svc: &AdminService, request: Request<pb::CloseAnnouncementRequest>) -> Reply<pb::Announcement> {
    let (md, _, r) = request.into_parts();
    svc.run(&md, Access::Workflow, move |s, p| {
        let a = s.close_announcement(p, AnnouncementId(r.id))?;
        Ok(cw::announcement(&a, s.now()))
    })
    .await
}

// --- Applications and agreements ---

/// `SubmitApplication`.
pub(super) async fn submit_application(svc: &AdminService, request: Request<pb::SubmitApplicationRequest>) -> Reply<pb::Application> {
    let (md, _, r) = request.into_parts();
    let new = cw::new_application(&r);
    svc.run(&md, Access::Workflow, move |s, p| {
        let id = s.submit_application(p, &new)?;
        s.application(p, id).map(|a| cw::application(&a))
    })
    .await
}

/// `WithdrawApplication`.
pub(super) async fn withdraw_application(svc: &AdminService, request: Request<pb::WithdrawApplicationRequest>) -> Reply<pb::Application> {
    let (md, _, r) = request.into_parts();
    svc.run(&md, Access::Workflow, move |s, p| s.withdraw_application(p, ApplicationId(r.id)).map(|a| cw::application(&a))).await
}

/// `ReviewQualification`.
pub(super) async fn review_qualification(svc: &AdminService, request: Request<pb::ReviewQualificationRequest>) -> Reply<pb::Application> {
    let (md, _, r) = request.into_parts();
    svc.run(&md, Access::Workflow, move |s, p| s.review_qualification(p, ApplicationId(r.id), r.passed, &r.note).map(|a| cw::application(&a)))
        .await
}

/// `RecordExpertOpinion`.
pub(super) async fn record_expert_opinion(svc: &AdminService, request: Request<pb::RecordExpertOpinionRequest>) -> Reply<pb::Application> {
    let (md, _, r) = request.into_parts();
    svc.run(&md, Access::Workflow, move |s, p| {
        s.record_expert_opinion(p, ApplicationId(r.id), r.recommend, &r.opinion).map(|a| cw::application(&a))
    })
    .await
}

/// `DecideApplication`.
pub(super) async fn decide_application(svc: &AdminService, request: Request<pb::DecideApplicationRequest>) -> Reply<pb::Application> {
    let (md, _, r) = request.into_parts();
    svc.run(&md, Access::Workflow, move |s, p| s.decide_application(p, ApplicationId(r.id), r.approved, &r.note).map(|a| cw::application(&a)))
        .await
}

/// `SignAgreement`.
pub(super) async fn sign_agreement(svc: &AdminService, request: Request<pb::SignAgreementRequest>) -> Reply<pb::Agreement> {
    let (md, _, r) = request.into_parts();
    // Authenticate before parsing, so an unauthenticated caller learns nothing.
    let caller = svc.caller(&md, Access::Workflow).await?;
    let terms = cw::agreement_terms(r.terms.as_ref(), svc.store.now())?;
    svc.run_as(caller, move |s, p| {
        let agreement = s.sign_agreement(p, ApplicationId(r.id), &terms)?;
        Ok(pb::Agreement { application: r.id, unit: agreement.unit.0, authorization: Some(authorization_view(s, p, agreement.authorization)?) })
    })
    .await
}

/// `GetApplication`.
pub(super) async fn get_application(svc: &AdminService, request: Request<pb::GetApplicationRequest>) -> Reply<pb::Application> {
    let (md, _, r) = request.into_parts();
    svc.run(&md, Access::Workflow, move |s, p| s.application(p, ApplicationId(r.id)).map(|a| cw::application(&a))).await
}

/// `ListApplications`.
pub(super) async fn list_applications(svc: &AdminService, request: Request<pb::ListApplicationsRequest>) -> Reply<pb::ListApplicationsResponse> {
    svc.run(request.metadata(), Access::Workflow, |s, p| {
        Ok(pb::ListApplicationsResponse { applications: s.applications(p)?.iter().map(cw::application).collect() })
    })
    .await
}

// --- Data requests ---

/// `SubmitDataRequest`.
pub(super) async fn submit_data_request(svc: &AdminService, request: Request<pb::SubmitDataRequestRequest>) -> Reply<pb::DataRequest> {
    let (md, _, r) = request.into_parts();
    let caller = svc.caller(&md, Access::Workflow).await?;
    let new = cw::new_data_request(r.terms.as_ref(), svc.store.now())?;
    svc.run_as(caller, move |s, p| {
        let id = s.submit_data_request(p, &new)?;
        s.data_request(p, id).map(|d| cw::data_request(&d))
    })
    .await
}

/// `ReviewDataRequest`.
pub(super) async fn review_data_request(svc: &AdminService, request: Request<pb::ReviewDataRequestRequest>) -> Reply<pb::DataRequest> {
    let (md, _, r) = request.into_parts();
    svc.run(&md, Access::Workflow, move |s, p| s.review_data_request(p, DataRequestId(r.id), r.approved, &r.note).map(|d| cw::data_request(&d)))
        .await
}

/// `GrantDataRequest`.
pub(super) async fn grant_data_request(svc: &AdminService, request: Request<pb::GrantDataRequestRequest>) -> Reply<pb::AuthorizationView> {
    let (md, _, r) = request.into_parts();
    svc.run(&md, Access::Workflow, move |s, p| {
        let id = s.grant_data_request(p, DataRequestId(r.id))?;
        authorization_view(s, p, id)
    })
    .await
}

/// `WithdrawDataRequest`.
pub(super) async fn withdraw_data_request(svc: &AdminService, request: Request<pb::WithdrawDataRequestRequest>) -> Reply<pb::DataRequest> {
    let (md, _, r) = request.into_parts();
    svc.run(&md, Access::Workflow, move |s, p| s.withdraw_data_request(p, DataRequestId(r.id)).map(|d| cw::data_request(&d))).await
}

/// `GetDataRequest`.
pub(super) async fn get_data_request(svc: &AdminService, request: Request<pb::GetDataRequestRequest>) -> Reply<pb::DataRequest> {
    let (md, _, r) = request.into_parts();
    svc.run(&md, Access::Workflow, move |s, p| s.data_request(p, DataRequestId(r.id)).map(|d| cw::data_request(&d))).await
}

/// `ListDataRequests`.
pub(super) async fn list_data_requests(svc: &AdminService, request: Request<pb::ListDataRequestsRequest>) -> Reply<pb::ListDataRequestsResponse> {
    svc.run(request.metadata(), Access::Workflow, |s, p| {
        Ok(pb::ListDataRequestsResponse { requests: s.data_requests(p)?.iter().map(cw::data_request).collect() })
    })
    .await
}

// --- Quality issues ---

/// `FileIssue`.
pub(super) async fn file_issue(svc: &AdminService, request: Request<pb::FileIssueRequest>) -> Reply<pb::Issue> {
    let (md, _, r) = request.into_parts();
    svc.run(&md, Access::Workflow, move |s, p| {
        let id = s.file_issue(p, &r.dataset, &r.title, &r.description)?;
        s.issue(p, id).map(|q| cw::issue(&q))
    })
    .await
}

/// `RouteIssue`.
pub(super) async fn route_issue(svc: &AdminService, request: Request<pb::RouteIssueRequest>) -> Reply<pb::Issue> {
    let (md, _, r) = request.into_parts();
    let caller = svc.caller(&md, Access::Workflow).await?;
    let deadline = cw::issue_deadline(&r.deadline)?;
    svc.run_as(caller, move |s, p| s.route_issue(p, IssueId(r.id), deadline).map(|q| cw::issue(&q))).await
}

/// `AnswerIssue`.
pub(super) async fn answer_issue(svc: &AdminService, request: Request<pb::AnswerIssueRequest>) -> Reply<pb::Issue> {
    let (md, _, r) = request.into_parts();
    svc.run(&md, Access::Workflow, move |s, p| s.answer_issue(p, IssueId(r.id), &r.answer).map(|q| cw::issue(&q))).await
}

/// `UpdateIssue`.
pub(super) async fn update_issue(svc: &AdminService, request: Request<pb::UpdateIssueRequest>) -> Reply<pb::Issue> {
    let (md, _, r) = request.into_parts();
    let caller = svc.caller(&md, Access::Workflow).await?;
    let status = cw::issue_status(&r.status)?;
    svc.run_as(caller, move |s, p| s.update_issue(p, IssueId(r.id), status, r.resolution.as_deref()).map(|q| cw::issue(&q))).await
}

/// `ListIssues`.
pub(super) async fn list_issues(svc: &AdminService, request: Request<pb::ListIssuesRequest>) -> Reply<pb::ListIssuesResponse> {
    svc.run(request.metadata(), Access::Workflow, |s, p| Ok(pb::ListIssuesResponse { issues: s.issues(p)?.iter().map(cw::issue).collect() })).await
}

// --- Evaluations ---

/// `RecordEvaluation`.
pub(super) async fn record_evaluation(svc: &AdminService, request: Request<pb::RecordEvaluationRequest>) -> Reply<pb::Evaluation> {
    let (md, _, r) = request.into_parts();
    let caller = svc.caller(&md, Access::Workflow).await?;
    let new = cw::new_evaluation(&r)?;
    svc.run_as(caller, move |s, p| {
        let id = s.record_evaluation(p, &new)?;
        s.evaluation(p, id).map(|e| cw::evaluation(&e))
    })
    .await
}

/// `ReportRectification`.
pub(super) async fn report_rectification(svc: &AdminService, request: Request<pb::ReportRectificationRequest>) -> Reply<pb::Evaluation> {
    let (md, _, r) = request.into_parts();
    svc.run(&md, Access::Workflow, move |s, p| s.report_rectification(p, EvaluationId(r.id), &r.report).map(|e| cw::evaluation(&e))).await
}

/// `AcceptRectification`.
pub(super) async fn accept_rectification(svc: &AdminService, request: Request<pb::AcceptRectificationRequest>) -> Reply<pb::Evaluation> {
    let (md, _, r) = request.into_parts();
    svc.run(&md, Access::Workflow, move |s, p| s.accept_rectification(p, EvaluationId(r.id)).map(|e| cw::evaluation(&e))).await
}

/// `ListEvaluations`.
pub(super) async fn list_evaluations(svc: &AdminService, request: Request<pb::ListEvaluationsRequest>) -> Reply<pb::ListEvaluationsResponse> {
    svc.run(request.metadata(), Access::Workflow, |s, p| {
        Ok(pb::ListEvaluationsResponse { evaluations: s.evaluations(p)?.iter().map(cw::evaluation).collect() })
    })
    .await
}
