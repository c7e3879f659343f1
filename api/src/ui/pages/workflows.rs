//! The Workflows page and a workflow's page: its definition as a diagram of its steps
//! (nested lists: a condition's `then`/`else` branches and a foreach's sub-steps inside their
//! step), its versions and what changed between each and the one before, Activate/Deactivate
//! (`workflows:write`) and Run with an input checked against its `inputSchema`
//! (`workflows:execute`), each a form with the session's CSRF token. The listing is
//! `GET /api/v1/workflows`'s (`routes::lists`); the actions call the same services as the
//! REST routes.

use std::collections::HashMap;

use axum::extract::rejection::FormRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use chrono::{TimeZone, Utc};
use engine::definition::{StepSpec, WorkflowSpec, WorkflowStatus};
use engine::executor::StartRun;
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::Value;

use super::layout::{self, Chrome};
use super::run::json_field;
use crate::routes::lists::{self, Params};
use crate::ui::error::UiError;
use crate::ui::guard::SignedIn;
use crate::ui::Ui;
use credentials::keys::Scope;

/// The link to a workflow's page.
pub fn workflow_href(id: &str) -> String {
    format!("/ui/workflows/{}", layout::encode(id))
}

fn chrome(signed: &SignedIn) -> Chrome<'_> {
    Chrome {
        key_name: &signed.key.name,
        key_id: &signed.key.id,
        csrf: &signed.session.csrf,
    }
}

fn status_word(status: WorkflowStatus) -> &'static str {
    match status {
        WorkflowStatus::Draft => "draft",
        WorkflowStatus::Active => "active",
        WorkflowStatus::Inactive => "inactive",
    }
}

fn status_badge(status: &str) -> Markup {
    let class = match status {
        "active" => "ok",
        "inactive" => "off",
        _ => "wait",
    };
    html! { span class={ "status " (class) } { (status) } }
}

/// `GET /ui/workflows`: the workflows, newest first, with paging.
pub async fn list(
    State(ui): State<Ui>,
    signed: SignedIn,
    Query(params): Query<Params>,
) -> Result<Response, UiError> {
    signed.require(Scope::WorkflowsRead)?;
    let query = lists::workflow_query(&params)?;
    let (items, next) = lists::workflow_summaries(&ui.app, &query).await?;
    let cursor = params.get("cursor").map(|c| c.trim()).unwrap_or_default();
    let body = html! {
        h1 { "Workflows" }
        div.scroll {
            table.workflows {
                thead { tr { th { "Workflow" } th { "Id" } th { "Status" } th { "Version" } th { "Updated" } } }
                tbody {
                    @if items.is_empty() { tr { td colspan="5" .none { "No workflows yet." } } }
                    @for item in &items {
                        tr data-workflow=(item.id) {
                            td { a href=(workflow_href(item.id.as_str())) { (item.name) } }
                            td { code { (item.id) } }
                            td { (status_badge(&item.status)) }
                            td.num { (item.version) }
                            td { (layout::time(Some(&item.updated_at))) }
                        }
                    }
                }
            }
        }
        nav.pager aria-label="Pages" {
            @if !cursor.is_empty() { a href="/ui/workflows" { "First page" } }
            @if let Some(next) = next {
                a href={ "/ui/workflows?" (layout::query([("cursor", next.as_str())])) } { "Next page" }
            }
        }
    };
    Ok(layout::html(
        StatusCode::OK,
        layout::page("Workflows", Some(&chrome(&signed)), body),
    ))
}

/// The steps nested in a step's config under `name` (a branch, a foreach's sub-steps).
fn nested(step: &StepSpec, name: &str) -> Vec<StepSpec> {
    step.config
        .get(name)
        .and_then(|value| serde_json::from_value(value.clone()).ok())
        .unwrap_or_default()
}

fn text_of(config: &Value, name: &str) -> String {
    match config.get(name) {
        Some(Value::String(text)) => text.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    }
}

