//! Seed 002's Flowra workflows API under `/api/v1/workflow/manager`: the same workflows and
//! runs as the canonical routes, with Flowra's paths, parameters and bodies. Every handler
//! translates and then calls the canonical helpers (`workflows`, `runs`, `lists`), so the
//! envelopes, error codes and journal behind them are the canonical ones. A run's Flowra
//! `threadId` is its run id.
//!
//! Rules beyond the canonical routes:
//!
//! - Listings (`/list`, `/executions`, `/{id}/executions`) take `cursor` like the canonical
//!   ones and also `page` (from 1) or `offset` (from 0). Both are emulated by walking cursor
//!   pages from the start, so they are bounded: the position (`offset`, or `(page - 1) *
//!   limit`) may be at most [`OFFSET_MAX`]; `page` and `offset` together must name the same
//!   position, and a position past 0 cannot be combined with `cursor`. The reply's
//!   `nextCursor` continues after the page returned.
//! - `POST /create`: a body without `steps` (absent, null or `[]`) that has any of the
//!   agent's fields (`model`, `systemPrompt`, `tools`, `connectionId`, ...) is a
//!   CreateAgentDto and makes an agent workflow (see [`agent`]): one step `agent` of type
//!   `agent` whose config has `connection` = `connectionId`, `model`, `systemPrompt`, `tools`
//!   from the DTO and `prompt` = `{{input.message}}`; active unless `status` says otherwise.
//!   Without `model` or `connectionId` (or with a connection that does not exist or is not
//!   of provider openai or anthropic) it is VALIDATION_ERROR naming the DTO's field, and
//!   problems the engine finds in the step are named by the DTO's fields too (`tools.1`).
//!   A body with neither steps nor agent fields is VALIDATION_ERROR naming `steps`.
//! - `PATCH /update/{id}` of an agent workflow: the DTO's fields (`systemPrompt`, `model`,
//!   `tools`, `connectionId`, ...) also rebuild its agent step (a new version), unless the
//!   patch sends `steps`. Workflow replies show `connectionId` for agent workflows.
//! - `POST /create` with steps makes an `active` workflow unless the body sends `status`
//!   (Flowra's workflows are on or off, and are run right after they are made).
//! - `/list`: `activeStatus` filters by status: `active` / `true`, `inactive` / `false`
//!   (every workflow that cannot run: inactive and draft), or `draft`, any case. `sortOrder`
//!   is `asc` or `desc` in any case.
//! - `POST /executions/thread/{threadId}/cancel`: the canonical cancel (`{"reason"?}`),
//!   answered as the execution detail; an unknown thread is 404.
//! - `/executions`: `startDate` / `endDate` are aliases of `from` / `to` (give one of each
//!   pair). Besides RFC 3339 times they take a date (`2024-01-15`, UTC): a start date is that
//!   day's midnight, an end date includes the whole day. `status` is read in any case.
//! - `PATCH /activeStatus/{id}` takes one of `{"activeStatus": ...}`, `{"status": ...}`,
//!   `{"isActive": ...}` or `{"active": ...}`, each `"active"` / `"inactive"` (any case),
//!   `true` / `false` or `"true"` / `"false"`. When several are sent they must agree.
//! - `POST /execute/{id}`: a body with any of the keys `input`, `idempotencyKey`,
//!   `connectionId` is the canonical run body (other keys but `message` are ignored); a body
//!   with none of them is the input itself (`{}` or no body: no input), so `{"message": ...}`
//!   is `input.message`. `message` beside the canonical keys is put in the input as
//!   `message` (VALIDATION_ERROR if the input has one too). `?wait=SECONDS` as canonical.
//! - `POST /executions/thread/{threadId}/resume`: the resume payload is the value of the
//!   first key present of `payload`, `input`, `message`; with none of them it is the whole
//!   body (`{}` or no body: `null`, as the canonical route). A run paused by its agent
//!   (`waitingFor` is set) takes the agent's payloads instead: `{"message"}` (or a bare
//!   string) for `ask_user`, `{"approved", "arguments"?}` (or a bare boolean) for an
//!   approval, optionally wrapped in `payload` or `input`; anything else is VALIDATION_ERROR
//!   naming `message` or `approved`.
//! - Executions (`/executions/{id}`, the resume reply) mark an agent's sub-steps: `kind`
//!   (`model` or `tool`), `agentStepId`, `turn`, and for a tool call `callId` and `tool`.
//!   The thread status adds `waitingFor` and `usage`.

