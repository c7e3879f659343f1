//! StackAI's webhook handler, `POST /v1/webhooks/{webhook_id}` (no API key). The seed:
//! "either an app webhook provider (e.g., 'slack', 'github') or a project trigger UUID".
//! `webhook_id` is, in this order:
//!
//! 1. a webhook trigger's secret URL id (64 hex digits, its `webhook_data.webhook_id`);
//! 2. a project trigger id (its UUID, or `trg_...`) of a webhook trigger;
//! 3. a provider whose file lists triggers (`stripe`, `github`, `slack`, `typeform`): the
//!    delivery goes to every enabled trigger of that provider whose event it is
//!    (`triggers::provider_events::matches`: Stripe's `type`, GitHub's `X-GitHub-Event` and
//!    `action`, Slack's `event.type`, pinned targets such as Slack's `team_id`) and whose
//!    own signing secret verifies its signature. A trigger without a secret is never reached
//!    this way: a shared URL proves nothing about the sender, so only its own URL reaches it.
//!
//! For 1 and 2 the rules of `/api/v1/webhooks` hold (routes/webhooks.rs). For 3, a signature
//! that no matching trigger's secret verifies is answered 401 and recorded nowhere (anyone
//! can post to a shared URL; recording would let them grow every trigger's stream); an event
//! no trigger takes is answered 200 with no runs, so the provider does not retry it. Each
//! trigger deduplicates on its own delivery ids, so a replayed event starts nothing new.
//! Answers are plain: `{"runs": [{"project_trigger_id", "project_id", "run_id",
//! "duplicate"}]}` (200), or a URL check's answer (Slack's challenge, Graph's token).

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use triggers::instances::{signature_config, TriggerFilter, TriggerRecord};

use super::fastapi::StackError;
use super::ids;
use crate::error::ApiError;
use crate::routes::webhooks::{
    entry_of, header_pairs, input_of, now_ms, refuse_if_disabled, slack_challenge, start_delivery,
    trigger_of_webhook, validation_answer, verify_recorded, Delivered,
};
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/webhooks/{webhook_id}", post(receive))
}

fn run_json(trigger: &TriggerRecord, delivered: &Delivered) -> Value {
    json!({
        "project_trigger_id": ids::shown(&trigger.id, ids::TRIGGER_PREFIX),
        "project_id": delivered.workflow_id,
        "run_id": delivered.run_id,
        "duplicate": delivered.duplicate,
    })
}

fn not_found() -> StackError {
    StackError::Api(ApiError::NotFound("Webhook not found".to_owned()))
}

async fn receive(
    State(state): State<AppState>,
    Path(webhook_id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, StackError> {
    let is_url_id = webhook_id.len() == 64 && webhook_id.bytes().all(|b| b.is_ascii_hexdigit());
    if is_url_id {
        let trigger = trigger_of_webhook(&state, &webhook_id).await?;
        return one_trigger(&state, &trigger, &query, &headers, &body).await;
    }
    if let Some(id) = ids::duro_id(&webhook_id, ids::TRIGGER_PREFIX) {
        let trigger = match state.triggers.get(&id).await {
            Ok(trigger) if trigger.spec.kind == "webhook" => trigger,
            _ => return Err(not_found()),
        };
        return one_trigger(&state, &trigger, &query, &headers, &body).await;
    }
    let has_triggers = state
        .runs
        .catalog()
        .provider(&webhook_id)
        .is_some_and(|p| !p.triggers.is_empty());
    if has_triggers {
        return provider_delivery(&state, &webhook_id, &query, &headers, &body).await;
    }
    Err(not_found())
}

/// A delivery to one trigger, as `/api/v1/webhooks` takes it, answered plainly.
async fn one_trigger(
    state: &AppState,
    trigger: &TriggerRecord,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, StackError> {
    if let Some(answer) = validation_answer(query) {
        return Ok(answer);
    }
    refuse_if_disabled(state, trigger).await?;
    let delivery_id = verify_recorded(state, trigger, headers, body).await?;
    if let Some(answer) = slack_challenge(body) {
        return Ok(answer);
    }
    let delivered = start_delivery(state, trigger, headers, body, delivery_id).await?;
    let mut answer = json!({ "runs": [] });
    match &delivered.ignored {
        Some(reason) => answer["ignored"] = json!(reason),
        None => answer["runs"] = json!([run_json(trigger, &delivered)]),
    }
    Ok((StatusCode::OK, Json(answer)).into_response())
}

/// The enabled webhook triggers of `provider` that hold a signing secret.
async fn candidates(state: &AppState, provider: &str) -> Result<Vec<TriggerRecord>, StackError> {
    let filter = TriggerFilter {
        kind: Some("webhook".to_owned()),
        show_disabled: false,
        ..TriggerFilter::default()
    };
    let triggers = state.triggers.list_all(&filter).await?;
    Ok(triggers
        .into_iter()
        .filter(|t| {
            t.spec.provider_id.as_deref() == Some(provider)
                && matches!(signature_config(&t.spec), Ok(Some(_)))
        })
        .collect())
}

/// A delivery to a provider's shared URL, routed to the triggers it is for.
async fn provider_delivery(
    state: &AppState,
    provider: &str,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, StackError> {
    if let Some(answer) = validation_answer(query) {
        return Ok(answer);
    }
    let pairs = header_pairs(headers);
    let payload = input_of(headers, body)["body"].take();
    let is_challenge = slack_challenge(body).is_some();
    let now_secs = now_ms() / 1000;
    let mut matched = 0usize;
    let mut verified = 0usize;
    let mut runs = Vec::new();
    for trigger in candidates(state, provider).await? {
        let Some(entry) = entry_of(state, &trigger) else {
            continue;
        };
        // A URL check is for the app, not an event: any trigger of the provider may verify it.
        let for_this = is_challenge
            || triggers::provider_events::matches(&entry, &trigger.spec.config, &pairs, &payload)
                .is_ok();
        if !for_this {
            continue;
        }
        matched += 1;
        let Ok(Some(verifier)) = signature_config(&trigger.spec) else {
            continue;
        };
        let delivery_id = match verifier.verify(&pairs, body, now_secs) {
            Ok(verified) => verified.delivery_id,
            Err(rejection) => {
                tracing::debug!(trigger = %trigger.id, %rejection, "not this trigger's secret");
                continue;
            }
        };
        verified += 1;
        if let Some(answer) = slack_challenge(body).filter(|_| is_challenge) {
            return Ok(answer);
        }
        let delivered = start_delivery(state, &trigger, headers, body, delivery_id).await?;
        if delivered.ignored.is_none() {
            runs.push(run_json(&trigger, &delivered));
        }
    }
    if matched > 0 && verified == 0 {
        return Err(StackError::Api(ApiError::Unauthorized(format!(
            "webhook signature rejected: no {provider} trigger's signing secret verifies it"
        ))));
    }
    Ok((StatusCode::OK, Json(json!({ "runs": runs }))).into_response())
}
