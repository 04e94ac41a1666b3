//! A private PostgreSQL cluster for one test: `scripts/postgres.sh` (Debian's server
//! binaries, a unix socket in a fresh directory, no TCP port), stopped when dropped.

use std::path::PathBuf;
use std::process::Command;

/// A running private cluster.
pub struct PrivateCluster {
    dir: PathBuf,
    /// The libpq connection string of the cluster, without `dbname`.
    pub server: String,
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/postgres.sh")
}

impl PrivateCluster {
    /// Starts a cluster in a fresh directory under `/tmp` (the server may run as the
    /// `postgres` user, which must reach it). Fails, rather than skips, without the server
    /// binaries.
    pub fn start() -> PrivateCluster {
        let dir = PathBuf::from(format!("/tmp/shuyu-pg-test.{}.{}", std::process::id(), rand_suffix()));
        let out = Command::new(script()).arg("start").arg(&dir).output().expect("run scripts/postgres.sh");
        assert!(
            out.status.success(),
            "a private PostgreSQL cluster could not start (install Debian's postgresql): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let server = String::from_utf8(out.stdout).expect("utf-8").trim().to_string();
        PrivateCluster { dir, server }
    }

    /// Creates database `name` and returns its connection string.
    pub fn database(&self, name: &str) -> String {
        let mut admin = postgres::Client::connect(&format!("{} dbname=postgres", self.server), postgres::NoTls).expect("connect to the private cluster");
        admin.batch_execute(&format!("CREATE DATABASE {name}")).expect("create the database");
        format!("{} dbname={name}", self.server)
    }
}

fn rand_suffix() -> u64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos() as u64).unwrap_or(0)
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        let _ = Command::new(script()).arg("stop").arg(&self.dir).status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
