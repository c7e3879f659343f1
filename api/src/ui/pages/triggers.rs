//! The Triggers page and a trigger's page: type, status, workflow, the next fire times of a
//! schedule, the last fires and skips, a webhook's URL (with a copy button) and its recent
//! samples; Enable/Disable (`triggers:write`) and Run now (`workflows:execute`), each a form
//! with the session's CSRF token. The listing is `GET /api/v1/triggers`'s
//! (`routes::triggers::trigger_page`), the status change and the firing are the REST
//! routes' own service calls.

use axum::extract::rejection::FormRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use chrono::{DateTime, TimeZone, Utc};
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::Value;
use triggers::instances::{TriggerEvent, TriggerRecord};
use triggers::schedule::{next_tick, ScheduleConfig};

use super::layout::{self, Chrome};
use super::run::json_field;
use crate::contract::triggers::Trigger;
use crate::routes::lists::Params;
use crate::routes::runs::RunBody;
use crate::routes::triggers::{filter_of, fire_now, trigger_page};
use crate::ui::error::UiError;
use crate::ui::guard::SignedIn;
use crate::ui::Ui;
use credentials::keys::Scope;

/// How many coming fire times a schedule shows.
const NEXT_FIRES: usize = 5;
/// How many of a trigger's latest decisions its page shows.
const HISTORY_SHOWN: usize = 20;

/// The link to a trigger's page.
pub fn trigger_href(id: &str) -> String {
    format!("/ui/triggers/{}", layout::encode(id))
}

fn iso_of_us(us: i64) -> Option<String> {
    Utc.timestamp_micros(us)
        .single()
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

fn iso_of_ms(ms: i64) -> Option<String> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

/// A schedule's next fire times after now (before any jitter); empty for other types, for a
/// disabled trigger and for a schedule that never fires again.
fn next_fires(trigger: &TriggerRecord, now: DateTime<Utc>) -> Vec<DateTime<Utc>> {
    if trigger.spec.kind != "schedule" || !trigger.enabled {
        return Vec::new();
    }
    let Ok(config) = ScheduleConfig::parse(&trigger.spec.config) else {
        return Vec::new();
    };
    // The anchor interval schedules count from, as the runner's.
    let anchor = Utc
        .timestamp_micros(trigger.created_at_us)
        .single()
        .unwrap_or_default();
    let mut fires = Vec::with_capacity(NEXT_FIRES);
    let mut after = now;
    while fires.len() < NEXT_FIRES {
        match next_tick(&config, after, anchor) {
            Some(next) => {
                fires.push(next);
                after = next;
            }
            None => break,
        }
    }
    fires
}

fn enabled_badge(enabled: bool) -> Markup {
    if enabled {
        html! { span.status.ok { "enabled" } }
    } else {
        html! { span.status.off { "disabled" } }
    }
}

fn chrome(signed: &SignedIn) -> Chrome<'_> {
    Chrome {
        key_name: &signed.key.name,
        key_id: &signed.key.id,
        csrf: &signed.session.csrf,
    }
}

/// `GET /ui/triggers`: every trigger (disabled ones too), in creation order, with paging.
pub async fn list(
    State(ui): State<Ui>,
    signed: SignedIn,
    Query(params): Query<Params>,
) -> Result<Response, UiError> {
    signed.require(Scope::TriggersRead)?;
    let filter = filter_of(&params, true)?;
    let (items, next, _) = trigger_page(&ui.app, filter, &params).await?;
    let now = Utc::now();
    let cursor = params.get("cursor").map(|c| c.trim()).unwrap_or_default();
    let body = html! {
        h1 { "Triggers" }
        div.scroll {
            table.triggers {
                thead { tr { th { "Trigger" } th { "Type" } th { "Workflow" } th { "Status" } th { "Next fire" } th { "Runs started" } } }
                tbody {
                    @if items.is_empty() { tr { td colspan="6" .none { "No triggers yet." } } }
                    @for trigger in &items {
                        tr data-trigger=(trigger.id) {
                            td { a href=(trigger_href(&trigger.id)) { (trigger.slug) } }
                            td { (trigger.named_kind) }
                            td { a href=(super::workflows::workflow_href(&trigger.spec.workflow_id)) { code { (trigger.spec.workflow_id) } } }
                            td { (enabled_badge(trigger.enabled)) }
                            td {
                                @match next_fires(trigger, now).first() {
                                    Some(next) => (layout::time(Some(&next.to_rfc3339()))),
                                    None => span.none { "—" },
                                }
                            }
                            td.num { (trigger.fired) }
                        }
                    }
                }
            }
        }
        nav.pager aria-label="Pages" {
            @if !cursor.is_empty() { a href="/ui/triggers" { "First page" } }
            @if let Some(next) = next {
                a href={ "/ui/triggers?" (layout::query([("cursor", next.as_str())])) } { "Next page" }
            }
        }
    };
    Ok(layout::html(
        StatusCode::OK,
        layout::page("Triggers", Some(&chrome(&signed)), body),
    ))
}

