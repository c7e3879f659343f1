//! Scripted model servers on loopback, for tests here and in other crates
//! (`llm = { workspace = true, features = ["test-server"] }`).
//!
//! [`ScriptedModel`] speaks the real wire format of its protocol (OpenAI Chat Completions at
//! `{base_url}/chat/completions`, Anthropic Messages at `{base_url}/v1/messages`) and answers
//! each request with the next scripted reply; when the script runs out it answers 500. It
//! records every request, so a test can assert how many model calls happened and what was
//! sent. Every reply reports 10 input and 5 output tokens. It runs no model and must never be
//! used outside tests.
//!
//! A request with `"stream": true` gets its text and tool-call replies as Server-Sent Events
//! (`text/event-stream`, one delta per word), as the real providers send them;
//! [`ScriptedModel::push_text_held`] holds such a stream before its first delta and after it
//! until the test lets it go on, so a test can look at a run while its model is mid-answer.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::types::Protocol;

/// Tokens every scripted reply reports.
pub const INPUT_TOKENS: u64 = 10;
pub const OUTPUT_TOKENS: u64 = 5;

const MODEL_DEFAULT: &str = "scripted-model";

/// One scripted answer.
#[derive(Clone, Debug)]
enum Reply {
    Text(String),
    /// A text answer whose stream waits at its gates.
    HeldText(String, StreamGates),
    /// (id, name, arguments as JSON text).
    ToolCalls(Vec<(String, String, String)>),
    Error {
        status: u16,
        body: Value,
        /// Extra headers of the answer (`retry-after`, `retry-after-ms`).
        headers: Vec<(String, String)>,
    },
    Raw {
        status: u16,
        body: String,
    },
}

#[derive(Default)]
struct Shared {
    script: VecDeque<Reply>,
    requests: Vec<Value>,
    request_headers: Vec<Vec<(String, String)>>,
}

struct ServerState {
    protocol: Protocol,
    shared: Mutex<Shared>,
}

