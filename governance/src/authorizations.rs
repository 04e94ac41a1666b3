//! Authorizations (授权运营协议): one unit, one scenario, the exact columns, a term, a budget.
//!
//! A grant is checked whole before anything is written; the first fault is returned as
//! [`GovernanceError::Invalid`] naming the field (`datasets[1].columns[0]`) and what to change.
//! Terms expire on their own: the status shown and enforced is computed from the store's
//! clock at use time.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension, Row};
use serde::{Deserialize, Serialize};
use serde_json::json;
use shuyu_datasets::TableManifest;
use shuyu_privacy::PrivacyDefinition;

use crate::access::{self, Principal, Role};
use crate::amount::{Atto, Nano};
use crate::audit::{self, Entry};
use crate::catalog;
use crate::clock::{from_micros, to_micros};
use crate::error::{GovernanceError, Result};
use crate::ids::{AuthorizationId, DatasetId, UnitId};
use crate::ledger::{self, Budget};
use crate::store::Store;
use crate::units::{self, UnitStatus};
use crate::validate::{check_long_text, check_text};

text_enum!(
    /// A right granted by an authorization (Art. 16).
    pub enum Right {
        /// Use the data in processing (加工使用权).
        ProcessingUse => "processing_use",
        /// Operate the resulting data products (产品经营权): needed to export them.
        ProductOperation => "product_operation",
    }
);

/// The privacy terms of an authorization: the definition its amounts are in, and the delta
/// one query may use.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PrivacyTerms {
    /// Pure DP (epsilon) or zCDP (rho); stored as `"pure_dp"` or `"zcdp"`.
    pub kind: PrivacyDefinition,
    /// The most delta one query may use (partition selection); 0 disables partition
    /// selection. The ledger charges each query's delta against the authorization's delta
    /// total ([`BudgetTerms::delta_total`]).
    pub delta: f64,
}

text_enum!(
    /// How results leave the domain (Art. 25).
    pub enum ExportPolicy {
        /// DP aggregates are released automatically under the approved scenario.
        Automatic => "automatic",
        /// The bureau reviews each export.
        Review => "review",
    }
);

text_enum!(
    /// Standing of an authorization, as enforced now.
    pub enum AuthorizationStatus {
        /// In force.
        Active => "active",
        /// Granted, but the term has not started.
        Pending => "pending",
        /// Stopped by the bureau until reinstated.
        Suspended => "suspended",
        /// Ended by the bureau for good.
        Revoked => "revoked",
        /// The term is over.
        Expired => "expired",
    }
);

/// Free (public interest) or paid (commercial) use (Art. 20).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum Mode {
    /// Free of charge.
    Free,
    /// Paid, at this price in cents (fen).
    Paid {
        /// Price in cents (fen).
        price_cents: u64,
    },
}

/// A dataset and the exact columns granted on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantedDataset {
    /// Dataset name in the catalog.
    pub dataset: String,
    /// Granted columns (minimum necessary).
    pub columns: Vec<String>,
}

/// Budget terms of a grant, in the definition's unit (epsilon or rho).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BudgetTerms {
    /// Total budget of the authorization (> 0).
    pub total: f64,
    /// Most one query may spend (≤ total).
    pub per_query_cap: f64,
    /// What a query spends when it names no cost (0 < default ≤ cap).
    pub per_query_default: f64,
    /// Total delta of the authorization, over all its queries (`privacy.delta` ≤ total < 1;
    /// 0 when `privacy.delta` is 0). `None`: [`default_delta_total`].
    #[serde(default)]
    pub delta_total: Option<f64>,
}

/// A grant request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewAuthorization {
    /// The operating unit.
    pub unit: UnitId,
    /// Scenario name, unique within the unit.
    pub scenario: String,
    /// Purpose of the processing.
    pub purpose: String,
    /// Partners named in the agreement.
    pub partners: Vec<String>,
    /// Datasets and columns.
    pub datasets: Vec<GrantedDataset>,
    /// Start of the term.
    pub term_start: DateTime<Utc>,
    /// End of the term (exclusive).
    pub term_end: DateTime<Utc>,
    /// Rights.
    pub rights: Vec<Right>,
    /// Free or paid.
    pub mode: Mode,
    /// Privacy definition and per-query delta.
    pub privacy: PrivacyTerms,
    /// Budget.
    pub budget: BudgetTerms,
    /// Export policy.
    pub export_policy: ExportPolicy,
}

