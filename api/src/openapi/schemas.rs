//! Documentation-only types mirroring the JSON the handlers read and write (`reply`, `error`,
//! `keys::KeyInfo`, `engine::definition::WorkflowSpec`). Nothing constructs them: they exist
//! so that utoipa can derive the schemas. When a shape changes in `reply.rs` or a handler,
//! change it here too (the tests in `api/tests/openapi.rs` check the routes, not the fields).

#![allow(dead_code)]

use serde_json::Value;
use utoipa::{ToResponse, ToSchema};

// ---------------------------------------------------------------------------------------
// Errors

/// The error envelope every failure is answered with.
#[derive(ToSchema)]
#[schema(example = json!({
    "success": false,
    "error": {
        "code": "VALIDATION_ERROR",
        "message": "Input validation failed",
        "details": [{"path": ["items", "0", "price"], "message": "must be at least 0"}]
    }
}))]
pub struct ErrorEnvelope {
    /// Always `false`.
    #[schema(example = false)]
    pub success: bool,
    pub error: ErrorBody,
}

#[derive(ToSchema)]
pub struct ErrorBody {
    pub code: ErrorCode,
    /// What went wrong, for people. Internal errors say only `internal error`.
    pub message: String,
    /// For VALIDATION_ERROR, every problem found with the field it concerns; otherwise empty.
    pub details: Vec<ErrorDetail>,
}

/// The machine-readable error code; each goes with one HTTP status.
#[derive(ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    /// 404: no such resource (or no such route).
    NotFound,
    /// 400: the request or its body is malformed or fails validation; `details` says where.
    ValidationError,
    /// 400: the resource's state does not allow the request (a workflow that is not active,
    /// a run that is not paused or has ended, a trigger that is disabled).
    InvalidStatus,
    /// 401: no API key, or an unknown or revoked one; on a webhook URL, a delivery whose
    /// signature is missing, wrong or stale.
    Unauthorized,
    /// 403: the API key lacks the scope the route needs.
    Forbidden,
    /// 409: the resource was changed by someone else at the same time; try again.
    Conflict,
    /// 429: the key's execute rate limit is used up; see the `Retry-After` header.
    RateLimited,
    /// 413: the request body is larger than the server's limit.
    PayloadTooLarge,
    /// 503: the journal cannot be read (`/readyz`).
    Unavailable,
    /// 500: an internal error; its cause is logged, not returned.
    Internal,
}

/// One thing wrong with a request.
#[derive(ToSchema)]
pub struct ErrorDetail {
    /// Where the problem is, from the root of the body: `["steps", "2", "config", "url"]`.
    /// Empty when the problem concerns the whole body.
    #[schema(example = json!(["steps", "0", "config", "url"]))]
    pub path: Vec<String>,
    pub message: String,
}

// ---------------------------------------------------------------------------------------
// Shared pieces

/// How to get the next page of a list.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Pagination {
    /// Pass as `cursor` to get the next page; `null` on the last page.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
    /// The page size used.
    pub limit: u64,
}

/// What an API key may do. `admin` implies every other scope.
#[derive(ToSchema)]
pub enum Scope {
    #[serde(rename = "workflows:read")]
    WorkflowsRead,
    #[serde(rename = "workflows:write")]
    WorkflowsWrite,
    #[serde(rename = "workflows:execute")]
    WorkflowsExecute,
    #[serde(rename = "runs:read")]
    RunsRead,
    #[serde(rename = "runs:write")]
    RunsWrite,
    #[serde(rename = "triggers:read")]
    TriggersRead,
    #[serde(rename = "triggers:write")]
    TriggersWrite,
    #[serde(rename = "connections:write")]
    ConnectionsWrite,
    #[serde(rename = "admin")]
    Admin,
}

// ---------------------------------------------------------------------------------------
// Workflows

/// Only `active` workflows run.
#[derive(ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum WorkflowStatus {
    Draft,
    Active,
    Inactive,
}

