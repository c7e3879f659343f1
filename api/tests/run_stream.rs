//! `GET /api/v1/runs/{id}/stream` through the router: a run's journal as Server-Sent Events,
//! live, resumable with `Last-Event-ID`, ending after the run's end; and an agent's model text
//! deltas while its (scripted, streaming) model writes.

mod support;

use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use axum::response::Response;
use credentials::keys::Scope;
use http_body_util::BodyExt;
use llm::test_server::ScriptedModel;
use llm::Protocol;
use serde_json::{json, Value};
use support::{assert_error, order_input, order_workflow, TestApi};
use tower::ServiceExt;

/// The longest a test waits for the next event (or the end) before failing.
const EVENT_WAIT: Duration = Duration::from_secs(10);

/// How long a stream must stay quiet to count as waiting for more.
const QUIET: Duration = Duration::from_millis(50);

/// One SSE event as the client sees it.
#[derive(Debug, Clone, PartialEq)]
struct SseEvent {
    id: u64,
    name: String,
    data: Value,
}

impl SseEvent {
    /// The event as `GET /events` shows it.
    fn from_listed(item: &Value) -> SseEvent {
        SseEvent {
            id: item["seq"].as_u64().expect("seq"),
            name: item["type"].as_str().expect("type").to_owned(),
            data: item.clone(),
        }
    }
}

/// The client end of an open stream.
struct Client {
    body: Body,
    buffer: String,
}

impl Client {
    fn new(response: Response) -> Client {
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.headers().get("content-type").map(|v| v.as_bytes()),
            Some(&b"text/event-stream"[..])
        );
        Client {
            body: response.into_body(),
            buffer: String::new(),
        }
    }

    /// The next event, or `None` when the server ended the stream.
    async fn next(&mut self) -> Option<SseEvent> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                match parse_block(&block) {
                    Some(event) => return Some(event),
                    None => continue, // a keep-alive comment
                }
            }
            let frame = tokio::time::timeout(EVENT_WAIT, self.body.frame())
                .await
                .expect("an event or the end in time");
            match frame {
                None => {
                    assert!(self.buffer.trim().is_empty(), "cut: {:?}", self.buffer);
                    return None;
                }
                Some(frame) => {
                    if let Ok(data) = frame.expect("a frame").into_data() {
                        self.buffer
                            .push_str(std::str::from_utf8(&data).expect("UTF-8"));
                    }
                }
            }
        }
    }

    /// Every event until the server ends the stream.
    async fn rest(&mut self) -> Vec<SseEvent> {
        let mut events = Vec::new();
        while let Some(event) = self.next().await {
            events.push(event);
        }
        events
    }

    /// The next `n` events; the stream must not end before.
    async fn take(&mut self, n: usize) -> Vec<SseEvent> {
        let mut events = Vec::new();
        for _ in 0..n {
            events.push(self.next().await.expect("the stream goes on"));
        }
        events
    }

    /// Asserts that nothing arrives for a moment: the stream is waiting for more.
    async fn assert_waiting(&mut self) {
        let next = tokio::time::timeout(QUIET, self.next()).await;
        assert!(next.is_err(), "expected a quiet stream, got {next:?}");
    }
}

fn parse_block(block: &str) -> Option<SseEvent> {
    let (mut id, mut name, mut data) = (None, None, String::new());
    for line in block.lines() {
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "id" => id = Some(value.parse().expect("numeric id")),
            "event" => name = Some(value.to_owned()),
            "data" => data.push_str(value),
            _ => {}
        }
    }
    // A model delta carries no id (it is not a journal event): shown here as id 0.
    let id = match (id, name.as_deref()) {
        (Some(id), _) => id,
        (None, Some("delta")) => 0,
        (None, _) => return None,
    };
    Some(SseEvent {
        id,
        name: name.expect("event name"),
        data: serde_json::from_str(&data).expect("JSON data"),
    })
}

/// `GET path` as `key` with `last_event_id`, the response unread.
async fn open_as(api: &TestApi, key: &str, path: &str, last_event_id: Option<&str>) -> Response {
    let mut request = Request::builder()
        .method(Method::GET)
        .uri(path)
        .header("x-api-key", key);
    if let Some(id) = last_event_id {
        request = request.header("last-event-id", id);
    }
    let response = api
        .router
        .clone()
        .oneshot(request.body(Body::empty()).expect("request"))
        .await
        .expect("response");
    support::contract::check_head(&Method::GET, path, response.status(), response.headers());
    response
}

