//! Every `shuyu.*` key of result schema metadata: the wire names a client reads. Defined here
//! once; every crate that writes or reads a key uses these constants.
//!
//! Written by `shuyu-compute` on every private result (`annotate`): [`COST`], [`DELTA`],
//! [`DEFINITION`], [`RELEASES`], [`NOISELESS`] on the schema, and [`MECHANISM`], [`SCALE`],
//! [`CI95_HALF_WIDTH`] on each output column that is a count or a sum as released. Written by
//! the service: [`JOB`], [`AUTHORIZATION`], [`CHARGED`], the budget and delta keys, [`LOSS`],
//! [`ENVIRONMENT`], and on held and released exports [`EXPORT`], [`EXPORT_STATUS`],
//! [`EXPORT_MANIFEST`]. `docs/service.md` and `docs/threat-model.md` describe the values.

/// Cost of the query: epsilon or rho, in the budget's definition (schema).
pub const COST: &str = "shuyu.cost";
/// Delta the query spent, partition selection only (schema).
pub const DELTA: &str = "shuyu.delta";
/// The budget's unit name, `epsilon` or `rho` (schema).
pub const DEFINITION: &str = "shuyu.definition";
/// Every measurement with its mechanism, scale, cost and 95 % half-width, as JSON (schema).
pub const RELEASES: &str = "shuyu.releases";
/// `"true"` on results of a test build without noise; absent otherwise (schema).
pub const NOISELESS: &str = "shuyu.noiseless";

/// The mechanism that noised the column (field).
pub const MECHANISM: &str = "shuyu.mechanism";
/// The noise scale of the column, in its units (field).
pub const SCALE: &str = "shuyu.scale";
/// The 95 % confidence half-width of the column's noise, in its units (field).
pub const CI95_HALF_WIDTH: &str = "shuyu.ci95_half_width";

/// The job id that recorded the query.
pub const JOB: &str = "shuyu.job";
/// The authorization charged.
pub const AUTHORIZATION: &str = "shuyu.authorization";
/// What the ledger charged, exactly (decimal, 9 digits at most).
pub const CHARGED: &str = "shuyu.charged";
/// Budget left after the charge.
pub const BUDGET_REMAINING: &str = "shuyu.budget_remaining";
/// The authorization's total budget.
pub const BUDGET_TOTAL: &str = "shuyu.budget_total";
/// The delta the ledger charged, exactly (decimal, 18 digits at most).
pub const DELTA_CHARGED: &str = "shuyu.delta_charged";
/// Delta left after the charge.
pub const DELTA_REMAINING: &str = "shuyu.delta_remaining";
/// The authorization's delta total.
pub const DELTA_TOTAL: &str = "shuyu.delta_total";
/// The unit's privacy loss per dataset across its authorizations (JSON).
pub const LOSS: &str = "shuyu.loss";
/// The environment a result comes from: `prod` or `dev`.
pub const ENVIRONMENT: &str = "shuyu.environment";

/// The export request's id (held and released exports).
pub const EXPORT: &str = "shuyu.export";
/// The export's status (`pending`, `approved`, `automatic`).
pub const EXPORT_STATUS: &str = "shuyu.export_status";
/// The signed export manifest (JSON: `manifest` and `signature`), once released.
pub const EXPORT_MANIFEST: &str = "shuyu.export_manifest";
