//! `/api/v1/providers`: the provider catalog action steps call (built-in providers and the
//! files of `DURO_PROVIDERS_DIR`), with each action's param schema. Scope `workflows:read`:
//! it is what a workflow author needs, and it holds no secret.

use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};

use crate::error::ApiError;
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

/// A provider as listed: everything but how the requests are built, plus each action's
/// full id (`stripe.createInvoice`) and param schema.
fn shown(provider: &engine::providers::Provider) -> Value {
    let actions: Vec<Value> = provider
        .actions
        .iter()
        .map(|action| {
            json!({
                "id": format!("{}.{}", provider.id, action.id),
                "name": action.id,
                "description": action.description,
                "endpoints": action.endpoints,
                "params": action.params,
                "requests": action.requests.len(),
            })
        })
        .collect();
    json!({
        "id": provider.id,
        "name": provider.name,
        "description": provider.description,
        "baseUrl": provider.base_url,
        "connectionKinds": provider.connection_kinds,
        "connectionRequired": provider.connection_required,
        "actions": actions,
    })
}

async fn list(State(state): State<AppState>) -> Result<Response, ApiError> {
    let providers: Vec<Value> = state.runs.catalog().providers().map(shown).collect();
    let count = providers.len();
    Ok(reply::page(providers, None, count))
}

async fn detail(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let catalog = state.runs.catalog();
    match catalog.provider(&id) {
        Some(provider) => Ok(reply::ok(shown(provider))),
        None => Err(ApiError::NotFound(format!("Provider {id} not found"))),
    }
}
