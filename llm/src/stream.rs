//! Streamed answers: a model call sent with `stream: true` ([`crate::build_streaming_request`])
//! is answered with Server-Sent Events, the text arriving piece by piece.
//!
//! Two uses, one parser:
//! - [`StreamDecoder`] is fed the body's chunks as they arrive and gives back the text deltas
//!   in them, for people watching a run live. Deltas are never journaled.
//! - [`parse_stream`] folds a whole streamed body into the same [`ModelResponse`] as the
//!   unstreamed answer (it rebuilds the protocol's unstreamed JSON and hands it to the same
//!   parser), so the journal holds one normalized reply whichever way it came.
//!
//! OpenAI streams `data: {chunk}` lines (`choices[0].delta.content`, `delta.tool_calls[]`
//! assembled by `index`, `finish_reason`, a last chunk with `usage` when
//! `stream_options.include_usage` was asked) ended by `data: [DONE]`. Anthropic streams typed
//! events: `message_start`, `content_block_start`/`_delta`/`_stop` (`text_delta`,
//! `input_json_delta`), `message_delta` (stop reason, output tokens), `message_stop`, `ping`,
//! `error`. An `error` in the stream, or a stream that ends before the answer is complete (the
//! connection cut), is [`LlmError::Stream`], worth another try. Pure.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::error::LlmError;
use crate::types::{ModelResponse, Protocol};
use crate::{anthropic, openai};

/// Longest line kept while waiting for its end: a provider's chunk is far smaller, so a body
/// with a longer one is not an event stream and is not buffered further.
const LINE_BYTES_MAX: usize = 1 << 20;

/// One Server-Sent Event: its `event:` name (empty when none) and its `data:` lines joined.
#[derive(Debug, Default, PartialEq, Eq)]
struct SseEvent {
    event: String,
    data: String,
}

/// The SSE framing (WHATWG's event-stream format, the parts providers use): lines ending in
/// LF, CRLF or CR, `field: value`, a blank line dispatching the event, `:` comments.
#[derive(Default)]
struct SseParser {
    line: Vec<u8>,
    /// The previous byte was a CR, so an LF right after it ends nothing.
    after_cr: bool,
    event: String,
    data: Option<String>,
}

impl SseParser {
    fn feed(&mut self, bytes: &[u8], events: &mut Vec<SseEvent>) {
        for &byte in bytes {
            match byte {
                b'\n' if self.after_cr => self.after_cr = false,
                b'\n' | b'\r' => {
                    self.after_cr = byte == b'\r';
                    let line = std::mem::take(&mut self.line);
                    self.line_ended(&line, events);
                }
                _ => {
                    self.after_cr = false;
                    if self.line.len() < LINE_BYTES_MAX {
                        self.line.push(byte);
                    }
                }
            }
        }
    }

    /// The body ended: a last event not followed by a blank line still counts.
    fn finish(&mut self, events: &mut Vec<SseEvent>) {
        let line = std::mem::take(&mut self.line);
        if !line.is_empty() {
            self.line_ended(&line, events);
        }
        self.line_ended(&[], events);
    }

    fn line_ended(&mut self, line: &[u8], events: &mut Vec<SseEvent>) {
        if line.is_empty() {
            if let Some(data) = self.data.take() {
                events.push(SseEvent {
                    event: std::mem::take(&mut self.event),
                    data,
                });
            }
            self.event.clear();
            return;
        }
        let line = String::from_utf8_lossy(line);
        if line.starts_with(':') {
            return;
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line.as_ref(), ""),
        };
        match field {
            "event" => self.event = value.to_owned(),
            "data" => match &mut self.data {
                Some(data) => {
                    data.push('\n');
                    data.push_str(value);
                }
                None => self.data = Some(value.to_owned()),
            },
            _ => {}
        }
    }
}

/// Gives the text deltas of a streamed answer as its bytes arrive.
pub struct StreamDecoder {
    protocol: Protocol,
    parser: SseParser,
}

