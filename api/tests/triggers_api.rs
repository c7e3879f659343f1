//! Trigger instances through the router: upsert by slug, config checked against the type's
//! schema, list filters and pages, enable/disable/delete, run now, the seed 000 and seed 003
//! compatibility routes.

mod support;

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};
use support::{assert_error, order_input, order_workflow, TestApi};

fn schedule(workflow: &str) -> Value {
    json!({"type": "schedule", "workflowId": workflow,
           "config": {"cron": "0 9 * * *", "timezone": "Europe/London"}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_slug_twice_is_one_trigger_and_configs_are_checked() {
    let api = TestApi::new().await;
    let workflow = api.active_workflow(order_workflow()).await;
    let first = api
        .call(
            Method::PUT,
            "/api/v1/triggers/daily-digest",
            schedule(&workflow),
        )
        .await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    let data = &first.body["data"];
    assert_eq!(data["slug"], "daily-digest");
    assert_eq!(data["type"], "schedule");
    assert_eq!(data["status"], "enabled");
    assert!(data["id"].as_str().is_some_and(|id| id.starts_with("trg_")));
    let mut changed = schedule(&workflow);
    changed["config"]["cron"] = json!("0 10 * * *");
    let second = api
        .call(Method::PUT, "/api/v1/triggers/daily-digest", changed)
        .await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.body);
    assert_eq!(second.body["data"]["id"], data["id"]);
    assert_eq!(second.body["data"]["config"]["cron"], "0 10 * * *");
    let listed = api.get("/api/v1/triggers").await;
    assert_eq!(listed.body["data"].as_array().map(Vec::len), Some(1));

    let position = api.journal_position();
    let bad = api
        .call(
            Method::PUT,
            "/api/v1/triggers/poller",
            json!({"type": "polling", "workflowId": workflow, "config": {}}),
        )
        .await;
    let error = assert_error(&bad, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    assert_eq!(error["details"][0]["path"], json!(["config", "url"]));
    let unknown_type = api
        .call(
            Method::PUT,
            "/api/v1/triggers/x",
            json!({"type": "pigeon", "workflowId": workflow}),
        )
        .await;
    let error = assert_error(&unknown_type, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    assert_eq!(error["details"][0]["path"], json!(["type"]));
    let no_workflow = api
        .call(Method::PUT, "/api/v1/triggers/x", schedule("wf_nope"))
        .await;
    assert_error(&no_workflow, StatusCode::NOT_FOUND, "NOT_FOUND");
    let bad_slug = api
        .call(
            Method::PUT,
            "/api/v1/triggers/has%20space",
            schedule(&workflow),
        )
        .await;
    assert_error(&bad_slug, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    assert_eq!(
        api.journal_position(),
        position,
        "refused upserts write nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn triggers_are_listed_with_filters_enabled_disabled_and_deleted() {
    let api = TestApi::new().await;
    let workflow = api.active_workflow(order_workflow()).await;
    let mut ids = Vec::new();
    for n in 0..5 {
        let mut body = schedule(&workflow);
        body["connectionId"] = json!(format!("conn_{}", n % 2));
        let reply = api
            .call(Method::PUT, &format!("/api/v1/triggers/t{n}"), body)
            .await;
        ids.push(reply.body["data"]["id"].as_str().expect("id").to_owned());
    }
    // Pages of two, in creation order, each trigger once.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = "/api/v1/triggers?limit=2".to_owned();
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page = api.get(&path).await;
        for item in page.body["data"].as_array().expect("items") {
            seen.push(item["id"].as_str().expect("id").to_owned());
        }
        match page.body["pagination"]["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, ids);

    let bad_cursor = api.get("/api/v1/triggers?cursor=not-a-cursor").await;
    let error = assert_error(&bad_cursor, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    assert_eq!(error["details"][0]["path"], json!(["cursor"]));
    let conn1 = api.get("/api/v1/triggers?connectedAccountIds=conn_1").await;
    assert_eq!(conn1.body["data"].as_array().map(Vec::len), Some(2));
    let named = api.get("/api/v1/triggers?triggerNames=t0,t4").await;
    assert_eq!(named.body["data"].as_array().map(Vec::len), Some(2));

    let disabled = api
        .patch(
            &format!("/api/v1/triggers/{}/status", ids[0]),
            json!({"status": "disabled"}),
        )
        .await;
    assert_eq!(
        disabled.body["data"]["status"], "disabled",
        "{}",
        disabled.body
    );
    // Seed 000: the active list leaves disabled triggers out unless showDisabled.
    let active = api.get("/api/v1/trigger_instances/active").await;
    assert_eq!(active.body["data"].as_array().map(Vec::len), Some(4));
    let all = api
        .get("/api/v1/trigger_instances/active?showDisabled=true")
        .await;
    assert_eq!(all.body["data"].as_array().map(Vec::len), Some(5));

    let deleted = api
        .call(
            Method::DELETE,
            &format!("/api/v1/trigger_instances/manage/{}", ids[1]),
            Value::Null,
        )
        .await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.body);
    assert_error(
        &api.get(&format!("/api/v1/triggers/{}", ids[1])).await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    );
    let remaining = api.get("/api/v1/triggers").await;
    assert_eq!(remaining.body["data"].as_array().map(Vec::len), Some(4));
    // Upserting a deleted trigger's slug makes a new trigger.
    let again = api
        .call(
            Method::POST,
            "/api/v1/trigger_instances/t1/upsert",
            schedule(&workflow),
        )
        .await;
    assert_eq!(again.status, StatusCode::CREATED, "{}", again.body);
    assert_ne!(again.body["data"]["id"], json!(ids[1]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_now_starts_a_run_and_a_disabled_trigger_fires_nothing() {
    let api = TestApi::new().await;
    let workflow = api.active_workflow(order_workflow()).await;
    let created = api
        .call(
            Method::PUT,
            "/api/v1/triggers/by-hand",
            json!({"type": "manual", "workflowId": workflow}),
        )
        .await;
    let id = created.body["data"]["id"].as_str().expect("id").to_owned();
    let fired = api
        .post(
            &format!("/api/v1/triggers/{id}/fire?wait=30"),
            json!({"input": order_input()}),
        )
        .await;
    assert_eq!(fired.status, StatusCode::OK, "{}", fired.body);
    assert_eq!(fired.body["data"]["status"], "completed");
    assert_eq!(fired.body["data"]["triggerId"], json!(id));
    let detail = api.get(&format!("/api/v1/triggers/{id}")).await;
    assert_eq!(detail.body["data"]["fired"], 1);

    api.patch(
        &format!("/api/v1/triggers/{id}/status"),
        json!({"status": "disabled"}),
    )
    .await;
    let position = api.journal_position();
    let refused = api
        .post(
            &format!("/api/v1/triggers/{id}/fire"),
            json!({"input": order_input()}),
        )
        .await;
    assert_error(&refused, StatusCode::BAD_REQUEST, "INVALID_STATUS");
    assert_eq!(api.journal_position(), position);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_triggers_show_their_url_but_never_their_secret() {
    let api = TestApi::new().await;
    let workflow = api.active_workflow(order_workflow()).await;
    let created = api
        .call(
            Method::PUT,
            "/api/v1/triggers/orders-hook",
            json!({"type": "webhook", "workflowId": workflow,
                   "config": {"signature": {"scheme": "github", "secret": "s3cret-value"}}}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let data = &created.body["data"];
    let webhook_id = data["webhookId"].as_str().expect("webhookId");
    assert_eq!(webhook_id.len(), 64, "32 random bytes");
    assert!(data["webhookUrl"]
        .as_str()
        .is_some_and(|u| u.ends_with(&format!("/api/v1/webhooks/{webhook_id}"))));
    assert!(!created.body.to_string().contains("s3cret-value"));
    let types = api.get("/api/v1/trigger-types").await;
    let kinds: Vec<&str> = types.body["data"]
        .as_array()
        .expect("types")
        .iter()
        .filter_map(|t| t["type"].as_str())
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
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phinite_runs_a_flow_with_a_bearer_key() {
    let api = TestApi::new().await;
    let workflow = api.active_workflow(order_workflow()).await;
    let request = axum::http::Request::post(format!("/trigger/{workflow}?wait=30"))
        .header("authorization", format!("Bearer {}", api.admin))
        .body(axum::body::Body::from(order_input().to_string()))
        .expect("request");
    let reply = api.raw(request).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["data"]["status"], "completed");
    assert_eq!(reply.body["data"]["input"]["customerId"], "cus_xxx");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phinite_answers_with_the_finished_run_by_default_and_at_once_with_wait_0() {
    let api = TestApi::new().await;
    let workflow = api.active_workflow(order_workflow()).await;
    let call = |query: &str| {
        axum::http::Request::post(format!("/trigger/{workflow}{query}"))
            .header("authorization", format!("Bearer {}", api.admin))
            .body(axum::body::Body::from(order_input().to_string()))
            .expect("request")
    };
    // "the response completes within seconds": no ?wait, and the run is finished.
    let reply = api.raw(call("")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["data"]["status"], "completed");
    // ?wait=0: at once, with the run's id.
    let reply = api.raw(call("?wait=0")).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.body);
    assert!(reply.body["data"]["runId"].is_string(), "{}", reply.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_fire_key_is_a_deduplication_and_a_trigger_can_become_a_webhook() {
    let api = TestApi::new().await;
    let workflow = api.active_workflow(order_workflow()).await;
    let created = api
        .call(
            Method::PUT,
            "/api/v1/triggers/by-hand",
            json!({"type": "manual", "workflowId": workflow}),
        )
        .await;
    let id = created.body["data"]["id"].as_str().expect("id").to_owned();
    assert_eq!(created.body["data"]["webhookId"], Value::Null);
    let body = json!({"input": order_input(), "idempotencyKey": "fire-once"});
    let first = api
        .post(&format!("/api/v1/triggers/{id}/fire"), body.clone())
        .await;
    let second = api.post(&format!("/api/v1/triggers/{id}/fire"), body).await;
    assert_eq!(first.status, StatusCode::ACCEPTED, "{}", first.body);
    assert_eq!(second.status, StatusCode::OK, "{}", second.body);
    assert_eq!(first.body["data"]["runId"], second.body["data"]["runId"]);
    let detail = api.get(&format!("/api/v1/triggers/{id}")).await;
    assert_eq!(
        detail.body["data"]["fired"], 1,
        "one firing, one deduplication"
    );

    // Deliveries carry {body, headers}: a workflow without an input schema takes them.
    let open = api
        .active_workflow(
            json!({"name": "any", "steps": [{"id": "t", "type": "transform",
            "config": {"mapping": {"x": "1"}}}]}),
        )
        .await;
    let webhook = api
        .call(
            Method::PUT,
            "/api/v1/triggers/by-hand",
            json!({"type": "webhook", "workflowId": open}),
        )
        .await;
    assert_eq!(webhook.body["data"]["id"], json!(id));
    let webhook_id = webhook.body["data"]["webhookId"]
        .as_str()
        .expect("webhookId");
    let delivery = axum::http::Request::post(format!("/api/v1/webhooks/{webhook_id}"))
        .body(axum::body::Body::from(order_input().to_string()))
        .expect("request");
    assert_eq!(api.raw(delivery).await.status, StatusCode::ACCEPTED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_sends_its_connections_credentials() {
    use axum::http::HeaderMap;
    use axum::routing::get;
    // A feed that answers only with the right bearer token.
    let feed = axum::Router::new().route(
        "/feed",
        get(|headers: HeaderMap| async move {
            let authorized = headers.get("authorization").and_then(|v| v.to_str().ok())
                == Some("Bearer feed-token-0123456789");
            if authorized {
                (
                    StatusCode::OK,
                    axum::Json(json!({"items": [{"id": "a"}, {"id": "b"}]})),
                )
            } else {
                (StatusCode::UNAUTHORIZED, axum::Json(json!({"error": "no"})))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, feed).await });

    let api = TestApi::new().await;
    let workflow = api
        .active_workflow(
            json!({"name": "per item", "steps": [{"id": "t", "type": "transform",
            "config": {"mapping": {"id": "{{input.item.id}}"}}}]}),
        )
        .await;
    let connection = api
        .post(
            "/api/v1/connections",
            json!({"name": "Feed", "provider": "http", "kind": "bearer",
                   "token": "feed-token-0123456789"}),
        )
        .await;
    assert_eq!(
        connection.status,
        StatusCode::CREATED,
        "{}",
        connection.body
    );
    let connection_id = connection.body["data"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let created = api
        .call(
            Method::PUT,
            "/api/v1/triggers/feed",
            json!({"type": "polling", "workflowId": workflow, "connectionId": connection_id,
                   "config": {"url": format!("http://{address}/feed"), "interval": "200ms",
                              "itemsPointer": "/items"}}),
        )
        .await;
    let trigger = created.body["data"]["id"].as_str().expect("id").to_owned();
    let supervisor = api.state.trigger_runner.spawn();
    let mut count = 0;
    for _ in 0..100 {
        let runs = api
            .get(&format!("/api/v1/runs?workflowId={workflow}"))
            .await;
        count = runs.body["data"].as_array().map_or(0, Vec::len);
        if count == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    supervisor.abort();
    api.state.trigger_runner.stop();
    assert_eq!(count, 2, "both items ran with the connection's token");
    let detail = api.get(&format!("/api/v1/triggers/{trigger}")).await;
    assert_eq!(
        detail.body["data"]["cursorData"],
        json!({"last_processed_event_id": "b", "seen": ["a", "b"]})
    );
}
