//! Connections through the router: secrets go in, never come out, and are never in the
//! journal in plaintext.

mod support;

use std::sync::Arc;

use axum::http::{Method, StatusCode};
use credentials::connections::{ConnectionError, Connections, Credentials, SecretKey};
use credentials::keys::Scope;
use journal::{EventStore, Position};
use serde_json::{json, Value};
use support::{assert_error, TestApi};

const TOKEN: &str = "sk_live_51HxQpL2eZvKYlo2C0123456789abcd";
const ROTATED: &str = "sk_live_rotated_9876543210wxyz";
const PASSWORD: &str = "correct-horse-battery-staple";

fn bearer(token: &str) -> Value {
    json!({
        "name": "Stripe live",
        "provider": "stripe",
        "kind": "bearer",
        "token": token,
        "metadata": {"account": "acct_123", "mode": "live"}
    })
}

/// Creates a connection; returns its id.
async fn create(api: &TestApi, body: Value) -> String {
    let reply = api.post("/api/v1/connections", body).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.body["data"]["id"].as_str().expect("id").to_owned()
}

fn assert_hidden(body: &Value, secrets: &[&str]) {
    let text = body.to_string();
    for secret in secrets {
        assert!(!text.contains(secret), "a secret leaked: {text}");
    }
}

/// Every event's bytes in the journal, concatenated.
async fn journal_bytes(api: &TestApi) -> Vec<Vec<u8>> {
    api.store
        .read_all(Position::START, usize::MAX)
        .await
        .expect("read_all")
        .into_iter()
        .map(|event| event.data)
        .collect()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

#[tokio::test]
async fn a_created_connection_shows_everything_but_its_secret() {
    let api = TestApi::new().await;
    let reply = api.post("/api/v1/connections", bearer(TOKEN)).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_hidden(&reply.body, &[TOKEN]);
    let data = &reply.body["data"];
    let id = data["id"].as_str().expect("id");
    assert!(id.starts_with("conn_"), "{id}");
    assert_eq!(data["name"], "Stripe live");
    assert_eq!(data["provider"], "stripe");
    assert_eq!(data["kind"], "bearer");
    assert_eq!(
        data["metadata"],
        json!({"account": "acct_123", "mode": "live"})
    );
    assert_eq!(data["secretSet"], true);
    assert_eq!(data["secretHint"], "****abcd");
    assert!(data["createdAt"].is_string());
    assert_eq!(data["createdAt"], data["updatedAt"]);
    for field in ["token", "password", "headerValue", "secret"] {
        assert!(data.get(field).is_none(), "{field} shown: {data}");
    }

    let detail = api.get(&format!("/api/v1/connections/{id}")).await;
    assert_eq!(detail.status, StatusCode::OK, "{}", detail.body);
    assert_eq!(&detail.body["data"], data);
    let list = api.get("/api/v1/connections").await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    assert_eq!(list.body["data"], json!([data]));
    assert_hidden(&detail.body, &[TOKEN]);
    assert_hidden(&list.body, &[TOKEN]);

    let credentials = api
        .state
        .connections
        .credentials(id)
        .await
        .expect("credentials");
    assert_eq!(
        credentials,
        Credentials::Bearer {
            token: TOKEN.to_owned()
        }
    );
    let (name, value) = credentials.header().expect("a header");
    assert_eq!(name, "authorization");
    assert_eq!(value, format!("Bearer {TOKEN}").as_str());
}

#[tokio::test]
async fn no_secret_is_ever_in_the_journal_in_plaintext() {
    let api = TestApi::new().await;
    let id = create(&api, bearer(TOKEN)).await;
    create(
        &api,
        json!({"name": "Jira", "provider": "http", "kind": "basic",
               "username": "ops-bot@example.com", "password": PASSWORD}),
    )
    .await;
    create(
        &api,
        json!({"name": "Search", "provider": "http", "kind": "header",
               "headerName": "X-Api-Key", "headerValue": "hv-secret-value-0042"}),
    )
    .await;
    let rotated = api
        .patch(
            &format!("/api/v1/connections/{id}"),
            json!({"token": ROTATED}),
        )
        .await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);

    let events = journal_bytes(&api).await;
    let connection_events = api
        .store
        .read_all(Position::START, usize::MAX)
        .await
        .expect("read_all")
        .into_iter()
        .filter(|event| event.stream.as_str().starts_with("connection-"))
        .map(|event| event.event_type.0)
        .collect::<Vec<_>>();
    assert_eq!(connection_events, [600, 600, 600, 601]);
    for secret in [
        TOKEN,
        ROTATED,
        PASSWORD,
        "ops-bot@example.com",
        "hv-secret-value-0042",
    ] {
        for data in &events {
            assert!(
                !contains(data, secret.as_bytes()),
                "{secret} is in the journal"
            );
        }
    }
}

