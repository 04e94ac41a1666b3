//! The admin gRPC service (`shuyu.admin.v1.Admin`, defined in `proto/`): every governance
//! operation of the bureau, and the read-only views of the supervisory authority.
//!
//! Every call is authenticated with the same bearer token as Flight SQL
//! ([`crate::auth`]), then gated by role here before governance sees it: bureau admins may
//! call every method; supervisors only the read-only ones; analysts, providers, experts and
//! applicants none (`PermissionDenied`), except the authorization workflow's methods
//! (announcements, applications, data requests, quality issues, evaluations), which every
//! signed-in role may call and where governance decides who may take which step.
//! Governance re-verifies the caller and enforces its own rules in the same transaction,
//! and records every change (and every refusal) in the audit trail.
//! Store calls run on the blocking pool; errors become gRPC statuses through the one
//! mapping in [`crate::error`].
//!
//! ## Layout
//! - this module: [`AdminService`], the role gate, one method per RPC.
//! - [`convert`]: governance types to messages, request fields to governance types.
//! - `workflow`: the workflow's methods (one function per RPC, delegated to from here);
//!   [`convert_workflow`]: their conversions.

pub mod convert;
pub mod convert_workflow;
mod workflow;

use chrono::Duration;
use shuyu_governance::{
    AuthorizationId, CredentialId, ExportDecision, ExportStatus, GovernanceError, ImportId, JobFilter, JobId, JobStatus, PersonId, Principal, Role,
    Store, UnitId,
};
use shuyu_proto::admin::v1 as pb;
use shuyu_proto::admin::v1::admin_server::{Admin, AdminServer};
use tonic::metadata::MetadataMap;
use tonic::{Request, Response, Status};

use crate::offload::store_call;
use crate::Error;

/// What a method does to the domain, for the role gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Reads only: bureau admins and supervisors.
    Read,
    /// Changes the domain: bureau admins only.
    Write,
    /// A step of the authorization workflow: every signed-in role; governance decides which
    /// role may take it (and audits a refusal).
    Workflow,
}

/// Refuses a principal the admin service does not serve for `access`.
pub fn gate(p: &Principal, access: Access) -> Result<(), Error> {
    const WORKFLOW: &str = "only the workflow's methods (announcements, applications, data requests, quality issues, evaluations) are open to";
    match (p.role, access) {
        (_, Access::Workflow) | (Role::BureauAdmin, _) | (Role::Supervisor, Access::Read) => Ok(()),
        (Role::Supervisor, Access::Write) => Err(Error::Denied(
            "the supervisory authority has read-only access to the admin service; ask a bureau admin to make this change".into(),
        )),
        (Role::UnitAnalyst, _) => Err(Error::Denied(format!(
            "this method is for the bureau and the supervisory authority; {WORKFLOW} analysts, who query through Arrow Flight SQL"
        ))),
        (Role::Provider, _) => Err(Error::Denied(format!("this method is for the bureau and the supervisory authority; {WORKFLOW} data providers"))),
        (Role::Expert, _) => Err(Error::Denied(format!("this method is for the bureau and the supervisory authority; {WORKFLOW} experts"))),
        (Role::Applicant, _) => Err(Error::Denied(format!("this method is for the bureau and the supervisory authority; {WORKFLOW} applicants"))),
    }
}

/// The admin service over a governance store.
#[derive(Debug, Clone)]
pub struct AdminService {
    store: Store,
}

impl AdminService {
    /// A service acting on `store`.
    pub fn new(store: Store) -> Self {
        AdminService { store }
    }

    /// The tonic service to mount on a server.
    pub fn into_service(self) -> AdminServer<AdminService> {
        AdminServer::new(self)
    }

    /// Authenticates the call and gates it by role.
    async fn caller(&self, md: &MetadataMap, access: Access) -> Result<Principal, Error> {
        let p = crate::auth::principal(&self.store, md).await?;
        gate(&p, access)?;
        Ok(p)
    }

