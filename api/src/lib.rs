//! Duro's HTTP layer. Only this crate knows HTTP and JSON envelopes; errors from the engine
//! and the journal are mapped to status codes here, once.

pub mod error;
pub mod health;

use axum::Router;
use engine::Engine;
use tokio::net::TcpListener;

pub use error::ApiError;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub engine: Engine,
}

/// The whole HTTP surface.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(health::router())
        .fallback(error::not_found)
        .with_state(state)
}

/// Serves the API on `listener` until `shutdown` resolves, then lets in-flight requests
/// finish. The caller owns the listener (tests bind port 0) and the shutdown signal.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}