#[tokio::test]
async fn an_update_rotates_the_secret_and_renames() {
    let api = TestApi::new().await;
    let id = create(&api, bearer(TOKEN)).await;
    let path = format!("/api/v1/connections/{id}");
    let reply = api
        .patch(&path, json!({"token": ROTATED, "name": "Stripe (rotated)"}))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_hidden(&reply.body, &[TOKEN, ROTATED]);
    assert_eq!(reply.body["data"]["name"], "Stripe (rotated)");
    assert_eq!(reply.body["data"]["secretHint"], "****wxyz");
    assert_eq!(reply.body["data"]["provider"], "stripe");
    assert_eq!(
        api.state
            .connections
            .credentials(&id)
            .await
            .expect("credentials"),
        Credentials::Bearer {
            token: ROTATED.to_owned()
        }
    );

    // A change of kind needs that kind's fields; the secret is replaced whole.
    let missing = api
        .patch(&path, json!({"kind": "basic", "username": "u"}))
        .await;
    let error = assert_error(&missing, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    assert_eq!(error["details"][0]["path"], json!(["password"]), "{error}");
    let basic = api
        .patch(
            &path,
            json!({"kind": "basic", "username": "u", "password": PASSWORD}),
        )
        .await;
    assert_eq!(basic.status, StatusCode::OK, "{}", basic.body);
    assert_eq!(basic.body["data"]["kind"], "basic");
    let credentials = api
        .state
        .connections
        .credentials(&id)
        .await
        .expect("credentials");
    assert_eq!(
        credentials,
        Credentials::Basic {
            username: "u".to_owned(),
            password: PASSWORD.to_owned()
        }
    );

    // Metadata only: the secret stays.
    let meta = api
        .patch(&path, json!({"metadata": {"team": "billing"}}))
        .await;
    assert_eq!(meta.status, StatusCode::OK, "{}", meta.body);
    assert_eq!(meta.body["data"]["metadata"], json!({"team": "billing"}));
    assert_eq!(
        api.state
            .connections
            .credentials(&id)
            .await
            .expect("credentials"),
        credentials
    );
}

#[tokio::test]
async fn a_deleted_connection_is_gone() {
    let api = TestApi::new().await;
    let id = create(&api, bearer(TOKEN)).await;
    let path = format!("/api/v1/connections/{id}");
    let deleted = api.call(Method::DELETE, &path, Value::Null).await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.body);
    assert_eq!(deleted.body["data"], json!({"id": id, "deleted": true}));
    assert_error(&api.get(&path).await, StatusCode::NOT_FOUND, "NOT_FOUND");
    assert_error(
        &api.patch(&path, json!({"name": "again"})).await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    );
    assert_error(
        &api.call(Method::DELETE, &path, Value::Null).await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    );
    assert_eq!(api.get("/api/v1/connections").await.body["data"], json!([]));
    assert!(matches!(
        api.state.connections.credentials(&id).await,
        Err(ConnectionError::NotFound(_))
    ));
}

#[tokio::test]
async fn chosen_ids_are_checked_and_unique() {
    let api = TestApi::new().await;
    let mut body = bearer(TOKEN);
    body["id"] = json!("stripe-live_1");
    assert_eq!(create(&api, body.clone()).await, "stripe-live_1");
    let again = api.post("/api/v1/connections", body.clone()).await;
    assert_error(&again, StatusCode::CONFLICT, "CONFLICT");

    // A deleted connection's id may be used again.
    let deleted = api
        .call(
            Method::DELETE,
            "/api/v1/connections/stripe-live_1",
            Value::Null,
        )
        .await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.body);
    body["token"] = json!(ROTATED);
    assert_eq!(create(&api, body.clone()).await, "stripe-live_1");
    assert_eq!(
        api.state
            .connections
            .credentials("stripe-live_1")
            .await
            .expect("credentials"),
        Credentials::Bearer {
            token: ROTATED.to_owned()
        }
    );

    for bad in ["has space", "slash/y", "", &"x".repeat(101)] {
        body["id"] = json!(bad);
        let reply = api.post("/api/v1/connections", body.clone()).await;
        let error = assert_error(&reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
        assert_eq!(error["details"][0]["path"], json!(["id"]), "{error}");
    }
}

