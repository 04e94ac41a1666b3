//! # shuyu (the binary's library)
//!
//! The edges of the domain: the command line, configuration, TLS, authentication, and the
//! gRPC services (Arrow Flight SQL, admin, imports, keyholder). Every statement an analyst
//! sends is run by `shuyu-runtime`'s [`Runtime`](shuyu_runtime::Runtime), the one job
//! sequence; this crate only turns calls into runtime calls and answers into responses.
//!
//! ## Layout
//! - [`net`]: binding a listener, the URI clients are shown, the shutdown signal.
//! - [`server`]: the gRPC server — `run(listener, store, config, shutdown)` and `shuyu serve`:
//!   Flight SQL, admin and health on one port.
//! - [`auth`]: bearer-token authentication shared by the services.
//! - [`flight`]: the Arrow Flight SQL service (authentication, statements, prepared
//!   statements, metadata calls), one small module per concern.
//! - [`admin`]: the admin gRPC service (`shuyu.admin.v1.Admin`) over governance, gated by
//!   role.
//! - [`cli`]: `shuyu admin …`, the command line over the admin service.
//! - [`console`]: the bureau's web console and the unit portal (axum, server-side HTML,
//!   no script) over the same governance operations as the admin service; served by
//!   `shuyu serve` and `shuyu demo` on its own listener (`console_listen`).
//! - [`custodian`]: the key custodian's commands, run outside the domain: `shuyu keys
//!   generate` and `shuyu encrypt` (CSV or Parquet in, an import bundle out).
//! - [`keyholder`]: `shuyu keyholder serve` (the gRPC keyholder over shuyu-crypto's
//!   policy) and the domain's client of it, the runtime's [`shuyu_runtime::Keyholder`].
//! - [`imports`]: the analysts' `shuyu.imports.v1.Imports` service: encryption parameters
//!   and bundle upload (verified by `shuyu_compute::encrypted::verify`), the import request.
//! - [`samples`]: `shuyu dev samples`, building the dev environment's masked samples.
//! - [`config`]: `shuyu.toml` and its `SHUYU_*` overrides; [`store_config`]: the governance
//!   store's keys (SQLite or PostgreSQL) and the options they make.
//! - [`deadlines`]: the workflow's deadlines enforced every minute while serving.
//! - [`demo`]: `shuyu demo`, the main job on embedded defaults, then serving.
//! - [`query`]: `shuyu query`, a local private query over a folder of datasets.
//! - [`datasets`]: `shuyu datasets generate`.
//! - [`offload`]: governance store calls on the blocking pool, with this crate's error.
//! - [`output`]: printing results as tables or JSON.
//! - [`logging`]: tracing set-up.
//! - [`error`]: the one error enum, [`Error`], and its mapping to gRPC status codes.

pub mod admin;
pub mod auth;
pub mod cli;
pub mod config;
pub mod store_config;
pub mod console;
pub mod datasets;
pub mod deadlines;
pub mod demo;
pub mod custodian;
pub mod error;
pub mod flight;
pub mod imports;
pub mod keyholder;
pub mod logging;
pub mod net;
pub mod offload;
pub mod output;
pub mod query;
pub mod samples;
pub mod server;

pub use error::Error;

/// Seed of the demo city.
pub const DEFAULT_SEED: u64 = 20_230_101;