mod agent;

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{delete, get, patch, post};
use axum::Router;
use chrono::{Days, NaiveDate, Utc};
use engine::definition::{WorkflowSpec, WorkflowStatus};
use engine::executor::{status_name, RunView};
use engine::run::RunStatus;
use readmodels::{RunQuery, WorkflowQuery, LIMIT_MAX};
use serde_json::{json, Map, Value};

use super::lists::{self, Params};
use super::runs::{self, RunBody};
use super::workflows::{self, ConnectionBody};
use crate::body::{self, JsonBody};
use crate::error::ApiError;
use crate::reply;
use crate::AppState;
use credentials::keys::Scope;

/// Where the Flowra routes live.
pub const PREFIX: &str = "/api/v1/workflow/manager";

/// Largest `offset` (or `(page - 1) * limit`) a listing walks to.
pub const OFFSET_MAX: usize = 10_000;

/// Most items one filtered walk (`activeStatus=inactive`) reads before it answers with
/// what it has and a cursor to go on.
pub const SCANNED_MAX: usize = 50_000;

/// Every item.
fn keep_all(_item: &Value) -> bool {
    true
}

/// A workflow that cannot run: inactive or draft (Flowra's `activeStatus=inactive`).
fn not_active(item: &Value) -> bool {
    item["status"] != "active"
}

fn path(rest: &str) -> String {
    format!("{PREFIX}{rest}")
}

pub fn router(state: &AppState) -> Router<AppState> {
    let read_workflows = Router::new()
        .route(&path("/list"), get(list))
        .route(&path("/detail/{id}"), get(detail));
    let write_workflows = Router::new()
        .route(&path("/create"), post(create))
        .route(&path("/update/{id}"), patch(update))
        .route(&path("/delete/{id}"), delete(remove))
        .route(&path("/activeStatus/{id}"), patch(set_active_status))
        .route(&path("/change-connection/{id}"), patch(set_connection));
    let execute = Router::new().route(&path("/execute/{id}"), post(execute));
    let read_runs = Router::new()
        .route(&path("/executions"), get(executions))
        .route(&path("/executions/{id}"), get(execution))
        .route(
            &path("/executions/thread/{thread_id}/status"),
            get(thread_status),
        )
        .route(&path("/{id}/executions"), get(workflow_executions));
    let write_runs = Router::new()
        .route(&path("/executions/thread/{thread_id}/resume"), post(resume))
        .route(&path("/executions/thread/{thread_id}/cancel"), post(cancel));
    Router::new()
        .merge(super::scoped(state, Scope::WorkflowsRead, read_workflows))
        .merge(super::scoped(state, Scope::WorkflowsWrite, write_workflows))
        .merge(super::executing(state, execute))
        .merge(super::scoped(state, Scope::RunsRead, read_runs))
        .merge(super::scoped(state, Scope::RunsWrite, write_runs))
}

// ---- pagination ----------------------------------------------------------------------------

fn param<'a>(params: &'a Params, name: &str) -> Option<&'a str> {
    params.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
}

fn whole_number(params: &Params, name: &str, min: usize) -> Result<Option<usize>, ApiError> {
    param(params, name)
        .map(|text| {
            text.parse::<usize>()
                .ok()
                .filter(|n| *n >= min)
                .ok_or_else(|| {
                    ApiError::invalid_field(
                        &[name],
                        format!("must be a whole number from {min}, not {text:?}"),
                    )
                })
        })
        .transpose()
}

