//! Golden files of the triggers' streams: `triggers/tests/golden/events/{trigger, trgslug,
//! trghook, trgsample}/`, one per tag.

use std::path::PathBuf;

use engine::wire::golden::Golden;
use journal::EventType;

use super::*;

fn dir(kind: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/golden/events/{kind}"))
}

/// One trigger event of every kind. A new kind needs its sample here, and `tag_of` below
/// does not compile until it is named.
fn samples() -> Vec<TriggerEvent> {
    vec![
        TriggerEvent::TriggerUpserted {
            trigger_id: "trg_0192a1b2c3d4".into(),
            slug: "nightly-report".into(),
            spec_json:
                r#"{"type":"schedule","workflowId":"wf_report","config":{"cron":"0 2 * * *"}}"#
                    .into(),
            enabled: true,
            webhook_id: Some("9f86d081884c7d659a2feaa0c55ad015".into()),
            by: Some("key_3f2a".into()),
        },
        TriggerEvent::TriggerStatusChanged {
            enabled: false,
            by: Some("key_3f2a".into()),
        },
        TriggerEvent::TriggerDeleted { by: None },
        TriggerEvent::TriggerFired {
            run_id: "run_0192a1b2c3d4".into(),
            reason: "schedule".into(),
            scheduled_at_ms: Some(1_767_225_600_000),
            idempotency_key: Some("trg_0192a1b2c3d4:1767225600000".into()),
        },
        TriggerEvent::TriggerSkipped {
            reason: "overlap".into(),
            scheduled_at_ms: Some(1_767_229_200_000),
        },
        TriggerEvent::TriggerRejected {
            reason: "signature mismatch".into(),
        },
        TriggerEvent::TriggerCursorAdvanced {
            cursor_json: r#"{"last_processed_event_id":"evt_9"}"#.into(),
        },
    ]
}

/// The tag of every kind of trigger event, independently of `TriggerEvent::tag`. The match
/// is exhaustive: a new kind does not compile until it is named here.
fn tag_of(event: &TriggerEvent) -> u16 {
    match event {
        TriggerEvent::TriggerUpserted { .. } => 500,
        TriggerEvent::TriggerStatusChanged { .. } => 501,
        TriggerEvent::TriggerDeleted { .. } => 502,
        TriggerEvent::TriggerFired { .. } => 503,
        TriggerEvent::TriggerSkipped { .. } => 504,
        TriggerEvent::TriggerRejected { .. } => 505,
        TriggerEvent::TriggerCursorAdvanced { .. } => 506,
    }
}

#[test]
fn every_trigger_event_tag_has_its_golden_bytes() {
    let samples = samples();
    for sample in &samples {
        assert_eq!(sample.tag().0, tag_of(sample), "{sample:?}");
    }
    Golden {
        stream: &TRIGGER_EVENTS,
        dir: dir("trigger"),
        samples,
        upcast: Vec::new(),
        tag: |event| event.tag().0,
        encode: TriggerEvent::encode,
    }
    .check();
}

#[test]
fn claims_and_samples_have_their_golden_bytes() {
    let claim = || SlugClaim {
        trigger_id: "trg_0192a1b2c3d4".into(),
    };
    Golden {
        stream: &SLUG_CLAIMS,
        dir: dir("trgslug"),
        samples: vec![claim()],
        upcast: Vec::new(),
        tag: |_| super::super::SLUG_CLAIMED.0,
        encode: encode_claim,
    }
    .check();
    Golden {
        stream: &WEBHOOK_CLAIMS,
        dir: dir("trghook"),
        samples: vec![claim()],
        upcast: Vec::new(),
        tag: |_| super::super::WEBHOOK_CLAIMED.0,
        encode: encode_claim,
    }
    .check();
    Golden {
        stream: &SAMPLES,
        dir: dir("trgsample"),
        samples: vec![Sample {
            received_at_ms: 1_767_225_600_123,
            payload_json: r#"{"body":{"type":"customer.created"},"headers":{}}"#.into(),
        }],
        upcast: Vec::new(),
        tag: |_| super::super::SAMPLE_RECORDED.0,
        encode: encode_sample,
    }
    .check();
}

#[test]
fn a_claim_is_no_trigger_event() {
    let claim = encode_claim(&SlugClaim {
        trigger_id: "trg_1".into(),
    });
    assert!(TriggerEvent::decode(EventType(510), &claim).is_err());
    assert!(SLUG_CLAIMS.decode(EventType(511), &claim).is_err());
}
