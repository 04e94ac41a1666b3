//! # shuyu-compute
//!
//! Executes private plans: runs each release's exact, contribution-bounded inner plan in
//! DataFusion, draws the noise with OpenDP, assembles the released keys and values, and runs
//! the post-processing plan over them. Executes fused plans over encrypted imports too: the
//! plaintext part in DataFusion, the encrypted part on TFHE-rs with noise added under
//! encryption. It never parses SQL itself (the planner does).
//!
//! ## Layout
//! - [`noise`]: every random draw, on OpenDP measurements (discrete Laplace and Gaussian,
//!   partition selection, DP quantiles), costs from OpenDP's privacy maps; mechanisms and
//!   definitions are `shuyu-privacy`'s.
//! - [`calibrator`]: the planner's [`shuyu_planner::Calibrator`] on top of [`noise`].
//! - [`assemble`]: one release: inner results → key set → noisy partials → output columns.
//! - [`exact_cache`]: exact inner results reused within a scope (fresh noise every time).
//! - [`engine`]: [`PrivateSession`], the library entry point (`execute`, `explain`).
//! - [`inner`]: [`InnerEngine`], where a release's exact inner plans run: locally, or on a
//!   Ballista cluster (`shuyu-cluster`); everything after the release stays here.
//! - [`metadata`]: result schema metadata (cost, mechanism and confidence per column), under
//!   the keys of `shuyu_privacy::keys`.
//! - [`passthrough`]: the post-processing plan without DataFusion when it only selects and
//!   renames a release's columns.
//! - `encrypted` (feature `encrypted`, default): fused queries over encrypted imports: the
//!   encryption context and its caches, the plaintext part, the encrypted part on TFHE-rs,
//!   the keyholder trait.
//! - [`error`]: the crate's error enum and the fault class of each error (`fault()`).

pub mod assemble;
pub mod calibrator;
#[cfg(feature = "encrypted")]
pub mod encrypted;
pub mod engine;
pub mod exact_cache;
pub mod inner;
pub mod error;
pub mod metadata;
pub mod noise;
pub mod passthrough;

pub use calibrator::OpenDpCalibrator;
pub use engine::{PrivateSession, QueryResult};
pub use inner::{BallistaEngine, InnerEngine};
pub use error::ComputeError;
