//! The Run page: the header (status, times, workflow and version, parent, children, reruns),
//! what a paused agent waits for, the actions (resume with a JSON payload, rerun from a step,
//! replay against a version with the divergence, cancel), the steps with their input, output
//! and error, an agent's conversation, the timeline in words and the raw journal events; and
//! its live stream, which tells the page when the run changed. Everything shown comes from
//! the same code as `GET /api/v1/runs/{id}`, its replay and its events (`reply`), and every
//! action calls the service the REST route calls.

use std::collections::HashMap;
use std::convert::Infallible;

use axum::extract::rejection::FormRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use engine::executor::{run_stream, Against, Rerun, RUN_EVENTS_MAX};
use engine::run::RunStatus;
use engine::workflows::WorkflowRecord;
use journal::Seq;
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::Value;

use super::layout::{self, Chrome};
use super::login::CsrfForm;
use crate::reply;
use crate::ui::error::UiError;
use crate::ui::guard::SignedIn;
use crate::ui::live::{last_event_id, Watch, KEEP_ALIVE};
use crate::ui::Ui;
use credentials::keys::Scope;

fn str_of<'a>(value: &'a Value, name: &str) -> Option<&'a str> {
    value.get(name).and_then(Value::as_str)
}

/// The run's steps with their inputs (from the replay); the run view's steps (no inputs) if
/// the replay cannot be made.
async fn steps(ui: &Ui, id: &str, run: &Value) -> Vec<Value> {
    match ui.app.runs.replay(id, Against::Nothing).await {
        Ok(replay) => reply::replay_json(&replay, None)["steps"]
            .as_array()
            .cloned()
            .unwrap_or_default(),
        Err(error) => {
            tracing::warn!(run_id = id, %error, "dashboard: no replay, showing steps without inputs");
            run["steps"].as_array().cloned().unwrap_or_default()
        }
    }
}

/// The run's journal events as `GET /api/v1/runs/{id}/events` shows them.
async fn events(ui: &Ui, id: &str) -> Result<Vec<Value>, UiError> {
    let stream = run_stream(id).map_err(UiError::from)?;
    let recorded = ui
        .app
        .engine
        .store()
        .read_stream(&stream, Seq(1), RUN_EVENTS_MAX)
        .await?;
    Ok(recorded.iter().map(reply::event_json).collect())
}

fn run_link(link: &Value, note_field: &str, note: &str) -> Markup {
    let id = str_of(link, "runId").unwrap_or_default();
    html! {
        a href=(layout::run_href(id)) { code { (id) } }
        @if let Some(step) = str_of(link, note_field) {
            " (" (note) " " code { (step) } ")"
        }
    }
}

fn header(run: &Value) -> Markup {
    let id = str_of(run, "id").unwrap_or_default();
    let parent = &run["parent"];
    let children = run["children"].as_array().cloned().unwrap_or_default();
    let reruns = run["reruns"].as_array().cloned().unwrap_or_default();
    html! {
        h1 { "Run " code { (id) } }
        dl.facts {
            dt { "Status" } dd { (layout::status(str_of(run, "status").unwrap_or("unknown"))) }
            dt { "Workflow" } dd {
                @let workflow = str_of(run, "workflowId").unwrap_or_default();
                a href=(super::workflows::workflow_href(workflow)) { code { (workflow) } }
                " version " (run["workflowVersion"].as_u64().unwrap_or(0))
            }
            dt { "Started" } dd { (layout::time(str_of(run, "startedAt"))) }
            dt { "Ended" } dd { (layout::time(str_of(run, "completedAt"))) }
            dt { "Duration" } dd { (layout::duration(str_of(run, "startedAt"), str_of(run, "completedAt"))) }
            @if !parent.is_null() {
                dt { "Parent" } dd {
                    @if parent.get("fromStep").is_some() {
                        (run_link(parent, "fromStep", "rerun from"))
                    } @else {
                        (run_link(parent, "stepId", "started by step"))
                    }
                }
            }
            @if !children.is_empty() {
                dt { "Children" } dd { ul.links { @for child in &children { li { (run_link(child, "stepId", "step")) } } } }
            }
            @if !reruns.is_empty() {
                dt { "Reruns" } dd { ul.links { @for rerun in &reruns { li { (run_link(rerun, "fromStep", "from")) } } } }
            }
        }
        @if let Some(error) = run.get("error").filter(|e| !e.is_null()) {
            p.error role="alert" {
                strong { (str_of(error, "code").unwrap_or("ERROR")) }
                @if let Some(step) = str_of(error, "stepId") { " in step " code { (step) } }
                ": " (str_of(error, "message").unwrap_or_default())
            }
        }
        (layout::json("Input", &run["input"]))
        (layout::json("Output", &run["output"]))
    }
}

