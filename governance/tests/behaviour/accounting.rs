//! Complete accounting: delta as a budget of each authorization, the per-unit, per-dataset
//! privacy loss across authorizations and the bureau's caps on it, and the declarations
//! witness registration requires.

use chrono::Duration;
use shuyu_datasets::Classification;
use shuyu_governance::*;
use shuyu_privacy::PrivacyDefinition;

use crate::common::*;

/// δ = `n` × 1e-8, in atto-units.
fn delta_e8(n: u64) -> Atto {
    Atto(n * 10_000_000_000)
}

fn on(amount: Nano, delta: Atto, datasets: &[&str]) -> Charge {
    Charge::new(amount, delta, datasets.iter().map(|d| d.to_string()).collect())
}

/// A second authorization of `unit` over households and clinics, in `kind`.
fn second_grant(f: &Fixture, unit: UnitId, kind: PrivacyDefinition, delta: f64, delta_total: Option<f64>) -> AuthorizationId {
    let mut req = grant_request(unit, "second study", f.store.now());
    req.datasets.push(GrantedDataset { dataset: "clinics".into(), columns: vec!["person_id".into(), "age".into()] });
    req.privacy = PrivacyTerms { kind, delta };
    req.budget = BudgetTerms { total: 1.0, per_query_cap: 0.5, per_query_default: 0.1, delta_total };
    f.store.grant(&f.admin, &req).unwrap()
}

fn with_clinics() -> Fixture {
    let f = Fixture::new();
    register(&f.store, &f.admin, &manifest("clinics", Classification::Sensitive), "/data/clinics.parquet").unwrap();
    f
}

#[test]
fn delta_is_reserved_committed_and_refused_once_exhausted() {
    let f = Fixture::new();
    // The fixture grants per-query delta 1e-7 and names no total: the default is
    // 1e-7 × ⌊1.0 / 0.1⌋ = 1e-6.
    let b = f.store.budget(&f.analyst_a, f.auth_a).unwrap();
    assert_eq!((b.delta_per_query, b.delta_total, b.delta_remaining), (delta_e8(10), delta_e8(100), delta_e8(100)));
    assert_eq!(f.store.authorization(&f.admin, f.auth_a).unwrap().delta_total, delta_e8(100));

    let job = f.prod_job(&f.analyst_a, f.auth_a);
    let r = f.store.reserve(f.auth_a, job, &on(Nano(100_000_000), delta_e8(10), &["households"])).unwrap();
    assert_eq!((r.delta, r.datasets.clone()), (delta_e8(10), vec!["households".to_string()]));
    let b = f.store.budget(&f.analyst_a, f.auth_a).unwrap();
    assert_eq!((b.delta_spent, b.delta_reserved, b.delta_remaining), (Atto::ZERO, delta_e8(10), delta_e8(90)));
    assert!(
        matches!(f.store.commit(&r, Nano(1), delta_e8(11)), Err(GovernanceError::Invalid { field, .. }) if field == "actual_delta"),
        "no more delta is committed than was reserved"
    );
    let b = f.store.commit(&r, Nano(100_000_000), delta_e8(6)).unwrap();
    assert_eq!((b.delta_spent, b.delta_reserved, b.delta_remaining), (delta_e8(6), Atto::ZERO, delta_e8(94)));
    let info = f.store.reservation(r.id).unwrap();
    assert_eq!((info.actual, info.actual_delta), (Some(Nano(100_000_000)), Some(delta_e8(6))));

    // Past the per-query delta by one atto-unit.
    let job = f.prod_job(&f.analyst_a, f.auth_a);
    let over = Atto(delta_e8(10).attos() + 1);
    match f.store.reserve(f.auth_a, job, &on(Nano(1), over, &[])) {
        Err(e @ GovernanceError::DeltaOverCap { .. }) => assert!(e.to_string().contains("per-query delta"), "{e}"),
        other => panic!("expected the per-query delta refusal, got {other:?}"),
    }

    // An explicit small total runs out: two queries of 1e-7 fit in 2e-7, a third does not.
    let auth = second_grant(&with_clinics_on(&f), f.unit_a, PrivacyDefinition::Zcdp, 1e-7, Some(2e-7));
    assert_eq!(f.store.budget(&f.analyst_a, auth).unwrap().delta_total, delta_e8(20));
    for _ in 0..2 {
        let job = f.prod_job(&f.analyst_a, auth);
        let r = f.store.reserve(auth, job, &on(Nano(1_000_000), delta_e8(10), &["households"])).unwrap();
        f.store.commit(&r, Nano(1_000_000), delta_e8(10)).unwrap();
    }
    let job = f.prod_job(&f.analyst_a, auth);
    let refusals = f.audit_count("ledger.reserve");
    match f.store.reserve(auth, job, &on(Nano(1_000_000), delta_e8(1), &["households"])) {
        Err(e @ GovernanceError::DeltaExhausted { .. }) => {
            let m = e.to_string();
            assert!(m.contains("needs delta 0.00000001") && m.contains("remaining 0;") && m.contains("ask the bureau"), "{m}");
            assert_eq!(e.kind(), "delta_exhausted");
        }
        other => panic!("expected the delta budget refusal, got {other:?}"),
    }
    assert_eq!(f.audit_count("ledger.reserve"), refusals + 1, "the refusal is audited");
    // A query that needs no delta still runs.
    f.store.reserve(auth, job, &on(Nano(1_000_000), Atto::ZERO, &["households"])).unwrap();
    f.store.verify_ledger().unwrap();
}

