//! Golden files of idempotency claims: `engine/tests/golden/events/idem/`, one per tag.

use std::path::PathBuf;

use super::*;
use crate::wire::golden::Golden;

#[test]
fn every_claim_tag_has_its_golden_bytes() {
    Golden {
        stream: &IDEMPOTENCY_CLAIMS,
        dir: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/events/idem"),
        samples: vec![Claim {
            run_id: "run_0192a1b2c3d4".into(),
            claimed_at_ms: 1_767_225_600_000,
        }],
        upcast: Vec::new(),
        tag: |_| super::super::CLAIM_TAG.0,
        encode: encode_claim,
    }
    .check();
}
