//! Applications to an announcement (Art. 9(2), 12, 13): the company, the scenario, the
//! qualifications it declares (each one required) and the digests of its attachments.
//! Submitted by an applicant (or a unit's analyst re-applying for its own unit) while the
//! announcement's window is open; withdrawn by its applicant before the decision.
//!
//! Visibility: the bureau, supervisors and experts read every application; an applicant its
//! own (another's reads as not found); an analyst its own and those signed for its unit.

use chrono::{DateTime, Utc};
use rusqlite::params;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::sql::{OptionalExtension, Row, Tx};
use crate::actor::{Actor, Principal, Role};
use crate::audit::{self, Entry};
use crate::authorizations::ScenarioTerms;
use crate::clock::{from_micros, to_micros};
use crate::error::{GovernanceError, Result};
use crate::ids::{AnnouncementId, ApplicationId, AuthorizationId, PersonId, UnitId};
use crate::store::Store;
use crate::units;
use crate::validate::{check_credit_code, check_long_text, check_text};

use super::{announcements, from_json, to_json};

/// The most attachments one application carries.
const MAX_ATTACHMENTS: usize = 50;

/// Facts an applicant declares (Art. 12 and 13); each must hold to apply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Qualifications {
    /// 12(1): sound operation, the qualifications, staff and capacity the field needs.
    pub good_standing: bool,
    /// 12(2): no major violation by the company or its legal representative.
    pub no_major_violations: bool,
    /// 12(3): not on the list of seriously dishonest entities.
    pub not_dishonest: bool,
    /// 13(1): the named data-security officer and department.
    pub security_officer: String,
    /// 13(2): MLPS level 3 and commercial cryptography assessment practice.
    pub mlps_level3: bool,
    /// 13(3): DSMS certified, DCMM and DSMM level 3 or above.
    pub dsmm_level3: bool,
    /// 13(4): no medium or high risk in the public-data security assessment.
    pub no_high_risk: bool,
}

impl Qualifications {
    /// The first qualification not met, as an `Invalid` naming the field and the article.
    fn check(&self) -> Result<()> {
        let flags = [
            (self.good_standing, "good_standing", "Art. 12(1) requires sound operation and the qualifications, staff and capacity of the field"),
            (self.no_major_violations, "no_major_violations", "Art. 12(2) requires no major violation by the company or its legal representative"),
            (self.not_dishonest, "not_dishonest", "Art. 12(3) excludes companies on the serious-dishonesty list"),
            (self.mlps_level3, "mlps_level3", "Art. 13(2) requires experience with MLPS level 3 systems and commercial cryptography assessment"),
            (self.dsmm_level3, "dsmm_level3", "Art. 13(3) requires DSMS certification and DCMM and DSMM level 3 or above"),
            (self.no_high_risk, "no_high_risk", "Art. 13(4) requires a security assessment without medium or high risks"),
        ];
        for (met, field, rule) in flags {
            if !met {
                return Err(GovernanceError::invalid(
                    format!("qualifications.{field}"),
                    format!("is not met: {rule}; apply once it is"),
                ));
            }
        }
        if self.security_officer.trim().is_empty() {
            return Err(GovernanceError::invalid(
                "qualifications.security_officer",
                "is not met: Art. 13(1) requires a named data-security officer and department",
            ));
        }
        check_text(&self.security_officer, "qualifications.security_officer", 200)
    }
}

/// A document attached to an application, by its SHA-256 (the file stays with the bureau).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    /// File name.
    pub name: String,
    /// SHA-256 of the file, 64 lowercase hex digits.
    pub sha256: String,
}

/// An application to submit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewApplication {
    /// The announcement applied to.
    pub announcement: AnnouncementId,
    /// Registered company name.
    pub company: String,
    /// Unified social credit code.
    pub credit_code: String,
    /// The scenario applied for.
    pub scenario: String,
    /// Purpose of the processing.
    pub purpose: String,
    /// Declared qualifications.
    pub qualifications: Qualifications,
    /// Attached documents.
    pub attachments: Vec<Attachment>,
}

