//! `/api/v1/providers`: the provider catalog action steps call (built-in providers and the
//! files of `DURO_PROVIDERS_DIR`), with each action's param schema. Scope `workflows:read`:
//! it is what a workflow author needs, and it holds no secret.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;

use crate::contract::providers::{Provider, ProviderListResponse, ProviderResponse};
use crate::error::{ApiError, ErrorEnvelope};
use crate::openapi::{Forbidden, Internal, Unauthorized};
use crate::reply;
use crate::AppState;
use credentials::keys::Scope;

pub fn router(state: &AppState) -> Router<AppState> {
    super::scoped(
        state,
        Scope::WorkflowsRead,
        Router::new()
            .route("/api/v1/providers", get(list))
            .route("/api/v1/providers/{id}", get(detail)),
    )
}

/// List providers
///
/// Required scope: `workflows:read`. The provider catalog, in one page: each provider with
/// its actions (`stripe.createInvoice`) and their param schemas.
#[utoipa::path(
    get,
    path = "/api/v1/providers",
    tag = "providers",
    responses(
        (status = 200, description = "Every provider.", body = ProviderListResponse),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 500, response = Internal),
    ),
    security(("apiKey" = []), ("bearerAuth" = []))
)]
pub(crate) async fn list(State(state): State<AppState>) -> Result<Response, ApiError> {
    let providers = state
        .runs
        .catalog()
        .providers()
        .map(Provider::from)
        .collect();
    Ok(reply::json(
        StatusCode::OK,
        &ProviderListResponse::all(providers),
    ))
}

/// Get a provider
///
/// Required scope: `workflows:read`.
#[utoipa::path(
    get,
    path = "/api/v1/providers/{id}",
    tag = "providers",
    params(("id" = String, Path, description = "Provider id (`stripe`).")),
    responses(
        (status = 200, description = "The provider.", body = ProviderResponse),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "NOT_FOUND: \"Provider <id> not found\".", body = ErrorEnvelope),
        (status = 500, response = Internal),
    ),
    security(("apiKey" = []), ("bearerAuth" = []))
)]
pub(crate) async fn detail(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let catalog = state.runs.catalog();
    match catalog.provider(&id) {
        Some(provider) => Ok(reply::json(
            StatusCode::OK,
            &ProviderResponse::new(provider.into()),
        )),
        None => Err(ApiError::NotFound(format!("Provider {id} not found"))),
    }
}
