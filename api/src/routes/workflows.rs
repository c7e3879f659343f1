//! `/api/v1/workflows`: create, read, edit, version, activate and delete workflow definitions.
//! Every change is an event in the workflow's journal stream (engine::workflows).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, patch};
use axum::Router;
use engine::definition::{WorkflowSpec, WorkflowStatus};
use engine::workflows::WorkflowRecord;
use serde_json::{json, Map, Value};

use crate::body::{self, JsonBody};
pub use crate::contract::workflows::ConnectionBody;
use crate::contract::workflows::{
    Workflow, WorkflowDefinition, WorkflowDeleted, WorkflowDeletedResponse, WorkflowPatch,
    WorkflowResponse, WorkflowStatusBody, WorkflowVersion, WorkflowVersionListResponse,
};
use crate::error::{ApiError, ErrorEnvelope};
use crate::openapi::{Forbidden, Internal, PayloadTooLarge, Unauthorized};
use crate::reply;
use crate::AppState;
use credentials::keys::Scope;

pub fn router(state: &AppState) -> Router<AppState> {
    let read = Router::new()
        .route("/api/v1/workflows", get(super::lists::list_workflows))
        .route("/api/v1/workflows/{id}", get(detail))
        .route("/api/v1/workflows/{id}/versions", get(versions));
    let write = Router::new()
        .route("/api/v1/workflows", axum::routing::post(create))
        .route("/api/v1/workflows/{id}", patch(update).delete(remove))
        .route("/api/v1/workflows/{id}/status", patch(set_status))
        .route("/api/v1/workflows/{id}/connections", patch(set_connection));
    Router::new()
        .merge(super::scoped(state, Scope::WorkflowsRead, read))
        .merge(super::scoped(state, Scope::WorkflowsWrite, write))
}

fn new_workflow_id() -> String {
    format!("wf_{}", uuid::Uuid::now_v7().simple())
}

/// Creates a workflow from a definition.
pub async fn new_workflow(state: &AppState, spec: WorkflowSpec) -> Result<Workflow, ApiError> {
    let record = state
        .runs
        .workflows()
        .create(&new_workflow_id(), &spec)
        .await?;
    Ok(Workflow::of(&record))
}

/// [`new_workflow`] as JSON, for the compatibility routes.
pub async fn create_workflow(state: &AppState, spec: WorkflowSpec) -> Result<Value, ApiError> {
    Ok(reply::to_json(new_workflow(state, spec).await?))
}

/// Create a workflow
///
/// Required scope: `workflows:write`. The definition is checked in full: every problem is
/// listed in `details` with its path. The workflow starts as `draft` unless `status` says
/// otherwise, at version 1.
#[utoipa::path(
    post,
    path = "/api/v1/workflows",
    tag = "workflows",
    request_body = WorkflowDefinition,
    responses(
        (status = 201, description = "Created; the workflow's detail.", body = WorkflowResponse),
        (status = 400, description = "VALIDATION_ERROR: the body is malformed (\"<field>: <problem>\") or the definition is invalid (\"Workflow definition is invalid\", every problem in `details`).", body = ErrorEnvelope,
            example = json!({"success": false, "error": {"code": "VALIDATION_ERROR", "message": "Workflow definition is invalid",
                "details": [{"path": ["steps"], "message": "a workflow needs at least one step"}]}})),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 413, response = PayloadTooLarge),
        (status = 500, response = Internal),
    ),
    security(("apiKey" = []), ("bearerAuth" = []))
)]
pub(crate) async fn create(
    State(state): State<AppState>,
    JsonBody(definition): JsonBody<WorkflowDefinition>,
) -> Result<Response, ApiError> {
    let workflow = new_workflow(&state, definition.into()).await?;
    Ok(reply::json(
        StatusCode::CREATED,
        &WorkflowResponse::new(workflow),
    ))
}

/// Get a workflow
///
/// Required scope: `workflows:read`. The current version's definition with the workflow's
/// id, status, version and times.
#[utoipa::path(
    get,
    path = "/api/v1/workflows/{id}",
    tag = "workflows",
    params(("id" = String, Path, description = "Workflow id.")),
    responses(
        (status = 200, description = "The workflow.", body = WorkflowResponse),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "NOT_FOUND: \"Workflow not found\" (never existed, or deleted).", body = ErrorEnvelope),
        (status = 500, response = Internal),
    ),
    security(("apiKey" = []), ("bearerAuth" = []))
)]
pub(crate) async fn detail(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let record = state.runs.workflows().get(&id).await?;
    Ok(reply::json(
        StatusCode::OK,
        &WorkflowResponse::new(Workflow::of(&record)),
    ))
}

