//! The ledger under concurrency and crashes: threads, processes, SIGKILL.
//!
//! The process tests re-run this test binary (`std::env::current_exe()`) with
//! `SHUYU_GOV_CHILD` naming the child's role and `--exact <test> --nocapture`; the same test
//! function then plays the child and exits.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;

use common::*;
use shuyu_governance::*;

const CHILD: &str = "SHUYU_GOV_CHILD";

/// Environment a child needs to act as unit A's analyst.
fn child_command(test: &str, role: &str, f: &Fixture) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", test, "--nocapture", "--test-threads", "1"])
        .env(CHILD, role)
        .env("SHUYU_GOV_DIR", f.dir.path())
        .env("SHUYU_GOV_AUTH", f.auth_a.0.to_string())
        .env("SHUYU_GOV_PERSON", f.analyst_a.person_id.0.to_string())
        .env("SHUYU_GOV_UNIT", f.unit_a.0.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    cmd
}

/// In a child: the store, the analyst and the authorization from the environment.
fn child_context() -> (Store, Principal, AuthorizationId) {
    // libtest printed "test <name> ... " without a newline: start output on a fresh line.
    println!();
    let var = |k: &str| std::env::var(k).unwrap();
    let num = |k: &str| var(k).parse::<i64>().unwrap();
    let store = common::open(var("SHUYU_GOV_DIR"));
    let analyst = Principal {
        person_id: PersonId(num("SHUYU_GOV_PERSON")),
        unit_id: Some(UnitId(num("SHUYU_GOV_UNIT"))),
        role: Role::UnitAnalyst,
    };
    (store, analyst, AuthorizationId(num("SHUYU_GOV_AUTH")))
}

fn prod_job(store: &Store, analyst: &Principal, auth: AuthorizationId) -> JobId {
    store
        .create_job(
            analyst,
            &NewJob {
                authorization: auth,
                sql: "SELECT COUNT(*) FROM households".into(),
                environment: Environment::Prod,
            },
        )
        .unwrap()
}

fn finished(status: JobStatus, releases: u64) -> JobOutcome {
    JobOutcome {
        status,
        metering: Metering {
            releases,
            ..Metering::default()
        },
        datasets: vec!["households".into()],
        failure: None,
    }
}

#[test]
fn threads_never_overspend() {
    // total 1.0, cap 0.05: at least 20 accepted charges.
    let f = Fixture::with_budget(BudgetTerms {
        total: 1.0,
        per_query_cap: 0.05,
        per_query_default: 0.01,
        delta_total: None,
    });
    // 8 handles on the one file, 8 threads each: writes contend both on each handle's gate
    // and on SQLite's file lock between handles.
    let handles: Vec<Store> = (0..8).map(|_| common::open(f.dir.path())).collect();
    let threads: Vec<_> = (0..64u64)
        .map(|i| {
            let store = handles[(i % 8) as usize].clone();
            let analyst = f.analyst_a.clone();
            let auth = f.auth_a;
            std::thread::spawn(move || {
                let reserve = Nano((i % 7 + 1) * 3_000_000);
                let actual = Nano(reserve.0 - (i % 3) * 1_000_000);
                let mut accepted = Vec::new();
                loop {
                    match spend(&store, &analyst, auth, reserve, actual) {
                        Ok(_) => accepted.push(actual),
                        Err(GovernanceError::BudgetExhausted { .. }) => return accepted,
                        Err(e) => panic!("thread {i}: unexpected error {e}"),
                    }
                }
            })
        })
        .collect();
    let accepted: Vec<Nano> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    let sum: u64 = accepted.iter().map(|n| n.0).sum();
    let budget = f.store.budget(&f.analyst_a, f.auth_a).unwrap();
    assert!(
        accepted.len() >= 40,
        "only {} charges accepted",
        accepted.len()
    );
    assert_eq!(
        budget.spent.0, sum,
        "committed total equals the sum of accepted charges"
    );
    assert!(budget.spent <= budget.total);
    assert_eq!(budget.reserved, Nano::ZERO);
    assert_eq!(budget.spent.0 + budget.remaining.0, budget.total.0);
    // When the last thread was refused no other reservation was open, so what remains is
    // less than that thread's charge, at most 0.021.
    assert!(
        budget.remaining < Nano(21_000_000),
        "remaining {}",
        budget.remaining
    );
    let report = f.store.verify_ledger().unwrap();
    assert_eq!(report.open, 0);
    f.store.verify_audit().unwrap();
    assert_eq!(f.audit_count("ledger.commit") as usize, accepted.len());
    assert_eq!(
        f.audit_count("ledger.reserve") as usize,
        accepted.len() + 64,
        "one refused reservation per thread"
    );
}

