//! The front end's side of the cluster: a session state whose query planner sends each
//! plan to the scheduler (through Ballista's `DistributedQueryExec`) with shuyu's codecs.

use std::sync::Arc;

use ballista_core::extension::{SessionConfigExt, SessionStateExt};
use datafusion::common::Result;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::execution::SessionState;
use datafusion::prelude::SessionContext;

use crate::codec::ShuyuCodec;

/// `base` (a scope's session: its configuration, tables and functions) upgraded to run
/// every plan on the cluster whose scheduler is at `scheduler_url` (`http://host:port`),
/// with `partitions` target partitions when given (the cluster splits file scans and
/// shuffles into that many tasks).
pub fn ballista_state(base: &SessionState, scheduler_url: &str, partitions: Option<usize>) -> Result<SessionState> {
    let codec = ShuyuCodec::default();
    // (Not creating a default catalog: that would replace the scope's, which holds its tables.)
    let mut config = base
        .config()
        .clone()
        .with_create_default_catalog_and_schema(false)
        .with_ballista_logical_extension_codec(codec.logical)
        .with_ballista_physical_extension_codec(codec.physical);
    if let Some(n) = partitions {
        config = config.with_target_partitions(n.max(1));
    }
    let state = SessionStateBuilder::new_from_existing(base.clone()).with_config(config).build();
    state.upgrade_for_ballista(scheduler_url.to_string())
}

/// A context over [`ballista_state`] of `base`'s state.
pub fn ballista_context(base: &SessionContext, scheduler_url: &str, partitions: Option<usize>) -> Result<SessionContext> {
    Ok(SessionContext::new_with_state(ballista_state(&base.state(), scheduler_url, partitions)?))
}

/// The session configuration a scheduler and executors build job sessions from: Ballista's
/// defaults with shuyu's codecs (the front end sends its own settings with each job).
pub fn cluster_config() -> datafusion::prelude::SessionConfig {
    let codec = ShuyuCodec::default();
    datafusion::prelude::SessionConfig::new_with_ballista().with_ballista_logical_extension_codec(codec.logical).with_ballista_physical_extension_codec(codec.physical)
}

/// A job session on a scheduler or executor: Ballista's default session over `config`,
/// with shuyu's codecs set.
pub fn cluster_session(config: datafusion::prelude::SessionConfig) -> Result<SessionState> {
    let codec = ShuyuCodec::default();
    ballista_core::utils::default_session_builder(config.with_ballista_logical_extension_codec(codec.logical).with_ballista_physical_extension_codec(codec.physical))
}

/// Shared, for the process entry points.
pub(crate) fn session_builder() -> Arc<dyn Fn(datafusion::prelude::SessionConfig) -> Result<SessionState> + Send + Sync> {
    Arc::new(cluster_session)
}

/// The function registry of an executor: Ballista's defaults and shuyu's total kernels (by
/// name; functions with parameters are rebuilt by [`crate::codec`]).
pub fn function_registry() -> ballista_core::registry::BallistaFunctionRegistry {
    let mut r = ballista_core::registry::BallistaFunctionRegistry::default();
    for k in shuyu_planner::total::kernels::Kernel::ALL {
        r.scalar_functions.insert(k.name().to_string(), Arc::new(k.udf()));
    }
    r
}
