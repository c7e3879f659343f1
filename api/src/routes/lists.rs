//! The listings: `GET /api/v1/runs` (executions) and `GET /api/v1/workflows`, read from the
//! read models. A listing first waits (briefly) until the read models have applied
//! everything committed when the request arrived, so a client sees the runs it just started.

use std::collections::HashMap;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use readmodels::{
    parse_run_status, parse_workflow_status, RunQuery, SortOrder, WorkflowQuery, WorkflowSortBy,
    LIMIT_DEFAULT, LIMIT_MAX,
};
use serde_json::Value;

use crate::contract::runs::{RunListResponse, RunStatus, RunSummary};
use crate::contract::workflows::{WorkflowListResponse, WorkflowStatus, WorkflowSummary};
use crate::error::{ApiError, ErrorEnvelope};
use crate::openapi::{Forbidden, Internal, Unauthorized};
use crate::query::QueryParams;
use crate::reply;
use crate::AppState;

/// Longest a listing waits for the read models to catch up before answering with what they
/// have.
const CATCH_UP_WAIT: Duration = Duration::from_secs(2);

pub type Params = HashMap<String, String>;

fn param<'a>(params: &'a Params, name: &str) -> Option<&'a str> {
    params.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
}

pub fn limit(params: &Params) -> Result<usize, ApiError> {
    match param(params, "limit") {
        None => Ok(LIMIT_DEFAULT),
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=LIMIT_MAX).contains(n))
            .ok_or_else(|| {
                ApiError::invalid_field(
                    &["limit"],
                    format!("must be a whole number from 1 to {LIMIT_MAX}, not {text:?}"),
                )
            }),
    }
}

fn time(params: &Params, name: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
    param(params, name)
        .map(|text| {
            DateTime::parse_from_rfc3339(text)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| {
                    ApiError::invalid_field(
                        &[name],
                        format!("must be an RFC 3339 time like 2024-01-15T10:00:00Z, not {text:?}"),
                    )
                })
        })
        .transpose()
}

/// `workflowId`, `status`, `from`, `to`, `limit`, `cursor`.
pub fn run_query(params: &Params) -> Result<RunQuery, ApiError> {
    let status = param(params, "status")
        .map(|text| {
            parse_run_status(text).ok_or_else(|| {
                ApiError::invalid_field(
                    &["status"],
                    format!("must be one of pending, running, sleeping, paused, completed, failed, cancelled, corrupt; not {text:?}"),
                )
            })
        })
        .transpose()?;
    Ok(RunQuery {
        workflow_id: param(params, "workflowId").map(str::to_owned),
        status,
        from: time(params, "from")?,
        to: time(params, "to")?,
        limit: limit(params)?,
        cursor: param(params, "cursor").map(str::to_owned),
    })
}

/// `q`, `status`, `sortBy`, `sortOrder`, `limit`, `cursor`.
pub fn workflow_query(params: &Params) -> Result<WorkflowQuery, ApiError> {
    workflow_query_with_status(params, "status")
}

/// As [`workflow_query`], with the status filter read from `status_param`.
pub fn workflow_query_with_status(
    params: &Params,
    status_param: &str,
) -> Result<WorkflowQuery, ApiError> {
    let status = param(params, status_param)
        .map(|text| {
            parse_workflow_status(text).ok_or_else(|| {
                ApiError::invalid_field(
                    &[status_param],
                    format!("must be one of draft, active, inactive; not {text:?}"),
                )
            })
        })
        .transpose()?;
    let sort_by = param(params, "sortBy")
        .map(|text| {
            WorkflowSortBy::parse(text).ok_or_else(|| {
                ApiError::invalid_field(
                    &["sortBy"],
                    format!("must be one of createdAt, updatedAt, name; not {text:?}"),
                )
            })
        })
        .transpose()?
        .unwrap_or_default();
    let sort_order = param(params, "sortOrder")
        .map(|text| {
            SortOrder::parse(&text.to_ascii_lowercase()).ok_or_else(|| {
                ApiError::invalid_field(
                    &["sortOrder"],
                    format!("must be asc or desc; not {text:?}"),
                )
            })
        })
        .transpose()?
        .unwrap_or_default();
    Ok(WorkflowQuery {
        q: param(params, "q").map(str::to_owned),
        status,
        sort_by,
        sort_order,
        limit: limit(params)?,
        cursor: param(params, "cursor").map(str::to_owned),
    })
}

/// Waits until the read models reflect everything committed now (at most `CATCH_UP_WAIT`).
pub async fn caught_up(state: &AppState) -> Result<(), ApiError> {
    let committed = state.engine.committed_position();
    match tokio::time::timeout(CATCH_UP_WAIT, state.read_models.wait_for(committed)).await {
        Ok(result) => result.map_err(ApiError::from),
        // Late is better than nothing: answer with what has been applied.
        Err(_) => Ok(()),
    }
}

