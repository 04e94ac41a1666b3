//! The stored row of an authorization and what is read from it: its standing at a given
//! time, the rights it grants, the datasets and columns it grants, and the whole record.

use super::*;

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
pub(crate) fn load_row(conn: &Tx<'_>, id: AuthorizationId) -> Result<AuthRow> {
    conn.query_row(
        &format!("SELECT {AUTH_ROW} FROM authorizations WHERE id = ?1"),
        [id],
        auth_row,
    )
    .optional()?
    .ok_or_else(|| GovernanceError::not_found(id.to_string()))
}

/// Refuses unless the authorization is active, in term, and its unit active.
pub(crate) fn require_usable(conn: &Tx<'_>, row: &AuthRow, now: DateTime<Utc>) -> Result<()> {
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
pub(crate) fn rights(conn: &Tx<'_>, id: AuthorizationId) -> Result<Vec<Right>> {
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
    conn: &Tx<'_>,
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
    conn: &Tx<'_>,
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
    conn: &Tx<'_>,
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

/// The budget of an authorization. `total = spent + reserved + remaining`, exactly, for
/// epsilon/rho and for delta alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Budget {
    /// The authorization.
    pub authorization: AuthorizationId,
    /// Epsilon or rho.
    pub kind: PrivacyDefinition,
    /// Granted total.
    pub total: Nano,
    /// Committed (and recovered) charges.
    pub spent: Nano,
    /// Held by running jobs.
    pub reserved: Nano,
    /// What new reservations may still take.
    pub remaining: Nano,
    /// The most delta one query may use (the per-query delta, rounded up to the atto).
    pub delta_per_query: Atto,
    /// Granted delta total.
    pub delta_total: Atto,
    /// Delta of committed (and recovered) charges.
    pub delta_spent: Atto,
    /// Delta held by running jobs.
    pub delta_reserved: Atto,
    /// Delta new reservations may still take.
    pub delta_remaining: Atto,
}

/// The budget of the authorization whose row is `row`.
pub(crate) fn budget_of(row: &AuthRow) -> Budget {
    Budget {
        authorization: row.id,
        kind: row.privacy,
        total: row.total,
        spent: row.spent,
        reserved: row.reserved,
        remaining: row
            .total
            .saturating_sub(row.spent)
            .saturating_sub(row.reserved),
        // A stored per-query delta is in [0, 1): its charge always converts.
        delta_per_query: per_query_delta(row.delta).unwrap_or(Atto::ZERO),
        delta_total: row.delta_total,
        delta_spent: row.delta_spent,
        delta_reserved: row.delta_reserved,
        delta_remaining: row
            .delta_total
            .saturating_sub(row.delta_spent)
            .saturating_sub(row.delta_reserved),
    }
}
