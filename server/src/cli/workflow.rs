//! `shuyu admin announcement|application|request|quality|evaluation …`: the authorization
//! workflow on the command line, one admin call per verb. Each party runs its own steps
//! with its own `--token`: the bureau publishes, reviews, decides, signs, grants and routes;
//! applicants apply; experts give opinions; analysts request data, file issues and report
//! rectifications; providers' staff review requests and answer issues.

use shuyu_proto::admin::v1 as pb;

use super::admin::{show, terms_request, Client};
use super::workflow_args::*;
use crate::output::Format;
use crate::Error;

/// Runs one admin call: `call!(client, format, method, message)`.
macro_rules! call {
    ($c:expr, $f:expr, $method:ident, $message:expr) => {{
        let request = $c.request($message);
        show($c.inner.$method(request).await.map_err(Error::Remote)?, $f)
    }};
}

/// Splits `name:sha256` into an attachment (the digest after the last colon).
pub fn attachment(text: &str) -> Result<pb::Attachment, Error> {
    let bad = || Error::Usage(format!("--attachment {text}: write the document's name and SHA-256 digest as name:sha256 (64 hex digits)"));
    let (name, sha256) = text.rsplit_once(':').ok_or_else(bad)?;
    let (name, sha256) = (name.trim(), sha256.trim());
    if name.is_empty() || sha256.len() != 64 || !sha256.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(bad());
    }
    Ok(pb::Attachment { name: name.to_string(), sha256: sha256.to_ascii_lowercase() })
}

/// The application message of `application submit`.
pub fn application_request(a: Apply) -> Result<pb::SubmitApplicationRequest, Error> {
    let attachments = a.attachments.iter().map(|t| attachment(t)).collect::<Result<Vec<_>, _>>()?;
    let d = a.declared;
    Ok(pb::SubmitApplicationRequest {
        announcement: a.announcement,
        company: a.company,
        credit_code: a.credit_code,
        scenario: a.scenario,
        purpose: a.purpose,
        qualifications: Some(pb::Qualifications {
            good_standing: d.good_standing,
            no_major_violations: d.no_major_violations,
            not_dishonest: d.not_dishonest,
            security_officer: d.security_officer,
            mlps_level3: d.mlps_level3,
            dsmm_level3: d.dsmm_level3,
            no_high_risk: d.no_high_risk,
        }),
        attachments,
    })
}

/// `shuyu admin announcement …`
pub(crate) async fn announcement(c: &mut Client, cmd: AnnouncementCmd, f: Format) -> Result<String, Error> {
    match cmd {
        AnnouncementCmd::Publish { year, title, conditions, opens_at, closes_at, min_expert_opinions } => call!(
            c,
            f,
            publish_announcement,
            pb::PublishAnnouncementRequest { year, title, conditions, opens_at: opens_at.unwrap_or_default(), closes_at, min_expert_opinions }
        ),
        AnnouncementCmd::List => call!(c, f, list_announcements, pb::ListAnnouncementsRequest {}),
        AnnouncementCmd::Close { id } => call!(c, f, close_announcement, pb::CloseAnnouncementRequest { id }),
    }
}

/// `shuyu admin application …`
pub(crate) async fn application(c: &mut Client, cmd: ApplicationCmd, f: Format) -> Result<String, Error> {
    match cmd {
        ApplicationCmd::Submit(a) => call!(c, f, submit_application, application_request(*a)?),
        ApplicationCmd::List => call!(c, f, list_applications, pb::ListApplicationsRequest {}),
        ApplicationCmd::Show { id } => call!(c, f, get_application, pb::GetApplicationRequest { id }),
        ApplicationCmd::Withdraw { id } => call!(c, f, withdraw_application, pb::WithdrawApplicationRequest { id }),
        ApplicationCmd::Review { id, outcome, note } => {
            call!(c, f, review_qualification, pb::ReviewQualificationRequest { id, passed: outcome.pass, note })
        }
        ApplicationCmd::Opinion { id, recommendation, opinion } => {
            call!(c, f, record_expert_opinion, pb::RecordExpertOpinionRequest { id, recommend: recommendation.recommend, opinion })
        }
        ApplicationCmd::Decide { id, verdict, note } => call!(c, f, decide_application, pb::DecideApplicationRequest { id, approved: verdict.approve, note }),
        ApplicationCmd::Sign { id, terms } => call!(c, f, sign_agreement, pb::SignAgreementRequest { id, terms: Some(terms_request(*terms, 0)?) }),
    }
}

