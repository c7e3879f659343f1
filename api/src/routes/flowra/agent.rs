//! Flowra's agent workflows (seed 002: "an AI agent (which can chat and decide what to do)
//! with tools"). A CreateAgentDto without `steps` becomes a workflow whose one step is an
//! agent step ([`AGENT_STEP_ID`]) built from the DTO; an update of the DTO's fields rebuilds
//! that step; a run paused by the agent (`ask_user`, an approval) is resumed with Flowra's
//! bodies; and a run's detail names each model turn and tool call.
//!
//! This module only translates between Flowra's terms and the agent step's config
//! (`engine::agent`); the engine checks the step and runs it. It never calls a model.

use engine::agent::{self, SubStep};
use engine::definition::{StepSpec, WorkflowSpec, WorkflowStatus};
use serde_json::{json, Map, Value};

use crate::body;
use crate::error::{field_name, ApiError, Detail};
use crate::AppState;
use credentials::connections::ConnectionError;

/// The id of the one step of a workflow created from a CreateAgentDto.
pub const AGENT_STEP_ID: &str = "agent";

/// The agent's first user message: the run input's `message`.
pub const PROMPT: &str = "{{input.message}}";

/// DTO fields kept on the definition and copied into the agent step's config (same names).
const SHARED_FIELDS: [&str; 3] = ["systemPrompt", "model", "tools"];

/// DTO fields that live only in the agent step's config: (DTO name, config name).
const CONFIG_FIELDS: [(&str, &str); 5] = [
    ("connectionId", "connection"),
    ("requireApproval", "requireApproval"),
    ("maxTurns", "maxTurns"),
    ("maxTokens", "maxTokens"),
    ("temperature", "temperature"),
];

/// Providers whose connections can serve an agent's model calls.
const MODEL_PROVIDERS: [&str; 2] = ["openai", "anthropic"];

/// What a create body describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CreateBody {
    /// Steps: the canonical definition.
    Steps,
    /// No steps (absent, null or `[]`) and some of the agent's fields: a CreateAgentDto.
    Agent,
    /// Neither steps nor any agent field: nothing to run.
    Empty,
}

pub fn create_body(body: &Map<String, Value>) -> CreateBody {
    let no_steps = match body.get("steps") {
        None | Some(Value::Null) => true,
        Some(Value::Array(steps)) => steps.is_empty(),
        Some(_) => false,
    };
    let names_agent = SHARED_FIELDS
        .iter()
        .chain(CONFIG_FIELDS.iter().map(|(dto_name, _)| dto_name))
        .any(|key| body.get(*key).is_some_and(|v| !v.is_null()));
    match (no_steps, names_agent) {
        (false, _) => CreateBody::Steps,
        (true, true) => CreateBody::Agent,
        (true, false) => CreateBody::Empty,
    }
}

/// The answer to a create body with neither steps nor an agent.
pub fn nothing_to_run() -> ApiError {
    ApiError::invalid_field(
        &["steps"],
        "a workflow needs at least one step, or an agent: send model and connectionId \
         (CreateAgentDto) without steps",
    )
}

/// The agent step of a workflow whose only step is one (as a CreateAgentDto makes it).
pub fn agent_step(spec: &WorkflowSpec) -> Option<&StepSpec> {
    match spec.steps.as_slice() {
        [only] if only.id == AGENT_STEP_ID && only.kind == "agent" => Some(only),
        _ => None,
    }
}

/// The workflow a CreateAgentDto describes: its fields as today, one agent step, active
/// unless the DTO says otherwise.
pub async fn spec_of_dto(
    state: &AppState,
    mut dto: Map<String, Value>,
) -> Result<WorkflowSpec, ApiError> {
    dto.remove("steps");
    let mut config = Map::new();
    for (dto_name, config_name) in CONFIG_FIELDS {
        match dto.remove(dto_name) {
            None | Some(Value::Null) => {}
            Some(value) => {
                config.insert(config_name.to_owned(), value);
            }
        }
    }
    let mut spec: WorkflowSpec = body::from_value(Value::Object(dto))?;
    let mut details = Vec::new();
    if spec.model.as_deref().is_none_or(|m| m.trim().is_empty()) {
        details.push(Detail::new(
            &["model"],
            "required: the model the agent runs (such as gpt-4o-mini)",
        ));
    }
    if config.get("connection").is_none() {
        details.push(Detail::new(
            &["connectionId"],
            "required: the id of a connection of provider openai or anthropic, which the \
             agent's model calls use",
        ));
    }
    if !details.is_empty() {
        return Err(validation(details));
    }
    check_connection(state, config.get("connection")).await?;
    for key in SHARED_FIELDS {
        let value = match key {
            "systemPrompt" => spec.system_prompt.clone().map(Value::String),
            "model" => spec.model.clone().map(Value::String),
            _ => spec.tools.clone().filter(|tools| !tools.is_null()),
        };
        if let Some(value) = value {
            config.insert(key.to_owned(), value);
        }
    }
    config.insert("prompt".to_owned(), json!(PROMPT));
    spec.steps = vec![StepSpec {
        id: AGENT_STEP_ID.to_owned(),
        kind: "agent".to_owned(),
        name: None,
        config: Value::Object(config),
        retry: None,
        timeout: None,
        action: None,
        connection: None,
    }];
    spec.status = Some(spec.status.unwrap_or(WorkflowStatus::Active));
    Ok(spec)
}

