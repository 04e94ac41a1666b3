//! Attack: what the custodian's keyholder receives for a release. The custodian must learn the
//! noised values it decrypts and nothing else about the data: no group's row count, no noise
//! magnitude, no exact total. The test records the exact bytes the domain's client sends (the
//! signed job grant and the signed release request, serialized as on the wire), parses them
//! with its own reader of the documented layout, and checks that everything outside the
//! ciphertexts is the same for two releases over groups of different sizes with different
//! noises — so it cannot encode either — and equals the public figures it is documented to
//! carry. (Ciphertext metadata of the bootstrapped tier is checked in `bootstrapped.rs`.)

use ed25519_dalek::SigningKey;
use shuyu_crypto::keyholder::Keyholder;
use shuyu_crypto::keys::CustodianKeys;
use shuyu_crypto::linear::{grouped_sum, LinearEncryptor, LinearSecretKey, NO_GROUP};
use shuyu_crypto::noise::NoiseSpec;
use shuyu_privacy::Mechanism;
use shuyu_crypto::release::{EncryptedValue, JobGrant, ReleaseRequest, Tier};
use shuyu_crypto::CryptoError;

const VALUES: [u32; 12] = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 5, 15];
const BOUND: u32 = 100;
/// Bytes of a linear aggregate before its ciphertext (body and mask).
const LINEAR_HEADER: usize = 30;

/// What one release sends: the grant's and the request's wire bytes.
struct Wire {
    grant: Vec<u8>,
    request: Vec<u8>,
}

/// One release of `SUM(v) GROUP BY g` over three public groups, noised with `noises`, as the
/// domain's keyholder client sends it (`server/src/encrypted/keyholder.rs`, `release`).
fn release(key: &LinearSecretKey, groups: &[u32; 12], noises: &[i64; 3], domain: &SigningKey) -> (Wire, Vec<i64>) {
    let column = LinearEncryptor::new(key).encrypt_column("claim", &VALUES, BOUND).unwrap();
    let mut aggregates = grouped_sum(&column, groups, 3).unwrap();
    let spec = NoiseSpec::new(Mechanism::DiscreteLaplace, 66.5).unwrap();
    shuyu_crypto::noise::noise_linear(&mut aggregates, noises, spec).unwrap();
    let values: Vec<EncryptedValue> = aggregates.iter().map(|a| EncryptedValue::linear(a).unwrap()).collect();
    let grant = JobGrant::new("job-41", "auth-3", values.len() as u64).sign(domain);
    let request = ReleaseRequest::new("job-41", "auth-3", values).sign(domain);
    let expected = (0..3u32)
        .map(|g| VALUES.iter().zip(groups).filter(|(_, &x)| x == g).map(|(&v, _)| v as i64).sum::<i64>() + noises[g as usize])
        .collect();
    (Wire { grant: grant.to_bytes(), request: request.to_bytes() }, expected)
}

/// The request's bytes as the documented layout reads them: its clear fields in order, and
/// the ciphertext part of each value.
#[derive(Debug)]
struct Parsed {
    clear: Vec<Vec<u8>>,
    ciphertexts: Vec<Vec<u8>>,
    signature: Vec<u8>,
}

fn parse_request(bytes: &[u8]) -> Parsed {
    let mut at = 0;
    let mut take = |n: usize| {
        let part = bytes[at..at + n].to_vec();
        at += n;
        part
    };
    let le = |b: &[u8]| u64::from_le_bytes(b.try_into().unwrap()) as usize;
    let mut clear = vec![take(8)];
    for _ in 0..2 {
        let len = take(8);
        let n = le(&len);
        clear.push(len);
        clear.push(take(n));
    }
    let count = take(8);
    let values = le(&count);
    clear.push(count);
    let mut ciphertexts = Vec::new();
    for _ in 0..values {
        clear.push(take(1));
        let len = take(8);
        let n = le(&len);
        clear.push(len);
        let aggregate = take(n);
        clear.push(aggregate[..LINEAR_HEADER].to_vec());
        ciphertexts.push(aggregate[LINEAR_HEADER..].to_vec());
    }
    clear.push(take(1));
    let signature = take(64);
    assert_eq!(at, bytes.len(), "the layout accounts for every byte");
    Parsed { clear, ciphertexts, signature }
}