/// A retry policy; every field optional.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RetrySpec {
    #[schema(minimum = 1, example = 3)]
    pub max_attempts: Option<u32>,
    /// A duration such as `"1s"` or `"500ms"`.
    #[schema(example = "1s")]
    pub initial_interval: Option<String>,
    #[schema(example = 2.0)]
    pub backoff_coefficient: Option<f64>,
    #[schema(example = "1m")]
    pub max_interval: Option<String>,
    /// Fraction of each wait, 0 to 1, by which it may be shortened at random.
    #[schema(minimum = 0.0, maximum = 1.0)]
    pub jitter: Option<f64>,
    /// Error codes that fail the step at once, whatever attempts remain.
    pub non_retryable: Option<Vec<String>>,
}

/// A step: `transform`, `http`, `delay`, `wait`, `condition` or `foreach` (seed 001's
/// `action` steps name their integration action in `action`).
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({
    "id": "calculate-total",
    "type": "transform",
    "name": "Calculate Order Total",
    "config": {"mapping": {"total": "{{input.items | map: 'quantity * price' | sum}}"}}
}))]
pub struct StepDefinition {
    /// Unique across the workflow, sub-steps included.
    pub id: String,
    #[serde(rename = "type")]
    #[schema(example = "transform")]
    pub kind: String,
    pub name: Option<String>,
    /// The step type's settings; string values may be `{{...}}` templates.
    #[schema(required = false, value_type = Object)]
    pub config: Option<Value>,
    pub retry: Option<RetrySpec>,
    /// A duration such as `"30s"`.
    pub timeout: Option<String>,
    pub action: Option<String>,
}

/// A workflow definition, the body of `POST /api/v1/workflows`. The agent fields
/// (`systemPrompt`, `model`, `tools`) are accepted and stored.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowDefinition {
    #[schema(example = "Process Customer Order")]
    pub name: String,
    pub description: Option<String>,
    /// The status to start in; `draft` when absent.
    pub status: Option<WorkflowStatus>,
    /// A JSON Schema that run inputs are validated against (defaults applied).
    #[schema(required = false, value_type = Object)]
    pub input_schema: Option<Value>,
    #[schema(required = false, value_type = Object, example = json!({"type": "api"}))]
    pub trigger: Option<Value>,
    /// At least one step, at most 2,000 (`STEPS_MAX`).
    #[schema(min_items = 1, max_items = 2000)]
    pub steps: Vec<StepDefinition>,
    /// Toolkit slug to connection id (an object), or `[{toolkitSlug, connectionId}]`.
    #[schema(required = false, value_type = Value)]
    pub connections: Option<Value>,
    pub system_prompt: Option<String>,
    pub model: Option<String>,
    #[schema(required = false, value_type = Value)]
    pub tools: Option<Value>,
}

/// A partial update: top-level fields present replace the current ones, `null` removes an
/// optional one; `id` cannot change. A change of `steps` or `inputSchema` (or any other
/// definition field) makes a new version; `status` changes the status.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowPatch {
    pub name: Option<String>,
    pub description: Option<String>,
    pub status: Option<WorkflowStatus>,
    #[schema(required = false, nullable, value_type = Object)]
    pub input_schema: Option<Value>,
    #[schema(required = false, nullable, value_type = Object)]
    pub trigger: Option<Value>,
    pub steps: Option<Vec<StepDefinition>>,
    #[schema(required = false, nullable, value_type = Value)]
    pub connections: Option<Value>,
    pub system_prompt: Option<String>,
    pub model: Option<String>,
    #[schema(required = false, nullable, value_type = Value)]
    pub tools: Option<Value>,
}

/// A workflow: its current definition with its id, status, version and times.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Workflow {
    #[schema(example = "wf_0192d5e4a1b27c3d8e9f0a1b2c3d4e5f")]
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub status: WorkflowStatus,
    /// The current version, from 1.
    #[schema(minimum = 1)]
    pub version: u64,
    #[schema(required = false, value_type = Object)]
    pub input_schema: Option<Value>,
    #[schema(required = false, value_type = Object)]
    pub trigger: Option<Value>,
    pub steps: Vec<StepDefinition>,
    #[schema(required = false, value_type = Value)]
    pub connections: Option<Value>,
    pub system_prompt: Option<String>,
    pub model: Option<String>,
    #[schema(required = false, value_type = Value)]
    pub tools: Option<Value>,
    /// RFC 3339, UTC, milliseconds.
    #[schema(format = DateTime, example = "2024-01-15T10:00:00.000Z")]
    pub created_at: String,
    #[schema(format = DateTime, example = "2024-01-15T10:00:00.000Z")]
    pub updated_at: String,
}

