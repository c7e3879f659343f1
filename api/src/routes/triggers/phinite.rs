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

/// Invoke a trigger (Phinite's API trigger)
///
/// Required scope: `workflows:execute`, and each call takes one request from the key's
/// execute rate limit. An `api` trigger's `apiUrl` (any trigger takes it). Runs the trigger's
/// workflow as Phinite's `POST /trigger/{flow_id}` does: a body with none of `input`,
/// `idempotencyKey`, `connectionId` is the input itself; the trigger's `connectionId` when the
/// body has none. Without `?wait=`, waits up to 30 s and answers 200 with the finished run,
/// or 202 with the run as it stands; `?wait=0` answers 202 at once. Records a TriggerFired
/// event (reason `api`); with `triggerId`.
#[utoipa::path(
    post,
    path = "/api/v1/triggers/{id}/invoke",
    tag = "triggers",
    params(
        ("id" = String, Path, description = "Trigger id (`trg_...`)."),
        ("wait" = Option<f64>, Query, minimum = 0, description = "Seconds to wait for the run to end (default 30; 0 answers at once; capped by the server)."),
        ("Idempotency-Key" = Option<String>, Header, description = "Used when the body has no `idempotencyKey`."),
    ),
    request_body(content = crate::contract::runs::RunRequest, description = "Optional: the run's input itself (an object with none of `input`, `idempotencyKey`, `connectionId`), or a `RunRequest`; an empty body is `{}`."),
    responses(
        (status = 200, description = "The run once it has ended, or an idempotent repeat; with `triggerId`.", body = crate::contract::triggers::TriggerFiredResponse),
        (status = 202, description = "Still running at the deadline (or `?wait=0`): the run as it stands, with `triggerId`.", body = crate::contract::triggers::TriggerFiredResponse),
        (status = 400, description = "INVALID_STATUS: the trigger is disabled, or its workflow is not active. VALIDATION_ERROR: a body that is not an object, an input invalid against the workflow's `inputSchema`, or `wait` not a number of seconds.", body = crate::error::ErrorEnvelope),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, description = "NOT_FOUND: \"Trigger not found\", or \"Workflow not found\".", body = crate::error::ErrorEnvelope),
        (status = 413, response = crate::openapi::PayloadTooLarge),
        (status = 429, response = crate::openapi::RateLimited),
        (status = 500, response = crate::openapi::Internal),
    ),
    security(("apiKey" = []), ("bearerAuth" = []))
)]
pub(crate) async fn invoke(
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