/// A stored authorization.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Authorization {
    /// Identifier.
    pub id: AuthorizationId,
    /// The operating unit.
    pub unit: UnitId,
    /// Scenario name.
    pub scenario: String,
    /// Purpose.
    pub purpose: String,
    /// Partners.
    pub partners: Vec<String>,
    /// Datasets and columns.
    pub datasets: Vec<GrantedDataset>,
    /// Start of the term.
    pub term_start: DateTime<Utc>,
    /// End of the term (exclusive).
    pub term_end: DateTime<Utc>,
    /// Rights.
    pub rights: Vec<Right>,
    /// Free or paid.
    pub mode: Mode,
    /// Privacy definition and per-query delta.
    pub privacy: PrivacyTerms,
    /// Total budget (nano-units).
    pub total_budget: Nano,
    /// Per-query cap.
    pub per_query_cap: Nano,
    /// Per-query default.
    pub per_query_default: Nano,
    /// Total delta over all queries (atto-units).
    pub delta_total: Atto,
    /// Export policy.
    pub export_policy: ExportPolicy,
    /// Standing now (expiry computed from the clock).
    pub status: AuthorizationStatus,
    /// When it was granted.
    pub granted_at: DateTime<Utc>,
}

/// One table of a scenario's session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScopedTable {
    /// The dataset.
    pub dataset: DatasetId,
    /// The manifest cut down to the granted columns (a grant on a personal table always
    /// includes its privacy-unit column, so the privacy unit stays declared).
    pub manifest: TableManifest,
    /// The granted columns (what a query may reference and release).
    pub granted_columns: Vec<String>,
    /// Where the data is.
    pub location: String,
}

/// Everything a query session of one scenario may see.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scope {
    /// The authorization.
    pub authorization: Authorization,
    /// Its budget now.
    pub budget: Budget,
    /// The tables and columns it grants.
    pub tables: Vec<ScopedTable>,
}

/// The stored row of an authorization (what the ledger and jobs check).
#[derive(Debug, Clone)]
pub(crate) struct AuthRow {
    pub(crate) id: AuthorizationId,
    pub(crate) unit: UnitId,
    pub(crate) scenario: String,
    pub(crate) stored_status: String,
    pub(crate) term_start: i64,
    pub(crate) term_end: i64,
    pub(crate) privacy: PrivacyDefinition,
    pub(crate) total: Nano,
    pub(crate) cap: Nano,
    pub(crate) spent: Nano,
    pub(crate) reserved: Nano,
    pub(crate) export_policy: ExportPolicy,
    /// Per-query delta, as granted.
    pub(crate) delta: f64,
    pub(crate) delta_total: Atto,
    pub(crate) delta_spent: Atto,
    pub(crate) delta_reserved: Atto,
}

const AUTH_ROW: &str = "id, unit_id, scenario, status, term_start, term_end, privacy, total_nano, cap_nano, spent_nano, reserved_nano, export_policy, \
                        delta, delta_total_atto, delta_spent_atto, delta_reserved_atto";

fn auth_row(r: &Row<'_>) -> rusqlite::Result<AuthRow> {
    Ok(AuthRow {
        id: r.get(0)?,
        unit: r.get(1)?,
        scenario: r.get(2)?,
        stored_status: r.get(3)?,
        term_start: r.get(4)?,
        term_end: r.get(5)?,
        privacy: r.get(6)?,
        total: r.get(7)?,
        cap: r.get(8)?,
        spent: r.get(9)?,
        reserved: r.get(10)?,
        export_policy: r.get(11)?,
        delta: r.get(12)?,
        delta_total: r.get(13)?,
        delta_spent: r.get(14)?,
        delta_reserved: r.get(15)?,
    })
}

/// The most delta one query may be charged: the per-query delta rounded up to the atto, so a
/// query that uses exactly the granted per-query delta is accepted.
pub(crate) fn per_query_delta(delta: f64) -> Result<Atto> {
    Atto::charge(delta, "privacy.delta")
}

