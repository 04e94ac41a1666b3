//! What the domain holds to compute on encrypted imports.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use shuyu_crypto::keys::{DomainCrs, DomainKeys};
use shuyu_crypto::linear::{CompressedConversionKey, ConversionKey, LinearColumn, LinearOrigin};
use tfhe::{CompactPublicKey, FheUint32, ServerKey};

use crate::ComputeError;

/// Plaintext bits one proven list may carry under the CRS `shuyu serve` generates
/// (16 values of 32 bits, or 64 of 8 bits).
pub const CRS_MAX_BITS: usize = 512;

/// Verified, clamped ciphertexts of one bootstrapped column, keyed by its file and checksum.
type ColumnCache = Mutex<HashMap<(PathBuf, String), Arc<Vec<FheUint32>>>>;
/// Converted linear columns, keyed by their file and the checksum of the bundle file they were
/// converted from (an import revoked and uploaded again under the same name misses).
type ConvertedCache = Mutex<HashMap<(PathBuf, String), Arc<LinearColumn>>>;

/// Directory, inside an import's bundle directory, of the columns the domain converted into
/// the linear tier. An upload cannot write it: bundle file names may not start with a dot or
/// contain a separator, so only the domain's own conversion ever claims
/// [`LinearOrigin::Converted`].
pub const CONVERTED_DIR: &str = ".converted";

/// The domain's encryption material: none of it decrypts anything.
pub struct EncryptionContext {
    server_key: ServerKey,
    public_key: CompactPublicKey,
    crs: DomainCrs,
    crs_bytes: Vec<u8>,
    columns: ColumnCache,
    conversion: Option<ConversionKey>,
    converted: ConvertedCache,
    /// Converted-column files whose conversion is under way.
    converting: Mutex<HashSet<PathBuf>>,
    /// Set by [`EncryptionContext::stop_conversions`]: no conversion starts, running ones
    /// stop at their next value.
    stopping: AtomicBool,
    /// The conversion threads, joined at shutdown.
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl std::fmt::Debug for EncryptionContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncryptionContext").finish_non_exhaustive()
    }
}

impl EncryptionContext {
    /// A context over the custodian's domain keys and the domain's CRS.
    pub fn new(domain_keys: &DomainKeys, crs: DomainCrs) -> Result<Self, ComputeError> {
        let crs_bytes = crs.to_bytes()?;
        Ok(EncryptionContext {
            server_key: domain_keys.server_key(),
            public_key: domain_keys.public_key().clone(),
            crs,
            crs_bytes,
            columns: Mutex::new(HashMap::new()),
            conversion: None,
            converted: Mutex::new(HashMap::new()),
            converting: Mutex::new(HashSet::new()),
            stopping: AtomicBool::new(false),
            threads: Mutex::new(Vec::new()),
        })
    }

    /// Adds the custodian's conversion keys read from `path`, if any (expanding them takes
    /// seconds and 5.1 GB of memory).
    pub fn with_conversion_keys(mut self, path: Option<&Path>) -> Result<Self, ComputeError> {
        if let Some(path) = path {
            let bytes = std::fs::read(path).map_err(ComputeError::io(format!("reading the conversion keys {}", path.display())))?;
            self.conversion = Some(CompressedConversionKey::from_bytes(&bytes)?.decompress());
        }
        Ok(self)
    }

    /// The conversion keys, when the bureau configured them.
    pub fn conversion(&self) -> Option<&ConversionKey> {
        self.conversion.as_ref()
    }

