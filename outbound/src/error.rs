//! The one error type of outbound calls, with the stable codes callers put in step failures.

use std::error::Error as _;
use std::net::IpAddr;

use crate::policy::{address_note, Denial};
use crate::resolver::ResolveError;

/// Why an outbound call failed.
#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    /// The policy refused the address (or every address) the host leads to. Names the host,
    /// so the user sees which URL or redirect hop was refused.
    #[error("outbound call to {host} denied: {reason}{}", address_note_opt(.host, *.address))]
    Denied {
        host: String,
        address: Option<IpAddr>,
        reason: String,
    },
    /// The response body is longer than the policy's `max_response_bytes`; the rest was not read.
    #[error("response body exceeds {limit} bytes")]
    TooLarge { limit: usize },
    /// The server redirected more than the policy's `max_redirects` times.
    #[error("more than {limit} redirects")]
    TooManyRedirects { limit: usize },
    /// The call, redirects and body included, did not finish within its timeout.
    #[error("timed out: {0}")]
    Timeout(String),
    /// Connecting, sending or receiving failed; another try may succeed.
    #[error("network error: {0}")]
    Network(String),
    /// The request cannot be sent as given: bad URL, method or header.
    #[error("bad request: {0}")]
    BadRequest(String),
}

impl OutboundError {
    /// The stable code for step failures and API responses.
    pub fn code(&self) -> &'static str {
        match self {
            OutboundError::Denied { .. } => "OUTBOUND_DENIED",
            OutboundError::TooLarge { .. } => "RESPONSE_TOO_LARGE",
            OutboundError::TooManyRedirects { .. } => "TOO_MANY_REDIRECTS",
            OutboundError::Timeout(_) => "TIMEOUT",
            OutboundError::Network(_) => "NETWORK",
            OutboundError::BadRequest(_) => "BAD_REQUEST",
        }
    }

    /// Whether retrying the same call may succeed. Only timeouts and network failures are
    /// transient; a denial, a limit or a bad request fails the same way every time.
    pub fn retryable(&self) -> bool {
        matches!(self, OutboundError::Timeout(_) | OutboundError::Network(_))
    }

    /// Classifies a reqwest failure. A denial raised inside the resolver comes back wrapped
    /// in reqwest's and hyper's errors; it is found in the source chain and reported as
    /// `Denied`, not as the connection failure it looks like.
    pub(crate) fn from_reqwest(error: reqwest::Error) -> OutboundError {
        let mut source: Option<&(dyn std::error::Error + 'static)> = error.source();
        while let Some(cause) = source {
            if let Some(denial) = cause.downcast_ref::<Denial>() {
                return denial.clone().into();
            }
            source = cause.source();
        }
        let message = error_chain(&error);
        if error.is_timeout() {
            OutboundError::Timeout(message)
        } else if error.is_builder() {
            OutboundError::BadRequest(message)
        } else {
            OutboundError::Network(message)
        }
    }
}

impl From<Denial> for OutboundError {
    fn from(denial: Denial) -> Self {
        OutboundError::Denied {
            host: denial.host,
            address: Some(denial.address),
            reason: denial.reason.to_string(),
        }
    }
}

impl From<ResolveError> for OutboundError {
    fn from(error: ResolveError) -> Self {
        match error {
            ResolveError::Denied(denial) => denial.into(),
            lookup @ ResolveError::Lookup { .. } => OutboundError::Network(lookup.to_string()),
        }
    }
}

fn address_note_opt(host: &str, address: Option<IpAddr>) -> String {
    address
        .map(|address| address_note(host, address))
        .unwrap_or_default()
}

/// The error and its causes on one line: reqwest's own message ("error sending request")
/// says little without them.
fn error_chain(error: &reqwest::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_retryability() {
        let cases = [
            (
                OutboundError::Denied {
                    host: "h".into(),
                    address: None,
                    reason: "r".into(),
                },
                "OUTBOUND_DENIED",
                false,
            ),
            (
                OutboundError::TooLarge { limit: 1 },
                "RESPONSE_TOO_LARGE",
                false,
            ),
            (
                OutboundError::TooManyRedirects { limit: 1 },
                "TOO_MANY_REDIRECTS",
                false,
            ),
            (OutboundError::Timeout("t".into()), "TIMEOUT", true),
            (OutboundError::Network("n".into()), "NETWORK", true),
            (OutboundError::BadRequest("b".into()), "BAD_REQUEST", false),
        ];
        for (error, code, retryable) in cases {
            assert_eq!(error.code(), code);
            assert_eq!(error.retryable(), retryable, "{code}");
        }
        assert_eq!(
            OutboundError::TooLarge { limit: 10485760 }.to_string(),
            "response body exceeds 10485760 bytes"
        );
    }
}
