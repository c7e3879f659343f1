//! The bytes of the triggers' streams (tags 500-599): one frozen shape per tag and version,
//! a table per kind of stream, and the encoding of each domain type as its latest versions.
//! The rules: `engine::wire`.
//!
//! - `trigger-{id}`: [`TRIGGER_EVENTS`], tags 500-506 (507-509 kept for trigger events: the
//!   read models project 500-509).
//! - `trgslug-{slug}`: [`SLUG_CLAIMS`], tag 510; `trghook-{webhookId}`: [`WEBHOOK_CLAIMS`],
//!   tag 511, the same shape; `trgsample-{id}`: [`SAMPLES`], tag 512.
//!
//! Version 1 of every trigger event is what Duro wrote when `TriggerEvent` itself was
//! postcard-encoded: the index of its variant in that enum, then its fields. Claims and
//! samples were always plain structs: no variant index.

use engine::wire::{decode, decode_variant, encode, encode_variant, EnumVariant, Stream, WireType};
use serde::{Deserialize, Serialize};

use super::{Sample, SlugClaim, TriggerEvent};

/// The variants of the enum trigger events were first written as, in its order.
pub const V1_VARIANTS: [&str; 7] = [
    "TriggerUpserted",
    "TriggerStatusChanged",
    "TriggerDeleted",
    "TriggerFired",
    "TriggerSkipped",
    "TriggerRejected",
    "TriggerCursorAdvanced",
];

/// Every tag of `trigger-{id}` streams; entries are never changed or removed.
#[rustfmt::skip]
pub static TRIGGER_EVENTS: Stream<TriggerEvent> = Stream {
    kind: "trigger",
    wire_types: &[
        WireType { tag: 500, name: "TriggerUpserted", version: 1, decode: |data| read_v1::<v1::TriggerUpserted>(data) },
        WireType { tag: 501, name: "TriggerStatusChanged", version: 1, decode: |data| read_v1::<v1::TriggerStatusChanged>(data) },
        WireType { tag: 502, name: "TriggerDeleted", version: 1, decode: |data| read_v1::<v1::TriggerDeleted>(data) },
        WireType { tag: 503, name: "TriggerFired", version: 1, decode: |data| read_v1::<v1::TriggerFired>(data) },
        WireType { tag: 504, name: "TriggerSkipped", version: 1, decode: |data| read_v1::<v1::TriggerSkipped>(data) },
        WireType { tag: 505, name: "TriggerRejected", version: 1, decode: |data| read_v1::<v1::TriggerRejected>(data) },
        WireType { tag: 506, name: "TriggerCursorAdvanced", version: 1, decode: |data| read_v1::<v1::TriggerCursorAdvanced>(data) },
    ],
};

/// Every tag of `trgslug-{slug}` streams.
#[rustfmt::skip]
pub static SLUG_CLAIMS: Stream<SlugClaim> = Stream {
    kind: "trigger slug claim",
    wire_types: &[
        WireType { tag: 510, name: "SlugClaimed", version: 1, decode: |data| decode::<v1::TriggerClaim>(data).map(Into::into) },
    ],
};

/// Every tag of `trghook-{webhookId}` streams.
#[rustfmt::skip]
pub static WEBHOOK_CLAIMS: Stream<SlugClaim> = Stream {
    kind: "webhook claim",
    wire_types: &[
        WireType { tag: 511, name: "WebhookClaimed", version: 1, decode: |data| decode::<v1::TriggerClaim>(data).map(Into::into) },
    ],
};

/// Every tag of `trgsample-{id}` streams.
#[rustfmt::skip]
pub static SAMPLES: Stream<Sample> = Stream {
    kind: "trigger sample",
    wire_types: &[
        WireType { tag: 512, name: "SampleRecorded", version: 1, decode: |data| decode::<v1::Sample>(data).map(Into::into) },
    ],
};

