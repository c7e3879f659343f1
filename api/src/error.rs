//! The error envelope: `{"success": false, "error": {"code", "message", "details"}}`
//! ([`ErrorEnvelope`], the contract of every failure), and the one place where engine and
//! journal errors become HTTP statuses. Internal errors are logged with their cause and
//! answered without it.

use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use engine::definition::Problem;
use engine::executor::RunsError;
use engine::workflows::WorkflowError;
use serde::Serialize;
use utoipa::ToSchema;

use credentials::connections::ConnectionError;
use credentials::keys::KeyError;

/// One thing wrong with a request, as VALIDATION_ERROR details show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[schema(as = ErrorDetail)]
pub struct Detail {
    /// Where the problem is, from the root of the body (or the query parameter's name):
    /// `["steps", "2", "config", "url"]`. Empty when the problem concerns the whole body.
    #[schema(example = json!(["steps", "0", "config", "url"]))]
    pub path: Vec<String>,
    pub message: String,
}

/// The error envelope every failure is answered with.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "success": false,
    "error": {
        "code": "VALIDATION_ERROR",
        "message": "Input validation failed",
        "details": [{"path": ["items", "0", "price"], "message": "must be at least 0"}]
    }
}))]
pub struct ErrorEnvelope {
    /// Always `false`.
    #[schema(example = false)]
    pub success: bool,
    pub error: ErrorBody,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub code: ErrorCode,
    /// What went wrong, for people. Internal errors say only `internal error`.
    pub message: String,
    /// For VALIDATION_ERROR, every problem found with the field it concerns; otherwise empty.
    pub details: Vec<Detail>,
}

impl ErrorEnvelope {
    pub fn new(code: ErrorCode, message: String, details: Vec<Detail>) -> ErrorEnvelope {
        ErrorEnvelope {
            success: false,
            error: ErrorBody {
                code,
                message,
                details,
            },
        }
    }
}

/// The machine-readable error code; each goes with one HTTP status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    /// 404: no such resource (or no such route).
    NotFound,
    /// 400: the request, its body or a query parameter is malformed or fails validation;
    /// `details` says where.
    ValidationError,
    /// 400: the resource's state does not allow the request (a workflow that is not active,
    /// a run that is not paused or has ended, a trigger that is disabled).
    InvalidStatus,
    /// 401: no API key, or an unknown or revoked one; on a webhook URL, a delivery whose
    /// signature is missing, wrong or stale.
    Unauthorized,
    /// 403: the API key lacks the scope the route needs.
    Forbidden,
    /// 405: the route exists with other methods.
    MethodNotAllowed,
    /// 409: the resource was changed by someone else at the same time, or is in use.
    Conflict,
    /// 413: the request body is larger than the server's limit.
    PayloadTooLarge,
    /// 429: the key's execute rate limit is used up; see the `Retry-After` header.
    RateLimited,
    /// 503: the journal cannot be read (`/readyz`).
    Unavailable,
    /// 500: an internal error; its cause is logged, not returned.
    Internal,
}

impl Detail {
    pub fn new(path: &[&str], message: impl Into<String>) -> Detail {
        Detail {
            path: path.iter().map(|p| (*p).to_owned()).collect(),
            message: message.into(),
        }
    }
}

impl From<Problem> for Detail {
    fn from(problem: Problem) -> Detail {
        Detail {
            path: problem.path,
            message: problem.message,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    NotFound(String),
    /// 400 VALIDATION_ERROR with every problem found.
    #[error("{message}")]
    Validation {
        message: String,
        details: Vec<Detail>,
    },
    /// 400 INVALID_STATUS: the resource is in a state that does not allow the request.
    #[error("{0}")]
    InvalidStatus(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Conflict(String),
    #[error("Rate limit exceeded. Limit: {limit} requests per minute.")]
    RateLimited { limit: u32, retry_after_secs: u64 },
    #[error("request body is larger than the limit of {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("service unavailable: {0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// A VALIDATION_ERROR about one field.
    pub fn invalid_field(path: &[&str], message: impl Into<String>) -> ApiError {
        let detail = Detail::new(path, message);
        ApiError::Validation {
            message: format!("{}: {}", field_name(&detail.path), detail.message),
            details: vec![detail],
        }
    }

    pub(crate) fn status_and_code(&self) -> (StatusCode, ErrorCode) {
        match self {
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, ErrorCode::NotFound),
            ApiError::Validation { .. } => (StatusCode::BAD_REQUEST, ErrorCode::ValidationError),
            ApiError::InvalidStatus(_) => (StatusCode::BAD_REQUEST, ErrorCode::InvalidStatus),
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, ErrorCode::Forbidden),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, ErrorCode::Conflict),
            ApiError::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, ErrorCode::RateLimited),
            ApiError::PayloadTooLarge { .. } => {
                (StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::PayloadTooLarge)
            }
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, ErrorCode::Unavailable),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::Internal),
        }
    }
}

/// `["items", "0", "price"]` as `items.0.price`, the way users write it in templates.
pub fn field_name(path: &[String]) -> String {
    if path.is_empty() {
        "body".to_owned()
    } else {
        path.join(".")
    }
}

impl From<journal::StoreError> for ApiError {
    fn from(error: journal::StoreError) -> ApiError {
        ApiError::Internal(error.to_string())
    }
}

