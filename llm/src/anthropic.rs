//! The Anthropic Messages wire protocol: the request body of `POST /v1/messages` and the
//! parsing of its answer. Pure.
//!
//! The neutral conversation maps onto Messages' turns: the system prompt goes top-level, tool
//! results become `tool_result` blocks of a user turn, and consecutive messages of one side
//! are merged into one turn (the API wants all results of an assistant turn's tool calls in
//! the single user turn that follows it).

use serde_json::{json, Map, Value};

use crate::error::LlmError;
use crate::types::{
    FinishReason, Message, ModelRequest, ModelResponse, ToolCall, Usage,
    ANTHROPIC_MAX_TOKENS_DEFAULT,
};

/// The path appended to the base URL.
pub(crate) const PATH: &str = "/v1/messages";

/// The API version sent unless the connection sets `anthropic-version` itself.
pub(crate) const API_VERSION: &str = "2023-06-01";

/// The JSON body of a Messages request.
pub(crate) fn request_body(request: &ModelRequest) -> Result<Value, LlmError> {
    let mut body = Map::new();
    body.insert("model".into(), json!(request.model));
    body.insert(
        "max_tokens".into(),
        json!(request.max_tokens.unwrap_or(ANTHROPIC_MAX_TOKENS_DEFAULT)),
    );
    if let Some(system) = &request.system {
        body.insert("system".into(), json!(system));
    }
    body.insert("messages".into(), Value::Array(turns(&request.messages)?));
    if !request.tools.is_empty() {
        let tools: Vec<Value> = request
            .tools
            .iter()
            .map(|tool| {
                json!({
                    "name": tool.name,
                    "description": tool.description,
                    "input_schema": tool.parameters,
                })
            })
            .collect();
        body.insert("tools".into(), Value::Array(tools));
    }
    if let Some(temperature) = request.temperature {
        body.insert("temperature".into(), json!(temperature));
    }
    Ok(Value::Object(body))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    User,
    Assistant,
}

impl Side {
    fn role(self) -> &'static str {
        match self {
            Side::User => "user",
            Side::Assistant => "assistant",
        }
    }
}

fn turns(messages: &[Message]) -> Result<Vec<Value>, LlmError> {
    let mut turns: Vec<(Side, Vec<Value>)> = Vec::new();
    for (index, message) in messages.iter().enumerate() {
        let (side, blocks) = blocks(index, message)?;
        match turns.last_mut() {
            Some((last_side, last_blocks)) if *last_side == side => last_blocks.extend(blocks),
            _ => turns.push((side, blocks)),
        }
    }
    Ok(turns
        .into_iter()
        .map(|(side, blocks)| json!({"role": side.role(), "content": blocks}))
        .collect())
}

fn blocks(index: usize, message: &Message) -> Result<(Side, Vec<Value>), LlmError> {
    match message {
        Message::User { content } => {
            Ok((Side::User, vec![json!({"type": "text", "text": content})]))
        }
        Message::Assistant {
            content,
            tool_calls,
        } => {
            let mut blocks = Vec::with_capacity(tool_calls.len() + 1);
            // The API refuses empty text blocks.
            if let Some(text) = content.as_deref().filter(|text| !text.is_empty()) {
                blocks.push(json!({"type": "text", "text": text}));
            }
            for call in tool_calls {
                blocks.push(json!({
                    "type": "tool_use",
                    "id": call.id,
                    "name": call.name,
                    "input": tool_input(call)?,
                }));
            }
            if blocks.is_empty() {
                return Err(LlmError::BadRequest(format!(
                    "messages[{index}]: an assistant message needs content or tool calls"
                )));
            }
            Ok((Side::Assistant, blocks))
        }
        Message::Tool {
            tool_call_id,
            content,
            is_error,
            ..
        } => {
            let mut block = json!({
                "type": "tool_result",
                "tool_use_id": tool_call_id,
                "content": content,
            });
            if *is_error {
                block["is_error"] = json!(true);
            }
            Ok((Side::User, vec![block]))
        }
    }
}

