//! The bytes of API key events (`apikey-{id}` streams, tags 400-499): one frozen shape per
//! tag and version, the table [`KEY_EVENTS`], and the encoding of the domain [`KeyEvent`] as
//! its latest versions. The rules: `engine::wire`.
//!
//! Version 1 of every event is what Duro wrote when `KeyEvent` itself was postcard-encoded:
//! the index of its variant in that enum, then its fields.

use engine::wire::{decode_variant, encode_variant, EnumVariant, Stream, WireType};
use serde::{Deserialize, Serialize};

use super::KeyEvent;

/// The variants of the enum key events were first written as, in its order.
pub const V1_VARIANTS: [&str; 2] = ["KeyCreated", "KeyRevoked"];

/// Every tag API key events have been written with; entries are never changed or removed.
#[rustfmt::skip]
pub static KEY_EVENTS: Stream<KeyEvent> = Stream {
    kind: "API key",
    wire_types: &[
        WireType { tag: 400, name: "KeyCreated", version: 1, decode: |data| read_v1::<v1::KeyCreated>(data) },
        WireType { tag: 401, name: "KeyRevoked", version: 1, decode: |data| read_v1::<v1::KeyRevoked>(data) },
    ],
};

/// Decodes a v1 payload; every v1 shape is today's latest.
fn read_v1<'a, T>(data: &'a [u8]) -> Result<KeyEvent, String>
where
    T: EnumVariant + Deserialize<'a> + Into<KeyEvent>,
{
    decode_variant::<T>(data, &V1_VARIANTS).map(Into::into)
}

/// The payload of `event`: its latest version's shape.
pub fn encode(event: &KeyEvent) -> Vec<u8> {
    match event {
        KeyEvent::KeyCreated {
            key_id,
            name,
            scopes,
            secret_sha256,
        } => encode_variant(&v1::KeyCreated {
            key_id,
            name,
            scopes: scopes.iter().map(String::as_str).collect(),
            secret_sha256: *secret_sha256,
        }),
        KeyEvent::KeyRevoked => encode_variant(&v1::KeyRevoked),
    }
}

/// Version 1 of every key event. Frozen: a change is a new version under a new tag.
pub mod v1 {
    use super::*;

    engine::enum_variants! {
        KeyCreated<'_> = 0,
        KeyRevoked = 1,
    }

    #[derive(Serialize, Deserialize)]
    pub struct KeyCreated<'a> {
        pub key_id: &'a str,
        pub name: &'a str,
        /// The scopes as their strings.
        #[serde(borrow)]
        pub scopes: Vec<&'a str>,
        pub secret_sha256: [u8; 32],
    }

    #[derive(Serialize, Deserialize)]
    pub struct KeyRevoked;
}

// v1 → domain.

impl From<v1::KeyCreated<'_>> for KeyEvent {
    fn from(shape: v1::KeyCreated<'_>) -> Self {
        KeyEvent::KeyCreated {
            key_id: shape.key_id.to_owned(),
            name: shape.name.to_owned(),
            scopes: shape.scopes.into_iter().map(str::to_owned).collect(),
            secret_sha256: shape.secret_sha256,
        }
    }
}

impl From<v1::KeyRevoked> for KeyEvent {
    fn from(_: v1::KeyRevoked) -> Self {
        KeyEvent::KeyRevoked
    }
}

#[cfg(test)]
mod tests;
