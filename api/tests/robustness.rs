//! Robustness of every route that reads a body (POST, PATCH, PUT): generated bodies (random
//! JSON with the route's real field names, valid bodies with one field of the wrong type,
//! deep nesting, strings past the body limit, bytes that are not JSON, empty bodies, any
//! Content-Type) are answered 4xx in the error envelope, never 5xx, a panic, a bare text
//! error or a journal write.
//!
//! The property is only claimed for bodies that are invalid for the route. Each route has an
//! oracle (`Route::invalid`), written here from the API's contract and not from the code
//! under test, that says when a parsed body is certainly invalid. Bodies it cannot rule out
//! (`{}` to cancel, a bare input to Flowra's execute) are only sent to ids that do not exist,
//! where 404 is the answer; routes without an id never get them. So every case expects a 4xx
//! and an unmoved journal, and any 2xx is a failure.
//!
//! Two kinds of route bend that pattern. A trigger upsert creates the trigger when its slug
//! is free, so a body the oracle cannot rule out goes to a path segment that is not a slug
//! (refused 400), never to a free one. A webhook URL reads no JSON and needs no key: the
//! fixture's webhook trigger has a signature secret and no generated delivery is signed, so
//! every delivery to it must be refused 401; such a refusal writes a TriggerRejected event by
//! design, so there the check is that the journal gained exactly that event and no run.

mod support;

use api::ApiConfig;
use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use http_body_util::BodyExt;
use journal::EventStore;
use proptest::prelude::*;
use proptest::strategy::{BoxedStrategy, Union};
use proptest::test_runner::{Config, FileFailurePersistence, TestCaseError, TestRunner};
use serde_json::{json, Map, Value};
use support::{order_input, order_workflow, TestApi};
use tower::ServiceExt;
use triggers::instances::TriggerEvent;

/// The body limit of the router under test: small, so bodies past it are cheap to make.
const BODY_BYTES_MAX: usize = 16 * 1024;
/// Generated requests per route.
const CASES: u32 = 128;
/// Ids that name nothing.
const MISSING_WORKFLOW: &str = "wf_00000000000000000000000000000000";
const MISSING_RUN: &str = "run_00000000000000000000000000000000";
const MISSING_TRIGGER: &str = "trg_00000000000000000000000000000000";
const MISSING_WEBHOOK: &str = "0000000000000000000000000000000000000000000000000000000000000000";
const MISSING_CONNECTION: &str = "conn_missing";
/// A path segment no upsert takes as a slug ("not a slug": spaces).
const NOT_A_SLUG: &str = "not%20a%20slug";
/// The slug of the fixture's manual trigger.
const TRIGGER_SLUG: &str = "robust-manual";
/// Stands for the fixture's active order workflow in bodies: `check` puts the real id in its
/// place before sending (same length, so the body limit is unaffected). Generated values use
/// it too (`WORDS`), so upserts sometimes name a workflow that exists.
const FIXTURE_WORKFLOW: &str = "wf_ffffffffffffffffffffffffffffffff";
/// The signing secret of the fixture's webhook trigger (GitHub scheme); never used to sign.
const WEBHOOK_SECRET: &str = "robustness-secret";

/// Which kind of resource a route's `{id}` names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Resource {
    Nothing,
    Workflow,
    Run,
    /// A trigger id: the fixture's manual trigger.
    Trigger,
    /// A trigger slug (upserts): the manual trigger's slug; "missing" is [`NOT_A_SLUG`].
    Slug,
    /// A webhook id: the fixture's signed webhook trigger; "missing" is [`MISSING_WEBHOOK`].
    Webhook,
    /// A connection id: the fixture's bearer connection.
    Connection,
}

/// A route that reads a body, with what the test knows about its body.
struct Route {
    method: &'static str,
    /// Axum-style path; `{id}` is replaced by the target's id.
    path: &'static str,
    resource: Resource,
    /// Top-level fields the route deserializes (never ignores); generated objects favour
    /// them, and raw fragments (huge numbers, deep nesting) go only there or at the root.
    fields: &'static [&'static str],
    /// A body the route accepts, to mutate one field of.
    valid: fn() -> Value,
    /// JSON pointers whose value the mutation replaces with one of another JSON type.
    typed: &'static [&'static str],
    /// True when the route must refuse this parsed body, whatever its target holds.
    invalid: fn(&Value) -> bool,
    /// True when the parsed body names something besides the target that may not exist
    /// (an upsert's workflow), so that 404 is a fair refusal whatever the target.
    names_missing: fn(&Value) -> bool,
}

/// The canonical write routes (`api::openapi::CANONICAL_ROUTES`; a test below checks that
/// every POST, PATCH and PUT there is here).
const CANONICAL_ROUTES: &[Route] = &[
    Route {
        method: "POST",
        path: "/api/v1/workflows",
        resource: Resource::Nothing,
        fields: SPEC_FIELDS,
        valid: order_workflow,
        typed: SPEC_POINTERS,
        invalid: invalid_create,
        names_missing: names_nothing,
    },
    Route {
        method: "PATCH",
        path: "/api/v1/workflows/{id}",
        resource: Resource::Workflow,
        fields: SPEC_FIELDS,
        valid: valid_update,
        typed: SPEC_POINTERS,
        invalid: invalid_update,
        names_missing: names_nothing,
    },
    Route {
        method: "PATCH",
        path: "/api/v1/workflows/{id}/status",
        resource: Resource::Workflow,
        fields: &["status"],
        valid: || json!({"status": "inactive"}),
        typed: &["", "/status"],
        invalid: invalid_status,
        names_missing: names_nothing,
    },
    Route {
        method: "PATCH",
        path: "/api/v1/workflows/{id}/connections",
        resource: Resource::Workflow,
        fields: CONNECTION_FIELDS,
        valid: valid_connection,
        typed: &["", "/toolkitSlug", "/connectionId"],
        invalid: invalid_connection,
        names_missing: names_nothing,
    },
    Route {
        method: "POST",
        path: "/api/v1/workflows/{id}/run",
        resource: Resource::Workflow,
        fields: RUN_FIELDS,
        valid: valid_run,
        typed: RUN_POINTERS,
        invalid: invalid_run,
        names_missing: names_nothing,
    },
    Route {
        method: "POST",
        path: "/api/v1/runs/{id}/resume",
        resource: Resource::Run,
        fields: &["payload"],
        valid: || json!({"payload": {"approved": true}}),
        typed: &[""],
        invalid: invalid_resume,
        names_missing: names_nothing,
    },
    Route {
        method: "POST",
        path: "/api/v1/runs/{id}/cancel",
        resource: Resource::Run,
        fields: &["reason"],
        valid: || json!({"reason": "not needed"}),
        typed: &["", "/reason"],
        invalid: invalid_cancel,
        names_missing: names_nothing,
    },
    Route {
        method: "POST",
        path: "/api/v1/runs/{id}/rerun",
        resource: Resource::Run,
        fields: &["fromStep", "input", "version"],
        valid: || json!({"fromStep": "calculate-total"}),
        typed: &["", "/fromStep", "/input", "/version"],
        invalid: invalid_rerun,
        names_missing: names_nothing,
    },
    Route {
        method: "POST",
        path: "/api/v1/runs/{id}/replay",
        resource: Resource::Run,
        fields: &["version", "definition"],
        valid: || json!({"version": 1}),
        typed: &["", "/version", "/definition"],
        invalid: invalid_replay,
        names_missing: names_nothing,
    },
    Route {
        method: "POST",
        path: "/api/v1/keys",
        resource: Resource::Nothing,
        fields: &["name", "scopes"],
        valid: || json!({"name": "ci", "scopes": ["runs:read", "workflows:execute"]}),
        typed: &["", "/name", "/scopes", "/scopes/0"],
        invalid: invalid_key,
        names_missing: names_nothing,
    },
    Route {
        method: "POST",
        path: "/api/v1/connections",
        resource: Resource::Nothing,
        fields: CONNECTION_BODY_FIELDS,
        valid: || json!({"name": "ci", "provider": "stripe", "kind": "bearer", "token": "sk_test_1"}),
        typed: &["", "/name", "/provider", "/kind", "/token", "/port"],
        invalid: invalid_new_connection,
        names_missing: names_nothing,
    },
    Route {
        method: "PATCH",
        path: "/api/v1/connections/{id}",
        resource: Resource::Connection,
        fields: CONNECTION_BODY_FIELDS,
        valid: || json!({"name": "renamed"}),
        typed: &["", "/name", "/kind", "/status"],
        invalid: invalid_connection_patch,
        names_missing: names_nothing,
    },
    Route {
        method: "PUT",
        path: "/api/v1/triggers/{id}",
        resource: Resource::Slug,
        fields: UPSERT_FIELDS,
        valid: valid_upsert,
        typed: UPSERT_POINTERS,
        invalid: invalid_upsert,
        names_missing: names_other_workflow,
    },
    Route {
        method: "PATCH",
        path: "/api/v1/triggers/{id}/status",
        resource: Resource::Trigger,
        fields: &["status"],
        valid: || json!({"status": "disabled"}),
        typed: &["", "/status"],
        invalid: invalid_trigger_status,
        names_missing: names_nothing,
    },
    Route {
        method: "POST",
        path: "/api/v1/triggers/{id}/fire",
        resource: Resource::Trigger,
        fields: RUN_FIELDS,
        valid: valid_run,
        typed: RUN_POINTERS,
        invalid: invalid_run,
        names_missing: names_nothing,
    },
    Route {
        method: "PATCH",
        path: "/api/v1/triggers/{id}",
        resource: Resource::Trigger,
        fields: UPSERT_FIELDS,
        valid: valid_trigger_patch,
        typed: PATCH_POINTERS,
        invalid: invalid_trigger_patch,
        names_missing: names_other_workflow,
    },
    // Phinite's api trigger URL: the body is the input itself unless it is a run body.
    Route {
        method: "POST",
        path: "/api/v1/triggers/{id}/invoke",
        resource: Resource::Trigger,
        fields: RUN_FIELDS,
        valid: valid_run,
        typed: RUN_POINTERS,
        invalid: invalid_flowra_execute,
        names_missing: names_nothing,
    },
    Route {
        method: "POST",
        path: "/api/v1/webhooks/{webhookId}",
        resource: Resource::Webhook,
        fields: WEBHOOK_FIELDS,
        valid: || json!({"ref": "refs/heads/main", "id": "evt_1"}),
        typed: &["", "/ref"],
        invalid: unsigned_delivery,
        names_missing: names_nothing,
    },
];

