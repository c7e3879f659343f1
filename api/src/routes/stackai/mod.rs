//! StackAI's project triggers (seed 004) over Duro's trigger instances, in StackAI's plain
//! models: a StackAI project is a Duro workflow (`project_id` = workflow id) and
//! `project_trigger_id` is the Duro trigger id written as a UUID (`ids`), so StackAI's
//! routes and `/api/v1/triggers` show one resource. Answers are the plain model, not Duro's
//! `{success, data}` envelope; lists are plain JSON arrays (FastAPI's `list[Model]`); errors
//! are FastAPI's (`fastapi`). The seed's other routes: the provider catalog (`catalog`), the
//! webhook handler `/v1/webhooks/{webhook_id}` (`hooks`), the deprecated key-in-path routes
//! (`legacy`) and test samples (here).
//!
//! Creating resolves `provider_id` + `trigger_id` in the catalog: a generic provider
//! (`schedule`/`scheduled`/`cron`, `webhook`, `polling`, `manual`) makes a trigger of that
//! type and its `trigger_id` just names it; a provider trigger (`stripe` +
//! `on_customer_created`) makes a webhook trigger bound to its entry: its `trigger_config` is
//! checked against the entry's schema, and `signing_secret` becomes the webhook's signature
//! with the entry's scheme. The slug, which StackAI has not, is
//! `{provider_id}-{trigger_id}-{12 random hex}` (other characters as `_`). New triggers
//! start DISABLED unless `status` says ENABLED.

mod catalog;
mod fastapi;
mod hooks;
pub mod ids;
mod legacy;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::from_fn;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Extension, Json, Router};
use serde_json::{json, Map, Value};
use triggers::instances::{TriggerError, TriggerFilter, TriggerRecord, TriggerSpec};

use self::catalog::Source;
use self::fastapi::{problem_of, Problem, StackError, StackJson};
use super::lists::Params;
use crate::error::ApiError;
use crate::reply;
use crate::AppState;
use credentials::keys::{KeyInfo, Scope};

/// Longest provider or trigger id part of a generated slug, in bytes.
const SLUG_PART_MAX: usize = 40;
/// Most triggers a listing without `limit` answers (the seed's lists have no pages); past
/// it, `X-Next-Cursor` names where to go on.
const LIST_ALL_MAX: usize = 1000;
/// The page size used to gather a listing.
const GATHER_PAGE: usize = 100;
/// The response header carrying a listing's next cursor (a plain array has no room for it).
pub const NEXT_CURSOR_HEADER: &str = "x-next-cursor";
/// Fields of the create body: the seed's three, and Duro's.
const CREATE_FIELDS: [&str; 7] = [
    "provider_id",
    "trigger_id",
    "connection_id",
    "trigger_config",
    "webhook_data",
    "status",
    "project_id",
];

pub fn router(state: &AppState) -> Router<AppState> {
    let read = Router::new()
        .route("/projects/{project_id}/triggers", get(list_project))
        .route("/triggers", get(list_all))
        .route("/triggers/{project_trigger_id}", get(detail))
        .route("/providers/{provider_id}/triggers", get(provider_triggers))
        .route(
            "/providers/{provider_id}/triggers/{trigger_id}",
            get(provider_trigger),
        )
        .route(
            "/api/v0/project-triggers/{project_trigger_id}/test-samples",
            get(test_samples),
        );
    let write = Router::new()
        .route("/projects/{project_id}/triggers", post(create))
        .route("/triggers/{project_trigger_id}", delete(remove))
        .route("/triggers/{project_trigger_id}/enable", post(enable))
        .route("/triggers/{project_trigger_id}/disable", post(disable));
    Router::new()
        .merge(super::scoped(state, Scope::TriggersRead, read))
        .merge(super::scoped(state, Scope::TriggersWrite, write))
        .merge(hooks::router())
        .merge(legacy::router())
        .layer(from_fn(fastapi::plain_errors))
}

/// Where StackAI's webhook handler receives a webhook trigger's deliveries.
fn webhook_url(headers: &HeaderMap, webhook_id: &str) -> String {
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    format!("http://{host}/v1/webhooks/{webhook_id}")
}

/// The id of the scheduler's job of a schedule or polling trigger: the runner's task is
/// named by its trigger, so the id is derived, the same on every node and after a restart.
pub fn cron_job_id(trigger: &TriggerRecord) -> String {
    format!(
        "duro-{}:{}",
        trigger.spec.kind,
        ids::shown(&trigger.id, ids::TRIGGER_PREFIX)
    )
}

