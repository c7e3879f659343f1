//! The read models' index of unfinished runs (`runs_unfinished`, the `UnfinishedRuns` the
//! engine recovers from): what it says of each kind of waiting run, that catching up keeps
//! it equal to one rebuilt from the journal, and that a restart recovering from it reads only
//! the runs with something to do now while every run still behaves as in a process that never
//! stopped. On tokio's paused time with a wall clock that follows it.

use std::sync::Arc;
use std::time::Duration;

use engine::definition::{WorkflowSpec, WorkflowStatus};
use engine::executor::{Clock, Recovered, Runs, StartRun, TokioClock, UnfinishedRuns, Wake};
use engine::run::RunStatus;
use journal::{EventStore, MemoryStore};
use readmodels::ReadModels;
use serde_json::{json, Value};

const HOUR_MS: i64 = 3_600_000;

async fn workflow(runs: &Runs, id: &str, steps: Value) {
    let spec: WorkflowSpec =
        serde_json::from_value(json!({"name": id, "steps": steps})).expect("spec");
    runs.workflows().create(id, &spec).await.expect("create");
    runs.workflows()
        .set_status(id, WorkflowStatus::Active)
        .await
        .expect("activate");
}

async fn start(runs: &Runs, workflow_id: &str) -> String {
    runs.start(StartRun {
        workflow_id: workflow_id.into(),
        input: Some(json!({"items": [1, 2, 3]})),
        ..StartRun::default()
    })
    .await
    .expect("start")
    .run_id
}