/// One line saying what a step does (its URL, its delay, its test).
fn summary(step: &StepSpec) -> String {
    let config = &step.config;
    match step.kind.as_str() {
        "http" => format!(
            "{} {}",
            config
                .get("method")
                .and_then(Value::as_str)
                .unwrap_or("GET"),
            text_of(config, "url")
        ),
        "delay" => text_of(config, "duration"),
        "condition" => match config.get("if") {
            Some(_) => format!("if {}", text_of(config, "if")),
            None => format!(
                "if {} {} {}",
                text_of(config, "left"),
                text_of(config, "operator"),
                text_of(config, "right")
            ),
        },
        "foreach" => {
            let concurrency = config
                .get("concurrency")
                .and_then(Value::as_u64)
                .unwrap_or(1);
            format!(
                "each item of {}, {concurrency} at a time",
                text_of(config, "items")
            )
        }
        "action" => step.action.clone().unwrap_or_default(),
        "workflow" => text_of(config, "workflowId"),
        _ => String::new(),
    }
}

/// The steps as a diagram: an ordered list (the order they run in), each step a box with its
/// type and what it does; a condition holds its two branches, a foreach its sub-steps.
fn diagram(steps: &[StepSpec]) -> Markup {
    html! {
        ol.flow {
            @for step in steps {
                li.node data-step=(step.id) data-type=(step.kind) {
                    div.box {
                        span.kind { (step.kind) }
                        " " code.id { (step.id) }
                        @if let Some(name) = &step.name { " " span.name { (name) } }
                        @let what = summary(step);
                        @if !what.is_empty() { div.what { (what) } }
                    }
                    @if step.kind == "condition" {
                        div.branches {
                            @for branch in ["then", "else"] {
                                @let inner = nested(step, branch);
                                div.branch data-branch=(branch) {
                                    div.label { (branch) }
                                    @if inner.is_empty() { p.none { "nothing: go on" } } @else { (diagram(&inner)) }
                                }
                            }
                        }
                    }
                    @if step.kind == "foreach" {
                        div.branches {
                            div.branch data-branch="each" {
                                div.label { "for each item" }
                                (diagram(&nested(step, "steps")))
                            }
                        }
                    }
                }
            }
        }
    }
}

/// How many changed fields a version's change list names per step.
const PATHS_SHOWN: usize = 5;

/// The paths (`config.url`, `retry.maxAttempts`, `config.then[0].config.mapping.size`) where
/// `before` and `after` differ, in document order.
fn differences(before: &Value, after: &Value, at: &str, out: &mut Vec<String>) {
    let join = |name: &str| {
        if at.is_empty() {
            name.to_owned()
        } else {
            format!("{at}.{name}")
        }
    };
    match (before, after) {
        (Value::Object(old), Value::Object(new)) => {
            for (name, value) in new {
                match old.get(name) {
                    Some(was) => differences(was, value, &join(name), out),
                    None => out.push(join(name)),
                }
            }
            for name in old.keys().filter(|name| !new.contains_key(*name)) {
                out.push(join(name));
            }
        }
        (Value::Array(old), Value::Array(new)) if old.len() == new.len() => {
            for (i, (was, value)) in old.iter().zip(new).enumerate() {
                differences(was, value, &format!("{at}[{i}]"), out);
            }
        }
        (was, value) if was != value => out.push(if at.is_empty() {
            "the step".to_owned()
        } else {
            at.to_owned()
        }),
        _ => {}
    }
}