/// A trigger in StackAI's shape. A webhook signature's secret is never shown.
pub fn stackai_json(trigger: &TriggerRecord, headers: &HeaderMap) -> Value {
    let mut config = trigger.spec.config.clone();
    if let Some(secret) = config.pointer_mut("/signature/secret") {
        *secret = json!("********");
    }
    let stored = trigger.spec.webhook_data.clone();
    let mut data = match stored {
        Some(Value::Object(map)) => Some(map),
        _ => None,
    };
    let kind = trigger.spec.kind.as_str();
    match (&trigger.webhook_id, kind) {
        (Some(webhook_id), "webhook") => {
            let data = data.get_or_insert_with(Map::new);
            data.insert("webhook_id".into(), json!(webhook_id));
            data.insert(
                "webhook_url".into(),
                json!(webhook_url(headers, webhook_id)),
            );
        }
        (_, "schedule" | "polling") => {
            data.get_or_insert_with(Map::new)
                .insert("cron_job_id".into(), json!(cron_job_id(trigger)));
        }
        _ => {}
    }
    json!({
        "project_trigger_id": ids::shown(&trigger.id, ids::TRIGGER_PREFIX),
        "project_id": trigger.spec.workflow_id,
        "connection_id": trigger.spec.connection_id.as_deref().map(ids::connection_shown),
        "provider_id": trigger.spec.provider_id.as_deref().unwrap_or(kind),
        "trigger_id": trigger.spec.trigger_name.as_deref().unwrap_or(kind),
        "webhook_data": data.map(Value::Object),
        "cursor_data": trigger.cursor_data,
        "trigger_config": config,
        "status": if trigger.enabled { "ENABLED" } else { "DISABLED" },
        "created_by": trigger.created_by.as_deref().map(|k| ids::shown(k, ids::KEY_PREFIX)),
        "updated_by": trigger.updated_by.as_deref().map(|k| ids::shown(k, ids::KEY_PREFIX)),
        "created_at": reply::time(trigger.created_at_us),
        "updated_at": reply::time(trigger.updated_at_us),
    })
}

/// A plain answer (no envelope).
fn plain(status: StatusCode, value: Value) -> Response {
    (status, Json(value)).into_response()
}

/// The Duro trigger id a path's `project_trigger_id` names (a UUID or `trg_...`).
fn trigger_path_id(text: &str) -> Result<String, StackError> {
    ids::duro_id(text, ids::TRIGGER_PREFIX).ok_or_else(|| {
        StackError::invalid(
            &["path", "project_trigger_id"],
            "Input should be a valid UUID (or a Duro trigger id trg_ + 32 hex digits)",
            "uuid_parsing",
        )
    })
}

/// A trigger that exists, named by a path's `project_trigger_id`; 404 otherwise.
async fn trigger_at(state: &AppState, text: &str) -> Result<TriggerRecord, StackError> {
    let id = trigger_path_id(text)?;
    state.triggers.get(&id).await.map_err(not_found_trigger)
}

fn not_found_trigger(error: TriggerError) -> StackError {
    match error {
        TriggerError::NotFound(_) => {
            StackError::Api(ApiError::NotFound("Trigger not found".into()))
        }
        other => other.into(),
    }
}

/// A connection named by a UUID or by its Duro id. A UUID is its own `conn_` id when that
/// connection exists, else the connection whose chosen id has that name-based UUID, else
/// (no such connection yet) the `conn_` id it spells.
async fn connection_from(state: &AppState, text: &str) -> Result<String, StackError> {
    let text = text.trim();
    let Ok(uuid) = uuid::Uuid::try_parse(text) else {
        if ids::is_connection_id(text) {
            return Ok(text.to_owned());
        }
        return Err(StackError::invalid(
            &["body", "connection_id"],
            "Input should be a valid UUID (or a Duro connection id)",
            "uuid_parsing",
        ));
    };
    let spelled = format!("{}{}", ids::CONNECTION_PREFIX, uuid.simple());
    if state.connections.get(&spelled).await.is_ok() {
        return Ok(spelled);
    }
    let chosen = state
        .connections
        .list()
        .await?
        .into_iter()
        .find(|c| ids::name_uuid(&c.id) == uuid);
    Ok(chosen.map_or(spelled, |c| c.id))
}

