//! The trigger runner over a real executor: interval schedules fire once per tick across a
//! restart of the runner, a 3 h downtime of an hourly cron honours the catch-up window and
//! records the skipped ticks, polling starts each new item exactly once. Time is tokio's,
//! paused, with the runner and the runs on a `TokioClock`, so seconds of schedule pass at once
//! (the catch-up test sets its clock by hand instead).

use std::collections::HashSet;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::routing::get;
use axum::{Json, Router};
use engine::definition::{WorkflowSpec, WorkflowStatus};
use engine::executor::{Clock, Runs, TokioClock};
use journal::{EventStore, MemoryStore};
use serde_json::{json, Value};
use triggers::instances::{TriggerEvent, TriggerSpec, Triggers};
use triggers::runner::Runner;

/// A clock the test sets.
struct FakeClock(AtomicI64);

impl Clock for FakeClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

async fn setup(clock: Arc<dyn Clock>) -> (Arc<dyn EventStore>, Runs, Triggers) {
    let store: Arc<dyn EventStore> = Arc::new(MemoryStore::new());
    let runs = Runs::new(store.clone(), clock);
    let spec: WorkflowSpec = serde_json::from_value(json!({
        "name": "tick",
        "steps": [{"id": "t", "type": "transform", "config": {"mapping": {"at": "{{input.scheduledAt}}"}}}]
    }))
    .expect("spec");
    runs.workflows()
        .create("wf_tick", &spec)
        .await
        .expect("create");
    runs.workflows()
        .set_status("wf_tick", WorkflowStatus::Active)
        .await
        .expect("activate");
    let triggers = Triggers::new(store.clone());
    (store, runs, triggers)
}

fn spec(kind: &str, config: Value) -> TriggerSpec {
    TriggerSpec {
        kind: kind.into(),
        workflow_id: "wf_tick".into(),
        config,
        connection_id: None,
        webhook_data: None,
        provider_id: None,
        trigger_name: None,
    }
}

/// The idempotency keys of the trigger's TriggerFired events, in order.
async fn fired_keys_of(triggers: &Triggers, id: &str) -> Vec<String> {
    triggers
        .history(id)
        .await
        .expect("history")
        .into_iter()
        .filter_map(|(_, event)| match event {
            TriggerEvent::TriggerFired {
                idempotency_key, ..
            } => idempotency_key,
            _ => None,
        })
        .collect()
}

/// (scheduled_at_ms of fired ticks, of skipped ticks with reasons, fired run ids).
async fn decisions(triggers: &Triggers, id: &str) -> (Vec<i64>, Vec<(i64, String)>, Vec<String>) {
    let mut fired = Vec::new();
    let mut skipped = Vec::new();
    let mut runs = Vec::new();
    for (_, event) in triggers.history(id).await.expect("history") {
        match event {
            TriggerEvent::TriggerFired {
                scheduled_at_ms,
                run_id,
                ..
            } => {
                fired.extend(scheduled_at_ms);
                runs.push(run_id);
            }
            TriggerEvent::TriggerSkipped {
                scheduled_at_ms: Some(at),
                reason,
            } => skipped.push((at, reason)),
            _ => {}
        }
    }
    (fired, skipped, runs)
}

