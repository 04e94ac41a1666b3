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
//! - [`browser`]: headless Chromium through a chromedriver process on a free loopback port
//!   (fantoccini), screenshots; [`console`]: the web console over a test server's store,
//!   people to sign in as, a held export, raw HTTP requests, an "attacker" site.
//! - [`postgres`]: a private PostgreSQL cluster on a unix socket for one test.
//! - [`slt`]: the sqllogictest runner over any path ([`slt::Backend`]): the library and
//!   Flight SQL; `slt/*.slt` are its files.
//! - `tests/sqllogic.rs`: every `.slt` file through both paths.
//! - `tests/flight.rs`, `tests/admin.rs`, `tests/devenv.rs`, `tests/encrypted.rs`,
//!   `tests/load.rs`, `tests/adversarial.rs` (+ `tests/adversarial/`): the service end to end;
//!   `tests/console_browser.rs`: the web console in a real browser; `tests/frontends.rs`: two
//!   `shuyu serve` front ends over one PostgreSQL store, under load, one of them killed.
//! - `python/`: the ADBC session of a data scientist; `data/`: test TLS material.

pub mod browser;
pub mod console;
pub mod fixture;
pub mod postgres;
pub mod slt;