/// Seed 000's (Flowra) trigger-instance routes and seed 003's (Phinite) run route
/// (`api::routes::triggers`).
const TRIGGER_COMPAT_ROUTES: &[Route] = &[
    Route {
        method: "POST",
        path: "/api/v1/trigger_instances/{slug}/upsert",
        resource: Resource::Slug,
        fields: UPSERT_FIELDS,
        valid: valid_upsert,
        typed: UPSERT_POINTERS,
        invalid: invalid_upsert,
        names_missing: names_other_workflow,
    },
    Route {
        method: "PATCH",
        path: "/api/v1/trigger_instances/manage/{id}/status",
        resource: Resource::Trigger,
        fields: &["status", "enabled"],
        valid: || json!({"status": "enabled"}),
        typed: &["", "/status"],
        invalid: invalid_flowra_trigger_status,
        names_missing: names_nothing,
    },
    Route {
        method: "POST",
        path: "/trigger/{flow_id}",
        resource: Resource::Workflow,
        fields: RUN_FIELDS,
        valid: valid_run,
        typed: RUN_POINTERS,
        invalid: invalid_flowra_execute,
        names_missing: names_nothing,
    },
];

/// Seed 002's Flowra routes that read a body (`api::routes::flowra`).
const FLOWRA_ROUTES: &[Route] = &[
    Route {
        method: "POST",
        path: "/api/v1/workflow/manager/create",
        resource: Resource::Nothing,
        fields: SPEC_FIELDS,
        valid: order_workflow,
        typed: SPEC_POINTERS,
        invalid: invalid_create,
        names_missing: names_nothing,
    },
    Route {
        method: "PATCH",
        path: "/api/v1/workflow/manager/update/{id}",
        resource: Resource::Workflow,
        fields: SPEC_FIELDS,
        valid: valid_update,
        typed: SPEC_POINTERS,
        invalid: invalid_update,
        names_missing: names_nothing,
    },
    Route {
        method: "PATCH",
        path: "/api/v1/workflow/manager/activeStatus/{id}",
        resource: Resource::Workflow,
        fields: &ACTIVE_KEYS,
        valid: || json!({"activeStatus": "inactive", "isActive": false}),
        typed: &["", "/activeStatus", "/isActive", "/status", "/active"],
        invalid: invalid_active_status,
        names_missing: names_nothing,
    },
    Route {
        method: "PATCH",
        path: "/api/v1/workflow/manager/change-connection/{id}",
        resource: Resource::Workflow,
        fields: CONNECTION_FIELDS,
        valid: valid_connection,
        typed: &["", "/toolkitSlug", "/connectionId"],
        invalid: invalid_connection,
        names_missing: names_nothing,
    },
    Route {
        method: "POST",
        path: "/api/v1/workflow/manager/execute/{id}",
        resource: Resource::Workflow,
        fields: RUN_FIELDS,
        valid: valid_run,
        typed: RUN_POINTERS,
        invalid: invalid_flowra_execute,
        names_missing: names_nothing,
    },
    Route {
        method: "POST",
        path: "/api/v1/workflow/manager/executions/thread/{id}/resume",
        resource: Resource::Run,
        fields: &["payload", "input", "message"],
        valid: || json!({"message": "approved"}),
        typed: &["", "/payload"],
        invalid: invalid_flowra_resume,
        names_missing: names_nothing,
    },
    Route {
        method: "POST",
        path: "/api/v1/workflow/manager/executions/thread/{id}/cancel",
        resource: Resource::Run,
        fields: &["reason"],
        valid: || json!({"reason": "not needed"}),
        typed: &["", "/reason"],
        invalid: invalid_cancel,
        names_missing: names_nothing,
    },
];

// ---- the routes' bodies and their oracles ---------------------------------------------------

const SPEC_FIELDS: &[&str] = &[
    "name",
    "description",
    "status",
    "inputSchema",
    "trigger",
    "steps",
    "connections",
    "systemPrompt",
    "model",
    "tools",
];
const SPEC_POINTERS: &[&str] = &[
    "",
    "/name",
    "/description",
    "/status",
    "/steps",
    "/steps/0",
    "/steps/0/id",
    "/steps/0/type",
    "/inputSchema",
    "/systemPrompt",
    "/model",
];
const CONNECTION_FIELDS: &[&str] = &["toolkitSlug", "connectionId"];
const RUN_FIELDS: &[&str] = &["input", "connectionId", "idempotencyKey"];
const RUN_POINTERS: &[&str] = &[
    "",
    "/input",
    "/input/customerId",
    "/input/items",
    "/connectionId",
    "/idempotencyKey",
];
const WORKFLOW_STATUSES: [&str; 3] = ["draft", "active", "inactive"];
const UPSERT_FIELDS: &[&str] = &[
    "type",
    "workflowId",
    "config",
    "connectionId",
    "status",
    "webhookData",
    "providerId",
    "triggerName",
];
const UPSERT_POINTERS: &[&str] = &[
    "",
    "/type",
    "/workflowId",
    "/config",
    "/config/url",
    "/config/interval",
    "/status",
    "/connectionId",
    "/providerId",
    "/triggerName",
];
/// Top-level fields of common webhook payloads (the body is never deserialized).
const WEBHOOK_FIELDS: &[&str] = &["id", "type", "event_id", "ref", "data"];
const TRIGGER_KINDS: [&str; 6] = [
    "schedule",
    "webhook",
    "polling",
    "manual",
    "scheduler",
    "api",
];
const PATCH_POINTERS: &[&str] = &[
    "",
    "/type",
    "/workflowId",
    "/config",
    "/status",
    "/connectionId",
    "/providerId",
    "/triggerName",
];
const SIGNATURE_SCHEMES: [&str; 5] = ["standard", "stripe", "github", "slack", "hmac-sha256"];
const SCOPES: [&str; 9] = [
    "workflows:read",
    "workflows:write",
    "workflows:execute",
    "runs:read",
    "runs:write",
    "triggers:read",
    "triggers:write",
    "connections:write",
    "admin",
];
const ACTIVE_KEYS: [&str; 4] = ["activeStatus", "status", "isActive", "active"];
/// Every real field name of these routes (and nested ones), for generated object keys.
const ALL_FIELDS: &[&str] = &[
    "name",
    "description",
    "status",
    "inputSchema",
    "trigger",
    "steps",
    "connections",
    "systemPrompt",
    "model",
    "tools",
    "id",
    "type",
    "config",
    "toolkitSlug",
    "connectionId",
    "input",
    "idempotencyKey",
    "payload",
    "reason",
    "scopes",
    "activeStatus",
    "isActive",
    "active",
    "message",
    "customerId",
    "items",
    "workflowId",
    "webhookData",
    "providerId",
    "triggerName",
    "url",
    "cron",
    "interval",
    "timezone",
    "overlap",
    "signature",
    "scheme",
    "secret",
    "ref",
];
/// Strings that mean something to some route, so generated values sometimes hit them.
const WORDS: &[&str] = &[
    "",
    " ",
    "active",
    "inactive",
    "draft",
    "ACTIVE",
    "true",
    "false",
    "runs:read",
    "admin",
    "transform",
    "wait",
    "cus_1",
    "slack",
    "conn_1",
    "{{input.x}}",
    "enabled",
    "disabled",
    "Enabled",
    "manual",
    "webhook",
    "schedule",
    "polling",
    "github",
    "15m",
    FIXTURE_WORKFLOW,
];

