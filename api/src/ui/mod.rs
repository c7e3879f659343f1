//! The dashboard at `/ui`: server-rendered HTML (maud, which escapes every interpolated
//! value), one stylesheet and one small script compiled into the binary, and sign-in with an
//! API key kept server-side (see `session`).
//!
//! - `session`: the bounded in-memory session table and the session cookie.
//! - `guard`: the signed-in key of a request, its scope checks and the CSRF check.
//! - `headers`: the security headers of every `/ui` response (CSP, nosniff, no framing).
//! - `assets`: the CSS and JS, with long cache lifetimes.
//! - `live`: what the Server-Sent Events streams of the Runs and Run pages share.
//! - `error`: `UiError`, answered as a page a person can read, never a JSON dump.
//! - `pages`: the layout and the login, overview, runs, run, workflows and triggers pages.
//!
//! The UI router is merged outside the API's `json_errors` layer, which would otherwise turn
//! its HTML 401/403 pages into JSON envelopes.

pub mod assets;
pub mod error;
pub mod guard;
pub mod headers;
pub mod live;
pub mod pages;
pub mod session;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, FromRef};
use axum::response::Redirect;
use axum::routing::{get, post};
use axum::Router;

use crate::AppState;
use session::Sessions;

/// Largest form body the UI accepts: its forms carry a key, a token and a reason.
const FORM_BODY_MAX: usize = 64 * 1024;

/// What UI handlers reach: the API's state and the session table. Cheap to clone.
#[derive(Clone)]
pub struct Ui {
    pub app: AppState,
    pub sessions: Arc<Sessions>,
    /// Permits for the live streams (`live::STREAMS_MAX`).
    pub live: Arc<tokio::sync::Semaphore>,
}

impl FromRef<Ui> for AppState {
    fn from_ref(ui: &Ui) -> AppState {
        ui.app.clone()
    }
}

/// The `/ui` routes with their own state, mergeable into a router of any state. One session
/// table per call: `serve` builds the router once, so a server has one.
pub fn router<S>(state: &AppState) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let ui = Ui {
        app: state.clone(),
        sessions: Arc::new(Sessions::new(session::Limits::default())),
        live: Arc::new(tokio::sync::Semaphore::new(live::STREAMS_MAX)),
    };
    Router::new()
        .route("/ui", get(|| async { Redirect::to("/ui/runs") }))
        .route("/ui/", get(|| async { Redirect::to("/ui/runs") }))
        .route(
            "/ui/login",
            get(pages::login::form).post(pages::login::submit),
        )
        .route("/ui/logout", post(pages::login::logout))
        .route("/ui/overview", get(pages::overview::overview))
        .route("/ui/runs", get(pages::runs::list))
        .route("/ui/runs/rows", get(pages::runs::rows))
        .route("/ui/runs/live", get(pages::runs::live))
        .route("/ui/runs/{id}", get(pages::run::detail))
        .route("/ui/runs/{id}/live", get(pages::run::live))
        .route("/ui/runs/{id}/cancel", post(pages::run::cancel))
        .route("/ui/runs/{id}/resume", post(pages::run::resume))
        .route("/ui/runs/{id}/rerun", post(pages::run::rerun))
        .route("/ui/workflows", get(pages::workflows::list))
        .route("/ui/workflows/{id}", get(pages::workflows::detail))
        .route(
            "/ui/workflows/{id}/status",
            post(pages::workflows::set_status),
        )
        .route("/ui/workflows/{id}/run", post(pages::workflows::run))
        .route("/ui/triggers", get(pages::triggers::list))
        .route("/ui/triggers/{id}", get(pages::triggers::detail))
        .route(
            "/ui/triggers/{id}/status",
            post(pages::triggers::set_status),
        )
        .route("/ui/triggers/{id}/fire", post(pages::triggers::fire))
        .route("/ui/assets/{name}", get(assets::serve))
        .route("/ui/{*rest}", get(error::not_found).post(error::not_found))
        .layer(DefaultBodyLimit::max(FORM_BODY_MAX))
        .layer(axum::middleware::from_fn(headers::secure))
        .with_state(ui)
}
