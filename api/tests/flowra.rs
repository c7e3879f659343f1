//! Seed 002's Flowra workflows API (`/api/v1/workflow/manager`) through the router: each
//! route's shape and documented errors, "Run from your app" (execute, poll the thread's
//! status, resume a paused thread), and page/offset pagination agreeing with cursors.

mod support;

use std::time::Duration;

use axum::http::{Method, StatusCode};
use credentials::keys::Scope;
use serde_json::{json, Value};
use support::{assert_error, order_input, order_workflow, Reply, TestApi};

const M: &str = "/api/v1/workflow/manager";

/// An agent workflow as Flowra's CreateAgentDto has it, with one step to run.
fn agent_workflow(name: &str) -> Value {
    json!({
        "name": name,
        "description": "Answers support questions",
        "systemPrompt": "You are a friendly support bot.",
        "model": "gpt-4o-mini",
        "tools": ["slack", "knowledge-base"],
        "steps": [{"id": "reply", "type": "transform",
                   "config": {"mapping": {"answer": "{{input.question}}"}}}]
    })
}

async fn create(api: &TestApi, definition: Value) -> String {
    let created = api.post(&format!("{M}/create"), definition).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    created.body["data"]["id"]
        .as_str()
        .expect("workflow id")
        .to_owned()
}