fn valid_update() -> Value {
    json!({
        "name": "Renamed order",
        "description": "changed",
        "status": "inactive",
        "steps": [{"id": "noop", "type": "transform", "config": {"mapping": {"ok": true}}}],
        "inputSchema": {"type": "object"},
        "systemPrompt": "be brief",
        "model": "small",
    })
}

fn valid_connection() -> Value {
    json!({"toolkitSlug": "slack", "connectionId": "conn_1"})
}

fn valid_run() -> Value {
    json!({"input": order_input(), "connectionId": "conn_1", "idempotencyKey": "order-1"})
}

fn string_or_null(value: Option<&Value>) -> bool {
    matches!(value, None | Some(Value::Null | Value::String(_)))
}

fn non_blank(value: Option<&Value>) -> bool {
    matches!(value, Some(Value::String(text)) if !text.trim().is_empty())
}

fn workflow_status(value: Option<&Value>) -> bool {
    matches!(value, Some(Value::String(text)) if WORKFLOW_STATUSES.contains(&text.as_str()))
}

/// A definition field the definition cannot hold (create and update alike); `steps: null`
/// is left to the caller (an update removes the field, a create refuses it).
fn spec_field_broken(body: &Map<String, Value>) -> bool {
    let text_broken = ["description", "systemPrompt", "model"]
        .iter()
        .any(|field| !string_or_null(body.get(*field)));
    let status_broken = !matches!(body.get("status"), None | Some(Value::Null))
        && !workflow_status(body.get("status"));
    let steps_broken = match body.get("steps") {
        None | Some(Value::Null) => false,
        Some(Value::Array(steps)) => steps
            .iter()
            .any(|step| !(step["id"].is_string() && step["type"].is_string())),
        Some(_) => true,
    };
    let schema_broken = !matches!(
        body.get("inputSchema"),
        None | Some(Value::Null | Value::Object(_))
    );
    text_broken || status_broken || steps_broken || schema_broken
}

fn invalid_create(body: &Value) -> bool {
    let Some(body) = body.as_object() else {
        return true;
    };
    !non_blank(body.get("name"))
        || spec_field_broken(body)
        || body.get("steps") == Some(&Value::Null)
}

/// A partial update over the existing order workflow: present fields replace, `null`
/// removes (so `name: null` leaves a definition without a name), `id` never changes.
fn invalid_update(body: &Value) -> bool {
    let Some(body) = body.as_object() else {
        return true;
    };
    body.contains_key("id")
        || body.get("name").is_some_and(|name| !non_blank(Some(name)))
        || spec_field_broken(body)
}

fn invalid_status(body: &Value) -> bool {
    body.as_object()
        .is_none_or(|body| !workflow_status(body.get("status")))
}

fn invalid_connection(body: &Value) -> bool {
    body.as_object().is_none_or(|body| {
        CONNECTION_FIELDS
            .iter()
            .any(|field| !non_blank(body.get(*field)))
    })
}

/// The order workflow's input schema requires a string `customerId` and an array `items`;
/// a missing input is `{}`, which lacks them.
fn order_input_broken(input: Option<&Value>) -> bool {
    match input {
        Some(Value::Object(input)) => {
            !input.get("customerId").is_some_and(Value::is_string)
                || !input.get("items").is_some_and(Value::is_array)
        }
        _ => true,
    }
}

fn invalid_run(body: &Value) -> bool {
    let Some(body) = body.as_object() else {
        return true;
    };
    order_input_broken(body.get("input"))
        || !string_or_null(body.get("connectionId"))
        || !string_or_null(body.get("idempotencyKey"))
        || body.get("idempotencyKey") == Some(&json!(""))
}

/// Any object resumes a paused run (`payload` defaults to null).
fn invalid_resume(body: &Value) -> bool {
    !body.is_object()
}

fn invalid_cancel(body: &Value) -> bool {
    body.as_object()
        .is_none_or(|body| !string_or_null(body.get("reason")))
}

fn invalid_rerun(body: &Value) -> bool {
    let Some(body) = body.as_object() else {
        return true;
    };
    body.keys()
        .any(|key| !["fromStep", "input", "version"].contains(&key.as_str()))
        || !body.get("fromStep").is_some_and(Value::is_string)
        || body
            .get("input")
            .is_some_and(|input| !input.is_object() && !input.is_null())
        || body
            .get("version")
            .is_some_and(|version| !version.is_u64() && !version.is_null())
}

fn invalid_replay(body: &Value) -> bool {
    let Some(body) = body.as_object() else {
        return true;
    };
    let given = |key: &str| body.get(key).is_some_and(|v| !v.is_null());
    body.keys()
        .any(|key| key != "version" && key != "definition")
        || body
            .get("version")
            .is_some_and(|version| !version.is_u64() && !version.is_null())
        || body
            .get("definition")
            .is_some_and(|definition| !definition.is_object() && !definition.is_null())
        || (given("version") && given("definition"))
}

/// The fields of a connection body (`id` only when creating), as docs/api.md lists them.
const CONNECTION_BODY_FIELDS: &[&str] = &[
    "id",
    "name",
    "provider",
    "kind",
    "metadata",
    "token",
    "username",
    "password",
    "headerName",
    "headerValue",
    "host",
    "port",
    "security",
    "from",
    "clientId",
    "clientSecret",
    "tokenUrl",
    "refreshToken",
    "scope",
    "baseUrl",
    "status",
    "authConfigId",
];

/// Connection kinds (docs/integrations.md).
const CONNECTION_KINDS: &[&str] = &[
    "bearer",
    "basic",
    "header",
    "oauth2_token",
    "smtp",
    "oauth2",
];

/// A connection body's fields of the wrong type, or unknown ones (`required`: the fields a
/// create needs). Only what no connection body may hold: the checks of values that depend on
/// the kind are left to the route.
fn connection_broken(body: &Value, creating: bool) -> bool {
    let Some(body) = body.as_object() else {
        return true;
    };
    if body
        .keys()
        .any(|key| !CONNECTION_BODY_FIELDS.contains(&key.as_str()) || (key == "id" && !creating))
    {
        return true;
    }
    let text_or_null = |value: &Value| value.is_string() || value.is_null();
    for (key, value) in body {
        let broken = match key.as_str() {
            "metadata" => false,
            "port" => !(value.is_null() || value.is_i64()),
            "kind" => match value {
                Value::String(kind) => !CONNECTION_KINDS.contains(&kind.as_str()),
                Value::Null => creating,
                _ => true,
            },
            "status" => match value {
                Value::String(status) => status != "active" && status != "disabled",
                Value::Null => false,
                _ => true,
            },
            "name" | "provider" if creating => !value.is_string(),
            _ => !text_or_null(value),
        };
        if broken {
            return true;
        }
    }
    creating
        && ["name", "provider", "kind"]
            .iter()
            .any(|f| !body.contains_key(*f))
}

fn invalid_new_connection(body: &Value) -> bool {
    connection_broken(body, true)
}

fn invalid_connection_patch(body: &Value) -> bool {
    connection_broken(body, false)
}

