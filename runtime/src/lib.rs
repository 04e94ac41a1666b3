//! # shuyu-runtime
//!
//! The one job sequence: every statement an analyst sends under an authorization, from its
//! text to its answer. [`Runtime::run`] classifies the statement once (private, EXPLAIN
//! PRIVACY, encrypted, dev, FETCH EXPORT), checks governance once, opens the scope, and runs
//! the statement's path as one [`job::Job`]: create the job record, plan, reserve, execute,
//! settle, finish (the governance store audits each step), then hold the answer for the
//! bureau's review when the authorization's export policy says so. [`Runtime::prepare`]
//! answers a statement's result schema without running it. The Flight SQL service, the demo
//! and the benchmark's service phase use it as a library; the server keeps only the edges.
//!
//! ## Layout
//! - [`runtime`]: [`Runtime`] (`run`, `prepare`, `fetch_export`): classify, check, dispatch.
//! - [`call`]: [`Call`], [`Answer`], [`Outcome`], [`DevOutcome`].
//! - [`services`]: [`services::Services`], the store and limits every path uses.
//! - [`statement`]: what a statement is, decided once.
//! - [`job`]: the one job sequence and its charging rule.
//! - [`private`]: the private path (planner → reservation → compute → settlement).
//! - [`encrypted`]: fused queries over approved encrypted imports as jobs (planned by the
//!   planner, executed by compute), and each authorization's pseudonym key.
//! - [`plain`]: the dev path (plain DataFusion over the masked samples).
//! - [`dev`]: building the masked samples, and pointing a scope at them.
//! - [`review`]: results held for the bureau's review, fetched once approved.
//! - [`results`]: results marked with their environment.
//! - [`scope_cache`]: opened planner scopes per authorization, re-checked on every call.
//! - [`limits`]: the job limits, per-unit concurrent-job slots and per-job memory pools.
//! - [`metering`]: rows and bytes each job's scans read.
//! - [`offload`]: governance store calls on the blocking pool.
//! - [`error`]: the crate's error enum, [`RuntimeError`], with each error's fault class.

pub mod call;
pub mod dev;
pub mod encrypted;
pub mod error;
pub mod job;
pub mod limits;
pub mod metering;
pub mod offload;
pub mod plain;
pub mod private;
pub mod results;
pub mod review;
pub mod runtime;
pub mod scope_cache;
pub mod services;
pub mod statement;

pub use shuyu_compute::encrypted::{Encryption, EncryptionContext, Keyholder};
pub use error::RuntimeError;
pub use limits::{Limits, Served};
pub use call::{Answer, Call, DevOutcome, Outcome};
pub use runtime::Runtime;
pub use statement::Statement;
