//! The network edges every service shares: binding a listener, the URI clients are shown,
//! and the shutdown signal.

use std::net::SocketAddr;

use tokio::net::TcpListener;

use crate::Error;

/// Binds `addr`, saying which address failed.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, Error> {
    TcpListener::bind(addr).await.map_err(Error::io(format!("binding {addr}")))
}

/// The URI clients connect to for a bound address (`grpc://HOST:PORT`; an unspecified
/// address is shown as loopback).
pub fn flight_sql_uri(addr: SocketAddr) -> String {
    let mut shown = addr;
    if addr.ip().is_unspecified() {
        shown.set_ip(if addr.is_ipv4() { [127, 0, 0, 1].into() } else { std::net::Ipv6Addr::LOCALHOST.into() });
    }
    format!("grpc://{shown}")
}

/// Completes on Ctrl-C (or at once if the signal cannot be watched, after logging why).
pub async fn shutdown_signal() {
    if let Err(e) = tokio::signal::ctrl_c().await {
        tracing::error!(error = %e, "cannot watch for Ctrl-C; stopping");
    }
}