/// How many items to skip before the page: `offset`, or `(page - 1) * limit`.
pub(crate) fn skip(params: &Params, limit: usize) -> Result<usize, ApiError> {
    let too_far = |name: &str| {
        ApiError::invalid_field(
            &[name],
            format!(
                "reaches past item {OFFSET_MAX}: page and offset are walked from the start and \
                 bounded; use cursor to go further"
            ),
        )
    };
    let from_page = whole_number(params, "page", 1)?
        .map(|page| {
            (page - 1)
                .checked_mul(limit)
                .filter(|n| *n <= OFFSET_MAX)
                .ok_or_else(|| too_far("page"))
        })
        .transpose()?;
    let offset = whole_number(params, "offset", 0)?;
    if offset.is_some_and(|n| n > OFFSET_MAX) {
        return Err(too_far("offset"));
    }
    let skip = match (from_page, offset) {
        (Some(by_page), Some(offset)) if by_page != offset => {
            return Err(ApiError::invalid_field(
                &["offset"],
                format!("names item {offset} but page names item {by_page}; send one of them"),
            ))
        }
        (by_page, offset) => offset.or(by_page).unwrap_or(0),
    };
    if skip > 0 && param(params, "cursor").is_some() {
        return Err(ApiError::invalid_field(
            &["cursor"],
            "cannot be combined with a page past the first or an offset past 0",
        ));
    }
    Ok(skip)
}

/// A listing one page of which can be read from any cursor.
enum Listing {
    Workflows(WorkflowQuery),
    Runs(RunQuery),
}

impl Listing {
    fn limit(&self) -> usize {
        match self {
            Listing::Workflows(query) => query.limit,
            Listing::Runs(query) => query.limit,
        }
    }

    async fn fetch(
        &self,
        state: &AppState,
        limit: usize,
        cursor: Option<String>,
    ) -> Result<(Vec<Value>, Option<String>), ApiError> {
        match self {
            Listing::Workflows(query) => {
                let query = WorkflowQuery {
                    limit,
                    cursor,
                    ..query.clone()
                };
                lists::workflows_page(state, &query).await
            }
            Listing::Runs(query) => {
                let query = RunQuery {
                    limit,
                    cursor,
                    ..query.clone()
                };
                lists::runs_page(state, &query).await
            }
        }
    }

    /// Up to `want` items that `keep` accepts after `cursor`, and the cursor after the last
    /// item looked at. Each cursor page asked for is at most the number still wanted, so
    /// every item read is either kept or passed over and the cursor never skips one. Stops
    /// early (with a cursor to go on) after [`SCANNED_MAX`] items.
    async fn fetch_kept(
        &self,
        state: &AppState,
        want: usize,
        mut cursor: Option<String>,
        keep: fn(&Value) -> bool,
    ) -> Result<(Vec<Value>, Option<String>), ApiError> {
        let mut kept = Vec::new();
        let mut scanned = 0usize;
        loop {
            let ask = (want - kept.len()).min(LIMIT_MAX);
            let (items, next) = self.fetch(state, ask, cursor).await?;
            scanned += items.len();
            kept.extend(items.into_iter().filter(keep));
            cursor = next;
            if kept.len() >= want || cursor.is_none() || scanned >= SCANNED_MAX {
                return Ok((kept, cursor));
            }
        }
    }

    /// The page of the items `keep` accepts after skipping `skip` of them, in the canonical
    /// list envelope.
    async fn page(
        &self,
        state: &AppState,
        skip: usize,
        keep: fn(&Value) -> bool,
    ) -> Result<Response, ApiError> {
        let limit = self.limit();
        let mut cursor = match self {
            Listing::Workflows(query) => query.cursor.clone(),
            Listing::Runs(query) => query.cursor.clone(),
        };
        let mut remaining = skip;
        while remaining > 0 {
            let (items, next) = self.fetch_kept(state, remaining, cursor, keep).await?;
            remaining = remaining.saturating_sub(items.len());
            match next {
                Some(next) => cursor = Some(next),
                // Fewer items than the offset: an empty last page.
                None => return Ok(reply::page(Vec::<Value>::new(), None, limit)),
            }
        }
        let (items, next) = self.fetch_kept(state, limit, cursor, keep).await?;
        Ok(reply::page(items, next, limit))
    }
}

