//! The privacy rules, one per file, behind two small traits. The drivers own the traversal:
//! the analyzer (`crate::analyzer`) walks the plan from the top and applies every
//! [`PlanRule`] to every node above the releases; the aggregate analysis
//! (`crate::aggregate`) runs the [`AggregateRule`]s in order over each aggregate on
//! personal data, each filling in its part of the [`AggregateDraft`] or refusing.
//!
//! ## Layout
//! - [`subqueries`]: no subquery over personal data in an expression.
//! - [`row_level_output`]: no personal row reaches the output unaggregated.
//! - [`windows`]: no window function over personal rows.
//! - [`distinct`]: no `SELECT DISTINCT` over personal rows.
//! - [`bound_contributions`]: the rows and keys one unit may contribute.
//! - [`group_keys`]: the GROUP BY keys (no grouping sets, no unit, no identifier).
//! - [`select_keys`]: how the released keys are chosen (public domains or partition
//!   selection) and whether a unit's keys must be bounded.

pub mod bound_contributions;
pub mod distinct;
pub mod group_keys;
pub mod row_level_output;
pub mod select_keys;
pub mod subqueries;
pub mod windows;
#[cfg(test)]
mod tests;

use datafusion::common::DFSchema;
use datafusion::logical_expr::{Aggregate, Expr, LogicalPlan};

use crate::budget::QueryBudget;
use crate::error::Result;
use crate::facts::Facts;
use crate::plan::KeySet;
use crate::relation::{RelFacts, UnitFacts};
use crate::scope::ScopeCatalog;

/// A rule over one node of the plan above the releases.
pub trait PlanRule: Sync {
    /// The rule's name, for tests and logs.
    fn name(&self) -> &'static str;
    /// Refuses `node` (a refusal code and what to do instead) or lets it pass. The driver
    /// calls it on every node it visits; a rule looks at its own kind of node only.
    fn check(&self, node: &LogicalPlan, catalog: &ScopeCatalog) -> Result<()>;
}

/// The rules over the plan above the releases, in the order they are applied.
pub const PLAN_RULES: &[&dyn PlanRule] =
    &[&subqueries::NoPersonalSubqueries, &row_level_output::NoRowLevelOutput, &windows::NoWindows, &distinct::NoDistinct];

/// Applies every [`PLAN_RULES`] rule to `node`.
pub fn check_node(node: &LogicalPlan, catalog: &ScopeCatalog) -> Result<()> {
    PLAN_RULES.iter().try_for_each(|rule| rule.check(node, catalog))
}

/// One aggregate over personal data while its rules run: what they read (the aggregate,
/// its walked input's facts, the budget) and what they decide.
#[derive(Debug)]
pub struct AggregateDraft<'a> {
    /// The aggregate.
    pub agg: &'a Aggregate,
    /// Schema of its walked input.
    pub input_schema: &'a DFSchema,
    /// Facts of its walked input.
    pub rel: &'a RelFacts,
    /// The input's privacy unit.
    pub unit: &'a UnitFacts,
    /// The query's budget (bounds overrides, definition, delta).
    pub budget: &'a QueryBudget,
    /// Most rows one unit contributes to one key ([`bound_contributions`]).
    pub max_rows: u32,
    /// Most keys one unit contributes to ([`bound_contributions`], lowered by
    /// [`select_keys`] to the number of public keys).
    pub max_groups: u32,
    /// The GROUP BY keys and their facts ([`group_keys`]).
    pub keys: Vec<(Expr, Facts)>,
    /// How the released keys are chosen ([`select_keys`]).
    pub key_set: KeySet,
    /// Whether a unit's keys must be bounded to `max_groups` ([`select_keys`]).
    pub bound_groups: bool,
}

impl<'a> AggregateDraft<'a> {
    /// A draft before any rule ran: one row per unit and key, one key, no GROUP BY keys.
    pub fn new(agg: &'a Aggregate, input_schema: &'a DFSchema, rel: &'a RelFacts, unit: &'a UnitFacts, budget: &'a QueryBudget) -> Self {
        AggregateDraft { agg, input_schema, rel, unit, budget, max_rows: 1, max_groups: 1, keys: Vec::new(), key_set: KeySet::Global, bound_groups: false }
    }

    /// Whether each unit has one row of the input.
    pub fn one_row_per_unit(&self) -> bool {
        self.unit.rows == shuyu_datasets::RowsPerUnit::One
    }
}

/// A rule over one aggregate on personal data.
pub trait AggregateRule: Sync {
    /// The rule's name, for tests and logs.
    fn name(&self) -> &'static str;
    /// Decides its part of `draft`, or refuses the aggregate.
    fn apply(&self, draft: &mut AggregateDraft<'_>) -> Result<()>;
}

/// The rules over one aggregate, in the order they run (each reads what the earlier ones
/// decided).
pub const AGGREGATE_RULES: &[&dyn AggregateRule] =
    &[&bound_contributions::BoundContributions, &group_keys::GroupKeys, &select_keys::SelectKeys];

/// Runs every [`AGGREGATE_RULES`] rule over `draft`.
pub fn apply_all(draft: &mut AggregateDraft<'_>) -> Result<()> {
    AGGREGATE_RULES.iter().try_for_each(|rule| rule.apply(draft))
}