/// An update `patch` of a workflow made from a CreateAgentDto, with its agent step rebuilt
/// from the DTO fields the patch changes (`null` removes one). Other patches, and patches
/// that send `steps`, are returned as they are.
pub async fn update_patch(
    state: &AppState,
    current: &WorkflowSpec,
    mut patch: Map<String, Value>,
) -> Result<Map<String, Value>, ApiError> {
    let Some(step) = agent_step(current) else {
        return Ok(patch);
    };
    let touched = SHARED_FIELDS
        .iter()
        .chain(CONFIG_FIELDS.iter().map(|(dto_name, _)| dto_name))
        .any(|key| patch.contains_key(*key));
    if patch.contains_key("steps") || !touched {
        return Ok(patch);
    }
    let mut config = step.config.as_object().cloned().unwrap_or_default();
    let mut set = |key: &str, value: Value| {
        if value.is_null() {
            config.remove(key);
        } else {
            config.insert(key.to_owned(), value);
        }
    };
    for key in SHARED_FIELDS {
        if let Some(value) = patch.get(key) {
            set(key, value.clone());
        }
    }
    let connection_changed = patch.contains_key("connectionId");
    for (dto_name, config_name) in CONFIG_FIELDS {
        if let Some(value) = patch.remove(dto_name) {
            set(config_name, value);
        }
    }
    if connection_changed {
        match config.get("connection") {
            None => {
                return Err(ApiError::invalid_field(
                    &["connectionId"],
                    "cannot be removed: the agent's model calls need a connection",
                ))
            }
            connection => check_connection(state, connection).await?,
        }
    }
    let step = StepSpec {
        config: Value::Object(config),
        ..step.clone()
    };
    let step = serde_json::to_value(step).map_err(|e| ApiError::Internal(e.to_string()))?;
    patch.insert("steps".to_owned(), Value::Array(vec![step]));
    Ok(patch)
}

/// The connection an agent uses must exist and be of a model provider.
async fn check_connection(state: &AppState, connection: Option<&Value>) -> Result<(), ApiError> {
    let Some(id) = connection
        .and_then(Value::as_str)
        .filter(|id| !id.trim().is_empty())
    else {
        return Err(ApiError::invalid_field(
            &["connectionId"],
            "must be the id of a connection (a non-empty string)",
        ));
    };
    let info = match state.connections.get(id).await {
        Ok(info) => info,
        Err(ConnectionError::NotFound(_)) => {
            return Err(ApiError::invalid_field(
                &["connectionId"],
                format!("no connection {id:?}; create it with POST /api/v1/connections"),
            ))
        }
        Err(other) => return Err(other.into()),
    };
    let provider = info.provider.trim().to_ascii_lowercase();
    if !MODEL_PROVIDERS.contains(&provider.as_str()) {
        return Err(ApiError::invalid_field(
            &["connectionId"],
            format!(
                "connection {id:?} is of provider {}; an agent needs one of provider openai or \
                 anthropic",
                info.provider
            ),
        ));
    }
    Ok(())
}

fn validation(details: Vec<Detail>) -> ApiError {
    let message = details
        .iter()
        .map(|d| format!("{}: {}", field_name(&d.path), d.message))
        .collect::<Vec<_>>()
        .join("; ");
    ApiError::Validation { message, details }
}

