//! Runs: start one (`POST /api/v1/workflows/{id}/run`), read it, its journal, resume and
//! cancel it.

use std::collections::HashMap;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use engine::definition::WorkflowSpec;
use engine::executor::{run_stream, Against, Rerun, StartRun, RUN_EVENTS_MAX};
use journal::Seq;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::body::JsonBody;
use crate::error::ApiError;
use crate::reply;
use crate::AppState;
use credentials::keys::Scope;

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

/// The body of a run request (seed 001): every field optional.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunBody {
    #[serde(default)]
    pub input: Option<Value>,
    #[serde(default)]
    pub connection_id: Option<String>,
    #[serde(default)]
    pub idempotency_key: Option<String>,
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

/// Starts a run and answers as seed 001 does: 202 `{runId, status, workflowId,
/// workflowVersion}`; with `wait`, the run once it has ended (200) or as it stands at the
/// deadline (202). A repeated idempotency key answers 200 with the first run.
pub async fn start_run(
    state: &AppState,
    workflow_id: &str,
    body: RunBody,
    headers: &HeaderMap,
    wait: Option<Duration>,
) -> Result<(StatusCode, Value), ApiError> {
    start_run_telling(state, workflow_id, body, headers, wait)
        .await
        .map(|(status, data, _)| (status, data))
}

/// As [`start_run`], also saying whether the idempotency key named an earlier run.
pub async fn start_run_telling(
    state: &AppState,
    workflow_id: &str,
    body: RunBody,
    headers: &HeaderMap,
    wait: Option<Duration>,
) -> Result<(StatusCode, Value, bool), ApiError> {
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
            connection_id: body.connection_id,
        })
        .await?;
    if let Some(wait) = wait {
        let (status, run) = waited(state, &started.run_id, wait).await?;
        return Ok((status, run, started.existing));
    }
    let (status, run_status) = if started.existing {
        let run = state.runs.get(&started.run_id).await?;
        (StatusCode::OK, engine::executor::status_name(run.status))
    } else {
        (StatusCode::ACCEPTED, "pending")
    };
    Ok((
        status,
        json!({
            "runId": started.run_id,
            "status": run_status,
            "workflowId": started.workflow_id,
            "workflowVersion": started.workflow_version,
        }),
        started.existing,
    ))
}

/// The run once it has ended (200), or as it stands when `wait` runs out (202).
async fn waited(
    state: &AppState,
    run_id: &str,
    wait: Duration,
) -> Result<(StatusCode, Value), ApiError> {
    let run = state.runs.wait_for_end(run_id, wait).await?;
    let status = if run.status.is_terminal() {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    Ok((status, reply::run_json(&run)))
}

async fn run_workflow(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<RunBody>,
) -> Result<Response, ApiError> {
    let wait = wait_param(&query, state.config.max_wait_secs)?;
    let (status, data) = start_run(&state, &id, body, &headers, wait).await?;
    Ok(reply::with_status(status, data))
}

async fn detail(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let run = state.runs.get(&id).await?;
    Ok(reply::ok(reply::run_json(&run)))
}

async fn events(
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
    let events: Vec<Value> = recorded.iter().map(reply::event_json).collect();
    Ok(reply::ok(events))
}

/// `?version=N` of a replay.
#[derive(Debug, Default, Deserialize)]
pub struct ReplayQuery {
    #[serde(default)]
    pub version: Option<u64>,
}

/// `GET /api/v1/runs/{id}/replay[?version=N]`: the run's timeline; with a version, checked
/// against that version of its workflow.
async fn replay(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<ReplayQuery>,
) -> Result<Response, ApiError> {
    let body = ReplayBody {
        version: query.version,
        definition: None,
    };
    replay_with(&state, &id, body).await
}

/// The body of `POST /api/v1/runs/{id}/replay`: a stored version, or a definition that is
/// not stored (as for `POST /api/v1/workflows`), to check the history against.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayBody {
    #[serde(default)]
    pub version: Option<u64>,
    #[serde(default)]
    pub definition: Option<Value>,
}

async fn replay_against(
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
            let spec: WorkflowSpec = crate::body::from_value(definition)?;
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
    let described = reply::against_json(&against);
    let replay = state.runs.replay(id, against).await?;
    Ok(reply::ok(reply::replay_json(&replay, described)))
}

/// The body of `POST /api/v1/runs/{id}/rerun`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RerunBody {
    pub from_step: String,
    #[serde(default)]
    pub input: Option<Value>,
    #[serde(default)]
    pub version: Option<u64>,
}

/// Reruns an ended run from one of its steps: 202 `{runId, status, workflowId,
/// workflowVersion, parent}`, or with `?wait=` the new run once it has ended (200).
async fn rerun(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
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
        return Ok(reply::with_status(status, run));
    }
    Ok(reply::with_status(
        StatusCode::ACCEPTED,
        json!({
            "runId": started.run_id,
            "status": "pending",
            "workflowId": started.workflow_id,
            "workflowVersion": started.workflow_version,
            "parent": { "runId": id, "fromStep": body.from_step },
        }),
    ))
}

#[derive(Debug, Default, Deserialize)]
pub struct ResumeBody {
    #[serde(default)]
    pub payload: Value,
}

async fn resume(
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ResumeBody>,
) -> Result<Response, ApiError> {
    let run = state.runs.resume(&id, body.payload).await?;
    Ok(reply::ok(reply::run_json(&run)))
}

#[derive(Debug, Default, Deserialize)]
pub struct CancelBody {
    #[serde(default)]
    pub reason: Option<String>,
}

async fn cancel(
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<CancelBody>,
) -> Result<Response, ApiError> {
    let reason = body
        .reason
        .unwrap_or_else(|| "cancelled through the API".to_owned());
    let run = state.runs.cancel(&id, &reason).await?;
    Ok(reply::ok(reply::run_json(&run)))
}
