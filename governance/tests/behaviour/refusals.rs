//! Every refusal: a clear error naming the fault, and nothing written.

use chrono::Duration;
use shuyu_datasets::Classification;
use shuyu_governance::*;

use crate::common::*;

/// Row counts that an invalid grant must leave unchanged.
fn snapshot(f: &Fixture) -> [i64; 3] {
    [
        f.count("authorizations"),
        f.count("grants"),
        f.count("audit"),
    ]
}

fn assert_invalid<T: std::fmt::Debug>(result: Result<T>, expected_field: &str) {
    match result {
        Err(GovernanceError::Invalid { field, reason }) => {
            assert_eq!(field, expected_field, "reason: {reason}");
            assert!(!reason.is_empty());
        }
        other => panic!("expected Invalid({expected_field}), got {other:?}"),
    }
}

fn refused_grant(f: &Fixture, req: &NewAuthorization, field: &str) {
    let before = snapshot(f);
    assert_invalid(f.store.grant(&f.admin, req), field);
    assert_eq!(snapshot(f), before, "an invalid grant writes nothing");
}

#[test]
fn ungrantable_level_is_registered_but_never_granted() {
    let f = Fixture::new();
    let secret = f.store.dataset(&f.admin, "secrets").unwrap();
    assert_eq!(secret.classification(), Classification::StateSecret);
    let mut req = grant_request(f.unit_a, "secret study", f.store.now());
    req.datasets = vec![GrantedDataset {
        dataset: "secrets".into(),
        columns: vec!["district".into()],
    }];
    refused_grant(&f, &req, "datasets[0].dataset");
    register(&f.store, &f.admin, &manifest("safety", Classification::PublicSafety), "/data/s.parquet").unwrap();
    req.datasets = vec![
        GrantedDataset {
            dataset: "households".into(),
            columns: vec!["person_id".into(), "age".into()],
        },
        GrantedDataset {
            dataset: "safety".into(),
            columns: vec!["age".into()],
        },
    ];
    refused_grant(&f, &req, "datasets[1].dataset");
}

#[test]
fn column_outside_the_dataset_is_refused() {
    let f = Fixture::new();
    let mut req = grant_request(f.unit_a, "columns", f.store.now());
    req.datasets[0].columns = vec!["district".into(), "salary".into()];
    refused_grant(&f, &req, "datasets[0].columns[1]");
    req.datasets[0].columns = vec![];
    refused_grant(&f, &req, "datasets[0].columns");
    req.datasets[0].columns = vec!["age".into(), "age".into()];
    refused_grant(&f, &req, "datasets[0].columns[1]");
    // A personal table's grant names its privacy-unit column: it is needed to bound each
    // person's contribution.
    req.datasets[0].columns = vec!["district".into(), "age".into()];
    refused_grant(&f, &req, "datasets[0].columns");
}

#[test]
fn unknown_dataset_is_refused() {
    let f = Fixture::new();
    let mut req = grant_request(f.unit_a, "unknown", f.store.now());
    req.datasets[0].dataset = "no_such_table".into();
    refused_grant(&f, &req, "datasets[0].dataset");
    req.datasets.clear();
    refused_grant(&f, &req, "datasets");
}

#[test]
fn term_end_before_start_is_refused() {
    let f = Fixture::new();
    let now = f.store.now();
    let mut req = grant_request(f.unit_a, "term", now);
    req.term_start = now + Duration::days(10);
    req.term_end = now + Duration::days(5);
    refused_grant(&f, &req, "term.end");
    req.term_end = req.term_start;
    refused_grant(&f, &req, "term.end");
    req.term_start = now - Duration::days(10);
    req.term_end = now - Duration::days(1);
    refused_grant(&f, &req, "term.end");
}

#[test]
fn negative_or_zero_budget_is_refused() {
    let f = Fixture::new();
    let mut req = grant_request(f.unit_a, "budget", f.store.now());
    for total in [-1.0, 0.0, 1e-12, f64::NAN, f64::INFINITY] {
        req.budget.total = total;
        refused_grant(&f, &req, "budget.total");
    }
    req.budget = BudgetTerms {
        total: 1.0,
        per_query_cap: 0.0,
        per_query_default: 0.0,
        delta_total: None,
    };
    refused_grant(&f, &req, "budget.per_query_cap");
    req.budget = BudgetTerms {
        total: 1.0,
        per_query_cap: 0.5,
        per_query_default: -0.1,
        delta_total: None,
    };
    refused_grant(&f, &req, "budget.per_query_default");
}

