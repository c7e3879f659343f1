//! Foreach steps driven by the executor: outputs in item order, HTTP items side by side within
//! the concurrency limit (a real local server counts them), retries of one item, items that
//! are not an array, a failing item, and a run continued after its process stopped mid-way.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use engine::definition::{WorkflowSpec, WorkflowStatus};
use engine::events::RunEvent;
use engine::executor::{run_stream, RunView, Runs, StartRun, SystemClock};
use engine::run::RunStatus;
use journal::{EmbeddedConfig, EmbeddedStore, EventStore, MemoryStore, Seq};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(30);

async fn active_workflow(runs: &Runs, workflow_id: &str, definition: Value) {
    let spec: WorkflowSpec = serde_json::from_value(definition).expect("workflow JSON");
    runs.workflows()
        .create(workflow_id, &spec)
        .await
        .expect("create workflow");
    runs.workflows()
        .set_status(workflow_id, WorkflowStatus::Active)
        .await
        .expect("activate");
}

async fn run_to_end(runs: &Runs, workflow_id: &str, input: Value) -> RunView {
    let started = runs
        .start(StartRun {
            workflow_id: workflow_id.into(),
            input: Some(input),
            ..StartRun::default()
        })
        .await
        .expect("start");
    runs.wait_for_end(&started.run_id, WAIT).await.expect("run")
}

/// Every event of a run, decoded.
async fn journal_of(store: &Arc<dyn EventStore>, run_id: &str) -> Vec<RunEvent> {
    let stream = run_stream(run_id).expect("stream name");
    store
        .read_stream(&stream, Seq(1), 100_000)
        .await
        .expect("read")
        .iter()
        .map(|r| RunEvent::decode(r.event_type, &r.data).expect("decode"))
        .collect()
}

/// How many `StepCompleted` each step id has in a journal.
fn completions(journal: &[RunEvent]) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for event in journal {
        if let RunEvent::StepCompleted { step_id, .. } = event {
            *counts.entry(step_id.clone()).or_default() += 1;
        }
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreach_of_transforms_yields_each_items_last_output_in_item_order() {
    let store: Arc<dyn EventStore> = Arc::new(MemoryStore::new());
    let runs = Runs::new(store.clone(), Arc::new(SystemClock));
    active_workflow(
        &runs,
        "wf_lines",
        json!({
            "name": "Order lines",
            "steps": [
                { "id": "rate", "type": "transform", "config": { "mapping": { "pct": 10 } } },
                { "id": "each", "type": "foreach", "config": {
                    "items": "{{input.items}}",
                    "concurrency": 2,
                    "steps": [
                        { "id": "price", "type": "transform", "config": { "mapping": {
                            "sku": "{{item.sku}}",
                            "total": "{{item.qty | times: item.price}}"
                        } } },
                        { "id": "label", "type": "transform", "config": { "mapping": {
                            "line": "{{index}}: {{steps.price.output.sku}} x{{item.qty}}",
                            "total": "{{steps.price.output.total}}",
                            "pct": "{{steps.rate.output.pct}}"
                        } } }
                    ]
                } },
                { "id": "summary", "type": "transform", "config": { "mapping": {
                    "lines": "{{steps.each.output | size}}",
                    "totals": "{{steps.each.output | map: 'total'}}"
                } } }
            ]
        }),
    )
    .await;
    let items: Vec<Value> = (0..12)
        .map(|i| json!({ "sku": format!("sku-{i}"), "qty": i, "price": 3 }))
        .collect();
    let run = run_to_end(&runs, "wf_lines", json!({ "items": items })).await;
    assert_eq!(run.status, RunStatus::Completed, "{run:?}");
    let expected: Vec<Value> = (0..12)
        .map(|i| json!({ "line": format!("{i}: sku-{i} x{i}"), "total": i * 3, "pct": 10 }))
        .collect();
    let each = run.steps.iter().find(|s| s.id == "each").expect("each");
    assert_eq!(each.status, "completed");
    assert_eq!(each.output, Some(Value::Array(expected)));
    let totals: Vec<i64> = (0..12).map(|i| i * 3).collect();
    assert_eq!(
        run.output,
        Some(json!({ "lines": 12, "totals": totals })),
        "steps after the foreach read its array"
    );
    // Sub-steps show under their journal ids: steps in the order they began, a foreach's
    // items right after it in index order, each item's sub-steps in the order they ran.
    let ids: Vec<&str> = run.steps.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(
        &ids[..5],
        [
            "rate",
            "each",
            "each[0].price",
            "each[0].label",
            "each[1].price"
        ]
    );
    assert_eq!(ids[ids.len() - 1], "summary");
    assert_eq!(ids[ids.len() - 3], "each[11].price");
    assert!(ids.contains(&"each[10].label"), "{ids:?}");
    let journal = journal_of(&store, &run.run_id).await;
    let started: Vec<&RunEvent> = journal
        .iter()
        .filter(|e| matches!(e, RunEvent::ForeachStarted { .. }))
        .collect();
    assert_eq!(
        started,
        vec![&RunEvent::ForeachStarted {
            step_id: "each".into(),
            items: 12
        }]
    );
    let counts = completions(&journal);
    assert_eq!(counts.len(), 2 + 1 + 12 * 2, "{counts:?}");
    assert!(counts.values().all(|n| *n == 1), "{counts:?}");
}

/// What the item server saw.
#[derive(Default)]
struct Seen {
    /// Requests being answered right now, and the most at any moment.
    current: AtomicUsize,
    most: AtomicUsize,
    /// Idempotency keys of every request, in arrival order.
    keys: Mutex<Vec<String>>,
    /// Items (from the request bodies) whose first attempt is answered 503.
    fail_first: Vec<i64>,
    /// Items answered 422.
    refuse: Vec<i64>,
    /// How long each request takes.
    delay_ms: u64,
}

async fn item_handler(
    State(seen): State<Arc<Seen>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> (StatusCode, String) {
    let now = seen.current.fetch_add(1, Ordering::SeqCst) + 1;
    seen.most.fetch_max(now, Ordering::SeqCst);
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    tokio::time::sleep(Duration::from_millis(seen.delay_ms)).await;
    let item = body["n"].as_i64().unwrap_or(-1);
    let first_attempt = key.ends_with(":1");
    seen.keys.lock().expect("lock").push(key);
    seen.current.fetch_sub(1, Ordering::SeqCst);
    if seen.refuse.contains(&item) {
        return (StatusCode::UNPROCESSABLE_ENTITY, "no".into());
    }
    if first_attempt && seen.fail_first.contains(&item) {
        return (StatusCode::SERVICE_UNAVAILABLE, "later".into());
    }
    (StatusCode::OK, json!({ "echo": item }).to_string())
}

/// Serves `POST /item` on a runtime of its own, so it outlives the runs' runtimes.
fn item_server(seen: Arc<Seen>) -> String {
    let (address_tx, address_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async move {
            let app = Router::new()
                .route("/item", post(item_handler))
                .with_state(seen);
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            address_tx
                .send(listener.local_addr().expect("address"))
                .expect("send address");
            axum::serve(listener, app).await.expect("serve");
        });
    });
    let address = address_rx.recv().expect("server address");
    format!("http://{address}/item")
}

