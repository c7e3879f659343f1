//! `GET /api/v1/openapi.json`: the OpenAPI document of the canonical routes, built by utoipa
//! from documentation-only operations (`paths`) and schemas (`schemas`) that mirror what the
//! handlers in `routes/` read and answer. The document is built once and served as is; it
//! needs no API key.
//!
//! [`CANONICAL_ROUTES`] lists every documented (method, path); `api/tests/openapi.rs` checks
//! that it and the document agree, and that each route exists in the router.

mod paths;
mod schemas;

use std::sync::LazyLock;

use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::Required;
use utoipa::{Modify, OpenApi};

use crate::error::ApiError;
use crate::AppState;

/// Every route the document describes, as (method, path) with axum-style `{param}`s.
pub const CANONICAL_ROUTES: &[(&str, &str)] = &[
    ("GET", "/api/v1/workflows"),
    ("POST", "/api/v1/workflows"),
    ("GET", "/api/v1/workflows/{id}"),
    ("PATCH", "/api/v1/workflows/{id}"),
    ("DELETE", "/api/v1/workflows/{id}"),
    ("PATCH", "/api/v1/workflows/{id}/status"),
    ("PATCH", "/api/v1/workflows/{id}/connections"),
    ("GET", "/api/v1/workflows/{id}/versions"),
    ("POST", "/api/v1/workflows/{id}/run"),
    ("GET", "/api/v1/runs"),
    ("GET", "/api/v1/runs/{id}"),
    ("GET", "/api/v1/runs/{id}/events"),
    ("POST", "/api/v1/runs/{id}/resume"),
    ("POST", "/api/v1/runs/{id}/cancel"),
    ("POST", "/api/v1/runs/{id}/rerun"),
    ("GET", "/api/v1/runs/{id}/replay"),
    ("POST", "/api/v1/runs/{id}/replay"),
    ("GET", "/api/v1/triggers"),
    ("PUT", "/api/v1/triggers/{id}"),
    ("GET", "/api/v1/triggers/{id}"),
    ("DELETE", "/api/v1/triggers/{id}"),
    ("PATCH", "/api/v1/triggers/{id}/status"),
    ("PATCH", "/api/v1/triggers/{id}"),
    ("POST", "/api/v1/triggers/{id}/fire"),
    ("POST", "/api/v1/triggers/{id}/invoke"),
    ("GET", "/api/v1/triggers/{id}/samples"),
    ("GET", "/api/v1/trigger-types"),
    ("POST", "/api/v1/webhooks/{webhookId}"),
    ("GET", "/api/v1/keys"),
    ("POST", "/api/v1/keys"),
    ("GET", "/api/v1/keys/{id}"),
    ("DELETE", "/api/v1/keys/{id}"),
    ("GET", "/api/v1/journal/export"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("GET", "/api/v1/openapi.json"),
];

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Duro",
        version = env!("CARGO_PKG_VERSION"),
        description = "Duro's REST API: workflows, runs, triggers and API keys.\n\n\
            Every answer is JSON. Success: `{\"success\": true, \"data\": ...}` (lists add \
            `pagination`). Failure: `{\"success\": false, \"error\": {\"code\", \"message\", \
            \"details\"}}`.\n\n\
            Authenticate with `x-api-key: KEY` or `Authorization: Bearer KEY`. Each route names \
            the scope it needs; a key with `admin` holds every scope. A missing, unknown or \
            revoked key is 401 UNAUTHORIZED, a key without the scope 403 FORBIDDEN. Webhook \
            URLs (`POST /api/v1/webhooks/{webhookId}`) take no key: the URL and the delivery's \
            signature authenticate the sender."
    ),
    paths(
        paths::list_workflows,
        paths::create_workflow,
        paths::get_workflow,
        paths::update_workflow,
        paths::delete_workflow,
        paths::set_workflow_status,
        paths::set_workflow_connection,
        paths::list_workflow_versions,
        paths::run_workflow,
        paths::list_runs,
        paths::get_run,
        paths::list_run_events,
        paths::resume_run,
        paths::cancel_run,
        paths::rerun_run,
        paths::replay_run,
        paths::replay_run_against,
        paths::list_triggers,
        paths::upsert_trigger,
        paths::get_trigger,
        paths::delete_trigger,
        paths::set_trigger_status,
        paths::edit_trigger,
        paths::fire_trigger,
        paths::invoke_trigger,
        paths::list_trigger_samples,
        paths::list_trigger_types,
        paths::receive_webhook,
        paths::list_keys,
        paths::create_key,
        paths::get_key,
        paths::revoke_key,
        paths::export_journal,
        paths::healthz,
        paths::readyz,
        paths::metrics,
        paths::openapi_document,
    ),
    components(
        schemas(
            schemas::ErrorEnvelope,
            schemas::ErrorBody,
            schemas::ErrorCode,
            schemas::ErrorDetail,
            schemas::Pagination,
            schemas::Scope,
            schemas::WorkflowStatus,
            schemas::RetrySpec,
            schemas::StepDefinition,
            schemas::WorkflowDefinition,
            schemas::WorkflowPatch,
            schemas::Workflow,
            schemas::WorkflowVersion,
            schemas::WorkflowStatusBody,
            schemas::ConnectionBody,
            schemas::WorkflowDeleted,
            schemas::RunStatus,
            schemas::StepStatus,
            schemas::RunRequest,
            schemas::RunStarted,
            schemas::RunFailure,
            schemas::StepFailure,
            schemas::RunStep,
            schemas::Run,
            schemas::RunStartData,
            schemas::RunEvent,
            schemas::ResumeBody,
            schemas::CancelBody,
            schemas::RunLink,
            schemas::RerunBody,
            schemas::RerunStarted,
            schemas::RerunData,
            schemas::ReplayBody,
            schemas::Divergence,
            schemas::Replay,
            schemas::TriggerKind,
            schemas::TriggerStatus,
            schemas::Trigger,
            schemas::TriggerUpsert,
            schemas::TriggerPatch,
            schemas::TriggerStatusBody,
            schemas::TriggerDeleted,
            schemas::TriggerType,
            schemas::Sample,
            schemas::TriggerFired,
            schemas::WebhookAccepted,
            schemas::KeyCreate,
            schemas::Key,
            schemas::CreatedKey,
            schemas::Health,
            schemas::Ready,
        ),
        responses(
            schemas::Unauthorized,
            schemas::Forbidden,
            schemas::PayloadTooLarge,
            schemas::RateLimited,
            schemas::Internal,
        )
    ),
    modifiers(&SecuritySchemes, &OptionalBodies),
    tags(
        (name = "workflows", description = "Workflow definitions, their versions and status."),
        (name = "runs", description = "Starting, reading, resuming and cancelling runs."),
        (name = "triggers", description = "Triggers: when a workflow runs (schedules, webhooks, polling, run now), and webhook deliveries."),
        (name = "keys", description = "API keys (scope `admin`)."),
        (name = "journal", description = "Backups of the journal (scope `admin`)."),
        (name = "operations", description = "Health, readiness, metrics and this document; no API key."),
    )
)]
pub struct ApiDoc;

