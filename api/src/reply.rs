//! The success envelope `{"success": true, "data": ...}` and the JSON shapes of the
//! resources, shared by the canonical and the compatibility routes.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, SecondsFormat};
use engine::events::{RunEvent, StepError};
use engine::executor::{status_name, Against, RunView};
use engine::inspect::Replay;
use engine::run::RunLink;
use engine::workflows::WorkflowRecord;
use journal::RecordedEvent;
use serde::Serialize;
use serde_json::{json, Map, Value};

/// `data` in the success envelope, with `status`.
pub fn with_status(status: StatusCode, data: impl Serialize) -> Response {
    (status, Json(json!({ "success": true, "data": data }))).into_response()
}

pub fn ok(data: impl Serialize) -> Response {
    with_status(StatusCode::OK, data)
}

/// A list page: `data` is the array, `pagination` says how to get the next one.
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

/// A run as `GET /api/v1/runs/{id}` shows it.
pub fn run_json(run: &RunView) -> Value {
    let steps: Vec<Value> = run
        .steps
        .iter()
        .map(|step| {
            json!({
                "id": step.id,
                "status": step.status,
                "attempts": step.attempts,
                "output": step.output,
                "error": step.error.as_ref().map(step_error_json),
                "startedAt": step.started_at_us.map(time),
                "completedAt": step.completed_at_us.map(time),
                "reused": step.reused,
            })
        })
        .collect();
    json!({
        "id": run.run_id,
        "runId": run.run_id,
        "status": status_name(run.status),
        "workflowId": run.workflow_id,
        "workflowVersion": run.workflow_version,
        "input": run.input,
        "output": run.output,
        "error": run.error.as_ref().map(|e| json!({
            "stepId": e.step_id, "code": e.code, "message": e.message,
        })),
        "startedAt": run.started_at_us.map(time),
        "completedAt": run.completed_at_us.map(time),
        "steps": steps,
        // A rerun's parent is the run it reruns ({runId, fromStep}); a child run's is the
        // run whose workflow step started it ({runId, stepId}).
        "parent": match (&run.parent, &run.called_by) {
            (Some(link), _) => link_json(link),
            (None, Some(caller)) => child_json(caller),
            (None, None) => Value::Null,
        },
        "reruns": run.reruns.iter().map(link_json).collect::<Vec<_>>(),
        "children": run.children.iter().map(child_json).collect::<Vec<_>>(),
        "waitingFor": run.waiting_for,
        "usage": run.usage,
    })
}

/// One end of a sub-workflow link: `{"runId", "stepId"}`.
pub fn child_json(link: &engine::run::ChildLink) -> Value {
    json!({ "runId": link.run_id, "stepId": link.step_id })
}

/// One end of a rerun link: `{"runId", "fromStep"}`.
pub fn link_json(link: &RunLink) -> Value {
    json!({ "runId": link.run_id, "fromStep": link.from_step })
}

/// A step's error as the API shows it.
fn step_error_json(error: &StepError) -> Value {
    json!({ "code": error.code, "message": error.message, "retryable": error.retryable })
}

/// What a replay was checked against, as its `against` field shows it.
pub fn against_json(against: &Against) -> Option<Value> {
    match against {
        Against::Nothing => None,
        Against::Version(version) => {
            Some(json!({ "workflowVersion": version, "source": "version" }))
        }
        Against::Steps(_) => Some(json!({ "workflowVersion": null, "source": "definition" })),
    }
}

/// A replay (`GET /api/v1/runs/{id}/replay`): the timeline, the steps, where the run stopped,
/// and the divergence from the definition it was checked against, if any.
pub fn replay_json(replay: &Replay, against: Option<Value>) -> Value {
    let state = &replay.state;
    let timeline: Vec<Value> = replay
        .entries
        .iter()
        .map(|entry| {
            json!({
                "seq": entry.seq,
                "timestamp": time(entry.recorded_at_us),
                "type": entry.event.name(),
                "stepId": entry.event.step_id(),
                "data": event_data(&entry.event),
                "status": status_name(entry.status),
                "stepState": entry.step_state.as_ref().map(|s| {
                    serde_json::to_value(s).map(camel_case).unwrap_or(Value::Null)
                }),
            })
        })
        .collect();
    let steps: Vec<Value> = replay
        .steps
        .iter()
        .map(|report| {
            let step = &report.view;
            json!({
                "id": step.id,
                "status": step.status,
                "attempts": step.attempts,
                "input": report.input,
                "output": step.output,
                "error": step.error.as_ref().map(step_error_json),
                "startedAt": step.started_at_us.map(time),
                "completedAt": step.completed_at_us.map(time),
                "reused": step.reused,
            })
        })
        .collect();
    json!({
        "runId": state.run_id,
        "workflowId": state.workflow_id,
        "workflowVersion": state.workflow_version,
        "status": status_name(state.status()),
        "parent": state.parent.as_ref().map(link_json),
        "reruns": state.reruns.iter().map(link_json).collect::<Vec<_>>(),
        "timeline": timeline,
        "steps": steps,
        "stopped": {
            "status": status_name(replay.stopped.status),
            "stepId": replay.stopped.step_id,
            "reason": replay.stopped.reason,
        },
        "anomalies": state.anomalies,
        "against": against,
        "divergence": replay.divergence.as_ref().map(|d| json!({
            "seq": d.seq,
            "kind": d.kind.as_str(),
            "type": d.event,
            "stepId": d.step_id,
            "recorded": d.recorded,
            "expected": d.expected,
            "message": d.message,
        })),
    })
}

/// A workflow's detail: its current definition with id, status, version and times.
pub fn workflow_json(record: &WorkflowRecord) -> Value {
    let mut data = match serde_json::to_value(&record.current) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    };
    data.insert("id".into(), json!(record.id));
    data.insert("status".into(), json!(record.status));
    data.insert("version".into(), json!(record.version()));
    data.insert("createdAt".into(), json!(time(record.created_at_us)));
    data.insert("updatedAt".into(), json!(time(record.updated_at_us)));
    Value::Object(data)
}

/// One journal event of a run: `{"seq", "position", "type", "timestamp", "data"}`, `type`
/// the event's name and `data` its fields in camelCase, with JSON carried as text
/// (`input_json`, `output_json`, `payload_json`) shown as JSON (`input`, `output`, `payload`).
pub fn event_json(recorded: &RecordedEvent) -> Value {
    let (name, data) = match RunEvent::decode(recorded.event_type, &recorded.data) {
        Ok(event) => (event.name().to_owned(), event_data(&event)),
        Err(error) => (
            format!("Unknown({})", recorded.event_type.0),
            json!({ "error": error.to_string() }),
        ),
    };
    json!({
        "seq": recorded.seq.0,
        "position": recorded.position.0,
        "type": name,
        "timestamp": time(recorded.recorded_at.as_micros()),
        "data": data,
    })
}

fn event_data(event: &RunEvent) -> Value {
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
fn camel_case(value: Value) -> Value {
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
