//! `/api/v1/workflows`: create, read, edit, version, activate and delete workflow definitions.
//! Every change is an event in the workflow's journal stream (engine::workflows).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, patch};
use axum::Router;
use engine::definition::{WorkflowSpec, WorkflowStatus};
use engine::workflows::WorkflowRecord;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::body::{self, JsonBody};
use crate::error::ApiError;
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

/// Creates a workflow from a definition; 201 with its detail.
pub async fn create_workflow(state: &AppState, spec: WorkflowSpec) -> Result<Value, ApiError> {
    let record = state
        .runs
        .workflows()
        .create(&new_workflow_id(), &spec)
        .await?;
    Ok(reply::workflow_json(&record))
}

async fn create(
    State(state): State<AppState>,
    JsonBody(spec): JsonBody<WorkflowSpec>,
) -> Result<Response, ApiError> {
    let data = create_workflow(&state, spec).await?;
    Ok(reply::with_status(StatusCode::CREATED, data))
}

async fn detail(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let record = state.runs.workflows().get(&id).await?;
    Ok(reply::ok(reply::workflow_json(&record)))
}

async fn versions(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let record = state.runs.workflows().get(&id).await?;
    let versions: Vec<Value> = record
        .versions
        .iter()
        .enumerate()
        .map(|(index, spec)| {
            let mut data = serde_json::to_value(spec).unwrap_or(Value::Null);
            data["version"] = json!(index + 1);
            data["current"] = json!(index + 1 == record.versions.len());
            data
        })
        .collect();
    let count = versions.len();
    Ok(reply::page(versions, None, count))
}

/// Applies a partial update: top-level fields present in `patch` replace the current ones,
/// `null` removes an optional one. `status` in the patch changes the status too.
pub async fn update_workflow(
    state: &AppState,
    id: &str,
    patch: Map<String, Value>,
) -> Result<Value, ApiError> {
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
    let spec: WorkflowSpec = body::from_value(Value::Object(current))?;
    let mut record: WorkflowRecord = if spec != record.current {
        workflows.update(id, &spec).await?
    } else {
        record
    };
    if let Some(status) = status.filter(|s| *s != record.status) {
        record = workflows.set_status(id, status).await?;
    }
    Ok(reply::workflow_json(&record))
}

async fn update(
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(patch): JsonBody<Map<String, Value>>,
) -> Result<Response, ApiError> {
    Ok(reply::ok(update_workflow(&state, &id, patch).await?))
}

pub async fn delete_workflow(state: &AppState, id: &str) -> Result<Value, ApiError> {
    state.runs.workflows().delete(id).await?;
    Ok(json!({ "id": id, "deleted": true }))
}

async fn remove(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(reply::ok(delete_workflow(&state, &id).await?))
}

fn parse_status(value: Value) -> Result<WorkflowStatus, ApiError> {
    serde_json::from_value(value).map_err(|_| {
        ApiError::invalid_field(
            &["status"],
            "must be one of \"draft\", \"active\", \"inactive\"",
        )
    })
}

#[derive(Deserialize)]
struct StatusBody {
    status: Value,
}

pub async fn change_status(state: &AppState, id: &str, status: Value) -> Result<Value, ApiError> {
    let status = parse_status(status)?;
    let record = state.runs.workflows().set_status(id, status).await?;
    Ok(reply::workflow_json(&record))
}

async fn set_status(
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<StatusBody>,
) -> Result<Response, ApiError> {
    Ok(reply::ok(change_status(&state, &id, body.status).await?))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionBody {
    pub toolkit_slug: String,
    pub connection_id: String,
}

/// Records which connection a toolkit uses: `connections` maps toolkit slugs to connection
/// ids (an array of `{toolkitSlug, connectionId}` entries is updated in place instead).
pub async fn change_connection(
    state: &AppState,
    id: &str,
    body: ConnectionBody,
) -> Result<Value, ApiError> {
    if body.toolkit_slug.trim().is_empty() {
        return Err(ApiError::invalid_field(
            &["toolkitSlug"],
            "must not be empty",
        ));
    }
    if body.connection_id.trim().is_empty() {
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
    update_workflow(state, id, patch).await
}

async fn set_connection(
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ConnectionBody>,
) -> Result<Response, ApiError> {
    Ok(reply::ok(change_connection(&state, &id, body).await?))
}
