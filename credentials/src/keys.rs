//! API keys, kept in the journal: each key is an `apikey-{id}` stream of [`KeyEvent`]s, so
//! restoring the journal restores every key and every revocation.
//!
//! The secret is never stored. A key's id is `key_` followed by the hex of the first 16 bytes
//! of SHA-256(secret); its `KeyCreated` event holds the whole 32-byte hash. Authenticating a
//! presented secret hashes it, derives the id, reads that one stream and compares the full
//! stored hash in constant time: no scan, no lookup table, nothing that leaks which prefix of
//! a secret matched.
//!
//! A bounded in-memory cache of recently authenticated keys spares a journal read per
//! request. A revocation made through any clone of the same [`Keys`] removes the key from it
//! at once; entries also expire after [`CACHE_TTL`], which bounds how long a revocation made
//! elsewhere (another `Keys`, another process on a shared backend) can go unnoticed. Make
//! one `Keys` and clone it.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use engine::wire::EventDecodeError;
use journal::{
    EventStore, EventType, ExpectedVersion, NewEvent, Position, Seq, StoreError, StreamName,
    Timestamp,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

mod wire;

/// Every key stream's name starts with this, followed by the key's id.
pub const STREAM_PREFIX: &str = "apikey-";
/// Every key id starts with this, followed by 32 lowercase hex digits.
pub const KEY_ID_PREFIX: &str = "key_";
/// Every generated secret starts with this, followed by 64 lowercase hex digits.
pub const SECRET_PREFIX: &str = "duro_";
/// Longest key name, in bytes.
pub const NAME_BYTES_MAX: usize = 100;
/// Longest secret accepted, in bytes: longer ones are not hashed, they are simply unknown.
pub const SECRET_BYTES_MAX: usize = 512;
/// Most authenticated keys kept in memory.
pub const CACHE_ENTRIES_MAX: usize = 1024;
/// How long an authenticated key is trusted without reading its stream again.
pub const CACHE_TTL: Duration = Duration::from_secs(30);
/// The name given to the key made from `DURO_BOOTSTRAP_KEY`.
pub const BOOTSTRAP_NAME: &str = "bootstrap";

/// Random bytes in a generated secret.
const SECRET_RANDOM_BYTES: usize = 32;
/// Bytes of the secret's SHA-256 that make the key id.
const ID_HASH_BYTES: usize = 16;
/// Most events read back from one key's stream (a KeyCreated and a KeyRevoked, normally).
const KEY_EVENTS_MAX: usize = 1_000;
/// Streams listed per page when listing keys.
const LIST_PAGE: usize = 1_000;
/// Attempts at revoking a key whose stream keeps changing underneath.
const REVOKE_ATTEMPTS: usize = 3;
/// Bootstrap secrets shorter than this are accepted with a warning.
const BOOTSTRAP_SECRET_BYTES_WEAK: usize = 16;

/// What a key may do. `Admin` implies every other scope.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Scope {
    #[serde(rename = "workflows:read")]
    WorkflowsRead,
    #[serde(rename = "workflows:write")]
    WorkflowsWrite,
    #[serde(rename = "workflows:execute")]
    WorkflowsExecute,
    #[serde(rename = "runs:read")]
    RunsRead,
    #[serde(rename = "runs:write")]
    RunsWrite,
    #[serde(rename = "triggers:read")]
    TriggersRead,
    #[serde(rename = "triggers:write")]
    TriggersWrite,
    #[serde(rename = "connections:write")]
    ConnectionsWrite,
    #[serde(rename = "admin")]
    Admin,
}

impl Scope {
    /// Every scope, in the documented order.
    pub const ALL: [Scope; 9] = [
        Scope::WorkflowsRead,
        Scope::WorkflowsWrite,
        Scope::WorkflowsExecute,
        Scope::RunsRead,
        Scope::RunsWrite,
        Scope::TriggersRead,
        Scope::TriggersWrite,
        Scope::ConnectionsWrite,
        Scope::Admin,
    ];

