//! The key custodian's commands, run outside the domain.
//!
//! - `shuyu keys generate --out DIR`: writes `DIR/custodian.key` (both secret keys; 0600,
//!   never leaves the custodian) and `DIR/domain.keys` (the compressed server key and the
//!   compact public key: hand this file to the bureau for `[encryption] domain_keys`) and,
//!   unless `--no-conversion-key`, `DIR/conversion.keys` (about 2.1 GB: the keys the domain
//!   converts proven columns into the linear tier with; `[encryption] conversion_keys`).
//! - `shuyu encrypt`: reads CSV or Parquet, pseudonymises the join key with the
//!   authorization's pseudonym key, encrypts the declared value columns (bootstrapped tier by
//!   default: ZK-proven under the domain's CRS, so the domain verifies the bound) and writes
//!   an import bundle with shuyu-crypto's streaming writer, showing a progress bar.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use arrow::array::{Array, AsArray};
use arrow::datatypes::Int64Type;
use datafusion::prelude::{CsvReadOptions, ParquetReadOptions, SessionContext};
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use shuyu_crypto::bundle::{BundleWriter, ColumnSpec, ColumnTier, EncryptionKeys, Manifest};
use shuyu_crypto::keys::{CustodianKeys, DomainCrs, DomainKeys};
use shuyu_crypto::linear::CompressedConversionKey;
use shuyu_crypto::pseudonym::PseudonymKey;

use crate::Error;

/// The custodian's secret keys inside a key directory.
pub const CUSTODIAN_KEYS_FILE: &str = "custodian.key";
/// The keys the domain may hold, inside a key directory.
pub const DOMAIN_KEYS_FILE: &str = "domain.keys";
/// The domain's conversion keys (proven columns into the linear tier), inside a key directory.
pub const CONVERSION_KEYS_FILE: &str = "conversion.keys";

/// `shuyu keys generate`: creates `out` (which must not exist) with fresh keys, and the
/// conversion key when `conversion` is set.
pub fn generate_keys(out: &Path, conversion: bool) -> Result<(), Error> {
    create_private_dir(out)?;
    let keys = CustodianKeys::generate();
    write_private(&out.join(CUSTODIAN_KEYS_FILE), &keys.to_bytes()?)?;
    let domain = keys.domain_keys().to_bytes()?;
    let path = out.join(DOMAIN_KEYS_FILE);
    std::fs::write(&path, domain).map_err(Error::io(format!("writing {}", path.display())))?;
    if conversion {
        let spinner = ProgressBar::new_spinner();
        spinner.set_message("generating the conversion key (about a minute on 2 cores; 2.1 GB)");
        spinner.enable_steady_tick(std::time::Duration::from_millis(200));
        let bytes = CompressedConversionKey::generate(keys.client_key(), keys.linear_key()).to_bytes()?;
        let path = out.join(CONVERSION_KEYS_FILE);
        std::fs::write(&path, bytes).map_err(Error::io(format!("writing {}", path.display())))?;
        spinner.finish_and_clear();
    }
    Ok(())
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> Result<(), Error> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(dir)
        .map_err(Error::io(format!("creating the key directory {} (it must not exist yet)", dir.display())))
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> Result<(), Error> {
    std::fs::create_dir(dir).map_err(Error::io(format!("creating the key directory {} (it must not exist yet)", dir.display())))
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(Error::io(format!("creating {}", path.display())))?;
    file.write_all(bytes).and_then(|_| file.sync_all()).map_err(Error::io(format!("writing {}", path.display())))
}

/// Reads a secret file, refusing one that others may read.
pub fn read_private(path: &Path) -> Result<Vec<u8>, Error> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).map_err(Error::io(format!("reading {}", path.display())))?.permissions().mode();
        if mode & 0o077 != 0 {
            return Err(Error::Usage(format!("{} is readable by others; run `chmod 600` on it", path.display())));
        }
    }
    std::fs::read(path).map_err(Error::io(format!("reading {}", path.display())))
}

/// A `--column NAME:BOUND[:TIER]` declaration (tier `bootstrapped`, the default, or
/// `linear`).
pub fn parse_column(text: &str) -> Result<ColumnSpec, String> {
    let mut parts = text.split(':');
    let name = parts.next().unwrap_or_default().to_string();
    let bound = parts
        .next()
        .and_then(|b| b.parse::<u32>().ok())
        .ok_or_else(|| format!("`{text}`: expected NAME:BOUND[:bootstrapped|linear] with BOUND a non-negative 32-bit integer"))?;
    let tier = match parts.next() {
        None | Some("bootstrapped") => ColumnTier::Bootstrapped,
        Some("linear") => ColumnTier::Linear,
        Some(other) => return Err(format!("`{other}` is not a tier; use bootstrapped or linear")),
    };
    if parts.next().is_some() {
        return Err(format!("`{text}`: expected NAME:BOUND[:TIER]"));
    }
    Ok(ColumnSpec { name, tier, bound })
}

