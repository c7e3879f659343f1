//! Triggers: the upsert, edit and status bodies, a trigger as the API shows it, the type
//! catalog, samples, what firing answers, and webhook deliveries.

use axum::http::HeaderMap;
use duro_core::ids::{ConnectionId, RunId, TriggerId, WorkflowId};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use triggers::instances::TriggerRecord;
use utoipa::ToSchema;

use super::envelope::{page_envelope, success_envelope};
use super::runs::RunStart;
use crate::reply::time;

/// What a webhook signature's secret shows as.
pub const MASKED_SECRET: &str = "********";

/// The kinds of trigger (`GET /api/v1/trigger-types` has each one's config schema).
#[derive(ToSchema)]
#[serde(rename_all = "lowercase")]
#[allow(
    dead_code,
    reason = "the schema of the trigger types that handlers send as text"
)]
pub enum TriggerKind {
    Schedule,
    Webhook,
    Polling,
    Manual,
    /// Phinite's name (seed 003): runs as a `schedule`, shown as `scheduler`.
    Scheduler,
    /// Phinite's API trigger: run with an API key at its `apiUrl`.
    Api,
}

/// A disabled trigger fires nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TriggerStatus {
    Enabled,
    Disabled,
}

/// A status as requests may write it: `enabled` / `disabled`, `active` / `inactive` (any
/// case), or `true` / `false`.
#[derive(ToSchema)]
#[serde(untagged)]
#[allow(
    dead_code,
    reason = "the schema of the status forms the handlers parse"
)]
pub enum TriggerStatusInput {
    /// `enabled`, `disabled`, `active` or `inactive`, in any case.
    Name(String),
    Enabled(bool),
}

/// A trigger: when a workflow runs. A webhook signature's secret shows as `********`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({
    "id": "trg_0192d5e4a1b27c3d8e9f0a1b2c3d4e5f",
    "slug": "github-push",
    "type": "webhook",
    "workflowId": "wf_0192d5e4a1b27c3d8e9f0a1b2c3d4e5f",
    "connectionId": null,
    "providerId": null,
    "triggerName": null,
    "config": {"signature": {"scheme": "github", "secret": "********"}},
    "status": "enabled",
    "webhookId": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "webhookUrl": "http://localhost:3000/api/v1/webhooks/9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "apiUrl": null,
    "webhookData": null,
    "cursorData": null,
    "fired": 0,
    "createdBy": "key_0123456789abcdef0123456789abcdef",
    "updatedBy": "key_0123456789abcdef0123456789abcdef",
    "createdAt": "2024-01-15T10:00:00.000Z",
    "updatedAt": "2024-01-15T10:00:00.000Z"
}))]
pub struct Trigger {
    /// `trg_` and a UUIDv7; fixed for the trigger's life.
    pub id: TriggerId,
    /// The name it is upserted by.
    pub slug: String,
    /// As written (a `scheduler` stays `scheduler`).
    #[serde(rename = "type")]
    #[schema(value_type = TriggerKind)]
    pub kind: String,
    pub workflow_id: WorkflowId,
    #[schema(required = true)]
    pub connection_id: Option<ConnectionId>,
    #[schema(required = true)]
    pub provider_id: Option<String>,
    #[schema(required = true)]
    pub trigger_name: Option<String>,
    /// The config as checked against the type's schema, defaults applied; a signature's
    /// `secret` is `********`.
    #[schema(value_type = Object)]
    pub config: Value,
    pub status: TriggerStatus,
    /// A webhook trigger's URL id (64 hex digits), fixed when the trigger is created;
    /// `null` for other types.
    #[schema(required = true)]
    pub webhook_id: Option<String>,
    /// `http://{Host}/api/v1/webhooks/{webhookId}`, from the request's `Host`; `null` for
    /// other types.
    #[schema(required = true)]
    pub webhook_url: Option<String>,
    /// An `api` trigger's URL, `http://{Host}/api/v1/triggers/{id}/invoke`, from the
    /// request's `Host`; `null` for other types.
    #[schema(required = true)]
    pub api_url: Option<String>,
    #[schema(required = true, value_type = Value)]
    pub webhook_data: Option<Value>,
    /// Where a polling trigger has got to.
    #[schema(required = true, value_type = Value)]
    pub cursor_data: Option<Value>,
    /// Runs this trigger has started.
    pub fired: u64,
    /// The id of the API key that created it.
    #[schema(required = true)]
    pub created_by: Option<String>,
    #[schema(required = true)]
    pub updated_by: Option<String>,
    /// RFC 3339, UTC, milliseconds.
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
}

