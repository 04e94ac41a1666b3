//! The authorization workflow of the regulation (Art. 9, 11-14, 16, 17, 26), as stored
//! states and the transitions between them. Every transition is one IMMEDIATE transaction
//! with its own audit record (through [`Store::act`](crate::Store)); every refusal is audited.
//!
//! - [`announcements`]: the bureau's annual announcement and its application window (9(1)).
//! - [`applications`]: applications with declared qualifications (12, 13) and attachments,
//!   withdrawn by the applicant, read by the bureau, supervisors, experts and the applicant.
//! - [`decisions`]: qualification review, third-party expert opinions, the coordination
//!   group's decision, and the signed agreement creating the unit and its first
//!   authorization (9(2)(3)).
//! - [`requests`]: per-scenario data requests reviewed by the bureau and by the provider of
//!   each dataset, then granted (16, 17).
//! - [`evaluations`]: annual evaluations, rectification, and suspension when a deadline is
//!   missed (11, 26).
//!
//! Signing an agreement and granting a data request create their authorization through the
//! same function as [`Store::grant`](crate::Store::grant), in the transition's transaction.

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{GovernanceError, Result};
use crate::validate::check_long_text;

pub mod announcements;
pub mod applications;
pub mod decisions;
pub mod evaluations;
pub mod requests;

pub use announcements::{Announcement, NewAnnouncement};
pub use applications::{
    Agreement, AgreementTerms, Application, ApplicationStatus, Attachment, ExpertOpinion,
    NewApplication, Qualifications,
};
pub use evaluations::{Evaluation, EvaluationStatus, NewEvaluation};
pub use requests::{DataRequest, NewDataRequest, RequestReview, RequestStatus, ReviewParty};

/// Serialises a stored JSON column.
pub(crate) fn to_json<T: Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v)
        .map_err(|e| GovernanceError::Internal(format!("serialising failed: {e}")))
}

/// Parses a stored JSON column (`what` names it in the error).
pub(crate) fn from_json<T: DeserializeOwned>(text: &str, what: &str) -> Result<T> {
    serde_json::from_str(text)
        .map_err(|e| GovernanceError::Internal(format!("stored {what} does not parse: {e}")))
}

/// Checks a note or opinion (at most 4000 characters); `required` refuses an empty one.
pub(crate) fn check_note(note: &str, field: &str, required: bool, why: &str) -> Result<()> {
    if required && note.trim().is_empty() {
        return Err(GovernanceError::invalid(field, why.to_string()));
    }
    check_long_text(note, field, 4000)
}

/// A stored time in RFC 3339, for messages (times are not data values).
pub(crate) fn show(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
