//! Documentation-only operations: one empty function per canonical route, carrying its
//! `#[utoipa::path]`. The real handlers live in `routes/`; the status codes and error codes
//! here are the ones those handlers (and the scope, rate-limit and body layers in front of
//! them) produce. When a handler changes what it answers, change its entry here.
//!
//! Every authenticated route can answer 401 UNAUTHORIZED (no key, unknown or revoked key),
//! 403 FORBIDDEN (key without the route's scope) and 500 INTERNAL; every route that reads a
//! JSON body can answer 413 PAYLOAD_TOO_LARGE and 400 VALIDATION_ERROR for a malformed body.

#![allow(dead_code)]

use super::schemas::{
    CancelBody, ConnectionBody, CreatedKeyResponse, ErrorEnvelope, Forbidden, HealthResponse,
    Internal, KeyCreate, KeyListResponse, KeyResponse, PayloadTooLarge, RateLimited, ReadyResponse,
    ReplayBody, ReplayResponse, RerunBody, RerunResponse, ResumeBody, RunEventsResponse,
    RunListResponse, RunRequest, RunResponse, RunStartResponse, RunStatus, SampleListResponse,
    TriggerDeletedResponse, TriggerFiredResponse, TriggerListResponse, TriggerPatch,
    TriggerResponse, TriggerStatusBody, TriggerTypeListResponse, TriggerUpsert, Unauthorized,
    WebhookAcceptedResponse, WorkflowDefinition, WorkflowDeletedResponse, WorkflowListResponse,
    WorkflowPatch, WorkflowResponse, WorkflowStatus, WorkflowStatusBody, WorkflowVersionsResponse,
};

// ---------------------------------------------------------------------------------------
// Workflows

/// List workflows
///
/// Required scope: `workflows:read`. Newest first unless `sortBy`/`sortOrder` say
/// otherwise; follow `pagination.nextCursor` for the next page.
#[utoipa::path(
    get,
    path = "/api/v1/workflows",
    tag = "workflows",
    params(
        ("limit" = Option<u32>, Query, minimum = 1, description = "Page size."),
        ("cursor" = Option<String>, Query, description = "`pagination.nextCursor` of the previous page."),
        ("q" = Option<String>, Query, description = "Search in workflow names."),
        ("status" = Option<WorkflowStatus>, Query, description = "Only workflows with this status."),
        ("sortBy" = Option<String>, Query, description = "Field to sort by, e.g. `name`, `createdAt`, `updatedAt`."),
        ("sortOrder" = Option<String>, Query, description = "`asc` or `desc`."),
    ),
    responses(
        (status = 200, description = "A page of workflows.", body = WorkflowListResponse),
        (status = 400, description = "VALIDATION_ERROR: a query parameter is malformed; `details` names it.", body = ErrorEnvelope),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 500, response = Internal),
    ),
    security(("apiKey" = []), ("bearerAuth" = []))
)]
fn list_workflows() {}

/// Create a workflow
///
/// Required scope: `workflows:write`. The definition is checked in full: every problem is
/// listed in `details` with its path. The workflow starts as `draft` unless `status` says
/// otherwise, at version 1.
#[utoipa::path(
    post,
    path = "/api/v1/workflows",
    tag = "workflows",
    request_body = WorkflowDefinition,
    responses(
        (status = 201, description = "Created; the workflow's detail.", body = WorkflowResponse),
        (status = 400, description = "VALIDATION_ERROR: the body is malformed (\"<field>: <problem>\") or the definition is invalid (\"Workflow definition is invalid\", every problem in `details`).", body = ErrorEnvelope,
            example = json!({"success": false, "error": {"code": "VALIDATION_ERROR", "message": "Workflow definition is invalid",
                "details": [{"path": ["steps"], "message": "a workflow needs at least one step"}]}})),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 413, response = PayloadTooLarge),
        (status = 500, response = Internal),
    ),
    security(("apiKey" = []), ("bearerAuth" = []))
)]
fn create_workflow() {}

/// Get a workflow
///
/// Required scope: `workflows:read`. The current version's definition with the workflow's
/// id, status, version and times.
#[utoipa::path(
    get,
    path = "/api/v1/workflows/{id}",
    tag = "workflows",
    params(("id" = String, Path, description = "Workflow id.")),
    responses(
        (status = 200, description = "The workflow.", body = WorkflowResponse),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "NOT_FOUND: \"Workflow not found\" (never existed, or deleted).", body = ErrorEnvelope),
        (status = 500, response = Internal),
    ),
    security(("apiKey" = []), ("bearerAuth" = []))
)]
fn get_workflow() {}

/// Update a workflow
///
/// Required scope: `workflows:write`. A partial update: fields present replace the current
/// ones, `null` removes an optional one. A changed definition is a new version (runs already
/// started keep theirs); `status` changes the status. An update that changes nothing makes
/// no version.
#[utoipa::path(
    patch,
    path = "/api/v1/workflows/{id}",
    tag = "workflows",
    params(("id" = String, Path, description = "Workflow id.")),
    request_body = WorkflowPatch,
    responses(
        (status = 200, description = "The updated workflow.", body = WorkflowResponse),
        (status = 400, description = "VALIDATION_ERROR: malformed body, an attempt to change `id`, an unknown `status`, or the resulting definition is invalid (every problem in `details`).", body = ErrorEnvelope),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "NOT_FOUND: \"Workflow not found\".", body = ErrorEnvelope),
        (status = 409, description = "CONFLICT: the workflow was changed by someone else at the same time; try again.", body = ErrorEnvelope),
        (status = 413, response = PayloadTooLarge),
        (status = 500, response = Internal),
    ),
    security(("apiKey" = []), ("bearerAuth" = []))
)]
fn update_workflow() {}

