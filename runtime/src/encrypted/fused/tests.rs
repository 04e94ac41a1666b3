//! The fused-query parser: accepted shapes and refusals.

use super::*;

fn enc(c: &str) -> bool {
    c == "claim"
}

fn parse_ok(sql: &str) -> FusedQuery {
    parse(sql, &enc).expect("parses").expect("names an import")
}

fn refusal(sql: &str) -> (RefusalCode, String) {
    match parse(sql, &enc) {
        Err(RuntimeError::Planner(PlannerError::Refused(r))) => (r.code, r.message),
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