#[tokio::test]
async fn every_route_needs_connections_write_or_admin() {
    let api = TestApi::new().await;
    let id = create(&api, bearer(TOKEN)).await;
    let path = format!("/api/v1/connections/{id}");
    let reader = api
        .key(&[
            Scope::WorkflowsRead,
            Scope::WorkflowsWrite,
            Scope::RunsRead,
            Scope::TriggersWrite,
        ])
        .await;
    let routes = [
        (Method::GET, "/api/v1/connections".to_owned(), Value::Null),
        (
            Method::POST,
            "/api/v1/connections".to_owned(),
            bearer(TOKEN),
        ),
        (Method::GET, path.clone(), Value::Null),
        (Method::PATCH, path.clone(), json!({"name": "x"})),
        (Method::DELETE, path.clone(), Value::Null),
    ];
    for (method, route, body) in &routes {
        let reply = api
            .call_as(&reader, method.clone(), route, body.clone())
            .await;
        let error = assert_error(&reply, StatusCode::FORBIDDEN, "FORBIDDEN");
        assert!(
            error["message"]
                .as_str()
                .is_some_and(|m| m.contains("connections:write")),
            "{error}"
        );
        let anonymous = api.call_as("", method.clone(), route, body.clone()).await;
        assert_error(&anonymous, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    }
    assert_eq!(api.get(&path).await.body["data"]["name"], "Stripe live");

    let writer = api.key(&[Scope::ConnectionsWrite]).await;
    let list = api
        .call_as(&writer, Method::GET, "/api/v1/connections", Value::Null)
        .await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    let created = api
        .call_as(&writer, Method::POST, "/api/v1/connections", bearer(TOKEN))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
}

#[tokio::test]
async fn bad_bodies_are_refused_naming_the_field_and_write_nothing() {
    let api = TestApi::new().await;
    let before = api.journal_position();
    let mut body = bearer(TOKEN);
    body["kind"] = json!("jwt");
    let error = assert_error(
        &api.post("/api/v1/connections", body).await,
        StatusCode::BAD_REQUEST,
        "VALIDATION_ERROR",
    );
    assert_eq!(error["details"][0]["path"], json!(["kind"]), "{error}");

    let cases = [
        (
            json!({"name": "n", "provider": "stripe", "kind": "bearer"}),
            "token",
        ),
        (
            json!({"name": "n", "provider": "stripe", "kind": "bearer", "token": ""}),
            "token",
        ),
        (
            json!({"name": "n", "provider": "stripe", "kind": "bearer", "token": "a b"}),
            "token",
        ),
        (
            json!({"name": "n", "provider": "stripe", "kind": "bearer", "token": TOKEN,
                   "password": PASSWORD}),
            "password",
        ),
        (
            json!({"name": "n", "provider": "http", "kind": "basic", "username": "a:b",
                   "password": PASSWORD}),
            "username",
        ),
        (
            json!({"name": "n", "provider": "http", "kind": "header", "headerName": "bad name",
                   "headerValue": "v"}),
            "headerName",
        ),
        (
            json!({"name": "n", "provider": "http", "kind": "header", "headerName": "X-Key",
                   "headerValue": "line\r\nInjected: yes"}),
            "headerValue",
        ),
        (
            json!({"name": " ", "provider": "stripe", "kind": "bearer", "token": TOKEN}),
            "name",
        ),
        (
            json!({"name": "n", "provider": "a b", "kind": "bearer", "token": TOKEN}),
            "provider",
        ),
    ];
    for (body, field) in cases {
        let reply = api.post("/api/v1/connections", body.clone()).await;
        let error = assert_error(&reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
        assert_eq!(
            error["details"][0]["path"],
            json!([field]),
            "{body}: {error}"
        );
        assert_hidden(&reply.body, &[TOKEN, PASSWORD]);
    }
    let unknown = api
        .post(
            "/api/v1/connections",
            json!({"name": "n", "provider": "stripe", "kind": "bearer", "token": TOKEN,
                   "secret": "x"}),
        )
        .await;
    assert_error(&unknown, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    assert_eq!(api.journal_position(), before, "a refused request wrote");
}

#[tokio::test]
async fn another_key_cannot_decrypt_and_says_so() {
    let api = TestApi::new().await;
    let id = create(&api, bearer(TOKEN)).await;
    let store: Arc<dyn EventStore> = api.store.clone();
    let other = Connections::new(store, SecretKey::generate());
    // What is not secret is still readable.
    assert_eq!(other.get(&id).await.expect("get").secret_hint, "****abcd");
    assert_eq!(other.list().await.expect("list").len(), 1);
    let error = other.credentials(&id).await.expect_err("another key");
    assert!(
        matches!(error, ConnectionError::Undecryptable { .. }),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(message.contains(&id), "{message}");
    assert!(message.contains("cannot be decrypted"), "{message}");
    assert!(message.contains("DURO_SECRET_KEY"), "{message}");
    assert!(!message.contains(TOKEN), "{message}");
}

#[tokio::test]
async fn the_same_key_decrypts_after_a_restart() {
    let api = TestApi::new().await;
    let bytes = [0x5a; 32];
    let before = Connections::new(api.store.clone(), SecretKey::from_bytes(bytes));
    let created = before
        .create(serde_json::from_value(bearer(TOKEN)).expect("body"))
        .await
        .expect("create");
    let after = Connections::new(api.store.clone(), SecretKey::from_bytes(bytes));
    assert_eq!(
        after.credentials(&created.id).await.expect("credentials"),
        Credentials::Bearer {
            token: TOKEN.to_owned()
        }
    );
}