/// Registers clinics in `f`'s catalog (once) and returns `f`.
fn with_clinics_on(f: &Fixture) -> &Fixture {
    if f.store.dataset(&f.admin, "clinics").is_err() {
        register(&f.store, &f.admin, &manifest("clinics", Classification::Sensitive), "/data/clinics.parquet").unwrap();
    }
    f
}

#[test]
fn a_grant_checks_its_delta_total() {
    let f = Fixture::new();
    let refused = |delta: f64, total: Option<f64>, needle: &str| {
        let mut req = grant_request(f.unit_a, "delta terms", f.store.now());
        req.privacy.delta = delta;
        req.budget.delta_total = total;
        match f.store.grant(&f.admin, &req) {
            Err(GovernanceError::Invalid { field, reason }) => {
                assert_eq!(field, "budget.delta_total");
                assert!(reason.contains(needle), "{reason}");
            }
            other => panic!("expected a refusal of budget.delta_total, got {other:?}"),
        }
    };
    refused(1e-6, Some(1e-7), "at least privacy.delta");
    refused(0.0, Some(1e-7), "must be 0 or absent");
    refused(1e-6, Some(1.0), "below 1");
    refused(1e-6, Some(f64::NAN), "below 1");
    let mut req = grant_request(f.unit_a, "no delta", f.store.now());
    req.privacy.delta = 0.0;
    let id = f.store.grant(&f.admin, &req).unwrap();
    let b = f.store.budget(&f.admin, id).unwrap();
    assert_eq!((b.delta_per_query, b.delta_total), (Atto::ZERO, Atto::ZERO));
}

#[test]
fn crash_recovery_settles_delta_in_full() {
    let f = Fixture::new();
    let dropped = crate::common::open(f.dir.path());
    let job = f.prod_job(&f.analyst_a, f.auth_a);
    let r = dropped.reserve(f.auth_a, job, &on(Nano(50_000_000), delta_e8(7), &["households"])).unwrap();
    drop(dropped);
    let report = f.store.recover_abandoned().unwrap();
    assert_eq!((report.recovered, report.amount, report.delta), (vec![r.id], Nano(50_000_000), delta_e8(7)));
    let b = f.store.budget(&f.analyst_a, f.auth_a).unwrap();
    assert_eq!((b.delta_spent, b.delta_reserved), (delta_e8(7), Atto::ZERO));
    // The recovered charge counts in the unit's loss on the dataset, in full.
    let loss = &f.store.privacy_losses(&f.admin, Some(f.unit_a), Some("households")).unwrap()[0];
    assert_eq!((loss.pure_epsilon, loss.charged_delta), (Nano(50_000_000), delta_e8(7)));
    f.store.verify_ledger().unwrap();
}