/// One version of a workflow: the definition as it was, its number, and whether it is the
/// current one.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowVersion {
    #[schema(minimum = 1)]
    pub version: u64,
    pub current: bool,
    pub name: String,
    pub description: Option<String>,
    /// The status given in the definition, if any (not the workflow's current status).
    pub status: Option<WorkflowStatus>,
    #[schema(required = false, value_type = Object)]
    pub input_schema: Option<Value>,
    #[schema(required = false, value_type = Object)]
    pub trigger: Option<Value>,
    pub steps: Vec<StepDefinition>,
    #[schema(required = false, value_type = Value)]
    pub connections: Option<Value>,
    pub system_prompt: Option<String>,
    pub model: Option<String>,
    #[schema(required = false, value_type = Value)]
    pub tools: Option<Value>,
}

#[derive(ToSchema)]
#[schema(example = json!({"status": "active"}))]
pub struct WorkflowStatusBody {
    pub status: WorkflowStatus,
}

/// Which connection a toolkit uses.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"toolkitSlug": "gmail", "connectionId": "conn_123"}))]
pub struct ConnectionBody {
    /// Not empty.
    pub toolkit_slug: String,
    /// Not empty.
    pub connection_id: String,
}

#[derive(ToSchema)]
pub struct WorkflowDeleted {
    pub id: String,
    #[schema(example = true)]
    pub deleted: bool,
}

// ---------------------------------------------------------------------------------------
// Runs

/// A run's status; `completed`, `failed` and `cancelled` are terminal. `corrupt`: an event of
/// its journal cannot be decoded, and the run is quarantined (shown, never driven).
#[derive(ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    Pending,
    Running,
    Sleeping,
    Paused,
    Completed,
    Failed,
    Cancelled,
    Corrupt,
}

#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    Running,
    Failed,
    Retrying,
    Sleeping,
    Paused,
    TimedOut,
    Completed,
}

/// The body of a run request; every field optional, an empty body is `{}`.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({
    "input": {"customerId": "cus_xxx", "items": [{"productId": "p1", "quantity": 2, "price": 1999}]},
    "idempotencyKey": "order-1234"
}))]
pub struct RunRequest {
    /// A JSON object, validated against the workflow's `inputSchema` (defaults applied).
    #[schema(required = false, value_type = Object)]
    pub input: Option<Value>,
    pub connection_id: Option<String>,
    /// 1 to 255 bytes. A key seen in the last 24 hours answers 200 with that first run
    /// instead of starting another. The `Idempotency-Key` header is accepted too; the body
    /// wins.
    pub idempotency_key: Option<String>,
}

/// A run just started (or found by its idempotency key).
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({
    "runId": "run_0192d5e4a1b27c3d8e9f0a1b2c3d4e5f",
    "status": "pending",
    "workflowId": "wf_0192d5e4a1b27c3d8e9f0a1b2c3d4e5f",
    "workflowVersion": 1
}))]
pub struct RunStarted {
    pub run_id: String,
    /// `pending` for a new run; the run's current status for an idempotent repeat.
    pub status: RunStatus,
    pub workflow_id: String,
    pub workflow_version: u64,
}

/// Why a whole run failed.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunFailure {
    #[schema(required = true)]
    pub step_id: Option<String>,
    #[schema(required = true)]
    pub code: Option<String>,
    pub message: String,
}

/// Why a step attempt failed.
#[derive(ToSchema)]
pub struct StepFailure {
    /// An HTTP status, `TIMEOUT`, `TEMPLATE_ERROR`, ...
    #[schema(required = true)]
    pub code: Option<String>,
    pub message: String,
    /// Whether the failure was judged worth retrying.
    pub retryable: bool,
}

/// A step of a run as its journal tells it. Sub-steps of a foreach have composite ids.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunStep {
    pub id: String,
    pub status: StepStatus,
    pub attempts: u32,
    #[schema(value_type = Value, required = true)]
    pub output: Option<Value>,
    #[schema(required = true)]
    pub error: Option<StepFailure>,
    /// When the journal first mentions the step: RFC 3339, UTC, milliseconds.
    #[schema(required = true, format = DateTime)]
    pub started_at: Option<String>,
    /// When the step completed.
    #[schema(required = true, format = DateTime)]
    pub completed_at: Option<String>,
    /// Completed with the parent run's output (this run is a rerun from a later step).
    pub reused: bool,
}

