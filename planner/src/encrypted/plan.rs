//! A fused query, checked against its import and the scope's catalog, and calibrated: what it
//! reads, what it releases and what each release costs. Refuses at plan time (reading no
//! ciphertext, spending nothing) anything it cannot release.

use super::groups::Groups;
use super::parse::parse;
use super::query::FusedQuery;
use super::MAX_GROUPS;
use crate::budget::QueryBudget;
use crate::error::PlannerError;
use crate::plan::{compose, Calibration, Calibrator, Partial};
use crate::refusal::{refused, RefusalCode};
use crate::scope::ScopeCatalog;

/// The public facts of an import the planner checks a fused query against (from its
/// manifest: no ciphertext).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportShape {
    /// The import's name.
    pub name: String,
    /// Its number of rows (one per person).
    pub rows: u64,
    /// Its encrypted columns.
    pub columns: Vec<ImportColumn>,
}

/// One encrypted column of an import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportColumn {
    /// Column name.
    pub name: String,
    /// Declared bound of its values (`0..=bound`).
    pub bound: u32,
    /// Whether the domain verified the bound (a proof at upload, then clamping), rather than
    /// taking the data holder's word for it.
    pub bound_verified: bool,
}

/// A fused query, checked and calibrated.
#[derive(Debug, Clone)]
pub struct EncryptedPlan {
    /// The query.
    pub query: FusedQuery,
    /// The import it reads.
    pub import: ImportShape,
    /// The released groups.
    pub groups: Groups,
    /// One measurement per summed column (`column` names it, the sensitivity is its bound),
    /// then one for the count when COUNT or AVG is released.
    pub measurements: Vec<Partial>,
    /// Whether the last measurement is the count.
    pub count: bool,
    /// What the query may spend.
    pub budget: QueryBudget,
}

/// The `column` of the count's measurement.
pub const COUNT_COLUMN: &str = "count(*)";

impl EncryptedPlan {
    /// The summed columns and their bounds, in measurement order.
    pub fn sums(&self) -> impl Iterator<Item = (&str, u32)> + '_ {
        let sums = self.measurements.len() - usize::from(self.count);
        self.measurements[..sums].iter().map(|p| (p.column.as_str(), p.sensitivity as u32))
    }

    /// Each measurement's calibration, in order.
    pub fn calibrations(&self) -> Vec<Calibration> {
        self.measurements.iter().filter_map(|p| p.calibration).collect()
    }

    /// The composed cost (the one composition rule, [`compose`]); no δ: the groups are public.
    pub fn total_cost(&self) -> f64 {
        compose(&self.calibrations()).0
    }

    /// Number of releases (measurements).
    pub fn releases(&self) -> usize {
        self.measurements.len()
    }
}

/// Plans the fused query `sql` over `import` in the scope whose catalog is `catalog`, with
/// `budget`, calibrating each release with `calibrator`.
pub fn plan(
    sql: &str,
    import: ImportShape,
    catalog: &ScopeCatalog,
    budget: QueryBudget,
    calibrator: &dyn Calibrator,
) -> Result<EncryptedPlan, PlannerError> {
    budget.validate().map_err(PlannerError::Refused)?;
    // Bare column names resolve to the import's encrypted columns.
    let query = parse(sql, &|c| import.columns.iter().any(|x| x.name == c))?
        .ok_or_else(|| PlannerError::Internal("a statement naming an import did not parse as a fused query".into()))?;
    if query.import != import.name {
        return Err(PlannerError::Internal(format!("the fused query names import {}, planned against {}", query.import, import.name)));
    }

    // Every aggregated column must be one whose bound the domain verified.
    let mut measurements = Vec::new();
    for column in query.encrypted_columns() {
        let entry = import
            .columns
            .iter()
            .find(|c| c.name == column)
            .ok_or_else(|| PlannerError::Plan(format!("import {} has no column {column}", import.name)))?;
        if !entry.bound_verified {
            return Err(refused(
                RefusalCode::UnboundedSensitivity,
                format!(
                    "column {column} of import {} is linear-tier: its bound rests on the data holder's word, not on a proof the domain verified; \
                     re-encrypt it as a bootstrapped column (shuyu encrypt --column {column}:BOUND)",
                    import.name
                ),
            ));
        }
        if query.summed_columns().contains(&column) {
            let bound = f64::from(entry.bound);
            measurements.push(Partial {
                column: column.clone(),
                label: format!("sum({column}) under encryption"),
                sensitivity: bound,
                vector_sensitivity: bound,
                calibration: None,
            });
        }
    }
    let count = query.needs_count();
    if count {
        let label = if query.encrypted_filters.is_empty() { "count(*) of plaintext matches" } else { "count(*) under encryption" };
        measurements.push(Partial { column: COUNT_COLUMN.into(), label: label.into(), sensitivity: 1.0, vector_sensitivity: 1.0, calibration: None });
    }

    let groups = groups(&query, catalog)?;
    if groups.is_empty() || groups.len() > MAX_GROUPS {
        return Err(refused(
            RefusalCode::TooManyGroups,
            format!("the query has {} groups; at most {MAX_GROUPS} over an encrypted import", groups.len()),
        ));
    }

    // Each person is in one group only, so a release's vector sensitivity is its bound under
    // either definition. The budget split and calibration are every plan's.
    let share = budget.share(measurements.len());
    for m in &mut measurements {
        let calibrated = calibrator.calibrate_vector(budget.definition, m.vector_sensitivity, share);
        m.calibration = Some(calibrated.map_err(|e| e.context(&format!("cannot calibrate {}", m.label)))?);
    }
    Ok(EncryptedPlan { query, import, groups, measurements, count, budget })
}

/// The groups: the product of the public domains of the group columns of the joined table,
/// whose join key must be its privacy-unit column.
fn groups(query: &FusedQuery, catalog: &ScopeCatalog) -> Result<Groups, PlannerError> {
    let mut domains = Vec::new();
    let Some(public) = &query.public else { return Ok(Groups { domains }) };
    let table = catalog.table(&public.table).ok_or_else(|| PlannerError::Plan(format!("table {} not found in this authorization", public.table)))?;
    let unit = table.privacy_unit.as_ref().ok_or_else(|| {
        refused(RefusalCode::UnsupportedJoin, format!("table {} has no privacy unit; join imports with a table of persons", public.table))
    })?;
    if unit.column != public.key_column {
        return Err(refused(
            RefusalCode::UnsupportedJoin,
            format!("join on {}.{}, the table's privacy-unit column, not {}", public.table, unit.column, public.key_column),
        ));
    }
    for g in &query.group_by {
        let column = table.column(g).ok_or_else(|| PlannerError::Plan(format!("column {g} not found in {}", public.table)))?;
        let domain = column.public_domain.clone().ok_or_else(|| {
            refused(
                RefusalCode::PartitionSelectionNeedsDelta,
                format!("GROUP BY {g}: queries over an encrypted import group only by columns with a declared public domain"),
            )
        })?;
        domains.push(domain);
    }
    Ok(Groups { domains })
}