// ---- workflows -----------------------------------------------------------------------------

/// `activeStatus` (and `status`) as Flowra sends them: `active` / `true`, `inactive` /
/// `false`, `draft`, any case.
fn status_word(text: &str) -> Option<&'static str> {
    match text.trim().to_ascii_lowercase().as_str() {
        "active" | "true" => Some("active"),
        "inactive" | "false" => Some("inactive"),
        "draft" => Some("draft"),
        _ => None,
    }
}

async fn list(
    State(state): State<AppState>,
    Query(mut params): Query<Params>,
) -> Result<Response, ApiError> {
    if let Some(text) = param(&params, "activeStatus") {
        let word = status_word(text).ok_or_else(|| {
            ApiError::invalid_field(
                &["activeStatus"],
                format!("must be active, inactive, true or false; not {text:?}"),
            )
        })?;
        params.insert("activeStatus".into(), word.into());
    }
    // Flowra has two states: a draft cannot run either, so it is inactive. The read model
    // filters one status, so that listing walks every workflow and keeps those not active.
    let inactive = param(&params, "activeStatus") == Some("inactive");
    if inactive {
        params.remove("activeStatus");
    }
    let query = lists::workflow_query_with_status(&params, "activeStatus")?;
    let skip = skip(&params, query.limit)?;
    let keep = if inactive { not_active } else { keep_all };
    Listing::Workflows(query).page(&state, skip, keep).await
}

async fn create(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<Map<String, Value>>,
) -> Result<Response, ApiError> {
    let data = match agent::create_body(&body) {
        agent::CreateBody::Agent => {
            let spec = agent::spec_of_dto(&state, body).await?;
            workflows::create_workflow(&state, spec)
                .await
                .map_err(agent::in_dto_terms)?
        }
        agent::CreateBody::Steps => {
            let mut spec: WorkflowSpec = body::from_value(Value::Object(body))?;
            // Flowra's workflows are on or off: one made here runs unless it says otherwise.
            spec.status.get_or_insert(WorkflowStatus::Active);
            workflows::create_workflow(&state, spec).await?
        }
        agent::CreateBody::Empty => return Err(agent::nothing_to_run()),
    };
    Ok(reply::with_status(
        StatusCode::CREATED,
        agent::workflow_view(data),
    ))
}

async fn detail(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let record = state.runs.workflows().get(&id).await?;
    Ok(reply::ok(agent::workflow_view(reply::workflow_json(
        &record,
    ))))
}

async fn update(
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(patch): JsonBody<Map<String, Value>>,
) -> Result<Response, ApiError> {
    let record = state.runs.workflows().get(&id).await?;
    // Problems in the agent step come from the DTO fields only when the patch sent no steps.
    let rebuilt = agent::agent_step(&record.current).is_some() && !patch.contains_key("steps");
    let patch = agent::update_patch(&state, &record.current, patch).await?;
    let data = workflows::update_workflow(&state, &id, patch)
        .await
        .map_err(|error| {
            if rebuilt {
                agent::in_dto_terms(error)
            } else {
                error
            }
        })?;
    Ok(reply::ok(agent::workflow_view(data)))
}

async fn remove(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(reply::ok(workflows::delete_workflow(&state, &id).await?))
}

/// The keys an activeStatus body may use, in the order they are read.
const ACTIVE_KEYS: [&str; 4] = ["activeStatus", "status", "isActive", "active"];

