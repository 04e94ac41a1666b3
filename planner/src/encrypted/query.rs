//! A fused query, parsed: its plaintext part (the joined public table, public filters and
//! group columns) and its encrypted part (comparisons with constants, sums and counts).

use shuyu_privacy::Comparison;

/// An aggregate of the fused query's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Aggregate {
    /// `SUM(col)`.
    Sum(String),
    /// `AVG(col)` (a noised sum over a noised count).
    Avg(String),
    /// `COUNT(*)` or `COUNT(col)` (import values are never null).
    Count,
}

/// One output column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// A public group column (index into [`FusedQuery::group_by`]).
    Group(usize),
    /// An aggregate over the import.
    Aggregate(Aggregate),
}

/// A comparison of an encrypted column with a constant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptedFilter {
    /// The encrypted column.
    pub column: String,
    /// The comparison.
    pub comparison: Comparison,
    /// The constant.
    pub constant: u32,
}

/// The public table joined on the pseudonymised key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicSide {
    /// Table name in the scope.
    pub table: String,
    /// Its alias in the query (or its name).
    pub alias: String,
    /// The column whose pseudonym joins the import (must be the privacy-unit column).
    pub key_column: String,
    /// Conditions on public columns only, as SQL.
    pub filters: Vec<String>,
}

/// A query over an encrypted import, split into its plaintext and encrypted parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FusedQuery {
    /// The import's name.
    pub import: String,
    /// The import's alias in the query (or `imports.<name>`'s last part).
    pub import_alias: String,
    /// The joined public table, if any.
    pub public: Option<PublicSide>,
    /// Comparisons of encrypted columns with constants (all must hold).
    pub encrypted_filters: Vec<EncryptedFilter>,
    /// Public group columns.
    pub group_by: Vec<String>,
    /// Output columns, in order, with their names.
    pub outputs: Vec<(String, Output)>,
}

impl FusedQuery {
    /// Encrypted columns the query reads.
    pub fn encrypted_columns(&self) -> Vec<String> {
        let mut out: Vec<String> = self.encrypted_filters.iter().map(|f| f.column.clone()).collect();
        for (_, o) in &self.outputs {
            if let Output::Aggregate(Aggregate::Sum(c) | Aggregate::Avg(c)) = o {
                out.push(c.clone());
            }
        }
        out.sort();
        out.dedup();
        out
    }

    /// Columns summed (one release each).
    pub fn summed_columns(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .outputs
            .iter()
            .filter_map(|(_, o)| match o {
                Output::Aggregate(Aggregate::Sum(c) | Aggregate::Avg(c)) => Some(c.clone()),
                _ => None,
            })
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// Whether a count is released (COUNT or AVG).
    pub fn needs_count(&self) -> bool {
        self.outputs.iter().any(|(_, o)| matches!(o, Output::Aggregate(Aggregate::Count | Aggregate::Avg(_))))
    }
}