    /// The scope as it is written in requests, the CLI and stored events.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::WorkflowsRead => "workflows:read",
            Scope::WorkflowsWrite => "workflows:write",
            Scope::WorkflowsExecute => "workflows:execute",
            Scope::RunsRead => "runs:read",
            Scope::RunsWrite => "runs:write",
            Scope::TriggersRead => "triggers:read",
            Scope::TriggersWrite => "triggers:write",
            Scope::ConnectionsWrite => "connections:write",
            Scope::Admin => "admin",
        }
    }

    /// Parses a comma-separated list (`"runs:read, workflows:read"`); empty items are skipped.
    /// The result is in [`Scope::ALL`] order without repeats, and may be empty.
    pub fn parse_list(text: &str) -> Result<Vec<Scope>, UnknownScope> {
        let scopes = text
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(Scope::from_str)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(normalize(&scopes))
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scope {
    type Err = UnknownScope;

    fn from_str(text: &str) -> Result<Scope, UnknownScope> {
        let text = text.trim();
        Scope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == text)
            .ok_or_else(|| UnknownScope {
                scope: text.to_owned(),
            })
    }
}

/// A scope name that is not one of [`Scope::ALL`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown scope {scope:?}; valid scopes are: {valid}", valid = valid_scopes())]
pub struct UnknownScope {
    pub scope: String,
}

/// Every scope, comma-separated, for messages.
pub fn valid_scopes() -> String {
    Scope::ALL.map(Scope::as_str).join(", ")
}

/// Scopes in [`Scope::ALL`] order without repeats.
fn normalize(scopes: &[Scope]) -> Vec<Scope> {
    let mut scopes = scopes.to_vec();
    scopes.sort_unstable();
    scopes.dedup();
    scopes
}

/// The events of a key's stream: the domain type, whose bytes are `wire`'s. Scopes travel
/// as their strings so that adding or reordering [`Scope`] variants never changes what
/// stored bytes mean.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyEvent {
    KeyCreated {
        key_id: String,
        name: String,
        scopes: Vec<String>,
        /// SHA-256 of the secret. The secret itself is never stored.
        secret_sha256: [u8; 32],
    },
    KeyRevoked,
}

impl KeyEvent {
    /// Journal type tags, part of the format: never renumber.
    pub fn tag(&self) -> EventType {
        EventType(match self {
            KeyEvent::KeyCreated { .. } => 400,
            KeyEvent::KeyRevoked => 401,
        })
    }

    /// The payload this event is written with (its latest wire version).
    pub fn encode(&self) -> Vec<u8> {
        wire::encode(self)
    }

    /// Decodes an event of an `apikey-{id}` stream by its tag.
    pub fn decode(tag: EventType, data: &[u8]) -> Result<KeyEvent, EventDecodeError> {
        wire::KEY_EVENTS.decode(tag, data)
    }
}

/// A key as the API shows it: never its secret, never its hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyInfo {
    pub id: String,
    pub name: String,
    pub scopes: Vec<Scope>,
    /// RFC 3339 (UTC, milliseconds), when `KeyCreated` was recorded.
    pub created_at: String,
    /// RFC 3339, when `KeyRevoked` was recorded; `None` while the key is active.
    pub revoked_at: Option<String>,
}

impl KeyInfo {
    /// Whether this key may act with `scope`: an active key that holds the scope or `admin`.
    pub fn allows(&self, scope: Scope) -> bool {
        self.revoked_at.is_none()
            && self
                .scopes
                .iter()
                .any(|held| *held == scope || *held == Scope::Admin)
    }