fn invalid_key(body: &Value) -> bool {
    let Some(body) = body.as_object() else {
        return true;
    };
    let unknown_field = body.keys().any(|key| key != "name" && key != "scopes");
    let name_broken = match body.get("name") {
        Some(Value::String(name)) => {
            name.trim().is_empty() || name.trim().chars().any(char::is_control)
        }
        _ => true,
    };
    let scopes_broken = match body.get("scopes") {
        Some(Value::Array(scopes)) => {
            scopes.is_empty()
                || scopes
                    .iter()
                    .any(|scope| !scope.as_str().is_some_and(|s| SCOPES.contains(&s)))
        }
        _ => true,
    };
    unknown_field || name_broken || scopes_broken
}

/// Flowra's activeStatus body: at least one of its four keys, each `active` / `inactive` /
/// `true` / `false` (any case) or a boolean, all agreeing.
fn invalid_active_status(body: &Value) -> bool {
    let Some(body) = body.as_object() else {
        return true;
    };
    let mut words = Vec::new();
    for key in ACTIVE_KEYS {
        let word = match body.get(key) {
            None => continue,
            Some(Value::Bool(active)) => Some(*active),
            Some(Value::String(text)) => match text.trim().to_ascii_lowercase().as_str() {
                "active" | "true" => Some(true),
                "inactive" | "false" => Some(false),
                _ => None,
            },
            Some(_) => None,
        };
        match word {
            Some(word) => words.push(word),
            None => return true,
        }
    }
    words.is_empty() || words.iter().any(|word| *word != words[0])
}

/// Flowra's execute body: the canonical run body when it has one of its keys, else the
/// input itself (`{}`: no input).
fn invalid_flowra_execute(body: &Value) -> bool {
    let Some(fields) = body.as_object() else {
        return true;
    };
    if RUN_FIELDS.iter().any(|key| fields.contains_key(*key)) {
        return invalid_run(body);
    }
    order_input_broken(Some(body).filter(|_| !fields.is_empty()))
}

/// Flowra's resume takes any JSON value as (or around) the payload.
fn invalid_flowra_resume(_body: &Value) -> bool {
    false
}

fn names_nothing(_body: &Value) -> bool {
    false
}

/// An upsert's `workflowId` must name a workflow that exists: only the fixture's does.
fn names_other_workflow(body: &Value) -> bool {
    body.get("workflowId") != Some(&json!(FIXTURE_WORKFLOW))
}

fn valid_upsert() -> Value {
    json!({
        "type": "polling",
        "workflowId": FIXTURE_WORKFLOW,
        "config": {"url": "https://example.com/feed.json", "interval": "15m"},
        "status": "enabled",
        "connectionId": "conn_1",
        "providerId": "rss",
        "triggerName": "on_item",
        "webhookData": {"note": "kept as is"},
    })
}

/// A trigger status: `enabled` / `active` / `disabled` / `inactive` in any case, or a bool.
fn trigger_status(value: &Value) -> bool {
    match value {
        Value::Bool(_) => true,
        Value::String(text) => ["enabled", "active", "disabled", "inactive"]
            .iter()
            .any(|word| text.eq_ignore_ascii_case(word)),
        _ => false,
    }
}

fn valid_trigger_patch() -> Value {
    json!({
        "type": "manual",
        "workflowId": FIXTURE_WORKFLOW,
        "config": {"note": "merged"},
        "status": "enabled",
        "connectionId": "conn_1",
        "providerId": "rss",
        "triggerName": "on_item",
        "webhookData": {"note": "kept as is"},
    })
}

/// A trigger edit: an object of the upsert's fields, each present one of its type (`config`
/// an object, merged into whatever the trigger holds, so its content is not judged here).
fn invalid_trigger_patch(body: &Value) -> bool {
    let Some(fields) = body.as_object() else {
        return true;
    };
    fields
        .keys()
        .any(|key| !UPSERT_FIELDS.contains(&key.as_str()))
        || fields.get("type").is_some_and(|kind| {
            !kind
                .as_str()
                .is_some_and(|kind| TRIGGER_KINDS.contains(&kind))
        })
        || fields.get("workflowId").is_some_and(|id| !id.is_string())
        || fields
            .get("config")
            .is_some_and(|config| !config.is_object())
        || ["connectionId", "providerId", "triggerName"]
            .iter()
            .any(|field| !string_or_null(fields.get(*field)))
        || fields
            .get("status")
            .is_some_and(|status| !status.is_null() && !trigger_status(status))
}

fn invalid_trigger_status(body: &Value) -> bool {
    body.as_object()
        .is_none_or(|body| !body.get("status").is_some_and(trigger_status))
}

/// Seed 000's status body: `status` (a trigger status, or `enable` / `disable` in any case)
/// and/or a boolean `enabled`, agreeing when both are sent.
fn invalid_flowra_trigger_status(body: &Value) -> bool {
    let Some(body) = body.as_object() else {
        return true;
    };
    let status = body.get("status").map(|value| match value {
        Value::String(text) if text.eq_ignore_ascii_case("enable") => Some(true),
        Value::String(text) if text.eq_ignore_ascii_case("disable") => Some(false),
        Value::Bool(enabled) => Some(*enabled),
        Value::String(text) => ["enabled", "active"]
            .iter()
            .any(|w| text.eq_ignore_ascii_case(w))
            .then_some(true)
            .or_else(|| {
                ["disabled", "inactive"]
                    .iter()
                    .any(|w| text.eq_ignore_ascii_case(w))
                    .then_some(false)
            }),
        _ => None,
    });
    let enabled = body.get("enabled").map(Value::as_bool);
    match (status, enabled) {
        (None, None) | (Some(None), _) | (_, Some(None)) => true,
        (Some(Some(a)), Some(Some(b))) => a != b,
        _ => false,
    }
}

/// A config the type's schema (`GET /api/v1/trigger-types`) certainly refuses; absent or
/// null is `{}`. Only the schema's plain rules: cron syntax, time zones and signature
/// secrets are left to the handler.
fn trigger_config_broken(kind: &str, config: Option<&Value>) -> bool {
    let empty = Map::new();
    let config = match config {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(config)) => config,
        Some(_) => return true,
    };
    let not_string = |field: &str| config.get(field).is_some_and(|v| !v.is_string());
    match kind {
        "polling" => {
            !matches!(config.get("url"), Some(Value::String(url)) if !url.is_empty())
                || ["interval", "itemsPointer", "idField", "timestampField"]
                    .iter()
                    .any(|field| not_string(field))
        }
        "schedule" => {
            // oneOf: exactly one of cron and interval.
            config.contains_key("cron") == config.contains_key("interval")
                || ["cron", "interval", "timezone", "jitter"]
                    .iter()
                    .any(|field| not_string(field))
                || config.get("overlap").is_some_and(|overlap| {
                    !overlap
                        .as_str()
                        .is_some_and(|o| ["skip", "buffer_one", "allow_all"].contains(&o))
                })
        }
        "webhook" => config.get("signature").is_some_and(|signature| {
            !signature.is_object()
                || !signature["scheme"]
                    .as_str()
                    .is_some_and(|scheme| SIGNATURE_SCHEMES.contains(&scheme))
                || signature["secret"].as_str().is_none_or(str::is_empty)
        }),
        _ => false,
    }
}

/// An upsert: a known `type`, the fixture's workflow, text or null for the optional names,
/// a trigger status or null, a config its type's schema accepts.
fn invalid_upsert(body: &Value) -> bool {
    let Some(fields) = body.as_object() else {
        return true;
    };
    let Some(kind) = fields
        .get("type")
        .and_then(Value::as_str)
        .filter(|kind| TRIGGER_KINDS.contains(kind))
    else {
        return true;
    };
    names_other_workflow(body)
        || ["connectionId", "providerId", "triggerName"]
            .iter()
            .any(|field| !string_or_null(fields.get(*field)))
        || fields
            .get("status")
            .is_some_and(|status| !status.is_null() && !trigger_status(status))
        || trigger_config_broken(kind, fields.get("config"))
}

/// The fixture's webhook trigger has a signature secret and no generated delivery carries
/// a signature header: it refuses every one, whatever the body.
fn unsigned_delivery(_body: &Value) -> bool {
    true
}