/// The delta total an authorization gets when the bureau names none (and what version 3 of
/// the schema gave existing authorizations): the per-query delta times the number of queries
/// at the per-query default that the total allows, `⌊total / default⌋` (0 when the
/// per-query delta is 0). A unit that keeps to the default cost can use the per-query delta
/// in every query its budget allows; cheaper queries share that total.
pub fn default_delta_total(delta: f64, total: Nano, default: Nano) -> Result<Atto> {
    let per_query = per_query_delta(delta)?;
    let queries = total.nanos().checked_div(default.nanos()).unwrap_or(0);
    // Below 1 (a delta of 1 guarantees nothing; the store refuses it).
    let limit = Atto(crate::amount::ATTOS_PER_UNIT - 1);
    let product = u128::from(per_query.attos()) * u128::from(queries);
    Ok(Atto(u64::try_from(product).unwrap_or(u64::MAX)).min(limit))
}

impl AuthRow {
    /// Standing at `now`.
    pub(crate) fn status(&self, now: DateTime<Utc>) -> AuthorizationStatus {
        effective_status(&self.stored_status, self.term_start, self.term_end, now)
    }
}

fn effective_status(stored: &str, start: i64, end: i64, now: DateTime<Utc>) -> AuthorizationStatus {
    let now = to_micros(now);
    match stored {
        "revoked" => AuthorizationStatus::Revoked,
        _ if now >= end => AuthorizationStatus::Expired,
        "suspended" => AuthorizationStatus::Suspended,
        _ if now < start => AuthorizationStatus::Pending,
        _ => AuthorizationStatus::Active,
    }
}

/// Loads the row of an authorization.
pub(crate) fn load_row(conn: &Connection, id: AuthorizationId) -> Result<AuthRow> {
    conn.query_row(
        &format!("SELECT {AUTH_ROW} FROM authorizations WHERE id = ?1"),
        [id],
        auth_row,
    )
    .optional()?
    .ok_or_else(|| GovernanceError::not_found(id.to_string()))
}

/// Refuses unless the authorization is active, in term, and its unit active.
pub(crate) fn require_usable(conn: &Connection, row: &AuthRow, now: DateTime<Utc>) -> Result<()> {
    let id = row.id;
    match row.status(now) {
        AuthorizationStatus::Active => {}
        AuthorizationStatus::Pending => {
            return Err(GovernanceError::denied(format!(
                "the term of {id} has not started yet; wait for its start date"
            )))
        }
        AuthorizationStatus::Expired => {
            return Err(GovernanceError::denied(format!(
                "the term of {id} has ended; ask the bureau for a renewal"
            )))
        }
        AuthorizationStatus::Suspended => {
            return Err(GovernanceError::denied(format!(
                "{id} is suspended by the bureau until reinstated"
            )))
        }
        AuthorizationStatus::Revoked => {
            return Err(GovernanceError::denied(format!(
                "{id} is revoked; its access has ended"
            )))
        }
    }
    access::check_unit_active(conn, row.unit)
}

/// The rights an authorization grants.
pub(crate) fn rights(conn: &Connection, id: AuthorizationId) -> Result<Vec<Right>> {
    let text: String = conn
        .query_row(
            "SELECT rights_json FROM authorizations WHERE id = ?1",
            [id],
            |r| r.get(0),
        )
        .optional()?
        .ok_or_else(|| GovernanceError::not_found(id.to_string()))?;
    serde_json::from_str(&text)
        .map_err(|e| GovernanceError::Internal(format!("stored rights of {id}: {e}")))
}

/// Refuses unless the authorization grants `right`; `doing` says what needs it.
pub(crate) fn require_right(
    conn: &Connection,
    id: AuthorizationId,
    right: Right,
    doing: &str,
) -> Result<()> {
    if rights(conn, id)?.contains(&right) {
        return Ok(());
    }
    let name = match right {
        Right::ProcessingUse => "processing_use (加工使用权)",
        Right::ProductOperation => "product_operation (产品经营权)",
    };
    Err(GovernanceError::denied(format!(
        "{id} does not grant the {name} right, which {doing} requires; \
         ask the bureau for an authorization that grants it"
    )))
}

