//! # shuyu (the binary's library)
//!
//! The command line, the Arrow Flight SQL service, and the pieces that wire the crates
//! together for one job.
//!
//! ## Layout
//! - [`server`]: the gRPC server — `run(listener, store, config, shutdown)` and `shuyu serve`:
//!   Flight SQL, admin and health on one port.
//! - [`auth`]: bearer-token authentication shared by the services.
//! - [`flight`]: the Arrow Flight SQL service (authentication, statements, prepared
//!   statements, metadata calls), one small module per concern.
//! - [`admin`]: the admin gRPC service (`shuyu.admin.v1.Admin`) over governance, gated by
//!   role.
//! - [`cli`]: `shuyu admin …`, the command line over the admin service.
//! - [`encrypted`]: encrypted social data: custodian commands (`shuyu keys`, `shuyu encrypt`),
//!   the keyholder, the imports service and fused queries over approved imports.
//! - [`runner`]: one query of an authorization, end to end: governance checks, private
//!   planning, budget reservation, execution under the job limits, commit, audit.
//! - [`scope_cache`]: opened planner scopes per authorization, re-checked on every call.
//! - [`dev`]: the dev environment's masked samples (`shuyu dev samples`) and scopes over them.
//! - [`review`]: production results held for the bureau's review, fetched once approved.
//! - [`metering`]: rows and bytes each job's scans read.
//! - [`limits`]: per-unit concurrent-job slots and per-job memory pools.
//! - [`offload`]: governance store calls on the blocking pool.
//! - [`config`]: `shuyu.toml` and its `SHUYU_*` overrides.
//! - [`demo`]: `shuyu demo`, the main job on embedded defaults, then serving.
//! - [`query`]: `shuyu query`, a local private query over a folder of datasets.
//! - [`datasets`]: `shuyu datasets generate`.
//! - [`output`]: printing results as tables or JSON.
//! - [`logging`]: tracing set-up.
//! - [`error`]: the one error enum, [`Error`], and its mapping to gRPC status codes.

pub mod admin;
pub mod auth;
pub mod cli;
pub mod config;
pub mod datasets;
pub mod demo;
pub mod dev;
pub mod encrypted;
pub mod error;
pub mod flight;
pub mod limits;
pub mod logging;
pub mod metering;
pub mod offload;
pub mod output;
pub mod query;
pub mod review;
pub mod runner;
pub mod scope_cache;
pub mod server;

pub use error::Error;

/// Seed of the demo city.
pub const DEFAULT_SEED: u64 = 20_230_101;