/// Delete a workflow
///
/// Required scope: `workflows:write`. The workflow can no longer be read or run; its runs
/// stay readable.
#[utoipa::path(
    delete,
    path = "/api/v1/workflows/{id}",
    tag = "workflows",
    params(("id" = String, Path, description = "Workflow id.")),
    responses(
        (status = 200, description = "Deleted.", body = WorkflowDeletedResponse),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "NOT_FOUND: \"Workflow not found\" (never existed, or already deleted).", body = ErrorEnvelope),
        (status = 409, description = "CONFLICT: the workflow was changed by someone else at the same time; try again.", body = ErrorEnvelope),
        (status = 500, response = Internal),
    ),
    security(("apiKey" = []), ("bearerAuth" = []))
)]
fn delete_workflow() {}

/// Set a workflow's status
///
/// Required scope: `workflows:write`. Only `active` workflows run.
#[utoipa::path(
    patch,
    path = "/api/v1/workflows/{id}/status",
    tag = "workflows",
    params(("id" = String, Path, description = "Workflow id.")),
    request_body = WorkflowStatusBody,
    responses(
        (status = 200, description = "The workflow with its new status.", body = WorkflowResponse),
        (status = 400, description = "VALIDATION_ERROR: malformed body, or `status` is not one of \"draft\", \"active\", \"inactive\".", body = ErrorEnvelope,
            example = json!({"success": false, "error": {"code": "VALIDATION_ERROR", "message": "status: must be one of \"draft\", \"active\", \"inactive\"",
                "details": [{"path": ["status"], "message": "must be one of \"draft\", \"active\", \"inactive\""}]}})),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "NOT_FOUND: \"Workflow not found\".", body = ErrorEnvelope),
        (status = 409, description = "CONFLICT: the workflow was changed by someone else at the same time; try again.", body = ErrorEnvelope),
        (status = 413, response = PayloadTooLarge),
        (status = 500, response = Internal),
    ),
    security(("apiKey" = []), ("bearerAuth" = []))
)]
fn set_workflow_status() {}

/// Set the connection a toolkit uses
///
/// Required scope: `workflows:write`. Records `connectionId` for `toolkitSlug` in the
/// workflow's `connections` (an object of slug to id; an array of `{toolkitSlug,
/// connectionId}` entries is updated in place). Like any definition change, makes a new
/// version.
#[utoipa::path(
    patch,
    path = "/api/v1/workflows/{id}/connections",
    tag = "workflows",
    params(("id" = String, Path, description = "Workflow id.")),
    request_body = ConnectionBody,
    responses(
        (status = 200, description = "The updated workflow.", body = WorkflowResponse),
        (status = 400, description = "VALIDATION_ERROR: malformed body, or `toolkitSlug`/`connectionId` missing or empty.", body = ErrorEnvelope),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "NOT_FOUND: \"Workflow not found\".", body = ErrorEnvelope),
        (status = 409, description = "CONFLICT: the workflow was changed by someone else at the same time; try again.", body = ErrorEnvelope),
        (status = 413, response = PayloadTooLarge),
        (status = 500, response = Internal),
    ),
    security(("apiKey" = []), ("bearerAuth" = []))
)]
fn set_workflow_connection() {}

/// List a workflow's versions
///
/// Required scope: `workflows:read`. Every version, oldest first, in one page.
#[utoipa::path(
    get,
    path = "/api/v1/workflows/{id}/versions",
    tag = "workflows",
    params(("id" = String, Path, description = "Workflow id.")),
    responses(
        (status = 200, description = "Every version.", body = WorkflowVersionsResponse),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "NOT_FOUND: \"Workflow not found\".", body = ErrorEnvelope),
        (status = 500, response = Internal),
    ),
    security(("apiKey" = []), ("bearerAuth" = []))
)]
fn list_workflow_versions() {}

