//! Channels 8 and 9 of docs/threat-model.md: δ and composition across authorizations.
//!
//! Partition selection (grouping by a column without a public domain) spends δ: the
//! probability that a key one person alone holds is released. An attacker who could spend δ
//! without limit (a query with many selections, or many queries) would eventually see such a
//! key. A unit holding several authorizations over one dataset could likewise spend each of
//! their budgets on the same people. Both are answered through Flight SQL with the
//! accounting in the result metadata, and refused before anything runs once spent.

use arrow::datatypes::Schema;
use chrono::Duration;
use shuyu::demo::DemoUnit;
use shuyu_governance::{
    Atto, AuthorizationId, BudgetTerms, ExportPolicy, GrantedDataset, Mode, Nano, NewAuthorization, PrivacyTerms, Right,
};
use shuyu_privacy::PrivacyDefinition;
use tonic::Code;

use crate::fixture::{self, code, message, TestServer};

/// Two grouped releases over `hospital` (no public domain): two partition selections.
const TWO_SELECTIONS: &str = "SELECT a.hospital, a.visits, b.avg_cost \
    FROM (SELECT hospital, COUNT(*) AS visits FROM medical_visits GROUP BY hospital) a \
    JOIN (SELECT hospital, AVG(cost) AS avg_cost FROM medical_visits GROUP BY hospital) b ON a.hospital = b.hospital";

/// Grouped by a public-domain column only: no selection, no δ.
const PUBLIC_KEYS: &str = "SELECT department, COUNT(*) AS visits FROM medical_visits GROUP BY department";

fn md<'a>(schema: &'a Schema, key: &str) -> &'a str {
    schema.metadata().get(key).map(String::as_str).unwrap_or_else(|| panic!("the answer carries {key}"))
}

fn atto(schema: &Schema, key: &str) -> Atto {
    Atto::parse_decimal(md(schema, key), key).unwrap_or_else(|e| panic!("{key} is an exact decimal: {e}"))
}

/// The entry of `dataset` in `shuyu.loss`.
fn loss(schema: &Schema, dataset: &str) -> serde_json::Value {
    let all: serde_json::Value = serde_json::from_str(md(schema, "shuyu.loss")).expect("shuyu.loss is JSON");
    all.as_array()
        .expect("shuyu.loss is an array")
        .iter()
        .find(|l| l["dataset"] == dataset)
        .unwrap_or_else(|| panic!("shuyu.loss has {dataset}: {all}"))
        .clone()
}

/// Grants `unit` a further authorization over residents and medical_visits.
fn grant(server: &TestServer, unit: &DemoUnit, privacy: PrivacyTerms, budget: BudgetTerms) -> AuthorizationId {
    let store = &server.domain.store;
    let now = store.now();
    let columns = |c: &[&str]| c.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let a = NewAuthorization {
        unit: unit.unit,
        scenario: "second-study".into(),
        purpose: "a second study of the same people".into(),
        partners: vec![],
        datasets: vec![
            GrantedDataset { dataset: "residents".into(), columns: columns(&["person_id", "district", "age", "employed"]) },
            GrantedDataset { dataset: "medical_visits".into(), columns: columns(&["person_id", "hospital", "department", "cost"]) },
        ],
        term_start: now - Duration::days(1),
        term_end: now + Duration::days(30),
        rights: vec![Right::ProcessingUse],
        mode: Mode::Free,
        privacy,
        budget,
        export_policy: ExportPolicy::Automatic,
    };
    store.grant(&server.domain.bureau, &a).expect("grant a second authorization")
}

