//! Between governance's types and the admin service's messages: governance objects to
//! protobuf messages, and request fields (times, enumerations, amounts) to governance's
//! types, with an [`Error::Usage`] naming the field when one is malformed.

use chrono::{DateTime, Utc};
use shuyu_governance as gov;
use shuyu_privacy::PrivacyDefinition;
use shuyu_proto::admin::v1 as pb;

use crate::Error;

/// A time as RFC 3339 (UTC, seconds unless finer is stored).
pub fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// Parses an RFC 3339 time of request field `field`.
pub fn parse_time(text: &str, field: &str) -> Result<DateTime<Utc>, Error> {
    DateTime::parse_from_rfc3339(text.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| Error::Usage(format!("{field} must be an RFC 3339 time such as 2026-01-31T00:00:00Z")))
}

/// Parses an optional RFC 3339 time (absent or empty: `None`).
pub fn parse_optional_time(text: Option<&str>, field: &str) -> Result<Option<DateTime<Utc>>, Error> {
    match text.map(str::trim) {
        None | Some("") => Ok(None),
        Some(t) => parse_time(t, field).map(Some),
    }
}

/// Parses a stored enumeration name with its `parse` function, listing the accepted names
/// when it is not one of them.
pub fn parse_enum<T>(text: &str, field: &str, parse: fn(&str) -> Option<T>, accepted: &[&str]) -> Result<T, Error> {
    parse(text.trim()).ok_or_else(|| Error::Usage(format!("{field} must be one of: {}", accepted.join(", "))))
}

/// The roles' names, for messages.
pub const ROLES: &[&str] = &["bureau_admin", "supervisor", "unit_analyst", "provider", "expert", "applicant"];
/// The rights' names.
pub const RIGHTS: &[&str] = &["processing_use", "product_operation"];
/// The export policies' names.
pub const EXPORT_POLICIES: &[&str] = &["automatic", "review"];
/// The export statuses' names.
pub const EXPORT_STATUSES: &[&str] = &["pending", "automatic", "approved", "rejected"];
/// The job statuses' names.
pub const JOB_STATUSES: &[&str] = &["running", "succeeded", "failed", "refused"];

/// A catalog entry.
pub fn dataset(d: &gov::Dataset) -> pb::Dataset {
    let classification = serde_json::to_value(d.classification()).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
    pb::Dataset {
        id: d.id.0,
        name: d.name().to_string(),
        domain: d.manifest.domain.clone(),
        classification,
        location: d.location.clone().unwrap_or_default(),
        registered_at: time(d.registered_at),
        columns: u32::try_from(d.manifest.columns.len()).unwrap_or(u32::MAX),
        manifest_json: serde_json::to_string(&d.manifest).unwrap_or_default(),
    }
}

/// An operating unit.
pub fn unit(u: &gov::Unit) -> pb::Unit {
    pb::Unit { id: u.id.0, name: u.name.clone(), credit_code: u.credit_code.clone(), status: u.status.to_string(), created_at: time(u.created_at) }
}

/// A person (never an ID number: only its salted hash is stored).
pub fn person(p: &gov::Person) -> pb::Person {
    pb::Person { id: p.id.0, name: p.name.clone(), role: p.role.to_string(), unit: p.unit.map(|u| u.0), provider: p.provider.clone(), active: p.active }
}

/// A freshly issued token, with its secret (this is the only time it is sent).
pub fn issued(t: &gov::IssuedToken) -> pb::IssuedToken {
    pb::IssuedToken { credential: t.credential.0, person: t.person.0, token: t.token.expose().to_string(), expires_at: time(t.expires_at) }
}

/// A token's record, without its secret.
pub fn token_info(c: &gov::CredentialInfo) -> pb::TokenInfo {
    pb::TokenInfo {
        credential: c.id.0,
        person: c.person.0,
        issued_at: time(c.issued_at),
        expires_at: time(c.expires_at),
        revoked_at: c.revoked_at.map(time),
    }
}

/// A budget: total, spent, reserved and left, in the authorization's unit, and the same
/// for delta.
pub fn budget(b: &gov::Budget) -> pb::Budget {
    pb::Budget {
        unit: b.kind.unit_name().to_string(),
        total: b.total.to_string(),
        spent: b.spent.to_string(),
        reserved: b.reserved.to_string(),
        remaining: b.remaining.to_string(),
        delta_per_query: b.delta_per_query.to_string(),
        delta_total: b.delta_total.to_string(),
        delta_spent: b.delta_spent.to_string(),
        delta_reserved: b.delta_reserved.to_string(),
        delta_remaining: b.delta_remaining.to_string(),
    }
}

