//! Seed 001's "Complete Example" (a transform, `stripe.createInvoice`, an email), copied as
//! written, under a real `duro serve`: Stripe is a local server speaking Stripe's wire format
//! (form-encoded bodies, Bearer keys, Idempotency-Key deduplication as Stripe documents it),
//! and the email goes to a real SMTP server on loopback (`mail::test_server`). Then the same
//! run with `duro serve` SIGKILLed between the two Stripe requests, and between the SMTP send
//! and its record; then bad definitions, the outbound guard, and the secret's absence from
//! everything a user or an attacker could read.

mod support;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use axum::{Json, Router};
use mail::test_server::TestSmtpServer;
use reqwest::Method;
use serde_json::{json, Value};
use support::api::Api;
use support::{free_port, Serve, Server};

const KEY: &str = "integrations-test-bootstrap-key-0123";
const STRIPE_SECRET: &str = "sk_test_51DuroSecretValue9Z8Y7X6W5V";

// ---------------------------------------------------------------------------------------------
// A Stripe-like server.

/// One request as Stripe received it.
#[derive(Clone, Debug)]
struct Received {
    path: String,
    authorization: String,
    idempotency_key: String,
    content_type: String,
    form: Vec<(String, String)>,
}

#[derive(Default)]
struct StripeState {
    received: Vec<Received>,
    /// Idempotency-Key → the answer first given for it (Stripe replays it).
    answers: HashMap<String, Value>,
    invoice_items: u32,
    invoices: u32,
    /// While set, the first POST /v1/invoices is left unanswered and this is notified.
    hold_invoice: Option<Arc<tokio::sync::Notify>>,
}

#[derive(Clone, Default)]
struct Stripe(Arc<Mutex<StripeState>>);

impl Stripe {
    fn received(&self) -> Vec<Received> {
        self.0.lock().expect("lock").received.clone()
    }

    fn count(&self, path: &str) -> usize {
        self.received().iter().filter(|r| r.path == path).count()
    }

    fn created(&self) -> (u32, u32) {
        let state = self.0.lock().expect("lock");
        (state.invoice_items, state.invoices)
    }
}

fn decode_form(body: &str) -> Vec<(String, String)> {
    let decode = |text: &str| {
        let bytes = text.replace('+', " ").into_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' && i + 2 < bytes.len() {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).expect("hex");
                out.push(u8::from_str_radix(hex, 16).expect("hex digit"));
                i += 3;
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        String::from_utf8(out).expect("utf-8")
    };
    body.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(key), decode(value))
        })
        .collect()
}

