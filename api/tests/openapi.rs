//! The OpenAPI document at `/api/v1/openapi.json`: it is served, it describes exactly
//! `CANONICAL_ROUTES`, those routes exist in the router, and every route of the router that
//! is not a compatibility route is in the document. (Every answer the API tests get is
//! validated against the document by `support::contract`.)

mod support;

use std::collections::BTreeSet;

use api::openapi::CANONICAL_ROUTES;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use support::TestApi;
use tower::ServiceExt;

/// Documented routes the router does not serve yet. Empty this as they are added.
const NOT_YET_ROUTED: &[(&str, &str)] = &[];

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

async fn document(api: &TestApi) -> Value {
    let reply = api.get("/api/v1/openapi.json").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(
        reply.headers.get("content-type").map(|v| v.as_bytes()),
        Some(&b"application/json"[..])
    );
    reply.body
}

fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let paths = doc["paths"].as_object().expect("paths is an object");
    let mut routes = BTreeSet::new();
    for (path, item) in paths {
        let item = item.as_object().expect("a path item is an object");
        for method in METHODS {
            if item.contains_key(method) {
                routes.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    routes
}

fn canonical() -> BTreeSet<(String, String)> {
    CANONICAL_ROUTES
        .iter()
        .map(|(method, path)| ((*method).to_owned(), (*path).to_owned()))
        .collect()
}

#[tokio::test]
async fn the_document_is_openapi_3_and_needs_no_key() {
    let api = TestApi::new().await;
    let doc = document(&api).await;
    let version = doc["openapi"].as_str().expect("openapi version");
    assert!(version.starts_with("3."), "{version}");
    assert_eq!(doc["info"]["title"], "Duro");

    let anonymous = api
        .call_as("", Method::GET, "/api/v1/openapi.json", Value::Null)
        .await;
    assert_eq!(anonymous.status, StatusCode::OK);
    assert_eq!(anonymous.body, doc);
}

#[tokio::test]
async fn every_canonical_route_is_documented_and_nothing_else() {
    let api = TestApi::new().await;
    let doc = document(&api).await;
    let documented = documented(&doc);
    let canonical = canonical();
    assert_eq!(
        canonical.len(),
        CANONICAL_ROUTES.len(),
        "CANONICAL_ROUTES has repeats"
    );
    let undocumented: Vec<_> = canonical.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "not in the document: {undocumented:?}"
    );
    let unlisted: Vec<_> = documented.difference(&canonical).collect();
    assert!(unlisted.is_empty(), "not in CANONICAL_ROUTES: {unlisted:?}");
    for entry in NOT_YET_ROUTED {
        assert!(
            CANONICAL_ROUTES.contains(entry),
            "{entry:?} is not canonical"
        );
    }
}

#[tokio::test]
async fn operations_name_their_scope_and_their_errors() {
    let api = TestApi::new().await;
    let doc = document(&api).await;
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["apiKey"]["type"], "apiKey");
    assert_eq!(schemes["apiKey"]["in"], "header");
    assert_eq!(schemes["apiKey"]["name"], "x-api-key");
    assert_eq!(schemes["bearerAuth"]["type"], "http");
    assert_eq!(schemes["bearerAuth"]["scheme"], "bearer");

    let open = ["/healthz", "/readyz", "/metrics", "/api/v1/openapi.json"];
    // No API key, but a body, a signature (401) and a trigger that may be missing (404).
    let webhook = "/api/v1/webhooks/{webhookId}";
    // Lists and catalogs: nothing to be missing.
    let no_404 = [
        "/api/v1/keys",
        "/api/v1/workflows",
        "/api/v1/runs",
        "/api/v1/triggers",
        "/api/v1/trigger-types",
        "/api/v1/providers",
        "/api/v1/connections",
    ];
    for (method, path) in CANONICAL_ROUTES {
        let operation = &doc["paths"][path][method.to_lowercase()];
        let responses = operation["responses"]
            .as_object()
            .unwrap_or_else(|| panic!("{method} {path}: no responses"));
        if open.contains(path) {
            continue;
        }
        if *path == webhook {
            assert_eq!(operation["security"], json!([{}]), "{method} {path}");
            let description = operation["description"].as_str().unwrap_or_default();
            assert!(description.starts_with("No API key"), "{description:?}");
            for status in ["200", "202", "400", "401", "404", "413", "500"] {
                assert!(
                    responses.contains_key(status),
                    "{method} {path}: no {status}"
                );
            }
            assert!(!responses.contains_key("403"), "{method} {path}: 403");
            continue;
        }
        let description = operation["description"].as_str().unwrap_or_default();
        assert!(
            description.contains("Required scope: `"),
            "{method} {path}: no scope in {description:?}"
        );
        let security = operation["security"].as_array().expect("security");
        assert!(security.contains(&json!({"apiKey": []})), "{method} {path}");
        assert!(
            security.contains(&json!({"bearerAuth": []})),
            "{method} {path}"
        );
        for status in ["401", "403", "500"] {
            assert!(
                responses.contains_key(status),
                "{method} {path}: no {status}"
            );
        }
        if !no_404.contains(path) {
            assert!(responses.contains_key("404"), "{method} {path}: no 404");
        }
        if ["POST", "PATCH", "PUT"].contains(method) {
            assert!(responses.contains_key("400"), "{method} {path}: no 400");
            assert!(responses.contains_key("413"), "{method} {path}: no 413");
        }
    }

    let run = &doc["paths"]["/api/v1/workflows/{id}/run"]["post"];
    for status in ["200", "202", "400", "404", "413", "429"] {
        assert!(run["responses"].get(status).is_some(), "run: no {status}");
    }
    assert!(run["description"]
        .as_str()
        .is_some_and(|d| d.contains("workflows:execute")));
    assert!(run["parameters"]
        .as_array()
        .expect("run parameters")
        .iter()
        .any(|p| p["name"] == "wait" && p["in"] == "query"));
    assert_eq!(
        run["requestBody"]["required"], false,
        "an empty body is allowed"
    );
    let rate_limited = &doc["components"]["responses"]["RateLimited"];
    assert!(
        rate_limited["headers"].get("Retry-After").is_some(),
        "{rate_limited}"
    );
    assert_eq!(
        doc["paths"]["/api/v1/workflows"]["post"]["responses"]["201"]["content"]
            ["application/json"]["schema"]["$ref"],
        "#/components/schemas/WorkflowResponse"
    );

    let upsert = &doc["paths"]["/api/v1/triggers/{id}"]["put"];
    for status in ["200", "201", "400", "404", "409", "413"] {
        assert!(
            upsert["responses"].get(status).is_some(),
            "upsert: no {status}"
        );
    }
    let fire = &doc["paths"]["/api/v1/triggers/{id}/fire"]["post"];
    for status in ["200", "202", "400", "404", "413", "429"] {
        assert!(fire["responses"].get(status).is_some(), "fire: no {status}");
    }
    assert!(fire["description"]
        .as_str()
        .is_some_and(|d| d.contains("Required scope: `workflows:execute`")));
    assert!(fire["parameters"]
        .as_array()
        .expect("fire parameters")
        .iter()
        .any(|p| p["name"] == "wait" && p["in"] == "query"));
    assert_eq!(fire["requestBody"]["required"], false);
    let list = &doc["paths"]["/api/v1/triggers"]["get"];
    let names: BTreeSet<&str> = list["parameters"]
        .as_array()
        .expect("list parameters")
        .iter()
        .filter(|p| p["in"] == "query")
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert_eq!(
        names,
        BTreeSet::from([
            "workflowId",
            "type",
            "connectedAccountIds",
            "triggerNames",
            "triggerIds",
            "showDisabled",
            "limit",
            "cursor"
        ])
    );
    let webhook = &doc["paths"]["/api/v1/webhooks/{webhookId}"]["post"];
    assert_eq!(webhook["requestBody"]["required"], false);
    assert_eq!(
        webhook["responses"]["202"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/WebhookAcceptedResponse"
    );
}

#[tokio::test]
async fn the_schemas_mirror_the_json_shapes() {
    let api = TestApi::new().await;
    let doc = document(&api).await;
    let schemas = &doc["components"]["schemas"];
    let properties = |name: &str| -> BTreeSet<String> {
        schemas[name]["properties"]
            .as_object()
            .unwrap_or_else(|| panic!("schema {name} has no properties"))
            .keys()
            .cloned()
            .collect()
    };
    let set =
        |names: &[&str]| -> BTreeSet<String> { names.iter().map(|n| (*n).to_owned()).collect() };
    assert_eq!(
        properties("RunRequest"),
        set(&["input", "connectionId", "idempotencyKey"])
    );
    assert_eq!(
        properties("RunStarted"),
        set(&["runId", "status", "workflowId", "workflowVersion"])
    );
    assert_eq!(
        properties("Run"),
        set(&[
            "id",
            "runId",
            "status",
            "workflowId",
            "workflowVersion",
            "input",
            "output",
            "error",
            "startedAt",
            "completedAt",
            "steps",
            "parent",
            "reruns",
            "children",
            "waitingFor",
            "usage"
        ])
    );
    assert_eq!(
        properties("RunStep"),
        set(&[
            "id",
            "status",
            "attempts",
            "output",
            "error",
            "startedAt",
            "completedAt",
            "reused"
        ])
    );
    assert_eq!(properties("RunLink"), set(&["runId", "fromStep"]));
    assert_eq!(
        properties("RerunBody"),
        set(&["fromStep", "input", "version"])
    );
    assert_eq!(properties("ReplayBody"), set(&["version", "definition"]));
    assert_eq!(
        properties("Replay"),
        set(&[
            "runId",
            "workflowId",
            "workflowVersion",
            "status",
            "parent",
            "reruns",
            "timeline",
            "steps",
            "stopped",
            "anomalies",
            "against",
            "divergence"
        ])
    );
    assert_eq!(
        properties("RunEvent"),
        set(&["seq", "position", "type", "timestamp", "data"])
    );
    assert_eq!(properties("ErrorEnvelope"), set(&["success", "error"]));
    assert_eq!(
        properties("ErrorBody"),
        set(&["code", "message", "details"])
    );
    assert_eq!(properties("ErrorDetail"), set(&["path", "message"]));
    assert_eq!(properties("Pagination"), set(&["nextCursor", "limit"]));
    assert_eq!(
        properties("ConnectionBody"),
        set(&["toolkitSlug", "connectionId"])
    );
    assert_eq!(properties("KeyCreate"), set(&["name", "scopes"]));
    assert_eq!(
        properties("Trigger"),
        set(&[
            "id",
            "slug",
            "type",
            "workflowId",
            "connectionId",
            "providerId",
            "triggerName",
            "config",
            "status",
            "webhookId",
            "webhookUrl",
            "apiUrl",
            "webhookData",
            "cursorData",
            "fired",
            "createdBy",
            "updatedBy",
            "createdAt",
            "updatedAt"
        ])
    );
    assert_eq!(
        properties("TriggerUpsert"),
        set(&[
            "type",
            "workflowId",
            "config",
            "connectionId",
            "status",
            "webhookData",
            "providerId",
            "triggerName"
        ])
    );
    assert_eq!(properties("TriggerStatusBody"), set(&["status"]));
    assert_eq!(
        properties("TriggerType"),
        set(&["type", "name", "description", "configSchema"])
    );
    assert_eq!(properties("Sample"), set(&["receivedAt", "payload"]));
    assert_eq!(
        properties("WebhookAccepted"),
        set(&[
            "runId",
            "status",
            "workflowId",
            "workflowVersion",
            "triggerId",
            "duplicate"
        ])
    );
    let kinds: Vec<&str> = schemas["TriggerKind"]["enum"]
        .as_array()
        .expect("TriggerKind enum")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        kinds,
        [
            "schedule",
            "webhook",
            "polling",
            "manual",
            "scheduler",
            "api"
        ]
    );
    // The trigger shapes, against what the handlers answer.
    let keys = |value: &Value| -> BTreeSet<String> {
        value
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default()
    };
    let workflow_id = api
        .active_workflow(
            json!({"name": "hook", "steps": [{"id": "t", "type": "transform",
            "config": {"mapping": {"ok": true}}}]}),
        )
        .await;
    let created = api
        .call(
            Method::PUT,
            "/api/v1/triggers/doc-hook",
            json!({"type": "webhook", "workflowId": workflow_id}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(keys(&created.body["data"]), properties("Trigger"));
    let webhook_id = created.body["data"]["webhookId"]
        .as_str()
        .expect("webhookId");
    let delivered = api
        .call_as(
            "",
            Method::POST,
            &format!("/api/v1/webhooks/{webhook_id}"),
            json!({"ref": "main"}),
        )
        .await;
    assert_eq!(delivered.status, StatusCode::ACCEPTED, "{}", delivered.body);
    assert_eq!(keys(&delivered.body["data"]), properties("WebhookAccepted"));
    let trigger_id = created.body["data"]["id"].as_str().expect("id");
    let samples = api
        .get(&format!("/api/v1/triggers/{trigger_id}/samples"))
        .await;
    assert_eq!(keys(&samples.body["data"][0]), properties("Sample"));
    let types = api.get("/api/v1/trigger-types").await;
    assert_eq!(keys(&types.body["data"][0]), properties("TriggerType"));
    let workflow = properties("Workflow");
    for field in [
        "id",
        "status",
        "version",
        "createdAt",
        "updatedAt",
        "name",
        "steps",
    ] {
        assert!(workflow.contains(field), "Workflow lacks {field}");
    }
    let codes: Vec<&str> = schemas["ErrorCode"]["enum"]
        .as_array()
        .expect("ErrorCode enum")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for code in [
        "NOT_FOUND",
        "VALIDATION_ERROR",
        "INVALID_STATUS",
        "UNAUTHORIZED",
        "FORBIDDEN",
        "CONFLICT",
        "RATE_LIMITED",
        "PAYLOAD_TOO_LARGE",
        "INTERNAL",
    ] {
        assert!(codes.contains(&code), "ErrorCode lacks {code}");
    }
}

/// Sends `method path` with the admin key and returns the status and the body (JSON if it
/// is JSON, otherwise null).
async fn send(api: &TestApi, method: &str, path: &str) -> (StatusCode, Value) {
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header("x-api-key", &api.admin);
    let body = if ["POST", "PATCH", "PUT"].contains(&method) {
        request = request.header("content-type", "application/json");
        Body::from("{}")
    } else {
        Body::empty()
    };
    let response = api
        .router
        .clone()
        .oneshot(request.body(body).expect("request"))
        .await
        .expect("response");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let method = Method::from_bytes(method.as_bytes()).expect("a method");
    support::contract::check(&method, path, status, &headers, &bytes);
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// Whether the router answered as if it had no such route (or no such method on it).
fn unrouted(status: StatusCode, body: &Value) -> bool {
    let message = body["error"]["message"].as_str().unwrap_or_default();
    status == StatusCode::METHOD_NOT_ALLOWED
        || (status == StatusCode::NOT_FOUND && message.starts_with("no route for"))
}

#[tokio::test]
async fn every_canonical_route_is_served() {
    let api = TestApi::new().await;
    let ids = [
        (
            "/api/v1/workflows/{id}",
            "wf_0192d5e4a1b27c3d8e9f0a1b2c3d4e5f",
        ),
        ("/api/v1/runs/{id}", "run_0192d5e4a1b27c3d8e9f0a1b2c3d4e5f"),
        ("/api/v1/keys/{id}", "key_0123456789abcdef0123456789abcdef"),
        (
            "/api/v1/triggers/{id}",
            "trg_0192d5e4a1b27c3d8e9f0a1b2c3d4e5f",
        ),
        ("/api/v1/connections/{id}", "conn_missing"),
        ("/api/v1/providers/{id}", "no-such-provider"),
    ];
    let webhook_id = "0".repeat(64);
    let mut missing = Vec::new();
    let mut now_routed = Vec::new();
    for &(method, path) in CANONICAL_ROUTES {
        let mut uri = path.to_owned();
        for (prefix, id) in ids {
            if path.starts_with(prefix) {
                uri = uri.replace("{id}", id);
            }
        }
        uri = uri.replace("{webhookId}", &webhook_id);
        assert!(!uri.contains('{'), "no id for {path}");
        let (status, body) = send(&api, method, &uri).await;
        let expected_missing = NOT_YET_ROUTED.contains(&(method, path));
        if unrouted(status, &body) {
            if !expected_missing {
                missing.push(format!("{method} {path}: {status} {body}"));
            }
        } else {
            if expected_missing {
                now_routed.push(format!("{method} {path}"));
            }
            if status == StatusCode::NOT_FOUND {
                let message = body["error"]["message"].as_str().unwrap_or_default();
                assert!(
                    message.ends_with("not found"),
                    "{method} {uri}: unexpected 404 {body}"
                );
            }
            assert_ne!(status, StatusCode::UNAUTHORIZED, "{method} {uri}: {body}");
            assert_ne!(status, StatusCode::FORBIDDEN, "{method} {uri}: {body}");
        }
    }
    assert!(
        missing.is_empty(),
        "documented but not routed: {missing:#?}"
    );
    assert!(
        now_routed.is_empty(),
        "routed now: remove from NOT_YET_ROUTED: {now_routed:#?}"
    );
}

/// Paths of the router that are not canonical: the seed compatibility routes (Flowra, StackAI,
/// Phinite) and the dashboard, by prefix. Any other route must be in the document.
const COMPATIBILITY_PREFIXES: &[&str] = &[
    "/api/v1/workflow/manager/",
    "/api/v1/trigger_instances/",
    "/api/v0/",
    "/trigger/",
    "/triggers",
    "/projects/",
    "/providers/",
    "/organizations/",
    "/v1/webhooks/",
    "/ui",
];

/// Every path the router holds, read from its `Debug` form (axum keeps no public list).
fn router_paths(api: &TestApi) -> BTreeSet<String> {
    let debug = format!("{:?}", api.router);
    let mut paths = BTreeSet::new();
    let mut rest = debug.as_str();
    while let Some(start) = rest.find("\"/") {
        let after = &rest[start + 1..];
        let Some(end) = after.find('"') else { break };
        let path = &after[..end];
        if !path.contains("__private__") {
            paths.insert(path.to_owned());
        }
        rest = &after[end..];
    }
    paths
}

#[tokio::test]
async fn every_route_of_the_router_is_documented() {
    let api = TestApi::new().await;
    let doc = document(&api).await;
    // Parameters compare by place, not by name (`{id}` routes `{webhookId}`).
    let shape = |path: &str| -> String {
        path.split('/')
            .map(|s| if s.starts_with('{') { "{}" } else { s })
            .collect::<Vec<_>>()
            .join("/")
    };
    let documented: BTreeSet<(String, String)> = documented(&doc)
        .into_iter()
        .map(|(method, path)| (method, shape(&path)))
        .collect();
    let paths = router_paths(&api);
    // The walk sees the router: known routes of both kinds are among its paths.
    for known in ["/api/v1/runs/{id}", "/healthz", "/trigger/{flow_id}"] {
        assert!(paths.contains(known), "{known} not found in {paths:#?}");
    }
    let mut walked = 0;
    let mut missing = Vec::new();
    for path in paths {
        if COMPATIBILITY_PREFIXES.iter().any(|p| path.starts_with(p)) {
            continue;
        }
        let mut uri = String::new();
        for segment in path.split('/').filter(|s| !s.is_empty()) {
            uri.push('/');
            if segment.starts_with('{') {
                uri.push_str("route-walk-id");
            } else {
                uri.push_str(segment);
            }
        }
        if uri.is_empty() {
            uri.push('/');
        }
        for method in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
            let (status, body) = send(&api, method, &uri).await;
            if unrouted(status, &body) {
                continue;
            }
            walked += 1;
            if !documented.contains(&(method.to_owned(), shape(&path))) {
                missing.push(format!("{method} {path} (answered {status})"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "routes of the router missing from the document: {missing:#?}"
    );
    assert_eq!(walked, CANONICAL_ROUTES.len(), "routes walked");
}

/// Whether `check` refuses this answer (it panics with its reason).
fn refused(method: Method, uri: &str, status: StatusCode, body: &Value) -> bool {
    let mut headers = axum::http::HeaderMap::new();
    headers.insert(
        "content-type",
        axum::http::HeaderValue::from_static("application/json"),
    );
    let bytes = body.to_string().into_bytes();
    std::panic::catch_unwind(|| {
        support::contract::check(&method, uri, status, &headers, &bytes);
    })
    .is_err()
}

#[tokio::test]
async fn the_contract_check_refuses_what_the_document_does_not_say() {
    let envelope = json!({"success": false, "error": {"code": "NOT_FOUND", "message": "Run not found", "details": []}});
    let run = "/api/v1/runs/run_1";
    assert!(!refused(Method::GET, run, StatusCode::NOT_FOUND, &envelope));
    // A status the route does not document, an error code that does not exist, a run
    // without its steps, and a list item of the wrong shape.
    assert!(refused(Method::GET, run, StatusCode::CONFLICT, &envelope));
    let mut unknown_code = envelope.clone();
    unknown_code["error"]["code"] = json!("GONE");
    assert!(refused(
        Method::GET,
        run,
        StatusCode::NOT_FOUND,
        &unknown_code
    ));
    let api = TestApi::new().await;
    let workflow = api.active_workflow(support::order_workflow()).await;
    let started = api
        .post(
            &format!("/api/v1/workflows/{workflow}/run?wait=5"),
            json!({"input": support::order_input()}),
        )
        .await;
    assert_eq!(started.status, StatusCode::OK, "{}", started.body);
    let mut detail = started.body.clone();
    assert!(!refused(Method::GET, run, StatusCode::OK, &detail));
    detail["data"].as_object_mut().expect("run").remove("steps");
    assert!(refused(Method::GET, run, StatusCode::OK, &detail));
    let listed = api.get("/api/v1/runs").await;
    assert!(!refused(
        Method::GET,
        "/api/v1/runs",
        StatusCode::OK,
        &listed.body
    ));
    let mut wrong = listed.body.clone();
    wrong["data"][0]["workflowVersion"] = json!("one");
    assert!(refused(Method::GET, "/api/v1/runs", StatusCode::OK, &wrong));
}

/// The drifts a tool run against the document found: a listing took an empty `to=` and a
/// repeated `limit` (keeping one value), and replay's 400 was undocumented. Every answer
/// here is also checked against the document by `support::contract`.
#[tokio::test]
async fn listings_refuse_empty_and_repeated_parameters_naming_them() {
    let api = TestApi::new().await;
    let workflow = api.active_workflow(support::order_workflow()).await;
    let started = api
        .post(
            &format!("/api/v1/workflows/{workflow}/run?wait=5"),
            json!({"input": support::order_input()}),
        )
        .await;
    assert_eq!(started.status, StatusCode::OK, "{}", started.body);
    let run_id = started.body["data"]["runId"].as_str().expect("runId");
    for listing in ["/api/v1/runs", "/api/v1/workflows", "/api/v1/triggers"] {
        for (query, name) in [
            ("limit=5&limit=6", "limit"),
            ("cursor=", "cursor"),
            ("status=%20", "status"),
        ] {
            let reply = api.get(&format!("{listing}?{query}")).await;
            let error = support::assert_error(&reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
            assert_eq!(
                error["details"][0]["path"],
                json!([name]),
                "{listing}?{query}"
            );
        }
        let fine = api.get(&format!("{listing}?limit=5")).await;
        assert_eq!(fine.status, StatusCode::OK, "{listing}: {}", fine.body);
    }
    let reply = api.get("/api/v1/runs?from=2024-01-01T00:00:00Z&to=").await;
    let error = support::assert_error(&reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    assert_eq!(error["details"][0]["path"], json!(["to"]));
    // `q` may be empty; a list parameter may repeat.
    let searched = api.get("/api/v1/workflows?q=").await;
    assert_eq!(searched.status, StatusCode::OK, "{}", searched.body);
    assert_eq!(searched.body["data"][0]["id"], workflow.as_str());
    let repeated = api.get("/api/v1/triggers?triggerIds=a&triggerIds=b").await;
    assert_eq!(repeated.status, StatusCode::OK, "{}", repeated.body);
    // Listed runs are what the document says: no steps, no input.
    let runs = api.get("/api/v1/runs").await;
    assert_eq!(runs.body["data"][0]["runId"], run_id);
    assert!(runs.body["data"][0].get("steps").is_none(), "{}", runs.body);
    // Replay's version: a whole number, given once.
    for query in ["version=two", "version=1&version=1", "version="] {
        let reply = api
            .get(&format!("/api/v1/runs/{run_id}/replay?{query}"))
            .await;
        let error = support::assert_error(&reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
        assert_eq!(error["details"][0]["path"], json!(["version"]), "{query}");
    }
    let doc = document(&api).await;
    let replay = &doc["paths"]["/api/v1/runs/{id}/replay"]["get"]["responses"];
    assert!(replay.get("400").is_some(), "{replay}");
}
