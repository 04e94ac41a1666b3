//! The import bundle: a directory the custodian writes and the domain imports.
//!
//! ```text
//! bundle/
//!   manifest.json        format, authorization, row count, and per file: name, tier, bound,
//!                        parameter set, chunking, byte size and SHA-256
//!   pseudonyms.bin       32 bytes per row: HMAC-SHA256 pseudonym of the join key
//!   <column>.linear      linear tier: LinearBlock frames (seed, count, 16-byte bodies)
//!   <column>.proven      bootstrapped tier: frames of (u64 length, ProvenCompactCiphertextList
//!                        in TFHE-rs safe serialization), one per chunk, each proof bound to
//!                        (authorization, column, chunk index)
//! ```
//! The writer streams: rows are appended in batches and encrypted chunk by chunk (blocks of
//! 2048 values, or proven lists of the CRS's capacity), in parallel; the manifest is written
//! last (temporary file then rename), so a bundle without a manifest is incomplete.

use crate::bootstrapped::{self, ValueWidth};
use crate::error::{CryptoError, Result};
use crate::keys::DomainCrs;
use crate::linear::{self, LinearColumn, LinearEncryptor, LinearOrigin, LinearSecretKey, POLYNOMIAL_SIZE};
use crate::pseudonym::{Pseudonym, PseudonymKey};
use rayon::prelude::*;
use sha2::{Digest, Sha256};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use tfhe::{CompactPublicKey, FheUint32, ProvenCompactCiphertextList};

/// Format name written in every manifest.
pub const FORMAT: &str = "shuyu-encrypted-bundle/v1";
const MANIFEST: &str = "manifest.json";
const PSEUDONYMS: &str = "pseudonyms.bin";
const PROVEN_LIST_LIMIT: u64 = 1 << 28;

/// Which tier a column is encrypted for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnTier {
    /// Packed GLWE, secret-key encrypted by the custodian; sums by public masks only.
    Linear,
    /// TFHE-rs integers from ZK-proven compact public-key encryption.
    Bootstrapped,
}

/// A value column to encrypt: its name, tier and declared upper bound.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ColumnSpec {
    /// Column name (letters, digits, `_`).
    pub name: String,
    /// Tier.
    pub tier: ColumnTier,
    /// Declared upper bound of every value (values are `u32`, lower bound 0).
    pub bound: u32,
}

/// A file of the bundle as the manifest records it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FileEntry {
    /// File name inside the bundle directory.
    pub file: String,
    /// Size in bytes.
    pub bytes: u64,
    /// SHA-256, lower-case hex.
    pub sha256: String,
}

/// One encrypted column in the manifest.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ColumnEntry {
    /// Name, tier and bound.
    #[serde(flatten)]
    pub spec: ColumnSpec,
    /// Parameter set of the ciphertexts.
    pub parameter_set: String,
    /// Proven integer width (bootstrapped tier only).
    pub width: Option<ValueWidth>,
    /// Values per chunk (block or proven list).
    pub values_per_chunk: u64,
    /// Number of chunks.
    pub chunks: u64,
    /// The column's file.
    #[serde(flatten)]
    pub file: FileEntry,
}

impl ColumnEntry {
    /// Whether the domain itself verifies the column's bound at import: true for the
    /// bootstrapped tier (zero-knowledge proof of the type width, then homomorphic clamping),
    /// false for the linear tier (secret-key ciphertexts: the bound rests on the custodian's
    /// word). The planner must not base a DP release on a column for which this is false
    /// (docs/encryption.md, "Bound enforcement").
    pub fn bound_verified_by_domain(&self) -> bool {
        self.spec.tier == ColumnTier::Bootstrapped
    }
}

/// The bundle's manifest (`manifest.json`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Manifest {
    /// Always [`FORMAT`].
    pub format: String,
    /// The authorization whose pseudonym key and proofs the bundle uses.
    pub authorization_id: String,
    /// Number of rows.
    pub rows: u64,
    /// The pseudonymised join key file.
    pub pseudonyms: FileEntry,
    /// The value columns.
    pub columns: Vec<ColumnEntry>,
}

