//! Ids on StackAI's paths are UUIDs (seed 004: `project_trigger_id`, `connection_id`,
//! `created_by` are `string · uuid`). Duro's ids are a prefix and 32 hex digits
//! (`trg_0190...`, `conn_0190...`, `key_...`: a UUIDv7, or 16 bytes of a key's hash), so the
//! UUID form is the same 128 bits written as a UUID, and the mapping is exact both ways:
//! `trg_0190d2c4e5f67a8b9c0d1e2f3a4b5c6d` ⇔ `0190d2c4-e5f6-7a8b-9c0d-1e2f3a4b5c6d`. Either
//! form is accepted on input, the UUID in any case, hyphenated or not.
//!
//! A connection may have an id of its own choosing (`conn_stripe`), which holds no 128 bits:
//! it is shown as a name-based UUID (version 8, RFC 9562: the first 16 bytes of
//! SHA-256(namespace ‖ id), version and variant bits set), and a UUID given back is looked
//! up among the connections (routes/stackai `connection_from`).

use uuid::Uuid;

pub const TRIGGER_PREFIX: &str = "trg_";
pub const CONNECTION_PREFIX: &str = "conn_";
pub const KEY_PREFIX: &str = "key_";
/// The namespace of the name-based UUID of a connection whose id is not a prefixed UUID.
/// Fixed forever: a client may have stored UUIDs made with it.
pub const CUSTOM_ID_NAMESPACE: Uuid = Uuid::from_u128(0x6475_726f_2d63_6f6e_6e2d_6964_7376_3035);

/// The UUID of a prefixed Duro id (`trg_` + 32 hex digits), if it is one.
pub fn uuid_of(id: &str, prefix: &str) -> Option<Uuid> {
    let hex = id.strip_prefix(prefix)?;
    if hex.len() != 32 {
        return None;
    }
    Uuid::try_parse(hex).ok()
}

/// A Duro id shown as a UUID; an id that is not a prefixed UUID is shown as it is.
pub fn shown(id: &str, prefix: &str) -> String {
    match uuid_of(id, prefix) {
        Some(uuid) => uuid.hyphenated().to_string(),
        None => id.to_owned(),
    }
}

/// The Duro id `text` names: a UUID (any form) or the prefixed id itself. None when it is
/// neither.
pub fn duro_id(text: &str, prefix: &str) -> Option<String> {
    let text = text.trim();
    if let Some(uuid) = uuid_of(&text.to_ascii_lowercase(), prefix) {
        return Some(format!("{prefix}{}", uuid.simple()));
    }
    let uuid = Uuid::try_parse(text).ok()?;
    Some(format!("{prefix}{}", uuid.simple()))
}

/// The name-based (version 8) UUID of a chosen id.
pub fn name_uuid(id: &str) -> Uuid {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    hasher.update(CUSTOM_ID_NAMESPACE.as_bytes());
    hasher.update(id.as_bytes());
    let digest = hasher.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    bytes[6] = (bytes[6] & 0x0f) | 0x80;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    Uuid::from_bytes(bytes)
}

/// A connection id shown as a UUID: its own 128 bits, or the name-based UUID of a chosen id.
pub fn connection_shown(id: &str) -> String {
    uuid_of(id, CONNECTION_PREFIX)
        .unwrap_or_else(|| name_uuid(id))
        .hyphenated()
        .to_string()
}

/// Whether `text` may be a Duro connection id as given (1–100 of `[A-Za-z0-9_-]`).
pub fn is_connection_id(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 100
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixed_ids_and_uuids_map_both_ways() {
        let id = "trg_0190d2c4e5f67a8b9c0d1e2f3a4b5c6d";
        let uuid = "0190d2c4-e5f6-7a8b-9c0d-1e2f3a4b5c6d";
        assert_eq!(shown(id, TRIGGER_PREFIX), uuid);
        assert_eq!(duro_id(uuid, TRIGGER_PREFIX).as_deref(), Some(id));
        assert_eq!(
            duro_id(&uuid.to_uppercase(), TRIGGER_PREFIX).as_deref(),
            Some(id)
        );
        assert_eq!(duro_id(id, TRIGGER_PREFIX).as_deref(), Some(id));
        assert_eq!(
            duro_id("0190d2c4e5f67a8b9c0d1e2f3a4b5c6d", TRIGGER_PREFIX).as_deref(),
            Some(id)
        );
        assert_eq!(duro_id("trg_missing", TRIGGER_PREFIX), None);
        assert_eq!(
            duro_id("conn_0190d2c4e5f67a8b9c0d1e2f3a4b5c6d", TRIGGER_PREFIX),
            None
        );
        assert_eq!(shown("whatever", TRIGGER_PREFIX), "whatever");
    }

    #[test]
    fn chosen_connection_ids_have_a_stable_uuid() {
        let shown = connection_shown("conn_stripe");
        assert_eq!(shown, connection_shown("conn_stripe"));
        assert_eq!(Uuid::try_parse(&shown).map(|u| u.get_version_num()), Ok(8));
        assert_ne!(shown, connection_shown("conn_slack"));
        assert_eq!(
            connection_shown("conn_0190d2c4e5f67a8b9c0d1e2f3a4b5c6d"),
            "0190d2c4-e5f6-7a8b-9c0d-1e2f3a4b5c6d"
        );
    }
}
