//! Trigger instances: the canonical `/api/v1/triggers` routes, the trigger-type catalog, run
//! now, and the compatibility routes of Flowra (seed 000) and Phinite (seed 003). Every change
//! and every firing is an event in the trigger's `trigger-{id}` stream (triggers::instances).
//!
//! - `patch`: `PATCH /api/v1/triggers/{id}`, an edit by id with a partial body.
//! - `phinite`: Phinite's run-with-the-key shape, for `POST /trigger/{flow_id}` and an `api`
//!   trigger's own URL, `POST /api/v1/triggers/{id}/invoke`.

pub(crate) mod patch;
pub(crate) mod phinite;

use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, patch, post, put};
use axum::{Extension, Router};
use readmodels::{TriggerQuery, LIMIT_MAX};
use serde_json::Value;
use triggers::instances::{TriggerEvent, TriggerFilter, TriggerRecord, TriggerSpec};

use super::lists::{self, Params};
use super::runs::{self, RunBody};
use crate::body::JsonBody;
use crate::contract::runs::{RunRequest, RunStart};
use crate::contract::triggers::{
    Trigger, TriggerDeleted, TriggerDeletedResponse, TriggerFired, TriggerFiredResponse,
    TriggerListResponse, TriggerResponse, TriggerStatusBody, TriggerType, TriggerTypeListResponse,
    TriggerUpsert,
};
use crate::error::{ApiError, Detail, ErrorEnvelope};
use crate::openapi::{Forbidden, Internal, PayloadTooLarge, RateLimited, Unauthorized};
use crate::query::QueryParams;
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

/// A trigger as the API shows it ([`Trigger`]), as JSON for the compatibility routes.
pub fn trigger_json(trigger: &TriggerRecord, headers: &HeaderMap) -> Value {
    reply::to_json(Trigger::of(trigger, headers))
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

/// The upsert body, under the name the compatibility routes know it by.
type UpsertBody = TriggerUpsert;

/// Create or update a trigger by slug
///
/// Required scope: `triggers:write`. Idempotent: the path names the trigger by its slug
/// (1 to 100 letters, digits, `-`, `_`, `.`); the first upsert of a slug creates the trigger
/// (201), later ones replace its definition (200, same id). The workflow must exist; the
/// config is checked against the type's schema, defaults applied. A webhook trigger gets its
/// `webhookId` when created. `status` absent keeps the current status (`enabled` for a new
/// trigger). Upserting the slug of a deleted trigger creates a new one.
#[utoipa::path(
    put,
    path = "/api/v1/triggers/{id}",
    tag = "triggers",
    params(("id" = String, Path, description = "The trigger's slug (not its `trg_` id).")),
    request_body = TriggerUpsert,
    responses(
        (status = 200, description = "Updated; the trigger.", body = TriggerResponse),
        (status = 201, description = "Created; the trigger.", body = TriggerResponse),
        (status = 400, description = "VALIDATION_ERROR: malformed body (`type` or `workflowId` missing, a field of the wrong type), a `status` other than enabled/disabled, an invalid slug, or \"Trigger is invalid\": an unknown `type`, a `config` not matching the type's schema, a bad schedule or signature (every problem in `details`).", body = ErrorEnvelope,
            example = json!({"success": false, "error": {"code": "VALIDATION_ERROR", "message": "Trigger is invalid",
                "details": [{"path": ["config", "url"], "message": "Required"}]}})),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "NOT_FOUND: \"Workflow not found\" (`workflowId` names no workflow).", body = ErrorEnvelope),
        (status = 409, description = "CONFLICT: the trigger was changed by someone else at the same time; try again.", body = ErrorEnvelope),
        (status = 413, response = PayloadTooLarge),
        (status = 500, response = Internal),
    ),
    security(("apiKey" = []), ("bearerAuth" = []))
)]
pub(crate) async fn upsert(
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
    state
        .runs
        .workflows()
        .get(body.workflow_id.as_str())
        .await?;
    let spec = TriggerSpec {
        kind: body.kind,
        workflow_id: body.workflow_id.into(),
        config: body.config,
        connection_id: body.connection_id.map(String::from),
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
    Ok(reply::json(
        status,
        &TriggerResponse::new(Trigger::of(&trigger, headers)),
    ))
}

/// Get a trigger
///
/// Required scope: `triggers:read`. A webhook signature's secret shows as `********`.
#[utoipa::path(
    get,
    path = "/api/v1/triggers/{id}",
    tag = "triggers",
    params(("id" = String, Path, description = "Trigger id (`trg_...`).")),
    responses(
        (status = 200, description = "The trigger.", body = TriggerResponse),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "NOT_FOUND: \"Trigger not found\" (never existed, or deleted).", body = ErrorEnvelope),
        (status = 500, response = Internal),
    ),
    security(("apiKey" = []), ("bearerAuth" = []))
)]
pub(crate) async fn detail(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let trigger = state.triggers.get(&id).await?;
    Ok(reply::json(
        StatusCode::OK,
        &TriggerResponse::new(Trigger::of(&trigger, &headers)),
    ))
}

