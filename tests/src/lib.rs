//! # shuyu-tests
//!
//! The workspace's end-to-end tests, against the real components a user meets: the
//! `shuyu` server on 127.0.0.1:0 over a fresh demo domain, arrow-flight's Flight SQL client,
//! the admin and imports gRPC clients, the `shuyu` binary itself (custodian commands, the
//! keyholder, the admin command line) and, from `scripts/test.sh`, Python's ADBC driver.
//!
//! ## Layout
//! - [`fixture`]: the generated city, the server over a fresh demo domain, clients, the
//!   `shuyu` binary.
//! - [`slt`]: the sqllogictest runner over any path ([`slt::Backend`]): the library and
//!   Flight SQL; `slt/*.slt` are its files.
//! - `tests/sqllogic.rs`: every `.slt` file through both paths.
//! - `tests/flight.rs`, `tests/admin.rs`, `tests/devenv.rs`, `tests/encrypted.rs`,
//!   `tests/load.rs`, `tests/adversarial.rs` (+ `tests/adversarial/`): the service end to end.
//! - `python/`: the ADBC session of a data scientist; `data/`: test TLS material.

pub mod fixture;
pub mod slt;
