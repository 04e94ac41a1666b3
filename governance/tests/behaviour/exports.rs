//! Products, lineage, export review and signed manifests.

use shuyu_governance::*;

use crate::common::*;

fn product(f: &Fixture, analyst: &Principal, auth: AuthorizationId, env: Environment) -> ProductId {
    let job = f
        .store
        .create_job(
            analyst,
            &NewJob {
                authorization: auth,
                sql: "SELECT district, COUNT(*) FROM households GROUP BY district".into(),
                environment: env,
            },
        )
        .unwrap();
    if env == Environment::Prod {
        let r = f.store.reserve(auth, job, &charge(Nano(20_000_000))).unwrap();
        f.store.commit(&r, Nano(15_000_000), Atto::ZERO).unwrap();
    }
    f.store
        .finish_job(
            job,
            &JobOutcome {
                status: JobStatus::Succeeded,
                metering: Metering {
                    rows_scanned: 1000,
                    bytes_scanned: 1 << 20,
                    cpu_ms: 12,
                    encrypted_ops: 0,
                    releases: 2,
                },
                datasets: vec!["households".into()],
                failure: None,
            },
        )
        .unwrap();
    f.store
        .hold_product(&NewProduct {
            job,
            name: "district counts".into(),
            content_sha256: "0f".repeat(32),
            path: None,
            byte_size: 64,
            row_count: 2,
        })
        .unwrap()
}

#[test]
fn automatic_policy_exports_at_once_with_a_manifest_verifiable_offline() {
    let f = Fixture::new();
    let id = product(&f, &f.analyst_a, f.auth_a, Environment::Prod);
    let lineage = f.store.lineage(&f.analyst_a, id).unwrap();
    assert_eq!(lineage.datasets, vec!["households".to_string()]);
    assert_eq!(lineage.scenario, "ageing");
    assert_eq!(lineage.cost, Nano(15_000_000));

    let record = f.store.request_export(&f.analyst_a, id).unwrap();
    assert_eq!(record.status, ExportStatus::Automatic);
    let signed = record.manifest.unwrap();
    let m = &signed.manifest;
    assert_eq!(
        (m.product, m.unit, m.authorization),
        (id, f.unit_a, f.auth_a)
    );
    assert_eq!(m.scenario, "ageing");
    assert_eq!(m.datasets, vec!["households".to_string()]);
    assert_eq!(m.cost_nano, 15_000_000);
    assert_eq!(m.product_sha256, "0f".repeat(32));
    assert!(m.query.contains("GROUP BY district"));

    // Offline: only the public key file and the manifest JSON.
    let key_hex = std::fs::read_to_string(f.dir.path().join("domain/signing.pub")).unwrap();
    let key: [u8; 32] = hex::decode(key_hex.trim()).unwrap().try_into().unwrap();
    assert_eq!(key, f.store.domain_public_key());
    let json = serde_json::to_string(&signed).unwrap();
    let received: SignedManifest = serde_json::from_str(&json).unwrap();
    received.verify(&key).unwrap();
    verify_manifest(
        &key,
        &received.manifest,
        &hex::decode(&received.signature).unwrap(),
    )
    .unwrap();
    // Any change breaks it; so does another key.
    let mut forged = received.clone();
    forged.manifest.cost_nano -= 1;
    assert!(
        matches!(forged.verify(&key), Err(GovernanceError::Invalid { field, .. }) if field == "signature")
    );
    let other_dir = crate::common::store_dir();
    let other = crate::common::open(other_dir.path()).domain_public_key();
    assert!(received.verify(&other).is_err());

    assert_eq!(
        f.store.product(&f.analyst_a, id).unwrap().status,
        ProductStatus::Exported
    );
    assert!(matches!(
        f.store.request_export(&f.analyst_a, id),
        Err(GovernanceError::Conflict { .. })
    ));
}

