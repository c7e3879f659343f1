//! For any sequence of events, applying them as they come (in any split into catch-ups and
//! read batches, each read batch one transaction) leaves exactly the read models a one-pass
//! projection and a rebuild from the journal do.

mod common;

use std::sync::Arc;

use common::{append_raw, append_run, append_trigger, spec, started, trigger_spec_json, upserted};
use engine::definition::WorkflowStatus;
use engine::events::{RunError, RunEvent, StepError};
use engine::workflows::WorkflowEvent;
use journal::{EventStore, ExpectedVersion, MemoryStore, NewEvent, StreamName};
use proptest::prelude::*;
use readmodels::{Options, ReadModels};
use triggers::instances::TriggerEvent;

#[derive(Clone, Debug)]
enum Op {
    Start { run: u8, workflow: u8 },
    Run { run: u8, kind: u8 },
    Garbage { run: u8 },
    Unknown,
    Workflow { workflow: u8, kind: u8, name: u8 },
    Trigger { trigger: u8, kind: u8, shape: u8 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..8u8, 0..3u8).prop_map(|(run, workflow)| Op::Start { run, workflow }),
        6 => (0..8u8, 0..13u8).prop_map(|(run, kind)| Op::Run { run, kind }),
        1 => (0..8u8).prop_map(|run| Op::Garbage { run }),
        1 => Just(Op::Unknown),
        3 => (0..3u8, 0..6u8, 0..4u8).prop_map(|(workflow, kind, name)| Op::Workflow {
            workflow,
            kind,
            name
        }),
        4 => (0..5u8, 0..10u8, 0..8u8).prop_map(|(trigger, kind, shape)| Op::Trigger {
            trigger,
            kind,
            shape
        }),
    ]
}

/// A trigger event of `kind` (upserts with spec fields from `shape`), some misfitting.
fn trigger_event(trigger: u8, kind: u8, shape: u8) -> TriggerEvent {
    let id = format!("trg_{trigger}");
    let spec_json = trigger_spec_json(
        ["schedule", "webhook", "manual"][usize::from(shape % 3)],
        &format!("wf_{}", shape % 2),
        shape.is_multiple_of(4).then_some("conn"),
        (shape % 3 == 1).then_some("on_push"),
    );
    match kind {
        0 | 1 => upserted(
            &id,
            &format!("s{trigger}"),
            spec_json,
            shape.is_multiple_of(2),
        ),
        2 => TriggerEvent::TriggerStatusChanged {
            enabled: shape.is_multiple_of(2),
            by: None,
        },
        3 => TriggerEvent::TriggerDeleted { by: None },
        4 | 5 => TriggerEvent::TriggerFired {
            run_id: "r".into(),
            reason: "manual".into(),
            scheduled_at_ms: None,
            idempotency_key: None,
        },
        6 => TriggerEvent::TriggerSkipped {
            reason: "x".into(),
            scheduled_at_ms: None,
        },
        7 => TriggerEvent::TriggerCursorAdvanced {
            cursor_json: "{}".into(),
        },
        8 => upserted("trg_other", "s", spec_json, true),
        _ => upserted(&id, "s", "not json".into(), true),
    }
}

fn run_event(kind: u8) -> RunEvent {
    let step_id = "s".to_owned();
    match kind {
        0 => RunEvent::StepStarted {
            step_id,
            attempt: 1,
        },
        1 => RunEvent::StepCompleted {
            step_id,
            attempt: 1,
            output_json: "1".into(),
        },
        2 => RunEvent::StepFailed {
            step_id,
            attempt: 1,
            error: StepError {
                code: None,
                message: "x".into(),
                retryable: true,
            },
        },
        3 => RunEvent::StepRetryScheduled {
            step_id,
            next_attempt: 2,
            fire_at_ms: 5,
        },
        4 => RunEvent::TimerScheduled {
            step_id,
            fire_at_ms: 5,
        },
        5 => RunEvent::TimerFired { step_id },
        6 => RunEvent::RunPaused {
            step_id,
            timeout_at_ms: None,
        },
        7 => RunEvent::RunResumed {
            step_id,
            payload_json: "{}".into(),
        },
        8 => RunEvent::RunCancelled { reason: "r".into() },
        9 => RunEvent::RunCompleted {
            output_json: "{}".into(),
        },
        10 => RunEvent::RunFailed {
            error: RunError {
                step_id: None,
                code: None,
                message: format!("failure {kind}"),
            },
        },
        11 => started("other", "wf_0"),
        _ => RunEvent::StepStarted {
            step_id,
            attempt: 2,
        },
    }
}