    pub fn is_revoked(&self) -> bool {
        self.revoked_at.is_some()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("a key needs a name")]
    EmptyName,
    #[error("a key name is at most {max} bytes; this one is {len}")]
    NameTooLong { len: usize, max: usize },
    #[error("a key name cannot contain control characters")]
    NameHasControlCharacter,
    #[error("a key needs at least one scope; valid scopes are: {valid}", valid = valid_scopes())]
    NoScopes,
    /// A bootstrap secret that could never be presented in a header.
    #[error("the bootstrap key is unusable: {0}")]
    InvalidSecret(String),
    #[error("API key {0} not found")]
    NotFound(String),
    /// `ensure_bootstrap` with the secret of a key that was revoked.
    #[error("API key {id} (from the bootstrap secret) was revoked; a revoked key is never restored: set DURO_BOOTSTRAP_KEY to a new secret")]
    Revoked { id: String },
    #[error("API key {0} was changed by someone else at the same time; try again")]
    Conflict(String),
    #[error("stored API key event is unreadable: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A key as its stream tells it, with what `KeyInfo` does not show.
struct KeyRecord {
    info: KeyInfo,
    secret_sha256: [u8; 32],
    /// Where `KeyCreated` is in the global log: creation order, without ties.
    created_position: Position,
    /// Stream version, for optimistic concurrency on the next change.
    version: u64,
}

struct Cached {
    secret_sha256: [u8; 32],
    info: KeyInfo,
    at: Instant,
}

#[derive(Default)]
struct Cache {
    entries: HashMap<String, Cached>,
    /// Bumped by every revocation: an authentication that read its key before a revocation
    /// must not put it back into the cache after.
    generation: u64,
}

/// Creates, lists, revokes and authenticates API keys. Cheap to clone; clones share the cache.
#[derive(Clone)]
pub struct Keys {
    store: Arc<dyn EventStore>,
    cache: Arc<Mutex<Cache>>,
}

impl Keys {
    pub fn new(store: Arc<dyn EventStore>) -> Keys {
        Keys {
            store,
            cache: Arc::new(Mutex::new(Cache::default())),
        }
    }

    /// The id of the key whose secret is `secret` (whether or not it exists).
    pub fn id_of(secret: &str) -> String {
        id_of_hash(&sha256(secret))
    }

    /// Makes a new key with a fresh random secret. Returns the key and its secret, which is
    /// shown this once: only its hash is stored. `name` is trimmed; scopes are deduplicated.
    pub async fn create(
        &self,
        name: &str,
        scopes: &[Scope],
    ) -> Result<(KeyInfo, String), KeyError> {
        let name = check_name(name)?;
        let scopes = check_scopes(scopes)?;
        let secret = new_secret();
        let info = self.record(&secret, name, &scopes).await?;
        Ok((info, secret))
    }

    /// Every key, revoked ones included, oldest first.
    pub async fn list(&self) -> Result<Vec<KeyInfo>, KeyError> {
        let mut records = Vec::new();
        for id in
            journal::stream_ids_with_prefix(self.store.as_ref(), STREAM_PREFIX, LIST_PAGE).await?
        {
            if let Some(record) = self.load(&id).await? {
                records.push(record);
            }
        }
        records.sort_by_key(|record| record.created_position);
        Ok(records.into_iter().map(|record| record.info).collect())
    }

    /// One key, revoked or not; `NotFound` if it never existed.
    pub async fn get(&self, id: &str) -> Result<KeyInfo, KeyError> {
        self.load(id)
            .await?
            .map(|record| record.info)
            .ok_or_else(|| KeyError::NotFound(id.to_owned()))
    }

    /// Revokes a key: from now on it authenticates no one. Revoking a revoked key changes
    /// nothing and returns it as it is (with the time of the first revocation).
    pub async fn revoke(&self, id: &str) -> Result<KeyInfo, KeyError> {
        for _ in 0..REVOKE_ATTEMPTS {
            let record = self
                .load(id)
                .await?
                .ok_or_else(|| KeyError::NotFound(id.to_owned()))?;
            if record.info.is_revoked() {
                self.forget(id);
                return Ok(record.info);
            }
            let appended = self
                .append(
                    id,
                    ExpectedVersion::Exact(record.version),
                    &KeyEvent::KeyRevoked,
                )
                .await;
            // Whatever happened, the key must not stay trusted from the cache.
            self.forget(id);
            match appended {
                Ok(()) => return self.get(id).await,
                // Changed underneath (another revocation, most likely): read it again.
                Err(KeyError::Conflict(_)) => continue,
                Err(other) => return Err(other),
            }
        }
        Err(KeyError::Conflict(id.to_owned()))
    }

