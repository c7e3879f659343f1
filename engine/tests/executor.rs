//! Runs driven to their end by the executor: outputs, retries over real HTTP, pause and
//! resume, idempotency keys, and timers that survive a restart.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use engine::definition::{WorkflowSpec, WorkflowStatus};
use engine::executor::{Clock, Runs, RunsError, StartRun, SystemClock, TokioClock};
use engine::run::RunStatus;
use journal::{EmbeddedConfig, EmbeddedStore, EventStore, MemoryStore};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(20);

fn runs_on(store: Arc<dyn EventStore>) -> Runs {
    Runs::new(store, Arc::new(SystemClock))
}

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

fn start(workflow_id: &str, input: Value) -> StartRun {
    StartRun {
        workflow_id: workflow_id.into(),
        input: Some(input),
        ..StartRun::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_order_total_yields_numbers() {
    let runs = runs_on(Arc::new(MemoryStore::new()));
    active_workflow(
        &runs,
        "wf_order",
        json!({
            "name": "Process Customer Order",
            "steps": [{
                "id": "calculate-total", "type": "transform",
                "config": { "mapping": {
                    "subtotal": "{{input.items | map: 'quantity * price' | sum}}",
                    "tax": "{{input.items | map: 'quantity * price' | sum | times: 0.08}}",
                    "total": "{{input.items | map: 'quantity * price' | sum | times: 1.08}}"
                }}
            }]
        }),
    )
    .await;
    let input = json!({ "customerId": "cus_1", "items": [{ "productId": "p", "quantity": 2, "price": 1999 }] });
    let started = runs.start(start("wf_order", input)).await.expect("start");
    assert_eq!(started.workflow_version, 1);
    let run = runs.wait_for_end(&started.run_id, WAIT).await.expect("run");
    assert_eq!(run.status, RunStatus::Completed, "{run:?}");
    let output = run.output.expect("output");
    assert_eq!(output["subtotal"], json!(3998));
    assert!((output["tax"].as_f64().expect("number") - 319.84).abs() < 1e-9);
    assert!((output["total"].as_f64().expect("number") - 4317.84).abs() < 1e-9);
    assert_eq!(run.steps[0].status, "completed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_active_workflows_run() {
    let runs = runs_on(Arc::new(MemoryStore::new()));
    let spec: WorkflowSpec = serde_json::from_value(json!({
        "name": "Draft", "steps": [{ "id": "a", "type": "transform", "config": { "mapping": {} } }]
    }))
    .expect("spec");
    runs.workflows()
        .create("wf_draft", &spec)
        .await
        .expect("create");
    match runs.start(start("wf_draft", json!({}))).await {
        Err(RunsError::NotActive(status)) => assert_eq!(status, "draft"),
        other => panic!("expected NotActive, got {other:?}"),
    }
}

/// A server that answers 503 to the first `failures` requests, then 200, recording every
/// Idempotency-Key it sees.
async fn flaky_server(failures: usize) -> (String, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let app = {
        let seen = seen.clone();
        Router::new().route(
            "/charge",
            post(move |headers: HeaderMap| {
                let seen = seen.clone();
                async move {
                    let key = headers
                        .get("idempotency-key")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_string();
                    let mut seen = seen.lock().expect("lock");
                    seen.push(key);
                    if seen.len() <= failures {
                        (StatusCode::SERVICE_UNAVAILABLE, "try later".to_string())
                    } else {
                        (StatusCode::OK, json!({ "charged": true }).to_string())
                    }
                }
            }),
        )
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{address}/charge"), seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_step_retries_5xx_with_one_idempotency_key_per_attempt() {
    let (url, seen) = flaky_server(2).await;
    let runs = runs_on(Arc::new(MemoryStore::new()));
    active_workflow(&runs, "wf_charge", json!({
        "name": "Charge",
        "steps": [{
            "id": "charge", "type": "http",
            "config": { "method": "POST", "url": url, "body": { "amount": "{{input.amount}}" } },
            "retry": { "maxAttempts": 3, "initialInterval": "50ms" }
        }]
    }))
    .await;
    let started = runs
        .start(start("wf_charge", json!({ "amount": 9900 })))
        .await
        .expect("start");
    let run = runs.wait_for_end(&started.run_id, WAIT).await.expect("run");
    assert_eq!(run.status, RunStatus::Completed, "{run:?}");
    assert_eq!(run.steps[0].attempts, 3);
    let output = run.output.expect("output");
    assert_eq!(output["status"], json!(200));
    assert_eq!(output["body"], json!({ "charged": true }));
    let keys = seen.lock().expect("lock").clone();
    let expected: Vec<String> = (1..=3)
        .map(|a| format!("{}:charge:{a}", started.run_id))
        .collect();
    assert_eq!(keys, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_4xx_fails_the_run_at_once_with_the_steps_error() {
    let runs = runs_on(Arc::new(MemoryStore::new()));
    let app = Router::new().route(
        "/x",
        post(|| async { (StatusCode::UNPROCESSABLE_ENTITY, "no") }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/x", listener.local_addr().expect("address"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    active_workflow(
        &runs,
        "wf_4xx",
        json!({
            "name": "Refused",
            "steps": [{ "id": "call", "type": "http", "config": { "method": "POST", "url": url } }]
        }),
    )
    .await;
    let started = runs.start(start("wf_4xx", json!({}))).await.expect("start");
    let run = runs.wait_for_end(&started.run_id, WAIT).await.expect("run");
    assert_eq!(run.status, RunStatus::Failed);
    let error = run.error.expect("error");
    assert_eq!(error.step_id.as_deref(), Some("call"));
    assert_eq!(error.code.as_deref(), Some("422"));
    assert_eq!(run.steps[0].attempts, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_run_resumes_with_its_payload_as_the_steps_output() {
    let runs = runs_on(Arc::new(MemoryStore::new()));
    active_workflow(&runs, "wf_approval", json!({
        "name": "Approval",
        "steps": [
            { "id": "approve", "type": "wait" },
            { "id": "record", "type": "transform", "config": { "mapping": { "by": "{{steps.approve.output.by}}" } } }
        ]
    }))
    .await;
    let started = runs
        .start(start("wf_approval", json!({})))
        .await
        .expect("start");
    let paused = status_becomes(&runs, &started.run_id, RunStatus::Paused).await;
    assert_eq!(paused, RunStatus::Paused);
    runs.resume(&started.run_id, json!({ "by": "ada" }))
        .await
        .expect("resume");
    let run = runs.wait_for_end(&started.run_id, WAIT).await.expect("run");
    assert_eq!(run.status, RunStatus::Completed);
    assert_eq!(run.output, Some(json!({ "by": "ada" })));
    assert!(matches!(
        runs.resume(&started.run_id, json!({})).await,
        Err(RunsError::NotPaused { .. })
    ));
}

/// Runs waiting only for a resume hold no driver task (issue 16: waiting costs the run's
/// record, not memory); a resume or a cancel starts one, and the run goes on as if it had
/// been kept in memory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_waiting_for_a_resume_hold_no_driver_until_a_resume_or_cancel() {
    let store: Arc<dyn EventStore> = Arc::new(MemoryStore::new());
    let runs = runs_on(store.clone());
    active_workflow(&runs, "wf_parked", json!({
        "name": "Approval",
        "steps": [
            { "id": "approve", "type": "wait" },
            { "id": "record", "type": "transform", "config": { "mapping": { "by": "{{steps.approve.output.by}}" } } }
        ]
    }))
    .await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(
            runs.start(start("wf_parked", json!({})))
                .await
                .expect("start")
                .run_id,
        );
    }
    let mut parked = false;
    for _ in 0..500 {
        let mut all_paused = true;
        for id in &ids {
            all_paused &= runs.get(id).await.expect("run").status == RunStatus::Paused;
        }
        if all_paused && runs.drivers_running() == 0 {
            parked = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        parked,
        "{} drivers for three paused runs",
        runs.drivers_running()
    );

    runs.resume(&ids[0], json!({ "by": "ada" }))
        .await
        .expect("resume");
    let resumed = runs.wait_for_end(&ids[0], WAIT).await.expect("run");
    assert_eq!(resumed.status, RunStatus::Completed);
    assert_eq!(resumed.output, Some(json!({ "by": "ada" })));
    let cancelled = runs.cancel(&ids[1], "no").await.expect("cancel");
    assert_eq!(cancelled.status, RunStatus::Cancelled);
    // The resumed run's journal is the one a driver kept in memory writes.
    let stream = journal::StreamName::new(format!("run-{}", ids[0])).expect("stream");
    let events = store
        .read_stream(&stream, journal::Seq(1), 100)
        .await
        .expect("read");
    let kinds: Vec<String> = events
        .iter()
        .map(|e| {
            let event = engine::events::RunEvent::decode(e.event_type, &e.data).expect("decode");
            format!("{event:?}")
                .split([' ', '{', '('])
                .next()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "RunStarted",
            "RunPaused",
            "RunResumed",
            "StepCompleted",
            "StepCompleted",
            "RunCompleted"
        ],
        "{kinds:?}"
    );
    // The third still waits, with no driver.
    for _ in 0..500 {
        if runs.drivers_running() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(runs.drivers_running(), 0);
    assert_eq!(
        runs.get(&ids[2]).await.expect("run").status,
        RunStatus::Paused
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_run_stops() {
    let runs = runs_on(Arc::new(MemoryStore::new()));
    active_workflow(
        &runs,
        "wf_slow",
        json!({
            "name": "Slow",
            "steps": [{ "id": "nap", "type": "delay", "config": { "duration": "1h" } }]
        }),
    )
    .await;
    let started = runs
        .start(start("wf_slow", json!({})))
        .await
        .expect("start");
    let cancelled = runs
        .cancel(&started.run_id, "changed my mind")
        .await
        .expect("cancel");
    assert_eq!(cancelled.status, RunStatus::Cancelled);
    assert!(matches!(
        runs.cancel(&started.run_id, "again").await,
        Err(RunsError::Ended { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_starts_with_one_idempotency_key_make_one_run() {
    let store: Arc<dyn EventStore> = Arc::new(MemoryStore::new());
    let runs = runs_on(store.clone());
    active_workflow(&runs, "wf_once", json!({
        "name": "Once", "steps": [{ "id": "a", "type": "transform", "config": { "mapping": { "x": 1 } } }]
    }))
    .await;
    let mut tasks = Vec::new();
    for _ in 0..64 {
        let runs = runs.clone();
        tasks.push(tokio::spawn(async move {
            let request = StartRun {
                idempotency_key: Some("process-order-123".into()),
                ..start("wf_once", json!({ "orderId": "order_123" }))
            };
            runs.start(request).await.expect("start")
        }));
    }
    let mut run_ids: HashMap<String, usize> = HashMap::new();
    for task in tasks {
        *run_ids.entry(task.await.expect("task").run_id).or_default() += 1;
    }
    assert_eq!(run_ids.len(), 1, "{run_ids:?}");
    let runs_in_store = store.list_streams("run-", None, 100).await.expect("list");
    assert_eq!(runs_in_store.len(), 1);
}

/// A wall clock the test sets.
struct FakeClock(AtomicI64);

impl Clock for FakeClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// Runs `phase` on a fresh runtime with the store at `dir` and the wall clock `clock`, then
/// drops the runtime (every task stops, as in a crash of the process) and closes the store.
fn in_process(
    dir: &std::path::Path,
    clock: Arc<dyn Clock>,
    phase: impl FnOnce(Runs) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>,
) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let store = runtime.block_on(async {
        let mut config = EmbeddedConfig::new(dir);
        config.segment_bytes = 1024 * 1024;
        Arc::new(EmbeddedStore::open(config).expect("open"))
    });
    let runs = Runs::new(store.clone(), clock);
    runtime.block_on(phase(runs));
    drop(runtime);
    drop(store);
}

#[test]
fn a_sleeping_run_wakes_after_a_restart_even_when_its_timer_fell_due_while_down() {
    let dir = tempfile::tempdir().expect("tempdir");
    // 2030-01-01T10:30:00Z on a clock the test moves.
    let clock = Arc::new(FakeClock(AtomicI64::new(1_893_493_800_000)));
    let run_id = Arc::new(Mutex::new(String::new()));
    {
        let run_id = run_id.clone();
        in_process(dir.path(), clock.clone(), move |runs| {
            Box::pin(async move {
                active_workflow(&runs, "wf_nap", json!({
                    "name": "Nap",
                    "steps": [
                        { "id": "nap", "type": "delay", "config": { "duration": "1h" } },
                        { "id": "after", "type": "transform", "config": { "mapping": { "woke": true } } }
                    ]
                }))
                .await;
                let started = runs.start(start("wf_nap", json!({}))).await.expect("start");
                let sleeping = status_becomes(&runs, &started.run_id, RunStatus::Sleeping).await;
                assert_eq!(sleeping, RunStatus::Sleeping);
                *run_id.lock().expect("lock") = started.run_id;
            })
        });
    }
    // The process is down for longer than the delay: two hours pass on the wall clock.
    clock.0.fetch_add(2 * 3_600_000, Ordering::SeqCst);
    let run_id = run_id.lock().expect("lock").clone();
    in_process(dir.path(), clock, move |runs| {
        Box::pin(async move {
            assert_eq!(runs.recover().await.expect("recover"), 1);
            let run = runs.wait_for_end(&run_id, WAIT).await.expect("run");
            assert_eq!(run.status, RunStatus::Completed, "{run:?}");
            assert_eq!(run.output, Some(json!({ "woke": true })));
        })
    });
}

#[tokio::test(start_paused = true)]
async fn a_delay_of_an_hour_passes_on_paused_time_with_the_clock_that_follows_it() {
    // One clock for "now" and the waits: the deadline is stamped from the clock, the driver
    // waits for it through tokio's time, and the clock moves with tokio's time.
    let start_ms = 1_893_493_800_000;
    let clock = Arc::new(TokioClock::starting_at(start_ms));
    let runs = Runs::new(Arc::new(MemoryStore::new()), clock.clone());
    active_workflow(
        &runs,
        "wf_hour",
        json!({
            "name": "An hour",
            "steps": [
                { "id": "nap", "type": "delay", "config": { "duration": "1h" } },
                { "id": "after", "type": "transform", "config": { "mapping": { "woke": true } } }
            ]
        }),
    )
    .await;
    let started = runs
        .start(start("wf_hour", json!({})))
        .await
        .expect("start");
    let run = runs
        .wait_for_end(&started.run_id, Duration::from_secs(2 * 3600))
        .await
        .expect("run");
    assert_eq!(run.status, RunStatus::Completed, "{run:?}");
    assert_eq!(run.output, Some(json!({ "woke": true })));
    let passed_ms = clock.now_ms() - start_ms;
    assert!(
        (3_600_000..2 * 3_600_000).contains(&passed_ms),
        "the clock moved {passed_ms} ms"
    );
}

/// The run's status once it is `wanted`, or as it stands after `WAIT`.
async fn status_becomes(runs: &Runs, run_id: &str, wanted: RunStatus) -> RunStatus {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let status = runs.get(run_id).await.expect("run").status;
        if status == wanted || tokio::time::Instant::now() > deadline {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn input_is_checked_against_the_schema_with_defaults_applied() {
    let store: Arc<dyn EventStore> = Arc::new(MemoryStore::new());
    let runs = runs_on(store.clone());
    active_workflow(&runs, "wf_invoice", json!({
        "name": "Create Invoice",
        "inputSchema": {
            "type": "object",
            "required": ["customerId", "amount"],
            "properties": {
                "customerId": { "type": "string", "pattern": "^cus_[a-zA-Z0-9]+$" },
                "amount": { "type": "number", "minimum": 100 },
                "currency": { "type": "string", "enum": ["usd", "eur", "gbp"], "default": "usd" }
            }
        },
        "steps": [{ "id": "echo", "type": "transform", "config": { "mapping": { "currency": "{{input.currency}}" } } }]
    }))
    .await;
    match runs
        .start(start("wf_invoice", json!({ "amount": 9900 })))
        .await
    {
        Err(RunsError::InvalidInput(problems)) => {
            assert_eq!(problems.len(), 1);
            assert_eq!(problems[0].path, vec!["customerId"]);
            assert_eq!(problems[0].message, "Required");
        }
        other => panic!("expected InvalidInput, got {other:?}"),
    }
    assert!(
        store
            .list_streams("run-", None, 10)
            .await
            .expect("list")
            .is_empty(),
        "nothing was started"
    );
    let started = runs
        .start(start(
            "wf_invoice",
            json!({ "customerId": "cus_xxx", "amount": 9900 }),
        ))
        .await
        .expect("start");
    let run = runs.wait_for_end(&started.run_id, WAIT).await.expect("run");
    assert_eq!(run.input["currency"], json!("usd"));
    assert_eq!(run.output, Some(json!({ "currency": "usd" })));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_condition_runs_one_branch_then_carries_on() {
    let runs = runs_on(Arc::new(MemoryStore::new()));
    active_workflow(&runs, "wf_tier", json!({
        "name": "Tier",
        "steps": [
            { "id": "check", "type": "condition",
              "config": {
                "left": "{{input.amount}}", "operator": "greaterThan", "right": 1000,
                "then": [{ "id": "big", "type": "transform", "config": { "mapping": { "tier": "big" } } }],
                "else": [{ "id": "small", "type": "transform", "config": { "mapping": { "tier": "small" } } }]
              } },
            { "id": "label", "type": "transform",
              "config": { "mapping": { "label": "{{steps.big.output.tier | default: steps.small.output.tier}}" } } }
        ]
    }))
    .await;
    for (amount, tier, ran, skipped) in
        [(5000, "big", "big", "small"), (10, "small", "small", "big")]
    {
        let started = runs
            .start(start("wf_tier", json!({ "amount": amount })))
            .await
            .expect("start");
        let run = runs.wait_for_end(&started.run_id, WAIT).await.expect("run");
        assert_eq!(run.status, RunStatus::Completed, "{run:?}");
        assert_eq!(run.output, Some(json!({ "label": tier })));
        let step_ids: Vec<&str> = run.steps.iter().map(|s| s.id.as_str()).collect();
        assert!(
            step_ids.contains(&ran) && !step_ids.contains(&skipped),
            "{step_ids:?}"
        );
        let check = run.steps.iter().find(|s| s.id == "check").expect("check");
        assert_eq!(
            check
                .output
                .as_ref()
                .and_then(|o| o.get("branch"))
                .and_then(|b| b.as_str()),
            Some(if tier == "big" { "then" } else { "else" })
        );
    }
}
