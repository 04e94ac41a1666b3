//! The bureau's and the experts' steps on an application (Art. 9(2)(3)): qualification
//! review, third-party expert opinions, the coordination group's decision (recorded by the
//! bureau), and the signed agreement, which in one transaction creates the unit (or reuses
//! the applicant's own), makes the applicant its analyst and grants the first authorization
//! through the same body as [`Store::grant`].
//!
//! `submitted` -> `expert_review` | `qualification_failed` (bureau) -> opinions (experts, one
//! each) -> `approved` | `rejected` (bureau, with at least the announcement's
//! `min_expert_opinions` opinions) -> `signed` (bureau).

use rusqlite::params;
use serde_json::json;

use crate::sql::OptionalExtension;
use crate::actor::{Principal, Role};
use crate::authorizations;
use crate::clock::to_micros;
use crate::error::{GovernanceError, Result};
use crate::ids::{ApplicationId, PersonId};
use crate::store::Store;
use crate::units;

use super::applications::{load, load_visible, transition, Agreement, AgreementTerms, Application, ApplicationStatus};
use super::{announcements, check_note};

fn require_status(app: &Application, status: ApplicationStatus, step: &str) -> Result<()> {
    if app.status == status {
        Ok(())
    } else {
        Err(GovernanceError::conflict(format!(
            "{} is {}; {step} applies to an application in {status}",
            app.id, app.status
        )))
    }
}

impl Store {
    /// The bureau's qualification review: `submitted` -> `expert_review` (passed) or
    /// `qualification_failed` (a note saying why is required).
    pub fn review_qualification(&self, p: &Principal, id: ApplicationId, passed: bool, note: &str) -> Result<Application> {
        self.act(p, "application.review_qualification", id.to_string(), |tx, actor, now| {
            actor.require(&[Role::BureauAdmin], "review qualifications")?;
            let app = load(tx, id)?;
            require_status(&app, ApplicationStatus::Submitted, "the qualification review")?;
            check_note(note, "note", !passed, "state which qualification failed, so the applicant can act on it")?;
            let to = if passed { ApplicationStatus::ExpertReview } else { ApplicationStatus::QualificationFailed };
            tx.execute("UPDATE applications SET qualification_note = ?1 WHERE id = ?2", params![note, id])?;
            transition(tx, actor, now, &app, to, "application.review_qualification", json!({ "passed": passed }))?;
            load(tx, id)
        })
    }

    /// A third-party expert's opinion, only during expert review; one per expert.
    pub fn record_expert_opinion(&self, p: &Principal, id: ApplicationId, recommend: bool, opinion: &str) -> Result<Application> {
        self.act(p, "application.expert_opinion", id.to_string(), |tx, actor, now| {
            actor.require(&[Role::Expert], "give expert opinions")?;
            let app = load_visible(tx, actor, id)?;
            require_status(&app, ApplicationStatus::ExpertReview, "an expert opinion")?;
            check_note(opinion, "opinion", true, "state the grounds of the opinion")?;
            let given: Option<PersonId> = tx
                .query_row(
                    "SELECT expert_id FROM application_opinions WHERE application_id = ?1 AND expert_id = ?2",
                    params![id, actor.person],
                    |r| r.get(0),
                )
                .optional()?;
            if given.is_some() {
                return Err(GovernanceError::conflict(format!(
                    "you already gave an opinion on {id}; each expert gives one opinion"
                )));
            }
            tx.execute(
                "INSERT INTO application_opinions (application_id, expert_id, recommend, opinion, at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![id, actor.person, recommend, opinion, to_micros(now)],
            )?;
            transition(tx, actor, now, &app, ApplicationStatus::ExpertReview, "application.expert_opinion", json!({ "recommend": recommend }))?;
            load(tx, id)
        })
    }

