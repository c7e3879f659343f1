//! The webhook receiver `POST /api/v1/webhooks/{webhookId}`, and the steps of a delivery it
//! shares with StackAI's `POST /v1/webhooks/{webhook_id}` (routes/stackai/hooks.rs). No API
//! key: the unguessable URL names the trigger and, when the trigger has a signature secret,
//! the signature proves the sender. Each accepted delivery starts one run with the body and
//! selected headers as input; a delivery id seen before returns the first delivery's run;
//! every decision (fired, skipped, deduplicated, rejected) is an event in the trigger's
//! stream. A provider trigger (`stripe`'s `on_customer_created`) takes only its events: any
//! other is recorded as skipped and starts nothing.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use engine::executor::StartRun;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use triggers::instances::{signature_config, TriggerEvent, TriggerRecord};

use crate::contract::triggers::{
    Sample, SampleListResponse, SlackChallenge, WebhookAccepted, WebhookAcceptedResponse,
    WebhookAnswer, WebhookAnswerResponse, WebhookIgnored, WebhookOk,
};
use crate::error::{ApiError, ErrorEnvelope};
use crate::openapi::{Forbidden, Internal, PayloadTooLarge, Unauthorized};
use crate::reply;
use crate::AppState;
use credentials::keys::Scope;

/// Headers never copied into a run's input: credentials and signatures.
const HIDDEN_HEADERS: &[&str] = &[
    "authorization",
    "cookie",
    "x-api-key",
    "proxy-authorization",
    "webhook-signature",
    "svix-signature",
    "stripe-signature",
    "x-hub-signature",
    "x-hub-signature-256",
    "x-slack-signature",
    "x-signature-256",
    "typeform-signature",
];
/// Most headers copied into a run's input.
const INPUT_HEADERS_MAX: usize = 64;
/// Headers that carry a delivery id when the trigger has no signature scheme to say.
const DELIVERY_ID_HEADERS: &[&str] = &[
    "webhook-id",
    "x-github-delivery",
    "x-delivery-id",
    "idempotency-key",
];

pub fn router(state: &AppState) -> Router<AppState> {
    let samples = Router::new().route("/api/v1/triggers/{id}/samples", get(samples));
    Router::new()
        .route("/api/v1/webhooks/{id}", post(receive))
        .merge(super::scoped(state, Scope::TriggersRead, samples))
}

pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

pub(crate) fn input_of(headers: &HeaderMap, body: &[u8]) -> Value {
    let body = match serde_json::from_slice::<Value>(body) {
        Ok(json) => json,
        Err(_) if body.is_empty() => Value::Null,
        Err(_) => json!({ "raw": String::from_utf8_lossy(body) }),
    };
    let mut shown = Map::new();
    for (name, value) in headers {
        let name = name.as_str();
        if shown.len() >= INPUT_HEADERS_MAX || HIDDEN_HEADERS.contains(&name) {
            continue;
        }
        if let Ok(value) = value.to_str() {
            shown.insert(name.to_owned(), json!(value));
        }
    }
    json!({ "body": body, "headers": shown })
}

/// The idempotency key of a delivery: `{trigger}:delivery:{id}`, with the id's SHA-256 in
/// place of an id too long for a key.
fn delivery_key(trigger_id: &str, delivery_id: &str) -> String {
    if delivery_id.len() <= 150 {
        format!("{trigger_id}:delivery:{delivery_id}")
    } else {
        let digest = Sha256::digest(delivery_id.as_bytes());
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        format!("{trigger_id}:delivery-sha256:{hex}")
    }
}

/// A URL check a provider makes before it delivers anything, answered without a run:
/// Microsoft Graph's `?validationToken=` (echoed as text/plain, unsigned by design) and
/// Slack's signed `{"type": "url_verification", "challenge"}` (answered with the challenge).
pub(crate) fn validation_answer(
    query: &std::collections::HashMap<String, String>,
) -> Option<Response> {
    let token = query.get("validationToken")?;
    Some(
        (
            StatusCode::OK,
            [(
                axum::http::header::CONTENT_TYPE,
                "text/plain; charset=utf-8",
            )],
            token.clone(),
        )
            .into_response(),
    )
}