/// Whether an upsert must refuse this (percent-encoded) path segment as a slug: slugs are
/// 1 to 100 bytes of letters, digits, `-`, `_` and `.`; bytes that are not UTF-8 are refused
/// before the handler.
fn refused_slug(segment: &str) -> bool {
    let bytes = segment.as_bytes();
    let mut decoded = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .filter(|hex| hex.iter().all(u8::is_ascii_hexdigit))
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                decoded.push(byte);
                i += 3;
            }
            None => {
                decoded.push(bytes[i]);
                i += 1;
            }
        }
    }
    std::str::from_utf8(&decoded).is_err()
        || decoded.is_empty()
        || decoded.len() > 100
        || !decoded
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(b))
}

/// The body as the API reads it, if it is one: within the limit, JSON, blank meaning `{}`.
fn certainly_parsed(body: &[u8]) -> Option<Value> {
    if body.len() > BODY_BYTES_MAX {
        return None;
    }
    let text: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    };
    serde_json::from_slice::<Value>(text).ok()
}

/// The oracle over the bytes as the API reads them: within the limit, blank means `{}`.
fn certainly_invalid(route: &Route, body: &[u8]) -> bool {
    certainly_parsed(body).is_none_or(|value| (route.invalid)(&value))
}

// ---- generators -----------------------------------------------------------------------------

/// Numbers and strings of every kind, including long and non-ASCII ones.
fn json_leaf() -> impl Strategy<Value = Value> {
    let float = prop_oneof![
        any::<f64>(),
        -1e3f64..1e3,
        Just(1.7976931348623157e308),
        Just(-1e300),
        Just(5e-324),
        Just(0.5),
    ]
    .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number));
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        float,
        ".{0,16}".prop_map(Value::String),
        proptest::sample::select(WORDS).prop_map(Value::from),
        prop::collection::vec(any::<char>(), 200..2_000)
            .prop_map(|chars| Value::String(chars.into_iter().collect())),
    ]
}

/// An object key: mostly the route's fields, else another route's, else anything.
fn object_key(fields: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::sample::select(fields).prop_map(str::to_owned),
        1 => proptest::sample::select(ALL_FIELDS).prop_map(str::to_owned),
        1 => "[a-zA-Z_]{1,10}",
        1 => ".{0,6}",
    ]
}

/// Any JSON value, nested a few levels, objects keyed as `object_key`.
fn json_value(fields: &'static [&'static str]) -> BoxedStrategy<Value> {
    json_leaf()
        .prop_recursive(4, 48, 6, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec((object_key(fields), inner), 0..6)
                    .prop_map(|entries| Value::Object(entries.into_iter().collect())),
            ]
        })
        .boxed()
}

fn json_object(fields: &'static [&'static str]) -> impl Strategy<Value = Value> {
    prop::collection::vec((object_key(fields), json_value(fields)), 0..6)
        .prop_map(|entries| Value::Object(entries.into_iter().collect()))
}

fn json_type(value: &Value) -> u8 {
    match value {
        Value::Null => 0,
        Value::Bool(_) => 1,
        Value::Number(_) => 2,
        Value::String(_) => 3,
        Value::Array(_) => 4,
        Value::Object(_) => 5,
    }
}

/// `value` with `replacement` at `pointer` (an object field is added if absent).
fn replace_at(mut value: Value, pointer: &str, replacement: Value) -> Value {
    let Some((parent, last)) = pointer.rsplit_once('/') else {
        return replacement;
    };
    match value.pointer_mut(parent) {
        Some(Value::Object(map)) => {
            map.insert(last.to_owned(), replacement);
        }
        Some(Value::Array(items)) => {
            if let Some(item) = last.parse::<usize>().ok().and_then(|i| items.get_mut(i)) {
                *item = replacement;
            }
        }
        _ => {}
    }
    value
}

/// A valid body with the value at one typed pointer replaced by one of another JSON type.
fn wrong_typed(route: &'static Route) -> impl Strategy<Value = Value> {
    (
        proptest::sample::select(route.typed),
        json_value(route.fields),
    )
        .prop_filter_map(
            "same JSON type as the valid value",
            move |(pointer, new)| {
                let valid = (route.valid)();
                let same = valid
                    .pointer(pointer)
                    .is_some_and(|old| json_type(old) == json_type(&new));
                (!same).then(|| replace_at(valid, pointer, new))
            },
        )
}

/// `{"field": FRAGMENT}` or the bare fragment, for raw text that is not a `Value`.
fn placed(route: &'static Route, fragment: String) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(fragment.clone().into_bytes()),
        proptest::sample::select(route.fields)
            .prop_map(move |field| format!("{{\"{field}\": {fragment}}}").into_bytes()),
    ]
}

/// Arrays, objects or both nested around and past serde_json's recursion limit (128),
/// closed or not; the deepest ones are past the body limit too. Objects are keyed by one of
/// the route's fields: JSON sets no depth limit and serde skips an unknown field without
/// descending, so `{"a": <deep>}` is a valid cancel, not a robustness case.
fn deeply_nested(route: &'static Route) -> impl Strategy<Value = Vec<u8>> {
    (
        prop_oneof![100usize..200, 200usize..10_000],
        0u8..3,
        any::<bool>(),
        proptest::sample::select(route.fields),
    )
        .prop_flat_map(move |(depth, kind, closed, field)| {
            let array = |level: usize| kind == 0 || (kind == 2 && level.is_multiple_of(2));
            let mut text = String::new();
            for level in 0..depth {
                if array(level) {
                    text.push('[');
                } else {
                    text.push_str(&format!("{{\"{field}\":"));
                }
            }
            text.push('1');
            if closed {
                for level in (0..depth).rev() {
                    text.push(if array(level) { ']' } else { '}' });
                }
            }
            placed(route, text)
        })
}

/// JSON text no `Value` holds: numbers out of range, bad literals, lone surrogates.
fn bad_literal(route: &'static Route) -> impl Strategy<Value = Vec<u8>> {
    proptest::sample::select(
        &[
            "1e999",
            "-1e400",
            "1.8e308",
            "NaN",
            "Infinity",
            "-",
            "01",
            "0x1F",
            "1.",
            ".5",
            "+1",
            "1e",
            "tru",
            "nul",
            "\"\\ud800\"",
            "\"\\u00\"",
            "\"unterminated",
            "'single'",
            "undefined",
        ][..],
    )
    .prop_flat_map(move |literal| placed(route, literal.to_owned()))
}

/// A string value making the body a little under or far over the body limit.
fn huge_string(route: &'static Route) -> impl Strategy<Value = Vec<u8>> {
    (
        object_key(route.fields),
        prop_oneof![
            BODY_BYTES_MAX - 64..BODY_BYTES_MAX + 64,
            BODY_BYTES_MAX..BODY_BYTES_MAX * 4
        ],
        proptest::sample::select(&["a", "é", "\\\"", "😀"][..]),
    )
        .prop_map(|(key, bytes, unit)| {
            let text = unit.repeat(bytes / unit.len());
            format!("{{{}: \"{text}\"}}", Value::String(key)).into_bytes()
        })
}

/// Bytes that are not one JSON value: random bytes, near-JSON, truncated or padded bodies,
/// invalid UTF-8 in a field's string.
fn not_json(route: &'static Route) -> impl Strategy<Value = Vec<u8>> {
    let valid = (route.valid)().to_string();
    let truncated = {
        let valid = valid.clone();
        (0..valid.len()).prop_map(move |end| valid.as_bytes()[..end].to_vec())
    };
    let padded = {
        let valid = valid.clone();
        proptest::sample::select(&["x", "}", "{}", ",", " null", "\u{0}"][..])
            .prop_map(move |tail| format!("{valid}{tail}").into_bytes())
    };
    let bom = Just(format!("\u{feff}{valid}").into_bytes());
    let bad_utf8 = proptest::sample::select(route.fields).prop_map(|field| {
        let mut bytes = format!("{{\"{field}\": \"").into_bytes();
        bytes.extend_from_slice(&[0xff, 0xfe, 0xc3]);
        bytes.extend_from_slice(b"\"}");
        bytes
    });
    let near_json = proptest::sample::select(
        &[
            "{",
            "}",
            "[",
            "{\"name\"",
            "{'name': 'x'}",
            "{name: \"x\"}",
            "// comment\n{}",
            "{\"a\": 1,}",
            "[1,]",
            "<xml/>",
            "name=x&status=active",
            "{}{}",
            "null null",
            "\"\\x41\"",
        ][..],
    )
    .prop_map(|text| text.as_bytes().to_vec());
    prop_oneof![
        prop::collection::vec(any::<u8>(), 1..256),
        near_json,
        truncated,
        padded,
        bom,
        bad_utf8,
    ]
}

