//! `shuyu.toml`: the service's configuration, every key overridable by an environment
//! variable `SHUYU_<KEY>` (nested keys joined by `_`, e.g. `SHUYU_LIMITS_QUERY_TIMEOUT_SECS`).
//!
//! ```toml
//! listen = "127.0.0.1:50051"        # SHUYU_LISTEN
//! data_dir = "data/demo"            # SHUYU_DATA_DIR (the governance store is DATA_DIR/domain)
//! allow_insecure_remote = false     # SHUYU_ALLOW_INSECURE_REMOTE
//! environment = "prod"              # SHUYU_ENVIRONMENT: "prod" (prod + dev) or "dev" (dev only)
//! dev_data_dir = "data/demo/dev"    # SHUYU_DEV_DATA_DIR (default DATA_DIR/dev): masked samples
//! console = true                    # SHUYU_CONSOLE: serve the web console
//! console_listen = "127.0.0.1:8080" # SHUYU_CONSOLE_LISTEN (port 0: any free port)
//! console_session_minutes = 30      # SHUYU_CONSOLE_SESSION_MINUTES; SHUYU_CONSOLE_SESSION_SECONDS (tests) wins
//! engine = "local"                  # SHUYU_ENGINE: "local" or "ballista" (releases' inner plans)
//! store = "sqlite"                  # SHUYU_STORE: "sqlite" (DATA_DIR/domain/governance.db) or "postgres"
//! store_url = "host=db.internal dbname=shuyu user=shuyu"   # SHUYU_STORE_URL (postgres; no password in it)
//! store_password_file = "/etc/shuyu/store.password"        # SHUYU_STORE_PASSWORD_FILE (0600; optional)
//!
//! [cluster]                         # with engine = "ballista" (docs/deployment.md)
//! scheduler = "http://10.0.0.5:50050"  # SHUYU_CLUSTER_SCHEDULER
//! partitions = 16                   # optional; SHUYU_CLUSTER_PARTITIONS (default: the scope's)
//!
//! [tls]                             # optional; both or neither
//! cert = "/etc/shuyu/server.pem"    # SHUYU_TLS_CERT
//! key = "/etc/shuyu/server.key"     # SHUYU_TLS_KEY
//!
//! [limits]
//! memory_per_job_mb = 1024          # SHUYU_LIMITS_MEMORY_PER_JOB_MB
//! query_timeout_secs = 120          # SHUYU_LIMITS_QUERY_TIMEOUT_SECS
//! max_jobs_per_unit = 4             # SHUYU_LIMITS_MAX_JOBS_PER_UNIT
//!
//! [encryption]                      # optional; both or neither
//! domain_keys = "/etc/shuyu/domain.keys"   # SHUYU_ENCRYPTION_DOMAIN_KEYS
//! keyholder = "http://10.0.0.9:50061"      # SHUYU_ENCRYPTION_KEYHOLDER
//! conversion_keys = "/etc/shuyu/conversion.keys"  # optional; SHUYU_ENCRYPTION_CONVERSION_KEYS
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use shuyu_runtime::limits::{Limits, Served};

pub use crate::store_config::StoreKind;

use crate::Error;

/// The service's configuration.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address the gRPC service listens on (port 0: any free port).
    pub listen: SocketAddr,
    /// Data directory: the governance store lives in `DATA_DIR/domain`.
    pub data_dir: PathBuf,
    /// Allow plaintext on a non-loopback address (only behind a TLS-terminating proxy).
    pub allow_insecure_remote: bool,
    /// Certificate and key for TLS.
    pub tls: Option<TlsFiles>,
    /// Resource limits of jobs.
    pub limits: Limits,
    /// Which environments this server serves.
    pub environment: Served,
    /// The masked samples of the dev environment (default `DATA_DIR/dev`).
    pub dev_data_dir: Option<PathBuf>,
    /// Encrypted social data: the custodian's domain keys and the keyholder (optional).
    pub encryption: Option<EncryptionConfig>,
    /// Serve the web console (`shuyu serve`).
    pub console: bool,
    /// Address the web console listens on (plain HTTP: loopback unless
    /// `allow_insecure_remote`, behind a TLS-terminating proxy).
    pub console_listen: SocketAddr,
    /// How long a console session lasts from sign-in, in minutes.
    pub console_session_minutes: u64,
    /// `SHUYU_CONSOLE_SESSION_SECONDS` (tests only): a session length in seconds that wins
    /// over `console_session_minutes`. Not a file key.
    #[serde(skip)]
    pub console_session_seconds: Option<u64>,
    /// Where releases' exact inner plans run.
    pub engine: EngineKind,
    /// The Ballista cluster (with `engine = "ballista"`).
    pub cluster: Option<ClusterConfig>,
    /// Where the governance store's tables live (`crate::store_config`).
    pub store: StoreKind,
    /// The PostgreSQL connection URL (`store = "postgres"`): `postgres://user@host/db` or
    /// `host=… dbname=… user=…`. It must not carry the password (`store_password_file`).
    pub store_url: Option<String>,
    /// A file (mode 0600) holding the PostgreSQL password, read at start.
    pub store_password_file: Option<PathBuf>,
}

