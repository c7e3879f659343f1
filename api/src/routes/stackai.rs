//! StackAI's project triggers (seed 004): the same trigger instances as `/api/v1/triggers`,
//! in StackAI's snake_case shape. A StackAI project is a Duro workflow (`project_id` =
//! workflow id) and `project_trigger_id` is the Duro trigger id, so both APIs show one
//! resource.
//!
//! Creating maps `provider_id` to a Duro trigger type: `schedule`, `scheduled` and `cron` →
//! schedule, `webhook` → webhook, `polling` → polling, `manual` → manual (case-insensitive);
//! any other provider (`stripe` with `on_customer_created`) is a webhook trigger that
//! receives the provider's deliveries at its URL. The spec keeps `provider_id` and
//! `trigger_name` = `trigger_id` as given, so they read back unchanged; a trigger made
//! through the canonical API without them shows its type as both. `trigger_config` is the
//! trigger's config, checked against its type's schema. The slug, which StackAI has not, is
//! `{provider_id}-{trigger_id}-{12 random hex}` (other characters as `_`). New triggers
//! start DISABLED unless `status` says ENABLED.
//!
//! The provider catalog lists Duro's four trigger types as providers, each with one trigger
//! whose id is the type.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Extension, Router};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use triggers::instances::{TriggerError, TriggerFilter, TriggerRecord, TriggerSpec};

use super::lists::Params;
use crate::body::JsonBody;
use crate::error::{field_name, ApiError, Detail};
use crate::keys::{KeyInfo, Scope};
use crate::reply;
use crate::AppState;

/// Longest provider or trigger id part of a generated slug, in bytes.
const SLUG_PART_MAX: usize = 40;

pub fn router(state: &AppState) -> Router<AppState> {
    let read = Router::new()
        .route("/projects/{project_id}/triggers", get(list_project))
        .route("/triggers", get(list_all))
        .route("/triggers/{project_trigger_id}", get(detail))
        .route("/providers/{provider_id}/triggers", get(provider_triggers))
        .route(
            "/providers/{provider_id}/triggers/{trigger_id}",
            get(provider_trigger),
        );
    let write = Router::new()
        .route("/projects/{project_id}/triggers", post(create))
        .route("/triggers/{project_trigger_id}", delete(remove))
        .route("/triggers/{project_trigger_id}/enable", post(enable))
        .route("/triggers/{project_trigger_id}/disable", post(disable));
    Router::new()
        .merge(super::scoped(state, Scope::TriggersRead, read))
        .merge(super::scoped(state, Scope::TriggersWrite, write))
}

/// Where StackAI's webhook handler receives a webhook trigger's deliveries.
fn webhook_url(headers: &HeaderMap, webhook_id: &str) -> String {
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    format!("http://{host}/v1/webhooks/{webhook_id}")
}

/// A trigger in StackAI's shape. A webhook signature's secret is never shown.
pub fn stackai_json(trigger: &TriggerRecord, headers: &HeaderMap) -> Value {
    let mut config = trigger.spec.config.clone();
    if let Some(secret) = config.pointer_mut("/signature/secret") {
        *secret = json!("********");
    }
    let stored = trigger.spec.webhook_data.clone();
    let webhook_data = match (&trigger.webhook_id, trigger.spec.kind.as_str()) {
        (Some(webhook_id), "webhook") => {
            let mut data = match stored {
                Some(Value::Object(map)) => map,
                _ => Map::new(),
            };
            data.insert("webhook_id".into(), json!(webhook_id));
            data.insert(
                "webhook_url".into(),
                json!(webhook_url(headers, webhook_id)),
            );
            Value::Object(data)
        }
        _ => stored.unwrap_or(Value::Null),
    };
    let kind = &trigger.spec.kind;
    json!({
        "project_trigger_id": trigger.id,
        "project_id": trigger.spec.workflow_id,
        "connection_id": trigger.spec.connection_id,
        "provider_id": trigger.spec.provider_id.as_deref().unwrap_or(kind),
        "trigger_id": trigger.spec.trigger_name.as_deref().unwrap_or(kind),
        "webhook_data": webhook_data,
        "cursor_data": trigger.cursor_data,
        "trigger_config": config,
        "status": if trigger.enabled { "ENABLED" } else { "DISABLED" },
        "created_by": trigger.created_by,
        "updated_by": trigger.updated_by,
        "created_at": reply::time(trigger.created_at_us),
        "updated_at": reply::time(trigger.updated_at_us),
    })
}

