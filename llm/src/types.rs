//! The provider-neutral shapes of one model call: what the engine asks ([`ModelRequest`]) and
//! what it journals ([`ModelResponse`]). Their serialized forms are part of the journal format:
//! fields may be added (with defaults), never renamed.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// `max_tokens` sent to Anthropic when the caller gives none: the Messages API requires it,
/// and 4096 is an answer of a few pages, enough for a tool-using turn.
pub const ANTHROPIC_MAX_TOKENS_DEFAULT: u32 = 4096;

/// The wire protocol of a model connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// OpenAI Chat Completions, `"openai"`: also the protocol of Azure OpenAI, Ollama, vLLM,
    /// llama.cpp, LM Studio, OpenRouter and LiteLLM, given their base URL.
    OpenAi,
    /// Anthropic Messages, `"anthropic"`.
    Anthropic,
}

impl Protocol {
    /// The protocol named by a connection's provider (`"openai"`, `"anthropic"`; any case).
    pub fn parse(provider: &str) -> Option<Protocol> {
        match provider.trim().to_ascii_lowercase().as_str() {
            "openai" => Some(Protocol::OpenAi),
            "anthropic" => Some(Protocol::Anthropic),
            _ => None,
        }
    }

    /// The provider's own API, used when the connection names no base URL.
    pub fn default_base_url(self) -> &'static str {
        match self {
            Protocol::OpenAi => "https://api.openai.com/v1",
            Protocol::Anthropic => "https://api.anthropic.com",
        }
    }

    /// The name as written in configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::OpenAi => "openai",
            Protocol::Anthropic => "anthropic",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One message of the conversation, provider-neutral. It is journaled, so it serializes
/// (camelCase, tagged by `role`) and deserializes back unchanged.
///
/// The system prompt is not a message: it is [`ModelRequest::system`], because Anthropic
/// takes it outside the conversation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "role",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum Message {
    /// What the user (the workflow) says.
    User { content: String },
    /// A turn of the model, as it answered: text, tool calls, or both.
    Assistant {
        #[serde(default)]
        content: Option<String>,
        #[serde(default)]
        tool_calls: Vec<ToolCall>,
    },
    /// The result of one tool call of the preceding assistant turn.
    ///
    /// `is_error` reaches Anthropic as `tool_result.is_error`; the OpenAI protocol has no such
    /// flag, so `content` itself should say that the tool failed.
    Tool {
        tool_call_id: String,
        /// The tool's name. Neither protocol needs it on the wire; it is kept so the
        /// journal reads on its own.
        name: String,
        content: String,
        #[serde(default)]
        is_error: bool,
    },
}

/// A tool call the model asked for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolCall {
    /// The provider's id; the tool's result refers to it.
    pub id: String,
    pub name: String,
    /// The arguments as the model wrote them (JSON text, maybe invalid): validating them
    /// against the tool's schema is the engine's, which tells the model when they are wrong.
    pub arguments: String,
}

/// A tool offered to the model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    /// The JSON Schema of the arguments, an object schema.
    pub parameters: serde_json::Value,
}

/// One model call, provider-neutral.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelRequest {
    pub model: String,
    #[serde(default)]
    pub system: Option<String>,
    pub messages: Vec<Message>,
    #[serde(default)]
    pub tools: Vec<ToolSpec>,
    /// The most tokens the answer may have. Anthropic requires one and gets
    /// [`ANTHROPIC_MAX_TOKENS_DEFAULT`] when this is `None`; OpenAI servers use their own.
    #[serde(default)]
    pub max_tokens: Option<u32>,
    #[serde(default)]
    pub temperature: Option<f64>,
}

/// The normalized answer of one call. The engine journals it whole (camelCase) and acts on
/// `tool_calls`: a model that calls tools is run again with their results, whatever its
/// `finish_reason` says (some OpenAI-compatible servers say `stop` there).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelResponse {
    /// The model that answered, as the provider names it; empty if it did not say.
    pub model: String,
    /// The text of the answer; `None` when there is none (an empty text is `None` too).
    #[serde(default)]
    pub content: Option<String>,
    #[serde(default)]
    pub tool_calls: Vec<ToolCall>,
    pub finish_reason: FinishReason,
    #[serde(default)]
    pub usage: Usage,
}

