//! Backup and restore of a whole deployment: 10,000 runs of mixed workflows (finished,
//! failed, paused, sleeping), a schedule trigger and an API key are exported with
//! `duro journal export`, verified, imported into a fresh directory with `duro journal
//! import`; the read models of the copy list the same runs with the same details, and after
//! `duro serve` on the copy the sleeping runs wake, the paused ones resume on request, the
//! schedule keeps firing and the key still authenticates.
//!
//! The original deployment is made in-process (the API over the embedded journal, runs
//! started through the engine for speed) and shut down before the binary exports it.

mod support;

use std::path::Path;
use std::process::Output;
use std::sync::Arc;
use std::time::{Duration, Instant};

use api::{ApiConfig, AppState};
use credentials::connections::SecretKey;
use credentials::keys::Scope;
use engine::executor::{Clock, Runs, StartRun, SystemClock};
use engine::run::RunStatus;
use journal::{EmbeddedConfig, EmbeddedStore, EventStore};
use readmodels::{ReadModels, RunQuery, RunSummary};
use serde_json::{json, Value};
use support::{Serve, Server};

const QUICK: usize = 6_000;
const FAILING: usize = 1_500;
const PAUSED: usize = 1_500;
const SLEEPING: usize = 1_000;
/// The sleepers' delay. The original's wall clock stands still, SLEEP_MS behind the
/// machine's: no sleeper wakes before the original is shut down, and under the restored
/// server (on the machine's clock) every sleeper's timer has fallen due, so none is waited for.
const SLEEP: &str = "40s";
const SLEEP_MS: i64 = 40_000;
/// Runs started at once in the original.
const STARTERS: usize = 32;

fn duro(args: &[&str]) -> Output {
    support::duro_output(args, None, &["DURO_URL", "DURO_DATA_DIR"])
}

fn succeeded(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or(Value::Null)
}

/// A wall clock that stands still.
struct StillClock(i64);

impl Clock for StillClock {
    fn now_ms(&self) -> i64 {
        self.0
    }
}

/// What the original deployment holds, for the checks on the copy.
struct Original {
    admin_key: String,
    paused: Vec<String>,
    sleeping: Vec<String>,
    scheduled_workflow: String,
}

