//! The model request an agent's call sends, rendered from the step's config, the run's
//! template context and the conversation so far. Pure: the executor sends it, replay shows it.

use serde_json::Value;

use crate::agent::{self, AgentStep};
use crate::evaluate::failure;
use crate::events::StepError;
use crate::run::RunState;

/// A model call, rendered: the connection it goes through and the request.
pub struct RenderedCall {
    pub connection: Result<String, StepError>,
    pub request: Result<llm::ModelRequest, StepError>,
}

/// The opening of the conversation: the step's `messages`, then its `prompt`, rendered.
fn opening(agent: &AgentStep, context: &Value) -> Result<Vec<llm::Message>, StepError> {
    let text = |field: &str, source: &str| -> Result<String, StepError> {
        match crate::template::render_value(&Value::String(source.to_owned()), context) {
            Ok(Value::String(text)) => Ok(text),
            Ok(Value::Null) => Ok(String::new()),
            Ok(other) => Ok(other.to_string()),
            Err(e) => Err(failure(
                "TEMPLATE_ERROR",
                format!("config.{field}: {e}"),
                false,
            )),
        }
    };
    let mut messages = Vec::new();
    for (index, message) in agent
        .messages
        .as_ref()
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let content = text(
            &format!("messages.{index}.content"),
            message["content"].as_str().unwrap_or_default(),
        )?;
        messages.push(match message["role"].as_str() {
            Some("assistant") => llm::Message::Assistant {
                content: Some(content),
                tool_calls: Vec::new(),
            },
            _ => llm::Message::User { content },
        });
    }
    if let Some(prompt) = &agent.prompt {
        messages.push(llm::Message::User {
            content: text("prompt", prompt)?,
        });
    }
    Ok(messages)
}

/// Model call `turn` of `agent` (journal id `step_id`) in `state`, rendered against the run's
/// `context`.
pub fn render_call(
    agent: &AgentStep,
    agent_id: &str,
    turn: u32,
    state: &RunState,
    context: &Value,
) -> RenderedCall {
    let render = |field: &str, source: &str| {
        crate::template::render_value(&Value::String(source.to_owned()), context)
            .map(|v| match v {
                Value::String(text) => text,
                Value::Null => String::new(),
                other => other.to_string(),
            })
            .map_err(|e| failure("TEMPLATE_ERROR", format!("config.{field}: {e}"), false))
    };
    let request = (|| {
        let system = match &agent.system_prompt {
            Some(source) => Some(render("systemPrompt", source)?).filter(|s| !s.is_empty()),
            None => None,
        };
        let messages = agent::conversation(agent_id, agent, turn, opening(agent, context)?, state);
        let tools = agent
            .tools
            .iter()
            .map(|tool| llm::ToolSpec {
                name: tool.name.clone(),
                description: tool.description.clone(),
                parameters: tool.parameters.value.clone(),
            })
            .collect();
        Ok(llm::ModelRequest {
            model: render("model", &agent.model)?,
            system,
            messages,
            tools,
            max_tokens: None,
            temperature: agent.temperature,
        })
    })();
    RenderedCall {
        connection: render("connection", &agent.connection),
        request,
    }
}

/// The request model call `step_id` (an `a.m{n}` sub-step) sends in `state` under `steps`,
/// as JSON (for the replay's timeline and divergence); None for other steps.
pub fn model_request_json(
    steps: &[crate::definition::Step],
    state: &RunState,
    context: &Value,
    step_id: &str,
) -> Option<Value> {
    let agent::SubStep::Model {
        agent: agent_id,
        turn,
    } = agent::parse_sub_step(step_id)?
    else {
        return None;
    };
    let crate::definition::StepKind::Agent(agent) =
        &crate::definition::find_step(steps, agent_id)?.kind
    else {
        return None;
    };
    let call = render_call(agent, agent_id, turn, state, context);
    let mut request = serde_json::to_value(call.request.ok()?).ok()?;
    request["connection"] = call.connection.ok().map_or(Value::Null, Value::String);
    Some(request)
}
