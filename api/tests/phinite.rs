//! Phinite (seed 003) as its client calls Duro: the three trigger types it names (`api`,
//! `scheduler`, `manual`) created and read back, an api trigger's own URL run with a
//! workspace key, scheduler configs checked field by field, and a trigger edited by id
//! ("Edit: update type, frequency, or target flow").

mod support;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use credentials::keys::Scope;
use serde_json::{json, Value};
use support::{assert_error, order_input, order_workflow, TestApi};

fn hourly(workflow: &str) -> Value {
    json!({"type": "scheduler", "workflowId": workflow,
           "config": {"startTime": "2026-12-07T09:17:00", "recurrence": "hourly",
                      "timezone": "Europe/London"}})
}

/// `POST path` with `Authorization: Bearer key` and `body`, as Phinite's docs call a trigger.
async fn post_bearer(api: &TestApi, key: &str, path: &str, body: Value) -> support::Reply {
    let request = Request::post(path)
        .header("authorization", format!("Bearer {key}"))
        .body(Body::from(body.to_string()))
        .expect("request");
    api.raw(request).await
}

/// The path of an absolute URL shown in an answer.
fn path_of(url: &Value) -> String {
    let url = url.as_str().expect("a URL");
    let rest = url.strip_prefix("http://").expect("http://");
    rest[rest.find('/').expect("a path")..].to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_three_phinite_trigger_types_are_created_and_read_back() {
    let api = TestApi::new().await;
    let workflow = api.active_workflow(order_workflow()).await;
    let scheduler = api
        .call(
            Method::PUT,
            "/api/v1/triggers/daily-report",
            hourly(&workflow),
        )
        .await;
    assert_eq!(scheduler.status, StatusCode::CREATED, "{}", scheduler.body);
    let data = &scheduler.body["data"];
    assert_eq!(data["type"], "scheduler");
    assert_eq!(data["config"]["startTime"], "2026-12-07T09:17:00");
    assert_eq!(data["config"]["recurrence"], "hourly");
    assert_eq!(data["config"]["timezone"], "Europe/London");
    assert_eq!(data["apiUrl"], Value::Null);

    let from_app = api
        .call(
            Method::PUT,
            "/api/v1/triggers/from-app",
            json!({"type": "api", "workflowId": workflow}),
        )
        .await;
    assert_eq!(from_app.status, StatusCode::CREATED, "{}", from_app.body);
    let id = from_app.body["data"]["id"].as_str().expect("id");
    assert_eq!(from_app.body["data"]["type"], "api");
    assert_eq!(
        path_of(&from_app.body["data"]["apiUrl"]),
        format!("/api/v1/triggers/{id}/invoke")
    );

    let by_hand = api
        .call(
            Method::PUT,
            "/api/v1/triggers/by-hand",
            json!({"type": "manual", "workflowId": workflow}),
        )
        .await;
    assert_eq!(by_hand.status, StatusCode::CREATED, "{}", by_hand.body);
    assert_eq!(by_hand.body["data"]["type"], "manual");

    // Read back by id, and listed by the type as written.
    let scheduler_id = data["id"].as_str().expect("id");
    let detail = api.get(&format!("/api/v1/triggers/{scheduler_id}")).await;
    assert_eq!(detail.body["data"]["type"], "scheduler");
    assert_eq!(detail.body["data"]["config"], data["config"]);
    for (kind, slug) in [
        ("scheduler", "daily-report"),
        ("api", "from-app"),
        ("manual", "by-hand"),
    ] {
        let listed = api.get(&format!("/api/v1/triggers?type={kind}")).await;
        let slugs: Vec<&str> = listed.body["data"]
            .as_array()
            .expect("items")
            .iter()
            .filter_map(|t| t["slug"].as_str())
            .collect();
        assert_eq!(slugs, [slug], "{kind}");
    }
    let types = api.get("/api/v1/trigger-types").await;
    let kinds: Vec<&str> = types.body["data"]
        .as_array()
        .expect("types")
        .iter()
        .filter_map(|t| t["type"].as_str())
        .collect();
    assert!(
        kinds.contains(&"scheduler") && kinds.contains(&"api"),
        "{kinds:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_trigger_runs_its_flow_with_the_workspace_key() {
    let api = TestApi::new().await;
    let workflow = api.active_workflow(order_workflow()).await;
    let created = api
        .call(
            Method::PUT,
            "/api/v1/triggers/orders",
            json!({"type": "api", "workflowId": workflow}),
        )
        .await;
    let id = created.body["data"]["id"].as_str().expect("id").to_owned();
    let url = path_of(&created.body["data"]["apiUrl"]);
    let workspace_key = api.key(&[Scope::WorkflowsExecute]).await;

    // The body is the run's input; the answer is the finished run.
    let ran = post_bearer(&api, &workspace_key, &url, order_input()).await;
    assert_eq!(ran.status, StatusCode::OK, "{}", ran.body);
    assert_eq!(ran.body["data"]["status"], "completed");
    assert_eq!(ran.body["data"]["output"]["subtotal"], json!(3998));
    assert_eq!(ran.body["data"]["input"]["customerId"], "cus_xxx");
    assert_eq!(ran.body["data"]["triggerId"], json!(id));

    // ?wait=0: at once, with the run's id.
    let started = post_bearer(
        &api,
        &workspace_key,
        &format!("{url}?wait=0"),
        order_input(),
    )
    .await;
    assert_eq!(started.status, StatusCode::ACCEPTED, "{}", started.body);
    assert!(
        started.body["data"]["runId"].is_string(),
        "{}",
        started.body
    );
    let detail = api.get(&format!("/api/v1/triggers/{id}")).await;
    assert_eq!(detail.body["data"]["fired"], 2);

    // An input the flow refuses, a key without the scope, no key: refused.
    let invalid = post_bearer(&api, &workspace_key, &url, json!({"notes": "no items"})).await;
    assert_error(&invalid, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    let reader = api.key(&[Scope::TriggersRead]).await;
    let forbidden = post_bearer(&api, &reader, &url, order_input()).await;
    assert_error(&forbidden, StatusCode::FORBIDDEN, "FORBIDDEN");
    let anonymous = api.call_as("", Method::POST, &url, order_input()).await;
    assert_error(&anonymous, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");

    // Paused (disabled), it refuses and starts nothing.
    api.patch(
        &format!("/api/v1/triggers/{id}/status"),
        json!({"status": "disabled"}),
    )
    .await;
    let position = api.journal_position();
    let refused = post_bearer(&api, &workspace_key, &url, order_input()).await;
    assert_error(&refused, StatusCode::BAD_REQUEST, "INVALID_STATUS");
    assert_eq!(api.journal_position(), position);
    let missing = post_bearer(
        &api,
        &workspace_key,
        "/api/v1/triggers/trg_00000000000000000000000000000000/invoke",
        order_input(),
    )
    .await;
    assert_error(&missing, StatusCode::NOT_FOUND, "NOT_FOUND");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_scheduler_configs_are_refused_naming_the_field() {
    let api = TestApi::new().await;
    let workflow = api.active_workflow(order_workflow()).await;
    let cases = [
        (
            json!({"recurrence": "hourly"}),
            json!(["config", "startTime"]),
        ),
        (
            json!({"startTime": "2026-12-07T09:00:00"}),
            json!(["config", "recurrence"]),
        ),
        (
            json!({"startTime": "next monday", "recurrence": "daily"}),
            json!(["config", "startTime"]),
        ),
        (
            json!({"startTime": "2026-12-07T09:00:00", "recurrence": "fortnightly"}),
            json!(["config", "recurrence"]),
        ),
        (
            json!({"startTime": "2026-12-07T09:00:00", "recurrence": {"cron": "0 25 * * *"}}),
            json!(["config", "recurrence", "cron"]),
        ),
        (
            json!({"startTime": "2026-12-07T09:00:00", "recurrence": "daily",
                   "timezone": "Europe/Londn"}),
            json!(["config", "timezone"]),
        ),
        (
            json!({"startTime": "2026-12-07T09:00:00", "recurrence": "daily", "every": 2}),
            json!(["config", "every"]),
        ),
    ];
    let position = api.journal_position();
    for (config, path) in cases {
        let reply = api
            .call(
                Method::PUT,
                "/api/v1/triggers/report",
                json!({"type": "scheduler", "workflowId": workflow, "config": config}),
            )
            .await;
        let error = assert_error(&reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
        assert_eq!(error["details"][0]["path"], path, "{config}: {error}");
        assert!(error["details"][0]["message"].is_string());
    }
    assert_eq!(api.journal_position(), position, "nothing written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trigger_is_edited_by_id_type_frequency_and_target_flow() {
    let api = TestApi::new().await;
    let workflow = api.active_workflow(order_workflow()).await;
    let other = api.active_workflow(order_workflow()).await;
    let created = api
        .call(Method::PUT, "/api/v1/triggers/report", hourly(&workflow))
        .await;
    let id = created.body["data"]["id"].as_str().expect("id").to_owned();
    let path = format!("/api/v1/triggers/{id}");

    // Frequency: only the recurrence changes; the start time and zone stay.
    let daily = api
        .patch(&path, json!({"config": {"recurrence": "daily"}}))
        .await;
    assert_eq!(daily.status, StatusCode::OK, "{}", daily.body);
    let config = &daily.body["data"]["config"];
    assert_eq!(config["recurrence"], "daily");
    assert_eq!(config["startTime"], "2026-12-07T09:17:00");
    assert_eq!(config["timezone"], "Europe/London");
    assert_eq!(daily.body["data"]["slug"], "report");

    // Target flow, and the status.
    let moved = api
        .patch(&path, json!({"workflowId": other, "status": "disabled"}))
        .await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.body);
    assert_eq!(moved.body["data"]["workflowId"], json!(other));
    assert_eq!(moved.body["data"]["status"], "disabled");
    assert_eq!(moved.body["data"]["type"], "scheduler");

    // Type: the old type's config does not follow it.
    let as_api = api.patch(&path, json!({"type": "api"})).await;
    assert_eq!(as_api.status, StatusCode::OK, "{}", as_api.body);
    assert_eq!(as_api.body["data"]["type"], "api");
    assert_eq!(as_api.body["data"]["config"], json!({}));
    assert!(as_api.body["data"]["apiUrl"].is_string());
    let detail = api.get(&path).await;
    assert_eq!(detail.body["data"], as_api.body["data"]);

    // Refused, each naming its field, and nothing written.
    let position = api.journal_position();
    let unknown = api
        .patch(&path, json!({"frequency": "daily", "flowId": "x"}))
        .await;
    let error = assert_error(&unknown, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    let mut named: Vec<&str> = error["details"]
        .as_array()
        .expect("details")
        .iter()
        .filter_map(|d| d["path"][0].as_str())
        .collect();
    named.sort_unstable();
    assert_eq!(named, ["flowId", "frequency"]);
    let bad = api
        .patch(
            &path,
            json!({"type": "scheduler", "config": {"startTime": "2026-12-07T09:00:00",
                                                   "recurrence": "yearly"}}),
        )
        .await;
    let error = assert_error(&bad, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    assert_eq!(error["details"][0]["path"], json!(["config", "recurrence"]));
    let no_flow = api.patch(&path, json!({"workflowId": "wf_nope"})).await;
    assert_error(&no_flow, StatusCode::NOT_FOUND, "NOT_FOUND");
    let no_trigger = api
        .patch(
            "/api/v1/triggers/trg_00000000000000000000000000000000",
            json!({"type": "manual"}),
        )
        .await;
    assert_error(&no_trigger, StatusCode::NOT_FOUND, "NOT_FOUND");
    let unchanged = api.patch(&path, json!({"type": "api"})).await;
    assert_eq!(unchanged.status, StatusCode::OK, "{}", unchanged.body);
    assert_eq!(api.journal_position(), position, "nothing written");

    // The slug still names the same trigger.
    let again = api
        .call(Method::PUT, "/api/v1/triggers/report", hourly(&workflow))
        .await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert_eq!(again.body["data"]["id"], json!(id));
    assert_eq!(again.body["data"]["type"], "scheduler");
}
