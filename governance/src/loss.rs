//! Per-unit, per-dataset privacy loss across authorizations, and the bureau's caps on it.
//!
//! A unit may hold several authorizations that grant the same dataset; each has its own
//! budget, so nothing in the budgets alone bounds what the unit learns about one dataset.
//! Every reservation records the datasets its query reads (`reservation_datasets`), and the
//! loss of a unit on a dataset is composed over every reservation of any of the unit's
//! authorizations that read it, open (reserved), committed (at the actual charge) or
//! recovered (in full):
//!
//! - pure-DP authorizations contribute their epsilon, zCDP authorizations their rho, and
//!   every authorization the delta it was charged (partition selection);
//! - rho composes additively across zCDP authorizations (zCDP composition) and is converted
//!   once to approximate DP with the standard bound of Bun and Steinke (2016): a ρ-zCDP
//!   mechanism is (ρ + 2·√(ρ·ln(1/δ′)), δ′)-DP for any δ′ > 0, here δ′ = [`CONVERSION_DELTA`];
//! - the parts compose by basic composition: ε = ε_pure + ε(ρ), δ = Σ charged δ (+ δ′ when
//!   ρ > 0).
//!
//! Every step is exact or rounds up: sums are integers, and ε(ρ) is computed in integers
//! with ln(1/δ′) replaced by a rational upper bound and the square root rounded up
//! ([`rho_to_epsilon`]). The bureau may cap the composed (ε, δ) of a unit on a dataset;
//! [`Store::reserve`] then refuses, in the reservation's own transaction, a query that would
//! push any dataset it reads past its cap. Cap changes are audited (`loss.cap_set`,
//! `loss.cap_clear`), refusals too (`ledger.reserve`, refusal `loss_cap_exceeded`).

use chrono::{DateTime, Utc};
use rusqlite::params;
use serde::{Deserialize, Serialize};
use serde_json::json;
use shuyu_privacy::PrivacyDefinition;

use crate::sql::{OptionalExtension, Tx};
use crate::actor::{Principal, Role};
use crate::amount::{Atto, Nano};
use crate::audit::{self, Entry};
use crate::catalog;
use crate::clock::{from_micros, to_micros};
use crate::error::{GovernanceError, Result};
use crate::ids::{AuthorizationId, DatasetId, PersonId, UnitId};
use crate::store::Store;
use crate::units;

/// The δ′ at which a unit's composed rho is shown (and capped) as (ε, δ): 1e-9.
pub const CONVERSION_DELTA: Atto = Atto(1_000_000_000);

/// An upper bound of ln(1/δ′)·1e9 for δ′ = 1e-9: ln(1e9)·1e9 = 20 723 265 836.946…, rounded up.
const LN_INVERSE_CONVERSION_DELTA_NANO: u128 = 20_723_265_837;

/// The bureau's cap on a unit's privacy loss on one dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LossCap {
    /// The most epsilon the unit's composed loss may reach.
    pub epsilon: Nano,
    /// The most delta it may reach.
    pub delta: Atto,
    /// Who set it.
    pub set_by: PersonId,
    /// When.
    pub set_at: DateTime<Utc>,
}

/// A unit's composed privacy loss on one dataset, over all its authorizations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrivacyLoss {
    /// The unit.
    pub unit: UnitId,
    /// The dataset's catalog name.
    pub dataset: String,
    /// The unit's authorizations that grant the dataset.
    pub authorizations: Vec<AuthorizationId>,
    /// Epsilon charged by its pure-DP authorizations (committed, recovered and reserved).
    pub pure_epsilon: Nano,
    /// Rho charged by its zCDP authorizations (committed, recovered and reserved).
    pub rho: Nano,
    /// Delta charged by all of them (partition selection).
    pub charged_delta: Atto,
    /// The δ′ of the rho conversion ([`CONVERSION_DELTA`] when rho > 0, else 0).
    pub conversion_delta: Atto,
    /// Composed epsilon: `pure_epsilon + ε(rho)`, rounded up.
    pub epsilon: Nano,
    /// Composed delta: `charged_delta + conversion_delta`.
    pub delta: Atto,
    /// The bureau's cap, if any.
    pub cap: Option<LossCap>,
    /// Cap minus composed loss, per part (stops at 0); `None` without a cap.
    pub remaining: Option<(Nano, Atto)>,
}

