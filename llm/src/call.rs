//! One model call as HTTP: the request for a protocol ([`build_request`]) and the meaning of
//! its answer ([`parse_response`]): status codes, `Retry-After`, the provider's error message.
//!
//! Pure but for one clock read, turning a `Retry-After` HTTP date into a delay. Headers of the
//! request never reach an error: they hold the API key.

use std::time::{Duration, SystemTime};

use serde_json::Value;

use crate::error::LlmError;
use crate::redact::scrub;
use crate::types::{ModelRequest, ModelResponse, Protocol};
use crate::{anthropic, openai};

/// The HTTP request of one model call, ready for the engine's guarded client.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpCall {
    /// Always `POST`.
    pub method: String,
    pub url: String,
    /// The credential headers (rewritten for the protocol) and the content headers.
    pub headers: Vec<(String, String)>,
    /// The JSON body.
    pub body: Vec<u8>,
}

/// Header values are left out: they hold the API key, and a `{:?}` of a call ends up in logs.
impl std::fmt::Debug for HttpCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let header_names: Vec<&str> = self.headers.iter().map(|(name, _)| name.as_str()).collect();
        f.debug_struct("HttpCall")
            .field("method", &self.method)
            .field("url", &self.url)
            .field("header_names", &header_names)
            .field("body_bytes", &self.body.len())
            .finish()
    }
}

/// Builds the HTTP request of one call.
///
/// `base_url` is the connection's (an empty one means [`Protocol::default_base_url`]); the
/// protocol's path is appended to it (`/chat/completions`, `/v1/messages`), before any query
/// string (Azure OpenAI's `?api-version=`). For Anthropic a base URL ending in `/v1` is taken
/// to mean the API root, a frequent way of writing it.
///
/// `credential_headers` are the connection's headers as the engine has them (e.g.
/// `Authorization: Bearer sk-...`), sent as they are, except that for Anthropic an
/// `Authorization: Bearer X` becomes `x-api-key: X` (an `x-api-key` header is passed as is) and
/// `anthropic-version: 2023-06-01` is added unless the connection sets its own.
pub fn build_request(
    protocol: Protocol,
    base_url: &str,
    credential_headers: &[(String, String)],
    request: &ModelRequest,
) -> Result<HttpCall, LlmError> {
    build(protocol, base_url, credential_headers, request, false)
}

/// [`build_request`], asking the provider to stream its answer as Server-Sent Events
/// (`"stream": true`; for OpenAI also `"stream_options": {"include_usage": true}`, so the
/// last chunk counts the tokens). [`parse_response`] reads either kind of answer, and
/// [`crate::StreamDecoder`] gives the text deltas while the body arrives.
pub fn build_streaming_request(
    protocol: Protocol,
    base_url: &str,
    credential_headers: &[(String, String)],
    request: &ModelRequest,
) -> Result<HttpCall, LlmError> {
    build(protocol, base_url, credential_headers, request, true)
}

fn build(
    protocol: Protocol,
    base_url: &str,
    credential_headers: &[(String, String)],
    request: &ModelRequest,
    stream: bool,
) -> Result<HttpCall, LlmError> {
    check_request(request)?;
    let mut body = match protocol {
        Protocol::OpenAi => openai::request_body(request),
        Protocol::Anthropic => anthropic::request_body(request)?,
    };
    if stream {
        if let Some(object) = body.as_object_mut() {
            object.insert("stream".into(), Value::Bool(true));
            if protocol == Protocol::OpenAi {
                object.insert(
                    "stream_options".into(),
                    serde_json::json!({"include_usage": true}),
                );
            }
        }
    }
    let body = serde_json::to_vec(&body).map_err(|error| {
        LlmError::BadRequest(format!("the request does not serialize: {error}"))
    })?;
    Ok(HttpCall {
        method: "POST".to_string(),
        url: endpoint(protocol, base_url)?,
        headers: headers(protocol, credential_headers),
        body,
    })
}