/// A request body and the name of the generator that made it.
type Generated = (Vec<u8>, &'static str);

/// A request body and the generator it came from.
fn body(route: &'static Route) -> impl Strategy<Value = Generated> {
    let to_bytes = |value: Value| value.to_string().into_bytes();
    let mut arms: Vec<(u32, BoxedStrategy<Generated>)> = vec![
        (
            3,
            json_value(route.fields)
                .prop_map(to_bytes)
                .prop_map(|b| (b, "any JSON"))
                .boxed(),
        ),
        (
            3,
            json_object(route.fields)
                .prop_map(to_bytes)
                .prop_map(|b| (b, "object"))
                .boxed(),
        ),
        (
            4,
            wrong_typed(route)
                .prop_map(to_bytes)
                .prop_map(|b| (b, "wrong type"))
                .boxed(),
        ),
        (2, deeply_nested(route).prop_map(|b| (b, "deep")).boxed()),
        (
            1,
            bad_literal(route).prop_map(|b| (b, "bad literal")).boxed(),
        ),
        (
            2,
            huge_string(route).prop_map(|b| (b, "huge string")).boxed(),
        ),
        (2, not_json(route).prop_map(|b| (b, "not JSON")).boxed()),
        (
            1,
            proptest::sample::select(&["", " ", "\r\n\t "][..])
                .prop_map(|b| (b.as_bytes().to_vec(), "empty"))
                .boxed(),
        ),
    ];
    if route.resource != Resource::Nothing {
        // A valid body can only be sent where nothing exists; there it must get 404.
        arms.push((
            1,
            Just(((route.valid)().to_string().into_bytes(), "valid")).boxed(),
        ));
    }
    Union::new_weighted(arms)
}

/// Where a request goes.
#[derive(Clone, Debug)]
enum Target {
    /// The active order workflow, the paused run, the manual trigger (by id, or by slug for
    /// upserts), or the signed webhook trigger.
    Existing,
    /// An id that names nothing; for upserts, a segment that is not a slug.
    Missing,
    /// A percent-encoded path segment of any bytes.
    Garbage(String),
}

fn percent_encoded(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(b) {
                char::from(*b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn target() -> impl Strategy<Value = Target> {
    let garbage = prop_oneof![
        ".{1,40}".prop_map(|text| percent_encoded(text.as_bytes())),
        prop::collection::vec(any::<u8>(), 1..12).prop_map(|bytes| percent_encoded(&bytes)),
        "[a-z_]{300,600}",
        proptest::sample::select(&["..", ".", "run_", "wf_", "%00", "%2F", "%20"][..])
            .prop_map(str::to_owned),
    ];
    prop_oneof![
        3 => Just(Target::Existing),
        1 => Just(Target::Missing),
        1 => garbage.prop_map(Target::Garbage),
    ]
}

fn content_type() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        2 => Just(Some("application/json".to_owned())),
        1 => Just(None),
        2 => proptest::sample::select(&[
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "application/json; charset=utf-16",
            "application/xml",
            "application/octet-stream",
        ][..])
        .prop_map(|t| Some(t.to_owned())),
        1 => "[a-z]{1,10}/[a-z0-9.+-]{1,16}".prop_map(Some),
    ]
}

/// One generated request.
#[derive(Clone)]
struct Case {
    target: Target,
    content_type: Option<String>,
    body: Vec<u8>,
    origin: &'static str,
}

impl std::fmt::Debug for Case {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = String::from_utf8_lossy(&self.body);
        let shown: String = text.chars().take(300).collect();
        f.debug_struct("Case")
            .field("origin", &self.origin)
            .field("target", &self.target)
            .field("content_type", &self.content_type)
            .field("body_bytes", &self.body.len())
            .field("body", &shown)
            .finish()
    }
}

/// Requests the route must refuse: a body it could accept goes to an id that names nothing
/// (for upserts, never to a segment that could be a free slug), or, on routes without an id,
/// is not generated.
fn case(route: &'static Route) -> impl Strategy<Value = Case> {
    (body(route), target(), content_type()).prop_filter_map(
        "a body the route may accept, and no id to send it to",
        move |((body, origin), target, content_type)| {
            let target = match target {
                _ if certainly_invalid(route, &body) => target,
                _ if route.resource == Resource::Nothing => return None,
                Target::Existing => Target::Missing,
                Target::Garbage(segment)
                    if route.resource == Resource::Slug && !refused_slug(&segment) =>
                {
                    Target::Missing
                }
                other => other,
            };
            Some(Case {
                target,
                content_type,
                body,
                origin,
            })
        },
    )
}

// ---- the property -----------------------------------------------------------------------------

/// The router under test with an active workflow (input schema requiring `customerId` and
/// `items`), a run paused at a wait step, an enabled manual trigger of the workflow, and an
/// enabled webhook trigger with a signature secret (of a workflow taking any input, so a
/// delivery let through would start a run).
struct Fixture {
    api: TestApi,
    workflow_id: String,
    run_id: String,
    trigger_id: String,
    webhook_id: String,
    webhook_trigger_id: String,
    connection_id: String,
}

/// Upserts the trigger `slug`; returns its data.
async fn trigger(api: &TestApi, slug: &str, body: Value) -> Value {
    let created = api
        .call(Method::PUT, &format!("/api/v1/triggers/{slug}"), body)
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    created.body["data"].clone()
}

async fn fixture() -> Fixture {
    let api = TestApi::with_config(ApiConfig {
        max_body_bytes: BODY_BYTES_MAX,
        execute_per_minute: 1_000_000,
        ..ApiConfig::default()
    })
    .await;
    let workflow_id = api.active_workflow(order_workflow()).await;
    assert_eq!(workflow_id.len(), FIXTURE_WORKFLOW.len(), "{workflow_id}");
    let manual = trigger(
        &api,
        TRIGGER_SLUG,
        json!({"type": "manual", "workflowId": workflow_id}),
    )
    .await;
    let echo = api
        .active_workflow(
            json!({"name": "echo", "steps": [{"id": "seen", "type": "transform",
            "config": {"mapping": {"body": "{{input.body}}"}}}]}),
        )
        .await;
    let hook = trigger(
        &api,
        "robust-hook",
        json!({"type": "webhook", "workflowId": echo,
               "config": {"signature": {"scheme": "github", "secret": WEBHOOK_SECRET}}}),
    )
    .await;
    let connection = api
        .post(
            "/api/v1/connections",
            json!({"id": "conn_robust", "name": "robust", "provider": "stripe",
                   "kind": "bearer", "token": "sk_test_robust"}),
        )
        .await;
    assert_eq!(
        connection.status,
        StatusCode::CREATED,
        "{}",
        connection.body
    );
    let approval = api
        .active_workflow(json!({"name": "approval", "steps": [{"id": "approve", "type": "wait"}]}))
        .await;
    let started = api
        .post(&format!("/api/v1/workflows/{approval}/run"), json!({}))
        .await;
    assert_eq!(started.status, StatusCode::ACCEPTED, "{}", started.body);
    let run_id = started.body["data"]["runId"]
        .as_str()
        .expect("runId")
        .to_owned();
    for _ in 0..500 {
        let run = api.get(&format!("/api/v1/runs/{run_id}")).await;
        if run.body["data"]["status"] == "paused" {
            return Fixture {
                api,
                workflow_id,
                run_id,
                trigger_id: manual["id"].as_str().expect("trigger id").to_owned(),
                webhook_id: hook["webhookId"].as_str().expect("webhookId").to_owned(),
                webhook_trigger_id: hook["id"].as_str().expect("trigger id").to_owned(),
                connection_id: "conn_robust".to_owned(),
            };
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("run {run_id} did not pause");
}

/// Error codes each refusal status may carry (docs: the error envelope).
fn codes_for(status: StatusCode) -> &'static [&'static str] {
    match status {
        StatusCode::BAD_REQUEST => &["VALIDATION_ERROR", "INVALID_STATUS"],
        StatusCode::UNAUTHORIZED => &["UNAUTHORIZED"],
        StatusCode::NOT_FOUND => &["NOT_FOUND"],
        StatusCode::PAYLOAD_TOO_LARGE => &["PAYLOAD_TOO_LARGE"],
        _ => &[],
    }
}

/// `path` with its `{...}` parameter replaced by `id`.
fn fill(path: &str, id: &str) -> String {
    match (path.find('{'), path.find('}')) {
        (Some(open), Some(close)) => format!("{}{id}{}", &path[..open], &path[close + 1..]),
        _ => path.to_owned(),
    }
}

/// `body` with every [`FIXTURE_WORKFLOW`] replaced by the workflow's real id (same length).
fn with_workflow(body: &[u8], workflow_id: &str) -> Vec<u8> {
    let from = FIXTURE_WORKFLOW.as_bytes();
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    while i < body.len() {
        if body[i..].starts_with(from) {
            out.extend_from_slice(workflow_id.as_bytes());
            i += from.len();
        } else {
            out.push(body[i]);
            i += 1;
        }
    }
    out
}

/// What the journal gained while the request was answered, if it is no more than one
/// TriggerRejected event in the webhook trigger's stream (a refused delivery's record);
/// otherwise a description of what was written.
async fn rejection_only(fixture: &Fixture, before: journal::Position) -> Result<usize, String> {
    let appended = fixture
        .api
        .store
        .read_all(journal::Position(before.0 + 1), 100)
        .await
        .map_err(|e| format!("read_all: {e}"))?;
    let rejected = TriggerEvent::TriggerRejected {
        reason: String::new(),
    }
    .tag();
    let stream = format!("trigger-{}", fixture.webhook_trigger_id);
    let runs: Vec<&str> = appended
        .iter()
        .map(|e| e.stream.as_str())
        .filter(|s| s.starts_with("run-"))
        .collect();
    let only_rejection = appended.len() <= 1
        && appended
            .iter()
            .all(|e| e.stream.as_str() == stream && e.event_type == rejected);
    if runs.is_empty() && only_rejection {
        Ok(appended.len())
    } else {
        Err(format!(
            "runs started: {runs:?}; written: {:?}",
            appended
                .iter()
                .map(|e| format!("{} {:?}", e.stream.as_str(), e.event_type))
                .collect::<Vec<_>>()
        ))
    }
}

/// Sends `case` to `route`; returns the (refusal) status.
async fn check(fixture: &Fixture, route: &Route, case: &Case) -> Result<StatusCode, TestCaseError> {
    let id = match (&case.target, route.resource) {
        (_, Resource::Nothing) => String::new(),
        (Target::Existing, Resource::Workflow) => fixture.workflow_id.clone(),
        (Target::Existing, Resource::Run) => fixture.run_id.clone(),
        (Target::Existing, Resource::Trigger) => fixture.trigger_id.clone(),
        (Target::Existing, Resource::Slug) => TRIGGER_SLUG.to_owned(),
        (Target::Existing, Resource::Webhook) => fixture.webhook_id.clone(),
        (Target::Existing, Resource::Connection) => fixture.connection_id.clone(),
        (Target::Missing, Resource::Workflow) => MISSING_WORKFLOW.to_owned(),
        (Target::Missing, Resource::Run) => MISSING_RUN.to_owned(),
        (Target::Missing, Resource::Trigger) => MISSING_TRIGGER.to_owned(),
        (Target::Missing, Resource::Slug) => NOT_A_SLUG.to_owned(),
        (Target::Missing, Resource::Webhook) => MISSING_WEBHOOK.to_owned(),
        (Target::Missing, Resource::Connection) => MISSING_CONNECTION.to_owned(),
        (Target::Garbage(id), _) => id.clone(),
    };
    let uri = fill(route.path, &id);
    let body = with_workflow(&case.body, &fixture.workflow_id);
    let mut request = Request::builder()
        .method(route.method)
        .uri(&uri)
        .header("x-api-key", &fixture.api.admin);
    if let Some(content_type) = &case.content_type {
        request = request.header(header::CONTENT_TYPE, content_type);
    }
    let request = request
        .body(Body::from(body))
        .map_err(|e| TestCaseError::fail(format!("request {uri}: {e}")))?;
    let before = fixture.api.journal_position();
    let response = fixture
        .api
        .router
        .clone()
        .oneshot(request)
        .await
        .map_err(|e| TestCaseError::fail(format!("router: {e}")))?;
    let status = response.status();
    let json_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let headers = response.headers().clone();
    let bytes = response
        .into_body()
        .collect()
        .await
        .map_err(|e| TestCaseError::fail(format!("body: {e}")))?
        .to_bytes();
    let method = Method::from_bytes(route.method.as_bytes()).expect("a method");
    support::contract::check(&method, &uri, status, &headers, &bytes);
    let after = fixture.api.journal_position();
    let text = String::from_utf8_lossy(&bytes);

    let existing = matches!(case.target, Target::Existing);
    let mut allowed = vec![StatusCode::PAYLOAD_TOO_LARGE];
    if route.resource == Resource::Webhook {
        // The body is never parsed: the signed trigger refuses it, an unknown id is 404, a
        // segment that is not UTF-8 is refused before the handler.
        match case.target {
            Target::Existing => allowed.push(StatusCode::UNAUTHORIZED),
            Target::Missing => allowed.push(StatusCode::NOT_FOUND),
            Target::Garbage(_) => allowed.extend([StatusCode::NOT_FOUND, StatusCode::BAD_REQUEST]),
        }
    } else {
        allowed.push(StatusCode::BAD_REQUEST);
        let target_missing =
            !existing && !matches!(route.resource, Resource::Nothing | Resource::Slug);
        let body_names_missing =
            certainly_parsed(&case.body).is_some_and(|value| (route.names_missing)(&value));
        if target_missing || body_names_missing {
            allowed.push(StatusCode::NOT_FOUND);
        }
    }
    prop_assert!(
        allowed.contains(&status),
        "{} {uri}: status {status}, expected one of {allowed:?}: {text}",
        route.method
    );
    prop_assert!(json_type, "{status} is not application/json: {text}");
    let reply: Value = serde_json::from_slice(&bytes)
        .map_err(|e| TestCaseError::fail(format!("{status}: body is not JSON ({e}): {text}")))?;
    let fields: Vec<&String> = reply
        .as_object()
        .map(|o| o.keys().collect())
        .unwrap_or_default();
    prop_assert_eq!(fields, vec!["error", "success"], "envelope: {}", reply);
    prop_assert_eq!(&reply["success"], &json!(false), "envelope: {}", reply);
    let error = &reply["error"];
    let error_fields: Vec<&String> = error
        .as_object()
        .map(|o| o.keys().collect())
        .unwrap_or_default();
    prop_assert_eq!(
        error_fields,
        vec!["code", "details", "message"],
        "error: {}",
        reply
    );
    let code = error["code"].as_str().unwrap_or_default();
    prop_assert!(
        codes_for(status).contains(&code),
        "{status} with code {code:?}: {reply}"
    );
    prop_assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| !m.trim().is_empty()),
        "empty message: {reply}"
    );
    let details = error["details"].as_array();
    prop_assert!(details.is_some(), "details is not an array: {reply}");
    for detail in details.into_iter().flatten() {
        prop_assert!(
            detail["path"]
                .as_array()
                .is_some_and(|p| p.iter().all(Value::is_string))
                && detail["message"].is_string(),
            "detail {detail} is not {{path: [string], message: string}}: {reply}"
        );
    }
    if route.resource == Resource::Webhook && existing && status == StatusCode::UNAUTHORIZED {
        // By design a refused delivery is recorded (TriggerRejected in the trigger's stream):
        // the journal moves by exactly that event, and no run stream appears.
        let written = rejection_only(fixture, before).await;
        prop_assert!(
            written == Ok(1),
            "{} {uri}: a refused delivery must write one TriggerRejected and start no run: {written:?}",
            route.method
        );
    } else {
        prop_assert_eq!(
            before,
            after,
            "the journal moved on {} {}: {}",
            route.method,
            uri,
            reply
        );
    }
    Ok(status)
}

