//! Runs: start one (`POST /api/v1/workflows/{id}/run`), read it, its journal, resume, cancel,
//! rerun and replay it.

use std::collections::HashMap;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use engine::definition::WorkflowSpec;
use engine::executor::{run_stream, Against, Rerun, StartRun, RUN_EVENTS_MAX};
use journal::Seq;
use serde_json::Value;

use crate::body::JsonBody;
pub use crate::contract::runs::{CancelBody, ReplayBody, RerunBody, ResumeBody};
use crate::contract::runs::{
    Replay, ReplayAgainst, ReplayResponse, RerunResponse, RerunStart, RerunStarted, Run, RunEvent,
    RunEventsResponse, RunLink, RunRequest, RunResponse, RunStart, RunStartResponse, RunStarted,
};
use crate::contract::workflows::WorkflowDefinition;
use crate::error::{ApiError, ErrorEnvelope};
use crate::openapi::{Forbidden, Internal, PayloadTooLarge, RateLimited, Unauthorized};
use crate::query::QueryParams;
use crate::reply;
use crate::AppState;
use credentials::keys::Scope;

/// The body of a run request (seed 001), under the name the other routes know it by.
pub use crate::contract::runs::RunRequest as RunBody;

pub fn router(state: &AppState) -> Router<AppState> {
    let execute = Router::new()
        .route("/api/v1/workflows/{id}/run", post(run_workflow))
        .route("/api/v1/runs/{id}/rerun", post(rerun));
    let read = Router::new()
        .route("/api/v1/runs", get(super::lists::list_runs))
        .route("/api/v1/runs/{id}", get(detail))
        .route("/api/v1/runs/{id}/events", get(events))
        .route("/api/v1/runs/{id}/replay", get(replay).post(replay_against));
    let write = Router::new()
        .route("/api/v1/runs/{id}/resume", post(resume))
        .route("/api/v1/runs/{id}/cancel", post(cancel));
    Router::new()
        .merge(super::executing(state, execute))
        .merge(super::scoped(state, Scope::RunsRead, read))
        .merge(super::scoped(state, Scope::RunsWrite, write))
}

/// `?wait=SECONDS`, if given: how long to wait for the run's end.
pub fn wait_param(
    query: &HashMap<String, String>,
    max_secs: u64,
) -> Result<Option<Duration>, ApiError> {
    let Some(text) = query.get("wait") else {
        return Ok(None);
    };
    let seconds: f64 = text.trim().parse().map_err(|_| {
        ApiError::invalid_field(
            &["wait"],
            format!("must be a number of seconds, not {text:?}"),
        )
    })?;
    if !seconds.is_finite() || seconds < 0.0 {
        return Err(ApiError::invalid_field(
            &["wait"],
            "must be zero or more seconds",
        ));
    }
    Ok(Some(Duration::from_secs_f64(seconds.min(max_secs as f64))))
}

/// [`start_run_telling`] as JSON, for the compatibility routes.
pub async fn start_run(
    state: &AppState,
    workflow_id: &str,
    body: RunBody,
    headers: &HeaderMap,
    wait: Option<Duration>,
) -> Result<(StatusCode, Value), ApiError> {
    start_run_telling(state, workflow_id, body, headers, wait)
        .await
        .map(|(status, data, _)| (status, reply::to_json(data)))
}

