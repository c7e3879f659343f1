//! The signed-in key of a request: its session cookie names a live session whose key still
//! exists and is not revoked. Also the scope and CSRF checks handlers make with it.

use std::time::Instant;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use subtle::ConstantTimeEq;

use super::error::UiError;
use super::session::{self, Session};
use super::Ui;
use credentials::keys::{KeyError, KeyInfo, Scope};

/// Extractor: the request's session and key; without one the handler is not reached and the
/// browser is sent to `/ui/login`.
pub struct SignedIn {
    pub session: Session,
    pub key: KeyInfo,
}

impl FromRequestParts<Ui> for SignedIn {
    type Rejection = UiError;

    async fn from_request_parts(parts: &mut Parts, ui: &Ui) -> Result<SignedIn, UiError> {
        let id = session::from_request(&parts.headers).ok_or(UiError::SignIn)?;
        let session = ui
            .sessions
            .touch(&id, Instant::now())
            .ok_or(UiError::SignIn)?;
        // Looked up each time so that revoking a key ends its dashboard sessions at once.
        let key = match ui.app.keys.get(&session.key_id).await {
            Ok(key) if !key.is_revoked() => key,
            Ok(_) | Err(KeyError::NotFound(_)) => {
                ui.sessions.remove(&id);
                return Err(UiError::SignIn);
            }
            Err(other) => return Err(other.into()),
        };
        Ok(SignedIn { session, key })
    }
}

impl SignedIn {
    /// The key must hold `scope` (or admin).
    pub fn require(&self, scope: Scope) -> Result<(), UiError> {
        if self.key.allows(scope) {
            Ok(())
        } else {
            Err(UiError::MissingScope(scope))
        }
    }

    /// A state-changing form must carry this session's token (compared in constant time).
    pub fn check_csrf(&self, token: &str) -> Result<(), UiError> {
        let expected = self.session.csrf.as_bytes();
        if !token.is_empty() && bool::from(expected.ct_eq(token.as_bytes())) {
            Ok(())
        } else {
            Err(UiError::Csrf)
        }
    }
}
