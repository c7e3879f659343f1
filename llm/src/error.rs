//! The one error type of model calls, with the stable codes the engine puts in step failures.

/// Why a model call failed. Messages come from the provider's answer (scrubbed of anything
/// that looks like an API key) or from this crate; never from the request's headers.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    /// 429: the provider asks to slow down, for `retry_after_ms` if it said.
    #[error("model rate limited{}: {message}", retry_note(*.retry_after_ms))]
    RateLimited {
        retry_after_ms: Option<u64>,
        message: String,
    },
    /// 5xx, or Anthropic's 529 (overloaded): the provider failed; a later try may succeed.
    #[error("model unavailable (HTTP {status}): {message}")]
    Server { status: u16, message: String },
    /// Any other 4xx: the provider refused this request (bad key, unknown model, invalid
    /// messages) and will refuse it again.
    #[error("model refused the request (HTTP {status}): {message}")]
    Client { status: u16, message: String },
    /// A streamed answer reported an error part-way (Anthropic's `overloaded_error`), or ended
    /// before it was complete (the connection cut): a later try may succeed.
    #[error("model stream failed: {0}")]
    Stream(String),
    /// A success status whose body is not the protocol's answer.
    #[error("model reply malformed: {0}")]
    Malformed(String),
    /// The request cannot be built as given (no model, a tool call whose arguments Anthropic
    /// cannot carry, ...); nothing was sent.
    #[error("bad model request: {0}")]
    BadRequest(String),
}

impl LlmError {
    /// The stable code for step failures and API responses.
    pub fn code(&self) -> &'static str {
        match self {
            LlmError::RateLimited { .. } => "MODEL_RATE_LIMITED",
            LlmError::Server { .. } | LlmError::Stream(_) => "MODEL_UNAVAILABLE",
            LlmError::Client { .. } => "MODEL_REQUEST_REFUSED",
            LlmError::Malformed(_) => "MODEL_REPLY_MALFORMED",
            LlmError::BadRequest(_) => "BAD_REQUEST",
        }
    }

    /// Whether the same call may succeed later: only rate limits and server failures. A
    /// malformed reply is not retried: a server that answers 200 with the wrong shape
    /// usually does so every time, and each try is billed.
    pub fn retryable(&self) -> bool {
        matches!(
            self,
            LlmError::RateLimited { .. } | LlmError::Server { .. } | LlmError::Stream(_)
        )
    }

    /// How long the provider asked to wait before the next try, if it said.
    pub fn retry_after_ms(&self) -> Option<u64> {
        match self {
            LlmError::RateLimited { retry_after_ms, .. } => *retry_after_ms,
            _ => None,
        }
    }
}

fn retry_note(retry_after_ms: Option<u64>) -> String {
    retry_after_ms
        .map(|ms| format!(" (retry after {ms} ms)"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_retryability_and_delays() {
        let cases = [
            (
                LlmError::RateLimited {
                    retry_after_ms: Some(2000),
                    message: "slow down".into(),
                },
                "MODEL_RATE_LIMITED",
                true,
                Some(2000),
            ),
            (
                LlmError::Server {
                    status: 529,
                    message: "overloaded".into(),
                },
                "MODEL_UNAVAILABLE",
                true,
                None,
            ),
            (
                LlmError::Client {
                    status: 400,
                    message: "bad".into(),
                },
                "MODEL_REQUEST_REFUSED",
                false,
                None,
            ),
            (
                LlmError::Malformed("m".into()),
                "MODEL_REPLY_MALFORMED",
                false,
                None,
            ),
            (LlmError::BadRequest("b".into()), "BAD_REQUEST", false, None),
        ];
        for (error, code, retryable, retry_after_ms) in cases {
            assert_eq!(error.code(), code);
            assert_eq!(error.retryable(), retryable, "{code}");
            assert_eq!(error.retry_after_ms(), retry_after_ms, "{code}");
        }
        let limited = LlmError::RateLimited {
            retry_after_ms: Some(2000),
            message: "slow down".into(),
        };
        assert_eq!(
            limited.to_string(),
            "model rate limited (retry after 2000 ms): slow down"
        );
    }
}
