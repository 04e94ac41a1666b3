//! The demo's walk through the authorization workflow (Art. 9, 16, 17), once end to end:
//! the bureau publishes the year's announcement; a prospective unit's contact applies with
//! its declared qualifications and the digests of its documents; the bureau reviews the
//! qualifications, two third-party experts give their opinions, the bureau records the
//! coordination group's decision and signs the agreement, which admits the unit with its
//! first authorization; the new unit then requests data for a second scenario, which the
//! bureau and the provider of each dataset approve before the bureau grants it.
//!
//! Every step is the same governance operation the admin API and the console call. The
//! people it creates (a supervisor, two experts, the providers' staff, the applicant) get
//! console sign-ins in `credentials.json`.

use chrono::Duration as ChronoDuration;
use sha2::{Digest, Sha256};
use shuyu_governance::{
    AgreementTerms, AnnouncementId, ApplicationId, Attachment, AuthorizationId, BudgetTerms, DataRequestId, ExportPolicy,
    GrantedDataset, Mode, NewAnnouncement, NewApplication, NewDataRequest, NewPerson, Principal, PrivacyTerms,
    Qualifications, Right, Role, Store, UnitId,
};
use shuyu_privacy::PrivacyDefinition;

use super::{cols, credit_code, id_number, token_ttl, DemoDomain};
use crate::Error;

/// A person of the demo with a console sign-in.
#[derive(Debug, Clone)]
pub struct SignIn {
    /// The person's name.
    pub name: String,
    /// The person's role.
    pub role: Role,
    /// The unit's name, for a unit's analyst.
    pub unit: Option<String>,
    /// The bearer token to sign in with.
    pub token: String,
}

/// What the walk left behind.
#[derive(Debug, Clone)]
pub struct Walk {
    /// The announcement.
    pub announcement: AnnouncementId,
    /// The application.
    pub application: ApplicationId,
    /// The unit the agreement admitted.
    pub unit: UnitId,
    /// The unit's name.
    pub unit_name: &'static str,
    /// Its first authorization (from the agreement).
    pub agreement: AuthorizationId,
    /// The data request.
    pub request: DataRequestId,
    /// The authorization the request was granted as.
    pub granted: AuthorizationId,
    /// The new unit's analyst (the former applicant), signed in again after the agreement.
    pub analyst: Principal,
    /// The people created on the way, with their console sign-ins.
    pub sign_ins: Vec<SignIn>,
}

/// The unit admitted through the workflow.
pub const UNIT_NAME: &str = "nanhu-mobility";

fn person(store: &Store, bureau: &Principal, name: &str, id: &str, role: Role, provider: Option<&str>) -> Result<(Principal, SignIn), Error> {
    let new = NewPerson { name: name.into(), id_number: id_number(id)?, role, unit: None, provider: provider.map(str::to_string) };
    let id = store.create_person(bureau, &new)?;
    let token = store.issue_token(bureau, id, token_ttl())?;
    let token = token.token.expose().to_string();
    let principal = store.authenticate(&token)?;
    Ok((principal, SignIn { name: name.into(), role, unit: None, token }))
}

fn digest(document: &str) -> Attachment {
    Attachment { name: document.into(), sha256: hex::encode(Sha256::digest(document.as_bytes())) }
}