impl Trigger {
    /// `trigger` as the API shows it, its URLs on the host the client used.
    pub fn of(trigger: &TriggerRecord, headers: &HeaderMap) -> Trigger {
        let mut config = trigger.spec.config.clone();
        if let Some(secret) = config.pointer_mut("/signature/secret") {
            *secret = Value::String(MASKED_SECRET.to_owned());
        }
        let host = host(headers);
        Trigger {
            id: trigger.id.clone().into(),
            slug: trigger.slug.clone(),
            kind: trigger.named_kind.clone(),
            workflow_id: trigger.spec.workflow_id.clone().into(),
            connection_id: trigger.spec.connection_id.clone().map(Into::into),
            provider_id: trigger.spec.provider_id.clone(),
            trigger_name: trigger.spec.trigger_name.clone(),
            config,
            status: if trigger.enabled {
                TriggerStatus::Enabled
            } else {
                TriggerStatus::Disabled
            },
            webhook_id: trigger.webhook_id.clone(),
            webhook_url: trigger
                .webhook_id
                .as_deref()
                .map(|id| format!("http://{host}/api/v1/webhooks/{id}")),
            api_url: (trigger.named_kind == "api")
                .then(|| format!("http://{host}/api/v1/triggers/{}/invoke", trigger.id)),
            webhook_data: trigger.spec.webhook_data.clone(),
            cursor_data: trigger.cursor_data.clone(),
            fired: trigger.fired,
            created_by: trigger.created_by.clone(),
            updated_by: trigger.updated_by.clone(),
            created_at: time(trigger.created_at_us),
            updated_at: time(trigger.updated_at_us),
        }
    }
}

/// The host the client used, for the URLs shown in answers.
fn host(headers: &HeaderMap) -> &str {
    headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost")
}

/// Creates or updates the trigger named by the path's slug. Unknown fields are ignored.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({
    "type": "schedule",
    "workflowId": "wf_0192d5e4a1b27c3d8e9f0a1b2c3d4e5f",
    "config": {"cron": "0 9 * * 1-5", "timezone": "Europe/Paris"}
}))]
pub struct TriggerUpsert {
    /// One of the trigger types (an unknown one is VALIDATION_ERROR "Trigger is invalid").
    #[serde(rename = "type")]
    #[schema(value_type = TriggerKind)]
    pub kind: String,
    /// A workflow that exists (it may be deleted later).
    pub workflow_id: WorkflowId,
    /// Checked against the type's `configSchema` (defaults applied). Absent or `null` is
    /// `{}`.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub config: Value,
    #[serde(default)]
    pub connection_id: Option<ConnectionId>,
    /// Absent or `null`: `enabled` for a new trigger, unchanged for an existing one.
    #[serde(default)]
    #[schema(value_type = Option<TriggerStatusInput>)]
    pub status: Option<Value>,
    #[serde(default)]
    #[schema(value_type = Value)]
    pub webhook_data: Option<Value>,
    #[serde(default)]
    pub provider_id: Option<String>,
    #[serde(default)]
    pub trigger_name: Option<String>,
}

/// Enables or disables a trigger.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"status": "disabled"}))]
pub struct TriggerStatusBody {
    #[schema(value_type = TriggerStatusInput)]
    pub status: Value,
}

/// A deleted trigger.
#[derive(Debug, Serialize, ToSchema)]
pub struct TriggerDeleted {
    pub id: TriggerId,
    #[schema(example = true)]
    pub deleted: bool,
}