/// One page of runs.
pub async fn run_summaries(
    state: &AppState,
    query: &RunQuery,
) -> Result<(Vec<RunSummary>, Option<String>), ApiError> {
    caught_up(state).await?;
    let page = state.read_models.list_runs(query)?;
    let items = page.items.into_iter().map(RunSummary::from).collect();
    Ok((items, page.next_cursor))
}

/// [`run_summaries`] as JSON, for the compatibility routes and the dashboard.
pub async fn runs_page(
    state: &AppState,
    query: &RunQuery,
) -> Result<(Vec<Value>, Option<String>), ApiError> {
    let (items, next) = run_summaries(state, query).await?;
    Ok((items.into_iter().map(reply::to_json).collect(), next))
}

/// One page of workflows.
pub async fn workflow_summaries(
    state: &AppState,
    query: &WorkflowQuery,
) -> Result<(Vec<WorkflowSummary>, Option<String>), ApiError> {
    caught_up(state).await?;
    let page = state.read_models.list_workflows(query)?;
    let items = page.items.into_iter().map(WorkflowSummary::from).collect();
    Ok((items, page.next_cursor))
}

/// [`workflow_summaries`] as JSON, for the compatibility routes.
pub async fn workflows_page(
    state: &AppState,
    query: &WorkflowQuery,
) -> Result<(Vec<Value>, Option<String>), ApiError> {
    let (items, next) = workflow_summaries(state, query).await?;
    Ok((items.into_iter().map(reply::to_json).collect(), next))
}

/// List runs
///
/// Required scope: `runs:read`. Newest first; follow `pagination.nextCursor` for the next
/// page. New runs never make a later page skip or repeat an item. Each parameter may be
/// given once, with a value.
#[utoipa::path(
    get,
    path = "/api/v1/runs",
    tag = "runs",
    params(
        ("workflowId" = Option<String>, Query, min_length = 1, description = "Only runs of this workflow."),
        ("status" = Option<RunStatus>, Query, description = "Only runs with this status."),
        ("from" = Option<String>, Query, format = DateTime, description = "Only runs started at or after this time (RFC 3339)."),
        ("to" = Option<String>, Query, format = DateTime, description = "Only runs started before this time (RFC 3339)."),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "Page size (default 20)."),
        ("cursor" = Option<String>, Query, min_length = 1, description = "`pagination.nextCursor` of the previous page."),
    ),
    responses(
        (status = 200, description = "A page of runs.", body = RunListResponse),
        (status = 400, description = "VALIDATION_ERROR: a query parameter is malformed, empty or given twice; `details` names it.", body = ErrorEnvelope,
            example = json!({"success": false, "error": {"code": "VALIDATION_ERROR", "message": "to: must not be empty: leave the parameter out instead",
                "details": [{"path": ["to"], "message": "must not be empty: leave the parameter out instead"}]}})),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 500, response = Internal),
    ),
    security(("apiKey" = []), ("bearerAuth" = []))
)]
pub async fn list_runs(
    State(state): State<AppState>,
    QueryParams(params): QueryParams,
) -> Result<Response, ApiError> {
    let query = run_query(&params)?;
    let (items, next) = run_summaries(&state, &query).await?;
    Ok(reply::json(
        StatusCode::OK,
        &RunListResponse::new(items, next, query.limit),
    ))
}

/// List workflows
///
/// Required scope: `workflows:read`. Newest first unless `sortBy`/`sortOrder` say
/// otherwise; follow `pagination.nextCursor` for the next page. Items have no definition:
/// get a workflow for its steps. Each parameter may be given once, with a value (`q` may be
/// empty).
#[utoipa::path(
    get,
    path = "/api/v1/workflows",
    tag = "workflows",
    params(
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "Page size (default 20)."),
        ("cursor" = Option<String>, Query, min_length = 1, description = "`pagination.nextCursor` of the previous page."),
        ("q" = Option<String>, Query, description = "Case-insensitive substring of the name."),
        ("status" = Option<WorkflowStatus>, Query, description = "Only workflows with this status."),
        ("sortBy" = Option<String>, Query, pattern = "^(createdAt|updatedAt|name)$", description = "`createdAt` (the default), `updatedAt` or `name`."),
        ("sortOrder" = Option<String>, Query, pattern = "^(?i)(asc|desc)$", description = "`asc` or `desc` (the default)."),
    ),
    responses(
        (status = 200, description = "A page of workflows.", body = WorkflowListResponse),
        (status = 400, description = "VALIDATION_ERROR: a query parameter is malformed, empty or given twice; `details` names it.", body = ErrorEnvelope),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 500, response = Internal),
    ),
    security(("apiKey" = []), ("bearerAuth" = []))
)]
pub async fn list_workflows(
    State(state): State<AppState>,
    QueryParams(params): QueryParams,
) -> Result<Response, ApiError> {
    let query = workflow_query(&params)?;
    let (items, next) = workflow_summaries(&state, &query).await?;
    Ok(reply::json(
        StatusCode::OK,
        &WorkflowListResponse::new(items, next, query.limit),
    ))
}