/// `"active"` or `"inactive"` from an activeStatus body (see the module's rules).
fn active_status(body: &Map<String, Value>) -> Result<&'static str, ApiError> {
    let mut chosen: Option<(&str, &'static str)> = None;
    for key in ACTIVE_KEYS {
        let Some(value) = body.get(key) else {
            continue;
        };
        let word = match value {
            Value::Bool(true) => Some("active"),
            Value::Bool(false) => Some("inactive"),
            Value::String(text) => status_word(text).filter(|w| *w != "draft"),
            _ => None,
        }
        .ok_or_else(|| {
            ApiError::invalid_field(
                &[key],
                format!("must be \"active\", \"inactive\", true or false; not {value}"),
            )
        })?;
        match chosen {
            Some((first, earlier)) if earlier != word => {
                return Err(ApiError::invalid_field(
                    &[key],
                    format!("says {word} but {first} says {earlier}"),
                ))
            }
            Some(_) => {}
            None => chosen = Some((key, word)),
        }
    }
    chosen.map(|(_, word)| word).ok_or_else(|| {
        ApiError::invalid_field(
            &["activeStatus"],
            "required: send {\"activeStatus\": \"active\" | \"inactive\"} \
             (or status, isActive, active)",
        )
    })
}

async fn set_active_status(
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Map<String, Value>>,
) -> Result<Response, ApiError> {
    let status = active_status(&body)?;
    Ok(reply::ok(
        workflows::change_status(&state, &id, json!(status)).await?,
    ))
}

async fn set_connection(
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ConnectionBody>,
) -> Result<Response, ApiError> {
    Ok(reply::ok(
        workflows::change_connection(&state, &id, body).await?,
    ))
}

// ---- runs ----------------------------------------------------------------------------------

/// The keys that make an execute body the canonical run body.
const RUN_BODY_KEYS: [&str; 3] = ["input", "idempotencyKey", "connectionId"];

/// TriggerWorkflowDto: the canonical run body, or a bare input (see the module's rules).
fn run_body(body: Value) -> Result<RunBody, ApiError> {
    let Value::Object(fields) = body else {
        return Err(ApiError::invalid_field(&[], "must be a JSON object"));
    };
    if RUN_BODY_KEYS.iter().any(|key| fields.contains_key(*key)) {
        let mut fields = fields;
        let message = fields.remove("message");
        let mut run: RunBody = body::from_value(Value::Object(fields))?;
        if let Some(message) = message {
            run.input = Some(with_message(run.input.take(), message)?);
        }
        return Ok(run);
    }
    Ok(RunBody {
        input: (!fields.is_empty()).then_some(Value::Object(fields)),
        ..RunBody::default()
    })
}

/// `input` with `message` (sent beside it in an execute body) as its `message`.
fn with_message(input: Option<Value>, message: Value) -> Result<Value, ApiError> {
    match input {
        None | Some(Value::Null) => Ok(json!({ "message": message })),
        Some(Value::Object(mut fields)) => {
            if fields.contains_key("message") {
                return Err(ApiError::invalid_field(
                    &["message"],
                    "is sent twice, beside input and in it; send one",
                ));
            }
            fields.insert("message".into(), message);
            Ok(Value::Object(fields))
        }
        Some(_) => Err(ApiError::invalid_field(
            &["input"],
            "must be an object when message is sent beside it",
        )),
    }
}

/// `data` with `threadId` beside `runId`.
fn with_thread_id(mut data: Value) -> Value {
    if let Some(run_id) = data.get("runId").cloned() {
        data["threadId"] = run_id;
    }
    data
}

async fn execute(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<Value>,
) -> Result<Response, ApiError> {
    let wait = runs::wait_param(&query, state.config.max_wait_secs)?;
    let body = run_body(body)?;
    let (status, data) = runs::start_run(&state, &id, body, &headers, wait).await?;
    Ok(reply::with_status(status, with_thread_id(data)))
}

async fn execution(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let run = state.runs.get(&id).await?;
    Ok(reply::ok(execution_json(&run)))
}

/// A run as Flowra's execution detail shows it: with `threadId`, an agent's sub-steps
/// marked.
fn execution_json(run: &RunView) -> Value {
    let mut data = with_thread_id(reply::run_json(run));
    agent::annotate_steps(&mut data);
    data
}