text_enum!(
    /// Where an application stands.
    pub enum ApplicationStatus {
        /// Awaiting the bureau's qualification review.
        Submitted => "submitted",
        /// The qualification review failed (final).
        QualificationFailed => "qualification_failed",
        /// Qualified; third-party experts give their opinions.
        ExpertReview => "expert_review",
        /// The coordination group approved it; the agreement is still to sign.
        Approved => "approved",
        /// The coordination group rejected it (final).
        Rejected => "rejected",
        /// The agreement is signed: the unit and its first authorization exist (final).
        Signed => "signed",
        /// Withdrawn by the applicant (final).
        Withdrawn => "withdrawn",
    }
);

/// One expert's opinion on an application.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpertOpinion {
    /// The expert.
    pub expert: PersonId,
    /// The expert's name.
    pub expert_name: String,
    /// Whether the expert recommends approval.
    pub recommend: bool,
    /// The opinion.
    pub opinion: String,
    /// When it was given.
    pub at: DateTime<Utc>,
}

/// A stored application.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Application {
    /// Identifier.
    pub id: ApplicationId,
    /// The announcement applied to.
    pub announcement: AnnouncementId,
    /// Who applied.
    pub applicant: PersonId,
    /// The applicant's name.
    pub applicant_name: String,
    /// Company name.
    pub company: String,
    /// Unified social credit code.
    pub credit_code: String,
    /// Scenario.
    pub scenario: String,
    /// Purpose.
    pub purpose: String,
    /// Declared qualifications.
    pub qualifications: Qualifications,
    /// Attached documents.
    pub attachments: Vec<Attachment>,
    /// Status.
    pub status: ApplicationStatus,
    /// The bureau's qualification review note.
    pub qualification_note: Option<String>,
    /// Expert opinions, in the order given.
    pub opinions: Vec<ExpertOpinion>,
    /// The coordination group's decision note.
    pub decision_note: Option<String>,
    /// The unit, once the agreement is signed.
    pub unit: Option<UnitId>,
    /// The first authorization, once the agreement is signed.
    pub authorization: Option<AuthorizationId>,
    /// When it was submitted.
    pub submitted_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// The terms of the agreement: the first authorization, for the unit the signing creates.
pub type AgreementTerms = ScenarioTerms;

/// What signing an agreement created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Agreement {
    /// The operating unit (new, or the applicant's own when re-applying).
    pub unit: UnitId,
    /// Its first authorization.
    pub authorization: AuthorizationId,
}

const COLUMNS: &str = "a.id, a.announcement_id, a.applicant_id, p.name, a.company, a.credit_code, a.scenario, a.purpose, \
                       a.qualifications_json, a.attachments_json, a.status, a.qualification_note, a.decision_note, \
                       a.unit_id, a.authorization_id, a.submitted_at, a.updated_at";
const FROM: &str = "FROM applications a JOIN people p ON p.id = a.applicant_id";

struct AppRow {
    app: Application,
    qualifications: String,
    attachments: String,
    submitted: i64,
    updated: i64,
}

fn row(r: &Row<'_>) -> rusqlite::Result<AppRow> {
    Ok(AppRow {
        app: Application {
            id: r.get(0)?,
            announcement: r.get(1)?,
            applicant: r.get(2)?,
            applicant_name: r.get(3)?,
            company: r.get(4)?,
            credit_code: r.get(5)?,
            scenario: r.get(6)?,
            purpose: r.get(7)?,
            qualifications: Qualifications {
                good_standing: false,
                no_major_violations: false,
                not_dishonest: false,
                security_officer: String::new(),
                mlps_level3: false,
                dsmm_level3: false,
                no_high_risk: false,
            },
            attachments: Vec::new(),
            status: r.get(10)?,
            qualification_note: r.get(11)?,
            opinions: Vec::new(),
            decision_note: r.get(12)?,
            unit: r.get(13)?,
            authorization: r.get(14)?,
            submitted_at: DateTime::<Utc>::UNIX_EPOCH,
            updated_at: DateTime::<Utc>::UNIX_EPOCH,
        },
        qualifications: r.get(8)?,
        attachments: r.get(9)?,
        submitted: r.get(15)?,
        updated: r.get(16)?,
    })
}