/// `shuyu admin request …`
pub(crate) async fn request(c: &mut Client, cmd: RequestCmd, f: Format) -> Result<String, Error> {
    match cmd {
        RequestCmd::Submit(terms) => call!(c, f, submit_data_request, pb::SubmitDataRequestRequest { terms: Some(terms_request(*terms, 0)?) }),
        RequestCmd::List => call!(c, f, list_data_requests, pb::ListDataRequestsRequest {}),
        RequestCmd::Show { id } => call!(c, f, get_data_request, pb::GetDataRequestRequest { id }),
        RequestCmd::Review { id, verdict, note } => call!(c, f, review_data_request, pb::ReviewDataRequestRequest { id, approved: verdict.approve, note }),
        RequestCmd::Grant { id } => call!(c, f, grant_data_request, pb::GrantDataRequestRequest { id }),
        RequestCmd::Withdraw { id } => call!(c, f, withdraw_data_request, pb::WithdrawDataRequestRequest { id }),
    }
}

/// `shuyu admin quality …`
pub(crate) async fn quality(c: &mut Client, cmd: QualityCmd, f: Format) -> Result<String, Error> {
    match cmd {
        QualityCmd::File { dataset, title, description } => call!(c, f, file_issue, pb::FileIssueRequest { dataset, title, description }),
        QualityCmd::List => call!(c, f, list_issues, pb::ListIssuesRequest {}),
        QualityCmd::Route { id, deadline } => call!(c, f, route_issue, pb::RouteIssueRequest { id, deadline }),
        QualityCmd::Answer { id, answer } => call!(c, f, answer_issue, pb::AnswerIssueRequest { id, answer }),
        QualityCmd::Update { id, status, resolution } => call!(c, f, update_issue, pb::UpdateIssueRequest { id, status, resolution }),
    }
}

