//! Fused queries over an approved encrypted import (`imports.<name>`) as jobs of the one job
//! sequence ([`crate::job::Job`]): the import opened for the caller, the plan
//! (`shuyu_planner::encrypted`, checked against the tiers by `shuyu_compute::encrypted`),
//! reservation, the run in compute, settlement.
//!
//! The charge follows the job's rule: a refusal or failure before the reservation costs
//! nothing; after it, any failure is charged in full and answered with one generic text.

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use shuyu_compute::encrypted::{Encryption, Prepared};
use shuyu_compute::QueryResult;
use shuyu_crypto::bundle::Bundle;
use shuyu_crypto::pseudonym::PseudonymKey;
use shuyu_governance::{AuthorizationId, Environment, Store};

use crate::call::{Call, Outcome};
use crate::job::Job;
use crate::metering::ScanMeter;
use crate::offload::store_call;
use crate::private::{budget, finished};
use crate::scope_cache::CachedScope;
use crate::services::Services;
use crate::RuntimeError;

/// The pseudonym key of `authorization`: HMAC-SHA256 of the authorization's id under the
/// domain's secret pseudonym root. The unit's custodian pseudonymises its join key with it;
/// the domain computes the same pseudonym on the public privacy-unit column.
pub fn pseudonym_key(store: &Store, authorization: AuthorizationId) -> Result<PseudonymKey, RuntimeError> {
    let root = PseudonymKey::from_bytes(store.pseudonym_root()?);
    let label = format!("shuyu/pseudonym-key/v1/authorization/{}", authorization.0);
    Ok(PseudonymKey::from_bytes(root.pseudonymise(label.as_bytes()).0))
}

/// Opens the approved import `name` of the caller's unit and plans `inner` over it: refuses
/// at plan time (reading no ciphertext, spending nothing) anything it cannot release.
async fn plan(rt: &Services, call: &Call, cached: &CachedScope, inner: &str, name: &str) -> Result<Prepared, RuntimeError> {
    let (caller, import) = (call.principal.clone(), name.to_string());
    let path = store_call(rt.store(), move |s| s.import_path(&caller, &import)).await?;
    let dir = path.clone();
    let bundle = tokio::task::spawn_blocking(move || Bundle::open(&dir))
        .await
        .map_err(|e| RuntimeError::Internal(format!("opening a bundle: {e}")))?
        .map_err(|e| match e {
            shuyu_crypto::CryptoError::Io { .. } => {
                RuntimeError::Denied(format!("import {name} has no uploaded bundle; upload it with UploadBundle"))
            }
            other => RuntimeError::Crypto(other),
        })?;
    if bundle.manifest().authorization_id != call.authorization.0.to_string() {
        return Err(RuntimeError::Denied(format!(
            "import {name} was encrypted for another authorization; query it under the authorization whose pseudonym key it used"
        )));
    }
    let budget = budget(cached, call.amount);
    Ok(shuyu_compute::encrypted::prepare(inner, name, path, Arc::new(bundle), cached.scope.catalog(), budget)?)
}

/// The result schema of the fused query `inner` (or of its EXPLAIN PRIVACY), after the same
/// checks as [`run`]; creates no job, reads no ciphertext, spends nothing.
pub async fn prepare(
    rt: &Services,
    enc: &Encryption,
    call: &Call,
    cached: &CachedScope,
    inner: &str,
    name: &str,
    explain: bool,
) -> Result<SchemaRef, RuntimeError> {
    let prepared = plan(rt, call, cached, inner, name).await?;
    Ok(if explain { prepared.explain(&enc.context).schema() } else { prepared.schema() })
}

/// Runs the fused query `inner` (the statement `sql` without its `EXPLAIN PRIVACY` prefix)
/// over import `name` for `call` as one job; with `explain`, returns its releases and their
/// calibration instead, reading no ciphertext and spending nothing.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    rt: &Services,
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
    let prepared = match plan(rt, call, cached, inner, name).await {
        Ok(p) => p,
        Err(e) => return job.fail(e).await,
    };
    if explain {
        let batch = prepared.explain(&enc.context);
        let id = job.id();
        let settled = job.succeed(0.0, 0.0, 0).await?;
        return finished(QueryResult::explained(batch), id, settled);
    }

    // Reserved before any row is read: from here on every failure is charged in full and
    // answered with one generic text (its cause may depend on the data).
    // No partition selection here (public group domains only): no delta. The personal
    // table joined for its groups is what the query reads of the catalog.
    let (cost, releases) = (prepared.plan.total_cost(), prepared.plan.releases());
    let datasets: Vec<String> = prepared.plan.query.public.iter().map(|p| p.table.clone()).collect();
    job.reserve(cost, 0.0, datasets).await?;
    let start = std::time::Instant::now();
    let (job_id, auth_id) = (job.id().0.to_string(), auth.0.to_string());
    let execute = async {
        let key = pseudonym_key(rt.store(), auth)?;
        let signing = rt.store().domain_signing_key();
        Ok::<_, RuntimeError>(prepared.execute(enc, &cached.scope, key, signing, &job_id, &auth_id).await?)
    };
    let released = tokio::time::timeout_at(deadline, execute).await.unwrap_or(Err(RuntimeError::Timeout(limit)));
    let (batch, ops) = match released {
        Ok(r) => r,
        Err(e) => return job.fail(e).await,
    };
    job.add_encrypted_ops(ops);
    let result = QueryResult { schema: batch.schema(), batches: vec![batch], cost, delta: 0.0, explain: false, releases, elapsed: start.elapsed() };
    let id = job.id();
    let settled = job.succeed(cost, 0.0, releases as u64).await?;
    finished(result, id, settled)
}