/// ε(ρ) = ρ + 2·√(ρ·ln(1/δ′)) at δ′ = [`CONVERSION_DELTA`], rounded up to the nano-unit.
///
/// With ρ = r·1e-9, ε·1e9 = r + 2·√(r·ln(1/δ′)·1e9) ≤ r + 2·⌈√(r·L)⌉ where L is an integer
/// upper bound of ln(1/δ′)·1e9: integer arithmetic throughout, never below the true value.
pub fn rho_to_epsilon(rho: Nano) -> Nano {
    let r = u128::from(rho.nanos());
    if r == 0 {
        return Nano::ZERO;
    }
    let eps = r + 2 * ceil_sqrt(r * LN_INVERSE_CONVERSION_DELTA_NANO);
    Nano(u64::try_from(eps).unwrap_or(u64::MAX)).min(Nano::MAX)
}

/// The smallest integer whose square is at least `x`.
fn ceil_sqrt(x: u128) -> u128 {
    // A float estimate, then exact correction (x < 2^100 here, so s·s cannot overflow).
    let mut s = (x as f64).sqrt() as u128;
    while s * s < x {
        s += 1;
    }
    while s > 0 && (s - 1) * (s - 1) >= x {
        s -= 1;
    }
    s
}

/// Composes charged amounts into (ε, δ): see the module documentation.
pub fn compose(pure_epsilon: Nano, rho: Nano, charged_delta: Atto) -> (Nano, Atto) {
    let conversion = if rho == Nano::ZERO { Atto::ZERO } else { CONVERSION_DELTA };
    (pure_epsilon.saturating_add(rho_to_epsilon(rho)), charged_delta.saturating_add(conversion))
}

/// Charged amounts of a unit on a dataset, by definition.
#[derive(Debug, Clone, Copy, Default)]
struct Sums {
    pure: Nano,
    rho: Nano,
    delta: Atto,
}

impl Sums {
    fn add(&mut self, kind: PrivacyDefinition, amount: Nano, delta: Atto) {
        match kind {
            PrivacyDefinition::PureDp => self.pure = self.pure.saturating_add(amount),
            PrivacyDefinition::Zcdp => self.rho = self.rho.saturating_add(amount),
        }
        self.delta = self.delta.saturating_add(delta);
    }

    fn composed(&self) -> (Nano, Atto) {
        compose(self.pure, self.rho, self.delta)
    }
}