/// Interprets the answer to a call made with [`build_request`].
///
/// - 2xx: the protocol's answer, normalized; a body that does not parse or lacks the answer's
///   required parts is [`LlmError::Malformed`]. A streamed answer (`text/event-stream`) is
///   folded into the same normalized answer; one that failed or was cut part-way is
///   [`LlmError::Stream`].
/// - 429: [`LlmError::RateLimited`], with the delay from `retry-after-ms` (sent by OpenAI) or
///   `Retry-After` (seconds or an HTTP date; Anthropic sends seconds).
/// - 5xx and Anthropic's 529 (overloaded): [`LlmError::Server`].
/// - Other 4xx: [`LlmError::Client`], with the provider's error message (`error.message` in
///   both protocols; `error` as text, `message` or `detail` for some compatible servers).
/// - Anything else (a 1xx or 3xx that reached us): [`LlmError::Malformed`].
pub fn parse_response(
    protocol: Protocol,
    status: u16,
    headers: &[(String, String)],
    body: &[u8],
) -> Result<ModelResponse, LlmError> {
    match status {
        200..=299 if crate::stream::is_event_stream(headers, body) => {
            crate::stream::parse_stream(protocol, body)
        }
        200..=299 => match protocol {
            Protocol::OpenAi => openai::parse_answer(body),
            Protocol::Anthropic => anthropic::parse_answer(body),
        },
        429 => Err(LlmError::RateLimited {
            retry_after_ms: retry_after_ms(headers, SystemTime::now()),
            message: error_message(body),
        }),
        500..=599 => Err(LlmError::Server {
            status,
            message: error_message(body),
        }),
        400..=499 => Err(LlmError::Client {
            status,
            message: error_message(body),
        }),
        _ => Err(LlmError::Malformed(format!(
            "unexpected HTTP status {status}"
        ))),
    }
}

fn check_request(request: &ModelRequest) -> Result<(), LlmError> {
    if request.model.trim().is_empty() {
        return Err(LlmError::BadRequest("no model named".into()));
    }
    if request.messages.is_empty() {
        return Err(LlmError::BadRequest("no messages".into()));
    }
    if request.max_tokens == Some(0) {
        return Err(LlmError::BadRequest("max_tokens must be at least 1".into()));
    }
    if let Some(temperature) = request.temperature {
        // JSON has no NaN or infinity: serde_json would send `null`.
        if !temperature.is_finite() || temperature < 0.0 {
            return Err(LlmError::BadRequest(format!(
                "temperature must be a number from 0, not {temperature}"
            )));
        }
    }
    Ok(())
}

fn endpoint(protocol: Protocol, base_url: &str) -> Result<String, LlmError> {
    let base_url = match base_url.trim() {
        "" => protocol.default_base_url(),
        given => given,
    };
    if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
        return Err(LlmError::BadRequest(format!(
            "base URL {base_url:?} is not an http or https URL"
        )));
    }
    let (root, query) = match base_url.split_once('?') {
        Some((root, query)) => (root, Some(query)),
        None => (base_url, None),
    };
    let root = root.trim_end_matches('/');
    let url = match protocol {
        Protocol::OpenAi => format!("{root}{}", openai::PATH),
        Protocol::Anthropic => {
            let root = root.strip_suffix("/v1").unwrap_or(root);
            format!("{root}{}", anthropic::PATH)
        }
    };
    Ok(match query {
        Some(query) => format!("{url}?{query}"),
        None => url,
    })
}

fn headers(protocol: Protocol, credential_headers: &[(String, String)]) -> Vec<(String, String)> {
    let mut headers = vec![
        ("content-type".to_string(), "application/json".to_string()),
        ("accept".to_string(), "application/json".to_string()),
    ];
    // The body's headers are ours; everything else the connection sets is passed on.
    let passed = credential_headers.iter().filter(|(name, _)| {
        !name.eq_ignore_ascii_case("content-type") && !name.eq_ignore_ascii_case("accept")
    });
    match protocol {
        Protocol::OpenAi => headers.extend(passed.cloned()),
        Protocol::Anthropic => {
            for (name, value) in passed {
                let bearer = name
                    .eq_ignore_ascii_case("authorization")
                    .then(|| bearer_token(value))
                    .flatten();
                match bearer {
                    Some(key) => headers.push(("x-api-key".to_string(), key.to_string())),
                    None => headers.push((name.clone(), value.clone())),
                }
            }
            if !has_header(credential_headers, "anthropic-version") {
                headers.push((
                    "anthropic-version".to_string(),
                    anthropic::API_VERSION.to_string(),
                ));
            }
        }
    }
    headers
}

fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|token| !token.is_empty())
}

fn has_header(headers: &[(String, String)], name: &str) -> bool {
    header(headers, name).is_some()
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(candidate, _)| candidate.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.trim())
}

/// The delay a 429 asks for: `retry-after-ms` (milliseconds, OpenAI), else `Retry-After` as
/// seconds or as an HTTP date (a date in the past is no delay).
fn retry_after_ms(headers: &[(String, String)], now: SystemTime) -> Option<u64> {
    if let Some(ms) = header(headers, "retry-after-ms").and_then(non_negative) {
        return Some(ms.ceil() as u64);
    }
    let value = header(headers, "retry-after")?;
    if let Some(seconds) = non_negative(value) {
        return Some((seconds * 1000.0).ceil() as u64);
    }
    let date = httpdate::parse_http_date(value).ok()?;
    let delay = date.duration_since(now).unwrap_or(Duration::ZERO);
    Some(u64::try_from(delay.as_millis()).unwrap_or(u64::MAX))
}

fn non_negative(text: &str) -> Option<f64> {
    text.parse::<f64>()
        .ok()
        .filter(|number| number.is_finite() && *number >= 0.0)
}

/// The provider's message in an error body, scrubbed of key-like text; the body itself when
/// it is not JSON.
fn error_message(body: &[u8]) -> String {
    let message = match serde_json::from_slice::<Value>(body) {
        Ok(value) => value
            .get("error")
            .and_then(error_message_of)
            .or_else(|| text_field(&value, "message"))
            .or_else(|| text_field(&value, "detail"))
            .unwrap_or_else(|| scrub(&value.to_string())),
        Err(_) => scrub(&String::from_utf8_lossy(body)),
    };
    if message.is_empty() {
        "no message".to_string()
    } else {
        message
    }
}

/// The message of an `error` member: `{"message": ...}` (OpenAI, Anthropic) or a text
/// (Ollama's native errors, some proxies).
pub(crate) fn error_message_of(error: &Value) -> Option<String> {
    match error {
        Value::String(text) => Some(scrub(text)),
        Value::Object(_) => text_field(error, "message"),
        _ => None,
    }
}