    /// Authenticates and gates the call, then runs `f` for the caller on the blocking pool.
    async fn run<T, F>(&self, md: &MetadataMap, access: Access, f: F) -> Result<Response<T>, Status>
    where
        T: Send + 'static,
        F: FnOnce(&Store, &Principal) -> Result<T, GovernanceError> + Send + 'static,
    {
        let p = self.caller(md, access).await?;
        self.run_as(p, f).await
    }

    /// Runs `f` for an already authenticated and gated caller on the blocking pool.
    async fn run_as<T, F>(&self, p: Principal, f: F) -> Result<Response<T>, Status>
    where
        T: Send + 'static,
        F: FnOnce(&Store, &Principal) -> Result<T, GovernanceError> + Send + 'static,
    {
        let out = store_call(&self.store, move |s| f(s, &p)).await?;
        Ok(Response::new(out))
    }
}

#[tonic::async_trait]
impl Admin for AdminService {
    async fn register_dataset(&self, request: Request<pb::RegisterDatasetRequest>) -> Result<Response<pb::Dataset>, Status> {
        let (md, _, r) = request.into_parts();
        // Authenticate before parsing, so an unauthenticated caller learns nothing.
        let caller = self.caller(&md, Access::Write).await?;
        let manifest = shuyu_datasets::TableManifest::from_toml(&r.manifest_toml)
            .map_err(|e| Error::Usage(format!("the manifest is not valid: {e}; fix the manifest file")))?;
        let verified = verify_declarations(&manifest, &r.location).await?;
        self.run_as(caller, move |s, p| {
            s.register_dataset(p, &manifest, &r.location, &verified)?;
            s.dataset(p, &manifest.name).map(|d| convert::dataset(&d))
        })
        .await
    }

    async fn list_datasets(&self, request: Request<pb::ListDatasetsRequest>) -> Result<Response<pb::ListDatasetsResponse>, Status> {
        self.run(request.metadata(), Access::Read, |s, p| {
            Ok(pb::ListDatasetsResponse { datasets: s.datasets(p)?.iter().map(convert::dataset).collect() })
        })
        .await
    }

    async fn get_dataset(&self, request: Request<pb::GetDatasetRequest>) -> Result<Response<pb::Dataset>, Status> {
        let (md, _, r) = request.into_parts();
        self.run(&md, Access::Read, move |s, p| s.dataset(p, &r.name).map(|d| convert::dataset(&d))).await
    }

    async fn create_unit(&self, request: Request<pb::CreateUnitRequest>) -> Result<Response<pb::Unit>, Status> {
        let (md, _, r) = request.into_parts();
        self.run(&md, Access::Write, move |s, p| {
            let id = s.create_unit(p, &r.name, &r.credit_code)?;
            s.unit(p, id).map(|u| convert::unit(&u))
        })
        .await
    }

    async fn list_units(&self, request: Request<pb::ListUnitsRequest>) -> Result<Response<pb::ListUnitsResponse>, Status> {
        self.run(request.metadata(), Access::Read, |s, p| Ok(pb::ListUnitsResponse { units: s.units(p)?.iter().map(convert::unit).collect() })).await
    }

    async fn get_unit(&self, request: Request<pb::GetUnitRequest>) -> Result<Response<pb::Unit>, Status> {
        let (md, _, r) = request.into_parts();
        self.run(&md, Access::Read, move |s, p| s.unit(p, UnitId(r.id)).map(|u| convert::unit(&u))).await
    }

    async fn create_person(&self, request: Request<pb::CreatePersonRequest>) -> Result<Response<pb::Person>, Status> {
        let (md, _, r) = request.into_parts();
        let caller = self.caller(&md, Access::Write).await?;
        let role = convert::parse_enum(&r.role, "role", Role::parse, convert::ROLES)?;
        self.run_as(caller, move |s, p| {
            let new = shuyu_governance::NewPerson { name: r.name, id_number: r.id_number, role, unit: r.unit.map(UnitId), provider: r.provider };
            let id = s.create_person(p, &new)?;
            s.person(p, id).map(|x| convert::person(&x))
        })
        .await
    }

