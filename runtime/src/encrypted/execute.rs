//! A fused query as a job of the one job sequence ([`crate::job::Job`]): its plan (the
//! import's bundle, the checks of the aggregated columns and of the groups, calibration and
//! the capacity of each release), then its run: reservation, the plaintext part, noise
//! drawn, the encrypted part with noise under encryption, release through the keyholder,
//! settlement.
//!
//! The charge follows the job's rule: a refusal or failure before the reservation costs
//! nothing; after it, any failure is charged in full and answered with one generic text.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use shuyu_compute::noise::{add_integer_noise, calibrate_scale, compose, release_cost};
use shuyu_compute::QueryResult;
use shuyu_crypto::bootstrapped;
use shuyu_crypto::bundle::{Bundle, ColumnTier};
use shuyu_crypto::linear::{grouped_sum, LinearOrigin, NO_GROUP};
use shuyu_crypto::noise::NoiseSpec;
use shuyu_crypto::release::{EncryptedValue, ReleaseRequest};
use shuyu_governance::{AuthorizationId, Environment, JobId};
use shuyu_planner::{PlannerError, QueryBudget, Refusal, RefusalCode};
use shuyu_privacy::Mechanism;
use tfhe::prelude::FheTrivialEncrypt;
use tfhe::FheBool;

use super::context::EncryptionContext;
use super::fused::{self, FusedQuery, Groups, MAX_GROUPS};
use super::{explain, Encryption};
use crate::job::Job;
use crate::metering::ScanMeter;
use crate::offload::store_call;
use crate::private::{budget, finished};
use crate::runtime::{Call, Outcome, Runtime};
use crate::scope_cache::CachedScope;
use crate::RuntimeError;

fn refused(code: RefusalCode, message: impl Into<String>) -> RuntimeError {
    RuntimeError::Planner(PlannerError::Refused(Refusal::new(code, message)))
}

/// Opens the approved import `name` of the caller's unit: its bundle, checked against the
/// caller's authorization.
async fn open_import(rt: &Runtime, call: &Call, name: &str) -> Result<(PathBuf, Arc<Bundle>), RuntimeError> {
    let (caller, import) = (call.principal.clone(), name.to_string());
    let path = store_call(rt.store(), move |s| s.import_path(&caller, &import)).await?;
    let dir = path.clone();
    let bundle = tokio::task::spawn_blocking(move || Bundle::open(&dir))
        .await
        .map_err(|e| RuntimeError::Internal(format!("opening a bundle: {e}")))?
        .map_err(|e| match e {
            shuyu_crypto::CryptoError::Io { .. } => RuntimeError::Denied(format!("import {name} has no uploaded bundle; upload it with UploadBundle")),
            other => RuntimeError::Crypto(other),
        })?;
    if bundle.manifest().authorization_id != call.authorization.0.to_string() {
        return Err(RuntimeError::Denied(format!(
            "import {name} was encrypted for another authorization; query it under the authorization whose pseudonym key it used"
        )));
    }
    Ok((path, Arc::new(bundle)))
}

/// Sets its flag when dropped: the encrypted part, running on a blocking thread that a timeout
/// cannot cancel, checks the flag between steps and stops once the job's future is gone.
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Releases of a fused query: one per summed column and one for the count.
pub(crate) struct Releases {
    pub(crate) sums: Vec<(String, u32)>,
    pub(crate) count: bool,
}

impl Releases {
    fn len(&self) -> usize {
        self.sums.len() + usize::from(self.count)
    }

    /// The per-row bound of each release, in release order (a count's is 1).
    fn bounds(&self) -> impl Iterator<Item = u32> + '_ {
        self.sums.iter().map(|(_, b)| *b).chain(self.count.then_some(1))
    }
}

/// Whether a sum over column `bound` of an import of `rows` rows, noised as `spec` says, may run
/// on the linear tier: its exactness budget is decided from these public figures alone.
fn linear_fits(rows: u64, bound: u32, spec: &NoiseSpec) -> bool {
    shuyu_crypto::linear::check_release_capacity(LinearOrigin::Converted, rows, bound, Some(spec)).is_ok()
}

