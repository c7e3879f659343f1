//! Agent steps: an LLM with tools, decided from the journal alone.
//!
//! An agent step `a` runs as sub-steps with journal ids of their own, like a foreach's items:
//! - `a.m{n}`: the n-th model call (from 1). Its `StepCompleted` holds the model's whole
//!   reply (`llm::ModelResponse`: message, tool calls, finish reason, usage), recorded before
//!   any tool runs; replay and recovery never call the model again for a turn on record.
//!   Its attempts, retries and timers are those of any step, with the agent's retry policy.
//! - `a.t{n}.{callId}`: the tool call `callId` of reply n. Each is its own step: an action or
//!   http tool is carried out like an action step (with its `Idempotency-Key`); `ask_user`
//!   and a tool named in `requireApproval` pause the run first.
//!
//! `decide_agent` walks them: the next model call once every tool call of the last reply is
//! done, a tool call's command while one is not, the step's completion once a reply has no
//! tool calls. The conversation sent to the model is rebuilt from the same records
//! (`conversation`), so it is the same after a crash as before it.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::definition::Problem;
use crate::template::{self, TemplateText, TemplateValue};

/// Default most model calls of one agent step.
pub const MAX_TURNS_DEFAULT: u32 = 10;
/// Most model calls an agent step may allow.
pub const MAX_TURNS_MAX: u32 = 100;
/// Most tools of one agent step.
pub const TOOLS_MAX: usize = 64;
/// The built-in tool that asks the run's user a question.
pub const ASK_USER: &str = "ask_user";

/// A checked `agent` step: `{"type": "agent", "config": {"connection", "model",
/// "systemPrompt"?, "prompt" | "messages", "tools"?, "requireApproval"?, "maxTurns"?,
/// "maxTokens"?, "temperature"?, "output"?, "stream"?}}`; every string is a template over the
/// run.
#[derive(Clone, Debug, PartialEq)]
pub struct AgentStep {
    /// A connection of provider `openai` or `anthropic` (id or template).
    pub connection: TemplateText,
    pub model: TemplateText,
    pub system_prompt: Option<TemplateText>,
    /// The first user message (a template), after `messages`.
    pub prompt: Option<TemplateText>,
    /// Earlier messages, written `[{"role": "user" | "assistant", "content"}]` (templates).
    pub messages: Vec<OpeningMessage>,
    pub tools: Vec<AgentTool>,
    /// Tool names that pause the run for a person's approval before they run.
    pub require_approval: Vec<String>,
    pub max_turns: u32,
    /// Most tokens (input and output, summed over the step's model calls).
    pub max_tokens: Option<u64>,
    pub temperature: Option<f64>,
    /// A JSON Schema the final answer (parsed as JSON) must match; a reply that does not is
    /// fed back to the model once.
    pub output: Option<Schema>,
    /// Ask the provider to stream its answers, so watchers of the run see the text as it is
    /// written (default true). The journal holds the same whole reply either way.
    pub stream: bool,
}

/// One of an agent step's opening messages, its content compiled once.
#[derive(Clone, Debug, PartialEq)]
pub struct OpeningMessage {
    /// Said by the assistant (`"role": "assistant"`); else by the user.
    pub assistant: bool,
    pub content: TemplateText,
}

/// A JSON Schema compiled once, when the definition is checked: `decide` checks tool
/// arguments and final answers on every decision of the step, and compiling a schema costs
/// far more than checking a value against it.
#[derive(Clone)]
pub struct Schema {
    pub value: Value,
    validator: std::sync::Arc<jsonschema::Validator>,
}

impl Schema {
    pub fn compile(value: Value) -> Result<Schema, String> {
        let validator = jsonschema::validator_for(&value).map_err(|e| e.to_string())?;
        Ok(Schema {
            value,
            validator: std::sync::Arc::new(validator),
        })
    }

    /// Every way `instance` violates the schema, with its path.
    pub fn problems(&self, instance: &Value) -> Vec<String> {
        self.validator
            .iter_errors(instance)
            .map(|e| format!("{}: {e}", e.instance_path()))
            .collect()
    }
}

impl PartialEq for Schema {
    fn eq(&self, other: &Schema) -> bool {
        self.value == other.value
    }
}

impl std::fmt::Debug for Schema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Schema({})", self.value)
    }
}

