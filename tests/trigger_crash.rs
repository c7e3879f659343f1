//! Triggers across a crash of a real `duro serve`, aborted at a failpoint (built with
//! `--features failpoints`, armed by `FAILPOINTS`; restarted without it). Polling: the process
//! dies after starting the runs of a poll and before moving the trigger's cursor
//! (`trigger.before_cursor`); after a restart it polls the same items again and every item
//! has run exactly once. Schedules: the process dies after starting a tick's run and before
//! recording it (`trigger.after_tick_start`); after a restart every tick has exactly one run.

mod support;

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Child;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use support::{free_port, Serve, Server};

const KEY: &str = "trigger-crash-test-key-0123456789";

/// A ready `duro serve`.
fn serve(dir: &Path, port: u16) -> Server {
    Serve::new()
        .data_dir(dir)
        .port(port)
        .bootstrap_key(KEY)
        .env_remove("FAILPOINTS")
        .start()
}

/// A ready `duro serve` that aborts the first time it reaches the failpoint `name`.
fn serve_crashing_at(dir: &Path, port: u16, name: &str) -> Server {
    Serve::new()
        .data_dir(dir)
        .port(port)
        .bootstrap_key(KEY)
        .env("FAILPOINTS", format!("{name}=return"))
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

/// Waits until the server aborts at its failpoint.
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
    assert_eq!(
        status.signal(),
        Some(libc::SIGABRT),
        "the process aborted at the failpoint: {status}"
    );
}

/// The runs of `workflow` as listed by the API.
async fn runs_of(client: &reqwest::Client, base: &str, workflow: &str) -> Vec<Value> {
    call(client.get(format!(
        "{base}/api/v1/runs?workflowId={workflow}&limit=100"
    )))
    .await["data"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_the_poll_and_the_cursor_runs_no_item_twice() {
    let items: Vec<Value> = (1..=5)
        .map(|n| json!({"id": format!("item-{n}"), "n": n}))
        .collect();
    let polls = Arc::new(AtomicUsize::new(0));
    let counted = polls.clone();
    let feed = Router::new().route(
        "/feed",
        get(move || {
            let items = items.clone();
            counted.fetch_add(1, Ordering::SeqCst);
            async move { Json(json!({ "items": items })) }
        }),
    );
    let feed_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let feed_address = feed_listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(feed_listener, feed).await });

    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let mut server = serve_crashing_at(&data, port, "trigger.before_cursor");

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

    let server = serve(&data, port);
    // Wait until the cursor covers every item and all five runs have completed.
    let deadline = Instant::now() + Duration::from_secs(60);
    let runs = loop {
        let detail = call(client.get(format!("{base}/api/v1/triggers/{trigger}"))).await;
        let runs = runs_of(&client, &base, &workflow).await;
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
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // Polls after the restart find nothing new: after three more, still one run per item.
    let polled = polls.load(Ordering::SeqCst);
    while polls.load(Ordering::SeqCst) < polled + 3 {
        assert!(Instant::now() < deadline, "the feed was not polled again");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let again = runs_of(&client, &base, &workflow).await;
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
    let data = dir.path().join("data");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let mut server = serve_crashing_at(&data, port, "trigger.after_tick_start");
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

    let server = serve(&data, port);
    // The tick that crashed and at least two after it.
    let deadline = Instant::now() + Duration::from_secs(60);
    let runs = loop {
        let runs = runs_of(&client, &base, &workflow).await;
        if runs.len() >= 3 {
            break runs;
        }
        assert!(Instant::now() < deadline, "ticks did not run: {runs:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
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
