//! Authorizations (授权运营协议): one unit, one scenario, the exact columns, a term, a budget.
//!
//! A grant is checked whole before anything is written; the first fault is returned as
//! [`GovernanceError::Invalid`] naming the field (`datasets[1].columns[0]`) and what to change.
//! Terms expire on their own: the status shown and enforced is computed from the store's
//! clock at use time.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use rusqlite::params;
use serde::{Deserialize, Serialize};
use serde_json::json;
use shuyu_datasets::TableManifest;
use shuyu_privacy::PrivacyDefinition;

use crate::sql::{OptionalExtension, Row, Tx};
use crate::access;
use crate::actor::{Actor, Principal, Role};
use crate::amount::{Atto, Nano};
use crate::audit::{self, Entry};
use crate::catalog;
use crate::clock::{from_micros, to_micros};
use crate::error::{GovernanceError, Result};
use crate::ids::{AuthorizationId, DatasetId, UnitId};
use crate::store::Store;
use crate::units::{self, UnitStatus};
use crate::validate::{check_long_text, check_text};

mod request;
mod row;
mod terms;

use request::check_request;
pub use row::{default_delta_total, Budget};
pub use terms::ScenarioTerms;
pub(crate) use row::{budget_of, granted, load, load_row, per_query_delta, require_right, require_usable};

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

fn json_text<T: Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v)
        .map_err(|e| GovernanceError::Internal(format!("serialising failed: {e}")))
}

/// Checks a grant request whole, as [`Store::grant`] does, without writing anything (a data
/// request is checked at submission).
pub(crate) fn check_grant(conn: &Tx<'_>, req: &NewAuthorization, now: DateTime<Utc>) -> Result<Vec<DatasetId>> {
    check_request(conn, req, now).map(|(ids, _, _)| ids)
}

/// The body of [`Store::grant`] inside the caller's transaction: the bureau's role, every
/// check of the request, the rows and the `authorization.grant` audit record. Signing an
/// agreement and granting a data request go through here, so they check and record exactly
/// what a direct grant does.
pub(crate) fn grant_in(
    tx: &Tx<'_>,
    actor: &Actor,
    now: DateTime<Utc>,
    req: &NewAuthorization,
) -> Result<AuthorizationId> {
    actor.require(&[Role::BureauAdmin], "grant authorizations")?;
    let (dataset_ids, [total, cap, default], delta_total) = check_request(tx, req, now)?;
    let (mode, price) = match req.mode {
        Mode::Free => ("free", None),
        Mode::Paid { price_cents } => ("paid", Some(price_cents as i64)),
    };
    let new_id = tx.insert(
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
    let id = AuthorizationId(new_id);
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
}

impl Store {
    /// Grants an authorization (bureau). Refused whole, with the field at fault, if any part
    /// is invalid; nothing is written then.
    pub fn grant(&self, p: &Principal, req: &NewAuthorization) -> Result<AuthorizationId> {
        self.act(p, "authorization.grant", req.unit.to_string(), |tx, actor, now| {
            grant_in(tx, actor, now, req)
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
                        .query_map((), |r| r.get(0))?
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
                    budget: budget_of(&row),
                    tables,
                })
            },
        )
    }
}
