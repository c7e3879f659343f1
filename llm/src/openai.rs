//! The OpenAI Chat Completions wire protocol: the request body of `POST /chat/completions`
//! and the parsing of its answer. Pure.
//!
//! The same protocol is spoken by many servers that each leave out or add something (Ollama
//! sends no `usage`, some servers no `id`, `object` or `created`, some an unknown
//! `finish_reason`), so the answer is read leniently: only `choices[0].message` is required,
//! and of a tool call only the function's name.

use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::error::LlmError;
use crate::types::{FinishReason, Message, ModelRequest, ModelResponse, ToolCall, Usage};

/// The path appended to the base URL.
pub(crate) const PATH: &str = "/chat/completions";

/// The JSON body of a Chat Completions request.
pub(crate) fn request_body(request: &ModelRequest) -> Value {
    let mut messages = Vec::with_capacity(request.messages.len() + 1);
    if let Some(system) = &request.system {
        // `system`, not the newer `developer`: every compatible server knows `system`, and
        // OpenAI still accepts it for every model.
        messages.push(json!({"role": "system", "content": system}));
    }
    messages.extend(request.messages.iter().map(message));

    let mut body = Map::new();
    body.insert("model".into(), json!(request.model));
    body.insert("messages".into(), Value::Array(messages));
    // OpenAI refuses an empty `tools` array ("[] is too short"), so none is sent.
    if !request.tools.is_empty() {
        let tools: Vec<Value> = request
            .tools
            .iter()
            .map(|tool| {
                json!({
                    "type": "function",
                    "function": {
                        "name": tool.name,
                        "description": tool.description,
                        "parameters": tool.parameters,
                    },
                })
            })
            .collect();
        body.insert("tools".into(), Value::Array(tools));
    }
    if let Some(max_tokens) = request.max_tokens {
        // `max_tokens`, not `max_completion_tokens`: OpenAI deprecated the former, but it is
        // the one every compatible server reads (Ollama, vLLM, llama.cpp, LM Studio, older
        // Azure API versions), while many of them silently ignore the newer name, and OpenAI
        // itself still accepts `max_tokens` for its chat models. Only its reasoning models
        // (o1, o3, ...) refuse it, with a 400 that names the parameter.
        body.insert("max_tokens".into(), json!(max_tokens));
    }
    if let Some(temperature) = request.temperature {
        body.insert("temperature".into(), json!(temperature));
    }
    Value::Object(body)
}

fn message(message: &Message) -> Value {
    match message {
        Message::User { content } => json!({"role": "user", "content": content}),
        Message::Assistant {
            content,
            tool_calls,
        } => {
            let mut wire = Map::new();
            wire.insert("role".into(), json!("assistant"));
            // `content` may be null only when there are tool calls; an assistant turn with
            // neither is sent as empty text.
            let content = match content {
                Some(text) => json!(text),
                None if tool_calls.is_empty() => json!(""),
                None => Value::Null,
            };
            wire.insert("content".into(), content);
            // An empty `tool_calls` array is refused by OpenAI, like an empty `tools`.
            if !tool_calls.is_empty() {
                let calls: Vec<Value> = tool_calls
                    .iter()
                    .map(|call| {
                        json!({
                            "id": call.id,
                            "type": "function",
                            "function": {"name": call.name, "arguments": call.arguments},
                        })
                    })
                    .collect();
                wire.insert("tool_calls".into(), Value::Array(calls));
            }
            Value::Object(wire)
        }
        Message::Tool {
            tool_call_id,
            content,
            ..
        } => json!({"role": "tool", "tool_call_id": tool_call_id, "content": content}),
    }
}

#[derive(Deserialize)]
struct Completion {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    choices: Option<Vec<Choice>>,
    #[serde(default)]
    usage: Option<WireUsage>,
    /// OpenRouter and some proxies answer 200 with an error object instead of choices.
    #[serde(default)]
    error: Option<Value>,
}

