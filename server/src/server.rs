//! The gRPC server: binds the services to a listener and serves until shutdown.
//!
//! One tonic server on one port serves Arrow Flight SQL (analysts), the admin service
//! (`shuyu.admin.v1.Admin`: the bureau and supervisors) and gRPC health
//! (`grpc.health.v1.Health`), which reports both services and the server (`""`) as
//! SERVING while it runs and NOT_SERVING once shutdown begins. When the runtime carries the
//! domain's encryption material, the imports service (`shuyu.imports.v1.Imports`) is served
//! on the same port.
//!
//! [`run`] takes a bound listener and a shutdown future (tests pass port 0 and their own
//! future); [`serve`] is `shuyu serve`: it opens the store, binds the configured address
//! and serves until Ctrl-C. TLS (rustls) is served when a certificate and key are configured.
//! Unless `console = false`, `serve` also binds `console_listen` and serves the web console
//! ([`crate::console`]) next to the gRPC server, stopping on the same signal.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use shuyu_governance::Store;
use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Identity, Server, ServerTlsConfig};

use arrow_flight::flight_service_server::FlightServiceServer;
use shuyu_proto::admin::v1::admin_server::AdminServer;
use tonic_health::ServingStatus;

use crate::admin::AdminService;
use crate::config::{Config, TlsFiles};
use crate::imports::ImportsService;
use crate::flight::FlightSqlServer;
use shuyu_runtime::Runtime;
pub use crate::net::{bind, flight_sql_uri, shutdown_signal};
use crate::Error;

/// Serves Flight SQL, admin and health on `listener` over `store` until `shutdown` completes.
///
/// Serves TLS when the configuration names a certificate and key; refuses to serve
/// plaintext on a non-loopback address unless the configuration allows it explicitly
/// (`allow_insecure_remote`, for a TLS-terminating proxy in front).
pub async fn run(listener: TcpListener, store: Store, config: &Config, shutdown: impl Future<Output = ()> + Send) -> Result<(), Error> {
    run_with(listener, Arc::new(runtime_for(store, config)), config, shutdown).await
}

/// The runtime a configuration describes (without encryption: [`serve`] adds it).
pub fn runtime_for(store: Store, config: &Config) -> Runtime {
    Runtime::with_environments(store, config.limits, config.environment, Some(config.samples_dir())).with_engine(config.inner_engine())
}

/// [`run`] with a runtime the caller keeps a handle on (tests inspect its scope cache).
pub async fn run_with(listener: TcpListener, runtime: Arc<Runtime>, config: &Config, shutdown: impl Future<Output = ()> + Send) -> Result<(), Error> {
    let addr = listener.local_addr().map_err(Error::io("reading the listener's address"))?;
    check_transport(addr, config)?;
    let admin = AdminService::new(runtime.store().clone()).into_service();
    let imports = runtime.encryption().map(|enc| ImportsService::new(runtime.clone(), enc.context.clone()).into_service());
    let flight = FlightSqlServer::new(runtime.clone()).into_service();
    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<FlightServiceServer<FlightSqlServer>>().await;
    health.set_serving::<AdminServer<AdminService>>().await;
    let mut builder = Server::builder();
    if let Some(files) = &config.tls {
        builder = builder.tls_config(ServerTlsConfig::new().identity(identity(files)?))?;
    }
    tracing::info!(%addr, tls = config.tls.is_some(), environment = ?config.environment, "serving Arrow Flight SQL, admin and health");
    let draining = async move {
        shutdown.await;
        for service in ["", FLIGHT_SERVICE, ADMIN_SERVICE] {
            health.set_service_status(service, ServingStatus::NotServing).await;
        }
    };
    builder
        .add_service(health_service)
        .add_service(admin)
        .add_service(flight)
        .add_optional_service(imports)
        .serve_with_incoming_shutdown(TcpIncoming::from(listener).with_nodelay(Some(true)), draining)
        .await?;
    // Background conversions into the linear tier stop with the server.
    if let Some(enc) = runtime.encryption() {
        let context = enc.context.clone();
        tokio::task::spawn_blocking(move || context.stop_conversions()).await.map_err(|e| Error::Internal(format!("stopping the conversions: {e}")))?;
    }
    tracing::info!("server stopped");
    Ok(())
}

/// The gRPC name of the Flight service, as reported by health.
pub const FLIGHT_SERVICE: &str = "arrow.flight.protocol.FlightService";
/// The gRPC name of the admin service, as reported by health.
pub const ADMIN_SERVICE: &str = "shuyu.admin.v1.Admin";