fn text_field(value: &Value, name: &str) -> Option<String> {
    value.get(name).and_then(Value::as_str).map(scrub)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Message;

    fn request() -> ModelRequest {
        ModelRequest {
            model: "m".into(),
            system: None,
            messages: vec![Message::User {
                content: "hi".into(),
            }],
            tools: vec![],
            max_tokens: None,
            temperature: None,
        }
    }

    fn pairs(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect()
    }

    #[test]
    fn endpoints() {
        let cases = [
            (Protocol::OpenAi, "", "https://api.openai.com/v1/chat/completions"),
            (
                Protocol::OpenAi,
                "http://localhost:11434/v1/",
                "http://localhost:11434/v1/chat/completions",
            ),
            (
                Protocol::OpenAi,
                "https://x.openai.azure.com/openai/deployments/d?api-version=2024-10-21",
                "https://x.openai.azure.com/openai/deployments/d/chat/completions?api-version=2024-10-21",
            ),
            (Protocol::Anthropic, "", "https://api.anthropic.com/v1/messages"),
            (
                Protocol::Anthropic,
                "https://api.anthropic.com/v1/",
                "https://api.anthropic.com/v1/messages",
            ),
            (
                Protocol::Anthropic,
                "http://127.0.0.1:9000",
                "http://127.0.0.1:9000/v1/messages",
            ),
        ];
        for (protocol, base_url, expected) in cases {
            assert_eq!(endpoint(protocol, base_url).expect("valid"), expected);
        }
        assert!(matches!(
            endpoint(Protocol::OpenAi, "ftp://example.com"),
            Err(LlmError::BadRequest(_))
        ));
    }

    #[test]
    fn credential_headers_per_protocol() {
        let credentials = pairs(&[("Authorization", "Bearer sk-secret"), ("X-Org", "o")]);
        let call = build_request(Protocol::OpenAi, "", &credentials, &request()).expect("builds");
        assert_eq!(
            call.headers,
            pairs(&[
                ("content-type", "application/json"),
                ("accept", "application/json"),
                ("Authorization", "Bearer sk-secret"),
                ("X-Org", "o"),
            ])
        );
        let call =
            build_request(Protocol::Anthropic, "", &credentials, &request()).expect("builds");
        let debug = format!("{call:?}");
        assert!(!debug.contains("secret"), "{debug}");
        assert_eq!(
            call.headers,
            pairs(&[
                ("content-type", "application/json"),
                ("accept", "application/json"),
                ("x-api-key", "sk-secret"),
                ("X-Org", "o"),
                ("anthropic-version", "2023-06-01"),
            ])
        );
        let credentials = pairs(&[("x-api-key", "k"), ("anthropic-version", "2024-01-01")]);
        let call =
            build_request(Protocol::Anthropic, "", &credentials, &request()).expect("builds");
        assert_eq!(
            call.headers[2..],
            pairs(&[("x-api-key", "k"), ("anthropic-version", "2024-01-01")])
        );
    }

    #[test]
    fn requests_that_cannot_be_sent_are_refused() {
        let mut no_model = request();
        no_model.model = " ".into();
        let mut no_messages = request();
        no_messages.messages.clear();
        let mut zero_tokens = request();
        zero_tokens.max_tokens = Some(0);
        let mut nan = request();
        nan.temperature = Some(f64::NAN);
        for (name, request) in [
            ("no model", no_model),
            ("no messages", no_messages),
            ("zero tokens", zero_tokens),
            ("NaN temperature", nan),
        ] {
            for protocol in [Protocol::OpenAi, Protocol::Anthropic] {
                let error = build_request(protocol, "", &[], &request).expect_err(name);
                assert_eq!(error.code(), "BAD_REQUEST", "{name}");
            }
        }
    }

    #[test]
    fn retry_after_forms() {
        let now = httpdate::parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT").expect("date");
        let cases = [
            (vec![("Retry-After", "2")], Some(2000)),
            (vec![("retry-after", "0.5")], Some(500)),
            (
                vec![("retry-after-ms", "150.2"), ("retry-after", "9")],
                Some(151),
            ),
            (
                vec![("Retry-After", "Wed, 21 Oct 2015 07:28:30 GMT")],
                Some(30_000),
            ),
            (
                vec![("Retry-After", "Wed, 21 Oct 2015 07:27:00 GMT")],
                Some(0),
            ),
            (vec![("Retry-After", "soon")], None),
            (vec![("Retry-After", "-1")], None),
            (vec![], None),
        ];
        for (headers, expected) in cases {
            let headers = pairs(&headers);
            assert_eq!(retry_after_ms(&headers, now), expected, "{headers:?}");
        }
    }

    #[test]
    fn statuses_and_error_messages() {
        let parse = |status: u16, body: &str| {
            parse_response(Protocol::OpenAi, status, &[], body.as_bytes()).expect_err("error")
        };
        let cases = [
            (
                429,
                r#"{"error":{"message":"slow"}}"#,
                "MODEL_RATE_LIMITED",
                "slow",
            ),
            (500, "", "MODEL_UNAVAILABLE", "no message"),
            (
                529,
                r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
                "MODEL_UNAVAILABLE",
                "Overloaded",
            ),
            (
                404,
                r#"{"error":"model \"x\" not found"}"#,
                "MODEL_REQUEST_REFUSED",
                "model \"x\" not found",
            ),
            (
                400,
                r#"{"object":"error","message":"bad messages"}"#,
                "MODEL_REQUEST_REFUSED",
                "bad messages",
            ),
            (
                422,
                r#"{"detail":"invalid"}"#,
                "MODEL_REQUEST_REFUSED",
                "invalid",
            ),
            (
                401,
                "<html>nope</html>",
                "MODEL_REQUEST_REFUSED",
                "<html>nope</html>",
            ),
            (
                302,
                "",
                "MODEL_REPLY_MALFORMED",
                "unexpected HTTP status 302",
            ),
        ];
        for (status, body, code, message) in cases {
            let error = parse(status, body);
            assert_eq!(error.code(), code, "{status}");
            assert!(error.to_string().contains(message), "{status}: {error}");
        }
    }
}