/// Starts a run and answers as seed 001 does: 202 `{runId, status, workflowId,
/// workflowVersion}`; with `wait`, the run once it has ended (200) or as it stands at the
/// deadline (202). A repeated idempotency key answers 200 with the first run. Also says
/// whether the idempotency key named an earlier run.
pub async fn start_run_telling(
    state: &AppState,
    workflow_id: &str,
    body: RunBody,
    headers: &HeaderMap,
    wait: Option<Duration>,
) -> Result<(StatusCode, RunStart, bool), ApiError> {
    if let Some(input) = &body.input {
        if !input.is_object() && !input.is_null() {
            return Err(ApiError::invalid_field(&["input"], "must be a JSON object"));
        }
    }
    // The body's key wins; the conventional header is accepted too.
    let idempotency_key = match body.idempotency_key {
        Some(key) => Some(key),
        None => headers
            .get("idempotency-key")
            .map(|v| {
                v.to_str().map(str::to_owned).map_err(|_| {
                    ApiError::invalid_field(&["Idempotency-Key"], "must be visible ASCII")
                })
            })
            .transpose()?,
    };
    let started = state
        .runs
        .start(StartRun {
            workflow_id: workflow_id.to_owned(),
            input: body.input.filter(|v| !v.is_null()),
            idempotency_key,
            connection_id: body.connection_id.map(String::from),
        })
        .await?;
    if let Some(wait) = wait {
        let (status, run) = waited(state, &started.run_id, wait).await?;
        return Ok((status, RunStart::Run(Box::new(run)), started.existing));
    }
    let (status, run_status) = if started.existing {
        let run = state.runs.get(&started.run_id).await?;
        (StatusCode::OK, engine::executor::status_name(run.status))
    } else {
        (StatusCode::ACCEPTED, "pending")
    };
    let data = RunStart::Started(RunStarted {
        run_id: started.run_id.into(),
        status: run_status.to_owned(),
        workflow_id: started.workflow_id.into(),
        workflow_version: started.workflow_version,
    });
    Ok((status, data, started.existing))
}

/// The run once it has ended (200), or as it stands when `wait` runs out (202).
async fn waited(
    state: &AppState,
    run_id: &str,
    wait: Duration,
) -> Result<(StatusCode, Run), ApiError> {
    let run = state.runs.wait_for_end(run_id, wait).await?;
    let status = if run.status.is_terminal() {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    Ok((status, Run::from(&run)))
}

/// Run a workflow
///
/// Required scope: `workflows:execute`, and each call takes one request from the key's
/// execute rate limit. Starts a run of the workflow's current version and answers once the
/// run is durably recorded: 202 with `{runId, status: "pending", workflowId,
/// workflowVersion}`. An `idempotencyKey` (or `Idempotency-Key` header) seen for this
/// workflow in the last 24 hours answers 200 with that first run instead. With
/// `?wait=SECONDS`, waits up to that long (at most the server's limit, 300 s by default) and
/// answers the run itself: 200 once it has ended, 202 as it stands if it has not.
#[utoipa::path(
    post,
    path = "/api/v1/workflows/{id}/run",
    tag = "runs",
    params(
        ("id" = String, Path, description = "Workflow id."),
        ("wait" = Option<f64>, Query, minimum = 0, description = "Seconds to wait for the run to end (fractions allowed; capped by the server)."),
        ("Idempotency-Key" = Option<String>, Header, description = "Used when the body has no `idempotencyKey`."),
    ),
    request_body(content = RunRequest, description = "Optional: an empty body is `{}`."),
    responses(
        (status = 200, description = "An idempotent repeat (the first run, as `RunStarted` with its current status), or with `wait` the run once it has ended (`Run`).", body = RunStartResponse),
        (status = 202, description = "Started: `RunStarted` with status `pending`; with `wait`, the run (`Run`) as it stands at the deadline.", body = RunStartResponse),
        (status = 400, description = "VALIDATION_ERROR: malformed body, `input` not an object, `input` invalid against the workflow's `inputSchema` (\"Input validation failed\", every problem in `details`), a required connection missing or disabled, `idempotencyKey` not 1 to 255 bytes, `Idempotency-Key` not visible ASCII, or `wait` not a number of seconds (or given twice). INVALID_STATUS: the workflow is not active.", body = ErrorEnvelope,
            examples(
                ("VALIDATION_ERROR" = (value = json!({"success": false, "error": {"code": "VALIDATION_ERROR", "message": "Input validation failed",
                    "details": [{"path": ["customerId"], "message": "Required"}]}}))),
                ("INVALID_STATUS" = (value = json!({"success": false, "error": {"code": "INVALID_STATUS", "message": "Workflow must be active to run. Current status: draft", "details": []}}))),
            )),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "NOT_FOUND: \"Workflow not found\".", body = ErrorEnvelope),
        (status = 413, response = PayloadTooLarge),
        (status = 429, response = RateLimited),
        (status = 500, response = Internal),
    ),
    security(("apiKey" = []), ("bearerAuth" = []))
)]
pub(crate) async fn run_workflow(
    State(state): State<AppState>,
    Path(id): Path<String>,
    QueryParams(query): QueryParams,
    headers: HeaderMap,
    JsonBody(body): JsonBody<RunBody>,
) -> Result<Response, ApiError> {
    let wait = wait_param(&query, state.config.max_wait_secs)?;
    let (status, data, _) = start_run_telling(&state, &id, body, &headers, wait).await?;
    Ok(reply::json(status, &RunStartResponse::new(data)))
}

