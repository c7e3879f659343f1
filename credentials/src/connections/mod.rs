//! Connected accounts ("connections"): credentials for a provider (a bearer token, a user and
//! password, a header, an OAuth2 access token) that steps send as a header; an OAuth2 client
//! whose access tokens Duro obtains and refreshes itself ([`oauth2`]); an SMTP server that
//! email steps use ([`smtp`]). Each connection is a `connection-{id}` stream of
//! [`ConnectionEvent`]s (tags 600 created, 601 updated, 602 deleted, 603 settings changed,
//! 604 access token refreshed, 605 auth config changed), postcard-encoded.
//!
//! The secret part is never stored in plaintext: it is sealed with XChaCha20-Poly1305 under
//! the data key ([`crypto`]) with `connection:{id}` as associated data, so a sealed secret
//! copied into another connection's stream does not open. What the API shows is
//! [`ConnectionInfo`]: everything but the secret, which appears only as `secretSet` and a
//! hint of its last 4 characters (`****abcd`, and only for secrets of at least 12
//! characters; those 4 characters are stored in plaintext for that purpose; smtp and oauth2
//! connections have no hint). The parts of an smtp or oauth2 secret that are not secret
//! (host, port, client id, token URL, ...) are shown by decrypting it when answering; the
//! password, client secret, refresh token and access token never are. Only the engine's
//! entry points ([`Connections::credentials`], [`Connections::authorization`],
//! `ConnectionSource::smtp`) hand out secrets; no route returns their result.
//!
//! Nothing here logs a secret, and the `Debug` of every type holding one is redacted.

pub mod crypto;
pub mod oauth2;
mod settings;
pub mod smtp;
mod source;
mod wire;

use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use engine::executor::{Clock, SystemClock};
use engine::wire::EventDecodeError;
use http::{HeaderName, HeaderValue};
use journal::{
    EventStore, EventType, ExpectedVersion, NewEvent, Position, Seq, StoreError, StreamName,
    Timestamp,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use crypto::{CryptoError, KeySource, Sealed, SecretKey, SecretKeyError};
pub use settings::Status;

use engine::definition::Problem;

/// Every connection stream's name starts with this, followed by the connection's id.
pub const STREAM_PREFIX: &str = "connection-";
/// Generated ids are this followed by a UUIDv7 in simple form.
pub const ID_PREFIX: &str = "conn_";
/// Longest id, in bytes (ids are `[A-Za-z0-9_-]`).
pub const ID_BYTES_MAX: usize = 100;
/// Longest name, in bytes.
pub const NAME_BYTES_MAX: usize = 200;
/// Longest provider, in bytes (providers are `[A-Za-z0-9_.-]`).
pub const PROVIDER_BYTES_MAX: usize = 100;
/// Longest secret field, in bytes.
pub const SECRET_BYTES_MAX: usize = 16 * 1024;
/// Largest metadata, in bytes of JSON.
pub const METADATA_BYTES_MAX: usize = 64 * 1024;
/// Secrets shorter than this (in characters) show no characters in their hint.
pub const HINT_SECRET_CHARS_MIN: usize = 12;
/// Characters of a secret its hint shows.
const HINT_CHARS: usize = 4;
/// Events read per page from one connection's stream.
const READ_PAGE: usize = 1_000;
/// Streams listed per page.
const LIST_PAGE: usize = 1_000;
/// Attempts at a change whose stream keeps changing underneath.
const CHANGE_ATTEMPTS: usize = 3;

/// How a connection's secret is presented.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kind {
    /// `Authorization: Bearer {token}`.
    #[serde(rename = "bearer")]
    Bearer,
    /// `Authorization: Basic base64({username}:{password})`.
    #[serde(rename = "basic")]
    Basic,
    /// `{headerName}: {headerValue}`.
    #[serde(rename = "header")]
    Header,
    /// An OAuth2 access token, sent as `Authorization: Bearer {token}`.
    #[serde(rename = "oauth2_token")]
    OAuth2Token,
    /// An SMTP server for email steps (`host`, `port`, `security`, and optionally
    /// `username` with `password`, and `from`); never sent as a header. Provider `smtp`.
    #[serde(rename = "smtp")]
    Smtp,
    /// An OAuth2 client and its refresh token (`clientId`, `clientSecret`, `tokenUrl`,
    /// `refreshToken`, optionally `scope`): Duro obtains and refreshes the access token
    /// itself and sends it as `Authorization: Bearer {token}`.
    #[serde(rename = "oauth2")]
    OAuth2,
}

impl Kind {
    pub const ALL: [Kind; 6] = [
        Kind::Bearer,
        Kind::Basic,
        Kind::Header,
        Kind::OAuth2Token,
        Kind::Smtp,
        Kind::OAuth2,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Bearer => "bearer",
            Kind::Basic => "basic",
            Kind::Header => "header",
            Kind::OAuth2Token => "oauth2_token",
            Kind::Smtp => "smtp",
            Kind::OAuth2 => "oauth2",
        }
    }

    fn parse(text: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|kind| kind.as_str() == text)
    }

    /// The secret fields this kind takes, as the API names them.
    fn fields(self) -> &'static [&'static str] {
        match self {
            Kind::Bearer | Kind::OAuth2Token => &["token"],
            Kind::Basic => &["username", "password"],
            Kind::Header => &["headerName", "headerValue"],
            Kind::Smtp => &["host", "port", "security", "username", "password", "from"],
            Kind::OAuth2 => &[
                "clientId",
                "clientSecret",
                "tokenUrl",
                "refreshToken",
                "scope",
            ],
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A connection's secret, decrypted. Its `Debug` shows the kind only.
///
/// Postcard-encoded inside the ciphertext: never reorder the variants or their fields, only
/// append new variants at the end.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Credentials {
    Bearer {
        token: String,
    },
    Basic {
        username: String,
        password: String,
    },
    Header {
        name: String,
        value: String,
    },
    OAuth2Token {
        token: String,
    },
    /// An SMTP server; `username` and `password` are both given or both absent.
    Smtp {
        host: String,
        port: u16,
        /// `none`, `starttls` or `tls`.
        security: String,
        username: Option<String>,
        password: Option<String>,
        /// The sender of emails that name none.
        from: Option<String>,
    },
    /// An OAuth2 client and the refresh token it was granted. The access tokens obtained
    /// with it (and a refresh token the endpoint rotates to) are sealed in
    /// `ConnectionTokenRefreshed` events, not here.
    OAuth2 {
        client_id: String,
        client_secret: String,
        token_url: String,
        refresh_token: String,
        scope: Option<String>,
    },
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Credentials {{ kind: {}, .. }}", self.kind())
    }
}