/// The small status object a poller needs: `completed` is true once the run succeeded,
/// `done` once it ended in any way (completed, failed, cancelled), `paused` while it waits
/// for a resume.
fn status_json(run: &RunView) -> Value {
    let full = reply::run_json(run);
    json!({
        "threadId": run.run_id,
        "runId": run.run_id,
        "workflowId": run.workflow_id,
        "status": status_name(run.status),
        "completed": run.status == RunStatus::Completed,
        "failed": run.status == RunStatus::Failed,
        "paused": run.status == RunStatus::Paused,
        "done": run.status.is_terminal(),
        "output": full["output"],
        "error": full["error"],
        "waitingFor": full["waitingFor"],
        "usage": full["usage"],
        "startedAt": full["startedAt"],
        "completedAt": full["completedAt"],
    })
}

async fn thread_status(
    State(state): State<AppState>,
    Path(thread_id): Path<String>,
) -> Result<Response, ApiError> {
    let run = state.runs.get(&thread_id).await?;
    Ok(reply::ok(status_json(&run)))
}

/// The keys whose value is the resume payload, the first present winning.
const RESUME_KEYS: [&str; 3] = ["payload", "input", "message"];

/// ResumeWorkflowExecutionDto (see the module's rules).
fn resume_payload(body: Value) -> Value {
    match body {
        Value::Object(mut fields) => {
            for key in RESUME_KEYS {
                if let Some(payload) = fields.remove(key) {
                    return payload;
                }
            }
            if fields.is_empty() {
                Value::Null
            } else {
                Value::Object(fields)
            }
        }
        other => other,
    }
}

async fn resume(
    State(state): State<AppState>,
    Path(thread_id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Response, ApiError> {
    // `Runs::resume` reports an unknown run as "pending, not paused" (400); Flowra's
    // documented answer for an unknown thread is 404, so look it up first.
    // It also tells whether the run waits for its agent, whose payloads differ.
    let paused = state.runs.get(&thread_id).await?;
    let payload = match &paused.waiting_for {
        Some(waiting) => agent::resume_payload(waiting, body)?,
        None => resume_payload(body),
    };
    let run = state.runs.resume(&thread_id, payload).await?;
    Ok(reply::ok(execution_json(&run)))
}

/// Cancels the thread's run: the body is optional, `{"reason"?: string}`; the answer is the
/// execution as `/executions/{id}` shows it.
async fn cancel(
    State(state): State<AppState>,
    Path(thread_id): Path<String>,
    JsonBody(body): JsonBody<runs::CancelBody>,
) -> Result<Response, ApiError> {
    // An unknown thread is 404, as for resume.
    state.runs.get(&thread_id).await?;
    let reason = body
        .reason
        .unwrap_or_else(|| "cancelled through the Flowra API".to_owned());
    let run = state.runs.cancel(&thread_id, &reason).await?;
    Ok(reply::ok(execution_json(&run)))
}

/// A time filter in `from`/`to` or its alias: `Ok(None)` when neither is given.
fn time_filter(
    params: &Params,
    canonical: &str,
    alias: &str,
    end: bool,
) -> Result<Option<String>, ApiError> {
    let (name, text) = match (param(params, canonical), param(params, alias)) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid_field(
                &[alias],
                format!("is another name for {canonical}: send one of them"),
            ))
        }
        (Some(text), None) => (canonical, text),
        (None, Some(text)) => (alias, text),
        (None, None) => return Ok(None),
    };
    if chrono::DateTime::parse_from_rfc3339(text).is_ok() {
        return Ok(Some(text.to_owned()));
    }
    let day = NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|day| {
            if end {
                day.checked_add_days(Days::new(1))
            } else {
                Some(day)
            }
        })
        .and_then(|day| day.and_hms_opt(0, 0, 0))
        .ok_or_else(|| {
            ApiError::invalid_field(
                &[name],
                format!(
                    "must be an RFC 3339 time like 2024-01-15T10:00:00Z or a date like \
                     2024-01-15, not {text:?}"
                ),
            )
        })?;
    Ok(Some(
        day.and_local_timezone(Utc)
            .single()
            .map_or_else(|| text.to_owned(), |t| t.to_rfc3339()),
    ))
}

