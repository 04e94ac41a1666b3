//! The workflow's deadlines, enforced while the domain serves: every minute (and once at
//! start), [`Store::enforce_deadlines`] suspends each unit whose evaluation's rectification
//! deadline passed with nothing reported (Art. 26). `Store::open` runs it too, so a
//! deadline that passed while no server ran takes effect before the first call.

use std::future::Future;
use std::time::Duration;

use shuyu_governance::Store;

use crate::offload::store_call;

/// How often a serving domain checks the deadlines.
pub const PERIOD: Duration = Duration::from_secs(60);

/// Checks the deadlines every `period` until `shutdown` completes. A failed check is
/// logged and retried at the next tick: it suspends nothing, and the next open or tick
/// enforces what it missed.
pub async fn enforce_every(store: Store, period: Duration, shutdown: impl Future<Output = ()> + Send) {
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            _ = ticks.tick() => {
                match store_call(&store, |s| s.enforce_deadlines()).await {
                    Ok(units) if !units.is_empty() => tracing::warn!(suspended = units.len(), "units suspended: rectification deadline missed"),
                    Ok(_) => {}
                    Err(e) => tracing::error!(error = %e, "checking the evaluation deadlines failed"),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration as Days;
    use shuyu_governance::{ManualClock, NewEvaluation, StoreOptions, UnitStatus};
    use std::sync::Arc;

    #[tokio::test]
    async fn a_missed_deadline_suspends_the_unit_while_serving() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
        let store = Store::open_with(dir.path(), StoreOptions { clock: clock.clone(), ..StoreOptions::default() }).unwrap();
        let (admin, _) = store.bootstrap_admin("Wang Fang", "11010519491231002X", Days::days(1)).unwrap();
        let admin = admin.principal();
        let unit = store.create_unit(&admin, "Changchun Analytics Co.", "91350100M000100Y43").unwrap();
        store
            .record_evaluation(&admin, &NewEvaluation {
                unit,
                year: 2026,
                score: 55,
                findings: "the security officer is not named".into(),
                rectification_deadline: Some(store.now() + Days::days(30)),
            })
            .unwrap();
        clock.advance(Days::days(31));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(enforce_every(store.clone(), Duration::from_millis(10), async move {
            let _ = stopped.await;
        }));
        // The first tick is immediate; wait for its transaction, then stop.
        for _ in 0..500 {
            if store.unit(&admin, unit).unwrap().status == UnitStatus::Suspended {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        stop.send(()).unwrap();
        task.await.unwrap();
        assert_eq!(store.unit(&admin, unit).unwrap().status, UnitStatus::Suspended);
    }
}
