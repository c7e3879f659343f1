//! `GET /api/v1/runs/{id}/stream`: a run's journal as Server-Sent Events, as it is appended.
//!
//! Contract (scope `runs:read`; any run, any step type):
//!
//! - Each event of the run's stream `run-{id}` is one SSE event, in seq order: `id:` its seq,
//!   `event:` its type (`RunStarted`, `StepCompleted`, ...), `data:` the same JSON object as
//!   one item of `GET /api/v1/runs/{id}/events` (`reply::event_json`). A comment line is sent
//!   when nothing else was for 15 s, to keep proxies from closing the connection.
//! - Resuming: a `Last-Event-ID: SEQ` header starts after that seq; `?after=SEQ` does the same
//!   for clients that cannot set headers. The header wins when both are given, because a
//!   browser's `EventSource` reconnects to the same URL (keeping `?after=`) with the id of
//!   the last event it received. Without either the stream starts at seq 1. An empty
//!   `Last-Event-ID` counts as absent; anything else that is not a whole number is a 400
//!   VALIDATION_ERROR.
//! - Ending: the stream ends after it has sent the run's terminal event (`RunCompleted`,
//!   `RunFailed`, `RunCancelled`). A run that had already ended when the client connected
//!   (its last event on record is terminal, or a `RunRerun` link, the only event recorded
//!   after the end) is sent every event on record after the start point, `RunRerun` links
//!   included, and then the stream ends. If there is nothing left to send of such a run the
//!   answer is 204 No Content, which tells an `EventSource` to stop reconnecting. A
//!   `RunRerun` appended after a live stream has ended is not sent on it; reconnecting with
//!   the last id gets it.
//! - Model text deltas: while an agent step's model streams its answer (the step's `stream`,
//!   default true), each piece of text is sent as `event: delta` with `data: {"stepId", "text"}`
//!   (`stepId` the model call's sub-step, `{agent}.m{n}`) and no `id:`, so `Last-Event-ID`
//!   keeps counting journal events only. Deltas are not journaled: a client that reconnects
//!   does not get those it missed, and gets the whole message in the model call's
//!   `StepCompleted`, which always comes after that call's deltas. A client more than
//!   `engine::executor::deltas::DELTAS_BUFFERED` deltas behind loses the oldest deltas, never
//!   a journal event.
//! - 404 NOT_FOUND when the run does not exist. A journal read failing part-way cuts the
//!   connection (no clean end), so the client reconnects with `Last-Event-ID` and misses
//!   nothing.
//!
//! How: the store's `subscribe()` watch changes on every append anywhere; on each change the
//! run's stream is read from the next seq, [`PAGE_EVENTS_MAX`] events at a time. Events are
//! produced lazily as the client pulls the body, so a slow client holds at most one page
//! here and never makes the server buffer without bound.
//!
//! Shutdown: `api::serve` sets `AppState::stopping` when the server starts to stop; a stream
//! waiting for the next event then ends, so a graceful shutdown never waits for a run that is
//! still going (the client reconnects elsewhere, or later, with its last id).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use engine::events::RunEvent;
use engine::executor::deltas::ModelDelta;
use engine::executor::run_stream;
use journal::{EventStore, Position, RecordedEvent, Seq, StreamName};
use tokio::sync::{broadcast, watch};

use crate::contract::runs::StreamDelta;
use crate::error::{ApiError, ErrorEnvelope};
use crate::openapi::{Forbidden, Internal, Unauthorized};
use crate::query::QueryParams;
use crate::reply;
use crate::AppState;
use credentials::keys::Scope;

/// Events read from the journal at a time: the most one stream holds in memory. Small,
/// because one event may be as large as `journal::limits::EVENT_DATA_BYTES_MAX`.
pub const PAGE_EVENTS_MAX: usize = 32;

/// How long a quiet stream waits before sending a keep-alive comment.
pub const KEEP_ALIVE_SECS: u64 = 15;

pub fn router(state: &AppState) -> Router<AppState> {
    let read = Router::new().route("/api/v1/runs/{id}/stream", get(stream));
    super::scoped(state, Scope::RunsRead, read)
}