/// What changed from `before` to `after`, step by step (by id, anywhere at the top level):
/// added, removed, changed; and the inputSchema.
fn changes(before: &WorkflowSpec, after: &WorkflowSpec) -> Vec<String> {
    let mut out = Vec::new();
    let old: HashMap<&str, &StepSpec> = before.steps.iter().map(|s| (s.id.as_str(), s)).collect();
    let new: HashMap<&str, &StepSpec> = after.steps.iter().map(|s| (s.id.as_str(), s)).collect();
    for step in &after.steps {
        match old.get(step.id.as_str()) {
            None => out.push(format!("step {} added ({})", step.id, step.kind)),
            Some(was) if *was != step => {
                let was = serde_json::to_value(was).unwrap_or(Value::Null);
                let now = serde_json::to_value(step).unwrap_or(Value::Null);
                let mut paths = Vec::new();
                differences(&was, &now, "", &mut paths);
                let shown: Vec<&str> = paths.iter().take(PATHS_SHOWN).map(String::as_str).collect();
                let more = paths.len().saturating_sub(PATHS_SHOWN);
                out.push(format!(
                    "step {} changed: {}{}",
                    step.id,
                    shown.join(", "),
                    if more > 0 {
                        format!(" and {more} more")
                    } else {
                        String::new()
                    }
                ));
            }
            Some(_) => {}
        }
    }
    for step in &before.steps {
        if !new.contains_key(step.id.as_str()) {
            out.push(format!("step {} removed", step.id));
        }
    }
    let order = |spec: &WorkflowSpec| spec.steps.iter().map(|s| s.id.clone()).collect::<Vec<_>>();
    if out.is_empty() && order(before) != order(after) {
        out.push("steps reordered".to_owned());
    }
    if before.input_schema != after.input_schema {
        out.push("inputSchema changed".to_owned());
    }
    if before.name != after.name {
        out.push(format!("renamed from {:?}", before.name));
    }
    if out.is_empty() {
        out.push("no change to the steps".to_owned());
    }
    out
}