/// A tool the model may call; `name` is what the model sees.
#[derive(Clone, Debug, PartialEq)]
pub struct AgentTool {
    pub name: String,
    pub description: String,
    /// A JSON Schema of the arguments.
    pub parameters: Schema,
    pub kind: ToolKind,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ToolKind {
    /// A catalog action (`slack.postMessage`); the arguments are its params.
    Action { action: String },
    /// An HTTP request; its strings are templates over `{"args": arguments}`.
    Http { config: TemplateValue },
    /// Pauses the run with the model's question; the resume's `message` is the answer.
    AskUser,
    /// A child run of a workflow with the arguments as its input; its output is the result.
    Workflow {
        workflow_id: String,
        version: Option<u64>,
    },
}

/// The journal id of model call `turn` (from 1) of agent step `step_id`.
pub fn model_call_id(step_id: &str, turn: u32) -> String {
    format!("{step_id}.m{turn}")
}

/// The journal id of tool call `call_id` of reply `turn` of agent step `step_id`. Characters
/// a step id may not hold become `_`.
pub fn tool_call_id(step_id: &str, turn: u32, call_id: &str) -> String {
    let call: String = call_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    format!("{step_id}.t{turn}.{call}")
}

/// What an agent sub-step id names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SubStep<'a> {
    Model {
        agent: &'a str,
        turn: u32,
    },
    Tool {
        agent: &'a str,
        turn: u32,
        call: &'a str,
    },
}

/// Parses `a.m3` or `a.t3.call_x` (None for any other id). Plain step ids hold no dots.
pub fn parse_sub_step(id: &str) -> Option<SubStep<'_>> {
    let (agent, rest) = id.split_once('.')?;
    if let Some(turn) = rest.strip_prefix('m') {
        return Some(SubStep::Model {
            agent,
            turn: turn.parse().ok()?,
        });
    }
    let rest = rest.strip_prefix('t')?;
    let (turn, call) = rest.split_once('.')?;
    Some(SubStep::Tool {
        agent,
        turn: turn.parse().ok()?,
        call,
    })
}

/// The model-facing name of a catalog action: `slack.postMessage` → `slack_postMessage`
/// (providers' tool names allow no dots).
pub fn action_tool_name(action: &str) -> String {
    action.replace('.', "_")
}