    /// The active key whose secret is `secret`, or `None` when there is no such key or it
    /// was revoked. Errors only when the journal cannot be read.
    pub async fn authenticate(&self, secret: &str) -> Result<Option<KeyInfo>, KeyError> {
        if secret.is_empty() || secret.len() > SECRET_BYTES_MAX {
            return Ok(None);
        }
        let hash = sha256(secret);
        let id = id_of_hash(&hash);
        let generation = {
            let mut cache = self.lock_cache();
            if let Some(info) = cached(&mut cache, &id, &hash) {
                return Ok(Some(info));
            }
            cache.generation
        };
        let Some(record) = self.load(&id).await? else {
            return Ok(None);
        };
        let matches: bool = record.secret_sha256.ct_eq(&hash).into();
        if !matches || record.info.is_revoked() {
            return Ok(None);
        }
        self.remember(generation, id, hash, record.info.clone());
        Ok(Some(record.info))
    }

    /// Makes sure a key with secret `secret` exists, with scope `admin` and name
    /// `"bootstrap"` when this call creates it (for `DURO_BOOTSTRAP_KEY`). Idempotent: when
    /// an active key with this secret exists it is returned unchanged, whatever its name and
    /// scopes. When the key with this secret was revoked it stays revoked and this fails with
    /// [`KeyError::Revoked`]: a leaked bootstrap secret, once revoked, is never brought back
    /// by a restart; the operator has to choose a new one.
    ///
    /// The secret must be 1 to [`SECRET_BYTES_MAX`] bytes without whitespace or control
    /// characters (it travels in a header); fewer than 16 bytes is accepted with a warning.
    pub async fn ensure_bootstrap(&self, secret: &str) -> Result<KeyInfo, KeyError> {
        check_bootstrap_secret(secret)?;
        if secret.len() < BOOTSTRAP_SECRET_BYTES_WEAK {
            tracing::warn!(
                bytes = secret.len(),
                "the bootstrap API key is short; use at least {BOOTSTRAP_SECRET_BYTES_WEAK} random bytes"
            );
        }
        let hash = sha256(secret);
        let id = id_of_hash(&hash);
        if let Some(existing) = self.load(&id).await? {
            return bootstrap_outcome(existing, &hash);
        }
        match self
            .record(secret, BOOTSTRAP_NAME.to_owned(), &[Scope::Admin])
            .await
        {
            Ok(info) => Ok(info),
            // Someone else made it at the same moment: theirs is ours.
            Err(KeyError::Conflict(_)) => match self.load(&id).await? {
                Some(existing) => bootstrap_outcome(existing, &hash),
                None => Err(KeyError::Conflict(id)),
            },
            Err(other) => Err(other),
        }
    }

    /// Appends the `KeyCreated` of a key with `secret` and reads it back.
    async fn record(
        &self,
        secret: &str,
        name: String,
        scopes: &[Scope],
    ) -> Result<KeyInfo, KeyError> {
        let secret_sha256 = sha256(secret);
        let id = id_of_hash(&secret_sha256);
        let event = KeyEvent::KeyCreated {
            key_id: id.clone(),
            name,
            scopes: scopes.iter().map(|s| s.as_str().to_owned()).collect(),
            secret_sha256,
        };
        self.append(&id, ExpectedVersion::NoStream, &event).await?;
        self.get(&id).await
    }

    async fn append(
        &self,
        id: &str,
        expected: ExpectedVersion,
        event: &KeyEvent,
    ) -> Result<(), KeyError> {
        let stream = stream_of(id).ok_or_else(|| KeyError::NotFound(id.to_owned()))?;
        match self
            .store
            .append(
                &stream,
                expected,
                vec![NewEvent::new(event.tag(), event.encode())],
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(StoreError::Conflict { .. }) => Err(KeyError::Conflict(id.to_owned())),
            Err(other) => Err(other.into()),
        }
    }