/// Run a workflow
///
/// Required scope: `workflows:execute`, and each call takes one request from the key's
/// execute rate limit. Starts a run of the workflow's current version and answers once the
/// run is durably recorded: 202 with `{runId, status: "pending", workflowId,
/// workflowVersion}`. An `idempotencyKey` (or `Idempotency-Key` header) seen for this
/// workflow in the last 24 hours answers 200 with that first run instead. With
/// `?wait=SECONDS`, waits up to that long (at most the server's limit, 300 s by default) and
/// answers the run itself: 200 once it has ended, 202 as it stands if it has not.
#[utoipa::path(
    post,
    path = "/api/v1/workflows/{id}/run",
    tag = "runs",
    params(
        ("id" = String, Path, description = "Workflow id."),
        ("wait" = Option<f64>, Query, minimum = 0, description = "Seconds to wait for the run to end (fractions allowed; capped by the server)."),
        ("Idempotency-Key" = Option<String>, Header, description = "Used when the body has no `idempotencyKey`."),
    ),
    request_body(content = RunRequest, description = "Optional: an empty body is `{}`."),
    responses(
        (status = 200, description = "An idempotent repeat (the first run, as `RunStarted` with its current status), or with `wait` the run once it has ended (`Run`).", body = RunStartResponse),
        (status = 202, description = "Started: `RunStarted` with status `pending`; with `wait`, the run (`Run`) as it stands at the deadline.", body = RunStartResponse),
        (status = 400, description = "VALIDATION_ERROR: malformed body, `input` not an object, `input` invalid against the workflow's `inputSchema` (\"Input validation failed\", every problem in `details`), `idempotencyKey` not 1 to 255 bytes, `Idempotency-Key` not visible ASCII, or `wait` not a number of seconds. INVALID_STATUS: the workflow is not active.", body = ErrorEnvelope,
            examples(
                ("VALIDATION_ERROR" = (value = json!({"success": false, "error": {"code": "VALIDATION_ERROR", "message": "Input validation failed",
                    "details": [{"path": ["customerId"], "message": "is required"}]}}))),
                ("INVALID_STATUS" = (value = json!({"success": false, "error": {"code": "INVALID_STATUS", "message": "Workflow must be active to run. Current status: draft", "details": []}}))),
            )),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "NOT_FOUND: \"Workflow not found\".", body = ErrorEnvelope),
        (status = 413, response = PayloadTooLarge),
        (status = 429, response = RateLimited),
        (status = 500, response = Internal),
    ),
    security(("apiKey" = []), ("bearerAuth" = []))
)]
fn run_workflow() {}

// ---------------------------------------------------------------------------------------
// Runs

/// List runs
///
/// Required scope: `runs:read`. Newest first; follow `pagination.nextCursor` for the next
/// page.
#[utoipa::path(
    get,
    path = "/api/v1/runs",
    tag = "runs",
    params(
        ("workflowId" = Option<String>, Query, description = "Only runs of this workflow."),
        ("status" = Option<RunStatus>, Query, description = "Only runs with this status."),
        ("from" = Option<String>, Query, format = DateTime, description = "Only runs started at or after this time (RFC 3339)."),
        ("to" = Option<String>, Query, format = DateTime, description = "Only runs started before this time (RFC 3339)."),
        ("limit" = Option<u32>, Query, minimum = 1, description = "Page size."),
        ("cursor" = Option<String>, Query, description = "`pagination.nextCursor` of the previous page."),
    ),
    responses(
        (status = 200, description = "A page of runs.", body = RunListResponse),
        (status = 400, description = "VALIDATION_ERROR: a query parameter is malformed; `details` names it.", body = ErrorEnvelope),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 500, response = Internal),
    ),
    security(("apiKey" = []), ("bearerAuth" = []))
)]
fn list_runs() {}

/// Get a run
///
/// Required scope: `runs:read`. The run as its journal tells it, with its steps.
#[utoipa::path(
    get,
    path = "/api/v1/runs/{id}",
    tag = "runs",
    params(("id" = String, Path, description = "Run id.")),
    responses(
        (status = 200, description = "The run.", body = RunResponse),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "NOT_FOUND: \"Run not found\".", body = ErrorEnvelope),
        (status = 500, response = Internal),
    ),
    security(("apiKey" = []), ("bearerAuth" = []))
)]
fn get_run() {}

/// Get a run's events
///
/// Required scope: `runs:read`. The run's journal, in order, with stream numbers, journal
/// positions and timestamps.
#[utoipa::path(
    get,
    path = "/api/v1/runs/{id}/events",
    tag = "runs",
    params(("id" = String, Path, description = "Run id.")),
    responses(
        (status = 200, description = "The run's events.", body = RunEventsResponse),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "NOT_FOUND: \"Run not found\".", body = ErrorEnvelope),
        (status = 500, response = Internal),
    ),
    security(("apiKey" = []), ("bearerAuth" = []))
)]
fn list_run_events() {}

/// Resume a paused run
///
/// Required scope: `runs:write`. `payload` becomes the waiting step's output and the run
/// goes on.
#[utoipa::path(
    post,
    path = "/api/v1/runs/{id}/resume",
    tag = "runs",
    params(("id" = String, Path, description = "Run id.")),
    request_body(content = ResumeBody, description = "Optional: an empty body resumes with `null`."),
    responses(
        (status = 200, description = "The run, resumed.", body = RunResponse),
        (status = 400, description = "VALIDATION_ERROR: malformed body. INVALID_STATUS: the run is not paused.", body = ErrorEnvelope),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "NOT_FOUND: \"Run not found\".", body = ErrorEnvelope),
        (status = 413, response = PayloadTooLarge),
        (status = 500, response = Internal),
    ),
    security(("apiKey" = []), ("bearerAuth" = []))
)]
fn resume_run() {}

