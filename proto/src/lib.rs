//! # shuyu-proto
//!
//! The gRPC interfaces of shuyu, generated at build time from the `.proto` files beside
//! this crate (with a vendored `protoc`).
//!
//! ## Layout
//! - [`admin::v1`]: the bureau's admin service (`shuyu.admin.v1.Admin`): catalog, units,
//!   people and tokens, authorizations and budgets, imports, export review, suspension and
//!   revocation, audit and reports. Its client backs `shuyu admin`; its server lives in the
//!   `shuyu` crate.

/// `shuyu.admin.v1`.
pub mod admin {
    /// Version 1 of the admin service.
    pub mod v1 {
        #![allow(missing_docs)]
        tonic::include_proto!("shuyu.admin.v1");
    }
}
