//! What the dashboard's Server-Sent Events streams share: a permit from the bounded pool
//! (`Ui::live`), the session they serve (a stream ends with it, or when its key is revoked),
//! the store's change notifications (coalesced), the server's stopping signal and a lifetime
//! after which the browser reconnects.

use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use tokio::sync::{watch, OwnedSemaphorePermit};

use super::error::UiError;
use super::guard::SignedIn;
use super::{session, Ui};

/// Live streams open at once; past it a live route answers 503 and pages fall back.
pub const STREAMS_MAX: usize = 256;
/// A stream ends after this long; the browser reconnects with its last event id, so a
/// stream never outlives a session by much.
const LIFETIME: Duration = Duration::from_secs(300);
/// Changes closer together than this are taken as one.
const COALESCE: Duration = Duration::from_millis(200);
/// A comment is sent when nothing else was for this long, so proxies keep the connection.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// A stream's watch over the journal, for one signed-in session.
pub struct Watch {
    pub ui: Ui,
    session_id: String,
    key_id: String,
    changes: watch::Receiver<journal::Position>,
    stopping: watch::Receiver<bool>,
    deadline: tokio::time::Instant,
    _permit: OwnedSemaphorePermit,
}

impl Watch {
    /// A watch for `signed`'s session, or 503 when too many streams are open.
    pub fn new(ui: &Ui, signed: &SignedIn, headers: &HeaderMap) -> Result<Watch, UiError> {
        let permit = ui.live.clone().try_acquire_owned().map_err(|_| {
            UiError::Unavailable(
                "Too many live pages are open; this one will refresh itself instead.".into(),
            )
        })?;
        let session_id = session::from_request(headers).ok_or(UiError::SignIn)?;
        Ok(Watch {
            // Subscribed before the first read, so an append in between still wakes it.
            changes: ui.app.engine.store().subscribe(),
            stopping: ui.app.stopping.subscribe(),
            ui: ui.clone(),
            session_id,
            key_id: signed.key.id.clone(),
            deadline: tokio::time::Instant::now() + LIFETIME,
            _permit: permit,
        })
    }

    /// Whether the session and its key are still good.
    pub async fn signed_in(&self) -> bool {
        if self
            .ui
            .sessions
            .touch(&self.session_id, Instant::now())
            .is_none()
        {
            return false;
        }
        matches!(self.ui.app.keys.get(&self.key_id).await, Ok(key) if !key.is_revoked())
    }

    /// Waits for the journal to change (and a burst of appends to settle); false when the
    /// stream should end instead (the server stops, the lifetime is over, the store is gone).
    pub async fn changed(&mut self) -> bool {
        tokio::select! {
            changed = self.changes.changed() => {
                if changed.is_err() {
                    return false;
                }
            }
            _ = self.stopping.wait_for(|stopping| *stopping) => return false,
            _ = tokio::time::sleep_until(self.deadline) => return false,
        }
        tokio::time::sleep(COALESCE).await;
        self.changes.borrow_and_update();
        true
    }
}

/// The `Last-Event-ID` header, else the `since` parameter: what the browser already shows.
pub fn last_event_id(headers: &HeaderMap, since: Option<String>) -> String {
    headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .or(since)
        .unwrap_or_default()
}
