//! Real-name people and bearer credentials.

use chrono::Duration;
use shuyu_governance::*;

use crate::common::*;

#[test]
fn tokens_are_random_shown_once_and_stored_only_hashed() {
    let f = Fixture::new();
    let a = f
        .store
        .issue_token(&f.admin, f.analyst_a.person_id, Duration::days(1))
        .unwrap();
    let b = f
        .store
        .issue_token(&f.admin, f.analyst_a.person_id, Duration::days(1))
        .unwrap();
    let text = a.token.expose();
    assert!(text.starts_with("sy_"));
    assert_eq!(text.len(), 3 + 64, "256 bits in hex");
    assert_ne!(a.token, b.token);
    assert!(
        !format!("{a:?}").contains(&text[3..]),
        "Debug hides the token"
    );
    let clear = Raw::open(f.dir.path()).int(
        "SELECT (SELECT COUNT(*) FROM credentials WHERE token_hash = CAST(?1 AS TEXT)) + (SELECT COUNT(*) FROM audit WHERE details LIKE '%' || CAST(?1 AS TEXT) || '%')",
        &[P::T(text)],
    );
    assert_eq!(clear, 0);
    // Nothing in the store holds the token or the ID number in the clear: not a byte of the
    // SQLite file and its log, not a text value of the PostgreSQL database.
    match Raw::open(f.dir.path()) {
        Raw::Sqlite(_) => {
            let bytes = std::fs::read(f.store.database_path()).unwrap();
            let wal = std::fs::read(f.store.database_path().with_extension("db-wal")).unwrap_or_default();
            for needle in [text.as_bytes(), id_number(4).as_bytes()] {
                assert!(!bytes.windows(needle.len()).any(|w| w == needle));
                assert!(!wal.windows(needle.len()).any(|w| w == needle));
            }
        }
        mut pg @ Raw::Postgres(_) => {
            for needle in [text.to_string(), id_number(4)] {
                assert_eq!(pg.text_containing(&needle), 0);
            }
        }
    }
    assert_eq!(f.store.authenticate(text).unwrap(), f.analyst_a);
}

#[test]
fn unknown_expired_revoked_and_rotated_tokens_fail() {
    let f = Fixture::new();
    assert!(matches!(
        f.store.authenticate("sy_nope"),
        Err(GovernanceError::Unauthenticated { .. })
    ));
    let short = f
        .store
        .issue_token(&f.admin, f.analyst_a.person_id, Duration::hours(1))
        .unwrap();
    let long = f
        .store
        .issue_token(&f.admin, f.analyst_a.person_id, Duration::days(10))
        .unwrap();
    f.clock.advance(Duration::hours(2));
    assert!(
        matches!(f.store.authenticate(short.token.expose()), Err(GovernanceError::Unauthenticated { reason }) if reason.contains("expired"))
    );
    // Rotation by the holder: the new token works, the old one does not.
    let fresh = f
        .store
        .rotate_token(&f.analyst_a, long.credential, Duration::days(10))
        .unwrap();
    assert!(f.store.authenticate(long.token.expose()).is_err());
    assert_eq!(
        f.store.authenticate(fresh.token.expose()).unwrap(),
        f.analyst_a
    );
    assert!(matches!(
        f.store
            .rotate_token(&f.analyst_a, long.credential, Duration::days(1)),
        Err(GovernanceError::Conflict { .. })
    ));
    // Another unit's analyst cannot touch it.
    assert!(matches!(
        f.store.revoke_token(&f.analyst_b, fresh.credential),
        Err(GovernanceError::Denied { .. })
    ));
    f.store.revoke_token(&f.admin, fresh.credential).unwrap();
    assert!(f.store.authenticate(fresh.token.expose()).is_err());
    let listed = f
        .store
        .credentials(&f.analyst_a, f.analyst_a.person_id)
        .unwrap();
    assert_eq!(listed.len(), 3);
    assert!(listed
        .iter()
        .all(|c| c.revoked_at.is_some() || c.expires_at <= f.store.now()));
    // Failed attempts are audited, without the token.
    let failures = f
        .store
        .audit_records(
            &f.supervisor,
            &AuditFilter {
                action: Some("credential.authenticate".into()),
                ..AuditFilter::default()
            },
        )
        .unwrap();
    assert!(failures.len() >= 3);
    assert!(failures.iter().all(|r| r.outcome == Outcome::Refused));
    // An unknown token has no holder; a known one is attributed to its holder.
    assert!(failures.iter().any(|r| r.role == "anonymous" && r.actor_person.is_none()));
    assert!(failures.iter().any(|r| r.actor_person == Some(f.analyst_a.person_id)));
}

