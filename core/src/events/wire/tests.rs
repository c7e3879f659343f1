//! Golden files of run events: `core/tests/golden/events/run/`, one per tag.

use std::path::PathBuf;

use super::*;
use crate::wire::golden::Golden;

/// One run event of every kind. A new kind needs its sample here, and `tag_of` below
/// does not compile until it is named.
fn samples() -> Vec<RunEvent> {
    vec![
        RunEvent::RunStarted {
            run_id: "run_0192a1b2c3d4".into(),
            workflow_id: "wf_orders".into(),
            workflow_version: 3,
            input_json: r#"{"order":{"id":"ord_1","total":42.5}}"#.into(),
            idempotency_key: Some("order-ord_1".into()),
            connection_id: Some("conn_stripe".into()),
        },
        RunEvent::StepStarted {
            step_id: "charge".into(),
            attempt: 1,
        },
        RunEvent::StepCompleted {
            step_id: "charge".into(),
            attempt: 2,
            output_json: r#"{"status":200,"body":{"id":"ch_1"}}"#.into(),
        },
        RunEvent::StepFailed {
            step_id: "charge".into(),
            attempt: 1,
            error: StepError {
                code: Some("503".into()),
                message: "service unavailable".into(),
                retryable: true,
            },
        },
        RunEvent::StepRetryScheduled {
            step_id: "charge".into(),
            next_attempt: 2,
            fire_at_ms: 1_767_225_600_000,
        },
        RunEvent::TimerScheduled {
            step_id: "cool-off".into(),
            fire_at_ms: 1_767_229_200_000,
        },
        RunEvent::TimerFired {
            step_id: "cool-off".into(),
        },
        RunEvent::RunPaused {
            step_id: "approval".into(),
            timeout_at_ms: Some(1_767_312_000_000),
        },
        RunEvent::RunResumed {
            step_id: "approval".into(),
            payload_json: r#"{"approved":true}"#.into(),
        },
        RunEvent::RunCancelled {
            reason: "cancelled by key_3f2a".into(),
        },
        RunEvent::RunCompleted {
            output_json: r#"{"charged":true}"#.into(),
        },
        RunEvent::RunFailed {
            error: RunError {
                step_id: Some("charge".into()),
                code: Some("HTTP_402".into()),
                message: "payment required".into(),
            },
        },
        RunEvent::ForeachStarted {
            step_id: "each".into(),
            items: 300,
        },
        RunEvent::RunForked {
            parent_run_id: "run_0192a1b2c3d4".into(),
            from_step: "charge".into(),
        },
        RunEvent::StepReused {
            step_id: "validate".into(),
            attempts: 1,
            output_json: r#"{"valid":true}"#.into(),
        },
        RunEvent::RunRerun {
            child_run_id: "run_0192a1b2c3d5".into(),
            from_step: "charge".into(),
        },
        RunEvent::StepRequestCompleted {
            step_id: "create-customer".into(),
            attempt: 1,
            request: 2,
            output_json: r#"{"id":"cus_1"}"#.into(),
        },
        RunEvent::ChildRunStarted {
            step_id: "fulfil".into(),
            attempt: 1,
            child_run_id: "run_0192a1b2c3d6".into(),
        },
        RunEvent::RunCalledBy {
            parent_run_id: "run_0192a1b2c3d4".into(),
            step_id: "fulfil".into(),
        },
    ]
}

/// The tag of every kind of run event, independently of `RunEvent::tag`. The match is
/// exhaustive: a new kind does not compile until it is named here (give it a sample too).
fn tag_of(event: &RunEvent) -> u16 {
    match event {
        RunEvent::RunStarted { .. } => 100,
        RunEvent::StepStarted { .. } => 101,
        RunEvent::StepCompleted { .. } => 102,
        RunEvent::StepFailed { .. } => 103,
        RunEvent::StepRetryScheduled { .. } => 104,
        RunEvent::TimerScheduled { .. } => 105,
        RunEvent::TimerFired { .. } => 106,
        RunEvent::RunPaused { .. } => 107,
        RunEvent::RunResumed { .. } => 108,
        RunEvent::RunCancelled { .. } => 109,
        RunEvent::RunCompleted { .. } => 110,
        RunEvent::RunFailed { .. } => 111,
        RunEvent::ForeachStarted { .. } => 112,
        RunEvent::RunForked { .. } => 113,
        RunEvent::StepReused { .. } => 114,
        RunEvent::RunRerun { .. } => 115,
        RunEvent::StepRequestCompleted { .. } => 116,
        RunEvent::ChildRunStarted { .. } => 117,
        RunEvent::RunCalledBy { .. } => 118,
    }
}

#[test]
fn every_run_event_tag_has_its_golden_bytes() {
    let samples = samples();
    for sample in &samples {
        assert_eq!(sample.tag(), tag_of(sample), "{sample:?}");
        assert_eq!(
            RUN_EVENTS
                .wire_type(sample.tag())
                .map(|wire_type| wire_type.name),
            Some(sample.name()),
        );
    }
    Golden {
        stream: &RUN_EVENTS,
        dir: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/events/run"),
        samples,
        upcast: Vec::new(),
        tag: RunEvent::tag,
        encode: RunEvent::encode,
    }
    .check();
}

#[test]
fn a_payload_under_another_tag_or_an_unknown_tag_is_refused() {
    let started = RunEvent::StepStarted {
        step_id: "a".into(),
        attempt: 1,
    };
    let error = RunEvent::decode(102u16, &started.encode())
        .expect_err("a StepStarted under StepCompleted's tag");
    assert_eq!(error.tag, 102);
    assert_eq!(error.reason, "the payload is a StepStarted");
    let error = RunEvent::decode(199u16, &started.encode()).expect_err("a tag no run event has");
    assert_eq!(
        error.to_string(),
        "cannot decode run event (type 199): no run event has this type"
    );
    assert!(RunEvent::decode(101u16, &[1]).is_err());
}
