//! Golden files of workflow events: `engine/tests/golden/events/workflow/`, one per tag.

use std::path::PathBuf;

use super::*;
use crate::wire::golden::Golden;

/// One workflow event of every kind. A new kind needs its sample here, and `tag_of` below
/// does not compile until it is named.
fn samples() -> Vec<WorkflowEvent> {
    vec![
        WorkflowEvent::WorkflowCreated {
            workflow_id: "wf_orders".into(),
            spec_json:
                r#"{"name":"Orders","steps":[{"id":"a","type":"transform","output":{"ok":true}}]}"#
                    .into(),
        },
        WorkflowEvent::WorkflowUpdated {
            spec_json: r#"{"name":"Orders","description":"v2","steps":[]}"#.into(),
            new_version: true,
        },
        WorkflowEvent::WorkflowStatusChanged {
            status: WorkflowStatus::Inactive,
        },
        WorkflowEvent::WorkflowDeleted,
    ]
}

/// The tag of every kind of workflow event, independently of `WorkflowEvent::tag`. The
/// match is exhaustive: a new kind does not compile until it is named here.
fn tag_of(event: &WorkflowEvent) -> u16 {
    match event {
        WorkflowEvent::WorkflowCreated { .. } => 200,
        WorkflowEvent::WorkflowUpdated { .. } => 201,
        WorkflowEvent::WorkflowStatusChanged { .. } => 202,
        WorkflowEvent::WorkflowDeleted => 203,
    }
}

#[test]
fn every_workflow_event_tag_has_its_golden_bytes() {
    let samples = samples();
    for sample in &samples {
        assert_eq!(sample.tag().0, tag_of(sample), "{sample:?}");
    }
    Golden {
        stream: &WORKFLOW_EVENTS,
        dir: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/events/workflow"),
        samples,
        upcast: Vec::new(),
        tag: |event| event.tag().0,
        encode: WorkflowEvent::encode,
    }
    .check();
}

#[test]
fn every_status_keeps_its_v1_index() {
    for (status, index) in [
        (WorkflowStatus::Draft, 0),
        (WorkflowStatus::Active, 1),
        (WorkflowStatus::Inactive, 2),
    ] {
        let event = WorkflowEvent::WorkflowStatusChanged { status };
        assert_eq!(event.encode(), vec![2, index]);
        assert_eq!(
            WorkflowEvent::decode(event.tag(), &[2, index]).expect("decodes"),
            event
        );
    }
}