#[test]
fn a_unit_is_capped_on_a_dataset_across_its_authorizations() {
    let f = with_clinics();
    let second = second_grant(&f, f.unit_a, PrivacyDefinition::PureDp, 1e-7, None);
    let cap = f.store.set_loss_cap(&f.admin, f.unit_a, "households", 0.5, 1e-7).unwrap();
    assert_eq!(cap.cap.map(|c| (c.epsilon, c.delta)), Some((Nano(500_000_000), delta_e8(10))));
    assert_eq!(cap.authorizations, vec![f.auth_a, second]);

    // 0.3 under the first authorization, then 0.3 under the second would make 0.6 > 0.5.
    spend(&f.store, &f.analyst_a, f.auth_a, Nano(300_000_000), Nano(300_000_000)).unwrap();
    let job = f.prod_job(&f.analyst_a, second);
    match f.store.reserve(second, job, &on(Nano(300_000_000), Atto::ZERO, &["households", "clinics"])) {
        Err(e @ GovernanceError::LossCapExceeded { .. }) => {
            let m = e.to_string();
            assert!(m.contains("unit 1 on dataset households"), "{m}");
            assert!(m.contains("(epsilon 0.6, delta 0)") && m.contains("(epsilon 0.2, delta 0.0000001) remain"), "{m}");
            assert!(m.contains("ask the bureau to raise the unit's cap on households"), "{m}");
        }
        other => panic!("expected the loss cap refusal, got {other:?}"),
    }
    let refused = f
        .store
        .audit_records(&f.admin, &AuditFilter { action: Some("ledger.reserve".into()), ..AuditFilter::default() })
        .unwrap()
        .into_iter()
        .filter(|r| r.outcome == Outcome::Refused)
        .count();
    assert_eq!(refused, 1, "the refusal is audited");
    assert_eq!(f.store.budget(&f.analyst_a, second).unwrap().reserved, Nano::ZERO, "nothing was reserved");

    // The same query on the uncapped dataset only runs; 0.2 more on households fits exactly.
    let r = f.store.reserve(second, job, &on(Nano(300_000_000), Atto::ZERO, &["clinics"])).unwrap();
    f.store.commit(&r, Nano(300_000_000), Atto::ZERO).unwrap();
    let r = f.store.reserve(second, job, &on(Nano(200_000_000), Atto::ZERO, &["households"])).unwrap();
    let loss = &f.store.privacy_losses(&f.admin, Some(f.unit_a), Some("households")).unwrap()[0];
    assert_eq!((loss.epsilon, loss.remaining), (Nano(500_000_000), Some((Nano::ZERO, delta_e8(10)))), "reserved counts too");
    f.store.release(&r).unwrap();

    // Unit B's own authorization over households is not capped by unit A's cap.
    spend(&f.store, &f.analyst_b, f.auth_b, Nano(400_000_000), Nano(400_000_000)).unwrap();
    spend(&f.store, &f.analyst_b, f.auth_b, Nano(400_000_000), Nano(400_000_000)).unwrap();

    // A dataset the authorization does not grant cannot be named.
    match f.store.reserve(f.auth_a, f.prod_job(&f.analyst_a, f.auth_a), &on(Nano(1), Atto::ZERO, &["clinics"])) {
        Err(GovernanceError::Invalid { field, reason }) => assert!(field == "datasets[0]" && reason.contains("grants"), "{reason}"),
        other => panic!("expected the ungranted dataset to be refused, got {other:?}"),
    }
    f.store.verify_ledger().unwrap();
}