/// A trigger error with its problem paths named as StackAI's fields.
fn stackai_error(error: TriggerError) -> ApiError {
    match error {
        TriggerError::Invalid(problems) => {
            let details: Vec<Detail> = problems
                .into_iter()
                .map(|problem| {
                    let mut detail = Detail::from(problem);
                    if let Some(first) = detail.path.first_mut() {
                        let renamed = match first.as_str() {
                            "config" => Some("trigger_config"),
                            "type" => Some("provider_id"),
                            "workflowId" => Some("project_id"),
                            "webhookData" => Some("webhook_data"),
                            "connectionId" => Some("connection_id"),
                            _ => None,
                        };
                        if let Some(renamed) = renamed {
                            *first = renamed.to_owned();
                        }
                    }
                    detail
                })
                .collect();
            let message = match details.first() {
                Some(first) => format!(
                    "Trigger is invalid: {}: {}",
                    field_name(&first.path),
                    first.message
                ),
                None => "Trigger is invalid".to_owned(),
            };
            ApiError::Validation { message, details }
        }
        other => other.into(),
    }
}

/// The Duro trigger type of a StackAI provider: a built-in one, or webhook.
fn kind_of(provider_id: &str) -> &'static str {
    match provider_id.to_ascii_lowercase().as_str() {
        "schedule" | "scheduled" | "cron" => "schedule",
        "polling" => "polling",
        "manual" => "manual",
        _ => "webhook",
    }
}

/// `text` with every character a slug may not hold as `_`, at most [`SLUG_PART_MAX`] bytes.
fn slug_part(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .take(SLUG_PART_MAX)
        .collect()
}

fn new_slug(provider_id: &str, trigger_id: &str) -> String {
    let random: u64 = rand::random();
    format!(
        "{}-{}-{:012x}",
        slug_part(provider_id),
        slug_part(trigger_id),
        random & 0xffff_ffff_ffff
    )
}

fn parse_status(text: &str) -> Result<bool, ApiError> {
    if text.eq_ignore_ascii_case("enabled") {
        Ok(true)
    } else if text.eq_ignore_ascii_case("disabled") {
        Ok(false)
    } else {
        Err(ApiError::invalid_field(
            &["status"],
            format!("must be \"ENABLED\" or \"DISABLED\", not {text:?}"),
        ))
    }
}

/// A required, non-blank text field.
fn required(value: Option<String>, field: &str) -> Result<String, ApiError> {
    match value.map(|v| v.trim().to_owned()) {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(ApiError::invalid_field(&[field], "Required")),
    }
}

/// An optional field that must be a JSON object when present (null = absent).
fn object_or_null(value: Option<Value>, field: &str) -> Result<Option<Value>, ApiError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(object @ Value::Object(_)) => Ok(Some(object)),
        Some(_) => Err(ApiError::invalid_field(
            &[field],
            "must be a JSON object or null",
        )),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    #[serde(default)]
    provider_id: Option<String>,
    #[serde(default)]
    trigger_id: Option<String>,
    #[serde(default)]
    connection_id: Option<String>,
    #[serde(default)]
    trigger_config: Option<Value>,
    #[serde(default)]
    webhook_data: Option<Value>,
    #[serde(default)]
    status: Option<String>,
    /// Accepted when it names the path's project.
    #[serde(default)]
    project_id: Option<String>,
}

/// `POST /projects/{project_id}/triggers`: 201 with the new trigger.
async fn create(
    State(state): State<AppState>,
    Path(project_id): Path<String>,
    Extension(key): Extension<KeyInfo>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<CreateBody>,
) -> Result<Response, ApiError> {
    let provider_id = required(body.provider_id, "provider_id")?;
    let trigger_id = required(body.trigger_id, "trigger_id")?;
    if body.project_id.as_ref().is_some_and(|p| *p != project_id) {
        return Err(ApiError::invalid_field(
            &["project_id"],
            "must be the project of the path, or left out",
        ));
    }
    let config = object_or_null(body.trigger_config, "trigger_config")?.unwrap_or(json!({}));
    let webhook_data = object_or_null(body.webhook_data, "webhook_data")?;
    let enabled = body.status.as_deref().map(parse_status).transpose()?;
    let connection_id = body.connection_id.filter(|c| !c.trim().is_empty());
    // The project must exist when the trigger is made (it may be deleted later).
    state.runs.workflows().get(&project_id).await?;
    let spec = TriggerSpec {
        kind: kind_of(&provider_id).to_owned(),
        workflow_id: project_id,
        config,
        connection_id,
        webhook_data,
        provider_id: Some(provider_id.clone()),
        trigger_name: Some(trigger_id.clone()),
    };
    let slug = new_slug(&provider_id, &trigger_id);
    let (trigger, _) = state
        .triggers
        .upsert(
            &slug,
            spec,
            Some(enabled.unwrap_or(false)),
            false,
            Some(key.id),
        )
        .await
        .map_err(stackai_error)?;
    state.trigger_runner.changed();
    Ok(reply::with_status(
        StatusCode::CREATED,
        stackai_json(&trigger, &headers),
    ))
}

async fn detail(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let trigger = state.triggers.get(&id).await?;
    Ok(reply::ok(stackai_json(&trigger, &headers)))
}

