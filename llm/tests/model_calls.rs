//! Model calls over real loopback HTTP: `llm::send` through the guarded client
//! (`outbound::Outbound`) against the scripted model servers of both protocols.

use std::time::Duration;

use llm::test_server::ScriptedModel;
use llm::{
    FinishReason, LlmError, Message, ModelRequest, ModelResponse, Protocol, SendError, ToolCall,
    ToolSpec, Usage,
};
use outbound::{Outbound, OutboundPolicy};
use serde_json::{json, Value};

const PROTOCOLS: [Protocol; 2] = [Protocol::OpenAi, Protocol::Anthropic];
const API_KEY: &str = "sk-test-4f9c2e7a1b3d5f60";
/// Pieces of the key that a provider's message might quote (OpenAI shows the start and the
/// last four characters).
const API_KEY_PIECES: [&str; 3] = ["sk-test", "4f9c2e7a", "5f60"];

fn credentials() -> Vec<(String, String)> {
    vec![("Authorization".to_string(), format!("Bearer {API_KEY}"))]
}

fn user(content: &str) -> ModelRequest {
    ModelRequest {
        model: "test-model".into(),
        system: None,
        messages: vec![Message::User {
            content: content.into(),
        }],
        tools: vec![],
        max_tokens: None,
        temperature: None,
    }
}

fn client() -> Outbound {
    Outbound::new(OutboundPolicy::default()).expect("the outbound client builds")
}

async fn call(model: &ScriptedModel, request: &ModelRequest) -> Result<ModelResponse, SendError> {
    llm::send(
        &client(),
        model.protocol(),
        &model.base_url,
        &credentials(),
        request,
        Duration::from_secs(10),
    )
    .await
}

async fn model_error(model: &ScriptedModel) -> LlmError {
    match call(model, &user("hi")).await {
        Err(SendError::Model(error)) => error,
        other => panic!(
            "{}: expected a model error, got {other:?}",
            model.protocol()
        ),
    }
}

fn assert_no_key(text: &str) {
    for piece in API_KEY_PIECES {
        assert!(!text.contains(piece), "{piece:?} in {text:?}");
    }
}

#[tokio::test]
async fn a_text_reply() {
    for protocol in PROTOCOLS {
        let model = ScriptedModel::start(protocol).await;
        model.push_text("Hello there.");
        let response = call(&model, &user("hi")).await.expect("a reply");
        assert_eq!(
            response,
            ModelResponse {
                model: "test-model".into(),
                content: Some("Hello there.".into()),
                tool_calls: vec![],
                finish_reason: FinishReason::Stop,
                usage: Usage {
                    input_tokens: 10,
                    output_tokens: 5
                },
            },
            "{protocol}"
        );
        assert_eq!(model.count(), 1, "{protocol}");
    }
}