/// Loads a full authorization.
pub(crate) fn load(
    conn: &Connection,
    id: AuthorizationId,
    now: DateTime<Utc>,
) -> Result<Authorization> {
    type Raw = (
        UnitId,
        String,
        String,
        String,
        i64,
        i64,
        String,
        String,
        Option<i64>,
        PrivacyDefinition,
    );
    type Raw2 = (f64, Nano, Nano, Nano, ExportPolicy, String, i64, Atto);
    let (raw, raw2): (Raw, Raw2) = conn
        .query_row(
            "SELECT unit_id, scenario, purpose, partners_json, term_start, term_end, rights_json, mode, price_cents, privacy,
                    delta, total_nano, cap_nano, default_nano, export_policy, status, granted_at, delta_total_atto
             FROM authorizations WHERE id = ?1",
            [id],
            |r| {
                Ok((
                    (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?, r.get(8)?, r.get(9)?),
                    (r.get(10)?, r.get(11)?, r.get(12)?, r.get(13)?, r.get(14)?, r.get(15)?, r.get(16)?, r.get(17)?),
                ))
            },
        )
        .optional()?
        .ok_or_else(|| GovernanceError::not_found(id.to_string()))?;
    let (unit, scenario, purpose, partners, start, end, rights, mode, price, kind) = raw;
    let (delta, total, cap, default, export_policy, stored_status, granted_at, delta_total) = raw2;
    let parse = |text: &str| -> Result<serde_json::Value> {
        serde_json::from_str(text)
            .map_err(|e| GovernanceError::Internal(format!("stored JSON of {id}: {e}")))
    };
    let partners: Vec<String> = serde_json::from_value(parse(&partners)?)
        .map_err(|e| GovernanceError::Internal(format!("stored partners of {id}: {e}")))?;
    let rights: Vec<Right> = serde_json::from_value(parse(&rights)?)
        .map_err(|e| GovernanceError::Internal(format!("stored rights of {id}: {e}")))?;
    let mode = match (mode.as_str(), price) {
        ("paid", Some(p)) => Mode::Paid {
            price_cents: u64::try_from(p).unwrap_or(0),
        },
        _ => Mode::Free,
    };
    Ok(Authorization {
        id,
        unit,
        scenario,
        purpose,
        partners,
        datasets: granted(conn, id)?.into_iter().map(|(_, g)| g).collect(),
        term_start: from_micros(start)?,
        term_end: from_micros(end)?,
        rights,
        mode,
        privacy: PrivacyTerms { kind, delta },
        total_budget: total,
        per_query_cap: cap,
        per_query_default: default,
        delta_total,
        export_policy,
        status: effective_status(&stored_status, start, end, now),
        granted_at: from_micros(granted_at)?,
    })
}

