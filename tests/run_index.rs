//! Start-up from the index of unfinished runs (the read models' `runs_unfinished`): a real
//! `duro serve` is SIGKILLed while runs start, sleep, pause and finish. The index the killed
//! server kept, caught up, equals one rebuilt from the journal entry for entry; the restarted
//! server recovers from it (its log says so), every acknowledged run is there, sleeping runs
//! wake and finish, paused runs resume or are cancelled, runs cut short continue; after a
//! clean stop the index is again equal to a rebuild, and empty.

mod support;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use engine::executor::{UnfinishedRuns, Wake};
use journal::{EmbeddedConfig, EmbeddedStore, EventStore};
use rand::Rng;
use readmodels::ReadModels;
use serde_json::{json, Value};
use support::api::Api;
use support::Serve;

const KEY: &str = "run-index-test-key-0123456789abcdef";

/// Opens the journal and the read models the server left in `dir` (it must be stopped),
/// catches the read models up as `duro serve` does, checks that they equal a projection
/// rebuilt from the journal entry for entry, and returns the index of unfinished runs.
async fn index_equals_rebuild(dir: &Path) -> Vec<(String, Wake)> {
    let journal_dir = dir.to_path_buf();
    let store: Arc<dyn EventStore> = Arc::new(
        tokio::task::spawn_blocking(move || EmbeddedStore::open(EmbeddedConfig::new(journal_dir)))
            .await
            .expect("join")
            .expect("open the journal"),
    );
    let kept = ReadModels::open(&readmodels::dir_in(dir), store.clone()).expect("read models");
    assert!(
        kept.rebuilt_at_open().is_none(),
        "{:?}",
        kept.rebuilt_at_open()
    );
    kept.catch_up().await.expect("catch up");
    let rebuilt = ReadModels::temporary(store.clone()).expect("temporary read models");
    rebuilt.catch_up().await.expect("rebuild");
    assert_eq!(kept.dump().expect("dump"), rebuilt.dump().expect("dump"));
    let mut index = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = kept
            .unfinished_after(after.as_deref(), 100)
            .expect("unfinished runs");
        let Some(last) = page.last() else { break };
        after = Some(last.run_id.clone());
        index.extend(page.into_iter().map(|e| (e.run_id, e.wake)));
    }
    index
}

fn definition(name: &str, first: Value) -> Value {
    json!({"name": name, "steps": [
        first,
        {"id": "after", "type": "transform", "config": {"mapping": {"ok": true}}}
    ]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkilled_server_restarts_from_its_index_of_unfinished_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data_dir: PathBuf = dir.path().to_path_buf();
    let serve = || {
        Serve::new()
            .bootstrap_key(KEY)
            .env_remove("DURO_CONFIG")
            .env("RUST_LOG", "info")
            .data_dir(&data_dir)
    };
    let mut server = serve().start();
    let api = Api::new(&server.url, KEY);
    // The nap is past the 2 s under which a driver waits itself: it sleeps in the queue.
    let nap = api
        .active_workflow(definition(
            "nap",
            json!({"id": "nap", "type": "delay", "config": {"duration": "3s"}}),
        ))
        .await;
    let hold = api
        .active_workflow(definition(
            "hold",
            json!({"id": "approve", "type": "wait", "config": {}}),
        ))
        .await;
    let quick = api
        .active_workflow(definition(
            "quick",
            json!({"id": "first", "type": "transform", "config": {"mapping": {"n": 1}}}),
        ))
        .await;
    let kinds = [nap.clone(), hold.clone(), quick.clone()];

    // Starters run until the server dies under them; the kill comes after a random number of
    // acknowledged starts.
    let acknowledged: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let mut starters = tokio::task::JoinSet::new();
    for starter in 0..4 {
        let (api, kinds, acknowledged) = (api.clone(), kinds.clone(), acknowledged.clone());
        starters.spawn(async move {
            for i in 0.. {
                let workflow = &kinds[(starter + i) % kinds.len()];
                match api.start_run(workflow, json!({})).await {
                    Some(run_id) => acknowledged
                        .lock()
                        .expect("lock")
                        .push((workflow.clone(), run_id)),
                    None => return,
                }
            }
        });
    }
    let kill_after = rand::rng().random_range(15..60);
    let deadline = Instant::now() + Duration::from_secs(60);
    while acknowledged.lock().expect("lock").len() < kill_after {
        assert!(Instant::now() < deadline, "the runs did not start");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.child.kill().expect("SIGKILL");
    server.child.wait().expect("wait");
    while starters.join_next().await.is_some() {}
    let runs = acknowledged.lock().expect("lock").clone();
    assert!(runs.len() >= kill_after);

    // The index the killed server kept equals a rebuild, and lists every acknowledged run
    // that waits for a resume.
    let index = index_equals_rebuild(&data_dir).await;
    for (workflow, run_id) in &runs {
        let entry = index.iter().find(|(id, _)| id == run_id).map(|(_, w)| *w);
        if *workflow == hold {
            assert!(
                matches!(entry, Some(Wake::OnResume | Wake::Now)),
                "{run_id}: {entry:?}"
            );
        }
        if *workflow == nap {
            assert!(
                !matches!(entry, Some(Wake::OnResume)),
                "{run_id}: {entry:?}"
            );
        }
    }

    // The restart recovers from the index.
    let log = data_dir.join("restart.log");
    let mut server = serve().stderr_file(&log).start();
    let api = Api::new(&server.url, KEY);
    let text = std::fs::read_to_string(&log).expect("log");
    let line = text
        .lines()
        .find(|line| line.contains("runs recovered"))
        .unwrap_or_else(|| panic!("no recovery line in:\n{text}"));
    assert!(line.contains("from_index=true"), "{line}");

    // Every run the server lists: the acknowledged ones, and any whose RunStarted was
    // durable when the kill cut its answer short.
    let listed = api.listed_runs().await;
    for (_, run_id) in &runs {
        assert!(listed.iter().any(|(id, _)| id == run_id), "{run_id} lost");
    }
    for (n, (run_id, _)) in listed.iter().enumerate() {
        let detail = api.run(run_id).await.expect("run");
        let workflow = detail["workflowId"].as_str().expect("workflow id");
        if workflow != hold {
            let run = api.ended(run_id, Duration::from_secs(60)).await;
            assert_eq!(run["status"], "completed", "{run}");
            assert_eq!(run["output"], json!({"ok": true}), "{run}");
            continue;
        }
        // Paused runs (those cut short before they paused, once their driver got there).
        api.until_status(run_id, &["paused"], Duration::from_secs(30))
            .await;
        let action = if n % 2 == 0 { "resume" } else { "cancel" };
        let body = if n % 2 == 0 {
            json!({"payload": {"go": true}})
        } else {
            json!({})
        };
        let (status, answer) = api
            .call(
                reqwest::Method::POST,
                &format!("/api/v1/runs/{run_id}/{action}"),
                Some(body),
            )
            .await;
        assert!(status < 300, "{action} {run_id}: {status} {answer}");
        let run = api.ended(run_id, Duration::from_secs(30)).await;
        if n % 2 == 0 {
            assert_eq!(run["status"], "completed", "{run}");
        } else {
            assert_eq!(run["status"], "cancelled", "{run}");
        }
    }
    assert_eq!(server.stop(), Some(0));

    // After a clean stop: equal to a rebuild, and nothing is unfinished.
    assert_eq!(index_equals_rebuild(&data_dir).await, Vec::new());
}
