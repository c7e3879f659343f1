//! Keys, scopes, rate limits and body limits, through the router.

mod support;

use api::ApiConfig;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use credentials::keys::Scope;
use serde_json::{json, Value};
use support::{assert_error, order_input, order_workflow, TestApi};

#[tokio::test]
async fn missing_unknown_and_revoked_keys_get_401_and_missing_scopes_403() {
    let api = TestApi::new().await;
    let id = api.active_workflow(order_workflow()).await;
    let run = format!("/api/v1/workflows/{id}/run");
    let body = json!({"input": order_input()});

    let none = api.call_as("", Method::POST, &run, body.clone()).await;
    assert_error(&none, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    let unknown = api
        .call_as("duro_nope", Method::POST, &run, body.clone())
        .await;
    assert_error(&unknown, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");

    let reader = api.key(&[Scope::RunsRead]).await;
    let forbidden = api.call_as(&reader, Method::POST, &run, body.clone()).await;
    let error = assert_error(&forbidden, StatusCode::FORBIDDEN, "FORBIDDEN");
    assert!(error["message"]
        .as_str()
        .is_some_and(|m| m.contains("workflows:execute")));

    let runner = api.key(&[Scope::WorkflowsExecute]).await;
    let started = api.call_as(&runner, Method::POST, &run, body.clone()).await;
    assert_eq!(started.status, StatusCode::ACCEPTED, "{}", started.body);
    let run_id = started.body["data"]["runId"].as_str().expect("runId");
    let read = api
        .call_as(
            &reader,
            Method::GET,
            &format!("/api/v1/runs/{run_id}"),
            Value::Null,
        )
        .await;
    assert_eq!(read.status, StatusCode::OK);
    // Bearer works as well as x-api-key.
    let bearer = Request::get(format!("/api/v1/runs/{run_id}"))
        .header("authorization", format!("Bearer {reader}"))
        .body(Body::empty())
        .expect("request");
    assert_eq!(api.raw(bearer).await.status, StatusCode::OK);

    // Keys through the admin API: only admin may, and a revoked key is refused.
    let listed = api
        .call_as(&runner, Method::GET, "/api/v1/keys", Value::Null)
        .await;
    assert_error(&listed, StatusCode::FORBIDDEN, "FORBIDDEN");
    let created = api
        .post(
            "/api/v1/keys",
            json!({"name": "ci", "scopes": ["workflows:execute"]}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let secret = created.body["data"]["key"]
        .as_str()
        .expect("secret")
        .to_owned();
    let key_id = created.body["data"]["id"].as_str().expect("id").to_owned();
    let listed = api.get("/api/v1/keys").await;
    let listed_text = listed.body.to_string();
    assert!(listed_text.contains(&key_id));
    assert!(!listed_text.contains(&secret), "lists never show secrets");
    assert_eq!(
        api.call_as(&secret, Method::POST, &run, body.clone())
            .await
            .status,
        StatusCode::ACCEPTED
    );
    let revoked = api
        .call(
            Method::DELETE,
            &format!("/api/v1/keys/{key_id}"),
            Value::Null,
        )
        .await;
    assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.body);
    assert!(revoked.body["data"]["revokedAt"].is_string());
    let after = api.call_as(&secret, Method::POST, &run, body).await;
    assert_error(&after, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");

    let bad_scope = api
        .post(
            "/api/v1/keys",
            json!({"name": "x", "scopes": ["runs:delete"]}),
        )
        .await;
    let error = assert_error(&bad_scope, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    assert_eq!(error["details"][0]["path"], json!(["scopes", "0"]));
}

// Paused time: the limit refills one request every 120 ms of tokio's time, which stands still
// here, so a slow machine cannot refill it between request 500 and 501.
#[tokio::test(start_paused = true)]
async fn request_501_in_a_minute_is_rate_limited_and_other_keys_are_not() {
    let api = TestApi::new().await;
    let first = api.key(&[Scope::WorkflowsExecute]).await;
    let second = api.key(&[Scope::WorkflowsExecute]).await;
    // An unknown workflow answers fast; the limit counts requests, not runs.
    let path = "/api/v1/workflows/wf_missing/run";
    for n in 1..=500 {
        let reply = api.call_as(&first, Method::POST, path, json!({})).await;
        assert_eq!(
            reply.status,
            StatusCode::NOT_FOUND,
            "request {n}: {}",
            reply.body
        );
    }
    let limited = api.call_as(&first, Method::POST, path, json!({})).await;
    let error = assert_error(&limited, StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED");
    assert_eq!(
        error["message"],
        "Rate limit exceeded. Limit: 500 requests per minute."
    );
    let retry_after: u64 = limited.headers["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    let other = api.call_as(&second, Method::POST, path, json!({})).await;
    assert_eq!(
        other.status,
        StatusCode::NOT_FOUND,
        "another key is unaffected"
    );
    // The allowance refills with time: after Retry-After, the first key is served again.
    tokio::time::advance(std::time::Duration::from_secs(retry_after)).await;
    let again = api.call_as(&first, Method::POST, path, json!({})).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND, "{}", again.body);
}

#[tokio::test]
async fn oversize_and_malformed_bodies_are_refused_without_a_journal_write() {
    let api = TestApi::with_config(ApiConfig {
        max_body_bytes: 1024,
        ..ApiConfig::default()
    })
    .await;
    let id = api.active_workflow(order_workflow()).await;
    let position = api.journal_position();
    let huge = json!({"input": {"customerId": "x".repeat(2000), "items": []}});
    let reply = api.post(&format!("/api/v1/workflows/{id}/run"), huge).await;
    assert_error(&reply, StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE");

    let malformed = Request::post(format!("/api/v1/workflows/{id}/run"))
        .header("x-api-key", &api.admin)
        .body(Body::from("{\"input\": {"))
        .expect("request");
    let reply = api.raw(malformed).await;
    let error = assert_error(&reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    assert!(error["message"]
        .as_str()
        .is_some_and(|m| m.contains("malformed JSON")));
    assert_eq!(api.journal_position(), position);
}
