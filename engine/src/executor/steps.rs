//! Carrying out one attempt of an HTTP step: rendering its request, sending it. What steps
//! compute without the outside world is `duro_core::evaluate`.

use std::time::Duration;

use serde_json::{json, Map, Value};

use crate::definition::{Step, StepKind};
use crate::events::StepError;
pub use duro_core::evaluate::failure;

/// Largest response body kept as a step's output.
pub const RESPONSE_BYTES_MAX: usize = 1024 * 1024;
/// Default timeout of an HTTP step's attempt when neither the step nor its config sets one.
pub const HTTP_TIMEOUT_MS_DEFAULT: u64 = 30_000;

/// One HTTP attempt, rendered and ready to send on its own task.
pub struct Request {
    /// The rendered config, or why it did not render (then sending fails at once).
    config: Result<Value, StepError>,
    /// The step's connection, rendered: its credentials header is added to the request.
    connection: Result<Option<String>, StepError>,
    timeout_ms: Option<u64>,
    idempotency_key: String,
}

impl Request {
    /// A request of `config`, already rendered (an agent's http tool), with no connection.
    pub fn new(config: Value, timeout_ms: Option<u64>, idempotency_key: String) -> Request {
        Request {
            config: Ok(config),
            connection: Ok(None),
            timeout_ms,
            idempotency_key,
        }
    }
}

/// Renders attempt `attempt` of HTTP step `step`, known in the journal as `step_id` (an item's
/// sub-step has a composite id), against its template context. None when `step` is not an
/// HTTP step: the others are decided in memory or waited for, never sent.
pub fn request(
    step: &Step,
    step_id: &str,
    attempt: u32,
    run_id: &str,
    context: &Value,
) -> Option<Request> {
    let StepKind::Http { config, connection } = &step.kind else {
        return None;
    };
    Some(Request {
        config: config
            .render(context)
            .map_err(|e| failure("TEMPLATE_ERROR", format!("config.{e}"), false)),
        connection: duro_core::evaluate::render_connection(connection.as_ref(), context),
        timeout_ms: step.timeout_ms,
        idempotency_key: format!("{run_id}:{step_id}:{attempt}"),
    })
}

/// Sends a rendered request through the guarded outbound client; the output as JSON, or why
/// the attempt failed.
pub async fn perform(runs: &super::Runs, request: Request) -> Result<Value, StepError> {
    let config = request.config?;
    let integrations = &runs.inner().integrations;
    let mut presented = Vec::new();
    if let Some(id) = request.connection? {
        // Named by the step: it must exist and be active; any provider fits an http step.
        let wanted = crate::connections::Wanted {
            provider: "http",
            step: Some(&id),
            run: None,
            workflow: None,
            required: true,
        };
        if let Some(connection) =
            crate::connections::resolve(integrations.connections.as_ref(), wanted).await?
        {
            presented = integrations
                .connections
                .present(&connection.id)
                .await
                .map_err(|e| failure("CONNECTION_LOOKUP", e, true))?
                .headers;
        }
    }
    send(
        &integrations.outbound,
        presented,
        &config,
        request.timeout_ms,
        &request.idempotency_key,
    )
    .await
}

/// Sends the request `config` describes. 5xx, 408, 429 and network errors are retryable;
/// other 4xx are not.
async fn send(
    outbound: &outbound::Outbound,
    presented: Vec<(String, String)>,
    config: &Value,
    step_timeout_ms: Option<u64>,
    idempotency_key: &str,
) -> Result<Value, StepError> {
    let method = config
        .get("method")
        .and_then(Value::as_str)
        .unwrap_or("GET")
        .to_ascii_uppercase();
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(failure(
            "BAD_REQUEST",
            format!("bad HTTP method {method:?}"),
            false,
        ));
    }
    let url = config
        .get("url")
        .and_then(Value::as_str)
        .ok_or_else(|| failure("BAD_REQUEST", "config.url is not a string", false))?;
    let config_timeout = config
        .get("timeout")
        .and_then(Value::as_str)
        .and_then(|t| crate::duration::DurationMs::parse(t).ok())
        .map(|d| d.0);
    let timeout_ms = step_timeout_ms
        .or(config_timeout)
        .unwrap_or(HTTP_TIMEOUT_MS_DEFAULT);
    let mut headers = vec![("Idempotency-Key".to_owned(), idempotency_key.to_owned())];
    if let Some(Value::Object(given)) = config.get("headers") {
        for (name, value) in given {
            let value = match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            headers.push((name.clone(), value));
        }
    }
    // The connection's header replaces one of the same name the config set.
    for (name, value) in presented {
        headers.retain(|(existing, _)| !existing.eq_ignore_ascii_case(&name));
        headers.push((name, value));
    }
    let has_content_type = headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("content-type"));
    let body = match config.get("body") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => Some(text.clone().into_bytes()),
        Some(body) => {
            if !has_content_type {
                headers.push(("Content-Type".to_owned(), "application/json".to_owned()));
            }
            Some(body.to_string().into_bytes())
        }
    };
    let response = outbound
        .send(outbound::OutboundRequest {
            method,
            url: url.to_owned(),
            headers,
            body,
            timeout: Duration::from_millis(timeout_ms),
        })
        .await
        .map_err(|e| failure(e.code(), e.to_string(), e.retryable()))?;
    let output = response_output(&response)?;
    match response_failure(&response, &output["body"], &format!("from {url}")) {
        Some(error) => Err(error),
        None => Ok(output),
    }
}

/// A response as a step's output: `{"status", "headers", "body"}` (the body parsed as JSON
/// when it is JSON, else text). A body above `RESPONSE_BYTES_MAX` fails: the output is
/// journaled, and the journal bounds an event's size.
pub(crate) fn response_output(response: &outbound::OutboundResponse) -> Result<Value, StepError> {
    if response.body.len() > RESPONSE_BYTES_MAX {
        return Err(failure(
            "RESPONSE_TOO_LARGE",
            format!(
                "response body of {} bytes exceeds {RESPONSE_BYTES_MAX}",
                response.body.len()
            ),
            false,
        ));
    }
    let mut headers = Map::new();
    for (name, value) in &response.headers {
        headers.insert(name.clone(), Value::String(value.clone()));
    }
    let body = serde_json::from_slice(&response.body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&response.body).into_owned()));
    Ok(json!({ "status": response.status, "headers": headers, "body": body }))
}

/// Why a response that is not 2xx fails its attempt (`label` says which request): 5xx, 408
/// and 429 are retryable, other statuses are not. None for 2xx.
pub(crate) fn response_failure(
    response: &outbound::OutboundResponse,
    body: &Value,
    label: &str,
) -> Option<StepError> {
    let status = response.status;
    if (200..300).contains(&status) {
        return None;
    }
    let retryable = status >= 500 || status == 408 || status == 429;
    Some(StepError {
        code: Some(status.to_string()),
        message: format!("HTTP {status} {label}: {}", excerpt(body)),
        retryable,
    })
}

fn excerpt(body: &Value) -> String {
    let text = match body {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    text.chars().take(200).collect()
}