/// Checks an agent step's config; `catalog_params` gives an action's param schema.
pub fn check(
    config: &Value,
    at: &dyn Fn(&[&str]) -> Vec<String>,
    catalog_params: &dyn Fn(&str) -> Result<Value, String>,
    problems: &mut Vec<Problem>,
) -> Option<AgentStep> {
    let before = problems.len();
    let mut problem = |path: &[&str], message: String| {
        problems.push(Problem {
            path: at(path),
            message,
        })
    };
    let Value::Object(map) = config else {
        problem(&["config"], "an agent step needs a config object".into());
        return None;
    };
    const KEYS: [&str; 12] = [
        "connection",
        "model",
        "systemPrompt",
        "prompt",
        "messages",
        "tools",
        "requireApproval",
        "maxTurns",
        "maxTokens",
        "temperature",
        "output",
        "stream",
    ];
    for key in map.keys() {
        if !KEYS.contains(&key.as_str()) {
            problem(
                &["config", key],
                format!("unknown field; an agent step takes {}", KEYS.join(", ")),
            );
        }
    }
    let text = |key: &str| map.get(key).and_then(Value::as_str).map(str::to_owned);
    let connection = text("connection");
    if connection.as_deref().is_none_or(|c| c.trim().is_empty()) {
        problem(
            &["config", "connection"],
            "an agent step needs a connection (of provider openai or anthropic)".into(),
        );
    }
    let model = text("model");
    if model.as_deref().is_none_or(|m| m.trim().is_empty()) {
        problem(&["config", "model"], "an agent step needs a model".into());
    }
    for key in ["systemPrompt", "prompt"] {
        if map.get(key).is_some_and(|v| !v.is_string() && !v.is_null()) {
            problem(&["config", key], "must be a string".into());
        }
    }
    let messages = map.get("messages").filter(|v| !v.is_null()).cloned();
    if let Some(messages) = &messages {
        let valid = messages.as_array().is_some_and(|items| {
            items.iter().all(|m| {
                matches!(
                    m.get("role").and_then(Value::as_str),
                    Some("user" | "assistant")
                ) && m.get("content").is_some_and(Value::is_string)
            })
        });
        if !valid {
            problem(
                &["config", "messages"],
                "must be an array of {\"role\": \"user\" | \"assistant\", \"content\": string}"
                    .into(),
            );
        }
    }
    let prompt = text("prompt");
    if prompt.is_none() && messages.is_none() {
        problem(
            &["config", "prompt"],
            "an agent step needs a prompt or messages".into(),
        );
    }
    let mut tools = Vec::new();
    match map.get("tools") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) if items.len() <= TOOLS_MAX => {
            for (index, item) in items.iter().enumerate() {
                let index = index.to_string();
                match check_tool(item, catalog_params) {
                    Ok(tool) => {
                        if tools.iter().any(|t: &AgentTool| t.name == tool.name) {
                            problem(
                                &["config", "tools", &index],
                                format!("a second tool named {:?}", tool.name),
                            );
                        }
                        tools.push(tool);
                    }
                    Err(message) => problem(&["config", "tools", &index], message),
                }
            }
        }
        Some(_) => problem(
            &["config", "tools"],
            format!("must be an array of at most {TOOLS_MAX} tools"),
        ),
    }
    let mut require_approval = Vec::new();
    match map.get("requireApproval") {
        None | Some(Value::Null) => {}
        Some(Value::Array(names)) => {
            for (index, name) in names.iter().enumerate() {
                // A tool is named as the model sees it, or by its action id.
                let tool = name.as_str().and_then(|name| {
                    tools
                        .iter()
                        .find(|t| t.name == name || t.name == action_tool_name(name))
                });
                match tool {
                    Some(tool) => require_approval.push(tool.name.clone()),
                    None => problem(
                        &["config", "requireApproval", &index.to_string()],
                        format!("{name} is not one of the step's tools"),
                    ),
                }
            }
        }
        Some(_) => problem(
            &["config", "requireApproval"],
            "must be an array of tool names".into(),
        ),
    }
    let max_turns = match map.get("maxTurns") {
        None | Some(Value::Null) => MAX_TURNS_DEFAULT,
        Some(value) => match value
            .as_u64()
            .filter(|n| (1..=u64::from(MAX_TURNS_MAX)).contains(n))
        {
            Some(n) => n as u32,
            None => {
                problem(
                    &["config", "maxTurns"],
                    format!("must be a whole number from 1 to {MAX_TURNS_MAX}"),
                );
                MAX_TURNS_DEFAULT
            }
        },
    };
    let max_tokens = match map.get("maxTokens") {
        None | Some(Value::Null) => None,
        Some(value) => match value.as_u64().filter(|n| *n >= 1) {
            Some(n) => Some(n),
            None => {
                problem(
                    &["config", "maxTokens"],
                    "must be a whole number from 1".into(),
                );
                None
            }
        },
    };
    let temperature = match map.get("temperature") {
        None | Some(Value::Null) => None,
        Some(value) => match value.as_f64().filter(|t| (0.0..=2.0).contains(t)) {
            Some(t) => Some(t),
            None => {
                problem(
                    &["config", "temperature"],
                    "must be a number from 0 to 2".into(),
                );
                None
            }
        },
    };
    let stream = match map.get("stream") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(stream)) => *stream,
        Some(_) => {
            problem(&["config", "stream"], "must be true or false".into());
            true
        }
    };
    let output = match map.get("output") {
        None | Some(Value::Null) => None,
        Some(schema) => match Schema::compile(schema.clone()) {
            Ok(compiled) if schema.is_object() => Some(compiled),
            Ok(_) => {
                problem(&["config", "output"], "must be a JSON Schema object".into());
                None
            }
            Err(e) => {
                problem(
                    &["config", "output"],
                    format!("not a valid JSON Schema: {e}"),
                );
                None
            }
        },
    };
    let (errors, _) = template::check_value(&json!({
        "connection": connection, "model": model, "systemPrompt": map.get("systemPrompt"),
        "prompt": prompt, "messages": messages,
    }));
    for error in errors {
        let path: Vec<&str> = error.path.iter().map(String::as_str).collect();
        let mut full = vec!["config"];
        full.extend(path);
        problem(&full, error.error.to_string());
    }
    if problems.len() != before {
        return None;
    }
    let messages = messages
        .as_ref()
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|message| OpeningMessage {
            assistant: message["role"].as_str() == Some("assistant"),
            content: message["content"].as_str().unwrap_or_default().into(),
        })
        .collect();
    Some(AgentStep {
        connection: connection?.into(),
        model: model?.into(),
        system_prompt: text("systemPrompt").map(Into::into),
        prompt: prompt.map(Into::into),
        messages,
        tools,
        require_approval,
        max_turns,
        max_tokens,
        temperature,
        output,
        stream,
    })
}

