//! StackAI's deprecated routes, still served as the seed lists them:
//! `POST /organizations/{org_id}/triggers/{project_trigger_id}/{webhook|polling|scheduled}/key/{api_key}`.
//! They are how an outside scheduler (or a sender that cannot sign) drove a trigger: the API
//! key in the path authenticates, with the scope `workflows:execute` (they start runs) and
//! the execute rate limit. Duro has no organizations: `org_id` is taken and not checked.
//!
//! - `webhook`: a delivery to a webhook trigger (body and headers as input, deduplicated on
//!   the delivery id headers); the key stands in for a signature, which is not checked.
//!   `?provider_id=` and `?trigger_id=`, when given, must be the trigger's.
//! - `polling`: one poll of a polling trigger now, from its journaled cursor.
//! - `scheduled`: one run of a schedule (or manual) trigger now, input `{triggerId,
//!   scheduledAt}`; an `Idempotency-Key` header makes a retried call start nothing new.
//!
//! Each answers 204 (the seed: "No content"); `X-Run-Id` names the run started (webhook,
//! scheduled), `X-Runs-Started` counts a poll's runs.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use engine::executor::StartRun;
use serde_json::json;
use triggers::instances::{TriggerEvent, TriggerRecord};
use triggers::runner::PollError;

use super::fastapi::StackError;
use super::trigger_at;
use crate::error::ApiError;
use crate::routes::webhooks::{refuse_if_disabled, start_delivery, unsigned_delivery_id};
use crate::AppState;
use credentials::keys::{KeyInfo, Scope};

const BASE: &str = "/organizations/{org_id}/triggers/{project_trigger_id}";

pub fn router() -> Router<AppState> {
    Router::new()
        .route(&format!("{BASE}/webhook/key/{{api_key}}"), post(webhook))
        .route(&format!("{BASE}/polling/key/{{api_key}}"), post(polling))
        .route(
            &format!("{BASE}/scheduled/key/{{api_key}}"),
            post(scheduled),
        )
}

/// The path's parameters.
type KeyPath = Path<(String, String, String)>;

/// The active key the path presents, holding `workflows:execute`, within its rate limit.
async fn key_of(state: &AppState, secret: &str) -> Result<KeyInfo, StackError> {
    let key = match state.keys.authenticate(secret).await? {
        Some(key) if !key.is_revoked() => key,
        _ => return Err(ApiError::Unauthorized("Invalid API key".to_owned()).into()),
    };
    if !key.allows(Scope::WorkflowsExecute) {
        return Err(ApiError::Forbidden(format!(
            "API key {} lacks the scope {} that this route needs",
            key.id,
            Scope::WorkflowsExecute
        ))
        .into());
    }
    state.limits.check_execute(&key.id)?;
    Ok(key)
}

/// The trigger, which must be of one of `kinds`.
async fn trigger_of(
    state: &AppState,
    id: &str,
    kinds: &[&str],
) -> Result<TriggerRecord, StackError> {
    let trigger = trigger_at(state, id).await?;
    if !kinds.contains(&trigger.spec.kind.as_str()) {
        return Err(ApiError::InvalidStatus(format!(
            "this is a {} trigger; this route takes {} triggers",
            trigger.spec.kind,
            kinds.join(" or ")
        ))
        .into());
    }
    Ok(trigger)
}

fn no_content(header: &'static str, value: &str) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    if let Ok(value) = HeaderValue::from_str(value) {
        response.headers_mut().insert(header, value);
    }
    response
}

async fn webhook(
    State(state): State<AppState>,
    Path((_org_id, id, api_key)): KeyPath,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, StackError> {
    key_of(&state, &api_key).await?;
    let trigger = trigger_of(&state, &id, &["webhook"]).await?;
    let kind = trigger.spec.kind.as_str();
    for (field, actual) in [
        (
            "provider_id",
            trigger.spec.provider_id.as_deref().unwrap_or(kind),
        ),
        (
            "trigger_id",
            trigger.spec.trigger_name.as_deref().unwrap_or(kind),
        ),
    ] {
        if query.get(field).is_some_and(|given| given != actual) {
            return Err(StackError::invalid(
                &["query", field],
                format!("this trigger's {field} is {actual:?}"),
                "value_error",
            ));
        }
    }
    refuse_if_disabled(&state, &trigger).await?;
    let delivery_id = unsigned_delivery_id(&headers);
    let delivered = start_delivery(&state, &trigger, &headers, &body, delivery_id).await?;
    Ok(no_content(
        "x-run-id",
        delivered.run_id.as_deref().unwrap_or_default(),
    ))
}

async fn polling(
    State(state): State<AppState>,
    Path((_org_id, id, api_key)): KeyPath,
) -> Result<Response, StackError> {
    key_of(&state, &api_key).await?;
    let trigger = trigger_of(&state, &id, &["polling"]).await?;
    let started =
        state
            .trigger_runner
            .poll_now(&trigger.id)
            .await
            .map_err(|error| match error {
                PollError::NotFound(_) => ApiError::NotFound("Trigger not found".to_owned()),
                PollError::NotPolling(_) | PollError::Disabled => {
                    ApiError::InvalidStatus(error.to_string())
                }
                PollError::Failed(_) => ApiError::Unavailable(error.to_string()),
            })?;
    Ok(no_content("x-runs-started", &started.to_string()))
}

async fn scheduled(
    State(state): State<AppState>,
    Path((_org_id, id, api_key)): KeyPath,
    headers: HeaderMap,
) -> Result<Response, StackError> {
    key_of(&state, &api_key).await?;
    let trigger = trigger_of(&state, &id, &["schedule", "manual"]).await?;
    if !trigger.enabled {
        return Err(ApiError::InvalidStatus("the trigger is disabled".to_owned()).into());
    }
    let idempotency_key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(|v| format!("{}:scheduled:{}", trigger.id, v.trim()));
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let started = state
        .runs
        .start(StartRun {
            workflow_id: trigger.spec.workflow_id.clone(),
            input: Some(json!({ "triggerId": trigger.id, "scheduledAt": now })),
            idempotency_key: idempotency_key.clone(),
            connection_id: trigger.spec.connection_id.clone(),
        })
        .await?;
    let event = if started.existing {
        TriggerEvent::TriggerSkipped {
            reason: format!(
                "deduplicated: the idempotency key already started run {}",
                started.run_id
            ),
            scheduled_at_ms: None,
        }
    } else {
        TriggerEvent::TriggerFired {
            run_id: started.run_id.clone(),
            reason: "scheduled (deprecated key route)".to_owned(),
            scheduled_at_ms: None,
            idempotency_key,
        }
    };
    state.triggers.record(&trigger.id, &event).await?;
    Ok(no_content("x-run-id", &started.run_id))
}
