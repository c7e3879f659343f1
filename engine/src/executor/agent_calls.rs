//! Carrying out an agent's sub-steps (`crate::agent` decides them): a model call, sent through
//! the guarded client in the connection's wire protocol (OpenAI Chat Completions or
//! Anthropic Messages), whose normalized reply becomes the sub-step's output; and a tool
//! call, carried out as an action or an HTTP request with the model's arguments (never
//! rendered as templates: they are data).

use std::time::Duration;

use serde_json::{json, Value};

use super::action::ActionCall;
use super::steps::{self, failure};
use super::Runs;
use crate::agent::{self, AgentStep, ToolKind};
use crate::definition::ActionStep;
use crate::events::StepError;
use crate::run::RunState;

/// Timeout of one model call when the step sets none: models are slow.
pub const MODEL_CALL_TIMEOUT_MS_DEFAULT: u64 = 120_000;
/// Longest `Retry-After` waited for within an attempt; a longer one fails the attempt
/// (retryable), and the step's retry policy takes over.
const RETRY_AFTER_MAX_MS: u64 = 60_000;
/// Rate-limited answers waited out within one attempt.
const RATE_LIMIT_WAITS_MAX: u32 = 3;

/// One model call, rendered: everything the request needs.
pub struct ModelCall {
    pub connection: Result<String, StepError>,
    pub request: Result<llm::ModelRequest, StepError>,
    pub timeout_ms: Option<u64>,
    /// Asks for a streamed answer, whose text deltas are published as they arrive.
    pub stream: bool,
    pub run_id: String,
    /// The model call's sub-step id (`{agent}.m{n}`).
    pub step_id: String,
}

/// Model call `turn` of `agent` (journal id `{agent_id}.m{turn}`) in `state`, rendered against
/// the run's `context` (`duro_core::model_call`), ready to send.
pub fn model_call(
    agent: &AgentStep,
    agent_id: &str,
    turn: u32,
    timeout_ms: Option<u64>,
    state: &RunState,
    context: &Value,
) -> ModelCall {
    let rendered = duro_core::model_call::render_call(agent, agent_id, turn, state, context);
    ModelCall {
        connection: rendered.connection,
        request: rendered.request,
        timeout_ms,
        stream: agent.stream,
        run_id: state.run_id.clone(),
        step_id: agent::model_call_id(agent_id, turn),
    }
}

pub use duro_core::model_call::model_request_json;

/// Sends a model call; its normalized reply as JSON (the sub-step's output).
pub async fn perform_model_call(runs: &Runs, call: ModelCall) -> Result<Value, StepError> {
    let integrations = &runs.inner().integrations;
    let request = call.request?;
    let id = call.connection?;
    let connection = integrations
        .connections
        .get(&id)
        .await
        .map_err(|e| failure("CONNECTION_LOOKUP", e, true))?
        .ok_or_else(|| {
            failure(
                "CONNECTION_NOT_FOUND",
                format!("connection {id:?} does not exist"),
                false,
            )
        })?;
    if !connection.active {
        return Err(failure(
            "CONNECTION_DISABLED",
            format!("connection {id:?} is disabled"),
            false,
        ));
    }
    let protocol = llm::Protocol::parse(&connection.provider).ok_or_else(|| {
        failure(
            "CONNECTION_MISMATCH",
            format!(
                "connection {id:?} is of provider {}; an agent needs openai or anthropic",
                connection.provider
            ),
            false,
        )
    })?;
    let base_url = connection
        .base_url
        .clone()
        .unwrap_or_else(|| protocol.default_base_url().to_owned());
    let presented = integrations
        .connections
        .present(&id)
        .await
        .map_err(|e| failure("CONNECTION_LOOKUP", e, true))?;
    let build = if call.stream {
        llm::build_streaming_request
    } else {
        llm::build_request
    };
    let http = build(protocol, &base_url, &presented.headers, &request)
        .map_err(|e| failure(e.code(), e.to_string(), e.retryable()))?;
    let deltas = runs.model_deltas();
    let timeout = Duration::from_millis(call.timeout_ms.unwrap_or(MODEL_CALL_TIMEOUT_MS_DEFAULT));
    let mut waits = 0;
    loop {
        // A new decoder per try: a retried call streams its answer from the start.
        let mut decoder = call.stream.then(|| llm::StreamDecoder::new(protocol));
        let mut publish = |chunk: &[u8]| {
            if let Some(decoder) = decoder.as_mut() {
                // Decoded even unwatched, so a watcher arriving mid-answer reads whole events.
                for text in decoder.push(chunk) {
                    if deltas.watched() {
                        deltas.publish(super::deltas::ModelDelta {
                            run_id: call.run_id.clone(),
                            step_id: call.step_id.clone(),
                            text,
                        });
                    }
                }
            }
        };
        let response = integrations
            .outbound
            .send_observed(
                outbound::OutboundRequest {
                    method: http.method.clone(),
                    url: http.url.clone(),
                    headers: http.headers.clone(),
                    body: Some(http.body.clone()),
                    timeout,
                },
                &mut publish,
            )
            .await
            .map_err(|e| failure(e.code(), e.to_string(), e.retryable()))?;
        match llm::parse_response(protocol, response.status, &response.headers, &response.body) {
            Ok(reply) => {
                metrics::counter!("duro_model_tokens_total", "model" => reply.model.clone(), "kind" => "input")
                    .increment(reply.usage.input_tokens);
                metrics::counter!("duro_model_tokens_total", "model" => reply.model.clone(), "kind" => "output")
                    .increment(reply.usage.output_tokens);
                return serde_json::to_value(&reply)
                    .map_err(|e| failure("INTERNAL", e.to_string(), false));
            }
            // Honour Retry-After within the attempt while it is short: the wait is not
            // journaled, and a crash meanwhile only repeats the unanswered call.
            Err(error) => match error.retry_after_ms() {
                Some(wait_ms) if wait_ms <= RETRY_AFTER_MAX_MS && waits < RATE_LIMIT_WAITS_MAX => {
                    waits += 1;
                    tokio::time::sleep(Duration::from_millis(wait_ms)).await;
                }
                _ => return Err(failure(error.code(), error.to_string(), error.retryable())),
            },
        }
    }
}