/// Decodes a v1 trigger event; every v1 shape is today's latest.
fn read_v1<'a, T>(data: &'a [u8]) -> Result<TriggerEvent, String>
where
    T: EnumVariant + Deserialize<'a> + Into<TriggerEvent>,
{
    decode_variant::<T>(data, &V1_VARIANTS).map(Into::into)
}

/// The payload of a trigger event: its latest version's shape.
pub fn encode_event(event: &TriggerEvent) -> Vec<u8> {
    match event {
        TriggerEvent::TriggerUpserted {
            trigger_id,
            slug,
            spec_json,
            enabled,
            webhook_id,
            by,
        } => encode_variant(&v1::TriggerUpserted {
            trigger_id,
            slug,
            spec_json,
            enabled: *enabled,
            webhook_id: webhook_id.as_deref(),
            by: by.as_deref(),
        }),
        TriggerEvent::TriggerStatusChanged { enabled, by } => {
            encode_variant(&v1::TriggerStatusChanged {
                enabled: *enabled,
                by: by.as_deref(),
            })
        }
        TriggerEvent::TriggerDeleted { by } => {
            encode_variant(&v1::TriggerDeleted { by: by.as_deref() })
        }
        TriggerEvent::TriggerFired {
            run_id,
            reason,
            scheduled_at_ms,
            idempotency_key,
        } => encode_variant(&v1::TriggerFired {
            run_id,
            reason,
            scheduled_at_ms: *scheduled_at_ms,
            idempotency_key: idempotency_key.as_deref(),
        }),
        TriggerEvent::TriggerSkipped {
            reason,
            scheduled_at_ms,
        } => encode_variant(&v1::TriggerSkipped {
            reason,
            scheduled_at_ms: *scheduled_at_ms,
        }),
        TriggerEvent::TriggerRejected { reason } => encode_variant(&v1::TriggerRejected { reason }),
        TriggerEvent::TriggerCursorAdvanced { cursor_json } => {
            encode_variant(&v1::TriggerCursorAdvanced { cursor_json })
        }
    }
}

/// The payload of a slug or webhook claim (tags 510 and 511).
pub fn encode_claim(claim: &SlugClaim) -> Vec<u8> {
    encode(&v1::TriggerClaim {
        trigger_id: &claim.trigger_id,
    })
}

/// The payload of a sample (tag 512).
pub fn encode_sample(sample: &Sample) -> Vec<u8> {
    encode(&v1::Sample {
        received_at_ms: sample.received_at_ms,
        payload_json: &sample.payload_json,
    })
}

/// Version 1 of every shape. Frozen: a change is a new version under a new tag.
pub mod v1 {
    use super::*;

    engine::enum_variants! {
        TriggerUpserted<'_> = 0,
        TriggerStatusChanged<'_> = 1,
        TriggerDeleted<'_> = 2,
        TriggerFired<'_> = 3,
        TriggerSkipped<'_> = 4,
        TriggerRejected<'_> = 5,
        TriggerCursorAdvanced<'_> = 6,
    }

