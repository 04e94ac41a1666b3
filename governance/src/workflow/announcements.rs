//! Annual announcements (Art. 9(1)): the bureau publishes the year's authorization
//! conditions and the window in which applications are accepted, and how many third-party
//! expert opinions an application needs before the coordination group decides.

use chrono::{DateTime, Utc};
use rusqlite::params;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::sql::{OptionalExtension, Row, Tx};
use crate::actor::{Principal, Role};
use crate::audit::{self, Entry};
use crate::clock::{from_micros, to_micros};
use crate::error::{GovernanceError, Result};
use crate::ids::{AnnouncementId, PersonId};
use crate::store::Store;
use crate::validate::{check_long_text, check_text};

use super::show;

/// The most expert opinions an announcement may require.
const MAX_EXPERT_OPINIONS: u32 = 50;

/// An announcement to publish.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewAnnouncement {
    /// The year it concerns.
    pub year: i32,
    /// Title.
    pub title: String,
    /// The authorization mode and the application conditions (free text).
    pub conditions: String,
    /// Applications are accepted from this time.
    pub opens_at: DateTime<Utc>,
    /// Until this time (exclusive).
    pub closes_at: DateTime<Utc>,
    /// Expert opinions an application needs before the decision (at least 1).
    pub min_expert_opinions: u32,
}

/// A published announcement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Announcement {
    /// Identifier.
    pub id: AnnouncementId,
    /// The year it concerns.
    pub year: i32,
    /// Title.
    pub title: String,
    /// Authorization mode and application conditions.
    pub conditions: String,
    /// Applications are accepted from this time.
    pub opens_at: DateTime<Utc>,
    /// Until this time (exclusive).
    pub closes_at: DateTime<Utc>,
    /// Expert opinions an application needs before the decision.
    pub min_expert_opinions: u32,
    /// Who published it.
    pub published_by: PersonId,
    /// When.
    pub published_at: DateTime<Utc>,
}

impl Announcement {
    /// Whether applications are accepted at `now` (`opens_at <= now < closes_at`).
    pub fn is_open(&self, now: DateTime<Utc>) -> bool {
        self.opens_at <= now && now < self.closes_at
    }

    /// Refuses unless the window is open at `now`, saying when it opens or closed.
    pub(crate) fn require_open(&self, now: DateTime<Utc>) -> Result<()> {
        if now < self.opens_at {
            Err(GovernanceError::conflict(format!(
                "the application window of {} opens at {}; submit the application then",
                self.id,
                show(self.opens_at)
            )))
        } else if now >= self.closes_at {
            Err(GovernanceError::conflict(format!(
                "the application window of {} closed at {}; wait for the next announcement",
                self.id,
                show(self.closes_at)
            )))
        } else {
            Ok(())
        }
    }
}

const COLUMNS: &str =
    "id, year, title, conditions, opens_at, closes_at, min_expert_opinions, published_by, published_at";

type AnnouncementRow = (AnnouncementId, i32, String, String, i64, i64, u32, PersonId, i64);

fn row(r: &Row<'_>) -> rusqlite::Result<AnnouncementRow> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?, r.get(8)?))
}

fn decode((id, year, title, conditions, opens, closes, min, by, at): AnnouncementRow) -> Result<Announcement> {
    Ok(Announcement {
        id,
        year,
        title,
        conditions,
        opens_at: from_micros(opens)?,
        closes_at: from_micros(closes)?,
        min_expert_opinions: min,
        published_by: by,
        published_at: from_micros(at)?,
    })
}

/// Loads an announcement.
pub(crate) fn load(conn: &Tx<'_>, id: AnnouncementId) -> Result<Announcement> {
    conn.query_row(&format!("SELECT {COLUMNS} FROM announcements WHERE id = ?1"), [id], row)
        .optional()?
        .map(decode)
        .transpose()?
        .ok_or_else(|| GovernanceError::not_found(id.to_string()))
}

fn check(new: &NewAnnouncement, now: DateTime<Utc>) -> Result<()> {
    if !(2000..=9999).contains(&new.year) {
        return Err(GovernanceError::invalid("year", "must be a four-digit year"));
    }
    check_text(&new.title, "title", 200)?;
    if new.conditions.trim().is_empty() {
        return Err(GovernanceError::invalid(
            "conditions",
            "state the authorization mode and the application conditions (Art. 9(1))",
        ));
    }
    check_long_text(&new.conditions, "conditions", 8000)?;
    if new.opens_at >= new.closes_at {
        return Err(GovernanceError::invalid("closes_at", "must be after opens_at"));
    }
    if new.closes_at <= now {
        return Err(GovernanceError::invalid(
            "closes_at",
            "is already past; choose a closing time in the future",
        ));
    }
    if !(1..=MAX_EXPERT_OPINIONS).contains(&new.min_expert_opinions) {
        return Err(GovernanceError::invalid(
            "min_expert_opinions",
            format!("must be between 1 and {MAX_EXPERT_OPINIONS}: every application is reviewed by third-party experts (Art. 9(2))"),
        ));
    }
    Ok(())
}

impl Store {
    /// Publishes an announcement (bureau).
    pub fn publish_announcement(&self, p: &Principal, new: &NewAnnouncement) -> Result<AnnouncementId> {
        self.act(p, "announcement.publish", "announcement", |tx, actor, now| {
            actor.require(&[Role::BureauAdmin], "publish announcements")?;
            check(new, now)?;
            let new_id = tx.insert(
                "INSERT INTO announcements (year, title, conditions, opens_at, closes_at, min_expert_opinions, published_by, published_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    new.year,
                    new.title,
                    new.conditions,
                    to_micros(new.opens_at),
                    to_micros(new.closes_at),
                    new.min_expert_opinions,
                    actor.person,
                    to_micros(now)
                ],
            )?;
            let id = AnnouncementId(new_id);
            audit::append(
                tx,
                now,
                &Entry::ok(actor, "announcement.publish", id.to_string()).details(json!({
                    "year": new.year,
                    "opens_at": to_micros(new.opens_at),
                    "closes_at": to_micros(new.closes_at),
                    "min_expert_opinions": new.min_expert_opinions,
                })),
            )?;
            Ok(id)
        })
    }

    /// Every announcement, oldest first (any signed-in role).
    pub fn announcements(&self, p: &Principal) -> Result<Vec<Announcement>> {
        self.observe(p, "announcement.list", "announcements", |tx, _, _| {
            let rows = tx
                .prepare(&format!("SELECT {COLUMNS} FROM announcements ORDER BY id"))?
                .query_map((), row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            rows.into_iter().map(decode).collect()
        })
    }

    /// Closes an announcement's window now (bureau). Applications already submitted go on;
    /// no new one is accepted. Closing before the window opened leaves it empty.
    pub fn close_announcement(&self, p: &Principal, id: AnnouncementId) -> Result<Announcement> {
        self.act(p, "announcement.close", id.to_string(), |tx, actor, now| {
            actor.require(&[Role::BureauAdmin], "close announcements")?;
            let a = load(tx, id)?;
            if a.closes_at <= now {
                return Err(GovernanceError::conflict(format!(
                    "{id} already closed at {}",
                    show(a.closes_at)
                )));
            }
            let closes = now.max(a.opens_at);
            tx.execute(
                "UPDATE announcements SET closes_at = ?1 WHERE id = ?2",
                params![to_micros(closes), id],
            )?;
            audit::append(
                tx,
                now,
                &Entry::ok(actor, "announcement.close", id.to_string())
                    .details(json!({ "closes_at": to_micros(closes) })),
            )?;
            load(tx, id)
        })
    }
}
