//! The cache of waiting runs' folded states (`executor::hot_runs`): a run whose driver stopped
//! to wait starts its next driver from the state the last one left, reading only the events
//! after it. With the cache on or off, a run writes the same journal: woken by its timer, by a
//! resume, by a cancel, and when another writer appended to its stream while it waited (the
//! cached state is then behind the journal).
//! On tokio's paused time, with a wall clock that follows it.

mod common;

use std::sync::Arc;
use std::time::Duration;

use engine::events::RunEvent;
use engine::executor::{run_stream, Runs, TokioClock};
use engine::run::RunStatus;
use journal::{EventStore, ExpectedVersion, MemoryStore, NewEvent};
use serde_json::{json, Value};

use common::{until_status, workflow};

/// A fresh executor on its own store, with the cache on or off, and the store.
fn runs(cache: bool) -> (Runs, Arc<MemoryStore>) {
    let clock = TokioClock::starting_at(1_767_225_600_000);
    let store = Arc::new(MemoryStore::new());
    let runs = Runs::new(store.clone(), Arc::new(clock));
    if !cache {
        runs.limit_hot_runs(0, 0);
    }
    (runs, store)
}

async fn start(runs: &Runs, workflow_id: &str) -> String {
    common::start_with(runs, workflow_id, json!({"n": 7})).await
}