#[derive(Deserialize)]
struct Choice {
    #[serde(default)]
    message: Option<AssistantMessage>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct AssistantMessage {
    /// A string, null, or (some servers) an array of content parts.
    #[serde(default)]
    content: Value,
    #[serde(default)]
    tool_calls: Option<Vec<WireToolCall>>,
    /// OpenAI's structured-output refusal, given instead of content.
    #[serde(default)]
    refusal: Option<String>,
}

#[derive(Deserialize)]
struct WireToolCall {
    #[serde(default)]
    id: Option<String>,
    function: WireFunction,
}

#[derive(Deserialize)]
struct WireFunction {
    name: String,
    /// JSON text as OpenAI sends it; some servers send the object itself.
    #[serde(default)]
    arguments: Value,
}

#[derive(Deserialize, Default)]
struct WireUsage {
    #[serde(default)]
    prompt_tokens: Option<u64>,
    #[serde(default)]
    completion_tokens: Option<u64>,
}

/// Parses a 2xx answer.
pub(crate) fn parse_answer(body: &[u8]) -> Result<ModelResponse, LlmError> {
    let completion: Completion = serde_json::from_slice(body)
        .map_err(|error| LlmError::Malformed(format!("not a chat completion: {error}")))?;
    let Some(choice) = completion
        .choices
        .and_then(|choices| choices.into_iter().next())
    else {
        let detail = completion
            .error
            .as_ref()
            .and_then(crate::call::error_message_of)
            .map(|message| format!(": {message}"))
            .unwrap_or_default();
        return Err(LlmError::Malformed(format!(
            "the answer has no choices{detail}"
        )));
    };
    let message = choice
        .message
        .ok_or_else(|| LlmError::Malformed("choices[0] has no message".into()))?;
    let tool_calls: Vec<ToolCall> = message
        .tool_calls
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(index, call)| tool_call(index, call))
        .collect();
    let content = text_of(&message.content)?.or(message.refusal);
    let finish_reason = match choice.finish_reason.as_deref() {
        Some("") | None if tool_calls.is_empty() => FinishReason::Stop,
        Some("") | None => FinishReason::ToolCalls,
        Some(raw) => FinishReason::from_wire(raw),
    };
    let usage = completion.usage.unwrap_or_default();
    Ok(ModelResponse {
        model: completion.model.unwrap_or_default(),
        content: content.filter(|text| !text.is_empty()),
        tool_calls,
        finish_reason,
        usage: Usage {
            input_tokens: usage.prompt_tokens.unwrap_or(0),
            output_tokens: usage.completion_tokens.unwrap_or(0),
        },
    })
}

/// A tool call without an id (some local servers) gets one from its position, so the
/// tool's result can still refer to it.
fn tool_call(index: usize, call: WireToolCall) -> ToolCall {
    let arguments = match call.function.arguments {
        Value::String(text) => text,
        Value::Null => String::new(),
        other => other.to_string(),
    };
    ToolCall {
        id: call
            .id
            .filter(|id| !id.is_empty())
            .unwrap_or_else(|| format!("call_{index}")),
        name: call.function.name,
        arguments,
    }
}