/// A fused query, checked and calibrated: what it reads, releases and costs.
pub(crate) struct EncryptedPlan {
    pub(crate) query: FusedQuery,
    path: PathBuf,
    bundle: Arc<Bundle>,
    pub(crate) releases: Releases,
    pub(crate) groups: Groups,
    pub(crate) mechanism: Mechanism,
    /// Per release, its scale and cost.
    pub(crate) calibration: Vec<(f64, f64)>,
    /// The composed cost.
    pub(crate) cost: f64,
    specs: Vec<NoiseSpec>,
    pub(crate) budget: QueryBudget,
}

impl EncryptedPlan {
    /// Per summed column, whether it runs on the linear tier (no encrypted filter, converted
    /// at import, fits the tier).
    pub(crate) fn linear(&self, enc: &EncryptionContext) -> Vec<bool> {
        let rows = self.bundle.manifest().rows;
        self.releases
            .sums
            .iter()
            .zip(&self.specs)
            .map(|((c, b), spec)| self.query.encrypted_filters.is_empty() && enc.has_converted(&self.path, c) && linear_fits(rows, *b, spec))
            .collect()
    }
}

/// Plans the fused query `inner` over import `name` for `call`: refuses at plan time
/// (reading no ciphertext, spending nothing) anything it cannot release.
async fn plan(rt: &Runtime, call: &Call, cached: &CachedScope, inner: &str, name: &str) -> Result<EncryptedPlan, RuntimeError> {
    let budget = budget(cached, call.amount);
    let (path, bundle) = open_import(rt, call, name).await?;
    // Bare column names resolve to the import's encrypted columns.
    let manifest = bundle.manifest();
    let query = fused::parse(inner, &|c| manifest.columns.iter().any(|x| x.spec.name == c))?
        .ok_or_else(|| RuntimeError::Internal("a statement naming an import did not parse as a fused query".into()))?;

    // Every aggregated column must be a bootstrapped column, whose bound the domain verified.
    let mut sums = Vec::new();
    for column in query.encrypted_columns() {
        let entry = manifest.columns.iter().find(|c| c.spec.name == column).ok_or_else(|| {
            RuntimeError::Planner(PlannerError::Plan(format!("import {} has no column {column}", query.import)))
        })?;
        if !entry.bound_verified_by_domain() {
            return Err(refused(
                RefusalCode::UnboundedSensitivity,
                format!(
                    "column {column} of import {} is linear-tier: its bound rests on the data holder's word, not on a proof the domain verified; \
                     re-encrypt it as a bootstrapped column (shuyu encrypt --column {column}:BOUND)",
                    query.import
                ),
            ));
        }
        if query.summed_columns().contains(&column) {
            sums.push((column, entry.spec.bound));
        }
    }
    let releases = Releases { sums, count: query.needs_count() };

    // Groups: the product of the public domains of the group columns.
    let mut domains = Vec::new();
    if let Some(public) = &query.public {
        let catalog = cached.scope.catalog();
        let table = catalog
            .table(&public.table)
            .ok_or_else(|| RuntimeError::Planner(PlannerError::Plan(format!("table {} not found in this authorization", public.table))))?;
        let unit = table.privacy_unit.as_ref().ok_or_else(|| {
            refused(RefusalCode::UnsupportedJoin, format!("table {} has no privacy unit; join imports with a table of persons", public.table))
        })?;
        if unit.column != public.key_column {
            return Err(refused(
                RefusalCode::UnsupportedJoin,
                format!("join on {}.{}, the table's privacy-unit column, not {}", public.table, unit.column, public.key_column),
            ));
        }
        for g in &query.group_by {
            let column = table
                .column(g)
                .ok_or_else(|| RuntimeError::Planner(PlannerError::Plan(format!("column {g} not found in {}", public.table))))?;
            let domain = column.public_domain.clone().ok_or_else(|| {
                refused(
                    RefusalCode::PartitionSelectionNeedsDelta,
                    format!("GROUP BY {g}: queries over an encrypted import group only by columns with a declared public domain"),
                )
            })?;
            domains.push(domain);
        }
    }
    let groups = Groups { domains };
    if groups.is_empty() || groups.len() > MAX_GROUPS {
        return Err(refused(RefusalCode::TooManyGroups, format!("the query has {} groups; at most {MAX_GROUPS} over an encrypted import", groups.len())));
    }

    // Budget: the amount split evenly between the releases.
    let mechanism = Mechanism::for_definition(budget.definition, true);
    // Each release is calibrated a hair below its share, so that the composed cost, rounded
    // up to the ledger's nano-unit, never exceeds the amount asked for.
    let share = budget.amount / releases.len() as f64 * (1.0 - 1e-9);
    let noise_error = |e: shuyu_compute::noise::NoiseError| RuntimeError::Compute(e.into());
    let mut calibration = Vec::new();
    for sensitivity in releases.bounds().map(f64::from) {
        let scale = calibrate_scale(mechanism, sensitivity, share).map_err(noise_error)?;
        let cost = release_cost(mechanism, sensitivity, scale).map_err(noise_error)?;
        calibration.push((scale, cost));
    }
    let cost = compose(&calibration.iter().map(|(_, c)| *c).collect::<Vec<_>>()).map_err(noise_error)?;
    // The noise's public description travels with each aggregate to the keyholder (never the
    // drawn value): exactness is decided from it and the import's size before anything is drawn.
    let specs = calibration.iter().map(|(scale, _)| NoiseSpec::new(mechanism, *scale)).collect::<Result<Vec<_>, _>>()?;
    // Every release must fit the bootstrapped tier's message space (the linear tier's is
    // checked where it is chosen, and a sum that does not fit it runs bootstrapped): refused
    // here, EXPLAIN PRIVACY included, before any row is read or anything is reserved.
    for (bound, spec) in releases.bounds().zip(&specs) {
        bootstrapped::check_release_capacity(manifest.rows, bound, Some(spec))?;
    }
    Ok(EncryptedPlan { query, path, bundle, releases, groups, mechanism, calibration, cost, specs, budget })
}