/// The two ways to present an API key.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "apiKey",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "x-api-key",
                "An API key's secret. Wins over `Authorization` when both are sent.",
            ))),
        );
        components.add_security_scheme(
            "bearerAuth",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An API key's secret as `Authorization: Bearer KEY`."))
                    .build(),
            ),
        );
    }
}

/// POST routes whose body may be left out (an empty body reads as `{}`; an empty webhook
/// delivery is the body `null`). utoipa marks every body of a non-`Option` type required, and
/// an `Option` one as possibly `null`, which the run-like routes refuse.
const OPTIONAL_BODIES: &[&str] = &[
    "/api/v1/workflows/{id}/run",
    "/api/v1/runs/{id}/resume",
    "/api/v1/runs/{id}/cancel",
    "/api/v1/triggers/{id}/fire",
    "/api/v1/webhooks/{webhookId}",
];

struct OptionalBodies;

impl Modify for OptionalBodies {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for path in OPTIONAL_BODIES {
            let body = openapi
                .paths
                .paths
                .get_mut(*path)
                .and_then(|item| item.post.as_mut())
                .and_then(|operation| operation.request_body.as_mut());
            if let Some(body) = body {
                body.required = Some(Required::False);
            }
        }
    }
}

/// The document, as JSON text, built on first use.
static DOCUMENT: LazyLock<Result<String, String>> =
    LazyLock::new(|| ApiDoc::openapi().to_json().map_err(|e| e.to_string()));

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/openapi.json", get(document))
}

async fn document() -> Response {
    match &*DOCUMENT {
        Ok(json) => ([(header::CONTENT_TYPE, "application/json")], json.clone()).into_response(),
        Err(error) => {
            ApiError::Internal(format!("building the OpenAPI document: {error}")).into_response()
        }
    }
}