/// What the signed-in key may do to this run, and what the forms need to offer it.
struct Actions<'a> {
    csrf: &'a str,
    /// The run has not ended and the key holds `runs:write`.
    cancel: bool,
    /// The run is paused and the key holds `runs:write`.
    resume: bool,
    /// The run has ended, its workflow exists and the key holds `workflows:execute`.
    rerun: Option<&'a WorkflowRecord>,
    /// The step a rerun starts from unless another is chosen: the failed step's top-level
    /// step when there is one.
    failed_step: Option<&'a str>,
    /// The workflow's versions, for the replay form (none when it was deleted).
    versions: u64,
    /// The version the replay was asked against.
    against: Option<u64>,
}

/// The top-level step a step id belongs to: `each[2].call` → `each`.
fn top_level(step_id: &str) -> &str {
    let end = step_id.find(['[', '.']).unwrap_or(step_id.len());
    &step_id[..end]
}

fn actions(id: &str, run: &Value, actions: &Actions<'_>) -> Markup {
    let href = layout::run_href(id);
    let version = run["workflowVersion"].as_u64().unwrap_or(0);
    html! {
        @if actions.cancel || actions.resume || actions.rerun.is_some() || actions.versions > 0 {
            h2 { "Actions" }
            div.actions {
                @if actions.resume {
                    form.action.resume method="post" action={ (href) "/resume" } {
                        input type="hidden" name="csrf" value=(actions.csrf);
                        label for="payload" { "Resume with a JSON payload (it becomes the waiting step's output; empty = null)" }
                        textarea id="payload" name="payload" rows="4" spellcheck="false" placeholder=r#"{"approved": true}"# {}
                        button type="submit" { "Resume run" }
                    }
                }
                @if let Some(workflow) = actions.rerun {
                    @let current = workflow.versions.last();
                    form.action.rerun method="post" action={ (href) "/rerun" } {
                        input type="hidden" name="csrf" value=(actions.csrf);
                        label { "Rerun from step"
                            select name="fromStep" {
                                @for step in current.map(|spec| spec.steps.as_slice()).unwrap_or_default() {
                                    option value=(step.id) selected[actions.failed_step == Some(step.id.as_str())] { (step.id) }
                                }
                            }
                        }
                        label { "of version"
                            select name="version" {
                                @for v in (1..=workflow.version()).rev() {
                                    option value=(v) { (v) @if v == workflow.version() { " (current)" } }
                                }
                            }
                        }
                        button type="submit" { "Rerun" }
                        p.hint { "The steps before the chosen one are not carried out again: the new run reuses their outputs from this run." }
                    }
                }
                @if actions.versions > 0 {
                    form.action.replay method="get" action=(href) {
                        label { "Replay this run's history against version"
                            select name="against" {
                                @for v in (1..=actions.versions).rev() {
                                    option value=(v) selected[actions.against.unwrap_or(actions.versions) == v] {
                                        (v) @if v == version { " (its own)" }
                                    }
                                }
                            }
                        }
                        button type="submit" { "Replay" }
                    }
                }
                @if actions.cancel {
                    form.action method="post" action={ (href) "/cancel" } {
                        input type="hidden" name="csrf" value=(actions.csrf);
                        button.danger type="submit" { "Cancel run" }
                    }
                }
            }
        }
    }
}

