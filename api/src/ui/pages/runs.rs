//! The Runs page: the runs listing of `GET /api/v1/runs` (the same query parsing and
//! read-model query, `routes::lists`), with filters and cursor paging, kept current without
//! a reload: the script listens to `GET /ui/runs/live` (Server-Sent Events: the rows again
//! whenever the journal changed and they did), and falls back to asking `GET /ui/runs/rows`
//! every 3 seconds (304 while unchanged) when it cannot.

use std::convert::Infallible;

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::layout::{self, Chrome};
use crate::routes::lists::{self, Params};
use crate::ui::error::UiError;
use crate::ui::guard::SignedIn;
use crate::ui::live::{last_event_id, Watch, KEEP_ALIVE};
use crate::ui::Ui;
use credentials::keys::Scope;

/// The statuses a run can have, for the filter.
const STATUSES: [&str; 8] = [
    "pending",
    "running",
    "sleeping",
    "paused",
    "completed",
    "failed",
    "cancelled",
    "corrupt",
];

/// The filter parameters the page keeps across pages and refreshes.
const FILTERS: [&str; 4] = ["workflowId", "status", "from", "to"];

/// A browser's `datetime-local` value (`2026-01-15T10:00`, no zone) read as UTC, as the form
/// says; anything else is passed on for the API's parser to accept or explain.
fn as_utc(text: &str) -> String {
    let text = text.trim();
    let local = chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M")
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S"));
    match local {
        Ok(time) => time.and_utc().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        Err(_) => text.to_owned(),
    }
}

/// The request's parameters as `lists::run_query` reads them.
fn normalized(mut params: Params) -> Params {
    for name in ["from", "to"] {
        if let Some(value) = params.get_mut(name) {
            *value = as_utc(value);
        }
    }
    params
}

fn value<'a>(params: &'a Params, name: &str) -> &'a str {
    params.get(name).map(|v| v.trim()).unwrap_or("")
}

/// The filters (and `cursor`, when given) as a query string.
fn filters_query(params: &Params, cursor: Option<&str>) -> String {
    layout::query(
        FILTERS
            .iter()
            .map(|name| (*name, value(params, name)))
            .chain(cursor.map(|c| ("cursor", c))),
    )
}

/// One page of runs for `params`: the rows, the next cursor; or the parameter problem.
async fn fetch(ui: &Ui, params: &Params) -> Result<(Vec<Value>, Option<String>), UiError> {
    let query = lists::run_query(params)?;
    Ok(lists::runs_page(&ui.app, &query).await?)
}

fn str_of<'a>(item: &'a Value, name: &str) -> Option<&'a str> {
    item.get(name).and_then(Value::as_str)
}