impl StreamDecoder {
    pub fn new(protocol: Protocol) -> StreamDecoder {
        StreamDecoder {
            protocol,
            parser: SseParser::default(),
        }
    }

    /// The text deltas completed by `bytes`, in order (empty ones left out).
    pub fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        let mut events = Vec::new();
        self.parser.feed(bytes, &mut events);
        events
            .iter()
            .filter_map(|event| text_delta(self.protocol, event))
            .filter(|text| !text.is_empty())
            .collect()
    }
}

/// The text a streamed event adds to the answer, if any.
fn text_delta(protocol: Protocol, event: &SseEvent) -> Option<String> {
    let data: Value = serde_json::from_str(&event.data).ok()?;
    match protocol {
        Protocol::OpenAi => data
            .pointer("/choices/0/delta/content")
            .and_then(Value::as_str)
            .map(str::to_owned),
        Protocol::Anthropic => (data.get("type").and_then(Value::as_str)
            == Some("content_block_delta"))
        .then(|| data.pointer("/delta/text").and_then(Value::as_str))
        .flatten()
        .map(str::to_owned),
    }
}

/// Whether a 2xx answer is an event stream rather than one JSON document: by its content
/// type, or (for servers that label it wrongly) by its first bytes.
pub(crate) fn is_event_stream(headers: &[(String, String)], body: &[u8]) -> bool {
    let declared = headers.iter().any(|(name, value)| {
        name.eq_ignore_ascii_case("content-type")
            && value.trim_start().starts_with("text/event-stream")
    });
    let start = body
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .map_or(&[][..], |at| &body[at..]);
    declared || start.starts_with(b"data:") || start.starts_with(b"event:")
}

/// The whole streamed `body` as one normalized answer.
pub(crate) fn parse_stream(protocol: Protocol, body: &[u8]) -> Result<ModelResponse, LlmError> {
    let mut parser = SseParser::default();
    let mut events = Vec::new();
    parser.feed(body, &mut events);
    parser.finish(&mut events);
    match protocol {
        Protocol::OpenAi => openai_fold(&events),
        Protocol::Anthropic => anthropic_fold(&events),
    }
}

/// An error object the stream reported, as its message.
fn stream_error(error: &Value) -> LlmError {
    let message = crate::call::error_message_of(error)
        .unwrap_or_else(|| crate::redact::scrub(&error.to_string()));
    LlmError::Stream(message)
}

#[derive(Default)]
struct OpenAiToolCall {
    id: String,
    name: String,
    arguments: String,
}

fn openai_fold(events: &[SseEvent]) -> Result<ModelResponse, LlmError> {
    let mut model = None;
    let mut content = String::new();
    let mut tool_calls: BTreeMap<u64, OpenAiToolCall> = BTreeMap::new();
    let mut finish_reason: Option<String> = None;
    let mut usage = Value::Null;
    let mut done = false;
    let mut chunks = 0usize;
    for event in events {
        if event.data.trim() == "[DONE]" {
            done = true;
            continue;
        }
        let Ok(chunk) = serde_json::from_str::<Value>(&event.data) else {
            return Err(LlmError::Malformed(format!(
                "a streamed chunk is not JSON: {}",
                crate::redact::scrub(&truncate(&event.data))
            )));
        };
        if let Some(error) = chunk.get("error").filter(|e| !e.is_null()) {
            return Err(stream_error(error));
        }
        chunks += 1;
        if let Some(name) = chunk.get("model").and_then(Value::as_str) {
            model = Some(name.to_owned());
        }
        if let Some(counted) = chunk.get("usage").filter(|u| u.is_object()) {
            usage = counted.clone();
        }
        let Some(choice) = chunk.pointer("/choices/0") else {
            continue;
        };
        if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str) {
            finish_reason = Some(reason.to_owned());
        }
        let Some(delta) = choice.get("delta") else {
            continue;
        };
        if let Some(text) = delta.get("content").and_then(Value::as_str) {
            content.push_str(text);
        }
        for (position, call) in delta
            .get("tool_calls")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            // Servers that stream each call whole (and some that leave `index` out) are
            // read by their position.
            let index = call
                .get("index")
                .and_then(Value::as_u64)
                .unwrap_or(position as u64);
            let entry = tool_calls.entry(index).or_default();
            if let Some(id) = call.get("id").and_then(Value::as_str) {
                entry.id = id.to_owned();
            }
            if let Some(name) = call.pointer("/function/name").and_then(Value::as_str) {
                entry.name.push_str(name);
            }
            if let Some(arguments) = call.pointer("/function/arguments").and_then(Value::as_str) {
                entry.arguments.push_str(arguments);
            }
        }
    }
    if chunks == 0 {
        return Err(LlmError::Stream(
            "the stream ended without an answer".to_owned(),
        ));
    }
    if !done && finish_reason.is_none() {
        return Err(LlmError::Stream(
            "the stream ended before the answer was complete".to_owned(),
        ));
    }
    let calls: Vec<Value> = tool_calls
        .into_values()
        .map(|call| {
            json!({"id": call.id, "type": "function",
                   "function": {"name": call.name, "arguments": call.arguments}})
        })
        .collect();
    let mut message = Map::new();
    message.insert("role".into(), json!("assistant"));
    message.insert("content".into(), json!(content));
    if !calls.is_empty() {
        message.insert("tool_calls".into(), Value::Array(calls));
    }
    let answer = json!({
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
        "usage": usage,
    });
    openai::parse_answer(answer.to_string().as_bytes())
}

