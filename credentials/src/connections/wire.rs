//! The bytes of connection events (`connection-{id}` streams, tags 600-699): one frozen shape
//! per tag and version, the table [`CONNECTION_EVENTS`], and the encoding of the domain
//! [`ConnectionEvent`] as its latest versions. The rules: `engine::wire`.
//!
//! Version 1 of every event is what Duro wrote when `ConnectionEvent` itself was
//! postcard-encoded: the index of its variant in that enum, then its fields; a status is the
//! index of its variant in the `Status` of that time. What a `Sealed` holds (the postcard of
//! `Credentials`, or of oauth2's `TokenSecret`) is encrypted and is not covered here.

use engine::wire::{decode_variant, encode_variant, EnumVariant, Stream, WireType};
use serde::{Deserialize, Serialize};

use super::crypto::{Sealed, FINGERPRINT_BYTES, NONCE_BYTES};
use super::{ConnectionEvent, Status, StoredSecret};

/// The variants of the enum connection events were first written as, in its order.
pub const V1_VARIANTS: [&str; 6] = [
    "ConnectionCreated",
    "ConnectionUpdated",
    "ConnectionDeleted",
    "ConnectionSettingsChanged",
    "ConnectionTokenRefreshed",
    "ConnectionAuthConfigChanged",
];

/// Every tag connection events have been written with; entries are never changed or
/// removed.
#[rustfmt::skip]
pub static CONNECTION_EVENTS: Stream<ConnectionEvent> = Stream {
    kind: "connection",
    wire_types: &[
        WireType { tag: 600, name: "ConnectionCreated", version: 1, decode: |data| read_v1::<v1::ConnectionCreated>(data) },
        WireType { tag: 601, name: "ConnectionUpdated", version: 1, decode: |data| read_v1::<v1::ConnectionUpdated>(data) },
        WireType { tag: 602, name: "ConnectionDeleted", version: 1, decode: |data| read_v1::<v1::ConnectionDeleted>(data) },
        WireType { tag: 603, name: "ConnectionSettingsChanged", version: 1, decode: |data| read_v1::<v1::ConnectionSettingsChanged>(data) },
        WireType { tag: 604, name: "ConnectionTokenRefreshed", version: 1, decode: |data| read_v1::<v1::ConnectionTokenRefreshed>(data) },
        WireType { tag: 605, name: "ConnectionAuthConfigChanged", version: 1, decode: |data| read_v1::<v1::ConnectionAuthConfigChanged>(data) },
    ],
};

/// Decodes a v1 payload; every v1 shape is today's latest.
fn read_v1<'a, T>(data: &'a [u8]) -> Result<ConnectionEvent, String>
where
    T: EnumVariant + Deserialize<'a> + Into<ConnectionEvent>,
{
    decode_variant::<T>(data, &V1_VARIANTS).map(Into::into)
}

/// The payload of `event`: its latest version's shape.
pub fn encode(event: &ConnectionEvent) -> Vec<u8> {
    match event {
        ConnectionEvent::ConnectionCreated {
            connection_id,
            name,
            provider,
            metadata,
            secret,
        } => encode_variant(&v1::ConnectionCreated {
            connection_id,
            name,
            provider,
            metadata,
            secret: secret.into(),
        }),
        ConnectionEvent::ConnectionUpdated {
            name,
            provider,
            metadata,
            secret,
        } => encode_variant(&v1::ConnectionUpdated {
            name: name.as_deref(),
            provider: provider.as_deref(),
            metadata: metadata.as_deref(),
            secret: secret.as_ref().map(Into::into),
        }),
        ConnectionEvent::ConnectionDeleted => encode_variant(&v1::ConnectionDeleted),
        ConnectionEvent::ConnectionSettingsChanged { base_url, status } => {
            encode_variant(&v1::ConnectionSettingsChanged {
                base_url: base_url.as_ref().map(Option::as_deref),
                status: status.map(Into::into),
            })
        }
        ConnectionEvent::ConnectionTokenRefreshed {
            sealed,
            expires_at_ms,
        } => encode_variant(&v1::ConnectionTokenRefreshed {
            sealed: sealed.into(),
            expires_at_ms: *expires_at_ms,
        }),
        ConnectionEvent::ConnectionAuthConfigChanged { auth_config_id } => {
            encode_variant(&v1::ConnectionAuthConfigChanged {
                auth_config_id: auth_config_id.as_deref(),
            })
        }
    }
}

/// Version 1 of every connection event. Frozen: a change is a new version under a new tag.
pub mod v1 {
    use super::*;

    engine::enum_variants! {
        ConnectionCreated<'_> = 0,
        ConnectionUpdated<'_> = 1,
        ConnectionDeleted = 2,
        ConnectionSettingsChanged<'_> = 3,
        ConnectionTokenRefreshed<'_> = 4,
        ConnectionAuthConfigChanged<'_> = 5,
    }

    /// A status as the index of its variant in this frozen order.
    #[derive(Clone, Copy, Serialize, Deserialize)]
    pub enum Status {
        Active,
        Disabled,
    }