/// Options of `shuyu encrypt`.
#[derive(Debug, Clone)]
pub struct EncryptOptions {
    /// Custodian key directory.
    pub keys: PathBuf,
    /// CSV (with a header line) or Parquet input.
    pub input: PathBuf,
    /// The join-key column (the person identifier the public data also holds).
    pub key_column: String,
    /// File with the authorization's pseudonym key (64 hex digits).
    pub pseudonym_key: PathBuf,
    /// The domain's CRS (needed for bootstrapped columns).
    pub crs: Option<PathBuf>,
    /// The authorization the bundle is for (its number).
    pub authorization: i64,
    /// Value columns to encrypt.
    pub columns: Vec<ColumnSpec>,
    /// The bundle directory to create.
    pub out: PathBuf,
    /// Show a progress bar.
    pub progress: bool,
}

fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `shuyu encrypt`: writes the bundle and returns its manifest.
pub async fn encrypt(options: &EncryptOptions) -> Result<Manifest, Error> {
    let pseudonyms = PseudonymKey::from_hex(
        std::fs::read_to_string(&options.pseudonym_key)
            .map_err(Error::io(format!("reading the pseudonym key {}", options.pseudonym_key.display())))?
            .trim(),
    )?;
    let custodian = CustodianKeys::from_bytes(&read_private(&options.keys.join(CUSTODIAN_KEYS_FILE))?)?;
    let bootstrapped = options.columns.iter().any(|c| c.tier == ColumnTier::Bootstrapped);
    let proven = if bootstrapped {
        let crs_path = options
            .crs
            .as_ref()
            .ok_or_else(|| Error::Usage("bootstrapped columns need the domain's CRS: pass --crs FILE".into()))?;
        let crs = DomainCrs::from_bytes(&std::fs::read(crs_path).map_err(Error::io(format!("reading {}", crs_path.display())))?)?;
        let path = options.keys.join(DOMAIN_KEYS_FILE);
        let domain = DomainKeys::from_bytes(&std::fs::read(&path).map_err(Error::io(format!("reading {}", path.display())))?)?;
        Some((domain.public_key().clone(), crs))
    } else {
        None
    };

    let ctx = SessionContext::new();
    let input = options.input.to_string_lossy().to_string();
    let frame = match options.input.extension().and_then(|e| e.to_str()) {
        Some("csv") => ctx.read_csv(input, CsvReadOptions::new()).await,
        Some("parquet") => ctx.read_parquet(input, ParquetReadOptions::default()).await,
        _ => return Err(Error::Usage(format!("{}: the input must be a .csv or .parquet file", options.input.display()))),
    }
    .map_err(|e| Error::Usage(format!("cannot read {}: {}", options.input.display(), e.strip_backtrace())))?;
    ctx.register_table("input", frame.into_view()).map_err(|e| Error::Internal(e.strip_backtrace()))?;
    let mut select = vec![format!("arrow_cast({}, 'Utf8')", quoted(&options.key_column))];
    select.extend(options.columns.iter().map(|c| format!("CAST({} AS BIGINT)", quoted(&c.name))));
    let sql = format!("SELECT {} FROM input", select.join(", "));
    let plan_error = |e: datafusion::error::DataFusionError| Error::Usage(format!("reading the input: {}", e.strip_backtrace()));
    let frame = ctx.sql(&sql).await.map_err(plan_error)?;
    let total = frame.clone().count().await.map_err(plan_error)?;

    let keys = EncryptionKeys {
        pseudonyms: &pseudonyms,
        linear: Some(custodian.linear_key()),
        proven: proven.as_ref().map(|(pk, crs)| (pk, crs)),
    };
    let mut writer = BundleWriter::create(&options.out, &options.authorization.to_string(), options.columns.clone(), keys)?;
    let bar = if options.progress { ProgressBar::new(total as u64) } else { ProgressBar::hidden() };
    bar.set_style(
        ProgressStyle::with_template("{spinner} encrypting [{bar:40}] {pos}/{len} rows ({per_sec}, {eta} left)")
            .map_err(|e| Error::Internal(e.to_string()))?
            .progress_chars("=> "),
    );
    let mut stream = frame.execute_stream().await.map_err(plan_error)?;
    let mut row = 0u64;
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(|_| Error::Usage("reading the input failed (a value does not convert to an integer?)".into()))?;
        let keys_column = batch.column(0).as_string::<i32>();
        if keys_column.null_count() > 0 {
            return Err(Error::Usage(format!("the key column {} has empty values; every row needs a key", options.key_column)));
        }
        let join_keys: Vec<&[u8]> = (0..batch.num_rows()).map(|i| keys_column.value(i).as_bytes()).collect();
        let mut values = Vec::with_capacity(options.columns.len());
        for (c, spec) in options.columns.iter().enumerate() {
            let column = batch.column(c + 1).as_primitive::<Int64Type>();
            let converted = (0..batch.num_rows())
                .map(|i| {
                    if column.is_null(i) {
                        return Err(Error::Usage(format!("row {} of column {} is empty; fill or drop it", row + i as u64, spec.name)));
                    }
                    u32::try_from(column.value(i)).map_err(|_| {
                        Error::Usage(format!("row {} of column {} is negative or above 2^32; values must lie in 0..={}", row + i as u64, spec.name, spec.bound))
                    })
                })
                .collect::<Result<Vec<u32>, Error>>()?;
            values.push(converted);
        }
        let slices: Vec<&[u32]> = values.iter().map(Vec::as_slice).collect();
        writer.append(&join_keys, &slices)?;
        row += batch.num_rows() as u64;
        bar.set_position(row);
    }
    bar.finish_and_clear();
    Ok(writer.finish()?)
}
