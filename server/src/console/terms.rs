//! The terms of an authorization as form fields, shared by a unit's data request
//! (`form#data-request`) and the bureau's agreement (`form#agreement`): `scenario`,
//! `purpose`, `partners` (comma-separated), `datasets` (one `dataset: col1, col2` a line),
//! `term_days`, `privacy` (`zcdp|pure_dp`), `delta`, `total`, `per_query_cap`,
//! `per_query_default`, `export_policy` (`automatic|review`), `rights` (checkboxes).
//! The console only reads the fields; governance checks the terms as it checks a grant.

use chrono::{DateTime, Duration, Utc};
use maud::{html, Markup};
use shuyu_governance::{BudgetTerms, ExportPolicy, GrantedDataset, Mode, PrivacyTerms, Right, ScenarioTerms};
use shuyu_privacy::PrivacyDefinition;

use super::forms::{split_list, Fields};
use crate::Error;

/// Longest term a form may ask for, in days (ten years).
const MAX_TERM_DAYS: i64 = 3660;

/// `dataset: col1, col2` lines.
pub fn parse_datasets(text: &str) -> Result<Vec<GrantedDataset>, Error> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .enumerate()
        .map(|(i, line)| {
            let (name, cols) = line.split_once(':').ok_or_else(|| {
                Error::Usage(format!("field datasets, line {}: write `dataset: column, column`", i + 1))
            })?;
            Ok(GrantedDataset { dataset: name.trim().to_string(), columns: split_list(cols) })
        })
        .collect()
}

/// Reads the terms of `f`, starting now and free of charge: a unit's data request and the
/// bureau's agreement take the same terms.
pub fn read(f: &Fields, now: DateTime<Utc>) -> Result<ScenarioTerms, Error> {
    let days: i64 = f.number("term_days")?;
    if !(1..=MAX_TERM_DAYS).contains(&days) {
        return Err(Error::Usage(format!("field term_days: enter 1 to {MAX_TERM_DAYS} days")));
    }
    let kind = match f.choice("privacy", &["zcdp", "pure_dp"])? {
        "zcdp" => PrivacyDefinition::Zcdp,
        _ => PrivacyDefinition::PureDp,
    };
    let export_policy = match f.choice("export_policy", &["automatic", "review"])? {
        "automatic" => ExportPolicy::Automatic,
        _ => ExportPolicy::Review,
    };
    let rights = f
        .all("rights")
        .into_iter()
        .map(|r| Right::parse(r).ok_or_else(|| Error::Usage("field rights: processing_use or product_operation".into())))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ScenarioTerms {
        scenario: f.text("scenario"),
        purpose: f.text("purpose"),
        partners: f.list("partners"),
        datasets: parse_datasets(&f.text("datasets"))?,
        term_start: now,
        term_end: now + Duration::days(days),
        rights: if rights.is_empty() { vec![Right::ProcessingUse] } else { rights },
        mode: Mode::Free,
        privacy: PrivacyTerms { kind, delta: f.optional_number("delta")?.unwrap_or(0.0) },
        budget: BudgetTerms {
            total: f.number("total")?,
            per_query_cap: f.number("per_query_cap")?,
            per_query_default: f.number("per_query_default")?,
            delta_total: None,
        },
        export_policy,
    })
}

/// The fields of the terms, prefilled with what was posted (after a refusal) or defaults.
pub fn fields(kept: Option<&Fields>, scenario: &str, purpose: &str) -> Markup {
    let v = |name: &str, default: &str| kept.map(|f| f.text(name)).unwrap_or_else(|| default.to_string());
    let privacy = v("privacy", "zcdp");
    let policy = v("export_policy", "review");
    html! {
        label { "Scenario " input name="scenario" type="text" maxlength="200" value=(v("scenario", scenario)); }
        label { "Purpose " input name="purpose" type="text" maxlength="2000" value=(v("purpose", purpose)); }
        label { "Partners (comma-separated) " input name="partners" type="text" value=(v("partners", "")); }
        label { "Datasets (one `dataset: column, column` a line) " textarea name="datasets" rows="4" { (v("datasets", "")) } }
        label { "Term (days) " input name="term_days" type="number" value=(v("term_days", "365")); }
        label { "Privacy definition "
            select name="privacy" {
                option value="zcdp" selected[privacy == "zcdp"] { "zCDP (ρ)" }
                option value="pure_dp" selected[privacy == "pure_dp"] { "pure DP (ε)" }
            }
        }
        label { "δ per query " input name="delta" type="text" inputmode="decimal" value=(v("delta", "0")); }
        label { "Total budget " input name="total" type="text" inputmode="decimal" value=(v("total", "")); }
        label { "Per-query cap " input name="per_query_cap" type="text" inputmode="decimal" value=(v("per_query_cap", "")); }
        label { "Per-query default " input name="per_query_default" type="text" inputmode="decimal" value=(v("per_query_default", "")); }
        label { "Export policy "
            select name="export_policy" {
                option value="review" selected[policy == "review"] { "reviewed by the bureau" }
                option value="automatic" selected[policy == "automatic"] { "automatic" }
            }
        }
        fieldset {
            legend { "Rights" }
            label { input type="checkbox" name="rights" value="processing_use" checked; " processing use (加工使用权)" }
            label { input type="checkbox" name="rights" value="product_operation" checked; " product operation (产品经营权): needed to export products" }
        }
    }
}

/// The terms as a definition list.
pub fn show(t: &ScenarioTerms) -> Markup {
    html! {
        dl class="terms" {
            dt { "Scenario" } dd class="scenario" { (t.scenario) }
            dt { "Purpose" } dd { (t.purpose) }
            dt { "Partners" } dd { (t.partners.join(", ")) }
            dt { "Datasets" } dd { ul { @for d in &t.datasets { li { code { (d.dataset) } ": " (d.columns.join(", ")) } } } }
            dt { "Term" } dd { (t.term_start.format("%Y-%m-%d")) " – " (t.term_end.format("%Y-%m-%d")) }
            dt { "Rights" } dd { @for (i, r) in t.rights.iter().enumerate() { @if i > 0 { ", " } (r) } }
            dt { "Privacy" } dd { (match t.privacy.kind { PrivacyDefinition::PureDp => "pure DP (ε)", PrivacyDefinition::Zcdp => "zCDP (ρ)" }) ", δ per query " (t.privacy.delta) }
            dt { "Budget" } dd { "total " (t.budget.total) ", per-query cap " (t.budget.per_query_cap) ", default " (t.budget.per_query_default) }
            dt { "Exports" } dd { (t.export_policy) }
        }
    }
}