/// The result schema of the fused query `inner` (or of its EXPLAIN PRIVACY), after the same
/// checks as [`run`]; creates no job, reads no ciphertext, spends nothing.
#[allow(clippy::too_many_arguments)]
pub async fn prepare(rt: &Runtime, enc: &Encryption, call: &Call, cached: &CachedScope, inner: &str, name: &str, explain: bool) -> Result<SchemaRef, RuntimeError> {
    let plan = plan(rt, call, cached, inner, name).await?;
    if explain {
        return Ok(explain::batch(&plan, &enc.context)?.schema());
    }
    fused::result_schema(&plan.query)
}

/// Runs the fused query `inner` (the statement `sql` without its `EXPLAIN PRIVACY` prefix)
/// over import `name` for `call` as one job; with `explain`, returns its releases and their
/// calibration instead, reading no ciphertext and spending nothing.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    rt: &Runtime,
    enc: &Encryption,
    call: &Call,
    cached: &CachedScope,
    sql: &str,
    inner: &str,
    name: &str,
    explain: bool,
) -> Result<Outcome, RuntimeError> {
    let limit = rt.limits().timeout();
    let deadline = tokio::time::Instant::now() + limit;
    let auth = call.authorization;
    let mut job = Job::open(rt.store(), &call.principal, auth, sql, Environment::Prod, &cached.tables, ScanMeter::new()).await?;
    let plan = match plan(rt, call, cached, inner, name).await {
        Ok(plan) => plan,
        Err(e) => return job.fail(e).await,
    };
    if explain {
        let batch = match explain::batch(&plan, &enc.context) {
            Ok(b) => b,
            Err(e) => return job.fail(e).await,
        };
        let id = job.id();
        let settled = job.succeed(0.0, 0.0, 0).await?;
        return finished(QueryResult::explained(batch), id, settled);
    }

    // Reserved before any row is read: from here on every failure is charged in full and
    // answered with one generic text (its cause may depend on the data).
    // No partition selection here (public group domains only): no delta. The personal
    // table joined for its groups is what the query reads of the catalog.
    let datasets: Vec<String> = plan.query.public.iter().map(|p| p.table.clone()).collect();
    job.reserve(plan.cost, 0.0, datasets).await?;
    let start = std::time::Instant::now();
    let released = tokio::time::timeout_at(deadline, execute(rt, enc, cached, &plan, job.id(), auth))
        .await
        .unwrap_or(Err(RuntimeError::Timeout(limit)));
    let (batch, ops) = match released {
        Ok(r) => r,
        Err(e) => return job.fail(e).await,
    };
    job.add_encrypted_ops(ops);
    let result = QueryResult {
        schema: batch.schema(),
        batches: vec![batch],
        cost: plan.cost,
        delta: 0.0,
        explain: false,
        releases: plan.releases.len(),
        elapsed: start.elapsed(),
    };
    let id = job.id();
    let settled = job.succeed(plan.cost, 0.0, plan.releases.len() as u64).await?;
    finished(result, id, settled)
}

