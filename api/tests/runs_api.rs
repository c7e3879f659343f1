//! The workflow and run routes through the router: seed 001's examples as written, the
//! documented errors, and the journal behind them.

mod support;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::{json, Value};
use support::{assert_error, order_input, order_workflow, TestApi};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_request_as_in_seed_001_returns_pending_then_the_numbers() {
    let api = TestApi::new().await;
    let id = api.active_workflow(order_workflow()).await;
    let started = api
        .post(
            &format!("/api/v1/workflows/{id}/run"),
            json!({"input": order_input()}),
        )
        .await;
    assert_eq!(started.status, StatusCode::ACCEPTED, "{}", started.body);
    let data = &started.body["data"];
    assert_eq!(started.body["success"], true);
    assert_eq!(data["status"], "pending");
    assert_eq!(data["workflowId"], json!(id));
    assert_eq!(data["workflowVersion"], 1);
    let run_id = data["runId"].as_str().expect("runId");
    assert!(run_id.starts_with("run_"), "{run_id}");

    // The status polling loop of seed 001, bounded.
    let mut run = Value::Null;
    for _ in 0..200 {
        run = api.get(&format!("/api/v1/runs/{run_id}")).await.body["data"].clone();
        if run["status"] == "completed" || run["status"] == "failed" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(run["id"], json!(run_id));
    assert_eq!(run["output"]["subtotal"], json!(3998));
    // Liquid arithmetic is floating point: 3998 * 0.08 is 319.84000000000003.
    assert!((run["output"]["tax"].as_f64().expect("tax") - 319.84).abs() < 1e-9);
    assert!((run["output"]["total"].as_f64().expect("total") - 4317.84).abs() < 1e-9);
    assert_eq!(run["steps"][0]["id"], "calculate-total");
    assert_eq!(run["steps"][0]["status"], "completed");
    assert!(
        run["startedAt"].as_str().is_some_and(|t| t.ends_with('Z')),
        "{run}"
    );
    assert!(run["completedAt"].is_string(), "{run}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_returns_the_finished_run_and_events_show_the_journal() {
    let api = TestApi::new().await;
    let id = api.active_workflow(order_workflow()).await;
    let done = api
        .post(
            &format!("/api/v1/workflows/{id}/run?wait=30"),
            json!({"input": order_input()}),
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert_eq!(done.body["data"]["status"], "completed");
    assert!(done.body["data"]["output"]["total"].is_number());
    let run_id = done.body["data"]["id"].as_str().expect("id");

    let events = api.get(&format!("/api/v1/runs/{run_id}/events")).await;
    assert_eq!(events.status, StatusCode::OK, "{}", events.body);
    let events = events.body["data"].as_array().expect("events").clone();
    let types: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(types, ["RunStarted", "StepCompleted", "RunCompleted"]);
    assert_eq!(events[0]["seq"], 1);
    assert_eq!(events[0]["data"]["input"]["customerId"], "cus_xxx");
    assert_eq!(events[1]["data"]["stepId"], "calculate-total");
    assert_eq!(events[1]["data"]["output"]["subtotal"], json!(3998));
    assert!(events[1]["position"].as_u64().is_some());
    assert!(events[2]["timestamp"]
        .as_str()
        .is_some_and(|t| t.ends_with('Z')));

    let bad_wait = api
        .post(&format!("/api/v1/workflows/{id}/run?wait=soon"), json!({}))
        .await;
    let error = assert_error(&bad_wait, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    assert_eq!(error["details"][0]["path"], json!(["wait"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_idempotency_key_twice_returns_the_same_run() {
    let api = TestApi::new().await;
    let id = api.active_workflow(order_workflow()).await;
    let body = json!({"input": order_input(), "idempotencyKey": "process-order-123"});
    let first = api
        .post(&format!("/api/v1/workflows/{id}/run"), body.clone())
        .await;
    assert_eq!(first.status, StatusCode::ACCEPTED, "{}", first.body);
    let second = api.post(&format!("/api/v1/workflows/{id}/run"), body).await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.body);
    assert_eq!(first.body["data"]["runId"], second.body["data"]["runId"]);
    // The header form names the same key.
    let request = Request::post(format!("/api/v1/workflows/{id}/run"))
        .header("x-api-key", &api.admin)
        .header("idempotency-key", "process-order-123")
        .body(Body::from(json!({"input": order_input()}).to_string()))
        .expect("request");
    let third = api.raw(request).await;
    assert_eq!(third.body["data"]["runId"], first.body["data"]["runId"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_idempotency_key_is_answered_first_even_after_the_workflow_changed() {
    let api = TestApi::new().await;
    let id = api.active_workflow(order_workflow()).await;
    let body = json!({"input": order_input(), "idempotencyKey": "order-42"});
    let first = api
        .post(&format!("/api/v1/workflows/{id}/run"), body.clone())
        .await;
    assert_eq!(first.status, StatusCode::ACCEPTED, "{}", first.body);
    // The workflow is deactivated: the key still names its run, checked before the status.
    let off = api
        .patch(
            &format!("/api/v1/workflows/{id}/status"),
            json!({"status": "inactive"}),
        )
        .await;
    assert_eq!(off.status, StatusCode::OK, "{}", off.body);
    let again = api
        .post(&format!("/api/v1/workflows/{id}/run"), body.clone())
        .await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert_eq!(again.body["data"]["runId"], first.body["data"]["runId"]);
    // The same key with an input the schema would now refuse: still the first run.
    let odd = json!({"input": {"nothing": true}, "idempotencyKey": "order-42"});
    let again = api.post(&format!("/api/v1/workflows/{id}/run"), odd).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert_eq!(again.body["data"]["runId"], first.body["data"]["runId"]);
    // A new key on the inactive workflow is refused as before.
    let fresh = json!({"input": order_input(), "idempotencyKey": "order-43"});
    let refused = api
        .post(&format!("/api/v1/workflows/{id}/run"), fresh)
        .await;
    assert_error(&refused, StatusCode::BAD_REQUEST, "INVALID_STATUS");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_errors_validation_not_found_and_invalid_status() {
    let api = TestApi::new().await;
    let created = api.post("/api/v1/workflows", order_workflow()).await;
    let id = created.body["data"]["id"].as_str().expect("id").to_owned();
    assert_eq!(created.body["data"]["status"], "draft");

    let draft = api
        .post(
            &format!("/api/v1/workflows/{id}/run"),
            json!({"input": order_input()}),
        )
        .await;
    let error = assert_error(&draft, StatusCode::BAD_REQUEST, "INVALID_STATUS");
    assert_eq!(
        error["message"],
        "Workflow must be active to run. Current status: draft"
    );

    api.patch(
        &format!("/api/v1/workflows/{id}/status"),
        json!({"status": "active"}),
    )
    .await;
    let position = api.journal_position();
    let invalid = api
        .post(
            &format!("/api/v1/workflows/{id}/run"),
            json!({"input": {"items": []}}),
        )
        .await;
    assert_eq!(invalid.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        invalid.body,
        json!({
            "success": false,
            "error": {
                "code": "VALIDATION_ERROR",
                "message": "Input validation failed",
                "details": [{ "path": ["customerId"], "message": "Required" }]
            }
        })
    );
    assert_eq!(
        api.journal_position(),
        position,
        "a refused run writes nothing"
    );

    let missing = api
        .post("/api/v1/workflows/wf_nope/run", json!({"input": {}}))
        .await;
    let error = assert_error(&missing, StatusCode::NOT_FOUND, "NOT_FOUND");
    assert_eq!(error["message"], "Workflow not found");
    assert_error(
        &api.get("/api/v1/runs/run_nope").await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    );
    assert_error(
        &api.post("/api/v1/runs/run_nope/resume", json!({"payload": 1}))
            .await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    );
    assert_error(
        &api.get("/api/v1/runs/run_nope/events").await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    );

    let wrong_type = api
        .post(
            &format!("/api/v1/workflows/{id}/run"),
            json!({"idempotencyKey": 7}),
        )
        .await;
    let error = assert_error(&wrong_type, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    assert_eq!(error["details"][0]["path"], json!(["idempotencyKey"]));
    let not_object = api
        .post(
            &format!("/api/v1/workflows/{id}/run"),
            json!({"input": [1, 2]}),
        )
        .await;
    let error = assert_error(&not_object, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    assert_eq!(error["details"][0]["path"], json!(["input"]));
    assert_eq!(
        api.journal_position(),
        position,
        "refused requests write nothing"
    );
}

// Paused time: the `?wait=0.2` below ends at once when the run has paused.
#[tokio::test(start_paused = true)]
async fn a_paused_run_resumes_with_its_payload_and_an_ended_run_cannot_be_cancelled() {
    let api = TestApi::new().await;
    let id = api
        .active_workflow(json!({
            "name": "approval",
            "steps": [
                {"id": "wait-for-approval", "type": "wait"},
                {"id": "decision", "type": "transform",
                 "config": {"mapping": {"approved": "{{steps.wait-for-approval.output.ok}}"}}}
            ]
        }))
        .await;
    let started = api
        .post(&format!("/api/v1/workflows/{id}/run?wait=0.2"), json!({}))
        .await;
    assert_eq!(started.status, StatusCode::ACCEPTED, "{}", started.body);
    assert_eq!(started.body["data"]["status"], "paused");
    let run_id = started.body["data"]["id"].as_str().expect("id").to_owned();

    let resumed = api
        .post(
            &format!("/api/v1/runs/{run_id}/resume"),
            json!({"payload": {"ok": true}}),
        )
        .await;
    assert_eq!(resumed.status, StatusCode::OK, "{}", resumed.body);
    let mut run = Value::Null;
    for _ in 0..200 {
        run = api.get(&format!("/api/v1/runs/{run_id}")).await.body["data"].clone();
        if run["status"] == "completed" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(run["output"], json!({"approved": true}), "{run}");
    // Steps in the order they ran (not by id), each with its journal times.
    let ids: Vec<&str> = run["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter_map(|s| s["id"].as_str())
        .collect();
    assert_eq!(ids, ["wait-for-approval", "decision"]);
    for step in run["steps"].as_array().expect("steps") {
        assert!(step["startedAt"].is_string(), "{step}");
        assert!(step["completedAt"].is_string(), "{step}");
        assert!(
            step["startedAt"].as_str() <= step["completedAt"].as_str(),
            "{step}"
        );
    }

    let again = api
        .post(&format!("/api/v1/runs/{run_id}/resume"), json!({}))
        .await;
    assert_error(&again, StatusCode::BAD_REQUEST, "INVALID_STATUS");
    let cancel = api
        .post(&format!("/api/v1/runs/{run_id}/cancel"), Value::Null)
        .await;
    let error = assert_error(&cancel, StatusCode::BAD_REQUEST, "INVALID_STATUS");
    assert!(error["message"]
        .as_str()
        .is_some_and(|m| m.contains("completed")));
}

// Paused time: the `?wait=0.2` below ends at once when the run has paused.
#[tokio::test(start_paused = true)]
async fn a_paused_run_can_be_cancelled() {
    let api = TestApi::new().await;
    let id = api
        .active_workflow(json!({"name": "w", "steps": [{"id": "w", "type": "wait"}]}))
        .await;
    let started = api
        .post(&format!("/api/v1/workflows/{id}/run?wait=0.2"), json!({}))
        .await;
    let run_id = started.body["data"]["id"].as_str().expect("id").to_owned();
    let cancelled = api
        .post(
            &format!("/api/v1/runs/{run_id}/cancel"),
            json!({"reason": "no longer needed"}),
        )
        .await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.body);
    assert_eq!(cancelled.body["data"]["status"], "cancelled");
    let events = api.get(&format!("/api/v1/runs/{run_id}/events")).await;
    let last = events.body["data"]
        .as_array()
        .and_then(|e| e.last())
        .cloned();
    assert_eq!(
        last.map(|e| (e["type"].clone(), e["data"]["reason"].clone())),
        Some((json!("RunCancelled"), json!("no longer needed")))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workflow_is_created_edited_versioned_and_deleted() {
    let api = TestApi::new().await;
    let id = api.active_workflow(order_workflow()).await;
    let detail = api.get(&format!("/api/v1/workflows/{id}")).await;
    assert_eq!(detail.status, StatusCode::OK);
    assert_eq!(detail.body["data"]["name"], "Process Customer Order");
    assert_eq!(detail.body["data"]["status"], "active");
    assert_eq!(detail.body["data"]["version"], 1);

    // A new description alone keeps the version; new steps make version 2.
    let renamed = api
        .patch(
            &format!("/api/v1/workflows/{id}"),
            json!({"description": "orders"}),
        )
        .await;
    assert_eq!(renamed.body["data"]["version"], 1, "{}", renamed.body);
    assert_eq!(renamed.body["data"]["description"], "orders");
    let steps = json!([{"id": "one", "type": "transform", "config": {"mapping": {"x": "1"}}}]);
    let edited = api
        .patch(&format!("/api/v1/workflows/{id}"), json!({"steps": steps}))
        .await;
    assert_eq!(edited.body["data"]["version"], 2, "{}", edited.body);
    let versions = api.get(&format!("/api/v1/workflows/{id}/versions")).await;
    let versions = versions.body["data"].as_array().expect("versions").clone();
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[0]["steps"][0]["id"], "calculate-total");
    assert_eq!(versions[1]["steps"][0]["id"], "one");

    let connected = api
        .patch(
            &format!("/api/v1/workflows/{id}/connections"),
            json!({"toolkitSlug": "stripe", "connectionId": "conn_live"}),
        )
        .await;
    assert_eq!(
        connected.body["data"]["connections"],
        json!({"stripe": "conn_live"})
    );

    let bad = api
        .patch(
            &format!("/api/v1/workflows/{id}"),
            json!({"steps": [{"id": "x", "type": "teleport"}]}),
        )
        .await;
    let error = assert_error(&bad, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    assert_eq!(error["details"][0]["path"], json!(["steps", "0", "type"]));
    let bad_status = api
        .patch(
            &format!("/api/v1/workflows/{id}/status"),
            json!({"status": "paused"}),
        )
        .await;
    let error = assert_error(&bad_status, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    assert_eq!(error["details"][0]["path"], json!(["status"]));

    let deleted = api
        .call(
            Method::DELETE,
            &format!("/api/v1/workflows/{id}"),
            Value::Null,
        )
        .await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.body);
    assert_error(
        &api.get(&format!("/api/v1/workflows/{id}")).await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    );
    assert_error(
        &api.call(
            Method::DELETE,
            &format!("/api/v1/workflows/{id}"),
            Value::Null,
        )
        .await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_and_workflows_are_listed_with_filters_and_cursors() {
    let api = TestApi::new().await;
    let orders = api.active_workflow(order_workflow()).await;
    let waits = api
        .active_workflow(json!({"name": "Approval", "steps": [{"id": "w", "type": "wait"}]}))
        .await;
    let mut order_runs = Vec::new();
    for _ in 0..5 {
        let done = api
            .post(
                &format!("/api/v1/workflows/{orders}/run?wait=30"),
                json!({"input": order_input()}),
            )
            .await;
        order_runs.push(done.body["data"]["id"].as_str().expect("id").to_owned());
    }
    let paused = api
        .post(&format!("/api/v1/workflows/{waits}/run"), json!({}))
        .await;
    let paused_id = paused.body["data"]["runId"]
        .as_str()
        .expect("id")
        .to_owned();

    // Newest first, two per page, every order run exactly once.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/api/v1/runs?workflowId={orders}&limit=2");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page = api.get(&path).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        assert_eq!(page.body["pagination"]["limit"], 2);
        for item in page.body["data"].as_array().expect("items") {
            assert_eq!(item["workflowId"], json!(orders));
            assert_eq!(item["status"], "completed");
            seen.push(item["id"].as_str().expect("id").to_owned());
        }
        match page.body["pagination"]["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    let mut newest_first = order_runs.clone();
    newest_first.reverse();
    assert_eq!(seen, newest_first);

    let all = api.get("/api/v1/runs?limit=100").await;
    assert_eq!(all.body["data"].as_array().map(Vec::len), Some(6));
    assert_eq!(all.body["data"][0]["id"], json!(paused_id), "newest first");
    let completed = api.get("/api/v1/runs?status=completed").await;
    assert_eq!(completed.body["data"].as_array().map(Vec::len), Some(5));
    let future = api.get("/api/v1/runs?from=2999-01-01T00:00:00Z").await;
    assert_eq!(future.body["data"], json!([]));
    for bad in [
        "status=sleepy",
        "limit=0",
        "limit=x",
        "from=yesterday",
        "cursor=zz",
    ] {
        let reply = api.get(&format!("/api/v1/runs?{bad}")).await;
        assert_error(&reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    }

    let workflows = api.get("/api/v1/workflows?q=appro&sortBy=name").await;
    assert_eq!(workflows.status, StatusCode::OK, "{}", workflows.body);
    let names: Vec<&str> = workflows.body["data"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|w| w["name"].as_str())
        .collect();
    assert_eq!(names, ["Approval"]);
    let by_name = api.get("/api/v1/workflows?sortBy=name&sortOrder=asc").await;
    let ids: Vec<&str> = by_name.body["data"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|w| w["id"].as_str())
        .collect();
    assert_eq!(ids, [waits.as_str(), orders.as_str()]);
    let bad = api.get("/api/v1/workflows?sortBy=size").await;
    let error = assert_error(&bad, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    assert_eq!(error["details"][0]["path"], json!(["sortBy"]));
}

#[tokio::test]
async fn wrong_methods_and_bad_paths_get_the_json_envelope() {
    let api = TestApi::new().await;
    let reply = api.call(Method::PUT, "/api/v1/workflows", json!({})).await;
    assert_error(&reply, StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_with_an_unreadable_event_is_shown_and_listed_as_corrupt_and_not_acted_on() {
    use journal::{EventStore, EventType, ExpectedVersion, NewEvent, StreamName};
    let api = TestApi::new().await;
    let id = api
        .active_workflow(json!({"name": "w", "steps": [{"id": "w", "type": "wait"}]}))
        .await;
    let mut run_ids = Vec::new();
    for _ in 0..2 {
        let started = api
            .post(&format!("/api/v1/workflows/{id}/run"), json!({}))
            .await;
        let run_id = started.body["data"]["runId"]
            .as_str()
            .expect("id")
            .to_owned();
        let mut status = Value::Null;
        for _ in 0..1000 {
            status =
                api.get(&format!("/api/v1/runs/{run_id}")).await.body["data"]["status"].clone();
            if status == "paused" {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(status, "paused");
        run_ids.push(run_id);
    }
    let (corrupt, sound) = (&run_ids[0], &run_ids[1]);
    let events = api.get(&format!("/api/v1/runs/{corrupt}/events")).await;
    let bad_seq = events.body["data"].as_array().expect("events").len() + 1;
    // Bytes no run event decodes from, under a run event's tag.
    let stream = StreamName::new(format!("run-{corrupt}")).expect("stream");
    api.store
        .append(
            &stream,
            ExpectedVersion::Any,
            vec![NewEvent::new(EventType(102), vec![0xff; 12])],
        )
        .await
        .expect("append");

    let shown = api.get(&format!("/api/v1/runs/{corrupt}")).await;
    assert_eq!(shown.status, StatusCode::OK, "{}", shown.body);
    assert_eq!(shown.body["data"]["status"], "corrupt");
    assert_eq!(shown.body["data"]["error"]["code"], "CORRUPT_EVENT");

    let resumed = api
        .post(&format!("/api/v1/runs/{corrupt}/resume"), json!({}))
        .await;
    let error = assert_error(&resumed, StatusCode::BAD_REQUEST, "INVALID_STATUS");
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.contains("is corrupt") && m.contains(&format!("event {bad_seq} "))),
        "{error}"
    );

    // The listing says so too (the read model follows the journal), and filters by it.
    let mut listed = Value::Null;
    for _ in 0..500 {
        listed = api.get("/api/v1/runs?status=corrupt").await.body["data"].clone();
        if listed.as_array().is_some_and(|runs| !runs.is_empty()) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let listed: Vec<&str> = listed
        .as_array()
        .expect("runs")
        .iter()
        .filter_map(|run| run["id"].as_str())
        .collect();
    assert_eq!(listed, [corrupt.as_str()]);

    // The other run is untouched.
    let resumed = api
        .post(
            &format!("/api/v1/runs/{sound}/resume"),
            json!({"payload": {}}),
        )
        .await;
    assert_eq!(resumed.status, StatusCode::OK, "{}", resumed.body);
}
