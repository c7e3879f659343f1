#![allow(dead_code)]
//! Helpers shared by the executor's integration tests (each uses a subset): a workflow
//! created active, a run started, a run waited for on tokio's paused time.

use std::time::Duration;

use engine::definition::{WorkflowSpec, WorkflowStatus};
use engine::executor::{Runs, StartRun};
use engine::run::RunStatus;
use serde_json::{json, Value};

/// Creates workflow `id` with `steps` and activates it.
pub async fn workflow(runs: &Runs, id: &str, steps: Value) {
    let spec: WorkflowSpec =
        serde_json::from_value(json!({"name": id, "steps": steps})).expect("spec");
    runs.workflows().create(id, &spec).await.expect("create");
    runs.workflows()
        .set_status(id, WorkflowStatus::Active)
        .await
        .expect("activate");
}

/// Starts a run of `workflow_id` with `input`; its id.
pub async fn start_with(runs: &Runs, workflow_id: &str, input: Value) -> String {
    runs.start(StartRun {
        workflow_id: workflow_id.into(),
        input: Some(input),
        ..StartRun::default()
    })
    .await
    .expect("start")
    .run_id
}

/// Waits (on paused time) until `run_id` has `status`.
pub async fn until_status(runs: &Runs, run_id: &str, status: RunStatus) {
    for _ in 0..1000 {
        if runs.get(run_id).await.expect("get").status == status {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("run {run_id} never reached {status:?}");
}
