//! The timeline: each event with the state it leads to, what each step was given, and where
//! the run stopped and why.

use std::collections::HashMap;

use serde_json::{json, Value};

use super::{Context, Inputs, JournalEvent, StepReport};
use crate::definition::{find_step, Step, StepKind};
use crate::evaluate as step_exec;
use crate::events::RunEvent;
use crate::run::{RunState, RunStatus, StepState};
use crate::scope::Items;
use crate::view::Loaded;

/// One event and what it led to.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub seq: u64,
    pub recorded_at_us: i64,
    pub event: RunEvent,
    /// The run's status after the event.
    pub status: RunStatus,
    /// The state of the event's step after it, for events about a step.
    pub step_state: Option<StepState>,
}

/// Where the run stands at the end of its journal, and why, in words.
#[derive(Clone, Debug, PartialEq)]
pub struct Stopped {
    pub status: RunStatus,
    pub step_id: Option<String>,
    pub reason: String,
}

/// Header names whose values a replay never shows.
const SECRET_HEADER_PARTS: [&str; 5] = ["authorization", "token", "secret", "key", "cookie"];

/// Folds the events, keeping the entries, the step inputs and the journal times.
pub(super) fn fold(events: &[JournalEvent], steps: &[Step]) -> (Vec<Entry>, Inputs, Loaded) {
    let mut loaded = Loaded::empty();
    let mut entries = Vec::with_capacity(events.len());
    let mut inputs: Inputs = HashMap::new();
    let mut items = Items::default();
    let mut context = Context::default();
    for journal_event in events {
        let event = &journal_event.event;
        if let RunEvent::StepStarted { step_id, .. } = event {
            if !inputs.contains_key(step_id) {
                let state = &loaded.state;
                if let Some(input) = http_input(steps, state, &mut items, &mut context, step_id) {
                    inputs.insert(step_id.clone(), input);
                }
            }
        }
        if let RunEvent::ForeachStarted { step_id, items } = event {
            inputs.insert(step_id.clone(), json!({ "items": items }));
        }
        loaded.fold_recorded(journal_event.seq, journal_event.recorded_at_us, event);
        context.note(event);
        if loaded.version == 1 {
            loaded.input = crate::view::parse_json(&loaded.state.input_json);
        }
        let step_state = event
            .step_id()
            .and_then(|id| loaded.state.step(id))
            .cloned();
        entries.push(Entry {
            seq: journal_event.seq,
            recorded_at_us: journal_event.recorded_at_us,
            event: event.clone(),
            status: loaded.state.status(),
            step_state,
        });
    }
    (entries, inputs, loaded)
}

/// The request an HTTP step's attempt sends in `state`, with secret headers masked.
fn http_input(
    steps: &[Step],
    state: &RunState,
    items: &mut Items,
    context: &mut Context,
    step_id: &str,
) -> Option<Value> {
    if crate::agent::parse_sub_step(step_id).is_some() {
        // An agent's model call: the request it sends (the conversation so far).
        return crate::model_call::model_request_json(steps, state, &context.value, step_id);
    }
    let step = find_step(steps, step_id)?;
    if !matches!(step.kind, StepKind::Http { .. }) {
        return None;
    }
    let rendered = items
        .in_scope(steps, state, &mut context.value, step_id, |context| {
            step_exec::rendered_config(step, context)
        })
        .ok()??;
    Some(mask_headers(rendered))
}

fn mask_headers(mut config: Value) -> Value {
    if let Some(Value::Object(headers)) = config.get_mut("headers") {
        for (name, value) in headers.iter_mut() {
            let lower = name.to_ascii_lowercase();
            if SECRET_HEADER_PARTS.iter().any(|part| lower.contains(part)) {
                *value = Value::String("********".into());
            }
        }
    }
    config
}