/// Cancel a run
///
/// Required scope: `runs:write`. Cancels a run that has not ended.
#[utoipa::path(
    post,
    path = "/api/v1/runs/{id}/cancel",
    tag = "runs",
    params(("id" = String, Path, description = "Run id.")),
    request_body(content = CancelBody, description = "Optional: an empty body is `{}`."),
    responses(
        (status = 200, description = "The run, cancelled.", body = RunResponse),
        (status = 400, description = "VALIDATION_ERROR: malformed body. INVALID_STATUS: the run has already ended.", body = ErrorEnvelope),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "NOT_FOUND: \"Run not found\".", body = ErrorEnvelope),
        (status = 413, response = PayloadTooLarge),
        (status = 500, response = Internal),
    ),
    security(("apiKey" = []), ("bearerAuth" = []))
)]
fn cancel_run() {}

/// Rerun a run from one of its steps
///
/// Required scope: `workflows:execute` (and its rate limit). Starts a new run of the chosen
/// version (the current one by default) linked to its parent: the steps before `fromStep`
/// are completed with the parent's journaled outputs, not carried out again; `fromStep` and
/// the steps after it run. Both runs show the link (`parent`, `reruns`). `?wait=SECONDS`
/// waits for the new run's end as for a run request.
#[utoipa::path(
    post,
    path = "/api/v1/runs/{id}/rerun",
    tag = "runs",
    params(
        ("id" = String, Path, description = "The parent run's id."),
        ("wait" = Option<f64>, Query, description = "Seconds to wait for the new run to end."),
    ),
    request_body(content = RerunBody),
    responses(
        (status = 200, description = "With `wait`: the new run, ended.", body = RerunResponse),
        (status = 202, description = "Started: `{runId, status, workflowId, workflowVersion, parent}`; with `wait`, the run as it stands at the deadline.", body = RerunResponse),
        (status = 400, description = "VALIDATION_ERROR: malformed body, `fromStep` not a top-level step of the version, or a step before it did not complete in the parent. INVALID_STATUS: the workflow is not active.", body = ErrorEnvelope),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "NOT_FOUND: the run, the workflow or the version.", body = ErrorEnvelope),
        (status = 409, description = "CONFLICT: the parent run has not ended.", body = ErrorEnvelope),
        (status = 413, response = PayloadTooLarge),
        (status = 429, response = RateLimited),
        (status = 500, response = Internal),
    ),
    security(("apiKey" = []), ("bearerAuth" = []))
)]
fn rerun_run() {}

/// Replay a run's journal
///
/// Required scope: `runs:read`. Folds the run's journal event by event: the timeline (each
/// event with the run's status after it), each step's input, output, attempts and error,
/// and where the run stopped and why. With `version`, also replays the history against that
/// version of the workflow and reports the first event it would not have written.
#[utoipa::path(
    get,
    path = "/api/v1/runs/{id}/replay",
    tag = "runs",
    params(
        ("id" = String, Path, description = "Run id."),
        ("version" = Option<u64>, Query, description = "A workflow version to check the history against."),
    ),
    responses(
        (status = 200, description = "The replay.", body = ReplayResponse),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "NOT_FOUND: the run or the version.", body = ErrorEnvelope),
        (status = 500, response = Internal),
    ),
    security(("apiKey" = []), ("bearerAuth" = []))
)]
fn replay_run() {}

/// Replay a run's journal against a definition
///
/// Required scope: `runs:read`. As `GET`, checking the history against a stored `version`
/// or against a `definition` that is not stored (nothing is written).
#[utoipa::path(
    post,
    path = "/api/v1/runs/{id}/replay",
    tag = "runs",
    params(("id" = String, Path, description = "Run id.")),
    request_body(content = ReplayBody),
    responses(
        (status = 200, description = "The replay.", body = ReplayResponse),
        (status = 400, description = "VALIDATION_ERROR: malformed body or an invalid definition (details name each problem under `definition`).", body = ErrorEnvelope),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "NOT_FOUND: the run or the version.", body = ErrorEnvelope),
        (status = 413, response = PayloadTooLarge),
        (status = 500, response = Internal),
    ),
    security(("apiKey" = []), ("bearerAuth" = []))
)]
fn replay_run_against() {}

// ---------------------------------------------------------------------------------------
// Triggers

/// List triggers
///
/// Required scope: `triggers:read`. In creation order, disabled ones included unless
/// `showDisabled=false`; follow `pagination.nextCursor` for the next page. Comma-separated
/// lists match any of their values.
#[utoipa::path(
    get,
    path = "/api/v1/triggers",
    tag = "triggers",
    params(
        ("workflowId" = Option<String>, Query, description = "Only triggers of this workflow."),
        ("type" = Option<String>, Query, description = "Only triggers of this type (`schedule`, `webhook`, `polling`, `manual`, `scheduler`, `api`), as named when written; another value matches nothing."),
        ("connectedAccountIds" = Option<String>, Query, description = "Comma-separated connection ids: only triggers with one of them."),
        ("triggerNames" = Option<String>, Query, description = "Comma-separated slugs or trigger names: only triggers with one of them."),
        ("triggerIds" = Option<String>, Query, description = "Comma-separated trigger ids: only these triggers."),
        ("showDisabled" = Option<bool>, Query, description = "`true`/`1` (the default here) or `false`/`0`."),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "Page size (default 20)."),
        ("cursor" = Option<String>, Query, description = "`pagination.nextCursor` of the previous page."),
    ),
    responses(
        (status = 200, description = "A page of triggers.", body = TriggerListResponse),
        (status = 400, description = "VALIDATION_ERROR: `limit`, `showDisabled` or `cursor` is malformed; `details` names it.", body = ErrorEnvelope),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 500, response = Internal),
    ),
    security(("apiKey" = []), ("bearerAuth" = []))
)]
fn list_triggers() {}