#[test]
fn cap_above_total_and_default_above_cap_are_refused() {
    let f = Fixture::new();
    let mut req = grant_request(f.unit_a, "caps", f.store.now());
    req.budget = BudgetTerms {
        total: 1.0,
        per_query_cap: 1.5,
        per_query_default: 0.1,
        delta_total: None,
    };
    refused_grant(&f, &req, "budget.per_query_cap");
    req.budget = BudgetTerms {
        total: 1.0,
        per_query_cap: 0.5,
        per_query_default: 0.6,
        delta_total: None,
    };
    refused_grant(&f, &req, "budget.per_query_default");
}

#[test]
fn other_grant_faults_name_their_field() {
    let f = Fixture::new();
    let now = f.store.now();
    let base = grant_request(f.unit_a, "faults", now);
    type Change = Box<dyn Fn(&mut NewAuthorization)>;
    let cases: Vec<(Change, &str)> = vec![
        (Box::new(|r| r.scenario = " ".into()), "scenario"),
        (Box::new(|r| r.purpose = String::new()), "purpose"),
        (Box::new(|r| r.partners = vec!["".into()]), "partners[0]"),
        (Box::new(|r| r.rights.clear()), "rights"),
        (
            Box::new(|r| r.mode = Mode::Paid { price_cents: 0 }),
            "mode.price_cents",
        ),
        (Box::new(|r| r.privacy.delta = 1.0), "privacy.delta"),
        (Box::new(|r| r.unit = UnitId(999)), "unit"),
    ];
    for (change, field) in cases {
        let mut req = base.clone();
        change(&mut req);
        refused_grant(&f, &req, field);
    }
    // One scenario, one authorization: the name is unique within the unit.
    let before = snapshot(&f);
    let dup = grant_request(f.unit_a, "ageing", now);
    assert!(matches!(
        f.store.grant(&f.admin, &dup),
        Err(GovernanceError::Conflict { .. })
    ));
    assert_eq!(snapshot(&f), before);
    // The same scenario name in another unit is fine, and a unit may hold several.
    f.store
        .grant(&f.admin, &grant_request(f.unit_a, "transport", now))
        .unwrap();
    assert_eq!(f.store.authorizations(&f.analyst_a, None).unwrap().len(), 2);
}

#[test]
fn only_the_bureau_grants() {
    let f = Fixture::new();
    let req = grant_request(f.unit_a, "self-granted", f.store.now());
    let err = f.store.grant(&f.analyst_a, &req).unwrap_err();
    assert!(matches!(err, GovernanceError::Denied { .. }), "{err}");
    assert!(err.to_string().contains("bureau_admin"));
    let refusals = f
        .store
        .audit_records(
            &f.supervisor,
            &AuditFilter {
                action: Some("authorization.grant".into()),
                ..AuditFilter::default()
            },
        )
        .unwrap();
    assert!(refusals
        .iter()
        .any(|r| r.outcome == Outcome::Refused && r.actor_person == Some(f.analyst_a.person_id)));
}