fn http_foreach(url: &str, concurrency: u32) -> Value {
    json!({
        "name": "Call per item",
        "steps": [{
            "id": "each", "type": "foreach", "config": {
                "items": "{{input.items}}",
                "concurrency": concurrency,
                "steps": [{
                    "id": "call", "type": "http",
                    "config": { "method": "POST", "url": url, "body": { "n": "{{item}}", "at": "{{index}}" } },
                    "retry": { "maxAttempts": 3, "initialInterval": "50ms" }
                }]
            }
        }]
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_items_run_side_by_side_within_the_concurrency_limit_each_exactly_once() {
    let seen = Arc::new(Seen {
        delay_ms: 100,
        ..Seen::default()
    });
    let url = item_server(seen.clone());
    let store: Arc<dyn EventStore> = Arc::new(MemoryStore::new());
    let runs = Runs::new(store.clone(), Arc::new(SystemClock));
    active_workflow(&runs, "wf_calls", http_foreach(&url, 3)).await;
    let items: Vec<i64> = (0..10).collect();
    let run = run_to_end(&runs, "wf_calls", json!({ "items": items })).await;
    assert_eq!(run.status, RunStatus::Completed, "{run:?}");
    let output = run.output.expect("output");
    let echoed: Vec<Value> = output
        .as_array()
        .expect("an array")
        .iter()
        .map(|o| o["body"]["echo"].clone())
        .collect();
    assert_eq!(echoed, (0..10).map(|i| json!(i)).collect::<Vec<_>>());
    let mut keys = seen.keys.lock().expect("lock").clone();
    keys.sort();
    let mut expected: Vec<String> = (0..10)
        .map(|i| format!("{}:each[{i}].call:1", run.run_id))
        .collect();
    expected.sort();
    assert_eq!(keys, expected, "every item called exactly once");
    let most = seen.most.load(Ordering::SeqCst);
    assert!(most <= 3, "{most} requests at once, over the limit of 3");
    assert!(
        most >= 2,
        "items never ran side by side (most at once: {most})"
    );
    let counts = completions(&journal_of(&store, &run.run_id).await);
    assert!(counts.values().all(|n| *n == 1), "{counts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_item_whose_call_fails_retryably_is_retried_alone_then_succeeds() {
    let seen = Arc::new(Seen {
        fail_first: vec![1],
        delay_ms: 10,
        ..Seen::default()
    });
    let url = item_server(seen.clone());
    let runs = Runs::new(Arc::new(MemoryStore::new()), Arc::new(SystemClock));
    active_workflow(&runs, "wf_retry", http_foreach(&url, 2)).await;
    let run = run_to_end(&runs, "wf_retry", json!({ "items": [0, 1, 2, 3] })).await;
    assert_eq!(run.status, RunStatus::Completed, "{run:?}");
    let call = |i: usize| {
        run.steps
            .iter()
            .find(|s| s.id == format!("each[{i}].call"))
            .expect("item step")
    };
    assert_eq!(call(1).attempts, 2);
    for i in [0, 2, 3] {
        assert_eq!(call(i).attempts, 1, "item {i}");
    }
    let keys = seen.keys.lock().expect("lock").clone();
    let of_item_1: Vec<&String> = keys.iter().filter(|k| k.contains("each[1]")).collect();
    assert_eq!(
        of_item_1,
        vec![
            &format!("{}:each[1].call:1", run.run_id),
            &format!("{}:each[1].call:2", run.run_id)
        ]
    );
    assert_eq!(keys.len(), 5);
    let output = run.output.expect("output");
    assert_eq!(output[1]["body"], json!({ "echo": 1 }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn items_that_are_not_an_array_or_too_many_fail_the_run_with_a_clear_error() {
    let runs = Runs::new(Arc::new(MemoryStore::new()), Arc::new(SystemClock));
    active_workflow(&runs, "wf_items", json!({
        "name": "Items",
        "steps": [{ "id": "each", "type": "foreach", "config": {
            "items": "{{input.items}}",
            "steps": [{ "id": "x", "type": "transform", "config": { "mapping": { "v": "{{item}}" } } }]
        } }]
    }))
    .await;
    let run = run_to_end(&runs, "wf_items", json!({ "items": "abc" })).await;
    assert_eq!(run.status, RunStatus::Failed, "{run:?}");
    let error = run.error.expect("error");
    assert_eq!(error.step_id.as_deref(), Some("each"));
    assert_eq!(error.code.as_deref(), Some("ITEMS_NOT_ARRAY"));
    assert!(
        error
            .message
            .contains("config.items must render to an array, but it rendered to a string"),
        "{}",
        error.message
    );

    let missing = run_to_end(&runs, "wf_items", json!({})).await;
    let error = missing.error.expect("error");
    assert!(
        error.message.contains("rendered to null"),
        "{}",
        error.message
    );

    let too_many = engine::foreach::FOREACH_ITEMS_MAX + 1;
    let many: Vec<usize> = (0..too_many).collect();
    let run = run_to_end(&runs, "wf_items", json!({ "items": many })).await;
    assert_eq!(run.status, RunStatus::Failed);
    let error = run.error.expect("error");
    assert_eq!(error.code.as_deref(), Some("TOO_MANY_ITEMS"));
    assert!(
        error.message.contains(&format!("{too_many} items")),
        "{}",
        error.message
    );

    let empty = run_to_end(&runs, "wf_items", json!({ "items": [] })).await;
    assert_eq!(empty.status, RunStatus::Completed, "{empty:?}");
    assert_eq!(empty.output, Some(json!([])));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_item_fails_the_run_naming_the_item() {
    let seen = Arc::new(Seen {
        refuse: vec![2],
        delay_ms: 10,
        ..Seen::default()
    });
    let url = item_server(seen.clone());
    let runs = Runs::new(Arc::new(MemoryStore::new()), Arc::new(SystemClock));
    active_workflow(&runs, "wf_refused", http_foreach(&url, 1)).await;
    let run = run_to_end(&runs, "wf_refused", json!({ "items": [0, 1, 2, 3] })).await;
    assert_eq!(run.status, RunStatus::Failed, "{run:?}");
    let error = run.error.expect("error");
    assert_eq!(error.step_id.as_deref(), Some("each[2].call"));
    assert_eq!(error.code.as_deref(), Some("422"));
    // Concurrency 1: items run in order, so item 3 never started.
    assert_eq!(seen.keys.lock().expect("lock").len(), 3);
}

/// Runs `phase` on a fresh runtime with the store at `dir`, then drops the runtime (every
/// task stops, as in a crash of the process) and closes the store.
fn in_process(
    dir: &std::path::Path,
    phase: impl FnOnce(
        Runs,
        Arc<dyn EventStore>,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>,
) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let store: Arc<dyn EventStore> = runtime.block_on(async {
        let mut config = EmbeddedConfig::new(dir);
        config.segment_bytes = 1024 * 1024;
        Arc::new(EmbeddedStore::open(config).expect("open"))
    });
    let runs = Runs::new(store.clone(), Arc::new(SystemClock));
    runtime.block_on(phase(runs, store.clone()));
    drop(runtime);
    drop(store);
}

#[test]
fn a_foreach_stopped_mid_way_finishes_after_recover_without_repeating_finished_items() {
    let seen = Arc::new(Seen {
        delay_ms: 100,
        ..Seen::default()
    });
    let url = item_server(seen.clone());
    let dir = tempfile::tempdir().expect("tempdir");
    let run_id = Arc::new(Mutex::new(String::new()));
    {
        let run_id = run_id.clone();
        in_process(dir.path(), move |runs, store| {
            Box::pin(async move {
                active_workflow(&runs, "wf_resume", http_foreach(&url, 2)).await;
                let started = runs
                    .start(StartRun {
                        workflow_id: "wf_resume".into(),
                        input: Some(json!({ "items": (0..8).collect::<Vec<_>>() })),
                        ..StartRun::default()
                    })
                    .await
                    .expect("start");
                *run_id.lock().expect("lock") = started.run_id.clone();
                // Stop the process once some items, not all, are done.
                loop {
                    let done = completions(&journal_of(&store, &started.run_id).await).len();
                    if done >= 3 {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            })
        });
    }
    let run_id = run_id.lock().expect("lock").clone();
    let calls_before = seen.keys.lock().expect("lock").len();
    assert!(calls_before < 8, "the run finished before the stop");
    in_process(dir.path(), move |runs, store| {
        Box::pin(async move {
            assert_eq!(runs.recover().await.expect("recover"), 1);
            let run = runs.wait_for_end(&run_id, WAIT).await.expect("run");
            assert_eq!(run.status, RunStatus::Completed, "{run:?}");
            let output = run.output.expect("output");
            assert_eq!(output.as_array().map(Vec::len), Some(8));
            let counts = completions(&journal_of(&store, &run_id).await);
            assert_eq!(counts.len(), 9, "{counts:?}");
            assert!(counts.values().all(|n| *n == 1), "{counts:?}");
        })
    });
    // Every item was called. A call cut off by the stop is made again, with the same key, or
    // (when the stop surfaced as a network error first) as the next attempt.
    let keys = seen.keys.lock().expect("lock").clone();
    for i in 0..8 {
        assert!(
            keys.iter()
                .any(|k| k.contains(&format!(":each[{i}].call:"))),
            "item {i} never called: {keys:?}"
        );
    }
    assert!(
        keys.len() <= 8 + 2,
        "{} calls for 8 items: {keys:?}",
        keys.len()
    );
}

/// A long foreach stays linear (issue 16): 5,000 items, one at a time and eight at a time,
/// each item's output in its place. No timing is asserted; before decisions were made from
/// the run's progress this took minutes in a debug build.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreach_of_5000_items_outputs_every_item_in_order() {
    let store: Arc<dyn EventStore> = Arc::new(MemoryStore::new());
    let runs = Runs::new(store.clone(), Arc::new(SystemClock));
    let items: Vec<Value> = (0..5_000).map(|n| json!({ "n": n })).collect();
    for concurrency in [1, 8] {
        let workflow_id = format!("wf_long_{concurrency}");
        active_workflow(
            &runs,
            &workflow_id,
            json!({
                "name": "Long foreach",
                "steps": [{
                    "id": "each",
                    "type": "foreach",
                    "config": {
                        "items": "{{input.items}}",
                        "concurrency": concurrency,
                        "steps": [
                            { "id": "twice", "type": "transform",
                              "config": { "mapping": { "n": "{{item.n}}", "at": "{{index}}" } } },
                            { "id": "check", "type": "condition",
                              "config": { "if": "{{steps.twice.output.at}}",
                                          "then": [{ "id": "seen", "type": "transform",
                                                     "config": { "mapping": { "i": "{{index}}" } } }],
                                          "else": [] } }
                        ]
                    }
                }]
            }),
        )
        .await;
        let run = run_to_end(&runs, &workflow_id, json!({ "items": items })).await;
        assert_eq!(run.status, RunStatus::Completed, "{:?}", run.error);
        let output = run.output.expect("output");
        let outputs = output.as_array().expect("an array");
        assert_eq!(outputs.len(), 5_000);
        // Item 0's condition is falsy (index 0): its last output is the condition's.
        assert_eq!(outputs[0]["branch"], json!("else"));
        for (index, output) in outputs.iter().enumerate().skip(1) {
            assert_eq!(output, &json!({ "i": index }), "item {index}");
        }
        let journal = journal_of(&store, &run.run_id).await;
        assert!(completions(&journal).values().all(|n| *n == 1));
    }
}
