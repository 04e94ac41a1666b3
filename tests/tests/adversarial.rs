//! The adversarial suite of issue 12 ("Seal the release"): an analyst with nothing but a
//! valid token and ordinary SQL, sent through arrow-flight's Flight SQL client (and its raw
//! Flight client, for headers) to `shuyu::server` on 127.0.0.1:0 over a fresh demo domain,
//! tries to learn one resident's income by every channel other than noised values:
//!
//! - [`errors`]: runtime errors conditioned on the target's row (one test per family);
//! - [`timing`]: per-row work that grows with a data-dependent argument;
//! - [`joins`]: joins that multiply the target's rows while the noise is sized for one;
//! - [`metadata`]: figures in result metadata, headers, trailers and error statuses;
//! - [`budget`]: repeated queries and per-query budget headers;
//! - [`accounting`]: δ spent by partition selections, and a unit's loss composed across
//!   its authorizations against the bureau's cap.
//!
//! Each test states its attack and asserts the secure behaviour in terms a client can
//! check, whatever the server's implementation: refused at plan time with the same code and
//! text whichever way the target's condition falls, or answered and charged; declared noise
//! that covers what a person can contribute; only public figures besides values. False
//! declarations are refused at registration (`tests/admin.rs`), the keyholder's wire is
//! checked in `tests/encrypted.rs` and `crypto/tests/keyholder_wire.rs`.

use shuyu_tests::fixture;

#[path = "adversarial/accounting.rs"]
mod accounting;
#[path = "adversarial/budget.rs"]
mod budget;
#[path = "adversarial/errors.rs"]
mod errors;
#[path = "adversarial/joins.rs"]
mod joins;
#[path = "adversarial/kit.rs"]
mod kit;
#[path = "adversarial/metadata.rs"]
mod metadata;
#[path = "adversarial/timing.rs"]
mod timing;