/// `engine`: where releases' exact, contribution-bounded inner plans run. Noise, the ledger
/// and everything after a release run in this server either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineKind {
    /// In this process.
    #[default]
    Local,
    /// On the Ballista cluster of `[cluster]`.
    Ballista,
}

impl std::str::FromStr for EngineKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "local" => Ok(EngineKind::Local),
            "ballista" => Ok(EngineKind::Ballista),
            other => Err(format!("engine `{other}`: use `local` or `ballista`")),
        }
    }
}

/// `[cluster]`: the Ballista cluster inner plans run on.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// The scheduler's URL, `http://host:port`.
    pub scheduler: String,
    /// Target partitions of the cluster's plans (default: the scope's).
    #[serde(default)]
    pub partitions: Option<usize>,
}

/// `[encryption]`: computing on encrypted imports.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EncryptionConfig {
    /// The custodian's `domain.keys` (server key and compact public key).
    pub domain_keys: PathBuf,
    /// The keyholder's URI, e.g. `http://127.0.0.1:50061`.
    pub keyholder: String,
    /// The custodian's `conversion.keys`, if any: proven columns are then converted into the
    /// linear tier at upload, and sums without an encrypted filter run there.
    #[serde(default)]
    pub conversion_keys: Option<PathBuf>,
}

/// PEM files of the server's TLS identity.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    /// Certificate chain (PEM).
    pub cert: PathBuf,
    /// Private key (PEM).
    pub key: PathBuf,
}

/// The default listen address of `shuyu serve` and `shuyu demo`.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:50051";
/// Default address of the web console.
pub const DEFAULT_CONSOLE_LISTEN: &str = "127.0.0.1:8080";

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 50051)),
            data_dir: PathBuf::from("data/demo"),
            allow_insecure_remote: false,
            tls: None,
            limits: Limits::default(),
            encryption: None,
            environment: Served::Prod,
            dev_data_dir: None,
            console: true,
            console_listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            console_session_minutes: 30,
            console_session_seconds: None,
            engine: EngineKind::Local,
            cluster: None,
            store: StoreKind::Sqlite,
            store_url: None,
            store_password_file: None,
        }
    }
}

