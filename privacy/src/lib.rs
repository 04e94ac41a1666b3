//! # shuyu-privacy
//!
//! The privacy vocabulary every other crate shares, so that each concept has one type and
//! one name: the planner states budgets and calibrations in it, compute draws noise with it,
//! governance stores authorization terms in it, and the server writes it on the wire. It has
//! no logic beyond names and classifications (no noise, no SQL, no store).
//!
//! ## Layout
//! - [`definition`]: [`PrivacyDefinition`] (pure DP or zCDP), its stored name (`pure_dp`,
//!   `zcdp`) and its unit name (`epsilon`, `rho`).
//! - [`mechanism`]: [`Mechanism`], every mechanism that releases a value (the four additive
//!   noises, the exponential quantile, partition selection), and its display name.
//! - [`keys`]: every `shuyu.*` key of result schema metadata.
//! - [`comparison`]: [`Comparison`], how a fused query compares an encrypted column with a
//!   constant (parsed by the planner, evaluated under encryption by shuyu-crypto).
//! - [`fault`]: [`Fault`], the fault classes every crate's error reports (`fn fault`), which
//!   the server maps to gRPC codes in one match and job records take their status from.
//! - `sqlite` (feature `rusqlite`): [`PrivacyDefinition`] as SQLite text, for governance.

pub mod comparison;
pub mod definition;
pub mod fault;
pub mod keys;
pub mod mechanism;
#[cfg(feature = "rusqlite")]
mod sqlite;

pub use comparison::Comparison;
pub use definition::PrivacyDefinition;
pub use fault::Fault;
pub use mechanism::Mechanism;
