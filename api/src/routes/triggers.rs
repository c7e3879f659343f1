//! Trigger instances: the canonical `/api/v1/triggers` routes, the trigger-type catalog, run
//! now, and the compatibility routes of Flowra (seed 000) and Phinite (seed 003). Every change
//! and every firing is an event in the trigger's `trigger-{id}` stream (triggers::instances).
//!
//! - `patch`: `PATCH /api/v1/triggers/{id}`, an edit by id with a partial body.
//! - `phinite`: Phinite's run-with-the-key shape, for `POST /trigger/{flow_id}` and an `api`
//!   trigger's own URL, `POST /api/v1/triggers/{id}/invoke`.

mod patch;
mod phinite;

use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, patch, post, put};
use axum::{Extension, Router};
use readmodels::{TriggerQuery, LIMIT_MAX};
use serde::Deserialize;
use serde_json::{json, Value};
use triggers::instances::{TriggerEvent, TriggerFilter, TriggerRecord, TriggerSpec};

use super::lists::{self, Params};
use super::runs::{self, RunBody};
use crate::body::JsonBody;
use crate::error::{ApiError, Detail};
use crate::reply;
use crate::AppState;
use credentials::keys::{KeyInfo, Scope};

pub fn router(state: &AppState) -> Router<AppState> {
    let read = Router::new()
        .route("/api/v1/triggers", get(list))
        .route("/api/v1/triggers/{id}", get(detail))
        .route("/api/v1/trigger-types", get(types))
        .route("/api/v1/trigger_instances/active", get(list_flowra));
    let write = Router::new()
        .route("/api/v1/triggers/{id}", put(upsert))
        .route("/api/v1/triggers/{id}", axum::routing::delete(remove))
        .route("/api/v1/triggers/{id}", patch(patch::edit))
        .route("/api/v1/triggers/{id}/status", patch(set_status))
        .route(
            "/api/v1/trigger_instances/{slug}/upsert",
            post(upsert_flowra),
        )
        .route(
            "/api/v1/trigger_instances/manage/{id}/status",
            patch(set_status_flowra),
        )
        .route(
            "/api/v1/trigger_instances/manage/{id}",
            axum::routing::delete(remove),
        );
    let execute = Router::new()
        .route("/api/v1/triggers/{id}/fire", post(fire))
        .route("/api/v1/triggers/{id}/invoke", post(phinite::invoke))
        .route("/trigger/{flow_id}", post(phinite::run_flow));
    Router::new()
        .merge(super::scoped(state, Scope::TriggersRead, read))
        .merge(super::scoped(state, Scope::TriggersWrite, write))
        .merge(super::executing(state, execute))
}

impl From<triggers::instances::TriggerError> for ApiError {
    fn from(error: triggers::instances::TriggerError) -> ApiError {
        use triggers::instances::TriggerError;
        match error {
            TriggerError::NotFound(_) => ApiError::NotFound("Trigger not found".to_owned()),
            TriggerError::Invalid(problems) => ApiError::Validation {
                message: "Trigger is invalid".to_owned(),
                details: problems.into_iter().map(Into::into).collect(),
            },
            TriggerError::Conflict(_) => ApiError::Conflict(error.to_string()),
            TriggerError::Corrupt(_) | TriggerError::Store(_) => {
                ApiError::Internal(error.to_string())
            }
        }
    }
}

/// The host the client used, for the URLs shown in answers.
fn host(headers: &HeaderMap) -> &str {
    headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost")
}

/// Where a webhook trigger receives deliveries, on the host the client used.
fn webhook_url(headers: &HeaderMap, webhook_id: &str) -> String {
    format!("http://{}/api/v1/webhooks/{webhook_id}", host(headers))
}

/// Where an `api` trigger is called (with an API key), on the host the client used.
fn api_url(headers: &HeaderMap, trigger: &TriggerRecord) -> Option<String> {
    (trigger.named_kind == "api").then(|| {
        format!(
            "http://{}/api/v1/triggers/{}/invoke",
            host(headers),
            trigger.id
        )
    })
}