    /// The key as its stream tells it; `None` if the id is malformed or has no stream.
    async fn load(&self, id: &str) -> Result<Option<KeyRecord>, KeyError> {
        let Some(stream) = stream_of(id) else {
            return Ok(None);
        };
        let events = self
            .store
            .read_stream(&stream, Seq(1), KEY_EVENTS_MAX)
            .await?;
        let mut record: Option<KeyRecord> = None;
        for recorded in &events {
            let place = || format!("{stream} seq {}", recorded.seq.0);
            let event = KeyEvent::decode(recorded.event_type, &recorded.data)
                .map_err(|e| KeyError::Corrupt(format!("{}: {e}", place())))?;
            record = match (record, event) {
                (
                    None,
                    KeyEvent::KeyCreated {
                        key_id,
                        name,
                        scopes,
                        secret_sha256,
                    },
                ) => {
                    if key_id != id {
                        return Err(KeyError::Corrupt(format!(
                            "{}: KeyCreated names key {key_id}",
                            place()
                        )));
                    }
                    let scopes = scopes
                        .iter()
                        .map(|s| s.parse::<Scope>())
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(|e| KeyError::Corrupt(format!("{}: {e}", place())))?;
                    Some(KeyRecord {
                        info: KeyInfo {
                            id: key_id,
                            name,
                            scopes,
                            created_at: rfc3339(recorded.recorded_at)?,
                            revoked_at: None,
                        },
                        secret_sha256,
                        created_position: recorded.position,
                        version: recorded.seq.0,
                    })
                }
                (Some(mut record), KeyEvent::KeyRevoked) => {
                    // A second revocation (a retried append) keeps the first one's time.
                    if record.info.revoked_at.is_none() {
                        record.info.revoked_at = Some(rfc3339(recorded.recorded_at)?);
                    }
                    record.version = recorded.seq.0;
                    Some(record)
                }
                (Some(_), KeyEvent::KeyCreated { .. }) => {
                    return Err(KeyError::Corrupt(format!(
                        "{}: a second KeyCreated",
                        place()
                    )))
                }
                (None, KeyEvent::KeyRevoked) => {
                    return Err(KeyError::Corrupt(format!(
                        "{}: the stream does not start with KeyCreated",
                        place()
                    )))
                }
            };
        }
        Ok(record)
    }

    fn lock_cache(&self) -> MutexGuard<'_, Cache> {
        // Every change to the cache is a single map operation or counter bump: a panic while
        // holding the lock cannot leave it half-updated.
        self.cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn remember(&self, generation: u64, id: String, secret_sha256: [u8; 32], info: KeyInfo) {
        let mut cache = self.lock_cache();
        if cache.generation != generation {
            return;
        }
        if cache.entries.len() >= CACHE_ENTRIES_MAX && !cache.entries.contains_key(&id) {
            cache
                .entries
                .retain(|_, entry| entry.at.elapsed() < CACHE_TTL);
            if cache.entries.len() >= CACHE_ENTRIES_MAX {
                if let Some(victim) = cache.entries.keys().next().cloned() {
                    cache.entries.remove(&victim);
                }
            }
        }
        cache.entries.insert(
            id,
            Cached {
                secret_sha256,
                info,
                at: Instant::now(),
            },
        );
    }

    fn forget(&self, id: &str) {
        let mut cache = self.lock_cache();
        cache.generation += 1;
        cache.entries.remove(id);
    }
}

/// The cached key `id` if it is fresh and its hash is `hash`.
fn cached(cache: &mut Cache, id: &str, hash: &[u8; 32]) -> Option<KeyInfo> {
    let entry = cache.entries.get(id)?;
    if entry.at.elapsed() >= CACHE_TTL {
        cache.entries.remove(id);
        return None;
    }
    let matches: bool = entry.secret_sha256.ct_eq(hash).into();
    matches.then(|| entry.info.clone())
}

fn bootstrap_outcome(existing: KeyRecord, hash: &[u8; 32]) -> Result<KeyInfo, KeyError> {
    let matches: bool = existing.secret_sha256.ct_eq(hash).into();
    if !matches {
        // Two secrets whose hashes share 16 bytes: never seen, but never mistaken for a match.
        return Err(KeyError::Conflict(existing.info.id));
    }
    if existing.info.is_revoked() {
        return Err(KeyError::Revoked {
            id: existing.info.id,
        });
    }
    Ok(existing.info)
}

fn check_name(name: &str) -> Result<String, KeyError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(KeyError::EmptyName);
    }
    if name.len() > NAME_BYTES_MAX {
        return Err(KeyError::NameTooLong {
            len: name.len(),
            max: NAME_BYTES_MAX,
        });
    }
    if name.chars().any(char::is_control) {
        return Err(KeyError::NameHasControlCharacter);
    }
    Ok(name.to_owned())
}

fn check_scopes(scopes: &[Scope]) -> Result<Vec<Scope>, KeyError> {
    if scopes.is_empty() {
        return Err(KeyError::NoScopes);
    }
    Ok(normalize(scopes))
}

