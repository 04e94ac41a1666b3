//! Per-scenario data requests (Art. 16, 17): a unit's analyst asks for one scenario's data
//! (the terms of a grant, checked like one at once); the bureau and the provider of each
//! requested dataset review it, one review per party; once all approved the bureau grants
//! it, creating the authorization through the same body as [`Store::grant`]. A rejection by
//! any party ends the request.
//!
//! `submitted` -> `rejected` (any party) | `granted` (bureau, every party approved) |
//! `withdrawn` (the unit). Visibility: the bureau and supervisors every request; a provider's
//! staff those naming one of its datasets; a unit its own (another's reads as not found).

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use rusqlite::params;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::sql::{OptionalExtension, Row, Tx};
use crate::actor::{Actor, Principal, Role};
use crate::audit::{self, Entry};
use crate::authorizations::{self, ScenarioTerms};
use crate::catalog;
use crate::clock::{from_micros, to_micros};
use crate::error::{GovernanceError, Result};
use crate::ids::{AuthorizationId, DataRequestId, PersonId, UnitId};
use crate::store::Store;

use super::{check_note, from_json, to_json};

/// A data request: the terms of the authorization asked for (the unit is the requesting
/// analyst's).
pub type NewDataRequest = ScenarioTerms;

text_enum!(
    /// Where a data request stands.
    pub enum RequestStatus {
        /// Under review by the bureau and the providers.
        Submitted => "submitted",
        /// A party rejected it (final).
        Rejected => "rejected",
        /// Granted: the authorization exists (final).
        Granted => "granted",
        /// Withdrawn by the unit (final).
        Withdrawn => "withdrawn",
    }
);

text_enum!(
    /// Who reviews a data request.
    pub enum ReviewParty {
        /// The bureau.
        Bureau => "bureau",
        /// The provider of one of the requested datasets.
        Provider => "provider",
    }
);

/// One party's review of a data request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestReview {
    /// The reviewing party.
    pub party: ReviewParty,
    /// The provider (for a provider's review).
    pub provider: Option<String>,
    /// The reviewing person.
    pub reviewer: PersonId,
    /// Approved or rejected.
    pub approved: bool,
    /// The reviewer's note.
    pub note: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// A stored data request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataRequest {
    /// Identifier.
    pub id: DataRequestId,
    /// The requesting unit.
    pub unit: UnitId,
    /// The requesting analyst.
    pub requested_by: PersonId,
    /// The terms asked for.
    pub terms: NewDataRequest,
    /// Status.
    pub status: RequestStatus,
    /// The providers of the requested datasets (sorted).
    pub providers: Vec<String>,
    /// Reviews given, in order.
    pub reviews: Vec<RequestReview>,
    /// The authorization, once granted.
    pub authorization: Option<AuthorizationId>,
    /// When it was submitted.
    pub submitted_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// The text naming the bureau among the pending parties.
const BUREAU: &str = "bureau";

impl DataRequest {
    /// The parties whose approval is still missing: `"bureau"`, then provider names.
    pub fn pending_parties(&self) -> Vec<String> {
        let approved = |party: ReviewParty, provider: Option<&str>| {
            self.reviews.iter().any(|r| r.party == party && r.provider.as_deref() == provider && r.approved)
        };
        let mut out = Vec::new();
        if !approved(ReviewParty::Bureau, None) {
            out.push(BUREAU.to_string());
        }
        for p in &self.providers {
            if !approved(ReviewParty::Provider, Some(p)) {
                out.push(p.clone());
            }
        }
        out
    }

    fn rejected_by(&self) -> Option<String> {
        self.reviews.iter().find(|r| !r.approved).map(|r| r.provider.clone().unwrap_or_else(|| BUREAU.to_string()))
    }
}

const COLUMNS: &str = "id, unit_id, requested_by, terms_json, status, authorization_id, submitted_at, updated_at";

type RequestRow = (DataRequestId, UnitId, PersonId, String, RequestStatus, Option<AuthorizationId>, i64, i64);

fn row(r: &Row<'_>) -> rusqlite::Result<RequestRow> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?))
}