#[test]
fn the_loss_view_composes_pure_epsilon_rho_and_delta_as_computed_by_hand() {
    let f = with_clinics();
    let zcdp = second_grant(&f, f.unit_a, PrivacyDefinition::Zcdp, 1e-6, Some(1e-5));
    // Pure DP: 0.25 and 0.05 on households; zCDP: rho 0.01 (δ 2e-7) and 0.03 (δ 1e-7, of
    // which 5e-8 is committed) on households, 0.02 on clinics only.
    spend(&f.store, &f.analyst_a, f.auth_a, Nano(250_000_000), Nano(250_000_000)).unwrap();
    spend(&f.store, &f.analyst_a, f.auth_a, Nano(60_000_000), Nano(50_000_000)).unwrap();
    let job = f.prod_job(&f.analyst_a, zcdp);
    let r = f.store.reserve(zcdp, job, &on(Nano(10_000_000), delta_e8(20), &["households"])).unwrap();
    f.store.commit(&r, Nano(10_000_000), delta_e8(20)).unwrap();
    let r = f.store.reserve(zcdp, job, &on(Nano(30_000_000), delta_e8(10), &["households", "clinics"])).unwrap();
    f.store.commit(&r, Nano(30_000_000), delta_e8(5)).unwrap();
    let open = f.store.reserve(zcdp, job, &on(Nano(20_000_000), Atto::ZERO, &["clinics"])).unwrap();

    let losses = f.store.privacy_losses(&f.supervisor, Some(f.unit_a), None).unwrap();
    let names: Vec<&str> = losses.iter().map(|l| l.dataset.as_str()).collect();
    assert_eq!(names, ["clinics", "households"]);
    let h = &losses[1];
    assert_eq!((h.pure_epsilon, h.rho, h.charged_delta), (Nano(300_000_000), Nano(40_000_000), delta_e8(25)));
    // By hand: ε = 0.3 + 0.04 + 2·√(0.04 · ln 1e9) = 0.34 + 2·√0.828930633… = 0.34 + 1.820912…
    let by_hand = 0.3 + 0.04 + 2.0 * (0.04f64 * 1e9f64.ln()).sqrt();
    assert!((2.160_9..2.161).contains(&by_hand), "{by_hand}");
    assert!(h.epsilon.as_f64() >= by_hand && h.epsilon.as_f64() - by_hand < 3e-9, "{} vs {by_hand}", h.epsilon);
    assert_eq!(h.conversion_delta, CONVERSION_DELTA);
    assert_eq!(h.delta, Atto(delta_e8(25).attos() + 1_000_000_000), "2.5e-7 charged + 1e-9 of the conversion");
    assert_eq!((h.cap, h.remaining), (None, None));
    // Clinics: rho 0.03 committed + 0.02 reserved, δ 5e-8.
    let c = &losses[0];
    assert_eq!((c.pure_epsilon, c.rho, c.charged_delta), (Nano::ZERO, Nano(50_000_000), delta_e8(5)));
    assert_eq!(c.authorizations, vec![zcdp]);
    f.store.release(&open).unwrap();
    let c = &f.store.privacy_losses(&f.admin, Some(f.unit_a), Some("clinics")).unwrap()[0];
    assert_eq!(c.rho, Nano(30_000_000), "a released reservation no longer counts");

    // Tenancy: an analyst sees their own unit only.
    assert!(f.store.privacy_losses(&f.analyst_a, None, None).unwrap().iter().all(|l| l.unit == f.unit_a));
    assert!(f.store.privacy_losses(&f.analyst_b, Some(f.unit_a), None).is_err());
}

