//! Errors on StackAI's paths, as the FastAPI service the seed documents answers them: a
//! validation error is 422 `{"detail": [{"loc": [...], "msg": "...", "type": "..."}]}`,
//! with `loc` starting at `body`, `path` or `query` (`["body", "trigger_config", "url"]`,
//! `["path", "project_trigger_id"]`) and pydantic's `type` names (`missing`,
//! `extra_forbidden`, `string_type`, `uuid_parsing`, `dict_type`, `json_invalid`,
//! `value_error`); anything else is `{"detail": "message"}` with its status (404 not found,
//! 401, 403, 400, 409, 429 with Retry-After, 413, 500 without internals).
//!
//! Handlers return [`StackError`]; errors made before a handler runs (a missing key, a
//! scope) are Duro's envelope and [`plain_errors`] rewrites them on these paths. Both share
//! `ApiError`'s statuses, so a condition has one status on every path.

use axum::body::{to_bytes, Body, Bytes};
use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::AppState;

/// Largest error body the envelope rewrite reads (envelopes are small).
const ENVELOPE_BYTES_MAX: usize = 64 * 1024;

/// One FastAPI validation problem.
#[derive(Clone, Debug, PartialEq)]
pub struct Problem {
    pub loc: Vec<Value>,
    pub msg: String,
    pub kind: &'static str,
}

impl Problem {
    pub fn new(loc: &[&str], msg: impl Into<String>, kind: &'static str) -> Problem {
        Problem {
            loc: loc.iter().map(|p| json!(p)).collect(),
            msg: msg.into(),
            kind,
        }
    }

    pub fn missing(loc: &[&str]) -> Problem {
        Problem::new(loc, "Field required", "missing")
    }
}

/// An error on a StackAI path.
#[derive(Debug)]
pub enum StackError {
    /// 422 with every problem found.
    Invalid(Vec<Problem>),
    /// Any other status, with its message as `detail`.
    Api(ApiError),
}

impl StackError {
    pub fn invalid(loc: &[&str], msg: impl Into<String>, kind: &'static str) -> StackError {
        StackError::Invalid(vec![Problem::new(loc, msg, kind)])
    }
}

impl<E: Into<ApiError>> From<E> for StackError {
    fn from(error: E) -> StackError {
        match error.into() {
            // Validation problems found past the handler's own checks come from the body.
            ApiError::Validation { details, message } => {
                let problems = if details.is_empty() {
                    vec![Problem::new(&["body"], message, "value_error")]
                } else {
                    details
                        .into_iter()
                        .map(|detail| {
                            let mut loc = vec![json!("body")];
                            loc.extend(detail.path.iter().map(|p| json!(p)));
                            problem_of(loc, detail.message)
                        })
                        .collect()
                };
                StackError::Invalid(problems)
            }
            other => StackError::Api(other),
        }
    }
}

/// A problem from Duro's checks, typed the way pydantic would type it.
pub fn problem_of(loc: Vec<Value>, message: String) -> Problem {
    if message == "Required" {
        return Problem {
            loc,
            msg: "Field required".to_owned(),
            kind: "missing",
        };
    }
    Problem {
        loc,
        msg: message,
        kind: "value_error",
    }
}

fn detail_list(problems: &[Problem]) -> Value {
    Value::Array(
        problems
            .iter()
            .map(|p| json!({ "loc": p.loc, "msg": p.msg, "type": p.kind }))
            .collect(),
    )
}

impl IntoResponse for StackError {
    fn into_response(self) -> Response {
        match self {
            StackError::Invalid(problems) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(json!({ "detail": detail_list(&problems) })),
            )
                .into_response(),
            StackError::Api(error) => {
                let (status, _) = error.status_and_code();
                let message = match &error {
                    ApiError::Internal(cause) => {
                        tracing::error!(%cause, "internal error");
                        "Internal Server Error".to_owned()
                    }
                    other => other.to_string(),
                };
                let mut response = (status, Json(json!({ "detail": message }))).into_response();
                if let ApiError::RateLimited {
                    retry_after_secs, ..
                } = &error
                {
                    response.headers_mut().insert(
                        header::RETRY_AFTER,
                        HeaderValue::from((*retry_after_secs).max(1)),
                    );
                }
                response
            }
        }
    }
}

