//! Golden files of API key events: `credentials/tests/golden/events/apikey/`, one per tag.

use std::path::PathBuf;

use engine::wire::golden::Golden;

use super::*;

/// The tag of every kind of key event, independently of `KeyEvent::tag`. The match is
/// exhaustive: a new kind does not compile until it is named here (give it a sample too).
fn tag_of(event: &KeyEvent) -> u16 {
    match event {
        KeyEvent::KeyCreated { .. } => 400,
        KeyEvent::KeyRevoked => 401,
    }
}

/// One key event of every kind.
fn samples() -> Vec<KeyEvent> {
    vec![
        KeyEvent::KeyCreated {
            key_id: "key_5e884898da28047151d0e56f8dc62927".into(),
            name: "deploy bot".into(),
            scopes: vec!["workflows:read".into(), "runs:write".into()],
            secret_sha256: std::array::from_fn(|i| i as u8 * 7),
        },
        KeyEvent::KeyRevoked,
    ]
}

#[test]
fn every_key_event_tag_has_its_golden_bytes() {
    let samples = samples();
    for sample in &samples {
        assert_eq!(sample.tag().0, tag_of(sample), "{sample:?}");
    }
    Golden {
        stream: &KEY_EVENTS,
        dir: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/events/apikey"),
        samples,
        upcast: Vec::new(),
        tag: |event| event.tag().0,
        encode: KeyEvent::encode,
    }
    .check();
}