/// Why the model stopped. Serialized as `"stop"`, `"tool_calls"`, `"length"`,
/// `"content_filter"`, or the provider's own word for anything else.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FinishReason {
    /// A natural end or a stop sequence (Anthropic `end_turn`, `stop_sequence`).
    Stop,
    /// The model asked for tools (Anthropic `tool_use`).
    ToolCalls,
    /// The token limit cut the answer (Anthropic `max_tokens`).
    Length,
    /// The provider withheld or cut the answer (Anthropic `refusal`).
    ContentFilter,
    /// Anything else, as the provider wrote it (e.g. Anthropic `pause_turn`).
    Other(String),
}

impl FinishReason {
    pub fn as_str(&self) -> &str {
        match self {
            FinishReason::Stop => "stop",
            FinishReason::ToolCalls => "tool_calls",
            FinishReason::Length => "length",
            FinishReason::ContentFilter => "content_filter",
            FinishReason::Other(raw) => raw,
        }
    }

    /// The inverse of [`FinishReason::as_str`], so a journaled reason reads back the same.
    pub fn from_wire(raw: &str) -> FinishReason {
        match raw {
            "stop" => FinishReason::Stop,
            "tool_calls" => FinishReason::ToolCalls,
            "length" => FinishReason::Length,
            "content_filter" => FinishReason::ContentFilter,
            other => FinishReason::Other(other.to_string()),
        }
    }
}

impl Serialize for FinishReason {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for FinishReason {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Ok(FinishReason::from_wire(&raw))
    }
}

/// Tokens of one call, as the provider counted them; zeros when it did not say (Ollama and
/// some other compatible servers send no `usage`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn protocol_names() {
        assert_eq!(Protocol::parse("openai"), Some(Protocol::OpenAi));
        assert_eq!(Protocol::parse(" Anthropic "), Some(Protocol::Anthropic));
        assert_eq!(Protocol::parse("gemini"), None);
        assert_eq!(
            serde_json::to_value(Protocol::OpenAi).expect("serializes"),
            json!("openai")
        );
        assert_eq!(
            serde_json::from_value::<Protocol>(json!("anthropic")).expect("parses"),
            Protocol::Anthropic
        );
    }

    #[test]
    fn messages_serialize_camel_case_and_round_trip() {
        let messages = vec![
            Message::User {
                content: "hi".into(),
            },
            Message::Assistant {
                content: None,
                tool_calls: vec![ToolCall {
                    id: "c1".into(),
                    name: "lookup".into(),
                    arguments: "{\"q\":1}".into(),
                }],
            },
            Message::Tool {
                tool_call_id: "c1".into(),
                name: "lookup".into(),
                content: "42".into(),
                is_error: false,
            },
        ];
        let value = serde_json::to_value(&messages).expect("serializes");
        assert_eq!(
            value,
            json!([
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": null,
                 "toolCalls": [{"id": "c1", "name": "lookup", "arguments": "{\"q\":1}"}]},
                {"role": "tool", "toolCallId": "c1", "name": "lookup", "content": "42",
                 "isError": false}
            ])
        );
        let back: Vec<Message> = serde_json::from_value(value).expect("parses");
        assert_eq!(back, messages);
    }

    #[test]
    fn response_serializes_camel_case_and_round_trips() {
        let cases = [
            (FinishReason::Stop, "stop"),
            (FinishReason::ToolCalls, "tool_calls"),
            (FinishReason::Length, "length"),
            (FinishReason::ContentFilter, "content_filter"),
            (FinishReason::Other("pause_turn".into()), "pause_turn"),
        ];
        for (finish_reason, wire) in cases {
            let response = ModelResponse {
                model: "m".into(),
                content: Some("hello".into()),
                tool_calls: vec![],
                finish_reason,
                usage: Usage {
                    input_tokens: 10,
                    output_tokens: 5,
                },
            };
            let value = serde_json::to_value(&response).expect("serializes");
            assert_eq!(
                value,
                json!({"model": "m", "content": "hello", "toolCalls": [], "finishReason": wire,
                       "usage": {"inputTokens": 10, "outputTokens": 5}})
            );
            assert_eq!(
                serde_json::from_value::<ModelResponse>(value).expect("parses"),
                response
            );
        }
    }
}