/// Create or update a trigger by slug
///
/// Required scope: `triggers:write`. Idempotent: the path names the trigger by its slug
/// (1 to 100 letters, digits, `-`, `_`, `.`); the first upsert of a slug creates the trigger
/// (201), later ones replace its definition (200, same id). The workflow must exist; the
/// config is checked against the type's schema, defaults applied. A webhook trigger gets its
/// `webhookId` when created. `status` absent keeps the current status (`enabled` for a new
/// trigger). Upserting the slug of a deleted trigger creates a new one.
#[utoipa::path(
    put,
    path = "/api/v1/triggers/{id}",
    tag = "triggers",
    params(("id" = String, Path, description = "The trigger's slug (not its `trg_` id).")),
    request_body = TriggerUpsert,
    responses(
        (status = 200, description = "Updated; the trigger.", body = TriggerResponse),
        (status = 201, description = "Created; the trigger.", body = TriggerResponse),
        (status = 400, description = "VALIDATION_ERROR: malformed body (`type` or `workflowId` missing, a field of the wrong type), a `status` other than enabled/disabled, an invalid slug, or \"Trigger is invalid\": an unknown `type`, a `config` not matching the type's schema, a bad schedule or signature (every problem in `details`).", body = ErrorEnvelope,
            example = json!({"success": false, "error": {"code": "VALIDATION_ERROR", "message": "Trigger is invalid",
                "details": [{"path": ["config", "url"], "message": "Required"}]}})),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "NOT_FOUND: \"Workflow not found\" (`workflowId` names no workflow).", body = ErrorEnvelope),
        (status = 409, description = "CONFLICT: the trigger was changed by someone else at the same time; try again.", body = ErrorEnvelope),
        (status = 413, response = PayloadTooLarge),
        (status = 500, response = Internal),
    ),
    security(("apiKey" = []), ("bearerAuth" = []))
)]
fn upsert_trigger() {}

/// Get a trigger
///
/// Required scope: `triggers:read`. A webhook signature's secret shows as `********`.
#[utoipa::path(
    get,
    path = "/api/v1/triggers/{id}",
    tag = "triggers",
    params(("id" = String, Path, description = "Trigger id (`trg_...`).")),
    responses(
        (status = 200, description = "The trigger.", body = TriggerResponse),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "NOT_FOUND: \"Trigger not found\" (never existed, or deleted).", body = ErrorEnvelope),
        (status = 500, response = Internal),
    ),
    security(("apiKey" = []), ("bearerAuth" = []))
)]
fn get_trigger() {}

/// Delete a trigger
///
/// Required scope: `triggers:write`. For good: it fires nothing more and its webhook URL
/// answers 404; its runs are untouched.
#[utoipa::path(
    delete,
    path = "/api/v1/triggers/{id}",
    tag = "triggers",
    params(("id" = String, Path, description = "Trigger id (`trg_...`).")),
    responses(
        (status = 200, description = "Deleted.", body = TriggerDeletedResponse),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "NOT_FOUND: \"Trigger not found\" (never existed, or already deleted).", body = ErrorEnvelope),
        (status = 409, description = "CONFLICT: the trigger was changed by someone else at the same time; try again.", body = ErrorEnvelope),
        (status = 500, response = Internal),
    ),
    security(("apiKey" = []), ("bearerAuth" = []))
)]
fn delete_trigger() {}

/// Enable or disable a trigger
///
/// Required scope: `triggers:write`. A disabled trigger fires nothing. Setting the status it
/// already has changes nothing.
#[utoipa::path(
    patch,
    path = "/api/v1/triggers/{id}/status",
    tag = "triggers",
    params(("id" = String, Path, description = "Trigger id (`trg_...`).")),
    request_body = TriggerStatusBody,
    responses(
        (status = 200, description = "The trigger with its new status.", body = TriggerResponse),
        (status = 400, description = "VALIDATION_ERROR: malformed body, or `status` missing or not \"enabled\"/\"disabled\" (nor active/inactive, true/false).", body = ErrorEnvelope,
            example = json!({"success": false, "error": {"code": "VALIDATION_ERROR", "message": "status: must be \"enabled\" or \"disabled\"",
                "details": [{"path": ["status"], "message": "must be \"enabled\" or \"disabled\""}]}})),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "NOT_FOUND: \"Trigger not found\".", body = ErrorEnvelope),
        (status = 409, description = "CONFLICT: the trigger was changed by someone else at the same time; try again.", body = ErrorEnvelope),
        (status = 413, response = PayloadTooLarge),
        (status = 500, response = Internal),
    ),
    security(("apiKey" = []), ("bearerAuth" = []))
)]
fn set_trigger_status() {}