/// What the unit's authorizations have charged on the dataset (open, committed, recovered).
fn sums(conn: &Tx<'_>, unit: UnitId, dataset: DatasetId) -> Result<Sums> {
    // Summed per authorization in SQL (each sum is bounded by that authorization's total, so
    // it fits), then across authorizations here, saturating.
    let mut stmt = conn.prepare(
        "SELECT a.privacy,
                CAST(COALESCE(SUM(CASE r.state WHEN 'committed' THEN r.actual_nano ELSE r.amount_nano END), 0) AS BIGINT),
                CAST(COALESCE(SUM(CASE r.state WHEN 'committed' THEN COALESCE(r.actual_delta_atto, 0) ELSE r.delta_atto END), 0) AS BIGINT)
         FROM reservation_datasets rd
         JOIN reservations r ON r.id = rd.reservation_id
         JOIN authorizations a ON a.id = r.authorization_id
         WHERE a.unit_id = ?1 AND rd.dataset_id = ?2 AND r.state IN ('open', 'committed', 'recovered')
         GROUP BY a.id, a.privacy",
    )?;
    let rows = stmt
        .query_map(params![unit, dataset], |r| Ok((r.get::<_, PrivacyDefinition>(0)?, r.get::<_, Nano>(1)?, r.get::<_, Atto>(2)?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut s = Sums::default();
    for (kind, amount, delta) in rows {
        s.add(kind, amount, delta);
    }
    Ok(s)
}

fn load_cap(conn: &Tx<'_>, unit: UnitId, dataset: DatasetId) -> Result<Option<LossCap>> {
    let row: Option<(Nano, Atto, PersonId, i64)> = conn
        .query_row(
            "SELECT epsilon_nano, delta_atto, set_by, set_at FROM loss_caps WHERE unit_id = ?1 AND dataset_id = ?2",
            params![unit, dataset],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()?;
    row.map(|(epsilon, delta, set_by, at)| Ok(LossCap { epsilon, delta, set_by, set_at: from_micros(at)? }))
        .transpose()
}

/// Refuses a charge of `amount` (in `kind`) and `delta` that would push the unit's loss on
/// any of `datasets` past the bureau's cap there. Runs inside the reservation's transaction.
pub(crate) fn check_caps(
    conn: &Tx<'_>,
    unit: UnitId,
    kind: PrivacyDefinition,
    amount: Nano,
    delta: Atto,
    datasets: &[(DatasetId, String)],
) -> Result<()> {
    for (dataset, name) in datasets {
        let Some(cap) = load_cap(conn, unit, *dataset)? else {
            continue;
        };
        let before = sums(conn, unit, *dataset)?;
        let mut after = before;
        after.add(kind, amount, delta);
        let (epsilon, delta_after) = after.composed();
        if epsilon > cap.epsilon || delta_after > cap.delta {
            let (eps_before, delta_before) = before.composed();
            return Err(GovernanceError::LossCapExceeded {
                unit: unit.0,
                dataset: name.clone(),
                epsilon,
                delta: delta_after,
                cap_epsilon: cap.epsilon,
                cap_delta: cap.delta,
                remaining_epsilon: cap.epsilon.saturating_sub(eps_before),
                remaining_delta: cap.delta.saturating_sub(delta_before),
            });
        }
    }
    Ok(())
}

/// The loss of `unit` on `dataset`.
fn loss_of(conn: &Tx<'_>, unit: UnitId, dataset: DatasetId, name: &str) -> Result<PrivacyLoss> {
    let s = sums(conn, unit, dataset)?;
    let (epsilon, delta) = s.composed();
    let cap = load_cap(conn, unit, dataset)?;
    let authorizations = conn
        .prepare(
            "SELECT DISTINCT a.id FROM grants g JOIN authorizations a ON a.id = g.authorization_id
             WHERE a.unit_id = ?1 AND g.dataset_id = ?2 ORDER BY a.id",
        )?
        .query_map(params![unit, dataset], |r| r.get(0))?
        .collect::<rusqlite::Result<Vec<AuthorizationId>>>()?;
    Ok(PrivacyLoss {
        unit,
        dataset: name.to_string(),
        authorizations,
        pure_epsilon: s.pure,
        rho: s.rho,
        charged_delta: s.delta,
        conversion_delta: delta.saturating_sub(s.delta),
        epsilon,
        delta,
        remaining: cap.map(|c| (c.epsilon.saturating_sub(epsilon), c.delta.saturating_sub(delta))),
        cap,
    })
}

/// The losses of each (unit, dataset) pair a grant or a cap links, optionally of one unit
/// and one dataset, in (unit, dataset name) order.
pub(crate) fn losses(conn: &Tx<'_>, unit: Option<UnitId>, dataset: Option<&str>) -> Result<Vec<PrivacyLoss>> {
    let pairs = conn
        .prepare(
            "SELECT p.unit_id, p.dataset_id, d.name FROM (
                 SELECT a.unit_id AS unit_id, g.dataset_id AS dataset_id FROM grants g JOIN authorizations a ON a.id = g.authorization_id
                 UNION SELECT unit_id, dataset_id FROM loss_caps
             ) p JOIN datasets d ON d.id = p.dataset_id
             WHERE (CAST(?1 AS BIGINT) IS NULL OR p.unit_id = ?1) AND (CAST(?2 AS TEXT) IS NULL OR d.name = ?2)
             ORDER BY p.unit_id, d.name",
        )?
        .query_map(params![unit, dataset], |r| Ok((r.get::<_, UnitId>(0)?, r.get::<_, DatasetId>(1)?, r.get::<_, String>(2)?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    pairs.iter().map(|(u, d, name)| loss_of(conn, *u, *d, name)).collect()
}

/// Resolves a unit and a dataset name for a cap change.
fn cap_target(conn: &Tx<'_>, unit: UnitId, dataset: &str) -> Result<DatasetId> {
    units::load_unit(conn, unit).map_err(|_| GovernanceError::invalid("unit", "names no registered unit"))?;
    catalog::load_by_name(conn, dataset)?
        .map(|d| d.id)
        .ok_or_else(|| GovernanceError::invalid("dataset", "names no dataset in the catalog; list the catalog for its names"))
}

fn cap_json(cap: &Option<LossCap>) -> serde_json::Value {
    match cap {
        Some(c) => json!({ "epsilon_nano": c.epsilon.nanos(), "delta_atto": c.delta.attos() }),
        None => serde_json::Value::Null,
    }
}

impl Store {
    /// Sets (or replaces) the cap on `unit`'s composed privacy loss on `dataset` (bureau).
    /// `epsilon` > 0 and `delta` in [0, 1) are taken as the decimals written, rounded down. A cap below the loss already
    /// charged is allowed: it refuses every further query reading the dataset. Audited.
    pub fn set_loss_cap(&self, p: &Principal, unit: UnitId, dataset: &str, epsilon: f64, delta: f64) -> Result<PrivacyLoss> {
        self.act(p, "loss.cap_set", unit.to_string(), |tx, actor, now| {
            actor.require(&[Role::BureauAdmin], "cap a unit's privacy loss")?;
            let dataset_id = cap_target(tx, unit, dataset)?;
            let cap_epsilon = Nano::grant_decimal(epsilon, "epsilon")?;
            if cap_epsilon == Nano::ZERO {
                return Err(GovernanceError::invalid("epsilon", "must be greater than 0; to stop all queries on the dataset, revoke the grant"));
            }
            if !(delta.is_finite() && (0.0..1.0).contains(&delta)) {
                return Err(GovernanceError::invalid("delta", "must be at least 0 and below 1"));
            }
            let cap_delta = Atto::grant_decimal(delta, "delta")?;
            let previous = load_cap(tx, unit, dataset_id)?;
            tx.execute(
                "INSERT INTO loss_caps (unit_id, dataset_id, epsilon_nano, delta_atto, set_by, set_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (unit_id, dataset_id) DO UPDATE SET epsilon_nano = ?3, delta_atto = ?4, set_by = ?5, set_at = ?6",
                params![unit, dataset_id, cap_epsilon, cap_delta, actor.person, to_micros(now)],
            )?;
            audit::append(
                tx,
                now,
                &Entry::ok(actor, "loss.cap_set", unit.to_string()).unit(unit).details(json!({
                    "dataset": dataset,
                    "epsilon_nano": cap_epsilon.nanos(),
                    "delta_atto": cap_delta.attos(),
                    "previous": cap_json(&previous),
                })),
            )?;
            loss_of(tx, unit, dataset_id, dataset)
        })
    }

    /// Removes the cap on `unit`'s privacy loss on `dataset` (bureau). Audited.
    pub fn clear_loss_cap(&self, p: &Principal, unit: UnitId, dataset: &str) -> Result<PrivacyLoss> {
        self.act(p, "loss.cap_clear", unit.to_string(), |tx, actor, now| {
            actor.require(&[Role::BureauAdmin], "clear a unit's privacy-loss cap")?;
            let dataset_id = cap_target(tx, unit, dataset)?;
            let previous = load_cap(tx, unit, dataset_id)?;
            if previous.is_none() {
                return Err(GovernanceError::conflict(format!(
                    "{unit} has no privacy-loss cap on dataset {dataset}; nothing to clear"
                )));
            }
            tx.execute("DELETE FROM loss_caps WHERE unit_id = ?1 AND dataset_id = ?2", params![unit, dataset_id])?;
            audit::append(
                tx,
                now,
                &Entry::ok(actor, "loss.cap_clear", unit.to_string())
                    .unit(unit)
                    .details(json!({ "dataset": dataset, "previous": cap_json(&previous) })),
            )?;
            loss_of(tx, unit, dataset_id, dataset)
        })
    }

    /// The composed privacy loss of each (unit, dataset) pair that a grant or a cap links,
    /// optionally of one unit and one dataset, in (unit, dataset name) order. The bureau and
    /// supervisors see every unit; an analyst only their own.
    pub fn privacy_losses(&self, p: &Principal, unit: Option<UnitId>, dataset: Option<&str>) -> Result<Vec<PrivacyLoss>> {
        self.observe(p, "loss.list", "privacy losses", |tx, actor, _| {
            actor.require(&[Role::BureauAdmin, Role::Supervisor, Role::UnitAnalyst], "read privacy losses")?;
            let unit = match unit {
                Some(u) => {
                    actor.require_tenant(u, &u.to_string())?;
                    Some(u)
                }
                None if actor.sees_all_units() => None,
                None => Some(actor.require_unit("read its privacy losses")?),
            };
            losses(tx, unit, dataset)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rho_converts_upward_and_tightly() {
        for nanos in [1, 2, 100_000, 100_000_000, 500_000_000, 2_000_000_000, 1_000_000_000_000] {
            let rho = Nano(nanos);
            let eps = rho_to_epsilon(rho).as_f64();
            let rho = rho.as_f64();
            let exact = rho + 2.0 * (rho * 1e9f64.ln()).sqrt();
            assert!(eps >= exact, "ε({rho}) = {eps} < {exact}");
            // Rounding up costs at most a few nano-units beyond the true value.
            assert!(eps - exact < 5e-9 * (1.0 + exact), "ε({rho}) = {eps}, true {exact}");
        }
        assert_eq!(rho_to_epsilon(Nano::ZERO), Nano::ZERO);
        assert_eq!(rho_to_epsilon(Nano::MAX), Nano::MAX, "saturates rather than wraps");
    }

    #[test]
    fn composition_adds_parts_and_the_conversion_delta_once() {
        let (eps, delta) = compose(Nano(1_000_000_000), Nano::ZERO, Atto(5));
        assert_eq!((eps, delta), (Nano(1_000_000_000), Atto(5)), "pure epsilon as is");
        let (eps, delta) = compose(Nano(250_000_000), Nano(100_000_000), Atto(2_000_000_000_000));
        // ε(0.1) = 0.1 + 2·√(0.1·ln 1e9) = 0.1 + 2·1.439557… = 2.979115…
        assert_eq!(eps, Nano(250_000_000).saturating_add(rho_to_epsilon(Nano(100_000_000))));
        assert!((eps.as_f64() - 3.229115).abs() < 1e-5, "{eps}");
        assert_eq!(delta, Atto(2_000_000_000_000 + 1_000_000_000));
    }

    #[test]
    fn integer_square_roots_round_up() {
        for x in [0u128, 1, 2, 3, 4, 15, 16, 17, 1 << 90, (1 << 90) + 1, 10u128.pow(29) - 1] {
            let s = ceil_sqrt(x);
            assert!(s * s >= x && (s == 0 || (s - 1) * (s - 1) < x), "{x}: {s}");
        }
    }
}
