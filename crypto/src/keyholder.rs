//! The keyholder's policy (library part of the custodian's keyholder service): it decrypts only
//! what a domain-signed release request names, for a job the domain granted beforehand, at
//! most the granted number of values, once per job; it journals every grant and every
//! decryption and logs each decryption (never the values).

use crate::error::{CryptoError, Result};
use crate::keys::CustodianKeys;
use crate::release::{JobGrant, ReleaseRequest, Tier};
use crate::{bootstrapped::BootstrappedAggregate, linear::LinearAggregate};
use ed25519_dalek::VerifyingKey;
use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use tfhe::prelude::FheDecrypt;

/// One line of the journal (JSON lines, append-only, fsynced).
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
enum JournalEntry {
    Granted { job_id: String, authorization_id: String, values: u64 },
    Served { job_id: String, values: u64 },
}

#[derive(Clone)]
struct JobRecord {
    authorization_id: String,
    allowed: u64,
    served: bool,
}

/// Decrypts release requests under the custodian's keys and the policy above. Safe to share
/// between threads (the journal is behind a mutex).
pub struct Keyholder {
    keys: CustodianKeys,
    domain: VerifyingKey,
    journal_path: PathBuf,
    jobs: Mutex<HashMap<String, JobRecord>>,
}

impl std::fmt::Debug for Keyholder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyholder").field("journal_path", &self.journal_path).finish_non_exhaustive()
    }
}

impl Keyholder {
    /// Opens the keyholder with its keys, the domain's verifying key and its journal (created if
    /// absent; replayed if present, so served jobs stay served across restarts).
    pub fn open(keys: CustodianKeys, domain: VerifyingKey, journal_path: impl AsRef<Path>) -> Result<Self> {
        let journal_path = journal_path.as_ref().to_path_buf();
        let mut jobs = HashMap::new();
        match std::fs::File::open(&journal_path) {
            Ok(file) => {
                for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
                    let line = line.map_err(|e| CryptoError::io(&journal_path, e))?;
                    let entry: JournalEntry = serde_json::from_str(&line).map_err(|e| {
                        CryptoError::malformed("keyholder journal", format!("line {}: {e}", n + 1))
                    })?;
                    match entry {
                        JournalEntry::Granted { job_id, authorization_id, values } => {
                            jobs.insert(job_id, JobRecord { authorization_id, allowed: values, served: false });
                        }
                        JournalEntry::Served { job_id, .. } => {
                            if let Some(record) = jobs.get_mut(&job_id) {
                                record.served = true;
                            }
                        }
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(CryptoError::io(&journal_path, e)),
        }
        Ok(Keyholder { keys, domain, journal_path, jobs: Mutex::new(jobs) })
    }

    fn append(&self, entry: &JournalEntry) -> Result<()> {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.journal_path)
            .map_err(|e| CryptoError::io(&self.journal_path, e))?;
        let mut line = serde_json::to_string(entry).expect("journal entries serialize");
        line.push('\n');
        file.write_all(line.as_bytes()).and_then(|_| file.sync_all()).map_err(|e| CryptoError::io(&self.journal_path, e))
    }

    /// Records a domain-signed job grant. Refuses an unsigned or badly signed grant, and a second
    /// grant for the same job with other terms (an identical one is accepted again).
    pub fn register_job(&self, grant: &JobGrant) -> Result<()> {
        grant.verify(&self.domain)?;
        let mut jobs = self.jobs.lock().expect("keyholder state lock");
        if let Some(existing) = jobs.get(&grant.job_id) {
            if existing.authorization_id == grant.authorization_id && existing.allowed == grant.values {
                return Ok(());
            }
            return Err(CryptoError::ReleaseRefused(format!(
                "job {} is already granted with other terms; a job's allowance cannot change",
                grant.job_id
            )));
        }
        self.append(&JournalEntry::Granted {
            job_id: grant.job_id.clone(),
            authorization_id: grant.authorization_id.clone(),
            values: grant.values,
        })?;
        jobs.insert(
            grant.job_id.clone(),
            JobRecord { authorization_id: grant.authorization_id.clone(), allowed: grant.values, served: false },
        );
        tracing::info!(job = %grant.job_id, authorization = %grant.authorization_id, values = grant.values, "keyholder: job granted");
        Ok(())
    }

    /// Decrypts a release request and returns its noised values, in order, or refuses it:
    /// unsigned or badly signed, for a job never granted, under another authorization than the
    /// grant's, for a job already served (replay), with more values than granted, or with an
    /// aggregate that is malformed, of an older format, outside its exactness budget or without
    /// noise. The job is journalled as served before any value is returned; the journal and the
    /// log hold the job, the authorization and the number of values, nothing else.
    pub fn decrypt(&self, request: &ReleaseRequest) -> Result<Vec<i64>> {
        request.verify(&self.domain)?;
        let mut jobs = self.jobs.lock().expect("keyholder state lock");
        let record = jobs.get(&request.job_id).cloned().ok_or_else(|| {
            CryptoError::ReleaseRefused(format!("job {} has no grant at this keyholder", request.job_id))
        })?;
        if record.authorization_id != request.authorization_id {
            return Err(CryptoError::ReleaseRefused(format!(
                "job {} was granted under another authorization",
                request.job_id
            )));
        }
        if record.served {
            return Err(CryptoError::ReleaseRefused(format!("job {} was already served", request.job_id)));
        }
        if request.values.len() as u64 > record.allowed {
            return Err(CryptoError::ReleaseRefused(format!(
                "job {} asks for {} values but was granted {}",
                request.job_id,
                request.values.len(),
                record.allowed
            )));
        }
        // Each aggregate is read with its public figures checked against its tier's exactness
        // budget (import rows × bound + the noise's tail bound); one without noise is refused.
        // Nothing here needs, or could learn, a group's row count or the noise drawn.
        let unnoised = || CryptoError::ReleaseRefused(format!("job {} sends an aggregate without DP noise", request.job_id));
        let values = request
            .values
            .iter()
            .map(|value| match value.tier {
                Tier::Linear => {
                    let aggregate = LinearAggregate::from_bytes(&value.bytes)?;
                    aggregate.figures().noise.as_ref().ok_or_else(unnoised)?;
                    Ok(self.keys.linear_key().decrypt(&aggregate))
                }
                Tier::Bootstrapped => {
                    let aggregate = BootstrappedAggregate::from_bytes(&value.bytes)?;
                    aggregate.figures().noise.as_ref().ok_or_else(unnoised)?;
                    let clear: u64 = aggregate.value().decrypt(self.keys.client_key());
                    Ok(clear as i64)
                }
            })
            .collect::<Result<Vec<i64>>>()?;
        self.append(&JournalEntry::Served { job_id: request.job_id.clone(), values: values.len() as u64 })?;
        jobs.insert(request.job_id.clone(), JobRecord { served: true, ..record });
        tracing::info!(
            job = %request.job_id,
            authorization = %request.authorization_id,
            values = values.len(),
            "keyholder: decrypted a release"
        );
        Ok(values)
    }
}
