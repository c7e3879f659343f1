//! `/api/v1/connections`: connected accounts. Every route needs `connections:write` (there
//! is no read scope: reading which accounts exist is as sensitive as changing them) or
//! `admin`. No answer ever carries a secret: only `secretSet` and `secretHint`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;

use crate::body::JsonBody;
use crate::contract::connections::{
    Connection, ConnectionCreate, ConnectionDeleted, ConnectionDeletedResponse,
    ConnectionListResponse, ConnectionResponse, ConnectionUpdate,
};
use crate::error::{ApiError, ErrorEnvelope};
use crate::openapi::{Forbidden, Internal, PayloadTooLarge, Unauthorized};
use crate::reply;
use crate::AppState;
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

/// Create a connection
///
/// Required scope: `connections:write`. The secret is sealed before it is stored and never
/// shown again: answers carry only `secretSet` and `secretHint`.
#[utoipa::path(
    post,
    path = "/api/v1/connections",
    tag = "connections",
    request_body = ConnectionCreate,
    responses(
        (status = 201, description = "Created.", body = ConnectionResponse),
        (status = 400, description = "VALIDATION_ERROR: malformed body, an unknown field or `kind`, a provider not in the catalog, a field the kind needs missing, or a bad value (each named in `details`).", body = ErrorEnvelope),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 409, description = "CONFLICT: the id is already in use.", body = ErrorEnvelope),
        (status = 413, response = PayloadTooLarge),
        (status = 500, response = Internal),
    ),
    security(("apiKey" = []), ("bearerAuth" = []))
)]
pub(crate) async fn create(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<ConnectionCreate>,
) -> Result<Response, ApiError> {
    let info = state.connections.create(body.into()).await?;
    Ok(reply::json(
        StatusCode::CREATED,
        &ConnectionResponse::new(info.into()),
    ))
}

/// List connections
///
/// Required scope: `connections:write`. Every connection, in one page.
#[utoipa::path(
    get,
    path = "/api/v1/connections",
    tag = "connections",
    responses(
        (status = 200, description = "Every connection.", body = ConnectionListResponse),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 500, response = Internal),
    ),
    security(("apiKey" = []), ("bearerAuth" = []))
)]
pub(crate) async fn list(State(state): State<AppState>) -> Result<Response, ApiError> {
    let connections = state.connections.list().await?;
    let connections = connections.into_iter().map(Connection::from).collect();
    Ok(reply::json(
        StatusCode::OK,
        &ConnectionListResponse::all(connections),
    ))
}

/// Get a connection
///
/// Required scope: `connections:write`.
#[utoipa::path(
    get,
    path = "/api/v1/connections/{id}",
    tag = "connections",
    params(("id" = String, Path, description = "Connection id.")),
    responses(
        (status = 200, description = "The connection.", body = ConnectionResponse),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "NOT_FOUND: no such connection.", body = ErrorEnvelope),
        (status = 500, response = Internal),
    ),
    security(("apiKey" = []), ("bearerAuth" = []))
)]
pub(crate) async fn detail(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let info = state.connections.get(&id).await?;
    Ok(reply::json(
        StatusCode::OK,
        &ConnectionResponse::new(info.into()),
    ))
}

/// Update a connection
///
/// Required scope: `connections:write`. Fields given replace the current ones; `kind` or a
/// secret field replaces the whole secret.
#[utoipa::path(
    patch,
    path = "/api/v1/connections/{id}",
    tag = "connections",
    params(("id" = String, Path, description = "Connection id.")),
    request_body = ConnectionUpdate,
    responses(
        (status = 200, description = "The connection as updated.", body = ConnectionResponse),
        (status = 400, description = "VALIDATION_ERROR: malformed body, an unknown field, or a bad value (each named in `details`).", body = ErrorEnvelope),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "NOT_FOUND: no such connection.", body = ErrorEnvelope),
        (status = 409, description = "CONFLICT: the connection was changed by someone else at the same time; try again.", body = ErrorEnvelope),
        (status = 413, response = PayloadTooLarge),
        (status = 500, response = Internal),
    ),
    security(("apiKey" = []), ("bearerAuth" = []))
)]
pub(crate) async fn update(
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ConnectionUpdate>,
) -> Result<Response, ApiError> {
    let info = state.connections.update(&id, body.into()).await?;
    Ok(reply::json(
        StatusCode::OK,
        &ConnectionResponse::new(info.into()),
    ))
}

/// Delete a connection
///
/// Required scope: `connections:write`. Its id can be used again.
#[utoipa::path(
    delete,
    path = "/api/v1/connections/{id}",
    tag = "connections",
    params(("id" = String, Path, description = "Connection id.")),
    responses(
        (status = 200, description = "Deleted.", body = ConnectionDeletedResponse),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "NOT_FOUND: no such connection.", body = ErrorEnvelope),
        (status = 409, description = "CONFLICT: the connection was changed by someone else at the same time; try again.", body = ErrorEnvelope),
        (status = 500, response = Internal),
    ),
    security(("apiKey" = []), ("bearerAuth" = []))
)]
pub(crate) async fn remove(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    state.connections.delete(&id).await?;
    let deleted = ConnectionDeleted {
        id: id.into(),
        deleted: true,
    };
    Ok(reply::json(
        StatusCode::OK,
        &ConnectionDeletedResponse::new(deleted),
    ))
}