#[test]
fn cross_unit_access_is_refused_and_audited() {
    let f = Fixture::new();
    f.spend(&f.analyst_a, f.auth_a, Nano(10_000_000)).unwrap();
    let job_a = f.store.jobs(&f.analyst_a, &JobFilter::default()).unwrap()[0].id;
    let b = &f.analyst_b;
    let denied = |r: Result<()>| assert!(matches!(r, Err(GovernanceError::Denied { .. })), "{r:?}");
    // Objects named by id read as missing, exactly like an id that does not exist, so a
    // unit cannot probe which ids exist elsewhere.
    let missing_auth = AuthorizationId(f.auth_a.0 + 1000);
    let missing_job = JobId(job_a.0 + 1000);
    let hidden = |foreign: GovernanceError, absent: GovernanceError, id: i64, absent_id: i64| {
        assert!(matches!(foreign, GovernanceError::NotFound { foreign: true, .. }), "{foreign:?}");
        assert!(matches!(absent, GovernanceError::NotFound { foreign: false, .. }), "{absent:?}");
        assert_eq!(
            foreign.to_string().replace(&id.to_string(), "#"),
            absent.to_string().replace(&absent_id.to_string(), "#"),
            "the same message for another unit's object and for none"
        );
    };
    let (a, n) = (f.auth_a.0, missing_auth.0);
    hidden(f.store.authorization(b, f.auth_a).unwrap_err(), f.store.authorization(b, missing_auth).unwrap_err(), a, n);
    hidden(f.store.budget(b, f.auth_a).unwrap_err(), f.store.budget(b, missing_auth).unwrap_err(), a, n);
    hidden(f.store.scope(b, f.auth_a).unwrap_err(), f.store.scope(b, missing_auth).unwrap_err(), a, n);
    hidden(f.store.job(b, job_a).unwrap_err(), f.store.job(b, missing_job).unwrap_err(), job_a.0, missing_job.0);
    let job_under = |auth| NewJob { authorization: auth, sql: "SELECT 1".into(), environment: Environment::Prod };
    hidden(
        f.store.create_job(b, &job_under(f.auth_a)).unwrap_err(),
        f.store.create_job(b, &job_under(missing_auth)).unwrap_err(),
        a,
        n,
    );
    denied(f.store.unit(b, f.unit_a).map(|_| ()));
    denied(f.store.authorizations(b, Some(f.unit_a)).map(|_| ()));
    denied(
        f.store
            .jobs(
                b,
                &JobFilter {
                    unit: Some(f.unit_a),
                    ..JobFilter::default()
                },
            )
            .map(|_| ()),
    );
    denied(
        f.store
            .unit_report(
                b,
                f.unit_a,
                f.store.now() - Duration::days(1),
                f.store.now(),
            )
            .map(|_| ()),
    );
    denied(
        f.store
            .audit_records(
                b,
                &AuditFilter {
                    unit: Some(f.unit_a),
                    ..AuditFilter::default()
                },
            )
            .map(|_| ()),
    );
    // Listing without a filter only ever returns the caller's rows.
    assert!(f.store.jobs(b, &JobFilter::default()).unwrap().is_empty());
    assert!(f
        .store
        .authorizations(b, None)
        .unwrap()
        .iter()
        .all(|a| a.unit == f.unit_b));
    assert!(f
        .store
        .audit_records(b, &AuditFilter::default())
        .unwrap()
        .iter()
        .all(|r| r.unit == Some(f.unit_b)));
    // Every refusal above is on record, attributed to analyst B. Reaches for A's objects by
    // id carry no unit: the supervisor sees them, B's own audit view does not.
    let refused = |unit: Option<UnitId>| {
        f.store
            .audit_records(&f.supervisor, &AuditFilter::default())
            .unwrap()
            .into_iter()
            .filter(|r| r.outcome == Outcome::Refused && r.unit == unit && r.actor_person == Some(b.person_id))
            .count()
    };
    assert_eq!(refused(Some(f.unit_b)), 5);
    assert_eq!(refused(None), 5);
    assert!(f
        .store
        .audit_records(b, &AuditFilter::default())
        .unwrap()
        .iter()
        .all(|r| r.outcome != Outcome::Refused || r.unit == Some(f.unit_b)));
    f.store.verify_audit().unwrap();
}

#[test]
fn suspended_unit_is_refused_at_once() {
    let f = Fixture::new();
    let token = f
        .store
        .issue_token(&f.admin, f.analyst_a.person_id, Duration::days(1))
        .unwrap();
    assert_eq!(
        f.store.authenticate(token.token.expose()).unwrap(),
        f.analyst_a
    );
    let job = f.prod_job(&f.analyst_a, f.auth_a);
    f.store
        .suspend_unit(&f.admin, f.unit_a, "late annual report")
        .unwrap();
    // The token is valid, so this is a typed refusal, not a failed authentication.
    let err = f.store.authenticate(token.token.expose()).unwrap_err();
    assert!(matches!(&err, GovernanceError::UnitInactive { reason } if reason.contains("suspended")), "{err:?}");
    assert!(err.is_refusal());
    // A session opened before the suspension is refused too.
    let err = f
        .store
        .create_job(
            &f.analyst_a,
            &NewJob {
                authorization: f.auth_a,
                sql: "SELECT 1".into(),
                environment: Environment::Prod,
            },
        )
        .unwrap_err();
    assert!(matches!(err, GovernanceError::Denied { .. }), "{err}");
    assert!(err.to_string().contains("suspended"));
    let err = f.store.reserve(f.auth_a, job, &charge(Nano(1_000_000))).unwrap_err();
    assert!(matches!(err, GovernanceError::Denied { .. }), "{err}");
    f.store
        .reinstate_unit(&f.admin, f.unit_a, "report filed")
        .unwrap();
    assert!(f.store.authenticate(token.token.expose()).is_ok());
    f.store.reserve(f.auth_a, job, &charge(Nano(1_000_000))).unwrap();
}

#[test]
fn suspended_authorization_is_refused_at_once() {
    let f = Fixture::new();
    f.store
        .suspend_authorization(&f.admin, f.auth_a, "complaint under review")
        .unwrap();
    assert_eq!(
        f.store
            .authorization(&f.analyst_a, f.auth_a)
            .unwrap()
            .status,
        AuthorizationStatus::Suspended
    );
    assert!(matches!(
        f.spend(&f.analyst_a, f.auth_a, Nano(1_000_000)),
        Err(GovernanceError::Denied { .. })
    ));
    // The unit's other authorizations are untouched.
    f.store
        .reinstate_authorization(&f.admin, f.auth_a, "complaint dismissed")
        .unwrap();
    f.spend(&f.analyst_a, f.auth_a, Nano(1_000_000)).unwrap();
}