/// One end of a rerun link.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunLink {
    pub run_id: String,
    /// The step the rerun started from.
    pub from_step: String,
}

/// A run, as its journal tells it.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Run {
    #[schema(example = "run_0192d5e4a1b27c3d8e9f0a1b2c3d4e5f")]
    pub id: String,
    /// The same as `id`.
    pub run_id: String,
    pub status: RunStatus,
    pub workflow_id: String,
    /// The workflow version the run is pinned to.
    pub workflow_version: u64,
    /// The input after validation, defaults applied.
    #[schema(value_type = Value)]
    pub input: Value,
    #[schema(value_type = Value, required = true)]
    pub output: Option<Value>,
    #[schema(required = true)]
    pub error: Option<RunFailure>,
    /// RFC 3339, UTC, milliseconds.
    #[schema(required = true, format = DateTime, example = "2024-01-15T10:00:00.000Z")]
    pub started_at: Option<String>,
    #[schema(required = true, format = DateTime)]
    pub completed_at: Option<String>,
    pub steps: Vec<RunStep>,
    /// The run this one reruns, when it is a rerun.
    #[schema(required = true)]
    pub parent: Option<RunLink>,
    /// Reruns of this run, oldest first.
    pub reruns: Vec<RunLink>,
}

/// The body of `POST /api/v1/runs/{id}/rerun`.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RerunBody {
    /// A top-level step of the chosen version: it and the steps after it run again; the
    /// steps before it reuse the parent's journaled outputs.
    pub from_step: String,
    /// The rerun's input; the parent's input when absent.
    #[schema(value_type = Object)]
    pub input: Option<Value>,
    /// The workflow version to run; the current one when absent.
    pub version: Option<u64>,
}

/// What a rerun answers without `?wait`.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RerunStarted {
    pub run_id: String,
    /// `pending`.
    pub status: RunStatus,
    pub workflow_id: String,
    pub workflow_version: u64,
    pub parent: RunLink,
}

/// What `POST /api/v1/runs/{id}/rerun` answers: the started rerun, or with `?wait` the run.
#[derive(ToSchema)]
#[serde(untagged)]
pub enum RerunData {
    Started(RerunStarted),
    Run(Box<Run>),
}

/// The body of `POST /api/v1/runs/{id}/replay`: what to check the history against.
#[derive(ToSchema)]
pub struct ReplayBody {
    /// A stored version of the run's workflow.
    pub version: Option<u64>,
    /// A workflow definition that is not stored (as for `POST /api/v1/workflows`).
    #[schema(value_type = Object)]
    pub definition: Option<Value>,
}

/// The first event another definition would not have written.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Divergence {
    pub seq: u64,
    /// `command` (it would do something else next), `output` (a transform or condition
    /// computes something else) or `request` (an HTTP step would send something else).
    pub kind: String,
    #[serde(rename = "type")]
    pub event_type: String,
    #[schema(required = true)]
    pub step_id: Option<String>,
    /// The recorded event, in words.
    pub recorded: String,
    /// What the other definition would do instead, in words.
    pub expected: Vec<String>,
    pub message: String,
}

/// A run's journal replayed: every event with the status after it, each step with its
/// input, where the run stopped and why, and the divergence from another definition.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Replay {
    pub run_id: String,
    pub workflow_id: String,
    pub workflow_version: u64,
    pub status: RunStatus,
    #[schema(required = true)]
    pub parent: Option<RunLink>,
    pub reruns: Vec<RunLink>,
    /// `[{seq, timestamp, type, stepId, data, status, stepState}]`: `status` is the run's
    /// status after the event, `stepState` its step's state after it.
    #[schema(value_type = Vec<Object>)]
    pub timeline: Vec<Value>,
    /// `[{id, status, attempts, input, output, error, startedAt, completedAt, reused}]`;
    /// `input` is an HTTP step's rendered request (secret headers masked).
    #[schema(value_type = Vec<Object>)]
    pub steps: Vec<Value>,
    /// `{status, stepId, reason}`.
    #[schema(value_type = Object)]
    pub stopped: Value,
    /// Events that did not fit the state (should be empty).
    pub anomalies: Vec<String>,
    /// `{workflowVersion, source}` when checked against another definition.
    #[schema(value_type = Object, required = true)]
    pub against: Option<Value>,
    #[schema(required = true)]
    pub divergence: Option<Divergence>,
}