    async fn list_people(&self, request: Request<pb::ListPeopleRequest>) -> Result<Response<pb::ListPeopleResponse>, Status> {
        let (md, _, r) = request.into_parts();
        self.run(&md, Access::Read, move |s, p| {
            Ok(pb::ListPeopleResponse { people: s.people(p, r.unit.map(UnitId))?.iter().map(convert::person).collect() })
        })
        .await
    }

    async fn get_person(&self, request: Request<pb::GetPersonRequest>) -> Result<Response<pb::Person>, Status> {
        let (md, _, r) = request.into_parts();
        self.run(&md, Access::Read, move |s, p| s.person(p, PersonId(r.id)).map(|x| convert::person(&x))).await
    }

    async fn deactivate_person(&self, request: Request<pb::DeactivatePersonRequest>) -> Result<Response<pb::DeactivatePersonResponse>, Status> {
        let (md, _, r) = request.into_parts();
        self.run(&md, Access::Write, move |s, p| s.deactivate_person(p, PersonId(r.id)).map(|()| pb::DeactivatePersonResponse {})).await
    }

    async fn issue_token(&self, request: Request<pb::IssueTokenRequest>) -> Result<Response<pb::IssuedToken>, Status> {
        let (md, _, r) = request.into_parts();
        let caller = self.caller(&md, Access::Write).await?;
        if r.ttl_days == 0 {
            return Err(Error::Usage("ttl_days must be at least 1: how many days the token stays valid".into()).into());
        }
        let ttl = Duration::days(i64::from(r.ttl_days));
        self.run_as(caller, move |s, p| s.issue_token(p, PersonId(r.person), ttl).map(|t| convert::issued(&t))).await
    }

    async fn list_tokens(&self, request: Request<pb::ListTokensRequest>) -> Result<Response<pb::ListTokensResponse>, Status> {
        let (md, _, r) = request.into_parts();
        self.run(&md, Access::Read, move |s, p| {
            Ok(pb::ListTokensResponse { tokens: s.credentials(p, PersonId(r.person))?.iter().map(convert::token_info).collect() })
        })
        .await
    }

    async fn revoke_token(&self, request: Request<pb::RevokeTokenRequest>) -> Result<Response<pb::RevokeTokenResponse>, Status> {
        let (md, _, r) = request.into_parts();
        self.run(&md, Access::Write, move |s, p| s.revoke_token(p, CredentialId(r.credential)).map(|()| pb::RevokeTokenResponse {})).await
    }

    async fn grant_authorization(&self, request: Request<pb::GrantAuthorizationRequest>) -> Result<Response<pb::AuthorizationView>, Status> {
        let (md, _, r) = request.into_parts();
        let caller = self.caller(&md, Access::Write).await?;
        let new = convert::new_authorization(&r, self.store.now())?;
        self.run_as(caller, move |s, p| {
            let id = s.grant(p, &new)?;
            Ok(convert::authorization(&s.authorization(p, id)?, &s.budget(p, id)?))
        })
        .await
    }

    async fn list_authorizations(
        &self,
        request: Request<pb::ListAuthorizationsRequest>,
    ) -> Result<Response<pb::ListAuthorizationsResponse>, Status> {
        let (md, _, r) = request.into_parts();
        self.run(&md, Access::Read, move |s, p| {
            let all = s.authorizations(p, r.unit.map(UnitId))?;
            let authorizations = all.iter().map(|a| Ok(convert::authorization(a, &s.budget(p, a.id)?))).collect::<Result<_, GovernanceError>>()?;
            Ok(pb::ListAuthorizationsResponse { authorizations })
        })
        .await
    }