/// Runs the property for the route `method path` from `routes`.
fn check_route(routes: &'static [Route], method: &str, path: &str) {
    let route = routes
        .iter()
        .find(|r| r.method == method && r.path == path)
        .unwrap_or_else(|| panic!("no route {method} {path} in the table"));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let fixture = runtime.block_on(fixture());
    let mut runner = TestRunner::new(Config {
        // PROPTEST_CASES runs more for a longer local hunt.
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(CASES),
        // Bodies are large; keep a failure's shrinking short.
        max_shrink_iters: 256,
        max_shrink_time: 20_000,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "proptest-regressions/robustness.txt",
        ))),
        ..Config::default()
    });
    // What was sent and answered, for `--nocapture`: generator and status.
    let seen = std::cell::RefCell::new(std::collections::BTreeMap::<String, usize>::new());
    let result = runner.run(&case(route), |case| {
        let status = runtime.block_on(check(&fixture, route, &case))?;
        let target = match case.target {
            _ if route.resource == Resource::Nothing => "route",
            Target::Existing => "existing",
            Target::Missing => "missing",
            Target::Garbage(_) => "garbage id",
        };
        let key = format!("{} to {target}: {}", case.origin, status.as_u16());
        *seen.borrow_mut().entry(key).or_default() += 1;
        Ok(())
    });
    eprintln!("{method} {path}: {:#?}", seen.borrow());
    if let Err(error) = result {
        panic!("{method} {path}: {error}");
    }
}