/// Stream a run's events
///
/// Required scope: `runs:read`. Server-Sent Events of the run's journal as it is appended:
/// `id: {seq}`, `event: {type}`, `data:` one item of `/events`; an agent's model text as
/// `event: delta` with `data: {"stepId", "text"}` and no id. Resumable with `Last-Event-ID`
/// (or `?after=SEQ`). Ends after the run's terminal event; an ended run sends what is left
/// and ends, or answers 204 when nothing is.
#[utoipa::path(
    get,
    path = "/api/v1/runs/{id}/stream",
    tag = "runs",
    params(
        ("id" = String, Path, description = "Run id."),
        ("after" = Option<u64>, Query, minimum = 0, description = "Start after this seq (when there is no `Last-Event-ID`)."),
        ("Last-Event-ID" = Option<String>, Header, description = "Start after this seq; wins over `after`."),
    ),
    responses(
        (status = 200, description = "The events, as they are appended.", body = String, content_type = "text/event-stream"),
        (status = 204, description = "The run has ended and nothing is left to send."),
        (status = 400, description = "VALIDATION_ERROR: `Last-Event-ID` or `after` is not a seq, or `after` is empty or given twice.", body = ErrorEnvelope),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "NOT_FOUND: \"Run not found\".", body = ErrorEnvelope),
        (status = 500, response = Internal),
    ),
    security(("apiKey" = []), ("bearerAuth" = []))
)]
pub(crate) async fn stream(
    State(state): State<AppState>,
    Path(id): Path<String>,
    QueryParams(query): QueryParams,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let after = start_after(&headers, &query)?;
    let stream = run_stream(&id)?;
    let store = state.engine.store().clone();
    // Before the journal is read, so no delta published before an event we send is missed.
    let deltas = state.runs.model_deltas().subscribe();
    // Subscribed before the first read, so an append between a read and the wait that
    // follows it still wakes the stream.
    let changes = store.subscribe();
    let version = store.stream_version(&stream).await?;
    if version == 0 {
        return Err(ApiError::NotFound("Run not found".to_owned()));
    }
    let ended = has_ended(store.as_ref(), &stream, version).await?;
    if ended && after >= version {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let cursor = Cursor {
        store,
        stream,
        next: after.saturating_add(1),
        changes,
        stopping: state.stopping.subscribe(),
        page: VecDeque::new(),
        until: if ended {
            Until::CaughtUp
        } else {
            Until::Terminal
        },
        finished: false,
        // A run that has ended streams no more deltas.
        deltas: (!ended).then_some(deltas),
        run_id: id,
    };
    let events = futures_util::stream::unfold(cursor, Cursor::next_event);
    let keep_alive = KeepAlive::new().interval(Duration::from_secs(KEEP_ALIVE_SECS));
    Ok(Sse::new(events).keep_alive(keep_alive).into_response())
}

/// The seq to start after: `Last-Event-ID`, else `?after=`, else 0.
fn start_after(headers: &HeaderMap, query: &HashMap<String, String>) -> Result<u64, ApiError> {
    if let Some(value) = headers.get("last-event-id") {
        let text = value
            .to_str()
            .map_err(|_| ApiError::invalid_field(&["Last-Event-ID"], "must be a seq number"))?;
        if !text.trim().is_empty() {
            return parse_seq("Last-Event-ID", text);
        }
    }
    match query.get("after") {
        Some(text) => parse_seq("after", text),
        None => Ok(0),
    }
}

fn parse_seq(field: &str, text: &str) -> Result<u64, ApiError> {
    text.trim().parse().map_err(|_| {
        ApiError::invalid_field(
            &[field],
            format!("must be the seq of an event (a whole number), not {text:?}"),
        )
    })
}

/// Whether the run had ended: its last event is terminal, or a rerun link (recorded only on
/// runs that have ended).
async fn has_ended(
    store: &dyn EventStore,
    stream: &StreamName,
    version: u64,
) -> Result<bool, ApiError> {
    let last = store.read_stream(stream, Seq(version), 1).await?;
    Ok(last
        .first()
        .and_then(decode)
        .is_some_and(|event| ends_run(&event) || matches!(event, RunEvent::RunRerun { .. })))
}

fn decode(recorded: &RecordedEvent) -> Option<RunEvent> {
    RunEvent::decode(recorded.event_type, &recorded.data).ok()
}

fn ends_run(event: &RunEvent) -> bool {
    matches!(
        event,
        RunEvent::RunCompleted { .. } | RunEvent::RunFailed { .. } | RunEvent::RunCancelled { .. }
    )
}

/// When a stream ends.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Until {
    /// After the run's terminal event has been sent (a run under way at connection).
    Terminal,
    /// When every event on record has been sent (a run that had already ended).
    CaughtUp,
}

