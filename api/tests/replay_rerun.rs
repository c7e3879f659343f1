//! Replay debugging and reruns through the API: a run whose step fails for good is replayed
//! (the failing step and its error), checked against a fixed version (the divergence at that
//! step) and rerun from that step (the earlier steps are not requested again).

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::routing::any;
use axum::Router;
use serde_json::{json, Value};
use support::{assert_error, TestApi};

/// Requests seen by the counter server, by path.
type Counts = Arc<Mutex<HashMap<String, u32>>>;

/// A server that counts requests per path: `/ok/{name}` answers 200, `/fail/{name}` 400.
async fn counter_server() -> (String, Counts) {
    let counts: Counts = Arc::default();
    let app = Router::new()
        .route(
            "/{kind}/{name}",
            any(
                |State(counts): State<Counts>, Path((kind, name)): Path<(String, String)>| async move {
                    *counts
                        .lock()
                        .expect("lock")
                        .entry(format!("/{kind}/{name}"))
                        .or_default() += 1;
                    if kind == "fail" {
                        (StatusCode::BAD_REQUEST, format!("{{\"error\":\"{name} refused\"}}"))
                    } else {
                        (StatusCode::OK, format!("{{\"done\":\"{name}\"}}"))
                    }
                },
            ),
        )
        .with_state(counts.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{address}"), counts)
}

fn count(counts: &Counts, path: &str) -> u32 {
    counts.lock().expect("lock").get(path).copied().unwrap_or(0)
}

/// fetch (http) → calc (transform) → charge (http to `charge_url`) → notify (http).
fn steps(base: &str, charge_url: &str) -> Value {
    json!([
        { "id": "fetch", "type": "http", "config": { "url": format!("{base}/ok/fetch") } },
        { "id": "calc", "type": "transform", "config": { "mapping": { "total": "{{input.amount | times: 2}}" } } },
        { "id": "charge", "type": "http", "config": {
            "method": "POST", "url": charge_url, "body": { "total": "{{steps.calc.output.total}}" } } },
        { "id": "notify", "type": "http", "config": { "method": "POST", "url": format!("{base}/ok/notify") } },
    ])
}

/// Runs the workflow once; its charge step fails for good. Returns (workflow id, run id).
async fn failed_run(api: &TestApi, base: &str) -> (String, String) {
    let workflow = api
        .active_workflow(json!({
            "name": "Order",
            "steps": steps(base, &format!("{base}/fail/charge")),
        }))
        .await;
    let run = api
        .post(
            &format!("/api/v1/workflows/{workflow}/run?wait=10"),
            json!({ "input": { "amount": 21 } }),
        )
        .await;
    assert_eq!(run.status, StatusCode::OK, "{}", run.body);
    assert_eq!(run.body["data"]["status"], "failed", "{}", run.body);
    let run_id = run.body["data"]["runId"]
        .as_str()
        .expect("run id")
        .to_owned();
    (workflow, run_id)
}

/// Makes version 2 with a charge that succeeds.
async fn fix(api: &TestApi, workflow: &str, base: &str) {
    let fixed = api
        .patch(
            &format!("/api/v1/workflows/{workflow}"),
            json!({ "steps": steps(base, &format!("{base}/ok/charge")) }),
        )
        .await;
    assert_eq!(fixed.status, StatusCode::OK, "{}", fixed.body);
    assert_eq!(fixed.body["data"]["version"], 2, "{}", fixed.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_shows_the_failing_step_and_a_rerun_of_the_fixed_version_skips_the_earlier_steps() {
    let (base, counts) = counter_server().await;
    let api = TestApi::new().await;
    let (workflow, parent) = failed_run(&api, &base).await;

    let replay = api.get(&format!("/api/v1/runs/{parent}/replay")).await;
    assert_eq!(replay.status, StatusCode::OK, "{}", replay.body);
    let data = &replay.body["data"];
    assert_eq!(data["status"], "failed");
    assert_eq!(data["stopped"]["stepId"], "charge", "{data}");
    let reason = data["stopped"]["reason"].as_str().expect("reason");
    assert!(
        reason.contains("charge") && reason.contains("400"),
        "{reason}"
    );
    let charge = data["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .find(|s| s["id"] == "charge")
        .expect("charge step");
    assert_eq!(charge["status"], "failed", "{charge}");
    assert_eq!(charge["error"]["code"], "400", "{charge}");
    assert_eq!(
        charge["input"]["body"]["total"], 42,
        "the rendered request: {charge}"
    );
    let timeline = data["timeline"].as_array().expect("timeline");
    assert_eq!(timeline.first().expect("first")["type"], "RunStarted");
    let last = timeline.last().expect("last");
    assert_eq!(last["type"], "RunFailed");
    assert_eq!(last["status"], "failed");
    assert!(
        data["against"].is_null() && data["divergence"].is_null(),
        "{data}"
    );

    fix(&api, &workflow, &base).await;
    assert_eq!(count(&counts, "/ok/fetch"), 1);

    let rerun = api
        .post(
            &format!("/api/v1/runs/{parent}/rerun?wait=10"),
            json!({ "fromStep": "charge" }),
        )
        .await;
    assert_eq!(rerun.status, StatusCode::OK, "{}", rerun.body);
    let child = &rerun.body["data"];
    assert_eq!(child["status"], "completed", "{child}");
    assert_eq!(child["workflowVersion"], 2, "{child}");
    assert_eq!(
        child["parent"],
        json!({ "runId": parent, "fromStep": "charge" })
    );
    let reused: Vec<(&str, bool)> = child["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| (s["id"].as_str().expect("id"), s["reused"] == true))
        .collect();
    assert_eq!(
        reused,
        vec![
            ("fetch", true),
            ("calc", true),
            ("charge", false),
            ("notify", false)
        ]
    );
    assert_eq!(child["steps"][2]["status"], "completed");
    // The reused steps were not carried out again: one request to fetch, ever.
    assert_eq!(count(&counts, "/ok/fetch"), 1);
    assert_eq!(count(&counts, "/ok/charge"), 1);
    assert_eq!(count(&counts, "/ok/notify"), 1);
    assert_eq!(count(&counts, "/fail/charge"), 1);

    let child_id = child["runId"].as_str().expect("child id");
    let parent_detail = api.get(&format!("/api/v1/runs/{parent}")).await;
    assert_eq!(parent_detail.body["data"]["status"], "failed");
    assert_eq!(
        parent_detail.body["data"]["reruns"],
        json!([{ "runId": child_id, "fromStep": "charge" }])
    );
    let child_events = api.get(&format!("/api/v1/runs/{child_id}/events")).await;
    let types: Vec<&str> = child_events.body["data"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["type"].as_str().expect("type"))
        .collect();
    assert_eq!(
        types[..4],
        ["RunStarted", "RunForked", "StepReused", "StepReused"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_against_a_changed_definition_reports_where_it_diverges() {
    let (base, _counts) = counter_server().await;
    let api = TestApi::new().await;
    let (workflow, run) = failed_run(&api, &base).await;

    // Against its own version: no divergence.
    let same = api
        .get(&format!("/api/v1/runs/{run}/replay?version=1"))
        .await;
    assert_eq!(same.status, StatusCode::OK, "{}", same.body);
    assert_eq!(
        same.body["data"]["against"],
        json!({ "workflowVersion": 1, "source": "version" })
    );
    assert!(
        same.body["data"]["divergence"].is_null(),
        "{}",
        same.body["data"]["divergence"]
    );

    // Against the fixed version: the charge request differs.
    fix(&api, &workflow, &base).await;
    let fixed = api
        .get(&format!("/api/v1/runs/{run}/replay?version=2"))
        .await;
    let divergence = &fixed.body["data"]["divergence"];
    assert_eq!(divergence["stepId"], "charge", "{divergence}");
    assert_eq!(divergence["type"], "StepStarted", "{divergence}");
    assert_eq!(divergence["kind"], "request", "{divergence}");
    assert!(
        divergence["message"]
            .as_str()
            .expect("message")
            .contains("url"),
        "{divergence}"
    );

    // A definition without the transform: the history's calc step has no place in it.
    let mut without_calc = steps(&base, &format!("{base}/fail/charge"));
    without_calc
        .as_array_mut()
        .expect("steps")
        .retain(|s| s["id"] != "calc");
    without_calc[1]["config"]["body"] = json!({ "total": 42 });
    let posted = api
        .post(
            &format!("/api/v1/runs/{run}/replay"),
            json!({ "definition": { "name": "Order", "steps": without_calc } }),
        )
        .await;
    assert_eq!(posted.status, StatusCode::OK, "{}", posted.body);
    let divergence = &posted.body["data"]["divergence"];
    assert_eq!(divergence["stepId"], "calc", "{divergence}");
    assert_eq!(divergence["kind"], "command", "{divergence}");
    assert_eq!(
        divergence["expected"],
        json!(["execute step charge (attempt 1)"])
    );

    // A transform computing something else diverges at its output.
    let mut doubled = steps(&base, &format!("{base}/fail/charge"));
    doubled[1]["config"]["mapping"]["total"] = json!("{{input.amount | times: 3}}");
    let posted = api
        .post(
            &format!("/api/v1/runs/{run}/replay"),
            json!({ "definition": { "name": "Order", "steps": doubled } }),
        )
        .await;
    let divergence = &posted.body["data"]["divergence"];
    assert_eq!(divergence["stepId"], "calc", "{divergence}");
    assert_eq!(divergence["kind"], "output", "{divergence}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_replays_and_reruns_are_refused_and_write_nothing() {
    let (base, _counts) = counter_server().await;
    let api = TestApi::new().await;
    let (_, run) = failed_run(&api, &base).await;
    let before = api.journal_position();

    let unknown = api
        .post(
            &format!("/api/v1/runs/{run}/rerun"),
            json!({ "fromStep": "nope" }),
        )
        .await;
    let error = assert_error(&unknown, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    assert!(
        error["message"]
            .as_str()
            .expect("message")
            .contains("fetch, calc, charge, notify")
            || error.to_string().contains("fetch, calc, charge, notify"),
        "{error}"
    );
    let missing = api
        .post(
            "/api/v1/runs/run_missing/rerun",
            json!({ "fromStep": "charge" }),
        )
        .await;
    assert_error(&missing, StatusCode::NOT_FOUND, "NOT_FOUND");
    // notify never ran in the parent, so a rerun from after it cannot reuse it.
    let after_failure = api
        .call(
            Method::POST,
            &format!("/api/v1/runs/{run}/rerun"),
            json!({ "fromStep": "notify" }),
        )
        .await;
    let error = assert_error(&after_failure, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    assert!(error.to_string().contains("charge"), "{error}");
    let no_step = api
        .post(&format!("/api/v1/runs/{run}/rerun"), json!({}))
        .await;
    assert_error(&no_step, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    let bad_version = api
        .get(&format!("/api/v1/runs/{run}/replay?version=9"))
        .await;
    assert_error(&bad_version, StatusCode::NOT_FOUND, "NOT_FOUND");
    let bad_definition = api
        .post(
            &format!("/api/v1/runs/{run}/replay"),
            json!({ "definition": { "name": "x", "steps": [{ "id": "a", "type": "nope" }] } }),
        )
        .await;
    assert_error(&bad_definition, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    let missing_replay = api.get("/api/v1/runs/run_missing/replay").await;
    assert_error(&missing_replay, StatusCode::NOT_FOUND, "NOT_FOUND");
    assert_eq!(api.journal_position(), before, "refusals wrote nothing");

    // A run that has not ended cannot be rerun.
    let waiting = api
        .active_workflow(json!({
            "name": "Waits",
            "steps": [{ "id": "hold", "type": "wait" }, { "id": "after", "type": "transform", "config": { "mapping": { "x": 1 } } }],
        }))
        .await;
    let started = api
        .post(&format!("/api/v1/workflows/{waiting}/run"), json!({}))
        .await;
    let paused = started.body["data"]["runId"].as_str().expect("run id");
    for _ in 0..1000 {
        let run = api.get(&format!("/api/v1/runs/{paused}")).await;
        if run.body["data"]["status"] == "paused" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let refused = api
        .post(
            &format!("/api/v1/runs/{paused}/rerun"),
            json!({ "fromStep": "after" }),
        )
        .await;
    assert_error(&refused, StatusCode::CONFLICT, "CONFLICT");
}