fn check_tool(
    item: &Value,
    catalog_params: &dyn Fn(&str) -> Result<Value, String>,
) -> Result<AgentTool, String> {
    match item {
        Value::String(name) if name == ASK_USER => Ok(AgentTool {
            name: ASK_USER.into(),
            description: "Ask the user a question and wait for the answer.".into(),
            parameters: Schema::compile(json!({"type": "object", "required": ["question"],
                               "properties": {"question": {"type": "string"}}}))?,
            kind: ToolKind::AskUser,
        }),
        Value::String(action) => {
            let params = Schema::compile(catalog_params(action)?)?;
            Ok(AgentTool {
                name: action_tool_name(action),
                description: format!("The {action} action."),
                parameters: params,
                kind: ToolKind::Action {
                    action: action.clone(),
                },
            })
        }
        Value::Object(map) if map.contains_key("http") => {
            let name = map.get("name").and_then(Value::as_str).unwrap_or_default();
            let valid_name = !name.is_empty()
                && name.len() <= 64
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if !valid_name {
                return Err(
                    "an http tool needs a name of 1 to 64 letters, digits, '_' or '-'".into(),
                );
            }
            let http = &map["http"];
            if !http.get("url").is_some_and(Value::is_string) {
                return Err("an http tool needs http.url".into());
            }
            if let Some(error) = template::check_value(http).0.into_iter().next() {
                return Err(format!("http.{}: {}", error.path.join("."), error.error));
            }
            let parameters = map
                .get("parameters")
                .cloned()
                .unwrap_or_else(|| json!({"type": "object"}));
            let parameters = Schema::compile(parameters)
                .map_err(|e| format!("parameters: not a valid JSON Schema: {e}"))?;
            Ok(AgentTool {
                name: name.to_owned(),
                description: map
                    .get("description")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                parameters,
                kind: ToolKind::Http {
                    config: http.clone().into(),
                },
            })
        }
        Value::Object(map) if map.contains_key("workflow") => workflow_tool(map),
        _ => Err(format!(
            "a tool is an action id (such as \"slack.postMessage\"), \"{ASK_USER}\", \
             {{\"workflow\": \"wf_...\"}}, or {{\"name\", \"description\", \"parameters\", \"http\"}}"
        )),
    }
}

/// `{"workflow": "wf_...", "name"?, "description"?, "parameters"?, "version"?}`.
fn workflow_tool(map: &serde_json::Map<String, Value>) -> Result<AgentTool, String> {
    let workflow_id = map
        .get("workflow")
        .and_then(Value::as_str)
        .filter(|id| !id.trim().is_empty())
        .ok_or("a workflow tool needs workflow: the id of the workflow to run")?;
    let valid_name = |name: &str| {
        !name.is_empty()
            && name.len() <= 64
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    };
    let name = match map.get("name") {
        None => {
            let sanitized: String = workflow_id
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            format!("run_{sanitized}").chars().take(64).collect()
        }
        Some(Value::String(name)) if valid_name(name) => name.clone(),
        Some(_) => {
            return Err("a workflow tool's name is 1 to 64 letters, digits, '_' or '-'".into())
        }
    };
    let version = match map.get("version") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_u64()
                .filter(|v| *v >= 1)
                .ok_or("a workflow tool's version is a whole number from 1")?,
        ),
    };
    let parameters = map
        .get("parameters")
        .cloned()
        .unwrap_or_else(|| json!({"type": "object"}));
    let parameters = Schema::compile(parameters)
        .map_err(|e| format!("parameters: not a valid JSON Schema: {e}"))?;
    Ok(AgentTool {
        name,
        description: map
            .get("description")
            .and_then(Value::as_str)
            .map_or_else(|| format!("Runs workflow {workflow_id}."), str::to_owned),
        parameters,
        kind: ToolKind::Workflow {
            workflow_id: workflow_id.to_owned(),
            version,
        },
    })
}

