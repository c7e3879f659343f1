//! The bytes of idempotency claims (`idem-{workflow}-{sha256}` streams, tags 300-399): the
//! frozen shape of each tag and version, and the table [`IDEMPOTENCY_CLAIMS`]. The rules:
//! `crate::wire`. A claim was always a plain struct, so its payload has no variant index.

use serde::{Deserialize, Serialize};

use super::Claim;
use crate::wire::{decode, encode, Stream, WireType};

/// Every tag idempotency claims have been written with; entries are never changed or removed.
#[rustfmt::skip]
pub static IDEMPOTENCY_CLAIMS: Stream<Claim> = Stream {
    kind: "idempotency claim",
    wire_types: &[
        WireType { tag: 300, name: "Claim", version: 1, decode: |data| decode::<v1::Claim>(data).map(Into::into) },
    ],
};

/// The payload of `claim`: its latest version's shape.
pub fn encode_claim(claim: &Claim) -> Vec<u8> {
    encode(&v1::Claim {
        run_id: &claim.run_id,
        claimed_at_ms: claim.claimed_at_ms,
    })
}

/// Version 1. Frozen: a change is a new version under a new tag.
pub mod v1 {
    use super::*;

    #[derive(Serialize, Deserialize)]
    pub struct Claim<'a> {
        pub run_id: &'a str,
        pub claimed_at_ms: i64,
    }
}

impl From<v1::Claim<'_>> for Claim {
    fn from(shape: v1::Claim<'_>) -> Self {
        Claim {
            run_id: shape.run_id.to_owned(),
            claimed_at_ms: shape.claimed_at_ms,
        }
    }
}

#[cfg(test)]
mod tests;