    async fn get_authorization(&self, request: Request<pb::GetAuthorizationRequest>) -> Result<Response<pb::AuthorizationView>, Status> {
        let (md, _, r) = request.into_parts();
        let id = AuthorizationId(r.id);
        self.run(&md, Access::Read, move |s, p| Ok(convert::authorization(&s.authorization(p, id)?, &s.budget(p, id)?))).await
    }

    async fn list_privacy_losses(&self, request: Request<pb::ListPrivacyLossesRequest>) -> Result<Response<pb::ListPrivacyLossesResponse>, Status> {
        let (md, _, r) = request.into_parts();
        self.run(&md, Access::Read, move |s, p| {
            let losses = s.privacy_losses(p, r.unit.map(UnitId), r.dataset.as_deref())?;
            Ok(pb::ListPrivacyLossesResponse { losses: losses.iter().map(convert::privacy_loss).collect() })
        })
        .await
    }

    async fn set_loss_cap(&self, request: Request<pb::SetLossCapRequest>) -> Result<Response<pb::PrivacyLoss>, Status> {
        let (md, _, r) = request.into_parts();
        self.run(&md, Access::Write, move |s, p| s.set_loss_cap(p, UnitId(r.unit), &r.dataset, r.epsilon, r.delta).map(|l| convert::privacy_loss(&l)))
            .await
    }

    async fn clear_loss_cap(&self, request: Request<pb::ClearLossCapRequest>) -> Result<Response<pb::PrivacyLoss>, Status> {
        let (md, _, r) = request.into_parts();
        self.run(&md, Access::Write, move |s, p| s.clear_loss_cap(p, UnitId(r.unit), &r.dataset).map(|l| convert::privacy_loss(&l))).await
    }

    async fn list_jobs(&self, request: Request<pb::ListJobsRequest>) -> Result<Response<pb::ListJobsResponse>, Status> {
        let (md, _, r) = request.into_parts();
        let caller = self.caller(&md, Access::Read).await?;
        let status = r.status.as_deref().map(|t| convert::parse_enum(t, "status", JobStatus::parse, convert::JOB_STATUSES)).transpose()?;
        let filter = JobFilter { unit: r.unit.map(UnitId), authorization: r.authorization.map(AuthorizationId), status, limit: r.limit };
        self.run_as(caller, move |s, p| Ok(pb::ListJobsResponse { jobs: s.jobs(p, &filter)?.iter().map(convert::job).collect() })).await
    }

    async fn get_job(&self, request: Request<pb::GetJobRequest>) -> Result<Response<pb::Job>, Status> {
        let (md, _, r) = request.into_parts();
        self.run(&md, Access::Read, move |s, p| s.job(p, JobId(r.id)).map(|j| convert::job(&j))).await
    }

    async fn list_imports(&self, request: Request<pb::ListImportsRequest>) -> Result<Response<pb::ListImportsResponse>, Status> {
        self.run(request.metadata(), Access::Read, |s, p| Ok(pb::ListImportsResponse { imports: s.imports(p)?.iter().map(convert::import).collect() }))
            .await
    }

    async fn review_import(&self, request: Request<pb::ReviewImportRequest>) -> Result<Response<pb::Import>, Status> {
        let (md, _, r) = request.into_parts();
        self.run(&md, Access::Write, move |s, p| s.review_import(p, ImportId(r.id), r.approve).map(|i| convert::import(&i))).await
    }

    async fn list_exports(&self, request: Request<pb::ListExportsRequest>) -> Result<Response<pb::ListExportsResponse>, Status> {
        let (md, _, r) = request.into_parts();
        let caller = self.caller(&md, Access::Read).await?;
        let status = r.status.as_deref().map(|t| convert::parse_enum(t, "status", ExportStatus::parse, convert::EXPORT_STATUSES)).transpose()?;
        self.run_as(caller, move |s, p| Ok(pb::ListExportsResponse { exports: s.exports(p, status)?.iter().map(convert::export).collect() }))
            .await
    }