/// Waits until no driver runs for the run (it waits, parked or asleep).
async fn until_parked(runs: &Runs) {
    for _ in 0..1000 {
        if runs.drivers_running() == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("{} drivers still run", runs.drivers_running());
}

/// A run's journal without its ids: each event's name and its data, the run id blanked.
async fn journal(runs: &Runs, run_id: &str) -> Vec<(&'static str, String)> {
    runs.journal(run_id)
        .await
        .expect("journal")
        .iter()
        .map(|e| {
            let event = match &e.event {
                RunEvent::RunStarted { .. } => "RunStarted".to_owned(),
                other => format!("{other:?}"),
            };
            (e.event.name(), event)
        })
        .collect()
}

/// A nap of an hour, then a wait for an approval, then a transform of both.
fn steps() -> Value {
    json!([
        {"id": "nap", "type": "delay", "config": {"duration": "1h"}},
        {"id": "approve", "type": "wait", "config": {"timeout": "24h"}},
        {"id": "after", "type": "transform",
         "config": {"mapping": {"n": "{{input.n}}", "ok": "{{steps.approve.output.ok}}"}}}
    ])
}

/// Timer, then resume: the journal of a run driven with the cache on or off.
async fn woken_by_timer_then_resume(cache: bool) -> Vec<(&'static str, String)> {
    let (runs, _) = runs(cache);
    workflow(&runs, "wf", steps()).await;
    let run_id = start(&runs, "wf").await;
    until_status(&runs, &run_id, RunStatus::Sleeping).await;
    until_parked(&runs).await;
    assert_eq!(runs.hot_runs_cached(), usize::from(cache));

    // The timer falls due: the queue starts a driver (from the cached state when on).
    tokio::time::sleep(Duration::from_secs(3600)).await;
    until_status(&runs, &run_id, RunStatus::Paused).await;
    until_parked(&runs).await;
    assert_eq!(runs.hot_runs_cached(), usize::from(cache));

    let resumed = runs
        .resume(&run_id, json!({"ok": true}))
        .await
        .expect("resume");
    assert_eq!(resumed.run_id, run_id);
    let ended = runs
        .wait_for_end(&run_id, Duration::from_secs(60))
        .await
        .expect("wait");
    assert_eq!(ended.status, RunStatus::Completed, "{ended:?}");
    assert_eq!(ended.output, Some(json!({"n": 7, "ok": true})));
    assert_eq!(runs.hot_runs_cached(), 0, "an ended run is not cached");
    journal(&runs, &run_id).await
}

#[tokio::test(start_paused = true)]
async fn a_run_woken_by_its_timer_and_a_resume_writes_the_same_journal_with_the_cache() {
    let on = woken_by_timer_then_resume(true).await;
    let off = woken_by_timer_then_resume(false).await;
    assert_eq!(on, off);
    let names: Vec<_> = on.iter().map(|(name, _)| *name).collect();
    assert_eq!(
        names,
        [
            "RunStarted",
            "TimerScheduled",
            "TimerFired",
            "StepCompleted",
            "RunPaused",
            "RunResumed",
            "StepCompleted",
            "StepCompleted",
            "RunCompleted"
        ]
    );
}

/// Another writer resumes the run behind the process's back while it waits (its state
/// cached at the version before); then the wait's timeout falls due and the queue starts a
/// driver. Returns the journal.
async fn resumed_by_another_writer(cache: bool) -> Vec<(&'static str, String)> {
    let (runs, store) = runs(cache);
    workflow(&runs, "wf", steps()).await;
    let run_id = start(&runs, "wf").await;
    tokio::time::sleep(Duration::from_secs(3600)).await;
    until_status(&runs, &run_id, RunStatus::Paused).await;
    until_parked(&runs).await;
    assert_eq!(runs.hot_runs_cached(), usize::from(cache));

    let stream = run_stream(&run_id).expect("stream");
    let version = store.stream_version(&stream).await.expect("version");
    let resumed = RunEvent::RunResumed {
        step_id: "approve".into(),
        payload_json: json!({"ok": "elsewhere"}).to_string(),
    };
    store
        .append(
            &stream,
            ExpectedVersion::Exact(version),
            vec![NewEvent::new(resumed.tag(), resumed.encode())],
        )
        .await
        .expect("append");

    // The timeout would fire on the cached state; the journal says the run was resumed.
    tokio::time::sleep(Duration::from_secs(24 * 3600)).await;
    let ended = runs
        .wait_for_end(&run_id, Duration::from_secs(60))
        .await
        .expect("wait");
    assert_eq!(ended.status, RunStatus::Completed, "{ended:?}");
    assert_eq!(ended.output, Some(json!({"n": 7, "ok": "elsewhere"})));
    journal(&runs, &run_id).await
}

#[tokio::test(start_paused = true)]
async fn a_cached_state_behind_the_journal_is_brought_up_to_date_before_deciding() {
    let on = resumed_by_another_writer(true).await;
    let off = resumed_by_another_writer(false).await;
    assert_eq!(on, off);
    // One timer fired (the nap's): the wait's timeout never did.
    let names: Vec<_> = on.iter().map(|(name, _)| *name).collect();
    assert_eq!(
        names,
        [
            "RunStarted",
            "TimerScheduled",
            "TimerFired",
            "StepCompleted",
            "RunPaused",
            "RunResumed",
            "StepCompleted",
            "StepCompleted",
            "RunCompleted"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_run_leaves_the_cache_and_writes_the_same_journal() {
    let mut journals = Vec::new();
    for cache in [true, false] {
        let (runs, _) = runs(cache);
        workflow(&runs, "wf", steps()).await;
        let run_id = start(&runs, "wf").await;
        until_status(&runs, &run_id, RunStatus::Sleeping).await;
        until_parked(&runs).await;
        let cancelled = runs.cancel(&run_id, "not needed").await.expect("cancel");
        assert_eq!(cancelled.status, RunStatus::Cancelled);
        until_parked(&runs).await;
        assert_eq!(runs.hot_runs_cached(), 0);
        tokio::time::sleep(Duration::from_secs(2 * 3600)).await;
        journals.push(journal(&runs, &run_id).await);
    }
    assert_eq!(journals[0], journals[1]);
    let names: Vec<_> = journals[0].iter().map(|(name, _)| *name).collect();
    assert_eq!(names, ["RunStarted", "TimerScheduled", "RunCancelled"]);
}

#[tokio::test(start_paused = true)]
async fn the_cache_keeps_at_most_its_bound_of_runs() {
    let (runs, _) = runs(true);
    runs.limit_hot_runs(2, usize::MAX);
    workflow(&runs, "wf", steps()).await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(start(&runs, "wf").await);
    }
    for id in &ids {
        until_status(&runs, id, RunStatus::Sleeping).await;
    }
    until_parked(&runs).await;
    assert_eq!(runs.hot_runs_cached(), 2);
    // The runs evicted are read from the journal when due: all of them pause.
    tokio::time::sleep(Duration::from_secs(3600)).await;
    for id in &ids {
        until_status(&runs, id, RunStatus::Paused).await;
    }
    until_parked(&runs).await;
    assert_eq!(runs.hot_runs_cached(), 2);
}
