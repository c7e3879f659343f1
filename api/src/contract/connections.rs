//! Connections (`connections:write`): the create and update bodies, and a connection as the
//! API shows it, never its secret (only `secretSet` and `secretHint`).
//!
//! The request types deserialize exactly as the domain's `NewConnection` and
//! `ConnectionPatch` (same fields, order and types, unknown fields refused), into which they
//! convert field by field.

use duro_core::ids::ConnectionId;
use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

use super::envelope::{page_envelope, success_envelope};
use credentials::connections::oauth2::OAuth2Info;
use credentials::connections::smtp::SmtpInfo;
use credentials::connections::{ConnectionInfo, ConnectionPatch, Kind, NewConnection, Status};

/// The schema of a connection's kind: the names of `connections::Kind::ALL`.
pub struct ConnectionKind;

impl PartialSchema for ConnectionKind {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(
                "How the secret is presented: bearer, basic, header, oauth2_token, smtp, oauth2.",
            ))
            .enum_values(Some(Kind::ALL.iter().map(|kind| kind.as_str())))
            .into()
    }
}

impl ToSchema for ConnectionKind {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("ConnectionKind")
    }
}

/// A disabled connection is never used by a step, and a run whose workflow names it is
/// refused.
#[derive(Clone, Copy, Debug, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ConnectionStatus {
    Active,
    Disabled,
}

impl From<Status> for ConnectionStatus {
    fn from(status: Status) -> ConnectionStatus {
        match status {
            Status::Active => ConnectionStatus::Active,
            Status::Disabled => ConnectionStatus::Disabled,
        }
    }
}

/// A new connection. Which secret fields are needed depends on `kind`: bearer and
/// oauth2_token `token`; basic `username`, `password`; header `headerName`, `headerValue`;
/// smtp `host`, `port`, `security` (optionally `username` with `password`, `from`); oauth2
/// `clientId`, `clientSecret`, `tokenUrl`, `refreshToken` (optionally `scope`). No other field
/// is accepted.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ConnectionCreate {
    /// `[A-Za-z0-9_-]{1,100}`; `conn_` + a UUIDv7 when absent.
    #[serde(default)]
    pub id: Option<ConnectionId>,
    pub name: String,
    /// A provider of the catalog, or `smtp`.
    pub provider: String,
    #[schema(value_type = ConnectionKind)]
    pub kind: Kind,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
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
    #[serde(default)]
    pub host: Option<String>,
    /// 1 to 65535.
    #[serde(default)]
    pub port: Option<i64>,
    /// `none`, `starttls` or `tls`.
    #[serde(default)]
    pub security: Option<String>,
    /// The default sender, `a@example.com` or `Name <a@example.com>`.
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub client_secret: Option<String>,
    /// An absolute http:// or https:// URL.
    #[serde(default)]
    pub token_url: Option<String>,
    #[serde(default)]
    pub refresh_token: Option<String>,
    #[serde(default)]
    pub scope: Option<String>,
    /// Replaces the provider's base URL for this connection.
    #[serde(default)]
    pub base_url: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<ConnectionStatus>)]
    pub status: Option<Status>,
    /// A label Duro does not interpret (seed 000 filters trigger instances by it).
    #[serde(default)]
    pub auth_config_id: Option<String>,
}

impl From<ConnectionCreate> for NewConnection {
    fn from(body: ConnectionCreate) -> NewConnection {
        let ConnectionCreate {
            id,
            name,
            provider,
            kind,
            metadata,
            token,
            username,
            password,
            header_name,
            header_value,
            host,
            port,
            security,
            from,
            client_id,
            client_secret,
            token_url,
            refresh_token,
            scope,
            base_url,
            status,
            auth_config_id,
        } = body;
        NewConnection {
            id: id.map(String::from),
            name,
            provider,
            kind,
            metadata,
            token,
            username,
            password,
            header_name,
            header_value,
            host,
            port,
            security,
            from,
            client_id,
            client_secret,
            token_url,
            refresh_token,
            scope,
            base_url,
            status,
            auth_config_id,
        }
    }
}