/// `tool_use.input` must be an object. Calls journaled from this protocol always are; a call
/// written by another model (empty, invalid or not an object) cannot be sent back.
fn tool_input(call: &ToolCall) -> Result<Value, LlmError> {
    if call.arguments.trim().is_empty() {
        return Ok(json!({}));
    }
    match serde_json::from_str::<Value>(&call.arguments) {
        Ok(input @ Value::Object(_)) => Ok(input),
        _ => Err(LlmError::BadRequest(format!(
            "tool call {} ({}): its arguments are not a JSON object",
            call.id, call.name
        ))),
    }
}

/// Parses a 2xx answer. Content blocks other than `text` and `tool_use` (e.g. `thinking`)
/// are skipped.
pub(crate) fn parse_answer(body: &[u8]) -> Result<ModelResponse, LlmError> {
    let answer: Value = serde_json::from_slice(body)
        .map_err(|error| LlmError::Malformed(format!("not a message: {error}")))?;
    let Some(blocks) = answer.get("content").and_then(Value::as_array) else {
        let detail = answer
            .get("error")
            .and_then(crate::call::error_message_of)
            .map(|message| format!(": {message}"))
            .unwrap_or_default();
        return Err(LlmError::Malformed(format!(
            "the answer has no content blocks{detail}"
        )));
    };
    let mut text = String::new();
    let mut tool_calls = Vec::new();
    for (index, block) in blocks.iter().enumerate() {
        match block.get("type").and_then(Value::as_str) {
            Some("text") => text.push_str(string_field(block, "text", index)?),
            Some("tool_use") => tool_calls.push(ToolCall {
                id: string_field(block, "id", index)?.to_string(),
                name: string_field(block, "name", index)?.to_string(),
                arguments: block
                    .get("input")
                    .map(Value::to_string)
                    .unwrap_or_else(|| "{}".to_string()),
            }),
            Some(_) => {}
            None => return Err(LlmError::Malformed(format!("content[{index}] has no type"))),
        }
    }
    let finish_reason = match answer.get("stop_reason").and_then(Value::as_str) {
        Some("end_turn") | Some("stop_sequence") => FinishReason::Stop,
        Some("tool_use") => FinishReason::ToolCalls,
        Some("max_tokens") => FinishReason::Length,
        Some("refusal") => FinishReason::ContentFilter,
        Some(other) => FinishReason::Other(other.to_string()),
        None if tool_calls.is_empty() => FinishReason::Stop,
        None => FinishReason::ToolCalls,
    };
    let usage = answer.get("usage");
    let tokens = |name: &str| {
        usage
            .and_then(|usage| usage.get(name))
            .and_then(Value::as_u64)
            .unwrap_or(0)
    };
    Ok(ModelResponse {
        model: answer
            .get("model")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        content: Some(text).filter(|text| !text.is_empty()),
        tool_calls,
        finish_reason,
        usage: Usage {
            input_tokens: tokens("input_tokens"),
            output_tokens: tokens("output_tokens"),
        },
    })
}