fn history_rows(history: &[(i64, TriggerEvent)]) -> Markup {
    let decisions: Vec<&(i64, TriggerEvent)> = history
        .iter()
        .rev()
        .filter(|(_, event)| {
            matches!(
                event,
                TriggerEvent::TriggerFired { .. }
                    | TriggerEvent::TriggerSkipped { .. }
                    | TriggerEvent::TriggerRejected { .. }
            )
        })
        .take(HISTORY_SHOWN)
        .collect();
    html! {
        h2 { "Last fires and skips" }
        div.scroll {
            table.history {
                thead { tr { th { "When" } th { "What" } th { "Scheduled for" } th { "Run / reason" } } }
                tbody {
                    @if decisions.is_empty() { tr { td colspan="4" .none { "Nothing yet." } } }
                    @for (at, event) in decisions {
                        tr {
                            td { (layout::time(iso_of_us(*at).as_deref())) }
                            @match event {
                                TriggerEvent::TriggerFired { run_id, reason, scheduled_at_ms, .. } => {
                                    td { span.status.ok { "fired" } " " (reason) }
                                    td { (layout::time(scheduled_at_ms.and_then(iso_of_ms).as_deref())) }
                                    td { a href=(layout::run_href(run_id)) { code { (run_id) } } }
                                }
                                TriggerEvent::TriggerSkipped { reason, scheduled_at_ms } => {
                                    td { span.status.wait { "skipped" } }
                                    td { (layout::time(scheduled_at_ms.and_then(iso_of_ms).as_deref())) }
                                    td { (reason) }
                                }
                                TriggerEvent::TriggerRejected { reason } => {
                                    td { span.status.bad { "rejected" } }
                                    td { span.none { "—" } }
                                    td { (reason) }
                                }
                                _ => { td {} td {} td {} }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `GET /ui/triggers/{id}`.
pub async fn detail(
    State(ui): State<Ui>,
    signed: SignedIn,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, UiError> {
    signed.require(Scope::TriggersRead)?;
    let trigger = ui.app.triggers.get(&id).await?;
    let history = ui.app.triggers.history(&id).await?;
    let shown = serde_json::to_value(Trigger::of(&trigger, &headers)).unwrap_or(Value::Null);
    let samples = if trigger.webhook_id.is_some() {
        ui.app.triggers.samples(&id).await?
    } else {
        Vec::new()
    };
    let fires = next_fires(&trigger, Utc::now());
    let csrf = &signed.session.csrf;
    let href = trigger_href(&id);
    let can_write = signed.key.allows(Scope::TriggersWrite);
    let can_run = signed.key.allows(Scope::WorkflowsExecute);
    let url_of = |name: &str| shown.get(name).and_then(Value::as_str).map(str::to_owned);
    let body = html! {
        p.crumbs { a href="/ui/triggers" { "← Triggers" } }
        h1 { "Trigger " (trigger.slug) }
        dl.facts {
            dt { "Id" } dd { code { (trigger.id) } }
            dt { "Type" } dd { (trigger.named_kind) }
            dt { "Status" } dd { (enabled_badge(trigger.enabled)) }
            dt { "Workflow" } dd { a href=(super::workflows::workflow_href(&trigger.spec.workflow_id)) { code { (trigger.spec.workflow_id) } } }
            dt { "Runs started" } dd { (trigger.fired) }
            dt { "Created" } dd { (layout::time(iso_of_us(trigger.created_at_us).as_deref())) }
            @if let Some(url) = url_of("webhookUrl") {
                dt { "Webhook URL" } dd.copyable {
                    code id="webhook-url" { (url) }
                    " " button type="button" data-copy="webhook-url" { "Copy" }
                    span.copied role="status" aria-live="polite" {}
                }
            }
            @if let Some(url) = url_of("apiUrl") {
                dt { "Invoke URL" } dd.copyable {
                    code id="api-url" { (url) }
                    " " button type="button" data-copy="api-url" { "Copy" }
                    span.copied role="status" aria-live="polite" {}
                }
            }
            @if trigger.spec.kind == "schedule" {
                dt { "Next fires" } dd {
                    @if fires.is_empty() {
                        span.none { @if trigger.enabled { "none: the schedule has ended" } @else { "none while disabled" } }
                    } @else {
                        ol.fires { @for fire in &fires { li { (layout::time(Some(&fire.to_rfc3339()))) } } }
                    }
                }
            }
        }
        (layout::json("Config", &shown["config"]))
        @if can_write || can_run {
            h2 { "Actions" }
            div.actions {
                @if can_write {
                    form.action.toggle method="post" action={ (href) "/status" } {
                        input type="hidden" name="csrf" value=(csrf);
                        input type="hidden" name="enabled" value=(if trigger.enabled { "false" } else { "true" });
                        @if trigger.enabled {
                            button.danger type="submit" { "Disable trigger" }
                        } @else {
                            button type="submit" { "Enable trigger" }
                        }
                    }
                }
                @if can_run && trigger.enabled {
                    form.action.fire method="post" action={ (href) "/fire" } {
                        input type="hidden" name="csrf" value=(csrf);
                        label for="fire-input" { "Input (a JSON object; empty for none)" }
                        textarea id="fire-input" name="input" rows="2" spellcheck="false" placeholder="{}" {}
                        button type="submit" { "Run now" }
                    }
                }
            }
        }
        (history_rows(&history))
        @if trigger.webhook_id.is_some() {
            h2 { "Recent samples" }
            @if samples.is_empty() {
                p.none { "No deliveries received yet." }
            }
            @for (sample, payload) in &samples {
                @let when = iso_of_ms(sample.received_at_ms);
                details.json {
                    summary { "Received " (layout::time(when.as_deref())) }
                    pre { code { (serde_json::to_string_pretty(payload).unwrap_or_default()) } }
                }
            }
        }
    };
    Ok(layout::html(
        StatusCode::OK,
        layout::page(
            &format!("Trigger {}", trigger.slug),
            Some(&chrome(&signed)),
            body,
        ),
    ))
}

#[derive(Debug, Default, Deserialize)]
pub struct StatusForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    enabled: String,
}

/// `POST /ui/triggers/{id}/status`: with the CSRF token and `triggers:write`, enables
/// (`enabled=true`) or disables (`false`) the trigger, as `PATCH /api/v1/triggers/{id}/status`.
pub async fn set_status(
    State(ui): State<Ui>,
    signed: SignedIn,
    Path(id): Path<String>,
    form: Result<Form<StatusForm>, FormRejection>,
) -> Result<Response, UiError> {
    let form = form.map(|Form(f)| f).unwrap_or_default();
    signed.check_csrf(&form.csrf)?;
    signed.require(Scope::TriggersWrite)?;
    let enabled = match form.enabled.as_str() {
        "true" => true,
        "false" => false,
        other => {
            return Err(UiError::BadRequest(format!(
                "enabled: must be true or false, not {other:?}"
            )))
        }
    };
    ui.app
        .triggers
        .set_enabled(&id, enabled, Some(signed.key.id.clone()))
        .await?;
    ui.app.trigger_runner.changed();
    Ok(Redirect::to(&trigger_href(&id)).into_response())
}

#[derive(Debug, Default, Deserialize)]
pub struct FireForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    input: String,
}

/// `POST /ui/triggers/{id}/fire`: with the CSRF token and `workflows:execute` (and the key's
/// execute allowance), starts the trigger's workflow now, as `POST /api/v1/triggers/{id}/fire`,
/// and shows the new run.
pub async fn fire(
    State(ui): State<Ui>,
    signed: SignedIn,
    Path(id): Path<String>,
    headers: HeaderMap,
    form: Result<Form<FireForm>, FormRejection>,
) -> Result<Response, UiError> {
    let form = form.map(|Form(f)| f).unwrap_or_default();
    signed.check_csrf(&form.csrf)?;
    signed.require(Scope::WorkflowsExecute)?;
    ui.app
        .limits
        .check_execute(&signed.key.id)
        .map_err(UiError::from)?;
    let input = json_field("input", &form.input)?;
    let trigger = ui.app.triggers.get(&id).await?;
    let body = RunBody {
        input: Some(input).filter(|v| !v.is_null()),
        ..RunBody::default()
    };
    let (_, fired) = fire_now(&ui.app, trigger, body, &headers, None, "manual", "run").await?;
    Ok(Redirect::to(&layout::run_href(fired.run.run_id())).into_response())
}
