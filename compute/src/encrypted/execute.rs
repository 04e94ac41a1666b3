//! A fused query's run: the plan checked against the ciphertext tiers (every release must
//! fit the message space of the tier it runs on), then the plaintext part, noise drawn, the
//! encrypted part with noise under encryption, and the release through the keyholder.
//!
//! [`Prepared::new`] reads no ciphertext; [`Prepared::execute`] is the reserved part of a
//! job: the caller reserved the plan's cost before calling it and charges it whatever
//! happens.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use ed25519_dalek::SigningKey;
use shuyu_crypto::bootstrapped;
use shuyu_crypto::bundle::{Bundle, ColumnTier};
use shuyu_crypto::linear::{grouped_sum, LinearOrigin, NO_GROUP};
use shuyu_crypto::noise::NoiseSpec;
use shuyu_crypto::pseudonym::PseudonymKey;
use shuyu_crypto::release::{EncryptedValue, ReleaseRequest};
use shuyu_planner::encrypted::{explain, result_schema, EncryptedPlan, FusedQuery, ImportColumn, ImportShape};
use shuyu_planner::{PlannerError, QueryBudget, Scope, ScopeCatalog};
use tfhe::prelude::FheTrivialEncrypt;
use tfhe::FheBool;

use super::context::EncryptionContext;
use super::plaintext::{plaintext_groups, result_batch};
use super::Encryption;
use crate::noise::add_integer_noise;
use crate::{ComputeError, OpenDpCalibrator};

/// The public facts of the import named `name` that the planner checks a query against.
pub fn import_shape(name: &str, bundle: &Bundle) -> ImportShape {
    let manifest = bundle.manifest();
    let columns = manifest
        .columns
        .iter()
        .map(|c| ImportColumn { name: c.spec.name.clone(), bound: c.spec.bound, bound_verified: c.bound_verified_by_domain() })
        .collect();
    ImportShape { name: name.to_string(), rows: manifest.rows, columns }
}

/// Sets its flag when dropped: the encrypted part, running on a blocking thread that a timeout
/// cannot cancel, checks the flag between steps and stops once the job's future is gone.
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Whether a sum over column `bound` of an import of `rows` rows, noised as `spec` says, may run
/// on the linear tier: its exactness budget is decided from these public figures alone.
fn linear_fits(rows: u64, bound: u32, spec: &NoiseSpec) -> bool {
    shuyu_crypto::linear::check_release_capacity(LinearOrigin::Converted, rows, bound, Some(spec)).is_ok()
}

/// A fused query planned and checked against the ciphertext tiers, ready to run.
pub struct Prepared {
    /// The planner's plan.
    pub plan: EncryptedPlan,
    path: PathBuf,
    bundle: Arc<Bundle>,
    /// Per release, the public description of its noise (never the drawn value), which
    /// travels with each aggregate to the keyholder.
    specs: Vec<NoiseSpec>,
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared").field("plan", &self.plan).field("path", &self.path).finish_non_exhaustive()
    }
}

/// Plans the fused query `sql` over the import `name` (its bundle `bundle`, filed in `path`)
/// in the scope of `catalog`, calibrated with OpenDP, and checks it against the tiers.
pub fn prepare(
    sql: &str,
    name: &str,
    path: PathBuf,
    bundle: Arc<Bundle>,
    catalog: &ScopeCatalog,
    budget: QueryBudget,
) -> Result<Prepared, ComputeError> {
    let plan = shuyu_planner::encrypted::plan(sql, import_shape(name, &bundle), catalog, budget, &OpenDpCalibrator)?;
    Prepared::new(plan, path, bundle)
}

impl Prepared {
    /// Checks `plan` against the tiers: every release must fit the bootstrapped tier's message
    /// space (the linear tier's is checked where it is chosen, and a sum that does not fit it
    /// runs bootstrapped). Refused before any row is read or anything is reserved.
    pub fn new(plan: EncryptedPlan, path: PathBuf, bundle: Arc<Bundle>) -> Result<Self, ComputeError> {
        let calibrations = plan.calibrations();
        if calibrations.len() != plan.releases() {
            return Err(ComputeError::Planner(PlannerError::Internal("a fused plan reached compute uncalibrated".into())));
        }
        let specs = calibrations.iter().map(|c| NoiseSpec::new(c.mechanism, c.scale)).collect::<Result<Vec<_>, _>>()?;
        let bounds = plan.measurements.iter().map(|m| m.sensitivity as u32);
        for (bound, spec) in bounds.zip(&specs) {
            bootstrapped::check_release_capacity(plan.import.rows, bound, Some(spec))?;
        }
        Ok(Prepared { plan, path, bundle, specs })
    }