/// The entity tag of a rows fragment: the script sends it back, and rows that have not
/// changed answer 304, so the table is replaced only when something changed (a replaced row
/// loses the keyboard focus and any selection in it).
fn etag(rows: &str) -> String {
    let digest = Sha256::digest(rows.as_bytes());
    let hex: String = digest.iter().take(12).map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

fn rows_markup(items: &[Value]) -> Markup {
    html! {
        @if items.is_empty() {
            tr { td colspan="5" .none { "No runs match." } }
        }
        @for item in items {
            @let id = str_of(item, "runId").unwrap_or_default();
            @let status = str_of(item, "status").unwrap_or("unknown");
            tr data-status=(status) {
                td { a href=(layout::run_href(id)) { code { (id) } } }
                td {
                    @let workflow = str_of(item, "workflowId").unwrap_or_default();
                    a.plain href=(super::workflows::workflow_href(workflow)) { (workflow) }
                    " " span.version { "v" (item.get("workflowVersion").and_then(Value::as_u64).unwrap_or(0)) }
                }
                td { (layout::status(status)) }
                td { (layout::time(str_of(item, "startedAt"))) }
                td.num { (layout::duration(str_of(item, "startedAt"), str_of(item, "completedAt"))) }
            }
        }
    }
}

fn filter_form(params: &Params) -> Markup {
    let chosen = value(params, "status");
    html! {
        form.filters method="get" action="/ui/runs" {
            label { "Workflow" input name="workflowId" type="text" value=(value(params, "workflowId")) placeholder="wf_…"; }
            label { "Status"
                select name="status" {
                    option value="" selected[chosen.is_empty()] { "any" }
                    @for status in STATUSES {
                        option value=(status) selected[chosen == status] { (status) }
                    }
                }
            }
            label { "Started from (UTC)" input name="from" type="text" value=(value(params, "from")) placeholder="2026-01-15T10:00:00Z"; }
            label { "to (UTC)" input name="to" type="text" value=(value(params, "to")) placeholder="2026-01-15T12:00:00Z"; }
            button type="submit" { "Filter" }
            a href="/ui/runs" { "Clear" }
        }
    }
}

/// `GET /ui/runs`.
pub async fn list(
    State(ui): State<Ui>,
    signed: SignedIn,
    Query(params): Query<Params>,
) -> Result<Response, UiError> {
    signed.require(Scope::RunsRead)?;
    let normalized = normalized(params.clone());
    let (status, listing, problem) = match fetch(&ui, &normalized).await {
        Ok(listing) => (StatusCode::OK, Some(listing), None),
        Err(UiError::BadRequest(problem)) => (StatusCode::BAD_REQUEST, None, Some(problem)),
        Err(other) => return Err(other),
    };
    let refresh = format!(
        "/ui/runs/rows?{}",
        filters_query(&params, Some(value(&params, "cursor")))
    );
    let live = format!(
        "/ui/runs/live?{}",
        filters_query(&params, Some(value(&params, "cursor")))
    );
    let chrome = Chrome {
        key_name: &signed.key.name,
        key_id: &signed.key.id,
        csrf: &signed.session.csrf,
    };
    let body = html! {
        h1 { "Runs" }
        (filter_form(&params))
        @if let Some(problem) = &problem {
            p.error role="alert" { (problem) }
        }
        @if let Some((items, next)) = &listing {
            div.scroll {
                table.runs {
                    thead { tr { th { "Run" } th { "Workflow" } th { "Status" } th { "Started" } th { "Duration" } } }
                    tbody id="runs-rows" data-refresh=(refresh) data-live=(live) data-etag=(etag(&rows_markup(items).into_string())) aria-live="polite" { (rows_markup(items)) }
                }
            }
            nav.pager aria-label="Pages" {
                @if !value(&params, "cursor").is_empty() {
                    a href={ "/ui/runs?" (filters_query(&params, None)) } { "First page" }
                }
                @if let Some(next) = next {
                    a href={ "/ui/runs?" (filters_query(&params, Some(next))) } { "Next page" }
                }
            }
        }
    };
    Ok(layout::html(
        status,
        layout::page("Runs", Some(&chrome), body),
    ))
}

/// `GET /ui/runs/rows`: the table rows alone, for the script's refresh.
pub async fn rows(
    State(ui): State<Ui>,
    signed: SignedIn,
    Query(params): Query<Params>,
    headers: HeaderMap,
) -> Result<Response, UiError> {
    signed.require(Scope::RunsRead)?;
    let (items, _) = fetch(&ui, &normalized(params)).await?;
    let rows = rows_markup(&items).into_string();
    let tag = etag(&rows);
    let unchanged = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|given| given == tag);
    let tag = HeaderValue::from_str(&tag).map_err(|e| UiError::Internal(e.to_string()))?;
    if unchanged {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, tag)]).into_response());
    }
    Ok((
        StatusCode::OK,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (header::ETAG, tag),
        ],
        rows,
    )
        .into_response())
}

/// A live stream's state between two updates.
struct Live {
    watch: Watch,
    params: Params,
    /// The tag of the rows the browser has.
    shown: String,
}

impl Live {
    /// The next update: the rows, once they differ from those shown; `None` ends the stream.
    async fn next(mut self) -> Option<(Result<Event, Infallible>, Live)> {
        loop {
            if !self.watch.signed_in().await {
                return None;
            }
            let (items, _) = fetch(&self.watch.ui, &self.params).await.ok()?;
            let rows = rows_markup(&items).into_string();
            let tag = etag(&rows);
            if tag != self.shown {
                self.shown = tag.clone();
                let event = Event::default().event("rows").id(tag).data(rows);
                return Some((Ok(event), self));
            }
            if !self.watch.changed().await {
                return None;
            }
        }
    }
}

/// `GET /ui/runs/live`: Server-Sent Events of the rows (`event: rows`, `id:` their tag,
/// `data:` the rows' HTML, as `/ui/runs/rows` renders them) each time they change; the first
/// at once unless the `Last-Event-ID` header (or `since`) names the rows shown. Ends after
/// five minutes, when the session ends or the server stops (`ui::live`).
pub async fn live(
    State(ui): State<Ui>,
    signed: SignedIn,
    Query(mut params): Query<Params>,
    headers: HeaderMap,
) -> Result<Response, UiError> {
    signed.require(Scope::RunsRead)?;
    let since = params.remove("since");
    let params = normalized(params);
    lists::run_query(&params)?;
    let state = Live {
        watch: Watch::new(&ui, &signed, &headers)?,
        params,
        shown: last_event_id(&headers, since),
    };
    let events = futures_util::stream::unfold(state, Live::next);
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response())
}