/// Get a run
///
/// Required scope: `runs:read`. The run as its journal tells it, with its steps, its links
/// (parent, reruns, children), what a paused agent waits for, and its model usage.
#[utoipa::path(
    get,
    path = "/api/v1/runs/{id}",
    tag = "runs",
    params(("id" = String, Path, description = "Run id.")),
    responses(
        (status = 200, description = "The run.", body = RunResponse),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "NOT_FOUND: \"Run not found\".", body = ErrorEnvelope),
        (status = 500, response = Internal),
    ),
    security(("apiKey" = []), ("bearerAuth" = []))
)]
pub(crate) async fn detail(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let run = state.runs.get(&id).await?;
    Ok(reply::json(
        StatusCode::OK,
        &RunResponse::new(Run::from(&run)),
    ))
}

/// Get a run's events
///
/// Required scope: `runs:read`. The run's journal, in order, with stream numbers, journal
/// positions and timestamps.
#[utoipa::path(
    get,
    path = "/api/v1/runs/{id}/events",
    tag = "runs",
    params(("id" = String, Path, description = "Run id.")),
    responses(
        (status = 200, description = "The run's events.", body = RunEventsResponse),
        (status = 400, description = "VALIDATION_ERROR: the id cannot name a run stream.", body = ErrorEnvelope),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "NOT_FOUND: \"Run not found\".", body = ErrorEnvelope),
        (status = 500, response = Internal),
    ),
    security(("apiKey" = []), ("bearerAuth" = []))
)]
pub(crate) async fn events(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let stream = run_stream(&id)?;
    let recorded = state
        .engine
        .store()
        .read_stream(&stream, Seq(1), RUN_EVENTS_MAX)
        .await?;
    if recorded.is_empty() {
        return Err(ApiError::NotFound("Run not found".to_owned()));
    }
    let events = recorded.iter().map(RunEvent::from).collect();
    Ok(reply::json(StatusCode::OK, &RunEventsResponse::new(events)))
}

/// `?version=N` of a replay: a whole number, given once.
fn replay_version(params: &HashMap<String, String>) -> Result<Option<u64>, ApiError> {
    params
        .get("version")
        .map(|text| {
            text.trim().parse::<u64>().map_err(|_| {
                ApiError::invalid_field(
                    &["version"],
                    format!("must be a workflow version (a whole number), not {text:?}"),
                )
            })
        })
        .transpose()
}

/// Replay a run's journal
///
/// Required scope: `runs:read`. Folds the run's journal event by event: the timeline (each
/// event with the run's status after it), each step's input, output, attempts and error,
/// and where the run stopped and why. With `version`, also replays the history against that
/// version of the workflow and reports the first event it would not have written.
#[utoipa::path(
    get,
    path = "/api/v1/runs/{id}/replay",
    tag = "runs",
    params(
        ("id" = String, Path, description = "Run id."),
        ("version" = Option<u64>, Query, minimum = 0, description = "A workflow version to check the history against."),
    ),
    responses(
        (status = 200, description = "The replay.", body = ReplayResponse),
        (status = 400, description = "VALIDATION_ERROR: `version` is not a whole number, is empty or is given twice; `details` names it.", body = ErrorEnvelope,
            example = json!({"success": false, "error": {"code": "VALIDATION_ERROR", "message": "version: must be a workflow version (a whole number), not \"two\"",
                "details": [{"path": ["version"], "message": "must be a workflow version (a whole number), not \"two\""}]}})),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "NOT_FOUND: the run or the version.", body = ErrorEnvelope),
        (status = 500, response = Internal),
    ),
    security(("apiKey" = []), ("bearerAuth" = []))
)]
pub(crate) async fn replay(
    State(state): State<AppState>,
    Path(id): Path<String>,
    QueryParams(params): QueryParams,
) -> Result<Response, ApiError> {
    let body = ReplayBody {
        version: replay_version(&params)?,
        definition: None,
    };
    replay_with(&state, &id, body).await
}