fn text_of(content: &Value) -> Result<Option<String>, LlmError> {
    match content {
        Value::Null => Ok(None),
        Value::String(text) => Ok(Some(text.clone())),
        Value::Array(parts) => {
            let text: String = parts
                .iter()
                .filter_map(|part| part.get("text").and_then(Value::as_str))
                .collect();
            Ok(Some(text))
        }
        other => Err(LlmError::Malformed(format!(
            "message content is neither text nor parts: {}",
            kind_of(other)
        ))),
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::ToolSpec;

    fn parse(body: Value) -> Result<ModelResponse, LlmError> {
        parse_answer(body.to_string().as_bytes())
    }

    #[test]
    fn request_body_uses_chat_completions_names() {
        let request = ModelRequest {
            model: "gpt-4o-mini".into(),
            system: Some("be brief".into()),
            messages: vec![
                Message::User {
                    content: "weather?".into(),
                },
                Message::Assistant {
                    content: None,
                    tool_calls: vec![ToolCall {
                        id: "call_1".into(),
                        name: "weather".into(),
                        arguments: "{\"city\":\"Oslo\"}".into(),
                    }],
                },
                Message::Tool {
                    tool_call_id: "call_1".into(),
                    name: "weather".into(),
                    content: "rain".into(),
                    is_error: false,
                },
            ],
            tools: vec![ToolSpec {
                name: "weather".into(),
                description: "the weather".into(),
                parameters: json!({"type": "object"}),
            }],
            max_tokens: Some(100),
            temperature: Some(0.5),
        };
        assert_eq!(
            request_body(&request),
            json!({
                "model": "gpt-4o-mini",
                "messages": [
                    {"role": "system", "content": "be brief"},
                    {"role": "user", "content": "weather?"},
                    {"role": "assistant", "content": null, "tool_calls": [
                        {"id": "call_1", "type": "function",
                         "function": {"name": "weather", "arguments": "{\"city\":\"Oslo\"}"}}
                    ]},
                    {"role": "tool", "tool_call_id": "call_1", "content": "rain"},
                ],
                "tools": [{"type": "function", "function": {
                    "name": "weather", "description": "the weather",
                    "parameters": {"type": "object"}}}],
                "max_tokens": 100,
                "temperature": 0.5,
            })
        );
    }

    #[test]
    fn optional_fields_are_left_out() {
        let request = ModelRequest {
            model: "llama3.2".into(),
            system: None,
            messages: vec![Message::Assistant {
                content: None,
                tool_calls: vec![],
            }],
            tools: vec![],
            max_tokens: None,
            temperature: None,
        };
        assert_eq!(
            request_body(&request),
            json!({"model": "llama3.2", "messages": [{"role": "assistant", "content": ""}]})
        );
    }

    #[test]
    fn lenient_answers_parse() {
        // Ollama: no usage, no id; a tool call whose arguments are an object; no call id.
        let response = parse(json!({
            "model": "llama3.2",
            "choices": [{"message": {"role": "assistant", "content": "", "tool_calls": [
                {"function": {"name": "f", "arguments": {"a": 1}}}
            ]}, "finish_reason": "stop"}]
        }))
        .expect("parses");
        assert_eq!(response.content, None);
        assert_eq!(
            response.tool_calls,
            vec![ToolCall {
                id: "call_0".into(),
                name: "f".into(),
                arguments: "{\"a\":1}".into()
            }]
        );
        assert_eq!(response.finish_reason, FinishReason::Stop);
        assert_eq!(response.usage, Usage::default());

        // Content parts and an unknown finish reason; no model.
        let response = parse(json!({
            "choices": [{"message": {"content": [{"type": "text", "text": "a"},
                                                 {"type": "text", "text": "b"}]},
                         "finish_reason": "eos"}]
        }))
        .expect("parses");
        assert_eq!(response.content.as_deref(), Some("ab"));
        assert_eq!(response.finish_reason, FinishReason::Other("eos".into()));
        assert_eq!(response.model, "");

        // No finish reason at all.
        let response = parse(json!({"choices": [{"message": {"content": "hi"}}]})).expect("parses");
        assert_eq!(response.finish_reason, FinishReason::Stop);

        // A refusal stands in for content.
        let response = parse(json!({"choices": [{"message": {"content": null,
            "refusal": "I can't help with that."}, "finish_reason": "stop"}]}))
        .expect("parses");
        assert_eq!(response.content.as_deref(), Some("I can't help with that."));
    }

    #[test]
    fn answers_without_the_required_parts_are_malformed() {
        let cases = [
            json!({}),
            json!({"choices": []}),
            json!({"choices": [{"finish_reason": "stop"}]}),
            json!({"choices": [{"message": {"content": 7}}]}),
            json!({"choices": [{"message": {"tool_calls": [{"function": {}}]}}]}),
            json!({"choices": "none"}),
            json!({"error": {"message": "upstream failed"}}),
        ];
        for body in cases {
            let error = parse(body.clone()).expect_err("malformed");
            assert!(matches!(error, LlmError::Malformed(_)), "{body}: {error}");
        }
        let error = parse(json!({"error": {"message": "upstream failed"}})).expect_err("error");
        assert!(error.to_string().contains("upstream failed"), "{error}");
    }
}