#[test]
fn the_keyholder_receives_no_row_count_noise_magnitude_or_total() {
    let keys = CustodianKeys::generate();
    let domain = SigningKey::from_bytes(&[5; 32]);
    // Release A: groups of 0, 1 and 9 rows (2 rows dropped by the public filter); release B:
    // groups of 9, 0 and 3 rows; different noises, one of them large.
    let groups_a = [2, 2, 2, 2, 2, 2, 2, 2, 2, 1, NO_GROUP, NO_GROUP];
    let groups_b = [0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 2];
    let (a, expected_a) = release(keys.linear_key(), &groups_a, &[7, -3, 250], &domain);
    let (b, expected_b) = release(keys.linear_key(), &groups_b, &[-100, 0, 1], &domain);

    // The grant is job, authorization and the number of values (three public groups): the same
    // bytes for both releases.
    assert_eq!(a.grant, b.grant);
    let mut grant = b"SYGRNT01".to_vec();
    for s in ["job-41", "auth-3"] {
        grant.extend_from_slice(&(s.len() as u64).to_le_bytes());
        grant.extend_from_slice(s.as_bytes());
    }
    grant.extend_from_slice(&3u64.to_le_bytes());
    assert_eq!(&a.grant[..grant.len()], grant.as_slice(), "magic, job, authorization, value count");
    assert_eq!(a.grant.len(), grant.len() + 1 + 64, "then only the signature");

    // The request: every clear field, the aggregates' headers included, is identical in both
    // releases and across the groups of each, although the groups hold 0, 1, 3 or 9 rows and the
    // noises differ: none of them can encode a row count or a noise.
    let (pa, pb) = (parse_request(&a.request), parse_request(&b.request));
    assert_eq!(pa.clear, pb.clear);
    assert_eq!(a.request.len(), b.request.len());
    let headers: Vec<&Vec<u8>> = pa.clear.iter().filter(|f| f.len() == LINEAR_HEADER).collect();
    assert_eq!(headers.len(), 3);
    // Each header is exactly the public figures: format, origin (custodian), bound, the
    // import's 12 rows, discrete Laplace of scale 66.5.
    let mut header = b"SYLINA03".to_vec();
    header.push(0);
    header.extend_from_slice(&BOUND.to_le_bytes());
    header.extend_from_slice(&12u64.to_le_bytes());
    header.push(1);
    header.extend_from_slice(&66.5f64.to_bits().to_le_bytes());
    assert!(headers.iter().all(|h| **h == header));
    let tiers: Vec<&Vec<u8>> = pa.clear.iter().filter(|f| f.len() == 1).collect();
    assert_eq!(tiers, vec![&vec![1u8]; 3].into_iter().chain([&vec![1u8]]).collect::<Vec<_>>(), "three linear tier tags, then the signature flag");
    // What differs is the ciphertexts (and the signature over them), nothing else.
    assert_ne!(pa.ciphertexts, pb.ciphertexts);
    assert_ne!(pa.signature, pb.signature);

    // The keyholder decrypts the noised values, and its journal is the same for both releases:
    // job, authorization, number of values.
    let mut journals = Vec::new();
    for (wire, expected) in [(&a, &expected_a), (&b, &expected_b)] {
        let dir = tempfile::tempdir().unwrap();
        let journal = dir.path().join("journal");
        let custodian = CustodianKeys::from_bytes(&keys.to_bytes().unwrap()).unwrap();
        let keyholder = Keyholder::open(custodian, domain.verifying_key(), &journal).unwrap();
        keyholder.register_job(&JobGrant::from_bytes(&wire.grant).unwrap()).unwrap();
        let request = ReleaseRequest::from_bytes(&wire.request).unwrap();
        assert_eq!(&keyholder.decrypt(&request).unwrap(), expected);
        journals.push(std::fs::read_to_string(&journal).unwrap());
    }
    assert_eq!(journals[0], journals[1]);
    assert_eq!(journals[0].lines().count(), 2);
}

#[test]
fn the_keyholder_refuses_old_formats_unnoised_and_out_of_budget_aggregates() {
    let keys = CustodianKeys::generate();
    let domain = SigningKey::from_bytes(&[6; 32]);
    let dir = tempfile::tempdir().unwrap();
    let column = LinearEncryptor::new(keys.linear_key()).encrypt_column("claim", &VALUES, BOUND).unwrap();
    let raw = grouped_sum(&column, &[0; 12], 1).unwrap().remove(0);
    let mut noised = raw.clone();
    noised.add_noise(4, NoiseSpec::new(Mechanism::DiscreteGaussian, 9.0).unwrap()).unwrap();
    let keyholder = Keyholder::open(keys, domain.verifying_key(), dir.path().join("journal")).unwrap();
    let send = |job: &str, bytes: Vec<u8>| {
        keyholder.register_job(&JobGrant::new(job, "auth-3", 1).sign(&domain)).unwrap();
        let value = EncryptedValue { tier: Tier::Linear, bytes };
        keyholder.decrypt(&ReleaseRequest::new(job, "auth-3", vec![value]).sign(&domain)).unwrap_err().to_string()
    };

    // An aggregate without noise is refused by the domain's release wrapper and, if sent
    // anyway, by the keyholder.
    assert!(matches!(EncryptedValue::linear(&raw), Err(CryptoError::InvalidInput(_))));
    assert!(send("job-1", raw.to_bytes()).contains("without DP noise"));

    // An older aggregate format (which carried the group's row count and noise magnitude).
    let mut old = noised.to_bytes();
    old[..8].copy_from_slice(b"SYLINA02");
    let refused = send("job-2", old);
    assert!(refused.contains("older format") && refused.contains("upgrade"), "{refused}");

    // Public figures beyond the exactness budget: an import above the custodian layout's
    // 2^31 - 1 rows.
    let mut wide = noised.to_bytes();
    wide[13..21].copy_from_slice(&(1u64 << 31).to_le_bytes());
    assert!(send("job-3", wide).contains("outside the exactness budget"));

    // The well-formed one is decrypted: 12 values summing to 570, noised by 4.
    assert_eq!(send_ok(&keyholder, &domain, noised.to_bytes()), vec![574]);

    // An older release request format is refused before anything else is read.
    let mut request = ReleaseRequest::new("job-5", "auth-3", vec![]).sign(&domain).to_bytes();
    request[..8].copy_from_slice(b"SYRELQ01");
    let refused = ReleaseRequest::from_bytes(&request).unwrap_err().to_string();
    assert!(refused.contains("format 01") && refused.contains("upgrade"), "{refused}");
}

fn send_ok(keyholder: &Keyholder, domain: &SigningKey, bytes: Vec<u8>) -> Vec<i64> {
    keyholder.register_job(&JobGrant::new("job-4", "auth-3", 1).sign(domain)).unwrap();
    let value = EncryptedValue { tier: Tier::Linear, bytes };
    keyholder.decrypt(&ReleaseRequest::new("job-4", "auth-3", vec![value]).sign(domain)).unwrap()
}