/// What `POST /api/v1/workflows/{id}/run` answers: the started run, or with `?wait` the run
/// itself.
#[derive(ToSchema)]
#[serde(untagged)]
pub enum RunStartData {
    Started(RunStarted),
    Run(Box<Run>),
}

/// One event of a run's journal.
#[derive(ToSchema)]
pub struct RunEvent {
    /// The event's number in the run's stream, from 1.
    pub seq: u64,
    /// The event's position in the whole journal.
    pub position: u64,
    /// The event's name: RunStarted, StepStarted, StepCompleted, StepFailed,
    /// StepRetryScheduled, TimerScheduled, TimerFired, RunPaused, RunResumed, RunCancelled,
    /// RunCompleted, RunFailed, ForeachStarted (or `Unknown(tag)` for an unreadable one).
    #[serde(rename = "type")]
    #[schema(example = "StepCompleted")]
    pub kind: String,
    /// When the event was recorded: RFC 3339, UTC, milliseconds.
    #[schema(format = DateTime)]
    pub timestamp: String,
    /// The event's fields in camelCase, JSON carried as text shown as JSON.
    #[schema(value_type = Object, example = json!({"stepId": "calc", "attempt": 1, "output": {"total": 3}}))]
    pub data: Value,
}

/// Resumes a paused run.
#[derive(ToSchema)]
pub struct ResumeBody {
    /// Becomes the waiting step's output; `null` when absent.
    #[schema(required = false, value_type = Value)]
    pub payload: Option<Value>,
}

#[derive(ToSchema)]
pub struct CancelBody {
    /// Recorded in the run's journal; "cancelled through the API" when absent.
    pub reason: Option<String>,
}

// ---------------------------------------------------------------------------------------
// Triggers

/// The kinds of trigger (`GET /api/v1/trigger-types` has each one's config schema).
#[derive(ToSchema)]
#[serde(rename_all = "lowercase")]
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
#[derive(ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TriggerStatus {
    Enabled,
    Disabled,
}

/// A trigger: when a workflow runs. A webhook signature's secret shows as `********`.
#[derive(ToSchema)]
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
    pub id: String,
    /// The name it is upserted by.
    pub slug: String,
    #[serde(rename = "type")]
    pub kind: TriggerKind,
    pub workflow_id: String,
    #[schema(required = true)]
    pub connection_id: Option<String>,
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

/// Creates or updates the trigger named by the path's slug. Unknown fields are ignored.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({
    "type": "schedule",
    "workflowId": "wf_0192d5e4a1b27c3d8e9f0a1b2c3d4e5f",
    "config": {"cron": "0 9 * * 1-5", "timezone": "Europe/Paris"}
}))]
pub struct TriggerUpsert {
    #[serde(rename = "type")]
    pub kind: TriggerKind,
    /// A workflow that exists (it may be deleted later).
    pub workflow_id: String,
    /// Checked against the type's `configSchema` (defaults applied): `schedule` needs `cron`
    /// or `interval`, `polling` a `url`, `webhook` may have `signature: {scheme, secret}`.
    /// Absent or `null` is `{}`.
    #[schema(required = false, nullable, value_type = Object)]
    pub config: Option<Value>,
    pub connection_id: Option<String>,
    /// Absent or `null`: `enabled` for a new trigger, unchanged for an existing one. Also
    /// accepted: `active` / `inactive` in any case, and `true` / `false`.
    pub status: Option<TriggerStatus>,
    #[schema(required = false, value_type = Value)]
    pub webhook_data: Option<Value>,
    pub provider_id: Option<String>,
    pub trigger_name: Option<String>,
}