/// `shuyu admin evaluation …`
pub(crate) async fn evaluation(c: &mut Client, cmd: EvaluationCmd, f: Format) -> Result<String, Error> {
    match cmd {
        EvaluationCmd::Record { unit, year, score, findings, rectification_deadline } => {
            call!(c, f, record_evaluation, pb::RecordEvaluationRequest { unit, year, score, findings, rectification_deadline })
        }
        EvaluationCmd::List => call!(c, f, list_evaluations, pb::ListEvaluationsRequest {}),
        EvaluationCmd::Rectify { id, report } => call!(c, f, report_rectification, pb::ReportRectificationRequest { id, report }),
        EvaluationCmd::Accept { id } => call!(c, f, accept_rectification, pb::AcceptRectificationRequest { id }),
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::admin::{AdminArgs, Resource};

    /// `shuyu admin …` parsed as the binary parses it.
    #[derive(Parser, Debug)]
    struct Cli {
        #[command(flatten)]
        admin: AdminArgs,
    }

    fn parse(args: &[&str]) -> Result<Resource, clap::Error> {
        Cli::try_parse_from(std::iter::once("admin").chain(args.iter().copied())).map(|c| c.admin.resource)
    }

    const TERMS: &[&str] = &["--scenario", "mobility", "--purpose", "commuting", "--dataset", "residents:person_id,district", "--term-end", "2030-01-01T00:00:00Z", "--total", "1", "--cap", "0.25", "--default", "0.05"];

    #[test]
    fn a_data_request_takes_the_grant_flags_without_a_unit() {
        let mut args = vec!["request", "submit"];
        args.extend_from_slice(TERMS);
        let Ok(Resource::Request(RequestCmd::Submit(terms))) = parse(&args) else { panic!("parses: {args:?}") };
        let message = terms_request(*terms, 0).expect("terms");
        assert_eq!((message.unit, message.scenario.as_str(), message.privacy.as_str()), (0, "mobility", "pure_dp"));
        assert_eq!(message.datasets, [pb::GrantedDataset { dataset: "residents".into(), columns: vec!["person_id".into(), "district".into()] }]);
        assert_eq!((message.budget_total, message.per_query_cap, message.rights.as_slice()), (1.0, 0.25, ["processing_use".to_string()].as_slice()));
        args.extend_from_slice(&["--unit", "3"]);
        assert!(parse(&args).is_err(), "a request names no unit: it is the caller's");
    }

    #[test]
    fn signing_takes_the_same_terms_and_grant_still_takes_its_unit() {
        let mut args = vec!["application", "sign", "4"];
        args.extend_from_slice(TERMS);
        let Ok(Resource::Application(ApplicationCmd::Sign { id, terms })) = parse(&args) else { panic!("parses: {args:?}") };
        assert_eq!((id, terms.scenario.as_str()), (4, "mobility"));
        let mut grant = vec!["authorization", "grant", "--unit", "2"];
        grant.extend_from_slice(TERMS);
        let Ok(Resource::Authorization(crate::cli::admin::AuthorizationCmd::Grant(g))) = parse(&grant) else { panic!("parses: {grant:?}") };
        assert_eq!(terms_request(g.terms, g.unit).expect("terms").unit, 2);
    }

    #[test]
    fn verdicts_are_one_of_two_flags() {
        let Ok(Resource::Application(ApplicationCmd::Review { outcome, .. })) = parse(&["application", "review", "1", "--fail", "--note", "12(3)"]) else {
            panic!("parses")
        };
        assert!(outcome.fail && !outcome.pass);
        assert!(parse(&["application", "review", "1", "--note", "x"]).is_err(), "--pass or --fail is required");
        assert!(parse(&["request", "review", "1", "--approve", "--reject", "--note", "x"]).is_err(), "not both");
        let Ok(Resource::Application(ApplicationCmd::Opinion { recommendation, .. })) = parse(&["application", "opinion", "1", "--recommend", "--opinion", "sound"]) else {
            panic!("parses")
        };
        assert!(recommendation.recommend);
    }

    #[test]
    fn applications_declare_qualifications_and_attach_digests() {
        let digest = "ab".repeat(32);
        let attached = format!("licence.pdf:{digest}");
        let args = [
            "application", "submit", "--announcement", "1", "--company", "nanhu", "--credit-code", "91220103MA0000003X", "--scenario", "mobility",
            "--purpose", "commuting", "--good-standing", "--security-officer", "security dept", "--attachment", &attached,
        ];
        let Ok(Resource::Application(ApplicationCmd::Submit(a))) = parse(&args) else { panic!("parses") };
        let message = application_request(*a).expect("message");
        let q = message.qualifications.expect("declared");
        assert!(q.good_standing && !q.not_dishonest, "only what is declared is met");
        assert_eq!(message.attachments, [pb::Attachment { name: "licence.pdf".into(), sha256: digest }]);
        match attachment("licence.pdf:abc") {
            Err(Error::Usage(m)) => assert!(m.contains("name:sha256"), "{m}"),
            other => panic!("expected a usage error, got {other:?}"),
        }
    }

    #[test]
    fn quality_and_evaluation_verbs_parse() {
        assert!(matches!(parse(&["quality", "route", "5", "--deadline", "2030-01-01T00:00:00Z"]), Ok(Resource::Quality(QualityCmd::Route { id: 5, .. }))));
        assert!(matches!(parse(&["quality", "answer", "5", "--answer", "fixed"]), Ok(Resource::Quality(QualityCmd::Answer { id: 5, .. }))));
        assert!(matches!(parse(&["evaluation", "accept", "2"]), Ok(Resource::Evaluation(EvaluationCmd::Accept { id: 2 }))));
        assert!(matches!(parse(&["announcement", "close", "1"]), Ok(Resource::Announcement(AnnouncementCmd::Close { id: 1 }))));
        assert!(parse(&["evaluation", "record", "--unit", "1", "--year", "2026", "--findings", "x"]).is_err(), "--score is required");
    }
}
