//! Behaviour of the governance API: accounting (delta, losses, declarations), refusals, audit, lifecycle, credentials, exports,
//! imports, quality issues, reports, the authorization workflow (applications, data requests,
//! evaluations).

#[path = "../common/mod.rs"]
mod common;

mod accounting;
mod audit;
mod credentials;
mod exports;
mod imports;
mod ledger;
mod lifecycle;
mod quality;
mod refusals;
mod reports;
mod workflow_applications;
mod workflow_evaluations;
mod workflow_requests;
