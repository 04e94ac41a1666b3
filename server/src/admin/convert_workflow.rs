//! Between governance's workflow types (announcements, applications, agreements, data
//! requests, quality issues, evaluations) and the admin service's messages. The terms of
//! agreements and data requests travel as the grant's own message,
//! [`pb::GrantAuthorizationRequest`] without its unit, and are parsed by the grant's
//! [`convert::new_authorization`]: one syntax and one set of form checks for all three.

use chrono::{DateTime, Utc};
use shuyu_governance as gov;
use shuyu_proto::admin::v1 as pb;

use super::convert::{self, parse_enum, parse_optional_time, parse_time, time};
use crate::Error;

/// The issue statuses' names.
pub const ISSUE_STATUSES: &[&str] = &["open", "routed", "in_progress", "resolved"];

/// An announcement, open or not at `now`.
pub fn announcement(a: &gov::Announcement, now: DateTime<Utc>) -> pb::Announcement {
    pb::Announcement {
        id: a.id.0,
        year: a.year,
        title: a.title.clone(),
        conditions: a.conditions.clone(),
        opens_at: time(a.opens_at),
        closes_at: time(a.closes_at),
        min_expert_opinions: a.min_expert_opinions,
        published_by: a.published_by.0,
        published_at: time(a.published_at),
        open: a.is_open(now),
    }
}

/// A new announcement (an empty `opens_at` opens it `now`).
pub fn new_announcement(r: &pb::PublishAnnouncementRequest, now: DateTime<Utc>) -> Result<gov::NewAnnouncement, Error> {
    Ok(gov::NewAnnouncement {
        year: r.year,
        title: r.title.clone(),
        conditions: r.conditions.clone(),
        opens_at: parse_optional_time(Some(&r.opens_at), "opens_at")?.unwrap_or(now),
        closes_at: required_time(&r.closes_at, "closes_at", "the end of the application window")?,
        min_expert_opinions: r.min_expert_opinions,
    })
}

/// A required RFC 3339 time; its absence is a usage error saying what it is.
fn required_time(text: &str, field: &str, what: &str) -> Result<DateTime<Utc>, Error> {
    parse_optional_time(Some(text), field)?.ok_or_else(|| Error::Usage(format!("{field} is required: {what} (RFC 3339)")))
}

fn qualifications(q: &gov::Qualifications) -> pb::Qualifications {
    pb::Qualifications {
        good_standing: q.good_standing,
        no_major_violations: q.no_major_violations,
        not_dishonest: q.not_dishonest,
        security_officer: q.security_officer.clone(),
        mlps_level3: q.mlps_level3,
        dsmm_level3: q.dsmm_level3,
        no_high_risk: q.no_high_risk,
    }
}

/// An application with its opinions.
pub fn application(a: &gov::Application) -> pb::Application {
    pb::Application {
        id: a.id.0,
        announcement: a.announcement.0,
        applicant: a.applicant.0,
        applicant_name: a.applicant_name.clone(),
        company: a.company.clone(),
        credit_code: a.credit_code.clone(),
        scenario: a.scenario.clone(),
        purpose: a.purpose.clone(),
        qualifications: Some(qualifications(&a.qualifications)),
        attachments: a.attachments.iter().map(|x| pb::Attachment { name: x.name.clone(), sha256: x.sha256.clone() }).collect(),
        status: a.status.to_string(),
        qualification_note: a.qualification_note.clone(),
        opinions: a
            .opinions
            .iter()
            .map(|o| pb::ExpertOpinion { expert: o.expert.0, expert_name: o.expert_name.clone(), recommend: o.recommend, opinion: o.opinion.clone(), at: time(o.at) })
            .collect(),
        decision_note: a.decision_note.clone(),
        unit: a.unit.map(|u| u.0),
        authorization: a.authorization.map(|x| x.0),
        submitted_at: time(a.submitted_at),
        updated_at: time(a.updated_at),
    }
}

/// A new application. Undeclared qualifications read as not met (governance names the
/// article).
pub fn new_application(r: &pb::SubmitApplicationRequest) -> gov::NewApplication {
    let q = r.qualifications.clone().unwrap_or_default();
    gov::NewApplication {
        announcement: gov::AnnouncementId(r.announcement),
        company: r.company.clone(),
        credit_code: r.credit_code.clone(),
        scenario: r.scenario.clone(),
        purpose: r.purpose.clone(),
        qualifications: gov::Qualifications {
            good_standing: q.good_standing,
            no_major_violations: q.no_major_violations,
            not_dishonest: q.not_dishonest,
            security_officer: q.security_officer,
            mlps_level3: q.mlps_level3,
            dsmm_level3: q.dsmm_level3,
            no_high_risk: q.no_high_risk,
        },
        attachments: r.attachments.iter().map(|a| gov::Attachment { name: a.name.clone(), sha256: a.sha256.clone() }).collect(),
    }
}

