//! Social-data imports: usable only after approval, only by the requesting unit.

use shuyu_governance::*;

use crate::common::*;

#[test]
fn an_import_is_usable_only_after_approval_and_only_by_its_unit() {
    let f = Fixture::new();
    let id = f
        .store
        .request_import(&f.analyst_a, "members.parquet", "member survey, consented")
        .unwrap();
    let refused = f
        .store
        .usable_import(&f.analyst_a, "members.parquet")
        .unwrap_err();
    assert!(
        matches!(&refused, GovernanceError::Denied { reason } if reason.contains("requested")),
        "{refused}"
    );
    assert!(matches!(
        f.store.import_path(&f.analyst_a, "members.parquet"),
        Err(GovernanceError::Denied { .. })
    ));
    assert!(matches!(
        f.store.review_import(&f.analyst_a, id, true),
        Err(GovernanceError::Denied { .. })
    ));

    f.store.review_import(&f.admin, id, true).unwrap();
    let path = f
        .store
        .import_path(&f.analyst_a, "members.parquet")
        .unwrap();
    assert_eq!(
        path,
        f.dir
            .path()
            .join("imports")
            .join(f.unit_a.0.to_string())
            .join("members.parquet")
    );
    assert!(
        matches!(
            f.store.usable_import(&f.analyst_a, "members.parquet"),
            Err(GovernanceError::NotFound { .. })
        ),
        "not uploaded yet"
    );
    std::fs::write(&path, b"PAR1").unwrap();
    assert_eq!(
        f.store
            .usable_import(&f.analyst_a, "members.parquet")
            .unwrap(),
        path
    );

    // Another unit cannot reach it, even by name.
    assert!(matches!(
        f.store.usable_import(&f.analyst_b, "members.parquet"),
        Err(GovernanceError::Denied { .. })
    ));
    assert!(f.store.imports(&f.analyst_b).unwrap().is_empty());
    assert_eq!(f.store.imports(&f.admin).unwrap().len(), 1);
    assert!(matches!(
        f.store.review_import(&f.admin, id, false),
        Err(GovernanceError::Conflict { .. })
    ));
}

#[test]
fn rejected_and_badly_named_imports_are_refused() {
    let f = Fixture::new();
    let id = f
        .store
        .request_import(&f.analyst_a, "crm.csv", "customer list")
        .unwrap();
    f.store.review_import(&f.admin, id, false).unwrap();
    assert!(matches!(
        f.store.usable_import(&f.analyst_a, "crm.csv"),
        Err(GovernanceError::Denied { .. })
    ));
    for bad in ["../x", ".hidden", "a/b", ""] {
        assert!(
            matches!(
                f.store.request_import(&f.analyst_a, bad, "x"),
                Err(GovernanceError::Invalid { .. })
            ),
            "{bad}"
        );
    }
    assert!(matches!(
        f.store.request_import(&f.analyst_a, "crm.csv", "again"),
        Err(GovernanceError::Conflict { .. })
    ));
    assert!(matches!(
        f.store.request_import(&f.admin, "admin.csv", "x"),
        Err(GovernanceError::Denied { .. })
    ));
}
