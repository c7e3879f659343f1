//! The listings: `GET /api/v1/runs` (executions) and `GET /api/v1/workflows`, read from the
//! read models. A listing first waits (briefly) until the read models have applied
//! everything committed when the request arrived, so a client sees the runs it just started.

use std::collections::HashMap;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::response::Response;
use chrono::{DateTime, Utc};
use readmodels::{
    parse_run_status, parse_workflow_status, RunQuery, SortOrder, WorkflowQuery, WorkflowSortBy,
    LIMIT_DEFAULT, LIMIT_MAX,
};
use serde_json::{json, Value};

use crate::error::ApiError;
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

/// One page of runs, each with `id` beside `runId`.
pub async fn runs_page(
    state: &AppState,
    query: &RunQuery,
) -> Result<(Vec<Value>, Option<String>), ApiError> {
    caught_up(state).await?;
    let page = state.read_models.list_runs(query)?;
    let items = page
        .items
        .into_iter()
        .map(|summary| {
            let mut item = serde_json::to_value(&summary).unwrap_or(Value::Null);
            item["id"] = json!(summary.run_id);
            item
        })
        .collect();
    Ok((items, page.next_cursor))
}

pub async fn workflows_page(
    state: &AppState,
    query: &WorkflowQuery,
) -> Result<(Vec<Value>, Option<String>), ApiError> {
    caught_up(state).await?;
    let page = state.read_models.list_workflows(query)?;
    let items = page
        .items
        .into_iter()
        .map(|summary| serde_json::to_value(&summary).unwrap_or(Value::Null))
        .collect();
    Ok((items, page.next_cursor))
}

pub async fn list_runs(
    State(state): State<AppState>,
    Query(params): Query<Params>,
) -> Result<Response, ApiError> {
    let query = run_query(&params)?;
    let (items, next) = runs_page(&state, &query).await?;
    Ok(reply::page(items, next, query.limit))
}

pub async fn list_workflows(
    State(state): State<AppState>,
    Query(params): Query<Params>,
) -> Result<Response, ApiError> {
    let query = workflow_query(&params)?;
    let (items, next) = workflows_page(&state, &query).await?;
    Ok(reply::page(items, next, query.limit))
}