fn check_bootstrap_secret(secret: &str) -> Result<(), KeyError> {
    if secret.is_empty() {
        return Err(KeyError::InvalidSecret("it is empty".into()));
    }
    if secret.len() > SECRET_BYTES_MAX {
        return Err(KeyError::InvalidSecret(format!(
            "it is {} bytes; at most {SECRET_BYTES_MAX} are allowed",
            secret.len()
        )));
    }
    if secret.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(KeyError::InvalidSecret(
            "it contains whitespace or control characters".into(),
        ));
    }
    Ok(())
}

fn new_secret() -> String {
    let bytes: [u8; SECRET_RANDOM_BYTES] = rand::random();
    format!("{SECRET_PREFIX}{}", hex(&bytes))
}

fn sha256(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

fn id_of_hash(hash: &[u8; 32]) -> String {
    format!("{KEY_ID_PREFIX}{}", hex(&hash[..ID_HASH_BYTES]))
}

/// The stream of key `id`, or `None` when `id` is not `key_` and 32 lowercase hex digits.
fn stream_of(id: &str) -> Option<StreamName> {
    let digits = id.strip_prefix(KEY_ID_PREFIX)?;
    let well_formed = digits.len() == ID_HASH_BYTES * 2
        && digits
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !well_formed {
        return None;
    }
    StreamName::new(format!("{STREAM_PREFIX}{id}")).ok()
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        // Writing to a String cannot fail.
        let _ = write!(text, "{byte:02x}");
    }
    text
}

