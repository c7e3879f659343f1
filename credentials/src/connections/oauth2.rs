//! Connections of kind `oauth2`: Duro holds an OAuth2 client (`clientId`, `clientSecret`,
//! `tokenUrl`) and the refresh token it was granted, and obtains access tokens itself
//! (RFC 6749 section 6: a `refresh_token` grant posted to the token endpoint, the client
//! authenticated in the body).
//!
//! An access token is stored sealed in a `ConnectionTokenRefreshed` event with its expiry,
//! so it survives restarts; it is refreshed when there is none or it expires within
//! [`REFRESH_MARGIN_MS`]. A refresh token the endpoint rotates to is sealed in the same
//! event and used from then on. One refresh at a time per connection ([`RefreshLocks`]):
//! callers that waited for it find the new token and do not call the endpoint again.
//!
//! The token endpoint is called through the guarded outbound client. Nothing here logs, and
//! no error message quotes a secret or the endpoint's answer beyond its `error` code.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use http::Uri;
use journal::ExpectedVersion;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{
    associated_data, check_password, optional, required, rfc3339_ms, ConnectionError,
    ConnectionEvent, Connections, Credentials, Kind, Record, SecretFields, UseError,
    CHANGE_ATTEMPTS,
};
use crate::connections::crypto::Sealed;
use engine::definition::Problem;

/// An access token that expires within this many milliseconds is refreshed first.
pub const REFRESH_MARGIN_MS: i64 = 60_000;
/// The lifetime assumed when the token endpoint gives no `expires_in`.
pub const TOKEN_LIFETIME_MS_DEFAULT: i64 = 3_600_000;
/// The longest lifetime believed (a year): an absurd `expires_in` does not pin a token.
pub const TOKEN_LIFETIME_MS_MAX: i64 = 365 * 24 * 3_600_000;
/// The whole call to the token endpoint.
pub const TOKEN_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest token URL, in bytes.
pub const TOKEN_URL_BYTES_MAX: usize = 2048;
/// Refresh locks kept for connections nobody is refreshing; beyond it idle ones are dropped.
pub const REFRESH_LOCKS_MAX: usize = 1_024;
/// Longest `error` code of a token endpoint's answer quoted in a message.
const ERROR_CODE_BYTES_MAX: usize = 64;

/// An oauth2 connection as answers show it: never a secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OAuth2Info {
    pub client_id: String,
    pub token_url: String,
    pub scope: Option<String>,
    /// When the access token Duro holds expires (RFC 3339); null before the first refresh.
    pub token_expires_at: Option<String>,
}

/// The last access token granted, as the journal holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct StoredToken {
    /// A [`TokenSecret`], sealed with `connection:{id}` as associated data.
    pub sealed: Sealed,
    pub expires_at_ms: i64,
}

/// What a `ConnectionTokenRefreshed` seals. Postcard: never reorder or change the fields.
/// No `Debug`: both are secrets.
#[derive(Serialize, Deserialize)]
struct TokenSecret {
    access_token: String,
    /// The refresh token in force when the endpoint rotated it (now or at an earlier
    /// refresh); `None`: the one in the connection's secret.
    refresh_token: Option<String>,
}

/// What a token endpoint granted. No `Debug`: secrets.
struct Granted {
    access_token: String,
    refresh_token: Option<String>,
    lifetime_ms: i64,
}

/// The credentials of an oauth2 connection from the request's fields, or placeholders with
/// every problem noted (never quoting a value).
pub(super) fn credentials(fields: SecretFields, problems: &mut Vec<Problem>) -> Credentials {
    let kind = Kind::OAuth2;
    Credentials::OAuth2 {
        client_id: required(kind, "clientId", fields.client_id, check_password, problems),
        client_secret: required(
            kind,
            "clientSecret",
            fields.client_secret,
            check_password,
            problems,
        ),
        token_url: required(
            kind,
            "tokenUrl",
            fields.token_url,
            check_token_url,
            problems,
        ),
        refresh_token: required(
            kind,
            "refreshToken",
            fields.refresh_token,
            check_password,
            problems,
        ),
        scope: optional("scope", fields.scope, check_password, problems),
    }
}

/// What answers show of `credentials`: `None` unless they are an oauth2 client's.
pub(super) fn info(credentials: &Credentials, token: Option<&StoredToken>) -> Option<OAuth2Info> {
    match credentials {
        Credentials::OAuth2 {
            client_id,
            token_url,
            scope,
            ..
        } => Some(OAuth2Info {
            client_id: client_id.clone(),
            token_url: token_url.clone(),
            scope: scope.clone(),
            token_expires_at: token.and_then(|token| rfc3339_ms(token.expires_at_ms)),
        }),
        _ => None,
    }
}

