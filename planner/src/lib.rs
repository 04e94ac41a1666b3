//! # shuyu-planner
//!
//! Turns an analyst's SQL into a private plan: what to compute exactly, with each person's
//! influence bounded, and what noise each released value needs. It never reads data and
//! never draws noise (that is `shuyu-compute`), and never calls the store (governance).
//!
//! ## Layout
//! - [`scope`]: the scoped session — only the granted tables and columns exist in it.
//! - [`statistics`]: personal tables show the optimizer their size, never column extremes.
//! - [`analyzer`]: parses and plans SQL, walks the plan, replaces each aggregate over
//!   personal data by a release placeholder, refuses anything else that reads personal rows.
//! - [`total`]: total evaluation — every expression on personal rows cannot fail and has a
//!   bounded cost per row (rewrites such as CAST → TRY_CAST, an explicit list of functions).
//! - [`rules`]: the privacy rules, one per file, behind [`rules::PlanRule`] and
//!   [`rules::AggregateRule`] (row-level output, windows, DISTINCT, subqueries, contribution
//!   bounds, GROUP BY keys, key selection).
//! - [`relation`]: the walker below an aggregate: joins, filters, subqueries, the unit column.
//! - [`aggregate`]: one private aggregate → keys, partial sums, the bounded inner plan.
//! - [`bounding`]: contribution bounding in one streaming pass over unit-clustered input.
//! - [`scope_state`]: typed per-scope state executors keep (compute's exact results).
//! - [`facts`]: bounds, public domains and taint of columns and expressions.
//! - [`on_grid`]: the fused per-row kernel of sum partials (clamp, centre, scale, round).
//! - [`plan`]: the private plan, its releases and the [`plan::Calibrator`] trait (privacy
//!   definitions and mechanisms are `shuyu-privacy`'s).
//! - [`release_table`]: the slot a release's noised batch is placed in.
//! - [`explain`]: EXPLAIN PRIVACY, one renderer for every plan.
//! - [`encrypted`]: fused queries over encrypted imports: parsed, checked and calibrated
//!   like any private plan (executed by `shuyu-compute`).
//! - [`budget`], [`refusal`], [`error`]: what a query may spend, why it is refused, errors
//!   (each with its fault class, `PlannerError::fault`).

pub mod aggregate;
pub mod analyzer;
pub mod bounding;
pub mod budget;
pub mod encrypted;
pub mod error;
pub mod explain;
pub mod facts;
pub mod on_grid;
pub mod plan;
pub mod refusal;
pub mod relation;
pub mod rules;
pub mod release_table;
pub mod scope;
pub mod scope_state;
pub mod statistics;
pub mod total;

pub use aggregate::{BoundingOrder, PlanOptions};
pub use analyzer::{calibrate, plan_query, strip_explain_privacy};
pub use budget::QueryBudget;
pub use error::PlannerError;
pub use plan::{Calibration, Calibrator, KeySet, OutputKind, PrivatePlan, Release};
pub use refusal::{Refusal, RefusalCode};
pub use scope::{GrantedTable, Scope, ScopeCatalog};