async fn remove(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Extension(key): Extension<KeyInfo>,
) -> Result<Response, ApiError> {
    state.triggers.delete(&id, Some(key.id)).await?;
    state.trigger_runner.changed();
    // The seed: "No content".
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn set_enabled(
    state: &AppState,
    id: &str,
    enabled: bool,
    key: KeyInfo,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let trigger = state
        .triggers
        .set_enabled(id, enabled, Some(key.id))
        .await?;
    state.trigger_runner.changed();
    Ok(reply::ok(stackai_json(&trigger, headers)))
}

async fn enable(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Extension(key): Extension<KeyInfo>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    set_enabled(&state, &id, true, key, &headers).await
}

async fn disable(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Extension(key): Extension<KeyInfo>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    set_enabled(&state, &id, false, key, &headers).await
}

/// One page of triggers passing `filter` (`limit`, `cursor`), in StackAI's shape; with
/// `project_name` (the workflow's name, null once it is deleted) when `with_project_name`.
async fn page(
    state: &AppState,
    filter: TriggerFilter,
    params: &Params,
    headers: &HeaderMap,
    with_project_name: bool,
) -> Result<Response, ApiError> {
    let (triggers, next, limit) = super::triggers::trigger_page(state, filter, params).await?;
    let mut items = Vec::with_capacity(triggers.len());
    for trigger in &triggers {
        let mut item = stackai_json(trigger, headers);
        if with_project_name {
            let name = match state.runs.workflows().get(&trigger.spec.workflow_id).await {
                Ok(workflow) => Some(workflow.current.name),
                Err(engine::workflows::WorkflowError::NotFound(_)) => None,
                Err(other) => return Err(other.into()),
            };
            item["project_name"] = json!(name);
        }
        items.push(item);
    }
    Ok(reply::page(items, next, limit))
}

/// `GET /projects/{project_id}/triggers`: the project's triggers, enabled or not.
async fn list_project(
    State(state): State<AppState>,
    Path(project_id): Path<String>,
    Query(params): Query<Params>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    state.runs.workflows().get(&project_id).await?;
    let filter = TriggerFilter {
        workflow_id: Some(project_id),
        show_disabled: true,
        ..TriggerFilter::default()
    };
    page(&state, filter, &params, &headers, false).await
}

/// `GET /triggers`: every trigger, with its `project_name`.
async fn list_all(
    State(state): State<AppState>,
    Query(params): Query<Params>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let filter = TriggerFilter {
        show_disabled: true,
        ..TriggerFilter::default()
    };
    page(&state, filter, &params, &headers, true).await
}

/// A trigger type as StackAI's provider catalog shows it.
fn catalog_json(trigger_type: &triggers::catalog::TriggerType) -> Value {
    let kind = trigger_type.kind;
    json!({
        "trigger_type": kind,
        "provider_id": kind,
        "trigger_id": kind,
        "trigger_name": trigger_type.name,
        "description": trigger_type.description,
        "instructions": null,
        "icon": kind,
        "tags": [],
        "version": "1.0.0",
        "webhook_requires_verification": false,
        "can_get_test_samples": matches!(kind, "webhook" | "polling"),
        "trigger_config_schema": trigger_type.config_schema,
    })
}

fn provider(provider_id: &str) -> Result<triggers::catalog::TriggerType, ApiError> {
    triggers::catalog::find(provider_id)
        .ok_or_else(|| ApiError::NotFound(format!("Provider {provider_id:?} not found")))
}

/// `GET /providers/{provider_id}/triggers`.
async fn provider_triggers(Path(provider_id): Path<String>) -> Result<Response, ApiError> {
    let trigger_type = provider(&provider_id)?;
    Ok(reply::page(vec![catalog_json(&trigger_type)], None, 1))
}

/// `GET /providers/{provider_id}/triggers/{trigger_id}`.
async fn provider_trigger(
    Path((provider_id, trigger_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let trigger_type = provider(&provider_id)?;
    if trigger_id != trigger_type.kind {
        return Err(ApiError::NotFound(format!(
            "Trigger {trigger_id:?} of provider {provider_id:?} not found"
        )));
    }
    Ok(reply::ok(catalog_json(&trigger_type)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn providers_map_to_types_and_slugs_are_valid() {
        assert_eq!(kind_of("cron"), "schedule");
        assert_eq!(kind_of("Schedule"), "schedule");
        assert_eq!(kind_of("polling"), "polling");
        assert_eq!(kind_of("manual"), "manual");
        assert_eq!(kind_of("stripe"), "webhook");
        let slug = new_slug("my provider/x", &"t".repeat(500));
        assert!(slug.starts_with("my_provider_x-ttt"), "{slug}");
        assert!(slug.len() <= triggers::instances::SLUG_BYTES_MAX, "{slug}");
        assert_ne!(new_slug("a", "b"), new_slug("a", "b"));
    }
}
