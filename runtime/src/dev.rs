//! The dev environment's data: building the masked samples (`shuyu dev samples`, and
//! `shuyu demo`), and pointing an authorization's scope at them.
//!
//! Layout of a data directory:
//! ```text
//! DATA_DIR/datasets/            the raw tables (<name>.parquet + <name>.toml)
//! DATA_DIR/dev/                 the masked samples (replaced whole by each build)
//! DATA_DIR/secrets/masking.key  the deployment's hashing key (0600; never in the samples)
//! ```
//! A dev server is given the samples folder only; [`on_samples`] re-points every granted
//! table at its sample and refuses a table whose sample is missing or was built under
//! other masking rules than the catalog's.

use std::path::{Path, PathBuf};

use shuyu_datasets::masking::{checked_rule, MaskingKey};
use shuyu_datasets::sample::{build_samples, sample_manifest, source_tables, SampleOptions, SampleReport};
use shuyu_governance::Scope as GrantedScope;

use crate::RuntimeError;

/// The samples folder inside a data directory.
pub const SAMPLES_DIR: &str = "dev";
/// The masking key inside a data directory.
pub const MASKING_KEY: &str = "secrets/masking.key";

/// Where `shuyu dev samples` reads and writes.
#[derive(Debug, Clone)]
pub struct SamplesJob {
    /// Folder of the raw tables (`<name>.parquet` with `<name>.toml`).
    pub datasets: PathBuf,
    /// Folder of the samples (replaced whole).
    pub out: PathBuf,
    /// The deployment's masking key (created if absent).
    pub key: PathBuf,
    /// Fraction, row cap and seed.
    pub options: SampleOptions,
}

impl SamplesJob {
    /// The default layout of `data_dir`.
    pub fn in_data_dir(data_dir: &Path, options: SampleOptions) -> Self {
        SamplesJob { datasets: data_dir.join("datasets"), out: data_dir.join(SAMPLES_DIR), key: data_dir.join(MASKING_KEY), options }
    }
}

/// Builds the masked samples.
pub fn build(job: &SamplesJob) -> Result<SampleReport, RuntimeError> {
    let key = MaskingKey::load_or_create(&job.key)?;
    let tables = source_tables(&job.datasets)?;
    Ok(build_samples(&tables, &job.out, &job.options, &key)?)
}

/// The scope `granted` with every table re-pointed at its masked sample in `samples`.
///
/// Refuses a table without a sample, and a sample whose manifest differs from the
/// catalog's for a granted column (type, sensitivity or masking rule): such a sample could
/// hold a column masked more weakly than the catalog now says.
pub fn on_samples(granted: &GrantedScope, samples: &Path) -> Result<GrantedScope, RuntimeError> {
    let rebuild = "the bureau rebuilds them with `shuyu dev samples`";
    let mut out = granted.clone();
    for t in &mut out.tables {
        let name = t.manifest.name.clone();
        let sampled = sample_manifest(samples, &name)?
            .ok_or_else(|| RuntimeError::NotServed(format!("there is no masked sample of table {name} for the dev environment; {rebuild}")))?;
        for c in &t.manifest.columns {
            let same = sampled.column(&c.name).is_some_and(|s| {
                s.data_type == c.data_type
                    && s.sensitivity == c.sensitivity
                    && matches!((checked_rule(&name, s), checked_rule(&name, c)), (Ok(a), Ok(b)) if a == b)
            });
            if !same {
                return Err(RuntimeError::NotServed(format!(
                    "the masked sample of table {name} was built under other masking rules than the catalog's (column {}); {rebuild}",
                    c.name
                )));
            }
        }
        let file = samples.join(format!("{name}.parquet"));
        if !file.is_file() {
            return Err(RuntimeError::NotServed(format!("there is no masked sample of table {name} for the dev environment; {rebuild}")));
        }
        t.location = file.to_string_lossy().into_owned();
    }
    Ok(out)
}