/// A file being written with its running hash.
struct HashedFile {
    name: String,
    out: BufWriter<std::fs::File>,
    hasher: Sha256,
    bytes: u64,
}

impl HashedFile {
    fn create(dir: &Path, name: &str) -> Result<Self> {
        let path = dir.join(name);
        let file = std::fs::File::create(&path).map_err(|e| CryptoError::io(&path, e))?;
        Ok(HashedFile { name: name.to_string(), out: BufWriter::new(file), hasher: Sha256::new(), bytes: 0 })
    }

    fn write(&mut self, dir: &Path, data: &[u8]) -> Result<()> {
        self.hasher.update(data);
        self.bytes += data.len() as u64;
        self.out.write_all(data).map_err(|e| CryptoError::io(&dir.join(&self.name), e))
    }

    fn finish(self, dir: &Path) -> Result<FileEntry> {
        let path = dir.join(&self.name);
        let file = self.out.into_inner().map_err(|e| CryptoError::io(&path, e.into_error()))?;
        file.sync_all().map_err(|e| CryptoError::io(&path, e))?;
        Ok(FileEntry { file: self.name, bytes: self.bytes, sha256: hex::encode(self.hasher.finalize()) })
    }
}

struct ColumnState {
    spec: ColumnSpec,
    file: HashedFile,
    pending: Vec<u32>,
    /// Row index of `pending[0]`.
    pending_row: u64,
    chunks: u64,
    values_per_chunk: usize,
}

/// The keys the writer encrypts with.
pub struct EncryptionKeys<'a> {
    /// Pseudonymises the join key.
    pub pseudonyms: &'a PseudonymKey,
    /// Encrypts linear-tier columns (custodian).
    pub linear: Option<&'a LinearSecretKey>,
    /// Encrypts and proves bootstrapped-tier columns (anyone holding the public key and CRS).
    pub proven: Option<(&'a CompactPublicKey, &'a DomainCrs)>,
}

/// Streams rows into a bundle directory.
pub struct BundleWriter<'a> {
    dir: PathBuf,
    authorization_id: String,
    keys: EncryptionKeys<'a>,
    linear: Option<LinearEncryptor>,
    pseudonyms: HashedFile,
    columns: Vec<ColumnState>,
    rows: u64,
}

fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(CryptoError::InvalidInput(format!(
            "column name `{name}` must be non-empty letters, digits and `_`"
        )));
    }
    Ok(())
}