#[test]
fn review_policy_waits_for_the_bureau() {
    let f = Fixture::new();
    let mut req = grant_request(f.unit_a, "reviewed", f.store.now());
    req.export_policy = ExportPolicy::Review;
    let auth = f.store.grant(&f.admin, &req).unwrap();
    let first = product(&f, &f.analyst_a, auth, Environment::Prod);
    let second = product(&f, &f.analyst_a, auth, Environment::Prod);

    let pending = f.store.request_export(&f.analyst_a, first).unwrap();
    assert_eq!(pending.status, ExportStatus::Pending);
    assert!(pending.manifest.is_none());
    assert_eq!(
        f.store.product(&f.analyst_a, first).unwrap().status,
        ProductStatus::PendingReview
    );
    assert!(matches!(
        f.store
            .review_export(&f.analyst_a, pending.id, &ExportDecision::Approve),
        Err(GovernanceError::Denied { .. })
    ));
    let approved = f
        .store
        .review_export(&f.admin, pending.id, &ExportDecision::Approve)
        .unwrap();
    assert_eq!(approved.status, ExportStatus::Approved);
    approved
        .manifest
        .unwrap()
        .verify(&f.store.domain_public_key())
        .unwrap();

    let second_req = f.store.request_export(&f.analyst_a, second).unwrap();
    let rejected = f
        .store
        .review_export(
            &f.admin,
            second_req.id,
            &ExportDecision::Reject {
                reason: "cells too small".into(),
            },
        )
        .unwrap();
    assert_eq!(rejected.status, ExportStatus::Rejected);
    assert_eq!(
        f.store.product(&f.analyst_a, second).unwrap().status,
        ProductStatus::Rejected
    );
    assert!(matches!(
        f.store
            .review_export(&f.admin, second_req.id, &ExportDecision::Approve),
        Err(GovernanceError::Conflict { .. })
    ));

    let listed = f
        .store
        .exports(&f.admin, Some(ExportStatus::Approved))
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert!(
        f.store.exports(&f.analyst_b, None).unwrap().is_empty(),
        "tenants see only their exports"
    );
    f.store.verify_audit().unwrap();
}

#[test]
fn dev_results_and_other_units_products_never_leave() {
    let f = Fixture::new();
    let dev = product(&f, &f.analyst_a, f.auth_a, Environment::Dev);
    assert!(matches!(
        f.store.request_export(&f.analyst_a, dev),
        Err(GovernanceError::Denied { .. })
    ));
    let prod = product(&f, &f.analyst_a, f.auth_a, Environment::Prod);
    // Another unit's product reads as missing (ids cannot be probed).
    assert!(matches!(
        f.store.request_export(&f.analyst_b, prod),
        Err(GovernanceError::NotFound { foreign: true, .. })
    ));
    assert!(matches!(
        f.store.lineage(&f.analyst_b, prod),
        Err(GovernanceError::NotFound { foreign: true, .. })
    ));
    assert!(matches!(
        f.store.product(&f.analyst_b, prod),
        Err(GovernanceError::NotFound { foreign: true, .. })
    ));
    assert_eq!(f.store.products(&f.analyst_b, None).unwrap().len(), 0);
    assert_eq!(f.store.products(&f.analyst_a, None).unwrap().len(), 2);
}

#[test]
fn a_product_needs_a_succeeded_job_and_a_safe_path() {
    let f = Fixture::new();
    let job = f.prod_job(&f.analyst_a, f.auth_a);
    let new = NewProduct {
        job,
        name: "x".into(),
        content_sha256: "00".repeat(32),
        path: None,
        byte_size: 1,
        row_count: 1,
    };
    assert!(matches!(
        f.store.hold_product(&new),
        Err(GovernanceError::Conflict { .. })
    ));
    f.store
        .finish_job(
            job,
            &JobOutcome {
                status: JobStatus::Succeeded,
                metering: Metering::default(),
                datasets: vec![],
                failure: None,
            },
        )
        .unwrap();
    assert!(matches!(
        f.store.hold_product(&NewProduct {
            path: Some("../../etc/passwd".into()),
            ..new.clone()
        }),
        Err(GovernanceError::Invalid { .. })
    ));
    assert!(matches!(
        f.store.hold_product(&NewProduct {
            content_sha256: "xyz".into(),
            ..new.clone()
        }),
        Err(GovernanceError::Invalid { .. })
    ));
    f.store.hold_product(&new).unwrap();
}

/// The audit records of one exact action.
fn records(f: &Fixture, action: &str) -> Vec<AuditRecord> {
    f.store
        .audit_records(
            &f.supervisor,
            &AuditFilter {
                action: Some(action.into()),
                ..AuditFilter::default()
            },
        )
        .unwrap()
}