/// A content block being assembled: its start, with the text or tool input streamed into it.
struct AnthropicBlock {
    start: Value,
    text: String,
    input_json: String,
}

fn anthropic_fold(events: &[SseEvent]) -> Result<ModelResponse, LlmError> {
    let mut message = Value::Null;
    let mut blocks: BTreeMap<u64, AnthropicBlock> = BTreeMap::new();
    let mut stop_reason = Value::Null;
    let mut output_tokens = None;
    let mut stopped = false;
    for event in events {
        let Ok(data) = serde_json::from_str::<Value>(&event.data) else {
            return Err(LlmError::Malformed(format!(
                "a streamed event is not JSON: {}",
                crate::redact::scrub(&truncate(&event.data))
            )));
        };
        // The type is in the data too; the `event:` line is only a copy of it.
        let kind = data
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or(event.event.as_str());
        match kind {
            "message_start" => message = data.get("message").cloned().unwrap_or(Value::Null),
            "content_block_start" => {
                let index = data.get("index").and_then(Value::as_u64).unwrap_or(0);
                let start = data.get("content_block").cloned().unwrap_or(Value::Null);
                let text = start
                    .get("text")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                blocks.insert(
                    index,
                    AnthropicBlock {
                        start,
                        text,
                        input_json: String::new(),
                    },
                );
            }
            "content_block_delta" => {
                let index = data.get("index").and_then(Value::as_u64).unwrap_or(0);
                let Some(block) = blocks.get_mut(&index) else {
                    return Err(LlmError::Malformed(format!(
                        "a delta for content block {index}, which was never started"
                    )));
                };
                if let Some(text) = data.pointer("/delta/text").and_then(Value::as_str) {
                    block.text.push_str(text);
                }
                if let Some(json) = data.pointer("/delta/partial_json").and_then(Value::as_str) {
                    block.input_json.push_str(json);
                }
            }
            "message_delta" => {
                if let Some(reason) = data.pointer("/delta/stop_reason").filter(|r| !r.is_null()) {
                    stop_reason = reason.clone();
                }
                if let Some(tokens) = data.pointer("/usage/output_tokens").and_then(Value::as_u64) {
                    output_tokens = Some(tokens);
                }
            }
            "message_stop" => stopped = true,
            "error" => {
                return Err(stream_error(data.get("error").unwrap_or(&data)));
            }
            // `ping`, `content_block_stop`, and types added later.
            _ => {}
        }
    }
    if message.is_null() {
        return Err(LlmError::Stream(
            "the stream ended without an answer".to_owned(),
        ));
    }
    if !stopped && stop_reason.is_null() {
        return Err(LlmError::Stream(
            "the stream ended before the answer was complete".to_owned(),
        ));
    }
    let content: Vec<Value> = blocks
        .into_values()
        .map(|block| {
            let mut start = block.start;
            match start.get("type").and_then(Value::as_str) {
                Some("text") => start["text"] = json!(block.text),
                Some("tool_use") if !block.input_json.trim().is_empty() => {
                    // Arguments that are not JSON are kept as text: the agent tells the model
                    // they are wrong, as for an unstreamed reply.
                    start["input"] = serde_json::from_str(&block.input_json)
                        .unwrap_or(Value::String(block.input_json));
                }
                _ => {}
            }
            start
        })
        .collect();
    let mut usage = message.get("usage").cloned().unwrap_or_else(|| json!({}));
    if let (Some(tokens), Some(object)) = (output_tokens, usage.as_object_mut()) {
        object.insert("output_tokens".into(), json!(tokens));
    }
    let answer = json!({
        "model": message.get("model"),
        "content": content,
        "stop_reason": stop_reason,
        "usage": usage,
    });
    anthropic::parse_answer(answer.to_string().as_bytes())
}

