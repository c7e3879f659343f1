//! One model call through the engine's guarded client: build, send, parse (feature
//! `outbound`). No retries: a failure says whether it is worth one.

use std::time::Duration;

use outbound::{Outbound, OutboundError, OutboundRequest};

use crate::call::{build_request, parse_response};
use crate::error::LlmError;
use crate::types::{ModelRequest, ModelResponse, Protocol};

/// Why [`send`] failed: the call did not complete, or the model's answer was a failure.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Denied by the outbound policy, timed out, a network failure, a body over the limit.
    #[error(transparent)]
    Transport(OutboundError),
    /// The request could not be built, or the provider answered with a failure.
    #[error(transparent)]
    Model(LlmError),
}

impl SendError {
    /// The stable code: the outbound client's (`TIMEOUT`, `OUTBOUND_DENIED`, ...) or the
    /// model's (`MODEL_RATE_LIMITED`, ...).
    pub fn code(&self) -> &'static str {
        match self {
            SendError::Transport(error) => error.code(),
            SendError::Model(error) => error.code(),
        }
    }

    pub fn retryable(&self) -> bool {
        match self {
            SendError::Transport(error) => error.retryable(),
            SendError::Model(error) => error.retryable(),
        }
    }

    pub fn retry_after_ms(&self) -> Option<u64> {
        match self {
            SendError::Transport(_) => None,
            SendError::Model(error) => error.retry_after_ms(),
        }
    }
}

/// Sends one model call through `outbound` and parses the answer; `timeout` bounds the
/// whole call, reading the body included. See [`build_request`] for `base_url` and
/// `credential_headers`.
pub async fn send(
    outbound: &Outbound,
    protocol: Protocol,
    base_url: &str,
    credential_headers: &[(String, String)],
    request: &ModelRequest,
    timeout: Duration,
) -> Result<ModelResponse, SendError> {
    let call =
        build_request(protocol, base_url, credential_headers, request).map_err(SendError::Model)?;
    let response = outbound
        .send(OutboundRequest {
            method: call.method,
            url: call.url,
            headers: call.headers,
            body: Some(call.body),
            timeout,
        })
        .await
        .map_err(SendError::Transport)?;
    parse_response(protocol, response.status, &response.headers, &response.body)
        .map_err(SendError::Model)
}
