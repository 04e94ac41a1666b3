//! A grant request checked whole before anything is written: the unit, the scenario, the
//! term, every dataset and column, the privacy terms and the budget. The first fault is
//! returned as [`GovernanceError::Invalid`] naming the field and what to change.

use super::*;

/// Checks a grant request whole; returns the dataset ids and amounts to write.
pub(super) fn check_request(
    conn: &Tx<'_>,
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
pub(super) fn check_delta_total(delta: f64, asked: Option<f64>, total: Nano, default: Nano) -> Result<Atto> {
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