/// Replay a run's journal against a definition
///
/// Required scope: `runs:read`. As `GET`, checking the history against a stored `version`
/// or against a `definition` that is not stored (nothing is written).
#[utoipa::path(
    post,
    path = "/api/v1/runs/{id}/replay",
    tag = "runs",
    params(("id" = String, Path, description = "Run id.")),
    request_body(content = ReplayBody),
    responses(
        (status = 200, description = "The replay.", body = ReplayResponse),
        (status = 400, description = "VALIDATION_ERROR: malformed body, both `version` and `definition`, or an invalid definition (details name each problem under `definition`).", body = ErrorEnvelope),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "NOT_FOUND: the run or the version.", body = ErrorEnvelope),
        (status = 413, response = PayloadTooLarge),
        (status = 500, response = Internal),
    ),
    security(("apiKey" = []), ("bearerAuth" = []))
)]
pub(crate) async fn replay_against(
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ReplayBody>,
) -> Result<Response, ApiError> {
    replay_with(&state, &id, body).await
}

async fn replay_with(state: &AppState, id: &str, body: ReplayBody) -> Result<Response, ApiError> {
    let against = match (body.version, body.definition) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid_field(
                &["definition"],
                "give either version or definition, not both",
            ))
        }
        (Some(version), None) => Against::Version(version),
        (None, Some(definition)) => {
            let definition: WorkflowDefinition = crate::body::from_value(definition)?;
            let spec = WorkflowSpec::from(definition);
            let steps = spec.check().map_err(|problems| ApiError::Validation {
                message: "The definition is not a valid workflow".to_owned(),
                details: problems
                    .into_iter()
                    .map(|problem| {
                        let mut detail = crate::error::Detail::from(problem);
                        detail.path.insert(0, "definition".to_owned());
                        detail
                    })
                    .collect(),
            })?;
            Against::Steps(steps)
        }
        (None, None) => Against::Nothing,
    };
    let described = ReplayAgainst::of(&against);
    let replay = state.runs.replay(id, against).await?;
    Ok(reply::json(
        StatusCode::OK,
        &ReplayResponse::new(Replay::of(&replay, described)),
    ))
}

