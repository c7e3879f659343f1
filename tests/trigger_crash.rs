//! Triggers across a crash of a real `duro serve`. Polling: the process dies after starting
//! the runs of a poll and before moving the trigger's cursor (DURO_TEST_CRASH_BEFORE_CURSOR);
//! after a restart it polls the same items again and every item has run exactly once.
//! Schedules: the process dies after starting a tick's run and before recording it
//! (DURO_TEST_CRASH_AFTER_TICK_START); after a restart every tick has exactly one run.

mod support;

use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use support::{free_port, Serve, Server};

const KEY: &str = "trigger-crash-test-key-0123456789";

fn serve(dir: &Path, port: u16, marker: &Path) -> Server {
    serve_crashing_at(dir, port, "DURO_TEST_CRASH_BEFORE_CURSOR", marker)
}

/// A ready `duro serve` that aborts at the crash point `var` once (while `marker` does not
/// exist).
fn serve_crashing_at(dir: &Path, port: u16, var: &str, marker: &Path) -> Server {
    Serve::new()
        .data_dir(dir)
        .port(port)
        .bootstrap_key(KEY)
        .env(var, marker)
        .start()
}

async fn call(request: reqwest::RequestBuilder) -> Value {
    let reply = request
        .header("x-api-key", KEY)
        .send()
        .await
        .expect("request");
    let status = reply.status();
    let body: Value = reply.json().await.expect("json");
    assert!(status.is_success(), "{status}: {body}");
    body
}

/// Creates and activates a workflow; returns its id.
async fn active_workflow(client: &reqwest::Client, base: &str, definition: Value) -> String {
    let workflow = call(
        client
            .post(format!("{base}/api/v1/workflows"))
            .json(&definition),
    )
    .await["data"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    call(
        client
            .patch(format!("{base}/api/v1/workflows/{workflow}/status"))
            .json(&json!({"status": "active"})),
    )
    .await;
    workflow
}

/// Waits until the server aborts at its crash point (which writes the marker first).
async fn wait_for_crash(child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the crash point was never reached"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        !status.success(),
        "the process was killed at the crash point"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_the_poll_and_the_cursor_runs_no_item_twice() {
    let items: Vec<Value> = (1..=5)
        .map(|n| json!({"id": format!("item-{n}"), "n": n}))
        .collect();
    let feed = Router::new().route(
        "/feed",
        get(move || {
            let items = items.clone();
            async move { Json(json!({ "items": items })) }
        }),
    );
    let feed_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let feed_address = feed_listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(feed_listener, feed).await });

    let dir = tempfile::tempdir().expect("tempdir");
    let marker = dir.path().join("crashed-once");
    let data = dir.path().join("data");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let mut server = serve(&data, port, &marker);

    let workflow = active_workflow(&client, &base, json!({
            "name": "per item",
            "steps": [{"id": "echo", "type": "transform", "config": {"mapping": {"n": "{{input.item.n}}"}}}]
        })).await;
    let trigger = call(client.put(format!("{base}/api/v1/triggers/feed")).json(&json!({
            "type": "polling", "workflowId": workflow,
            "config": {"url": format!("http://{feed_address}/feed"), "interval": "300ms", "itemsPointer": "/items"}
        })),
    )
    .await["data"]["id"]
        .as_str()
        .expect("id")
        .to_owned();

    // The first poll starts the runs, then the process dies before the cursor moves.
    wait_for_crash(&mut server.child).await;
    assert!(marker.exists());

    let server = serve(&data, port, &marker);
    // Wait until the cursor covers every item and all five runs have completed.
    let deadline = Instant::now() + Duration::from_secs(60);
    let runs = loop {
        let detail = call(client.get(format!("{base}/api/v1/triggers/{trigger}"))).await;
        let runs = call(client.get(format!(
            "{base}/api/v1/runs?workflowId={workflow}&limit=100"
        )))
        .await["data"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let seen = detail["data"]["cursorData"]["seen"]
            .as_array()
            .map(Vec::len);
        if seen == Some(5) && runs.len() >= 5 && runs.iter().all(|r| r["status"] == "completed") {
            break runs;
        }
        assert!(
            Instant::now() < deadline,
            "items did not all run: {detail} {runs:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // Polls after the restart find nothing new: still exactly one run per item.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let again = call(client.get(format!(
        "{base}/api/v1/runs?workflowId={workflow}&limit=100"
    )))
    .await["data"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(runs.len(), 5, "{runs:?}");
    assert_eq!(again.len(), 5, "{again:?}");
    let mut keys: Vec<String> = again
        .iter()
        .filter_map(|r| r["idempotencyKey"].as_str().map(str::to_owned))
        .collect();
    keys.sort();
    let expected: Vec<String> = (1..=5).map(|n| format!("{trigger}:item-{n}")).collect();
    assert_eq!(keys, expected);
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_during_a_ticks_run_start_runs_the_tick_exactly_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let marker = dir.path().join("crashed-once");
    let data = dir.path().join("data");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let crash_point = "DURO_TEST_CRASH_AFTER_TICK_START";
    let mut server = serve_crashing_at(&data, port, crash_point, &marker);
    let workflow = active_workflow(&client, &base, json!({
            "name": "tick",
            "steps": [{"id": "at", "type": "transform", "config": {"mapping": {"at": "{{input.scheduledAt}}"}}}]
        })).await;
    // allow_all: ticks caught up after the restart run even while an earlier one's run goes.
    let trigger = call(
        client
            .put(format!("{base}/api/v1/triggers/every-second"))
            .json(&json!({
                "type": "schedule", "workflowId": workflow,
                "config": {"interval": "1s", "overlap": "allow_all"}
            })),
    )
    .await["data"]["id"]
        .as_str()
        .expect("id")
        .to_owned();

    wait_for_crash(&mut server.child).await;

    let server = serve_crashing_at(&data, port, crash_point, &marker);
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let runs = call(client.get(format!(
        "{base}/api/v1/runs?workflowId={workflow}&limit=100"
    )))
    .await["data"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    drop(server);
    let mut ticks: Vec<i64> = runs
        .iter()
        .map(|run| {
            let key = run["idempotencyKey"].as_str().expect("a tick's key");
            let time = key
                .strip_prefix(&format!("{trigger}:"))
                .expect("the trigger's key");
            chrono::DateTime::parse_from_rfc3339(time)
                .expect("the tick's time")
                .timestamp()
        })
        .collect();
    ticks.sort_unstable();
    assert!(ticks.len() >= 3, "{runs:?}");
    let distinct: std::collections::HashSet<i64> = ticks.iter().copied().collect();
    assert_eq!(distinct.len(), ticks.len(), "no tick ran twice: {ticks:?}");
    for pair in ticks.windows(2) {
        assert_eq!(pair[1] - pair[0], 1, "no tick was lost: {ticks:?}");
    }
}
