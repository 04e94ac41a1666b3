//! Command-line clients of the server's gRPC services.
//!
//! ## Layout
//! - [`admin`]: `shuyu admin <resource> <verb> …` over the admin service; [`admin_args`]:
//!   its resources and verbs.
//! - [`workflow`]: the authorization workflow's verbs (announcement, application, request,
//!   quality, evaluation); [`workflow_args`]: their clap definitions.
//! - [`table`]: printing admin replies as aligned tables or JSON.

pub mod admin;
pub mod admin_args;
pub mod table;
pub mod workflow;
pub mod workflow_args;
