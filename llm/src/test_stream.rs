//! The streamed form of [`crate::test_server`]'s replies: the Server-Sent Events a real
//! provider sends for a request with `"stream": true`, frame by frame. The text is cut at
//! word boundaries, one delta per word, so a test sees several deltas.

use serde_json::{json, Value};

use crate::test_server::{INPUT_TOKENS, OUTPUT_TOKENS};
use crate::types::Protocol;

/// One frame of an event stream, with whether it carries a text delta.
pub(crate) struct Frame {
    pub text: String,
    pub is_delta: bool,
}

fn data(value: &Value) -> Frame {
    Frame {
        text: format!("data: {value}\n\n"),
        is_delta: false,
    }
}

fn event(name: &str, value: &Value) -> Frame {
    Frame {
        text: format!("event: {name}\ndata: {value}\n\n"),
        is_delta: false,
    }
}

fn delta(frame: Frame) -> Frame {
    Frame {
        is_delta: true,
        ..frame
    }
}

/// `text` cut after each run of spaces: "a b  c" → "a ", "b  ", "c".
pub(crate) fn words(text: &str) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut in_space = false;
    for (at, c) in text.char_indices() {
        if c == ' ' {
            in_space = true;
        } else if in_space {
            pieces.push(&text[start..at]);
            start = at;
            in_space = false;
        }
    }
    if start < text.len() {
        pieces.push(&text[start..]);
    }
    pieces
}

/// The frames of a text answer.
pub(crate) fn text_frames(protocol: Protocol, id: &str, model: &str, content: &str) -> Vec<Frame> {
    match protocol {
        Protocol::OpenAi => {
            let chunk = |delta: Value, finish: Value| openai_chunk(id, model, delta, finish);
            let mut frames = vec![data(&chunk(
                json!({"role": "assistant", "content": ""}),
                Value::Null,
            ))];
            for word in words(content) {
                frames.push(delta(data(&chunk(json!({"content": word}), Value::Null))));
            }
            frames.push(data(&chunk(json!({}), json!("stop"))));
            frames.extend(openai_end(id, model));
            frames
        }
        Protocol::Anthropic => {
            let mut frames = vec![anthropic_start(id, model)];
            frames.push(event(
                "content_block_start",
                &json!({"type": "content_block_start", "index": 0,
                        "content_block": {"type": "text", "text": ""}}),
            ));
            for word in words(content) {
                frames.push(delta(event(
                    "content_block_delta",
                    &json!({"type": "content_block_delta", "index": 0,
                            "delta": {"type": "text_delta", "text": word}}),
                )));
            }
            frames.push(event(
                "content_block_stop",
                &json!({"type": "content_block_stop", "index": 0}),
            ));
            frames.extend(anthropic_end("end_turn"));
            frames
        }
    }
}

/// The frames of an answer calling tools `(id, name, arguments_json_text)`: each call's
/// arguments arrive in two pieces, as providers split them.
pub(crate) fn tool_call_frames(
    protocol: Protocol,
    id: &str,
    model: &str,
    calls: &[(String, String, String)],
) -> Vec<Frame> {
    let halves = |arguments: &str| {
        let mut middle = arguments.len() / 2;
        while !arguments.is_char_boundary(middle) {
            middle -= 1;
        }
        (
            arguments[..middle].to_owned(),
            arguments[middle..].to_owned(),
        )
    };
    match protocol {
        Protocol::OpenAi => {
            let chunk = |delta: Value, finish: Value| openai_chunk(id, model, delta, finish);
            let mut frames = vec![data(&chunk(
                json!({"role": "assistant", "content": null}),
                Value::Null,
            ))];
            for (index, (call_id, name, arguments)) in calls.iter().enumerate() {
                let (first, second) = halves(arguments);
                frames.push(data(&chunk(
                    json!({"tool_calls": [{"index": index, "id": call_id, "type": "function",
                                           "function": {"name": name, "arguments": first}}]}),
                    Value::Null,
                )));
                frames.push(data(&chunk(
                    json!({"tool_calls": [{"index": index, "function": {"arguments": second}}]}),
                    Value::Null,
                )));
            }
            frames.push(data(&chunk(json!({}), json!("tool_calls"))));
            frames.extend(openai_end(id, model));
            frames
        }
        Protocol::Anthropic => {
            let mut frames = vec![anthropic_start(id, model)];
            for (index, (call_id, name, arguments)) in calls.iter().enumerate() {
                frames.push(event(
                    "content_block_start",
                    &json!({"type": "content_block_start", "index": index,
                            "content_block": {"type": "tool_use", "id": call_id, "name": name,
                                              "input": {}}}),
                ));
                let (first, second) = halves(arguments);
                for piece in [first, second] {
                    frames.push(event(
                        "content_block_delta",
                        &json!({"type": "content_block_delta", "index": index,
                                "delta": {"type": "input_json_delta", "partial_json": piece}}),
                    ));
                }
                frames.push(event(
                    "content_block_stop",
                    &json!({"type": "content_block_stop", "index": index}),
                ));
            }
            frames.extend(anthropic_end("tool_use"));
            frames
        }
    }
}