/// Delete a trigger
///
/// Required scope: `triggers:write`. For good: it fires nothing more and its webhook URL
/// answers 404; its runs are untouched.
#[utoipa::path(
    delete,
    path = "/api/v1/triggers/{id}",
    tag = "triggers",
    params(("id" = String, Path, description = "Trigger id (`trg_...`).")),
    responses(
        (status = 200, description = "Deleted.", body = TriggerDeletedResponse),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "NOT_FOUND: \"Trigger not found\" (never existed, or already deleted).", body = ErrorEnvelope),
        (status = 409, description = "CONFLICT: the trigger was changed by someone else at the same time; try again.", body = ErrorEnvelope),
        (status = 500, response = Internal),
    ),
    security(("apiKey" = []), ("bearerAuth" = []))
)]
pub(crate) async fn remove(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Extension(key): Extension<KeyInfo>,
) -> Result<Response, ApiError> {
    state.triggers.delete(&id, Some(key.id)).await?;
    state.trigger_runner.changed();
    let deleted = TriggerDeleted {
        id: id.into(),
        deleted: true,
    };
    Ok(reply::json(
        StatusCode::OK,
        &TriggerDeletedResponse::new(deleted),
    ))
}

/// Enable or disable a trigger
///
/// Required scope: `triggers:write`. A disabled trigger fires nothing. Setting the status it
/// already has changes nothing.
#[utoipa::path(
    patch,
    path = "/api/v1/triggers/{id}/status",
    tag = "triggers",
    params(("id" = String, Path, description = "Trigger id (`trg_...`).")),
    request_body = TriggerStatusBody,
    responses(
        (status = 200, description = "The trigger with its new status.", body = TriggerResponse),
        (status = 400, description = "VALIDATION_ERROR: malformed body, or `status` missing or not \"enabled\"/\"disabled\" (nor active/inactive, true/false).", body = ErrorEnvelope,
            example = json!({"success": false, "error": {"code": "VALIDATION_ERROR", "message": "status: must be \"enabled\" or \"disabled\"",
                "details": [{"path": ["status"], "message": "must be \"enabled\" or \"disabled\""}]}})),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "NOT_FOUND: \"Trigger not found\".", body = ErrorEnvelope),
        (status = 409, description = "CONFLICT: the trigger was changed by someone else at the same time; try again.", body = ErrorEnvelope),
        (status = 413, response = PayloadTooLarge),
        (status = 500, response = Internal),
    ),
    security(("apiKey" = []), ("bearerAuth" = []))
)]
pub(crate) async fn set_status(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Extension(key): Extension<KeyInfo>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<TriggerStatusBody>,
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
    Ok(reply::json(
        StatusCode::OK,
        &TriggerResponse::new(Trigger::of(&trigger, headers)),
    ))
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

pub(crate) fn filter_of(
    params: &Params,
    show_disabled_default: bool,
) -> Result<TriggerFilter, ApiError> {
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

/// List triggers
///
/// Required scope: `triggers:read`. In creation order, disabled ones included unless
/// `showDisabled=false`; follow `pagination.nextCursor` for the next page. Comma-separated
/// lists match any of their values (a list parameter may also be repeated); any other
/// parameter may be given once, with a value.
#[utoipa::path(
    get,
    path = "/api/v1/triggers",
    tag = "triggers",
    params(
        ("workflowId" = Option<String>, Query, min_length = 1, description = "Only triggers of this workflow."),
        ("type" = Option<String>, Query, min_length = 1, description = "Only triggers of this type (`schedule`, `webhook`, `polling`, `manual`, `scheduler`, `api`), as named when written; another value matches nothing."),
        ("connectedAccountIds" = Option<String>, Query, min_length = 1, description = "Comma-separated connection ids: only triggers with one of them."),
        ("triggerNames" = Option<String>, Query, min_length = 1, description = "Comma-separated slugs or trigger names: only triggers with one of them."),
        ("triggerIds" = Option<String>, Query, min_length = 1, description = "Comma-separated trigger ids: only these triggers."),
        ("showDisabled" = Option<bool>, Query, description = "`true`/`1` (the default here) or `false`/`0`."),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "Page size (default 20)."),
        ("cursor" = Option<String>, Query, min_length = 1, description = "`pagination.nextCursor` of the previous page."),
    ),
    responses(
        (status = 200, description = "A page of triggers.", body = TriggerListResponse),
        (status = 400, description = "VALIDATION_ERROR: `limit`, `showDisabled` or `cursor` is malformed, or a parameter is empty or given twice; `details` names it.", body = ErrorEnvelope),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 500, response = Internal),
    ),
    security(("apiKey" = []), ("bearerAuth" = []))
)]
pub(crate) async fn list(
    State(state): State<AppState>,
    QueryParams(params): QueryParams,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let filter = filter_of(&params, true)?;
    let (items, next, limit) = trigger_page(&state, filter, &params).await?;
    let items = items.iter().map(|t| Trigger::of(t, &headers)).collect();
    Ok(reply::json(
        StatusCode::OK,
        &TriggerListResponse::new(items, next, limit),
    ))
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

/// List trigger types
///
/// Required scope: `triggers:read`. The catalog: `schedule`, `webhook`, `polling`, `manual`,
/// and Phinite's `scheduler` and `api`, each with the JSON Schema of its `config`, in one page.
#[utoipa::path(
    get,
    path = "/api/v1/trigger-types",
    tag = "triggers",
    responses(
        (status = 200, description = "Every trigger type.", body = TriggerTypeListResponse),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 500, response = Internal),
    ),
    security(("apiKey" = []), ("bearerAuth" = []))
)]
pub(crate) async fn types() -> Response {
    let catalog = triggers::catalog::catalog()
        .into_iter()
        .map(TriggerType::from)
        .collect();
    reply::json(StatusCode::OK, &TriggerTypeListResponse::all(catalog))
}

