//! Schedules between ticks: each schedule task sleeps until its next tick (no periodic
//! re-planning), and the supervisor's clock check wakes them when the wall clock jumps. On
//! tokio's paused time with an injected wall clock: the clock jumps past a tick while the
//! monotonic clock moves one minute, and the tick runs within the next second of it, where a
//! task that only slept until its planned wake-up would sleep on for an hour.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use engine::definition::{WorkflowSpec, WorkflowStatus};
use engine::executor::{Clock, Runs};
use journal::{EventStore, MemoryStore};
use serde_json::json;
use triggers::instances::{TriggerEvent, TriggerSpec, Triggers};
use triggers::runner::Runner;

/// A wall clock the test sets; it does not move with tokio's time.
struct FakeClock(AtomicI64);

impl Clock for FakeClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

async fn fired(triggers: &Triggers, id: &str) -> Vec<i64> {
    triggers
        .history(id)
        .await
        .expect("history")
        .into_iter()
        .filter_map(|(_, event)| match event {
            TriggerEvent::TriggerFired {
                scheduled_at_ms: Some(ms),
                ..
            } => Some(ms),
            _ => None,
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_wall_clock_jump_wakes_a_sleeping_schedule() {
    // 2030-01-01T10:30:00Z: the next hourly tick is at 11:00.
    let start_ms = 1_893_493_800_000;
    let clock = Arc::new(FakeClock(AtomicI64::new(start_ms)));
    let store: Arc<dyn EventStore> = Arc::new(MemoryStore::new());
    let runs = Runs::new(store.clone(), clock.clone());
    let spec: WorkflowSpec = serde_json::from_value(json!({
        "name": "hourly",
        "steps": [{"id": "t", "type": "transform", "config": {"mapping": {"ok": true}}}]
    }))
    .expect("spec");
    runs.workflows()
        .create("wf_hourly", &spec)
        .await
        .expect("create");
    runs.workflows()
        .set_status("wf_hourly", WorkflowStatus::Active)
        .await
        .expect("activate");
    let triggers = Triggers::new(store);
    let trigger_spec: TriggerSpec = serde_json::from_value(json!({
        "type": "schedule", "workflowId": "wf_hourly", "config": {"cron": "0 * * * *", "catchup": {"window": "1m"}}
    }))
    .expect("trigger spec");
    let (trigger, _) = triggers
        .upsert("hourly", trigger_spec, None, true, None)
        .await
        .expect("upsert");
    let runner = Runner::new(triggers.clone(), runs, clock.clone());
    let supervisor = runner.spawn();
    // The task plans (the 10:00 tick is past the one-minute catch-up window: skipped) and
    // sleeps until 11:00 (half an hour of tokio's time).
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(runner.task_count(), 1);
    assert!(fired(&triggers, &trigger.id).await.is_empty());

    // The wall clock jumps to 11:00:05 while a minute passes on the monotonic clock: the
    // supervisor's check sees the jump and the task plans again, finding 11:00 due.
    clock
        .0
        .store(start_ms + 30 * 60_000 + 5_000, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(61)).await;
    let mut seen = Vec::new();
    for _ in 0..100 {
        seen = fired(&triggers, &trigger.id).await;
        if !seen.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    supervisor.abort();
    runner.stop();
    assert_eq!(
        seen,
        vec![start_ms + 30 * 60_000],
        "the 11:00 tick ran once"
    );
}
