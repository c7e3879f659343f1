//! The model side of `agent` steps: the HTTP request of one model call in a provider's wire
//! protocol, and its answer parsed into one normalized shape.
//!
//! The engine journals every [`ModelResponse`] before it runs the tools the model asked for,
//! and replays from the journal without calling the model again; this crate only turns a
//! [`ModelRequest`] into an [`HttpCall`] ([`build_request`]) and an HTTP answer into a
//! [`ModelResponse`] or an [`LlmError`] ([`parse_response`]). Both are pure: no I/O, no clock
//! (except to turn a `Retry-After` date into a delay), no retries. Sending is the caller's, through
//! the guarded client; with the `outbound` feature, `send` does build, send and parse in one
//! call. The retry policy stays the engine's: [`LlmError::retryable`] and
//! [`LlmError::retry_after_ms`] only say what the provider answered.
//!
//! Two protocols: [`Protocol::OpenAi`] (Chat Completions, also spoken by Azure OpenAI, Ollama,
//! vLLM, llama.cpp, LM Studio, OpenRouter, LiteLLM) and [`Protocol::Anthropic`] (Messages).
//! The wire types are our own, small and lenient (decision 0008): an OpenAI-compatible server
//! that leaves out `usage`, `id` or `object` still parses.
//!
//! Module map: `types` (the provider-neutral request and answer), `call` (protocol dispatch,
//! status codes, `Retry-After`), `openai` and `anthropic` (one wire protocol each, pure),
//! `stream` (streamed answers: live text deltas, and the whole stream folded into one answer),
//! `error`, `redact` (keeps key-like text out of error messages), `send` (feature `outbound`),
//! `test_server` (feature `test-server`: scripted model servers on loopback for tests).
//!
//! Error messages never carry request headers: they hold the API key.
#![deny(clippy::unwrap_used)]

mod anthropic;
mod call;
mod error;
mod openai;
mod redact;
#[cfg(feature = "outbound")]
mod send;
mod stream;
#[cfg(feature = "test-server")]
pub mod test_server;
#[cfg(feature = "test-server")]
mod test_stream;
mod types;

pub use call::{build_request, build_streaming_request, parse_response, HttpCall};
pub use error::LlmError;
#[cfg(feature = "outbound")]
pub use send::{send, SendError};
pub use stream::StreamDecoder;
pub use types::{
    FinishReason, Message, ModelRequest, ModelResponse, Protocol, ToolCall, ToolSpec, Usage,
    ANTHROPIC_MAX_TOKENS_DEFAULT,
};
