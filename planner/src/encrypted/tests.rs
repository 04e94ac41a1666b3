//! The fused-query parser and planner: accepted shapes, refusals, the budget split.

use shuyu_privacy::{Comparison, Mechanism, PrivacyDefinition};

use super::*;
use crate::plan::{Calibration, Calibrator};
use crate::{PlannerError, QueryBudget, RefusalCode, ScopeCatalog};

fn enc(c: &str) -> bool {
    c == "claim"
}

fn parse_ok(sql: &str) -> FusedQuery {
    parse(sql, &enc).expect("parses").expect("names an import")
}

fn refusal(sql: &str) -> (RefusalCode, String) {
    match parse(sql, &enc) {
        Err(PlannerError::Refused(r)) => (r.code, r.message),
        other => panic!("expected a refusal for {sql}, got {other:?}"),
    }
}

const JOIN: &str = "FROM imports.claims i JOIN residents r ON i.pseudonym = shuyu_pseudonym(r.person_id)";

#[test]
fn queries_without_imports_are_left_to_the_planner() {
    assert_eq!(parse("SELECT COUNT(*) FROM residents", &enc).expect("ok"), None);
    assert_eq!(parse("not sql at all", &enc).expect("ok"), None);
}

#[test]
fn a_fused_query_splits_into_plaintext_and_encrypted_parts() {
    let q = parse_ok(&format!(
        "SELECT r.district, SUM(i.claim) AS total, COUNT(*) AS n, AVG(claim) {JOIN} WHERE r.age >= 30 AND i.claim > 60 AND 10 <= claim GROUP BY r.district"
    ));
    assert_eq!(q.import, "claims");
    let public = q.public.as_ref().expect("public side");
    assert_eq!((public.table.as_str(), public.key_column.as_str()), ("residents", "person_id"));
    assert_eq!(public.filters, vec!["r.age >= 30".to_string()]);
    assert_eq!(
        q.encrypted_filters,
        vec![
            EncryptedFilter { column: "claim".into(), comparison: Comparison::Gt, constant: 60 },
            EncryptedFilter { column: "claim".into(), comparison: Comparison::Ge, constant: 10 },
        ]
    );
    assert_eq!(q.group_by, vec!["district".to_string()]);
    assert_eq!(q.outputs[0], ("district".to_string(), Output::Group(0)));
    assert_eq!(q.outputs[1], ("total".to_string(), Output::Aggregate(Aggregate::Sum("claim".into()))));
    assert_eq!(q.outputs[2].1, Output::Aggregate(Aggregate::Count));
    assert_eq!(q.outputs[3].1, Output::Aggregate(Aggregate::Avg("claim".into())));
    assert_eq!(q.summed_columns(), vec!["claim".to_string()]);
    assert!(q.needs_count());
}

#[test]
fn unsupported_uses_of_encrypted_columns_are_refused_with_a_reason() {
    let (code, msg) = refusal(&format!("SELECT i.claim {JOIN}"));
    assert_eq!(code, RefusalCode::RowLevelOutput);
    assert!(msg.contains("encrypted column claim cannot be output"), "{msg}");

    let (code, msg) = refusal(&format!("SELECT i.claim, COUNT(*) {JOIN} GROUP BY i.claim"));
    assert_eq!(code, RefusalCode::RowLevelOutput);
    assert!(msg.contains("cannot be grouped by"), "{msg}");

    let (code, msg) = refusal("SELECT SUM(i.claim) FROM imports.claims i JOIN residents r ON i.claim = r.age");
    assert_eq!(code, RefusalCode::UnsupportedJoin);
    assert!(msg.contains("only on its pseudonymised key"), "{msg}");

    let (code, msg) = refusal(&format!("SELECT MAX(i.claim) {JOIN}"));
    assert_eq!(code, RefusalCode::UnsupportedAggregate);
    assert!(msg.contains("max() is not supported"), "{msg}");

    let (code, _) = refusal(&format!("SELECT SUM(i.claim * 2) {JOIN}"));
    assert_eq!(code, RefusalCode::UnsupportedAggregate);

    let (code, msg) = refusal(&format!("SELECT SUM(i.claim) {JOIN} WHERE i.claim > r.age"));
    assert_eq!(code, RefusalCode::UnsupportedAggregate);
    assert!(msg.contains("integer constant"), "{msg}");

    let (code, _) = refusal(&format!("SELECT SUM(i.claim) {JOIN} WHERE i.claim > 1 OR r.age > 3"));
    assert_eq!(code, RefusalCode::UnsupportedAggregate);
}

#[test]
fn group_ids_enumerate_the_product_of_public_domains() {
    let g = Groups { domains: vec![vec!["a".into(), "b".into()], vec!["x".into(), "y".into(), "z".into()]] };
    assert_eq!(g.len(), 6);
    assert_eq!(g.id(&["b", "y"]), Some(4));
    assert_eq!(g.values(4), vec!["b".to_string(), "y".to_string()]);
    assert_eq!(g.id(&["c", "y"]), None);
}

/// A calibrator whose arithmetic the tests can follow: scale = sensitivity / share, and each
/// release costs exactly its share.
struct Proportional;