/// Edits a trigger by id: every field optional, each one sent replaces the trigger's, except
/// `config`, merged into the current config (JSON Merge Patch, RFC 7396; from `{}` when `type`
/// changes). The result is checked as an upsert is. Any other field is refused.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"type": "scheduler",
    "config": {"startTime": "2026-12-07T09:00:00", "recurrence": "daily", "timezone": "Europe/London"}}))]
pub struct TriggerPatch {
    #[serde(rename = "type")]
    #[schema(required = false)]
    pub kind: Option<TriggerKind>,
    #[schema(required = false)]
    pub workflow_id: Option<String>,
    #[schema(required = false, value_type = Object)]
    pub config: Option<Value>,
    /// `null` clears it.
    #[schema(required = false)]
    pub connection_id: Option<String>,
    /// `null` keeps the status.
    #[schema(required = false)]
    pub status: Option<TriggerStatus>,
    #[schema(required = false, value_type = Value)]
    pub webhook_data: Option<Value>,
    #[schema(required = false)]
    pub provider_id: Option<String>,
    #[schema(required = false)]
    pub trigger_name: Option<String>,
}

#[derive(ToSchema)]
#[schema(example = json!({"status": "disabled"}))]
pub struct TriggerStatusBody {
    /// Also accepted: `active` / `inactive` in any case, and `true` / `false`.
    pub status: TriggerStatus,
}

#[derive(ToSchema)]
pub struct TriggerDeleted {
    pub id: String,
    #[schema(example = true)]
    pub deleted: bool,
}

/// One kind of trigger, with the JSON Schema its `config` is checked against.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TriggerType {
    #[serde(rename = "type")]
    pub kind: TriggerKind,
    #[schema(example = "Webhook")]
    pub name: String,
    pub description: String,
    #[schema(value_type = Object)]
    pub config_schema: Value,
}

/// A payload a trigger received: a webhook delivery's input (`{body, headers}`).
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Sample {
    /// RFC 3339, UTC, milliseconds.
    #[schema(format = DateTime)]
    pub received_at: String,
    #[schema(value_type = Value, example = json!({"body": {"ref": "refs/heads/main"}, "headers": {"x-github-event": "push"}}))]
    pub payload: Value,
}

/// What firing a trigger answers: the run's start (or with `?wait` the run) and the trigger.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TriggerFired {
    #[serde(flatten)]
    pub run: RunStartData,
    pub trigger_id: String,
}

/// A webhook delivery accepted (202), or a repeated delivery id (200, `duplicate: true`,
/// the first delivery's run).
#[derive(ToSchema)]
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
    pub run_id: String,
    /// Always `pending`, for a repeat too.
    #[schema(example = "pending")]
    pub status: String,
    pub workflow_id: String,
    pub workflow_version: u64,
    pub trigger_id: String,
    pub duplicate: bool,
}

// ---------------------------------------------------------------------------------------
// Keys

/// Creates an API key. No other field is accepted.
#[derive(ToSchema)]
#[schema(example = json!({"name": "ci", "scopes": ["workflows:execute", "runs:read"]}))]
pub struct KeyCreate {
    /// 1 to 100 bytes, no control characters.
    pub name: String,
    /// At least one.
    #[schema(min_items = 1)]
    pub scopes: Vec<Scope>,
}

/// An API key: never its secret, never its hash.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Key {
    #[schema(example = "key_0123456789abcdef0123456789abcdef")]
    pub id: String,
    pub name: String,
    pub scopes: Vec<Scope>,
    #[schema(format = DateTime)]
    pub created_at: String,
    /// `null` while the key is active.
    #[schema(required = true, format = DateTime)]
    pub revoked_at: Option<String>,
}

/// A new API key, with its secret: shown this once.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedKey {
    pub id: String,
    pub name: String,
    pub scopes: Vec<Scope>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(required = true, format = DateTime)]
    pub revoked_at: Option<String>,
    /// The secret: send it as `x-api-key` or `Authorization: Bearer`.
    #[schema(example = "duro_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")]
    pub key: String,
}

// ---------------------------------------------------------------------------------------
// Health

#[derive(ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    pub status: String,
}

#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Ready {
    #[schema(example = "ready")]
    pub status: String,
    /// The journal's last committed position.
    pub journal_position: u64,
}