impl Credentials {
    pub fn kind(&self) -> Kind {
        match self {
            Credentials::Bearer { .. } => Kind::Bearer,
            Credentials::Basic { .. } => Kind::Basic,
            Credentials::Header { .. } => Kind::Header,
            Credentials::OAuth2Token { .. } => Kind::OAuth2Token,
            Credentials::Smtp { .. } => Kind::Smtp,
            Credentials::OAuth2 { .. } => Kind::OAuth2,
        }
    }

    /// The header that presents these credentials by themselves: `Authorization` with
    /// `Bearer …` or `Basic …`, or the connection's own header. Validation at creation
    /// guarantees both are valid HTTP; the value is marked sensitive. `None` for smtp (no
    /// header at all) and oauth2 (the header carries an access token obtained with them:
    /// [`Connections::authorization`]).
    pub fn header(&self) -> Option<(HeaderName, HeaderValue)> {
        let (name, value) = match self {
            Credentials::Bearer { token } | Credentials::OAuth2Token { token } => (
                HeaderName::from_static("authorization"),
                format!("Bearer {token}"),
            ),
            Credentials::Basic { username, password } => (
                HeaderName::from_static("authorization"),
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD
                        .encode(format!("{username}:{password}"))
                ),
            ),
            Credentials::Header { name, value } => (
                HeaderName::from_bytes(name.as_bytes())
                    .unwrap_or(HeaderName::from_static("authorization")),
                value.clone(),
            ),
            Credentials::Smtp { .. } | Credentials::OAuth2 { .. } => return None,
        };
        Some((name, sensitive_value(&value)))
    }

    /// The part of the secret a hint may end with: nothing for smtp and oauth2, whose
    /// answers show their settings that are not secret instead.
    fn hint_source(&self) -> &str {
        match self {
            Credentials::Bearer { token } | Credentials::OAuth2Token { token } => token,
            Credentials::Basic { password, .. } => password,
            Credentials::Header { value, .. } => value,
            Credentials::Smtp { .. } | Credentials::OAuth2 { .. } => "",
        }
    }
}

/// The events of a connection's stream: the domain type, whose bytes are `wire`'s. The
/// kind travels as its string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConnectionEvent {
    ConnectionCreated {
        connection_id: String,
        name: String,
        provider: String,
        /// JSON text (postcard cannot carry `serde_json::Value`).
        metadata: String,
        secret: StoredSecret,
    },
    /// Only the fields given change.
    ConnectionUpdated {
        name: Option<String>,
        provider: Option<String>,
        metadata: Option<String>,
        secret: Option<StoredSecret>,
    },
    ConnectionDeleted,
    /// The settings that are not part of the secret: only the fields given change
    /// (`base_url: Some(None)` clears it). Tag 603; written with `ConnectionCreated` in the
    /// same append when a new connection sets them.
    ConnectionSettingsChanged {
        base_url: Option<Option<String>>,
        status: Option<Status>,
    },
    /// An oauth2 connection's token endpoint granted an access token (tag 604). `sealed` is
    /// the postcard of the access token and of the refresh token in force after it (when the
    /// endpoint ever rotated it), sealed like the secret (`connection:{id}`); the expiry is
    /// plaintext. A later secret change (`ConnectionUpdated` with a secret) voids it.
    ConnectionTokenRefreshed {
        sealed: Sealed,
        expires_at_ms: i64,
    },
    /// The auth config the connection belongs to (Flowra's `authConfigId`, seed 000's
    /// `authConfigIds` filter) was set (`Some`) or cleared (`None`). Tag 605, an event of
    /// its own so that events written before it still decode. Written with
    /// `ConnectionCreated` in the same append when a new connection sets it.
    ConnectionAuthConfigChanged {
        auth_config_id: Option<String>,
    },
}

impl ConnectionEvent {
    /// Journal type tags, part of the format: never renumber.
    pub fn tag(&self) -> EventType {
        EventType(match self {
            ConnectionEvent::ConnectionCreated { .. } => 600,
            ConnectionEvent::ConnectionUpdated { .. } => 601,
            ConnectionEvent::ConnectionDeleted => 602,
            ConnectionEvent::ConnectionSettingsChanged { .. } => 603,
            ConnectionEvent::ConnectionTokenRefreshed { .. } => 604,
            ConnectionEvent::ConnectionAuthConfigChanged { .. } => 605,
        })
    }

    /// The payload this event is written with (its latest wire version).
    pub fn encode(&self) -> Vec<u8> {
        wire::encode(self)
    }

    /// Decodes an event of a `connection-{id}` stream by its tag.
    pub fn decode(tag: EventType, data: &[u8]) -> Result<ConnectionEvent, EventDecodeError> {
        wire::CONNECTION_EVENTS.decode(tag, data)
    }
}

/// A secret as the journal holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredSecret {
    pub kind: String,
    /// The last 4 characters of the secret, or empty for short secrets.
    pub hint: String,
    /// The postcard of [`Credentials`], sealed with `connection:{id}` as associated data.
    pub sealed: Sealed,
}