fn decode(conn: &Tx<'_>, (id, unit, by, terms, status, authorization, submitted, updated): RequestRow) -> Result<DataRequest> {
    let providers = conn
        .prepare("SELECT DISTINCT provider FROM data_request_datasets WHERE request_id = ?1 ORDER BY provider")?
        .query_map([id], |r| r.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let reviews = conn
        .prepare("SELECT party, provider, reviewer_id, approved, note, at FROM data_request_reviews WHERE request_id = ?1 ORDER BY at, party, provider")?
        .query_map([id], |r| {
            Ok((r.get::<_, ReviewParty>(0)?, r.get::<_, String>(1)?, r.get::<_, PersonId>(2)?, r.get::<_, i64>(3)?, r.get::<_, String>(4)?, r.get::<_, i64>(5)?))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?
        .into_iter()
        .map(|(party, provider, reviewer, approved, note, at)| {
            Ok(RequestReview {
                party,
                provider: (party == ReviewParty::Provider).then_some(provider),
                reviewer,
                approved: approved != 0,
                note,
                at: from_micros(at)?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(DataRequest {
        id,
        unit,
        requested_by: by,
        terms: from_json(&terms, "data request terms")?,
        status,
        providers,
        reviews,
        authorization,
        submitted_at: from_micros(submitted)?,
        updated_at: from_micros(updated)?,
    })
}

fn load(conn: &Tx<'_>, id: DataRequestId) -> Result<DataRequest> {
    let r = conn
        .query_row(&format!("SELECT {COLUMNS} FROM data_requests WHERE id = ?1"), [id], row)
        .optional()?
        .ok_or_else(|| GovernanceError::not_found(id.to_string()))?;
    decode(conn, r)
}

/// Loads a request the actor may see: a unit's foreign request reads as not found; a
/// provider not supplying any of its datasets is refused.
fn load_visible(conn: &Tx<'_>, actor: &Actor, id: DataRequestId) -> Result<DataRequest> {
    actor.require(&[Role::BureauAdmin, Role::Supervisor, Role::Provider, Role::UnitAnalyst], "read data requests")?;
    let req = load(conn, id)?;
    if actor.role == Some(Role::Provider) {
        let supplies = actor.provider.as_ref().is_some_and(|p| req.providers.contains(p));
        if !supplies {
            return Err(GovernanceError::denied(format!(
                "{id} requests no dataset of your provider; only the providers of its datasets review it"
            )));
        }
    } else {
        actor.require_owner(req.unit, &id.to_string())?;
    }
    Ok(req)
}

fn set_status(tx: &Tx<'_>, now: DateTime<Utc>, id: DataRequestId, to: RequestStatus) -> Result<()> {
    tx.execute("UPDATE data_requests SET status = ?1, updated_at = ?2 WHERE id = ?3", params![to, to_micros(now), id])?;
    Ok(())
}

fn require_submitted(req: &DataRequest, step: &str) -> Result<()> {
    match req.status {
        RequestStatus::Submitted => Ok(()),
        RequestStatus::Rejected => Err(GovernanceError::conflict(format!(
            "{} was rejected by the {}; a rejected request cannot be {step}; the unit submits a new one",
            req.id,
            req.rejected_by().unwrap_or_else(|| BUREAU.to_string())
        ))),
        other => Err(GovernanceError::conflict(format!("{} is {other}; it can no longer be {step}", req.id))),
    }
}

impl Store {
    /// A unit's analyst requests one scenario's data. Checked at once like a grant (datasets
    /// exist and may be authorized, columns exist, privacy unit granted, budget valid,
    /// scenario name free); a request for the same scenario still under review is refused.
    pub fn submit_data_request(&self, p: &Principal, new: &NewDataRequest) -> Result<DataRequestId> {
        self.act(p, "request.submit", "request", |tx, actor, now| {
            let unit = actor.require_unit("request data for a scenario")?;
            let dataset_ids = authorizations::check_grant(tx, &new.for_unit(unit), now)?;
            let pending: Option<DataRequestId> = tx
                .query_row(
                    "SELECT id FROM data_requests WHERE unit_id = ?1 AND scenario = ?2 AND status = 'submitted'",
                    params![unit, new.scenario],
                    |r| r.get(0),
                )
                .optional()?;
            if let Some(existing) = pending {
                return Err(GovernanceError::conflict(format!(
                    "{existing} for this scenario is still under review; withdraw it or wait for its outcome"
                )));
            }
            let at = to_micros(now);
            let new_id = tx.insert(
                "INSERT INTO data_requests (unit_id, requested_by, scenario, terms_json, status, submitted_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, 'submitted', ?5, ?5)",
                params![unit, actor.person, new.scenario, to_json(new)?, at],
            )?;
            let id = DataRequestId(new_id);
            let mut providers = BTreeSet::new();
            for did in &dataset_ids {
                let d = catalog::load(tx, *did)?;
                tx.execute(
                    "INSERT INTO data_request_datasets (request_id, dataset_id, provider) VALUES (?1, ?2, ?3)",
                    params![id, did, d.manifest.provider],
                )?;
                providers.insert(d.manifest.provider);
            }
            audit::append(
                tx,
                now,
                &Entry::ok(actor, "request.submit", id.to_string()).details(json!({
                    "datasets": dataset_ids.iter().map(|d| d.0).collect::<Vec<_>>(),
                    "providers": providers,
                })),
            )?;
            Ok(id)
        })
    }

    /// A review of a submitted request: the bureau's, or that of the staff of a provider
    /// supplying one of its datasets. One review per party; a rejection (with a note) ends
    /// the request.
    pub fn review_data_request(&self, p: &Principal, id: DataRequestId, approved: bool, note: &str) -> Result<DataRequest> {
        self.act(p, "request.review", id.to_string(), |tx, actor, now| {
            actor.require(&[Role::BureauAdmin, Role::Provider], "review data requests")?;
            let req = load_visible(tx, actor, id)?;
            require_submitted(&req, "reviewed")?;
            let (party, provider) = match actor.role {
                Some(Role::Provider) => (ReviewParty::Provider, actor.provider.clone().unwrap_or_default()),
                _ => (ReviewParty::Bureau, String::new()),
            };
            let done = req.reviews.iter().any(|r| r.party == party && r.provider.clone().unwrap_or_default() == provider);
            if done {
                return Err(GovernanceError::conflict(format!(
                    "your party already reviewed {id}; one review per party"
                )));
            }
            check_note(note, "note", !approved, "state why the request is rejected, so the unit can act on it")?;
            tx.execute(
                "INSERT INTO data_request_reviews (request_id, party, provider, reviewer_id, approved, note, at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![id, party, provider, actor.person, approved, note, to_micros(now)],
            )?;
            set_status(tx, now, id, if approved { RequestStatus::Submitted } else { RequestStatus::Rejected })?;
            audit::append(
                tx,
                now,
                &Entry::ok(actor, "request.review", id.to_string()).unit(req.unit).details(json!({
                    "party": party.as_str(),
                    "provider": (party == ReviewParty::Provider).then_some(provider),
                    "approved": approved,
                })),
            )?;
            load(tx, id)
        })
    }

    /// Grants a request every party approved (bureau): the authorization is created in the
    /// same transaction, with the checks of [`Store::grant`].
    pub fn grant_data_request(&self, p: &Principal, id: DataRequestId) -> Result<AuthorizationId> {
        self.act(p, "request.grant", id.to_string(), |tx, actor, now| {
            actor.require(&[Role::BureauAdmin], "grant data requests")?;
            let req = load(tx, id)?;
            require_submitted(&req, "granted")?;
            let pending = req.pending_parties();
            if !pending.is_empty() {
                return Err(GovernanceError::conflict(format!(
                    "missing approval of {}; {id} is granted once the bureau and every provider of its datasets approved it",
                    pending.join(", ")
                )));
            }
            let authorization = authorizations::grant_in(tx, actor, now, &req.terms.for_unit(req.unit))?;
            tx.execute("UPDATE data_requests SET authorization_id = ?1 WHERE id = ?2", params![authorization, id])?;
            set_status(tx, now, id, RequestStatus::Granted)?;
            audit::append(
                tx,
                now,
                &Entry::ok(actor, "request.grant", id.to_string())
                    .unit(req.unit)
                    .details(json!({ "authorization": authorization.0 })),
            )?;
            Ok(authorization)
        })
    }

    /// The unit withdraws its request before it is granted.
    pub fn withdraw_data_request(&self, p: &Principal, id: DataRequestId) -> Result<DataRequest> {
        self.act(p, "request.withdraw", id.to_string(), |tx, actor, now| {
            actor.require_unit("withdraw its data requests")?;
            let req = load_visible(tx, actor, id)?;
            require_submitted(&req, "withdrawn")?;
            set_status(tx, now, id, RequestStatus::Withdrawn)?;
            audit::append(tx, now, &Entry::ok(actor, "request.withdraw", id.to_string()))?;
            load(tx, id)
        })
    }

    /// One data request (bureau, supervisors, the providers of its datasets, its unit).
    pub fn data_request(&self, p: &Principal, id: DataRequestId) -> Result<DataRequest> {
        self.observe(p, "request.read", id.to_string(), |tx, actor, _| load_visible(tx, actor, id))
    }

    /// Data requests the caller may see, oldest first: the bureau and supervisors all; a
    /// provider those naming its datasets; a unit its own.
    pub fn data_requests(&self, p: &Principal) -> Result<Vec<DataRequest>> {
        self.observe(p, "request.list", "requests", |tx, actor, _| {
            actor.require(&[Role::BureauAdmin, Role::Supervisor, Role::Provider, Role::UnitAnalyst], "list data requests")?;
            let rows = match actor.role {
                Some(Role::Provider) => tx
                    .prepare(&format!(
                        "SELECT {COLUMNS} FROM data_requests WHERE id IN
                         (SELECT request_id FROM data_request_datasets WHERE provider = ?1) ORDER BY id"
                    ))?
                    .query_map([actor.provider.clone().unwrap_or_default()], row)?
                    .collect::<rusqlite::Result<Vec<_>>>()?,
                _ if actor.sees_all_units() => tx
                    .prepare(&format!("SELECT {COLUMNS} FROM data_requests ORDER BY id"))?
                    .query_map((), row)?
                    .collect::<rusqlite::Result<Vec<_>>>()?,
                _ => {
                    let unit = actor.require_unit("list its data requests")?;
                    tx.prepare(&format!("SELECT {COLUMNS} FROM data_requests WHERE unit_id = ?1 ORDER BY id"))?
                        .query_map([unit], row)?
                        .collect::<rusqlite::Result<Vec<_>>>()?
                }
            };
            rows.into_iter().map(|r| decode(tx, r)).collect()
        })
    }
}
