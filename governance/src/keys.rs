//! The domain's secrets on disk: created once, readable by the owner only (0600).
//!
//! Two processes opening a fresh data directory at once must end with the same key, so a
//! secret is written to a private temporary file, synced, then hard-linked into place (which
//! fails if another process won) and the winner's file is read back.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::Path;

use rand::RngCore;

use crate::error::{GovernanceError, Result};

/// Random bytes from the operating system's CSPRNG (through `rand`'s thread generator,
/// a ChaCha generator seeded and reseeded from the OS).
pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    rand::rng().fill_bytes(&mut out);
    out
}

/// Loads the 32-byte secret at `path`, creating it (0600) on first use.
pub(crate) fn load_or_create_secret(path: &Path) -> Result<[u8; 32]> {
    if !path.exists() {
        create_secret(path)?;
    }
    read_secret(path)
}

fn create_secret(path: &Path) -> Result<()> {
    let tmp = path.with_extension(format!("tmp-{}", hex::encode(random_bytes::<8>())));
    let secret: [u8; 32] = random_bytes();
    {
        let mut f = private_create(&tmp)?;
        f.write_all(hex::encode(secret).as_bytes())
            .map_err(|e| GovernanceError::io(&tmp, e))?;
        f.sync_all().map_err(|e| GovernanceError::io(&tmp, e))?;
    }
    let linked = fs::hard_link(&tmp, path);
    let _ = fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(GovernanceError::io(path, e)),
    }
}

#[cfg(unix)]
fn private_create(path: &Path) -> Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| GovernanceError::io(path, e))
}

#[cfg(not(unix))]
fn private_create(path: &Path) -> Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| GovernanceError::io(path, e))
}

fn read_secret(path: &Path) -> Result<[u8; 32]> {
    check_private(path)?;
    let mut text = String::new();
    File::open(path)
        .and_then(|mut f| f.read_to_string(&mut text))
        .map_err(|e| GovernanceError::io(path, e))?;
    let bytes = hex::decode(text.trim())
        .ok()
        .filter(|b| b.len() == 32)
        .ok_or_else(|| GovernanceError::Io {
            path: path.display().to_string(),
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "the key file is not 64 hex digits; restore it from a backup",
            ),
        })?;
    let mut out = [0u8; 32];
    out.copy_from_slice(&bytes);
    Ok(out)
}

#[cfg(unix)]
fn check_private(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = fs::metadata(path)
        .map_err(|e| GovernanceError::io(path, e))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(GovernanceError::Io {
            path: path.display().to_string(),
            source: std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                "the key file is readable by others; run `chmod 600` on it",
            ),
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_path: &Path) -> Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_is_created_once_and_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        let a = load_or_create_secret(&path).unwrap();
        let b = load_or_create_secret(&path).unwrap();
        assert_eq!(a, b);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
            fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
            assert!(load_or_create_secret(&path).is_err());
        }
    }
}