    /// Per summed column, whether it runs on the linear tier (no encrypted filter, converted
    /// at import, fits the tier).
    pub fn linear(&self, enc: &EncryptionContext) -> Vec<bool> {
        let rows = self.plan.import.rows;
        let unfiltered = self.plan.query.encrypted_filters.is_empty();
        self.plan.sums().zip(&self.specs).map(|((c, b), spec)| unfiltered && enc.has_converted(&self.path, c) && linear_fits(rows, b, spec)).collect()
    }

    /// EXPLAIN PRIVACY of the query, with the tier each sum runs on.
    pub fn explain(&self, enc: &EncryptionContext) -> RecordBatch {
        explain::explain_batch(&self.plan, &self.linear(enc))
    }

    /// The result schema.
    pub fn schema(&self) -> SchemaRef {
        result_schema(&self.plan.query)
    }

    /// The reserved part: the plaintext part in `scope`, noise drawn, the encrypted part, the
    /// keyholder's release of job `job` of `authorization`, signed with `signing`. Returns
    /// the released batch and the number of encrypted operations.
    pub async fn execute(
        &self,
        encryption: &Encryption,
        scope: &Scope,
        pseudonym_key: PseudonymKey,
        signing: &SigningKey,
        job: &str,
        authorization: &str,
    ) -> Result<(RecordBatch, u64), ComputeError> {
        let plan = &self.plan;
        let b = self.bundle.clone();
        let pseudonyms = tokio::task::spawn_blocking(move || b.pseudonyms()).await.map_err(|e| ComputeError::Internal(e.to_string()))??;
        let row_groups = plaintext_groups(scope, &plan.query, &plan.groups, pseudonym_key, &pseudonyms).await?;
        let n = plan.groups.len();
        let mut noises: Vec<Vec<i64>> = Vec::new();
        for c in plan.calibrations() {
            let mut v = vec![0i64; n];
            add_integer_noise(&mut v, c.mechanism, c.scale)?;
            noises.push(v);
        }
        let sums: Vec<(String, u32)> = plan.sums().map(|(c, b)| (c.to_string(), b)).collect();
        let part = EncryptedPart { path: &self.path, bundle: &self.bundle, query: &plan.query, sums: &sums, count: plan.count, specs: &self.specs };
        let (sums, counts, ops) = part.compute_and_release(encryption, signing, &row_groups, n, noises, job, authorization).await?;
        let batch = result_batch(&plan.query, &plan.groups, &sums, counts.as_deref())?;
        Ok((batch, ops))
    }
}

/// What the encrypted part reads: the import, the query, its releases and their noise.
struct EncryptedPart<'a> {
    path: &'a Path,
    bundle: &'a Arc<Bundle>,
    query: &'a FusedQuery,
    sums: &'a [(String, u32)],
    count: bool,
    specs: &'a [NoiseSpec],
}

type Released = (HashMap<String, Vec<i64>>, Option<Vec<i64>>, u64);

/// What the encrypted part hands back: the noised encrypted values to release (sums, then an
/// encrypted count), a count noised in the clear when no encrypted filter applies, and the
/// number of encrypted operations.
type Computed = (Vec<EncryptedValue>, Option<Vec<i64>>, u64);