/// A trigger error with its problem paths named as StackAI's fields, under `body`.
fn stackai_error(error: TriggerError) -> StackError {
    match error {
        TriggerError::Invalid(problems) => StackError::Invalid(
            problems
                .into_iter()
                .map(|problem| {
                    let mut path = problem.path;
                    if let Some(first) = path.first_mut() {
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
                    let mut loc = vec![json!("body")];
                    loc.extend(path.into_iter().map(Value::String));
                    problem_of(loc, problem.message)
                })
                .collect(),
        ),
        other => other.into(),
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

/// The create body, each field checked as pydantic would, every problem reported.
struct CreateBody {
    provider_id: String,
    trigger_id: String,
    connection_id: Option<String>,
    trigger_config: Value,
    webhook_data: Option<Value>,
    enabled: Option<bool>,
}

fn text_field(
    map: &Map<String, Value>,
    field: &'static str,
    problems: &mut Vec<Problem>,
) -> Option<String> {
    match map.get(field) {
        None | Some(Value::Null) => {
            problems.push(Problem::missing(&["body", field]));
            None
        }
        Some(Value::String(text)) if text.trim().is_empty() => {
            problems.push(Problem::new(
                &["body", field],
                "String should have at least 1 character",
                "string_too_short",
            ));
            None
        }
        Some(Value::String(text)) => Some(text.trim().to_owned()),
        Some(_) => {
            problems.push(Problem::new(
                &["body", field],
                "Input should be a valid string",
                "string_type",
            ));
            None
        }
    }
}

/// An optional object field (null = absent).
fn object_field(
    map: &Map<String, Value>,
    field: &'static str,
    problems: &mut Vec<Problem>,
) -> Option<Value> {
    match map.get(field) {
        None | Some(Value::Null) => None,
        Some(object @ Value::Object(_)) => Some(object.clone()),
        Some(_) => {
            problems.push(Problem::new(
                &["body", field],
                "Input should be a valid dictionary",
                "dict_type",
            ));
            None
        }
    }
}

fn parse_create(body: Value, project_id: &str) -> Result<CreateBody, StackError> {
    let Value::Object(map) = body else {
        return Err(StackError::invalid(
            &["body"],
            "Input should be a valid dictionary or object to extract fields from",
            "model_attributes_type",
        ));
    };
    let mut problems = Vec::new();
    for key in map.keys() {
        if !CREATE_FIELDS.contains(&key.as_str()) {
            problems.push(Problem::new(
                &["body", key],
                "Extra inputs are not permitted",
                "extra_forbidden",
            ));
        }
    }
    let provider_id = text_field(&map, "provider_id", &mut problems);
    let trigger_id = text_field(&map, "trigger_id", &mut problems);
    let connection_id = match map.get("connection_id") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) if text.trim().is_empty() => None,
        Some(Value::String(text)) => Some(text.clone()),
        Some(_) => {
            problems.push(Problem::new(
                &["body", "connection_id"],
                "UUID input should be a string, bytes or UUID object",
                "uuid_type",
            ));
            None
        }
    };
    let trigger_config = object_field(&map, "trigger_config", &mut problems).unwrap_or(json!({}));
    let webhook_data = object_field(&map, "webhook_data", &mut problems);
    let enabled = match map.get("status") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.eq_ignore_ascii_case("enabled") => Some(true),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("disabled") => Some(false),
        Some(_) => {
            problems.push(Problem::new(
                &["body", "status"],
                "Input should be 'ENABLED' or 'DISABLED'",
                "enum",
            ));
            None
        }
    };
    match map.get("project_id") {
        None | Some(Value::Null) => {}
        Some(Value::String(p)) if p == project_id => {}
        Some(_) => problems.push(Problem::new(
            &["body", "project_id"],
            "must be the project of the path, or left out",
            "value_error",
        )),
    }
    match (provider_id, trigger_id) {
        (Some(provider_id), Some(trigger_id)) if problems.is_empty() => Ok(CreateBody {
            provider_id,
            trigger_id,
            connection_id,
            trigger_config,
            webhook_data,
            enabled,
        }),
        _ => Err(StackError::Invalid(problems)),
    }
}

/// The Duro config of a new trigger: a provider trigger's `trigger_config` through its
/// entry (schema, `signing_secret`); a generic one's as given (the type's schema checks it).
fn config_of(source: &Source, trigger_config: Value) -> Result<Value, StackError> {
    match source {
        Source::Generic(_) => Ok(trigger_config),
        Source::Provider(entry) => {
            triggers::provider_events::provider_config(entry, trigger_config).map_err(|problems| {
                StackError::Invalid(
                    problems
                        .into_iter()
                        .map(|p| {
                            let mut loc = vec![json!("body"), json!("trigger_config")];
                            loc.extend(p.path.into_iter().map(Value::String));
                            problem_of(loc, p.message)
                        })
                        .collect(),
                )
            })
        }
    }
}