pub(crate) fn slack_challenge(body: &[u8]) -> Option<Response> {
    let value: Value = serde_json::from_slice(body).ok()?;
    if value.get("type")?.as_str()? != "url_verification" {
        return None;
    }
    let challenge = value.get("challenge")?.as_str()?.to_owned();
    Some(reply::json(StatusCode::OK, &SlackChallenge { challenge }))
}

/// The headers as `(name, value)` pairs, those that are text.
pub(crate) fn header_pairs(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .filter_map(|(n, v)| Some((n.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect()
}

/// A delivery's id when the trigger has no signature scheme to say.
pub(crate) fn unsigned_delivery_id(headers: &HeaderMap) -> Option<String> {
    DELIVERY_ID_HEADERS
        .iter()
        .find_map(|name| headers.get(*name)?.to_str().ok())
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// The run a delivery started, or found (`duplicate`), or none when the trigger does not
/// take the event (`ignored` says why).
pub(crate) struct Delivered {
    pub run_id: Option<String>,
    pub workflow_id: String,
    pub workflow_version: Option<u64>,
    pub duplicate: bool,
    pub ignored: Option<String>,
}

/// The provider trigger entry a trigger was made from, if any.
pub(crate) fn entry_of(
    state: &AppState,
    trigger: &TriggerRecord,
) -> Option<engine::providers::trigger::ProviderTrigger> {
    let provider = trigger.spec.provider_id.as_deref()?;
    let name = trigger.spec.trigger_name.as_deref()?;
    state
        .runs
        .catalog()
        .provider(provider)?
        .triggers
        .iter()
        .find(|t| t.id == name)
        .cloned()
}

/// Checks a delivery's signature against the trigger's secret: the delivery id on success.
/// A rejection is recorded on the trigger (its URL is secret, so whoever reaches it is
/// worth a record) and answered 401.
pub(crate) async fn verify_recorded(
    state: &AppState,
    trigger: &TriggerRecord,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Option<String>, ApiError> {
    let Some(verifier) = signature_config(&trigger.spec)? else {
        return Ok(unsigned_delivery_id(headers));
    };
    match verifier.verify(&header_pairs(headers), body, now_ms() / 1000) {
        Ok(verified) => Ok(verified.delivery_id),
        Err(rejection) => {
            state
                .triggers
                .record(
                    &trigger.id,
                    &TriggerEvent::TriggerRejected {
                        reason: format!("{}: {rejection}", rejection.code()),
                    },
                )
                .await?;
            Err(ApiError::Unauthorized(format!(
                "webhook signature rejected: {rejection}"
            )))
        }
    }
}

/// Refuses a delivery to a disabled trigger, recording the skip.
pub(crate) async fn refuse_if_disabled(
    state: &AppState,
    trigger: &TriggerRecord,
) -> Result<(), ApiError> {
    if trigger.enabled {
        return Ok(());
    }
    state
        .triggers
        .record(
            &trigger.id,
            &TriggerEvent::TriggerSkipped {
                reason: "disabled: the trigger is disabled".to_owned(),
                scheduled_at_ms: None,
            },
        )
        .await?;
    Err(ApiError::InvalidStatus(
        "this webhook's trigger is disabled".to_owned(),
    ))
}

/// Starts the run of an authenticated delivery (or finds the run its delivery id started):
/// a provider trigger first checks that the event is one of its own.
pub(crate) async fn start_delivery(
    state: &AppState,
    trigger: &TriggerRecord,
    headers: &HeaderMap,
    body: &[u8],
    delivery_id: Option<String>,
) -> Result<Delivered, ApiError> {
    let input = input_of(headers, body);
    if let Some(entry) = entry_of(state, trigger) {
        let payload = &input["body"];
        let pairs = header_pairs(headers);
        if let Err(mismatch) =
            triggers::provider_events::matches(&entry, &trigger.spec.config, &pairs, payload)
        {
            state
                .triggers
                .record(
                    &trigger.id,
                    &TriggerEvent::TriggerSkipped {
                        reason: format!("not this trigger's event: {mismatch}"),
                        scheduled_at_ms: None,
                    },
                )
                .await?;
            return Ok(Delivered {
                run_id: None,
                workflow_id: trigger.spec.workflow_id.clone(),
                workflow_version: None,
                duplicate: false,
                ignored: Some(mismatch.to_string()),
            });
        }
    }
    let idempotency_key = delivery_id
        .as_deref()
        .map(|id| delivery_key(&trigger.id, id));
    let started = state
        .runs
        .start(StartRun {
            workflow_id: trigger.spec.workflow_id.clone(),
            input: Some(input.clone()),
            idempotency_key: idempotency_key.clone(),
            connection_id: trigger.spec.connection_id.clone(),
        })
        .await?;
    let event = if started.existing {
        TriggerEvent::TriggerSkipped {
            reason: format!(
                "deduplicated: delivery {} already started run {}",
                delivery_id.as_deref().unwrap_or_default(),
                started.run_id
            ),
            scheduled_at_ms: None,
        }
    } else {
        TriggerEvent::TriggerFired {
            run_id: started.run_id.clone(),
            reason: "webhook".to_owned(),
            scheduled_at_ms: None,
            idempotency_key,
        }
    };
    state.triggers.record(&trigger.id, &event).await?;
    if !started.existing {
        state
            .triggers
            .add_sample(&trigger.id, &input, now_ms())
            .await?;
    }
    Ok(Delivered {
        run_id: Some(started.run_id),
        workflow_id: started.workflow_id,
        workflow_version: Some(started.workflow_version),
        duplicate: started.existing,
        ignored: None,
    })
}

/// The webhook trigger whose URL carries `webhook_id` (not deleted, still a webhook).
pub(crate) async fn trigger_of_webhook(
    state: &AppState,
    webhook_id: &str,
) -> Result<TriggerRecord, ApiError> {
    state
        .triggers
        .by_webhook(webhook_id)
        .await?
        // A trigger upserted to another type keeps its webhook id but receives nothing.
        .filter(|t| !t.deleted && t.spec.kind == "webhook")
        .ok_or_else(|| ApiError::NotFound("Webhook not found".to_owned()))
}

/// Deliver to a webhook
///
/// No API key: the unguessable URL names the trigger, and when its config has a `signature`
/// the delivery must carry a valid, fresh signature (`webhook-signature`, `Stripe-Signature`,
/// `X-Hub-Signature-256`, `X-Slack-Signature` or the configured header, per scheme). An
/// accepted delivery starts one run with input `{"body": <JSON, or {"raw": text}>,
/// "headers": {...}}` (credentials and signature headers left out) and is kept as a sample.
/// A delivery id seen before (`webhook-id`, `X-GitHub-Delivery`, Stripe's event `id`,
/// Slack's `event_id`, `X-Delivery-Id`, `Idempotency-Key`) answers 200 with the first run.
/// A provider trigger answers 200 with `ignored` for an event that is not its own. Every
/// decision is recorded in the trigger's stream: a refused signature as TriggerRejected, a
/// disabled trigger or an ignored event as TriggerSkipped; none starts a run. Microsoft
/// Graph's `?validationToken=` is echoed as text; Slack's signed challenge is answered
/// `{"challenge"}`.
#[utoipa::path(
    post,
    path = "/api/v1/webhooks/{webhookId}",
    tag = "triggers",
    params(
        ("webhookId" = String, Path, description = "The trigger's `webhookId` (64 hex digits)."),
        ("validationToken" = Option<String>, Query, description = "Microsoft Graph's URL check: echoed as `text/plain`, no run."),
        ("Idempotency-Key" = Option<String>, Header, description = "A delivery id, for triggers without a signature (also `webhook-id`, `X-GitHub-Delivery`, `X-Delivery-Id`)."),
    ),
    request_body(
        content(
            (Value = "application/json"),
            (String = "*/*"),
        ),
        description = "Any bytes, with any Content-Type: a JSON body is passed on as JSON, anything else as `{\"raw\": text}`; an empty body is `null`."
    ),
    responses(
        (status = 200, description = "A delivery id seen before (the first delivery's run, `duplicate: true`), an event the provider trigger does not take (`ignored`), Slack's challenge (`{\"challenge\"}`), or Graph's validation token echoed as text.",
            content(
                (WebhookOk = "application/json"),
                (String = "text/plain"),
            )),
        (status = 202, description = "Accepted: a run started, `duplicate: false`.", body = WebhookAcceptedResponse),
        (status = 400, description = "INVALID_STATUS: the trigger is disabled (\"this webhook's trigger is disabled\"; recorded as TriggerSkipped) or its workflow is not active. VALIDATION_ERROR: the input does not match the workflow's `inputSchema`, or a connection it needs is missing.", body = ErrorEnvelope,
            example = json!({"success": false, "error": {"code": "INVALID_STATUS", "message": "this webhook's trigger is disabled", "details": []}})),
        (status = 401, description = "UNAUTHORIZED: the signature is missing, malformed, wrong or stale (recorded as TriggerRejected; no run).", body = ErrorEnvelope,
            example = json!({"success": false, "error": {"code": "UNAUTHORIZED", "message": "webhook signature rejected: signature does not match: the body or a signed header was changed, or it was signed with another secret", "details": []}})),
        (status = 404, description = "NOT_FOUND: \"Webhook not found\" (no such webhook, its trigger deleted or no longer of type `webhook`), or \"Workflow not found\" (the trigger's workflow was deleted).", body = ErrorEnvelope),
        (status = 413, response = PayloadTooLarge),
        (status = 500, response = Internal),
    ),
    security(())
)]
pub(crate) async fn receive(
    State(state): State<AppState>,
    Path(webhook_id): Path<String>,
    Query(query): Query<std::collections::HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let trigger = trigger_of_webhook(&state, &webhook_id).await?;
    if let Some(answer) = validation_answer(&query) {
        return Ok(answer);
    }
    refuse_if_disabled(&state, &trigger).await?;
    let delivery_id = verify_recorded(&state, &trigger, &headers, &body).await?;
    // Slack checks a URL with a signed challenge before it sends events to it.
    if let Some(answer) = slack_challenge(&body) {
        return Ok(answer);
    }
    let delivered = start_delivery(&state, &trigger, &headers, &body, delivery_id).await?;
    let answer = match (
        delivered.run_id,
        delivered.workflow_version,
        delivered.ignored,
    ) {
        (Some(run_id), Some(workflow_version), None) => WebhookAccepted {
            run_id: run_id.into(),
            status: "pending".to_owned(),
            workflow_id: delivered.workflow_id.into(),
            workflow_version,
            trigger_id: trigger.id.into(),
            duplicate: delivered.duplicate,
        },
        (run_id, workflow_version, ignored) => {
            let ignored = WebhookIgnored {
                run_id: run_id.map(Into::into),
                status: None,
                workflow_id: delivered.workflow_id.into(),
                workflow_version,
                trigger_id: trigger.id.into(),
                duplicate: delivered.duplicate,
                ignored: ignored.unwrap_or_default(),
            };
            let answer = WebhookAnswerResponse::new(WebhookAnswer::Ignored(ignored));
            return Ok(reply::json(StatusCode::OK, &WebhookOk::Answer(answer)));
        }
    };
    if answer.duplicate {
        let answer = WebhookAnswerResponse::new(WebhookAnswer::Accepted(answer));
        return Ok(reply::json(StatusCode::OK, &WebhookOk::Answer(answer)));
    }
    Ok(reply::json(
        StatusCode::ACCEPTED,
        &WebhookAcceptedResponse::new(answer),
    ))
}

/// List a trigger's samples
///
/// Required scope: `triggers:read`. The last 20 payloads the trigger received (a webhook
/// delivery's `{body, headers}` input), newest first, in one page.
#[utoipa::path(
    get,
    path = "/api/v1/triggers/{id}/samples",
    tag = "triggers",
    params(("id" = String, Path, description = "Trigger id (`trg_...`).")),
    responses(
        (status = 200, description = "The samples.", body = SampleListResponse),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "NOT_FOUND: \"Trigger not found\".", body = ErrorEnvelope),
        (status = 500, response = Internal),
    ),
    security(("apiKey" = []), ("bearerAuth" = []))
)]
pub(crate) async fn samples(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    state.triggers.get(&id).await?;
    let samples = state
        .triggers
        .samples(&id)
        .await?
        .into_iter()
        .map(|(sample, payload)| Sample {
            received_at: reply::time(sample.received_at_ms * 1000),
            payload,
        })
        .collect();
    Ok(reply::json(
        StatusCode::OK,
        &SampleListResponse::all(samples),
    ))
}
