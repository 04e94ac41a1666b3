//! Keyholder policy: signed grants and requests, refusals, journal across restarts.

use ed25519_dalek::SigningKey;
use shuyu_crypto::keyholder::Keyholder;
use shuyu_crypto::keys::CustodianKeys;
use shuyu_crypto::linear::{grouped_sum, LinearEncryptor};
use shuyu_crypto::noise::NoiseSpec;
use shuyu_privacy::Mechanism;
use shuyu_crypto::release::{EncryptedValue, JobGrant, ReleaseRequest};
use shuyu_crypto::CryptoError;

struct Setup {
    domain: SigningKey,
    keyholder: Keyholder,
    values: Vec<EncryptedValue>,
    journal: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

/// Two noised linear aggregates: 10 + 20 + 3 = 33 and 5 - 2 = 3.
fn setup() -> (Setup, Vec<u8>) {
    let keys = CustodianKeys::generate();
    let key_bytes = keys.to_bytes().unwrap().to_vec();
    let column = LinearEncryptor::new(keys.linear_key()).encrypt_column("c", &[10, 20, 5], 100).unwrap();
    let mut aggregates = grouped_sum(&column, &[0, 0, 1], 2).unwrap();
    let spec = NoiseSpec::new(Mechanism::DiscreteLaplace, 4.0).unwrap();
    shuyu_crypto::noise::noise_linear(&mut aggregates, &[3, -2], spec).unwrap();
    let values = aggregates.iter().map(|a| EncryptedValue::linear(a).unwrap()).collect();
    let domain = SigningKey::from_bytes(&[42; 32]);
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("keyholder.journal");
    let keyholder = Keyholder::open(keys, domain.verifying_key(), &journal).unwrap();
    (Setup { domain, keyholder, values, journal, _dir: dir }, key_bytes)
}

fn refused(result: Result<Vec<i64>, CryptoError>) -> String {
    match result {
        Err(CryptoError::ReleaseRefused(reason)) => reason,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn a_granted_signed_request_is_decrypted_once_and_replays_are_refused_across_restarts() {
    let (s, key_bytes) = setup();
    s.keyholder.register_job(&JobGrant::new("job-1", "auth-7", 2).sign(&s.domain)).unwrap();
    let request = ReleaseRequest::new("job-1", "auth-7", s.values.clone()).sign(&s.domain);
    let request = ReleaseRequest::from_bytes(&request.to_bytes()).unwrap();
    assert_eq!(s.keyholder.decrypt(&request).unwrap(), vec![33, 3]);
    assert!(refused(s.keyholder.decrypt(&request)).contains("already served"));

    let journal = std::fs::read_to_string(&s.journal).unwrap();
    assert_eq!(journal.lines().count(), 2);
    assert!(!journal.contains("33"), "the journal never records values");

    // A restarted keyholder replays its journal: the job stays served.
    let restarted = Keyholder::open(CustodianKeys::from_bytes(&key_bytes).unwrap(), s.domain.verifying_key(), &s.journal).unwrap();
    assert!(refused(restarted.decrypt(&request)).contains("already served"));
}

#[test]
fn unsigned_and_badly_signed_requests_and_grants_are_refused() {
    let (s, _) = setup();
    assert!(refused(s.keyholder.register_job(&JobGrant::new("job-1", "auth-7", 2)).map(|_| vec![])).contains("not signed"));
    s.keyholder.register_job(&JobGrant::new("job-1", "auth-7", 2).sign(&s.domain)).unwrap();

    let unsigned = ReleaseRequest::new("job-1", "auth-7", s.values.clone());
    assert!(refused(s.keyholder.decrypt(&unsigned)).contains("not signed"));

    let intruder = SigningKey::from_bytes(&[7; 32]);
    let forged = ReleaseRequest::new("job-1", "auth-7", s.values.clone()).sign(&intruder);
    assert!(refused(s.keyholder.decrypt(&forged)).contains("does not verify"));

    // Swapping a ciphertext after signing breaks the digest.
    let mut tampered = ReleaseRequest::new("job-1", "auth-7", s.values.clone()).sign(&s.domain);
    tampered.values.swap(0, 1);
    assert!(refused(s.keyholder.decrypt(&tampered)).contains("does not verify"));

    // None of the refusals consumed the job.
    let good = ReleaseRequest::new("job-1", "auth-7", s.values.clone()).sign(&s.domain);
    assert_eq!(s.keyholder.decrypt(&good).unwrap(), vec![33, 3]);
}

#[test]
fn other_jobs_other_authorizations_and_extra_values_are_refused() {
    let (s, _) = setup();
    s.keyholder.register_job(&JobGrant::new("job-1", "auth-7", 1).sign(&s.domain)).unwrap();

    let other_job = ReleaseRequest::new("job-2", "auth-7", s.values[..1].to_vec()).sign(&s.domain);
    assert!(refused(s.keyholder.decrypt(&other_job)).contains("no grant"));

    let other_authorization = ReleaseRequest::new("job-1", "auth-8", s.values[..1].to_vec()).sign(&s.domain);
    assert!(refused(s.keyholder.decrypt(&other_authorization)).contains("another authorization"));

    let too_many = ReleaseRequest::new("job-1", "auth-7", s.values.clone()).sign(&s.domain);
    assert!(refused(s.keyholder.decrypt(&too_many)).contains("granted 1"));

    // A grant cannot be widened afterwards.
    let widened = JobGrant::new("job-1", "auth-7", 2).sign(&s.domain);
    assert!(matches!(s.keyholder.register_job(&widened), Err(CryptoError::ReleaseRefused(_))));

    let within = ReleaseRequest::new("job-1", "auth-7", s.values[..1].to_vec()).sign(&s.domain);
    assert_eq!(s.keyholder.decrypt(&within).unwrap(), vec![33]);
}