/// Rerun a run from one of its steps
///
/// Required scope: `workflows:execute` (and its rate limit). Starts a new run of the chosen
/// version (the current one by default) linked to its parent: the steps before `fromStep`
/// are completed with the parent's journaled outputs, not carried out again; `fromStep` and
/// the steps after it run. Both runs show the link (`parent`, `reruns`). `?wait=SECONDS`
/// waits for the new run's end as for a run request.
#[utoipa::path(
    post,
    path = "/api/v1/runs/{id}/rerun",
    tag = "runs",
    params(
        ("id" = String, Path, description = "The parent run's id."),
        ("wait" = Option<f64>, Query, minimum = 0, description = "Seconds to wait for the new run to end."),
    ),
    request_body(content = RerunBody),
    responses(
        (status = 200, description = "With `wait`: the new run, ended.", body = RerunResponse),
        (status = 202, description = "Started: `{runId, status, workflowId, workflowVersion, parent}`; with `wait`, the run as it stands at the deadline.", body = RerunResponse),
        (status = 400, description = "VALIDATION_ERROR: malformed body, `input` not an object or invalid, `fromStep` not a top-level step of the version, a step before it did not complete in the parent, or a bad `wait`. INVALID_STATUS: the workflow is not active, or the parent run is corrupt.", body = ErrorEnvelope),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "NOT_FOUND: the run, the workflow or the version.", body = ErrorEnvelope),
        (status = 409, description = "CONFLICT: the parent run has not ended.", body = ErrorEnvelope),
        (status = 413, response = PayloadTooLarge),
        (status = 429, response = RateLimited),
        (status = 500, response = Internal),
    ),
    security(("apiKey" = []), ("bearerAuth" = []))
)]
pub(crate) async fn rerun(
    State(state): State<AppState>,
    Path(id): Path<String>,
    QueryParams(query): QueryParams,
    JsonBody(body): JsonBody<RerunBody>,
) -> Result<Response, ApiError> {
    let wait = wait_param(&query, state.config.max_wait_secs)?;
    if let Some(input) = &body.input {
        if !input.is_object() && !input.is_null() {
            return Err(ApiError::invalid_field(&["input"], "must be a JSON object"));
        }
    }
    let started = state
        .runs
        .rerun(
            &id,
            Rerun {
                from_step: body.from_step.clone(),
                input: body.input.filter(|v| !v.is_null()),
                version: body.version,
            },
        )
        .await?;
    if let Some(wait) = wait {
        let (status, run) = waited(&state, &started.run_id, wait).await?;
        return Ok(reply::json(
            status,
            &RerunResponse::new(RerunStart::Run(Box::new(run))),
        ));
    }
    let data = RerunStart::Started(RerunStarted {
        run_id: started.run_id.into(),
        status: "pending".to_owned(),
        workflow_id: started.workflow_id.into(),
        workflow_version: started.workflow_version,
        parent: RunLink {
            run_id: id.into(),
            from_step: body.from_step,
        },
    });
    Ok(reply::json(StatusCode::ACCEPTED, &RerunResponse::new(data)))
}

/// Resume a paused run
///
/// Required scope: `runs:write`. `payload` becomes the waiting step's output and the run
/// goes on. A run paused by an agent takes `{"message"}` for a question and `{"approved",
/// "arguments"?}` for an approval as its payload.
#[utoipa::path(
    post,
    path = "/api/v1/runs/{id}/resume",
    tag = "runs",
    params(("id" = String, Path, description = "Run id.")),
    request_body(content = ResumeBody, description = "Optional: an empty body resumes with `null`."),
    responses(
        (status = 200, description = "The run, resumed.", body = RunResponse),
        (status = 400, description = "VALIDATION_ERROR: malformed body, or a payload an agent cannot take. INVALID_STATUS: the run is not paused.", body = ErrorEnvelope),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "NOT_FOUND: \"Run not found\".", body = ErrorEnvelope),
        (status = 413, response = PayloadTooLarge),
        (status = 500, response = Internal),
    ),
    security(("apiKey" = []), ("bearerAuth" = []))
)]
pub(crate) async fn resume(
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ResumeBody>,
) -> Result<Response, ApiError> {
    let run = state.runs.resume(&id, body.payload).await?;
    Ok(reply::json(
        StatusCode::OK,
        &RunResponse::new(Run::from(&run)),
    ))
}

/// Cancel a run
///
/// Required scope: `runs:write`. Cancels a run that has not ended.
#[utoipa::path(
    post,
    path = "/api/v1/runs/{id}/cancel",
    tag = "runs",
    params(("id" = String, Path, description = "Run id.")),
    request_body(content = CancelBody, description = "Optional: an empty body is `{}`."),
    responses(
        (status = 200, description = "The run, cancelled.", body = RunResponse),
        (status = 400, description = "VALIDATION_ERROR: malformed body. INVALID_STATUS: the run has already ended.", body = ErrorEnvelope),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "NOT_FOUND: \"Run not found\".", body = ErrorEnvelope),
        (status = 413, response = PayloadTooLarge),
        (status = 500, response = Internal),
    ),
    security(("apiKey" = []), ("bearerAuth" = []))
)]
pub(crate) async fn cancel(
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<CancelBody>,
) -> Result<Response, ApiError> {
    let reason = body
        .reason
        .unwrap_or_else(|| "cancelled through the API".to_owned());
    let run = state.runs.cancel(&id, &reason).await?;
    Ok(reply::json(
        StatusCode::OK,
        &RunResponse::new(Run::from(&run)),
    ))
}