async fn stripe_post(
    State(stripe): State<Stripe>,
    UrlPath(rest): UrlPath<String>,
    headers: HeaderMap,
    body: String,
) -> impl IntoResponse {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let received = Received {
        path: format!("/v1/{rest}"),
        authorization: header("authorization"),
        idempotency_key: header("idempotency-key"),
        content_type: header("content-type"),
        form: decode_form(&body),
    };
    let hold = {
        let mut state = stripe.0.lock().expect("lock");
        state.received.push(received.clone());
        if received.path == "/v1/invoices" {
            state.hold_invoice.take()
        } else {
            None
        }
    };
    if let Some(arrived) = hold {
        arrived.notify_one();
        // Never answered: the client dies waiting.
        std::future::pending::<()>().await;
    }
    if received.authorization != format!("Bearer {STRIPE_SECRET}") {
        return (
            StatusCode::UNAUTHORIZED,
            Json(
                json!({"error": {"type": "invalid_request_error", "message": "Invalid API Key provided"}}),
            ),
        );
    }
    let mut state = stripe.0.lock().expect("lock");
    if let Some(answer) = state.answers.get(&received.idempotency_key) {
        return (StatusCode::OK, Json(answer.clone()));
    }
    let field = |name: &str| {
        received
            .form
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let answer = match received.path.as_str() {
        "/v1/invoiceitems" => {
            state.invoice_items += 1;
            json!({"id": format!("ii_{}", state.invoice_items), "object": "invoiceitem",
                   "amount": field("amount").parse::<i64>().unwrap_or(-1),
                   "currency": field("currency"), "customer": field("customer")})
        }
        "/v1/invoices" => {
            state.invoices += 1;
            json!({"id": format!("in_{}", state.invoices), "object": "invoice",
                   "status": "draft", "number": null, "customer": field("customer")})
        }
        path if path.ends_with("/finalize") => {
            let id = path
                .trim_start_matches("/v1/invoices/")
                .trim_end_matches("/finalize");
            json!({"id": id, "object": "invoice", "status": "open",
                   "number": format!("INV-{:04}", state.invoices), "total": 4318})
        }
        _ => {
            return (
                StatusCode::NOT_FOUND,
                Json(json!({"error": {"message": "Unrecognized request URL"}})),
            )
        }
    };
    state
        .answers
        .insert(received.idempotency_key.clone(), answer.clone());
    (StatusCode::OK, Json(answer))
}

async fn start_stripe() -> (Stripe, String) {
    let stripe = Stripe::default();
    let app = Router::new()
        .route("/v1/{*rest}", post(stripe_post))
        .with_state(stripe.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (stripe, url)
}

// ---------------------------------------------------------------------------------------------
// The deployment under test.

/// Seed 001's Complete Example, exactly as the seed gives it.
fn complete_example() -> Value {
    json!({
        "name": "Process Customer Order",
        "description": "Create invoice and send confirmation for customer order",
        "trigger": { "type": "api" },
        "inputSchema": {
            "type": "object",
            "required": ["customerId", "items"],
            "properties": {
                "customerId": { "type": "string" },
                "items": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "productId": { "type": "string" },
                            "quantity": { "type": "number", "minimum": 1 },
                            "price": { "type": "number", "minimum": 0 }
                        }
                    }
                },
                "notes": { "type": "string" }
            }
        },
        "steps": [
            {
                "id": "calculate-total",
                "type": "transform",
                "name": "Calculate Order Total",
                "config": {
                    "mapping": {
                        "subtotal": "{{input.items | map: 'quantity * price' | sum}}",
                        "tax": "{{input.items | map: 'quantity * price' | sum | times: 0.08}}",
                        "total": "{{input.items | map: 'quantity * price' | sum | times: 1.08}}"
                    }
                }
            },
            {
                "id": "create-invoice",
                "type": "action",
                "name": "Create Invoice",
                "action": "stripe.createInvoice",
                "config": {
                    "customerId": "{{input.customerId}}",
                    "amount": "{{steps.calculate-total.output.total}}",
                    "metadata": { "source": "api-order" }
                }
            },
            {
                "id": "send-confirmation",
                "type": "email",
                "name": "Send Confirmation",
                "config": {
                    "action": "send",
                    "to": "{{input.customerEmail}}",
                    "subject": "Order Confirmed - Invoice #{{steps.create-invoice.output.number}}",
                    "body": {
                        "html": "<p>Thank you for your order!</p><p>Total: ${{steps.calculate-total.output.total}}</p>"
                    }
                }
            }
        ]
    })
}

fn order() -> Value {
    json!({
        "customerId": "cus_Duro123",
        "customerEmail": "ann@example.com",
        "items": [{ "productId": "widget", "quantity": 2, "price": 1999 }]
    })
}

struct Deployment {
    dir: tempfile::TempDir,
    port: u16,
    smtp_url: String,
    log: std::path::PathBuf,
}

impl Deployment {
    fn new(smtp: &TestSmtpServer) -> Deployment {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("duro.log");
        Deployment {
            port: free_port(),
            smtp_url: format!("smtp://{}?from=shop@example.com", smtp.addr),
            log,
            dir,
        }
    }

