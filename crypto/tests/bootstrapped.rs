//! Bootstrapped tier end to end at a tiny size (each TFHE-rs integer operation takes a
//! fraction of a second here): proven bundle, verification and clamping at import, encrypted
//! predicates, conditional sums and counts per public group, noise under encryption, and
//! decryption by the keyholder. One test shares the expensive keys.

use ed25519_dalek::SigningKey;
use shuyu_crypto::bootstrapped::{self, Comparison, ReleaseNoise};
use shuyu_crypto::bundle::{Bundle, BundleWriter, ColumnSpec, ColumnTier, EncryptionKeys};
use shuyu_crypto::keyholder::Keyholder;
use shuyu_crypto::keys::{CustodianKeys, DomainCrs};
use shuyu_crypto::linear::NO_GROUP;
use shuyu_crypto::noise::NoiseSpec;
use shuyu_privacy::Mechanism;
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
    // no row in group 2, row 3 filtered out by a public predicate).
    let over_60 = bootstrapped::compare(&claims, Comparison::Gt, 60);
    let groups = [0, 1, 0, NO_GROUP];
    // The noise is added under encryption as the aggregates are summed.
    let spec = NoiseSpec::new(Mechanism::DiscreteGaussian, 3.0).unwrap();
    let noise = |draws: &'static [i64]| ReleaseNoise { draws, spec, public_key };
    let sums = bootstrapped::conditional_sum(&claims, 200, Some(&over_60), &groups, 3, &noise(&[0, -1, 5])).unwrap();
    let counts = bootstrapped::conditional_count(&over_60, &groups, 3, &noise(&[2, 0, -3])).unwrap();
    // The public budget: the import's 4 rows times the bound plus the tail bound of the
    // noise, whatever the group holds.
    assert!(sums.iter().all(|s| s.figures().max_magnitude() == 800 + spec.tail_bound() as u128 && s.figures().import_rows == 4));
    assert!(matches!(bootstrapped::conditional_count(&over_60, &groups, 3, &noise(&[1])), Err(CryptoError::InvalidInput(_))));

    // Attack: what the keyholder receives for groups of 2, 1 and 0 rows (with different
    // noises). The clear header holds public figures only and is the same for every group of a
    // release; the ciphertext's own metadata (per-block degree and noise level, which TFHE-rs
    // serializes in the clear and which grow with the number of operands summed) is the same
    // for every group, and no block is trivial (an empty group's would be readable without the
    // key). So nothing in the bytes encodes a group's row count or the noise drawn.
    for release in [&sums, &counts] {
        let wire: Vec<Vec<u8>> = release.iter().map(|a| EncryptedValue::bootstrapped(a).unwrap().bytes).collect();
        let views: Vec<_> = wire.iter().map(|bytes| clear_view(bytes)).collect();
        assert!(views.iter().all(|v| v == &views[0]), "every group's clear fields are identical: {views:?}");
        assert!(views[0].blocks.iter().all(|b| !b.2), "no trivial block");
        assert_eq!(views[0].blocks.len(), 32, "64 bits in 2-bit blocks");
    }
    assert_eq!(clear_view(&EncryptedValue::bootstrapped(&sums[0]).unwrap().bytes).header[..8], *b"SYBOOA02");
    // The header is magic, bound (200), import rows (4), noise tag (2: Gaussian) and scale.
    let mut header = b"SYBOOA02".to_vec();
    header.extend_from_slice(&200u32.to_le_bytes());
    header.extend_from_slice(&4u64.to_le_bytes());
    header.push(2);
    header.extend_from_slice(&3.0f64.to_bits().to_le_bytes());
    assert_eq!(clear_view(&EncryptedValue::bootstrapped(&sums[2]).unwrap().bytes).header, header);
    // A release never carries an un-noised aggregate (one read back without a noise
    // description is refused), and the old format is refused.
    let mut unnoised = EncryptedValue::bootstrapped(&sums[0]).unwrap().bytes;
    unnoised[20..29].fill(0);
    let unnoised = bootstrapped::BootstrappedAggregate::from_bytes(&unnoised).unwrap();
    assert!(unnoised.figures().noise.is_none() && EncryptedValue::bootstrapped(&unnoised).is_err());
    let mut old = EncryptedValue::bootstrapped(&sums[0]).unwrap().bytes;
    old[..8].copy_from_slice(b"SYBOOA01");
    let refused = bootstrapped::BootstrappedAggregate::from_bytes(&old).err().unwrap().to_string();
    assert!(refused.contains("older format") && refused.contains("upgrade"), "{refused}");

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
    let clamped_sum = bootstrapped::conditional_sum(&clamped, 200, None, &[0], 1, &noise(&[0])).unwrap();

    // The keyholder decrypts the noised values named by a signed request.
    let domain = SigningKey::from_bytes(&[9; 32]);
    let journal = dir.path().join("journal");
    let keyholder = Keyholder::open(keys, domain.verifying_key(), &journal).unwrap();
    keyholder.register_job(&JobGrant::new("job-9", "auth-1", 7).sign(&domain)).unwrap();
    let values = sums
        .iter()
        .chain(&counts)
        .chain(&clamped_sum)
        .map(|a| EncryptedValue::bootstrapped(a).unwrap())
        .collect();
    let request = ReleaseRequest::new("job-9", "auth-1", values).sign(&domain);
    // Sums: group 0 keeps row 2 only (50 fails the predicate) = 200; group 1 = 120, noised -1;
    // group 2 empty, noised +5. Counts: group 0 one row, noised +2; group 1 one row; group 2
    // none, noised -3. Clamped: min(250, 200) = 200.
    assert_eq!(keyholder.decrypt(&request).unwrap(), vec![200, 119, 5, 3, 1, -3, 200]);
}

/// The fields of a serialized bootstrapped aggregate that anyone reads without the key: the
/// header, and per block of the `FheUint64` its degree, noise level and triviality (mask all
/// zero), and the ciphertext's length.
#[derive(Debug, PartialEq)]
struct ClearView {
    header: Vec<u8>,
    blocks: Vec<(u64, String, bool)>,
    length: usize,
}

fn clear_view(bytes: &[u8]) -> ClearView {
    let header = bytes[..29].to_vec();
    let value: tfhe::FheUint64 = tfhe::safe_serialization::safe_deserialize(&bytes[29..], 1 << 30).unwrap();
    let (radix, ..) = value.into_raw_parts();
    let blocks = tfhe::integer::IntegerCiphertext::blocks(&radix).iter().map(|b| (b.degree.get(), format!("{:?}", b.noise_level()), b.is_trivial())).collect();
    ClearView { header, blocks, length: bytes.len() }
}
