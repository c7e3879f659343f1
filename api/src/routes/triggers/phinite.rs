//! Phinite (seed 003): a flow runs with the workspace key, the body as its input, and the
//! answer is the finished run when it ends within [`PHINITE_WAIT`] ("the response completes
//! within seconds"). Two URLs take that shape: `POST /trigger/{flow_id}` names the flow
//! (workflow), and `POST /api/v1/triggers/{id}/invoke` names a trigger, the `apiUrl` of an
//! `api` trigger, which is recorded as the trigger's firing.

use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::Value;

use super::super::lists::Params;
use super::super::runs::{self, RunBody};
use crate::body::JsonBody;
use crate::error::ApiError;
use crate::reply;
use crate::AppState;

/// How long Phinite's routes wait for the run by default.
const PHINITE_WAIT: Duration = Duration::from_secs(30);

/// The run a Phinite body asks for: a body with any of `input`, `idempotencyKey`,
/// `connectionId` is the canonical run body; any other object is the input itself.
fn run_body(body: Value) -> Result<RunBody, ApiError> {
    let Value::Object(map) = body else {
        return Err(ApiError::invalid_field(
            &[],
            "the body must be a JSON object",
        ));
    };
    let canonical = ["input", "idempotencyKey", "connectionId"]
        .iter()
        .any(|k| map.contains_key(*k));
    if canonical {
        return crate::body::from_value(Value::Object(map));
    }
    Ok(RunBody {
        input: (!map.is_empty()).then_some(Value::Object(map)),
        ..RunBody::default()
    })
}

/// Without `?wait=`, the finished run when it ends within [`PHINITE_WAIT`] (202 with the run
/// as it stands otherwise); `?wait=0` answers at once with the run's id; another `?wait=` as
/// on the canonical routes.
fn wait(params: &Params, state: &AppState) -> Result<Option<Duration>, ApiError> {
    let max = Duration::from_secs(state.config.max_wait_secs);
    let wait = match runs::wait_param(params, state.config.max_wait_secs)? {
        None => Some(PHINITE_WAIT.min(max)),
        Some(zero) if zero.is_zero() => None,
        Some(wait) => Some(wait),
    };
    Ok(wait)
}

/// Phinite's `POST /trigger/{flow_id}`: runs the flow (workflow) with the body.
pub(super) async fn run_flow(
    State(state): State<AppState>,
    Path(flow_id): Path<String>,
    Query(params): Query<Params>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<Value>,
) -> Result<Response, ApiError> {
    let body = run_body(body)?;
    let wait = wait(&params, &state)?;
    let (status, data) = runs::start_run(&state, &flow_id, body, &headers, wait).await?;
    Ok(reply::with_status(status, data))
}

/// `POST /api/v1/triggers/{id}/invoke`: runs the trigger's workflow as `run_flow` runs a
/// flow, with the trigger's connection unless the body names one, and records the firing
/// (reason `api`). Any trigger takes it, as any takes `fire`; an `api` trigger shows it as
/// its `apiUrl`. A disabled trigger refuses (INVALID_STATUS), as `fire` does.
pub(super) async fn invoke(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(params): Query<Params>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<Value>,
) -> Result<Response, ApiError> {
    // The body and the query first: a malformed request is refused whatever the trigger.
    let body = run_body(body)?;
    let wait = wait(&params, &state)?;
    let trigger = state.triggers.get(&id).await?;
    super::fire_trigger(&state, trigger, body, &headers, wait, "api", "invoke").await
}