/// The normalized record of one model call (the output of an `a.m{n}` sub-step).
pub type Reply = llm::ModelResponse;

/// What the agent's recorded replies add up to: `{"inputTokens", "outputTokens"}`.
pub fn usage_json(input: u64, output: u64) -> Value {
    json!({ "inputTokens": input, "outputTokens": output })
}

/// How a tool call of a reply stands before it runs: valid, or why not (fed back to the
/// model as the tool's error).
pub fn validate_call(agent: &AgentStep, call: &llm::ToolCall) -> Result<(), String> {
    let Some(tool) = agent.tools.iter().find(|t| t.name == call.name) else {
        let known: Vec<&str> = agent.tools.iter().map(|t| t.name.as_str()).collect();
        return Err(format!(
            "there is no tool named {:?}; the tools are: {}",
            call.name,
            known.join(", ")
        ));
    };
    let arguments: Value = serde_json::from_str(&call.arguments)
        .map_err(|e| format!("the arguments of {} are not JSON: {e}", call.name))?;
    let problems = tool.parameters.problems(&arguments);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the arguments of {} do not match its parameters: {}",
            call.name,
            problems.join("; ")
        ))
    }
}

/// The final answer as JSON matching `schema`, or why not.
pub fn check_output(schema: &Schema, content: Option<&str>) -> Result<Value, String> {
    let text = content.unwrap_or_default().trim();
    // Models often wrap JSON in a Markdown code fence.
    let text = text
        .strip_prefix("```json")
        .or_else(|| text.strip_prefix("```"))
        .and_then(|t| t.strip_suffix("```"))
        .map_or(text, str::trim);
    let value: Value =
        serde_json::from_str(text).map_err(|e| format!("the answer is not JSON ({e})"))?;
    let problems = schema.problems(&value);
    if problems.is_empty() {
        Ok(value)
    } else {
        Err(format!(
            "the answer does not match the output schema: {}",
            problems.join("; ")
        ))
    }
}

/// Deserializes a recorded reply; a record that does not decode reads as a reply without
/// tool calls (the state machine must not panic on a damaged journal).
pub fn reply_of(output_json: &str) -> Option<Reply> {
    serde_json::from_str(output_json).ok()
}

/// The payload of a resume of an approval: `{"approved": bool, "arguments"?}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Approval {
    #[serde(default)]
    pub approved: bool,
    #[serde(default)]
    pub arguments: Option<Value>,
}

/// A sub-step as `decide_step` sees it: the agent step's retry policy and timeout, and a kind
/// that makes its first command an execution (model calls, tools) or a pause (`ask_user`,
/// approvals).
fn sub_step(
    agent_step: &crate::definition::Step,
    id: &str,
    pauses: bool,
) -> crate::definition::Step {
    use crate::definition::{OnTimeout, StepKind};
    let kind = if pauses {
        StepKind::Wait {
            timeout_ms: None,
            on_timeout: OnTimeout::Fail,
        }
    } else {
        StepKind::Http {
            config: Value::Null.into(),
            connection: None,
        }
    };
    crate::definition::Step {
        id: id.to_owned(),
        kind,
        retry: agent_step.retry.clone(),
        timeout_ms: agent_step.timeout_ms,
    }
}

fn fail(step_id: &str, code: &str, message: String) -> Vec<crate::decide::Command> {
    vec![crate::decide::Command::FailRun {
        error: crate::events::RunError {
            step_id: Some(step_id.to_owned()),
            code: Some(code.to_owned()),
            message,
        },
    }]
}

