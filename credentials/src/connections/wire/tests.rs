//! Golden files of connection events: `credentials/tests/golden/events/connection/`, one per tag.

use std::path::PathBuf;

use engine::wire::golden::Golden;

use super::*;

fn sealed(seed: u8) -> Sealed {
    Sealed {
        key_fingerprint: std::array::from_fn(|i| seed.wrapping_add(i as u8)),
        nonce: std::array::from_fn(|i| seed.wrapping_mul(3).wrapping_add(i as u8)),
        ciphertext: (0..40).map(|i: u8| i.wrapping_mul(seed)).collect(),
    }
}

fn secret() -> StoredSecret {
    StoredSecret {
        kind: "bearer".into(),
        hint: "x9Qz".into(),
        sealed: sealed(11),
    }
}

/// The tag of every kind of connection event, independently of `ConnectionEvent::tag`. The
/// match is exhaustive: a new kind does not compile until it is named here (give it a
/// sample too).
fn tag_of(event: &ConnectionEvent) -> u16 {
    match event {
        ConnectionEvent::ConnectionCreated { .. } => 600,
        ConnectionEvent::ConnectionUpdated { .. } => 601,
        ConnectionEvent::ConnectionDeleted => 602,
        ConnectionEvent::ConnectionSettingsChanged { .. } => 603,
        ConnectionEvent::ConnectionTokenRefreshed { .. } => 604,
        ConnectionEvent::ConnectionAuthConfigChanged { .. } => 605,
    }
}

/// One connection event of every kind.
fn samples() -> Vec<ConnectionEvent> {
    vec![
        ConnectionEvent::ConnectionCreated {
            connection_id: "conn_stripe".into(),
            name: "Stripe (live)".into(),
            provider: "stripe".into(),
            metadata: r#"{"account":"acct_1"}"#.into(),
            secret: secret(),
        },
        ConnectionEvent::ConnectionUpdated {
            name: Some("Stripe".into()),
            provider: None,
            metadata: None,
            secret: Some(secret()),
        },
        ConnectionEvent::ConnectionDeleted,
        ConnectionEvent::ConnectionSettingsChanged {
            base_url: Some(Some("https://sandbox.example.test/v1".into())),
            status: Some(Status::Disabled),
        },
        ConnectionEvent::ConnectionTokenRefreshed {
            sealed: sealed(29),
            expires_at_ms: 1_767_229_200_000,
        },
        ConnectionEvent::ConnectionAuthConfigChanged {
            auth_config_id: Some("ac_github".into()),
        },
    ]
}

#[test]
fn every_connection_event_tag_has_its_golden_bytes() {
    let samples = samples();
    for sample in &samples {
        assert_eq!(sample.tag().0, tag_of(sample), "{sample:?}");
    }
    Golden {
        stream: &CONNECTION_EVENTS,
        dir: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/events/connection"),
        samples,
        upcast: Vec::new(),
        tag: |event| event.tag().0,
        encode: ConnectionEvent::encode,
    }
    .check();
}

#[test]
fn settings_keep_the_difference_between_unchanged_and_cleared() {
    for base_url in [None, Some(None), Some(Some("https://x.test".to_owned()))] {
        let event = ConnectionEvent::ConnectionSettingsChanged {
            base_url,
            status: None,
        };
        assert_eq!(
            ConnectionEvent::decode(event.tag(), &event.encode()).expect("decodes"),
            event
        );
    }
}
