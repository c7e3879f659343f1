//! Writing engine events to a store, as the engine writes them.

#![allow(dead_code)]

use engine::definition::WorkflowSpec;
use engine::events::{RunError, RunEvent};
use journal::{AppendResult, EventStore, EventType, ExpectedVersion, NewEvent, StreamName};
use serde_json::json;
use triggers::instances::TriggerEvent;

pub fn stream(name: &str) -> StreamName {
    StreamName::new(name).expect("stream name")
}

pub fn started(run_id: &str, workflow_id: &str) -> RunEvent {
    RunEvent::RunStarted {
        run_id: run_id.to_owned(),
        workflow_id: workflow_id.to_owned(),
        workflow_version: 1,
        input_json: "{}".to_owned(),
        idempotency_key: None,
        connection_id: None,
    }
}

pub fn step_started(step: &str) -> RunEvent {
    RunEvent::StepStarted {
        step_id: step.to_owned(),
        attempt: 1,
    }
}

pub fn completed() -> RunEvent {
    RunEvent::RunCompleted {
        output_json: "{}".to_owned(),
    }
}

pub fn failed(message: &str) -> RunEvent {
    RunEvent::RunFailed {
        error: RunError {
            step_id: Some("a".to_owned()),
            code: None,
            message: message.to_owned(),
        },
    }
}

pub fn paused(step: &str) -> RunEvent {
    RunEvent::RunPaused {
        step_id: step.to_owned(),
        timeout_at_ms: None,
    }
}

/// Appends `events` to `run-{run_id}`, as the executor does.
pub async fn append_run(store: &dyn EventStore, run_id: &str, events: &[RunEvent]) -> AppendResult {
    let events = events
        .iter()
        .map(|event| NewEvent {
            event_type: event.tag().into(),
            data: event.encode(),
        })
        .collect();
    store
        .append(
            &stream(&format!("run-{run_id}")),
            ExpectedVersion::Any,
            events,
        )
        .await
        .expect("append run events")
}

/// Appends raw bytes under `tag` to `stream`.
pub async fn append_raw(store: &dyn EventStore, name: &str, tag: u16, data: &[u8]) -> AppendResult {
    store
        .append(
            &stream(name),
            ExpectedVersion::Any,
            vec![NewEvent::new(EventType(tag), data.to_vec())],
        )
        .await
        .expect("append raw event")
}

pub fn spec(name: &str, text: &str) -> WorkflowSpec {
    serde_json::from_value(json!({
        "name": name,
        "description": format!("{name}, described"),
        "steps": [{ "id": "a", "type": "transform", "config": { "mapping": { "text": text } } }]
    }))
    .expect("spec")
}

/// A trigger's spec as `triggers::instances` stores it (JSON text).
pub fn trigger_spec_json(
    kind: &str,
    workflow_id: &str,
    connection_id: Option<&str>,
    trigger_name: Option<&str>,
) -> String {
    serde_json::to_string(&triggers::instances::TriggerSpec {
        kind: kind.to_owned(),
        workflow_id: workflow_id.to_owned(),
        config: json!({}),
        connection_id: connection_id.map(str::to_owned),
        webhook_data: None,
        provider_id: None,
        trigger_name: trigger_name.map(str::to_owned),
    })
    .expect("trigger spec json")
}

pub fn upserted(trigger_id: &str, slug: &str, spec_json: String, enabled: bool) -> TriggerEvent {
    TriggerEvent::TriggerUpserted {
        trigger_id: trigger_id.to_owned(),
        slug: slug.to_owned(),
        spec_json,
        enabled,
        webhook_id: None,
        by: None,
    }
}

/// Appends `events` to `trigger-{trigger_id}`, as `triggers::instances::Triggers` does.
pub async fn append_trigger(
    store: &dyn EventStore,
    trigger_id: &str,
    events: &[TriggerEvent],
) -> AppendResult {
    let events = events
        .iter()
        .map(|event| NewEvent::new(event.tag(), event.encode()))
        .collect();
    store
        .append(
            &stream(&format!("trigger-{trigger_id}")),
            ExpectedVersion::Any,
            events,
        )
        .await
        .expect("append trigger events")
}