fn check_token_url(url: &str) -> Option<&'static str> {
    const NOT_HTTP: &str = "must be an absolute http:// or https:// URL";
    if url.len() > TOKEN_URL_BYTES_MAX {
        return Some("must be at most 2048 bytes");
    }
    if url.contains('#') || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Some("must not hold a fragment or spaces");
    }
    let Ok(uri) = url.parse::<Uri>() else {
        return Some(NOT_HTTP);
    };
    let http = matches!(uri.scheme_str(), Some("http" | "https"));
    let host = uri.host().is_some_and(|host| !host.is_empty());
    (!(http && host)).then_some(NOT_HTTP)
}

/// One async lock per connection being refreshed. The map is bounded: past
/// [`REFRESH_LOCKS_MAX`] entries, the locks nobody holds or waits for are dropped (only
/// locks in use remain, at most one per refresh in flight).
#[derive(Default)]
pub(super) struct RefreshLocks {
    locks: std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl RefreshLocks {
    fn of(&self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(PoisonError::into_inner);
        if locks.len() >= REFRESH_LOCKS_MAX && !locks.contains_key(id) {
            // The map's reference is the only one: nobody holds it or waits for it.
            locks.retain(|_, lock| Arc::strong_count(lock) > 1);
        }
        Arc::clone(locks.entry(id.to_owned()).or_default())
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.locks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

impl Connections {
    /// A valid access token of oauth2 connection `id`, whose `record` the caller read: the
    /// stored one unless it expires within [`REFRESH_MARGIN_MS`], else a new one from the
    /// token endpoint, in the journal before it is returned.
    pub(super) async fn access_token(&self, id: &str, record: &Record) -> Result<String, UseError> {
        if let Some(access_token) = self.fresh_token(id, record)? {
            return Ok(access_token);
        }
        let lock = self.refresh_locks.of(id);
        let _refreshing = lock.lock().await;
        for _ in 0..CHANGE_ATTEMPTS {
            // Read again: whoever held the lock before may have refreshed already.
            let record = self.live(id).await?;
            if let Some(access_token) = self.fresh_token(id, &record)? {
                return Ok(access_token);
            }
            let granted = self.refresh(id, &record).await?;
            if let Some(access_token) = self.keep(id, &record, granted).await? {
                return Ok(access_token);
            }
            // The secret changed while the endpoint answered: refresh with the new one.
        }
        Err(ConnectionError::Conflict(id.to_owned()).into())
    }

    /// The stored access token of `record` if it is valid beyond the margin.
    fn fresh_token(&self, id: &str, record: &Record) -> Result<Option<String>, UseError> {
        let Some(token) = &record.token else {
            return Ok(None);
        };
        let now_ms = self.clock.now_ms();
        if token.expires_at_ms.saturating_sub(now_ms) <= REFRESH_MARGIN_MS {
            return Ok(None);
        }
        Ok(Some(self.open_token(id, token)?.access_token))
    }

    fn open_token(&self, id: &str, token: &StoredToken) -> Result<TokenSecret, ConnectionError> {
        self.open_sealed(id, &token.sealed, "access token")
    }

    /// Asks the token endpoint of `record`'s client for a new access token.
    async fn refresh(&self, id: &str, record: &Record) -> Result<Sealing, UseError> {
        let Credentials::OAuth2 {
            client_id,
            client_secret,
            token_url,
            refresh_token,
            scope,
        } = self.open(id, &record.secret)?
        else {
            return Err(UseError::Refresh {
                id: id.to_owned(),
                reason: "it is no longer of kind oauth2".to_owned(),
            });
        };
        let rotated = match &record.token {
            Some(token) => self.open_token(id, token)?.refresh_token,
            None => None,
        };
        let refresh_token = rotated.clone().unwrap_or(refresh_token);
        let outbound =
            match &self.outbound {
                Some(outbound) => outbound.clone(),
                None => outbound::Outbound::new(outbound::OutboundPolicy::default()).map_err(
                    |error| UseError::Refresh {
                        id: id.to_owned(),
                        reason: error.to_string(),
                    },
                )?,
            };
        let mut form = vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.as_str()),
            ("client_id", client_id.as_str()),
            ("client_secret", client_secret.as_str()),
        ];
        if let Some(scope) = &scope {
            form.push(("scope", scope));
        }
        let asked_at_ms = self.clock.now_ms();
        let response = outbound
            .send(outbound::OutboundRequest {
                method: "POST".to_owned(),
                url: token_url,
                headers: vec![
                    (
                        "content-type".to_owned(),
                        "application/x-www-form-urlencoded".to_owned(),
                    ),
                    ("accept".to_owned(), "application/json".to_owned()),
                ],
                body: Some(form_encode(&form).into_bytes()),
                timeout: TOKEN_TIMEOUT,
            })
            .await;
        let failed = |reason: String| UseError::Refresh {
            id: id.to_owned(),
            reason,
        };
        let response = response.map_err(|error| failed(error.to_string()))?;
        let secrets = [client_secret.as_str(), refresh_token.as_str()];
        if !(200..300).contains(&response.status) {
            return Err(failed(refused(response.status, &response.body, &secrets)));
        }
        let granted = granted(&response.body).map_err(|reason| failed(reason.to_owned()))?;
        Ok(Sealing {
            expires_at_ms: asked_at_ms.saturating_add(granted.lifetime_ms),
            secret: TokenSecret {
                access_token: granted.access_token,
                refresh_token: granted.refresh_token.or(rotated),
            },
        })
    }

    /// Appends the token granted to `record`'s secret, unless that secret changed in the
    /// meantime (the token belongs to the old one): the access token when kept.
    async fn keep(
        &self,
        id: &str,
        record: &Record,
        granted: Sealing,
    ) -> Result<Option<String>, UseError> {
        let plaintext = postcard::to_stdvec(&granted.secret)
            .map_err(|e| ConnectionError::Corrupt(format!("encoding an access token: {e}")))?;
        let sealed = self
            .key
            .seal(&plaintext, &associated_data(id))
            .map_err(|source| ConnectionError::Undecryptable {
                id: id.to_owned(),
                source,
            })?;
        let event = ConnectionEvent::ConnectionTokenRefreshed {
            sealed,
            expires_at_ms: granted.expires_at_ms,
        };
        let mut version = record.version;
        for _ in 0..CHANGE_ATTEMPTS {
            match self
                .append(id, ExpectedVersion::Exact(version), &event)
                .await
            {
                Ok(()) => return Ok(Some(granted.secret.access_token)),
                // Renamed or the like: still this secret's token (and a rotated refresh
                // token must not be lost), so append it after the change.
                Err(ConnectionError::Conflict(_)) => {
                    let current = self.live(id).await?;
                    if current.secret != record.secret {
                        return Ok(None);
                    }
                    version = current.version;
                }
                Err(other) => return Err(other.into()),
            }
        }
        Err(ConnectionError::Conflict(id.to_owned()).into())
    }
}

/// A granted token about to be sealed. No `Debug`: secrets.
struct Sealing {
    secret: TokenSecret,
    expires_at_ms: i64,
}

/// The access token, rotated refresh token and lifetime of a token endpoint's 2xx answer,
/// or what is wrong with it (never quoting it).
fn granted(body: &[u8]) -> Result<Granted, &'static str> {
    let answer: Value =
        serde_json::from_slice(body).map_err(|_| "the token endpoint's answer is not JSON")?;
    let access_token = match answer.get("access_token").and_then(Value::as_str) {
        Some(token) if !token.is_empty() => token,
        _ => return Err("the token endpoint's answer has no access_token"),
    };
    if !access_token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("the access_token granted is not visible ASCII");
    }
    if let Some(token_type) = answer.get("token_type") {
        if !token_type
            .as_str()
            .is_some_and(|kind| kind.eq_ignore_ascii_case("bearer"))
        {
            return Err("the token_type granted is not Bearer");
        }
    }
    let refresh_token = match answer.get("refresh_token") {
        None | Some(Value::Null) => None,
        Some(Value::String(token)) if !token.is_empty() && !token.contains(char::is_control) => {
            Some(token.clone())
        }
        Some(_) => return Err("the refresh_token granted is not text"),
    };
    let expires_in_s = match answer.get("expires_in") {
        None | Some(Value::Null) => None,
        Some(Value::Number(number)) => number.as_f64(),
        Some(Value::String(text)) => text.trim().parse::<f64>().ok(),
        Some(_) => None,
    };
    let lifetime_ms = match expires_in_s {
        Some(seconds) if seconds.is_finite() => {
            (seconds.max(0.0) * 1000.0).min(TOKEN_LIFETIME_MS_MAX as f64) as i64
        }
        _ => TOKEN_LIFETIME_MS_DEFAULT,
    };
    Ok(Granted {
        access_token: access_token.to_owned(),
        refresh_token,
        lifetime_ms,
    })
}