/// A connection as the API shows it: never its secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionInfo {
    pub id: String,
    pub name: String,
    pub provider: String,
    pub kind: Kind,
    pub metadata: Value,
    /// Always true: every connection has a secret.
    pub secret_set: bool,
    /// `****` followed by the secret's last 4 characters (just `****` for short secrets).
    pub secret_hint: String,
    /// Replaces the provider's base URL for this connection (a sandbox, a proxy, GitHub
    /// Enterprise, a local test server); null when the provider's is used.
    pub base_url: Option<String>,
    /// `active`, or `disabled`: a disabled connection is never used by a step, and a run
    /// whose workflow names it is refused.
    pub status: Status,
    /// The auth config the connection belongs to (a plain label Duro does not interpret;
    /// seed 000 filters trigger instances by it); null when none was given.
    #[serde(default)]
    pub auth_config_id: Option<String>,
    /// Kind smtp: the server, never its password. Absent for other kinds (and when the
    /// secret does not decrypt with the data key in use).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp: Option<smtp::SmtpInfo>,
    /// Kind oauth2: the client id, token endpoint, scope and when the current access token
    /// expires, never a secret. Absent for other kinds (and when the secret does not
    /// decrypt).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth2: Option<oauth2::OAuth2Info>,
    /// RFC 3339 (UTC, milliseconds).
    pub created_at: String,
    pub updated_at: String,
}

/// A new connection, as `POST /api/v1/connections` takes it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NewConnection {
    /// `[A-Za-z0-9_-]{1,100}`; `conn_` + a UUIDv7 when absent.
    #[serde(default)]
    pub id: Option<String>,
    pub name: String,
    pub provider: String,
    pub kind: Kind,
    #[serde(default)]
    pub metadata: Option<Value>,
    #[serde(default)]
    pub token: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub header_name: Option<String>,
    #[serde(default)]
    pub header_value: Option<String>,
    /// Kind smtp: the server's host name or address.
    #[serde(default)]
    pub host: Option<String>,
    /// Kind smtp: 1 to 65535.
    #[serde(default)]
    pub port: Option<i64>,
    /// Kind smtp: `none`, `starttls` or `tls`.
    #[serde(default)]
    pub security: Option<String>,
    /// Kind smtp: the default sender, `a@example.com` or `Name <a@example.com>`.
    #[serde(default)]
    pub from: Option<String>,
    /// Kind oauth2.
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub client_secret: Option<String>,
    /// Kind oauth2: an absolute http:// or https:// URL.
    #[serde(default)]
    pub token_url: Option<String>,
    #[serde(default)]
    pub refresh_token: Option<String>,
    /// Kind oauth2: sent with every refresh when given.
    #[serde(default)]
    pub scope: Option<String>,
    #[serde(default)]
    pub base_url: Option<String>,
    #[serde(default)]
    pub status: Option<Status>,
    /// The auth config the connection belongs to: 1 to [`AUTH_CONFIG_ID_BYTES_MAX`] bytes.
    #[serde(default)]
    pub auth_config_id: Option<String>,
}

/// A change, as `PATCH /api/v1/connections/{id}` takes it: fields given replace the current
/// ones. Any of `kind` and the secret fields replaces the whole secret: every field of the
/// (new or current) kind must then be given.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ConnectionPatch {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub provider: Option<String>,
    #[serde(default)]
    pub kind: Option<Kind>,
    #[serde(default)]
    pub metadata: Option<Value>,
    #[serde(default)]
    pub token: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub header_name: Option<String>,
    #[serde(default)]
    pub header_value: Option<String>,
    /// Kind smtp: the server's host name or address.
    #[serde(default)]
    pub host: Option<String>,
    /// Kind smtp: 1 to 65535.
    #[serde(default)]
    pub port: Option<i64>,
    /// Kind smtp: `none`, `starttls` or `tls`.
    #[serde(default)]
    pub security: Option<String>,
    /// Kind smtp: the default sender, `a@example.com` or `Name <a@example.com>`.
    #[serde(default)]
    pub from: Option<String>,
    /// Kind oauth2.
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub client_secret: Option<String>,
    /// Kind oauth2: an absolute http:// or https:// URL.
    #[serde(default)]
    pub token_url: Option<String>,
    #[serde(default)]
    pub refresh_token: Option<String>,
    /// Kind oauth2: sent with every refresh when given.
    #[serde(default)]
    pub scope: Option<String>,
    /// A URL, or "" to go back to the provider's.
    #[serde(default)]
    pub base_url: Option<String>,
    #[serde(default)]
    pub status: Option<Status>,
    /// The auth config the connection belongs to: 1 to [`AUTH_CONFIG_ID_BYTES_MAX`] bytes.
    #[serde(default)]
    pub auth_config_id: Option<String>,
}

/// The secret fields of a request, as given. No `Debug`: they are secrets.
struct SecretFields {
    token: Option<String>,
    username: Option<String>,
    password: Option<String>,
    header_name: Option<String>,
    header_value: Option<String>,
    host: Option<String>,
    port: Option<i64>,
    security: Option<String>,
    from: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    token_url: Option<String>,
    refresh_token: Option<String>,
    scope: Option<String>,
}

macro_rules! secret_fields {
    ($request:expr) => {
        SecretFields {
            token: $request.token,
            username: $request.username,
            password: $request.password,
            header_name: $request.header_name,
            header_value: $request.header_value,
            host: $request.host,
            port: $request.port,
            security: $request.security,
            from: $request.from,
            client_id: $request.client_id,
            client_secret: $request.client_secret,
            token_url: $request.token_url,
            refresh_token: $request.refresh_token,
            scope: $request.scope,
        }
    };
}

/// A check of one secret field's value: the problem, never quoting it.
type Check = fn(&str) -> Option<&'static str>;

/// A field `kind` needs; missing, empty, too long or failing `check` is a problem (an
/// empty string stands in for a missing one).
fn required(
    kind: Kind,
    field: &'static str,
    value: Option<String>,
    check: Check,
    problems: &mut Vec<Problem>,
) -> String {
    match value {
        None => {
            problems.push(crate::problem(
                &[field],
                format!("required for kind {kind}"),
            ));
            String::new()
        }
        Some(value) => {
            check_secret_field(field, &value, check, problems);
            value
        }
    }
}

/// A field that may be absent; when given it is checked as a required one.
fn optional(
    field: &'static str,
    value: Option<String>,
    check: Check,
    problems: &mut Vec<Problem>,
) -> Option<String> {
    if let Some(value) = &value {
        check_secret_field(field, value, check, problems);
    }
    value
}

