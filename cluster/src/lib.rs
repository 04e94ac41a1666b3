//! # shuyu-cluster
//!
//! The Ballista engine of shuyu: the inner, contribution-bounded plan of each release runs
//! on a Ballista cluster (a scheduler and executors), while noise, calibration, the ledger
//! and all post-processing stay in the front end. This crate holds everything the three
//! parties (front end, scheduler, executors) must agree on.
//!
//! ## Layout
//! - [`codec`]: shuyu's [`datafusion_proto`] extension codecs (logical and physical): the
//!   bounding aggregate, the on-grid function and the total kernels travel with their
//!   parameters, and personal datasets as [`table::DatasetTable`]. Every party is built with
//!   them ([`codec::ShuyuCodec`]).
//! - [`table`]: the personal dataset's table provider as it leaves the front end, and
//!   [`table::ship`], the rewrite that puts it in a plan.
//! - [`session`]: the front end's client side: a session state whose query planner sends
//!   plans to the scheduler with shuyu's codecs.
//! - [`process`]: `shuyu cluster scheduler` and `shuyu cluster executor`, on Ballista's
//!   library entry points.
//! - [`local`]: an in-process cluster (one scheduler, N executors, loopback, port 0) for
//!   tests, the demo and benchmarks.
//! - [`error`]: the crate's error enum.

pub mod codec;
pub mod error;
pub mod local;
pub mod process;
pub mod session;
pub mod table;

pub use codec::ShuyuCodec;
pub use error::ClusterError;
pub use local::InProcessCluster;
pub use session::ballista_state;
