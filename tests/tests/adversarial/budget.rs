//! Channel 5 (in part): repetition and the budget header.
//!
//! DP composes: n answers about the same person cost n times one. An attacker therefore
//! tries to get answers the ledger does not count (a repeated query served for free, a
//! failure refunded) or to name a per-query budget the ledger rounds to nothing.

use arrow_flight::error::FlightError;
use shuyu_governance::Nano;
use tonic::Code;

use crate::fixture::{self, code, message, TestServer};
use crate::kit::{client_spending, ledger, observe, secrets, single_violations, target};

fn remaining(schema: &arrow::datatypes::Schema) -> Option<Nano> {
    schema.metadata().get("shuyu.budget_remaining").and_then(|t| Nano::parse_decimal(t, "remaining").ok())
}

/// Attack: send the same query many times and average the noise away (the plain
/// averaging attack on the target's income), and send the failing variant of the division
/// oracle many times (free today, so it can be repeated at will). Secure: every answer is
/// charged, so the budget left strictly decreases with each; every repetition of a
/// failing query reads the same and is refused at plan time or charged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_repetition_of_an_attack_is_charged() {
    let server = TestServer::start().await;
    let unit = server.health().clone();
    let mut client = client_spending(&server, &unit, "0.01").await;
    let t = target();
    let averaging = format!("SELECT SUM(income) AS s FROM residents WHERE person_id = {}", t.person_id);
    let mut last = ledger(&server, &unit).0;
    let mut told: Option<Nano> = None;
    for i in 0..10 {
        let (schema, _) = fixture::query(&mut client, &averaging).await.unwrap_or_else(|e| panic!("repetition {i}: {e}"));
        let spent = ledger(&server, &unit).0;
        assert!(spent > last, "repetition {i} was not charged: spent stays {spent}");
        let left = remaining(&schema).expect("the answer says what budget is left");
        if let Some(before) = told {
            assert!(left < before, "repetition {i}: budget left {left} did not decrease from {before}");
        }
        (last, told) = (spent, Some(left));
    }

    let oracle = format!(
        "SELECT COUNT(*) FROM residents WHERE 1 / (CASE WHEN person_id = {} AND income > {} THEN 0 ELSE 1 END) = 1",
        t.person_id,
        (t.income - 1.0).floor()
    );
    let mut breaches = Vec::new();
    let mut replies = Vec::new();
    for _ in 0..5 {
        let o = observe(&server, &unit, &mut client, &oracle).await;
        breaches.extend(single_violations(&o, &secrets(t)));
        replies.push(o.error().map(|(c, m)| (c, m.to_string())));
    }
    if replies.windows(2).any(|w| w[0] != w[1]) {
        breaches.push(format!("repetitions of one query read differently: {replies:?}"));
    }
    assert!(breaches.is_empty(), "{} breach(es):\n  {}", breaches.len(), breaches.join("\n  "));
    server.stop().await;
}

/// Attack: a per-query budget header the ledger might round to nothing or misread: zero,
/// negative zero, negative, NaN, infinities, denormals, 1e-300, huge and malformed values,
/// under both privacy definitions (chunhe-health's zCDP, beilin-jobs' pure ε). Secure: each
/// is refused before anything is spent (and no reservation stays open), or the query is
/// answered and charged at least what was asked, never nothing; never INTERNAL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_budget_header_never_buys_a_free_answer() {
    let server = TestServer::start().await;
    let values = ["0", "-0", "0.0", "-1", "NaN", "nan", "inf", "-inf", "1e-300", "5e-324", "1e-10", "1e300", "1e10", "0x10", "", " 0.1 ", "1e-9"];
    let mut breaches = Vec::new();
    for unit in [server.health().clone(), server.jobs().clone()] {
        for value in values {
            let mut client = client_spending(&server, &unit, value).await;
            let (before, _) = ledger(&server, &unit);
            let reply = fixture::query(&mut client, "SELECT COUNT(*) FROM residents").await;
            let (after, reserved) = ledger(&server, &unit);
            let what = format!("{} with x-shuyu-budget {value:?}", unit.name);
            if reserved != Nano::ZERO {
                breaches.push(format!("{what}: a reservation of {reserved} stays open"));
            }
            match reply {
                Ok((schema, _)) => {
                    let charged = after.0.saturating_sub(before.0);
                    let told = schema.metadata().get("shuyu.charged").cloned().unwrap_or_default();
                    if charged == 0 {
                        breaches.push(format!("{what}: answered for free (told charged = {told})"));
                    }
                    let asked: f64 = value.trim().parse().unwrap_or(f64::NAN);
                    if asked.is_finite() && (charged as f64) < asked * 1e9 - 0.5 {
                        breaches.push(format!("{what}: charged {charged} nano-units, less than asked"));
                    }
                }
                Err(e) => {
                    if matches!(&e, FlightError::Tonic(_)) && matches!(code(&e), Code::Internal | Code::Unknown) {
                        breaches.push(format!("{what}: {:?} {}", code(&e), message(&e)));
                    }
                    if after != before {
                        breaches.push(format!("{what}: refused ({e}) but {} was spent", after.0 - before.0));
                    }
                }
            }
        }
    }
    assert!(breaches.is_empty(), "{} breach(es):\n  {}", breaches.len(), breaches.join("\n  "));
    server.stop().await;
}

/// Attack: a plan without releases reserves nothing (it reads public tables only), so the
/// attacker dresses a question about the target as a query over the public `districts`
/// table: the target's row in a subquery, an EXISTS, a semi-join, a scalar subquery, a
/// UNION. Secure: each is refused at plan time or answered and charged; only the query that
/// reads `districts` alone is free, and it answers exactly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_answers_over_public_tables_alone_are_free() {
    let server = TestServer::start().await;
    let unit = server.health().clone();
    let mut client = client_spending(&server, &unit, "0.01").await;
    let t = target();
    let cond = format!("person_id = {} AND income > {}", t.person_id, (t.income - 1.0).floor());
    let disguised = [
        format!("SELECT district FROM districts WHERE district IN (SELECT district FROM residents WHERE {cond})"),
        format!("SELECT district FROM districts d WHERE EXISTS (SELECT 1 FROM residents r WHERE r.district = d.district AND {cond})"),
        format!("SELECT d.district FROM districts d JOIN residents r ON r.district = d.district WHERE r.{cond}"),
        format!("SELECT district, (SELECT COUNT(*) FROM residents WHERE {cond}) AS c FROM districts"),
        format!("SELECT district FROM districts UNION SELECT district FROM residents WHERE {cond}"),
    ];
    let mut breaches = Vec::new();
    for sql in &disguised {
        let o = observe(&server, &unit, &mut client, sql).await;
        if o.error().is_none() && !o.charged() {
            breaches.push(format!("answered free of charge: {sql}"));
        }
        breaches.extend(single_violations(&o, &secrets(t)));
    }
    let before = ledger(&server, &unit);
    let (_, batches) = fixture::query(&mut client, "SELECT district, population_2020 FROM districts ORDER BY district").await.expect("a public query");
    assert_eq!(fixture::rows(&batches), 12, "every district, exactly");
    assert_eq!(ledger(&server, &unit), before, "a query over public tables alone spends nothing");
    assert!(breaches.is_empty(), "{} breach(es):\n  {}", breaches.len(), breaches.join("\n  "));
    server.stop().await;
}