/// `shuyu serve`: opens the store in the configured data directory, binds, and serves until
/// Ctrl-C.
pub async fn serve(config: Config) -> Result<(), Error> {
    check_transport(config.listen, &config)?;
    let store_dir = config.store_dir();
    let options = config.store_options()?;
    let store = tokio::task::spawn_blocking(move || Store::open_with(store_dir, options))
        .await
        .map_err(|e| Error::Internal(format!("opening the store: {e}")))??;
    let mut runtime = runtime_for(store, &config);
    if let Some(enc) = &config.encryption {
        // The CRS is generated once by the domain and kept beside the store.
        let crs = config.data_dir.join("encryption-crs.bin");
        let (keys, uri, conversion) = (enc.domain_keys.clone(), enc.keyholder.clone(), enc.conversion_keys.clone());
        let context = tokio::task::spawn_blocking(move || {
            shuyu_runtime::EncryptionContext::load(&keys, &crs, shuyu_compute::encrypted::CRS_MAX_BITS)?
                .with_conversion_keys(conversion.as_deref())
        })
        .await
        .map_err(|e| Error::Internal(format!("loading the encryption keys: {e}")))??;
        let keyholder = Arc::new(crate::keyholder::DomainKeyholderClient::new(uri));
        runtime = runtime.with_encryption(shuyu_runtime::Encryption { context: Arc::new(context), keyholder });
    }
    let listener = bind(config.listen).await?;
    let addr = listener.local_addr().map_err(Error::io("reading the listener's address"))?;
    println!("shuyu: Arrow Flight SQL, admin and health on {}", flight_sql_uri(addr));
    let shutdown = futures::FutureExt::shared(Box::pin(shutdown_signal()));
    tokio::spawn(crate::deadlines::enforce_every(runtime.store().clone(), crate::deadlines::PERIOD, shutdown.clone()));
    if !config.console {
        return run_with(listener, Arc::new(runtime), &config, shutdown).await;
    }
    check_console_transport(config.console_listen, &config)?;
    let console = bind(config.console_listen).await?;
    let console_addr = console.local_addr().map_err(Error::io("reading the console's address"))?;
    let options = crate::console::ConsoleOptions {
        session_ttl: config.console_session_ttl(),
        // Off loopback the console is only allowed behind a TLS-terminating proxy.
        secure_cookies: !console_addr.ip().is_loopback(),
    };
    println!("shuyu: web console on http://{console_addr}/console/");
    tracing::info!("console listening on http://{console_addr}/");
    let store = runtime.store().clone();
    tokio::try_join!(
        run_with(listener, Arc::new(runtime), &config, shutdown.clone()),
        crate::console::serve(console, store, options, shutdown),
    )?;
    Ok(())
}

/// The console speaks plain HTTP: loopback only, unless a TLS-terminating proxy is declared
/// (`allow_insecure_remote`).
pub fn check_console_transport(addr: SocketAddr, config: &Config) -> Result<(), Error> {
    if !addr.ip().is_loopback() && !config.allow_insecure_remote {
        return Err(Error::Usage(format!(
            "refusing to serve the web console over plain HTTP on {addr}, which is not a loopback address: tokens and session \
             cookies would cross the network in clear. Set console_listen to 127.0.0.1:PORT (SHUYU_CONSOLE_LISTEN), put a \
             TLS-terminating proxy in front and set allow_insecure_remote = true, or set console = false"
        )));
    }
    Ok(())
}

/// The server's TLS identity from its PEM files.
fn identity(files: &TlsFiles) -> Result<Identity, Error> {
    let cert = std::fs::read(&files.cert).map_err(Error::io(format!("reading the TLS certificate {}", files.cert.display())))?;
    let key = std::fs::read(&files.key).map_err(Error::io(format!("reading the TLS key {}", files.key.display())))?;
    Ok(Identity::from_pem(cert, key))
}

/// TLS anywhere; plaintext only on loopback, unless explicitly allowed.
pub fn check_transport(addr: SocketAddr, config: &Config) -> Result<(), Error> {
    if config.tls.is_none() && !addr.ip().is_loopback() && !config.allow_insecure_remote {
        return Err(Error::Usage(format!(
            "refusing to serve plaintext gRPC on {addr}, which is not a loopback address: tokens would cross the network in clear. \
             Configure [tls] (cert and key), listen on 127.0.0.1, or put a TLS-terminating proxy in front and set \
             allow_insecure_remote = true (SHUYU_ALLOW_INSECURE_REMOTE=true)"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plaintext_is_served_on_loopback_only_unless_allowed() {
        let mut c = Config::default();
        assert!(check_transport("127.0.0.1:1".parse().expect("addr"), &c).is_ok());
        assert!(check_transport("[::1]:1".parse().expect("addr"), &c).is_ok());
        assert!(matches!(check_transport("0.0.0.0:1".parse().expect("addr"), &c), Err(Error::Usage(_))));
        c.tls = Some(TlsFiles { cert: "c.pem".into(), key: "k.pem".into() });
        assert!(check_transport("0.0.0.0:1".parse().expect("addr"), &c).is_ok(), "TLS may listen anywhere");
        c.tls = None;
        c.allow_insecure_remote = true;
        assert!(check_transport("0.0.0.0:1".parse().expect("addr"), &c).is_ok());
    }

    #[test]
    fn uris_name_a_connectable_host() {
        assert_eq!(flight_sql_uri("127.0.0.1:5000".parse().expect("addr")), "grpc://127.0.0.1:5000");
        assert_eq!(flight_sql_uri("0.0.0.0:5000".parse().expect("addr")), "grpc://127.0.0.1:5000");
        assert_eq!(flight_sql_uri("[::1]:5000".parse().expect("addr")), "grpc://[::1]:5000");
    }
}
