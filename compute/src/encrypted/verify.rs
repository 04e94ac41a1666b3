//! Verification of an uploaded import bundle before it is filed: what it was written for,
//! one row per person (shuyu-crypto's `Bundle::check_written_for`), and the zero-knowledge
//! proof of every bootstrapped value's bound (`Bundle::import_bootstrapped`: verified, then
//! clamped). The verified columns enter the context's cache under the bundle's final place.

use std::path::Path;
use std::sync::Arc;

use shuyu_crypto::bundle::{Bundle, ColumnTier};
use tfhe::FheUint32;

use super::context::EncryptionContext;
use crate::ComputeError;

/// A bundle that passed verification.
pub struct VerifiedBundle {
    /// Rows (one per person).
    pub rows: u64,
    /// One `name:bound:tier` description per column.
    pub columns: Vec<String>,
    /// Verified, clamped bootstrapped columns to convert into the linear tier (empty when
    /// the domain has no conversion keys).
    to_convert: Vec<(String, u32, Arc<Vec<FheUint32>>)>,
}

/// Verifies the bundle staged in `dir` for `authorization`; `final_dir` is where it will be
/// filed (the key of its cached columns).
pub fn verify_bundle(enc: &EncryptionContext, dir: &Path, final_dir: &Path, authorization: i64) -> Result<VerifiedBundle, ComputeError> {
    let bundle = Bundle::open(dir)?;
    bundle.check_written_for(&authorization.to_string())?;
    let manifest = bundle.manifest().clone();
    let mut columns = Vec::new();
    let mut to_convert = Vec::new();
    for column in &manifest.columns {
        let tier = match column.spec.tier {
            ColumnTier::Bootstrapped => {
                shuyu_crypto::bootstrapped::install_server_key(enc.server_key());
                let name = column.spec.name.clone();
                let values = bundle.import_bootstrapped(&name, enc.public_key(), enc.crs())?;
                let values = enc.column(final_dir.join(&name), &column.file.sha256, || Ok(values))?;
                if enc.conversion().is_some() {
                    to_convert.push((name, column.spec.bound, values));
                }
                "bootstrapped"
            }
            ColumnTier::Linear => "linear",
        };
        columns.push(format!("{}:{}:{tier}", column.spec.name, column.spec.bound));
    }
    Ok(VerifiedBundle { rows: manifest.rows, columns, to_convert })
}

impl std::fmt::Debug for VerifiedBundle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifiedBundle").field("rows", &self.rows).field("columns", &self.columns).finish_non_exhaustive()
    }
}

impl VerifiedBundle {
    /// Starts the background conversion of its bootstrapped columns, filed in `final_dir`,
    /// into the linear tier; conversions stop with [`EncryptionContext::stop_conversions`].
    pub fn convert(self, enc: &Arc<EncryptionContext>, final_dir: &Path) {
        for (column, bound, values) in self.to_convert {
            enc.ensure_converted(final_dir, &column, bound, values);
        }
    }
}
