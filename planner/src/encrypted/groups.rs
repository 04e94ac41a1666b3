//! The groups of a fused query (the product of the public domains of its group columns) and
//! its result schema.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use super::query::{Aggregate, FusedQuery, Output};

/// The groups of a fused query: the cartesian product of the group columns' public domains.
#[derive(Debug, Clone)]
pub struct Groups {
    /// Per group column, its public domain.
    pub domains: Vec<Vec<String>>,
}

impl Groups {
    /// Number of groups (1 without GROUP BY).
    pub fn len(&self) -> usize {
        self.domains.iter().map(Vec::len).product()
    }

    /// Whether there are no groups (a group column with an empty domain).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The group id of one row's group values, if they all lie in the domains.
    pub fn id(&self, values: &[&str]) -> Option<u32> {
        let mut id = 0usize;
        for (domain, v) in self.domains.iter().zip(values) {
            id = id * domain.len() + domain.iter().position(|d| d == v)?;
        }
        u32::try_from(id).ok()
    }

    /// The group values of group `id`, per group column.
    pub fn values(&self, mut id: usize) -> Vec<String> {
        let mut out = vec![String::new(); self.domains.len()];
        for (i, domain) in self.domains.iter().enumerate().rev() {
            out[i] = domain[id % domain.len()].clone();
            id /= domain.len();
        }
        out
    }
}

/// The result schema of a fused query: group columns (Utf8), then each aggregate (SUM and
/// COUNT as Int64, AVG as Float64), in the query's output order.
pub fn result_schema(query: &FusedQuery) -> SchemaRef {
    let fields: Vec<Field> = query
        .outputs
        .iter()
        .map(|(name, output)| match output {
            Output::Group(_) => Field::new(name, DataType::Utf8, false),
            Output::Aggregate(Aggregate::Sum(_) | Aggregate::Count) => Field::new(name, DataType::Int64, false),
            Output::Aggregate(Aggregate::Avg(_)) => Field::new(name, DataType::Float64, false),
        })
        .collect();
    Arc::new(Schema::new(fields))
}