    async fn review_export(&self, request: Request<pb::ReviewExportRequest>) -> Result<Response<pb::Export>, Status> {
        let (md, _, r) = request.into_parts();
        let decision = if r.approve { ExportDecision::Approve } else { ExportDecision::Reject { reason: r.reason } };
        self.run(&md, Access::Write, move |s, p| s.review_export(p, shuyu_governance::ExportId(r.id), &decision).map(|e| convert::export(&e))).await
    }

    async fn suspend_unit(&self, request: Request<pb::LifecycleRequest>) -> Result<Response<pb::LifecycleResponse>, Status> {
        let (md, _, r) = request.into_parts();
        self.run(&md, Access::Write, move |s, p| s.suspend_unit(p, UnitId(r.id), &r.reason).map(|()| pb::LifecycleResponse { revocation: None })).await
    }

    async fn reinstate_unit(&self, request: Request<pb::LifecycleRequest>) -> Result<Response<pb::LifecycleResponse>, Status> {
        let (md, _, r) = request.into_parts();
        self.run(&md, Access::Write, move |s, p| s.reinstate_unit(p, UnitId(r.id), &r.reason).map(|()| pb::LifecycleResponse { revocation: None })).await
    }

    async fn revoke_unit(&self, request: Request<pb::LifecycleRequest>) -> Result<Response<pb::LifecycleResponse>, Status> {
        let (md, _, r) = request.into_parts();
        self.run(&md, Access::Write, move |s, p| {
            s.revoke_unit(p, UnitId(r.id), &r.reason).map(|rep| pb::LifecycleResponse { revocation: Some(convert::revocation(&rep)) })
        })
        .await
    }

    async fn suspend_authorization(&self, request: Request<pb::LifecycleRequest>) -> Result<Response<pb::LifecycleResponse>, Status> {
        let (md, _, r) = request.into_parts();
        self.run(&md, Access::Write, move |s, p| {
            s.suspend_authorization(p, AuthorizationId(r.id), &r.reason).map(|()| pb::LifecycleResponse { revocation: None })
        })
        .await
    }

    async fn reinstate_authorization(&self, request: Request<pb::LifecycleRequest>) -> Result<Response<pb::LifecycleResponse>, Status> {
        let (md, _, r) = request.into_parts();
        self.run(&md, Access::Write, move |s, p| {
            s.reinstate_authorization(p, AuthorizationId(r.id), &r.reason).map(|()| pb::LifecycleResponse { revocation: None })
        })
        .await
    }

    async fn revoke_authorization(&self, request: Request<pb::LifecycleRequest>) -> Result<Response<pb::LifecycleResponse>, Status> {
        let (md, _, r) = request.into_parts();
        self.run(&md, Access::Write, move |s, p| {
            s.revoke_authorization(p, AuthorizationId(r.id), &r.reason)
                .map(|rep| pb::LifecycleResponse { revocation: Some(convert::revocation(&rep)) })
        })
        .await
    }

    async fn query_audit(&self, request: Request<pb::QueryAuditRequest>) -> Result<Response<pb::QueryAuditResponse>, Status> {
        let (md, _, r) = request.into_parts();
        let caller = self.caller(&md, Access::Read).await?;
        let filter = convert::audit_filter(&r)?;
        self.run_as(caller, move |s, p| {
            Ok(pb::QueryAuditResponse { records: s.audit_records(p, &filter)?.iter().map(convert::audit_record).collect() })
        })
        .await
    }

    async fn verify_audit(&self, request: Request<pb::VerifyAuditRequest>) -> Result<Response<pb::VerifyAuditResponse>, Status> {
        // The chain is verified as a whole; the gate above governance is the role check.
        self.run(request.metadata(), Access::Read, |s, _| s.verify_audit().map(|v| convert::verify_report(&v))).await
    }