#[tokio::test(start_paused = true)]
async fn an_interval_schedule_fires_once_per_tick_across_a_runner_restart() {
    let clock: Arc<dyn Clock> = Arc::new(TokioClock::starting_now());
    let (_store, runs, triggers) = setup(clock.clone()).await;
    let (trigger, _) = triggers
        .upsert(
            "every-second",
            spec("schedule", json!({"interval": "1s"})),
            None,
            true,
            None,
        )
        .await
        .expect("upsert");
    let first = Runner::new(triggers.clone(), runs.clone(), clock.clone());
    let supervisor = first.spawn();
    tokio::time::sleep(Duration::from_millis(2600)).await;
    supervisor.abort();
    first.stop();
    let (fired_before, _, _) = decisions(&triggers, &trigger.id).await;
    assert!(fired_before.len() >= 2, "{fired_before:?}");

    // A new runner (as after a restart) continues from the journal.
    let second = Runner::new(triggers.clone(), runs.clone(), clock.clone());
    let supervisor = second.spawn();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    supervisor.abort();
    second.stop();
    let (fired, skipped, run_ids) = decisions(&triggers, &trigger.id).await;
    assert!(fired.len() > fired_before.len(), "{fired:?}");
    let distinct: HashSet<i64> = fired.iter().copied().collect();
    assert_eq!(
        distinct.len(),
        fired.len(),
        "no tick fired twice: {fired:?}"
    );
    assert!(skipped.is_empty(), "{skipped:?}");
    // Ticks are 1 s apart from the trigger's creation.
    let mut sorted = fired.clone();
    sorted.sort_unstable();
    for pair in sorted.windows(2) {
        assert_eq!(pair[1] - pair[0], 1000, "{sorted:?}");
    }
    let distinct_runs: HashSet<&String> = run_ids.iter().collect();
    assert_eq!(distinct_runs.len(), run_ids.len(), "one run per tick");
    for run_id in &run_ids {
        let run = runs
            .wait_for_end(run_id, Duration::from_secs(10))
            .await
            .expect("run");
        assert!(run.output.is_some_and(|o| o["at"].is_string()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_three_hours_down_an_hourly_schedule_catches_up_within_its_window() {
    let now = chrono::Utc::now().timestamp_millis();
    let clock = Arc::new(FakeClock(AtomicI64::new(now)));
    let (_store, runs, triggers) = setup(clock.clone()).await;
    let (trigger, _) = triggers
        .upsert(
            "hourly",
            spec(
                "schedule",
                // allow_all: this test is about catch-up; with the default overlap policy
                // (skip) a caught-up tick is skipped while the previous one's run still goes.
                json!({"cron": "0 * * * *", "timezone": "UTC", "overlap": "allow_all",
                       "catchup": {"window": "90m", "policy": "all"}}),
            ),
            None,
            true,
            None,
        )
        .await
        .expect("upsert");
    // The process was down from the trigger's creation until 3 h 5 min later.
    let later = now + (3 * 60 + 5) * 60 * 1000;
    clock.0.store(later, Ordering::SeqCst);
    // Every hour mark in the downtime: three, or four when the test starts in the last five
    // minutes of an hour.
    let hour = 3_600_000;
    let hours: Vec<i64> = (1..=4)
        .map(|k| (now / hour + k) * hour)
        .filter(|t| *t <= later)
        .collect();
    let runner = Runner::new(triggers.clone(), runs.clone(), clock.clone());
    let supervisor = runner.spawn();
    let mut seen = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..200 {
        seen = decisions(&triggers, &trigger.id).await;
        if seen.0.len() + seen.1.len() >= hours.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    supervisor.abort();
    runner.stop();
    let (fired, skipped, _) = seen;
    // Ticks within 90 min of the restart run; the older one is skipped, with its reason.
    let window_start = later - 90 * 60 * 1000;
    let expected_fired: Vec<i64> = hours
        .iter()
        .copied()
        .filter(|t| *t >= window_start)
        .collect();
    let expected_skipped: Vec<i64> = hours
        .iter()
        .copied()
        .filter(|t| *t < window_start)
        .collect();
    assert_eq!(fired, expected_fired, "skipped: {skipped:?}");
    assert_eq!(
        skipped.iter().map(|(at, _)| *at).collect::<Vec<_>>(),
        expected_skipped
    );
    assert!(skipped
        .iter()
        .all(|(_, reason)| reason.contains("outside catch-up window")));
}

#[tokio::test(start_paused = true)]
async fn polling_starts_each_new_item_exactly_once() {
    let items = Arc::new(Mutex::new(
        json!({"data": {"items": [{"id": 1}, {"id": 2}]}}),
    ));
    let served = items.clone();
    let app = Router::new().route(
        "/feed",
        get(move || {
            let served = served.clone();
            async move { Json(served.lock().expect("lock").clone()) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await });

    let clock: Arc<dyn Clock> = Arc::new(TokioClock::starting_now());
    let (_store, runs, triggers) = setup(clock.clone()).await;
    let (trigger, _) = triggers
        .upsert(
            "feed",
            spec(
                "polling",
                json!({"url": format!("http://{address}/feed"), "interval": "200ms",
                       "itemsPointer": "/data/items"}),
            ),
            None,
            true,
            None,
        )
        .await
        .expect("upsert");
    let runner = Runner::new(triggers.clone(), runs.clone(), clock);
    let supervisor = runner.spawn();
    let fired_keys = |n: usize| {
        let triggers = triggers.clone();
        let id = trigger.id.clone();
        async move {
            for _ in 0..1000 {
                if fired_keys_of(&triggers, &id).await.len() >= n {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            panic!("{n} items never fired");
        }
    };
    fired_keys(2).await;
    *items.lock().expect("lock") = json!({"data": {"items": [{"id": 2}, {"id": 3}]}});
    fired_keys(3).await;
    // Five more polls find nothing new.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    supervisor.abort();
    runner.stop();

    let keys = fired_keys_of(&triggers, &trigger.id).await;
    let expected: Vec<String> = [1, 2, 3]
        .iter()
        .map(|n| format!("{}:{n}", trigger.id))
        .collect();
    assert_eq!(keys, expected, "each item once, in order");
    let cursor = triggers
        .get(&trigger.id)
        .await
        .expect("trigger")
        .cursor_data;
    assert_eq!(
        cursor,
        Some(json!({"last_processed_event_id": "3", "seen": ["1", "2", "3"]}))
    );
}

#[tokio::test(start_paused = true)]
async fn buffer_one_keeps_one_tick_waiting_and_skips_the_others() {
    let clock: Arc<dyn Clock> = Arc::new(TokioClock::starting_now());
    let (_store, runs, triggers) = setup(clock.clone()).await;
    // Runs of 2.5 s against ticks every second.
    let spec_slow: WorkflowSpec = serde_json::from_value(json!({
        "name": "slow",
        "steps": [{"id": "nap", "type": "delay", "config": {"duration": "2500ms"}}]
    }))
    .expect("spec");
    runs.workflows()
        .create("wf_slow", &spec_slow)
        .await
        .expect("create");
    runs.workflows()
        .set_status("wf_slow", WorkflowStatus::Active)
        .await
        .expect("activate");
    let mut slow = spec(
        "schedule",
        json!({"interval": "1s", "overlap": "buffer_one"}),
    );
    slow.workflow_id = "wf_slow".into();
    let (trigger, _) = triggers
        .upsert("slow-ticks", slow, None, true, None)
        .await
        .expect("upsert");
    let runner = Runner::new(triggers.clone(), runs.clone(), clock);
    let supervisor = runner.spawn();
    tokio::time::sleep(Duration::from_millis(6500)).await;
    supervisor.abort();
    runner.stop();
    let (fired, skipped, _) = decisions(&triggers, &trigger.id).await;
    assert!(
        skipped
            .iter()
            .any(|(_, reason)| reason.contains("already waiting")),
        "fired {fired:?}, skipped {skipped:?}"
    );
    // About one run per 2.5 s, never one per tick.
    assert!(
        (2..=4).contains(&fired.len()),
        "fired {fired:?}, skipped {skipped:?}"
    );
    let handled: HashSet<i64> = fired
        .iter()
        .chain(skipped.iter().map(|(at, _)| at))
        .copied()
        .collect();
    assert_eq!(
        handled.len(),
        fired.len() + skipped.len(),
        "no tick both fired and skipped"
    );
}