/// A trigger as the API shows it. A webhook signature's secret is never shown.
pub fn trigger_json(trigger: &TriggerRecord, headers: &HeaderMap) -> Value {
    let mut config = trigger.spec.config.clone();
    if let Some(secret) = config.pointer_mut("/signature/secret") {
        *secret = json!("********");
    }
    json!({
        "id": trigger.id,
        "slug": trigger.slug,
        "type": trigger.named_kind,
        "workflowId": trigger.spec.workflow_id,
        "connectionId": trigger.spec.connection_id,
        "providerId": trigger.spec.provider_id,
        "triggerName": trigger.spec.trigger_name,
        "config": config,
        "status": if trigger.enabled { "enabled" } else { "disabled" },
        "webhookId": trigger.webhook_id,
        "webhookUrl": trigger.webhook_id.as_deref().map(|id| webhook_url(headers, id)),
        "apiUrl": api_url(headers, trigger),
        "webhookData": trigger.spec.webhook_data,
        "cursorData": trigger.cursor_data,
        "fired": trigger.fired,
        "createdBy": trigger.created_by,
        "updatedBy": trigger.updated_by,
        "createdAt": reply::time(trigger.created_at_us),
        "updatedAt": reply::time(trigger.updated_at_us),
    })
}

fn parse_status(value: &Value, field: &str) -> Result<bool, ApiError> {
    match value {
        Value::String(s)
            if s.eq_ignore_ascii_case("enabled") || s.eq_ignore_ascii_case("active") =>
        {
            Ok(true)
        }
        Value::String(s)
            if s.eq_ignore_ascii_case("disabled") || s.eq_ignore_ascii_case("inactive") =>
        {
            Ok(false)
        }
        Value::Bool(enabled) => Ok(*enabled),
        _ => Err(ApiError::invalid_field(
            &[field],
            "must be \"enabled\" or \"disabled\"",
        )),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UpsertBody {
    #[serde(rename = "type")]
    kind: String,
    workflow_id: String,
    #[serde(default)]
    config: Value,
    #[serde(default)]
    connection_id: Option<String>,
    #[serde(default)]
    status: Option<Value>,
    #[serde(default)]
    webhook_data: Option<Value>,
    #[serde(default)]
    provider_id: Option<String>,
    #[serde(default)]
    trigger_name: Option<String>,
}

async fn upsert(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    Extension(key): Extension<KeyInfo>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<UpsertBody>,
) -> Result<Response, ApiError> {
    upsert_body(&state, &slug, &key, &headers, body).await
}

/// The fields of an upsert body (`UpsertBody`), which a PATCH may also send.
pub(super) const UPSERT_FIELDS: [&str; 8] = [
    "type",
    "workflowId",
    "config",
    "connectionId",
    "status",
    "webhookData",
    "providerId",
    "triggerName",
];

/// Pairs of names for one field: (canonical, Flowra's). Both may be sent only if equal.
const FLOWRA_ALIASES: [(&str, &str); 3] = [
    ("type", "triggerType"),
    ("config", "triggerConfig"),
    ("connectionId", "connectedAccountId"),
];

/// Seed 000's upsert body as the canonical one: unknown fields are refused (all named at
/// once), Flowra's names are read as the canonical ones, and without a type the slug is the
/// type when it names one ("you pass the slug (e.g. for schedule)"); any case.
fn flowra_upsert_body(slug: &str, body: Value) -> Result<UpsertBody, ApiError> {
    let Value::Object(mut fields) = body else {
        return Err(ApiError::invalid_field(&[], "must be a JSON object"));
    };
    let unknown: Vec<Detail> = fields
        .keys()
        // Flowra's UpsertTriggerInstanceDto (seed 000): the upsert's fields and the product's
        // names of three of them. Any other field is refused.
        .filter(|key| {
            !UPSERT_FIELDS.contains(&key.as_str())
                && !FLOWRA_ALIASES.iter().any(|(_, alias)| alias == key)
        })
        .map(|key| {
            Detail::new(
                &[key.as_str()],
                "is not a field of UpsertTriggerInstanceDto",
            )
        })
        .collect();
    if !unknown.is_empty() {
        let names: Vec<String> = unknown.iter().map(|d| d.path.join(".")).collect();
        return Err(ApiError::Validation {
            message: format!("unknown fields: {}", names.join(", ")),
            details: unknown,
        });
    }
    for (canonical, alias) in FLOWRA_ALIASES {
        if let Some(value) = fields.remove(alias) {
            match fields.get(canonical) {
                Some(other) if *other != value => {
                    return Err(ApiError::invalid_field(
                        &[alias],
                        format!("is another name for {canonical} and differs from it"),
                    ))
                }
                _ => {
                    fields.insert(canonical.to_owned(), value);
                }
            }
        }
    }
    match fields.get_mut("type") {
        Some(Value::String(kind)) => *kind = kind.to_ascii_lowercase(),
        Some(_) => {}
        None => {
            let kind = slug.to_ascii_lowercase();
            if triggers::catalog::find(&kind).is_none() {
                return Err(ApiError::invalid_field(
                    &["type"],
                    "is required: send type (or triggerType), or upsert a slug that names a \
                     trigger type",
                ));
            }
            fields.insert("type".to_owned(), Value::String(kind));
        }
    }
    crate::body::from_value(Value::Object(fields))
}

/// Seed 000's `POST /trigger_instances/{slug}/upsert` (see [`flowra_upsert_body`]).
async fn upsert_flowra(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    Extension(key): Extension<KeyInfo>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<Value>,
) -> Result<Response, ApiError> {
    let body = flowra_upsert_body(&slug, body)?;
    upsert_body(&state, &slug, &key, &headers, body).await
}

async fn upsert_body(
    state: &AppState,
    slug: &str,
    key: &KeyInfo,
    headers: &HeaderMap,
    body: UpsertBody,
) -> Result<Response, ApiError> {
    let enabled = body
        .status
        .as_ref()
        .map(|s| parse_status(s, "status"))
        .transpose()?;
    // The workflow must exist when the trigger is made (it may be deleted later).
    state.runs.workflows().get(&body.workflow_id).await?;
    let spec = TriggerSpec {
        kind: body.kind,
        workflow_id: body.workflow_id,
        config: body.config,
        connection_id: body.connection_id,
        webhook_data: body.webhook_data,
        provider_id: body.provider_id,
        trigger_name: body.trigger_name,
    };
    let (trigger, created) = state
        .triggers
        .upsert(slug, spec, enabled, true, Some(key.id.clone()))
        .await?;
    state.trigger_runner.changed();
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(reply::with_status(status, trigger_json(&trigger, headers)))
}

async fn detail(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let trigger = state.triggers.get(&id).await?;
    Ok(reply::ok(trigger_json(&trigger, &headers)))
}

async fn remove(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Extension(key): Extension<KeyInfo>,
) -> Result<Response, ApiError> {
    state.triggers.delete(&id, Some(key.id)).await?;
    state.trigger_runner.changed();
    Ok(reply::ok(json!({ "id": id, "deleted": true })))
}

#[derive(Deserialize)]
struct StatusBody {
    status: Value,
}

async fn set_status(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Extension(key): Extension<KeyInfo>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<StatusBody>,
) -> Result<Response, ApiError> {
    let enabled = parse_status(&body.status, "status")?;
    change_status(&state, &id, enabled, &key, &headers).await
}

/// Seed 000's status body: `{"status": ...}` as the canonical route takes it or `"enable"` /
/// `"disable"`, and/or `{"enabled": bool}`; when both are sent they must agree.
fn flowra_enabled(body: &Value) -> Result<bool, ApiError> {
    let Value::Object(fields) = body else {
        return Err(ApiError::invalid_field(&[], "must be a JSON object"));
    };
    let from_status = fields
        .get("status")
        .map(|value| match value {
            Value::String(s) if s.eq_ignore_ascii_case("enable") => Ok(true),
            Value::String(s) if s.eq_ignore_ascii_case("disable") => Ok(false),
            other => parse_status(other, "status").map_err(|_| {
                ApiError::invalid_field(
                    &["status"],
                    "must be \"enabled\", \"disabled\", \"enable\", \"disable\" or a boolean",
                )
            }),
        })
        .transpose()?;
    let from_enabled = fields
        .get("enabled")
        .map(|value| {
            value
                .as_bool()
                .ok_or_else(|| ApiError::invalid_field(&["enabled"], "must be true or false"))
        })
        .transpose()?;
    match (from_status, from_enabled) {
        (Some(a), Some(b)) if a != b => Err(ApiError::invalid_field(
            &["enabled"],
            "disagrees with status; send one of them",
        )),
        (Some(enabled), _) | (None, Some(enabled)) => Ok(enabled),
        (None, None) => Err(ApiError::invalid_field(
            &["status"],
            "is required (or enabled: true or false)",
        )),
    }
}

async fn set_status_flowra(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Extension(key): Extension<KeyInfo>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<Value>,
) -> Result<Response, ApiError> {
    let enabled = flowra_enabled(&body)?;
    change_status(&state, &id, enabled, &key, &headers).await
}

async fn change_status(
    state: &AppState,
    id: &str,
    enabled: bool,
    key: &KeyInfo,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let trigger = state
        .triggers
        .set_enabled(id, enabled, Some(key.id.clone()))
        .await?;
    state.trigger_runner.changed();
    Ok(reply::ok(trigger_json(&trigger, headers)))
}

/// Comma-separated values of any of `names` (`a,b` or repeated as one string).
fn list_param(params: &Params, names: &[&str]) -> Vec<String> {
    names
        .iter()
        .filter_map(|n| params.get(*n))
        .flat_map(|v| v.split(','))
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .collect()
}

fn filter_of(params: &Params, show_disabled_default: bool) -> Result<TriggerFilter, ApiError> {
    let show_disabled = match params.get("showDisabled").map(|v| v.trim()) {
        None | Some("") => show_disabled_default,
        Some("true") | Some("1") => true,
        Some("false") | Some("0") => false,
        Some(other) => {
            return Err(ApiError::invalid_field(
                &["showDisabled"],
                format!("must be true or false, not {other:?}"),
            ))
        }
    };
    Ok(TriggerFilter {
        workflow_id: params.get("workflowId").cloned().filter(|v| !v.is_empty()),
        kind: params.get("type").cloned().filter(|v| !v.is_empty()),
        connection_ids: list_param(params, &["connectedAccountIds", "connectionIds"]),
        names: list_param(params, &["triggerNames", "trigger_names"]),
        ids: list_param(params, &["triggerIds", "trigger_ids"]),
        show_disabled,
    })
}

/// One page of the triggers passing `filter` (`limit`, `cursor` from `params`): the ids, in
/// creation order, from the read models (once they have applied everything committed now),
/// then each trigger from its stream, so items are the full triggers. A trigger deleted in
/// between is left out. Returns the triggers, the next cursor and the limit.
pub(crate) async fn trigger_page(
    state: &AppState,
    filter: TriggerFilter,
    params: &Params,
) -> Result<(Vec<TriggerRecord>, Option<String>, usize), ApiError> {
    let limit = lists::limit(params)?;
    let cursor = params
        .get("cursor")
        .map(|c| c.trim())
        .filter(|c| !c.is_empty())
        .map(str::to_owned);
    let (items, next) = trigger_page_at(state, filter, limit, cursor).await?;
    Ok((items, next, limit))
}

/// One page of at most `limit` triggers passing `filter` after `cursor` (see
/// [`trigger_page`]).
async fn trigger_page_at(
    state: &AppState,
    filter: TriggerFilter,
    limit: usize,
    cursor: Option<String>,
) -> Result<(Vec<TriggerRecord>, Option<String>), ApiError> {
    let query = TriggerQuery {
        workflow_id: filter.workflow_id,
        kind: filter.kind,
        connection_ids: filter.connection_ids,
        names: filter.names,
        ids: filter.ids,
        show_disabled: filter.show_disabled,
        limit,
        cursor,
    };
    lists::caught_up(state).await?;
    // An invalid cursor is a VALIDATION_ERROR naming `cursor` (`From<ReadModelError>`).
    let page = state.read_models.list_triggers(&query)?;
    let mut items = Vec::with_capacity(page.items.len());
    for summary in &page.items {
        match state.triggers.get(&summary.trigger_id).await {
            Ok(trigger) => items.push(trigger),
            Err(triggers::instances::TriggerError::NotFound(_)) => {}
            Err(other) => return Err(other.into()),
        }
    }
    Ok((items, page.next_cursor))
}

async fn list_page(
    state: &AppState,
    params: &Params,
    headers: &HeaderMap,
    show_disabled_default: bool,
) -> Result<Response, ApiError> {
    let filter = filter_of(params, show_disabled_default)?;
    let (items, next, limit) = trigger_page(state, filter, params).await?;
    let items: Vec<Value> = items.iter().map(|t| trigger_json(t, headers)).collect();
    Ok(reply::page(items, next, limit))
}

/// `GET /api/v1/triggers`: workflowId, type, connectedAccountIds, triggerNames, triggerIds,
/// showDisabled (default true here), limit, cursor.
async fn list(
    State(state): State<AppState>,
    Query(params): Query<Params>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    list_page(&state, &params, &headers, true).await
}

/// Seed 000's `GET /trigger_instances/active`: enabled triggers unless showDisabled; also
/// `authConfigIds` (the triggers whose connection has one of these auth configs; with
/// `connectedAccountIds` too, both must hold) and `page` (from 1, walked from the start as
/// Flowra's workflow listings are, at most `flowra::OFFSET_MAX` items in).
async fn list_flowra(
    State(state): State<AppState>,
    Query(params): Query<Params>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let mut filter = filter_of(&params, false)?;
    let limit = lists::limit(&params)?;
    let skip = super::flowra::skip(&params, limit)?;
    let auth_config_ids = list_param(&params, &["authConfigIds", "auth_config_ids"]);
    if !auth_config_ids.is_empty() {
        let accounts: Vec<String> = state
            .connections
            .list()
            .await?
            .into_iter()
            .filter(|c| {
                c.auth_config_id
                    .as_ref()
                    .is_some_and(|id| auth_config_ids.contains(id))
            })
            .map(|c| c.id)
            .filter(|id| filter.connection_ids.is_empty() || filter.connection_ids.contains(id))
            .collect();
        // No connection has them: nothing can match (an empty list would mean "any").
        if accounts.is_empty() {
            return Ok(reply::page(Vec::<Value>::new(), None, limit));
        }
        filter.connection_ids = accounts;
    }
    let mut cursor = params
        .get("cursor")
        .map(|c| c.trim())
        .filter(|c| !c.is_empty())
        .map(str::to_owned);
    let mut remaining = skip;
    while remaining > 0 {
        let (items, next) =
            trigger_page_at(&state, filter.clone(), remaining.min(LIMIT_MAX), cursor).await?;
        remaining = remaining.saturating_sub(items.len());
        match next {
            Some(next) => cursor = Some(next),
            // Fewer triggers than the page skips: an empty last page.
            None => return Ok(reply::page(Vec::<Value>::new(), None, limit)),
        }
    }
    let (items, next) = trigger_page_at(&state, filter, limit, cursor).await?;
    let items: Vec<Value> = items.iter().map(|t| trigger_json(t, &headers)).collect();
    Ok(reply::page(items, next, limit))
}

async fn types() -> Response {
    let catalog = triggers::catalog::catalog();
    let count = catalog.len();
    reply::page(catalog, None, count)
}

/// Run now: starts the trigger's workflow with the body's input and records the firing.
async fn fire(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(params): Query<Params>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<RunBody>,
) -> Result<Response, ApiError> {
    let trigger = state.triggers.get(&id).await?;
    let wait = runs::wait_param(&params, state.config.max_wait_secs)?;
    fire_trigger(&state, trigger, body, &headers, wait, "manual", "fire").await
}

/// Starts `trigger`'s workflow with `body` (the trigger's connection unless the body names
/// one), waiting up to `wait` for its end, records the firing (`reason`), and answers with
/// the run and its `triggerId`. A disabled trigger refuses with INVALID_STATUS, asking to be
/// enabled to `verb` it.
pub(super) async fn fire_trigger(
    state: &AppState,
    trigger: TriggerRecord,
    body: RunBody,
    headers: &HeaderMap,
    wait: Option<Duration>,
    reason: &str,
    verb: &str,
) -> Result<Response, ApiError> {
    let id = trigger.id;
    if !trigger.enabled {
        return Err(ApiError::InvalidStatus(format!(
            "trigger {id} is disabled; enable it to {verb} it"
        )));
    }
    let idempotency_key = body.idempotency_key.clone();
    let body = RunBody {
        connection_id: body.connection_id.or(trigger.spec.connection_id),
        ..body
    };
    let (status, mut data, existing) =
        runs::start_run_telling(state, &trigger.spec.workflow_id, body, headers, wait).await?;
    record_firing(state, &id, &data, existing, reason, idempotency_key).await?;
    data["triggerId"] = json!(id);
    Ok(reply::with_status(status, data))
}

/// Records that trigger `id` started the run in `data` (`reason`: manual, api), or, when a
/// repeated idempotency key found the first firing's run, a deduplication, not a firing.
async fn record_firing(
    state: &AppState,
    id: &str,
    data: &Value,
    existing: bool,
    reason: &str,
    idempotency_key: Option<String>,
) -> Result<(), ApiError> {
    let run_id = data["runId"]
        .as_str()
        .or(data["id"].as_str())
        .unwrap_or_default()
        .to_owned();
    let event = if existing {
        TriggerEvent::TriggerSkipped {
            reason: format!("deduplicated: the idempotency key already started run {run_id}"),
            scheduled_at_ms: None,
        }
    } else {
        TriggerEvent::TriggerFired {
            run_id,
            reason: reason.to_owned(),
            scheduled_at_ms: None,
            idempotency_key,
        }
    };
    state.triggers.record(id, &event).await?;
    Ok(())
}