/// The commands of agent step `step_id`, from its sub-steps on record: the next model call,
/// the tool calls of the last reply, or the step's completion.
pub(crate) fn decide(
    agent_step: &crate::definition::Step,
    agent: &AgentStep,
    step_id: &str,
    state: &crate::run::RunState,
) -> Vec<crate::decide::Command> {
    use crate::decide::{decide_step, Command};
    use crate::run::StepState;
    let (mut input_tokens, mut output_tokens) = (0u64, 0u64);
    let mut corrected = false;
    let mut turn = 1u32;
    loop {
        let model_id = model_call_id(step_id, turn);
        let Some(StepState::Completed { output_json, .. }) = state.step(&model_id) else {
            let current = state.step(&model_id);
            return decide_step(
                &sub_step(agent_step, &model_id, false),
                model_id,
                current,
                state,
            );
        };
        let Some(reply) = reply_of(output_json) else {
            return fail(
                step_id,
                "MODEL_REPLY_MALFORMED",
                format!("the recorded reply of {model_id} cannot be read"),
            );
        };
        input_tokens += reply.usage.input_tokens;
        output_tokens += reply.usage.output_tokens;
        if let Some(max) = agent.max_tokens {
            if input_tokens + output_tokens > max {
                return fail(
                    step_id,
                    "MAX_TOKENS_EXCEEDED",
                    format!(
                        "the agent used {} tokens, more than its maxTokens {max}",
                        input_tokens + output_tokens
                    ),
                );
            }
        }
        if reply.tool_calls.is_empty() {
            let structured = match &agent.output {
                None => None,
                Some(schema) => match check_output(schema, reply.content.as_deref()) {
                    Ok(value) => Some(value),
                    // Fed back once (`conversation` adds the error as a user message).
                    Err(_) if !corrected && turn < agent.max_turns => {
                        corrected = true;
                        turn += 1;
                        continue;
                    }
                    Err(message) => return fail(step_id, "OUTPUT_INVALID", message),
                },
            };
            let mut output = json!({
                "message": reply.content,
                "usage": usage_json(input_tokens, output_tokens),
                "turns": turn,
            });
            if let Some(structured) = structured {
                output["output"] = structured;
            }
            return vec![Command::CompleteStep {
                step_id: step_id.to_owned(),
                output_json: output.to_string(),
            }];
        }
        let mut commands = Vec::new();
        let mut invalid = Vec::new();
        for call in &reply.tool_calls {
            let call_id = tool_call_id(step_id, turn, &call.id);
            let current = state.step(&call_id);
            if matches!(current, Some(StepState::Completed { .. })) {
                if let Err(message) = validate_call(agent, call) {
                    invalid.push(message);
                }
                continue;
            }
            match validate_call(agent, call) {
                // Fed back to the model as the tool's result, without running anything.
                Err(message) => {
                    invalid.push(message.clone());
                    commands.push(Command::CompleteStep {
                        step_id: call_id,
                        output_json: json!({ "error": message }).to_string(),
                    });
                }
                Ok(()) => commands.extend(decide_tool(
                    agent_step, agent, call, call_id, current, state,
                )),
            }
        }
        if !invalid.is_empty() {
            // One reply with invalid calls is fed back; a second fails the step.
            if corrected {
                return fail(step_id, "MODEL_REPLY_INVALID", invalid.join("; "));
            }
            corrected = true;
        }
        if let Some(failed) = commands
            .iter()
            .find(|c| matches!(c, Command::FailRun { .. }))
        {
            return vec![failed.clone()];
        }
        if !commands.is_empty() {
            return commands;
        }
        if turn >= agent.max_turns {
            return fail(
                step_id,
                "MAX_TURNS_EXCEEDED",
                format!(
                    "the model still calls tools after {turn} turns (maxTurns {})",
                    agent.max_turns
                ),
            );
        }
        turn += 1;
    }
}

/// The commands of one valid tool call that has not completed.
fn decide_tool(
    agent_step: &crate::definition::Step,
    agent: &AgentStep,
    call: &llm::ToolCall,
    call_id: String,
    current: Option<&crate::run::StepState>,
    state: &crate::run::RunState,
) -> Vec<crate::decide::Command> {
    use crate::decide::{decide_step, Command};
    use crate::run::StepState;
    let ask = call.name == ASK_USER;
    let approval = agent.require_approval.contains(&call.name);
    if approval {
        if let Some(StepState::Resumed { payload_json }) = current {
            let decision: Approval = serde_json::from_str(payload_json).unwrap_or_default();
            return if decision.approved {
                vec![Command::ExecuteStep {
                    step_id: call_id,
                    attempt: 1,
                }]
            } else {
                vec![Command::CompleteStep {
                    step_id: call_id,
                    output_json: json!({
                        "denied": true,
                        "message": format!("the user denied the call of {}", call.name),
                    })
                    .to_string(),
                }]
            };
        }
    }
    let pauses = ask || (approval && current.is_none());
    decide_step(
        &sub_step(agent_step, &call_id, pauses),
        call_id,
        current,
        state,
    )
}