// ---------------------------------------------------------------------------------------
// Success envelopes: `{"success": true, "data": ...}`, lists with `pagination`.

macro_rules! envelope {
    ($(#[$doc:meta])* $name:ident, $data:ty) => {
        $(#[$doc])*
        #[derive(ToSchema)]
        pub struct $name {
            /// Always `true`.
            #[schema(example = true)]
            pub success: bool,
            pub data: $data,
        }
    };
}

macro_rules! page {
    ($(#[$doc:meta])* $name:ident, $item:ty) => {
        $(#[$doc])*
        #[derive(ToSchema)]
        pub struct $name {
            /// Always `true`.
            #[schema(example = true)]
            pub success: bool,
            pub data: Vec<$item>,
            pub pagination: Pagination,
        }
    };
}

envelope!(WorkflowResponse, Workflow);
envelope!(WorkflowDeletedResponse, WorkflowDeleted);
page!(
    /// A page of workflows.
    WorkflowListResponse,
    Workflow
);
page!(
    /// Every version of a workflow, oldest first, in one page.
    WorkflowVersionsResponse,
    WorkflowVersion
);
envelope!(RunStartResponse, RunStartData);
envelope!(RunResponse, Run);
envelope!(RerunResponse, RerunData);
envelope!(ReplayResponse, Replay);
page!(
    /// A page of runs, newest first.
    RunListResponse,
    Run
);
envelope!(
    /// The run's journal, in order.
    RunEventsResponse,
    Vec<RunEvent>
);
envelope!(TriggerResponse, Trigger);
envelope!(TriggerDeletedResponse, TriggerDeleted);
envelope!(TriggerFiredResponse, TriggerFired);
envelope!(WebhookAcceptedResponse, WebhookAccepted);
page!(
    /// A page of triggers, in creation order.
    TriggerListResponse,
    Trigger
);
page!(
    /// Every trigger type, in one page.
    TriggerTypeListResponse,
    TriggerType
);
page!(
    /// The trigger's last 20 samples, newest first, in one page.
    SampleListResponse,
    Sample
);
envelope!(KeyResponse, Key);
envelope!(CreatedKeyResponse, CreatedKey);
page!(
    /// Every API key, in one page.
    KeyListResponse,
    Key
);
envelope!(HealthResponse, Health);
envelope!(ReadyResponse, Ready);

// ---------------------------------------------------------------------------------------
// Reusable error responses, the same on every route that can give them.

/// UNAUTHORIZED: no API key, or an unknown or revoked one.
#[derive(ToResponse)]
#[response(example = json!({"success": false, "error": {
    "code": "UNAUTHORIZED", "message": "Invalid API key", "details": []}}))]
pub struct Unauthorized(ErrorEnvelope);

/// FORBIDDEN: the API key lacks the scope this route needs.
#[derive(ToResponse)]
#[response(example = json!({"success": false, "error": {
    "code": "FORBIDDEN",
    "message": "API key key_0123456789abcdef0123456789abcdef lacks the scope runs:read that this route needs",
    "details": []}}))]
pub struct Forbidden(ErrorEnvelope);

/// PAYLOAD_TOO_LARGE: the request body is larger than the server's limit (1 MiB unless
/// configured otherwise).
#[derive(ToResponse)]
#[response(example = json!({"success": false, "error": {
    "code": "PAYLOAD_TOO_LARGE",
    "message": "request body is larger than the limit of 1048576 bytes",
    "details": []}}))]
pub struct PayloadTooLarge(ErrorEnvelope);

/// RATE_LIMITED: the API key's execute allowance (500 per minute unless configured
/// otherwise) is used up.
#[derive(ToResponse)]
#[response(
    headers(("Retry-After" = u64, description = "Seconds to wait before trying again (at least 1).")),
    example = json!({"success": false, "error": {
        "code": "RATE_LIMITED",
        "message": "Rate limit exceeded. Limit: 500 requests per minute.",
        "details": []}})
)]
pub struct RateLimited(ErrorEnvelope);

/// INTERNAL: an internal error; its cause is logged, not returned.
#[derive(ToResponse)]
#[response(example = json!({"success": false, "error": {
    "code": "INTERNAL", "message": "internal error", "details": []}}))]
pub struct Internal(ErrorEnvelope);
