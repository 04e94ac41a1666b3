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
//! - [`keyholder::v1`]: the key custodian's keyholder (`shuyu.keyholder.v1.Keyholder`):
//!   decrypts the noised aggregates of domain-signed release requests.
//! - [`imports::v1`]: encrypted social-data imports (`shuyu.imports.v1.Imports`), called by a
//!   unit's analyst.

/// `shuyu.admin.v1`.
pub mod admin {
    /// Version 1 of the admin service.
    pub mod v1 {
        #![allow(missing_docs)]
        tonic::include_proto!("shuyu.admin.v1");
    }
}

/// `shuyu.keyholder.v1`.
pub mod keyholder {
    /// Version 1 of the keyholder service.
    pub mod v1 {
        #![allow(missing_docs)]
        tonic::include_proto!("shuyu.keyholder.v1");
    }
}

/// `shuyu.imports.v1`.
pub mod imports {
    /// Version 1 of the imports service.
    pub mod v1 {
        #![allow(missing_docs)]
        tonic::include_proto!("shuyu.imports.v1");
    }
}
