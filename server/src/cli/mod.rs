//! Command-line clients of the server's gRPC services.
//!
//! ## Layout
//! - [`admin`]: `shuyu admin <resource> <verb> …` over the admin service; [`admin_args`]:
//!   its resources and verbs.
//! - [`workflow`]: the authorization workflow's verbs (announcement, application, request,
//!   quality, evaluation); [`workflow_args`]: their clap definitions.
//! - [`table`]: printing admin replies as aligned tables or JSON.
//! - [`cluster`]: `shuyu cluster scheduler|executor`, the Ballista cluster's processes.

pub mod admin;
pub mod admin_args;
pub mod cluster;
pub mod table;
pub mod workflow;
pub mod workflow_args;
