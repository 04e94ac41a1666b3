//! The governance store's configuration keys: `store = "sqlite" | "postgres"`, `store_url`
//! (no password in it) and `store_password_file` (mode 0600), and the [`StoreOptions`] they
//! make (`docs/deployment.md`, *Several front ends over PostgreSQL*).
//!
//! [`StoreOptions`]: shuyu_governance::StoreOptions

use std::path::Path;

use serde::Deserialize;

use crate::config::Config;
use crate::Error;

/// `store`: the governance store's backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    /// One SQLite file in the data directory: one front end.
    #[default]
    Sqlite,
    /// One PostgreSQL database shared by several front ends.
    Postgres,
}

impl std::str::FromStr for StoreKind {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "sqlite" => Ok(StoreKind::Sqlite),
            "postgres" => Ok(StoreKind::Postgres),
            _ => Err(()),
        }
    }
}

impl Config {
    /// Checks the store's keys: a PostgreSQL store needs a URL without a password; an SQLite
    /// store takes none.
    pub(crate) fn validate_store(&self) -> Result<(), Error> {
        match (self.store, &self.store_url) {
            (StoreKind::Postgres, None) => {
                return Err(Error::Usage("store = \"postgres\" needs store_url (SHUYU_STORE_URL), e.g. host=db.internal dbname=shuyu user=shuyu".into()))
            }
            (StoreKind::Sqlite, Some(_)) => {
                return Err(Error::Usage("store_url is set but store is \"sqlite\"; set store = \"postgres\" (SHUYU_STORE) or remove store_url".into()))
            }
            (StoreKind::Postgres, Some(url)) if url_has_password(url) => {
                return Err(Error::Usage(
                    "store_url carries a password; remove it from the URL and put it in the file named by store_password_file (mode 0600)".into(),
                ))
            }
            _ => {}
        }
        Ok(())
    }

    /// How to open the governance store: the backend, with the password read from its file.
    pub fn store_options(&self) -> Result<shuyu_governance::StoreOptions, Error> {
        let backend = match (self.store, &self.store_url) {
            (StoreKind::Postgres, Some(url)) => {
                let password = match &self.store_password_file {
                    Some(path) => Some(read_password(path)?),
                    None => None,
                };
                shuyu_governance::Backend::Postgres { url: url.clone(), password }
            }
            _ => shuyu_governance::Backend::Sqlite,
        };
        Ok(shuyu_governance::StoreOptions { backend, ..Default::default() })
    }
}

/// Whether a PostgreSQL URL or connection string carries a password.
fn url_has_password(url: &str) -> bool {
    let lower = url.to_ascii_lowercase();
    if lower.contains("password=") {
        return true;
    }
    // postgres://user:secret@host/db
    lower
        .strip_prefix("postgres://")
        .or_else(|| lower.strip_prefix("postgresql://"))
        .and_then(|rest| rest.split_once('@'))
        .is_some_and(|(userinfo, _)| userinfo.contains(':'))
}

/// Reads the store's password file, refusing one that others can read.
fn read_password(path: &Path) -> Result<String, Error> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(path).map_err(Error::io(format!("reading store_password_file {}", path.display())))?;
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(Error::Usage(format!(
                "store_password_file {} can be read by others; chmod 600 it",
                path.display()
            )));
        }
    }
    let text = std::fs::read_to_string(path).map_err(Error::io(format!("reading store_password_file {}", path.display())))?;
    let password = text.trim_end_matches(['\n', '\r']).to_string();
    if password.is_empty() {
        return Err(Error::Usage(format!("store_password_file {} is empty", path.display())));
    }
    Ok(password)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn the_store_is_sqlite_by_default_and_postgres_needs_a_url_without_its_password() {
        let c = Config::default();
        assert_eq!(c.store, StoreKind::Sqlite);
        assert_eq!(c.store_options().unwrap().backend, shuyu_governance::Backend::Sqlite);
        let c = Config::parse("store = \"postgres\"\nstore_url = \"host=/run/pg dbname=shuyu user=shuyu\"\n").expect("parses");
        assert_eq!(
            c.store_options().unwrap().backend,
            shuyu_governance::Backend::Postgres { url: "host=/run/pg dbname=shuyu user=shuyu".into(), password: None }
        );
        let env: HashMap<&str, &str> = [("SHUYU_STORE", "postgres"), ("SHUYU_STORE_URL", "postgres://shuyu@db/shuyu")].into();
        let c = Config::default().with_env(|k| env.get(k).map(|v| v.to_string())).expect("overrides apply");
        assert_eq!(c.store_url.as_deref(), Some("postgres://shuyu@db/shuyu"));
        let refused = |text: &str, needle: &str| match Config::parse(text).expect("parses").validate() {
            Err(Error::Usage(msg)) => assert!(msg.contains(needle), "{msg}"),
            other => panic!("{text}: {other:?}"),
        };
        refused("store = \"postgres\"", "needs store_url");
        refused("store_url = \"host=db\"", "set store = \"postgres\"");
        refused("store = \"postgres\"\nstore_url = \"host=db password=hunter2\"", "store_password_file");
        refused("store = \"postgres\"\nstore_url = \"postgres://shuyu:hunter2@db/shuyu\"", "store_password_file");
        assert!(Config::parse("store = \"mysql\"").is_err());
    }

    #[test]
    fn the_store_password_is_read_from_a_private_file_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("store.password");
        std::fs::write(&file, "s3cret\n").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let mut c = Config::parse("store = \"postgres\"\nstore_url = \"host=db user=shuyu\"\n").expect("parses");
        c.store_password_file = Some(file.clone());
        match c.store_options() {
            Err(Error::Usage(msg)) => assert!(msg.contains("chmod 600") && !msg.contains("s3cret"), "{msg}"),
            other => panic!("{other:?}"),
        }
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let options = c.store_options().unwrap();
        assert_eq!(options.backend, shuyu_governance::Backend::Postgres { url: "host=db user=shuyu".into(), password: Some("s3cret".into()) });
        assert!(!format!("{options:?}").contains("s3cret") && !format!("{options:?}").contains("host=db"), "{options:?}");
    }
}