#[test]
fn token_lifetimes_are_bounded() {
    let f = Fixture::new();
    for ttl in [Duration::zero(), Duration::days(-1), Duration::days(400)] {
        assert!(matches!(
            f.store.issue_token(&f.admin, f.analyst_a.person_id, ttl),
            Err(GovernanceError::Invalid { .. })
        ));
    }
    assert!(matches!(
        f.store
            .issue_token(&f.analyst_a, f.analyst_b.person_id, Duration::days(1)),
        Err(GovernanceError::Denied { .. })
    ));
}

#[test]
fn people_are_checked_and_id_numbers_only_hashed() {
    let f = Fixture::new();
    assert!(f
        .store
        .id_number_matches(&f.admin, f.analyst_a.person_id, &id_number(4))
        .unwrap());
    assert!(!f
        .store
        .id_number_matches(&f.admin, f.analyst_a.person_id, &id_number(5))
        .unwrap());
    let bad = |new: NewPerson| f.store.create_person(&f.admin, &new).unwrap_err();
    let base = NewPerson {
        name: "Sun".into(),
        id_number: id_number(9),
        role: Role::UnitAnalyst,
        unit: Some(f.unit_a),
        provider: None,
    };
    assert!(
        matches!(bad(NewPerson { unit: None, ..base.clone() }), GovernanceError::Invalid { field, .. } if field == "unit")
    );
    assert!(matches!(
        bad(NewPerson {
            role: Role::Supervisor,
            ..base.clone()
        }),
        GovernanceError::Invalid { .. }
    ));
    assert!(
        matches!(bad(NewPerson { id_number: "123".into(), ..base.clone() }), GovernanceError::Invalid { field, .. } if field == "id_number")
    );
    assert!(
        matches!(bad(NewPerson { role: Role::Provider, unit: None, ..base.clone() }), GovernanceError::Invalid { field, .. } if field == "provider")
    );
    let id = f.store.create_person(&f.admin, &base).unwrap();
    let person = f.store.person(&f.analyst_a, id).unwrap();
    assert_eq!(person.unit, Some(f.unit_a));
    assert!(matches!(
        f.store.person(&f.analyst_b, id),
        Err(GovernanceError::Denied { .. })
    ));
    // Deactivation ends the person's sessions and tokens.
    let token = f
        .store
        .issue_token(&f.admin, id, Duration::days(1))
        .unwrap();
    f.store.deactivate_person(&f.admin, id).unwrap();
    assert!(f.store.authenticate(token.token.expose()).is_err());
    assert!(matches!(
        f.store.jobs(&person.principal(), &JobFilter::default()),
        Err(GovernanceError::Unauthenticated { .. })
    ));
    // Only one bootstrap.
    assert!(matches!(
        f.store
            .bootstrap_admin("Second", &id_number(10), Duration::days(1)),
        Err(GovernanceError::Conflict { .. })
    ));
    assert_eq!(
        f.store.authenticate(f.admin_token.token.expose()).unwrap(),
        f.admin
    );
}

#[test]
fn units_need_a_valid_unique_credit_code() {
    let f = Fixture::new();
    assert!(
        matches!(f.store.create_unit(&f.admin, "Bad Code Co.", "91350100M000100Y44"), Err(GovernanceError::Invalid { field, .. }) if field == "credit_code")
    );
    assert!(matches!(
        f.store.create_unit(&f.admin, "Copy Co.", &credit_code(1)),
        Err(GovernanceError::Conflict { .. })
    ));
    let id = f
        .store
        .create_unit(&f.admin, "Example Co.", "91350100m000100y43")
        .unwrap();
    assert_eq!(
        f.store.unit(&f.supervisor, id).unwrap().credit_code,
        "91350100M000100Y43"
    );
    assert_eq!(f.store.units(&f.supervisor).unwrap().len(), 3);
    assert!(matches!(
        f.store.units(&f.analyst_a),
        Err(GovernanceError::Denied { .. })
    ));
}

#[test]
fn people_are_listed_for_the_bureau_and_supervisors_only() {
    let f = Fixture::new();
    let ids = |unit: Option<UnitId>| -> Vec<PersonId> { f.store.people(&f.admin, unit).unwrap().iter().map(|p| p.id).collect() };
    assert_eq!(ids(Some(f.unit_a)), [f.analyst_a.person_id]);
    assert_eq!(ids(Some(f.unit_b)), [f.analyst_b.person_id]);
    let everyone = ids(None);
    for p in [&f.admin, &f.supervisor, &f.provider, &f.analyst_a, &f.analyst_b] {
        assert!(everyone.contains(&p.person_id), "{p:?}");
    }
    assert_eq!(f.store.people(&f.supervisor, None).unwrap().len(), everyone.len());
    for refused in [&f.analyst_a, &f.provider] {
        assert!(matches!(f.store.people(refused, None), Err(GovernanceError::Denied { .. })));
    }
}