    fn data_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("data")
    }

    /// Starts `duro serve` (again) on the same data directory and port; its log appends.
    fn start(&self, run: u32) -> Server {
        Serve::new()
            .bootstrap_key(KEY)
            .env_remove("DURO_CONFIG")
            .env("DURO_SMTP_URL", &self.smtp_url)
            .env("RUST_LOG", "info")
            .data_dir(&self.data_dir())
            .port(self.port)
            .stderr_file(&self.log.with_extension(format!("{run}.log")))
            .start()
    }

    fn api(&self) -> Api {
        Api::new(&format!("http://127.0.0.1:{}", self.port), KEY)
    }
}

/// Creates the Stripe connection pointing at the local server; returns the answer.
async fn stripe_connection(api: &Api, base_url: &str) -> Value {
    let (status, body) = api
        .call(
            Method::POST,
            "/api/v1/connections",
            Some(
                json!({"id": "conn_stripe", "name": "Stripe (test)", "provider": "stripe",
                        "kind": "bearer", "token": STRIPE_SECRET, "baseUrl": base_url}),
            ),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body
}

fn step<'a>(run: &'a Value, id: &str) -> &'a Value {
    run["steps"]
        .as_array()
        .and_then(|steps| steps.iter().find(|s| s["id"] == id))
        .unwrap_or_else(|| panic!("no step {id} in {run}"))
}

async fn events(api: &Api, run_id: &str) -> Vec<Value> {
    let (status, body) = api
        .call(Method::GET, &format!("/api/v1/runs/{run_id}/events"), None)
        .await;
    assert_eq!(status, 200, "{body}");
    body["data"].as_array().expect("events").clone()
}

fn message_id_of(raw: &str) -> String {
    raw.lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("message-id")
                .then(|| value.trim().to_owned())
        })
        .unwrap_or_default()
}