/// The terms of an agreement or a data request, from the grant's message without its unit.
fn terms(r: Option<&pb::GrantAuthorizationRequest>, of: &str, now: DateTime<Utc>) -> Result<gov::NewAuthorization, Error> {
    let r = r.ok_or_else(|| Error::Usage(format!("terms are required: the {of}'s scenario, datasets, term and budget")))?;
    if r.unit != 0 {
        return Err(Error::Usage(format!(
            "leave terms.unit unset: the {of} names no unit ({})",
            if of == "agreement" { "signing admits the applicant's unit" } else { "a data request is the caller's unit's" }
        )));
    }
    convert::new_authorization(r, now)
}

/// The terms of an agreement.
pub fn agreement_terms(r: Option<&pb::GrantAuthorizationRequest>, now: DateTime<Utc>) -> Result<gov::AgreementTerms, Error> {
    let t = terms(r, "agreement", now)?;
    Ok(gov::AgreementTerms {
        scenario: t.scenario,
        purpose: t.purpose,
        partners: t.partners,
        datasets: t.datasets,
        term_start: t.term_start,
        term_end: t.term_end,
        rights: t.rights,
        mode: t.mode,
        privacy: t.privacy,
        budget: t.budget,
        export_policy: t.export_policy,
    })
}

/// The terms of a data request.
pub fn new_data_request(r: Option<&pb::GrantAuthorizationRequest>, now: DateTime<Utc>) -> Result<gov::NewDataRequest, Error> {
    let t = terms(r, "data request", now)?;
    Ok(gov::NewDataRequest {
        scenario: t.scenario,
        purpose: t.purpose,
        partners: t.partners,
        datasets: t.datasets,
        term_start: t.term_start,
        term_end: t.term_end,
        rights: t.rights,
        mode: t.mode,
        privacy: t.privacy,
        budget: t.budget,
        export_policy: t.export_policy,
    })
}

/// A data request's terms as the grant's message, naming the requesting unit.
fn request_terms(unit: gov::UnitId, t: &gov::NewDataRequest) -> pb::GrantAuthorizationRequest {
    pb::GrantAuthorizationRequest {
        unit: unit.0,
        scenario: t.scenario.clone(),
        purpose: t.purpose.clone(),
        partners: t.partners.clone(),
        datasets: t.datasets.iter().map(|d| pb::GrantedDataset { dataset: d.dataset.clone(), columns: d.columns.clone() }).collect(),
        term_start: time(t.term_start),
        term_end: time(t.term_end),
        rights: t.rights.iter().map(|r| r.to_string()).collect(),
        price_cents: match t.mode {
            gov::Mode::Free => None,
            gov::Mode::Paid { price_cents } => Some(price_cents),
        },
        privacy: t.privacy.kind.to_string(),
        delta: t.privacy.delta,
        budget_total: t.budget.total,
        per_query_cap: t.budget.per_query_cap,
        per_query_default: t.budget.per_query_default,
        export_policy: t.export_policy.to_string(),
        delta_total: t.budget.delta_total,
    }
}

/// A data request with its reviews and who still has to approve it.
pub fn data_request(r: &gov::DataRequest) -> pb::DataRequest {
    pb::DataRequest {
        id: r.id.0,
        unit: r.unit.0,
        requested_by: r.requested_by.0,
        terms: Some(request_terms(r.unit, &r.terms)),
        status: r.status.to_string(),
        providers: r.providers.clone(),
        reviews: r
            .reviews
            .iter()
            .map(|v| pb::RequestReview {
                party: v.party.to_string(),
                provider: v.provider.clone(),
                reviewer: v.reviewer.0,
                approved: v.approved,
                note: v.note.clone(),
                at: time(v.at),
            })
            .collect(),
        pending: r.pending_parties(),
        authorization: r.authorization.map(|a| a.0),
        submitted_at: time(r.submitted_at),
        updated_at: time(r.updated_at),
    }
}