#[tokio::test]
async fn a_reply_with_two_tool_calls() {
    for protocol in PROTOCOLS {
        let model = ScriptedModel::start(protocol).await;
        model.push_tool_calls(vec![
            ("call_a", "weather", r#"{"city":"Oslo"}"#),
            ("call_b", "time", r#"{"zone":"UTC"}"#),
        ]);
        let response = call(&model, &user("weather and time?"))
            .await
            .expect("a reply");
        assert_eq!(response.content, None, "{protocol}");
        assert_eq!(
            response.finish_reason,
            FinishReason::ToolCalls,
            "{protocol}"
        );
        assert_eq!(
            response.tool_calls,
            vec![
                ToolCall {
                    id: "call_a".into(),
                    name: "weather".into(),
                    arguments: r#"{"city":"Oslo"}"#.into(),
                },
                ToolCall {
                    id: "call_b".into(),
                    name: "time".into(),
                    arguments: r#"{"zone":"UTC"}"#.into(),
                },
            ],
            "{protocol}"
        );
    }
}

/// A second turn of an agent: the first answer's tool calls and their results go back.
fn full_request() -> ModelRequest {
    ModelRequest {
        model: "test-model".into(),
        system: Some("You are terse.".into()),
        messages: vec![
            Message::User {
                content: "Weather in Oslo and Atlantis?".into(),
            },
            Message::Assistant {
                content: Some("Checking.".into()),
                tool_calls: vec![
                    ToolCall {
                        id: "call_a".into(),
                        name: "weather".into(),
                        arguments: r#"{"city":"Oslo"}"#.into(),
                    },
                    ToolCall {
                        id: "call_b".into(),
                        name: "weather".into(),
                        arguments: r#"{"city":"Atlantis"}"#.into(),
                    },
                ],
            },
            Message::Tool {
                tool_call_id: "call_a".into(),
                name: "weather".into(),
                content: "rain, 7 C".into(),
                is_error: false,
            },
            Message::Tool {
                tool_call_id: "call_b".into(),
                name: "weather".into(),
                content: "no such city".into(),
                is_error: true,
            },
        ],
        tools: vec![ToolSpec {
            name: "weather".into(),
            description: "Current weather of a city".into(),
            parameters: json!({"type": "object", "properties": {"city": {"type": "string"}},
                               "required": ["city"]}),
        }],
        max_tokens: Some(256),
        temperature: Some(0.25),
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(candidate, _)| candidate == name)
        .map(|(_, value)| value.as_str())
}

#[tokio::test]
async fn openai_request_in_chat_completions_names() {
    let model = ScriptedModel::start(Protocol::OpenAi).await;
    model.push_text("Oslo: rain.");
    call(&model, &full_request()).await.expect("a reply");
    let weather = json!({"type": "object", "properties": {"city": {"type": "string"}},
                         "required": ["city"]});
    assert_eq!(
        model.requests(),
        vec![json!({
            "model": "test-model",
            "messages": [
                {"role": "system", "content": "You are terse."},
                {"role": "user", "content": "Weather in Oslo and Atlantis?"},
                {"role": "assistant", "content": "Checking.", "tool_calls": [
                    {"id": "call_a", "type": "function",
                     "function": {"name": "weather", "arguments": "{\"city\":\"Oslo\"}"}},
                    {"id": "call_b", "type": "function",
                     "function": {"name": "weather", "arguments": "{\"city\":\"Atlantis\"}"}},
                ]},
                {"role": "tool", "tool_call_id": "call_a", "content": "rain, 7 C"},
                {"role": "tool", "tool_call_id": "call_b", "content": "no such city"},
            ],
            "tools": [{"type": "function", "function": {
                "name": "weather", "description": "Current weather of a city",
                "parameters": weather}}],
            "max_tokens": 256,
            "temperature": 0.25,
        })]
    );
    let headers = &model.request_headers()[0];
    let bearer = format!("Bearer {API_KEY}");
    assert_eq!(header(headers, "authorization"), Some(bearer.as_str()));
    assert_eq!(header(headers, "content-type"), Some("application/json"));
    assert_eq!(header(headers, "x-api-key"), None);
}

#[tokio::test]
async fn anthropic_request_in_messages_names() {
    let model = ScriptedModel::start(Protocol::Anthropic).await;
    model.push_text("Oslo: rain.");
    call(&model, &full_request()).await.expect("a reply");
    let weather = json!({"type": "object", "properties": {"city": {"type": "string"}},
                         "required": ["city"]});
    assert_eq!(
        model.requests(),
        vec![json!({
            "model": "test-model",
            "max_tokens": 256,
            "system": "You are terse.",
            "messages": [
                {"role": "user", "content": [
                    {"type": "text", "text": "Weather in Oslo and Atlantis?"}]},
                {"role": "assistant", "content": [
                    {"type": "text", "text": "Checking."},
                    {"type": "tool_use", "id": "call_a", "name": "weather",
                     "input": {"city": "Oslo"}},
                    {"type": "tool_use", "id": "call_b", "name": "weather",
                     "input": {"city": "Atlantis"}},
                ]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "call_a", "content": "rain, 7 C"},
                    {"type": "tool_result", "tool_use_id": "call_b", "content": "no such city",
                     "is_error": true},
                ]},
            ],
            "tools": [{"name": "weather", "description": "Current weather of a city",
                       "input_schema": weather}],
            "temperature": 0.25,
        })]
    );
    let headers = &model.request_headers()[0];
    assert_eq!(header(headers, "x-api-key"), Some(API_KEY));
    assert_eq!(header(headers, "anthropic-version"), Some("2023-06-01"));
    assert_eq!(header(headers, "content-type"), Some("application/json"));
    assert_eq!(header(headers, "authorization"), None);
}

#[tokio::test]
async fn anthropic_max_tokens_defaults_to_4096() {
    let model = ScriptedModel::start(Protocol::Anthropic).await;
    model.push_text("ok");
    call(&model, &user("hi")).await.expect("a reply");
    assert_eq!(model.requests()[0]["max_tokens"], json!(4096));
}

fn error_body(protocol: Protocol, kind: &str, message: &str) -> Value {
    match protocol {
        Protocol::OpenAi => json!({"error": {"message": message, "type": kind, "code": null}}),
        Protocol::Anthropic => {
            json!({"type": "error", "error": {"type": kind, "message": message}})
        }
    }
}