/// A definition error about the agent step in Flowra's terms: `steps.0.config.model` is
/// `model`, `steps.0.config.connection` is `connectionId`, and so on.
pub fn in_dto_terms(error: ApiError) -> ApiError {
    let ApiError::Validation { details, .. } = error else {
        return error;
    };
    let details: Vec<Detail> = details
        .into_iter()
        .map(|mut detail| {
            if let ["steps", "0", "config", key, ..] = detail
                .path
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .as_slice()
            {
                let name = CONFIG_FIELDS
                    .iter()
                    .find(|(_, config_name)| config_name == key)
                    .map_or(*key, |(dto_name, _)| *dto_name)
                    .to_owned();
                let mut path = vec![name];
                path.extend(detail.path.iter().skip(4).cloned());
                detail.path = path;
            }
            detail
        })
        .collect();
    validation(details)
}

/// A workflow as Flowra shows it: with `connectionId` beside the DTO fields when it was made
/// from a CreateAgentDto.
pub fn workflow_view(mut data: Value) -> Value {
    let connection = match data["steps"].as_array().map(Vec::as_slice) {
        Some([only]) if only["id"] == AGENT_STEP_ID && only["type"] == "agent" => {
            only["config"]["connection"].clone()
        }
        _ => return data,
    };
    data["connectionId"] = connection;
    data
}

/// The resume payload of a run waiting for its agent (`waiting` is the run's `waitingFor`):
/// for a question, `{"message"}` (a bare string is the message); for an approval,
/// `{"approved", "arguments"?}` (a bare boolean is `approved`). The body may wrap it in
/// `payload` or `input`.
pub fn resume_payload(waiting: &Value, body: Value) -> Result<Value, ApiError> {
    let payload = match body {
        Value::Object(mut fields) => match fields.remove("payload") {
            Some(payload) => payload,
            None => match fields.remove("input") {
                Some(input) => input,
                None => Value::Object(fields),
            },
        },
        other => other,
    };
    match waiting["type"].as_str() {
        Some("input") => match payload {
            Value::String(message) => Ok(json!({ "message": message })),
            Value::Object(fields) if fields.get("message").is_some_and(|m| !m.is_null()) => {
                Ok(Value::Object(fields))
            }
            _ => Err(ApiError::invalid_field(
                &["message"],
                format!(
                    "required: the run waits for the user's answer to {}; send {{\"message\": \
                     \"...\"}}",
                    waiting["question"]
                ),
            )),
        },
        Some("approval") => match payload {
            Value::Bool(approved) => Ok(json!({ "approved": approved })),
            Value::Object(fields) if fields.get("approved").is_some_and(Value::is_boolean) => {
                Ok(Value::Object(fields))
            }
            _ => Err(ApiError::invalid_field(
                &["approved"],
                format!(
                    "required: the run waits for approval of a call of {}; send \
                     {{\"approved\": true | false, \"arguments\"?: {{...}}}}",
                    waiting["tool"]
                ),
            )),
        },
        _ => Ok(payload),
    }
}