/// Fire a trigger now
///
/// Required scope: `workflows:execute`, and each call takes one request from the key's
/// execute rate limit. Runs the trigger's workflow with the body of `POST
/// /api/v1/workflows/{id}/run` (the trigger's `connectionId` when the body has none) and
/// records a TriggerFired event (reason `manual`). Answers as that route does, with
/// `triggerId`: 202 started, 200 for an idempotent repeat; with `?wait=SECONDS`, the run, 200
/// once it has ended, 202 as it stands at the deadline.
#[utoipa::path(
    post,
    path = "/api/v1/triggers/{id}/fire",
    tag = "triggers",
    params(
        ("id" = String, Path, description = "Trigger id (`trg_...`)."),
        ("wait" = Option<f64>, Query, minimum = 0, description = "Seconds to wait for the run to end (fractions allowed; capped by the server)."),
        ("Idempotency-Key" = Option<String>, Header, description = "Used when the body has no `idempotencyKey`."),
    ),
    request_body(content = RunRequest, description = "Optional: an empty body is `{}`."),
    responses(
        (status = 200, description = "An idempotent repeat (the first run), or with `wait` the run once it has ended; with `triggerId`.", body = TriggerFiredResponse),
        (status = 202, description = "Started, with `triggerId`; with `wait`, the run as it stands at the deadline.", body = TriggerFiredResponse),
        (status = 400, description = "INVALID_STATUS: the trigger is disabled, or its workflow is not active. VALIDATION_ERROR: malformed body, `input` not an object or invalid against the workflow's `inputSchema`, a bad `idempotencyKey` or `Idempotency-Key`, or `wait` not a number of seconds.", body = ErrorEnvelope,
            examples(
                ("INVALID_STATUS" = (value = json!({"success": false, "error": {"code": "INVALID_STATUS", "message": "trigger trg_0192d5e4a1b27c3d8e9f0a1b2c3d4e5f is disabled; enable it to fire it", "details": []}}))),
                ("VALIDATION_ERROR" = (value = json!({"success": false, "error": {"code": "VALIDATION_ERROR", "message": "Input validation failed",
                    "details": [{"path": ["customerId"], "message": "Required"}]}}))),
            )),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "NOT_FOUND: \"Trigger not found\", or \"Workflow not found\" (the trigger's workflow was deleted).", body = ErrorEnvelope),
        (status = 413, response = PayloadTooLarge),
        (status = 429, response = RateLimited),
        (status = 500, response = Internal),
    ),
    security(("apiKey" = []), ("bearerAuth" = []))
)]
fn fire_trigger() {}

/// Edit a trigger by id
///
/// Required scope: `triggers:write`. A partial body: each field sent replaces the trigger's,
/// except `config`, merged into the current config as a JSON Merge Patch (RFC 7396: `null`
/// removes a key; from `{}` when `type` changes), so `{"config": {"recurrence": "daily"}}`
/// changes a scheduler's frequency alone. The result is checked exactly as an upsert is; the
/// slug, id and webhook URL stay. A body that changes nothing writes nothing.
#[utoipa::path(
    patch,
    path = "/api/v1/triggers/{id}",
    tag = "triggers",
    params(("id" = String, Path, description = "Trigger id (`trg_...`).")),
    request_body = TriggerPatch,
    responses(
        (status = 200, description = "The trigger as edited.", body = TriggerResponse),
        (status = 400, description = "VALIDATION_ERROR: a field that is not a trigger's, or of the wrong type (each named in `details`), or \"Trigger is invalid\" as for an upsert.", body = ErrorEnvelope,
            example = json!({"success": false, "error": {"code": "VALIDATION_ERROR", "message": "invalid fields: frequency",
                "details": [{"path": ["frequency"], "message": "is not a field of a trigger; expected type, workflowId, config, connectionId, status, webhookData, providerId, triggerName"}]}})),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "NOT_FOUND: \"Trigger not found\", or \"Workflow not found\" (`workflowId` names no workflow).", body = ErrorEnvelope),
        (status = 409, description = "CONFLICT: the trigger kept changing under the edit; try again.", body = ErrorEnvelope),
        (status = 413, response = PayloadTooLarge),
        (status = 500, response = Internal),
    ),
    security(("apiKey" = []), ("bearerAuth" = []))
)]
fn edit_trigger() {}

