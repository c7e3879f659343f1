//! API keys (admin): the create body, a key as the API shows it, and a new key with its
//! secret.

use duro_core::ids::KeyId;
use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

use super::envelope::{page_envelope, success_envelope};
use credentials::keys::{KeyInfo, Scope};

/// The schema of a scope: the names of `keys::Scope::ALL`, read from the type itself.
pub struct ScopeName;

impl PartialSchema for ScopeName {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(
                "What an API key may do. `admin` implies every other scope.",
            ))
            .enum_values(Some(Scope::ALL.iter().map(|scope| scope.as_str())))
            .into()
    }
}

impl ToSchema for ScopeName {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Scope")
    }
}

/// Creates an API key. No other field is accepted.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "ci", "scopes": ["workflows:execute", "runs:read"]}))]
pub struct KeyCreate {
    /// 1 to 100 bytes, no control characters.
    pub name: String,
    /// At least one.
    #[schema(value_type = Vec<ScopeName>, min_items = 1)]
    pub scopes: Vec<Scope>,
}

/// An API key: never its secret, never its hash.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Key {
    #[schema(example = "key_0123456789abcdef0123456789abcdef")]
    pub id: KeyId,
    pub name: String,
    #[schema(value_type = Vec<ScopeName>)]
    pub scopes: Vec<Scope>,
    #[schema(format = DateTime)]
    pub created_at: String,
    /// `null` while the key is active.
    #[schema(required = true, format = DateTime)]
    pub revoked_at: Option<String>,
}

impl From<KeyInfo> for Key {
    fn from(info: KeyInfo) -> Key {
        let KeyInfo {
            id,
            name,
            scopes,
            created_at,
            revoked_at,
        } = info;
        Key {
            id: id.into(),
            name,
            scopes,
            created_at,
            revoked_at,
        }
    }
}

/// A new API key, with its secret: shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedKey {
    #[serde(flatten)]
    pub info: Key,
    /// The secret: send it as `x-api-key` or `Authorization: Bearer`.
    #[schema(example = "duro_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")]
    pub key: String,
}

success_envelope!(KeyResponse, Key);
success_envelope!(CreatedKeyResponse, CreatedKey);
page_envelope!(
    /// Every API key, in one page.
    KeyListResponse,
    Key
);
