//! Runs asleep on a timer hold no task: their driver stops and a queue of due times starts a
//! new one when the timer is due. Woken by the timer, a resume or a cancel, such a run writes
//! the same journal as one whose driver stayed (a timer too near to put the run to sleep).
//! On tokio's paused time, with a wall clock that follows it: nothing here waits an hour.

mod common;

use std::sync::Arc;
use std::time::Duration;

use engine::executor::{Runs, TokioClock};
use engine::run::RunStatus;
use journal::MemoryStore;
use serde_json::{json, Value};

fn runs() -> Runs {
    let clock = TokioClock::starting_at(1_767_225_600_000);
    Runs::new(Arc::new(MemoryStore::new()), Arc::new(clock))
}

use common::{until_status, workflow};

async fn start(runs: &Runs, workflow_id: &str) -> String {
    common::start_with(runs, workflow_id, json!({})).await
}

/// Waits until no driver runs and `asleep` runs are in the queue.
async fn until_asleep(runs: &Runs, asleep: usize) {
    for _ in 0..1000 {
        if runs.drivers_running() == 0 && runs.runs_asleep() == asleep {
            return;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!(
        "drivers {} and sleepers {}, not 0 and {asleep}",
        runs.drivers_running(),
        runs.runs_asleep()
    );
}

/// The names of a run's journaled events, in order.
async fn journal(runs: &Runs, run_id: &str) -> Vec<&'static str> {
    runs.journal(run_id)
        .await
        .expect("journal")
        .iter()
        .map(|e| e.event.name())
        .collect()
}

fn nap(duration: &str) -> Value {
    json!([
        {"id": "nap", "type": "delay", "config": {"duration": duration}},
        {"id": "after", "type": "transform", "config": {"mapping": {"woke": true}}}
    ])
}

#[tokio::test(start_paused = true)]
async fn a_run_asleep_for_an_hour_holds_no_task_and_wakes_when_due() {
    let runs = runs();
    workflow(&runs, "wf_long", nap("1h")).await;
    workflow(&runs, "wf_short", nap("1s")).await;

    let long = start(&runs, "wf_long").await;
    until_status(&runs, &long, RunStatus::Sleeping).await;
    until_asleep(&runs, 1).await;

    let ended = runs
        .wait_for_end(&long, Duration::from_secs(2 * 3600))
        .await
        .expect("wait");
    assert_eq!(ended.status, RunStatus::Completed, "{ended:?}");
    assert_eq!(ended.output, Some(json!({"woke": true})));
    assert_eq!(runs.runs_asleep(), 0);

    // A timer too near to sleep on is waited for by the driver: the same journal.
    let short = start(&runs, "wf_short").await;
    let ended = runs
        .wait_for_end(&short, Duration::from_secs(60))
        .await
        .expect("wait");
    assert_eq!(ended.status, RunStatus::Completed);
    assert_eq!(journal(&runs, &long).await, journal(&runs, &short).await);
    assert_eq!(
        journal(&runs, &long).await,
        [
            "RunStarted",
            "TimerScheduled",
            "TimerFired",
            "StepCompleted",
            "StepCompleted",
            "RunCompleted"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_sleeping_run_is_resumed_or_cancelled_as_if_its_driver_had_stayed() {
    let runs = runs();
    let approval = |timeout: &str| {
        json!([
            {"id": "approve", "type": "wait", "config": {"timeout": timeout}},
            {"id": "after", "type": "transform",
             "config": {"mapping": {"ok": "{{steps.approve.output.ok}}"}}}
        ])
    };
    workflow(&runs, "wf_day", approval("24h")).await;
    workflow(&runs, "wf_minute", approval("1s")).await;
    workflow(&runs, "wf_nap", nap("1h")).await;

    // Resumed while asleep: it finishes with the payload, and the queue's later wake-up
    // changes nothing.
    let day = start(&runs, "wf_day").await;
    until_status(&runs, &day, RunStatus::Paused).await;
    until_asleep(&runs, 1).await;
    runs.resume(&day, json!({"ok": true}))
        .await
        .expect("resume");
    let ended = runs
        .wait_for_end(&day, Duration::from_secs(60))
        .await
        .expect("wait");
    assert_eq!(ended.output, Some(json!({"ok": true})), "{ended:?}");

    // The same with a driver that never left (its timeout is too near to sleep on).
    let minute = start(&runs, "wf_minute").await;
    until_status(&runs, &minute, RunStatus::Paused).await;
    runs.resume(&minute, json!({"ok": true}))
        .await
        .expect("resume");
    let ended = runs
        .wait_for_end(&minute, Duration::from_secs(60))
        .await
        .expect("wait");
    assert_eq!(ended.status, RunStatus::Completed);
    assert_eq!(journal(&runs, &day).await, journal(&runs, &minute).await);

    // Cancelled while asleep: it ends at once, and when its timer would have been due
    // nothing more is written.
    let nap = start(&runs, "wf_nap").await;
    until_status(&runs, &nap, RunStatus::Sleeping).await;
    until_asleep(&runs, 1).await;
    let cancelled = runs.cancel(&nap, "not needed").await.expect("cancel");
    assert_eq!(cancelled.status, RunStatus::Cancelled);
    let before = journal(&runs, &nap).await;
    assert_eq!(
        before,
        ["RunStarted", "TimerScheduled", "RunCancelled"],
        "{before:?}"
    );
    tokio::time::sleep(Duration::from_secs(2 * 3600)).await;
    assert_eq!(journal(&runs, &nap).await, before);
    assert_eq!(runs.runs_asleep(), 0);
    for _ in 0..100 {
        if runs.drivers_running() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert_eq!(runs.drivers_running(), 0);
}