/// Invoke a trigger (Phinite's API trigger)
///
/// Required scope: `workflows:execute`, and each call takes one request from the key's
/// execute rate limit. An `api` trigger's `apiUrl` (any trigger takes it). Runs the trigger's
/// workflow as Phinite's `POST /trigger/{flow_id}` does: a body with none of `input`,
/// `idempotencyKey`, `connectionId` is the input itself; the trigger's `connectionId` when the
/// body has none. Without `?wait=`, waits up to 30 s and answers 200 with the finished run,
/// or 202 with the run as it stands; `?wait=0` answers 202 at once. Records a TriggerFired
/// event (reason `api`); with `triggerId`.
#[utoipa::path(
    post,
    path = "/api/v1/triggers/{id}/invoke",
    tag = "triggers",
    params(
        ("id" = String, Path, description = "Trigger id (`trg_...`)."),
        ("wait" = Option<f64>, Query, minimum = 0, description = "Seconds to wait for the run to end (default 30; 0 answers at once; capped by the server)."),
        ("Idempotency-Key" = Option<String>, Header, description = "Used when the body has no `idempotencyKey`."),
    ),
    request_body(content = RunRequest, description = "Optional: the run's input itself (an object with none of `input`, `idempotencyKey`, `connectionId`), or a `RunRequest`; an empty body is `{}`."),
    responses(
        (status = 200, description = "The run once it has ended, or an idempotent repeat; with `triggerId`.", body = TriggerFiredResponse),
        (status = 202, description = "Still running at the deadline (or `?wait=0`): the run as it stands, with `triggerId`.", body = TriggerFiredResponse),
        (status = 400, description = "INVALID_STATUS: the trigger is disabled, or its workflow is not active. VALIDATION_ERROR: a body that is not an object, an input invalid against the workflow's `inputSchema`, or `wait` not a number of seconds.", body = ErrorEnvelope),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "NOT_FOUND: \"Trigger not found\", or \"Workflow not found\".", body = ErrorEnvelope),
        (status = 413, response = PayloadTooLarge),
        (status = 429, response = RateLimited),
        (status = 500, response = Internal),
    ),
    security(("apiKey" = []), ("bearerAuth" = []))
)]
fn invoke_trigger() {}

/// List a trigger's samples
///
/// Required scope: `triggers:read`. The last 20 payloads the trigger received (a webhook
/// delivery's `{body, headers}` input), newest first, in one page.
#[utoipa::path(
    get,
    path = "/api/v1/triggers/{id}/samples",
    tag = "triggers",
    params(("id" = String, Path, description = "Trigger id (`trg_...`).")),
    responses(
        (status = 200, description = "The samples.", body = SampleListResponse),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "NOT_FOUND: \"Trigger not found\".", body = ErrorEnvelope),
        (status = 500, response = Internal),
    ),
    security(("apiKey" = []), ("bearerAuth" = []))
)]
fn list_trigger_samples() {}

/// List trigger types
///
/// Required scope: `triggers:read`. The catalog: `schedule`, `webhook`, `polling`, `manual`,
/// and Phinite's `scheduler` and `api`, each with the JSON Schema of its `config`, in one page.
#[utoipa::path(
    get,
    path = "/api/v1/trigger-types",
    tag = "triggers",
    responses(
        (status = 200, description = "Every trigger type.", body = TriggerTypeListResponse),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 500, response = Internal),
    ),
    security(("apiKey" = []), ("bearerAuth" = []))
)]
fn list_trigger_types() {}

/// Deliver to a webhook
///
/// No API key: the unguessable URL names the trigger, and when its config has a `signature`
/// the delivery must carry a valid, fresh signature (`webhook-signature`, `Stripe-Signature`,
/// `X-Hub-Signature-256`, `X-Slack-Signature` or the configured header, per scheme). An
/// accepted delivery starts one run with input `{"body": <JSON, or {"raw": text}>,
/// "headers": {...}}` (credentials and signature headers left out) and is kept as a sample.
/// A delivery id seen before (`webhook-id`, `X-GitHub-Delivery`, Stripe's event `id`,
/// Slack's `event_id`, `X-Delivery-Id`, `Idempotency-Key`) answers 200 with the first run.
/// Every decision is recorded in the trigger's stream: a refused signature as
/// TriggerRejected, a disabled trigger as TriggerSkipped; neither starts a run.
#[utoipa::path(
    post,
    path = "/api/v1/webhooks/{webhookId}",
    tag = "triggers",
    params(
        ("webhookId" = String, Path, description = "The trigger's `webhookId` (64 hex digits)."),
        ("Idempotency-Key" = Option<String>, Header, description = "A delivery id, for triggers without a signature (also `webhook-id`, `X-GitHub-Delivery`, `X-Delivery-Id`)."),
    ),
    request_body(
        content(
            (Value = "application/json"),
            (String = "*/*"),
        ),
        description = "Any bytes, with any Content-Type: a JSON body is passed on as JSON, anything else as `{\"raw\": text}`; an empty body is `null`."
    ),
    responses(
        (status = 200, description = "A delivery id seen before: the first delivery's run, `duplicate: true`.", body = WebhookAcceptedResponse),
        (status = 202, description = "Accepted: a run started, `duplicate: false`.", body = WebhookAcceptedResponse),
        (status = 400, description = "INVALID_STATUS: the trigger is disabled (\"this webhook's trigger is disabled\"; recorded as TriggerSkipped) or its workflow is not active. VALIDATION_ERROR: the input does not match the workflow's `inputSchema`.", body = ErrorEnvelope,
            example = json!({"success": false, "error": {"code": "INVALID_STATUS", "message": "this webhook's trigger is disabled", "details": []}})),
        (status = 401, description = "UNAUTHORIZED: the signature is missing, malformed, wrong or stale (recorded as TriggerRejected; no run).", body = ErrorEnvelope,
            example = json!({"success": false, "error": {"code": "UNAUTHORIZED", "message": "webhook signature rejected: signature does not match: the body or a signed header was changed, or it was signed with another secret", "details": []}})),
        (status = 404, description = "NOT_FOUND: \"Webhook not found\" (no such webhook, its trigger deleted or no longer of type `webhook`), or \"Workflow not found\" (the trigger's workflow was deleted).", body = ErrorEnvelope),
        (status = 413, response = PayloadTooLarge),
        (status = 500, response = Internal),
    ),
    security(())
)]
fn receive_webhook() {}

