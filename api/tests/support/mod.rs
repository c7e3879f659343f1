//! A router over an in-memory journal, an admin key, and one-call requests. Every answer
//! `TestApi::raw` gets from a canonical route is validated against the OpenAPI document
//! (`contract`).

#![allow(dead_code)]

pub mod contract;

use std::sync::Arc;

use api::{router, ApiConfig, AppState};
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use axum::Router;
use credentials::connections::SecretKey;
use credentials::keys::Scope;
use engine::executor::SystemClock;
use http_body_util::BodyExt;
use journal::{EventStore, MemoryStore, Position};
use serde_json::{json, Value};
use tower::ServiceExt;

pub struct TestApi {
    pub state: AppState,
    pub router: Router,
    pub store: Arc<MemoryStore>,
    pub admin: String,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl TestApi {
    pub async fn new() -> TestApi {
        TestApi::with_config(ApiConfig::default()).await
    }

    pub async fn with_config(config: ApiConfig) -> TestApi {
        contract::warm_up();
        let store = Arc::new(MemoryStore::new());
        let read_models = readmodels::ReadModels::temporary(store.clone()).expect("read models");
        let state = AppState::new(
            store.clone(),
            Arc::new(SystemClock),
            config,
            read_models,
            SecretKey::generate(),
        );
        let (_, admin) = state
            .keys
            .create("test admin", &[Scope::Admin])
            .await
            .expect("admin key");
        TestApi {
            router: router(state.clone()),
            state,
            store,
            admin,
        }
    }

    /// A new key holding `scopes`.
    pub async fn key(&self, scopes: &[Scope]) -> String {
        self.state
            .keys
            .create("test key", scopes)
            .await
            .expect("key")
            .1
    }

    pub async fn raw(&self, request: Request<Body>) -> Reply {
        let method = request.method().clone();
        let uri = request.uri().to_string();
        let response = self
            .router
            .clone()
            .oneshot(request)
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
        contract::check(&method, &uri, status, &headers, &bytes);
        // An empty body (204 No Content) reads as null.
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|_| {
                panic!(
                    "{status}: body is not JSON: {:?}",
                    String::from_utf8_lossy(&bytes)
                )
            })
        };
        Reply {
            status,
            headers,
            body,
        }
    }

    /// `method path` with `key` as x-api-key and `body` as JSON (no body when null).
    pub async fn call_as(&self, key: &str, method: Method, path: &str, body: Value) -> Reply {
        let mut request = Request::builder().method(method).uri(path);
        if !key.is_empty() {
            request = request.header("x-api-key", key);
        }
        let body = if body.is_null() {
            Body::empty()
        } else {
            request = request.header("content-type", "application/json");
            Body::from(body.to_string())
        };
        self.raw(request.body(body).expect("request")).await
    }

    pub async fn call(&self, method: Method, path: &str, body: Value) -> Reply {
        self.call_as(&self.admin, method, path, body).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.call(Method::GET, path, Value::Null).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.call(Method::POST, path, body).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Reply {
        self.call(Method::PATCH, path, body).await
    }

    /// Creates and activates a workflow; returns its id.
    pub async fn active_workflow(&self, definition: Value) -> String {
        let created = self.post("/api/v1/workflows", definition).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        let id = created.body["data"]["id"]
            .as_str()
            .expect("workflow id")
            .to_owned();
        let activated = self
            .patch(
                &format!("/api/v1/workflows/{id}/status"),
                json!({"status": "active"}),
            )
            .await;
        assert_eq!(activated.status, StatusCode::OK, "{}", activated.body);
        id
    }

    pub fn journal_position(&self) -> Position {
        *self.store.subscribe().borrow()
    }
}

/// Asserts the error envelope with `status` and `code`; returns the error object.
pub fn assert_error(reply: &Reply, status: StatusCode, code: &str) -> Value {
    assert_eq!(reply.status, status, "{}", reply.body);
    assert_eq!(reply.body["success"], false, "{}", reply.body);
    assert_eq!(reply.body["error"]["code"], code, "{}", reply.body);
    assert!(reply.body["error"]["message"].is_string(), "{}", reply.body);
    reply.body["error"].clone()
}

/// Seed 001's "Process Customer Order" (the steps Duro runs today).
pub fn order_workflow() -> Value {
    json!({
        "name": "Process Customer Order",
        "description": "Create invoice and send confirmation for customer order",
        "trigger": { "type": "api" },
        "inputSchema": {
            "type": "object",
            "required": ["customerId", "items"],
            "properties": {
                "customerId": { "type": "string" },
                "items": { "type": "array", "items": { "type": "object", "properties": {
                    "productId": { "type": "string" },
                    "quantity": { "type": "number", "minimum": 1 },
                    "price": { "type": "number", "minimum": 0 }
                }}},
                "notes": { "type": "string" }
            }
        },
        "steps": [{
            "id": "calculate-total",
            "type": "transform",
            "name": "Calculate Order Total",
            "config": { "mapping": {
                "subtotal": "{{input.items | map: 'quantity * price' | sum}}",
                "tax": "{{input.items | map: 'quantity * price' | sum | times: 0.08}}",
                "total": "{{input.items | map: 'quantity * price' | sum | times: 1.08}}"
            }}
        }]
    })
}

pub fn order_input() -> Value {
    json!({
        "customerId": "cus_xxx",
        "items": [
            { "productId": "p1", "quantity": 2, "price": 1999 }
        ]
    })
}