fn check_secret_field(field: &'static str, value: &str, check: Check, problems: &mut Vec<Problem>) {
    if value.is_empty() {
        problems.push(crate::problem(&[field], "must not be empty"));
    } else if value.len() > SECRET_BYTES_MAX {
        problems.push(crate::problem(
            &[field],
            format!("must be at most {SECRET_BYTES_MAX} bytes"),
        ));
    } else if let Some(problem) = check(value) {
        problems.push(crate::problem(&[field], problem));
    }
}

impl SecretFields {
    fn given(&self) -> Vec<&'static str> {
        [
            ("token", self.token.is_some()),
            ("username", self.username.is_some()),
            ("password", self.password.is_some()),
            ("headerName", self.header_name.is_some()),
            ("headerValue", self.header_value.is_some()),
            ("host", self.host.is_some()),
            ("port", self.port.is_some()),
            ("security", self.security.is_some()),
            ("from", self.from.is_some()),
            ("clientId", self.client_id.is_some()),
            ("clientSecret", self.client_secret.is_some()),
            ("tokenUrl", self.token_url.is_some()),
            ("refreshToken", self.refresh_token.is_some()),
            ("scope", self.scope.is_some()),
        ]
        .into_iter()
        .filter_map(|(field, given)| given.then_some(field))
        .collect()
    }

    /// The credentials of `kind` from these fields, or every problem (never quoting a value).
    fn into_credentials(self, kind: Kind, problems: &mut Vec<Problem>) -> Option<Credentials> {
        for field in self.given() {
            if !kind.fields().contains(&field) {
                problems.push(crate::problem(
                    &[field],
                    format!(
                        "not used by kind {kind}, which takes {}",
                        kind.fields().join(", ")
                    ),
                ));
            }
        }
        let before = problems.len();
        let credentials = match kind {
            Kind::Bearer => Credentials::Bearer {
                token: required(kind, "token", self.token, check_token, problems),
            },
            Kind::OAuth2Token => Credentials::OAuth2Token {
                token: required(kind, "token", self.token, check_token, problems),
            },
            Kind::Basic => Credentials::Basic {
                username: required(kind, "username", self.username, check_username, problems),
                password: required(kind, "password", self.password, check_password, problems),
            },
            Kind::Header => Credentials::Header {
                name: required(
                    kind,
                    "headerName",
                    self.header_name,
                    check_header_name,
                    problems,
                ),
                value: required(
                    kind,
                    "headerValue",
                    self.header_value,
                    check_header_value,
                    problems,
                ),
            },
            Kind::Smtp => smtp::credentials(self, problems),
            Kind::OAuth2 => oauth2::credentials(self, problems),
        };
        (problems.len() == before).then_some(credentials)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    /// The request is invalid; every problem names its field.
    #[error("{message}")]
    Invalid {
        message: String,
        details: Vec<Problem>,
    },
    #[error("connection {0} not found")]
    NotFound(String),
    #[error("connection {0} already exists")]
    AlreadyExists(String),
    #[error("connection {0} was changed by someone else at the same time; try again")]
    Conflict(String),
    /// The stored secret does not decrypt with the data key in use.
    #[error("the secret of connection {id} cannot be decrypted: {source}")]
    Undecryptable { id: String, source: CryptoError },
    #[error("stored connection event is unreadable: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a connection cannot present its credentials (for a request or an email). The
/// messages never hold a secret.
#[derive(Debug, thiserror::Error)]
pub enum UseError {
    #[error(transparent)]
    Connection(#[from] ConnectionError),
    #[error("connection {0} is an smtp connection: it is used by email steps")]
    SmtpOnly(String),
    #[error("connection {id} is not an smtp connection (it is of kind {kind})")]
    NotSmtp { id: String, kind: Kind },
    #[error("connection {0} is disabled")]
    Disabled(String),
    /// The token endpoint of an oauth2 connection did not grant an access token.
    #[error("connection {id}: refreshing its OAuth2 access token failed: {reason}")]
    Refresh { id: String, reason: String },
}

/// A connection as its stream tells it.
struct Record {
    info: ConnectionInfo,
    secret: StoredSecret,
    /// Kind oauth2: the last access token granted since the secret was last set.
    token: Option<oauth2::StoredToken>,
    deleted: bool,
    /// Where the live `ConnectionCreated` is in the global log: creation order.
    created_position: Position,
    /// Stream version, for optimistic concurrency on the next change.
    version: u64,
}

/// Creates, lists, changes and deletes connections, and decrypts their credentials.
/// Cheap to clone.
#[derive(Clone)]
pub struct Connections {
    /// The providers a connection may name.
    catalog: Arc<engine::providers::Catalog>,
    store: Arc<dyn EventStore>,
    key: Arc<SecretKey>,
    /// The client token endpoints are called with; `None`: one with the default policy,
    /// built when needed (`AppState` always gives the server's).
    outbound: Option<outbound::Outbound>,
    /// "Now" for access-token expiry.
    clock: Arc<dyn Clock>,
    /// One refresh at a time per oauth2 connection.
    refresh_locks: Arc<oauth2::RefreshLocks>,
}

impl fmt::Debug for Connections {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connections")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl Connections {
    /// Connections of the built-in providers.
    pub fn new(store: Arc<dyn EventStore>, key: SecretKey) -> Connections {
        Connections::with_catalog(store, key, engine::providers::Catalog::shared_builtin())
    }

    pub fn with_catalog(
        store: Arc<dyn EventStore>,
        key: SecretKey,
        catalog: Arc<engine::providers::Catalog>,
    ) -> Connections {
        Connections {
            catalog,
            store,
            key: Arc::new(key),
            outbound: None,
            clock: Arc::new(SystemClock),
            refresh_locks: Arc::default(),
        }
    }

    /// Calls token endpoints through `outbound`, the guarded client of every outbound call.
    pub fn with_outbound(mut self, outbound: outbound::Outbound) -> Connections {
        self.outbound = Some(outbound);
        self
    }

    /// Reads "now" from `clock` (for access-token expiry) instead of the system clock.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Connections {
        self.clock = clock;
        self
    }

    /// Makes a connection. Everything is checked before anything is written. An id in use
    /// is [`ConnectionError::AlreadyExists`]; the id of a deleted connection may be reused.
    pub async fn create(&self, new: NewConnection) -> Result<ConnectionInfo, ConnectionError> {
        let mut problems = Vec::new();
        let id = match new.id {
            Some(id) => {
                check_id(&id, &mut problems);
                id
            }
            None => format!("{ID_PREFIX}{}", uuid::Uuid::now_v7().simple()),
        };
        let name = check_name(&new.name, &mut problems);
        let provider = check_provider(&new.provider, &mut problems);
        settings::check_known_provider(&self.catalog, &provider, &mut problems);
        let metadata = check_metadata(
            new.metadata.unwrap_or(Value::Object(Default::default())),
            &mut problems,
        );
        let base_url = new
            .base_url
            .as_deref()
            .and_then(|url| settings::check_base_url(url, &mut problems));
        let auth_config_id = new
            .auth_config_id
            .map(|id| check_auth_config_id(id, &mut problems));
        smtp::check_pairing(new.kind, &provider, true, &mut problems);
        let credentials = secret_fields!(new).into_credentials(new.kind, &mut problems);
        let Some(credentials) = credentials.filter(|_| problems.is_empty()) else {
            return Err(invalid(problems));
        };
        let secret = self.seal(&id, &credentials)?;
        let event = ConnectionEvent::ConnectionCreated {
            connection_id: id.clone(),
            name,
            provider,
            metadata,
            secret,
        };
        let mut events = vec![event];
        if base_url.is_some() || new.status.is_some() {
            events.push(ConnectionEvent::ConnectionSettingsChanged {
                base_url: base_url.map(Some),
                status: new.status,
            });
        }
        if let Some(auth_config_id) = auth_config_id {
            events.push(ConnectionEvent::ConnectionAuthConfigChanged {
                auth_config_id: Some(auth_config_id),
            });
        }
        let expected = match self.load(&id).await? {
            None => ExpectedVersion::NoStream,
            Some(record) if record.deleted => ExpectedVersion::Exact(record.version),
            Some(_) => return Err(ConnectionError::AlreadyExists(id)),
        };
        match self.append_all(&id, expected, &events).await {
            Ok(()) => self.get(&id).await,
            Err(ConnectionError::Conflict(_)) => Err(ConnectionError::AlreadyExists(id)),
            Err(other) => Err(other),
        }
    }

    /// Every connection that is not deleted, oldest first.
    pub async fn list(&self) -> Result<Vec<ConnectionInfo>, ConnectionError> {
        let records = self.live_records().await?;
        Ok(records
            .into_iter()
            .map(|record| self.shown(record))
            .collect())
    }

    /// Every connection that is not deleted, oldest first, as its stream tells it.
    async fn live_records(&self) -> Result<Vec<Record>, ConnectionError> {
        let mut records = Vec::new();
        for id in
            journal::stream_ids_with_prefix(self.store.as_ref(), STREAM_PREFIX, LIST_PAGE).await?
        {
            if let Some(record) = self.load(&id).await? {
                if !record.deleted {
                    records.push(record);
                }
            }
        }
        records.sort_by_key(|record| record.created_position);
        Ok(records)
    }

    /// One connection; `NotFound` if it never existed or was deleted.
    pub async fn get(&self, id: &str) -> Result<ConnectionInfo, ConnectionError> {
        let record = self.live(id).await?;
        Ok(self.shown(record))
    }

    /// What the API shows of `record`: for smtp and oauth2 connections also the settings in
    /// their secret that are not secret, left out when it does not decrypt (listing
    /// connections works under another data key; using them says why it fails).
    fn shown(&self, record: Record) -> ConnectionInfo {
        let mut info = record.info;
        if matches!(info.kind, Kind::Smtp | Kind::OAuth2) {
            if let Ok(credentials) = self.open(&info.id, &record.secret) {
                info.smtp = smtp::info(&credentials);
                info.oauth2 = oauth2::info(&credentials, record.token.as_ref());
            }
        }
        info
    }

    /// Changes a connection: renames it, changes its provider or metadata, rotates its
    /// secret. A patch that changes nothing writes nothing.
    pub async fn update(
        &self,
        id: &str,
        patch: ConnectionPatch,
    ) -> Result<ConnectionInfo, ConnectionError> {
        let record = self.live(id).await?;
        let mut problems = Vec::new();
        let name = patch.name.map(|name| check_name(&name, &mut problems));
        let provider = patch.provider.map(|provider| {
            let provider = check_provider(&provider, &mut problems);
            settings::check_known_provider(&self.catalog, &provider, &mut problems);
            provider
        });
        let base_url = patch.base_url.as_deref().map(|url| match url {
            "" => None,
            url => settings::check_base_url(url, &mut problems),
        });
        let metadata = patch
            .metadata
            .map(|metadata| check_metadata(metadata, &mut problems));
        // An empty string clears it, as for `baseUrl`.
        let auth_config_id = patch.auth_config_id.map(|id| match id.as_str() {
            "" => None,
            _ => Some(check_auth_config_id(id, &mut problems)),
        });
        let kind = patch.kind.unwrap_or(record.info.kind);
        if patch.kind.is_some() || provider.is_some() {
            let provider = provider.as_deref().unwrap_or(&record.info.provider);
            smtp::check_pairing(kind, provider, patch.kind.is_some(), &mut problems);
        }
        let secret = secret_fields!(patch);
        let rotating = patch.kind.is_some() || !secret.given().is_empty();
        let credentials = if rotating {
            secret.into_credentials(kind, &mut problems)
        } else {
            None
        };
        if !problems.is_empty() {
            return Err(invalid(problems));
        }
        let secret = match credentials {
            Some(credentials) => Some(self.seal(id, &credentials)?),
            None => None,
        };
        let base_url = base_url.filter(|url| *url != record.info.base_url);
        let status = patch.status.filter(|status| *status != record.info.status);
        let mut events = Vec::new();
        if name.is_some() || provider.is_some() || metadata.is_some() || secret.is_some() {
            events.push(ConnectionEvent::ConnectionUpdated {
                name,
                provider,
                metadata,
                secret,
            });
        }
        if base_url.is_some() || status.is_some() {
            events.push(ConnectionEvent::ConnectionSettingsChanged { base_url, status });
        }
        if let Some(auth_config_id) = auth_config_id.filter(|id| *id != record.info.auth_config_id)
        {
            events.push(ConnectionEvent::ConnectionAuthConfigChanged { auth_config_id });
        }
        if events.is_empty() {
            return Ok(self.shown(record));
        }
        let mut version = record.version;
        for _ in 0..CHANGE_ATTEMPTS {
            match self
                .append_all(id, ExpectedVersion::Exact(version), &events)
                .await
            {
                Ok(()) => return self.get(id).await,
                // Changed underneath: the change is a delta, apply it to what is there now.
                Err(ConnectionError::Conflict(_)) => version = self.live(id).await?.version,
                Err(other) => return Err(other),
            }
        }
        Err(ConnectionError::Conflict(id.to_owned()))
    }

    /// Deletes a connection: it is gone from the API, and its credentials are no longer
    /// handed out. The sealed secret stays in the journal (append-only).
    pub async fn delete(&self, id: &str) -> Result<(), ConnectionError> {
        for _ in 0..CHANGE_ATTEMPTS {
            let record = self.live(id).await?;
            match self
                .append(
                    id,
                    ExpectedVersion::Exact(record.version),
                    &ConnectionEvent::ConnectionDeleted,
                )
                .await
            {
                Ok(()) => return Ok(()),
                Err(ConnectionError::Conflict(_)) => continue,
                Err(other) => return Err(other),
            }
        }
        Err(ConnectionError::Conflict(id.to_owned()))
    }

    /// The decrypted credentials of a connection, for the engine (an HTTP step's header).
    /// Never return them to a client, never log them.
    pub async fn credentials(&self, id: &str) -> Result<Credentials, ConnectionError> {
        let record = self.live(id).await?;
        self.open(id, &record.secret)
    }

    /// The header a request using connection `id` carries (marked sensitive): the
    /// credentials' own, or for an oauth2 connection `Authorization: Bearer` with an access
    /// token, refreshed first when there is none or it expires within a minute. An smtp
    /// connection has none. For the engine: never return it to a client, never log it.
    pub async fn authorization(&self, id: &str) -> Result<(HeaderName, HeaderValue), UseError> {
        let record = self.live(id).await?;
        let credentials = self.open(id, &record.secret)?;
        match credentials {
            Credentials::Smtp { .. } => Err(UseError::SmtpOnly(id.to_owned())),
            Credentials::OAuth2 { .. } => {
                let access_token = self.access_token(id, &record).await?;
                Ok((
                    HeaderName::from_static("authorization"),
                    sensitive_value(&format!("Bearer {access_token}")),
                ))
            }
            credentials => credentials
                .header()
                .ok_or_else(|| UseError::SmtpOnly(id.to_owned())),
        }
    }

    /// The SMTP server of connection `id`, for an email step: it must exist, be active and
    /// be of kind smtp.
    pub async fn smtp_settings(&self, id: &str) -> Result<mail::SmtpSettings, UseError> {
        let record = self.live(id).await?;
        if record.info.status == Status::Disabled {
            return Err(UseError::Disabled(id.to_owned()));
        }
        let credentials = self.open(id, &record.secret)?;
        smtp::settings(id, credentials)
    }

    /// Decrypts `secret`, connection `id`'s, and checks it is of the kind the event says.
    fn open(&self, id: &str, secret: &StoredSecret) -> Result<Credentials, ConnectionError> {
        let credentials: Credentials = self.open_sealed(id, &secret.sealed, "secret")?;
        if credentials.kind().as_str() != secret.kind {
            return Err(ConnectionError::Corrupt(format!(
                "connection {id}: the secret is of kind {} but the event says {}",
                credentials.kind(),
                secret.kind
            )));
        }
        Ok(credentials)
    }

    /// Decrypts a value sealed for connection `id` and decodes it; `what` names it in errors.
    fn open_sealed<T: serde::de::DeserializeOwned>(
        &self,
        id: &str,
        sealed: &Sealed,
        what: &str,
    ) -> Result<T, ConnectionError> {
        let plaintext = self
            .key
            .open(sealed, &associated_data(id))
            .map_err(|source| ConnectionError::Undecryptable {
                id: id.to_owned(),
                source,
            })?;
        postcard::from_bytes(&plaintext).map_err(|e| {
            ConnectionError::Corrupt(format!("connection {id}: the decrypted {what}: {e}"))
        })
    }

    fn seal(&self, id: &str, credentials: &Credentials) -> Result<StoredSecret, ConnectionError> {
        let plaintext = postcard::to_stdvec(credentials)
            .map_err(|e| ConnectionError::Corrupt(format!("encoding a secret: {e}")))?;
        let sealed = self
            .key
            .seal(&plaintext, &associated_data(id))
            .map_err(|source| ConnectionError::Undecryptable {
                id: id.to_owned(),
                source,
            })?;
        Ok(StoredSecret {
            kind: credentials.kind().as_str().to_owned(),
            hint: hint_of(credentials.hint_source()),
            sealed,
        })
    }

    async fn append(
        &self,
        id: &str,
        expected: ExpectedVersion,
        event: &ConnectionEvent,
    ) -> Result<(), ConnectionError> {
        self.append_all(id, expected, std::slice::from_ref(event))
            .await
    }

    /// Appends `events` to connection `id`'s stream in one atomic append.
    async fn append_all(
        &self,
        id: &str,
        expected: ExpectedVersion,
        events: &[ConnectionEvent],
    ) -> Result<(), ConnectionError> {
        let stream = stream_of(id).ok_or_else(|| ConnectionError::NotFound(id.to_owned()))?;
        let mut new_events = Vec::with_capacity(events.len());
        for event in events {
            new_events.push(NewEvent::new(event.tag(), event.encode()));
        }
        match self.store.append(&stream, expected, new_events).await {
            Ok(_) => Ok(()),
            Err(StoreError::Conflict { .. }) => Err(ConnectionError::Conflict(id.to_owned())),
            Err(other) => Err(other.into()),
        }
    }

    /// The connection if it exists and is not deleted.
    async fn live(&self, id: &str) -> Result<Record, ConnectionError> {
        match self.load(id).await? {
            Some(record) if !record.deleted => Ok(record),
            _ => Err(ConnectionError::NotFound(id.to_owned())),
        }
    }

    /// The connection as its stream tells it (deleted or not); `None` if the id is
    /// malformed or has no stream.
    async fn load(&self, id: &str) -> Result<Option<Record>, ConnectionError> {
        let Some(stream) = stream_of(id) else {
            return Ok(None);
        };
        let mut record: Option<Record> = None;
        let mut from = Seq(1);
        loop {
            let events = self.store.read_stream(&stream, from, READ_PAGE).await?;
            for recorded in &events {
                record = Some(fold(id, record, recorded)?);
            }
            match events.last() {
                Some(last) if events.len() == READ_PAGE => from = Seq(last.seq.0 + 1),
                _ => break,
            }
        }
        Ok(record)
    }
}

/// `record` after one more event of connection `id`'s stream.
fn fold(
    id: &str,
    record: Option<Record>,
    recorded: &journal::RecordedEvent,
) -> Result<Record, ConnectionError> {
    let place = || format!("{STREAM_PREFIX}{id} seq {}", recorded.seq.0);
    let event = ConnectionEvent::decode(recorded.event_type, &recorded.data)
        .map_err(|e| ConnectionError::Corrupt(format!("{}: {e}", place())))?;
    let at = rfc3339(recorded.recorded_at)?;
    let kind_of = |secret: &StoredSecret| {
        Kind::parse(&secret.kind).ok_or_else(|| {
            ConnectionError::Corrupt(format!("{}: unknown kind {:?}", place(), secret.kind))
        })
    };
    match (record, event) {
        (
            None | Some(Record { deleted: true, .. }),
            ConnectionEvent::ConnectionCreated {
                connection_id,
                name,
                provider,
                metadata,
                secret,
            },
        ) => {
            if connection_id != id {
                return Err(ConnectionError::Corrupt(format!(
                    "{}: ConnectionCreated names connection {connection_id}",
                    place()
                )));
            }
            Ok(Record {
                info: ConnectionInfo {
                    id: connection_id,
                    name,
                    provider,
                    kind: kind_of(&secret)?,
                    metadata: parse_metadata(&metadata, &place)?,
                    secret_set: true,
                    secret_hint: show_hint(&secret.hint),
                    base_url: None,
                    status: Status::Active,
                    auth_config_id: None,
                    smtp: None,
                    oauth2: None,
                    created_at: at.clone(),
                    updated_at: at,
                },
                secret,
                token: None,
                deleted: false,
                created_position: recorded.position,
                version: recorded.seq.0,
            })
        }
        (
            Some(mut record),
            ConnectionEvent::ConnectionUpdated {
                name,
                provider,
                metadata,
                secret,
            },
        ) if !record.deleted => {
            if let Some(name) = name {
                record.info.name = name;
            }
            if let Some(provider) = provider {
                record.info.provider = provider;
            }
            if let Some(metadata) = metadata {
                record.info.metadata = parse_metadata(&metadata, &place)?;
            }
            if let Some(secret) = secret {
                record.info.kind = kind_of(&secret)?;
                record.info.secret_hint = show_hint(&secret.hint);
                record.secret = secret;
                // Granted to the secret that is gone.
                record.token = None;
            }
            record.info.updated_at = at;
            record.version = recorded.seq.0;
            Ok(record)
        }
        (Some(mut record), ConnectionEvent::ConnectionSettingsChanged { base_url, status })
            if !record.deleted =>
        {
            if let Some(base_url) = base_url {
                record.info.base_url = base_url;
            }
            if let Some(status) = status {
                record.info.status = status;
            }
            record.info.updated_at = at;
            record.version = recorded.seq.0;
            Ok(record)
        }
        (Some(mut record), ConnectionEvent::ConnectionAuthConfigChanged { auth_config_id })
            if !record.deleted =>
        {
            record.info.auth_config_id = auth_config_id;
            record.info.updated_at = at;
            record.version = recorded.seq.0;
            Ok(record)
        }
        (
            Some(mut record),
            ConnectionEvent::ConnectionTokenRefreshed {
                sealed,
                expires_at_ms,
            },
        ) if !record.deleted => {
            // Not a change of the connection: `updated_at` stays.
            record.token = Some(oauth2::StoredToken {
                sealed,
                expires_at_ms,
            });
            record.version = recorded.seq.0;
            Ok(record)
        }
        (Some(mut record), ConnectionEvent::ConnectionDeleted) if !record.deleted => {
            record.deleted = true;
            record.version = recorded.seq.0;
            Ok(record)
        }
        (_, event) => Err(ConnectionError::Corrupt(format!(
            "{}: {} out of order",
            place(),
            match event {
                ConnectionEvent::ConnectionCreated { .. } => "ConnectionCreated",
                ConnectionEvent::ConnectionUpdated { .. } => "ConnectionUpdated",
                ConnectionEvent::ConnectionDeleted => "ConnectionDeleted",
                ConnectionEvent::ConnectionSettingsChanged { .. } => "ConnectionSettingsChanged",
                ConnectionEvent::ConnectionTokenRefreshed { .. } => "ConnectionTokenRefreshed",
                ConnectionEvent::ConnectionAuthConfigChanged { .. } => {
                    "ConnectionAuthConfigChanged"
                }
            }
        ))),
    }
}

/// Longest `authConfigId`, in bytes.
pub const AUTH_CONFIG_ID_BYTES_MAX: usize = 200;

/// `id` if it is a usable auth config id (1 to [`AUTH_CONFIG_ID_BYTES_MAX`] bytes, no
/// control characters); notes the problem otherwise.
fn check_auth_config_id(id: String, problems: &mut Vec<Problem>) -> String {
    if id.is_empty() || id.len() > AUTH_CONFIG_ID_BYTES_MAX || id.chars().any(char::is_control) {
        problems.push(crate::problem(
            &["authConfigId"],
            format!("must be 1 to {AUTH_CONFIG_ID_BYTES_MAX} bytes without control characters"),
        ));
    }
    id
}

fn parse_metadata(text: &str, place: &dyn Fn() -> String) -> Result<Value, ConnectionError> {
    serde_json::from_str(text)
        .map_err(|e| ConnectionError::Corrupt(format!("{}: metadata: {e}", place())))
}

fn invalid(details: Vec<Problem>) -> ConnectionError {
    let message = match details.as_slice() {
        [one] => format!("{}: {}", crate::field_name(&one.path), one.message),
        _ => "Connection is invalid".to_owned(),
    };
    ConnectionError::Invalid { message, details }
}

/// What a ciphertext is bound to: a sealed secret opens only in its own connection.
fn associated_data(id: &str) -> Vec<u8> {
    format!("connection:{id}").into_bytes()
}

/// The last 4 characters of `secret`, or nothing when it is short.
fn hint_of(secret: &str) -> String {
    let chars = secret.chars().count();
    if chars < HINT_SECRET_CHARS_MIN {
        return String::new();
    }
    secret.chars().skip(chars - HINT_CHARS).collect()
}

fn show_hint(hint: &str) -> String {
    format!("****{hint}")
}

/// A header value holding a secret, marked sensitive (validation at creation keeps it
/// valid HTTP; anything else becomes empty rather than panicking).
fn sensitive_value(text: &str) -> HeaderValue {
    let mut value = HeaderValue::from_str(text).unwrap_or(HeaderValue::from_static(""));
    value.set_sensitive(true);
    value
}

/// The stream of connection `id`, or `None` when `id` is not a valid id.
fn stream_of(id: &str) -> Option<StreamName> {
    if !valid_id(id) {
        return None;
    }
    StreamName::new(format!("{STREAM_PREFIX}{id}")).ok()
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= ID_BYTES_MAX
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn check_id(id: &str, problems: &mut Vec<Problem>) {
    if !valid_id(id) {
        problems.push(crate::problem(
            &["id"],
            format!("must be 1 to {ID_BYTES_MAX} of letters, digits, '_' and '-'"),
        ));
    }
}

fn check_name(name: &str, problems: &mut Vec<Problem>) -> String {
    let name = name.trim();
    if name.is_empty() {
        problems.push(crate::problem(&["name"], "must not be empty"));
    } else if name.len() > NAME_BYTES_MAX {
        problems.push(crate::problem(
            &["name"],
            format!("must be at most {NAME_BYTES_MAX} bytes"),
        ));
    } else if name.chars().any(char::is_control) {
        problems.push(crate::problem(
            &["name"],
            "must not contain control characters",
        ));
    }
    name.to_owned()
}

fn check_provider(provider: &str, problems: &mut Vec<Problem>) -> String {
    let valid = !provider.is_empty()
        && provider.len() <= PROVIDER_BYTES_MAX
        && provider
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if !valid {
        problems.push(crate::problem(
            &["provider"],
            format!("must be 1 to {PROVIDER_BYTES_MAX} of letters, digits, '_', '-' and '.'"),
        ));
    }
    provider.to_owned()
}

fn check_metadata(metadata: Value, problems: &mut Vec<Problem>) -> String {
    let text = metadata.to_string();
    if text.len() > METADATA_BYTES_MAX {
        problems.push(crate::problem(
            &["metadata"],
            format!("must be at most {METADATA_BYTES_MAX} bytes of JSON"),
        ));
    }
    text
}

fn check_token(token: &str) -> Option<&'static str> {
    (!token.bytes().all(|b| b.is_ascii_graphic()))
        .then_some("must be visible ASCII characters (no spaces or control characters)")
}

fn check_username(username: &str) -> Option<&'static str> {
    if username.contains(':') {
        Some("must not contain ':'")
    } else if username.chars().any(char::is_control) {
        Some("must not contain control characters")
    } else {
        None
    }
}

