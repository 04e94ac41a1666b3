//! The data directory: where the database, the domain's keys and each unit's files live.
//!
//! ```text
//! <data>/governance.db         the store (SQLite, WAL)
//! <data>/domain/signing.key    the domain's Ed25519 key (0600)
//! <data>/domain/id_pepper      secret mixed into ID-number hashes (0600)
//! <data>/run/<holder>.lock     one per open store handle (crash recovery)
//! <data>/imports/<unit>/       a unit's social-data imports
//! <data>/results/<unit>/       a unit's held results
//! <data>/keys/<unit>/          a unit's keys (TFHE server keys…)
//! <data>/cache/<unit>/         a unit's caches
//! ```

use std::path::{Path, PathBuf};

use crate::error::{GovernanceError, Result};
use crate::ids::UnitId;

text_enum!(
    /// A per-unit area of the data directory; revocation deletes all of them.
    pub enum UnitArea {
        /// Social-data imports (`imports/<unit>/`).
        Imports => "imports",
        /// Held results (`results/<unit>/`).
        Results => "results",
        /// Keys (`keys/<unit>/`).
        Keys => "keys",
        /// Caches (`cache/<unit>/`).
        Cache => "cache",
    }
);

impl UnitArea {
    /// Every area, in deletion order.
    pub const ALL: [UnitArea; 4] = [
        UnitArea::Imports,
        UnitArea::Results,
        UnitArea::Keys,
        UnitArea::Cache,
    ];
}

/// Paths inside the data directory.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    root: PathBuf,
}

impl Layout {
    pub(crate) fn new(root: &Path) -> Self {
        Layout {
            root: root.to_path_buf(),
        }
    }

    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    pub(crate) fn database(&self) -> PathBuf {
        self.root.join("governance.db")
    }

    pub(crate) fn domain_dir(&self) -> PathBuf {
        self.root.join("domain")
    }

    pub(crate) fn run_dir(&self) -> PathBuf {
        self.root.join("run")
    }

    pub(crate) fn holder_lock(&self, holder: &str) -> PathBuf {
        self.run_dir().join(format!("{holder}.lock"))
    }

    pub(crate) fn unit_dir(&self, area: UnitArea, unit: UnitId) -> PathBuf {
        self.root.join(area.as_str()).join(unit.0.to_string())
    }

    /// Creates the directories every store needs.
    pub(crate) fn create(&self) -> Result<()> {
        for dir in [self.root.clone(), self.domain_dir(), self.run_dir()] {
            std::fs::create_dir_all(&dir).map_err(|e| GovernanceError::io(&dir, e))?;
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let domain = self.domain_dir();
            std::fs::set_permissions(&domain, std::fs::Permissions::from_mode(0o700))
                .map_err(|e| GovernanceError::io(&domain, e))?;
        }
        Ok(())
    }

    /// Deletes every area of a unit; returns the directories that existed.
    pub(crate) fn delete_unit_files(&self, unit: UnitId) -> Result<Vec<PathBuf>> {
        let mut deleted = Vec::new();
        for area in UnitArea::ALL {
            let dir = self.unit_dir(area, unit);
            match std::fs::remove_dir_all(&dir) {
                Ok(()) => deleted.push(dir),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(GovernanceError::io(&dir, e)),
            }
        }
        Ok(deleted)
    }
}

/// Checks a file name chosen by a user: one path component, no hidden or parent entries.
pub(crate) fn check_file_name(name: &str, field: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(GovernanceError::invalid(
            field,
            "must be 1 to 128 characters of letters, digits, '_', '-' or '.', not starting with '.'",
        ))
    }
}

/// Checks a relative path inside a unit area: components as in [`check_file_name`].
pub(crate) fn check_relative_path(path: &str, field: &str) -> Result<()> {
    if path.is_empty() || path.len() > 512 {
        return Err(GovernanceError::invalid(
            field,
            "must be a relative path of 1 to 512 characters",
        ));
    }
    for part in path.split('/') {
        check_file_name(part, field)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_cannot_escape_their_area() {
        assert!(check_file_name("households_2024.parquet", "name").is_ok());
        for bad in ["", "..", ".hidden", "a/b", "a\\b", "x y"] {
            assert!(check_file_name(bad, "name").is_err(), "{bad} accepted");
        }
        assert!(check_relative_path("job-3/out.parquet", "path").is_ok());
        assert!(check_relative_path("../x", "path").is_err());
        assert!(check_relative_path("/abs", "path").is_err());
    }
}