/// Duro's error envelope (already parsed) as FastAPI's `{"detail": ...}`, keeping the
/// response's status and headers.
fn plain(mut parts: axum::http::response::Parts, envelope: &Value) -> Response {
    let error = &envelope["error"];
    let message = error["message"].as_str().unwrap_or_default().to_owned();
    let detail = if error["code"] == "VALIDATION_ERROR" {
        parts.status = StatusCode::UNPROCESSABLE_ENTITY;
        let problems: Vec<Problem> = error["details"]
            .as_array()
            .map(|details| {
                details
                    .iter()
                    .map(|d| {
                        let mut loc = vec![json!("body")];
                        if let Some(path) = d["path"].as_array() {
                            loc.extend(path.iter().cloned());
                        }
                        problem_of(loc, d["message"].as_str().unwrap_or_default().to_owned())
                    })
                    .collect()
            })
            .unwrap_or_default();
        if problems.is_empty() {
            detail_list(&[Problem::new(&["body"], message, "value_error")])
        } else {
            detail_list(&problems)
        }
    } else {
        json!(message)
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(json!({ "detail": detail }).to_string()))
}

/// Middleware on StackAI's routes: an error answered in Duro's envelope before the handler
/// ran (401 without a key, 403 without the scope, 429) becomes FastAPI's `{"detail"}`.
pub async fn plain_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || !is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    let Ok(bytes) = to_bytes(body, ENVELOPE_BYTES_MAX).await else {
        return Response::from_parts(parts, Body::empty());
    };
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(envelope) if envelope["success"] == false => plain(parts, &envelope),
        _ => Response::from_parts(parts, Body::from(bytes)),
    }
}

/// A JSON body on a StackAI path, parsed but not yet typed: the handler checks each field
/// so that every problem is reported with its `loc` and pydantic's `type`. An empty body
/// reads as `{}`; malformed JSON is 422 `json_invalid`, as FastAPI answers it.
pub struct StackJson(pub Value);

impl FromRequest<AppState> for StackJson {
    type Rejection = StackError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, StackError> {
        let limit = state.config.max_body_bytes;
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    StackError::Api(ApiError::PayloadTooLarge { limit })
                } else {
                    StackError::invalid(&["body"], rejection.body_text(), "value_error")
                }
            })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(StackJson(json!({})));
        }
        serde_json::from_slice(&bytes).map(StackJson).map_err(|e| {
            StackError::Invalid(vec![Problem {
                loc: vec![json!("body"), json!(e.column().saturating_sub(1))],
                msg: "JSON decode error".to_owned(),
                kind: "json_invalid",
            }])
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Detail;

    async fn body_of(response: Response) -> (StatusCode, Value) {
        let status = response.status();
        let bytes = to_bytes(response.into_body(), 1 << 20).await.expect("body");
        (status, serde_json::from_slice(&bytes).expect("json"))
    }

    #[tokio::test]
    async fn errors_answer_in_fastapis_shapes() {
        let (status, body) = body_of(
            StackError::from(ApiError::NotFound("Trigger not found".into())).into_response(),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(body, json!({"detail": "Trigger not found"}));
        let invalid = ApiError::Validation {
            message: "bad".into(),
            details: vec![Detail::new(&["trigger_config", "url"], "Required")],
        };
        let (status, body) = body_of(StackError::from(invalid).into_response()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            body,
            json!({"detail": [{"loc": ["body", "trigger_config", "url"],
                               "msg": "Field required", "type": "missing"}]})
        );
        let (status, body) =
            body_of(StackError::from(ApiError::Internal("disk on fire".into())).into_response())
                .await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!body.to_string().contains("disk"), "{body}");
    }
}
