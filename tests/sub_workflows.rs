//! Sub-workflows under a real `duro serve`: a `workflow` step runs a child and completes with
//! its output; SIGKILL while the child waits still makes exactly one child; a failed child
//! fails the step and each retry has a child of its own; cancelling the parent cancels the
//! child.

mod support;

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};
use support::api::Api;
use support::{free_port, Serve, Server};

const KEY: &str = "sub-workflow-test-bootstrap-key-0123";

fn serve(dir: &std::path::Path, port: u16) -> Server {
    Serve::new()
        .bootstrap_key(KEY)
        .env_remove("DURO_CONFIG")
        .data_dir(dir)
        .port(port)
        .start()
}

fn parent_of(child: &str, retry: Option<Value>) -> Value {
    let mut call = json!({"id": "call", "type": "workflow",
                          "config": {"workflowId": child, "input": {"n": "{{input.n}}"}}});
    if let Some(retry) = retry {
        call["retry"] = retry;
    }
    json!({
        "name": "parent",
        "steps": [
            call,
            {"id": "after", "type": "transform",
             "config": {"mapping": {"got": "{{steps.call.output.doubled}}"}}}
        ]
    })
}

async fn runs_of(api: &Api, workflow: &str) -> Vec<Value> {
    let (status, body) = api
        .call(
            Method::GET,
            &format!("/api/v1/runs?workflowId={workflow}&limit=100"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["data"].as_array().expect("runs").clone()
}

async fn until(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !check().await {
        assert!(Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_parent_gets_the_childs_output_and_both_show_the_link() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let _server = serve(dir.path(), port);
    let api = Api::new(&format!("http://127.0.0.1:{port}"), KEY);
    let child = api
        .active_workflow(json!({"name": "child", "steps": [
            {"id": "double", "type": "transform",
             "config": {"mapping": {"doubled": "{{input.n | times: 2}}"}}}]}))
        .await;
    let parent = api.active_workflow(parent_of(&child, None)).await;
    let run_id = api.start_run(&parent, json!({"n": 21})).await.expect("run");
    let run = api.ended(&run_id, Duration::from_secs(30)).await;
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(run["output"]["got"], json!(42), "{run}");
    let children = run["children"].as_array().expect("children");
    assert_eq!(children.len(), 1, "{run}");
    assert_eq!(children[0]["stepId"], "call");
    let child_id = children[0]["runId"].as_str().expect("child id");
    let child_run = api.run(child_id).await.expect("child run");
    assert_eq!(
        child_run["parent"],
        json!({"runId": run_id, "stepId": "call"})
    );
    assert_eq!(child_run["workflowId"], json!(child));
    assert_eq!(child_run["output"], json!({"doubled": 42}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_while_the_child_waits_makes_exactly_one_child() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let mut server = serve(dir.path(), port);
    let api = Api::new(&format!("http://127.0.0.1:{port}"), KEY);
    // The child waits for a resume: the kill lands while the parent awaits it, with no clock.
    let child = api
        .active_workflow(json!({"name": "waiting child", "steps": [
            {"id": "hold", "type": "wait", "config": {}},
            {"id": "double", "type": "transform",
             "config": {"mapping": {"doubled": "{{input.n | times: 2}}"}}}]}))
        .await;
    let parent = api.active_workflow(parent_of(&child, None)).await;
    let run_id = api.start_run(&parent, json!({"n": 4})).await.expect("run");
    until("the child waits", async || {
        runs_of(&api, &child)
            .await
            .first()
            .is_some_and(|c| c["status"] == "paused")
    })
    .await;
    server.child.kill().expect("SIGKILL");
    server.child.wait().expect("reaped");

    let _server = serve(dir.path(), port);
    let child_id = runs_of(&api, &child).await[0]["id"]
        .as_str()
        .expect("child id")
        .to_owned();
    let (status, body) = api
        .call(
            Method::POST,
            &format!("/api/v1/runs/{child_id}/resume"),
            Some(json!({"payload": {}})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let run = api.ended(&run_id, Duration::from_secs(30)).await;
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(run["output"]["got"], json!(8));
    let children = runs_of(&api, &child).await;
    assert_eq!(children.len(), 1, "{children:?}");
    assert_eq!(children[0]["status"], "completed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_child_fails_the_step_and_each_retry_has_its_own_child() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let _server = serve(dir.path(), port);
    let api = Api::new(&format!("http://127.0.0.1:{port}"), KEY);
    let child = api
        .active_workflow(json!({"name": "failing child", "steps": [
            {"id": "broken", "type": "transform",
             "config": {"mapping": {"x": "{{input.n | size}}"}}}]}))
        .await;
    let retry = json!({"maxAttempts": 2, "initialInterval": "10ms"});
    let parent = api.active_workflow(parent_of(&child, Some(retry))).await;
    let run_id = api.start_run(&parent, json!({"n": 3})).await.expect("run");
    let run = api.ended(&run_id, Duration::from_secs(30)).await;
    assert_eq!(run["status"], "failed", "{run}");
    assert_eq!(run["error"]["code"], "CHILD_FAILED", "{run}");
    assert_eq!(run["children"].as_array().map(Vec::len), Some(2), "{run}");
    let children = runs_of(&api, &child).await;
    assert_eq!(children.len(), 2);
    assert!(children.iter().all(|c| c["status"] == "failed"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_the_parent_cancels_the_child() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let _server = serve(dir.path(), port);
    let api = Api::new(&format!("http://127.0.0.1:{port}"), KEY);
    let child = api
        .active_workflow(json!({"name": "waiting child", "steps": [
            {"id": "approval", "type": "wait", "config": {}}]}))
        .await;
    let parent = api.active_workflow(parent_of(&child, None)).await;
    let run_id = api.start_run(&parent, json!({"n": 1})).await.expect("run");
    until("the child pauses", async || {
        runs_of(&api, &child)
            .await
            .first()
            .is_some_and(|c| c["status"] == "paused")
    })
    .await;
    let (status, body) = api
        .call(
            Method::POST,
            &format!("/api/v1/runs/{run_id}/cancel"),
            Some(json!({"reason": "customer withdrew"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let run = api.ended(&run_id, Duration::from_secs(30)).await;
    assert_eq!(run["status"], "cancelled");
    let child_id = run["children"][0]["runId"]
        .as_str()
        .expect("child")
        .to_owned();
    let child_run = api.ended(&child_id, Duration::from_secs(30)).await;
    assert_eq!(child_run["status"], "cancelled", "{child_run}");
}