/// A unit's composed privacy loss on one dataset.
pub fn privacy_loss(l: &gov::PrivacyLoss) -> pb::PrivacyLoss {
    pb::PrivacyLoss {
        unit: l.unit.0,
        dataset: l.dataset.clone(),
        authorizations: l.authorizations.iter().map(|a| a.0).collect(),
        pure_epsilon: l.pure_epsilon.to_string(),
        rho: l.rho.to_string(),
        charged_delta: l.charged_delta.to_string(),
        conversion_delta: l.conversion_delta.to_string(),
        epsilon: l.epsilon.to_string(),
        delta: l.delta.to_string(),
        cap_epsilon: l.cap.map(|c| c.epsilon.to_string()),
        cap_delta: l.cap.map(|c| c.delta.to_string()),
        remaining_epsilon: l.remaining.map(|r| r.0.to_string()),
        remaining_delta: l.remaining.map(|r| r.1.to_string()),
    }
}

/// An authorization with its budget.
pub fn authorization(a: &gov::Authorization, b: &gov::Budget) -> pb::AuthorizationView {
    let (mode, price_cents) = match a.mode {
        gov::Mode::Free => ("free", None),
        gov::Mode::Paid { price_cents } => ("paid", Some(price_cents)),
    };
    pb::AuthorizationView {
        id: a.id.0,
        unit: a.unit.0,
        scenario: a.scenario.clone(),
        purpose: a.purpose.clone(),
        partners: a.partners.clone(),
        datasets: a.datasets.iter().map(|d| pb::GrantedDataset { dataset: d.dataset.clone(), columns: d.columns.clone() }).collect(),
        term_start: time(a.term_start),
        term_end: time(a.term_end),
        rights: a.rights.iter().map(|r| r.to_string()).collect(),
        mode: mode.to_string(),
        price_cents,
        privacy: a.privacy.kind.to_string(),
        delta: a.privacy.delta,
        per_query_cap: a.per_query_cap.to_string(),
        per_query_default: a.per_query_default.to_string(),
        export_policy: a.export_policy.to_string(),
        status: a.status.to_string(),
        budget: Some(budget(b)),
    }
}

/// A grant request, checked for form (governance checks the substance).
pub fn new_authorization(r: &pb::GrantAuthorizationRequest, now: DateTime<Utc>) -> Result<gov::NewAuthorization, Error> {
    let rights = r
        .rights
        .iter()
        .map(|t| parse_enum(t, "rights", gov::Right::parse, RIGHTS))
        .collect::<Result<Vec<_>, _>>()?;
    let term_end = parse_optional_time(Some(&r.term_end), "term_end")?
        .ok_or_else(|| Error::Usage("term_end is required: the end of the authorization's term (RFC 3339)".into()))?;
    Ok(gov::NewAuthorization {
        unit: gov::UnitId(r.unit),
        scenario: r.scenario.clone(),
        purpose: r.purpose.clone(),
        partners: r.partners.clone(),
        datasets: r.datasets.iter().map(|d| gov::GrantedDataset { dataset: d.dataset.clone(), columns: d.columns.clone() }).collect(),
        term_start: parse_optional_time(Some(&r.term_start), "term_start")?.unwrap_or(now),
        term_end,
        rights,
        mode: match r.price_cents {
            None => gov::Mode::Free,
            Some(price_cents) => gov::Mode::Paid { price_cents },
        },
        privacy: gov::PrivacyTerms { kind: parse_enum(&r.privacy, "privacy", PrivacyDefinition::parse, PrivacyDefinition::NAMES)?, delta: r.delta },
        budget: gov::BudgetTerms {
            total: r.budget_total,
            per_query_cap: r.per_query_cap,
            per_query_default: r.per_query_default,
            delta_total: r.delta_total,
        },
        export_policy: parse_enum(&r.export_policy, "export_policy", gov::ExportPolicy::parse, EXPORT_POLICIES)?,
    })
}

/// A job. Its SQL is the analyst's own text, shown to the bureau for review.
pub fn job(j: &gov::Job) -> pb::Job {
    pb::Job {
        id: j.id.0,
        unit: j.unit.0,
        authorization: j.authorization.0,
        person: j.person.0,
        sql: j.sql.clone(),
        environment: j.environment.to_string(),
        status: j.status.to_string(),
        created_at: time(j.created_at),
        finished_at: j.finished_at.map(time),
        cost: j.cost.to_string(),
        releases: j.metering.releases,
        rows_scanned: j.metering.rows_scanned,
        datasets: j.datasets.clone(),
        failure: j.failure.clone(),
    }
}

/// An import request.
pub fn import(i: &gov::Import) -> pb::Import {
    pb::Import {
        id: i.id.0,
        unit: i.unit.0,
        name: i.name.clone(),
        description: i.description.clone(),
        status: i.status.to_string(),
        requested_at: time(i.requested_at),
        reviewed_at: i.reviewed_at.map(time),
    }
}