#[tokio::test]
async fn rate_limits_carry_the_retry_after_delay() {
    for protocol in PROTOCOLS {
        let model = ScriptedModel::start(protocol).await;
        model.push_error(
            429,
            error_body(protocol, "rate_limit_error", "Rate limit reached"),
            Some("2"),
        );
        model.push_error(429, error_body(protocol, "rate_limit_error", "again"), None);
        let error = model_error(&model).await;
        assert!(
            matches!(&error, LlmError::RateLimited { retry_after_ms: Some(2000), message }
                if message == "Rate limit reached"),
            "{protocol}: {error:?}"
        );
        assert!(error.retryable());
        assert_eq!(error.code(), "MODEL_RATE_LIMITED");
        assert_eq!(error.retry_after_ms(), Some(2000));
        let error = model_error(&model).await;
        assert_eq!(error.retry_after_ms(), None, "{protocol}");
    }
}

#[tokio::test]
async fn server_failures_are_retryable() {
    for protocol in PROTOCOLS {
        let model = ScriptedModel::start(protocol).await;
        model.push_error(
            503,
            error_body(protocol, "api_error", "Service Unavailable"),
            None,
        );
        let error = model_error(&model).await;
        assert!(
            matches!(&error, LlmError::Server { status: 503, message } if message == "Service Unavailable"),
            "{protocol}: {error:?}"
        );
        assert!(error.retryable());
        assert_eq!(error.code(), "MODEL_UNAVAILABLE");
        // The script has run out: the server answers 500.
        let error = model_error(&model).await;
        assert!(
            matches!(&error, LlmError::Server { status: 500, .. }),
            "{protocol}: {error:?}"
        );
        assert_eq!(model.count(), 2);
    }
    let model = ScriptedModel::start(Protocol::Anthropic).await;
    model.push_error(
        529,
        error_body(Protocol::Anthropic, "overloaded_error", "Overloaded"),
        None,
    );
    let error = model_error(&model).await;
    assert!(
        matches!(&error, LlmError::Server { status: 529, message } if message == "Overloaded"),
        "{error:?}"
    );
}

#[tokio::test]
async fn client_errors_carry_the_providers_message() {
    for protocol in PROTOCOLS {
        let model = ScriptedModel::start(protocol).await;
        let message = "messages: tool result without a matching tool call";
        model.push_error(
            400,
            error_body(protocol, "invalid_request_error", message),
            None,
        );
        let error = model_error(&model).await;
        assert!(
            matches!(&error, LlmError::Client { status: 400, message: got } if got == message),
            "{protocol}: {error:?}"
        );
        assert!(!error.retryable());
        assert_eq!(error.code(), "MODEL_REQUEST_REFUSED");
    }
}

#[tokio::test]
async fn malformed_success_bodies() {
    let common = ["not json", "", "[]", "null", r#"{"id":"x"}"#];
    let openai = [
        r#"{"choices":[]}"#,
        r#"{"choices":[{"index":0,"finish_reason":"stop"}]}"#,
        r#"{"choices":[{"message":{"content":{"text":"object"}}}]}"#,
        r#"{"choices":[{"message":{"tool_calls":[{"id":"c","function":{"arguments":"{}"}}]}}]}"#,
    ];
    let anthropic = [
        r#"{"type":"message","content":"plain text"}"#,
        r#"{"type":"message","content":[{"type":"tool_use","name":"f","input":{}}]}"#,
        r#"{"type":"message","content":[{"text":"untyped"}]}"#,
    ];
    for (protocol, specific) in [
        (Protocol::OpenAi, &openai[..]),
        (Protocol::Anthropic, &anthropic[..]),
    ] {
        let model = ScriptedModel::start(protocol).await;
        let bodies: Vec<&str> = common.iter().chain(specific).copied().collect();
        for body in &bodies {
            model.push_raw(200, *body);
        }
        for body in bodies {
            let error = model_error(&model).await;
            assert!(
                matches!(error, LlmError::Malformed(_)),
                "{protocol} {body:?}: {error:?}"
            );
            assert_eq!(error.code(), "MODEL_REPLY_MALFORMED");
            assert!(!error.retryable());
        }
    }
}

#[tokio::test]
async fn openai_compatible_answers_parse() {
    let model = ScriptedModel::start(Protocol::OpenAi).await;
    // Content null beside tool calls, and none of id, object, created.
    model.push_raw(
        200,
        json!({
            "model": "qwen2.5",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": null,
                "tool_calls": [{"id": "call_1", "type": "function",
                    "function": {"name": "lookup", "arguments": "{\"q\": \"duro\"}"}}]},
                "finish_reason": "tool_calls"}],
            "usage": {"prompt_tokens": 31, "completion_tokens": 12, "total_tokens": 43}
        })
        .to_string(),
    );
    // Ollama: no usage at all.
    model.push_raw(
        200,
        json!({
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "llama3.2",
            "system_fingerprint": "fp_ollama",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi!"},
                "finish_reason": "stop"}]
        })
        .to_string(),
    );
    let response = call(&model, &user("look it up")).await.expect("a reply");
    assert_eq!(response.content, None);
    assert_eq!(
        response.tool_calls,
        vec![ToolCall {
            id: "call_1".into(),
            name: "lookup".into(),
            arguments: "{\"q\": \"duro\"}".into(),
        }]
    );
    assert_eq!(response.finish_reason, FinishReason::ToolCalls);
    assert_eq!(
        response.usage,
        Usage {
            input_tokens: 31,
            output_tokens: 12
        }
    );
    let response = call(&model, &user("hi")).await.expect("a reply");
    assert_eq!(response.model, "llama3.2");
    assert_eq!(response.content.as_deref(), Some("Hi!"));
    assert_eq!(response.usage, Usage::default());
}