/// Every file under `dir`, read whole.
fn files_under(dir: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("read dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if let Ok(bytes) = std::fs::read(&path) {
                found.push((path, bytes));
            }
        }
    }
    found
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_001_complete_example_invoices_with_stripe_and_emails_over_smtp() {
    let smtp = TestSmtpServer::start().await;
    let (stripe, stripe_url) = start_stripe().await;
    let deployment = Deployment::new(&smtp);
    let _server = deployment.start(1);
    let api = deployment.api();
    let connection = stripe_connection(&api, &stripe_url).await;
    let workflow = api.active_workflow(complete_example()).await;
    let run_id = api
        .start_run(&workflow, order())
        .await
        .expect("run started");
    let run = api.ended(&run_id, Duration::from_secs(30)).await;
    assert_eq!(run["status"], "completed", "{run}");

    let total = step(&run, "calculate-total")["output"].clone();
    assert_eq!(total["subtotal"], json!(3998));
    assert!((total["total"].as_f64().expect("total") - 4317.84).abs() < 1e-9);
    let invoice = step(&run, "create-invoice")["output"].clone();
    assert_eq!(invoice["id"], "in_1", "{invoice}");
    assert_eq!(invoice["number"], "INV-0001");
    assert_eq!(invoice["status"], "open");
    let sent = step(&run, "send-confirmation")["output"].clone();
    assert_eq!(sent["accepted"], json!(["ann@example.com"]));
    assert_eq!(
        sent["messageId"],
        json!(format!("<{run_id}.send-confirmation@duro>"))
    );

    // What Stripe received: three form-encoded POSTs with the key and one Idempotency-Key each.
    let received = stripe.received();
    let paths: Vec<&str> = received.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/v1/invoiceitems",
            "/v1/invoices",
            "/v1/invoices/in_1/finalize"
        ]
    );
    for (n, request) in received.iter().enumerate() {
        assert_eq!(request.authorization, format!("Bearer {STRIPE_SECRET}"));
        assert_eq!(request.content_type, "application/x-www-form-urlencoded");
        assert_eq!(
            request.idempotency_key,
            format!("{run_id}:create-invoice:{}", n + 1)
        );
    }
    let item = &received[0].form;
    for pair in [
        ("customer", "cus_Duro123"),
        ("amount", "4318"),
        ("currency", "usd"),
        ("metadata[source]", "api-order"),
    ] {
        assert!(
            item.contains(&(pair.0.to_owned(), pair.1.to_owned())),
            "{pair:?} in {item:?}"
        );
    }
    assert!(received[1]
        .form
        .contains(&("pending_invoice_items_behavior".into(), "include".into())));

    // The message the SMTP server received.
    let messages = smtp.messages();
    assert_eq!(messages.len(), 1);
    let message = &messages[0];
    assert_eq!(message.recipients, ["ann@example.com"]);
    assert!(
        message
            .data
            .contains("Subject: Order Confirmed - Invoice #INV-0001"),
        "{}",
        message.data
    );
    assert!(message.data.contains("Total: $4317.84"), "{}", message.data);
    assert_eq!(
        message_id_of(&message.data),
        format!("<{run_id}.send-confirmation@duro>")
    );

    // The secret is nowhere a user could read it: API answers, the journal's files, the log.
    let mut answers = vec![connection.to_string()];
    for path in [
        format!("/api/v1/runs/{run_id}"),
        format!("/api/v1/runs/{run_id}/events"),
        format!("/api/v1/runs/{run_id}/replay"),
        "/api/v1/connections".to_owned(),
        "/api/v1/connections/conn_stripe".to_owned(),
        format!("/api/v1/workflows/{workflow}"),
    ] {
        let (status, body) = api.call(Method::GET, &path, None).await;
        assert_eq!(status, 200, "{path}: {body}");
        answers.push(body.to_string());
    }
    for answer in &answers {
        assert!(
            !answer.contains(STRIPE_SECRET),
            "the secret in an answer: {answer}"
        );
    }
    assert_eq!(connection["data"]["baseUrl"], json!(stripe_url));
    for (path, bytes) in files_under(deployment.dir.path()) {
        assert!(
            !contains(&bytes, STRIPE_SECRET),
            "the secret in {}",
            path.display()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_between_the_stripe_requests_one_item_and_one_invoice() {
    let smtp = TestSmtpServer::start().await;
    let (stripe, stripe_url) = start_stripe().await;
    let arrived = Arc::new(tokio::sync::Notify::new());
    stripe.0.lock().expect("lock").hold_invoice = Some(arrived.clone());
    let deployment = Deployment::new(&smtp);
    let mut server = deployment.start(1);
    let api = deployment.api();
    stripe_connection(&api, &stripe_url).await;
    let workflow = api.active_workflow(complete_example()).await;
    let run_id = api
        .start_run(&workflow, order())
        .await
        .expect("run started");
    tokio::time::timeout(Duration::from_secs(30), arrived.notified())
        .await
        .expect("the invoice request arrives");
    // The invoice item is answered and recorded; the invoice request is in flight.
    server.child.kill().expect("SIGKILL");
    server.child.wait().expect("reaped");

    let _server = deployment.start(2);
    let run = api.ended(&run_id, Duration::from_secs(30)).await;
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(step(&run, "create-invoice")["output"]["number"], "INV-0001");
    // The item request was on record: never sent again. The invoice request was sent
    // again with the same key, and Stripe created one invoice.
    assert_eq!(stripe.count("/v1/invoiceitems"), 1);
    assert_eq!(stripe.count("/v1/invoices"), 2);
    let keys: Vec<String> = stripe
        .received()
        .iter()
        .filter(|r| r.path == "/v1/invoices")
        .map(|r| r.idempotency_key.clone())
        .collect();
    assert_eq!(keys[0], keys[1]);
    assert_eq!(stripe.created(), (1, 1));
    let recorded: Vec<Value> = events(&api, &run_id)
        .await
        .into_iter()
        .filter(|e| e["type"] == "StepRequestCompleted")
        .collect();
    assert_eq!(recorded.len(), 2, "{recorded:?}");
    assert_eq!(recorded[0]["data"]["request"], 1);
    assert_eq!(recorded[0]["data"]["output"]["id"], "ii_1");
    assert_eq!(smtp.messages().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_between_the_smtp_send_and_its_record_the_message_id_is_the_same() {
    let smtp = TestSmtpServer::start().await;
    // QUIT is answered late: the message is stored, the send has not returned yet.
    smtp.delay_quit(Duration::from_millis(100));
    let (stripe, stripe_url) = start_stripe().await;
    let deployment = Deployment::new(&smtp);
    let mut server = deployment.start(1);
    let api = deployment.api();
    stripe_connection(&api, &stripe_url).await;
    let workflow = api.active_workflow(complete_example()).await;
    let run_id = api
        .start_run(&workflow, order())
        .await
        .expect("run started");
    let deadline = Instant::now() + Duration::from_secs(30);
    while smtp.messages().is_empty() {
        assert!(Instant::now() < deadline, "no message arrived");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    server.child.kill().expect("SIGKILL");
    server.child.wait().expect("reaped");

    let _server = deployment.start(2);
    let run = api.ended(&run_id, Duration::from_secs(30)).await;
    assert_eq!(run["status"], "completed", "{run}");
    let messages = smtp.messages();
    // Sent once before the kill, and again (same Message-ID) by the attempt after it.
    assert_eq!(messages.len(), 2);
    let id = format!("<{run_id}.send-confirmation@duro>");
    for message in &messages {
        assert_eq!(message_id_of(&message.data), id);
    }
    let completions = events(&api, &run_id)
        .await
        .into_iter()
        .filter(|e| e["type"] == "StepCompleted" && e["data"]["stepId"] == "send-confirmation")
        .count();
    assert_eq!(completions, 1);
    // Stripe was done before: nothing was sent to it again.
    assert_eq!(stripe.created(), (1, 1));
    assert_eq!(stripe.received().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_definitions_and_connections_are_refused_naming_the_field() {
    let smtp = TestSmtpServer::start().await;
    let deployment = Deployment::new(&smtp);
    let _server = deployment.start(1);
    let api = deployment.api();
    let refused = |body: Value| {
        let api = api.clone();
        async move {
            let (status, body) = api
                .call(Method::POST, "/api/v1/workflows", Some(body))
                .await;
            assert_eq!(status, 400, "{body}");
            assert_eq!(body["error"]["code"], "VALIDATION_ERROR");
            body["error"]["details"].clone()
        }
    };
    let mut unknown = complete_example();
    unknown["steps"][1]["action"] = json!("stripe.refundEverything");
    let details = refused(unknown).await;
    assert_eq!(
        details[0]["path"],
        json!(["steps", "1", "action"]),
        "{details}"
    );
    assert!(details[0]["message"]
        .as_str()
        .is_some_and(|m| m.contains("createInvoice")));

    let mut wrong = complete_example();
    wrong["steps"][1]["config"]["customerId"] = json!(42);
    wrong["steps"][1]["config"]["color"] = json!("red");
    let details = refused(wrong).await;
    let paths: Vec<&Value> = details
        .as_array()
        .expect("details")
        .iter()
        .map(|d| &d["path"])
        .collect();
    assert!(
        paths.contains(&&json!(["steps", "1", "config", "customerId"])),
        "{details}"
    );
    assert!(details.to_string().contains("color"), "{details}");

    let mut no_to = complete_example();
    no_to["steps"][2]["config"]
        .as_object_mut()
        .expect("config")
        .remove("to");
    let details = refused(no_to).await;
    assert_eq!(
        details[0]["path"],
        json!(["steps", "2", "config", "to"]),
        "{details}"
    );

    let (status, body) = api
        .call(
            Method::POST,
            "/api/v1/connections",
            Some(json!({"name": "x", "provider": "paypal", "kind": "bearer", "token": "t0k3n-value"})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["error"]["details"][0]["path"],
        json!(["provider"]),
        "{body}"
    );

    // A workflow naming a disabled connection cannot run.
    let (status, body) = api
        .call(
            Method::POST,
            "/api/v1/connections",
            Some(
                json!({"id": "conn_off", "name": "off", "provider": "stripe", "kind": "bearer",
                        "token": "sk_test_disabled_connection", "status": "disabled"}),
            ),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let mut pinned = complete_example();
    pinned["connections"] = json!({"stripe": "conn_off"});
    let workflow = api.active_workflow(pinned).await;
    let (status, body) = api
        .call(
            Method::POST,
            &format!("/api/v1/workflows/{workflow}/run"),
            Some(json!({"input": order()})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["error"]["message"],
        "Required connections must be active"
    );
    assert_eq!(
        body["error"]["details"][0]["path"],
        json!(["connections", "stripe"])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_calling_the_cloud_metadata_address_fails_outbound_denied() {
    let smtp = TestSmtpServer::start().await;
    let deployment = Deployment::new(&smtp);
    let _server = deployment.start(1);
    let api = deployment.api();
    let workflow = api
        .active_workflow(json!({
            "name": "metadata",
            "steps": [{"id": "steal", "type": "action", "action": "http.request",
                       "config": {"url": "http://169.254.169.254/latest/meta-data/iam"}}]
        }))
        .await;
    let run_id = api.start_run(&workflow, json!({})).await.expect("started");
    let run = api.ended(&run_id, Duration::from_secs(30)).await;
    assert_eq!(run["status"], "failed", "{run}");
    let error = &step(&run, "steal")["error"];
    assert_eq!(error["code"], "OUTBOUND_DENIED", "{run}");
    assert!(error["message"]
        .as_str()
        .is_some_and(|m| m.contains("169.254.169.254")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn providers_are_listed_with_their_param_schemas() {
    let smtp = TestSmtpServer::start().await;
    let deployment = Deployment::new(&smtp);
    let _server = deployment.start(1);
    let api = deployment.api();
    let (status, body) = api.call(Method::GET, "/api/v1/providers", None).await;
    assert_eq!(status, 200, "{body}");
    let ids: Vec<&str> = body["data"]
        .as_array()
        .expect("providers")
        .iter()
        .filter_map(|p| p["id"].as_str())
        .collect();
    for id in ["github", "http", "slack", "stripe"] {
        assert!(ids.contains(&id), "{id} in {ids:?}");
    }
    let (status, body) = api
        .call(Method::GET, "/api/v1/providers/stripe", None)
        .await;
    assert_eq!(status, 200, "{body}");
    let invoice = body["data"]["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .find(|a| a["id"] == "stripe.createInvoice")
        .expect("createInvoice")
        .clone();
    assert_eq!(
        invoice["params"]["required"],
        json!(["customerId", "amount"])
    );
    let (status, _) = api
        .call(Method::GET, "/api/v1/providers/paypal", None)
        .await;
    assert_eq!(status, 404);

    // The CLI lists them too.
    let url = format!("http://127.0.0.1:{}", deployment.port);
    let listed = tokio::task::spawn_blocking(move || {
        support::duro_output(
            &["providers", "list", "--url", &url, "--api-key", KEY],
            None,
            &[],
        )
    })
    .await
    .expect("joined");
    support::expect_code(&listed, 0);
    let text = support::stdout(&listed);
    assert!(text.contains("stripe.createInvoice"), "{text}");
    assert!(text.contains("slack.postMessage"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_steps_present_a_named_connection_and_bad_rendered_params_fail_before_any_request() {
    let smtp = TestSmtpServer::start().await;
    let (stripe, stripe_url) = start_stripe().await;
    let deployment = Deployment::new(&smtp);
    let _server = deployment.start(1);
    let api = deployment.api();
    stripe_connection(&api, &stripe_url).await;
    let workflow = api
        .active_workflow(json!({
            "name": "raw call",
            "steps": [
                {"id": "with", "type": "http", "connection": "{{input.connection}}",
                 "config": {"method": "POST", "url": format!("{stripe_url}/v1/invoiceitems"),
                            "body": {"customer": "cus_1"}}},
                {"id": "without", "type": "http",
                 "config": {"method": "POST", "url": format!("{stripe_url}/v1/invoiceitems")}}
            ]
        }))
        .await;
    let run_id = api
        .start_run(&workflow, json!({"connection": "conn_stripe"}))
        .await
        .expect("run");
    let run = api.ended(&run_id, Duration::from_secs(30)).await;
    assert_eq!(step(&run, "with")["status"], "completed", "{run}");
    assert_eq!(step(&run, "without")["error"]["code"], "401", "{run}");
    let received = stripe.received();
    assert_eq!(received[0].authorization, format!("Bearer {STRIPE_SECRET}"));
    assert_eq!(received[1].authorization, "");

    // Params that only turn out wrong once rendered fail the step before any request.
    let before = stripe.received().len();
    let workflow = api
        .active_workflow(json!({
            "name": "bad amount",
            "steps": [{"id": "invoice", "type": "action", "action": "stripe.createInvoice",
                       "config": {"customerId": "cus_1", "amount": "{{input.amount}}"}}]
        }))
        .await;
    let run_id = api
        .start_run(&workflow, json!({"amount": "a lot"}))
        .await
        .expect("run");
    let run = api.ended(&run_id, Duration::from_secs(30)).await;
    assert_eq!(run["status"], "failed", "{run}");
    let error = &step(&run, "invoice")["error"];
    assert_eq!(error["code"], "VALIDATION_ERROR", "{run}");
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.contains("config.amount")),
        "{run}"
    );
    assert_eq!(stripe.received().len(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_email_step_sends_through_its_smtp_connection_before_the_default_server() {
    let default_server = TestSmtpServer::start().await;
    let connected = TestSmtpServer::start().await;
    connected.require_auth("mailer", "smtp-password-0123456789");
    let deployment = Deployment::new(&default_server);
    let _server = deployment.start(1);
    let api = deployment.api();
    let (status, body) = api
        .call(
            Method::POST,
            "/api/v1/connections",
            Some(
                json!({"id": "conn_mail", "name": "Mail", "provider": "smtp", "kind": "smtp",
                        "host": "127.0.0.1", "port": connected.addr.port(), "security": "none",
                        "username": "mailer", "password": "smtp-password-0123456789",
                        "from": "billing@example.com"}),
            ),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert!(!body.to_string().contains("smtp-password-0123456789"));
    let workflow = api
        .active_workflow(json!({
            "name": "notify",
            "steps": [{"id": "notify", "type": "email", "connection": "conn_mail",
                       "config": {"to": ["{{input.to}}"], "subject": "Hello {{input.name}}",
                                  "body": {"html": "<p>{{input.name}}</p>", "text": "Hi"}}}]
        }))
        .await;
    let run_id = api
        .start_run(&workflow, json!({"to": "bo@example.com", "name": "<Bo>"}))
        .await
        .expect("run");
    let run = api.ended(&run_id, Duration::from_secs(30)).await;
    assert_eq!(run["status"], "completed", "{run}");
    assert!(default_server.messages().is_empty());
    let messages = connected.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].from, "billing@example.com");
    assert_eq!(messages[0].authenticated_as.as_deref(), Some("mailer"));
    // Inserted into HTML, the name is escaped.
    assert!(
        messages[0].data.contains("&lt;Bo&gt;"),
        "{}",
        messages[0].data
    );
    for (path, bytes) in files_under(deployment.dir.path()) {
        assert!(
            !contains(&bytes, "smtp-password-0123456789"),
            "the password in {}",
            path.display()
        );
    }
}
