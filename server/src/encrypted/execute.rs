//! Running a fused query as a governed job: approval and ownership checks, the plaintext part,
//! budget reservation, the encrypted part with noise under encryption, release through the
//! keyholder, commit and job record.
//!
//! The charge follows the ordinary runner's rule: a refusal or failure before any noise is
//! drawn releases the reservation; once noise exists the whole reservation stands.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use shuyu_compute::noise::{add_integer_noise, calibrate_scale, compose, confidence_half_width, release_cost};
use shuyu_privacy::{Mechanism, PrivacyDefinition};
use shuyu_compute::QueryResult;
use shuyu_crypto::bootstrapped;
use shuyu_datasets::Fault;
use shuyu_crypto::bundle::{Bundle, ColumnTier};
use shuyu_crypto::linear::{grouped_sum, LinearOrigin, NO_GROUP};
use shuyu_crypto::noise::{NoiseDistribution, NoiseSpec};
use shuyu_crypto::release::{EncryptedValue, ReleaseRequest};
use shuyu_governance::{Atto, AuthorizationId, Charge, Environment, JobId, JobOutcome, JobStatus, Metering, Nano, NewJob, Principal, Reservation};
use shuyu_planner::{PlannerError, Refusal, RefusalCode};
use tfhe::prelude::FheTrivialEncrypt;
use tfhe::FheBool;

use super::context::EncryptionContext;
use super::fused::{self, FusedQuery, Groups, MAX_GROUPS};
use super::keyholder::DomainKeyholderClient;
use crate::offload::store_call;
use crate::runner::{Outcome, Runner};
use crate::Error;

fn refused(code: RefusalCode, message: impl Into<String>) -> Error {
    Error::Planner(PlannerError::Refused(Refusal::new(code, message)))
}