#[tokio::test]
async fn the_api_key_never_appears_in_errors() {
    let mut errors: Vec<SendError> = Vec::new();
    for protocol in PROTOCOLS {
        let model = ScriptedModel::start(protocol).await;
        // OpenAI quotes part of a wrong key back in its 401.
        let quoted = "Incorrect API key provided: sk-test-****5f60. You can find your API key at https://platform.openai.com/account/api-keys.";
        model.push_error(
            401,
            error_body(protocol, "authentication_error", quoted),
            None,
        );
        model.push_error(
            429,
            error_body(
                protocol,
                "rate_limit_error",
                &format!("key {API_KEY} over quota"),
            ),
            Some("1"),
        );
        model.push_error(
            500,
            json!({"error": format!("Bearer {API_KEY} refused")}),
            None,
        );
        model.push_raw(200, format!("not json {API_KEY}"));
        for _ in 0..4 {
            errors.push(call(&model, &user("hi")).await.expect_err("a failure"));
        }
        // Nothing listens any more: a transport failure.
        let base_url = model.base_url.clone();
        drop(model);
        errors.push(
            llm::send(
                &client(),
                protocol,
                &base_url,
                &credentials(),
                &user("hi"),
                Duration::from_secs(5),
            )
            .await
            .expect_err("nothing listens"),
        );
        // A request that cannot be built.
        errors.push(
            call(&ScriptedModel::start(protocol).await, &user_without_model())
                .await
                .expect_err("no model"),
        );
    }
    let codes: Vec<&str> = errors.iter().map(SendError::code).collect();
    assert_eq!(
        codes,
        [
            "MODEL_REQUEST_REFUSED",
            "MODEL_RATE_LIMITED",
            "MODEL_UNAVAILABLE",
            "MODEL_REPLY_MALFORMED",
            "NETWORK",
            "BAD_REQUEST",
        ]
        .repeat(2)
    );
    for error in &errors {
        assert_no_key(&error.to_string());
        assert_no_key(&format!("{error:?}"));
    }
    let refused = errors[0].to_string();
    assert!(
        refused.contains("Incorrect API key provided: [redacted]"),
        "{refused}"
    );
}

fn user_without_model() -> ModelRequest {
    let mut request = user("hi");
    request.model = String::new();
    request
}

#[tokio::test]
async fn build_and_parse_without_the_send_helper() {
    // The engine's own path: build the call, send it through its client, parse the answer.
    let model = ScriptedModel::start(Protocol::Anthropic).await;
    model.push_text("fine");
    let call = llm::build_request(
        Protocol::Anthropic,
        &model.base_url,
        &credentials(),
        &user("hi"),
    )
    .expect("builds");
    let response = client()
        .send(outbound::OutboundRequest {
            method: call.method,
            url: call.url,
            headers: call.headers,
            body: Some(call.body),
            timeout: Duration::from_secs(10),
        })
        .await
        .expect("sent");
    let answer = llm::parse_response(
        Protocol::Anthropic,
        response.status,
        &response.headers,
        &response.body,
    )
    .expect("parses");
    assert_eq!(answer.content.as_deref(), Some("fine"));
    assert_eq!(model.remaining(), 0);
}