    /// Sealed bytes: the key's fingerprint (8 bytes), the nonce (24), the ciphertext.
    #[derive(Serialize, Deserialize)]
    pub struct Sealed<'a> {
        pub key_fingerprint: [u8; 8],
        pub nonce: [u8; 24],
        pub ciphertext: &'a [u8],
    }

    #[derive(Serialize, Deserialize)]
    pub struct StoredSecret<'a> {
        pub kind: &'a str,
        pub hint: &'a str,
        #[serde(borrow)]
        pub sealed: Sealed<'a>,
    }

    #[derive(Serialize, Deserialize)]
    pub struct ConnectionCreated<'a> {
        pub connection_id: &'a str,
        pub name: &'a str,
        pub provider: &'a str,
        pub metadata: &'a str,
        #[serde(borrow)]
        pub secret: StoredSecret<'a>,
    }

    #[derive(Serialize, Deserialize)]
    pub struct ConnectionUpdated<'a> {
        #[serde(borrow)]
        pub name: Option<&'a str>,
        #[serde(borrow)]
        pub provider: Option<&'a str>,
        #[serde(borrow)]
        pub metadata: Option<&'a str>,
        #[serde(borrow)]
        pub secret: Option<StoredSecret<'a>>,
    }

    #[derive(Serialize, Deserialize)]
    pub struct ConnectionDeleted;

    #[derive(Serialize, Deserialize)]
    pub struct ConnectionSettingsChanged<'a> {
        #[serde(borrow)]
        pub base_url: Option<Option<&'a str>>,
        pub status: Option<Status>,
    }

    #[derive(Serialize, Deserialize)]
    pub struct ConnectionTokenRefreshed<'a> {
        #[serde(borrow)]
        pub sealed: Sealed<'a>,
        pub expires_at_ms: i64,
    }

    #[derive(Serialize, Deserialize)]
    pub struct ConnectionAuthConfigChanged<'a> {
        #[serde(borrow)]
        pub auth_config_id: Option<&'a str>,
    }
}

// The frozen sizes are the crypto module's: a change there is a new version here.
const _: () = assert!(FINGERPRINT_BYTES == 8 && NONCE_BYTES == 24);

// Domain ⇄ v1.

fn owned(text: &str) -> String {
    text.to_owned()
}

impl From<Status> for v1::Status {
    fn from(status: Status) -> Self {
        match status {
            Status::Active => v1::Status::Active,
            Status::Disabled => v1::Status::Disabled,
        }
    }
}

impl From<v1::Status> for Status {
    fn from(status: v1::Status) -> Self {
        match status {
            v1::Status::Active => Status::Active,
            v1::Status::Disabled => Status::Disabled,
        }
    }
}

impl<'a> From<&'a Sealed> for v1::Sealed<'a> {
    fn from(sealed: &'a Sealed) -> Self {
        v1::Sealed {
            key_fingerprint: sealed.key_fingerprint,
            nonce: sealed.nonce,
            ciphertext: &sealed.ciphertext,
        }
    }
}

impl From<v1::Sealed<'_>> for Sealed {
    fn from(sealed: v1::Sealed<'_>) -> Self {
        Sealed {
            key_fingerprint: sealed.key_fingerprint,
            nonce: sealed.nonce,
            ciphertext: sealed.ciphertext.to_vec(),
        }
    }
}

impl<'a> From<&'a StoredSecret> for v1::StoredSecret<'a> {
    fn from(secret: &'a StoredSecret) -> Self {
        v1::StoredSecret {
            kind: &secret.kind,
            hint: &secret.hint,
            sealed: (&secret.sealed).into(),
        }
    }
}

impl From<v1::StoredSecret<'_>> for StoredSecret {
    fn from(secret: v1::StoredSecret<'_>) -> Self {
        StoredSecret {
            kind: owned(secret.kind),
            hint: owned(secret.hint),
            sealed: secret.sealed.into(),
        }
    }
}

impl From<v1::ConnectionCreated<'_>> for ConnectionEvent {
    fn from(shape: v1::ConnectionCreated<'_>) -> Self {
        ConnectionEvent::ConnectionCreated {
            connection_id: owned(shape.connection_id),
            name: owned(shape.name),
            provider: owned(shape.provider),
            metadata: owned(shape.metadata),
            secret: shape.secret.into(),
        }
    }
}

impl From<v1::ConnectionUpdated<'_>> for ConnectionEvent {
    fn from(shape: v1::ConnectionUpdated<'_>) -> Self {
        ConnectionEvent::ConnectionUpdated {
            name: shape.name.map(owned),
            provider: shape.provider.map(owned),
            metadata: shape.metadata.map(owned),
            secret: shape.secret.map(Into::into),
        }
    }
}

impl From<v1::ConnectionDeleted> for ConnectionEvent {
    fn from(_: v1::ConnectionDeleted) -> Self {
        ConnectionEvent::ConnectionDeleted
    }
}

impl From<v1::ConnectionSettingsChanged<'_>> for ConnectionEvent {
    fn from(shape: v1::ConnectionSettingsChanged<'_>) -> Self {
        ConnectionEvent::ConnectionSettingsChanged {
            base_url: shape.base_url.map(|base_url| base_url.map(owned)),
            status: shape.status.map(Into::into),
        }
    }
}

impl From<v1::ConnectionTokenRefreshed<'_>> for ConnectionEvent {
    fn from(shape: v1::ConnectionTokenRefreshed<'_>) -> Self {
        ConnectionEvent::ConnectionTokenRefreshed {
            sealed: shape.sealed.into(),
            expires_at_ms: shape.expires_at_ms,
        }
    }
}

impl From<v1::ConnectionAuthConfigChanged<'_>> for ConnectionEvent {
    fn from(shape: v1::ConnectionAuthConfigChanged<'_>) -> Self {
        ConnectionEvent::ConnectionAuthConfigChanged {
            auth_config_id: shape.auth_config_id.map(owned),
        }
    }
}

#[cfg(test)]
mod tests;