/// Fire a trigger now
///
/// Required scope: `workflows:execute`, and each call takes one request from the key's
/// execute rate limit. Runs the trigger's workflow with the body of `POST
/// /api/v1/workflows/{id}/run` (the trigger's `connectionId` when the body has none) and
/// records a TriggerFired event (reason `manual`). Answers as that route does, with
/// `triggerId`: 202 started, 200 for an idempotent repeat; with `?wait=SECONDS`, the run, 200
/// once it has ended, 202 as it stands at the deadline.
#[utoipa::path(
    post,
    path = "/api/v1/triggers/{id}/fire",
    tag = "triggers",
    params(
        ("id" = String, Path, description = "Trigger id (`trg_...`)."),
        ("wait" = Option<f64>, Query, minimum = 0, description = "Seconds to wait for the run to end (fractions allowed; capped by the server)."),
        ("Idempotency-Key" = Option<String>, Header, description = "Used when the body has no `idempotencyKey`."),
    ),
    request_body(content = RunRequest, description = "Optional: an empty body is `{}`."),
    responses(
        (status = 200, description = "An idempotent repeat (the first run), or with `wait` the run once it has ended; with `triggerId`.", body = TriggerFiredResponse),
        (status = 202, description = "Started, with `triggerId`; with `wait`, the run as it stands at the deadline.", body = TriggerFiredResponse),
        (status = 400, description = "INVALID_STATUS: the trigger is disabled, or its workflow is not active. VALIDATION_ERROR: malformed body, `input` not an object or invalid against the workflow's `inputSchema`, a bad `idempotencyKey` or `Idempotency-Key`, or `wait` not a number of seconds (or given twice).", body = ErrorEnvelope,
            examples(
                ("INVALID_STATUS" = (value = json!({"success": false, "error": {"code": "INVALID_STATUS", "message": "trigger trg_0192d5e4a1b27c3d8e9f0a1b2c3d4e5f is disabled; enable it to fire it", "details": []}}))),
                ("VALIDATION_ERROR" = (value = json!({"success": false, "error": {"code": "VALIDATION_ERROR", "message": "Input validation failed",
                    "details": [{"path": ["customerId"], "message": "Required"}]}}))),
            )),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "NOT_FOUND: \"Trigger not found\", or \"Workflow not found\" (the trigger's workflow was deleted).", body = ErrorEnvelope),
        (status = 413, response = PayloadTooLarge),
        (status = 429, response = RateLimited),
        (status = 500, response = Internal),
    ),
    security(("apiKey" = []), ("bearerAuth" = []))
)]
pub(crate) async fn fire(
    State(state): State<AppState>,
    Path(id): Path<String>,
    QueryParams(params): QueryParams,
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
    let (status, fired) = fire_now(state, trigger, body, headers, wait, reason, verb).await?;
    Ok(reply::json(status, &TriggerFiredResponse::new(fired)))
}

/// What [`fire_trigger`] does, answering with the run started (the dashboard's Run now
/// shares it).
pub(crate) async fn fire_now(
    state: &AppState,
    trigger: TriggerRecord,
    body: RunBody,
    headers: &HeaderMap,
    wait: Option<Duration>,
    reason: &str,
    verb: &str,
) -> Result<(StatusCode, TriggerFired), ApiError> {
    let id = trigger.id;
    if !trigger.enabled {
        return Err(ApiError::InvalidStatus(format!(
            "trigger {id} is disabled; enable it to {verb} it"
        )));
    }
    let idempotency_key = body.idempotency_key.clone();
    let body = RunBody {
        connection_id: body
            .connection_id
            .or(trigger.spec.connection_id.map(Into::into)),
        ..body
    };
    let (status, run, existing) =
        runs::start_run_telling(state, &trigger.spec.workflow_id, body, headers, wait).await?;
    record_firing(state, &id, &run, existing, reason, idempotency_key).await?;
    let fired = TriggerFired {
        run,
        trigger_id: id.into(),
    };
    Ok((status, fired))
}

/// Records that trigger `id` started `run` (`reason`: manual, api), or, when a
/// repeated idempotency key found the first firing's run, a deduplication, not a firing.
async fn record_firing(
    state: &AppState,
    id: &str,
    run: &RunStart,
    existing: bool,
    reason: &str,
    idempotency_key: Option<String>,
) -> Result<(), ApiError> {
    let run_id = run.run_id().to_owned();
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