fn string_field<'a>(block: &'a Value, name: &str, index: usize) -> Result<&'a str, LlmError> {
    block
        .get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| LlmError::Malformed(format!("content[{index}] has no {name} text")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::ToolSpec;

    fn call(id: &str, arguments: &str) -> ToolCall {
        ToolCall {
            id: id.into(),
            name: "weather".into(),
            arguments: arguments.into(),
        }
    }

    fn tool_result(id: &str, content: &str, is_error: bool) -> Message {
        Message::Tool {
            tool_call_id: id.into(),
            name: "weather".into(),
            content: content.into(),
            is_error,
        }
    }

    #[test]
    fn request_body_uses_messages_names_and_merges_turns() {
        let request = ModelRequest {
            model: "claude-sonnet-4-5".into(),
            system: Some("be brief".into()),
            messages: vec![
                Message::User {
                    content: "weather?".into(),
                },
                Message::Assistant {
                    content: Some("Looking.".into()),
                    tool_calls: vec![call("t1", "{\"city\":\"Oslo\"}"), call("t2", "")],
                },
                tool_result("t1", "rain", false),
                tool_result("t2", "no such city", true),
                Message::User {
                    content: "and?".into(),
                },
            ],
            tools: vec![ToolSpec {
                name: "weather".into(),
                description: "the weather".into(),
                parameters: json!({"type": "object"}),
            }],
            max_tokens: None,
            temperature: Some(0.2),
        };
        assert_eq!(
            request_body(&request).expect("builds"),
            json!({
                "model": "claude-sonnet-4-5",
                "max_tokens": 4096,
                "system": "be brief",
                "messages": [
                    {"role": "user", "content": [{"type": "text", "text": "weather?"}]},
                    {"role": "assistant", "content": [
                        {"type": "text", "text": "Looking."},
                        {"type": "tool_use", "id": "t1", "name": "weather",
                         "input": {"city": "Oslo"}},
                        {"type": "tool_use", "id": "t2", "name": "weather", "input": {}},
                    ]},
                    {"role": "user", "content": [
                        {"type": "tool_result", "tool_use_id": "t1", "content": "rain"},
                        {"type": "tool_result", "tool_use_id": "t2", "content": "no such city",
                         "is_error": true},
                        {"type": "text", "text": "and?"},
                    ]},
                ],
                "tools": [{"name": "weather", "description": "the weather",
                           "input_schema": {"type": "object"}}],
                "temperature": 0.2,
            })
        );
    }

    #[test]
    fn requests_anthropic_cannot_carry_are_refused() {
        let cases = [
            Message::Assistant {
                content: Some(String::new()),
                tool_calls: vec![],
            },
            Message::Assistant {
                content: None,
                tool_calls: vec![call("t1", "{not json")],
            },
            Message::Assistant {
                content: None,
                tool_calls: vec![call("t1", "[1, 2]")],
            },
        ];
        for message in cases {
            let request = ModelRequest {
                model: "m".into(),
                system: None,
                messages: vec![message.clone()],
                tools: vec![],
                max_tokens: None,
                temperature: None,
            };
            let error = request_body(&request).expect_err("refused");
            assert!(matches!(error, LlmError::BadRequest(_)), "{message:?}");
        }
    }

    #[test]
    fn answers_parse_and_map_stop_reasons() {
        let cases = [
            ("end_turn", FinishReason::Stop),
            ("stop_sequence", FinishReason::Stop),
            ("tool_use", FinishReason::ToolCalls),
            ("max_tokens", FinishReason::Length),
            ("refusal", FinishReason::ContentFilter),
            ("pause_turn", FinishReason::Other("pause_turn".into())),
        ];
        for (stop_reason, finish_reason) in cases {
            let body = json!({
                "model": "claude-x",
                "content": [
                    {"type": "thinking", "thinking": "hmm"},
                    {"type": "text", "text": "Let me "},
                    {"type": "text", "text": "check."},
                    {"type": "tool_use", "id": "t1", "name": "weather", "input": {"city": "Oslo"}},
                ],
                "stop_reason": stop_reason,
                "usage": {"input_tokens": 12, "output_tokens": 7},
            });
            let response = parse_answer(body.to_string().as_bytes()).expect("parses");
            assert_eq!(response.finish_reason, finish_reason);
            assert_eq!(response.content.as_deref(), Some("Let me check."));
            assert_eq!(response.tool_calls, vec![call("t1", "{\"city\":\"Oslo\"}")]);
            assert_eq!(
                response.usage,
                Usage {
                    input_tokens: 12,
                    output_tokens: 7
                }
            );
        }
    }

    #[test]
    fn answers_without_the_required_parts_are_malformed() {
        let cases = [
            json!({}),
            json!({"content": "text"}),
            json!({"content": [{"text": "no type"}]}),
            json!({"content": [{"type": "text"}]}),
            json!({"content": [{"type": "tool_use", "name": "f", "input": {}}]}),
            json!({"type": "error", "error": {"type": "api_error", "message": "boom"}}),
        ];
        for body in cases {
            let error = parse_answer(body.to_string().as_bytes()).expect_err("malformed");
            assert!(matches!(error, LlmError::Malformed(_)), "{body}: {error}");
        }
    }
}