/// Why a token endpoint refused: its status and the `error` code of its answer (RFC 6749
/// section 5.2), quoted only when it looks like one and holds none of `secrets`.
fn refused(status: u16, body: &[u8], secrets: &[&str]) -> String {
    let code = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|answer| answer.get("error")?.as_str().map(str::to_owned));
    let shown = match code {
        None => "without an OAuth2 error code".to_owned(),
        Some(code)
            if code.len() <= ERROR_CODE_BYTES_MAX
                && !code.is_empty()
                && code
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
                && !secrets
                    .iter()
                    .any(|secret| secret.contains(code.as_str()) || code.contains(secret)) =>
        {
            format!("error {code}")
        }
        Some(_) => "with an error code not shown".to_owned(),
    };
    format!("the token endpoint answered {status} {shown}")
}

/// `application/x-www-form-urlencoded`: unreserved bytes as they are, space as `+`, the
/// rest percent-encoded.
fn form_encode(pairs: &[(&str, &str)]) -> String {
    fn push_encoded(out: &mut String, text: &str) {
        for byte in text.bytes() {
            match byte {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                    out.push(char::from(byte));
                }
                b' ' => out.push('+'),
                other => out.push_str(&format!("%{other:02X}")),
            }
        }
    }
    let mut out = String::new();
    for (index, (name, value)) in pairs.iter().enumerate() {
        if index > 0 {
            out.push('&');
        }
        push_encoded(&mut out, name);
        out.push('=');
        push_encoded(&mut out, value);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_are_url_encoded() {
        assert_eq!(
            form_encode(&[("grant_type", "refresh_token"), ("scope", "read write+ü&=")]),
            "grant_type=refresh_token&scope=read+write%2B%C3%BC%26%3D"
        );
    }

    #[test]
    fn answers_give_a_token_a_lifetime_and_maybe_a_rotation() {
        let granted = granted(
            br#"{"access_token":"at-1","expires_in":120,"token_type":"bearer","refresh_token":"rt-2"}"#,
        )
        .map_err(str::to_owned)
        .expect("granted");
        assert_eq!(granted.access_token, "at-1");
        assert_eq!(granted.lifetime_ms, 120_000);
        assert_eq!(granted.refresh_token.as_deref(), Some("rt-2"));
        let plain = super::granted(br#"{"access_token":"at-1"}"#)
            .map_err(str::to_owned)
            .expect("granted");
        assert_eq!(plain.lifetime_ms, TOKEN_LIFETIME_MS_DEFAULT);
        assert!(plain.refresh_token.is_none());
        let text = super::granted(br#"{"access_token":"a","expires_in":"60"}"#)
            .map_err(str::to_owned)
            .expect("granted");
        assert_eq!(text.lifetime_ms, 60_000);
        for bad in [
            &br#"{"token_type":"Bearer"}"#[..],
            br#"{"access_token":"a b"}"#,
            br#"{"access_token":"a","token_type":"mac"}"#,
            br#"{"access_token":"a","refresh_token":7}"#,
            b"<html>",
        ] {
            assert!(super::granted(bad).is_err());
        }
    }

    #[test]
    fn refusals_quote_the_error_code_but_never_a_secret() {
        assert_eq!(
            refused(400, br#"{"error":"invalid_grant"}"#, &["s3cret"]),
            "the token endpoint answered 400 error invalid_grant"
        );
        let echoed = refused(400, br#"{"error":"rt_0123456789"}"#, &["rt_0123456789"]);
        assert!(!echoed.contains("rt_0123456789"), "{echoed}");
        let odd = refused(401, br#"{"error":"a \"quoted\" thing"}"#, &[]);
        assert_eq!(
            odd,
            "the token endpoint answered 401 with an error code not shown"
        );
        assert_eq!(
            refused(502, b"Bad Gateway", &[]),
            "the token endpoint answered 502 without an OAuth2 error code"
        );
    }

    #[test]
    fn token_urls_are_absolute_http() {
        assert_eq!(
            check_token_url("https://auth.example.com/oauth/token"),
            None
        );
        assert_eq!(
            check_token_url("http://127.0.0.1:8080/token?tenant=a"),
            None
        );
        for bad in [
            "ftp://example.com/token",
            "/token",
            "https://",
            "https://a b/token",
            "https://example.com/token#x",
        ] {
            assert!(check_token_url(bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn idle_refresh_locks_are_dropped_past_the_bound() {
        let locks = RefreshLocks::default();
        let held = locks.of("held");
        for n in 0..REFRESH_LOCKS_MAX + 10 {
            locks.of(&format!("c{n}"));
        }
        assert!(locks.len() <= REFRESH_LOCKS_MAX, "{}", locks.len());
        assert!(
            Arc::ptr_eq(&held, &locks.of("held")),
            "a lock in use was dropped"
        );
    }
}
