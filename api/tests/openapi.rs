//! The OpenAPI document at `/api/v1/openapi.json`: it is served, it describes exactly
//! `CANONICAL_ROUTES`, and those routes exist in the router.

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
    for (method, path) in CANONICAL_ROUTES {
        let operation = &doc["paths"][path][method.to_lowercase()];
        let responses = operation["responses"]
            .as_object()
            .unwrap_or_else(|| panic!("{method} {path}: no responses"));
        if open.contains(path) {
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
        if *path != "/api/v1/keys" && *path != "/api/v1/workflows" && *path != "/api/v1/runs" {
            assert!(responses.contains_key("404"), "{method} {path}: no 404");
        }
        if ["POST", "PATCH"].contains(method) {
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
            "steps"
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
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
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
    ];
    let mut missing = Vec::new();
    let mut now_routed = Vec::new();
    for &(method, path) in CANONICAL_ROUTES {
        let mut uri = path.to_owned();
        for (prefix, id) in ids {
            if path.starts_with(prefix) {
                uri = uri.replace("{id}", id);
            }
        }
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
