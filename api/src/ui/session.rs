//! Dashboard sessions: a random id in an HttpOnly cookie, the signed-in key's id and the CSRF
//! token kept server-side.
//!
//! Why a server-side table rather than an encrypted cookie holding the key: the API key
//! never leaves the server after sign-in (not even sealed), signing out or a restart ends a
//! session for certain, and a revoked key is noticed on the next request because only the
//! key's id is kept and looked up each time. The cost is that sessions do not survive a
//! restart and are per process, which suits a dashboard served by one `duro serve`. The table
//! is bounded (`Limits::max_sessions`, the least recently used session goes first) so sign-ins
//! cannot grow memory without end, and idle sessions expire.
//!
//! Ids are stored as their SHA-256, so the table never holds a usable cookie value.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{header, HeaderMap, HeaderValue};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use sha2::{Digest, Sha256};

/// The session cookie's name.
pub const COOKIE: &str = "duro_session";

/// How many sessions live at once and how long an unused one lasts.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_sessions: usize,
    pub idle: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_sessions: 10_000,
            idle: Duration::from_secs(12 * 60 * 60),
        }
    }
}

/// A live session as handlers see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    /// The id of the API key that signed in (looked up on each request).
    pub key_id: String,
    /// The token every state-changing form of this session must carry.
    pub csrf: String,
}

struct Entry {
    session: Session,
    last_seen: Instant,
}

type IdHash = [u8; 32];

/// The session table.
pub struct Sessions {
    limits: Limits,
    table: Mutex<HashMap<IdHash, Entry>>,
}

fn random_token() -> String {
    let bytes: [u8; 32] = rand::random();
    URL_SAFE_NO_PAD.encode(bytes)
}

fn hash(id: &str) -> IdHash {
    Sha256::digest(id.as_bytes()).into()
}

impl Sessions {
    pub fn new(limits: Limits) -> Sessions {
        Sessions {
            limits,
            table: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IdHash, Entry>> {
        // A panic while holding the lock leaves the map consistent (every change is one
        // insert or remove), so a poisoned lock is still usable.
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new session for `key_id`; returns the cookie value and the session.
    pub fn create(&self, key_id: &str, now: Instant) -> (String, Session) {
        let id = random_token();
        let session = Session {
            key_id: key_id.to_owned(),
            csrf: random_token(),
        };
        let mut table = self.lock();
        if table.len() >= self.limits.max_sessions {
            let idle = self.limits.idle;
            table.retain(|_, entry| now.duration_since(entry.last_seen) < idle);
        }
        while table.len() >= self.limits.max_sessions.max(1) {
            let oldest = table
                .iter()
                .min_by_key(|(_, entry)| entry.last_seen)
                .map(|(hash, _)| *hash);
            match oldest {
                Some(hash) => table.remove(&hash),
                None => break,
            };
        }
        table.insert(
            hash(&id),
            Entry {
                session: session.clone(),
                last_seen: now,
            },
        );
        (id, session)
    }

    /// The live session with cookie value `id`, marked as used now; an expired one is removed.
    pub fn touch(&self, id: &str, now: Instant) -> Option<Session> {
        let key = hash(id);
        let mut table = self.lock();
        let entry = table.get_mut(&key)?;
        if now.duration_since(entry.last_seen) >= self.limits.idle {
            table.remove(&key);
            return None;
        }
        entry.last_seen = now;
        Some(entry.session.clone())
    }

    /// Ends the session with cookie value `id`, if there is one.
    pub fn remove(&self, id: &str) {
        self.lock().remove(&hash(id));
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The session cookie's value in the request, if any.
pub fn from_request(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim().to_owned())
        .filter(|value| !value.is_empty())
}

/// Whether the request reached us over HTTPS (directly or through a proxy that says so):
/// only then is the cookie marked `Secure`, since `duro serve` itself speaks plain HTTP and a
/// `Secure` cookie would never come back over it.
pub fn over_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"))
}

/// `Set-Cookie` for a new session. No `Max-Age`: the cookie ends with the browser session,
/// and the server ends idle sessions itself.
pub fn set_cookie(id: &str, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/ui{secure}"
    ))
    .unwrap_or_else(|_| clear_cookie())
}

/// `Set-Cookie` that removes the session cookie.
pub fn clear_cookie() -> HeaderValue {
    HeaderValue::from_static("duro_session=; HttpOnly; SameSite=Strict; Path=/ui; Max-Age=0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_expire_when_idle_and_the_table_is_bounded() {
        let sessions = Sessions::new(Limits {
            max_sessions: 2,
            idle: Duration::from_secs(60),
        });
        let start = Instant::now();
        let (a, session_a) = sessions.create("key_a", start);
        assert_eq!(
            sessions.touch(&a, start + Duration::from_secs(30)),
            Some(session_a)
        );
        let (b, _) = sessions.create("key_b", start + Duration::from_secs(31));
        // Full: the least recently used session (a, last seen at 30 s) makes room.
        let (c, _) = sessions.create("key_c", start + Duration::from_secs(32));
        assert_eq!(sessions.len(), 2);
        assert!(sessions
            .touch(&a, start + Duration::from_secs(33))
            .is_none());
        assert!(sessions
            .touch(&b, start + Duration::from_secs(33))
            .is_some());
        // Idle for a minute: gone.
        assert!(sessions
            .touch(&c, start + Duration::from_secs(92))
            .is_none());
        sessions.remove(&b);
        assert!(sessions.is_empty());
    }

    #[test]
    fn the_cookie_is_read_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; duro_session=abc ; b=2"),
        );
        assert_eq!(from_request(&headers).as_deref(), Some("abc"));
        let cookie = set_cookie("abc", false);
        let text = cookie.to_str().expect("ascii");
        assert!(text.contains("HttpOnly") && text.contains("SameSite=Strict"));
        assert!(text.contains("Path=/ui") && !text.contains("Secure"));
    }
}
