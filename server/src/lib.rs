//! # shuyu (the binary's library)
//!
//! The command line and the pieces that wire the crates together for one job.
//!
//! ## Layout
//! - [`demo`]: `shuyu demo`, the main job on embedded defaults.
//! - [`runner`]: one query of an authorization, end to end: governance checks, private
//!   planning, budget reservation, execution, commit, audit.
//! - [`query`]: `shuyu query`, a local private query over a folder of datasets.
//! - [`datasets`]: `shuyu datasets generate`.
//! - [`output`]: printing results as tables or JSON.
//! - [`logging`]: tracing set-up.
//! - [`error`]: the binary's error enum.

pub mod datasets;
pub mod demo;
pub mod error;
pub mod logging;
pub mod output;
pub mod query;
pub mod runner;

pub use error::CliError;

/// Seed of the demo city.
pub const DEFAULT_SEED: u64 = 20_230_101;