    async fn unit_report(&self, request: Request<pb::UnitReportRequest>) -> Result<Response<pb::UnitReportResponse>, Status> {
        let (md, _, r) = request.into_parts();
        let caller = self.caller(&md, Access::Read).await?;
        let from = convert::parse_time(&r.from, "from")?;
        let to = convert::parse_optional_time(Some(&r.to), "to")?.unwrap_or_else(|| self.store.now());
        self.run_as(caller, move |s, p| {
            let report = s.unit_report(p, UnitId(r.unit), from, to)?;
            Ok(pb::UnitReportResponse { json: report.to_json()?, markdown: report.to_markdown() })
        })
        .await
    }

    async fn publish_announcement(&self, request: Request<pb::PublishAnnouncementRequest>) -> Result<Response<pb::Announcement>, Status> {
        workflow::publish_announcement(self, request).await
    }

    async fn list_announcements(&self, request: Request<pb::ListAnnouncementsRequest>) -> Result<Response<pb::ListAnnouncementsResponse>, Status> {
        workflow::list_announcements(self, request).await
    }

    async fn close_announcement(&self, request: Request<pb::CloseAnnouncementRequest>) -> Result<Response<pb::Announcement>, Status> {
        workflow::close_announcement(self, request).await
    }

    async fn submit_application(&self, request: Request<pb::SubmitApplicationRequest>) -> Result<Response<pb::Application>, Status> {
        workflow::submit_application(self, request).await
    }

    async fn withdraw_application(&self, request: Request<pb::WithdrawApplicationRequest>) -> Result<Response<pb::Application>, Status> {
        workflow::withdraw_application(self, request).await
    }

    async fn review_qualification(&self, request: Request<pb::ReviewQualificationRequest>) -> Result<Response<pb::Application>, Status> {
        workflow::review_qualification(self, request).await
    }

    async fn record_expert_opinion(&self, request: Request<pb::RecordExpertOpinionRequest>) -> Result<Response<pb::Application>, Status> {
        workflow::record_expert_opinion(self, request).await
    }

    async fn decide_application(&self, request: Request<pb::DecideApplicationRequest>) -> Result<Response<pb::Application>, Status> {
        workflow::decide_application(self, request).await
    }

    async fn sign_agreement(&self, request: Request<pb::SignAgreementRequest>) -> Result<Response<pb::Agreement>, Status> {
        workflow::sign_agreement(self, request).await
    }

    async fn get_application(&self, request: Request<pb::GetApplicationRequest>) -> Result<Response<pb::Application>, Status> {
        workflow::get_application(self, request).await
    }

    async fn list_applications(&self, request: Request<pb::ListApplicationsRequest>) -> Result<Response<pb::ListApplicationsResponse>, Status> {
        workflow::list_applications(self, request).await
    }

    async fn submit_data_request(&self, request: Request<pb::SubmitDataRequestRequest>) -> Result<Response<pb::DataRequest>, Status> {
        workflow::submit_data_request(self, request).await
    }

    async fn review_data_request(&self, request: Request<pb::ReviewDataRequestRequest>) -> Result<Response<pb::DataRequest>, Status> {
        workflow::review_data_request(self, request).await
    }

    async fn grant_data_request(&self, request: Request<pb::GrantDataRequestRequest>) -> Result<Response<pb::AuthorizationView>, Status> {
        workflow::grant_data_request(self, request).await
    }

    async fn withdraw_data_request(&self, request: Request<pb::WithdrawDataRequestRequest>) -> Result<Response<pb::DataRequest>, Status> {
        workflow::withdraw_data_request(self, request).await
    }

    async fn get_data_request(&self, request: Request<pb::GetDataRequestRequest>) -> Result<Response<pb::DataRequest>, Status> {
        workflow::get_data_request(self, request).await
    }

    async fn list_data_requests(&self, request: Request<pb::ListDataRequestsRequest>) -> Result<Response<pb::ListDataRequestsResponse>, Status> {
        workflow::list_data_requests(self, request).await
    }

    async fn file_issue(&self, request: Request<pb::FileIssueRequest>) -> Result<Response<pb::Issue>, Status> {
        workflow::file_issue(self, request).await
    }