    /// Records the coordination group's decision (bureau): `expert_review` -> `approved` or
    /// `rejected`. Refused until the application has the announcement's
    /// `min_expert_opinions` opinions.
    pub fn decide_application(&self, p: &Principal, id: ApplicationId, approved: bool, note: &str) -> Result<Application> {
        self.act(p, "application.decide", id.to_string(), |tx, actor, now| {
            actor.require(&[Role::BureauAdmin], "record the coordination group's decision")?;
            let app = load(tx, id)?;
            require_status(&app, ApplicationStatus::ExpertReview, "the decision")?;
            let announcement = announcements::load(tx, app.announcement)?;
            let have = app.opinions.len() as u32;
            if have < announcement.min_expert_opinions {
                return Err(GovernanceError::conflict(format!(
                    "missing approval of the experts: {id} has {have} expert opinion(s) and {} requires {}; ask more experts to review it before the decision",
                    announcement.id, announcement.min_expert_opinions
                )));
            }
            check_note(note, "note", true, "record the coordination group's decision and its grounds")?;
            let to = if approved { ApplicationStatus::Approved } else { ApplicationStatus::Rejected };
            tx.execute("UPDATE applications SET decision_note = ?1 WHERE id = ?2", params![note, id])?;
            let recommended = app.opinions.iter().filter(|o| o.recommend).count();
            transition(tx, actor, now, &app, to, "application.decide", json!({
                "approved": approved,
                "opinions": have,
                "recommended": recommended,
            }))?;
            load(tx, id)
        })
    }

    /// Signs the agreement of an approved application (bureau), in one transaction: creates
    /// the unit from the application's company and credit code (the checks of
    /// [`Store::create_unit`]) — or, when the applicant is already an analyst of the unit
    /// with that credit code, reuses it — makes the applicant the unit's analyst, and grants
    /// the first authorization (the checks of [`Store::grant`]). Any refusal leaves nothing.
    pub fn sign_agreement(&self, p: &Principal, id: ApplicationId, terms: &AgreementTerms) -> Result<Agreement> {
        self.act(p, "application.sign", id.to_string(), |tx, actor, now| {
            actor.require(&[Role::BureauAdmin], "sign agreements")?;
            let app = load(tx, id)?;
            require_status(&app, ApplicationStatus::Approved, "signing")?;
            let applicant = units::load_person(tx, app.applicant)?;
            if !applicant.active {
                return Err(GovernanceError::conflict(format!(
                    "the account of {}'s applicant is deactivated; reactivate or re-register it before signing",
                    id
                )));
            }
            let unit = match (applicant.role, applicant.unit) {
                (Role::UnitAnalyst, Some(own)) => {
                    let u = units::load_unit(tx, own)?;
                    if u.credit_code != app.credit_code {
                        return Err(GovernanceError::conflict(format!(
                            "the applicant of {id} is an analyst of another unit; an analyst applies for its own unit"
                        )));
                    }
                    own
                }
                (Role::Applicant, _) => {
                    let unit = units::insert_unit(tx, actor, now, &app.company, &app.credit_code)?;
                    units::make_analyst(tx, actor, now, app.applicant, unit)?;
                    unit
                }
                (role, _) => {
                    return Err(GovernanceError::conflict(format!(
                        "the applicant of {id} now holds a {role} account; only an applicant or the unit's analyst can become party to an agreement"
                    )))
                }
            };
            let req = terms.for_unit(unit);
            let authorization = authorizations::grant_in(tx, actor, now, &req)?;
            tx.execute(
                "UPDATE applications SET unit_id = ?1, authorization_id = ?2 WHERE id = ?3",
                params![unit, authorization, id],
            )?;
            let signed = Application { unit: Some(unit), ..app };
            transition(tx, actor, now, &signed, ApplicationStatus::Signed, "application.sign", json!({
                "unit": unit.0,
                "authorization": authorization.0,
            }))?;
            Ok(Agreement { unit, authorization })
        })
    }
}
