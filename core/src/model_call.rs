//! The model request an agent's call sends, rendered from the step's config, the run's
//! template context and the conversation so far. Pure: the executor sends it, replay shows it.

use serde_json::Value;

use crate::agent::{self, AgentStep};
use crate::evaluate::failure;
use crate::events::StepError;
use crate::run::RunState;
use crate::template::TemplateText;

/// A model call, rendered: the connection it goes through and the request.
pub struct RenderedCall {
    pub connection: Result<String, StepError>,
    pub request: Result<llm::ModelRequest, StepError>,
}

/// A template string rendered as text: a string as it is, null as empty, any other value
/// as its JSON; an error names `config.{field}`.
fn render_text(field: &str, source: &TemplateText, context: &Value) -> Result<String, StepError> {
    match source.render(context) {
        Ok(Value::String(text)) => Ok(text),
        Ok(Value::Null) => Ok(String::new()),
        Ok(other) => Ok(other.to_string()),
        Err(e) => Err(failure(
            "TEMPLATE_ERROR",
            format!("config.{field}: {e}"),
            false,
        )),
    }
}

/// The opening of the conversation: the step's `messages`, then its `prompt`, rendered.
fn opening(agent: &AgentStep, context: &Value) -> Result<Vec<llm::Message>, StepError> {
    let mut messages = Vec::new();
    for (index, message) in agent.messages.iter().enumerate() {
        let field = format!("messages.{index}.content");
        let content = render_text(&field, &message.content, context)?;
        messages.push(if message.assistant {
            llm::Message::Assistant {
                content: Some(content),
                tool_calls: Vec::new(),
            }
        } else {
            llm::Message::User { content }
        });
    }
    if let Some(prompt) = &agent.prompt {
        messages.push(llm::Message::User {
            content: render_text("prompt", prompt, context)?,
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
    let render = |field: &str, source: &TemplateText| render_text(field, source, context);
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