    async fn route_issue(&self, request: Request<pb::RouteIssueRequest>) -> Result<Response<pb::Issue>, Status> {
        workflow::route_issue(self, request).await
    }

    async fn answer_issue(&self, request: Request<pb::AnswerIssueRequest>) -> Result<Response<pb::Issue>, Status> {
        workflow::answer_issue(self, request).await
    }

    async fn update_issue(&self, request: Request<pb::UpdateIssueRequest>) -> Result<Response<pb::Issue>, Status> {
        workflow::update_issue(self, request).await
    }

    async fn list_issues(&self, request: Request<pb::ListIssuesRequest>) -> Result<Response<pb::ListIssuesResponse>, Status> {
        workflow::list_issues(self, request).await
    }

    async fn record_evaluation(&self, request: Request<pb::RecordEvaluationRequest>) -> Result<Response<pb::Evaluation>, Status> {
        workflow::record_evaluation(self, request).await
    }

    async fn report_rectification(&self, request: Request<pb::ReportRectificationRequest>) -> Result<Response<pb::Evaluation>, Status> {
        workflow::report_rectification(self, request).await
    }

    async fn accept_rectification(&self, request: Request<pb::AcceptRectificationRequest>) -> Result<Response<pb::Evaluation>, Status> {
        workflow::accept_rectification(self, request).await
    }

    async fn list_evaluations(&self, request: Request<pb::ListEvaluationsRequest>) -> Result<Response<pb::ListEvaluationsResponse>, Status> {
        workflow::list_evaluations(self, request).await
    }
}

/// Checks the manifest's declarations against the Parquet data at `location` (on the
/// blocking pool: it streams the file). A false declaration, or data that cannot be read,
/// is a usage error saying what to fix.
async fn verify_declarations(manifest: &shuyu_datasets::TableManifest, location: &str) -> Result<shuyu_datasets::DeclarationsVerified, Error> {
    use shuyu_datasets::DatasetsError;
    let (m, path) = (manifest.clone(), std::path::PathBuf::from(location));
    let verified = tokio::task::spawn_blocking(move || shuyu_datasets::verify_parquet(&m, &path))
        .await
        .map_err(|e| Error::Internal(format!("verifying the declarations did not complete: {e}")))?;
    verified.map_err(|e| match e {
        DatasetsError::Declaration(m) => Error::Usage(m),
        DatasetsError::Io { path, .. } => Error::Usage(format!(
            "cannot read {path} to check the manifest's declarations against the data; give the location of the dataset's Parquet file as the server sees it"
        )),
        other => Error::Usage(format!(
            "the data at the location could not be read to check the manifest's declarations ({other}); give the location of the dataset's Parquet file"
        )),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(role: Role) -> Principal {
        Principal { person_id: PersonId(1), unit_id: (role == Role::UnitAnalyst).then_some(UnitId(1)), role }
    }

    #[test]
    fn the_gate_lets_the_bureau_do_everything_supervisors_read_and_everyone_into_the_workflow() {
        for access in [Access::Read, Access::Write] {
            assert!(gate(&principal(Role::BureauAdmin), access).is_ok());
            for role in [Role::UnitAnalyst, Role::Provider, Role::Expert, Role::Applicant] {
                match gate(&principal(role), access) {
                    Err(Error::Denied(m)) => assert!(m.contains("workflow's methods"), "says what is open to them: {m}"),
                    other => panic!("expected a refusal of {role}, got {other:?}"),
                }
            }
        }
        for role in Role::ALL {
            assert!(gate(&principal(role), Access::Workflow).is_ok(), "governance decides for {role}");
        }
        assert!(gate(&principal(Role::Supervisor), Access::Read).is_ok());
        match gate(&principal(Role::Supervisor), Access::Write) {
            Err(Error::Denied(m)) => assert!(m.contains("read-only"), "{m}"),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }
}