/// `POST /projects/{project_id}/triggers`: 201 with the new trigger.
async fn create(
    State(state): State<AppState>,
    Path(project_id): Path<String>,
    Extension(key): Extension<KeyInfo>,
    headers: HeaderMap,
    StackJson(body): StackJson,
) -> Result<Response, StackError> {
    let body = parse_create(body, &project_id)?;
    let source = catalog::resolve(&state, &body.provider_id, &body.trigger_id)?;
    let config = config_of(&source, body.trigger_config)?;
    let connection_id = match &body.connection_id {
        Some(text) => Some(connection_from(&state, text).await?),
        None => None,
    };
    // The project must exist when the trigger is made (it may be deleted later).
    state.runs.workflows().get(&project_id).await?;
    let spec = TriggerSpec {
        kind: source.kind().to_owned(),
        workflow_id: project_id,
        config,
        connection_id,
        webhook_data: body.webhook_data,
        provider_id: Some(body.provider_id.clone()),
        trigger_name: Some(body.trigger_id.clone()),
    };
    let slug = new_slug(&body.provider_id, &body.trigger_id);
    let (trigger, _) = state
        .triggers
        .upsert(
            &slug,
            spec,
            Some(body.enabled.unwrap_or(false)),
            false,
            Some(key.id),
        )
        .await
        .map_err(stackai_error)?;
    state.trigger_runner.changed();
    Ok(plain(StatusCode::CREATED, stackai_json(&trigger, &headers)))
}

