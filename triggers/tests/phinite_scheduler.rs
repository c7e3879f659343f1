//! Phinite's scheduler (seed 003) through the trigger runner, on an injected clock: a
//! `scheduler` trigger (an alias of `schedule`) with a start time and an hourly recurrence in
//! Europe/London runs at the start time and hourly from it, and never before it.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use engine::definition::{WorkflowSpec, WorkflowStatus};
use engine::executor::{Clock, Runs};
use journal::{EventStore, MemoryStore};
use serde_json::{json, Value};
use triggers::instances::{TriggerEvent, TriggerSpec, Triggers};
use triggers::runner::Runner;
use triggers::schedule::ScheduleConfig;

/// A clock the test sets.
struct FakeClock(AtomicI64);

impl Clock for FakeClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

async fn setup(clock: Arc<dyn Clock>) -> (Runs, Triggers) {
    let store: Arc<dyn EventStore> = Arc::new(MemoryStore::new());
    let runs = Runs::new(store.clone(), clock);
    let spec: WorkflowSpec = serde_json::from_value(json!({
        "name": "report",
        "steps": [{"id": "t", "type": "transform", "config": {"mapping": {"at": "{{input.scheduledAt}}"}}}]
    }))
    .expect("spec");
    runs.workflows()
        .create("wf_report", &spec)
        .await
        .expect("create");
    runs.workflows()
        .set_status("wf_report", WorkflowStatus::Active)
        .await
        .expect("activate");
    (runs, Triggers::new(store))
}

/// The scheduled instants of the trigger's TriggerFired and TriggerSkipped events.
async fn decisions(triggers: &Triggers, id: &str) -> (Vec<DateTime<Utc>>, Vec<DateTime<Utc>>) {
    let at = |ms: i64| DateTime::from_timestamp_millis(ms).expect("instant");
    let mut fired = Vec::new();
    let mut skipped = Vec::new();
    for (_, event) in triggers.history(id).await.expect("history") {
        match event {
            TriggerEvent::TriggerFired {
                scheduled_at_ms: Some(ms),
                ..
            } => fired.push(at(ms)),
            TriggerEvent::TriggerSkipped {
                scheduled_at_ms: Some(ms),
                ..
            } => skipped.push(at(ms)),
            _ => {}
        }
    }
    (fired, skipped)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_hourly_scheduler_runs_at_its_start_then_hourly_and_never_before() {
    let created = Utc::now();
    let clock = Arc::new(FakeClock(AtomicI64::new(created.timestamp_millis())));
    let (runs, triggers) = setup(clock.clone()).await;
    // Two days after the trigger is made, at 17 minutes past an hour, as London reads it.
    let start_utc = (created + TimeDelta::days(2))
        .duration_trunc(TimeDelta::hours(1))
        .expect("hour")
        + TimeDelta::minutes(17);
    let london = chrono_tz::Europe::London;
    let start_local = start_utc
        .with_timezone(&london)
        .format("%Y-%m-%dT%H:%M:%S")
        .to_string();
    // A catch-up window of three days: had the schedule ticked hourly from its creation
    // instead of from its start, those ticks would all run and show below.
    let config = json!({"startTime": start_local, "recurrence": "hourly",
                        "timezone": "Europe/London", "overlap": "allow_all",
                        "catchup": {"window": "3d", "policy": "all"}});
    // The instant the start names (on the night clocks fall back, its first occurrence).
    let start = ScheduleConfig::parse(&config)
        .expect("config")
        .start
        .expect("start")
        .instant;
    let spec: TriggerSpec = serde_json::from_value(
        json!({"type": "scheduler", "workflowId": "wf_report", "config": config}),
    )
    .expect("spec");
    let (trigger, _) = triggers
        .upsert("nightly-report", spec, None, true, None)
        .await
        .expect("upsert");
    assert_eq!(trigger.named_kind, "scheduler");
    assert_eq!(trigger.spec.kind, "schedule", "runs as a schedule");

    // The server comes back 2 h 5 min after the start time.
    let now = start + TimeDelta::minutes(2 * 60 + 5);
    clock.0.store(now.timestamp_millis(), Ordering::SeqCst);
    let runner = Runner::new(triggers.clone(), runs.clone(), clock.clone());
    let supervisor = runner.spawn();
    let mut seen = (Vec::new(), Vec::new());
    for _ in 0..250 {
        seen = decisions(&triggers, &trigger.id).await;
        if seen.0.len() + seen.1.len() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    supervisor.abort();
    runner.stop();
    let (fired, skipped) = seen;
    let hour = TimeDelta::hours(1);
    assert_eq!(fired, [start, start + hour, start + hour * 2]);
    assert!(skipped.is_empty(), "{skipped:?}");
    // Each tick's run is told its scheduled time.
    let history = triggers.history(&trigger.id).await.expect("history");
    let run_ids: Vec<String> = history
        .into_iter()
        .filter_map(|(_, event)| match event {
            TriggerEvent::TriggerFired { run_id, .. } => Some(run_id),
            _ => None,
        })
        .collect();
    let mut scheduled = Vec::new();
    for run_id in &run_ids {
        let run = runs
            .wait_for_end(run_id, Duration::from_secs(10))
            .await
            .expect("run");
        scheduled.push(run.output.expect("output")["at"].clone());
    }
    let expected: Vec<Value> = fired
        .iter()
        .map(|at| json!(at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)))
        .collect();
    assert_eq!(scheduled, expected);
}
