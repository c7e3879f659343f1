//! Long runs load from a snapshot of their state: a run of more than `SNAPSHOT_AFTER_EVENTS`
//! events leaves one when it is read, and the next load starts from it and the events after
//! it. The journal it goes on to write is the same as without snapshots. A snapshot that does
//! not match its journal, or does not decode, or a snapshot file that is damaged, is ignored
//! and the run folded from its first event: derived state, never a lost run.

mod common;

use std::sync::Arc;

use common::{start_with, until_status, workflow};
use engine::executor::{Integrations, RunSnapshots, Runs, TokioClock, SNAPSHOT_AFTER_EVENTS};
use engine::run::RunStatus;
use journal::MemoryStore;
use serde_json::{json, Value};

/// A foreach of `items` transforms (one event each, and more), then a wait, then a transform
/// reading both.
fn long_then_wait() -> Value {
    json!([
        {"id": "each", "type": "foreach",
         "config": {"items": "{{input.items}}", "concurrency": 10,
                    "steps": [{"id": "double", "type": "transform",
                               "config": {"mapping": {"n": "{{item}}"}}}]}},
        {"id": "approval", "type": "wait"},
        {"id": "sum", "type": "transform",
         "config": {"mapping": {"count": "{{steps.each.output | size}}",
                                "approved": "{{steps.approval.output.ok}}"}}}
    ])
}

fn runs_with(snapshots: Arc<RunSnapshots>) -> (Runs, Arc<MemoryStore>) {
    let store = Arc::new(MemoryStore::new());
    let clock = TokioClock::starting_at(1_767_225_600_000);
    let runs = Runs::with_snapshots(
        store.clone(),
        Arc::new(clock),
        Integrations::standard(),
        snapshots,
    );
    (runs, store)
}

/// The run's journal as (name, event) pairs with the run's own id blanked, to compare runs.
async fn journal_of(runs: &Runs, run_id: &str) -> Vec<String> {
    runs.journal(run_id)
        .await
        .expect("journal")
        .iter()
        .map(|e| format!("{:?}", e.event).replace(run_id, "RUN"))
        .collect()
}

/// Runs the workflow to its pause, reads it (leaving a snapshot when there is a store),
/// resumes it and returns its journal and output.
async fn paused_then_resumed(runs: &Runs, items: usize) -> (String, Vec<String>, Value) {
    workflow(runs, "wf_long", long_then_wait()).await;
    let input = json!({"items": (0..items).collect::<Vec<_>>()});
    let run_id = start_with(runs, "wf_long", input).await;
    until_status(runs, &run_id, RunStatus::Paused).await;
    let paused = runs.get(&run_id).await.expect("get");
    assert_eq!(paused.status, RunStatus::Paused);
    runs.resume(&run_id, json!({"ok": true}))
        .await
        .expect("resume");
    until_status(runs, &run_id, RunStatus::Completed).await;
    let done = runs.get(&run_id).await.expect("get");
    let journal = journal_of(runs, &run_id).await;
    (run_id, journal, done.output.expect("an output"))
}

#[tokio::test(start_paused = true)]
async fn a_long_run_loads_from_its_snapshot_and_writes_the_same_journal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let snapshots = Arc::new(RunSnapshots::open(dir.path()));
    let (runs, _) = runs_with(snapshots.clone());
    let items = SNAPSHOT_AFTER_EVENTS as usize + 200;
    let (run_id, journal, output) = paused_then_resumed(&runs, items).await;
    assert!(
        journal.len() as u64 > SNAPSHOT_AFTER_EVENTS,
        "{}",
        journal.len()
    );
    assert_eq!(output, json!({"count": items, "approved": true}));
    let snapshot = snapshots
        .get(&run_id)
        .expect("reading the long run left a snapshot");
    let (restored, mark) = duro_core::snapshot::decode(&snapshot).expect("it decodes");
    assert!(mark.seq >= SNAPSHOT_AFTER_EVENTS && restored.version == mark.seq);

    // The same workflow and input without snapshots writes the same journal.
    let (plain, _) = runs_with(Arc::new(RunSnapshots::off()));
    let (_, plain_journal, plain_output) = paused_then_resumed(&plain, items).await;
    assert_eq!(journal, plain_journal);
    assert_eq!(output, plain_output);

    // Reading the run again from its snapshot shows what folding every event shows.
    let from_snapshot = runs.get(&run_id).await.expect("get");
    assert_eq!(from_snapshot.output, Some(output));
    assert_eq!(from_snapshot.steps.len(), items + 3);
}

#[tokio::test(start_paused = true)]
async fn a_snapshot_of_another_journal_or_unreadable_bytes_is_ignored() {
    let dir = tempfile::tempdir().expect("tempdir");
    let snapshots = Arc::new(RunSnapshots::open(dir.path()));
    let (runs, _) = runs_with(snapshots.clone());
    let items = SNAPSHOT_AFTER_EVENTS as usize + 10;
    workflow(&runs, "wf_long", long_then_wait()).await;
    let first = start_with(
        &runs,
        "wf_long",
        json!({"items": (0..items).collect::<Vec<_>>()}),
    )
    .await;
    let second = start_with(&runs, "wf_long", json!({"items": [1, 2, 3]})).await;
    until_status(&runs, &first, RunStatus::Paused).await;
    until_status(&runs, &second, RunStatus::Paused).await;
    let second_view = runs.get(&second).await.expect("get");
    let first_view = runs.get(&first).await.expect("get");
    let snapshot = snapshots.get(&first).expect("a snapshot of the long run");

    // The first run's snapshot filed under the second: its mark does not match the second's
    // journal, so the second is folded from its own events.
    snapshots.put(&second, &snapshot);
    assert_eq!(runs.get(&second).await.expect("get"), second_view);
    // Bytes that are no snapshot.
    snapshots.put(&first, b"{\"format\": 1, \"not\": \"a snapshot\"}");
    assert_eq!(runs.get(&first).await.expect("get"), first_view);
    // And the run goes on as before.
    runs.resume(&first, json!({"ok": true}))
        .await
        .expect("resume");
    until_status(&runs, &first, RunStatus::Completed).await;
}

#[tokio::test]
async fn a_damaged_snapshot_file_is_started_afresh() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("snapshots.redb"), vec![0xAB; 8192]).expect("write");
    let snapshots = RunSnapshots::open(dir.path());
    assert_eq!(snapshots.get("run_x"), None);
    snapshots.put("run_x", b"bytes");
    assert_eq!(snapshots.get("run_x").as_deref(), Some(&b"bytes"[..]));
}