    /// Converts a verified, clamped column into the linear tier and writes it to
    /// `dir/.converted/<name>` (block frames), through a temporary file.
    pub fn convert_column(&self, dir: &Path, name: &str, values: &[FheUint32], bound: u32) -> Result<bool, ComputeError> {
        let Some(conversion) = &self.conversion else { return Ok(false) };
        let bytes = conversion.convert_column_until(&self.server_key, values, bound, &self.stopping)?.to_bytes();
        // Not `create_dir_all`: if the unit was revoked meanwhile, its import directory is gone
        // and must stay gone.
        let converted = dir.join(CONVERTED_DIR);
        match std::fs::create_dir(&converted) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(ComputeError::io("creating the converted-column directory")(e)),
        }
        let (tmp, path) = (converted.join(format!(".{name}.tmp")), converted.join(name));
        std::fs::write(&tmp, &bytes).map_err(ComputeError::io("writing a converted column"))?;
        std::fs::rename(&tmp, &path).map_err(ComputeError::io("writing a converted column"))?;
        Ok(true)
    }

    /// Starts converting the verified, clamped `values` of column `name` of the import in `dir`
    /// on a thread of its own (the work runs on rayon's pool), unless the domain has no
    /// conversion keys, the column is converted already or its conversion is under way.
    /// Returns whether it started one. Called after an upload is filed, and whenever a query
    /// loads a column that is not converted (after a restart interrupted a conversion, say).
    /// A failure (the unit revoked meanwhile, the disk full) leaves the column on the
    /// bootstrapped tier and is logged without any value.
    pub fn ensure_converted(self: &Arc<Self>, dir: &Path, name: &str, bound: u32, values: Arc<Vec<FheUint32>>) -> bool {
        if self.conversion.is_none() || self.stopping.load(Ordering::Relaxed) || self.has_converted(dir, name) {
            return false;
        }
        let file = dir.join(CONVERTED_DIR).join(name);
        if !self.converting.lock().unwrap_or_else(PoisonError::into_inner).insert(file.clone()) {
            return false;
        }
        let (enc, dir, name) = (self.clone(), dir.to_path_buf(), name.to_string());
        let spawned = std::thread::Builder::new().name("shuyu-convert".into()).spawn(move || {
            let started = std::time::Instant::now();
            match enc.convert_column(&dir, &name, &values, bound) {
                Ok(_) => tracing::info!(column = %name, rows = values.len(), secs = started.elapsed().as_secs_f64(), "column converted into the linear tier"),
                Err(e) => tracing::warn!(column = %name, error = %e, "conversion into the linear tier failed; the column stays on the bootstrapped tier"),
            }
            enc.converting.lock().unwrap_or_else(PoisonError::into_inner).remove(&file);
        });
        match spawned {
            Ok(handle) => {
                let mut threads = self.threads.lock().unwrap_or_else(PoisonError::into_inner);
                threads.retain(|t| !t.is_finished());
                threads.push(handle);
                true
            }
            Err(_) => false,
        }
    }

    /// Stops the background conversions: none starts any more, and each running one stops
    /// at its next value (its column stays on the bootstrapped tier, and is converted again
    /// after a restart, when a query next loads it). Returns once their threads have ended.
    /// Called when the server shuts down.
    pub fn stop_conversions(&self) {
        self.stopping.store(true, Ordering::Relaxed);
        let threads = std::mem::take(&mut *self.threads.lock().unwrap_or_else(PoisonError::into_inner));
        for t in threads {
            let _ = t.join();
        }
    }

    /// Conversions running now (tests).
    pub fn conversions_running(&self) -> usize {
        self.threads.lock().unwrap_or_else(PoisonError::into_inner).iter().filter(|t| !t.is_finished()).count()
    }

    /// Whether the domain converted column `name` of the import in `dir` into the linear tier.
    pub fn has_converted(&self, dir: &Path, name: &str) -> bool {
        dir.join(CONVERTED_DIR).join(name).is_file()
    }

    /// The converted linear column `name` of the import in `dir`, if the domain converted it;
    /// `sha256` is the checksum of the bundle file it was converted from, `rows` the import's
    /// row count.
    pub fn converted_column(&self, dir: &Path, name: &str, sha256: &str, bound: u32, rows: u64) -> Result<Option<Arc<LinearColumn>>, ComputeError> {
        let path = dir.join(CONVERTED_DIR).join(name);
        if !path.is_file() {
            return Ok(None);
        }
        let key = (path, sha256.to_string());
        if let Some(hit) = self.converted.lock().unwrap_or_else(PoisonError::into_inner).get(&key) {
            return Ok(Some(hit.clone()));
        }
        let path = &key.0;
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(ComputeError::io("reading a converted column")(e)),
        };
        let column = Arc::new(LinearColumn::from_bytes(&bytes, bound, LinearOrigin::Converted, rows)?);
        self.converted.lock().unwrap_or_else(PoisonError::into_inner).insert(key, column.clone());
        Ok(Some(column))
    }

    /// Loads the domain keys from `domain_keys` and the CRS from `crs_path`, generating the
    /// CRS (with `crs_bits` bits per proven list) on first use.
    pub fn load(domain_keys: &Path, crs_path: &Path, crs_bits: usize) -> Result<Self, ComputeError> {
        let bytes = std::fs::read(domain_keys).map_err(ComputeError::io(format!("reading the domain keys {}", domain_keys.display())))?;
        let keys = DomainKeys::from_bytes(&bytes)?;
        let crs = match std::fs::read(crs_path) {
            Ok(bytes) => DomainCrs::from_bytes(&bytes)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let crs = DomainCrs::generate(crs_bits)?;
                let tmp = crs_path.with_extension("tmp");
                std::fs::write(&tmp, crs.to_bytes()?).map_err(ComputeError::io(format!("writing {}", tmp.display())))?;
                std::fs::rename(&tmp, crs_path).map_err(ComputeError::io(format!("writing {}", crs_path.display())))?;
                crs
            }
            Err(e) => return Err(ComputeError::io(format!("reading the CRS {}", crs_path.display()))(e)),
        };
        Self::new(&keys, crs)
    }

    /// The server key (install it on the computing threads with
    /// [`shuyu_crypto::bootstrapped::install_server_key`]).
    pub fn server_key(&self) -> &ServerKey {
        &self.server_key
    }

    /// The compact public key bundles are encrypted under.
    pub fn public_key(&self) -> &CompactPublicKey {
        &self.public_key
    }

    /// The domain's CRS for bound proofs.
    pub fn crs(&self) -> &DomainCrs {
        &self.crs
    }

    /// The CRS, serialized for data holders.
    pub fn crs_bytes(&self) -> &[u8] {
        &self.crs_bytes
    }

    /// The verified column cached for `(file, sha256)`, or `load`'s result, cached.
    pub fn column(
        &self,
        file: PathBuf,
        sha256: &str,
        load: impl FnOnce() -> Result<Vec<FheUint32>, ComputeError>,
    ) -> Result<Arc<Vec<FheUint32>>, ComputeError> {
        let key = (file, sha256.to_string());
        if let Some(hit) = self.columns.lock().unwrap_or_else(PoisonError::into_inner).get(&key) {
            return Ok(hit.clone());
        }
        let loaded = Arc::new(load()?);
        self.columns.lock().unwrap_or_else(PoisonError::into_inner).insert(key, loaded.clone());
        Ok(loaded)
    }
}
