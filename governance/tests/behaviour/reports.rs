//! Per-unit operation reports.

use chrono::Duration;
use shuyu_governance::*;

use crate::common::*;

#[test]
fn a_report_counts_jobs_metering_budget_exports_and_incidents() {
    let f = Fixture::new();
    let from = f.store.now() - Duration::hours(1);
    f.spend(&f.analyst_a, f.auth_a, Nano(100_000_000)).unwrap();
    f.spend(&f.analyst_a, f.auth_a, Nano(200_000_000)).unwrap();
    let _ = f.spend(&f.analyst_a, f.auth_a, Nano(600_000_000)); // over the cap: refused
    let dev = f.dev_job(&f.analyst_a, f.auth_a);
    f.store
        .finish_job(
            dev,
            &JobOutcome {
                status: JobStatus::Succeeded,
                metering: Metering {
                    rows_scanned: 5,
                    ..Metering::default()
                },
                datasets: vec!["households".into()],
                failure: None,
            },
        )
        .unwrap();
    let job = f
        .store
        .jobs(
            &f.analyst_a,
            &JobFilter {
                status: Some(JobStatus::Succeeded),
                ..JobFilter::default()
            },
        )
        .unwrap()
        .into_iter()
        .find(|j| j.environment == Environment::Prod)
        .unwrap();
    let product = f
        .store
        .hold_product(&NewProduct {
            job: job.id,
            name: "p".into(),
            content_sha256: "aa".repeat(32),
            path: None,
            byte_size: 1,
            row_count: 1,
        })
        .unwrap();
    f.store.request_export(&f.analyst_a, product).unwrap();
    f.store
        .file_issue(
            &f.analyst_a,
            "households",
            "missing districts",
            "two districts are absent",
        )
        .unwrap();
    f.store
        .suspend_authorization(&f.admin, f.auth_a, "inspection")
        .unwrap();
    f.store
        .reinstate_authorization(&f.admin, f.auth_a, "inspection passed")
        .unwrap();
    let to = f.store.now() + Duration::hours(1);

    let report = f
        .store
        .unit_report(&f.supervisor, f.unit_a, from, to)
        .unwrap();
    assert_eq!(report.jobs.total, 4);
    assert_eq!(report.jobs.by_status.get("succeeded"), Some(&3));
    assert_eq!(report.jobs.by_status.get("refused"), Some(&1));
    assert_eq!(report.jobs.by_environment.get("dev"), Some(&1));
    assert_eq!(report.metering.rows_scanned, 3 * 100 + 5);
    assert_eq!(report.metering.releases, 2);
    assert_eq!(
        report.datasets_used,
        vec![reports::DatasetUse {
            dataset: "households".into(),
            jobs: 4
        }]
    );
    assert_eq!(report.budgets.len(), 1);
    assert_eq!(report.budgets[0].spent_in_period, Nano(300_000_000));
    assert_eq!(report.budgets[0].spent_to_date, Nano(300_000_000));
    assert_eq!(report.exports.len(), 1);
    assert_eq!(report.incidents.refusals, 1);
    assert_eq!(report.incidents.refusals_by_kind.get("over_cap"), Some(&1));
    assert_eq!(report.incidents.status_changes.len(), 2);
    assert_eq!(report.incidents.quality_issues.len(), 1);

    let json = report.to_json().unwrap();
    let back: UnitReport = serde_json::from_str(&json).unwrap();
    assert_eq!(back, report);
    let md = report.to_markdown();
    assert!(md.contains("# Operation report: Changchun Analytics Co."));
    assert!(md.contains("| households | 4 |"));
    assert!(
        md.contains("| 1 | ageing | active | epsilon | 0.3 | 0.3 | 1 |"),
        "{md}"
    );
    assert!(md.contains("authorization.suspend"));

    // Another period is empty; the unit reads its own report, not another's.
    let later = f
        .store
        .unit_report(&f.analyst_a, f.unit_a, to, to + Duration::days(1))
        .unwrap();
    assert_eq!(later.jobs.total, 0);
    assert_eq!(later.budgets[0].spent_in_period, Nano::ZERO);
    assert!(matches!(
        f.store.unit_report(&f.analyst_a, f.unit_a, to, from),
        Err(GovernanceError::Invalid { .. })
    ));
}