/// Builds the original deployment in `dir` and shuts it down.
fn build_original(dir: &Path) -> Original {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let original = runtime.block_on(async {
        let store: Arc<dyn EventStore> =
            Arc::new(EmbeddedStore::open(EmbeddedConfig::new(dir)).expect("open journal"));
        let models =
            ReadModels::open(&readmodels::dir_in(dir), store.clone()).expect("read models");
        models.spawn_follower();
        let state = AppState::new(
            store.clone(),
            Arc::new(StillClock(SystemClock.now_ms() - SLEEP_MS)),
            ApiConfig::default(),
            models,
            SecretKey::generate(),
        );
        let (_, admin_key) = state
            .keys
            .create("operator", &[Scope::Admin])
            .await
            .expect("admin key");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let router = api::router(state.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        let http = reqwest::Client::new();
        let call = |method: reqwest::Method, path: &str, body: Value| {
            let request = http
                .request(method, format!("{url}{path}"))
                .header("x-api-key", &admin_key)
                .json(&body);
            async move {
                let response = request.send().await.expect("request");
                let status = response.status();
                let body: Value = response.json().await.expect("JSON body");
                assert!(status.is_success(), "{status}: {body}");
                body["data"].clone()
            }
        };
        let workflow = |definition: Value| {
            let call = &call;
            async move {
                let created = call(reqwest::Method::POST, "/api/v1/workflows", definition).await;
                let id = created["id"].as_str().expect("id").to_owned();
                call(
                    reqwest::Method::PATCH,
                    &format!("/api/v1/workflows/{id}/status"),
                    json!({"status": "active"}),
                )
                .await;
                id
            }
        };
        let quick = workflow(json!({"name": "quick", "steps": [
            {"id": "sum", "type": "transform", "config": {"mapping": {"total": "{{input.n | times: 2}}"}}}]}))
        .await;
        let failing = workflow(json!({"name": "failing", "steps": [
            {"id": "call", "type": "http", "config": {"url": "http://127.0.0.1:1/"}, "retry": {"maxAttempts": 1}}]}))
        .await;
        let approval = workflow(json!({"name": "approval", "steps": [
            {"id": "hold", "type": "wait"},
            {"id": "after", "type": "transform", "config": {"mapping": {"approved": "{{steps.hold.output.ok}}"}}}]}))
        .await;
        let sleeper = workflow(json!({"name": "sleeper", "steps": [
            {"id": "nap", "type": "delay", "config": {"duration": SLEEP}},
            {"id": "woke", "type": "transform", "config": {"mapping": {"n": "{{input.n}}"}}}]}))
        .await;
        let scheduled = workflow(json!({"name": "scheduled", "steps": [
            {"id": "tick", "type": "transform", "config": {"mapping": {"at": "{{input.scheduledTime}}"}}}]}))
        .await;
        call(
            reqwest::Method::PUT,
            "/api/v1/triggers/every-second",
            json!({"type": "schedule", "workflowId": scheduled, "config": {"interval": "1s"}}),
        )
        .await;

        let plan: Vec<&str> = std::iter::repeat_n(quick.as_str(), QUICK)
            .chain(std::iter::repeat_n(failing.as_str(), FAILING))
            .chain(std::iter::repeat_n(approval.as_str(), PAUSED))
            .chain(std::iter::repeat_n(sleeper.as_str(), SLEEPING))
            .collect();
        let started = start_all(&state.runs, &plan).await;
        let of = |workflow: &str| -> Vec<String> {
            started
                .iter()
                .filter(|(w, _)| w == workflow)
                .map(|(_, r)| r.clone())
                .collect()
        };
        let (paused, sleeping) = (of(&approval), of(&sleeper));
        // Every run stands where it should before the shutdown.
        let deadline = Instant::now() + Duration::from_secs(120);
        for (workflow, status, count) in [
            (&quick, RunStatus::Completed, QUICK),
            (&failing, RunStatus::Failed, FAILING),
            (&approval, RunStatus::Paused, PAUSED),
            (&sleeper, RunStatus::Sleeping, SLEEPING),
        ] {
            loop {
                let settled = count_runs(&state.read_models, workflow, status);
                if settled == count {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "{settled} of {count} runs of {workflow} are {status:?}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        state.read_models.flush().expect("flush read models");
        Original {
            admin_key,
            paused,
            sleeping,
            scheduled_workflow: scheduled,
        }
    });
    // Dropping the runtime stops every task (drivers, the server, the read-model follower),
    // which drops the last handles on the journal and releases the directory.
    runtime.shutdown_timeout(Duration::from_secs(10));
    original
}

/// Starts a run of each workflow in `plan`, `STARTERS` at a time; (workflow, run) pairs.
async fn start_all(runs: &Runs, plan: &[&str]) -> Vec<(String, String)> {
    let mut started = Vec::with_capacity(plan.len());
    for chunk in plan.chunks(STARTERS) {
        let tasks: Vec<_> = chunk
            .iter()
            .enumerate()
            .map(|(i, workflow)| {
                let runs = runs.clone();
                let workflow = (*workflow).to_owned();
                let n = started.len() + i;
                tokio::spawn(async move {
                    let run = runs
                        .start(StartRun {
                            workflow_id: workflow.clone(),
                            input: Some(json!({ "n": n })),
                            ..StartRun::default()
                        })
                        .await
                        .expect("start run");
                    (workflow, run.run_id)
                })
            })
            .collect();
        for task in tasks {
            started.push(task.await.expect("starter"));
        }
    }
    started
}

fn count_runs(models: &ReadModels, workflow: &str, status: RunStatus) -> usize {
    all_runs(models, Some(workflow), Some(status)).len()
}

fn all_runs(
    models: &ReadModels,
    workflow: Option<&str>,
    status: Option<RunStatus>,
) -> Vec<RunSummary> {
    let mut items = Vec::new();
    let mut cursor = None;
    loop {
        let page = models
            .list_runs(&RunQuery {
                workflow_id: workflow.map(str::to_owned),
                status,
                limit: readmodels::LIMIT_MAX,
                cursor,
                ..RunQuery::default()
            })
            .expect("list runs");
        items.extend(page.items);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return items,
        }
    }
}

/// Every listed run of the directory (read models caught up with the journal) and every
/// run's detail, in list order. Opens the directory without starting any run.
fn snapshot(dir: &Path) -> (Vec<RunSummary>, Vec<String>) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let snapshot = runtime.block_on(async {
        let store: Arc<dyn EventStore> =
            Arc::new(EmbeddedStore::open(EmbeddedConfig::new(dir)).expect("open journal"));
        let models =
            ReadModels::open(&readmodels::dir_in(dir), store.clone()).expect("read models");
        let head = *store.subscribe().borrow();
        models.wait_for(head).await.expect("read models catch up");
        let runs = Runs::new(store.clone(), Arc::new(SystemClock));
        let listed = all_runs(&models, None, None);
        let mut details = Vec::with_capacity(listed.len());
        for run in &listed {
            let view = runs.get(&run.run_id).await.expect("run detail");
            details.push(api::reply::run_json(&view).to_string());
        }
        (listed, details)
    });
    runtime.shutdown_timeout(Duration::from_secs(10));
    snapshot
}

fn serve(dir: &Path) -> Server {
    Serve::new()
        .data_dir(dir)
        .env_remove("DURO_CONFIG")
        .env_remove("DURO_BOOTSTRAP_KEY")
        .within(Duration::from_secs(120))
        .poll_every(Duration::from_millis(100))
        .start()
}

#[test]
fn ten_thousand_runs_survive_export_and_import_and_carry_on() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let original_dir = scratch.path().join("original");
    let restored_dir = scratch.path().join("restored");
    let archive = scratch.path().join("backup.duro");
    let original = build_original(&original_dir);

    let exported = succeeded(&duro(&[
        "journal",
        "export",
        "--data-dir",
        original_dir.to_str().expect("path"),
        "--out",
        archive.to_str().expect("path"),
        "--json",
    ]));
    succeeded(&duro(&[
        "journal",
        "verify",
        "--in",
        archive.to_str().expect("path"),
    ]));
    succeeded(&duro(&[
        "journal",
        "import",
        "--data-dir",
        restored_dir.to_str().expect("path"),
        "--in",
        archive.to_str().expect("path"),
    ]));
    succeeded(&duro(&[
        "journal",
        "verify",
        "--data-dir",
        restored_dir.to_str().expect("path"),
    ]));
    let again = scratch.path().join("again.duro");
    let reexported = succeeded(&duro(&[
        "journal",
        "export",
        "--data-dir",
        restored_dir.to_str().expect("path"),
        "--out",
        again.to_str().expect("path"),
        "--json",
    ]));
    assert_eq!(reexported["records"], exported["records"], "{reexported}");
    assert_eq!(
        reexported["recordsDigest"], exported["recordsDigest"],
        "the copy holds exactly the original's records: {reexported}"
    );

    // The same lists, the same run details.
    let (listed, details) = snapshot(&original_dir);
    assert_eq!(listed.len(), QUICK + FAILING + PAUSED + SLEEPING);
    let (restored_listed, restored_details) = snapshot(&restored_dir);
    assert_eq!(restored_listed, listed);
    assert_eq!(restored_details, details);

    // The copy carries on.
    let server = serve(&restored_dir);
    let client = Http::new(&server.url, &original.admin_key);
    let paused = &original.paused[0];
    assert_eq!(
        client.get(&format!("/api/v1/runs/{paused}"))["status"],
        "paused"
    );
    let resumed = client.post(
        &format!("/api/v1/runs/{paused}/resume"),
        json!({"payload": {"ok": true}}),
    );
    assert!(resumed["status"].is_string(), "{resumed}");
    let done = client.wait_for(paused, "completed", Duration::from_secs(60));
    assert_eq!(done["output"], json!({"approved": true}), "{done}");
    assert_eq!(
        client.get(&format!("/api/v1/runs/{}", original.paused[1]))["status"],
        "paused",
        "only the resumed run moved on"
    );
    for sleeper in [
        &original.sleeping[0],
        original.sleeping.last().expect("sleeper"),
    ] {
        let woke = client.wait_for(sleeper, "completed", Duration::from_secs(120));
        assert_eq!(woke["steps"][0]["id"], "nap", "{woke}");
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let fired = client.get(&format!(
            "/api/v1/runs?workflowId={}&limit=10",
            original.scheduled_workflow
        ));
        if fired.as_array().is_some_and(|runs| runs.len() >= 2) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the schedule did not fire: {fired}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A minimal blocking HTTP client over the async reqwest client.
struct Http {
    runtime: tokio::runtime::Runtime,
    client: reqwest::Client,
    url: String,
    key: String,
}

impl Http {
    fn new(url: &str, key: &str) -> Http {
        Http {
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime"),
            client: reqwest::Client::new(),
            url: url.to_owned(),
            key: key.to_owned(),
        }
    }

    fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        self.runtime.block_on(async {
            let mut request = self
                .client
                .request(method, format!("{}{path}", self.url))
                .header("x-api-key", &self.key);
            if let Some(body) = body {
                request = request.json(&body);
            }
            let response = request.send().await.expect("request");
            let status = response.status();
            let body: Value = response.json().await.expect("JSON body");
            assert!(status.is_success(), "{path}: {status}: {body}");
            body["data"].clone()
        })
    }

    fn get(&self, path: &str) -> Value {
        self.send(reqwest::Method::GET, path, None)
    }

    fn post(&self, path: &str, body: Value) -> Value {
        self.send(reqwest::Method::POST, path, Some(body))
    }

    fn wait_for(&self, run: &str, status: &str, within: Duration) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let detail = self.get(&format!("/api/v1/runs/{run}"));
            if detail["status"] == status {
                return detail;
            }
            assert!(
                Instant::now() < deadline,
                "run {run} is not {status}: {detail}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