/// An export request.
pub fn export(e: &gov::ExportRecord) -> pb::Export {
    pb::Export {
        id: e.id.0,
        product: e.product.0,
        unit: e.unit.0,
        status: e.status.to_string(),
        requested_at: time(e.requested_at),
        reviewed_at: e.reviewed_at.map(time),
        manifest_json: e.manifest.as_ref().and_then(|m| serde_json::to_string(m).ok()),
    }
}

/// What a revocation ended and deleted (paths counted, not named).
pub fn revocation(r: &gov::RevocationReport) -> pb::Revocation {
    pb::Revocation {
        unit: r.unit.map(|u| u.0),
        authorizations_revoked: r.authorizations_revoked.iter().map(|a| a.0).collect(),
        credentials_revoked: r.credentials_revoked,
        products_deleted: r.products_deleted,
        imports_deleted: r.imports_deleted,
        paths_deleted: r.deleted_paths.len() as u64,
    }
}

/// An audit filter from a query request.
pub fn audit_filter(r: &pb::QueryAuditRequest) -> Result<gov::AuditFilter, Error> {
    Ok(gov::AuditFilter {
        unit: r.unit.map(gov::UnitId),
        action: r.action.clone(),
        action_prefix: r.action_prefix.clone(),
        from: parse_optional_time(r.from.as_deref(), "from")?,
        to: parse_optional_time(r.to.as_deref(), "to")?,
        after_seq: r.after_seq,
        limit: r.limit,
    })
}

/// An audit record.
pub fn audit_record(r: &gov::AuditRecord) -> pb::AuditRecord {
    pb::AuditRecord {
        seq: r.seq,
        at: time(r.at),
        actor_person: r.actor_person.map(|p| p.0),
        unit: r.unit.map(|u| u.0),
        role: r.role.clone(),
        action: r.action.clone(),
        object: r.object.clone(),
        outcome: r.outcome.to_string(),
        cost: r.cost.to_string(),
        details_json: r.details.to_string(),
        hash: r.hash.clone(),
    }
}

/// The result of verifying the audit chain.
pub fn verify_report(v: &gov::VerifyReport) -> pb::VerifyAuditResponse {
    pb::VerifyAuditResponse {
        records: v.records,
        anchor_seq: v.anchor_seq,
        anchor_hash: v.anchor_hash.clone(),
        head_seq: v.head_seq,
        head_hash: v.head_hash.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip_and_bad_ones_name_their_field() {
        let t = parse_time("2026-03-01T08:30:00+08:00", "from").expect("time");
        assert_eq!(time(t), "2026-03-01T00:30:00Z");
        match parse_time("yesterday", "term_end") {
            Err(Error::Usage(m)) => assert!(m.starts_with("term_end must be an RFC 3339 time"), "{m}"),
            other => panic!("expected a usage error, got {other:?}"),
        }
        assert_eq!(parse_optional_time(Some(" "), "to").expect("empty"), None);
    }

    #[test]
    fn enumerations_list_what_is_accepted() {
        assert_eq!(parse_enum("zcdp", "privacy", PrivacyDefinition::parse, PrivacyDefinition::NAMES).expect("kind"), PrivacyDefinition::Zcdp);
        match parse_enum("rho", "privacy", PrivacyDefinition::parse, PrivacyDefinition::NAMES) {
            Err(Error::Usage(m)) => assert_eq!(m, "privacy must be one of: pure_dp, zcdp"),
            other => panic!("expected a usage error, got {other:?}"),
        }
    }

    #[test]
    fn every_role_maps_both_ways_and_is_listed() {
        assert_eq!(ROLES, gov::Role::ALL.map(gov::Role::as_str));
        for role in gov::Role::ALL {
            assert_eq!(parse_enum(role.as_str(), "role", gov::Role::parse, ROLES).expect("parses"), role);
        }
        assert_eq!(parse_enum("expert", "role", gov::Role::parse, ROLES).expect("expert"), gov::Role::Expert);
        assert_eq!(parse_enum("applicant", "role", gov::Role::parse, ROLES).expect("applicant"), gov::Role::Applicant);
        match parse_enum("auditor", "role", gov::Role::parse, ROLES) {
            Err(Error::Usage(m)) => assert!(m.ends_with("provider, expert, applicant"), "{m}"),
            other => panic!("expected a usage error, got {other:?}"),
        }
    }

    #[test]
    fn a_grant_without_an_end_of_term_is_refused_before_governance() {
        let r = pb::GrantAuthorizationRequest { privacy: "pure_dp".into(), export_policy: "automatic".into(), ..Default::default() };
        match new_authorization(&r, Utc::now()) {
            Err(Error::Usage(m)) => assert!(m.contains("term_end is required"), "{m}"),
            other => panic!("expected a usage error, got {other:?}"),
        }
    }
}