/// A change: fields given replace the current ones. `kind` or any secret field replaces the
/// whole secret, and every field of the (new or current) kind must then be given. No other
/// field is accepted.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ConnectionUpdate {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub provider: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<ConnectionKind>)]
    pub kind: Option<Kind>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
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
    #[serde(default)]
    pub host: Option<String>,
    #[serde(default)]
    pub port: Option<i64>,
    #[serde(default)]
    pub security: Option<String>,
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub client_secret: Option<String>,
    #[serde(default)]
    pub token_url: Option<String>,
    #[serde(default)]
    pub refresh_token: Option<String>,
    #[serde(default)]
    pub scope: Option<String>,
    /// A URL, or `""` to go back to the provider's.
    #[serde(default)]
    pub base_url: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<ConnectionStatus>)]
    pub status: Option<Status>,
    #[serde(default)]
    pub auth_config_id: Option<String>,
}

impl From<ConnectionUpdate> for ConnectionPatch {
    fn from(body: ConnectionUpdate) -> ConnectionPatch {
        let ConnectionUpdate {
            name,
            provider,
            kind,
            metadata,
            token,
            username,
            password,
            header_name,
            header_value,
            host,
            port,
            security,
            from,
            client_id,
            client_secret,
            token_url,
            refresh_token,
            scope,
            base_url,
            status,
            auth_config_id,
        } = body;
        ConnectionPatch {
            name,
            provider,
            kind,
            metadata,
            token,
            username,
            password,
            header_name,
            header_value,
            host,
            port,
            security,
            from,
            client_id,
            client_secret,
            token_url,
            refresh_token,
            scope,
            base_url,
            status,
            auth_config_id,
        }
    }
}

/// An smtp connection's server: everything but the password.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SmtpServer {
    pub host: String,
    pub port: u16,
    /// `none`, `starttls` or `tls`.
    pub security: String,
    #[schema(required = true)]
    pub username: Option<String>,
    #[schema(required = true)]
    pub from: Option<String>,
}

/// An oauth2 connection's client: never a secret.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OAuth2Client {
    pub client_id: String,
    pub token_url: String,
    #[schema(required = true)]
    pub scope: Option<String>,
    /// When the access token Duro holds expires (RFC 3339); `null` before the first refresh.
    #[schema(required = true, format = DateTime)]
    pub token_expires_at: Option<String>,
}

/// A connected account: never its secret.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Connection {
    pub id: ConnectionId,
    pub name: String,
    pub provider: String,
    #[schema(value_type = ConnectionKind)]
    pub kind: String,
    #[schema(value_type = Value)]
    pub metadata: Value,
    /// Always true: every connection has a secret.
    pub secret_set: bool,
    /// `****` followed by the secret's last 4 characters (just `****` for short secrets).
    pub secret_hint: String,
    /// `null` when the provider's base URL is used.
    #[schema(required = true)]
    pub base_url: Option<String>,
    pub status: ConnectionStatus,
    #[schema(required = true)]
    pub auth_config_id: Option<String>,
    /// Kind smtp only (absent when the secret does not decrypt with the data key in use).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smtp: Option<SmtpServer>,
    /// Kind oauth2 only (absent when the secret does not decrypt).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oauth2: Option<OAuth2Client>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
}

impl From<ConnectionInfo> for Connection {
    fn from(info: ConnectionInfo) -> Connection {
        let ConnectionInfo {
            id,
            name,
            provider,
            kind,
            metadata,
            secret_set,
            secret_hint,
            base_url,
            status,
            auth_config_id,
            smtp,
            oauth2,
            created_at,
            updated_at,
        } = info;
        Connection {
            id: id.into(),
            name,
            provider,
            kind: kind.as_str().to_owned(),
            metadata,
            secret_set,
            secret_hint,
            base_url,
            status: status.into(),
            auth_config_id,
            smtp: smtp.map(|smtp| {
                let SmtpInfo {
                    host,
                    port,
                    security,
                    username,
                    from,
                } = smtp;
                SmtpServer {
                    host,
                    port,
                    security,
                    username,
                    from,
                }
            }),
            oauth2: oauth2.map(|oauth2| {
                let OAuth2Info {
                    client_id,
                    token_url,
                    scope,
                    token_expires_at,
                } = oauth2;
                OAuth2Client {
                    client_id,
                    token_url,
                    scope,
                    token_expires_at,
                }
            }),
            created_at,
            updated_at,
        }
    }
}

/// A deleted connection.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectionDeleted {
    pub id: ConnectionId,
    #[schema(example = true)]
    pub deleted: bool,
}

success_envelope!(ConnectionResponse, Connection);
success_envelope!(ConnectionDeletedResponse, ConnectionDeleted);
page_envelope!(
    /// Every connection, in one page.
    ConnectionListResponse,
    Connection
);
