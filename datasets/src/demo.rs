//! The demo tables: four tables of a synthetic Changchun, and their embedded manifests.
//!
//! Available without the `generate` feature: governance registers these manifests in its
//! catalog without depending on Arrow or Parquet. The generator (`generate` feature)
//! writes data that matches them column for column.

use crate::manifest::TableManifest;

/// Names of the demo tables, in the order they are generated.
pub const DEMO_TABLES: [&str; 4] = ["residents", "medical_visits", "enterprises", "districts"];

/// The 12 districts and counties of Changchun, in catalog order (the public domain of every
/// `district` column).
pub const DISTRICTS: [&str; 12] = [
    "南关区",
    "宽城区",
    "朝阳区",
    "二道区",
    "绿园区",
    "双阳区",
    "九台区",
    "农安县",
    "榆树市",
    "德惠市",
    "公主岭市",
    "长春新区",
];

/// Public domain of `residents.gender`.
pub const GENDERS: [&str; 2] = ["男", "女"];

/// Public domain of `medical_visits.department`.
pub const DEPARTMENTS: [&str; 10] = [
    "内科",
    "外科",
    "儿科",
    "妇产科",
    "眼科",
    "口腔科",
    "急诊科",
    "中医科",
    "皮肤科",
    "骨科",
];

/// Public domain of `enterprises.industry`.
pub const INDUSTRIES: [&str; 10] = [
    "制造业",
    "批发和零售业",
    "建筑业",
    "交通运输业",
    "信息技术服务业",
    "金融业",
    "房地产业",
    "住宿和餐饮业",
    "农林牧渔业",
    "科学研究和技术服务业",
];

const RESIDENTS_TOML: &str = include_str!("../manifests/residents.toml");
const MEDICAL_VISITS_TOML: &str = include_str!("../manifests/medical_visits.toml");
const ENTERPRISES_TOML: &str = include_str!("../manifests/enterprises.toml");
const DISTRICTS_TOML: &str = include_str!("../manifests/districts.toml");

/// The embedded TOML text of a demo table's manifest, comments included.
pub fn demo_manifest_toml(table: &str) -> Option<&'static str> {
    match table {
        "residents" => Some(RESIDENTS_TOML),
        "medical_visits" => Some(MEDICAL_VISITS_TOML),
        "enterprises" => Some(ENTERPRISES_TOML),
        "districts" => Some(DISTRICTS_TOML),
        _ => None,
    }
}

/// The parsed and validated manifest of one demo table, or `None` for an unknown name.
pub fn demo_manifest(table: &str) -> Option<TableManifest> {
    let text = demo_manifest_toml(table)?;
    // The embedded manifests are constants checked by this crate's tests; a failure here is
    // a build defect, not a runtime condition.
    let manifest = TableManifest::from_toml(text)
        .unwrap_or_else(|e| panic!("embedded manifest of {table} is invalid: {e}"));
    Some(manifest)
}

/// The manifests of the four demo tables, in [`DEMO_TABLES`] order.
pub fn demo_manifests() -> Vec<TableManifest> {
    DEMO_TABLES
        .iter()
        .filter_map(|t| demo_manifest(t))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{ColumnType, RowsPerUnit, Sensitivity};

    fn domain(m: &TableManifest, col: &str) -> Vec<String> {
        m.column(col)
            .and_then(|c| c.public_domain.clone())
            .unwrap_or_default()
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn all_demo_manifests_parse_and_validate() {
        let ms = demo_manifests();
        assert_eq!(ms.len(), 4);
        for (m, name) in ms.iter().zip(DEMO_TABLES) {
            assert_eq!(m.name, name);
            m.validate().expect("valid");
            // Round trip through TOML keeps the manifest.
            let again = TableManifest::from_toml(&m.to_toml().expect("toml")).expect("parse");
            assert_eq!(&again, m);
        }
        assert!(demo_manifest("nope").is_none());
    }

    #[test]
    fn residents_contract() {
        let m = demo_manifest("residents").expect("residents");
        assert_eq!(m.domain, "population");
        assert_eq!(m.classification, crate::Classification::Sensitive);
        let u = m.privacy_unit.as_ref().expect("unit");
        assert_eq!(
            (u.column.as_str(), u.kind.as_str()),
            ("person_id", "person")
        );
        assert_eq!(
            (u.rows_per_unit, u.max_groups, u.max_rows),
            (RowsPerUnit::One, 1, 1)
        );
        let names: Vec<&str> = m.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "person_id",
                "name",
                "id_number",
                "district",
                "gender",
                "age",
                "income",
                "employed"
            ]
        );
        assert_eq!(domain(&m, "district"), strings(&DISTRICTS));
        assert_eq!(domain(&m, "gender"), strings(&GENDERS));
        assert_eq!(m.column("age").and_then(|c| c.bounds()), Some((0.0, 100.0)));
        assert_eq!(
            m.column("income").and_then(|c| c.bounds()),
            Some((0.0, 200000.0))
        );
        assert_eq!(
            m.column("name").map(|c| c.sensitivity),
            Some(Sensitivity::DirectIdentifier)
        );
        assert_eq!(
            m.column("employed").map(|c| c.data_type),
            Some(ColumnType::Boolean)
        );
    }

    #[test]
    fn medical_visits_contract() {
        let m = demo_manifest("medical_visits").expect("visits");
        assert_eq!(m.domain, "health");
        let u = m.privacy_unit.as_ref().expect("unit");
        assert_eq!(
            (u.rows_per_unit, u.max_groups, u.max_rows),
            (RowsPerUnit::Many, 4, 8)
        );
        assert_eq!(u.kind, "person");
        assert_eq!(
            m.column("visit_id").map(|c| c.sensitivity),
            Some(Sensitivity::Personal)
        );
        assert!(m
            .column("hospital")
            .and_then(|c| c.public_domain.as_ref())
            .is_none());
        assert_eq!(domain(&m, "department"), strings(&DEPARTMENTS));
        assert_eq!(
            m.column("cost").and_then(|c| c.bounds()),
            Some((0.0, 50000.0))
        );
        assert_eq!(
            m.column("visit_date").map(|c| c.data_type),
            Some(ColumnType::Date32)
        );
    }

    #[test]
    fn enterprises_and_districts_contract() {
        let e = demo_manifest("enterprises").expect("enterprises");
        assert_eq!(e.classification, crate::Classification::Conditional);
        let u = e.privacy_unit.as_ref().expect("unit");
        assert_eq!(
            (u.column.as_str(), u.kind.as_str()),
            ("credit_code", "enterprise")
        );
        assert_eq!(domain(&e, "industry"), strings(&INDUSTRIES));
        assert_eq!(domain(&e, "district"), strings(&DISTRICTS));
        assert_eq!(
            e.column("founded_year").and_then(|c| c.bounds()),
            Some((1949.0, 2026.0))
        );

        let d = demo_manifest("districts").expect("districts");
        assert_eq!(d.classification, crate::Classification::Open);
        assert!(d.privacy_unit.is_none());
        assert_eq!(d.unique_keys, vec!["district".to_string()]);
        assert!(d
            .columns
            .iter()
            .all(|c| c.sensitivity == Sensitivity::Public));
    }
}
