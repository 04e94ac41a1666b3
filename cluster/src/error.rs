//! The cluster crate's error enum.

/// Errors of starting or reaching the cluster, and of shipping plans to it.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// A scheduler or executor could not start (a port in use, a bad address).
    #[error("cluster process failed to start: {0}; check the address and that the port is free")]
    Start(String),
    /// The configuration of a cluster process is invalid.
    #[error("invalid cluster configuration: {0}")]
    Config(String),
    /// A plan could not be prepared for the cluster (likely a bug in shuyu).
    #[error("internal error preparing a plan for the cluster (likely a bug in shuyu, please report it): {0}")]
    Ship(String),
}

/// Result alias of this crate.
pub type Result<T, E = ClusterError> = std::result::Result<T, E>;