async fn detail(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, StackError> {
    let trigger = trigger_at(&state, &id).await?;
    Ok(plain(StatusCode::OK, stackai_json(&trigger, &headers)))
}

async fn remove(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Extension(key): Extension<KeyInfo>,
) -> Result<Response, StackError> {
    let trigger = trigger_at(&state, &id).await?;
    state
        .triggers
        .delete(&trigger.id, Some(key.id))
        .await
        .map_err(not_found_trigger)?;
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
) -> Result<Response, StackError> {
    let trigger = trigger_at(state, id).await?;
    let trigger = state
        .triggers
        .set_enabled(&trigger.id, enabled, Some(key.id))
        .await
        .map_err(not_found_trigger)?;
    state.trigger_runner.changed();
    Ok(plain(StatusCode::OK, stackai_json(&trigger, headers)))
}

async fn enable(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Extension(key): Extension<KeyInfo>,
    headers: HeaderMap,
) -> Result<Response, StackError> {
    set_enabled(&state, &id, true, key, &headers).await
}

async fn disable(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Extension(key): Extension<KeyInfo>,
    headers: HeaderMap,
) -> Result<Response, StackError> {
    set_enabled(&state, &id, false, key, &headers).await
}

/// Query errors named under `query` (`["query", "limit"]`).
fn query_error(error: ApiError) -> StackError {
    match error {
        ApiError::Validation { details, message } if details.is_empty() => {
            StackError::invalid(&["query"], message, "value_error")
        }
        ApiError::Validation { details, .. } => StackError::Invalid(
            details
                .into_iter()
                .map(|d| {
                    let mut loc = vec![json!("query")];
                    loc.extend(d.path.into_iter().map(Value::String));
                    problem_of(loc, d.message)
                })
                .collect(),
        ),
        other => other.into(),
    }
}

/// The triggers passing `filter`, in StackAI's shape, as a plain JSON array: one page of
/// `limit` when given (`cursor` to go on), else every one up to [`LIST_ALL_MAX`]. The next
/// cursor, when there is more, is in the `X-Next-Cursor` header. With `project_name` (the
/// workflow's name, null once it is deleted) when `with_project_name`.
async fn listing(
    state: &AppState,
    filter: TriggerFilter,
    params: &Params,
    headers: &HeaderMap,
    with_project_name: bool,
) -> Result<Response, StackError> {
    let wanted = match params
        .get("limit")
        .map(|l| l.trim())
        .filter(|l| !l.is_empty())
    {
        Some(_) => super::lists::limit(params).map_err(query_error)?,
        None => LIST_ALL_MAX,
    };
    let mut gathered: Vec<TriggerRecord> = Vec::new();
    let mut page_params = params.clone();
    let mut next;
    loop {
        let size = (wanted - gathered.len()).min(GATHER_PAGE);
        page_params.insert("limit".into(), size.to_string());
        let (page, cursor, _) = super::triggers::trigger_page(state, filter.clone(), &page_params)
            .await
            .map_err(query_error)?;
        gathered.extend(page);
        next = cursor;
        match &next {
            Some(cursor) if gathered.len() < wanted => {
                page_params.insert("cursor".into(), cursor.clone());
            }
            _ => break,
        }
    }
    let mut items = Vec::with_capacity(gathered.len());
    for trigger in &gathered {
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
    let mut response = plain(StatusCode::OK, Value::Array(items));
    if let Some(value) = next.and_then(|c| HeaderValue::from_str(&c).ok()) {
        response.headers_mut().insert(NEXT_CURSOR_HEADER, value);
    }
    Ok(response)
}

/// `GET /projects/{project_id}/triggers`: the project's triggers, enabled or not.
async fn list_project(
    State(state): State<AppState>,
    Path(project_id): Path<String>,
    Query(params): Query<Params>,
    headers: HeaderMap,
) -> Result<Response, StackError> {
    state.runs.workflows().get(&project_id).await?;
    let filter = TriggerFilter {
        workflow_id: Some(project_id),
        show_disabled: true,
        ..TriggerFilter::default()
    };
    listing(&state, filter, &params, &headers, false).await
}

/// `GET /triggers`: every trigger, with its `project_name`.
async fn list_all(
    State(state): State<AppState>,
    Query(params): Query<Params>,
    headers: HeaderMap,
) -> Result<Response, StackError> {
    let filter = TriggerFilter {
        show_disabled: true,
        ..TriggerFilter::default()
    };
    listing(&state, filter, &params, &headers, true).await
}

/// `GET /providers/{provider_id}/triggers`: a plain array.
async fn provider_triggers(
    State(state): State<AppState>,
    Path(provider_id): Path<String>,
) -> Result<Response, StackError> {
    let entries = catalog::list(&state, &provider_id)?;
    Ok(plain(StatusCode::OK, Value::Array(entries)))
}

/// `GET /providers/{provider_id}/triggers/{trigger_id}`.
async fn provider_trigger(
    State(state): State<AppState>,
    Path((provider_id, trigger_id)): Path<(String, String)>,
) -> Result<Response, StackError> {
    let entry = catalog::one(&state, &provider_id, &trigger_id)?;
    Ok(plain(StatusCode::OK, entry))
}

/// `GET /api/v0/project-triggers/{project_trigger_id}/test-samples`: the seed answers an
/// object of any properties, so the samples come in one: `{"project_trigger_id",
/// "provider_id", "trigger_id", "samples": [{"received_at", "data"}]}`, newest first (the last
/// 20 payloads: a webhook's `{body, headers}`, a polled item).
async fn test_samples(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, StackError> {
    let trigger = trigger_at(&state, &id).await?;
    let samples: Vec<Value> = state
        .triggers
        .samples(&trigger.id)
        .await?
        .into_iter()
        .map(|(sample, payload)| {
            json!({
                "received_at": reply::time(sample.received_at_ms * 1000),
                "data": payload,
            })
        })
        .collect();
    let shown = stackai_json(&trigger, &headers);
    Ok(plain(
        StatusCode::OK,
        json!({
            "project_trigger_id": shown["project_trigger_id"],
            "provider_id": shown["provider_id"],
            "trigger_id": shown["trigger_id"],
            "samples": samples,
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_valid() {
        let slug = new_slug("my provider/x", &"t".repeat(500));
        assert!(slug.starts_with("my_provider_x-ttt"), "{slug}");
        assert!(slug.len() <= triggers::instances::SLUG_BYTES_MAX, "{slug}");
        assert_ne!(new_slug("a", "b"), new_slug("a", "b"));
    }

    #[test]
    fn a_create_body_reports_every_problem_as_pydantic_would() {
        let Err(StackError::Invalid(problems)) = parse_create(
            json!({"trigger_id": 5, "trigger_config": [1], "status": "ON", "bogus": 1}),
            "wf_1",
        ) else {
            panic!("invalid");
        };
        let found: Vec<(Vec<Value>, &str)> =
            problems.iter().map(|p| (p.loc.clone(), p.kind)).collect();
        for expected in [
            (vec![json!("body"), json!("bogus")], "extra_forbidden"),
            (vec![json!("body"), json!("provider_id")], "missing"),
            (vec![json!("body"), json!("trigger_id")], "string_type"),
            (vec![json!("body"), json!("trigger_config")], "dict_type"),
            (vec![json!("body"), json!("status")], "enum"),
        ] {
            assert!(found.contains(&expected), "{expected:?} in {found:?}");
        }
    }
}