    #[derive(Serialize, Deserialize)]
    pub struct TriggerUpserted<'a> {
        pub trigger_id: &'a str,
        pub slug: &'a str,
        pub spec_json: &'a str,
        pub enabled: bool,
        #[serde(borrow)]
        pub webhook_id: Option<&'a str>,
        #[serde(borrow)]
        pub by: Option<&'a str>,
    }

    #[derive(Serialize, Deserialize)]
    pub struct TriggerStatusChanged<'a> {
        pub enabled: bool,
        #[serde(borrow)]
        pub by: Option<&'a str>,
    }

    #[derive(Serialize, Deserialize)]
    pub struct TriggerDeleted<'a> {
        #[serde(borrow)]
        pub by: Option<&'a str>,
    }

    #[derive(Serialize, Deserialize)]
    pub struct TriggerFired<'a> {
        pub run_id: &'a str,
        pub reason: &'a str,
        pub scheduled_at_ms: Option<i64>,
        #[serde(borrow)]
        pub idempotency_key: Option<&'a str>,
    }

    #[derive(Serialize, Deserialize)]
    pub struct TriggerSkipped<'a> {
        pub reason: &'a str,
        pub scheduled_at_ms: Option<i64>,
    }

    #[derive(Serialize, Deserialize)]
    pub struct TriggerRejected<'a> {
        pub reason: &'a str,
    }

    #[derive(Serialize, Deserialize)]
    pub struct TriggerCursorAdvanced<'a> {
        pub cursor_json: &'a str,
    }

    /// A slug's or a webhook URL's claim: the trigger it names.
    #[derive(Serialize, Deserialize)]
    pub struct TriggerClaim<'a> {
        pub trigger_id: &'a str,
    }

    #[derive(Serialize, Deserialize)]
    pub struct Sample<'a> {
        pub received_at_ms: i64,
        pub payload_json: &'a str,
    }
}

// v1 → domain.

fn owned(text: &str) -> String {
    text.to_owned()
}

impl From<v1::TriggerUpserted<'_>> for TriggerEvent {
    fn from(shape: v1::TriggerUpserted<'_>) -> Self {
        TriggerEvent::TriggerUpserted {
            trigger_id: owned(shape.trigger_id),
            slug: owned(shape.slug),
            spec_json: owned(shape.spec_json),
            enabled: shape.enabled,
            webhook_id: shape.webhook_id.map(owned),
            by: shape.by.map(owned),
        }
    }
}

impl From<v1::TriggerStatusChanged<'_>> for TriggerEvent {
    fn from(shape: v1::TriggerStatusChanged<'_>) -> Self {
        TriggerEvent::TriggerStatusChanged {
            enabled: shape.enabled,
            by: shape.by.map(owned),
        }
    }
}

impl From<v1::TriggerDeleted<'_>> for TriggerEvent {
    fn from(shape: v1::TriggerDeleted<'_>) -> Self {
        TriggerEvent::TriggerDeleted {
            by: shape.by.map(owned),
        }
    }
}

impl From<v1::TriggerFired<'_>> for TriggerEvent {
    fn from(shape: v1::TriggerFired<'_>) -> Self {
        TriggerEvent::TriggerFired {
            run_id: owned(shape.run_id),
            reason: owned(shape.reason),
            scheduled_at_ms: shape.scheduled_at_ms,
            idempotency_key: shape.idempotency_key.map(owned),
        }
    }
}

impl From<v1::TriggerSkipped<'_>> for TriggerEvent {
    fn from(shape: v1::TriggerSkipped<'_>) -> Self {
        TriggerEvent::TriggerSkipped {
            reason: owned(shape.reason),
            scheduled_at_ms: shape.scheduled_at_ms,
        }
    }
}

impl From<v1::TriggerRejected<'_>> for TriggerEvent {
    fn from(shape: v1::TriggerRejected<'_>) -> Self {
        TriggerEvent::TriggerRejected {
            reason: owned(shape.reason),
        }
    }
}

impl From<v1::TriggerCursorAdvanced<'_>> for TriggerEvent {
    fn from(shape: v1::TriggerCursorAdvanced<'_>) -> Self {
        TriggerEvent::TriggerCursorAdvanced {
            cursor_json: owned(shape.cursor_json),
        }
    }
}

impl From<v1::TriggerClaim<'_>> for SlugClaim {
    fn from(shape: v1::TriggerClaim<'_>) -> Self {
        SlugClaim {
            trigger_id: owned(shape.trigger_id),
        }
    }
}

impl From<v1::Sample<'_>> for Sample {
    fn from(shape: v1::Sample<'_>) -> Self {
        Sample {
            received_at_ms: shape.received_at_ms,
            payload_json: owned(shape.payload_json),
        }
    }
}

#[cfg(test)]
mod tests;