/// The reserved part of a fused query: the plaintext part, noise drawn, the encrypted part,
/// the keyholder's release; the released batch and the number of encrypted operations.
async fn execute(
    rt: &Runtime,
    enc: &Encryption,
    cached: &CachedScope,
    plan: &EncryptedPlan,
    job: JobId,
    auth: AuthorizationId,
) -> Result<(arrow::record_batch::RecordBatch, u64), RuntimeError> {
    let pseudonym_key = EncryptionContext::pseudonym_key(rt.store(), auth)?;
    let b = plan.bundle.clone();
    let pseudonyms = tokio::task::spawn_blocking(move || b.pseudonyms()).await.map_err(|e| RuntimeError::Internal(e.to_string()))??;
    let row_groups = fused::plaintext_groups(&cached.scope, &plan.query, &plan.groups, pseudonym_key, &pseudonyms).await?;
    let n = plan.groups.len();
    let mut noises: Vec<Vec<i64>> = Vec::new();
    for (scale, _) in &plan.calibration {
        let mut v = vec![0i64; n];
        add_integer_noise(&mut v, plan.mechanism, *scale).map_err(|e| RuntimeError::Compute(e.into()))?;
        noises.push(v);
    }
    let signing = rt.store().domain_signing_key();
    let (sums, counts, ops) =
        compute_and_release(enc, signing, &plan.path, &plan.bundle, &plan.query, &plan.releases, &row_groups, n, noises, &plan.specs, job, auth).await?;
    let batch = fused::result_batch(&plan.query, &plan.groups, &sums, counts.as_deref())?;
    Ok((batch, ops))
}

type Released = (HashMap<String, Vec<i64>>, Option<Vec<i64>>, u64);

/// What the encrypted part hands back: the noised encrypted values to release (sums, then an
/// encrypted count), a count noised in the clear when no encrypted filter applies, and the
/// number of encrypted operations.
type Computed = (Vec<EncryptedValue>, Option<Vec<i64>>, u64);

/// The encrypted part: verified columns (converted linear columns for sums without an
/// encrypted filter), encrypted predicates, conditional sums and counts, noise under
/// encryption (plaintext counts are noised in the clear), one signed release.
#[allow(clippy::too_many_arguments)]
async fn compute_and_release(
    encryption: &Encryption,
    signing: &ed25519_dalek::SigningKey,
    path: &std::path::Path,
    bundle: &Arc<Bundle>,
    query: &FusedQuery,
    releases: &Releases,
    row_groups: &[u32],
    n: usize,
    mut noises: Vec<Vec<i64>>,
    specs: &[NoiseSpec],
    job: JobId,
    auth: AuthorizationId,
) -> Result<Released, RuntimeError> {
    let enc = &encryption.context;
    let (enc2, bundle2, query2, groups2, path2) = (enc.clone(), bundle.clone(), query.clone(), row_groups.to_vec(), path.to_path_buf());
    let sum_columns: Vec<(String, u32)> = releases.sums.clone();
    let count = releases.count;
    let count_noise = if count { noises.pop() } else { None };
    let sum_noises = noises;
    let (sum_specs, count_spec) = (specs[..sum_columns.len()].to_vec(), specs.get(sum_columns.len()).copied());
    let stop = StopOnDrop(Arc::new(AtomicBool::new(false)));
    let stopped = stop.0.clone();
    let check = move || if stopped.load(Ordering::Relaxed) { Err(RuntimeError::Internal("the encrypted part was stopped: the job ran out of time".into())) } else { Ok(()) };
    let computed = tokio::task::spawn_blocking(move || -> Result<Computed, RuntimeError> {
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
    .map_err(|e| RuntimeError::Internal(format!("the encrypted part did not complete: {e}")))??;
    let (values, plain_counts, ops) = computed;

    let decrypted = if values.is_empty() {
        Vec::new()
    } else {
        let request = ReleaseRequest::new(job.0.to_string(), auth.0.to_string(), values);
        encryption.keyholder.release(signing, request).await?
    };
    let mut sums = HashMap::new();
    for (i, (name, _)) in releases.sums.iter().enumerate() {
        sums.insert(name.clone(), decrypted[i * n..(i + 1) * n].to_vec());
    }
    let counts = match plain_counts {
        Some(c) => Some(c),
        None if count => Some(decrypted[releases.sums.len() * n..].to_vec()),
        None => None,
    };
    Ok((sums, counts, ops))
}