/// The outcome of replaying the run against another version: the divergence, or the word
/// that there is none.
fn divergence(against: u64, replay: &Result<Value, UiError>) -> Markup {
    html! {
        section.divergence id="replay" aria-labelledby="replay-title" {
            h2 id="replay-title" { "Replay against version " (against) }
            @match replay {
                Err(error) => p.error role="alert" { (error.to_string()) },
                Ok(replay) => {
                    @let divergence = &replay["divergence"];
                    @if divergence.is_null() {
                        p.same { "The history replays identically under version " (against) ": it would have written the same events." }
                    } @else {
                        p.error role="alert" {
                            strong { "Diverges at event " (divergence["seq"].as_u64().unwrap_or(0)) }
                            " (" code { (str_of(divergence, "type").unwrap_or_default()) } ")"
                            @if let Some(step) = str_of(divergence, "stepId") { " in step " code { (step) } }
                            ": " (str_of(divergence, "message").unwrap_or_default())
                        }
                        dl.facts {
                            dt { "Kind" } dd { (str_of(divergence, "kind").unwrap_or_default()) }
                            dt { "Recorded" } dd { (str_of(divergence, "recorded").unwrap_or_default()) }
                            dt { "Version " (against) " would" } dd {
                                ul.links {
                                    @for expected in divergence["expected"].as_array().map(Vec::as_slice).unwrap_or_default() {
                                        li { (expected.as_str().unwrap_or_default()) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn timeline(steps: &[Value]) -> Markup {
    html! {
        h2 { "Steps" }
        div.scroll {
            table.steps {
                thead { tr { th { "Step" } th { "Status" } th { "Attempts" } th { "Started" } th { "Duration" } th { "Data" } } }
                tbody {
                    @if steps.is_empty() { tr { td colspan="6" .none { "No steps yet." } } }
                    @for step in steps {
                        tr data-step=(str_of(step, "id").unwrap_or_default()) data-status=(str_of(step, "status").unwrap_or_default()) {
                            td { code { (str_of(step, "id").unwrap_or_default()) }
                                @if step["reused"].as_bool() == Some(true) { " " span.version { "reused" } } }
                            td { (layout::status(str_of(step, "status").unwrap_or("unknown"))) }
                            td.num { (step["attempts"].as_u64().unwrap_or(0)) }
                            td { (layout::time(str_of(step, "startedAt"))) }
                            td.num { (layout::duration(str_of(step, "startedAt"), str_of(step, "completedAt"))) }
                            td {
                                (layout::json("Input", &step["input"]))
                                (layout::json("Output", &step["output"]))
                                (layout::json_open("Error", &step["error"]))
                            }
                        }
                    }
                }
            }
        }
    }
}

fn events_list(events: &[Value]) -> Markup {
    html! {
        h2 { "Events" }
        details.events {
        summary { "The journal's " (events.len()) " events, as recorded" }
        div.scroll {
            table.events {
                thead { tr { th { "#" } th { "Type" } th { "Recorded" } th { "Data" } } }
                tbody {
                    @for event in events {
                        tr {
                            td.num { (event["seq"].as_u64().unwrap_or(0)) }
                            td { code { (str_of(event, "type").unwrap_or_default()) } }
                            td { (layout::time(str_of(event, "timestamp"))) }
                            td { (layout::json("Data", &event["data"])) }
                        }
                    }
                }
            }
        }
        }
    }
}

/// `?against=N` of the Run page: the version to replay the run's history against.
fn against_param(params: &HashMap<String, String>) -> Result<Option<u64>, UiError> {
    match params
        .get("against")
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
    {
        None => Ok(None),
        Some(text) => text
            .parse()
            .map(Some)
            .map_err(|_| UiError::BadRequest(format!("against: {text:?} is not a version number"))),
    }
}

/// `GET /ui/runs/{id}` (`?against=N` adds the replay against version N).
pub async fn detail(
    State(ui): State<Ui>,
    signed: SignedIn,
    Path(id): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, UiError> {
    signed.require(Scope::RunsRead)?;
    let against = against_param(&params)?;
    let view = ui.app.runs.get(&id).await?;
    let run = reply::run_json(&view);
    let steps = steps(&ui, &id, &run).await;
    let events = events(&ui, &id).await?;
    let journal = ui.app.runs.journal(&id).await?;
    // A deleted workflow leaves its runs readable, without rerun or replay.
    let workflow = ui.app.runs.workflows().get(&view.workflow_id).await.ok();
    let replay = match against {
        Some(version) => Some(
            ui.app
                .runs
                .replay(&id, Against::Version(version))
                .await
                .map(|replay| reply::replay_json(&replay, None))
                .map_err(UiError::from),
        ),
        None => None,
    };
    let failed_step = view
        .error
        .as_ref()
        .and_then(|error| error.step_id.as_deref())
        .map(top_level);
    let can_write = signed.key.allows(Scope::RunsWrite);
    let actions_allowed = Actions {
        csrf: &signed.session.csrf,
        cancel: !view.status.is_terminal() && can_write,
        resume: view.status == RunStatus::Paused && can_write,
        rerun: workflow.as_ref().filter(|_| {
            view.status.is_terminal()
                && view.status != RunStatus::Corrupt
                && signed.key.allows(Scope::WorkflowsExecute)
        }),
        failed_step,
        versions: workflow.as_ref().map_or(0, WorkflowRecord::version),
        against,
    };
    let chrome = Chrome {
        key_name: &signed.key.name,
        key_id: &signed.key.id,
        csrf: &signed.session.csrf,
    };
    let live = (!view.status.is_terminal())
        .then(|| format!("{}/live?since={}", layout::run_href(&id), journal.len()));
    let body = html! {
        p.crumbs { a href="/ui/runs" { "← Runs" } }
        div id="run" data-live=[live] {
        (header(&run))
        @if view.status == RunStatus::Paused {
            @if let Some(waiting) = &view.waiting_for {
                (super::agent::waiting(waiting, &format!("{}/resume", layout::run_href(&id)), &signed.session.csrf, can_write))
            }
        }
        (actions(&id, &run, &actions_allowed))
        @if let (Some(version), Some(replay)) = (against, &replay) {
            (divergence(version, replay))
        }
        (timeline(&steps))
        (super::agent::conversation(&steps))
        (super::timeline::section(&journal))
        (events_list(&events))
        }
    };
    Ok(layout::html(
        StatusCode::OK,
        layout::page(&format!("Run {id}"), Some(&chrome), body),
    ))
}

/// `POST /ui/runs/{id}/cancel`: with this session's CSRF token and `runs:write`, cancels the
/// run and shows it again.
pub async fn cancel(
    State(ui): State<Ui>,
    signed: SignedIn,
    Path(id): Path<String>,
    form: Result<Form<CsrfForm>, FormRejection>,
) -> Result<Response, UiError> {
    let token = form.map(|Form(f)| f.csrf).unwrap_or_default();
    signed.check_csrf(&token)?;
    signed.require(Scope::RunsWrite)?;
    let reason = format!("cancelled from the dashboard with key {}", signed.key.id);
    ui.app.runs.cancel(&id, &reason).await?;
    Ok(Redirect::to(&layout::run_href(&id)).into_response())
}

#[derive(Debug, Default, Deserialize)]
pub struct ResumeForm {
    #[serde(default)]
    csrf: String,
    /// JSON text (the general form).
    #[serde(default)]
    payload: String,
    /// An agent's approval answered: `true` or `false` (the Approve and Deny buttons).
    #[serde(default)]
    approved: Option<String>,
    /// An agent's question answered.
    #[serde(default)]
    message: Option<String>,
}

/// The payload field as JSON: empty is `null`.
pub fn json_field(name: &str, text: &str) -> Result<Value, UiError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_str(text)
        .map_err(|e| UiError::BadRequest(format!("The {name} is not valid JSON: {e}.")))
}

/// `POST /ui/runs/{id}/resume`: with the CSRF token and `runs:write`, resumes a paused run
/// with the form's JSON payload (as `POST /api/v1/runs/{id}/resume`).
pub async fn resume(
    State(ui): State<Ui>,
    signed: SignedIn,
    Path(id): Path<String>,
    form: Result<Form<ResumeForm>, FormRejection>,
) -> Result<Response, UiError> {
    let form = form.map(|Form(f)| f).unwrap_or_default();
    signed.check_csrf(&form.csrf)?;
    signed.require(Scope::RunsWrite)?;
    let payload = match (form.approved.as_deref(), form.message) {
        (Some("true"), _) => serde_json::json!({ "approved": true }),
        (Some("false"), _) => serde_json::json!({ "approved": false }),
        (Some(other), _) => {
            return Err(UiError::BadRequest(format!(
                "approved: must be true or false, not {other:?}"
            )))
        }
        (None, Some(message)) => serde_json::json!({ "message": message }),
        (None, None) => json_field("payload", &form.payload)?,
    };
    ui.app.runs.resume(&id, payload).await?;
    Ok(Redirect::to(&layout::run_href(&id)).into_response())
}

#[derive(Debug, Default, Deserialize)]
pub struct RerunForm {
    #[serde(default)]
    csrf: String,
    #[serde(default, rename = "fromStep")]
    from_step: String,
    #[serde(default)]
    version: String,
}

/// `POST /ui/runs/{id}/rerun`: with the CSRF token and `workflows:execute` (and the key's
/// execute allowance), reruns the ended run from the chosen step of the chosen version, as
/// `POST /api/v1/runs/{id}/rerun` does, and shows the new run.
pub async fn rerun(
    State(ui): State<Ui>,
    signed: SignedIn,
    Path(id): Path<String>,
    form: Result<Form<RerunForm>, FormRejection>,
) -> Result<Response, UiError> {
    let form = form.map(|Form(f)| f).unwrap_or_default();
    signed.check_csrf(&form.csrf)?;
    signed.require(Scope::WorkflowsExecute)?;
    ui.app
        .limits
        .check_execute(&signed.key.id)
        .map_err(UiError::from)?;
    let version = match form.version.trim() {
        "" => None,
        text => Some(text.parse().map_err(|_| {
            UiError::BadRequest(format!("version: {text:?} is not a version number"))
        })?),
    };
    let started = ui
        .app
        .runs
        .rerun(
            &id,
            Rerun {
                from_step: form.from_step.trim().to_owned(),
                input: None,
                version,
            },
        )
        .await?;
    Ok(Redirect::to(&layout::run_href(&started.run_id)).into_response())
}

/// A run page's live stream between two updates.
struct RunLive {
    watch: Watch,
    run_id: String,
    stream: journal::StreamName,
    /// How many of the run's events the page shows.
    shown: u64,
    /// The run has ended and its last change was sent.
    done: bool,
}

impl RunLive {
    async fn next(mut self) -> Option<(Result<Event, Infallible>, RunLive)> {
        loop {
            if self.done || !self.watch.signed_in().await {
                return None;
            }
            let store = self.watch.ui.app.engine.store().clone();
            let version = store.stream_version(&self.stream).await.ok()?;
            if version > self.shown {
                self.shown = version;
                let view = self.watch.ui.app.runs.get(&self.run_id).await.ok()?;
                self.done = view.status.is_terminal();
                let event = Event::default()
                    .event("changed")
                    .id(version.to_string())
                    .data(engine::executor::status_name(view.status));
                return Some((Ok(event), self));
            }
            if !self.watch.changed().await {
                return None;
            }
        }
    }
}

/// `GET /ui/runs/{id}/live`: Server-Sent Events telling the Run page its run changed
/// (`event: changed`, `id:` the number of events the run has, `data:` its status), once per
/// change after the `Last-Event-ID` (or `since`) count; the page then fetches itself again.
/// Ends after the run's end was told (or 204 when it had ended already), and as every live
/// stream does (`ui::live`).
pub async fn live(
    State(ui): State<Ui>,
    signed: SignedIn,
    Path(id): Path<String>,
    Query(mut params): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, UiError> {
    signed.require(Scope::RunsRead)?;
    let stream = run_stream(&id).map_err(UiError::from)?;
    let since = last_event_id(&headers, params.remove("since"));
    let shown: u64 = since.trim().parse().unwrap_or(0);
    let watch = Watch::new(&ui, &signed, &headers)?;
    let view = ui.app.runs.get(&id).await?;
    let version = ui.app.engine.store().stream_version(&stream).await?;
    if view.status.is_terminal() && shown >= version {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let state = RunLive {
        watch,
        run_id: id,
        stream,
        shown,
        done: false,
    };
    let events = futures_util::stream::unfold(state, RunLive::next);
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response())
}
