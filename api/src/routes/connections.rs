//! `/api/v1/connections`: connected accounts. Every route needs `connections:write` (there
//! is no read scope: reading which accounts exist is as sensitive as changing them) or
//! `admin`. No answer ever carries a secret: only `secretSet` and `secretHint`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde_json::json;

use crate::body::JsonBody;
use crate::error::ApiError;
use crate::reply;
use crate::AppState;
use credentials::connections::{ConnectionPatch, NewConnection};
use credentials::keys::Scope;

pub fn router(state: &AppState) -> Router<AppState> {
    super::scoped(
        state,
        Scope::ConnectionsWrite,
        Router::new()
            .route("/api/v1/connections", get(list).post(create))
            .route(
                "/api/v1/connections/{id}",
                get(detail).patch(update).delete(remove),
            ),
    )
}

async fn create(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<NewConnection>,
) -> Result<Response, ApiError> {
    let info = state.connections.create(body).await?;
    Ok(reply::with_status(StatusCode::CREATED, info))
}

async fn list(State(state): State<AppState>) -> Result<Response, ApiError> {
    let connections = state.connections.list().await?;
    let count = connections.len();
    Ok(reply::page(connections, None, count))
}

async fn detail(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(reply::ok(state.connections.get(&id).await?))
}

async fn update(
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ConnectionPatch>,
) -> Result<Response, ApiError> {
    Ok(reply::ok(state.connections.update(&id, body).await?))
}

async fn remove(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    state.connections.delete(&id).await?;
    Ok(reply::ok(json!({ "id": id, "deleted": true })))
}