fn check_password(password: &str) -> Option<&'static str> {
    password
        .chars()
        .any(char::is_control)
        .then_some("must not contain control characters")
}

fn check_header_name(name: &str) -> Option<&'static str> {
    HeaderName::from_bytes(name.as_bytes())
        .is_err()
        .then_some("must be a valid HTTP header name")
}

fn check_header_value(value: &str) -> Option<&'static str> {
    let valid = value.bytes().all(|b| b == b' ' || b.is_ascii_graphic())
        && !value.starts_with(' ')
        && !value.ends_with(' ');
    (!valid).then_some("must be visible ASCII characters and inner spaces (no control characters)")
}

/// RFC 3339 (UTC, milliseconds) of `at_ms` since the epoch; `None` when out of range.
fn rfc3339_ms(at_ms: i64) -> Option<String> {
    chrono::DateTime::from_timestamp_millis(at_ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

fn rfc3339(at: Timestamp) -> Result<String, ConnectionError> {
    chrono::DateTime::from_timestamp_micros(at.as_micros())
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .ok_or_else(|| ConnectionError::Corrupt(format!("timestamp {} out of range", at.0)))
}

/// Polling triggers send their connection's header (an oauth2 connection's refreshed token).
#[async_trait::async_trait]
impl triggers::runner::CredentialSource for Connections {
    async fn header(&self, connection_id: &str) -> Result<(HeaderName, HeaderValue), String> {
        self.authorization(connection_id)
            .await
            .map_err(|error| error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_show_four_characters_of_long_secrets_only() {
        assert_eq!(hint_of("sk_live_0123456789abcd"), "abcd");
        assert_eq!(hint_of("short"), "");
        assert_eq!(hint_of("ééééééééééééwxyz"), "wxyz");
    }

    #[test]
    fn credentials_make_their_header() {
        let basic = Credentials::Basic {
            username: "user".into(),
            password: "pass".into(),
        };
        let (name, value) = basic.header().expect("a header");
        assert_eq!(name, "authorization");
        assert_eq!(value, "Basic dXNlcjpwYXNz");
        assert!(value.is_sensitive());
        let (name, value) = Credentials::Header {
            name: "X-Api-Key".into(),
            value: "abc".into(),
        }
        .header()
        .expect("a header");
        assert_eq!(name, "x-api-key");
        assert_eq!(value, "abc");
        let (_, value) = Credentials::OAuth2Token {
            token: "t0k".into(),
        }
        .header()
        .expect("a header");
        assert_eq!(value, "Bearer t0k");
        assert_eq!(
            format!(
                "{:?}",
                Credentials::Bearer {
                    token: "t0k".into()
                }
            ),
            "Credentials { kind: bearer, .. }"
        );
    }
}