/// The canonical run listing's parameters from Flowra's.
fn run_params(mut params: Params) -> Result<Params, ApiError> {
    let from = time_filter(&params, "from", "startDate", false)?;
    let to = time_filter(&params, "to", "endDate", true)?;
    for (name, value) in [("from", from), ("to", to)] {
        match value {
            Some(value) => params.insert(name.into(), value),
            None => params.remove(name),
        };
    }
    if let Some(status) = param(&params, "status").map(str::to_ascii_lowercase) {
        params.insert("status".into(), status);
    }
    Ok(params)
}

async fn runs_listing(state: &AppState, params: Params) -> Result<Response, ApiError> {
    let params = run_params(params)?;
    let query = lists::run_query(&params)?;
    let skip = skip(&params, query.limit)?;
    Listing::Runs(query).page(state, skip, keep_all).await
}

async fn executions(
    State(state): State<AppState>,
    Query(params): Query<Params>,
) -> Result<Response, ApiError> {
    runs_listing(&state, params).await
}

async fn workflow_executions(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(mut params): Query<Params>,
) -> Result<Response, ApiError> {
    if param(&params, "workflowId").is_some_and(|other| other != id) {
        return Err(ApiError::invalid_field(
            &["workflowId"],
            "differs from the workflow in the path",
        ));
    }
    // 404 for an unknown (or deleted) workflow rather than an empty list.
    state.runs.workflows().get(&id).await?;
    params.insert("workflowId".into(), id);
    runs_listing(&state, params).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn field(error: ApiError) -> Vec<String> {
        match error {
            ApiError::Validation { details, .. } => details[0].path.clone(),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn page_and_offset_name_the_same_position_within_the_bound() {
        assert_eq!(skip(&params(&[]), 20).ok(), Some(0));
        assert_eq!(skip(&params(&[("page", "3")]), 20).ok(), Some(40));
        assert_eq!(skip(&params(&[("offset", "7")]), 20).ok(), Some(7));
        assert_eq!(
            skip(&params(&[("page", "2"), ("offset", "20")]), 20).ok(),
            Some(20)
        );
        assert_eq!(
            skip(&params(&[("page", "1"), ("cursor", "abc")]), 20).ok(),
            Some(0)
        );
        let cases = [
            (params(&[("page", "0")]), "page"),
            (params(&[("page", "x")]), "page"),
            (params(&[("page", "502")]), "page"),
            (params(&[("page", "99999999999999999999")]), "page"),
            (params(&[("offset", "10001")]), "offset"),
            (params(&[("offset", "-1")]), "offset"),
            (params(&[("page", "2"), ("offset", "3")]), "offset"),
            (params(&[("offset", "3"), ("cursor", "abc")]), "cursor"),
        ];
        for (given, name) in cases {
            let error = skip(&given, 20).expect_err("refused");
            assert_eq!(field(error), vec![name], "{given:?}");
        }
        assert_eq!(skip(&params(&[("offset", "10000")]), 20).ok(), Some(10_000));
    }

    #[test]
    fn an_execute_body_is_the_run_body_or_the_input() {
        let wrapped = run_body(json!({"input": {"a": 1}, "idempotencyKey": "k"})).expect("ok");
        assert_eq!(wrapped.input, Some(json!({"a": 1})));
        assert_eq!(wrapped.idempotency_key.as_deref(), Some("k"));
        let keyed = run_body(json!({"connectionId": "c"})).expect("ok");
        assert_eq!(keyed.input, None);
        assert_eq!(
            keyed.connection_id.as_ref().map(|id| id.as_str()),
            Some("c")
        );
        let bare = run_body(json!({"customerId": "cus_1"})).expect("ok");
        assert_eq!(bare.input, Some(json!({"customerId": "cus_1"})));
        assert_eq!(run_body(json!({})).expect("ok").input, None);
        assert!(run_body(json!([1])).is_err());
        assert_eq!(
            field(run_body(json!({"idempotencyKey": 3})).expect_err("bad")),
            vec!["idempotencyKey"]
        );
        // `message` is the input's message, bare or beside the canonical keys.
        let bare = run_body(json!({"message": "hi"})).expect("ok");
        assert_eq!(bare.input, Some(json!({"message": "hi"})));
        let keyed = run_body(json!({"message": "hi", "idempotencyKey": "k"})).expect("ok");
        assert_eq!(keyed.input, Some(json!({"message": "hi"})));
        let merged = run_body(json!({"message": "hi", "input": {"a": 1}})).expect("ok");
        assert_eq!(merged.input, Some(json!({"a": 1, "message": "hi"})));
        for (body, name) in [
            (
                json!({"message": "hi", "input": {"message": "ho"}}),
                "message",
            ),
            (json!({"message": "hi", "input": [1]}), "input"),
        ] {
            assert_eq!(field(run_body(body).expect_err("bad")), vec![name]);
        }
    }

    #[test]
    fn a_resume_payload_is_the_first_named_key_or_the_body() {
        assert_eq!(
            resume_payload(json!({"message": 1, "payload": 2})),
            json!(2)
        );
        assert_eq!(
            resume_payload(json!({"input": {"ok": true}})),
            json!({"ok": true})
        );
        assert_eq!(resume_payload(json!({"ok": true})), json!({"ok": true}));
        assert_eq!(resume_payload(json!({})), Value::Null);
        assert_eq!(resume_payload(json!("yes")), json!("yes"));
    }

    #[test]
    fn active_status_bodies() {
        let status = |body: Value| match body {
            Value::Object(map) => active_status(&map),
            _ => panic!("not an object"),
        };
        assert_eq!(
            status(json!({"activeStatus": "ACTIVE"})).ok(),
            Some("active")
        );
        assert_eq!(status(json!({"status": "inactive"})).ok(), Some("inactive"));
        assert_eq!(status(json!({"isActive": true})).ok(), Some("active"));
        assert_eq!(status(json!({"active": "false"})).ok(), Some("inactive"));
        assert_eq!(
            status(json!({"activeStatus": "active", "isActive": true})).ok(),
            Some("active")
        );
        for (body, name) in [
            (json!({}), "activeStatus"),
            (json!({"activeStatus": "on"}), "activeStatus"),
            (json!({"status": "draft"}), "status"),
            (json!({"isActive": 1}), "isActive"),
            (json!({"activeStatus": "active", "active": false}), "active"),
        ] {
            assert_eq!(
                field(status(body.clone()).expect_err("refused")),
                vec![name],
                "{body}"
            );
        }
    }

    #[test]
    fn dates_are_whole_days_and_aliases_are_exclusive() {
        let p = run_params(params(&[
            ("startDate", "2024-01-15"),
            ("endDate", "2024-01-15"),
        ]))
        .expect("ok");
        assert_eq!(p["from"], "2024-01-15T00:00:00+00:00");
        assert_eq!(p["to"], "2024-01-16T00:00:00+00:00");
        let p = run_params(params(&[
            ("from", "2024-01-15T10:00:00Z"),
            ("status", "COMPLETED"),
        ]))
        .expect("ok");
        assert_eq!(p["from"], "2024-01-15T10:00:00Z");
        assert_eq!(p["status"], "completed");
        let both = run_params(params(&[
            ("from", "2024-01-15"),
            ("startDate", "2024-01-15"),
        ]));
        assert_eq!(field(both.expect_err("refused")), vec!["startDate"]);
        let bad = run_params(params(&[("endDate", "tomorrow")]));
        assert_eq!(field(bad.expect_err("refused")), vec!["endDate"]);
    }
}