/// Walks the workflow once over the demo domain, printing each step.
pub fn walk(domain: &DemoDomain) -> Result<Walk, Error> {
    let store = &domain.store;
    let bureau = &domain.bureau;
    let now = store.now();
    let mut sign_ins = Vec::new();
    println!("\n=============== the authorization workflow ===============");
    let (_, supervisor) = person(store, bureau, "吉林省网信办 监督员", "22010219750101004", Role::Supervisor, None)?;
    sign_ins.push(supervisor);
    let mut experts = Vec::new();
    for (name, id) in [("赵立 (第三方专家)", "22010219700505005"), ("孙悦 (第三方专家)", "22010219720909006")] {
        let (p, s) = person(store, bureau, name, id, Role::Expert, None)?;
        experts.push(p);
        sign_ins.push(s);
    }
    let mut providers = Vec::new();
    for (name, id, provider) in [
        ("公安局人口管理 数据专员", "22010219810101007", "长春市公安局人口管理"),
        ("卫生健康委员会 数据专员", "22010219820202008", "长春市卫生健康委员会"),
    ] {
        let (p, s) = person(store, bureau, name, id, Role::Provider, Some(provider))?;
        providers.push(p);
        sign_ins.push(s);
    }
    let (applicant, applicant_sign_in) = person(store, bureau, "周航 (南湖出行 申请联系人)", "22010619910606009", Role::Applicant, None)?;

    let announcement = store.publish_announcement(
        bureau,
        &NewAnnouncement {
            year: 2027,
            title: "2027 年度公共数据授权运营公告".into(),
            conditions: "申报单位须满足《办法》第十二条资格要求与第十三条技术与安全要求；按应用场景申报，遵循一场景一授权、最小必要原则。".into(),
            opens_at: now - ChronoDuration::hours(1),
            closes_at: now + ChronoDuration::days(30),
            min_expert_opinions: 2,
        },
    )?;
    println!("== bureau publishes {announcement}: applications open for 30 days, two expert opinions required");

    let company_code = credit_code("91220103MA0000003")?;
    let application = store.submit_application(
        &applicant,
        &NewApplication {
            announcement,
            company: UNIT_NAME.into(),
            credit_code: company_code,
            scenario: "mobility".into(),
            purpose: "通勤与出行研究：各区人口结构与出行需求".into(),
            qualifications: Qualifications {
                good_standing: true,
                no_major_violations: true,
                not_dishonest: true,
                security_officer: "数据安全部 周航".into(),
                mlps_level3: true,
                dsmm_level3: true,
                no_high_risk: true,
            },
            attachments: vec![digest("营业执照.pdf"), digest("等保三级测评报告.pdf"), digest("DSMM 三级证书.pdf")],
        },
    )?;
    println!("== {UNIT_NAME} applies ({application}) with its qualifications (Art. 12, 13) and three documents' digests");
    store.review_qualification(bureau, application, true, "资格审查通过：第十二条、第十三条声明事项齐全")?;
    println!("== bureau: qualification review passed; sent to the third-party experts");
    for (expert, opinion) in experts.iter().zip(["场景明确，数据需求符合最小必要原则", "安全体系评估无中高风险项，建议授权"]) {
        store.record_expert_opinion(expert, application, true, opinion)?;
    }
    println!("== two experts recommend it");
    store.decide_application(bureau, application, true, "协调工作组审定通过")?;
    println!("== bureau records the coordination group's decision: approved");
    let agreement = store.sign_agreement(
        bureau,
        application,
        &AgreementTerms {
            scenario: "mobility".into(),
            purpose: "通勤与出行研究：各区人口结构与出行需求".into(),
            partners: vec![],
            datasets: vec![
                GrantedDataset { dataset: "residents".into(), columns: cols(&["person_id", "district", "age", "employed"]) },
                GrantedDataset { dataset: "districts".into(), columns: cols(&["district", "area_km2", "population_2020"]) },
            ],
            term_start: now - ChronoDuration::minutes(1),
            term_end: now + ChronoDuration::days(365),
            rights: vec![Right::ProcessingUse],
            mode: Mode::Free,
            privacy: PrivacyTerms { kind: PrivacyDefinition::Zcdp, delta: 1e-6 },
            budget: BudgetTerms { total: 1.0, per_query_cap: 0.25, per_query_default: 0.05, delta_total: None },
            export_policy: ExportPolicy::Automatic,
        },
    )?;
    println!("== agreement signed: {UNIT_NAME} admitted as {}, first authorization {}", agreement.unit, agreement.authorization);

    // The applicant is now the unit's analyst: its session's role changed, so it signs in again.
    let analyst = store.authenticate(&applicant_sign_in.token)?;
    sign_ins.push(SignIn { role: Role::UnitAnalyst, unit: Some(UNIT_NAME.into()), ..applicant_sign_in });
    let request = store.submit_data_request(
        &analyst,
        &NewDataRequest {
            scenario: "commute-health".into(),
            purpose: "通勤人群就医可达性：各区就诊科室分布".into(),
            partners: vec!["长春市交通运输局".into()],
            datasets: vec![
                GrantedDataset { dataset: "residents".into(), columns: cols(&["person_id", "district", "age"]) },
                GrantedDataset { dataset: "medical_visits".into(), columns: cols(&["visit_id", "person_id", "department"]) },
            ],
            term_start: now - ChronoDuration::minutes(1),
            term_end: now + ChronoDuration::days(180),
            rights: vec![Right::ProcessingUse],
            mode: Mode::Free,
            privacy: PrivacyTerms { kind: PrivacyDefinition::Zcdp, delta: 1e-6 },
            budget: BudgetTerms { total: 0.5, per_query_cap: 0.25, per_query_default: 0.05, delta_total: None },
            export_policy: ExportPolicy::Automatic,
        },
    )?;
    println!("== {UNIT_NAME} requests data for scenario commute-health ({request}): residents, medical_visits");
    store.review_data_request(bureau, request, true, "场景明确，列最小必要")?;
    for provider in &providers {
        store.review_data_request(provider, request, true, "同意提供")?;
    }
    println!("== the bureau and both providers approve");
    let granted = store.grant_data_request(bureau, request)?;
    println!("== bureau grants it as {granted}");
    Ok(Walk {
        announcement,
        application,
        unit: agreement.unit,
        unit_name: UNIT_NAME,
        agreement: agreement.authorization,
        request,
        granted,
        analyst,
        sign_ins,
    })
}