fn rfc3339(at: Timestamp) -> Result<String, KeyError> {
    chrono::DateTime::from_timestamp_micros(at.as_micros())
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .ok_or_else(|| KeyError::Corrupt(format!("timestamp {} out of range", at.0)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use journal::MemoryStore;

    fn keys() -> (Keys, Arc<MemoryStore>) {
        let store = Arc::new(MemoryStore::new());
        (Keys::new(store.clone()), store)
    }

    #[tokio::test]
    async fn a_created_key_authenticates_with_its_scopes() {
        let (keys, _) = keys();
        let (info, secret) = keys
            .create(
                " ci ",
                &[Scope::RunsRead, Scope::WorkflowsRead, Scope::RunsRead],
            )
            .await
            .expect("create");
        assert!(secret.starts_with(SECRET_PREFIX), "{secret}");
        assert_eq!(secret.len(), SECRET_PREFIX.len() + 64);
        assert_eq!(info.id, Keys::id_of(&secret));
        assert_eq!(info.id.len(), KEY_ID_PREFIX.len() + 32);
        assert_eq!(info.name, "ci");
        assert_eq!(info.scopes, vec![Scope::WorkflowsRead, Scope::RunsRead]);
        assert!(info.revoked_at.is_none());
        assert!(
            chrono::DateTime::parse_from_rfc3339(&info.created_at).is_ok(),
            "{}",
            info.created_at
        );

        let found = keys
            .authenticate(&secret)
            .await
            .expect("authenticate")
            .expect("known key");
        assert_eq!(found, info);
        assert!(found.allows(Scope::RunsRead));
        assert!(found.allows(Scope::WorkflowsRead));
        assert!(!found.allows(Scope::RunsWrite));
        assert!(!found.allows(Scope::Admin));
        // Again, from the cache.
        assert_eq!(
            keys.authenticate(&secret).await.expect("authenticate"),
            Some(info.clone())
        );
        assert_eq!(keys.get(&info.id).await.expect("get"), info);
    }

    #[tokio::test]
    async fn a_wrong_or_malformed_secret_is_unknown() {
        let (keys, _) = keys();
        let (_, secret) = keys.create("ci", &[Scope::Admin]).await.expect("create");
        let mut wrong = secret.clone();
        wrong.pop();
        wrong.push(if secret.ends_with('0') { '1' } else { '0' });
        for candidate in [wrong.as_str(), "", "duro_", "x".repeat(10_000).as_str()] {
            assert_eq!(
                keys.authenticate(candidate).await.expect("authenticate"),
                None,
                "{candidate}"
            );
        }
    }

    #[tokio::test]
    async fn a_revoked_key_authenticates_no_one() {
        let (keys, _) = keys();
        let (info, secret) = keys.create("ci", &[Scope::RunsRead]).await.expect("create");
        // Cached first, so revocation must invalidate the cache.
        assert!(keys.authenticate(&secret).await.expect("auth").is_some());
        let clone = keys.clone();
        let revoked = clone.revoke(&info.id).await.expect("revoke");
        assert!(revoked.revoked_at.is_some());
        assert!(!revoked.allows(Scope::RunsRead));
        assert_eq!(keys.authenticate(&secret).await.expect("auth"), None);
        // Revoking again changes nothing.
        assert_eq!(keys.revoke(&info.id).await.expect("revoke again"), revoked);
        let listed = keys.list().await.expect("list");
        assert_eq!(listed, vec![revoked]);
    }

    #[tokio::test]
    async fn revoking_an_unknown_key_is_not_found() {
        let (keys, _) = keys();
        for id in ["key_00000000000000000000000000000000", "nope", "key_../x"] {
            assert!(
                matches!(keys.revoke(id).await, Err(KeyError::NotFound(ref got)) if got == id),
                "{id}"
            );
            assert!(matches!(keys.get(id).await, Err(KeyError::NotFound(_))));
        }
    }

    #[tokio::test]
    async fn list_pages_through_every_key_oldest_first() {
        let (keys, _) = keys();
        let mut ids = Vec::new();
        for i in 0..5 {
            let (info, _) = keys
                .create(&format!("key {i}"), &[Scope::RunsRead])
                .await
                .expect("create");
            ids.push(info.id);
        }
        let listed: Vec<String> = keys
            .list()
            .await
            .expect("list")
            .into_iter()
            .map(|k| k.id)
            .collect();
        assert_eq!(listed, ids);
    }

    #[tokio::test]
    async fn bootstrap_is_idempotent() {
        let (keys, _) = keys();
        let secret = "bootstrap-secret-for-tests";
        let first = keys.ensure_bootstrap(secret).await.expect("bootstrap");
        assert_eq!(first.name, BOOTSTRAP_NAME);
        assert_eq!(first.scopes, vec![Scope::Admin]);
        assert_eq!(first.id, Keys::id_of(secret));
        let second = keys
            .ensure_bootstrap(secret)
            .await
            .expect("bootstrap again");
        assert_eq!(second, first);
        assert_eq!(keys.list().await.expect("list"), vec![first.clone()]);

        let found = keys
            .authenticate(secret)
            .await
            .expect("auth")
            .expect("known");
        for scope in Scope::ALL {
            assert!(found.allows(scope), "{scope}");
        }

        // Once revoked, a restart with the same secret does not bring it back.
        keys.revoke(&first.id).await.expect("revoke");
        assert!(matches!(
            keys.ensure_bootstrap(secret).await,
            Err(KeyError::Revoked { ref id }) if *id == first.id
        ));
        assert_eq!(keys.authenticate(secret).await.expect("auth"), None);
        assert_eq!(keys.list().await.expect("list").len(), 1);
    }

    #[tokio::test]
    async fn unusable_bootstrap_secrets_are_refused() {
        let (keys, _) = keys();
        for secret in [
            "",
            "has space",
            "tab\there",
            &"x".repeat(SECRET_BYTES_MAX + 1),
        ] {
            assert!(
                matches!(
                    keys.ensure_bootstrap(secret).await,
                    Err(KeyError::InvalidSecret(_))
                ),
                "{secret:?}"
            );
        }
        assert!(keys.list().await.expect("list").is_empty());
    }

    #[tokio::test]
    async fn the_secret_is_never_stored() {
        let (keys, store) = keys();
        let (info, secret) = keys.create("ci", &[Scope::Admin]).await.expect("create");
        keys.revoke(&info.id).await.expect("revoke");
        let bootstrap = "another-secret-never-stored";
        keys.ensure_bootstrap(bootstrap).await.expect("bootstrap");

        let events = store.read_all(Position::START, 100).await.expect("read");
        assert_eq!(events.len(), 3);
        assert_eq!(
            events.iter().map(|e| e.event_type.0).collect::<Vec<_>>(),
            vec![400, 401, 400]
        );
        let random_hex = secret.trim_start_matches(SECRET_PREFIX);
        let random_bytes: Vec<u8> = (0..random_hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&random_hex[i..i + 2], 16).expect("hex"))
            .collect();
        let needles: [&[u8]; 4] = [
            secret.as_bytes(),
            random_hex.as_bytes(),
            &random_bytes,
            bootstrap.as_bytes(),
        ];
        for event in &events {
            for needle in needles {
                assert!(
                    !event.data.windows(needle.len()).any(|w| w == needle),
                    "a secret is in {} seq {}",
                    event.stream,
                    event.seq.0
                );
            }
        }
        // What is stored is the hash.
        let hash = sha256(&secret);
        assert!(events[0].data.windows(32).any(|w| w == hash));
        assert_eq!(events[0].stream.as_str(), format!("apikey-{}", info.id));
    }

    #[tokio::test]
    async fn names_and_scopes_are_checked() {
        let (keys, _) = keys();
        assert!(matches!(
            keys.create("  ", &[Scope::Admin]).await,
            Err(KeyError::EmptyName)
        ));
        assert!(matches!(
            keys.create(&"n".repeat(101), &[Scope::Admin]).await,
            Err(KeyError::NameTooLong { len: 101, max: 100 })
        ));
        assert!(keys.create(&"n".repeat(100), &[Scope::Admin]).await.is_ok());
        assert!(matches!(
            keys.create("a\nb", &[Scope::Admin]).await,
            Err(KeyError::NameHasControlCharacter)
        ));
        let no_scopes = keys.create("ci", &[]).await;
        assert!(matches!(no_scopes, Err(KeyError::NoScopes)));
        assert_eq!(keys.list().await.expect("list").len(), 1);
    }

    #[test]
    fn scopes_parse_from_their_names() {
        for scope in Scope::ALL {
            assert_eq!(scope.as_str().parse::<Scope>(), Ok(scope));
            let json = serde_json::to_string(&scope).expect("json");
            assert_eq!(json, format!("\"{}\"", scope.as_str()));
            assert_eq!(
                serde_json::from_str::<Scope>(&json).expect("from json"),
                scope
            );
        }
        assert_eq!(
            Scope::parse_list("runs:read, workflows:read,,runs:read"),
            Ok(vec![Scope::WorkflowsRead, Scope::RunsRead])
        );

        let error = "runs:delete".parse::<Scope>().expect_err("unknown");
        assert_eq!(error.scope, "runs:delete");
        let message = error.to_string();
        assert!(message.contains("\"runs:delete\""), "{message}");
        for scope in Scope::ALL {
            assert!(message.contains(scope.as_str()), "{message}");
        }
        let error = Scope::parse_list("runs:read,Admin").expect_err("case matters");
        assert_eq!(error.scope, "Admin");
        assert!(serde_json::from_str::<Scope>("\"runs:delete\"").is_err());
    }

    #[test]
    fn key_info_serializes_in_camel_case() {
        let info = KeyInfo {
            id: "key_0".into(),
            name: "ci".into(),
            scopes: vec![Scope::RunsRead],
            created_at: "2026-01-01T00:00:00.000Z".into(),
            revoked_at: None,
        };
        let json = serde_json::to_value(&info).expect("json");
        assert_eq!(
            json,
            serde_json::json!({
                "id": "key_0",
                "name": "ci",
                "scopes": ["runs:read"],
                "createdAt": "2026-01-01T00:00:00.000Z",
                "revokedAt": null,
            })
        );
    }

    #[tokio::test]
    async fn the_cache_stays_bounded() {
        let (keys, _) = keys();
        let mut secrets = Vec::new();
        for i in 0..(CACHE_ENTRIES_MAX + 10) {
            let (_, secret) = keys
                .create(&format!("k{i}"), &[Scope::RunsRead])
                .await
                .expect("create");
            secrets.push(secret);
        }
        for secret in &secrets {
            assert!(keys.authenticate(secret).await.expect("auth").is_some());
        }
        assert!(keys.lock_cache().entries.len() <= CACHE_ENTRIES_MAX);
        // More keys than one page of streams: list goes through them all.
        assert!(secrets.len() > LIST_PAGE);
        assert_eq!(keys.list().await.expect("list").len(), secrets.len());
    }
}