/// Attack: spend δ without limit. Send a query with two partition selections (each would
/// get the whole δ if δ were not split) again and again (each would spend δ afresh if the
/// ledger did not track it). Secure: one query's δ is at most the per-query δ however many
/// selections it makes; each answer says exactly what δ it was charged and what is left;
/// once the authorization's δ total is spent the next selection is refused before it runs
/// and nothing is charged; a query without selection still runs and spends no δ.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delta_is_split_across_selections_budgeted_and_refused_once_spent() {
    let server = TestServer::start().await;
    let unit = server.health().clone();
    let per_query = 1e-6;
    let auth = grant(
        &server,
        &unit,
        PrivacyTerms { kind: PrivacyDefinition::Zcdp, delta: per_query },
        BudgetTerms { total: 2.0, per_query_cap: 0.5, per_query_default: 0.1, delta_total: Some(2.5e-6) },
    );
    let mut client = server.client_under(&unit, auth).await;

    // The premise: the query makes two partition selections.
    let (_, explained) = fixture::query(&mut client, &format!("EXPLAIN PRIVACY {TWO_SELECTIONS}")).await.expect("explain");
    let selections = explained
        .iter()
        .map(|b| {
            let column = b.column_by_name("column").expect("column").as_any().downcast_ref::<arrow::array::StringArray>().expect("text");
            column.iter().filter(|c| *c == Some("(keys)")).count()
        })
        .sum::<usize>();
    assert_eq!(selections, 2, "the attack query makes two partition selections");

    let per_query_atto = Atto::charge(per_query, "delta").expect("delta");
    let total = Atto::grant(2.5e-6, "delta").expect("delta total");
    let mut spent = Atto::ZERO;
    let mut charges: Vec<Atto> = Vec::new();
    let refusal = loop {
        let spent_before = server.domain.store.budget(&server.domain.bureau, auth).expect("budget").spent;
        let i = charges.len();
        let schema = match fixture::query(&mut client, TWO_SELECTIONS).await {
            Ok((schema, _)) => schema,
            Err(e) => {
                let after = server.domain.store.budget(&server.domain.bureau, auth).expect("budget");
                assert_eq!((after.spent, after.reserved, after.delta_spent), (spent_before, Nano::ZERO, spent), "the refused query charged nothing");
                break e;
            }
        };
        assert!(i < 10, "the delta total of 2.5e-6 let more than 10 selection queries through");
        // Each selection's δ is at most its share; the integer threshold may make it less.
        let charged = atto(&schema, "shuyu.delta_charged");
        assert!(charged > Atto::ZERO && charged <= per_query_atto, "query {i}: two selections charged {charged}, not within (0, {per_query_atto}]");
        spent = spent.checked_add(charged).expect("sum");
        charges.push(charged);
        assert_eq!(atto(&schema, "shuyu.delta_total"), total, "query {i}");
        assert_eq!(atto(&schema, "shuyu.delta_remaining"), total.saturating_sub(spent), "query {i}: remaining = total - charged, exactly");
        // The unit's loss on medical_visits is what these queries charged, plus the δ′ of
        // showing rho as (ε, δ) (the demo's own authorization has not read the dataset).
        let l = loss(&schema, "medical_visits");
        let expected = spent.checked_add(shuyu_governance::CONVERSION_DELTA).expect("sum");
        assert_eq!(l["delta"], expected.to_string(), "query {i}: {l}");
    };
    // The same query costs the same δ each time; the ledger let through exactly as many as
    // the total holds, and refused the next with a reason.
    assert!(!charges.is_empty(), "the first selection query was refused: {}", message(&refusal));
    assert!(charges.windows(2).all(|w| w[0] == w[1]), "one query, one delta: {charges:?}");
    assert_eq!(charges.len() as u64, total.0 / charges[0].0, "{} answered of a total {total} at {} each", charges.len(), charges[0]);
    assert_eq!(code(&refusal), Code::ResourceExhausted, "{}", message(&refusal));
    assert!(
        message(&refusal).contains("delta") && message(&refusal).contains("delta total"),
        "the refusal says delta ran out and what to do: {}",
        message(&refusal)
    );

    let (schema, _) = fixture::query(&mut client, PUBLIC_KEYS).await.expect("no selection needs no delta");
    assert_eq!(atto(&schema, "shuyu.delta_charged"), Atto::ZERO);
    assert_eq!(atto(&schema, "shuyu.delta_remaining"), total.saturating_sub(spent));
    server.stop().await;
}

/// Attack: a unit holding two authorizations over residents spends both budgets on the
/// same people (each authorization's ledger alone would allow it). Secure: the answer shows
/// the unit's composed loss on residents over both authorizations; with the bureau's cap on
/// (unit, residents), a query that would pass it is refused under either authorization
/// before it runs, though each has budget left, and nothing is charged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_units_loss_on_a_dataset_composes_across_its_authorizations_and_is_capped() {
    let server = TestServer::start().await;
    let unit = server.jobs().clone();
    let second = grant(
        &server,
        &unit,
        PrivacyTerms { kind: PrivacyDefinition::PureDp, delta: 0.0 },
        BudgetTerms { total: 10.0, per_query_cap: 2.0, per_query_default: 1.0, delta_total: None },
    );
    let store = &server.domain.store;
    store.set_loss_cap(&server.domain.bureau, unit.unit, "residents", 2.5, 0.0).expect("cap");
    let query = "SELECT district, COUNT(*) AS n FROM residents GROUP BY district";
    let mut first = server.client(&unit).await;
    let mut other = server.client_under(&unit, second).await;

    let (schema, _) = fixture::query(&mut first, query).await.expect("1 of 2.5");
    let l = loss(&schema, "residents");
    assert_eq!((l["epsilon"].as_str(), l["cap_epsilon"].as_str(), l["remaining_epsilon"].as_str()), (Some("1"), Some("2.5"), Some("1.5")), "{l}");
    let (schema, _) = fixture::query(&mut other, query).await.expect("2 of 2.5");
    let l = loss(&schema, "residents");
    assert_eq!((l["epsilon"].as_str(), l["remaining_epsilon"].as_str()), (Some("2"), Some("0.5")), "both authorizations compose: {l}");

    for (name, client, auth) in [("first", &mut first, unit.authorization), ("second", &mut other, second)] {
        let before = store.budget(&server.domain.bureau, auth).expect("budget");
        let e = fixture::query(client, query).await.expect_err("3 > 2.5");
        assert_eq!(code(&e), Code::ResourceExhausted, "{name}: {}", message(&e));
        assert!(message(&e).contains("on dataset residents"), "{name}: the refusal names the dataset: {}", message(&e));
        let after = store.budget(&server.domain.bureau, auth).expect("budget");
        assert!(after.remaining >= Nano::charge(1.0, "one query").expect("nano"), "{name}: the authorization alone has budget left");
        assert_eq!((after.spent, after.reserved), (before.spent, Nano::ZERO), "{name}: the refused query charged nothing");
    }
    server.stop().await;
}