/// The datasets and columns granted by an authorization, in grant order of dataset name.
pub(crate) fn granted(
    conn: &Connection,
    id: AuthorizationId,
) -> Result<Vec<(DatasetId, GrantedDataset)>> {
    let mut stmt = conn.prepare(
        "SELECT d.id, d.name, d.manifest_json, g.column_name FROM grants g JOIN datasets d ON d.id = g.dataset_id
         WHERE g.authorization_id = ?1 ORDER BY d.name",
    )?;
    let rows = stmt
        .query_map([id], |r| {
            Ok((
                r.get::<_, DatasetId>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut out: Vec<(DatasetId, GrantedDataset, TableManifest)> = Vec::new();
    for (did, name, manifest, column) in rows {
        if out.last().map(|(d, _, _)| *d) != Some(did) {
            let manifest: TableManifest = serde_json::from_str(&manifest)
                .map_err(|e| GovernanceError::Internal(format!("stored manifest of {did}: {e}")))?;
            out.push((
                did,
                GrantedDataset {
                    dataset: name,
                    columns: Vec::new(),
                },
                manifest,
            ));
        }
        if let Some((_, g, _)) = out.last_mut() {
            g.columns.push(column);
        }
    }
    // Columns in the manifest's order, so the session matches the file.
    Ok(out
        .into_iter()
        .map(|(d, mut g, m)| {
            g.columns
                .sort_by_key(|c| m.columns.iter().position(|mc| &mc.name == c));
            (d, g)
        })
        .collect())
}

/// Checks a grant request whole; returns the dataset ids and amounts to write.
fn check_request(
    conn: &Connection,
    req: &NewAuthorization,
    now: DateTime<Utc>,
) -> Result<(Vec<DatasetId>, [Nano; 3], Atto)> {
    let unit = units::load_unit(conn, req.unit)
        .map_err(|_| GovernanceError::invalid("unit", "names no registered unit"))?;
    if unit.status != UnitStatus::Active {
        return Err(GovernanceError::invalid(
            "unit",
            format!(
                "{} is {}; reinstate it before granting",
                req.unit, unit.status
            ),
        ));
    }
    check_text(&req.scenario, "scenario", 200)?;
    check_long_text(&req.purpose, "purpose", 4000)?;
    if req.purpose.trim().is_empty() {
        return Err(GovernanceError::invalid(
            "purpose",
            "must state the purpose of the processing",
        ));
    }
    for (i, partner) in req.partners.iter().enumerate() {
        check_text(partner, &format!("partners[{i}]"), 200)?;
    }
    if req.datasets.is_empty() {
        return Err(GovernanceError::invalid(
            "datasets",
            "grant at least one dataset",
        ));
    }
    let mut ids = Vec::new();
    let mut seen = HashSet::new();
    for (i, g) in req.datasets.iter().enumerate() {
        let field = format!("datasets[{i}]");
        if !seen.insert(g.dataset.as_str()) {
            return Err(GovernanceError::invalid(
                format!("{field}.dataset"),
                "is granted twice; merge its columns into one entry",
            ));
        }
        let Some(d) = catalog::load_by_name(conn, &g.dataset)? else {
            return Err(GovernanceError::invalid(
                format!("{field}.dataset"),
                "names no dataset in the catalog; register it first or fix the name",
            ));
        };
        if !d.manifest.classification.is_authorizable() {
            return Err(GovernanceError::invalid(
                format!("{field}.dataset"),
                "has a classification level (state secret or public safety) that may never be authorized (Art. 8); remove it",
            ));
        }
        if g.columns.is_empty() {
            return Err(GovernanceError::invalid(
                format!("{field}.columns"),
                "grant at least one column",
            ));
        }
        let mut cols = HashSet::new();
        for (j, c) in g.columns.iter().enumerate() {
            if d.manifest.column(c).is_none() {
                return Err(GovernanceError::invalid(
                    format!("{field}.columns[{j}]"),
                    format!(
                        "is not a column of dataset {}; list only columns of its manifest",
                        g.dataset
                    ),
                ));
            }
            if !cols.insert(c.as_str()) {
                return Err(GovernanceError::invalid(
                    format!("{field}.columns[{j}]"),
                    "is listed twice",
                ));
            }
        }
        if let Some(unit) = &d.manifest.privacy_unit {
            if !cols.contains(unit.column.as_str()) {
                return Err(GovernanceError::invalid(
                    format!("{field}.columns"),
                    format!(
                        "must include the privacy-unit column {}: queries need it to bound each \
                         unit's contribution (it is never output)",
                        unit.column
                    ),
                ));
            }
        }
        ids.push(d.id);
    }
    if req.term_start >= req.term_end {
        return Err(GovernanceError::invalid(
            "term.end",
            "must be after term.start",
        ));
    }
    if req.term_end <= now {
        return Err(GovernanceError::invalid(
            "term.end",
            "is already past; choose an end date in the future",
        ));
    }
    if req.rights.is_empty() {
        return Err(GovernanceError::invalid(
            "rights",
            "grant processing_use, product_operation or both",
        ));
    }
    if let Mode::Paid { price_cents } = req.mode {
        if price_cents == 0 || price_cents > i64::MAX as u64 {
            return Err(GovernanceError::invalid(
                "mode.price_cents",
                "a paid mode needs a positive price; use free mode for public-interest use",
            ));
        }
    }
    let delta = req.privacy.delta;
    if !(delta.is_finite() && (0.0..1.0).contains(&delta)) {
        return Err(GovernanceError::invalid(
            "privacy.delta",
            "must be at least 0 and below 1 (typically below 1e-6)",
        ));
    }
    let b = req.budget;
    let unit_name = req.privacy.kind.unit_name();
    let total = Nano::grant_decimal(b.total, "budget.total")?;
    if total == Nano::ZERO {
        return Err(GovernanceError::invalid(
            "budget.total",
            format!("must be greater than 0 (in {unit_name})"),
        ));
    }
    let cap = Nano::grant_decimal(b.per_query_cap, "budget.per_query_cap")?;
    if cap == Nano::ZERO {
        return Err(GovernanceError::invalid(
            "budget.per_query_cap",
            format!("must be greater than 0 (in {unit_name})"),
        ));
    }
    if cap > total {
        return Err(GovernanceError::invalid(
            "budget.per_query_cap",
            "must not exceed budget.total; lower the cap or raise the total",
        ));
    }
    let default = Nano::grant_decimal(b.per_query_default, "budget.per_query_default")?;
    if default == Nano::ZERO {
        return Err(GovernanceError::invalid(
            "budget.per_query_default",
            format!("must be greater than 0 (in {unit_name})"),
        ));
    }
    if default > cap {
        return Err(GovernanceError::invalid(
            "budget.per_query_default",
            "must not exceed budget.per_query_cap",
        ));
    }
    let delta_total = check_delta_total(req.privacy.delta, b.delta_total, total, default)?;
    let taken: Option<i64> = conn
        .query_row(
            "SELECT id FROM authorizations WHERE unit_id = ?1 AND scenario = ?2",
            params![req.unit, req.scenario],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(existing) = taken {
        return Err(GovernanceError::conflict(format!(
            "the unit already holds authorization {existing} for this scenario name; one scenario, one authorization: pick another name"
        )));
    }
    Ok((ids, [total, cap, default], delta_total))
}

/// The delta total of a grant: the bureau's, checked against the per-query delta, or the
/// default.
fn check_delta_total(delta: f64, asked: Option<f64>, total: Nano, default: Nano) -> Result<Atto> {
    let Some(asked) = asked else {
        return default_delta_total(delta, total, default);
    };
    if !(asked.is_finite() && (0.0..1.0).contains(&asked)) {
        return Err(GovernanceError::invalid("budget.delta_total", "must be at least 0 and below 1"));
    }
    let delta_total = Atto::grant_decimal(asked, "budget.delta_total")?;
    let per_query = per_query_delta(delta)?;
    if per_query == Atto::ZERO && delta_total > Atto::ZERO {
        return Err(GovernanceError::invalid(
            "budget.delta_total",
            "must be 0 or absent when privacy.delta is 0 (no query may use delta); set privacy.delta to allow partition selection",
        ));
    }
    if delta_total < per_query {
        return Err(GovernanceError::invalid(
            "budget.delta_total",
            format!("must be at least privacy.delta ({per_query}), the delta of one query; raise it or lower privacy.delta"),
        ));
    }
    Ok(delta_total)
}

fn json_text<T: Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v)
        .map_err(|e| GovernanceError::Internal(format!("serialising failed: {e}")))
}

impl Store {
    /// Grants an authorization (bureau). Refused whole, with the field at fault, if any part
    /// is invalid; nothing is written then.
    pub fn grant(&self, p: &Principal, req: &NewAuthorization) -> Result<AuthorizationId> {
        self.act(p, "authorization.grant", req.unit.to_string(), |tx, actor, now| {
            actor.require(&[Role::BureauAdmin], "grant authorizations")?;
            let (dataset_ids, [total, cap, default], delta_total) = check_request(tx, req, now)?;
            let (mode, price) = match req.mode {
                Mode::Free => ("free", None),
                Mode::Paid { price_cents } => ("paid", Some(price_cents as i64)),
            };
            tx.execute(
                "INSERT INTO authorizations (unit_id, scenario, purpose, partners_json, term_start, term_end, rights_json,
                    mode, price_cents, privacy, delta, total_nano, cap_nano, default_nano, export_policy, status,
                    spent_nano, reserved_nano, granted_by, granted_at, status_changed_at, delta_total_atto)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, 'active', 0, 0, ?16, ?17, ?17, ?18)",
                params![
                    req.unit,
                    req.scenario,
                    req.purpose,
                    json_text(&req.partners)?,
                    to_micros(req.term_start),
                    to_micros(req.term_end),
                    json_text(&req.rights)?,
                    mode,
                    price,
                    req.privacy.kind,
                    req.privacy.delta,
                    total,
                    cap,
                    default,
                    req.export_policy,
                    actor.person,
                    to_micros(now),
                    delta_total
                ],
            )?;
            let id = AuthorizationId(tx.last_insert_rowid());
            let mut stmt = tx.prepare("INSERT INTO grants (authorization_id, dataset_id, column_name) VALUES (?1, ?2, ?3)")?;
            for (g, did) in req.datasets.iter().zip(&dataset_ids) {
                for c in &g.columns {
                    stmt.execute(params![id, did, c])?;
                }
            }
            audit::append(
                tx,
                now,
                &Entry::ok(actor, "authorization.grant", id.to_string()).unit(req.unit).cost(total).details(json!({
                    "datasets": dataset_ids.iter().map(|d| d.0).collect::<Vec<_>>(),
                    "privacy": req.privacy.kind.as_str(),
                    "total_nano": total.nanos(),
                    "cap_nano": cap.nanos(),
                    "default_nano": default.nanos(),
                    "delta_atto": per_query_delta(req.privacy.delta)?.attos(),
                    "delta_total_atto": delta_total.attos(),
                    "term_start": to_micros(req.term_start),
                    "term_end": to_micros(req.term_end),
                    "export_policy": req.export_policy.as_str(),
                })),
            )?;
            Ok(id)
        })
    }

    /// An authorization (bureau, supervisors, or the holding unit's analysts).
    pub fn authorization(&self, p: &Principal, id: AuthorizationId) -> Result<Authorization> {
        self.observe(p, "authorization.read", id.to_string(), |tx, actor, now| {
            actor.require(
                &[Role::BureauAdmin, Role::Supervisor, Role::UnitAnalyst],
                "read authorizations",
            )?;
            let row = load_row(tx, id)?;
            actor.require_owner(row.unit, &id.to_string())?;
            load(tx, id, now)
        })
    }

    /// Authorizations of a unit (`None`: the caller's own unit, or every unit for the bureau
    /// and supervisors).
    pub fn authorizations(
        &self,
        p: &Principal,
        unit: Option<UnitId>,
    ) -> Result<Vec<Authorization>> {
        self.observe(
            p,
            "authorization.list",
            "authorizations",
            |tx, actor, now| {
                actor.require(
                    &[Role::BureauAdmin, Role::Supervisor, Role::UnitAnalyst],
                    "list authorizations",
                )?;
                let unit = match unit {
                    Some(u) => {
                        actor.require_tenant(u, &u.to_string())?;
                        Some(u)
                    }
                    None if actor.sees_all_units() => None,
                    None => Some(actor.require_unit("list its authorizations")?),
                };
                let ids: Vec<AuthorizationId> = match unit {
                    Some(u) => tx
                        .prepare("SELECT id FROM authorizations WHERE unit_id = ?1 ORDER BY id")?
                        .query_map([u], |r| r.get(0))?
                        .collect::<rusqlite::Result<_>>()?,
                    None => tx
                        .prepare("SELECT id FROM authorizations ORDER BY id")?
                        .query_map([], |r| r.get(0))?
                        .collect::<rusqlite::Result<_>>()?,
                };
                ids.into_iter().map(|id| load(tx, id, now)).collect()
            },
        )
    }

    /// The session scope of one scenario: its tables cut down to the granted columns, its
    /// budget. Refused unless the authorization is usable now (active, in term, unit active).
    pub fn scope(&self, p: &Principal, id: AuthorizationId) -> Result<Scope> {
        self.observe(
            p,
            "authorization.scope",
            id.to_string(),
            |tx, actor, now| {
                actor.require(
                    &[Role::UnitAnalyst, Role::BureauAdmin],
                    "open a scenario session",
                )?;
                let row = load_row(tx, id)?;
                actor.require_owner(row.unit, &id.to_string())?;
                require_usable(tx, &row, now)?;
                require_right(tx, id, Right::ProcessingUse, "querying the scenario's data")?;
                let mut tables = Vec::new();
                for (did, g) in granted(tx, id)? {
                    let d = catalog::load(tx, did)?;
                    let mut manifest = d.manifest.clone();
                    manifest.columns.retain(|c| g.columns.contains(&c.name));
                    if let Some(u) = &manifest.privacy_unit {
                        if !g.columns.contains(&u.column) {
                            return Err(GovernanceError::Internal(format!(
                                "{id} grants {} without its privacy-unit column",
                                g.dataset
                            )));
                        }
                    }
                    manifest
                        .unique_keys
                        .retain(|k| manifest.columns.iter().any(|c| &c.name == k));
                    tables.push(ScopedTable {
                        dataset: did,
                        manifest,
                        granted_columns: g.columns,
                        location: d.location.unwrap_or_default(),
                    });
                }
                Ok(Scope {
                    authorization: load(tx, id, now)?,
                    budget: ledger::budget_of(&row),
                    tables,
                })
            },
        )
    }
}