#[test]
fn exporting_needs_the_product_operation_right() {
    let f = Fixture::new();
    let now = f.store.now();
    // Processing use only, under each export policy.
    let mut refused = Vec::new();
    for (scenario, policy) in [
        ("processing only", ExportPolicy::Automatic),
        ("processing only, reviewed", ExportPolicy::Review),
    ] {
        let mut req = grant_request(f.unit_a, scenario, now);
        req.rights = vec![Right::ProcessingUse];
        req.export_policy = policy;
        let auth = f.store.grant(&f.admin, &req).unwrap();
        refused.push((auth, product(&f, &f.analyst_a, auth, Environment::Prod)));
    }
    let exports_before = f.count("exports");
    let refusals_before = records(&f, "export.request").len();

    for (auth, id) in &refused {
        let err = f.store.request_export(&f.analyst_a, *id).unwrap_err();
        let GovernanceError::Denied { reason } = &err else {
            panic!("expected a refusal, got {err:?}");
        };
        assert!(reason.contains(&auth.to_string()), "{reason}");
        assert!(reason.contains("product_operation"), "{reason}");
        assert!(reason.contains("产品经营权"), "{reason}");
        assert!(reason.contains("ask the bureau"), "{reason}");
        // Nothing written: the product stays held, no export row, no manifest.
        assert_eq!(
            f.store.product(&f.analyst_a, *id).unwrap().status,
            ProductStatus::Held
        );
    }
    assert_eq!(f.count("exports"), exports_before);
    assert_eq!(f.audit_count("export.automatic"), 0);
    // ...except the audited refusals, one per request, naming the fault.
    let audited = records(&f, "export.request");
    assert_eq!(audited.len(), refusals_before + 2);
    for (r, (_, id)) in audited[refusals_before..].iter().zip(&refused) {
        assert_eq!(r.outcome, Outcome::Refused);
        assert_eq!(r.object, id.to_string());
        assert_eq!(r.actor_person, Some(f.analyst_a.person_id));
        assert_eq!(r.details["refusal"], "denied");
        assert!(r.details["reason"]
            .as_str()
            .unwrap()
            .contains("product_operation"));
    }

    // With the right (the fixture grants both), the same request exports at once.
    let allowed = product(&f, &f.analyst_a, f.auth_a, Environment::Prod);
    let record = f.store.request_export(&f.analyst_a, allowed).unwrap();
    assert_eq!(record.status, ExportStatus::Automatic);
    record
        .manifest
        .unwrap()
        .verify(&f.store.domain_public_key())
        .unwrap();
    assert_eq!(
        f.store.product(&f.analyst_a, allowed).unwrap().status,
        ProductStatus::Exported
    );
    assert_eq!(f.count("exports"), exports_before + 1);
    assert_eq!(f.audit_count("export.automatic"), 1);
    f.store.verify_audit().unwrap();
}

#[test]
fn the_bureau_cannot_approve_an_export_without_the_product_operation_right() {
    let f = Fixture::new();
    let mut req = grant_request(f.unit_a, "reviewed", f.store.now());
    req.export_policy = ExportPolicy::Review;
    let auth = f.store.grant(&f.admin, &req).unwrap();
    let id = product(&f, &f.analyst_a, auth, Environment::Prod);
    let pending = f.store.request_export(&f.analyst_a, id).unwrap();
    assert_eq!(pending.status, ExportStatus::Pending);
    // A request left pending from before the right was checked, on an authorization
    // without it.
    Raw::open(f.dir.path())
        .execute("UPDATE authorizations SET rights_json = '[\"processing_use\"]' WHERE id = ?1", &[P::I(auth.0)])
        .unwrap();

    let err = f
        .store
        .review_export(&f.admin, pending.id, &ExportDecision::Approve)
        .unwrap_err();
    assert!(
        matches!(&err, GovernanceError::Denied { reason } if reason.contains("product_operation")),
        "{err:?}"
    );
    let record = f.store.exports(&f.admin, None).unwrap();
    assert_eq!(record.len(), 1);
    assert_eq!(record[0].status, ExportStatus::Pending);
    assert!(record[0].manifest.is_none());
    assert_eq!(f.audit_count("export.approve"), 0);
    let refusals = records(&f, "export.review");
    assert_eq!(refusals.len(), 1);
    assert_eq!(refusals[0].outcome, Outcome::Refused);
    // Rejecting it is still possible.
    let rejected = f
        .store
        .review_export(
            &f.admin,
            pending.id,
            &ExportDecision::Reject {
                reason: "no product operation right".into(),
            },
        )
        .unwrap();
    assert_eq!(rejected.status, ExportStatus::Rejected);
    f.store.verify_audit().unwrap();
}
