//! Bootstrapped tier end to end at a tiny size (each TFHE-rs integer operation takes a
//! fraction of a second here): proven bundle, verification and clamping at import, encrypted
//! predicates, conditional sums and counts per public group, noise under encryption, and
//! decryption by the keyholder. One test shares the expensive keys.

use ed25519_dalek::SigningKey;
use shuyu_crypto::bootstrapped::{self, Comparison};
use shuyu_crypto::bundle::{Bundle, BundleWriter, ColumnSpec, ColumnTier, EncryptionKeys};
use shuyu_crypto::keyholder::Keyholder;
use shuyu_crypto::keys::{CustodianKeys, DomainCrs};
use shuyu_crypto::linear::NO_GROUP;
use shuyu_crypto::pseudonym::PseudonymKey;
use shuyu_crypto::release::{EncryptedValue, JobGrant, ReleaseRequest};
use shuyu_crypto::CryptoError;
use tfhe::ProvenCompactCiphertextList;

#[test]
fn proven_import_predicates_sums_counts_noise_and_release() {
    let keys = CustodianKeys::generate();
    let domain_keys = keys.domain_keys();
    let domain_keys = shuyu_crypto::keys::DomainKeys::from_bytes(&domain_keys.to_bytes().unwrap()).unwrap();
    bootstrapped::install_server_key(&domain_keys.server_key());
    let crs = DomainCrs::from_bytes(&DomainCrs::generate(32).unwrap().to_bytes().unwrap()).unwrap();
    let public_key = domain_keys.public_key();

    // Custodian side: a bundle with a bootstrapped column (bound 200, proven as 8-bit values,
    // 4 per proven list under this CRS) and a linear column.
    let dir = tempfile::tempdir().unwrap();
    let bundle_dir = dir.path().join("bundle");
    let pseudonym_key = PseudonymKey::generate();
    let specs = vec![
        ColumnSpec { name: "claim".into(), tier: ColumnTier::Bootstrapped, bound: 200 },
        ColumnSpec { name: "premium".into(), tier: ColumnTier::Linear, bound: 1000 },
    ];
    let encryption = EncryptionKeys {
        pseudonyms: &pseudonym_key,
        linear: Some(keys.linear_key()),
        proven: Some((public_key, &crs)),
    };
    let mut writer = BundleWriter::create(&bundle_dir, "auth-1", specs, encryption).unwrap();
    let above = writer.append(&[b"p9".as_slice()], &[&[201], &[1]]).unwrap_err();
    assert!(matches!(above, CryptoError::AboveBound { bound: 200, .. }));
    writer.append(&[b"p1".as_slice(), b"p2", b"p3"], &[&[50, 120, 200], &[10, 20, 30]]).unwrap();
    writer.append(&[b"p4".as_slice()], &[&[7], &[40]]).unwrap();
    let manifest = writer.finish().unwrap();
    assert_eq!(manifest.rows, 4);
    assert_eq!(manifest.columns[0].chunks, 1);

    // Domain side: open (checksums), pseudonyms equal to what the domain computes itself.
    let bundle = Bundle::open(&bundle_dir).unwrap();
    assert_eq!(bundle.pseudonyms().unwrap()[1], pseudonym_key.pseudonymise(b"p2"));
    assert!(bundle.manifest().columns[0].bound_verified_by_domain());
    let premium = bundle.linear_column("premium").unwrap();
    let premium_sums = shuyu_crypto::linear::grouped_sum(&premium, &[0, 0, NO_GROUP, 0], 1).unwrap();
    assert_eq!(keys.linear_key().decrypt(&premium_sums[0]), 10 + 20 + 40);
    let claims = bundle.import_bootstrapped("claim", public_key, &crs).unwrap();
    assert_eq!(claims.len(), 4);
    // The domain stores the imported values and reads them back for queries.
    let claims = bootstrapped::values_from_bytes(&bootstrapped::values_to_bytes(&claims).unwrap()).unwrap();
    assert_eq!(claims.len(), 4);

    // WHERE claim > 60, GROUP BY a public column (rows 0 and 2 in group 0, row 1 in group 1,
    // row 3 filtered out by a public predicate).
    let over_60 = bootstrapped::compare(&claims, Comparison::Gt, 60);
    let groups = [0, 1, 0, NO_GROUP];
    let mut sums = bootstrapped::conditional_sum(&claims, 200, Some(&over_60), &groups, 2).unwrap();
    let mut counts = bootstrapped::conditional_count(&over_60, &groups, 2).unwrap();
    assert_eq!(sums[0].max_magnitude(), 400);
    shuyu_crypto::noise::noise_bootstrapped(&mut sums, &[0, -1]).unwrap();
    shuyu_crypto::noise::noise_bootstrapped(&mut counts, &[2, 0]).unwrap();

    // A malicious data holder: a 16-bit list where the manifest declares 8 bits, a list proven
    // for another chunk, and an 8-bit value above the bound (clamped, not refused: the proof
    // only bounds it by the type width).
    let metadata = bootstrapped::proof_metadata("auth-1", "claim", 0);
    let mut wide = ProvenCompactCiphertextList::builder(public_key);
    wide.push_with_num_bits(300u32, 16).unwrap();
    let wide = wide.build_with_proof_packed(crs.crs(), &metadata, tfhe::zk::ZkComputeLoad::Proof).unwrap();
    let refused = bootstrapped::import_chunk("claim", 0, &wide, 1, 200, public_key, &crs, &metadata);
    assert!(matches!(refused, Err(CryptoError::ProofRejected { .. })));
    let mut over = ProvenCompactCiphertextList::builder(public_key);
    over.push_with_num_bits(250u32, 8).unwrap();
    let over = over.build_with_proof_packed(crs.crs(), &metadata, tfhe::zk::ZkComputeLoad::Proof).unwrap();
    let other_chunk = bootstrapped::proof_metadata("auth-1", "claim", 1);
    assert!(bootstrapped::import_chunk("claim", 1, &over, 1, 200, public_key, &crs, &other_chunk).is_err());
    let clamped = bootstrapped::import_chunk("claim", 0, &over, 1, 200, public_key, &crs, &metadata).unwrap();
    let clamped_sum = bootstrapped::conditional_sum(&clamped, 200, None, &[0], 1).unwrap();

    // The keyholder decrypts the noised values named by a signed request.
    let domain = SigningKey::from_bytes(&[9; 32]);
    let journal = dir.path().join("journal");
    let keyholder = Keyholder::open(keys, domain.verifying_key(), &journal).unwrap();
    keyholder.register_job(&JobGrant::new("job-9", "auth-1", 5).sign(&domain)).unwrap();
    let values = sums
        .iter()
        .chain(&counts)
        .chain(&clamped_sum)
        .map(|a| EncryptedValue::bootstrapped(a).unwrap())
        .collect();
    let request = ReleaseRequest::new("job-9", "auth-1", values).sign(&domain);
    // Sums: group 0 keeps row 2 only (50 fails the predicate) = 200; group 1 = 120, noised -1.
    // Counts: group 0 one row, noised +2; group 1 one row. Clamped: min(250, 200) = 200.
    assert_eq!(keyholder.decrypt(&request).unwrap(), vec![200, 119, 3, 1, 200]);
}