#[test]
fn processes_never_overspend() {
    const CHARGE: u64 = 20_000_000; // 0.02
    if std::env::var(CHILD).as_deref() == Ok("spender") {
        let (store, analyst, auth) = child_context();
        loop {
            let job = prod_job(&store, &analyst, auth);
            match store.reserve(auth, job, &charge(Nano(CHARGE))) {
                Ok(r) => {
                    store.commit(&r, Nano(CHARGE), Atto::ZERO).unwrap();
                    println!("COMMIT {} {}", r.id.0, CHARGE);
                    store
                        .finish_job(job, &finished(JobStatus::Succeeded, 1))
                        .unwrap();
                }
                Err(GovernanceError::BudgetExhausted { .. }) => {
                    store
                        .finish_job(job, &finished(JobStatus::Refused, 0))
                        .unwrap();
                    println!("REFUSED");
                    return;
                }
                Err(e) => panic!("child: unexpected error {e}"),
            }
        }
    }
    let f = Fixture::with_budget(BudgetTerms {
        total: 2.0,
        per_query_cap: 0.1,
        per_query_default: 0.02,
        delta_total: None,
    });
    let children: Vec<_> = (0..4)
        .map(|_| {
            child_command("processes_never_overspend", "spender", &f)
                .spawn()
                .unwrap()
        })
        .collect();
    let mut committed: HashMap<i64, u64> = HashMap::new();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "a child failed: {:?}", out.status);
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(
            text.lines().any(|l| l == "REFUSED"),
            "every child ends refused"
        );
        for line in text.lines().filter(|l| l.starts_with("COMMIT ")) {
            let mut parts = line.split(' ').skip(1);
            let id: i64 = parts.next().unwrap().parse().unwrap();
            let amount: u64 = parts.next().unwrap().parse().unwrap();
            assert!(
                committed.insert(id, amount).is_none(),
                "reservation {id} committed twice"
            );
        }
    }
    let budget = f.store.budget(&f.admin, f.auth_a).unwrap();
    let sum: u64 = committed.values().sum();
    assert_eq!(committed.len(), 100, "2.0 / 0.02 charges fit exactly");
    assert_eq!(budget.spent.0, sum);
    assert_eq!(budget.spent, budget.total);
    assert!(budget.remaining < Nano(CHARGE));
    assert_eq!(f.store.verify_ledger().unwrap().open, 0);
    f.store.verify_audit().unwrap();
}