impl From<WorkflowError> for ApiError {
    fn from(error: WorkflowError) -> ApiError {
        match error {
            WorkflowError::NotFound(_) => ApiError::NotFound("Workflow not found".to_owned()),
            WorkflowError::NoSuchVersion { .. } => ApiError::NotFound(error.to_string()),
            WorkflowError::Invalid(problems) => ApiError::Validation {
                message: "Workflow definition is invalid".to_owned(),
                details: problems.into_iter().map(Detail::from).collect(),
            },
            WorkflowError::Conflict(_) => ApiError::Conflict(error.to_string()),
            WorkflowError::Corrupt(_) | WorkflowError::Store(_) => {
                ApiError::Internal(error.to_string())
            }
        }
    }
}

impl From<RunsError> for ApiError {
    fn from(error: RunsError) -> ApiError {
        match error {
            RunsError::Workflow(error) => error.into(),
            // Seed 001's words, exactly.
            RunsError::NotActive(status) => ApiError::InvalidStatus(format!(
                "Workflow must be active to run. Current status: {status}"
            )),
            RunsError::RunNotFound(_) => ApiError::NotFound("Run not found".to_owned()),
            RunsError::NotPaused { .. } | RunsError::Ended { .. } => {
                ApiError::InvalidStatus(error.to_string())
            }
            RunsError::InvalidInput(problems) => ApiError::Validation {
                message: "Input validation failed".to_owned(),
                details: problems.into_iter().map(Detail::from).collect(),
            },
            RunsError::ConnectionsUnavailable(problems) => ApiError::Validation {
                message: "Required connections must be active".to_owned(),
                details: problems.into_iter().map(Detail::from).collect(),
            },
            RunsError::NotEnded { .. } | RunsError::LeaseLost(_) => {
                ApiError::Conflict(error.to_string())
            }
            // Like any run whose status forbids the action: it can be read, not acted on.
            RunsError::RunCorrupt { .. } => ApiError::InvalidStatus(error.to_string()),
            RunsError::InvalidRerun(reason) => ApiError::invalid_field(&["fromStep"], reason),
            RunsError::BadKey(reason) => ApiError::invalid_field(&["idempotencyKey"], reason),
            RunsError::Corrupt(_) | RunsError::Store(_) => ApiError::Internal(error.to_string()),
        }
    }
}

impl From<readmodels::ReadModelError> for ApiError {
    fn from(error: readmodels::ReadModelError) -> ApiError {
        use readmodels::ReadModelError;
        match error {
            ReadModelError::InvalidCursor => {
                ApiError::invalid_field(&["cursor"], error.to_string())
            }
            ReadModelError::InvalidQuery(reason) => ApiError::Validation {
                message: reason.clone(),
                details: vec![Detail::new(&[], reason)],
            },
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<KeyError> for ApiError {
    fn from(error: KeyError) -> ApiError {
        match error {
            KeyError::NotFound(_) => ApiError::NotFound(error.to_string()),
            KeyError::Conflict(_) => ApiError::Conflict(error.to_string()),
            KeyError::Store(_) | KeyError::Corrupt(_) => ApiError::Internal(error.to_string()),
            other => ApiError::Validation {
                message: other.to_string(),
                details: Vec::new(),
            },
        }
    }
}

impl From<ConnectionError> for ApiError {
    fn from(error: ConnectionError) -> ApiError {
        match error {
            ConnectionError::Invalid { message, details } => ApiError::Validation {
                message,
                details: details.into_iter().map(Detail::from).collect(),
            },
            ConnectionError::NotFound(_) => ApiError::NotFound(error.to_string()),
            ConnectionError::AlreadyExists(_) | ConnectionError::Conflict(_) => {
                ApiError::Conflict(error.to_string())
            }
            ConnectionError::Undecryptable { .. }
            | ConnectionError::Corrupt(_)
            | ConnectionError::Store(_) => ApiError::Internal(error.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let retry_after_secs = match &self {
            ApiError::RateLimited {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            _ => None,
        };
        let message = match &self {
            ApiError::Internal(cause) => {
                tracing::error!(%cause, "internal error");
                "internal error".to_string()
            }
            other => other.to_string(),
        };
        let details = match self {
            ApiError::Validation { details, .. } => details,
            _ => Vec::new(),
        };
        let mut response = error_response(status, ErrorEnvelope::new(code, message, details));
        if let Some(retry_after_secs) = retry_after_secs {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(retry_after_secs.max(1)),
            );
        }
        response
    }
}

/// Middleware, outermost: any error answer that is not already our JSON envelope (an axum
/// extractor's plain-text rejection, an empty 405) becomes one, so clients never get a bare
/// text error.
pub async fn json_errors(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (code, message) = match status {
        StatusCode::METHOD_NOT_ALLOWED => (
            ErrorCode::MethodNotAllowed,
            "method not allowed on this route",
        ),
        StatusCode::NOT_FOUND => (ErrorCode::NotFound, "not found"),
        StatusCode::PAYLOAD_TOO_LARGE => (ErrorCode::PayloadTooLarge, "request body is too large"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            (ErrorCode::ValidationError, "unsupported media type")
        }
        s if s.is_client_error() => (ErrorCode::ValidationError, "the request is malformed"),
        _ => (ErrorCode::Internal, "internal error"),
    };
    let envelope = ErrorEnvelope::new(code, message.to_owned(), Vec::new());
    let mut replaced = error_response(status, envelope);
    if let Some(allow) = response.headers().get(header::ALLOW) {
        replaced.headers_mut().insert(header::ALLOW, allow.clone());
    }
    replaced
}

/// `envelope` with `status`, its bytes as `reply::json` writes them.
fn error_response(status: StatusCode, envelope: ErrorEnvelope) -> Response {
    crate::reply::json(status, &envelope)
}

/// The answer for any route that does not exist.
pub async fn not_found(uri: Uri) -> ApiError {
    ApiError::NotFound(format!("no route for {}", uri.path()))
}