/// What carries out a tool call.
pub enum ToolEffect {
    Action(Box<ActionCall>),
    Http(Result<steps::Request, StepError>),
    Workflow(Box<super::children::ChildCall>),
}

/// The effect of tool call `call_id` (attempt `attempt`) of `agent`, from the reply on record.
pub fn tool_effect(
    runs: &Runs,
    agent: &AgentStep,
    call_id: &str,
    turn: u32,
    attempt: u32,
    timeout_ms: Option<u64>,
    state: &RunState,
) -> Result<ToolEffect, String> {
    let agent_id = call_id.split('.').next().unwrap_or_default();
    let Some(crate::run::StepState::Completed { output_json, .. }) =
        state.step(&agent::model_call_id(agent_id, turn))
    else {
        return Err(format!("{call_id}: its model reply is not on record"));
    };
    let reply = agent::reply_of(output_json).ok_or("the recorded reply cannot be read")?;
    let call = reply
        .tool_calls
        .iter()
        .find(|c| agent::tool_call_id(agent_id, turn, &c.id) == call_id)
        .ok_or_else(|| format!("{call_id}: no such tool call in its reply"))?;
    let tool = agent
        .tools
        .iter()
        .find(|t| t.name == call.name)
        .ok_or_else(|| format!("{call_id}: no tool named {}", call.name))?;
    let arguments = agent::arguments_of(call, call_id, state);
    let _ = runs;
    match &tool.kind {
        ToolKind::Action { action } => {
            let provider = action.split_once('.').map_or(action.as_str(), |(p, _)| p);
            Ok(ToolEffect::Action(Box::new(ActionCall {
                run_id: state.run_id.clone(),
                step_id: call_id.to_owned(),
                step: ActionStep {
                    action: action.clone(),
                    provider: provider.to_owned(),
                    params: Value::Null.into(),
                    connection: None,
                },
                params: Ok(arguments),
                connection: Ok(None),
                run_connection: state.connection_id.clone(),
                workflow_id: state.workflow_id.clone(),
                workflow_version: state.workflow_version,
                responses: state
                    .requests
                    .get(call_id)
                    .map(|r| r.iter().map(|t| super::parse_json(t)).collect())
                    .unwrap_or_default(),
                timeout_ms,
            })))
        }
        ToolKind::Http { config } => {
            let rendered = config
                .render(&json!({ "args": arguments }))
                .map_err(|e| failure("TEMPLATE_ERROR", format!("http.{e}"), false));
            Ok(ToolEffect::Http(rendered.map(|config| {
                steps::Request::new(
                    config,
                    timeout_ms,
                    format!("{}:{call_id}:{attempt}", state.run_id),
                )
            })))
        }
        ToolKind::Workflow {
            workflow_id,
            version,
        } => Ok(ToolEffect::Workflow(Box::new(super::children::ChildCall {
            parent_run_id: state.run_id.clone(),
            step_id: call_id.to_owned(),
            child_run_id: super::children::child_run_id(&state.run_id, call_id, attempt),
            step: crate::definition::WorkflowStep {
                workflow_id: workflow_id.clone(),
                version: *version,
                input: Value::Null.into(),
            },
            input: Ok(arguments),
            connection_id: state.connection_id.clone(),
        }))),
        ToolKind::AskUser => Err(format!(
            "{call_id}: ask_user is answered by a resume, not run"
        )),
    }
}