/// The arguments a tool call runs with: the model's, or those of the approval that let it
/// run (`{"approved": true, "arguments": {...}}`).
pub fn arguments_of(call: &llm::ToolCall, call_id: &str, state: &crate::run::RunState) -> Value {
    let approved = state
        .resumed
        .get(call_id)
        .and_then(|payload| serde_json::from_str::<Approval>(payload).ok())
        .and_then(|approval| approval.arguments);
    approved.unwrap_or_else(|| serde_json::from_str(&call.arguments).unwrap_or(Value::Null))
}

/// The conversation of model call `turn`: the step's opening messages, then for each earlier
/// reply the model's message and its tool calls' results, in the order the model made them.
pub fn conversation(
    step_id: &str,
    agent: &AgentStep,
    turn: u32,
    opening: Vec<llm::Message>,
    state: &crate::run::RunState,
) -> Vec<llm::Message> {
    use crate::run::StepState;
    let mut messages = opening;
    for earlier in 1..turn {
        let Some(StepState::Completed { output_json, .. }) =
            state.step(&model_call_id(step_id, earlier))
        else {
            break;
        };
        let Some(reply) = reply_of(output_json) else {
            break;
        };
        messages.push(llm::Message::Assistant {
            content: reply.content.clone(),
            tool_calls: reply.tool_calls.clone(),
        });
        // A final answer that failed the output schema: the model is told, once.
        if let (true, Some(schema)) = (reply.tool_calls.is_empty(), &agent.output) {
            if let Err(message) = check_output(schema, reply.content.as_deref()) {
                messages.push(llm::Message::User {
                    content: format!(
                        "{message}. Answer again with only a JSON value matching this JSON \
                         Schema: {}",
                        schema.value
                    ),
                });
            }
        }
        for call in &reply.tool_calls {
            let id = tool_call_id(step_id, earlier, &call.id);
            let (content, is_error) = match state.step(&id) {
                Some(StepState::Completed { output_json, .. }) => {
                    let output: Value = serde_json::from_str(output_json).unwrap_or(Value::Null);
                    let is_error = output.get("error").is_some() || output.get("denied").is_some();
                    let text = match &output {
                        // ask_user's answer is the user's message.
                        Value::Object(map) if call.name == ASK_USER => map
                            .get("message")
                            .map(|m| m.as_str().map_or_else(|| m.to_string(), str::to_owned))
                            .unwrap_or_else(|| output.to_string()),
                        Value::String(text) => text.clone(),
                        other => other.to_string(),
                    };
                    (text, is_error)
                }
                _ => ("(no result)".to_owned(), true),
            };
            messages.push(llm::Message::Tool {
                tool_call_id: call.id.clone(),
                name: call.name.clone(),
                content,
                is_error,
            });
        }
    }
    messages
}

/// What a paused agent waits for, when the paused step is one of its tool calls:
/// `{"type": "input", "question"}` or `{"type": "approval", "tool", "arguments"}`.
pub fn waiting_for(step_id: &str, state: &crate::run::RunState) -> Option<Value> {
    let SubStep::Tool { agent, turn, call } = parse_sub_step(step_id)? else {
        return None;
    };
    let crate::run::StepState::Completed { output_json, .. } =
        state.step(&model_call_id(agent, turn))?
    else {
        return None;
    };
    let reply = reply_of(output_json)?;
    let tool_call = reply
        .tool_calls
        .iter()
        .find(|c| tool_call_id(agent, turn, &c.id) == step_id)?;
    let _ = call;
    let arguments: Value = serde_json::from_str(&tool_call.arguments).unwrap_or(Value::Null);
    Some(if tool_call.name == ASK_USER {
        json!({ "type": "input", "question": arguments.get("question").cloned().unwrap_or(Value::Null) })
    } else {
        json!({ "type": "approval", "tool": tool_call.name, "arguments": arguments })
    })
}