fn workflow_event(workflow: u8, kind: u8, name: u8) -> WorkflowEvent {
    let names = ["alpha", "Beta", "gamma", "ALPHA"];
    let spec_json = serde_json::to_string(&spec(names[usize::from(name)], &format!("{name}")))
        .expect("spec json");
    match kind {
        0 | 1 => WorkflowEvent::WorkflowCreated {
            workflow_id: format!("wf_{workflow}"),
            spec_json,
        },
        2 => WorkflowEvent::WorkflowUpdated {
            spec_json,
            new_version: name.is_multiple_of(2),
        },
        3 => WorkflowEvent::WorkflowStatusChanged {
            status: [
                WorkflowStatus::Draft,
                WorkflowStatus::Active,
                WorkflowStatus::Inactive,
            ][usize::from(name % 3)],
        },
        4 => WorkflowEvent::WorkflowDeleted,
        _ => WorkflowEvent::WorkflowUpdated {
            spec_json: "not json".into(),
            new_version: true,
        },
    }
}

async fn apply(store: &dyn EventStore, op: &Op) {
    match op {
        Op::Start { run, workflow } => {
            let id = format!("r{run}");
            append_run(store, &id, &[started(&id, &format!("wf_{workflow}"))]).await;
        }
        Op::Run { run, kind } => {
            append_run(store, &format!("r{run}"), &[run_event(*kind)]).await;
        }
        Op::Garbage { run } => {
            append_raw(store, &format!("run-r{run}"), 110, &[0xC0, 0xFF, 0xEE]).await;
        }
        Op::Unknown => {
            append_raw(store, "trigger-x", 401, b"?").await;
        }
        Op::Trigger {
            trigger,
            kind,
            shape,
        } => {
            let event = trigger_event(*trigger, *kind, *shape);
            append_trigger(store, &format!("trg_{trigger}"), &[event]).await;
        }
        Op::Workflow {
            workflow,
            kind,
            name,
        } => {
            let event = workflow_event(*workflow, *kind, *name);
            store
                .append(
                    &StreamName::new(format!("workflow-wf_{workflow}")).expect("stream"),
                    ExpectedVersion::Any,
                    vec![NewEvent::new(event.tag(), event.encode())],
                )
                .await
                .expect("append");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn incremental_projection_equals_a_rebuild(
        ops in prop::collection::vec(op(), 1..80),
        splits in prop::collection::vec(1..12usize, 1..20),
        read_batch in 1..10usize,
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            let store: Arc<dyn EventStore> = Arc::new(MemoryStore::new());
            let options = Options {
                read_batch,
                ..Options::default()
            };
            let incremental = ReadModels::temporary_with(store.clone(), options).expect("open");
            // Catch up after each chunk of appends, chunk sizes from `splits`.
            let mut next = 0;
            for size in splits.iter().cycle() {
                if next >= ops.len() {
                    break;
                }
                for op in &ops[next..(next + size).min(ops.len())] {
                    apply(&*store, op).await;
                }
                next += size;
                incremental.catch_up().await.expect("catch up");
            }
            let incremental_dump = incremental.dump().expect("dump");

            let once = ReadModels::temporary(store.clone()).expect("open");
            once.catch_up().await.expect("catch up");
            prop_assert_eq!(&once.dump().expect("dump"), &incremental_dump);

            incremental.rebuild().await.expect("rebuild");
            prop_assert_eq!(&incremental.dump().expect("dump"), &incremental_dump);
            prop_assert_eq!(
                incremental.checkpoint(),
                *store.subscribe().borrow()
            );
            Ok(())
        })?;
    }
}
