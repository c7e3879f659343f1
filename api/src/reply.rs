//! Writing answers: [`json`] serializes a contract type (`contract`) as the body, and the
//! helpers below shape the JSON of the resources for the compatibility routes (Flowra,
//! StackAI, the dashboard, `duro replay`), which reuse the canonical shapes as
//! `serde_json::Value`s.
//!
//! Bytes: a body is serialized through `serde_json::Value`, whose objects keep their keys in
//! alphabetical order, so every answer has the bytes it had when the routes built their JSON
//! with `json!`, and a field's place in a struct never changes a byte on the wire.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, SecondsFormat};
use engine::events::RunEvent;
use engine::executor::{Against, RunView};
use engine::inspect::Replay;
use engine::workflows::WorkflowRecord;
use journal::RecordedEvent;
use serde::Serialize;
use serde_json::{json, Value};

use crate::contract::runs::{Replay as ReplayBody, ReplayAgainst, Run, RunEvent as RunEventBody};
use crate::contract::workflows::Workflow;

/// `body` as the answer, with `status`: a contract type, serialized (see the module doc).
pub fn json<T: Serialize>(status: StatusCode, body: &T) -> Response {
    match serde_json::to_value(body) {
        Ok(value) => (status, Json(value)).into_response(),
        Err(error) => {
            tracing::error!(%error, "an answer could not be serialized");
            let message = "internal error".to_owned();
            let envelope = crate::error::ErrorEnvelope::new(
                crate::error::ErrorCode::Internal,
                message,
                Vec::new(),
            );
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(serde_json::to_value(envelope).unwrap_or(Value::Null)),
            )
                .into_response()
        }
    }
}

/// `data` in the success envelope, with `status` (compatibility routes).
pub fn with_status(status: StatusCode, data: impl Serialize) -> Response {
    (status, Json(json!({ "success": true, "data": data }))).into_response()
}

pub fn ok(data: impl Serialize) -> Response {
    with_status(StatusCode::OK, data)
}

/// A list page (compatibility routes): `data` is the array, `pagination` says how to get the
/// next one.
pub fn page(items: impl Serialize, next_cursor: Option<String>, limit: usize) -> Response {
    Json(json!({
        "success": true,
        "data": items,
        "pagination": { "nextCursor": next_cursor, "limit": limit },
    }))
    .into_response()
}

/// Microseconds since the epoch as RFC 3339 with milliseconds, UTC (`2024-01-15T10:00:00.000Z`).
pub fn time(micros: i64) -> String {
    DateTime::from_timestamp_micros(micros)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// `value` as JSON; `null` if it cannot be (no contract type fails to serialize).
pub fn to_json(value: impl Serialize) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// A run as `GET /api/v1/runs/{id}` shows it ([`Run`]).
pub fn run_json(run: &RunView) -> Value {
    to_json(Run::from(run))
}

/// What a replay was checked against, as its `against` field shows it.
pub fn against_json(against: &Against) -> Option<Value> {
    ReplayAgainst::of(against).map(to_json)
}

/// A replay (`GET /api/v1/runs/{id}/replay`) as JSON, for `duro replay` and the dashboard.
/// `against` is what [`against_json`] gave.
pub fn replay_json(replay: &Replay, against: Option<Value>) -> Value {
    let mut json = to_json(ReplayBody::of(replay, None));
    json["against"] = against.unwrap_or(Value::Null);
    json
}

/// A workflow's detail ([`Workflow`]).
pub fn workflow_json(record: &WorkflowRecord) -> Value {
    to_json(Workflow::of(record))
}

/// One journal event of a run ([`RunEventBody`]): `{"seq", "position", "type", "timestamp",
/// "data"}`.
pub fn event_json(recorded: &RecordedEvent) -> Value {
    to_json(RunEventBody::from(recorded))
}

/// An event's fields in camelCase, with JSON carried as text (`input_json`, `output_json`,
/// `payload_json`) shown as JSON (`input`, `output`, `payload`).
pub(crate) fn event_data(event: &RunEvent) -> Value {
    // serde's external tagging gives {"Variant": {fields}} (or "Variant" for unit variants).
    let fields = match serde_json::to_value(event) {
        Ok(Value::Object(outer)) => outer.into_iter().next().map(|(_, inner)| inner),
        _ => None,
    };
    match fields {
        Some(value) => camel_case(value),
        None => json!({}),
    }
}

/// Renames snake_case keys to camelCase, recursively, and parses `*_json` text fields.
pub(crate) fn camel_case(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(key, value)| match key.strip_suffix("_json") {
                    Some(base) => {
                        let text = value.as_str().unwrap_or_default();
                        let parsed = serde_json::from_str(text).unwrap_or(Value::Null);
                        (camel(base), parsed)
                    }
                    None => (camel(&key), camel_case(value)),
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(camel_case).collect()),
        other => other,
    }
}

fn camel(snake: &str) -> String {
    let mut out = String::with_capacity(snake.len());
    let mut upper = false;
    for c in snake.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_events_show_their_step_id_and_json_fields_as_json() {
        let event = RunEvent::StepCompleted {
            step_id: "calc".into(),
            attempt: 1,
            output_json: r#"{"total": 3}"#.into(),
        };
        assert_eq!(
            event_data(&event),
            json!({"stepId": "calc", "attempt": 1, "output": {"total": 3}})
        );
    }

    #[test]
    fn times_are_rfc3339_with_milliseconds() {
        assert_eq!(time(1_705_312_800_000_000), "2024-01-15T10:00:00.000Z");
    }
}