/// One kind of trigger, with the JSON Schema its `config` is checked against.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TriggerType {
    #[serde(rename = "type")]
    #[schema(value_type = TriggerKind)]
    pub kind: String,
    #[schema(example = "Webhook")]
    pub name: String,
    pub description: String,
    #[schema(value_type = Object)]
    pub config_schema: Value,
}

impl From<triggers::catalog::TriggerType> for TriggerType {
    fn from(entry: triggers::catalog::TriggerType) -> TriggerType {
        let triggers::catalog::TriggerType {
            kind,
            name,
            description,
            config_schema,
        } = entry;
        TriggerType {
            kind: kind.to_owned(),
            name: name.to_owned(),
            description: description.to_owned(),
            config_schema,
        }
    }
}

/// A payload a trigger received: a webhook delivery's input (`{body, headers}`).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Sample {
    /// RFC 3339, UTC, milliseconds.
    #[schema(format = DateTime)]
    pub received_at: String,
    #[schema(value_type = Value, example = json!({"body": {"ref": "refs/heads/main"}, "headers": {"x-github-event": "push"}}))]
    pub payload: Value,
}

/// What firing a trigger answers: the run's start (or with `?wait` the run) and the trigger.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TriggerFired {
    #[serde(flatten)]
    pub run: RunStart,
    pub trigger_id: TriggerId,
}

/// A webhook delivery that started a run (202), or a repeated delivery id (200,
/// `duplicate: true`, the first delivery's run).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({
    "runId": "run_0192d5e4a1b27c3d8e9f0a1b2c3d4e5f",
    "status": "pending",
    "workflowId": "wf_0192d5e4a1b27c3d8e9f0a1b2c3d4e5f",
    "workflowVersion": 1,
    "triggerId": "trg_0192d5e4a1b27c3d8e9f0a1b2c3d4e5f",
    "duplicate": false
}))]
pub struct WebhookAccepted {
    pub run_id: RunId,
    /// Always `pending`, for a repeat too.
    #[schema(example = "pending")]
    pub status: String,
    pub workflow_id: WorkflowId,
    pub workflow_version: u64,
    pub trigger_id: TriggerId,
    pub duplicate: bool,
}

/// A delivery a provider trigger does not take (another event): recorded as skipped, no run
/// (200).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookIgnored {
    /// Always `null`.
    #[schema(required = true)]
    pub run_id: Option<RunId>,
    /// Always `null`.
    #[schema(required = true)]
    pub status: Option<String>,
    pub workflow_id: WorkflowId,
    /// Always `null`.
    #[schema(required = true)]
    pub workflow_version: Option<u64>,
    pub trigger_id: TriggerId,
    /// Always `false`.
    pub duplicate: bool,
    /// Why the trigger does not take the event.
    pub ignored: String,
}

/// What a webhook delivery answers with 200: a duplicate, or an event the trigger ignores.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum WebhookAnswer {
    Accepted(WebhookAccepted),
    Ignored(WebhookIgnored),
}

/// Slack's URL check answered: its `challenge` echoed, with no envelope (as Slack expects).
#[derive(Debug, Serialize, ToSchema)]
pub struct SlackChallenge {
    pub challenge: String,
}

/// What a webhook delivery answers with 200 (see [`WebhookAnswer`] and [`SlackChallenge`]).
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum WebhookOk {
    Answer(WebhookAnswerResponse),
    Challenge(SlackChallenge),
}

success_envelope!(TriggerResponse, Trigger);
success_envelope!(TriggerDeletedResponse, TriggerDeleted);
success_envelope!(TriggerFiredResponse, TriggerFired);
success_envelope!(WebhookAcceptedResponse, WebhookAccepted);
success_envelope!(WebhookAnswerResponse, WebhookAnswer);
page_envelope!(
    /// A page of triggers, in creation order.
    TriggerListResponse,
    Trigger
);
page_envelope!(
    /// Every trigger type, in one page.
    TriggerTypeListResponse,
    TriggerType
);
page_envelope!(
    /// The trigger's last 20 samples, newest first, in one page.
    SampleListResponse,
    Sample
);
