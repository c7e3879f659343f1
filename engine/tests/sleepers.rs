//! Runs asleep on a timer hold no task: their driver stops and a queue of due times starts a
//! new one when the timer is due. Woken by the timer, a resume or a cancel, such a run writes
//! the same journal as one whose driver stayed (a timer too near to put the run to sleep).
//! On tokio's paused time, with a wall clock that follows it: nothing here waits an hour.

mod common;

use std::sync::Arc;
use std::time::Duration;

use engine::events::RunEvent;
use engine::executor::{
    IndexError, Recovered, Runs, TokioClock, UnfinishedRun, UnfinishedRuns, Wake,
};
use engine::run::RunStatus;
use journal::EventStore;
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

/// An index of unfinished runs written by hand, to say what a wrong one would say.
struct HandIndex {
    checkpoint: journal::Position,
    doubtful: Option<Vec<String>>,
    entries: Vec<UnfinishedRun>,
}

impl UnfinishedRuns for HandIndex {
    fn checkpoint(&self) -> Result<journal::Position, IndexError> {
        Ok(self.checkpoint)
    }

    fn doubtful_runs(&self) -> Result<Option<Vec<String>>, IndexError> {
        Ok(self.doubtful.clone())
    }

    fn unfinished_after(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<UnfinishedRun>, IndexError> {
        let mut entries = self.entries.clone();
        entries.sort_by(|a, b| a.run_id.cmp(&b.run_id));
        Ok(entries
            .into_iter()
            .filter(|e| after.is_none_or(|after| e.run_id.as_str() > after))
            .take(limit)
            .collect())
    }
}

/// The journal of a run that a crash left just after its `RunStarted` (no driver).
async fn started_only(store: &Arc<MemoryStore>, runs: &Runs, workflow_id: &str) -> String {
    let run_id = format!("run_{workflow_id}_orphan");
    let started = RunEvent::RunStarted {
        run_id: run_id.clone(),
        workflow_id: workflow_id.into(),
        workflow_version: 1,
        input_json: "{}".into(),
        idempotency_key: None,
        connection_id: None,
    };
    let stream = journal::StreamName::new(format!("run-{run_id}")).expect("stream");
    store
        .append(
            &stream,
            journal::ExpectedVersion::NoStream,
            vec![journal::NewEvent::new(started.tag(), started.encode())],
        )
        .await
        .expect("append");
    assert_eq!(
        runs.get(&run_id).await.expect("get").status,
        RunStatus::Pending
    );
    run_id
}

/// A restart that trusts an index of unfinished runs loses no run when the index is wrong:
/// a sleeping run listed as due now is read, sleeps again and wakes at its time; a run the
/// index does not list but names as doubtful is read; a paused run left unread resumes and
/// another is cancelled; a run left after its `RunStarted` continues. An index behind the
/// journal is not used. Every journal is the one a process that never stopped writes.
#[tokio::test(start_paused = true)]
async fn a_restart_from_a_wrong_index_loses_no_run() {
    let clock: Arc<dyn engine::executor::Clock> =
        Arc::new(TokioClock::starting_at(1_767_225_600_000));
    let store = Arc::new(MemoryStore::new());
    let before = Runs::new(store.clone(), clock.clone());
    let hold = json!([
        {"id": "approve", "type": "wait", "config": {}},
        {"id": "after", "type": "transform", "config": {"mapping": {"ok": "{{steps.approve.output.ok}}"}}}
    ]);
    workflow(&before, "wf_nap", nap("1h")).await;
    workflow(&before, "wf_hold", hold.clone()).await;
    workflow(
        &before,
        "wf_quick",
        json!([
            {"id": "only", "type": "transform", "config": {"mapping": {"done": true}}}
        ]),
    )
    .await;
    // The naps are due an hour after they start, so no sooner than an hour from now.
    let due_at = clock.now_ms() + 3_600_000;
    let early = start(&before, "wf_nap").await;
    let unlisted = start(&before, "wf_nap").await;
    let resumed = start(&before, "wf_hold").await;
    let cancelled = start(&before, "wf_hold").await;
    until_status(&before, &resumed, RunStatus::Paused).await;
    until_status(&before, &cancelled, RunStatus::Paused).await;
    until_asleep(&before, 2).await;
    let orphan = started_only(&store, &before, "wf_quick").await;
    drop(before);

    // Restarted with an index that says the first nap is due now, leaves the second out
    // (naming it as doubtful) and lists the rest rightly.
    let after = Runs::new(store.clone(), clock.clone());
    let committed = *journal::EventStore::subscribe(store.as_ref()).borrow();
    let entry = |run_id: &str, wake| UnfinishedRun {
        run_id: run_id.to_owned(),
        wake,
    };
    let index = HandIndex {
        checkpoint: committed,
        doubtful: Some(vec![unlisted.clone()]),
        entries: vec![
            entry(&early, Wake::At(clock.now_ms())),
            entry(&resumed, Wake::OnResume),
            entry(&cancelled, Wake::OnResume),
            entry(&orphan, Wake::Now),
        ],
    };
    let recovered = after.recover_with(&index).await.expect("recover");
    assert_eq!(
        recovered,
        Recovered {
            driven: 2,
            asleep: 1,
            parked: 2,
            from_index: true
        }
    );
    let ended = after
        .wait_for_end(&orphan, Duration::from_secs(60))
        .await
        .expect("wait");
    assert_eq!(ended.output, Some(json!({"done": true})));
    // Both naps sleep in the queue, the early one again after being read.
    until_asleep(&after, 2).await;
    tokio::time::sleep(Duration::from_millis(
        (due_at - clock.now_ms() - 1_000) as u64,
    ))
    .await;
    for nap in [&early, &unlisted] {
        assert_eq!(
            after.get(nap).await.expect("get").status,
            RunStatus::Sleeping
        );
    }
    for nap in [&early, &unlisted] {
        let ended = after
            .wait_for_end(nap, Duration::from_secs(10))
            .await
            .expect("wait");
        assert_eq!(ended.status, RunStatus::Completed, "{ended:?}");
    }
    assert!(clock.now_ms() >= due_at);
    after
        .resume(&resumed, json!({"ok": true}))
        .await
        .expect("resume");
    let ended = after
        .wait_for_end(&resumed, Duration::from_secs(60))
        .await
        .expect("wait");
    assert_eq!(ended.output, Some(json!({"ok": true})));
    let ended = after.cancel(&cancelled, "no").await.expect("cancel");
    assert_eq!(ended.status, RunStatus::Cancelled);

    // The same runs in a process that never stopped write the same journals.
    let kept = runs();
    workflow(&kept, "wf_nap", nap("1h")).await;
    workflow(&kept, "wf_hold", hold).await;
    let nap_kept = start(&kept, "wf_nap").await;
    let hold_kept = start(&kept, "wf_hold").await;
    let cancel_kept = start(&kept, "wf_hold").await;
    until_status(&kept, &hold_kept, RunStatus::Paused).await;
    until_status(&kept, &cancel_kept, RunStatus::Paused).await;
    kept.wait_for_end(&nap_kept, Duration::from_secs(7200))
        .await
        .expect("wait");
    kept.resume(&hold_kept, json!({"ok": true}))
        .await
        .expect("resume");
    kept.wait_for_end(&hold_kept, Duration::from_secs(60))
        .await
        .expect("wait");
    kept.cancel(&cancel_kept, "no").await.expect("cancel");
    for (restarted, kept_run) in [
        (&early, &nap_kept),
        (&unlisted, &nap_kept),
        (&resumed, &hold_kept),
        (&cancelled, &cancel_kept),
    ] {
        assert_eq!(
            journal(&after, restarted).await,
            journal(&kept, kept_run).await
        );
    }

    // An index behind the journal is not used: every run is read (none is left unfinished).
    let behind = HandIndex {
        checkpoint: journal::Position(committed.0 - 1),
        doubtful: Some(Vec::new()),
        entries: Vec::new(),
    };
    drop(after);
    let again = Runs::new(store.clone(), clock.clone());
    let recovered = again.recover_with(&behind).await.expect("recover");
    assert!(!recovered.from_index);
    assert_eq!(recovered.total(), 0);
}