/// One Chat Completions chunk of answer `id`.
fn openai_chunk(id: &str, model: &str, delta: Value, finish: Value) -> Value {
    json!({"id": format!("chatcmpl-{id}"), "object": "chat.completion.chunk",
           "created": 0, "model": model,
           "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
}

fn openai_end(id: &str, model: &str) -> Vec<Frame> {
    vec![
        data(
            &json!({"id": format!("chatcmpl-{id}"), "object": "chat.completion.chunk",
                     "created": 0, "model": model, "choices": [],
                     "usage": {"prompt_tokens": INPUT_TOKENS, "completion_tokens": OUTPUT_TOKENS,
                               "total_tokens": INPUT_TOKENS + OUTPUT_TOKENS}}),
        ),
        Frame {
            text: "data: [DONE]\n\n".to_owned(),
            is_delta: false,
        },
    ]
}

fn anthropic_start(id: &str, model: &str) -> Frame {
    event(
        "message_start",
        &json!({"type": "message_start",
                "message": {"id": format!("msg_{id}"), "type": "message", "role": "assistant",
                            "model": model, "content": [], "stop_reason": null,
                            "stop_sequence": null,
                            "usage": {"input_tokens": INPUT_TOKENS, "output_tokens": 1}}}),
    )
}

fn anthropic_end(stop_reason: &str) -> Vec<Frame> {
    vec![
        event(
            "message_delta",
            &json!({"type": "message_delta",
                    "delta": {"stop_reason": stop_reason, "stop_sequence": null},
                    "usage": {"output_tokens": OUTPUT_TOKENS}}),
        ),
        event("message_stop", &json!({"type": "message_stop"})),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{parse_response, ModelResponse, StreamDecoder};

    fn body(frames: &[Frame]) -> Vec<u8> {
        frames.iter().flat_map(|f| f.text.bytes()).collect()
    }

    #[test]
    fn words_keep_every_character() {
        assert_eq!(words("a b  c"), vec!["a ", "b  ", "c"]);
        assert_eq!(words("  lead"), vec!["  ", "lead"]);
        assert!(words("").is_empty());
    }

    /// The scripted streams parse into the scripted unstreamed answers, in both protocols.
    #[test]
    fn scripted_streams_fold_into_the_scripted_answers() {
        let sse = [("content-type".to_string(), "text/event-stream".to_string())];
        for protocol in [Protocol::OpenAi, Protocol::Anthropic] {
            let frames = text_frames(protocol, "1", "m", "Hello there, Ada");
            let reply: ModelResponse =
                parse_response(protocol, 200, &sse, &body(&frames)).expect("parses");
            assert_eq!(reply.content.as_deref(), Some("Hello there, Ada"));
            assert_eq!(reply.usage.input_tokens, INPUT_TOKENS);
            assert_eq!(reply.usage.output_tokens, OUTPUT_TOKENS);
            let mut decoder = StreamDecoder::new(protocol);
            assert_eq!(
                decoder.push(&body(&frames)),
                vec!["Hello ", "there, ", "Ada"]
            );
            let calls = vec![(
                "c1".to_string(),
                "lookup".to_string(),
                "{\"q\":12}".to_string(),
            )];
            let frames = tool_call_frames(protocol, "2", "m", &calls);
            let reply = parse_response(protocol, 200, &sse, &body(&frames)).expect("parses");
            assert_eq!(reply.tool_calls.len(), 1);
            assert_eq!(reply.tool_calls[0].name, "lookup");
            assert_eq!(
                serde_json::from_str::<Value>(&reply.tool_calls[0].arguments).expect("json"),
                json!({"q": 12})
            );
        }
    }
}