#[test]
fn every_canonical_write_route_is_covered() {
    for (method, path) in api::openapi::CANONICAL_ROUTES {
        if ["POST", "PATCH", "PUT"].contains(method) {
            assert!(
                CANONICAL_ROUTES
                    .iter()
                    .any(|r| r.method == *method && r.path == *path),
                "{method} {path} reads a body but is not in CANONICAL_ROUTES here"
            );
        }
    }
}

/// The oracles are not vacuous: each refuses some bodies and accepts its valid one.
#[test]
fn the_oracles_accept_the_valid_bodies() {
    for route in CANONICAL_ROUTES
        .iter()
        .chain(FLOWRA_ROUTES)
        .chain(TRIGGER_COMPAT_ROUTES)
    {
        let valid = (route.valid)().to_string();
        if route.resource == Resource::Webhook {
            // Valid only when signed, and nothing generated is: every delivery is refused.
            assert!(certainly_invalid(route, valid.as_bytes()), "{}", route.path);
            continue;
        }
        assert!(
            !certainly_invalid(route, valid.as_bytes()),
            "{} {}: {valid}",
            route.method,
            route.path
        );
        assert!(certainly_invalid(route, b"{\"x\": "), "{}", route.path);
    }
    assert!(invalid_run(
        &json!({"input": order_input(), "idempotencyKey": ""})
    ));
    assert!(invalid_update(&json!({"name": null})));
    assert!(!invalid_update(&json!({"description": null})));
    assert!(invalid_active_status(
        &json!({"activeStatus": "active", "isActive": false})
    ));
    let upsert = |kind: &str, config: Value| json!({"type": kind, "workflowId": FIXTURE_WORKFLOW, "config": config});
    assert!(!invalid_upsert(&upsert("manual", Value::Null)));
    assert!(!invalid_upsert(&upsert(
        "schedule",
        json!({"cron": "0 9 * * *"})
    )));
    assert!(invalid_upsert(&upsert("schedule", json!({}))));
    assert!(invalid_upsert(&upsert("polling", json!({"url": ""}))));
    assert!(invalid_upsert(&upsert(
        "webhook",
        json!({"signature": null})
    )));
    assert!(!invalid_upsert(&upsert(
        "webhook",
        json!({"signature": {"scheme": "github", "secret": "s"}})
    )));
    assert!(invalid_upsert(&upsert("cron", json!({}))));
    assert!(invalid_upsert(
        &json!({"type": "manual", "workflowId": MISSING_WORKFLOW})
    ));
    assert!(!invalid_trigger_status(&json!({"status": "INACTIVE"})));
    assert!(invalid_trigger_status(&json!({"status": "true"})));
    assert!(refused_slug(NOT_A_SLUG));
    assert!(refused_slug("%C3"));
    assert!(refused_slug(&"a".repeat(101)));
    assert!(!refused_slug(TRIGGER_SLUG));
    assert!(!refused_slug(".."));
    assert!(!refused_slug("%41b"));
    assert_eq!(
        fill("/api/v1/webhooks/{webhookId}", "abc"),
        "/api/v1/webhooks/abc"
    );
    assert_eq!(
        with_workflow(FIXTURE_WORKFLOW.as_bytes(), MISSING_WORKFLOW),
        MISSING_WORKFLOW.as_bytes()
    );
}

#[test]
fn create_connection() {
    check_route(CANONICAL_ROUTES, "POST", "/api/v1/connections");
}

#[test]
fn update_connection() {
    check_route(CANONICAL_ROUTES, "PATCH", "/api/v1/connections/{id}");
}

#[test]
fn create_workflow() {
    check_route(CANONICAL_ROUTES, "POST", "/api/v1/workflows");
}

#[test]
fn update_workflow() {
    check_route(CANONICAL_ROUTES, "PATCH", "/api/v1/workflows/{id}");
}

#[test]
fn set_workflow_status() {
    check_route(CANONICAL_ROUTES, "PATCH", "/api/v1/workflows/{id}/status");
}

#[test]
fn workflow_connections() {
    check_route(
        CANONICAL_ROUTES,
        "PATCH",
        "/api/v1/workflows/{id}/connections",
    );
}

#[test]
fn run_workflow() {
    check_route(CANONICAL_ROUTES, "POST", "/api/v1/workflows/{id}/run");
}

#[test]
fn resume_run() {
    check_route(CANONICAL_ROUTES, "POST", "/api/v1/runs/{id}/resume");
}

#[test]
fn cancel_run() {
    check_route(CANONICAL_ROUTES, "POST", "/api/v1/runs/{id}/cancel");
}

#[test]
fn rerun_run() {
    check_route(CANONICAL_ROUTES, "POST", "/api/v1/runs/{id}/rerun");
}

#[test]
fn replay_run() {
    check_route(CANONICAL_ROUTES, "POST", "/api/v1/runs/{id}/replay");
}

#[test]
fn create_key() {
    check_route(CANONICAL_ROUTES, "POST", "/api/v1/keys");
}

#[test]
fn upsert_trigger() {
    check_route(CANONICAL_ROUTES, "PUT", "/api/v1/triggers/{id}");
}

#[test]
fn set_trigger_status() {
    check_route(CANONICAL_ROUTES, "PATCH", "/api/v1/triggers/{id}/status");
}

#[test]
fn fire_trigger() {
    check_route(CANONICAL_ROUTES, "POST", "/api/v1/triggers/{id}/fire");
}

#[test]
fn edit_trigger() {
    check_route(CANONICAL_ROUTES, "PATCH", "/api/v1/triggers/{id}");
}

#[test]
fn invoke_trigger() {
    check_route(CANONICAL_ROUTES, "POST", "/api/v1/triggers/{id}/invoke");
}

#[test]
fn webhook_delivery() {
    check_route(CANONICAL_ROUTES, "POST", "/api/v1/webhooks/{webhookId}");
}

#[test]
fn flowra_trigger_upsert() {
    check_route(
        TRIGGER_COMPAT_ROUTES,
        "POST",
        "/api/v1/trigger_instances/{slug}/upsert",
    );
}

#[test]
fn flowra_trigger_status() {
    check_route(
        TRIGGER_COMPAT_ROUTES,
        "PATCH",
        "/api/v1/trigger_instances/manage/{id}/status",
    );
}

#[test]
fn phinite_trigger() {
    check_route(TRIGGER_COMPAT_ROUTES, "POST", "/trigger/{flow_id}");
}

#[test]
fn flowra_create() {
    check_route(FLOWRA_ROUTES, "POST", "/api/v1/workflow/manager/create");
}

#[test]
fn flowra_update() {
    check_route(
        FLOWRA_ROUTES,
        "PATCH",
        "/api/v1/workflow/manager/update/{id}",
    );
}

#[test]
fn flowra_active_status() {
    check_route(
        FLOWRA_ROUTES,
        "PATCH",
        "/api/v1/workflow/manager/activeStatus/{id}",
    );
}

#[test]
fn flowra_change_connection() {
    check_route(
        FLOWRA_ROUTES,
        "PATCH",
        "/api/v1/workflow/manager/change-connection/{id}",
    );
}

#[test]
fn flowra_execute() {
    check_route(
        FLOWRA_ROUTES,
        "POST",
        "/api/v1/workflow/manager/execute/{id}",
    );
}

#[test]
fn flowra_cancel() {
    check_route(
        FLOWRA_ROUTES,
        "POST",
        "/api/v1/workflow/manager/executions/thread/{id}/cancel",
    );
}

#[test]
fn flowra_resume() {
    check_route(
        FLOWRA_ROUTES,
        "POST",
        "/api/v1/workflow/manager/executions/thread/{id}/resume",
    );
}