#[test]
fn expired_term_is_refused() {
    let f = Fixture::new();
    let job = f.prod_job(&f.analyst_a, f.auth_a);
    f.clock.advance(Duration::days(366));
    assert_eq!(
        f.store
            .authorization(&f.analyst_a, f.auth_a)
            .unwrap()
            .status,
        AuthorizationStatus::Expired
    );
    let err = f.store.reserve(f.auth_a, job, &charge(Nano(1_000_000))).unwrap_err();
    assert!(
        matches!(&err, GovernanceError::Denied { reason } if reason.contains("term")),
        "{err}"
    );
    assert!(matches!(
        f.spend(&f.analyst_a, f.auth_a, Nano(1_000_000)),
        Err(GovernanceError::Denied { .. })
    ));
    assert!(matches!(
        f.store.scope(&f.analyst_a, f.auth_a),
        Err(GovernanceError::Denied { .. })
    ));
}

#[test]
fn budget_exceeded_is_refused_with_what_is_left() {
    let f = Fixture::new(); // total 1.0, cap 0.5
    f.spend(
        &f.analyst_a,
        f.auth_a,
        Nano::parse_decimal("0.5", "x").unwrap(),
    )
    .unwrap();
    f.spend(
        &f.analyst_a,
        f.auth_a,
        Nano::parse_decimal("0.4", "x").unwrap(),
    )
    .unwrap();
    let before = f.store.budget(&f.analyst_a, f.auth_a).unwrap();
    match f.spend(
        &f.analyst_a,
        f.auth_a,
        Nano::parse_decimal("0.2", "x").unwrap(),
    ) {
        Err(GovernanceError::BudgetExhausted {
            authorization,
            requested,
            remaining,
        }) => {
            assert_eq!(authorization, f.auth_a.0);
            assert_eq!(requested, Nano(200_000_000));
            assert_eq!(remaining, Nano(100_000_000));
        }
        other => panic!("expected BudgetExhausted, got {other:?}"),
    }
    assert_eq!(
        f.store.budget(&f.analyst_a, f.auth_a).unwrap(),
        before,
        "a refusal spends nothing"
    );
    // Exactly what is left still fits.
    let after = f.spend(&f.analyst_a, f.auth_a, Nano(100_000_000)).unwrap();
    assert_eq!(after.remaining, Nano::ZERO);
    assert_eq!(after.spent, after.total);
}

#[test]
fn over_cap_reservation_is_refused() {
    let f = Fixture::new(); // cap 0.5
    let cap = Nano::parse_decimal("0.5", "x").unwrap();
    match f.spend(&f.analyst_a, f.auth_a, Nano(cap.0 + 1)) {
        Err(GovernanceError::OverCap {
            requested, cap: c, ..
        }) => {
            assert_eq!(requested, Nano(cap.0 + 1));
            assert_eq!(c, cap);
        }
        other => panic!("expected OverCap, got {other:?}"),
    }
    f.spend(&f.analyst_a, f.auth_a, cap).unwrap();
}

#[test]
fn dev_jobs_and_foreign_jobs_cannot_reserve() {
    let f = Fixture::new();
    let dev = f.dev_job(&f.analyst_a, f.auth_a);
    assert!(matches!(
        f.store.reserve(f.auth_a, dev, &charge(Nano(1))),
        Err(GovernanceError::Invalid { .. })
    ));
    let job_b = f.prod_job(&f.analyst_b, f.auth_b);
    assert!(matches!(
        f.store.reserve(f.auth_a, job_b, &charge(Nano(1))),
        Err(GovernanceError::Invalid { .. })
    ));
    assert!(matches!(
        f.store.reserve(f.auth_b, job_b, &charge(Nano::ZERO)),
        Err(GovernanceError::Invalid { .. })
    ));
    assert_eq!(f.store.verify_ledger().unwrap().reservations, 0);
}

#[test]
fn errors_never_quote_secrets_or_id_numbers() {
    let f = Fixture::new();
    let bad_id = "110105199001010019";
    let err = f
        .store
        .create_person(
            &f.admin,
            &NewPerson {
                name: "X".into(),
                id_number: bad_id.into(),
                role: Role::Supervisor,
                unit: None,
                provider: None,
            },
        )
        .unwrap_err();
    assert!(!err.to_string().contains(bad_id));
    let token = "sy_0000000000000000000000000000000000000000000000000000000000000000";
    let err = f.store.authenticate(token).unwrap_err();
    assert!(!err.to_string().contains(token));
    let leaked = Raw::open(f.dir.path()).int(
        "SELECT COUNT(*) FROM audit WHERE details LIKE '%' || CAST(?1 AS TEXT) || '%'",
        &[P::T(&token[3..20])],
    );
    assert_eq!(leaked, 0);
}
