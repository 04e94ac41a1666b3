//! Contribution bounding in one streaming pass over data clustered by the privacy unit.
//!
//! `bound_by_unit(unit, keys.., values..)` is an aggregate over the whole relation that
//! returns, per key, the sums of each partial after bounding every unit: a unit's per-key
//! sums are clamped to `max_rows` times the per-row bounds, and, when it reaches more keys
//! than `max_groups`, only `max_groups` of them are kept. This is the same transformation as
//! the two-level plan `GROUP BY unit, keys` → clamp → `row_number() ≤ max_groups` →
//! `GROUP BY keys`, without a hash table over units or a sort: when each batch is ordered by
//! unit, a unit's rows form runs, and a run strictly inside a batch is a whole unit.
//!
//! Runs that touch a batch boundary may continue in another batch (possibly in another
//! partition), so they are kept open and merged by unit at the end. Correctness rests on
//! one property, checked on every row and never assumed: within each batch units are
//! non-decreasing, and the unit intervals `[first, last]` of all batches overlap at most at
//! their end points. Then a unit found strictly inside a batch occurs nowhere else. If the
//! check fails the aggregate fails with [`NotClustered`] and the engine runs the two-level
//! hash plan instead; nothing is released from a failed pass.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, FieldRef, Fields};
use datafusion::common::{DataFusionError, Result};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{Accumulator, AggregateUDF, AggregateUDFImpl, Expr, Signature, Volatility};


mod accumulator;

use accumulator::BoundAccumulator;

/// How contribution bounding chooses which rows and keys of a unit to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum BoundingOrder {
    /// Uniformly at random (production).
    #[default]
    Random,
    /// By key value (deterministic; used by the oracle tests).
    ByKey,
}

/// The error a bounding pass fails with when the input is not clustered by unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotClustered;

impl std::fmt::Display for NotClustered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(NOT_CLUSTERED_TEXT)
    }
}

impl std::error::Error for NotClustered {}

/// The text of [`NotClustered`] (how it is recognised in a cluster's job failure, which
/// arrives as text).
pub const NOT_CLUSTERED_TEXT: &str = "the input is not clustered by the privacy unit";

/// Whether `e` (or what it wraps) is [`NotClustered`], raised here or on a cluster, whose
/// executors report it as text (its message, or its Debug form `External(NotClustered)`).
pub fn is_not_clustered(e: &DataFusionError) -> bool {
    match e.find_root() {
        DataFusionError::External(inner) if inner.downcast_ref::<NotClustered>().is_some() => true,
        other => {
            let text = other.to_string();
            text.contains(NOT_CLUSTERED_TEXT) || text.contains("(NotClustered)")
        }
    }
}

/// A fresh secret seed for [`BoundParams::seed`].
pub fn fresh_seed() -> [u8; 32] {
    rand::random()
}

fn not_clustered() -> DataFusionError {
    DataFusionError::External(Box::new(NotClustered))
}

/// What one value argument contributes per row.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum PartialInput {
    /// One per row (`COUNT(*)`); takes no argument.
    Rows,
    /// One per row where a Boolean argument is true (`COUNT(*) FILTER`, `COUNT(x)`).
    Where,
    /// An Int64 argument (nulls add nothing).
    Value,
}

/// Parameters of one bounding pass.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BoundParams {
    /// Number of key arguments after the unit.
    pub key_count: usize,
    /// Output names of the partials, in argument order.
    pub names: Vec<String>,
    /// Partials, in argument order.
    pub partials: Vec<(PartialInput, i64, i64)>,
    /// Name of the units-per-key output, when wanted.
    pub units_column: Option<String>,
    /// Keys kept per unit (`None`: all).
    pub max_groups: Option<usize>,
    /// Which keys a unit keeps.
    pub order: BoundingOrder,
    /// The secret seed of [`BoundingOrder::Random`]: which keys a unit keeps is drawn from
    /// a ChaCha stream keyed by this seed and the unit, over the unit's keys in key order,
    /// so the same input gives the same bounded output on every run, partitioning and
    /// retried task (a cluster may run a task twice). It travels only inside the domain
    /// (in plans sent to the cluster) and is never shown.
    pub seed: [u8; 32],
}

impl BoundParams {
    /// The aggregate call over `args` = unit, keys, then one argument per non-`Rows` partial.
    pub fn call(self, args: Vec<Expr>) -> Expr {
        self.udaf().call(args)
    }

    /// The aggregate function with these parameters (how the cluster codec rebuilds it).
    pub fn udaf(self) -> AggregateUDF {
        AggregateUDF::new_from_impl(BoundByUnit { params: Arc::new(self), signature: Signature::variadic_any(Volatility::Volatile) })
    }

    /// The parameters of `udaf`, if it is the bounding aggregate.
    pub fn of(udaf: &AggregateUDF) -> Option<&BoundParams> {
        udaf.inner().downcast_ref::<BoundByUnit>().map(|b| b.params.as_ref())
    }

    fn stride(&self) -> usize {
        self.partials.len() + 1
    }
}

/// The name of the bounding aggregate in plans.
pub const BOUND_BY_UNIT: &str = "bound_by_unit";

/// The aggregate function.
#[derive(Debug)]
struct BoundByUnit {
    params: Arc<BoundParams>,
    signature: Signature,
}

impl PartialEq for BoundByUnit {
    fn eq(&self, o: &Self) -> bool {
        self.params == o.params
    }
}
impl Eq for BoundByUnit {}
impl Hash for BoundByUnit {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.params.key_count.hash(h);
        self.params.names.hash(h);
        self.params.max_groups.hash(h);
        self.params.seed.hash(h);
    }
}

fn struct_fields(params: &BoundParams, key_types: &[DataType]) -> Fields {
    let mut fields: Vec<Field> = key_types.iter().enumerate().map(|(i, t)| Field::new(format!("__k{i}"), t.clone(), true)).collect();
    if let Some(u) = &params.units_column {
        fields.push(Field::new(u, DataType::Int64, false));
    }
    for n in &params.names {
        fields.push(Field::new(n, DataType::Int64, false));
    }
    fields.into()
}

impl AggregateUDFImpl for BoundByUnit {
    fn name(&self) -> &str {
        BOUND_BY_UNIT
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        let keys = arg_types.get(1..1 + self.params.key_count).ok_or_else(|| DataFusionError::Internal("bound_by_unit: arguments".into()))?;
        let item = Field::new("item", DataType::Struct(struct_fields(&self.params, keys)), true);
        Ok(DataType::List(Arc::new(item)))
    }
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![Arc::new(Field::new(format!("{}[state]", args.name), DataType::Binary, true))])
    }
    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let DataType::List(item) = args.return_field.data_type() else {
            return Err(DataFusionError::Internal("bound_by_unit: return type".into()));
        };
        let DataType::Struct(fields) = item.data_type() else {
            return Err(DataFusionError::Internal("bound_by_unit: return type".into()));
        };
        let key_types: Vec<DataType> = fields.iter().take(self.params.key_count).map(|f| f.data_type().clone()).collect();
        Ok(Box::new(BoundAccumulator::new(self.params.clone(), key_types, item.clone())?))
    }
}