async fn until(runs: &Runs, run_id: &str, status: RunStatus) {
    for _ in 0..1000 {
        if runs.get(run_id).await.expect("get").status == status {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("run {run_id} never reached {status:?}");
}

/// Waits until no driver runs and `asleep` runs are in the sleepers' queue.
async fn settled(runs: &Runs, asleep: usize) {
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

async fn journal(runs: &Runs, run_id: &str) -> Vec<&'static str> {
    runs.journal(run_id)
        .await
        .expect("journal")
        .iter()
        .map(|e| e.event.name())
        .collect()
}

/// Every unfinished run of the index, as (run id, wake).
fn index_of(models: &ReadModels) -> Vec<(String, Wake)> {
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = models
            .unfinished_after(after.as_deref(), 2)
            .expect("unfinished runs");
        let Some(last) = page.last() else { return out };
        after = Some(last.run_id.clone());
        out.extend(page.into_iter().map(|e| (e.run_id, e.wake)));
    }
}

/// The workflows of the test: a 1 h delay, a wait with a 1 day timeout, a wait without one,
/// a foreach whose items sleep 1 h, one transform.
async fn workflows(runs: &Runs) {
    let then = |first: Value| json!([first, {"id": "after", "type": "transform", "config": {"mapping": {"ok": true}}}]);
    workflow(
        runs,
        "wf_nap",
        then(json!({"id": "nap", "type": "delay", "config": {"duration": "1h"}})),
    )
    .await;
    workflow(
        runs,
        "wf_day",
        then(json!({"id": "approve", "type": "wait", "config": {"timeout": "24h"}})),
    )
    .await;
    workflow(
        runs,
        "wf_hold",
        then(json!({"id": "approve", "type": "wait", "config": {}})),
    )
    .await;
    workflow(
        runs,
        "wf_each",
        then(json!({"id": "each", "type": "foreach",
        "config": {"items": "{{input.items}}", "concurrency": 2,
                   "steps": [{"id": "nap", "type": "delay", "config": {"duration": "1h"}}]}})),
    )
    .await;
    workflow(
        runs,
        "wf_quick",
        then(json!({"id": "only", "type": "transform", "config": {"mapping": {}}})),
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_restart_reads_only_the_runs_with_something_to_do_and_each_behaves_as_if_kept() {
    let start_ms = 1_767_225_600_000;
    let clock: Arc<dyn Clock> = Arc::new(TokioClock::starting_at(start_ms));
    let store: Arc<dyn EventStore> = Arc::new(MemoryStore::new());
    let models = ReadModels::temporary(store.clone()).expect("read models");
    let before = Runs::new(store.clone(), clock.clone());
    workflows(&before).await;
    let nap = start(&before, "wf_nap").await;
    let day = start(&before, "wf_day").await;
    let hold = start(&before, "wf_hold").await;
    let cancel = start(&before, "wf_hold").await;
    let each = start(&before, "wf_each").await;
    let quick = start(&before, "wf_quick").await;
    before
        .wait_for_end(&quick, Duration::from_secs(10))
        .await
        .expect("wait");
    for (run, status) in [
        (&nap, RunStatus::Sleeping),
        (&day, RunStatus::Paused),
        (&hold, RunStatus::Paused),
        (&cancel, RunStatus::Paused),
        (&each, RunStatus::Sleeping),
    ] {
        until(&before, run, status).await;
    }
    settled(&before, 3).await;

    // What the index says of each, kept up by catching up, and equal to a rebuild's.
    models.catch_up().await.expect("catch up");
    let mut expected = vec![
        (nap.clone(), Wake::At(start_ms + HOUR_MS)),
        (day.clone(), Wake::At(start_ms + 24 * HOUR_MS)),
        (hold.clone(), Wake::OnResume),
        (cancel.clone(), Wake::OnResume),
        // Its items may be under way side by side: only reading it tells.
        (each.clone(), Wake::Now),
    ];
    expected.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(index_of(&models), expected);
    let rebuilt = ReadModels::temporary(store.clone()).expect("read models");
    rebuilt.catch_up().await.expect("rebuild");
    assert_eq!(models.dump().expect("dump"), rebuilt.dump().expect("dump"));
    models.rebuild().await.expect("rebuild in place");
    assert_eq!(index_of(&models), expected);
    assert_eq!(models.doubtful_runs().expect("doubtful"), Some(Vec::new()));

    // The restart: only the foreach is read; the nap and the day wait in the queue unread,
    // the two holds stay parked.
    drop(before);
    let after = Runs::new(store.clone(), clock.clone());
    let recovered = after.recover_with(&models).await.expect("recover");
    assert_eq!(
        recovered,
        Recovered {
            driven: 1,
            asleep: 2,
            parked: 2,
            from_index: true
        }
    );
    settled(&after, 3).await;

    // A minute before the hour everything still sleeps; then the nap and the items wake.
    tokio::time::sleep(Duration::from_millis((HOUR_MS - 60_000) as u64)).await;
    assert_eq!(
        after.get(&nap).await.expect("get").status,
        RunStatus::Sleeping
    );
    assert_eq!(
        after.get(&each).await.expect("get").status,
        RunStatus::Sleeping
    );
    for run in [&nap, &each] {
        let ended = after
            .wait_for_end(run, Duration::from_secs(3 * 3600))
            .await
            .expect("wait");
        assert_eq!(ended.status, RunStatus::Completed, "{ended:?}");
    }
    assert!(
        clock.now_ms() >= start_ms + 2 * HOUR_MS,
        "the items slept 1 h two at a time"
    );
    after.resume(&hold, json!({"ok": 1})).await.expect("resume");
    after.resume(&day, json!({"ok": 2})).await.expect("resume");
    for run in [&hold, &day] {
        let ended = after
            .wait_for_end(run, Duration::from_secs(60))
            .await
            .expect("wait");
        assert_eq!(ended.status, RunStatus::Completed, "{ended:?}");
    }
    let cancelled = after.cancel(&cancel, "no").await.expect("cancel");
    assert_eq!(cancelled.status, RunStatus::Cancelled);
    models.catch_up().await.expect("catch up");
    assert_eq!(index_of(&models), Vec::new());

    // A process that never stopped writes the same journals.
    let kept_store: Arc<dyn EventStore> = Arc::new(MemoryStore::new());
    let kept = Runs::new(kept_store, Arc::new(TokioClock::starting_at(start_ms)));
    workflows(&kept).await;
    let k_nap = start(&kept, "wf_nap").await;
    let k_day = start(&kept, "wf_day").await;
    let k_hold = start(&kept, "wf_hold").await;
    let k_cancel = start(&kept, "wf_hold").await;
    let k_each = start(&kept, "wf_each").await;
    for run in [&k_nap, &k_each] {
        kept.wait_for_end(run, Duration::from_secs(3 * 3600))
            .await
            .expect("wait");
    }
    kept.resume(&k_hold, json!({"ok": 1}))
        .await
        .expect("resume");
    kept.resume(&k_day, json!({"ok": 2})).await.expect("resume");
    for run in [&k_hold, &k_day] {
        kept.wait_for_end(run, Duration::from_secs(60))
            .await
            .expect("wait");
    }
    kept.cancel(&k_cancel, "no").await.expect("cancel");
    for (restarted, kept_run) in [
        (&nap, &k_nap),
        (&day, &k_day),
        (&hold, &k_hold),
        (&cancel, &k_cancel),
        (&each, &k_each),
    ] {
        assert_eq!(
            journal(&after, restarted).await,
            journal(&kept, kept_run).await,
            "{restarted}"
        );
    }
}

/// Read models behind the journal are not trusted: recovery reads every run.
#[tokio::test(start_paused = true)]
async fn recovery_reads_every_run_when_the_index_is_behind() {
    let clock: Arc<dyn Clock> = Arc::new(TokioClock::starting_at(1_767_225_600_000));
    let store: Arc<dyn EventStore> = Arc::new(MemoryStore::new());
    let models = ReadModels::temporary(store.clone()).expect("read models");
    let before = Runs::new(store.clone(), clock.clone());
    workflows(&before).await;
    let nap = start(&before, "wf_nap").await;
    until(&before, &nap, RunStatus::Sleeping).await;
    settled(&before, 1).await;
    drop(before);
    // Not caught up: the index knows nothing of the nap.
    assert!(models.checkpoint() < *store.subscribe().borrow());
    let after = Runs::new(store.clone(), clock.clone());
    let recovered = after.recover_with(&models).await.expect("recover");
    assert!(!recovered.from_index);
    assert_eq!(recovered.driven, 1);
    let ended = after
        .wait_for_end(&nap, Duration::from_secs(2 * 3600))
        .await
        .expect("wait");
    assert_eq!(ended.status, RunStatus::Completed);
}