impl Calibrator for Proportional {
    fn calibrate_vector(&self, d: PrivacyDefinition, sensitivity: f64, budget: f64) -> Result<Calibration, PlannerError> {
        let mechanism = Mechanism::for_definition(d, true);
        Ok(Calibration { mechanism, scale: sensitivity / budget, cost: budget, delta: 0.0, threshold: 0, half_width: 3.0 * sensitivity / budget })
    }

    fn calibrate_selection(&self, _: PrivacyDefinition, _: f64, _: f64, _: u32) -> Result<Calibration, PlannerError> {
        panic!("a fused query selects no partitions")
    }

    fn calibrate_quantile(&self, _: PrivacyDefinition, _: f64, _: f64, _: u32, _: u32) -> Result<Calibration, PlannerError> {
        panic!("a fused query has no quantile")
    }
}

fn claims(verified: bool) -> ImportShape {
    ImportShape { name: "claims".into(), rows: 4, columns: vec![ImportColumn { name: "claim".into(), bound: 200, bound_verified: verified }] }
}

fn catalog() -> ScopeCatalog {
    let mut catalog = ScopeCatalog::default();
    for m in shuyu_datasets::demo::demo_manifests() {
        catalog.insert(m);
    }
    catalog
}

fn plan_refusal(sql: &str, import: ImportShape) -> (RefusalCode, String) {
    match plan(sql, import, &catalog(), QueryBudget::pure(1.0), &Proportional) {
        Err(PlannerError::Refused(r)) => (r.code, r.message),
        other => panic!("expected a refusal for {sql}, got {other:?}"),
    }
}

#[test]
fn a_fused_plan_splits_the_budget_evenly_and_composes_by_the_common_rule() {
    let sql = format!("SELECT COUNT(*) AS n, SUM(i.claim) AS total {JOIN} WHERE r.age >= 18 AND i.claim > 60");
    let p = plan(&sql, claims(true), &catalog(), QueryBudget::pure(1.0), &Proportional).expect("plans");
    // Two releases (the sum, then the count under the encrypted condition), half each.
    assert_eq!(p.releases(), 2);
    assert_eq!(p.sums().collect::<Vec<_>>(), vec![("claim", 200)]);
    assert!(p.count);
    let c = p.calibrations();
    assert_eq!(c.len(), 2);
    assert!((c[0].cost - 0.5).abs() < 1e-9 && (c[1].cost - 0.5).abs() < 1e-9, "{c:?}");
    assert!((c[0].scale - 400.0).abs() < 1e-6 && (c[1].scale - 2.0).abs() < 1e-6, "{c:?}");
    // Each share is a hair under its exact value, so the composed cost never exceeds 1.
    assert!(p.total_cost() <= 1.0 && p.total_cost() > 1.0 - 1e-9, "{}", p.total_cost());
    assert_eq!(p.groups.len(), 1);
    assert_eq!(p.measurements[1].label, "count(*) under encryption");
}

#[test]
fn a_fused_plan_groups_by_the_product_of_public_domains() {
    let sql = format!("SELECT r.district, SUM(i.claim) AS total {JOIN} GROUP BY r.district");
    let p = plan(&sql, claims(true), &catalog(), QueryBudget::pure(1.0), &Proportional).expect("plans");
    let districts = catalog().column("residents", "district").and_then(|c| c.public_domain.clone()).expect("a public domain");
    assert_eq!(p.groups.len(), districts.len());
    assert!(!p.count);
    assert!((p.total_cost() - 1.0).abs() < 1e-9);
    let explained = explain::explain_batch(&p, &[true]);
    assert_eq!(explained.num_rows(), 2, "the sum and the total");
    let measure = explained.column(2).as_any().downcast_ref::<arrow::array::StringArray>().expect("text").value(0).to_string();
    assert_eq!(measure, "sum(claim) under encryption (linear tier, converted at import, bound 200 verified at import)");
}

#[test]
fn a_fused_plan_refuses_what_it_cannot_release() {
    let sum = format!("SELECT SUM(i.claim) {JOIN}");
    let (code, msg) = plan_refusal(&sum, claims(false));
    assert_eq!(code, RefusalCode::UnboundedSensitivity);
    assert!(msg.contains("linear-tier"), "{msg}");

    let (code, msg) = plan_refusal("SELECT SUM(i.claim) FROM imports.claims i JOIN residents r ON i.pseudonym = shuyu_pseudonym(r.age)", claims(true));
    assert_eq!(code, RefusalCode::UnsupportedJoin);
    assert!(msg.contains("the table's privacy-unit column"), "{msg}");

    let (code, msg) = plan_refusal(&format!("SELECT r.age, SUM(i.claim) {JOIN} GROUP BY r.age"), claims(true));
    assert_eq!(code, RefusalCode::PartitionSelectionNeedsDelta);
    assert!(msg.contains("declared public domain"), "{msg}");

    let (code, _) = match plan(&sum, claims(true), &catalog(), QueryBudget::pure(-1.0), &Proportional) {
        Err(PlannerError::Refused(r)) => (r.code, r.message),
        other => panic!("a negative budget plans: {other:?}"),
    };
    assert_eq!(code, RefusalCode::InvalidBudget);
}