/// Opens the approved import `name` of the caller's unit: its bundle, checked against the
/// caller's authorization.
async fn open_import(runner: &Runner, p: &Principal, auth: AuthorizationId, name: &str) -> Result<(PathBuf, Arc<Bundle>), Error> {
    let (caller, import) = (p.clone(), name.to_string());
    let path = store_call(runner.store(), move |s| s.import_path(&caller, &import)).await?;
    let dir = path.clone();
    let bundle = tokio::task::spawn_blocking(move || Bundle::open(&dir))
        .await
        .map_err(|e| Error::Internal(format!("opening a bundle: {e}")))?
        .map_err(|e| match e {
            shuyu_crypto::CryptoError::Io { .. } => Error::Denied(format!("import {name} has no uploaded bundle; upload it with UploadBundle")),
            other => Error::Crypto(other),
        })?;
    if bundle.manifest().authorization_id != auth.0.to_string() {
        return Err(Error::Denied(format!(
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
struct Releases {
    sums: Vec<(String, u32)>,
    count: bool,
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

/// Runs a fused query for `p` under `auth`; with `explain` (EXPLAIN PRIVACY), returns its
/// releases and their calibration instead, reading no ciphertext and spending nothing.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    runner: &Runner,
    enc: &Arc<EncryptionContext>,
    p: &Principal,
    auth: AuthorizationId,
    sql: &str,
    query: FusedQuery,
    amount: Option<f64>,
    explain: bool,
) -> Result<Outcome, Error> {
    let start = Instant::now();
    let limit = runner.limits().timeout();
    let deadline = tokio::time::Instant::now() + limit;
    let cached = runner.scope(p, auth).await?;
    let mut budget = cached.budget;
    if let Some(a) = amount {
        budget.amount = a;
    }
    let (path, bundle) = open_import(runner, p, auth, &query.import).await?;

    // Every aggregated column must be a bootstrapped column, whose bound the domain verified.
    let mut sums = Vec::new();
    for column in query.encrypted_columns() {
        let entry = bundle.manifest().columns.iter().find(|c| c.spec.name == column).ok_or_else(|| {
            Error::Planner(PlannerError::Plan(format!("import {} has no column {column}", query.import)))
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
            .ok_or_else(|| Error::Planner(PlannerError::Plan(format!("table {} not found in this authorization", public.table))))?;
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
                .ok_or_else(|| Error::Planner(PlannerError::Plan(format!("column {g} not found in {}", public.table))))?;
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

    let (caller, text) = (p.clone(), sql.to_string());
    let job = store_call(runner.store(), move |s| s.create_job(&caller, &NewJob { authorization: auth, sql: text, environment: Environment::Prod })).await?;
    let recorder = Recorder { runner, job, tables: cached.tables.clone() };

    // Budget: the amount split evenly between the releases.
    let mechanism = Mechanism::for_definition(budget.definition, true);
    // Each release is calibrated a hair below its share, so that the composed cost, rounded
    // up to the ledger's nano-unit, never exceeds the amount asked for.
    let share = budget.amount / releases.len() as f64 * (1.0 - 1e-9);
    let noise_error = |e: shuyu_compute::noise::NoiseError| Error::Compute(e.into());
    let mut plan = Vec::new();
    for sensitivity in releases.sums.iter().map(|(_, b)| f64::from(*b)).chain(releases.count.then_some(1.0)) {
        let scale = match calibrate_scale(mechanism, sensitivity, share) {
            Ok(s) => s,
            Err(e) => return recorder.fail(noise_error(e)).await,
        };
        let cost = release_cost(mechanism, sensitivity, scale).map_err(noise_error)?;
        plan.push((scale, cost));
    }
    let cost = compose(&plan.iter().map(|(_, c)| *c).collect::<Vec<_>>()).map_err(noise_error)?;
    // The noise's public description travels with each aggregate to the keyholder (never the
    // drawn value): exactness is decided from it and the import's size before anything is drawn.
    let distribution = match mechanism {
        Mechanism::DiscreteLaplace => NoiseDistribution::DiscreteLaplace,
        Mechanism::DiscreteGaussian => NoiseDistribution::DiscreteGaussian,
        Mechanism::Laplace | Mechanism::Gaussian | Mechanism::ExponentialQuantile | Mechanism::PartitionSelection => {
            return recorder.fail(Error::Internal("an encrypted release needs an integer noise mechanism".into())).await;
        }
    };
    let specs = match plan.iter().map(|(scale, _)| NoiseSpec::new(distribution, *scale)).collect::<Result<Vec<_>, _>>() {
        Ok(s) => s,
        Err(e) => return recorder.fail(e.into()).await,
    };
    // Every release must fit the bootstrapped tier's message space (the linear tier's is
    // checked where it is chosen, and a sum that does not fit it runs bootstrapped): refused
    // here, EXPLAIN PRIVACY included, before any row is read or anything is reserved.
    let import_rows = bundle.manifest().rows;
    for (bound, spec) in releases.bounds().zip(&specs) {
        if let Err(e) = bootstrapped::check_release_capacity(import_rows, bound, Some(spec)) {
            return recorder.fail(e.into()).await;
        }
    }
    if explain {
        let linear: Vec<bool> = releases
            .sums
            .iter()
            .zip(&specs)
            .map(|((c, b), spec)| query.encrypted_filters.is_empty() && enc.has_converted(&path, c) && linear_fits(import_rows, *b, spec))
            .collect();
        let batch = explain_batch(&query, &releases, &linear, &plan, mechanism, cost, groups.len(), budget.definition).map_err(Error::Internal);
        let batch = match batch {
            Ok(b) => b,
            Err(e) => return recorder.fail(e).await,
        };
        recorder.finish(JobStatus::Succeeded, Metering::default(), None).await?;
        let caller = p.clone();
        let budget_now = store_call(runner.store(), move |s| s.budget(&caller, auth)).await?;
        let result = QueryResult { schema: batch.schema(), batches: vec![batch], cost, delta: 0.0, explain: true, releases: releases.len(), elapsed: start.elapsed() };
        return Ok(Outcome {
            result,
            job,
            charged: Nano::ZERO,
            charged_delta: Atto::ZERO,
            budget: budget_now,
            losses: Vec::new(),
            metering: Metering::default(),
            held: None,
        });
    }

    // Reserved before any row is read: from here on every failure is charged in full and
    // answered with one generic text (its cause may depend on the data).
    // No partition selection here (public group domains only): no delta. The personal
    // table joined for its groups is what the query reads of the catalog.
    let datasets: Vec<String> = query.public.iter().map(|p| p.table.clone()).collect();
    let reservation = match Nano::charge(cost, "query cost") {
        Ok(n) => store_call(runner.store(), move |s| s.reserve(auth, job, &Charge::new(n, Atto::ZERO, datasets))).await,
        Err(e) => Err(e.into()),
    };
    let reservation = match reservation {
        Ok(r) => r,
        Err(e) => return recorder.fail(e).await,
    };

    // Plaintext part.
    let pseudonym_key = EncryptionContext::pseudonym_key(runner.store(), auth)?;
    let pseudonyms = {
        let b = bundle.clone();
        tokio::task::spawn_blocking(move || b.pseudonyms()).await.map_err(|e| Error::Internal(e.to_string()))?
    };
    let pseudonyms = match pseudonyms {
        Ok(p) => p,
        Err(e) => return charged_failure(runner, &recorder, &reservation, e.into()).await,
    };
    let row_groups = match fused::plaintext_groups(&cached.scope, &query, &groups, pseudonym_key, &pseudonyms).await {
        Ok(g) => g,
        Err(e) => return charged_failure(runner, &recorder, &reservation, e).await,
    };

    // Noise is drawn now: from here on the reservation is spent whatever happens.
    let n = groups.len();
    let mut noises: Vec<Vec<i64>> = Vec::new();
    for (scale, _) in &plan {
        let mut v = vec![0i64; n];
        if let Err(e) = add_integer_noise(&mut v, mechanism, *scale) {
            return charged_failure(runner, &recorder, &reservation, noise_error(e)).await;
        }
        noises.push(v);
    }
    let signing = runner.store().domain_signing_key();
    // The job's time limit covers the encrypted part and the keyholder's answer; past it the
    // encrypted work stops at its next step (see `StopOnDrop`) and the charge stands.
    let outcome = tokio::time::timeout_at(deadline, compute_and_release(enc, signing, &path, &bundle, &query, &releases, &row_groups, n, noises, &specs, job, auth))
        .await
        .unwrap_or(Err(Error::Timeout(limit)));
    let charged = reservation.amount;
    let budget_after = settle(runner, &reservation, Some((charged, reservation.delta))).await?;
    let (sums, counts, encrypted_ops) = match outcome {
        Ok(values) => values,
        Err(e) => return recorder.charged(e, charged).await,
    };
    let batch = match fused::result_batch(&query, &groups, &sums, counts.as_deref()) {
        Ok(b) => b,
        Err(e) => return recorder.charged(e, charged).await,
    };
    let metering = Metering { cpu_ms: start.elapsed().as_millis() as u64, releases: releases.len() as u64, encrypted_ops, ..Metering::default() };
    recorder.finish(JobStatus::Succeeded, metering, None).await?;
    let result = QueryResult {
        schema: batch.schema(),
        batches: vec![batch],
        cost,
        delta: 0.0,
        explain: false,
        releases: releases.len(),
        elapsed: start.elapsed(),
    };
    // The runner marks the environment and holds the result under a review policy.
    Ok(Outcome { result, job, charged, charged_delta: reservation.delta, budget: budget_after, losses: Vec::new(), metering, held: None })
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
    enc: &Arc<EncryptionContext>,
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
) -> Result<Released, Error> {
    let (enc2, bundle2, query2, groups2, path2) = (enc.clone(), bundle.clone(), query.clone(), row_groups.to_vec(), path.to_path_buf());
    let sum_columns: Vec<(String, u32)> = releases.sums.clone();
    let count = releases.count;
    let count_noise = if count { noises.pop() } else { None };
    let sum_noises = noises;
    let (sum_specs, count_spec) = (specs[..sum_columns.len()].to_vec(), specs.get(sum_columns.len()).copied());
    let stop = StopOnDrop(Arc::new(AtomicBool::new(false)));
    let stopped = stop.0.clone();
    let check = move || if stopped.load(Ordering::Relaxed) { Err(Error::Internal("the encrypted part was stopped: the job ran out of time".into())) } else { Ok(()) };
    let computed = tokio::task::spawn_blocking(move || -> Result<Computed, Error> {
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
    .map_err(|e| Error::Internal(format!("the encrypted part did not complete: {e}")))??;
    let (values, plain_counts, ops) = computed;

    let decrypted = if values.is_empty() {
        Vec::new()
    } else {
        let request = ReleaseRequest::new(job.0.to_string(), auth.0.to_string(), values);
        DomainKeyholderClient::new(enc.keyholder_uri()).release(signing, request).await?
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

/// A failure after the reservation: the full amount is charged, the cause recorded in the
/// job, and the caller told only that the job stopped and what it cost.
async fn charged_failure(runner: &Runner, recorder: &Recorder<'_>, reservation: &Reservation, cause: Error) -> Result<Outcome, Error> {
    settle(runner, reservation, Some((reservation.amount, reservation.delta))).await?;
    recorder.charged(cause, reservation.amount).await
}

async fn settle(runner: &Runner, reservation: &Reservation, actual: Option<(Nano, Atto)>) -> Result<shuyu_governance::Budget, Error> {
    let r = reservation.clone();
    store_call(runner.store(), move |s| match actual {
        Some((a, d)) => s.commit(&r, a, d),
        None => s.release(&r),
    })
    .await
}

/// Records how the job ended.
struct Recorder<'a> {
    runner: &'a Runner,
    job: JobId,
    tables: Vec<String>,
}

impl Recorder<'_> {
    async fn finish(&self, status: JobStatus, metering: Metering, failure: Option<String>) -> Result<(), Error> {
        let (id, datasets) = (self.job, self.tables.clone());
        store_call(self.runner.store(), move |s| s.finish_job(id, &JobOutcome { status, metering, datasets, failure })).await.map(|_| ())
    }

    /// Records the failure, `refused` or `failed` by its fault class, and returns it.
    async fn fail<T>(&self, e: Error) -> Result<T, Error> {
        self.finish(JobStatus::ended_by(e.fault()), Metering::default(), Some(e.to_string())).await?;
        Err(e)
    }

    /// Records a failure after the reservation (its cause in the job record, the status of
    /// a charged job) and returns the one generic answer, [`Error::Charged`].
    async fn charged<T>(&self, cause: Error, charged: Nano) -> Result<T, Error> {
        // The answer is the same whether or not the record could be written.
        let _ = self.finish(JobStatus::ended_by(Fault::Charged), Metering::default(), Some(cause.to_string())).await;
        Err(Error::Charged { charged, job: self.job })
    }
}

/// EXPLAIN PRIVACY of a fused query, in the planner's EXPLAIN schema: one row per release
/// (the summed columns, then the count) and a total row.
#[allow(clippy::too_many_arguments)]
fn explain_batch(
    query: &FusedQuery,
    releases: &Releases,
    linear: &[bool],
    plan: &[(f64, f64)],
    mechanism: Mechanism,
    total: f64,
    groups: usize,
    definition: PrivacyDefinition,
) -> Result<arrow::record_batch::RecordBatch, String> {
    use arrow::array::{ArrayRef, Float64Array, Int64Array, StringArray};
    use fused::{Aggregate, Output};
    let keys = if query.group_by.is_empty() { "one row".to_string() } else { format!("public domain: {groups} keys, empty ones included") };
    let users = |want: &dyn Fn(&Aggregate) -> bool| -> String {
        query
            .outputs
            .iter()
            .filter(|(_, o)| matches!(o, Output::Aggregate(a) if want(a)))
            .map(|(name, _)| name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let encrypted_count = !query.encrypted_filters.is_empty();
    let mut rows: Vec<(Option<i64>, String, String, String, Option<f64>, Option<f64>, Option<f64>, Option<f64>, String)> = Vec::new();
    let measures = releases.sums.iter().zip(linear).map(|((c, b), &linear)| {
        let tier = if linear { "linear tier, converted at import" } else { "bootstrapped tier" };
        (
            users(&|a| matches!(a, Aggregate::Sum(x) | Aggregate::Avg(x) if x == c)),
            format!("sum({c}) under encryption ({tier}, bound {b} verified at import)"),
            f64::from(*b),
        )
    });
    let count = releases.count.then(|| {
        let measure = if encrypted_count { "count(*) under encryption" } else { "count(*) of plaintext matches" };
        (users(&|a| matches!(a, Aggregate::Count | Aggregate::Avg(_))), measure.to_string(), 1.0)
    });
    for ((column, measure, sensitivity), (scale, cost)) in measures.chain(count).zip(plan) {
        let half = confidence_half_width(mechanism, *scale, 0.95).map_err(|e| e.to_string())?;
        rows.push((Some(0), column, measure, mechanism.name().to_string(), Some(sensitivity), Some(*scale), Some(*cost), Some(half), keys.clone()));
    }
    let unit = definition.unit_name();
    rows.push((None, "(total)".into(), format!("{} releases, basic composition; noise added under encryption", plan.len()), format!("{unit} (delta 0e0)"), None, None, Some(total), None, String::new()));
    let cols: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(rows.iter().map(|r| r.0).collect::<Vec<_>>())),
        Arc::new(StringArray::from(rows.iter().map(|r| r.1.clone()).collect::<Vec<_>>())),
        Arc::new(StringArray::from(rows.iter().map(|r| r.2.clone()).collect::<Vec<_>>())),
        Arc::new(StringArray::from(rows.iter().map(|r| r.3.clone()).collect::<Vec<_>>())),
        Arc::new(Float64Array::from(rows.iter().map(|r| r.4).collect::<Vec<_>>())),
        Arc::new(Float64Array::from(rows.iter().map(|r| r.5).collect::<Vec<_>>())),
        Arc::new(Float64Array::from(rows.iter().map(|r| r.6).collect::<Vec<_>>())),
        Arc::new(Float64Array::from(rows.iter().map(|r| r.7).collect::<Vec<_>>())),
        Arc::new(StringArray::from(rows.iter().map(|r| r.8.clone()).collect::<Vec<_>>())),
    ];
    arrow::record_batch::RecordBatch::try_new(shuyu_planner::explain::explain_schema(), cols).map_err(|e| e.to_string())
}