/// List a workflow's versions
///
/// Required scope: `workflows:read`. Every version, oldest first, in one page.
#[utoipa::path(
    get,
    path = "/api/v1/workflows/{id}/versions",
    tag = "workflows",
    params(("id" = String, Path, description = "Workflow id.")),
    responses(
        (status = 200, description = "Every version.", body = WorkflowVersionListResponse),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "NOT_FOUND: \"Workflow not found\".", body = ErrorEnvelope),
        (status = 500, response = Internal),
    ),
    security(("apiKey" = []), ("bearerAuth" = []))
)]
pub(crate) async fn versions(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let record = state.runs.workflows().get(&id).await?;
    let count = record.versions.len();
    let versions = record
        .versions
        .iter()
        .enumerate()
        .map(|(index, spec)| WorkflowVersion {
            definition: WorkflowDefinition::from(spec.clone()),
            version: index as u64 + 1,
            current: index + 1 == count,
        })
        .collect();
    Ok(reply::json(
        StatusCode::OK,
        &WorkflowVersionListResponse::all(versions),
    ))
}

/// [`patched_workflow`] as JSON, for the compatibility routes.
pub async fn update_workflow(
    state: &AppState,
    id: &str,
    patch: Map<String, Value>,
) -> Result<Value, ApiError> {
    Ok(reply::to_json(patched_workflow(state, id, patch).await?))
}

/// Applies a partial update: top-level fields present in `patch` replace the current ones,
/// `null` removes an optional one. `status` in the patch changes the status too.
pub async fn patched_workflow(
    state: &AppState,
    id: &str,
    patch: Map<String, Value>,
) -> Result<Workflow, ApiError> {
    let workflows = state.runs.workflows();
    let record = workflows.get(id).await?;
    if patch.contains_key("id") {
        return Err(ApiError::invalid_field(
            &["id"],
            "a workflow's id cannot change",
        ));
    }
    let status = match patch.get("status") {
        Some(Value::Null) | None => None,
        Some(value) => Some(parse_status(value.clone())?),
    };
    // The patch as its contract types it; the merged definition is checked again below.
    let _: WorkflowPatch = body::from_value(Value::Object(patch.clone()))?;
    let mut current = match serde_json::to_value(&record.current) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    };
    for (field, value) in patch {
        if field == "status" {
            continue;
        }
        if value.is_null() {
            current.remove(&field);
        } else {
            current.insert(field, value);
        }
    }
    let definition: WorkflowDefinition = body::from_value(Value::Object(current))?;
    let spec = WorkflowSpec::from(definition);
    let mut record: WorkflowRecord = if spec != record.current {
        workflows.update(id, &spec).await?
    } else {
        record
    };
    if let Some(status) = status.filter(|s| *s != record.status) {
        record = workflows.set_status(id, status).await?;
    }
    Ok(Workflow::of(&record))
}

/// Update a workflow
///
/// Required scope: `workflows:write`. A partial update: fields present replace the current
/// ones, `null` removes an optional one. A changed definition is a new version (runs already
/// started keep theirs); `status` changes the status. An update that changes nothing makes
/// no version.
#[utoipa::path(
    patch,
    path = "/api/v1/workflows/{id}",
    tag = "workflows",
    params(("id" = String, Path, description = "Workflow id.")),
    request_body = WorkflowPatch,
    responses(
        (status = 200, description = "The updated workflow.", body = WorkflowResponse),
        (status = 400, description = "VALIDATION_ERROR: malformed body, an attempt to change `id`, an unknown `status`, or the resulting definition is invalid (every problem in `details`).", body = ErrorEnvelope),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "NOT_FOUND: \"Workflow not found\".", body = ErrorEnvelope),
        (status = 409, description = "CONFLICT: the workflow was changed by someone else at the same time; try again.", body = ErrorEnvelope),
        (status = 413, response = PayloadTooLarge),
        (status = 500, response = Internal),
    ),
    security(("apiKey" = []), ("bearerAuth" = []))
)]
pub(crate) async fn update(
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(patch): JsonBody<Map<String, Value>>,
) -> Result<Response, ApiError> {
    let workflow = patched_workflow(&state, &id, patch).await?;
    Ok(reply::json(
        StatusCode::OK,
        &WorkflowResponse::new(workflow),
    ))
}

pub async fn delete_workflow(state: &AppState, id: &str) -> Result<WorkflowDeleted, ApiError> {
    state.runs.workflows().delete(id).await?;
    Ok(WorkflowDeleted {
        id: id.to_owned().into(),
        deleted: true,
    })
}

/// Delete a workflow
///
/// Required scope: `workflows:write`. The workflow can no longer be read or run; its runs
/// stay readable.
#[utoipa::path(
    delete,
    path = "/api/v1/workflows/{id}",
    tag = "workflows",
    params(("id" = String, Path, description = "Workflow id.")),
    responses(
        (status = 200, description = "Deleted.", body = WorkflowDeletedResponse),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "NOT_FOUND: \"Workflow not found\" (never existed, or already deleted).", body = ErrorEnvelope),
        (status = 409, description = "CONFLICT: the workflow was changed by someone else at the same time; try again.", body = ErrorEnvelope),
        (status = 500, response = Internal),
    ),
    security(("apiKey" = []), ("bearerAuth" = []))
)]
pub(crate) async fn remove(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let deleted = delete_workflow(&state, &id).await?;
    Ok(reply::json(
        StatusCode::OK,
        &WorkflowDeletedResponse::new(deleted),
    ))
}

