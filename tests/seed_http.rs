//! Seed 001's examples replayed as written against a real `duro serve` over HTTP: the curl
//! run request, the idempotency example, the status polling loop, the VALIDATION_ERROR body,
//! the external-scheduler curl without a JSON content type; then SIGTERM while a request is
//! in flight: the request is answered and the process exits 0.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};
use support::{Serve, Server};

const BOOTSTRAP: &str = "seed-test-bootstrap-key-0123456789";

fn start_server() -> Server {
    Serve::new().bootstrap_key(BOOTSTRAP).start()
}

async fn json_of(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let body = response.json().await.expect("JSON body");
    (status, body)
}

/// Creates and activates a workflow with the admin key; returns its id.
async fn active_workflow(client: &reqwest::Client, base: &str, definition: Value) -> String {
    let (status, body) = json_of(
        client
            .post(format!("{base}/api/v1/workflows"))
            .header("x-api-key", BOOTSTRAP)
            .json(&definition)
            .send()
            .await
            .expect("create"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["data"]["id"].as_str().expect("id").to_owned();
    let (status, body) = json_of(
        client
            .patch(format!("{base}/api/v1/workflows/{id}/status"))
            .header("x-api-key", BOOTSTRAP)
            .json(&json!({"status": "active"}))
            .send()
            .await
            .expect("activate"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    id
}

/// Seed 001's "Create Invoice" input schema, with a transform in place of the Stripe action.
fn create_invoice() -> Value {
    json!({
        "name": "Create Invoice",
        "trigger": { "type": "api" },
        "inputSchema": {
            "type": "object",
            "required": ["customerId", "amount"],
            "properties": {
                "customerId": { "type": "string", "pattern": "^cus_[a-zA-Z0-9]+$" },
                "amount": { "type": "number", "minimum": 100 },
                "currency": { "type": "string", "enum": ["usd", "eur", "gbp"], "default": "usd" }
            }
        },
        "steps": [{
            "id": "create-invoice", "type": "transform",
            "config": { "mapping": {
                "invoiceId": "inv_{{input.customerId}}",
                "amount": "{{input.amount}}",
                "currency": "{{input.currency}}"
            }}
        }]
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_001_examples_work_as_written() {
    let server = start_server();
    let base = &server.url;
    let client = reqwest::Client::new();
    let workflow = active_workflow(&client, base, create_invoice()).await;

    // The basic curl request.
    let (status, body) = json_of(
        client
            .post(format!("{base}/api/v1/workflows/{workflow}/run"))
            .header("x-api-key", BOOTSTRAP)
            .header("Content-Type", "application/json")
            .body(
                r#"{
  "input": {
    "customerId": "cus_xxx",
    "amount": 9900
  }
}"#,
            )
            .send()
            .await
            .expect("run"),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["success"], true);
    assert_eq!(body["data"]["status"], "pending");
    assert_eq!(body["data"]["workflowId"], json!(workflow));
    assert_eq!(body["data"]["workflowVersion"], 1);
    let run_id = body["data"]["runId"].as_str().expect("runId").to_owned();

    // The polling loop (waitForCompletion), with a 60 s bound.
    let deadline = Instant::now() + Duration::from_secs(60);
    let output = loop {
        let (_, body) = json_of(
            client
                .get(format!("{base}/api/v1/runs/{run_id}"))
                .header("x-api-key", BOOTSTRAP)
                .send()
                .await
                .expect("poll"),
        )
        .await;
        let data = &body["data"];
        if data["status"] == "completed" {
            break data["output"].clone();
        }
        assert_ne!(data["status"], "failed", "{body}");
        assert!(Instant::now() < deadline, "run did not complete: {body}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(
        output,
        json!({"invoiceId": "inv_cus_xxx", "amount": 9900, "currency": "usd"}),
        "the schema's default currency was applied"
    );

    // Idempotency: the same key twice gives the same runId.
    let mut run_ids = Vec::new();
    for _ in 0..2 {
        let (status, body) = json_of(
            client
                .post(format!("{base}/api/v1/workflows/{workflow}/run"))
                .header("x-api-key", BOOTSTRAP)
                .header("Content-Type", "application/json")
                .body(r#"{"input": { "customerId": "cus_123", "amount": 500 }, "idempotencyKey": "process-order-123"}"#)
                .send()
                .await
                .expect("run"),
        )
        .await;
        assert!(status.is_success(), "{body}");
        run_ids.push(body["data"]["runId"].clone());
    }
    assert_eq!(run_ids[0], run_ids[1]);

    // Invalid input: the documented VALIDATION_ERROR body.
    let (status, body) = json_of(
        client
            .post(format!("{base}/api/v1/workflows/{workflow}/run"))
            .header("x-api-key", BOOTSTRAP)
            .header("Content-Type", "application/json")
            .body(r#"{"input": {"amount": 9900}}"#)
            .send()
            .await
            .expect("run"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({"success": false, "error": {"code": "VALIDATION_ERROR",
            "message": "Input validation failed",
            "details": [{"path": ["customerId"], "message": "Required"}]}})
    );

    // The external-scheduler curl: `-d '{"input":{}}'` sends curl's form content type.
    let open = active_workflow(
        &client,
        base,
        json!({"name": "Daily report", "steps": [{"id": "r", "type": "transform",
            "config": {"mapping": {"ok": "yes"}}}]}),
    )
    .await;
    let (status, body) = json_of(
        client
            .post(format!("{base}/api/v1/workflows/{open}/run"))
            .header("x-api-key", BOOTSTRAP)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(r#"{"input":{}}"#)
            .send()
            .await
            .expect("run"),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");

    // No key: 401 in the envelope.
    let (status, body) = json_of(
        client
            .get(format!("{base}/api/v1/runs/{run_id}"))
            .send()
            .await
            .expect("get"),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "UNAUTHORIZED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_answers_the_request_in_flight_then_exits_0() {
    let mut server = start_server();
    let base = server.url.clone();
    let client = reqwest::Client::new();
    let workflow = active_workflow(
        &client,
        &base,
        json!({"name": "slow", "steps": [{"id": "nap", "type": "delay",
            "config": {"duration": "1500ms"}}]}),
    )
    .await;
    let request = client
        .post(format!("{base}/api/v1/workflows/{workflow}/run?wait=10"))
        .header("x-api-key", BOOTSTRAP)
        .json(&json!({}))
        .send();
    let in_flight = tokio::spawn(async move { json_of(request.await.expect("answered")).await });
    // The request is in flight once its run sleeps.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, body) = json_of(
            client
                .get(format!("{base}/api/v1/runs?workflowId={workflow}"))
                .header("x-api-key", BOOTSTRAP)
                .send()
                .await
                .expect("list"),
        )
        .await;
        if body["data"][0]["status"] == "sleeping" {
            break;
        }
        assert!(Instant::now() < deadline, "the run never slept: {body}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let pid = server.child.id().to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    let (status, body) = in_flight.await.expect("request task");
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["status"], "completed");
    let exit = server.child.wait().expect("wait");
    assert_eq!(exit.code(), Some(0));
}