/// A quality issue.
pub fn issue(q: &gov::QualityIssue) -> pb::Issue {
    pb::Issue {
        id: q.id.0,
        unit: q.unit.0,
        dataset: q.dataset.0,
        dataset_name: q.dataset_name.clone(),
        provider: q.provider.clone(),
        title: q.title.clone(),
        description: q.description.clone(),
        status: q.status.to_string(),
        filed_by: q.filed_by.0,
        filed_at: time(q.filed_at),
        updated_at: time(q.updated_at),
        resolution: q.resolution.clone(),
        deadline: q.deadline.map(time),
        routed_at: q.routed_at.map(time),
        overdue: q.overdue,
    }
}

/// An issue's new status.
pub fn issue_status(text: &str) -> Result<gov::IssueStatus, Error> {
    parse_enum(text, "status", gov::IssueStatus::parse, ISSUE_STATUSES)
}

/// The deadline of routing an issue.
pub fn issue_deadline(text: &str) -> Result<DateTime<Utc>, Error> {
    if text.trim().is_empty() {
        return Err(Error::Usage("deadline is required: by when the provider must answer (RFC 3339, in the future)".into()));
    }
    parse_time(text, "deadline")
}

/// A unit's evaluation.
pub fn evaluation(e: &gov::Evaluation) -> pb::Evaluation {
    pb::Evaluation {
        id: e.id.0,
        unit: e.unit.0,
        unit_name: e.unit_name.clone(),
        year: e.year,
        score: e.score,
        findings: e.findings.clone(),
        rectification_deadline: e.rectification_deadline.map(time),
        rectification: e.rectification.clone(),
        status: e.status.to_string(),
        evaluated_by: e.evaluated_by.0,
        evaluated_at: time(e.evaluated_at),
        updated_at: time(e.updated_at),
    }
}

/// A new evaluation.
pub fn new_evaluation(r: &pb::RecordEvaluationRequest) -> Result<gov::NewEvaluation, Error> {
    Ok(gov::NewEvaluation {
        unit: gov::UnitId(r.unit),
        year: r.year,
        score: r.score,
        findings: r.findings.clone(),
        rectification_deadline: parse_optional_time(r.rectification_deadline.as_deref(), "rectification_deadline")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms_message() -> pb::GrantAuthorizationRequest {
        pb::GrantAuthorizationRequest {
            scenario: "mobility".into(),
            purpose: "commuting".into(),
            datasets: vec![pb::GrantedDataset { dataset: "residents".into(), columns: vec!["person_id".into(), "district".into()] }],
            term_end: "2030-01-01T00:00:00Z".into(),
            rights: vec!["processing_use".into()],
            price_cents: Some(100),
            privacy: "zcdp".into(),
            delta: 1e-6,
            budget_total: 1.0,
            per_query_cap: 0.25,
            per_query_default: 0.05,
            export_policy: "review".into(),
            ..Default::default()
        }
    }

    #[test]
    fn request_terms_are_the_grant_message_and_round_trip() {
        let now = parse_time("2026-01-01T00:00:00Z", "now").expect("time");
        let t = new_data_request(Some(&terms_message()), now).expect("terms");
        assert_eq!(t.term_start, now, "an empty start is now");
        let back = request_terms(gov::UnitId(7), &t);
        let expected = pb::GrantAuthorizationRequest { unit: 7, term_start: "2026-01-01T00:00:00Z".into(), ..terms_message() };
        assert_eq!(back, expected);
        assert!(agreement_terms(Some(&terms_message()), now).is_ok());
    }

    #[test]
    fn terms_naming_a_unit_or_missing_are_refused_saying_why() {
        let now = Utc::now();
        let with_unit = pb::GrantAuthorizationRequest { unit: 3, ..terms_message() };
        match agreement_terms(Some(&with_unit), now) {
            Err(Error::Usage(m)) => assert!(m.contains("leave terms.unit unset") && m.contains("admits"), "{m}"),
            other => panic!("expected a usage error, got {other:?}"),
        }
        match new_data_request(None, now) {
            Err(Error::Usage(m)) => assert!(m.starts_with("terms are required"), "{m}"),
            other => panic!("expected a usage error, got {other:?}"),
        }
    }

    #[test]
    fn deadlines_and_statuses_are_checked_for_form() {
        assert!(matches!(issue_deadline(" "), Err(Error::Usage(m)) if m.starts_with("deadline is required")));
        assert!(matches!(issue_status("closed"), Err(Error::Usage(m)) if m == "status must be one of: open, routed, in_progress, resolved"));
        let r = pb::PublishAnnouncementRequest { year: 2027, title: "t".into(), closes_at: String::new(), ..Default::default() };
        assert!(matches!(new_announcement(&r, Utc::now()), Err(Error::Usage(m)) if m.starts_with("closes_at is required")));
    }
}