#[test]
fn cap_changes_are_the_bureaus_and_are_audited() {
    let f = Fixture::new();
    assert!(matches!(f.store.set_loss_cap(&f.supervisor, f.unit_a, "households", 1.0, 0.0), Err(GovernanceError::Denied { .. })));
    assert!(matches!(f.store.set_loss_cap(&f.analyst_a, f.unit_a, "households", 9.0, 0.0), Err(GovernanceError::Denied { .. })));
    for (eps, delta, field) in [(0.0, 0.0, "epsilon"), (-1.0, 0.0, "epsilon"), (1.0, 1.0, "delta"), (1.0, -0.1, "delta")] {
        assert!(
            matches!(f.store.set_loss_cap(&f.admin, f.unit_a, "households", eps, delta), Err(GovernanceError::Invalid { field: x, .. }) if x == field),
            "{eps} {delta}"
        );
    }
    assert!(matches!(f.store.set_loss_cap(&f.admin, f.unit_a, "nowhere", 1.0, 0.0), Err(GovernanceError::Invalid { field, .. }) if field == "dataset"));
    assert!(matches!(f.store.clear_loss_cap(&f.admin, f.unit_a, "households"), Err(GovernanceError::Conflict { .. })));

    f.store.set_loss_cap(&f.admin, f.unit_a, "households", 1.0, 0.0).unwrap();
    f.clock.advance(Duration::seconds(5));
    let raised = f.store.set_loss_cap(&f.admin, f.unit_a, "households", 2.0, 1e-6).unwrap();
    assert_eq!(raised.cap.map(|c| (c.epsilon, c.delta)), Some((Nano(2_000_000_000), Atto(1_000_000_000_000))));
    let cleared = f.store.clear_loss_cap(&f.admin, f.unit_a, "households").unwrap();
    assert_eq!(cleared.cap, None);

    let records = f
        .store
        .audit_records(&f.admin, &AuditFilter { action_prefix: Some("loss.cap_".into()), ..AuditFilter::default() })
        .unwrap();
    let ok: Vec<_> = records.iter().filter(|r| r.outcome == Outcome::Ok).collect();
    assert_eq!(ok.iter().map(|r| r.action.as_str()).collect::<Vec<_>>(), ["loss.cap_set", "loss.cap_set", "loss.cap_clear"]);
    assert_eq!(ok[1].details["previous"]["epsilon_nano"], 1_000_000_000);
    assert_eq!(ok[1].details["delta_atto"], 1_000_000_000_000u64);
    assert_eq!(ok[2].details["previous"]["epsilon_nano"], 2_000_000_000u64);
    assert!(ok.iter().all(|r| r.unit == Some(f.unit_a)), "the unit sees changes to its caps");
    assert!(records.iter().filter(|r| r.outcome == Outcome::Refused).count() >= 2, "the refused attempts are audited");
    f.store.verify_audit().unwrap();
}

#[test]
fn registration_needs_the_witness_of_its_own_manifest_and_location() {
    let f = Fixture::new();
    let m = manifest("wards", Classification::Sensitive);
    let mut other = m.clone();
    other.name = "other".into();
    match f.store.register_dataset(&f.admin, &m, "/data/wards.parquet", &verified(&other)) {
        Err(GovernanceError::Invalid { field, .. }) => assert_eq!(field, "verified"),
        r => panic!("a witness of another manifest must be refused, got {r:?}"),
    }
    // A false declaration cannot make a witness at all: the count, not the value.
    let e = DeclarationsVerified::from_key_values(&m, |_| Some(vec![Some("p-17"), Some("p-17")])).unwrap_err().to_string();
    assert!(e.contains("occurs 2 times") && !e.contains("p-17"), "{e}");
    register(&f.store, &f.admin, &m, "/data/wards.parquet").unwrap();
    let audit = f
        .store
        .audit_records(&f.admin, &AuditFilter { action: Some("dataset.register".into()), ..AuditFilter::default() })
        .unwrap();
    let last = audit.last().unwrap();
    assert_eq!(last.details["declarations_checked"], serde_json::json!(["person_id"]));
}
