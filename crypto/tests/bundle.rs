//! Import bundle (linear columns: fast): streaming writes across block boundaries, checksums,
//! refusals that leave the bundle unchanged.

use shuyu_crypto::bundle::{Bundle, BundleWriter, ColumnSpec, ColumnTier, EncryptionKeys};
use shuyu_crypto::linear::{grouped_sum, LinearSecretKey};
use shuyu_crypto::pseudonym::PseudonymKey;
use shuyu_crypto::CryptoError;

fn write_bundle(dir: &std::path::Path, key: &LinearSecretKey, pseudonyms: &PseudonymKey, rows: usize) -> Vec<u32> {
    let specs = vec![
        ColumnSpec { name: "loan".into(), tier: ColumnTier::Linear, bound: 50_000 },
        ColumnSpec { name: "overdue_days".into(), tier: ColumnTier::Linear, bound: 365 },
    ];
    let keys = EncryptionKeys { pseudonyms, linear: Some(key), proven: None };
    let mut writer = BundleWriter::create(dir, "auth-3", specs, keys).unwrap();
    let loans: Vec<u32> = (0..rows as u32).map(|i| i * 7 % 50_001).collect();
    let overdue: Vec<u32> = (0..rows as u32).map(|i| i % 366).collect();
    let ids: Vec<String> = (0..rows).map(|i| format!("person-{i}")).collect();
    let mut start = 0;
    while start < rows {
        let end = (start + 777).min(rows);
        let keys: Vec<&[u8]> = ids[start..end].iter().map(|s| s.as_bytes()).collect();
        if start == 777 * 2 {
            // A batch with a value above its bound is refused and leaves nothing behind.
            let mut bad = overdue[start..end].to_vec();
            bad[3] = 366;
            let err = writer.append(&keys, &[&loans[start..end], &bad]).unwrap_err();
            assert!(matches!(err, CryptoError::AboveBound { row, .. } if row == start as u64 + 3));
        }
        writer.append(&keys, &[&loans[start..end], &overdue[start..end]]).unwrap();
        start = end;
    }
    let manifest = writer.finish().unwrap();
    assert_eq!(manifest.rows, rows as u64);
    assert_eq!(manifest.columns[0].chunks, rows.div_ceil(2048) as u64);
    assert!(!manifest.columns[0].bound_verified_by_domain());
    loans
}

#[test]
fn streamed_bundle_reads_back_and_sums_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("b");
    let key = LinearSecretKey::generate();
    let pseudonym_key = PseudonymKey::generate();
    let rows = 5000;
    let loans = write_bundle(&path, &key, &pseudonym_key, rows);

    let bundle = Bundle::open(&path).unwrap();
    let pseudonyms = bundle.pseudonyms().unwrap();
    assert_eq!(pseudonyms.len(), rows);
    assert_eq!(pseudonyms[4321], pseudonym_key.pseudonymise(b"person-4321"));
    let column = bundle.linear_column("loan").unwrap();
    // Group by parity of the row index, drop every third row.
    let groups: Vec<u32> = (0..rows).map(|i| if i % 3 == 0 { u32::MAX } else { (i % 2) as u32 }).collect();
    let sums = grouped_sum(&column, &groups, 2).unwrap();
    for g in 0..2u32 {
        let want: i64 = (0..rows).filter(|&i| groups[i] == g).map(|i| loans[i] as i64).sum();
        assert_eq!(key.decrypt(&sums[g as usize]), want);
    }
    assert!(matches!(bundle.linear_column("nope"), Err(CryptoError::InvalidInput(_))));
}

#[test]
fn tampered_or_incomplete_bundles_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("b");
    let key = LinearSecretKey::generate();
    write_bundle(&path, &key, &PseudonymKey::generate(), 3000);

    let file = path.join("loan.linear");
    let mut data = std::fs::read(&file).unwrap();
    data[100] ^= 1;
    std::fs::write(&file, &data).unwrap();
    assert!(matches!(Bundle::open(&path), Err(CryptoError::Malformed { .. })));

    std::fs::remove_file(path.join("manifest.json")).unwrap();
    assert!(matches!(Bundle::open(&path), Err(CryptoError::Io { .. })));

    // The writer never overwrites an existing directory.
    let keys = EncryptionKeys { pseudonyms: &PseudonymKey::generate(), linear: Some(&key), proven: None };
    assert!(BundleWriter::create(&path, "a", vec![], keys).is_err());
    // Bootstrapped columns need the public key and CRS.
    let keys = EncryptionKeys { pseudonyms: &PseudonymKey::generate(), linear: Some(&key), proven: None };
    let spec = ColumnSpec { name: "x".into(), tier: ColumnTier::Bootstrapped, bound: 9 };
    assert!(matches!(BundleWriter::create(dir.path().join("c"), "a", vec![spec], keys), Err(CryptoError::InvalidInput(_))));
}