fn decode(conn: &Tx<'_>, r: AppRow) -> Result<Application> {
    let mut app = r.app;
    app.qualifications = from_json(&r.qualifications, "qualifications")?;
    app.attachments = from_json(&r.attachments, "attachments")?;
    app.submitted_at = from_micros(r.submitted)?;
    app.updated_at = from_micros(r.updated)?;
    let opinions = conn
        .prepare(
            "SELECT o.expert_id, p.name, o.recommend, o.opinion, o.at FROM application_opinions o
             JOIN people p ON p.id = o.expert_id WHERE o.application_id = ?1 ORDER BY o.at, o.expert_id",
        )?
        .query_map([app.id], |r| {
            Ok((r.get::<_, PersonId>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?, r.get::<_, String>(3)?, r.get::<_, i64>(4)?))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    app.opinions = opinions
        .into_iter()
        .map(|(expert, expert_name, recommend, opinion, at)| {
            Ok(ExpertOpinion { expert, expert_name, recommend: recommend != 0, opinion, at: from_micros(at)? })
        })
        .collect::<Result<_>>()?;
    Ok(app)
}

/// Loads an application (no visibility check).
pub(crate) fn load(conn: &Tx<'_>, id: ApplicationId) -> Result<Application> {
    let r = conn
        .query_row(&format!("SELECT {COLUMNS} {FROM} WHERE a.id = ?1"), [id], row)
        .optional()?
        .ok_or_else(|| GovernanceError::not_found(id.to_string()))?;
    decode(conn, r)
}

/// Loads an application the actor may see; another applicant's reads as not found.
pub(crate) fn load_visible(conn: &Tx<'_>, actor: &Actor, id: ApplicationId) -> Result<Application> {
    actor.require(
        &[Role::BureauAdmin, Role::Supervisor, Role::Expert, Role::Applicant, Role::UnitAnalyst],
        "read applications",
    )?;
    let app = load(conn, id)?;
    if visible(actor, &app) {
        Ok(app)
    } else {
        Err(GovernanceError::foreign(id.to_string()))
    }
}

fn visible(actor: &Actor, app: &Application) -> bool {
    matches!(actor.role, Some(Role::BureauAdmin | Role::Supervisor | Role::Expert))
        || actor.person == Some(app.applicant)
        || (app.unit.is_some() && app.unit == actor.unit)
}

/// Sets an application's status (and optionally a note column) and audits `action`.
pub(crate) fn transition(
    tx: &Tx<'_>,
    actor: &Actor,
    now: DateTime<Utc>,
    app: &Application,
    to: ApplicationStatus,
    action: &str,
    details: serde_json::Value,
) -> Result<()> {
    tx.execute(
        "UPDATE applications SET status = ?1, updated_at = ?2 WHERE id = ?3",
        params![to, to_micros(now), app.id],
    )?;
    let mut entry = Entry::ok(actor, action, app.id.to_string()).details(details);
    entry.unit = app.unit.or(actor.unit);
    audit::append(tx, now, &entry)
        .map(|_| ())
}

fn check_attachments(attachments: &[Attachment]) -> Result<()> {
    if attachments.len() > MAX_ATTACHMENTS {
        return Err(GovernanceError::invalid(
            "attachments",
            format!("at most {MAX_ATTACHMENTS} attachments; bundle the rest"),
        ));
    }
    for (i, a) in attachments.iter().enumerate() {
        check_text(&a.name, &format!("attachments[{i}].name"), 200)?;
        let hex = a.sha256.len() == 64 && a.sha256.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !hex {
            return Err(GovernanceError::invalid(
                format!("attachments[{i}].sha256"),
                "must be the file's SHA-256 as 64 lowercase hex digits",
            ));
        }
    }
    Ok(())
}

impl Store {
    /// Submits an application (an applicant, or a unit's analyst re-applying for its own
    /// unit) while the announcement's window is open. Refused when a qualification is not
    /// met (naming the article), when the window is not open, or when the applicant already
    /// has an application pending on this announcement.
    pub fn submit_application(&self, p: &Principal, new: &NewApplication) -> Result<ApplicationId> {
        self.act(p, "application.submit", new.announcement.to_string(), |tx, actor, now| {
            actor.require(&[Role::Applicant, Role::UnitAnalyst], "submit applications")?;
            let announcement = announcements::load(tx, new.announcement)?;
            announcement.require_open(now)?;
            check_text(&new.company, "company", 200)?;
            let code = new.credit_code.trim().to_ascii_uppercase();
            check_credit_code(&code, "credit_code")?;
            let registered = units::unit_by_credit_code(tx, &code)?;
            match (actor.unit, registered) {
                (Some(own), Some(u)) if own == u => {}
                (Some(_), _) => {
                    return Err(GovernanceError::invalid(
                        "credit_code",
                        "an analyst re-applies for its own unit: use the unit's credit code",
                    ))
                }
                (None, Some(u)) => {
                    return Err(GovernanceError::conflict(format!(
                        "this credit code is already registered as {u}; its analysts apply for it"
                    )))
                }
                (None, None) => {}
            }
            check_text(&new.scenario, "scenario", 200)?;
            if new.purpose.trim().is_empty() {
                return Err(GovernanceError::invalid("purpose", "must state the purpose of the processing"));
            }
            check_long_text(&new.purpose, "purpose", 4000)?;
            new.qualifications.check()?;
            check_attachments(&new.attachments)?;
            let pending: Option<ApplicationId> = tx
                .query_row(
                    "SELECT id FROM applications WHERE announcement_id = ?1 AND applicant_id = ?2
                     AND status IN ('submitted', 'expert_review', 'approved')",
                    params![new.announcement, actor.person],
                    |r| r.get(0),
                )
                .optional()?;
            if let Some(existing) = pending {
                return Err(GovernanceError::conflict(format!(
                    "{existing} on this announcement is still pending; withdraw it before applying again"
                )));
            }
            let at = to_micros(now);
            let new_id = tx.insert(
                "INSERT INTO applications (announcement_id, applicant_id, company, credit_code, scenario, purpose,
                    qualifications_json, attachments_json, status, submitted_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'submitted', ?9, ?9)",
                params![
                    new.announcement,
                    actor.person,
                    new.company,
                    code,
                    new.scenario,
                    new.purpose,
                    to_json(&new.qualifications)?,
                    to_json(&new.attachments)?,
                    at
                ],
            )?;
            let id = ApplicationId(new_id);
            audit::append(
                tx,
                now,
                &Entry::ok(actor, "application.submit", id.to_string()).details(json!({
                    "announcement": new.announcement.0,
                    "attachments": new.attachments.len(),
                })),
            )?;
            Ok(id)
        })
    }

    /// The applicant withdraws its application before the coordination group decides.
    pub fn withdraw_application(&self, p: &Principal, id: ApplicationId) -> Result<Application> {
        self.act(p, "application.withdraw", id.to_string(), |tx, actor, now| {
            actor.require(&[Role::Applicant, Role::UnitAnalyst], "withdraw applications")?;
            let app = load_visible(tx, actor, id)?;
            if actor.person != Some(app.applicant) {
                return Err(GovernanceError::denied(format!("only the applicant of {id} may withdraw it")));
            }
            if !matches!(app.status, ApplicationStatus::Submitted | ApplicationStatus::ExpertReview) {
                return Err(GovernanceError::conflict(format!(
                    "{id} is {}; an application is withdrawn only before the decision",
                    app.status
                )));
            }
            transition(tx, actor, now, &app, ApplicationStatus::Withdrawn, "application.withdraw", json!({}))?;
            load(tx, id)
        })
    }

    /// One application (bureau, supervisors, experts; an applicant or analyst its own).
    pub fn application(&self, p: &Principal, id: ApplicationId) -> Result<Application> {
        self.observe(p, "application.read", id.to_string(), |tx, actor, _| load_visible(tx, actor, id))
    }

    /// Applications the caller may see, oldest first (an applicant or analyst: its own).
    pub fn applications(&self, p: &Principal) -> Result<Vec<Application>> {
        self.observe(p, "application.list", "applications", |tx, actor, _| {
            actor.require(
                &[Role::BureauAdmin, Role::Supervisor, Role::Expert, Role::Applicant, Role::UnitAnalyst],
                "list applications",
            )?;
            let rows = tx
                .prepare(&format!(
                    "SELECT {COLUMNS} {FROM} WHERE ?1 OR a.applicant_id = ?2 OR (a.unit_id IS NOT NULL AND a.unit_id = ?3) ORDER BY a.id"
                ))?
                .query_map(params![actor.sees_all_units() || actor.role == Some(Role::Expert), actor.person, actor.unit], row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            rows.into_iter().map(|r| decode(tx, r)).collect()
        })
    }
}
