//! Command-line clients of the server's gRPC services.
//!
//! ## Layout
//! - [`admin`]: `shuyu admin <resource> <verb> …` over the admin service.
//! - [`table`]: printing admin replies as aligned tables or JSON.

pub mod admin;
pub mod table;
