//! Workflow definitions live in their journal streams, every version readable.

use std::sync::Arc;

use engine::definition::{WorkflowSpec, WorkflowStatus};
use engine::workflows::{WorkflowError, Workflows};
use journal::MemoryStore;
use serde_json::json;

fn spec(greeting: &str) -> WorkflowSpec {
    serde_json::from_value(json!({
        "name": "Greeter",
        "steps": [{ "id": "greet", "type": "transform", "config": { "mapping": { "text": greeting } } }]
    }))
    .expect("spec")
}

#[tokio::test]
async fn edits_to_steps_make_versions_and_every_version_stays_readable() {
    let workflows = Workflows::new(Arc::new(MemoryStore::new()));
    let created = workflows
        .create("wf_1", &spec("hello"))
        .await
        .expect("create");
    assert_eq!(created.version(), 1);
    assert_eq!(created.status, WorkflowStatus::Draft);

    let mut renamed = spec("hello");
    renamed.description = Some("only the description changed".into());
    let same_version = workflows.update("wf_1", &renamed).await.expect("update");
    assert_eq!(
        same_version.version(),
        1,
        "a description edit is not a new version"
    );

    let changed = workflows
        .update("wf_1", &spec("bonjour"))
        .await
        .expect("update");
    assert_eq!(changed.version(), 2);
    let active = workflows
        .set_status("wf_1", WorkflowStatus::Active)
        .await
        .expect("status");
    assert_eq!(active.status, WorkflowStatus::Active);

    let v1 = workflows.steps_of("wf_1", 1).await.expect("version 1");
    let v2 = workflows.steps_of("wf_1", 2).await.expect("version 2");
    assert_ne!(v1, v2);
    assert!(matches!(
        workflows.steps_of("wf_1", 3).await,
        Err(WorkflowError::NoSuchVersion { version: 3, .. })
    ));
}

#[tokio::test]
async fn invalid_definitions_and_unknown_workflows_are_refused() {
    let workflows = Workflows::new(Arc::new(MemoryStore::new()));
    let mut broken = spec("x");
    broken.steps[0].kind = "teleport".into();
    match workflows.create("wf_2", &broken).await {
        Err(WorkflowError::Invalid(problems)) => {
            assert_eq!(problems[0].path, vec!["steps", "0", "type"])
        }
        other => panic!("expected Invalid, got {other:?}"),
    }
    assert!(matches!(
        workflows.get("wf_2").await,
        Err(WorkflowError::NotFound(_))
    ));
    workflows.create("wf_3", &spec("x")).await.expect("create");
    assert!(matches!(
        workflows.create("wf_3", &spec("y")).await,
        Err(WorkflowError::Conflict(_))
    ));
}