impl EncryptedPart<'_> {
    /// The encrypted part: verified columns (converted linear columns for sums without an
    /// encrypted filter), encrypted predicates, conditional sums and counts, noise under
    /// encryption (plaintext counts are noised in the clear), one signed release.
    #[allow(clippy::too_many_arguments)]
    async fn compute_and_release(
        &self,
        encryption: &Encryption,
        signing: &SigningKey,
        row_groups: &[u32],
        n: usize,
        mut noises: Vec<Vec<i64>>,
        job: &str,
        authorization: &str,
    ) -> Result<Released, ComputeError> {
        let enc = &encryption.context;
        let (enc2, bundle2, query2, groups2, path2) =
            (enc.clone(), self.bundle.clone(), self.query.clone(), row_groups.to_vec(), self.path.to_path_buf());
        let (sum_columns, count, specs) = (self.sums.to_vec(), self.count, self.specs);
        let count_noise = if count { noises.pop() } else { None };
        let sum_noises = noises;
        let (sum_specs, count_spec) = (specs[..sum_columns.len()].to_vec(), specs.get(sum_columns.len()).copied());
        let stop = StopOnDrop(Arc::new(AtomicBool::new(false)));
        let stopped = stop.0.clone();
        let check = move || {
            if stopped.load(Ordering::Relaxed) {
                Err(ComputeError::Internal("the encrypted part was stopped: the job ran out of time".into()))
            } else {
                Ok(())
            }
        };
        let computed = tokio::task::spawn_blocking(move || -> Result<Computed, ComputeError> {
            bootstrapped::install_server_key(enc2.server_key());
            let manifest = bundle2.manifest();
            let verified = |name: &str| manifest.columns.iter().find(|c| c.spec.name == name && c.spec.tier == ColumnTier::Bootstrapped);
            let checksum = |name: &str| verified(name).map(|e| e.file.sha256.clone()).unwrap_or_default();
            // Linear tier: sums with no encrypted filter, over columns the domain converted from
            // proven values at upload. Everything else runs on the bootstrapped tier.
            let mut linear = HashMap::new();
            if query2.encrypted_filters.is_empty() {
                for ((name, bound), spec) in sum_columns.iter().zip(&sum_specs) {
                    if !linear_fits(manifest.rows, *bound, spec) {
                        continue;
                    }
                    if let Some(column) = enc2.converted_column(&path2, name, &checksum(name), *bound, manifest.rows)? {
                        linear.insert(name.clone(), column);
                    }
                }
            }
            let mut columns = HashMap::new();
            for name in query2.encrypted_columns() {
                if linear.contains_key(&name) {
                    continue;
                }
                let (entry, sha) = (verified(&name), checksum(&name));
                let file = path2.join(&name);
                let values = enc2.column(file, &sha, || Ok(bundle2.import_bootstrapped(&name, enc2.public_key(), enc2.crs())?))?;
                if let Some(entry) = entry {
                    enc2.ensure_converted(&path2, &name, entry.spec.bound, values.clone());
                }
                columns.insert(name, values);
                check()?;
            }
            let mut ops = 0u64;
            let rows = groups2.len();
            let mut condition: Option<Vec<FheBool>> = None;
            for f in &query2.encrypted_filters {
                let values = &columns[&f.column];
                // Rows already dropped by the public part need no comparison.
                let kept: Vec<usize> = (0..rows).filter(|&i| groups2[i] != NO_GROUP).collect();
                let subset: Vec<_> = kept.iter().map(|&i| values[i].clone()).collect();
                let compared = bootstrapped::compare(&subset, f.comparison, f.constant);
                ops += compared.len() as u64;
                let mut full: Vec<FheBool> = (0..rows).map(|_| FheBool::encrypt_trivial(false)).collect();
                for (k, c) in kept.into_iter().zip(compared) {
                    full[k] = c;
                }
                condition = Some(match condition {
                    None => full,
                    Some(prev) => {
                        ops += rows as u64;
                        bootstrapped::and(&prev, &full)?
                    }
                });
                check()?;
            }
            let mut aggregates = Vec::new();
            for (((name, bound), noise), spec) in sum_columns.iter().zip(&sum_noises).zip(&sum_specs) {
                ops += rows as u64;
                if let Some(column) = linear.get(name) {
                    let mut sums = grouped_sum(column, &groups2, n)?;
                    shuyu_crypto::noise::noise_linear(&mut sums, noise, *spec)?;
                    for sum in &sums {
                        aggregates.push(EncryptedValue::linear(sum)?);
                    }
                } else {
                    let noise = bootstrapped::ReleaseNoise { draws: noise, spec: *spec, public_key: enc2.public_key() };
                    let sums = bootstrapped::conditional_sum(&columns[name], *bound, condition.as_deref(), &groups2, n, &noise)?;
                    for sum in &sums {
                        aggregates.push(EncryptedValue::bootstrapped(sum)?);
                    }
                }
                check()?;
            }
            let mut plain_counts = None;
            if let (Some(noise), Some(spec)) = (count_noise, count_spec) {
                match &condition {
                    Some(c) => {
                        let noise = bootstrapped::ReleaseNoise { draws: &noise, spec, public_key: enc2.public_key() };
                        let counts = bootstrapped::conditional_count(c, &groups2, n, &noise)?;
                        ops += rows as u64;
                        for count in &counts {
                            aggregates.push(EncryptedValue::bootstrapped(count)?);
                        }
                    }
                    None => {
                        // No encrypted predicate: the count is of public facts the domain knows.
                        let mut counts = vec![0i64; n];
                        for &g in &groups2 {
                            if g != NO_GROUP {
                                counts[g as usize] += 1;
                            }
                        }
                        for (c, e) in counts.iter_mut().zip(&noise) {
                            *c = c.saturating_add(*e);
                        }
                        plain_counts = Some(counts);
                    }
                }
            }
            Ok((aggregates, plain_counts, ops))
        })
        .await
        .map_err(|e| ComputeError::Internal(format!("the encrypted part did not complete: {e}")))??;
        let (values, plain_counts, ops) = computed;

        let decrypted = if values.is_empty() {
            Vec::new()
        } else {
            let request = ReleaseRequest::new(job.to_string(), authorization.to_string(), values);
            encryption.keyholder.release(signing, request).await?
        };
        let mut sums = HashMap::new();
        for (i, (name, _)) in self.sums.iter().enumerate() {
            sums.insert(name.clone(), decrypted[i * n..(i + 1) * n].to_vec());
        }
        let counts = match plain_counts {
            Some(c) => Some(c),
            None if count => Some(decrypted[self.sums.len() * n..].to_vec()),
            None => None,
        };
        Ok((sums, counts, ops))
    }
}