fn truncate(text: &str) -> String {
    text.chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{FinishReason, ToolCall, Usage};

    const OPENAI_TEXT: &str = "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}\n\n\
data: {\"id\":\"c1\",\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"},\"finish_reason\":null}]}\n\n\
data: {\"id\":\"c1\",\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo\"},\"finish_reason\":null}]}\n\n\
data: {\"id\":\"c1\",\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n\
data: {\"id\":\"c1\",\"model\":\"gpt-4o\",\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":2,\"total_tokens\":9}}\n\n\
data: [DONE]\n\n";

    #[test]
    fn openai_text_stream_folds_into_the_unstreamed_answer() {
        let reply = parse_stream(Protocol::OpenAi, OPENAI_TEXT.as_bytes()).expect("parses");
        assert_eq!(
            reply,
            ModelResponse {
                model: "gpt-4o".into(),
                content: Some("Hello".into()),
                tool_calls: vec![],
                finish_reason: FinishReason::Stop,
                usage: Usage {
                    input_tokens: 7,
                    output_tokens: 2
                },
            }
        );
    }

    #[test]
    fn deltas_come_out_whatever_the_chunking() {
        // Fed one byte at a time, with CRLF line ends: the same deltas as fed whole.
        let crlf = OPENAI_TEXT.replace('\n', "\r\n");
        let mut decoder = StreamDecoder::new(Protocol::OpenAi);
        let mut deltas = Vec::new();
        for byte in crlf.as_bytes() {
            deltas.extend(decoder.push(std::slice::from_ref(byte)));
        }
        assert_eq!(deltas, vec!["Hel".to_string(), "lo".to_string()]);
        let mut whole = StreamDecoder::new(Protocol::OpenAi);
        assert_eq!(whole.push(OPENAI_TEXT.as_bytes()), deltas);
    }

    #[test]
    fn openai_tool_calls_are_assembled_by_index() {
        let body = "data: {\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"index\":0,\"id\":\"call_a\",\"type\":\"function\",\"function\":{\"name\":\"lookup\",\"arguments\":\"\"}}]}}]}\n\n\
data: {\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"q\\\":\"}}]}}]}\n\n\
data: {\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,\"id\":\"call_b\",\"function\":{\"name\":\"post\",\"arguments\":\"{}\"}}]}}]}\n\n\
data: {\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"1}\"}}]}}]}\n\n\
data: {\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n\
data: [DONE]\n\n";
        let reply = parse_stream(Protocol::OpenAi, body.as_bytes()).expect("parses");
        assert_eq!(reply.content, None);
        assert_eq!(reply.finish_reason, FinishReason::ToolCalls);
        assert_eq!(
            reply.tool_calls,
            vec![
                ToolCall {
                    id: "call_a".into(),
                    name: "lookup".into(),
                    arguments: "{\"q\":1}".into()
                },
                ToolCall {
                    id: "call_b".into(),
                    name: "post".into(),
                    arguments: "{}".into()
                },
            ]
        );
        assert_eq!(reply.usage, Usage::default());
    }

    #[test]
    fn a_cut_or_failed_stream_is_worth_another_try() {
        let cut = OPENAI_TEXT
            .split(
                "data: {\"id\":\"c1\",\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{},",
            )
            .next()
            .expect("a prefix");
        let error = parse_stream(Protocol::OpenAi, cut.as_bytes()).expect_err("incomplete");
        assert!(matches!(error, LlmError::Stream(_)), "{error:?}");
        assert!(error.retryable());
        let failed =
            "data: {\"error\":{\"message\":\"upstream overloaded\",\"type\":\"server_error\"}}\n\n";
        let error = parse_stream(Protocol::OpenAi, failed.as_bytes()).expect_err("an error");
        assert_eq!(error.code(), "MODEL_UNAVAILABLE");
        assert!(error.to_string().contains("upstream overloaded"), "{error}");
        let error = parse_stream(Protocol::OpenAi, b"").expect_err("empty");
        assert!(matches!(error, LlmError::Stream(_)), "{error:?}");
    }

    const ANTHROPIC_TOOL: &str = "event: message_start\n\
data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5\",\"content\":[],\"stop_reason\":null,\"usage\":{\"input_tokens\":25,\"output_tokens\":1}}}\n\n\
event: ping\ndata: {\"type\":\"ping\"}\n\n\
event: content_block_start\n\
data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n\
event: content_block_delta\n\
data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Let me \"}}\n\n\
event: content_block_delta\n\
data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"check.\"}}\n\n\
event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n\
event: content_block_start\n\
data: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"lookup\",\"input\":{}}}\n\n\
event: content_block_delta\n\
data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"q\\\": \"}}\n\n\
event: content_block_delta\n\
data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"1}\"}}\n\n\
event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}\n\n\
event: message_delta\n\
data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":30}}\n\n\
event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";

    #[test]
    fn anthropic_stream_folds_text_and_tool_use() {
        let reply = parse_stream(Protocol::Anthropic, ANTHROPIC_TOOL.as_bytes()).expect("parses");
        assert_eq!(
            reply,
            ModelResponse {
                model: "claude-sonnet-4-5".into(),
                content: Some("Let me check.".into()),
                tool_calls: vec![ToolCall {
                    id: "toolu_1".into(),
                    name: "lookup".into(),
                    arguments: "{\"q\":1}".into()
                }],
                finish_reason: FinishReason::ToolCalls,
                usage: Usage {
                    input_tokens: 25,
                    output_tokens: 30
                },
            }
        );
        let mut decoder = StreamDecoder::new(Protocol::Anthropic);
        assert_eq!(
            decoder.push(ANTHROPIC_TOOL.as_bytes()),
            vec!["Let me ".to_string(), "check.".to_string()]
        );
    }

    #[test]
    fn anthropic_error_event_is_retryable() {
        let body = "event: message_start\n\
data: {\"type\":\"message_start\",\"message\":{\"model\":\"c\",\"usage\":{\"input_tokens\":1,\"output_tokens\":0}}}\n\n\
event: error\n\
data: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n";
        let error = parse_stream(Protocol::Anthropic, body.as_bytes()).expect_err("an error");
        assert!(error.retryable());
        assert!(error.to_string().contains("Overloaded"), "{error}");
    }

    #[test]
    fn event_streams_are_told_from_json() {
        let sse = [(
            "Content-Type".to_string(),
            "text/event-stream; charset=utf-8".to_string(),
        )];
        assert!(is_event_stream(&sse, b"{}"));
        assert!(is_event_stream(&[], b"\n data: {}"));
        assert!(!is_event_stream(
            &[("content-type".into(), "application/json".into())],
            b"{\"choices\": []}"
        ));
    }
}
