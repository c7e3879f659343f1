//! The Run page: the header (status, times, workflow and version, parent, children, reruns),
//! the steps as a timeline with their input, output and error, the raw journal events, and
//! the Cancel action. Everything shown comes from the same code as `GET /api/v1/runs/{id}`,
//! its replay and its events (`reply`).

use axum::extract::rejection::FormRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use engine::executor::{run_stream, Against, RUN_EVENTS_MAX};
use journal::Seq;
use maud::{html, Markup};
use serde_json::Value;

use super::layout::{self, Chrome};
use super::login::CsrfForm;
use crate::reply;
use crate::ui::error::UiError;
use crate::ui::guard::SignedIn;
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

fn header(run: &Value, can_cancel: bool, csrf: &str) -> Markup {
    let id = str_of(run, "id").unwrap_or_default();
    let parent = &run["parent"];
    let children = run["children"].as_array().cloned().unwrap_or_default();
    let reruns = run["reruns"].as_array().cloned().unwrap_or_default();
    html! {
        h1 { "Run " code { (id) } }
        dl.facts {
            dt { "Status" } dd { (layout::status(str_of(run, "status").unwrap_or("unknown"))) }
            dt { "Workflow" } dd {
                code { (str_of(run, "workflowId").unwrap_or_default()) }
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
        @if can_cancel {
            form.action method="post" action={ (layout::run_href(id)) "/cancel" } {
                input type="hidden" name="csrf" value=(csrf);
                button.danger type="submit" { "Cancel run" }
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
                        tr {
                            td { code { (str_of(step, "id").unwrap_or_default()) }
                                @if step["reused"].as_bool() == Some(true) { " " span.version { "reused" } } }
                            td { (layout::status(str_of(step, "status").unwrap_or("unknown"))) }
                            td.num { (step["attempts"].as_u64().unwrap_or(0)) }
                            td { (layout::time(str_of(step, "startedAt"))) }
                            td.num { (layout::duration(str_of(step, "startedAt"), str_of(step, "completedAt"))) }
                            td {
                                (layout::json("Input", &step["input"]))
                                (layout::json("Output", &step["output"]))
                                (layout::json("Error", &step["error"]))
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

/// `GET /ui/runs/{id}`.
pub async fn detail(
    State(ui): State<Ui>,
    signed: SignedIn,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    signed.require(Scope::RunsRead)?;
    let view = ui.app.runs.get(&id).await?;
    let run = reply::run_json(&view);
    let can_cancel = !view.status.is_terminal() && signed.key.allows(Scope::RunsWrite);
    let steps = steps(&ui, &id, &run).await;
    let events = events(&ui, &id).await?;
    let chrome = Chrome {
        key_name: &signed.key.name,
        key_id: &signed.key.id,
        csrf: &signed.session.csrf,
    };
    let body = html! {
        p.crumbs { a href="/ui/runs" { "← Runs" } }
        (header(&run, can_cancel, &signed.session.csrf))
        (timeline(&steps))
        (events_list(&events))
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