async fn connect(api: &TestApi, run_id: &str, last_event_id: Option<&str>) -> Client {
    let path = format!("/api/v1/runs/{run_id}/stream");
    Client::new(open_as(api, &api.admin, &path, last_event_id).await)
}

/// The run's events as `GET /events` lists them.
async fn listed(api: &TestApi, run_id: &str) -> Vec<SseEvent> {
    let reply = api.get(&format!("/api/v1/runs/{run_id}/events")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body["data"]
        .as_array()
        .expect("events")
        .iter()
        .map(SseEvent::from_listed)
        .collect()
}

fn names(events: &[SseEvent]) -> Vec<&str> {
    events.iter().map(|e| e.name.as_str()).collect()
}

/// A workflow that pauses for approval, then computes from the payload.
fn approval_workflow() -> Value {
    json!({
        "name": "approval",
        "steps": [
            {"id": "wait-for-approval", "type": "wait"},
            {"id": "decision", "type": "transform",
             "config": {"mapping": {"approved": "{{steps.wait-for-approval.output.ok}}"}}}
        ]
    })
}

/// Starts an approval run and returns its id once `RunPaused` is on record.
async fn paused_run(api: &TestApi) -> String {
    let workflow = api.active_workflow(approval_workflow()).await;
    let started = api
        .post(&format!("/api/v1/workflows/{workflow}/run"), json!({}))
        .await;
    assert_eq!(started.status, StatusCode::ACCEPTED, "{}", started.body);
    let run_id = started.body["data"]["runId"]
        .as_str()
        .expect("runId")
        .to_owned();
    for _ in 0..500 {
        if names(&listed(api, &run_id).await).contains(&"RunPaused") {
            return run_id;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("run {run_id} never paused");
}

async fn resume(api: &TestApi, run_id: &str) {
    let resumed = api
        .post(
            &format!("/api/v1/runs/{run_id}/resume"),
            json!({"payload": {"ok": true}}),
        )
        .await;
    assert_eq!(resumed.status, StatusCode::OK, "{}", resumed.body);
}

/// A run of several pure steps, ended before it is returned.
async fn ended_run(api: &TestApi) -> String {
    let mut workflow = order_workflow();
    workflow["steps"] = json!([
        {"id": "a", "type": "transform", "config": {"mapping": {"n": "{{input.customerId}}"}}},
        {"id": "b", "type": "transform", "config": {"mapping": {"n": "{{steps.a.output.n}}"}}},
        {"id": "c", "type": "transform", "config": {"mapping": {"n": "{{steps.b.output.n}}"}}}
    ]);
    let workflow = api.active_workflow(workflow).await;
    let done = api
        .post(
            &format!("/api/v1/workflows/{workflow}/run?wait=30"),
            json!({"input": order_input()}),
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert_eq!(done.body["data"]["status"], "completed", "{}", done.body);
    done.body["data"]["id"].as_str().expect("id").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_connected_mid_run_gets_every_later_event_in_order_then_the_end() {
    let api = TestApi::new().await;
    let run_id = paused_run(&api).await;
    let on_record = listed(&api, &run_id).await;

    let mut client = connect(&api, &run_id, None).await;
    assert_eq!(client.take(on_record.len()).await, on_record);
    client.assert_waiting().await;

    resume(&api, &run_id).await;
    let later = client.rest().await;
    assert_eq!(names(&later).first(), Some(&"RunResumed"), "{later:?}");
    assert!(names(&later).contains(&"StepCompleted"), "{later:?}");
    assert_eq!(names(&later).last(), Some(&"RunCompleted"), "{later:?}");
    let ids: Vec<u64> = later.iter().map(|e| e.id).collect();
    let expected: Vec<u64> = (on_record.len() as u64 + 1..).take(later.len()).collect();
    assert_eq!(ids, expected, "ids go on from the record, one by one");
    assert_eq!(later, listed(&api, &run_id).await[on_record.len()..]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_event_id_starts_after_that_seq() {
    let api = TestApi::new().await;
    let run_id = ended_run(&api).await;
    let all = listed(&api, &run_id).await;
    assert!(all.len() >= 3, "{all:?}");

    for after in 0..all.len() {
        let mut client = connect(&api, &run_id, Some(&after.to_string())).await;
        assert_eq!(client.rest().await, all[after..], "after {after}");
    }
    // Nothing left of an ended run: 204 tells an EventSource to stop reconnecting.
    let path = format!("/api/v1/runs/{run_id}/stream");
    let last = all.len().to_string();
    let done = open_as(&api, &api.admin, &path, Some(&last)).await;
    assert_eq!(done.status(), StatusCode::NO_CONTENT);

    // ?after= for clients that cannot set headers; the header wins over it.
    let query = format!("{path}?after=2");
    let mut client = Client::new(open_as(&api, &api.admin, &query, None).await);
    assert_eq!(client.rest().await, all[2..]);
    let mut client = Client::new(open_as(&api, &api.admin, &query, Some("1")).await);
    assert_eq!(client.rest().await, all[1..]);
    // An empty header counts as absent.
    let mut client = connect(&api, &run_id, Some("")).await;
    assert_eq!(client.rest().await, all);

    let bad = api
        .get(&format!("/api/v1/runs/{run_id}/stream?after=soon"))
        .await;
    let error = assert_error(&bad, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    assert_eq!(error["details"][0]["path"], json!(["after"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnecting_with_the_last_id_misses_none_and_repeats_none() {
    let api = TestApi::new().await;
    let run_id = paused_run(&api).await;
    let on_record = listed(&api, &run_id).await.len();
    assert!(on_record >= 2, "RunStarted and RunPaused at least");
    let mut received = Vec::new();

    // Dropped after the first event while the run waits.
    let mut client = connect(&api, &run_id, None).await;
    received.extend(client.take(1).await);
    drop(client);

    // Reconnected: the rest of the record, then a wait; dropped again.
    let last = received.last().expect("received").id.to_string();
    let mut client = connect(&api, &run_id, Some(&last)).await;
    received.extend(client.take(on_record - 1).await);
    client.assert_waiting().await;
    drop(client);

    // The run goes on while nobody listens; the next connection catches up and ends.
    resume(&api, &run_id).await;
    let last = received.last().expect("received").id.to_string();
    let mut client = connect(&api, &run_id, Some(&last)).await;
    received.extend(client.rest().await);

    assert_eq!(names(&received).last(), Some(&"RunCompleted"));
    assert_eq!(received, listed(&api, &run_id).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_run_ends_its_stream() {
    let api = TestApi::new().await;
    let run_id = paused_run(&api).await;
    let on_record = listed(&api, &run_id).await;
    let mut client = connect(&api, &run_id, Some(&on_record.len().to_string())).await;
    client.assert_waiting().await;

    let cancelled = api
        .post(&format!("/api/v1/runs/{run_id}/cancel"), Value::Null)
        .await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.body);
    let later = client.rest().await;
    assert_eq!(names(&later), ["RunCancelled"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ended_run_streams_everything_and_ends_an_unknown_run_is_404_and_it_needs_runs_read() {
    let api = TestApi::new().await;
    let run_id = ended_run(&api).await;
    let mut client = connect(&api, &run_id, None).await;
    let streamed = client.rest().await;
    assert_eq!(names(&streamed).last(), Some(&"RunCompleted"));
    assert_eq!(streamed, listed(&api, &run_id).await);

    let unknown = api.get("/api/v1/runs/run_missing/stream").await;
    assert_error(&unknown, StatusCode::NOT_FOUND, "NOT_FOUND");

    let path = format!("/api/v1/runs/{run_id}/stream");
    let workflows_only = api.key(&[Scope::WorkflowsRead]).await;
    let refused = api
        .call_as(&workflows_only, Method::GET, &path, Value::Null)
        .await;
    assert_error(&refused, StatusCode::FORBIDDEN, "FORBIDDEN");
    let anonymous = api.call_as("", Method::GET, &path, Value::Null).await;
    assert_error(&anonymous, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");

    let reader = api.key(&[Scope::RunsRead]).await;
    let mut client = Client::new(open_as(&api, &reader, &path, None).await);
    assert_eq!(client.rest().await, streamed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopping_server_ends_the_streams_of_runs_still_going() {
    let api = TestApi::new().await;
    let run_id = paused_run(&api).await;
    let on_record = listed(&api, &run_id).await;
    let mut client = connect(&api, &run_id, None).await;
    assert_eq!(client.take(on_record.len()).await, on_record);
    client.assert_waiting().await;
    // What `api::serve` does when its shutdown signal comes.
    api.state.stopping.send_replace(true);
    assert_eq!(
        client.rest().await,
        vec![],
        "the stream ends, nothing more is sent"
    );
}

/// An agent workflow answering with one model call of the scripted `model`; `stream` as given.
async fn agent_run(api: &TestApi, model: &ScriptedModel, stream: Option<bool>) -> String {
    let created = api
        .post(
            "/api/v1/connections",
            json!({"name": "model", "provider": model.protocol().as_str(), "kind": "bearer",
                   "token": "sk-model-secret-0123456789", "baseUrl": model.base_url}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let connection = created.body["data"]["id"].as_str().expect("id").to_owned();
    let mut config = json!({"connection": connection, "model": "gpt-test",
                            "prompt": "Greet {{input.name}}"});
    if let Some(stream) = stream {
        config["stream"] = json!(stream);
    }
    let workflow = api
        .active_workflow(json!({"name": "greeter",
                                "steps": [{"id": "a", "type": "agent", "config": config}]}))
        .await;
    let started = api
        .post(
            &format!("/api/v1/workflows/{workflow}/run"),
            json!({"input": {"name": "Ada"}}),
        )
        .await;
    assert_eq!(started.status, StatusCode::ACCEPTED, "{}", started.body);
    started.body["data"]["runId"]
        .as_str()
        .expect("runId")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streaming_model_s_text_arrives_as_deltas_before_its_reply_is_journaled() {
    let api = TestApi::new().await;
    let model = ScriptedModel::start(Protocol::OpenAi).await;
    let gates = model.push_text_held("Hello there, Ada!");
    let run_id = agent_run(&api, &model, None).await;
    // The model has the request and holds its answer; a watcher connects (its first event
    // proves it is subscribed), then the model sends its first word and waits again.
    for _ in 0..500 {
        if model.count() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(model.count(), 1, "the model call was never made");
    let mut client = connect(&api, &run_id, None).await;
    let mut before_release = vec![client.next().await.expect("RunStarted")];
    gates.before_first.notify_one();
    loop {
        let event = client.next().await.expect("the stream goes on");
        let is_delta = event.name == "delta";
        before_release.push(event);
        if is_delta {
            break;
        }
    }
    let first = before_release.last().expect("a delta");
    assert_eq!(first.id, 0, "a delta has no id");
    assert_eq!(first.data, json!({"stepId": "a.m1", "text": "Hello "}));
    assert!(
        !listed(&api, &run_id)
            .await
            .iter()
            .any(|e| e.name == "StepCompleted"),
        "the model call is not complete yet"
    );
    gates.after_first.notify_one();

    let mut events = before_release;
    events.extend(client.rest().await);
    let deltas: Vec<&SseEvent> = events.iter().filter(|e| e.name == "delta").collect();
    let text: String = deltas
        .iter()
        .map(|d| d.data["text"].as_str().expect("text"))
        .collect();
    assert_eq!(text, "Hello there, Ada!");
    assert!(deltas
        .iter()
        .all(|d| d.id == 0 && d.data["stepId"] == "a.m1"));
    let completed_at = events
        .iter()
        .position(|e| e.name == "StepCompleted" && e.data["data"]["stepId"] == "a.m1")
        .expect("the model call completes");
    let last_delta_at = events
        .iter()
        .rposition(|e| e.name == "delta")
        .expect("deltas");
    assert!(last_delta_at < completed_at, "{:?}", names(&events));
    assert_eq!(events.last().expect("events").name, "RunCompleted");

    // The journal holds the whole reply and no delta: the stream without deltas is exactly
    // the listed events.
    let journal: Vec<SseEvent> = events.into_iter().filter(|e| e.name != "delta").collect();
    assert_eq!(journal, listed(&api, &run_id).await);
    let run = api.get(&format!("/api/v1/runs/{run_id}")).await;
    assert_eq!(
        run.body["data"]["output"]["message"], "Hello there, Ada!",
        "{}",
        run.body
    );
    assert_eq!(model.requests()[0]["stream"], json!(true));
    assert_eq!(
        model.requests()[0]["stream_options"],
        json!({"include_usage": true})
    );
    assert_eq!(
        run.body["data"]["usage"]["inputTokens"],
        json!(10),
        "{}",
        run.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_with_stream_false_asks_for_one_answer_and_sends_no_deltas() {
    let api = TestApi::new().await;
    let model = ScriptedModel::start(Protocol::Anthropic).await;
    model.push_text("Hello there, Ada!");
    let run_id = agent_run(&api, &model, Some(false)).await;
    let events = connect(&api, &run_id, None).await.rest().await;
    assert!(
        events.iter().all(|e| e.name != "delta"),
        "{:?}",
        names(&events)
    );
    assert_eq!(events.last().expect("events").name, "RunCompleted");
    assert_eq!(model.requests()[0].get("stream"), None);
    let run = api.get(&format!("/api/v1/runs/{run_id}")).await;
    assert_eq!(
        run.body["data"]["output"]["message"], "Hello there, Ada!",
        "{}",
        run.body
    );
}