async fn activate(api: &TestApi, id: &str) {
    let reply = api
        .patch(
            &format!("{M}/activeStatus/{id}"),
            json!({"activeStatus": "active"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
}

async fn deactivate(api: &TestApi, id: &str) {
    let reply = api
        .patch(
            &format!("{M}/activeStatus/{id}"),
            json!({"activeStatus": "inactive"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
}

fn ids(reply: &Reply) -> Vec<String> {
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body["data"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|item| item["id"].as_str().map(str::to_owned))
        .collect()
}

/// Every item of a listing, `limit` at a time, following `nextCursor`.
async fn by_cursor(api: &TestApi, path: &str, limit: usize) -> Vec<Vec<String>> {
    let mut pages = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let separator = if path.contains('?') { '&' } else { '?' };
        let mut url = format!("{path}{separator}limit={limit}");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let page = api.get(&url).await;
        assert_eq!(page.body["pagination"]["limit"], json!(limit));
        pages.push(ids(&page));
        match page.body["pagination"]["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return pages,
        }
    }
}

/// Polls the thread's status until `done` (bounded); returns the last status object.
async fn poll_until_done(api: &TestApi, thread_id: &str) -> Value {
    let mut status = Value::Null;
    for _ in 0..300 {
        let reply = api
            .get(&format!("{M}/executions/thread/{thread_id}/status"))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        status = reply.body["data"].clone();
        if status["done"] == true {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workflows_are_created_read_updated_switched_and_deleted() {
    let api = TestApi::new().await;
    let id = create(&api, agent_workflow("Support bot")).await;
    assert!(id.starts_with("wf_"), "{id}");

    let detail = api.get(&format!("{M}/detail/{id}")).await;
    assert_eq!(detail.status, StatusCode::OK, "{}", detail.body);
    assert_eq!(detail.body["success"], true);
    let data = &detail.body["data"];
    assert_eq!(data["id"], json!(id));
    assert_eq!(data["name"], "Support bot");
    assert_eq!(data["systemPrompt"], "You are a friendly support bot.");
    assert_eq!(data["model"], "gpt-4o-mini");
    assert_eq!(data["tools"], json!(["slack", "knowledge-base"]));
    assert_eq!(data["status"], "active", "Flowra's creates start active");
    assert_eq!(data["version"], 1);

    // Partial update: only the fields sent change.
    let updated = api
        .patch(
            &format!("{M}/update/{id}"),
            json!({"systemPrompt": "Be brief.", "model": "gpt-4o"}),
        )
        .await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.body);
    assert_eq!(updated.body["data"]["systemPrompt"], "Be brief.");
    assert_eq!(updated.body["data"]["model"], "gpt-4o");
    assert_eq!(updated.body["data"]["name"], "Support bot");
    assert_eq!(
        updated.body["data"]["tools"],
        json!(["slack", "knowledge-base"])
    );
    let bad_update = api
        .patch(
            &format!("{M}/update/{id}"),
            json!({"steps": [{"id": "x", "type": "teleport"}]}),
        )
        .await;
    let error = assert_error(&bad_update, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    assert_eq!(error["details"][0]["path"], json!(["steps", "0", "type"]));

    // Every accepted activeStatus body.
    for (body, expected) in [
        (json!({"activeStatus": "active"}), "active"),
        (json!({"activeStatus": "INACTIVE"}), "inactive"),
        (json!({"status": "active"}), "active"),
        (json!({"isActive": false}), "inactive"),
        (json!({"active": true}), "active"),
        (json!({"activeStatus": false}), "inactive"),
        (json!({"activeStatus": "true", "isActive": true}), "active"),
    ] {
        let reply = api
            .patch(&format!("{M}/activeStatus/{id}"), body.clone())
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{body}: {}", reply.body);
        assert_eq!(reply.body["data"]["status"], expected, "{body}");
    }
    let position = api.journal_position();
    for (body, field) in [
        (json!({}), "activeStatus"),
        (Value::Null, "activeStatus"),
        (json!({"activeStatus": "on"}), "activeStatus"),
        (json!({"activeStatus": 1}), "activeStatus"),
        (json!({"status": "draft"}), "status"),
        (json!({"isActive": "yes"}), "isActive"),
        (
            json!({"activeStatus": "active", "isActive": false}),
            "isActive",
        ),
    ] {
        let reply = api
            .patch(&format!("{M}/activeStatus/{id}"), body.clone())
            .await;
        let error = assert_error(&reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
        assert_eq!(error["details"][0]["path"], json!([field]), "{body}");
    }
    assert_eq!(api.journal_position(), position, "refusals write nothing");

    let connected = api
        .patch(
            &format!("{M}/change-connection/{id}"),
            json!({"toolkitSlug": "slack", "connectionId": "conn_team"}),
        )
        .await;
    assert_eq!(connected.status, StatusCode::OK, "{}", connected.body);
    assert_eq!(
        connected.body["data"]["connections"],
        json!({"slack": "conn_team"})
    );
    let missing_field = api
        .patch(
            &format!("{M}/change-connection/{id}"),
            json!({"toolkitSlug": "slack"}),
        )
        .await;
    assert_error(&missing_field, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    let empty = api
        .patch(
            &format!("{M}/change-connection/{id}"),
            json!({"toolkitSlug": "slack", "connectionId": " "}),
        )
        .await;
    let error = assert_error(&empty, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    assert_eq!(error["details"][0]["path"], json!(["connectionId"]));

    let bad_create = api
        .post(&format!("{M}/create"), json!({"name": "no steps"}))
        .await;
    let error = assert_error(&bad_create, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    assert_eq!(error["details"][0]["path"], json!(["steps"]));

    let deleted = api
        .call(Method::DELETE, &format!("{M}/delete/{id}"), Value::Null)
        .await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.body);
    assert_eq!(deleted.body["data"], json!({"id": id, "deleted": true}));

    // The deleted workflow, and one that never was, are 404 on every workflow route.
    for missing in [id.as_str(), "wf_nope"] {
        for (method, path, body) in [
            (Method::GET, format!("{M}/detail/{missing}"), Value::Null),
            (
                Method::PATCH,
                format!("{M}/update/{missing}"),
                json!({"model": "x"}),
            ),
            (Method::DELETE, format!("{M}/delete/{missing}"), Value::Null),
            (
                Method::PATCH,
                format!("{M}/activeStatus/{missing}"),
                json!({"activeStatus": "active"}),
            ),
            (
                Method::PATCH,
                format!("{M}/change-connection/{missing}"),
                json!({"toolkitSlug": "slack", "connectionId": "c"}),
            ),
            (
                Method::GET,
                format!("{M}/{missing}/executions"),
                Value::Null,
            ),
            (
                Method::POST,
                format!("{M}/execute/{missing}"),
                json!({"question": "hi"}),
            ),
        ] {
            let reply = api.call(method.clone(), &path, body).await;
            let error = assert_error(&reply, StatusCode::NOT_FOUND, "NOT_FOUND");
            assert_eq!(error["message"], "Workflow not found", "{method} {path}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_from_your_app_execute_poll_the_thread_and_read_the_execution() {
    let api = TestApi::new().await;
    let mut draft_workflow = order_workflow();
    draft_workflow["status"] = json!("draft");
    let id = create(&api, draft_workflow).await;

    // A draft workflow does not run.
    let draft = api.post(&format!("{M}/execute/{id}"), order_input()).await;
    assert_error(&draft, StatusCode::BAD_REQUEST, "INVALID_STATUS");
    activate(&api, &id).await;

    // A bare payload is the input.
    let started = api.post(&format!("{M}/execute/{id}"), order_input()).await;
    assert_eq!(started.status, StatusCode::ACCEPTED, "{}", started.body);
    assert_eq!(started.body["success"], true);
    let data = &started.body["data"];
    assert_eq!(data["status"], "pending");
    assert_eq!(data["workflowId"], json!(id));
    assert_eq!(data["workflowVersion"], 1);
    let thread_id = data["threadId"].as_str().expect("threadId").to_owned();
    assert_eq!(data["runId"], json!(thread_id));

    let status = poll_until_done(&api, &thread_id).await;
    assert_eq!(status["status"], "completed", "{status}");
    assert_eq!(status["completed"], true);
    assert_eq!(status["failed"], false);
    assert_eq!(status["paused"], false);
    assert_eq!(status["threadId"], json!(thread_id));
    assert_eq!(status["runId"], json!(thread_id));
    assert_eq!(status["workflowId"], json!(id));
    assert_eq!(status["output"]["subtotal"], json!(3998));
    assert!(status["completedAt"].is_string(), "{status}");

    let execution = api.get(&format!("{M}/executions/{thread_id}")).await;
    assert_eq!(execution.status, StatusCode::OK, "{}", execution.body);
    let run = &execution.body["data"];
    assert_eq!(run["id"], json!(thread_id));
    assert_eq!(run["threadId"], json!(thread_id));
    assert_eq!(run["input"]["customerId"], "cus_xxx");
    assert_eq!(run["output"]["subtotal"], json!(3998));
    assert_eq!(run["steps"][0]["id"], "calculate-total");
    assert_eq!(run["steps"][0]["status"], "completed");

    // The wrapped form, with ?wait and an idempotency key.
    let body = json!({"input": order_input(), "idempotencyKey": "order-7"});
    let waited = api
        .post(&format!("{M}/execute/{id}?wait=30"), body.clone())
        .await;
    assert_eq!(waited.status, StatusCode::OK, "{}", waited.body);
    assert_eq!(waited.body["data"]["status"], "completed");
    assert_eq!(waited.body["data"]["threadId"], waited.body["data"]["id"]);
    let again = api.post(&format!("{M}/execute/{id}"), body).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert_eq!(again.body["data"]["threadId"], waited.body["data"]["id"]);
    assert_eq!(again.body["data"]["status"], "completed");

    // Errors: the input is validated, the body must be an object, wait must be a number.
    let position = api.journal_position();
    let invalid = api
        .post(&format!("{M}/execute/{id}"), json!({"items": []}))
        .await;
    let error = assert_error(&invalid, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    assert_eq!(error["message"], "Input validation failed");
    assert_eq!(error["details"][0]["path"], json!(["customerId"]));
    let wrapped_invalid = api
        .post(
            &format!("{M}/execute/{id}"),
            json!({"input": {"items": []}}),
        )
        .await;
    assert_error(
        &wrapped_invalid,
        StatusCode::BAD_REQUEST,
        "VALIDATION_ERROR",
    );
    let not_object = api.post(&format!("{M}/execute/{id}"), json!([1])).await;
    assert_error(&not_object, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    let bad_key = api
        .post(&format!("{M}/execute/{id}"), json!({"idempotencyKey": 5}))
        .await;
    let error = assert_error(&bad_key, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    assert_eq!(error["details"][0]["path"], json!(["idempotencyKey"]));
    let bad_wait = api
        .post(&format!("{M}/execute/{id}?wait=soon"), order_input())
        .await;
    let error = assert_error(&bad_wait, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    assert_eq!(error["details"][0]["path"], json!(["wait"]));
    assert_eq!(api.journal_position(), position, "refusals write nothing");

    for path in [
        format!("{M}/executions/run_nope"),
        format!("{M}/executions/thread/run_nope/status"),
    ] {
        let reply = api.get(&path).await;
        let error = assert_error(&reply, StatusCode::NOT_FOUND, "NOT_FOUND");
        assert_eq!(error["message"], "Run not found");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_thread_resumes_with_its_payload_as_the_wait_steps_output() {
    let api = TestApi::new().await;
    let id = create(
        &api,
        json!({
            "name": "approval",
            "steps": [
                {"id": "w", "type": "wait"},
                {"id": "result", "type": "transform",
                 "config": {"mapping": {"approved": "{{steps.w.output.ok}}"}}}
            ]
        }),
    )
    .await;
    activate(&api, &id).await;

    // Each ResumeWorkflowExecutionDto form: payload, input, message, the bare body.
    for body in [
        json!({"payload": {"ok": true}}),
        json!({"input": {"ok": true}}),
        json!({"message": {"ok": true}}),
        json!({"ok": true}),
    ] {
        let started = api.post(&format!("{M}/execute/{id}"), Value::Null).await;
        assert_eq!(started.status, StatusCode::ACCEPTED, "{}", started.body);
        let thread_id = started.body["data"]["threadId"]
            .as_str()
            .expect("threadId")
            .to_owned();
        let mut status = Value::Null;
        for _ in 0..300 {
            status = api
                .get(&format!("{M}/executions/thread/{thread_id}/status"))
                .await
                .body["data"]
                .clone();
            if status["paused"] == true {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(status["status"], "paused", "{status}");
        assert_eq!(status["completed"], false);
        assert_eq!(status["done"], false);

        let resumed = api
            .post(
                &format!("{M}/executions/thread/{thread_id}/resume"),
                body.clone(),
            )
            .await;
        assert_eq!(resumed.status, StatusCode::OK, "{}", resumed.body);
        assert_eq!(resumed.body["data"]["threadId"], json!(thread_id));

        let status = poll_until_done(&api, &thread_id).await;
        assert_eq!(status["completed"], true, "{body}: {status}");
        assert_eq!(status["output"], json!({"approved": true}), "{body}");
        let run = api.get(&format!("{M}/executions/{thread_id}")).await;
        assert_eq!(run.body["data"]["steps"][0]["id"], "w");
        assert_eq!(
            run.body["data"]["steps"][0]["output"],
            json!({"ok": true}),
            "{body}"
        );

        let again = api
            .post(
                &format!("{M}/executions/thread/{thread_id}/resume"),
                json!({"payload": {}}),
            )
            .await;
        assert_error(&again, StatusCode::BAD_REQUEST, "INVALID_STATUS");
    }
    let unknown = api
        .post(
            &format!("{M}/executions/thread/run_nope/resume"),
            json!({"payload": 1}),
        )
        .await;
    assert_error(&unknown, StatusCode::NOT_FOUND, "NOT_FOUND");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workflow_lists_by_page_and_offset_match_the_cursor_pages() {
    let api = TestApi::new().await;
    let mut created = Vec::new();
    for n in 0..7 {
        let id = create(&api, agent_workflow(&format!("Bot {n}"))).await;
        if n % 2 == 1 {
            deactivate(&api, &id).await;
        }
        created.push(id);
    }

    let list = format!("{M}/list");
    let pages = by_cursor(&api, &list, 3).await;
    assert_eq!(pages.len(), 3);
    let all: Vec<String> = pages.concat();
    let mut newest_first = created.clone();
    newest_first.reverse();
    assert_eq!(all, newest_first, "newest first by default");

    for (n, page) in pages.iter().enumerate() {
        let by_page = api.get(&format!("{list}?limit=3&page={}", n + 1)).await;
        assert_eq!(&ids(&by_page), page, "page {}", n + 1);
        let by_offset = api.get(&format!("{list}?limit=3&offset={}", n * 3)).await;
        assert_eq!(&ids(&by_offset), page, "offset {}", n * 3);
    }
    // An offset off the page grid, and the cursor it gives continues from there.
    let shifted = api.get(&format!("{list}?limit=3&offset=2")).await;
    assert_eq!(ids(&shifted), all[2..5].to_vec());
    let next = shifted.body["pagination"]["nextCursor"]
        .as_str()
        .expect("next cursor");
    let rest = api.get(&format!("{list}?limit=3&cursor={next}")).await;
    assert_eq!(ids(&rest), all[5..7].to_vec());
    let past_end = api.get(&format!("{list}?limit=3&page=9")).await;
    assert_eq!(ids(&past_end), Vec::<String>::new());
    assert_eq!(past_end.body["pagination"]["nextCursor"], Value::Null);

    // Filters and sorting, Flowra's spellings.
    let active = api.get(&format!("{list}?activeStatus=active")).await;
    let expected: Vec<String> = newest_first
        .iter()
        .filter(|id| {
            created
                .iter()
                .position(|c| c == *id)
                .is_some_and(|n| n % 2 == 0)
        })
        .cloned()
        .collect();
    assert_eq!(ids(&active), expected);
    let also_active = api.get(&format!("{list}?activeStatus=true")).await;
    assert_eq!(ids(&also_active), expected);
    let inactive = api.get(&format!("{list}?activeStatus=false")).await;
    let expected_inactive: Vec<String> = newest_first
        .iter()
        .filter(|id| !expected.contains(id))
        .cloned()
        .collect();
    assert_eq!(ids(&inactive), expected_inactive);
    let ascending = api
        .get(&format!(
            "{list}?sortBy=createdAt&sortOrder=ASC&limit=2&page=2"
        ))
        .await;
    assert_eq!(ids(&ascending), created[2..4].to_vec());
    let search = api.get(&format!("{list}?q=bot%203")).await;
    assert_eq!(ids(&search), vec![created[3].clone()]);

    for (query, field) in [
        ("activeStatus=on", "activeStatus"),
        ("sortOrder=sideways", "sortOrder"),
        ("sortBy=size", "sortBy"),
        ("limit=0", "limit"),
        ("page=0", "page"),
        ("offset=-1", "offset"),
        ("offset=10001", "offset"),
        ("limit=100&page=102", "page"),
        ("page=2&offset=3", "offset"),
        ("offset=3&cursor=abc", "cursor"),
        ("cursor=zz", "cursor"),
    ] {
        let reply = api.get(&format!("{list}?{query}")).await;
        let error = assert_error(&reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
        assert_eq!(error["details"][0]["path"], json!([field]), "{query}");
    }
    let bounded = api.get(&format!("{list}?offset=10000")).await;
    assert_eq!(ids(&bounded), Vec::<String>::new());
}

// Paused time: the `?wait=0.2` below ends at once when the run has paused.
#[tokio::test(start_paused = true)]
async fn executions_list_with_filters_pages_and_per_workflow() {
    let api = TestApi::new().await;
    let orders = create(&api, order_workflow()).await;
    activate(&api, &orders).await;
    let waits = create(
        &api,
        json!({"name": "Approval", "steps": [{"id": "w", "type": "wait"}]}),
    )
    .await;
    activate(&api, &waits).await;
    let mut order_runs = Vec::new();
    for _ in 0..5 {
        let done = api
            .post(&format!("{M}/execute/{orders}?wait=30"), order_input())
            .await;
        assert_eq!(done.status, StatusCode::OK, "{}", done.body);
        order_runs.push(
            done.body["data"]["threadId"]
                .as_str()
                .expect("id")
                .to_owned(),
        );
    }
    let paused = api
        .post(&format!("{M}/execute/{waits}?wait=0.2"), Value::Null)
        .await;
    let paused_id = paused.body["data"]["threadId"]
        .as_str()
        .expect("id")
        .to_owned();
    order_runs.reverse(); // newest first

    let executions = format!("{M}/executions");
    let pages = by_cursor(&api, &format!("{executions}?workflowId={orders}"), 2).await;
    assert_eq!(pages.concat(), order_runs);
    for (n, page) in pages.iter().enumerate() {
        let by_page = api
            .get(&format!(
                "{executions}?workflowId={orders}&limit=2&page={}",
                n + 1
            ))
            .await;
        assert_eq!(&ids(&by_page), page);
        let by_offset = api
            .get(&format!(
                "{executions}?workflowId={orders}&limit=2&offset={}",
                n * 2
            ))
            .await;
        assert_eq!(&ids(&by_offset), page);
    }

    let one_workflow = format!("{M}/{orders}/executions");
    assert_eq!(by_cursor(&api, &one_workflow, 2).await, pages);
    let offset = api.get(&format!("{one_workflow}?limit=2&offset=3")).await;
    assert_eq!(ids(&offset), order_runs[3..5].to_vec());
    let waiting = api.get(&format!("{M}/{waits}/executions")).await;
    assert_eq!(ids(&waiting), vec![paused_id.clone()]);
    assert_eq!(waiting.body["data"][0]["status"], "paused");
    let mismatch = api.get(&format!("{one_workflow}?workflowId={waits}")).await;
    let error = assert_error(&mismatch, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    assert_eq!(error["details"][0]["path"], json!(["workflowId"]));

    let all = api.get(&format!("{executions}?limit=100")).await;
    assert_eq!(ids(&all).len(), 6);
    assert_eq!(ids(&all)[0], paused_id, "newest first");
    let completed = api.get(&format!("{executions}?status=COMPLETED")).await;
    assert_eq!(ids(&completed), order_runs);
    let paused_only = api.get(&format!("{executions}?status=paused")).await;
    assert_eq!(ids(&paused_only), vec![paused_id.clone()]);
    // The days of the oldest and the newest run (the same day, unless midnight passed).
    let day = |n: usize| {
        all.body["data"][n]["startedAt"]
            .as_str()
            .and_then(|t| t.get(..10))
            .expect("startedAt")
            .to_owned()
    };
    let (first_day, last_day) = (day(5), day(0));
    let this_day = api
        .get(&format!(
            "{executions}?startDate={first_day}&endDate={last_day}&limit=100"
        ))
        .await;
    assert_eq!(
        ids(&this_day).len(),
        6,
        "a date range includes the whole day"
    );
    let future = api.get(&format!("{executions}?startDate=2999-01-01")).await;
    assert_eq!(ids(&future), Vec::<String>::new());
    let past = api
        .get(&format!("{executions}?to=2000-01-01T00:00:00Z"))
        .await;
    assert_eq!(ids(&past), Vec::<String>::new());

    for (query, field) in [
        ("status=sleepy", "status"),
        ("startDate=yesterday", "startDate"),
        ("endDate=2024-13-01", "endDate"),
        ("from=2024-01-01&startDate=2024-01-01", "startDate"),
        ("limit=101", "limit"),
        ("offset=20000", "offset"),
        ("cursor=zz", "cursor"),
    ] {
        let reply = api.get(&format!("{executions}?{query}")).await;
        let error = assert_error(&reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
        assert_eq!(error["details"][0]["path"], json!([field]), "{query}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flowra_routes_need_a_key_and_their_scope() {
    let api = TestApi::new().await;
    let id = create(&api, order_workflow()).await;
    activate(&api, &id).await;
    let done = api
        .post(&format!("{M}/execute/{id}?wait=30"), order_input())
        .await;
    let run_id = done.body["data"]["threadId"]
        .as_str()
        .expect("id")
        .to_owned();

    // (method, path, body, the scope it needs)
    let routes = [
        (
            Method::GET,
            format!("{M}/list"),
            Value::Null,
            Scope::WorkflowsRead,
        ),
        (
            Method::GET,
            format!("{M}/detail/{id}"),
            Value::Null,
            Scope::WorkflowsRead,
        ),
        (
            Method::POST,
            format!("{M}/create"),
            agent_workflow("x"),
            Scope::WorkflowsWrite,
        ),
        (
            Method::PATCH,
            format!("{M}/update/{id}"),
            json!({"model": "m"}),
            Scope::WorkflowsWrite,
        ),
        (
            Method::PATCH,
            format!("{M}/activeStatus/{id}"),
            json!({"activeStatus": "active"}),
            Scope::WorkflowsWrite,
        ),
        (
            Method::PATCH,
            format!("{M}/change-connection/{id}"),
            json!({"toolkitSlug": "s", "connectionId": "c"}),
            Scope::WorkflowsWrite,
        ),
        (
            Method::POST,
            format!("{M}/execute/{id}"),
            order_input(),
            Scope::WorkflowsExecute,
        ),
        (
            Method::GET,
            format!("{M}/executions"),
            Value::Null,
            Scope::RunsRead,
        ),
        (
            Method::GET,
            format!("{M}/executions/{run_id}"),
            Value::Null,
            Scope::RunsRead,
        ),
        (
            Method::GET,
            format!("{M}/executions/thread/{run_id}/status"),
            Value::Null,
            Scope::RunsRead,
        ),
        (
            Method::GET,
            format!("{M}/{id}/executions"),
            Value::Null,
            Scope::RunsRead,
        ),
        (
            Method::POST,
            format!("{M}/executions/thread/{run_id}/resume"),
            json!({"payload": 1}),
            Scope::RunsWrite,
        ),
        (
            Method::DELETE,
            format!("{M}/delete/{id}"),
            Value::Null,
            Scope::WorkflowsWrite,
        ),
    ];
    // One key per scope, and one holding every scope but the needed one.
    let all_scopes = [
        Scope::WorkflowsRead,
        Scope::WorkflowsWrite,
        Scope::WorkflowsExecute,
        Scope::RunsRead,
        Scope::RunsWrite,
    ];
    for (method, path, body, scope) in routes {
        let none = api.call_as("", method.clone(), &path, body.clone()).await;
        assert_error(&none, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
        let bogus = api
            .call_as("duro_nope", method.clone(), &path, body.clone())
            .await;
        assert_error(&bogus, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
        let others: Vec<Scope> = all_scopes.iter().copied().filter(|s| *s != scope).collect();
        let lacking = api.key(&others).await;
        let forbidden = api
            .call_as(&lacking, method.clone(), &path, body.clone())
            .await;
        let error = assert_error(&forbidden, StatusCode::FORBIDDEN, "FORBIDDEN");
        assert!(
            error["message"]
                .as_str()
                .is_some_and(|m| m.contains(&scope.to_string())),
            "{method} {path}: {error}"
        );
        let holder = api.key(&[scope]).await;
        let allowed = api.call_as(&holder, method.clone(), &path, body).await;
        assert!(
            allowed.status.is_success() || allowed.body["error"]["code"] == "INVALID_STATUS",
            "{method} {path}: {} {}",
            allowed.status,
            allowed.body
        );
    }
}