impl ServerState {
    /// A test that panicked while holding the lock leaves the data as it was; it is still the
    /// best record of what the server received.
    fn lock(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Where a held stream waits: open one with `notify_one` (opening it before the stream gets
/// there is fine).
#[derive(Clone, Default, Debug)]
pub struct StreamGates {
    /// Opens the stream: its first frames up to and including the first text delta.
    pub before_first: Arc<Notify>,
    /// Lets the rest of the answer go after the first delta.
    pub after_first: Arc<Notify>,
}

/// A model server answering from a script. Stops when dropped.
pub struct ScriptedModel {
    /// The base URL to give [`crate::build_request`]: `http://127.0.0.1:PORT/v1` for OpenAI,
    /// `http://127.0.0.1:PORT` for Anthropic.
    pub base_url: String,
    pub address: SocketAddr,
    state: Arc<ServerState>,
    task: JoinHandle<()>,
}

impl ScriptedModel {
    /// Starts a server for `protocol` on 127.0.0.1, on a free port.
    ///
    /// # Panics
    /// If no loopback port can be bound: a test cannot go on without its server.
    pub async fn start(protocol: Protocol) -> ScriptedModel {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding a loopback port for the scripted model");
        let address = listener
            .local_addr()
            .expect("the scripted model's listener has an address");
        let state = Arc::new(ServerState {
            protocol,
            shared: Mutex::new(Shared::default()),
        });
        let (path, base_url) = match protocol {
            Protocol::OpenAi => ("/v1/chat/completions", format!("http://{address}/v1")),
            Protocol::Anthropic => ("/v1/messages", format!("http://{address}")),
        };
        let router = Router::new()
            .route(path, post(answer))
            .with_state(Arc::clone(&state));
        let task = tokio::spawn(async move {
            // Serving ends only with an I/O error on the listener; the test then sees its
            // requests fail.
            let _ = axum::serve(listener, router).await;
        });
        ScriptedModel {
            base_url,
            address,
            state,
            task,
        }
    }

    /// The protocol this server speaks.
    pub fn protocol(&self) -> Protocol {
        self.state.protocol
    }

    /// Next reply: a text answer (`stop` / `end_turn`).
    pub fn push_text(&self, content: impl Into<String>) -> &Self {
        self.push(Reply::Text(content.into()))
    }

    /// Next reply: a text answer which, if the request asks for a stream, waits before its
    /// first delta and again after it until the test opens the returned gates. Unstreamed, it
    /// is [`ScriptedModel::push_text`].
    pub fn push_text_held(&self, content: impl Into<String>) -> StreamGates {
        let gates = StreamGates::default();
        self.push(Reply::HeldText(content.into(), gates.clone()));
        gates
    }

    /// Next reply: tool calls `(id, name, arguments_json_text)`, no text (`tool_calls` /
    /// `tool_use`). For Anthropic the arguments become the `input` object; text that is not
    /// JSON is sent as a JSON string, which a real server never does.
    pub fn push_tool_calls<I, N, A>(&self, calls: Vec<(I, N, A)>) -> &Self
    where
        I: Into<String>,
        N: Into<String>,
        A: Into<String>,
    {
        let calls = calls
            .into_iter()
            .map(|(id, name, arguments)| (id.into(), name.into(), arguments.into()))
            .collect();
        self.push(Reply::ToolCalls(calls))
    }

    /// Next reply: a failure with `status`, the JSON `body` and, if given, a `Retry-After`
    /// header.
    pub fn push_error(&self, status: u16, body: Value, retry_after: Option<&str>) -> &Self {
        let headers = retry_after.map(|value| ("retry-after", value));
        self.push_error_with_headers(status, body, headers.as_slice())
    }

    /// Next reply: a failure with `status`, the JSON `body` and these extra headers (such as
    /// OpenAI's `retry-after-ms`, which lets a test ask for a wait shorter than a second).
    pub fn push_error_with_headers(
        &self,
        status: u16,
        body: Value,
        headers: &[(&str, &str)],
    ) -> &Self {
        self.push(Reply::Error {
            status,
            body,
            headers: headers
                .iter()
                .map(|(name, value)| (name.to_string(), value.to_string()))
                .collect(),
        })
    }

    /// Next reply: `body` as it is, with `status` and a JSON content type (for malformed or
    /// unusual answers).
    pub fn push_raw(&self, status: u16, body: impl Into<String>) -> &Self {
        self.push(Reply::Raw {
            status,
            body: body.into(),
        })
    }

    /// Every request body received, in order; a body that is not JSON is kept as a string.
    pub fn requests(&self) -> Vec<Value> {
        self.state.lock().requests.clone()
    }

    /// How many requests (model calls) were received.
    pub fn count(&self) -> usize {
        self.state.lock().requests.len()
    }

    /// The headers of every request, in order, names in lower case.
    pub fn request_headers(&self) -> Vec<Vec<(String, String)>> {
        self.state.lock().request_headers.clone()
    }

    /// How many scripted replies are still unused.
    pub fn remaining(&self) -> usize {
        self.state.lock().script.len()
    }

    fn push(&self, reply: Reply) -> &Self {
        self.state.lock().script.push_back(reply);
        self
    }
}

impl Drop for ScriptedModel {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn answer(
    State(state): State<Arc<ServerState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request: Value = serde_json::from_slice(&body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
    let model = request
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or(MODEL_DEFAULT)
        .to_string();
    let (n_request, reply) = {
        let mut shared = state.lock();
        shared.requests.push(request);
        shared.request_headers.push(header_pairs(&headers));
        (shared.requests.len(), shared.script.pop_front())
    };
    let id = format!("scripted-{n_request}");
    let streamed = request_streams(&state, n_request);
    match reply {
        Some(Reply::Text(content)) if streamed => stream_response(
            crate::test_stream::text_frames(state.protocol, &id, &model, &content),
            None,
        ),
        Some(Reply::HeldText(content, gates)) if streamed => stream_response(
            crate::test_stream::text_frames(state.protocol, &id, &model, &content),
            Some(gates),
        ),
        Some(Reply::ToolCalls(calls)) if streamed => stream_response(
            crate::test_stream::tool_call_frames(state.protocol, &id, &model, &calls),
            None,
        ),
        Some(Reply::Text(content) | Reply::HeldText(content, _)) => {
            json_response(200, text_answer(state.protocol, &id, &model, &content), &[])
        }
        Some(Reply::ToolCalls(calls)) => json_response(
            200,
            tool_call_answer(state.protocol, &id, &model, &calls),
            &[],
        ),
        Some(Reply::Error {
            status,
            body,
            headers,
        }) => json_response(status, body, &headers),
        Some(Reply::Raw { status, body }) => raw_response(status, body, &[]),
        None => json_response(500, script_exhausted(state.protocol), &[]),
    }
}

/// Whether request `n_request` (counted from 1) asked for a streamed answer.
fn request_streams(state: &ServerState, n_request: usize) -> bool {
    state
        .lock()
        .requests
        .get(n_request - 1)
        .and_then(|request| request.get("stream"))
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

/// An event stream of `frames`; with `gates`, it waits before its first frame and after its
/// first text delta until each opens.
fn stream_response(frames: Vec<crate::test_stream::Frame>, gates: Option<StreamGates>) -> Response {
    let (sender, receiver) = tokio::sync::mpsc::channel::<String>(4);
    tokio::spawn(async move {
        let mut gate = None;
        if let Some(gates) = gates {
            gates.before_first.notified().await;
            gate = Some(gates.after_first);
        }
        for frame in frames {
            let is_delta = frame.is_delta;
            if sender.send(frame.text).await.is_err() {
                return;
            }
            if is_delta {
                if let Some(gate) = gate.take() {
                    gate.notified().await;
                }
            }
        }
    });
    let body = futures_util::stream::unfold(receiver, |mut receiver| async move {
        let frame = receiver.recv().await?;
        Some((Ok::<_, std::convert::Infallible>(frame), receiver))
    });
    let mut response = axum::body::Body::from_stream(body).into_response();
    response.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    response
}

fn header_pairs(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(name, value)| {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            (name.as_str().to_string(), value)
        })
        .collect()
}

fn text_answer(protocol: Protocol, id: &str, model: &str, content: &str) -> Value {
    match protocol {
        Protocol::OpenAi => openai_answer(
            id,
            model,
            json!({"role": "assistant", "content": content}),
            "stop",
        ),
        Protocol::Anthropic => anthropic_answer(
            id,
            model,
            json!([{"type": "text", "text": content}]),
            "end_turn",
        ),
    }
}

fn tool_call_answer(
    protocol: Protocol,
    id: &str,
    model: &str,
    calls: &[(String, String, String)],
) -> Value {
    match protocol {
        Protocol::OpenAi => {
            let tool_calls: Vec<Value> = calls
                .iter()
                .map(|(id, name, arguments)| {
                    json!({"id": id, "type": "function",
                           "function": {"name": name, "arguments": arguments}})
                })
                .collect();
            openai_answer(
                id,
                model,
                json!({"role": "assistant", "content": null, "tool_calls": tool_calls}),
                "tool_calls",
            )
        }
        Protocol::Anthropic => {
            let blocks: Vec<Value> = calls
                .iter()
                .map(|(id, name, arguments)| {
                    let input = serde_json::from_str::<Value>(arguments)
                        .unwrap_or_else(|_| Value::String(arguments.clone()));
                    json!({"type": "tool_use", "id": id, "name": name, "input": input})
                })
                .collect();
            anthropic_answer(id, model, Value::Array(blocks), "tool_use")
        }
    }
}

fn openai_answer(id: &str, model: &str, message: Value, finish_reason: &str) -> Value {
    json!({
        "id": format!("chatcmpl-{id}"),
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
        "usage": {
            "prompt_tokens": INPUT_TOKENS,
            "completion_tokens": OUTPUT_TOKENS,
            "total_tokens": INPUT_TOKENS + OUTPUT_TOKENS,
        },
    })
}

fn anthropic_answer(id: &str, model: &str, content: Value, stop_reason: &str) -> Value {
    json!({
        "id": format!("msg_{id}"),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": null,
        "usage": {"input_tokens": INPUT_TOKENS, "output_tokens": OUTPUT_TOKENS},
    })
}

fn script_exhausted(protocol: Protocol) -> Value {
    let message = "the scripted model has no reply left";
    match protocol {
        Protocol::OpenAi => json!({"error": {"message": message, "type": "server_error"}}),
        Protocol::Anthropic => {
            json!({"type": "error", "error": {"type": "api_error", "message": message}})
        }
    }
}

fn json_response(status: u16, body: Value, extra: &[(String, String)]) -> Response {
    raw_response(status, body.to_string(), extra)
}

fn raw_response(status: u16, body: String, extra: &[(String, String)]) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        axum::http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    for (name, value) in extra {
        if let (Ok(name), Ok(value)) = (
            axum::http::HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            headers.insert(name, value);
        }
    }
    response
}
