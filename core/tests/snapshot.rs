//! The shape of a run snapshot's bytes is pinned by a golden file: a change to any type of a
//! run's state (a field added, renamed, retyped) changes these bytes, and this test fails
//! until the change is looked at. A change of shape alone makes old snapshots fail to decode
//! (they are then ignored); a change of meaning needs `SNAPSHOT_FORMAT` raised, and the
//! golden file renamed for the new format. `GOLDEN_UPDATE=1` rewrites the file.

// A test reads (and on request writes) its golden file: the core's no-I/O rule is for its code.
#![allow(clippy::disallowed_methods)]

use std::path::PathBuf;

use duro_core::events::{RunEvent, StepError};
use duro_core::snapshot::{self, Mark, SNAPSHOT_FORMAT};
use duro_core::view::Loaded;

fn sample() -> Loaded {
    let events = vec![
        RunEvent::RunStarted {
            run_id: "run_1".into(),
            workflow_id: "wf_1".into(),
            workflow_version: 2,
            input_json: "{\"items\":[1,2]}".into(),
            idempotency_key: Some("key".into()),
            connection_id: None,
        },
        RunEvent::StepStarted {
            step_id: "fetch".into(),
            attempt: 1,
        },
        RunEvent::StepFailed {
            step_id: "fetch".into(),
            attempt: 1,
            error: StepError {
                code: Some("503".into()),
                message: "unavailable".into(),
                retryable: true,
            },
        },
        RunEvent::StepRetryScheduled {
            step_id: "fetch".into(),
            next_attempt: 2,
            fire_at_ms: 1_000,
        },
        RunEvent::TimerFired {
            step_id: "fetch".into(),
        },
        RunEvent::StepCompleted {
            step_id: "fetch".into(),
            attempt: 2,
            output_json: "{\"ok\":true}".into(),
        },
        RunEvent::ForeachStarted {
            step_id: "each".into(),
            items: 2,
        },
        RunEvent::StepCompleted {
            step_id: "each[0].double".into(),
            attempt: 1,
            output_json: "2".into(),
        },
        RunEvent::StepStarted {
            step_id: "each[1].double".into(),
            attempt: 1,
        },
    ];
    let mut loaded = Loaded::empty();
    for (i, event) in events.iter().enumerate() {
        loaded.fold_recorded(i as u64 + 1, 1_000_000 * i as i64, event);
    }
    loaded.input = serde_json::from_str(&loaded.state.input_json).expect("json");
    loaded
}

#[test]
fn the_snapshot_shape_is_pinned_by_its_golden_file() {
    let loaded = sample();
    let mark = Mark {
        seq: loaded.version,
        position: 42,
        recorded_at_us: 8_000_000,
    };
    let bytes = snapshot::encode(&loaded, mark).expect("encodes");
    // Pretty and with sorted keys, so a change reads as a diff.
    let value: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
    let text = serde_json::to_string_pretty(&value).expect("json") + "\n";
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(format!("tests/golden/snapshot/v{SNAPSHOT_FORMAT}.json"));
    if std::env::var("GOLDEN_UPDATE").is_ok_and(|v| v == "1") {
        std::fs::write(&path, &text).expect("write the golden file");
    }
    let golden = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (GOLDEN_UPDATE=1 writes it)", path.display()));
    assert_eq!(
        text, golden,
        "the snapshot's shape changed: raise SNAPSHOT_FORMAT if a meaning changed, then \
         GOLDEN_UPDATE=1"
    );
    let (decoded, read_mark) = snapshot::decode(golden.as_bytes()).expect("the golden decodes");
    assert_eq!(read_mark, mark);
    assert_eq!(decoded.state, loaded.state);
    assert_eq!(decoded.step_times, loaded.step_times);
}