impl<'a> BundleWriter<'a> {
    /// Creates the bundle directory (which must not exist yet) and its data files.
    pub fn create(dir: impl AsRef<Path>, authorization_id: &str, columns: Vec<ColumnSpec>, keys: EncryptionKeys<'a>) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        for (i, spec) in columns.iter().enumerate() {
            check_name(&spec.name)?;
            if columns[..i].iter().any(|c| c.name == spec.name) {
                return Err(CryptoError::InvalidInput(format!("column `{}` is declared twice", spec.name)));
            }
            match spec.tier {
                ColumnTier::Linear if keys.linear.is_none() => {
                    return Err(CryptoError::InvalidInput("linear-tier columns need the custodian's linear key".into()))
                }
                ColumnTier::Bootstrapped if keys.proven.is_none() => {
                    return Err(CryptoError::InvalidInput(
                        "bootstrapped-tier columns need the compact public key and the domain's CRS".into(),
                    ))
                }
                _ => {}
            }
        }
        std::fs::create_dir(&dir).map_err(|e| CryptoError::io(&dir, e))?;
        let pseudonyms = HashedFile::create(&dir, PSEUDONYMS)?;
        let columns = columns
            .into_iter()
            .map(|spec| {
                let (extension, values_per_chunk) = match spec.tier {
                    ColumnTier::Linear => ("linear", POLYNOMIAL_SIZE),
                    ColumnTier::Bootstrapped => {
                        let crs = keys.proven.expect("checked above").1;
                        ("proven", ValueWidth::for_bound(spec.bound).values_per_list(crs))
                    }
                };
                if values_per_chunk == 0 {
                    return Err(CryptoError::InvalidInput("the CRS is too small for one value of this width".into()));
                }
                let file = HashedFile::create(&dir, &format!("{}.{extension}", spec.name))?;
                Ok(ColumnState { spec, file, pending: Vec::new(), pending_row: 0, chunks: 0, values_per_chunk })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(BundleWriter {
            linear: keys.linear.map(LinearEncryptor::new),
            dir,
            authorization_id: authorization_id.to_string(),
            keys,
            pseudonyms,
            columns,
            rows: 0,
        })
    }

    /// Appends a batch of rows: one join key per row and, for each declared column in order,
    /// one value per row. Full chunks are encrypted and written at once.
    pub fn append(&mut self, join_keys: &[&[u8]], values: &[&[u32]]) -> Result<()> {
        if values.len() != self.columns.len() || values.iter().any(|v| v.len() != join_keys.len()) {
            return Err(CryptoError::InvalidInput(format!(
                "a batch needs {} value columns of {} rows each",
                self.columns.len(),
                join_keys.len()
            )));
        }
        // Check bounds before anything is written: a bad batch leaves the bundle unchanged.
        for (state, column) in self.columns.iter().zip(values) {
            if let Some(i) = column.iter().position(|&v| v > state.spec.bound) {
                return Err(CryptoError::AboveBound {
                    column: state.spec.name.clone(),
                    row: self.rows + i as u64,
                    bound: state.spec.bound,
                });
            }
        }
        let pseudonyms: Vec<Pseudonym> = join_keys.par_iter().map(|k| self.keys.pseudonyms.pseudonymise(k)).collect();
        for p in &pseudonyms {
            self.pseudonyms.write(&self.dir, &p.0)?;
        }
        self.rows += join_keys.len() as u64;
        for (state, column) in self.columns.iter_mut().zip(values) {
            state.pending.extend_from_slice(column);
        }
        for index in 0..self.columns.len() {
            self.flush_column(index, false)?;
        }
        Ok(())
    }

    /// Encrypts and writes the complete chunks of a column (and the partial one when `last`).
    fn flush_column(&mut self, index: usize, last: bool) -> Result<()> {
        let state = &mut self.columns[index];
        let size = state.values_per_chunk;
        let complete = if last { state.pending.len() } else { state.pending.len() / size * size };
        if complete == 0 {
            return Ok(());
        }
        let batch: Vec<u32> = state.pending.drain(..complete).collect();
        let first_chunk = state.chunks;
        let first_row = state.pending_row;
        let name = state.spec.name.clone();
        let bound = state.spec.bound;
        let frames: Vec<Vec<u8>> = match state.spec.tier {
            ColumnTier::Linear => {
                let encryptor = self.linear.as_ref().expect("checked at create");
                batch
                    .par_chunks(size)
                    .enumerate()
                    .map(|(i, chunk)| {
                        let block = encryptor.encrypt_block(&name, first_row + (i * size) as u64, chunk, bound)?;
                        let mut out = Vec::with_capacity(block.byte_len());
                        block.write_to(&mut out);
                        Ok(out)
                    })
                    .collect::<Result<_>>()?
            }
            ColumnTier::Bootstrapped => {
                let (public_key, crs) = self.keys.proven.expect("checked at create");
                let authorization_id = &self.authorization_id;
                batch
                    .par_chunks(size)
                    .enumerate()
                    .map(|(i, chunk)| {
                        let chunk_index = first_chunk + i as u64;
                        let metadata = bootstrapped::proof_metadata(authorization_id, &name, chunk_index);
                        let list = bootstrapped::encrypt_chunk(
                            &name,
                            first_row + (i * size) as u64,
                            chunk,
                            bound,
                            public_key,
                            crs,
                            &metadata,
                        )?;
                        let body = crate::keys::to_tfhe_bytes(&list, "proven list")?;
                        let mut out = (body.len() as u64).to_le_bytes().to_vec();
                        out.extend_from_slice(&body);
                        Ok(out)
                    })
                    .collect::<Result<_>>()?
            }
        };
        let state = &mut self.columns[index];
        for frame in &frames {
            state.file.write(&self.dir, frame)?;
        }
        state.chunks += frames.len() as u64;
        state.pending_row += complete as u64;
        Ok(())
    }

    /// Flushes the last partial chunks, syncs the files and writes the manifest.
    pub fn finish(mut self) -> Result<Manifest> {
        for index in 0..self.columns.len() {
            self.flush_column(index, true)?;
        }
        let dir = self.dir.clone();
        let pseudonyms = self.pseudonyms.finish(&dir)?;
        let columns = self
            .columns
            .into_iter()
            .map(|state| {
                let (parameter_set, width) = match state.spec.tier {
                    ColumnTier::Linear => (linear::PARAMETER_SET.to_string(), None),
                    ColumnTier::Bootstrapped => {
                        (bootstrapped::PARAMETER_SET.to_string(), Some(ValueWidth::for_bound(state.spec.bound)))
                    }
                };
                Ok(ColumnEntry {
                    parameter_set,
                    width,
                    values_per_chunk: state.values_per_chunk as u64,
                    chunks: state.chunks,
                    file: state.file.finish(&dir)?,
                    spec: state.spec,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let manifest = Manifest {
            format: FORMAT.to_string(),
            authorization_id: self.authorization_id,
            rows: self.rows,
            pseudonyms,
            columns,
        };
        let text = serde_json::to_string_pretty(&manifest).expect("manifest serializes");
        let tmp = dir.join(format!("{MANIFEST}.tmp"));
        std::fs::write(&tmp, text).map_err(|e| CryptoError::io(&tmp, e))?;
        std::fs::rename(&tmp, dir.join(MANIFEST)).map_err(|e| CryptoError::io(&dir, e))?;
        Ok(manifest)
    }
}

/// An encrypted bundle opened for import: its manifest has been read and every file's size
/// and SHA-256 checked.
#[derive(Debug)]
pub struct Bundle {
    dir: PathBuf,
    manifest: Manifest,
}

fn read_checked(dir: &Path, entry: &FileEntry) -> Result<Vec<u8>> {
    if entry.file.contains('/') || entry.file.contains('\\') || entry.file.starts_with('.') {
        return Err(CryptoError::malformed("bundle manifest", "file names must stay inside the bundle"));
    }
    let path = dir.join(&entry.file);
    let data = std::fs::read(&path).map_err(|e| CryptoError::io(&path, e))?;
    if data.len() as u64 != entry.bytes || hex::encode(Sha256::digest(&data)) != entry.sha256 {
        return Err(CryptoError::malformed("bundle file", format!("{} does not match its manifest checksum", entry.file)));
    }
    Ok(data)
}

impl Bundle {
    /// Opens a bundle and checks its format, row counts and file checksums.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        let path = dir.join(MANIFEST);
        let text = std::fs::read_to_string(&path).map_err(|e| CryptoError::io(&path, e))?;
        let manifest: Manifest =
            serde_json::from_str(&text).map_err(|e| CryptoError::malformed("bundle manifest", e.to_string()))?;
        if manifest.format != FORMAT {
            return Err(CryptoError::malformed("bundle manifest", format!("format is not {FORMAT}")));
        }
        if manifest.rows.checked_mul(32) != Some(manifest.pseudonyms.bytes) {
            return Err(CryptoError::malformed("bundle manifest", "pseudonym file size does not match the row count"));
        }
        for column in &manifest.columns {
            check_name(&column.spec.name)?;
            if column.values_per_chunk == 0 || column.chunks != manifest.rows.div_ceil(column.values_per_chunk) {
                return Err(CryptoError::malformed("bundle manifest", format!("chunking of column {}", column.spec.name)));
            }
        }
        let bundle = Bundle { dir, manifest };
        read_checked(&bundle.dir, &bundle.manifest.pseudonyms)?;
        for column in &bundle.manifest.columns {
            read_checked(&bundle.dir, &column.file)?;
        }
        Ok(bundle)
    }

    /// The manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Checks that the bundle was written for `authorization_id` and holds one row per person
    /// (no pseudonym twice): the import's contribution bound. Errors name counts, never a
    /// pseudonym.
    pub fn check_written_for(&self, authorization_id: &str) -> Result<()> {
        if self.manifest.authorization_id != authorization_id {
            return Err(CryptoError::InvalidInput(format!(
                "the bundle was written for authorization {}, not {authorization_id}; encrypt it again with this authorization's parameters",
                self.manifest.authorization_id
            )));
        }
        let pseudonyms = self.pseudonyms()?;
        let mut seen = std::collections::HashSet::with_capacity(pseudonyms.len());
        let duplicates = pseudonyms.iter().filter(|p| !seen.insert(p.0)).count();
        if duplicates > 0 {
            return Err(CryptoError::InvalidInput(format!(
                "the bundle has {duplicates} rows whose person already has a row; one person may contribute one row: \
                 aggregate the data to one row per person before encrypting"
            )));
        }
        Ok(())
    }

    fn column(&self, name: &str, tier: ColumnTier) -> Result<&ColumnEntry> {
        self.manifest
            .columns
            .iter()
            .find(|c| c.spec.name == name && c.spec.tier == tier)
            .ok_or_else(|| CryptoError::InvalidInput(format!("the bundle has no {tier:?} column `{name}`")))
    }

    /// The pseudonymised join keys, in row order.
    pub fn pseudonyms(&self) -> Result<Vec<Pseudonym>> {
        let data = read_checked(&self.dir, &self.manifest.pseudonyms)?;
        Ok(data.chunks_exact(32).map(|c| Pseudonym(c.try_into().expect("32 bytes"))).collect())
    }

    /// Reads a linear-tier column.
    pub fn linear_column(&self, name: &str) -> Result<LinearColumn> {
        let entry = self.column(name, ColumnTier::Linear)?;
        let data = read_checked(&self.dir, &entry.file)?;
        LinearColumn::from_bytes(&data, entry.spec.bound, LinearOrigin::Custodian, self.manifest.rows)
    }

    /// Imports a bootstrapped-tier column: checks each proven list's conformance to the
    /// parameters and CRS, verifies its proof against the domain's CRS and public key with the
    /// metadata of its position, expands it and clamps to the bound (see
    /// [`bootstrapped::import_chunk`]). Needs the server key installed.
    pub fn import_bootstrapped(&self, name: &str, public_key: &CompactPublicKey, crs: &DomainCrs) -> Result<Vec<FheUint32>> {
        use tfhe::integer::ciphertext::IntegerProvenCompactCiphertextListConformanceParams;
        use tfhe::safe_serialization::safe_deserialize_conformant;
        let entry = self.column(name, ColumnTier::Bootstrapped)?;
        if entry.width != Some(ValueWidth::for_bound(entry.spec.bound))
            || entry.values_per_chunk != ValueWidth::for_bound(entry.spec.bound).values_per_list(crs) as u64
        {
            return Err(CryptoError::malformed("bundle manifest", format!("width or chunking of column {name}")));
        }
        let conformance = IntegerProvenCompactCiphertextListConformanceParams::from_crs_and_parameters(
            tfhe::shortint::parameters::PARAM_PKE_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128,
            crs.crs(),
        );
        let data = read_checked(&self.dir, &entry.file)?;
        let mut rest = data.as_slice();
        let mut values = Vec::with_capacity(self.manifest.rows as usize);
        for chunk in 0..entry.chunks {
            let len = rest.get(..8).ok_or_else(|| CryptoError::malformed("proven column", "truncated"))?;
            let len = u64::from_le_bytes(len.try_into().expect("8 bytes")) as usize;
            let body = rest.get(8..8usize.saturating_add(len)).ok_or_else(|| CryptoError::malformed("proven column", "truncated"))?;
            rest = &rest[8 + len..];
            let list: ProvenCompactCiphertextList = safe_deserialize_conformant(body, PROVEN_LIST_LIMIT, &conformance)
                .map_err(|_| CryptoError::ProofRejected { column: name.to_string(), chunk })?;
            let expected = (self.manifest.rows - chunk * entry.values_per_chunk).min(entry.values_per_chunk) as usize;
            let metadata = bootstrapped::proof_metadata(&self.manifest.authorization_id, name, chunk);
            values.extend(bootstrapped::import_chunk(
                name,
                chunk,
                &list,
                expected,
                entry.spec.bound,
                public_key,
                crs,
                &metadata,
            )?);
        }
        if !rest.is_empty() {
            return Err(CryptoError::malformed("proven column", "trailing bytes"));
        }
        Ok(values)
    }
}