#[test]
fn a_killed_process_loses_no_commit_and_its_open_reservation_counts_as_spent() {
    match std::env::var(CHILD).as_deref() {
        Ok("crash-loop") => {
            let (store, analyst, auth) = child_context();
            let mut i = 0u64;
            loop {
                i += 1;
                let job = prod_job(&store, &analyst, auth);
                let r = store.reserve(auth, job, &charge(Nano(1_000_000 + i))).unwrap();
                println!("RESERVED {} {}", r.id.0, r.amount.0);
                let actual = Nano(r.amount.0 - i % 2);
                store.commit(&r, actual, Atto::ZERO).unwrap();
                println!("COMMITTED {} {}", r.id.0, actual.0);
                store
                    .finish_job(job, &finished(JobStatus::Succeeded, 1))
                    .unwrap();
            }
        }
        Ok("crash-hold") => {
            let (store, analyst, auth) = child_context();
            let job = prod_job(&store, &analyst, auth);
            let r = store.reserve(auth, job, &charge(Nano(7_000_000))).unwrap();
            println!("HOLDING {} {}", r.id.0, r.amount.0);
            loop {
                std::thread::park();
            }
        }
        _ => {}
    }
    let f = Fixture::with_budget(BudgetTerms {
        total: 1000.0,
        per_query_cap: 1.0,
        per_query_default: 0.1,
        delta_total: None,
    });
    let test = "a_killed_process_loses_no_commit_and_its_open_reservation_counts_as_spent";

    // 1. Kill a child in the middle of its reserve/commit loop.
    let mut child = child_command(test, "crash-loop", &f).spawn().unwrap();
    let mut committed: HashMap<i64, u64> = HashMap::new();
    let mut reserved: HashMap<i64, u64> = HashMap::new();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    while committed.len() < 40 {
        let line = lines.next().expect("child ended early").unwrap();
        let parts: Vec<&str> = line.split(' ').collect();
        match parts.as_slice() {
            ["RESERVED", id, amount] => {
                reserved.insert(id.parse().unwrap(), amount.parse().unwrap());
            }
            ["COMMITTED", id, amount] => {
                committed.insert(id.parse().unwrap(), amount.parse().unwrap());
            }
            _ => {}
        }
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    // 2. Kill a child that holds an open reservation.
    let mut holder = child_command(test, "crash-hold", &f).spawn().unwrap();
    let mut lines = BufReader::new(holder.stdout.take().unwrap()).lines();
    let held: i64 = loop {
        let line = lines.next().expect("holder ended early").unwrap();
        if let Some(rest) = line.strip_prefix("HOLDING ") {
            break rest.split(' ').next().unwrap().parse().unwrap();
        }
    };
    holder.kill().unwrap();
    holder.wait().unwrap();

    // 3. Reopen: open reservations of dead holders are settled as spent.
    let store = common::open(f.dir.path());
    let report = store.verify_ledger().unwrap();
    assert_eq!(report.open, 0, "no reservation stays open after reopening");
    store.verify_audit().unwrap();
    for (id, amount) in &committed {
        let info = store.reservation(ReservationId(*id)).unwrap();
        assert_eq!(
            info.state,
            ReservationState::Committed,
            "acknowledged commit {id} is present"
        );
        assert_eq!(info.actual, Some(Nano(*amount)));
    }
    let held_info = store.reservation(ReservationId(held)).unwrap();
    assert_eq!(held_info.state, ReservationState::Recovered);
    let mut expected_spent: u64 = committed.values().sum::<u64>() + held_info.reservation.amount.0;
    for id in reserved.keys().filter(|id| !committed.contains_key(id)) {
        // Reserved but unacknowledged when killed: committed or recovered, never lost.
        let info = store.reservation(ReservationId(*id)).unwrap();
        match info.state {
            ReservationState::Committed => expected_spent += info.actual.unwrap().0,
            ReservationState::Recovered => expected_spent += info.reservation.amount.0,
            s => panic!("reservation {id} ended {s}"),
        }
    }
    let budget = store.budget(&f.admin, f.auth_a).unwrap();
    assert!(budget.spent.0 >= expected_spent);
    assert_eq!(budget.reserved, Nano::ZERO);
    let recovered = store
        .audit_records(
            &f.supervisor,
            &AuditFilter {
                action: Some("ledger.recover".into()),
                ..AuditFilter::default()
            },
        )
        .unwrap();
    assert!(
        recovered.iter().any(|r| r.details["reservation"] == held),
        "the recovery is audited"
    );
    // Every reservation the killed children made is settled and accounted for.
    let settled = Raw::open(store.data_dir()).int(
        "SELECT CAST(COALESCE(SUM(CASE WHEN state = 'committed' THEN actual_nano ELSE amount_nano END), 0) AS BIGINT) FROM reservations WHERE state IN ('committed', 'recovered')",
        &[],
    );
    assert_eq!(settled as u64, budget.spent.0);
}

#[test]
fn a_live_holders_reservation_survives_another_handle_opening() {
    let f = Fixture::new();
    let job = f
        .store
        .create_job(
            &f.analyst_a,
            &NewJob {
                authorization: f.auth_a,
                sql: "SELECT 1".into(),
                environment: Environment::Prod,
            },
        )
        .unwrap();
    let r = f.store.reserve(f.auth_a, job, &charge(Nano(100_000_000))).unwrap();
    let other = common::open(f.dir.path());
    assert!(other.recover_abandoned().unwrap().recovered.is_empty());
    assert_eq!(
        other.reservation(r.id).unwrap().state,
        ReservationState::Open
    );
    let budget = f.store.commit(&r, Nano(60_000_000), Atto::ZERO).unwrap();
    assert_eq!(budget.spent, Nano(60_000_000));

    // A handle dropped with an open reservation is a dead holder.
    let dropped = common::open(f.dir.path());
    let job2 = f
        .store
        .create_job(
            &f.analyst_a,
            &NewJob {
                authorization: f.auth_a,
                sql: "SELECT 1".into(),
                environment: Environment::Prod,
            },
        )
        .unwrap();
    let r2 = dropped.reserve(f.auth_a, job2, &charge(Nano(50_000_000))).unwrap();
    drop(dropped);
    let report = f.store.recover_abandoned().unwrap();
    assert_eq!(report.recovered, vec![r2.id]);
    assert_eq!(report.amount, Nano(50_000_000));
    assert!(matches!(
        f.store.commit(&r2, Nano(1), Atto::ZERO),
        Err(GovernanceError::Conflict { .. })
    ));
    let budget = f.store.budget(&f.analyst_a, f.auth_a).unwrap();
    assert_eq!(budget.spent, Nano(110_000_000));
    assert_eq!(
        f.store.job(&f.analyst_a, job2).unwrap().status,
        JobStatus::Failed
    );
}

#[test]
fn concurrent_first_opens_agree_on_schema_and_key() {
    let dir = common::store_dir();
    let path = Arc::new(dir.path().to_path_buf());
    let keys: Vec<[u8; 32]> = (0..8)
        .map(|_| {
            let path = path.clone();
            std::thread::spawn(move || common::open(path.as_path()).domain_public_key())
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().unwrap())
        .collect();
    assert!(keys.windows(2).all(|w| w[0] == w[1]), "one domain key");
    let migrations = Raw::open(dir.path()).int("SELECT COUNT(*) FROM migrations", &[]);
    assert_eq!(migrations, shuyu_governance::migrations::latest_version());
}