/// Each step's final view (in the order the steps began) with its input.
pub(super) fn step_reports(loaded: &Loaded, mut inputs: Inputs) -> Vec<StepReport> {
    let view = crate::view::view_of(loaded);
    view.steps
        .into_iter()
        .map(|view| {
            let input = inputs.remove(&view.id);
            StepReport { view, input }
        })
        .collect()
}

/// Where the run stands after its last event.
pub(super) fn stopped(state: &RunState, events: &[JournalEvent]) -> Stopped {
    let status = state.status();
    let at = |step_id: &str, what: String| Stopped {
        status,
        step_id: Some(step_id.to_owned()),
        reason: what,
    };
    let whole = |reason: String| Stopped {
        status,
        step_id: None,
        reason,
    };
    if state.status.is_none() {
        return whole("the journal holds no RunStarted: this is not a run's stream".into());
    }
    match status {
        RunStatus::Completed => whole(format!(
            "completed: every step finished ({} steps)",
            state.steps.len()
        )),
        RunStatus::Failed => match &state.error {
            Some(error) => {
                let code = error
                    .code
                    .as_deref()
                    .map(|c| format!("{c}: "))
                    .unwrap_or_default();
                let attempts = error
                    .step_id
                    .as_deref()
                    .and_then(|id| state.step(id))
                    .map(|s| match s {
                        StepState::AttemptFailed { attempt, .. } => {
                            format!(" after {attempt} attempt(s)")
                        }
                        _ => String::new(),
                    })
                    .unwrap_or_default();
                match &error.step_id {
                    Some(step_id) => at(
                        step_id,
                        format!(
                            "failed at step {step_id}{attempts}: {code}{}",
                            error.message
                        ),
                    ),
                    None => whole(format!("failed: {code}{}", error.message)),
                }
            }
            None => whole("failed".into()),
        },
        RunStatus::Cancelled => {
            let reason = events.iter().rev().find_map(|e| match &e.event {
                RunEvent::RunCancelled { reason } => Some(reason.clone()),
                _ => None,
            });
            whole(format!(
                "cancelled: {}",
                reason.unwrap_or_else(|| "no reason given".into())
            ))
        }
        // The fold never leads here (only a reader that met an undecodable event does).
        RunStatus::Corrupt => whole("corrupt: an event of its journal cannot be decoded".into()),
        RunStatus::Paused | RunStatus::Sleeping | RunStatus::Running | RunStatus::Pending => {
            // The step the run is waiting on: the last one mentioned that has not completed.
            let waiting = events.iter().rev().find_map(|e| {
                let id = e.event.step_id()?;
                match state.step(id) {
                    Some(StepState::Completed { .. }) | None => None,
                    Some(s) => Some((id.to_owned(), s.clone())),
                }
            });
            match waiting {
                Some((id, StepState::Paused { timeout_at_ms })) => {
                    let until = timeout_at_ms
                        .map(|t| format!(" (times out at {})", ms_time(t)))
                        .unwrap_or_default();
                    at(&id, format!("paused at step {id}, waiting to be resumed{until}"))
                }
                Some((id, StepState::Sleeping { fire_at_ms })) => at(
                    &id,
                    format!("sleeping at step {id} until {}", ms_time(fire_at_ms)),
                ),
                Some((id, StepState::RetryWaiting { next_attempt, fire_at_ms })) => at(
                    &id,
                    format!(
                        "waiting to retry step {id} (attempt {next_attempt}) at {}",
                        ms_time(fire_at_ms)
                    ),
                ),
                Some((id, StepState::Running { attempt })) => at(
                    &id,
                    format!(
                        "step {id} attempt {attempt} started and has no recorded outcome: \
                         it is in flight, or was when the server stopped (recovery carries it out again)"
                    ),
                ),
                Some((id, _)) => at(&id, format!("in progress at step {id}")),
                None => whole("started; no step has begun yet".into()),
            }
        }
    }
}

/// Milliseconds since the epoch as RFC 3339 (UTC).
fn ms_time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_else(|| format!("{ms} ms"))
}
