//! Flowra conformance (issue 14): a client written against seed 000 (trigger instances) and
//! seed 002 (workflows) calls Duro with the product's paths, bodies and field names, and
//! reads the product's answers. Each test closes one gap the issue lists.

mod support;

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};
use support::{assert_error, order_input, order_workflow, Reply, TestApi};

const M: &str = "/api/v1/workflow/manager";
const T: &str = "/api/v1/trigger_instances";

fn ids(reply: &Reply) -> Vec<String> {
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body["data"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|item| item["id"].as_str().map(str::to_owned))
        .collect()
}

/// Seed 000's "Daily digest": every morning at 9, for one user's connected account.
fn daily_digest(workflow: &str, account: &str) -> Value {
    json!({
        "triggerType": "schedule",
        "workflowId": workflow,
        "connectedAccountId": account,
        "triggerConfig": {"cron": "0 9 * * *", "timezone": "UTC"},
        "triggerName": "daily_digest",
    })
}

async fn upsert(api: &TestApi, slug: &str, body: Value) -> Value {
    let reply = api.post(&format!("{T}/{slug}/upsert"), body).await;
    assert!(reply.status.is_success(), "{}", reply.body);
    reply.body["data"].clone()
}

/// Makes a connection (a connected account) in auth config `auth_config_id`.
async fn account(api: &TestApi, id: &str, auth_config_id: &str) {
    let reply = api
        .post(
            "/api/v1/connections",
            json!({"id": id, "name": id, "provider": "stripe", "kind": "bearer",
                   "token": "sk_test_0123456789abcd", "authConfigId": auth_config_id}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!(reply.body["data"]["authConfigId"], json!(auth_config_id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upsert_reads_the_products_field_names_and_refuses_unknown_ones() {
    let api = TestApi::new().await;
    let workflow = api.active_workflow(order_workflow()).await;

    // "you pass the slug (e.g. for schedule)": without a type, the slug names it.
    let mut body = daily_digest(&workflow, "conn_alice");
    body.as_object_mut().expect("object").remove("triggerType");
    let data = upsert(&api, "schedule", body.clone()).await;
    assert_eq!(data["type"], "schedule");
    assert_eq!(data["connectionId"], "conn_alice");
    assert_eq!(data["config"]["cron"], "0 9 * * *");
    assert_eq!(data["triggerName"], "daily_digest");

    // The type under the product's name, with a slug of the client's own.
    let mut body = daily_digest(&workflow, "conn_bob");
    body["triggerType"] = json!("SCHEDULE");
    let data = upsert(&api, "digest-bob", body.clone()).await;
    assert_eq!(data["type"], "schedule");
    // Without a type and a slug that names none, `type` is missing.
    body.as_object_mut().expect("object").remove("triggerType");
    let refused = api.post(&format!("{T}/digest-eve/upsert"), body).await;
    let error = assert_error(&refused, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    assert_eq!(error["details"][0]["path"], json!(["type"]));
    assert_eq!(data["type"], "schedule");
    assert_eq!(data["connectionId"], "conn_bob");

    // The account a client set is the one connectedAccountIds filters by.
    let alice = api
        .get(&format!("{T}/active?connectedAccountIds=conn_alice"))
        .await;
    let alice = alice.body["data"].as_array().expect("items").clone();
    assert_eq!(alice.len(), 1, "{alice:?}");
    assert_eq!(alice[0]["slug"], "schedule");

    // Unknown fields are named, all of them, and nothing is written.
    let mut body = daily_digest(&workflow, "conn_carol");
    body["cronExpression"] = json!("0 9 * * *");
    body["userId"] = json!("u_1");
    let refused = api.post(&format!("{T}/digest-carol/upsert"), body).await;
    let error = assert_error(&refused, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    let mut named: Vec<Value> = error["details"]
        .as_array()
        .expect("details")
        .iter()
        .map(|d| d["path"].clone())
        .collect();
    named.sort_by_key(|p| p.to_string());
    assert_eq!(named, vec![json!(["cronExpression"]), json!(["userId"])]);
    let all = api.get(&format!("{T}/active?showDisabled=true")).await;
    assert_eq!(ids(&all).len(), 2);

    // Both names of one field must agree.
    let mut body = daily_digest(&workflow, "conn_dave");
    body["connectionId"] = json!("conn_other");
    let refused = api.post(&format!("{T}/schedule/upsert"), body).await;
    let error = assert_error(&refused, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    assert_eq!(error["details"][0]["path"], json!(["connectedAccountId"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_config_ids_filter_by_the_connections_auth_config() {
    let api = TestApi::new().await;
    let workflow = api.active_workflow(order_workflow()).await;
    account(&api, "conn_gmail_alice", "ac_gmail").await;
    account(&api, "conn_slack_alice", "ac_slack").await;
    let gmail = upsert(
        &api,
        "digest-gmail",
        daily_digest(&workflow, "conn_gmail_alice"),
    )
    .await;
    let slack = upsert(
        &api,
        "digest-slack",
        daily_digest(&workflow, "conn_slack_alice"),
    )
    .await;

    let by_gmail = api.get(&format!("{T}/active?authConfigIds=ac_gmail")).await;
    assert_eq!(ids(&by_gmail), vec![gmail["id"].as_str().expect("id")]);
    let both = api
        .get(&format!("{T}/active?authConfigIds=ac_gmail,ac_slack"))
        .await;
    assert_eq!(ids(&both).len(), 2);
    let none = api.get(&format!("{T}/active?authConfigIds=ac_none")).await;
    assert_eq!(ids(&none), Vec::<String>::new());
    // With connectedAccountIds too, both must hold.
    let neither = api
        .get(&format!(
            "{T}/active?authConfigIds=ac_gmail&connectedAccountIds=conn_slack_alice"
        ))
        .await;
    assert_eq!(ids(&neither), Vec::<String>::new());

    // Moving a connection to another auth config moves its triggers with it.
    let moved = api
        .patch(
            "/api/v1/connections/conn_slack_alice",
            json!({"authConfigId": "ac_gmail"}),
        )
        .await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.body);
    assert_eq!(moved.body["data"]["authConfigId"], "ac_gmail");
    let by_gmail = api.get(&format!("{T}/active?authConfigIds=ac_gmail")).await;
    assert_eq!(ids(&by_gmail).len(), 2);
    assert!(ids(&by_gmail).contains(&slack["id"].as_str().expect("id").to_owned()));
    let cleared = api
        .patch(
            "/api/v1/connections/conn_slack_alice",
            json!({"authConfigId": ""}),
        )
        .await;
    assert_eq!(cleared.body["data"]["authConfigId"], Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_walks_the_active_list() {
    let api = TestApi::new().await;
    let workflow = api.active_workflow(order_workflow()).await;
    let mut created = Vec::new();
    for n in 0..5 {
        let data = upsert(
            &api,
            &format!("user-{n}"),
            daily_digest(&workflow, &format!("conn_{n}")),
        )
        .await;
        created.push(data["id"].as_str().expect("id").to_owned());
    }
    let first = api.get(&format!("{T}/active?limit=2&page=1")).await;
    let second = api.get(&format!("{T}/active?limit=2&page=2")).await;
    let third = api.get(&format!("{T}/active?limit=2&page=3")).await;
    let past = api.get(&format!("{T}/active?limit=2&page=4")).await;
    let pages = [ids(&first), ids(&second), ids(&third)].concat();
    let mut sorted = pages.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), 5, "every trigger once: {pages:?}");
    assert_ne!(ids(&first), ids(&second), "page 2 is not page 1");
    assert_eq!(ids(&third).len(), 1);
    assert_eq!(ids(&past), Vec::<String>::new());
    // Page 2 is the page the first page's cursor leads to.
    let next = first.body["pagination"]["nextCursor"]
        .as_str()
        .expect("next cursor");
    let by_cursor = api.get(&format!("{T}/active?limit=2&cursor={next}")).await;
    assert_eq!(ids(&by_cursor), ids(&second));
    let bad = api.get(&format!("{T}/active?page=0")).await;
    let error = assert_error(&bad, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    assert_eq!(error["details"][0]["path"], json!(["page"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_takes_enable_disable_and_enabled() {
    let api = TestApi::new().await;
    let workflow = api.active_workflow(order_workflow()).await;
    let data = upsert(&api, "schedule", daily_digest(&workflow, "conn_a")).await;
    let status = format!("{T}/manage/{}/status", data["id"].as_str().expect("id"));
    for (body, expected) in [
        (json!({"status": "disable"}), "disabled"),
        (json!({"status": "enable"}), "enabled"),
        (json!({"enabled": false}), "disabled"),
        (json!({"enabled": true}), "enabled"),
        (json!({"status": "disabled"}), "disabled"),
        (json!({"status": "enabled", "enabled": true}), "enabled"),
    ] {
        let reply = api.patch(&status, body.clone()).await;
        assert_eq!(reply.status, StatusCode::OK, "{body}: {}", reply.body);
        assert_eq!(reply.body["data"]["status"], expected, "{body}");
    }
    for (body, field) in [
        (json!({"enabled": "yes"}), "enabled"),
        (json!({"status": "enable", "enabled": false}), "enabled"),
        (json!({}), "status"),
    ] {
        let reply = api.patch(&status, body.clone()).await;
        let error = assert_error(&reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
        assert_eq!(error["details"][0]["path"], json!([field]), "{body}");
    }
}

async fn create(api: &TestApi, definition: Value) -> String {
    let created = api.post(&format!("{M}/create"), definition).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    created.body["data"]["id"]
        .as_str()
        .expect("workflow id")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn created_workflows_start_active_and_inactive_lists_drafts_too() {
    let api = TestApi::new().await;
    // Run from your app: create, then execute at once.
    let orders = create(&api, order_workflow()).await;
    let detail = api.get(&format!("{M}/detail/{orders}")).await;
    assert_eq!(detail.body["data"]["status"], "active");
    let run = api
        .post(&format!("{M}/execute/{orders}?wait=30"), order_input())
        .await;
    assert_eq!(run.status, StatusCode::OK, "{}", run.body);
    assert!(run.body["data"]["threadId"].is_string());

    let mut draft = order_workflow();
    draft["name"] = json!("Draft");
    draft["status"] = json!("draft");
    let draft = create(&api, draft).await;
    let mut switched_off = order_workflow();
    switched_off["name"] = json!("Off");
    let switched_off = create(&api, switched_off).await;
    let reply = api
        .patch(
            &format!("{M}/activeStatus/{switched_off}"),
            json!({"activeStatus": "inactive"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);

    let inactive = api.get(&format!("{M}/list?activeStatus=inactive")).await;
    assert_eq!(ids(&inactive), vec![switched_off.clone(), draft.clone()]);
    let also = api.get(&format!("{M}/list?activeStatus=false")).await;
    assert_eq!(ids(&also), ids(&inactive));
    let paged = api
        .get(&format!("{M}/list?activeStatus=inactive&limit=1&page=2"))
        .await;
    assert_eq!(ids(&paged), vec![draft.clone()]);
    let active = api.get(&format!("{M}/list?activeStatus=active")).await;
    assert_eq!(ids(&active), vec![orders]);
    // Neither runs.
    for id in [&draft, &switched_off] {
        let refused = api.post(&format!("{M}/execute/{id}"), order_input()).await;
        assert_error(&refused, StatusCode::BAD_REQUEST, "INVALID_STATUS");
    }
}

// Paused time: the `?wait=0.2` below ends at once when the run has paused.
#[tokio::test(start_paused = true)]
async fn a_thread_is_cancelled_on_flowras_path() {
    let api = TestApi::new().await;
    let waits = create(
        &api,
        json!({"name": "Approval", "steps": [{"id": "w", "type": "wait"}]}),
    )
    .await;
    let started = api
        .post(&format!("{M}/execute/{waits}?wait=0.2"), Value::Null)
        .await;
    let thread = started.body["data"]["threadId"]
        .as_str()
        .expect("thread id")
        .to_owned();
    let cancelled = api
        .post(
            &format!("{M}/executions/thread/{thread}/cancel"),
            json!({"reason": "user closed the chat"}),
        )
        .await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.body);
    assert_eq!(cancelled.body["data"]["threadId"], json!(thread));
    assert_eq!(cancelled.body["data"]["status"], "cancelled");
    let status = api
        .get(&format!("{M}/executions/thread/{thread}/status"))
        .await;
    assert_eq!(status.body["data"]["status"], "cancelled");
    assert_eq!(status.body["data"]["done"], true);

    // The reason is optional; a second cancel and an unknown thread are refused.
    let again = api
        .call(
            Method::POST,
            &format!("{M}/executions/thread/{thread}/cancel"),
            Value::Null,
        )
        .await;
    assert!(again.status.is_client_error(), "{}", again.body);
    let started = api
        .post(&format!("{M}/execute/{waits}?wait=0.2"), Value::Null)
        .await;
    let other = started.body["data"]["threadId"].as_str().expect("id");
    let bare = api
        .call(
            Method::POST,
            &format!("{M}/executions/thread/{other}/cancel"),
            Value::Null,
        )
        .await;
    assert_eq!(bare.status, StatusCode::OK, "{}", bare.body);
    assert_eq!(bare.body["data"]["status"], "cancelled");
    let unknown = api
        .post(&format!("{M}/executions/thread/run_nope/cancel"), json!({}))
        .await;
    assert_error(&unknown, StatusCode::NOT_FOUND, "NOT_FOUND");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn knowledge_collections_are_kept_on_the_definition() {
    let api = TestApi::new().await;
    let mut definition = order_workflow();
    definition["knowledgeCollections"] = json!(["kc_handbook", {"id": "kc_faq", "topK": 4}]);
    let id = create(&api, definition).await;
    let detail = api.get(&format!("{M}/detail/{id}")).await;
    assert_eq!(
        detail.body["data"]["knowledgeCollections"],
        json!(["kc_handbook", {"id": "kc_faq", "topK": 4}]),
        "{}",
        detail.body
    );
    let canonical = api.get(&format!("/api/v1/workflows/{id}")).await;
    assert_eq!(
        canonical.body["data"]["knowledgeCollections"][0],
        "kc_handbook"
    );
}