fn parse_status(value: Value) -> Result<WorkflowStatus, ApiError> {
    serde_json::from_value(value).map_err(|_| {
        ApiError::invalid_field(
            &["status"],
            "must be one of \"draft\", \"active\", \"inactive\"",
        )
    })
}

pub async fn change_status(
    state: &AppState,
    id: &str,
    status: Value,
) -> Result<Workflow, ApiError> {
    let status = parse_status(status)?;
    let record = state.runs.workflows().set_status(id, status).await?;
    Ok(Workflow::of(&record))
}

/// Set a workflow's status
///
/// Required scope: `workflows:write`. Only `active` workflows run.
#[utoipa::path(
    patch,
    path = "/api/v1/workflows/{id}/status",
    tag = "workflows",
    params(("id" = String, Path, description = "Workflow id.")),
    request_body = WorkflowStatusBody,
    responses(
        (status = 200, description = "The workflow with its new status.", body = WorkflowResponse),
        (status = 400, description = "VALIDATION_ERROR: malformed body, or `status` is not one of \"draft\", \"active\", \"inactive\".", body = ErrorEnvelope,
            example = json!({"success": false, "error": {"code": "VALIDATION_ERROR", "message": "status: must be one of \"draft\", \"active\", \"inactive\"",
                "details": [{"path": ["status"], "message": "must be one of \"draft\", \"active\", \"inactive\""}]}})),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "NOT_FOUND: \"Workflow not found\".", body = ErrorEnvelope),
        (status = 409, description = "CONFLICT: the workflow was changed by someone else at the same time; try again.", body = ErrorEnvelope),
        (status = 413, response = PayloadTooLarge),
        (status = 500, response = Internal),
    ),
    security(("apiKey" = []), ("bearerAuth" = []))
)]
pub(crate) async fn set_status(
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<WorkflowStatusBody>,
) -> Result<Response, ApiError> {
    let workflow = change_status(&state, &id, body.status).await?;
    Ok(reply::json(
        StatusCode::OK,
        &WorkflowResponse::new(workflow),
    ))
}

/// Records which connection a toolkit uses: `connections` maps toolkit slugs to connection
/// ids (an array of `{toolkitSlug, connectionId}` entries is updated in place instead).
pub async fn change_connection(
    state: &AppState,
    id: &str,
    body: ConnectionBody,
) -> Result<Workflow, ApiError> {
    if body.toolkit_slug.trim().is_empty() {
        return Err(ApiError::invalid_field(
            &["toolkitSlug"],
            "must not be empty",
        ));
    }
    if body.connection_id.as_str().trim().is_empty() {
        return Err(ApiError::invalid_field(
            &["connectionId"],
            "must not be empty",
        ));
    }
    let record = state.runs.workflows().get(id).await?;
    let connections = match record.current.connections.clone() {
        Some(Value::Array(mut entries)) => {
            let entry =
                json!({"toolkitSlug": body.toolkit_slug, "connectionId": body.connection_id});
            match entries
                .iter_mut()
                .find(|e| e["toolkitSlug"] == json!(body.toolkit_slug))
            {
                Some(existing) => *existing = entry,
                None => entries.push(entry),
            }
            Value::Array(entries)
        }
        Some(Value::Object(mut map)) => {
            map.insert(body.toolkit_slug, json!(body.connection_id));
            Value::Object(map)
        }
        _ => json!({ body.toolkit_slug: body.connection_id }),
    };
    let mut patch = Map::new();
    patch.insert("connections".into(), connections);
    patched_workflow(state, id, patch).await
}

/// Set the connection a toolkit uses
///
/// Required scope: `workflows:write`. Records `connectionId` for `toolkitSlug` in the
/// workflow's `connections` (an object of slug to id; an array of `{toolkitSlug,
/// connectionId}` entries is updated in place). Like any definition change, makes a new
/// version.
#[utoipa::path(
    patch,
    path = "/api/v1/workflows/{id}/connections",
    tag = "workflows",
    params(("id" = String, Path, description = "Workflow id.")),
    request_body = ConnectionBody,
    responses(
        (status = 200, description = "The updated workflow.", body = WorkflowResponse),
        (status = 400, description = "VALIDATION_ERROR: malformed body, or `toolkitSlug`/`connectionId` missing or empty.", body = ErrorEnvelope),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "NOT_FOUND: \"Workflow not found\".", body = ErrorEnvelope),
        (status = 409, description = "CONFLICT: the workflow was changed by someone else at the same time; try again.", body = ErrorEnvelope),
        (status = 413, response = PayloadTooLarge),
        (status = 500, response = Internal),
    ),
    security(("apiKey" = []), ("bearerAuth" = []))
)]
pub(crate) async fn set_connection(
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ConnectionBody>,
) -> Result<Response, ApiError> {
    let workflow = change_connection(&state, &id, body).await?;
    Ok(reply::json(
        StatusCode::OK,
        &WorkflowResponse::new(workflow),
    ))
}