// ---------------------------------------------------------------------------------------
// Keys

/// List API keys
///
/// Required scope: `admin`. Every key, revoked ones included; never a secret or a hash.
#[utoipa::path(
    get,
    path = "/api/v1/keys",
    tag = "keys",
    responses(
        (status = 200, description = "Every API key.", body = KeyListResponse),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 500, response = Internal),
    ),
    security(("apiKey" = []), ("bearerAuth" = []))
)]
fn list_keys() {}

/// Create an API key
///
/// Required scope: `admin`. The answer holds the key's secret in `key`: it is shown this
/// once and never stored.
#[utoipa::path(
    post,
    path = "/api/v1/keys",
    tag = "keys",
    request_body = KeyCreate,
    responses(
        (status = 201, description = "Created, with its secret.", body = CreatedKeyResponse),
        (status = 400, description = "VALIDATION_ERROR: malformed body, an unknown field or scope, an empty or too long name, a name with control characters, or no scope.", body = ErrorEnvelope),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 413, response = PayloadTooLarge),
        (status = 500, response = Internal),
    ),
    security(("apiKey" = []), ("bearerAuth" = []))
)]
fn create_key() {}

/// Get an API key
///
/// Required scope: `admin`.
#[utoipa::path(
    get,
    path = "/api/v1/keys/{id}",
    tag = "keys",
    params(("id" = String, Path, description = "Key id (`key_` and 32 hex digits).")),
    responses(
        (status = 200, description = "The key.", body = KeyResponse),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "NOT_FOUND: \"API key <id> not found\".", body = ErrorEnvelope),
        (status = 500, response = Internal),
    ),
    security(("apiKey" = []), ("bearerAuth" = []))
)]
fn get_key() {}

/// Revoke an API key
///
/// Required scope: `admin`. The key stops working at once; revoking a revoked key changes
/// nothing. The key stays listed, with `revokedAt`.
#[utoipa::path(
    delete,
    path = "/api/v1/keys/{id}",
    tag = "keys",
    params(("id" = String, Path, description = "Key id (`key_` and 32 hex digits).")),
    responses(
        (status = 200, description = "The revoked key.", body = KeyResponse),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "NOT_FOUND: \"API key <id> not found\".", body = ErrorEnvelope),
        (status = 409, description = "CONFLICT: the key kept being changed by someone else at the same time; try again.", body = ErrorEnvelope),
        (status = 500, response = Internal),
    ),
    security(("apiKey" = []), ("bearerAuth" = []))
)]
fn revoke_key() {}

// ---------------------------------------------------------------------------------------
// Journal

/// Export the journal
///
/// Required scope: `admin`. The journal as a Duro archive (docs/journal-format.md, section
/// 14): the whole global log, or one run (`runId`: its stream and its workflow's), or one
/// workflow (`workflowId`: its stream and its runs' streams), up to the position committed
/// when the request began. Streamed as it is read; a failure part-way cuts the body short,
/// which `duro journal verify --in FILE` rejects. `duro journal export --url` downloads it.
#[utoipa::path(
    get,
    path = "/api/v1/journal/export",
    tag = "journal",
    params(
        ("runId" = Option<String>, Query, description = "Export only this run and its workflow."),
        ("workflowId" = Option<String>, Query, description = "Export only this workflow and its runs."),
    ),
    responses(
        (status = 200, description = "The archive.", body = Vec<u8>, content_type = "application/octet-stream"),
        (status = 400, description = "VALIDATION_ERROR: both `runId` and `workflowId`.", body = ErrorEnvelope),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "NOT_FOUND: \"Run not found\" or \"Workflow not found\".", body = ErrorEnvelope),
        (status = 500, response = Internal),
    ),
    security(("apiKey" = []), ("bearerAuth" = []))
)]
fn export_journal() {}

// ---------------------------------------------------------------------------------------
// Operations (no API key)

/// Liveness
///
/// No API key. Answers while the process runs.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    responses((status = 200, description = "The process is up.", body = HealthResponse)),
    security(())
)]
fn healthz() {}

/// Readiness
///
/// No API key. Answers 200 only while the journal can be read.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    responses(
        (status = 200, description = "Ready; the journal's committed position.", body = ReadyResponse),
        (status = 503, description = "UNAVAILABLE: the journal cannot be read.", body = ErrorEnvelope),
    ),
    security(())
)]
fn readyz() {}

/// Metrics
///
/// No API key. Prometheus metrics in the text exposition format.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses((status = 200, description = "Prometheus text exposition format.", body = String, content_type = "text/plain; version=0.0.4; charset=utf-8")),
    security(())
)]
fn metrics() {}

/// This document
///
/// No API key. The OpenAPI document of the canonical routes.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "operations",
    responses((status = 200, description = "The OpenAPI document.", body = Object, content_type = "application/json")),
    security(())
)]
fn openapi_document() {}