/// `GET /ui/workflows/{id}` (`?version=N` shows version N's diagram).
pub async fn detail(
    State(ui): State<Ui>,
    signed: SignedIn,
    Path(id): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, UiError> {
    signed.require(Scope::WorkflowsRead)?;
    let record = ui.app.runs.workflows().get(&id).await?;
    let latest = record.version();
    let shown_version = match params
        .get("version")
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
    {
        None => latest,
        Some(text) => text
            .parse::<u64>()
            .ok()
            .filter(|v| (1..=latest).contains(v))
            .ok_or_else(|| UiError::NotFound(format!("Workflow {id} has no version {text}.")))?,
    };
    let spec = shown_version
        .checked_sub(1)
        .and_then(|i| record.versions.get(i as usize))
        .unwrap_or(&record.current);
    let status = status_word(record.status);
    let csrf = &signed.session.csrf;
    let href = workflow_href(&id);
    let can_write = signed.key.allows(Scope::WorkflowsWrite);
    let can_run =
        signed.key.allows(Scope::WorkflowsExecute) && record.status == WorkflowStatus::Active;
    let schema = record
        .versions
        .last()
        .and_then(|s| s.input_schema.clone())
        .unwrap_or(Value::Null);
    let when = |us: i64| {
        Utc.timestamp_micros(us)
            .single()
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
    };
    let body = html! {
        p.crumbs { a href="/ui/workflows" { "← Workflows" } }
        h1 { (record.current.name) }
        dl.facts {
            dt { "Id" } dd { code { (record.id) } }
            dt { "Status" } dd { (status_badge(status)) }
            dt { "Version" } dd { (latest) }
            @if let Some(description) = &record.current.description { dt { "Description" } dd { (description) } }
            dt { "Created" } dd { (layout::time(when(record.created_at_us).as_deref())) }
            dt { "Updated" } dd { (layout::time(when(record.updated_at_us).as_deref())) }
            dt { "Runs" } dd { a href={ "/ui/runs?" (layout::query([("workflowId", record.id.as_str())])) } { "Runs of this workflow" } }
        }
        @if can_write || can_run {
            h2 { "Actions" }
            div.actions {
                @if can_write {
                    form.action.status method="post" action={ (href) "/status" } {
                        input type="hidden" name="csrf" value=(csrf);
                        @if record.status == WorkflowStatus::Active {
                            input type="hidden" name="status" value="inactive";
                            button.danger type="submit" { "Deactivate" }
                        } @else {
                            input type="hidden" name="status" value="active";
                            button type="submit" { "Activate" }
                        }
                    }
                }
                @if can_run {
                    form.action.resume.run method="post" action={ (href) "/run" } {
                        input type="hidden" name="csrf" value=(csrf);
                        label for="run-input" { "Run with this input (a JSON object, checked against the inputSchema)" }
                        textarea id="run-input" name="input" rows="4" spellcheck="false" placeholder="{}" {}
                        button type="submit" { "Run" }
                    }
                }
            }
        }
        (layout::json("inputSchema", &schema))
        h2 { "Steps of version " (shown_version) }
        (diagram(&spec.steps))
        h2 { "Versions" }
        ol.versions reversed {
            @for (index, version) in record.versions.iter().enumerate().rev() {
                @let number = index as u64 + 1;
                li data-version=(number) {
                    @if number == shown_version {
                        strong { "Version " (number) }
                    } @else {
                        a href={ (href) "?version=" (number) } { "Version " (number) }
                    }
                    @if number == latest { " (current)" }
                    @if index > 0 {
                        ul.changes {
                            @for change in changes(&record.versions[index - 1], version) { li { (change) } }
                        }
                    } @else {
                        ul.changes { li { "first version" } }
                    }
                }
            }
        }
    };
    Ok(layout::html(
        StatusCode::OK,
        layout::page(
            &format!("Workflow {}", record.current.name),
            Some(&chrome(&signed)),
            body,
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_changed_step_names_the_fields_that_changed() {
        let spec = |url: &str, attempts: u32, extra: bool| -> WorkflowSpec {
            let mut step = json!({"id": "call", "type": "http", "config": {"url": url},
                                  "retry": {"maxAttempts": attempts}});
            if extra {
                step["config"]["method"] = json!("POST");
            }
            serde_json::from_value(json!({"name": "w", "steps": [step,
                {"id": "done", "type": "transform", "config": {"mapping": {}}}]}))
            .expect("spec")
        };
        let before = spec("http://a/x", 3, false);
        assert_eq!(
            changes(&before, &spec("http://a/y", 5, true)),
            vec!["step call changed: config.method, config.url, retry.maxAttempts"]
        );
        assert_eq!(changes(&before, &before), vec!["no change to the steps"]);
        let mut fewer = before.clone();
        fewer.steps.pop();
        assert_eq!(changes(&before, &fewer), vec!["step done removed"]);
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct StatusForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    status: String,
}

/// `POST /ui/workflows/{id}/status`: with the CSRF token and `workflows:write`, sets the
/// status (`active`, `inactive`), as `PATCH /api/v1/workflows/{id}/status`.
pub async fn set_status(
    State(ui): State<Ui>,
    signed: SignedIn,
    Path(id): Path<String>,
    form: Result<Form<StatusForm>, FormRejection>,
) -> Result<Response, UiError> {
    let form = form.map(|Form(f)| f).unwrap_or_default();
    signed.check_csrf(&form.csrf)?;
    signed.require(Scope::WorkflowsWrite)?;
    crate::routes::workflows::change_status(&ui.app, &id, Value::String(form.status)).await?;
    Ok(Redirect::to(&workflow_href(&id)).into_response())
}

#[derive(Debug, Default, Deserialize)]
pub struct RunForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    input: String,
}

/// `POST /ui/workflows/{id}/run`: with the CSRF token and `workflows:execute` (and the key's
/// execute allowance), starts a run with the form's input, checked against the version's
/// `inputSchema` (every violation is listed), and shows the new run.
pub async fn run(
    State(ui): State<Ui>,
    signed: SignedIn,
    Path(id): Path<String>,
    form: Result<Form<RunForm>, FormRejection>,
) -> Result<Response, UiError> {
    let form = form.map(|Form(f)| f).unwrap_or_default();
    signed.check_csrf(&form.csrf)?;
    signed.require(Scope::WorkflowsExecute)?;
    ui.app
        .limits
        .check_execute(&signed.key.id)
        .map_err(UiError::from)?;
    let input = json_field("input", &form.input)?;
    if !input.is_object() && !input.is_null() {
        return Err(UiError::BadRequest(
            "The input must be a JSON object, like {\"name\": \"value\"}.".to_owned(),
        ));
    }
    let started = ui
        .app
        .runs
        .start(StartRun {
            workflow_id: id,
            input: Some(input).filter(|v| !v.is_null()),
            idempotency_key: None,
            connection_id: None,
        })
        .await?;
    Ok(Redirect::to(&layout::run_href(&started.run_id)).into_response())
}