/// Marks each step of a run's detail that is an agent's model turn (`kind: "model"`, `turn`)
/// or tool call (`kind: "tool"`, `turn`, `callId`, `tool`: the name the model called),
/// with the `agentStepId` it belongs to.
pub fn annotate_steps(run: &mut Value) {
    let Some(steps) = run["steps"].as_array_mut() else {
        return;
    };
    // The model turns' replies, which name the tool calls.
    let replies: Vec<(String, Value)> = steps
        .iter()
        .filter(|step| {
            step["id"]
                .as_str()
                .and_then(agent::parse_sub_step)
                .is_some_and(|sub| matches!(sub, SubStep::Model { .. }))
        })
        .map(|step| {
            (
                step["id"].as_str().unwrap_or_default().to_owned(),
                step["output"].clone(),
            )
        })
        .collect();
    for step in steps.iter_mut() {
        let id = step["id"].as_str().unwrap_or_default().to_owned();
        match agent::parse_sub_step(&id) {
            Some(SubStep::Model { agent, turn }) => {
                step["kind"] = json!("model");
                step["agentStepId"] = json!(agent);
                step["turn"] = json!(turn);
            }
            Some(SubStep::Tool { agent, turn, .. }) => {
                let model_id = agent::model_call_id(agent, turn);
                let call = replies
                    .iter()
                    .find(|(reply_id, _)| *reply_id == model_id)
                    .and_then(|(_, reply)| reply["toolCalls"].as_array())
                    .and_then(|calls| {
                        calls.iter().find(|call| {
                            call["id"]
                                .as_str()
                                .is_some_and(|c| agent::tool_call_id(agent, turn, c) == id)
                        })
                    })
                    .cloned()
                    .unwrap_or(Value::Null);
                step["kind"] = json!("tool");
                step["agentStepId"] = json!(agent);
                step["turn"] = json!(turn);
                step["callId"] = call["id"].clone();
                step["tool"] = call["name"].clone();
            }
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(error: ApiError) -> Vec<Vec<String>> {
        match error {
            ApiError::Validation { details, .. } => details.into_iter().map(|d| d.path).collect(),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn a_body_without_steps_naming_an_agent_field_is_a_create_agent_dto() {
        let kind = |value: Value| match value {
            Value::Object(map) => create_body(&map),
            _ => panic!("not an object"),
        };
        assert_eq!(kind(json!({"name": "a", "model": "m"})), CreateBody::Agent);
        assert_eq!(
            kind(json!({"name": "a", "steps": null, "connectionId": "c"})),
            CreateBody::Agent
        );
        assert_eq!(
            kind(json!({"name": "a", "steps": [], "tools": []})),
            CreateBody::Agent
        );
        assert_eq!(kind(json!({"name": "a", "model": null})), CreateBody::Empty);
        assert_eq!(kind(json!({"name": "a", "steps": []})), CreateBody::Empty);
        assert_eq!(
            kind(json!({"name": "a", "model": "m", "steps": [{"id": "x"}]})),
            CreateBody::Steps
        );
    }

    #[test]
    fn agent_step_problems_are_named_in_dto_terms() {
        let error = ApiError::Validation {
            message: "Workflow definition is invalid".into(),
            details: vec![
                Detail::new(&["steps", "0", "config", "tools", "1"], "no such action"),
                Detail::new(&["steps", "0", "config", "connection"], "bad"),
                Detail::new(&["name"], "required"),
            ],
        };
        assert_eq!(
            paths(in_dto_terms(error)),
            vec![
                vec!["tools".to_owned(), "1".to_owned()],
                vec!["connectionId".to_owned()],
                vec!["name".to_owned()],
            ]
        );
    }

    #[test]
    fn resume_bodies_take_flowra_shapes() {
        let question = json!({"type": "input", "question": "Which channel?"});
        let approval = json!({"type": "approval", "tool": "slack_postMessage"});
        let cases = [
            (
                &question,
                json!({"message": "#ops"}),
                json!({"message": "#ops"}),
            ),
            (&question, json!("#ops"), json!({"message": "#ops"})),
            (
                &question,
                json!({"payload": {"message": "#ops"}}),
                json!({"message": "#ops"}),
            ),
            (
                &question,
                json!({"input": "#ops"}),
                json!({"message": "#ops"}),
            ),
            (
                &approval,
                json!({"approved": true}),
                json!({"approved": true}),
            ),
            (&approval, json!(false), json!({"approved": false})),
            (
                &approval,
                json!({"payload": {"approved": true, "arguments": {"a": 1}}}),
                json!({"approved": true, "arguments": {"a": 1}}),
            ),
        ];
        for (waiting, body, expected) in cases {
            assert_eq!(
                resume_payload(waiting, body.clone()).ok(),
                Some(expected),
                "{body}"
            );
        }
        for (waiting, body, name) in [
            (&question, json!({}), "message"),
            (&question, json!({"answer": "x"}), "message"),
            (&approval, json!({"approved": "yes"}), "approved"),
            (&approval, json!({}), "approved"),
        ] {
            let error = resume_payload(waiting, body.clone()).expect_err("refused");
            assert_eq!(paths(error), vec![vec![name.to_owned()]], "{body}");
        }
    }

    #[test]
    fn model_turns_and_tool_calls_are_marked() {
        let mut run = json!({"steps": [
            {"id": "agent.m1", "output": {"toolCalls": [
                {"id": "call.1", "name": "ask_user", "arguments": "{}"}]}},
            {"id": "agent.t1.call_1", "output": {"message": "#ops"}},
            {"id": "agent.m2", "output": {"content": "done"}},
            {"id": "agent", "output": {"message": "done"}},
        ]});
        annotate_steps(&mut run);
        let steps = &run["steps"];
        assert_eq!(steps[0]["kind"], "model");
        assert_eq!(steps[0]["turn"], 1);
        assert_eq!(steps[1]["kind"], "tool");
        assert_eq!(steps[1]["callId"], "call.1");
        assert_eq!(steps[1]["tool"], "ask_user");
        assert_eq!(steps[1]["agentStepId"], "agent");
        assert_eq!(steps[2]["turn"], 2);
        assert!(steps[3].get("kind").is_none());
    }
}
