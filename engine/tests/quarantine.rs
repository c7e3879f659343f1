//! Damage that heals: a run whose journal holds an event the engine cannot decode is
//! quarantined (status `corrupt`, its events before the bad one shown), and nothing else
//! notices: a restart recovers every other run, and they finish.

mod common;

use std::sync::Arc;
use std::time::Duration;

use engine::executor::{Runs, RunsError, SystemClock};
use engine::run::RunStatus;
use journal::{EventStore, EventType, ExpectedVersion, MemoryStore, NewEvent, StreamName};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(20);

async fn approval_workflow(runs: &Runs) {
    let steps = json!([
        {"id": "approve", "type": "wait"},
        {"id": "done", "type": "transform",
         "config": {"mapping": {"ok": "{{steps.approve.output.ok}}"}}}
    ]);
    common::workflow(runs, "wf_a", steps).await;
}

/// Starts a run and waits until it is paused at its wait step.
async fn paused_run(runs: &Runs) -> String {
    let run_id = common::start_with(runs, "wf_a", json!({})).await;
    common::until_status(runs, &run_id, RunStatus::Paused).await;
    run_id
}

/// Appends bytes no run event decodes from, under a run event's tag (as bit rot that kept
/// its checksum, or an event written by a newer version, would leave).
async fn append_undecodable(store: &MemoryStore, run_id: &str) -> u64 {
    let stream = StreamName::new(format!("run-{run_id}")).expect("stream");
    let appended = store
        .append(
            &stream,
            ExpectedVersion::Any,
            vec![NewEvent::new(EventType(102), vec![0xff; 12])],
        )
        .await
        .expect("append");
    appended.first_seq.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_corrupt_event_quarantines_one_run_and_the_others_finish() {
    let store = Arc::new(MemoryStore::new());
    let (healthy, corrupt) = {
        let runs = Runs::new(store.clone(), Arc::new(SystemClock));
        approval_workflow(&runs).await;
        let first = paused_run(&runs).await;
        let corrupt = paused_run(&runs).await;
        let last = paused_run(&runs).await;
        (vec![first, last], corrupt)
    };
    let bad_seq = append_undecodable(&store, &corrupt).await;

    // A restart: recovery skips the corrupt run instead of refusing to start.
    let runs = Runs::new(store.clone(), Arc::new(SystemClock));
    let recovered = runs
        .recover()
        .await
        .expect("recovery goes on past a corrupt run");
    assert_eq!(recovered, 2, "the two sound runs are recovered");

    let view = runs.get(&corrupt).await.expect("a corrupt run is shown");
    assert_eq!(view.status, RunStatus::Corrupt);
    assert_eq!(view.run_id, corrupt);
    assert_eq!(
        view.workflow_id, "wf_a",
        "the events before the bad one are shown"
    );
    let error = view.error.expect("the corruption is the run's error");
    assert_eq!(error.code.as_deref(), Some("CORRUPT_EVENT"));
    assert!(
        error
            .message
            .starts_with(&format!("event {bad_seq} of its journal cannot be decoded")),
        "{}",
        error.message
    );
    assert_eq!(
        view.steps.iter().map(|s| s.status).collect::<Vec<_>>(),
        ["paused"]
    );

    // It is never acted on: no resume, no cancel, no rerun, no replay.
    for refused in [
        runs.resume(&corrupt, json!({"ok": true})).await.err(),
        runs.cancel(&corrupt, "no").await.err(),
    ] {
        match refused {
            Some(RunsError::RunCorrupt { run_id, corruption }) => {
                assert_eq!(run_id, corrupt);
                assert_eq!(corruption.seq, bad_seq);
            }
            other => panic!("expected RunCorrupt, got {other:?}"),
        }
    }
    // Waiting for its end answers at once: it will not move on.
    let waited = runs.wait_for_end(&corrupt, WAIT).await.expect("wait");
    assert_eq!(waited.status, RunStatus::Corrupt);

    // Every other run goes on as if nothing happened.
    for run_id in &healthy {
        runs.resume(run_id, json!({"ok": true}))
            .await
            .expect("resume");
        let run = runs.wait_for_end(run_id, WAIT).await.expect("end");
        assert_eq!(run.status, RunStatus::Completed, "{run:?}");
        assert_eq!(run.output, Some(json!({"ok": true})));
    }
    // Its journal is as it was: quarantine writes nothing.
    let stream = StreamName::new(format!("run-{corrupt}")).expect("stream");
    assert_eq!(
        store.stream_version(&stream).await.expect("version"),
        bad_seq
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_whose_first_event_is_unreadable_is_shown_as_corrupt() {
    let store = Arc::new(MemoryStore::new());
    let runs = Runs::new(store.clone(), Arc::new(SystemClock));
    let run_id = "run_0000000000000000000000000000000a";
    append_undecodable(&store, run_id).await;
    assert_eq!(runs.recover().await.expect("recover"), 0);
    let view = runs.get(run_id).await.expect("shown");
    assert_eq!(view.status, RunStatus::Corrupt);
    assert_eq!(view.run_id, run_id);
    assert_eq!(view.input, Value::Null);
    let error = view.error.expect("error");
    assert!(
        error.message.starts_with("event 1 of its journal"),
        "{error:?}"
    );
}
