//! `/api/v1/keys`: the admin API for API keys. A new key's secret is shown once, in the
//! creation response; lists never show secrets or hashes.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{delete, get};
use axum::Router;
use serde::Deserialize;
use serde_json::json;

use crate::body::JsonBody;
use crate::error::ApiError;
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateKey {
    name: String,
    scopes: Vec<Scope>,
}

async fn create(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<CreateKey>,
) -> Result<Response, ApiError> {
    let (info, secret) = state.keys.create(&body.name, &body.scopes).await?;
    let mut data = serde_json::to_value(&info).map_err(|e| ApiError::Internal(e.to_string()))?;
    data["key"] = json!(secret);
    Ok(reply::with_status(StatusCode::CREATED, data))
}

async fn list(State(state): State<AppState>) -> Result<Response, ApiError> {
    let keys = state.keys.list().await?;
    let count = keys.len();
    Ok(reply::page(keys, None, count))
}

async fn detail(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(reply::ok(state.keys.get(&id).await?))
}

async fn revoke(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(reply::ok(state.keys.revoke(&id).await?))
}