/// Where a stream is: the next seq to send and the rest of the page read.
struct Cursor {
    store: Arc<dyn EventStore>,
    stream: StreamName,
    next: u64,
    changes: watch::Receiver<Position>,
    /// The server is stopping: the stream ends (the client reconnects with its last id).
    stopping: watch::Receiver<bool>,
    page: VecDeque<RecordedEvent>,
    until: Until,
    finished: bool,
    /// Model text deltas of every run; `None` once the channel is gone.
    deltas: Option<broadcast::Receiver<Arc<ModelDelta>>>,
    run_id: String,
}

/// An item of the SSE body. The error cuts the connection short.
type Item = Result<Event, ApiError>;

impl Cursor {
    /// The next SSE event: from the page in hand, else from a new page, else once the journal
    /// has changed. `None` ends the stream.
    async fn next_event(mut self) -> Option<(Item, Cursor)> {
        loop {
            if self.finished {
                return None;
            }
            if let Some(recorded) = self.page.pop_front() {
                self.next = recorded.seq.0 + 1;
                let ends = decode(&recorded).is_some_and(|event| ends_run(&event));
                self.finished = ends && self.until == Until::Terminal;
                return Some((Ok(sse_event(&recorded)), self));
            }
            // Deltas published before the read below are sent before it: a model call's
            // deltas then always precede its StepCompleted.
            if let Some(delta) = self.buffered_delta() {
                return Some((Ok(delta_event(&delta)), self));
            }
            // Marked seen before the read: an append after this point wakes the wait below.
            self.changes.borrow_and_update();
            let read = self
                .store
                .read_stream(&self.stream, Seq(self.next), PAGE_EVENTS_MAX)
                .await;
            match read {
                Ok(page) if !page.is_empty() => self.page = page.into(),
                Ok(_) if self.until == Until::CaughtUp => return None,
                Ok(_) => {
                    let deltas = &mut self.deltas;
                    let delta = async {
                        match deltas.as_mut() {
                            Some(receiver) => receiver.recv().await,
                            None => std::future::pending().await,
                        }
                    };
                    let received = tokio::select! {
                        changed = self.changes.changed() => {
                            // The store is gone (the server is stopping): end the stream.
                            if changed.is_err() {
                                return None;
                            }
                            None
                        }
                        _ = self.stopping.wait_for(|stopping| *stopping) => return None,
                        received = delta => Some(received),
                    };
                    match received {
                        Some(Ok(delta)) if delta.run_id == self.run_id => {
                            return Some((Ok(delta_event(&delta)), self));
                        }
                        Some(Err(broadcast::error::RecvError::Closed)) => self.deltas = None,
                        _ => {}
                    }
                }
                Err(error) => {
                    tracing::warn!(stream = %self.stream, %error, "run stream cut short");
                    self.finished = true;
                    return Some((Err(error.into()), self));
                }
            }
        }
    }
}

impl Cursor {
    /// The next delta of this run already received, if any (others' are dropped).
    fn buffered_delta(&mut self) -> Option<Arc<ModelDelta>> {
        let receiver = self.deltas.as_mut()?;
        loop {
            match receiver.try_recv() {
                Ok(delta) if delta.run_id == self.run_id => return Some(delta),
                Ok(_) | Err(broadcast::error::TryRecvError::Lagged(_)) => {}
                Err(broadcast::error::TryRecvError::Empty) => return None,
                Err(broadcast::error::TryRecvError::Closed) => {
                    self.deltas = None;
                    return None;
                }
            }
        }
    }
}

/// A model text delta as an SSE event: `event: delta`, `data: {"stepId", "text"}`, no id.
fn delta_event(delta: &ModelDelta) -> Event {
    Event::default().event("delta").data(
        reply::to_json(StreamDelta {
            step_id: delta.step_id.clone().into(),
            text: delta.text.clone(),
        })
        .to_string(),
    )
}

/// One journal event as an SSE event: `id: seq`, `event: type`, `data: ` its JSON.
fn sse_event(recorded: &RecordedEvent) -> Event {
    let json = reply::event_json(recorded);
    let name = json["type"].as_str().unwrap_or("Unknown").to_owned();
    Event::default()
        .id(recorded.seq.0.to_string())
        .event(name)
        .data(json.to_string())
}
