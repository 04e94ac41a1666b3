//! Behaviour of the governance API: refusals, audit, lifecycle, credentials, exports,
//! imports, quality issues, reports.

#[path = "../common/mod.rs"]
mod common;

mod audit;
mod credentials;
mod exports;
mod imports;
mod ledger;
mod lifecycle;
mod quality;
mod refusals;
mod reports;
