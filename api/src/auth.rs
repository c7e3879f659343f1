//! Who is calling and what they may do: the API key from `x-api-key` or
//! `Authorization: Bearer`, the scope a route needs, and the per-key rate limit of the
//! execute routes. A missing or unknown key is 401, a key without the scope 403.

use std::num::NonZeroU32;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

use crate::error::ApiError;
use crate::AppState;
use credentials::keys::{KeyInfo, Scope};

/// The presented secret, if any. `x-api-key` wins when both are sent.
fn presented_secret(headers: &HeaderMap) -> Option<&str> {
    if let Some(value) = headers.get("x-api-key") {
        return value.to_str().ok().map(str::trim);
    }
    let authorization = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = authorization.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

/// Middleware: the request's key must exist, be active and hold `scope`. The key's info is
/// put in the request's extensions for the handlers and the rate limiter.
pub async fn require_scope(
    State((state, scope)): State<(AppState, Scope)>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let key = authenticate(&state, request.headers()).await?;
    if !key.allows(scope) {
        return Err(ApiError::Forbidden(format!(
            "API key {} lacks the scope {scope} that this route needs",
            key.id
        )));
    }
    request.extensions_mut().insert(key);
    Ok(next.run(request).await)
}

/// The active key the headers present; 401 otherwise.
pub async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<KeyInfo, ApiError> {
    let Some(secret) = presented_secret(headers).filter(|s| !s.is_empty()) else {
        return Err(ApiError::Unauthorized(
            "Missing API key: send it in the x-api-key header or as Authorization: Bearer"
                .to_owned(),
        ));
    };
    match state.keys.authenticate(secret).await? {
        Some(key) if !key.is_revoked() => Ok(key),
        _ => Err(ApiError::Unauthorized("Invalid API key".to_owned())),
    }
}

/// The limiter's time: tokio's monotonic clock, which is the machine's in production and the
/// test's under tokio's paused time, like every other wait in Duro. A test then sends its
/// 501 requests in no time, however slow the machine.
#[derive(Clone, Copy, Debug, Default)]
struct TokioTime;

impl Clock for TokioTime {
    type Instant = std::time::Instant;

    fn now(&self) -> std::time::Instant {
        tokio::time::Instant::now().into_std()
    }
}

type KeyedLimiter = RateLimiter<
    String,
    DefaultKeyedStateStore<String>,
    TokioTime,
    NoOpMiddleware<std::time::Instant>,
>;

/// Per-key GCRA limits (governor). Keyed by key id, so the table holds at most one entry
/// per API key that exists.
pub struct RateLimits {
    execute: KeyedLimiter,
    execute_per_minute: u32,
}

impl RateLimits {
    pub fn new(execute_per_minute: u32) -> RateLimits {
        let per_minute = NonZeroU32::new(execute_per_minute).unwrap_or(NonZeroU32::MIN);
        RateLimits {
            execute: RateLimiter::new(
                Quota::per_minute(per_minute),
                DefaultKeyedStateStore::default(),
                TokioTime,
            ),
            execute_per_minute: per_minute.get(),
        }
    }

    /// Takes one execute request from `key_id`'s allowance.
    pub fn check_execute(&self, key_id: &str) -> Result<(), ApiError> {
        self.execute
            .check_key(&key_id.to_owned())
            .map_err(|not_until| {
                let wait = not_until.wait_time_from(TokioTime.now());
                ApiError::RateLimited {
                    limit: self.execute_per_minute,
                    retry_after_secs: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
                }
            })
    }
}

/// Middleware for run/execute routes, after `require_scope`: one request from the key's
/// execute allowance.
pub async fn limit_execute(
    State(limits): State<Arc<RateLimits>>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let key = request
        .extensions()
        .get::<KeyInfo>()
        .ok_or_else(|| ApiError::Internal("rate limit applied before authentication".into()))?;
    limits.check_execute(&key.id)?;
    Ok(next.run(request).await)
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn keys_are_read_from_either_header() {
        let mut headers = HeaderMap::new();
        assert_eq!(presented_secret(&headers), None);
        headers.insert("authorization", HeaderValue::from_static("Bearer  abc "));
        assert_eq!(presented_secret(&headers), Some("abc"));
        headers.insert("x-api-key", HeaderValue::from_static("xyz"));
        assert_eq!(presented_secret(&headers), Some("xyz"));
        let mut basic = HeaderMap::new();
        basic.insert("authorization", HeaderValue::from_static("Basic abc"));
        assert_eq!(presented_secret(&basic), None);
    }

    #[test]
    fn the_execute_limit_is_per_key() {
        let limits = RateLimits::new(3);
        for _ in 0..3 {
            limits.check_execute("a").expect("within the limit");
        }
        match limits.check_execute("a") {
            Err(ApiError::RateLimited {
                limit,
                retry_after_secs,
            }) => {
                assert_eq!(limit, 3);
                assert!((1..=20).contains(&retry_after_secs), "{retry_after_secs}");
            }
            other => panic!("expected RATE_LIMITED, got {other:?}"),
        }
        limits
            .check_execute("b")
            .expect("another key is unaffected");
    }
}
