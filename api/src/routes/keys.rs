//! `/api/v1/keys`: the admin API for API keys. A new key's secret is shown once, in the
//! creation response; lists never show secrets or hashes.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{delete, get};
use axum::Router;

use crate::body::JsonBody;
use crate::contract::keys::{
    CreatedKey, CreatedKeyResponse, Key, KeyCreate, KeyListResponse, KeyResponse,
};
use crate::error::{ApiError, ErrorEnvelope};
use crate::openapi::{Forbidden, Internal, PayloadTooLarge, Unauthorized};
use crate::reply;
use crate::AppState;
use credentials::keys::Scope;

pub fn router(state: &AppState) -> Router<AppState> {
    super::scoped(
        state,
        Scope::Admin,
        Router::new()
            .route("/api/v1/keys", get(list).post(create))
            .route("/api/v1/keys/{id}", delete(revoke).get(detail)),
    )
}

/// Create an API key
///
/// Required scope: `admin`. The answer holds the key's secret in `key`: it is shown this
/// once and never stored.
#[utoipa::path(
    post,
    path = "/api/v1/keys",
    tag = "keys",
    request_body = KeyCreate,
    responses(
        (status = 201, description = "Created, with its secret.", body = CreatedKeyResponse),
        (status = 400, description = "VALIDATION_ERROR: malformed body, an unknown field or scope, an empty or too long name, a name with control characters, or no scope.", body = ErrorEnvelope),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 413, response = PayloadTooLarge),
        (status = 500, response = Internal),
    ),
    security(("apiKey" = []), ("bearerAuth" = []))
)]
pub(crate) async fn create(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<KeyCreate>,
) -> Result<Response, ApiError> {
    let (info, secret) = state.keys.create(&body.name, &body.scopes).await?;
    let created = CreatedKey {
        info: info.into(),
        key: secret,
    };
    Ok(reply::json(
        StatusCode::CREATED,
        &CreatedKeyResponse::new(created),
    ))
}

/// List API keys
///
/// Required scope: `admin`. Every key, revoked ones included; never a secret or a hash.
#[utoipa::path(
    get,
    path = "/api/v1/keys",
    tag = "keys",
    responses(
        (status = 200, description = "Every API key.", body = KeyListResponse),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 500, response = Internal),
    ),
    security(("apiKey" = []), ("bearerAuth" = []))
)]
pub(crate) async fn list(State(state): State<AppState>) -> Result<Response, ApiError> {
    let keys = state
        .keys
        .list()
        .await?
        .into_iter()
        .map(Key::from)
        .collect();
    Ok(reply::json(StatusCode::OK, &KeyListResponse::all(keys)))
}

/// Get an API key
///
/// Required scope: `admin`.
#[utoipa::path(
    get,
    path = "/api/v1/keys/{id}",
    tag = "keys",
    params(("id" = String, Path, description = "Key id (`key_` and 32 hex digits).")),
    responses(
        (status = 200, description = "The key.", body = KeyResponse),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "NOT_FOUND: \"API key <id> not found\".", body = ErrorEnvelope),
        (status = 500, response = Internal),
    ),
    security(("apiKey" = []), ("bearerAuth" = []))
)]
pub(crate) async fn detail(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let key = state.keys.get(&id).await?;
    Ok(reply::json(StatusCode::OK, &KeyResponse::new(key.into())))
}

/// Revoke an API key
///
/// Required scope: `admin`. The key stops working at once; revoking a revoked key changes
/// nothing. The key stays listed, with `revokedAt`.
#[utoipa::path(
    delete,
    path = "/api/v1/keys/{id}",
    tag = "keys",
    params(("id" = String, Path, description = "Key id (`key_` and 32 hex digits).")),
    responses(
        (status = 200, description = "The revoked key.", body = KeyResponse),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "NOT_FOUND: \"API key <id> not found\".", body = ErrorEnvelope),
        (status = 409, description = "CONFLICT: the key kept being changed by someone else at the same time; try again.", body = ErrorEnvelope),
        (status = 500, response = Internal),
    ),
    security(("apiKey" = []), ("bearerAuth" = []))
)]
pub(crate) async fn revoke(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let key = state.keys.revoke(&id).await?;
    Ok(reply::json(StatusCode::OK, &KeyResponse::new(key.into())))
}