impl Config {
    /// Reads `path` (or the defaults when `None`), then applies `SHUYU_*` variables.
    pub fn load(path: Option<&Path>) -> Result<Config, Error> {
        let base = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(Error::io(format!("reading the configuration {}", p.display())))?;
                Config::parse(&text).map_err(|e| Error::Usage(format!("configuration {}: {e}", p.display())))?
            }
            None => Config::default(),
        };
        base.with_env(|k| std::env::var(k).ok())
    }

    /// Parses a TOML configuration (missing keys take their defaults).
    pub fn parse(text: &str) -> Result<Config, String> {
        toml::from_str(text).map_err(|e| e.message().to_string())
    }

    /// Applies overrides from `var` (the environment, or a map in tests).
    pub fn with_env(mut self, var: impl Fn(&str) -> Option<String>) -> Result<Config, Error> {
        fn parsed<T: std::str::FromStr>(name: &str, value: String) -> Result<T, Error> {
            value.trim().parse().map_err(|_| Error::Usage(format!("environment variable {name}: cannot parse its value")))
        }
        if let Some(v) = var("SHUYU_LISTEN") {
            self.listen = parsed("SHUYU_LISTEN", v)?;
        }
        if let Some(v) = var("SHUYU_DATA_DIR") {
            self.data_dir = PathBuf::from(v);
        }
        if let Some(v) = var("SHUYU_ALLOW_INSECURE_REMOTE") {
            self.allow_insecure_remote = parsed("SHUYU_ALLOW_INSECURE_REMOTE", v)?;
        }
        match (var("SHUYU_TLS_CERT"), var("SHUYU_TLS_KEY")) {
            (Some(cert), Some(key)) => self.tls = Some(TlsFiles { cert: cert.into(), key: key.into() }),
            (None, None) => {}
            _ => return Err(Error::Usage("set both SHUYU_TLS_CERT and SHUYU_TLS_KEY, or neither".into())),
        }
        if let Some(v) = var("SHUYU_ENVIRONMENT") {
            self.environment = v.parse().map_err(|_| Error::Usage("environment variable SHUYU_ENVIRONMENT: `prod` or `dev`".into()))?;
        }
        if let Some(v) = var("SHUYU_DEV_DATA_DIR") {
            self.dev_data_dir = Some(PathBuf::from(v));
        }
        match (var("SHUYU_ENCRYPTION_DOMAIN_KEYS"), var("SHUYU_ENCRYPTION_KEYHOLDER")) {
            (Some(keys), Some(keyholder)) => {
                let conversion_keys = var("SHUYU_ENCRYPTION_CONVERSION_KEYS").map(PathBuf::from);
                self.encryption = Some(EncryptionConfig { domain_keys: keys.into(), keyholder, conversion_keys })
            }
            (None, None) => {}
            _ => return Err(Error::Usage("set both SHUYU_ENCRYPTION_DOMAIN_KEYS and SHUYU_ENCRYPTION_KEYHOLDER, or neither".into())),
        }
        if let Some(v) = var("SHUYU_CONSOLE") {
            self.console = parsed("SHUYU_CONSOLE", v)?;
        }
        if let Some(v) = var("SHUYU_CONSOLE_LISTEN") {
            self.console_listen = parsed("SHUYU_CONSOLE_LISTEN", v)?;
        }
        if let Some(v) = var("SHUYU_CONSOLE_SESSION_MINUTES") {
            self.console_session_minutes = parsed("SHUYU_CONSOLE_SESSION_MINUTES", v)?;
        }
        if let Some(v) = var("SHUYU_CONSOLE_SESSION_SECONDS") {
            self.console_session_seconds = Some(parsed("SHUYU_CONSOLE_SESSION_SECONDS", v)?);
        }
        if let Some(v) = var("SHUYU_ENGINE") {
            self.engine = v.parse().map_err(|e| Error::Usage(format!("environment variable SHUYU_ENGINE: {e}")))?;
        }
        if let Some(v) = var("SHUYU_CLUSTER_SCHEDULER") {
            let partitions = self.cluster.as_ref().and_then(|c| c.partitions);
            self.cluster = Some(ClusterConfig { scheduler: v, partitions });
        }
        if let Some(v) = var("SHUYU_CLUSTER_PARTITIONS") {
            let n = parsed("SHUYU_CLUSTER_PARTITIONS", v)?;
            match &mut self.cluster {
                Some(c) => c.partitions = Some(n),
                None => return Err(Error::Usage("SHUYU_CLUSTER_PARTITIONS needs the scheduler too: set SHUYU_CLUSTER_SCHEDULER or [cluster] scheduler".into())),
            }
        }
        if let Some(v) = var("SHUYU_STORE") {
            self.store = v.trim().parse().map_err(|_| Error::Usage("environment variable SHUYU_STORE: `sqlite` or `postgres`".into()))?;
        }
        if let Some(v) = var("SHUYU_STORE_URL") {
            self.store_url = Some(v);
        }
        if let Some(v) = var("SHUYU_STORE_PASSWORD_FILE") {
            self.store_password_file = Some(PathBuf::from(v));
        }
        if let Some(v) = var("SHUYU_LIMITS_MEMORY_PER_JOB_MB") {
            self.limits.memory_per_job_mb = parsed("SHUYU_LIMITS_MEMORY_PER_JOB_MB", v)?;
        }
        if let Some(v) = var("SHUYU_LIMITS_QUERY_TIMEOUT_SECS") {
            self.limits.query_timeout_secs = parsed("SHUYU_LIMITS_QUERY_TIMEOUT_SECS", v)?;
        }
        if let Some(v) = var("SHUYU_LIMITS_MAX_JOBS_PER_UNIT") {
            self.limits.max_jobs_per_unit = parsed("SHUYU_LIMITS_MAX_JOBS_PER_UNIT", v)?;
        }
        self.validate()?;
        Ok(self)
    }

    /// Checks values that parse but cannot work.
    pub fn validate(&self) -> Result<(), Error> {
        if self.limits.max_jobs_per_unit == 0 {
            return Err(Error::Usage("limits.max_jobs_per_unit must be at least 1".into()));
        }
        if self.limits.query_timeout_secs == 0 {
            return Err(Error::Usage("limits.query_timeout_secs must be at least 1".into()));
        }
        if self.console_session_minutes == 0 || self.console_session_seconds == Some(0) {
            return Err(Error::Usage("console_session_minutes (or SHUYU_CONSOLE_SESSION_SECONDS) must be at least 1".into()));
        }
        if self.limits.memory_per_job_mb == 0 {
            return Err(Error::Usage("limits.memory_per_job_mb must be at least 1".into()));
        }
        match (self.engine, &self.cluster) {
            (EngineKind::Ballista, None) => {
                return Err(Error::Usage("engine = \"ballista\" needs the scheduler: set [cluster] scheduler = \"http://host:port\" (or SHUYU_CLUSTER_SCHEDULER)".into()))
            }
            (_, Some(c)) if !(c.scheduler.starts_with("http://") || c.scheduler.starts_with("https://")) => {
                return Err(Error::Usage("cluster.scheduler must be a URL, http://host:port".into()))
            }
            (_, Some(c)) if c.partitions == Some(0) => return Err(Error::Usage("cluster.partitions must be at least 1".into())),
            _ => {}
        }
        self.validate_store()
    }

    /// The engine releases' inner plans run on, as configured.
    pub fn inner_engine(&self) -> shuyu_compute::InnerEngine {
        match (self.engine, &self.cluster) {
            (EngineKind::Ballista, Some(c)) => shuyu_compute::InnerEngine::ballista(c.scheduler.clone(), c.partitions),
            _ => shuyu_compute::InnerEngine::Local,
        }
    }

    /// The governance store's directory.
    pub fn store_dir(&self) -> PathBuf {
        self.data_dir.join("domain")
    }

    /// How long a console session lasts from sign-in.
    pub fn console_session_ttl(&self) -> std::time::Duration {
        match self.console_session_seconds {
            Some(s) => std::time::Duration::from_secs(s),
            None => std::time::Duration::from_secs(self.console_session_minutes.saturating_mul(60)),
        }
    }

    /// The masked samples' directory.
    pub fn samples_dir(&self) -> PathBuf {
        self.dev_data_dir.clone().unwrap_or_else(|| self.data_dir.join(shuyu_runtime::dev::SAMPLES_DIR))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use std::collections::HashMap;

    use super::*;

    #[test]
    fn file_keys_then_environment_override() {
        let c = Config::parse("listen = \"127.0.0.1:6000\"\n[limits]\nmax_jobs_per_unit = 2\n").expect("parses");
        assert_eq!(c.listen.port(), 6000);
        assert_eq!(c.limits.max_jobs_per_unit, 2);
        assert_eq!(c.limits.query_timeout_secs, Limits::default().query_timeout_secs);
        let env: HashMap<&str, &str> =
            [("SHUYU_LISTEN", "127.0.0.1:7000"), ("SHUYU_LIMITS_QUERY_TIMEOUT_SECS", "5"), ("SHUYU_ALLOW_INSECURE_REMOTE", "true")].into();
        let c = c.with_env(|k| env.get(k).map(|v| v.to_string())).expect("overrides apply");
        assert_eq!(c.listen.port(), 7000);
        assert_eq!(c.limits.timeout(), Duration::from_secs(5));
        assert!(c.allow_insecure_remote);
        assert_eq!(c.limits.max_jobs_per_unit, 2);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused() {
        assert!(Config::parse("lissen = \"127.0.0.1:1\"").is_err());
        let bad = Config::default().with_env(|k| (k == "SHUYU_LIMITS_MAX_JOBS_PER_UNIT").then(|| "many".to_string()));
        assert!(matches!(bad, Err(Error::Usage(_))));
        let zero = Config::default().with_env(|k| (k == "SHUYU_LIMITS_MAX_JOBS_PER_UNIT").then(|| "0".to_string()));
        assert!(matches!(zero, Err(Error::Usage(_))));
        let half_tls = Config::default().with_env(|k| (k == "SHUYU_TLS_CERT").then(|| "c.pem".to_string()));
        assert!(matches!(half_tls, Err(Error::Usage(_))));
    }

    #[test]
    fn the_example_file_parses() {
        let text = include_str!("../shuyu.example.toml");
        let c = Config::parse(text).expect("example parses");
        assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
        assert!(c.tls.is_none());
        assert_eq!(c.environment, Served::Prod);
        assert_eq!(c.samples_dir(), PathBuf::from("data/demo/dev"));
    }

    #[test]
    fn the_console_is_on_by_default_and_configured_by_key_or_variable() {
        let c = Config::default();
        assert!(c.console);
        assert_eq!(c.console_listen.to_string(), DEFAULT_CONSOLE_LISTEN);
        assert_eq!(c.console_session_ttl(), Duration::from_secs(30 * 60));
        let c = Config::parse("console = false\nconsole_listen = \"127.0.0.1:0\"\nconsole_session_minutes = 5\n").expect("parses");
        assert!(!c.console);
        assert_eq!((c.console_listen.port(), c.console_session_ttl()), (0, Duration::from_secs(300)));
        let env: HashMap<&str, &str> = [("SHUYU_CONSOLE_LISTEN", "127.0.0.1:9090"), ("SHUYU_CONSOLE_SESSION_SECONDS", "3")].into();
        let c = c.with_env(|k| env.get(k).map(|v| v.to_string())).expect("overrides apply");
        assert_eq!((c.console_listen.port(), c.console_session_ttl()), (9090, Duration::from_secs(3)));
        assert!(Config::parse("console_session_minutes = 0").expect("parses").validate().is_err());
        assert!(Config::parse("console_sessions = 1").is_err());
    }

    #[test]
    fn the_engine_is_local_unless_a_cluster_is_configured() {
        assert_eq!(Config::default().inner_engine(), shuyu_compute::InnerEngine::Local);
        let c = Config::parse("engine = \"ballista\"\n[cluster]\nscheduler = \"http://10.0.0.5:50050\"\npartitions = 8\n").expect("parses");
        c.validate().expect("valid");
        assert_eq!(c.inner_engine(), shuyu_compute::InnerEngine::ballista("http://10.0.0.5:50050", Some(8)));
        assert!(matches!(Config::parse("engine = \"ballista\"").expect("parses").validate(), Err(Error::Usage(m)) if m.contains("[cluster] scheduler")));
        assert!(Config::parse("engine = \"spark\"").is_err());
        assert!(Config::parse("[cluster]\nscheduler = \"10.0.0.5:50050\"\n").expect("parses").validate().is_err(), "a URL");
        let env: HashMap<&str, &str> = [("SHUYU_ENGINE", "ballista"), ("SHUYU_CLUSTER_SCHEDULER", "http://127.0.0.1:50050")].into();
        let c = Config::default().with_env(|k| env.get(k).map(|v| v.to_string())).expect("overrides apply");
        assert_eq!(c.inner_engine().name(), "ballista");
        assert!(matches!(Config::default().with_env(|k| (k == "SHUYU_ENGINE").then(|| "ballista".to_string())), Err(Error::Usage(_))));
    }

    #[test]
    fn a_dev_server_is_configured_by_key_or_variable() {
        let c = Config::parse("environment = \"dev\"\ndev_data_dir = \"/srv/samples\"\n").expect("parses");
        assert_eq!((c.environment, c.samples_dir()), (Served::Dev, PathBuf::from("/srv/samples")));
        let c = Config::default().with_env(|k| (k == "SHUYU_ENVIRONMENT").then(|| "dev".to_string())).expect("override");
        assert_eq!(c.environment, Served::Dev);
        assert!(Config::parse("environment = \"staging\"").is_err());
        assert!(matches!(Config::default().with_env(|k| (k == "SHUYU_ENVIRONMENT").then(|| "both".to_string())), Err(Error::Usage(_))));
    }
}
