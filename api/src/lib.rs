//! Duro's HTTP layer. Only this crate knows HTTP and JSON envelopes; errors from the engine
//! and the journal are mapped to status codes here, once (`error`).
//!
//! - `auth`: API keys from headers, route scopes, per-key rate limits.
//! - `body`: JSON request bodies within the size limit, errors naming the field.
//! - `contract`: every request and response body of the canonical routes, as types.
//! - `query`: the canonical routes' query parameters, each given once and not empty.
//! - `reply`: writes answers; the JSON shapes the compatibility routes reuse.
//! - `routes`: the canonical `/api/v1` routes and the seed compatibility routes.
//! - `keys`: API keys as journal streams (hashed secrets).
//! - `connections`: connected accounts, their secrets encrypted at rest.
//! - `ui`: the dashboard at `/ui` (server-rendered pages, sessions signed in with a key).

pub mod auth;
pub mod body;
pub mod contract;
pub mod error;
pub mod health;
pub mod metrics;
pub mod openapi;
pub mod query;
pub mod reply;
pub mod routes;
pub mod ui;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::Router;
use engine::executor::{Clock, Integrations, Runs};
use engine::Engine;
use journal::EventStore;
use readmodels::ReadModels;
use tokio::net::TcpListener;
use triggers::instances::Triggers;
use triggers::runner::Runner;

pub use error::ApiError;

use crate::auth::RateLimits;
use credentials::connections::{Connections, SecretKey};
use credentials::keys::Keys;

/// Settings of the HTTP layer (from flags, the environment or `duro.toml`).
#[derive(Clone, Debug)]
pub struct ApiConfig {
    /// Run/execute requests each API key may make per minute.
    pub execute_per_minute: u32,
    /// Largest request body accepted, in bytes; larger ones get 413.
    pub max_body_bytes: usize,
    /// Longest `?wait=SECONDS` honoured.
    pub max_wait_secs: u64,
}

impl Default for ApiConfig {
    fn default() -> ApiConfig {
        ApiConfig {
            execute_per_minute: 500,
            max_body_bytes: 1024 * 1024,
            max_wait_secs: 300,
        }
    }
}

/// What steps reach the outside world with (`duro serve` builds them from its settings).
#[derive(Clone)]
pub struct Outside {
    /// The providers action steps and connections may name.
    pub catalog: Arc<engine::providers::Catalog>,
    /// The guarded client of every outbound call.
    pub outbound: outbound::Outbound,
    /// The SMTP server of email steps that use no smtp connection.
    pub smtp: Option<mail::SmtpSettings>,
    /// Where snapshots of long runs are kept (the data directory's; none by default).
    pub snapshots: Arc<engine::executor::RunSnapshots>,
    /// The leases of this node's runs and triggers: `SoleNode` alone on its journal (the
    /// default), or the PostgreSQL journal's for several nodes.
    pub leases: Arc<dyn journal::Leases>,
}

impl Default for Outside {
    fn default() -> Outside {
        let standard = Integrations::standard();
        Outside {
            catalog: standard.catalog,
            outbound: standard.outbound,
            smtp: standard.smtp,
            snapshots: Arc::new(engine::executor::RunSnapshots::off()),
            leases: Arc::new(journal::SoleNode::default()),
        }
    }
}

/// What every handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub engine: Engine,
    pub runs: Runs,
    pub keys: Keys,
    /// Connected accounts; holds the data key that seals their secrets.
    pub connections: Connections,
    pub triggers: Triggers,
    /// Runs schedules and polling; `serve` spawns it, routes tell it what changed.
    pub trigger_runner: Arc<Runner>,
    /// Listings (runs, workflows) projected from the journal; its follower runs elsewhere.
    pub read_models: ReadModels,
    pub config: Arc<ApiConfig>,
    pub limits: Arc<RateLimits>,
    /// Becomes true when the server starts to stop: open event streams end then, so that a
    /// graceful shutdown does not wait for runs that are still going.
    pub stopping: Arc<tokio::sync::watch::Sender<bool>>,
}

impl AppState {
    /// Everything the API needs over `store`, whose appends are timed for `/metrics`.
    /// `read_models` must project the same store; `secret_key` seals connection secrets.
    pub fn new(
        store: Arc<dyn EventStore>,
        clock: Arc<dyn Clock>,
        config: ApiConfig,
        read_models: ReadModels,
        secret_key: SecretKey,
    ) -> AppState {
        AppState::with_integrations(
            store,
            clock,
            config,
            read_models,
            secret_key,
            Outside::default(),
        )
    }

    /// As `new`, with the provider catalog and outbound client steps use.
    pub fn with_integrations(
        store: Arc<dyn EventStore>,
        clock: Arc<dyn Clock>,
        config: ApiConfig,
        read_models: ReadModels,
        secret_key: SecretKey,
        outside: Outside,
    ) -> AppState {
        metrics::install();
        let store = metrics::MeteredStore::wrap(store);
        let connections =
            Connections::with_catalog(store.clone(), secret_key, outside.catalog.clone())
                .with_outbound(outside.outbound.clone())
                .with_clock(clock.clone());
        let leases = outside.leases.clone();
        let runs = Runs::with_leases(
            store.clone(),
            clock.clone(),
            Integrations {
                catalog: outside.catalog,
                outbound: outside.outbound,
                connections: Arc::new(connections.clone()),
                smtp: outside.smtp,
            },
            outside.snapshots,
            outside.leases,
        );
        let triggers = Triggers::new(store.clone());
        // With several nodes, each schedule or polling trigger runs on the node holding its
        // lease (the same leases as runs').
        let trigger_runner = Runner::for_node(
            triggers.clone(),
            runs.clone(),
            clock,
            Some(Arc::new(connections.clone())),
            leases,
        );
        AppState {
            trigger_runner,
            read_models,
            engine: Engine::new(store.clone()),
            runs,
            keys: Keys::new(store.clone()),
            connections,
            triggers,
            limits: Arc::new(RateLimits::new(config.execute_per_minute)),
            config: Arc::new(config),
            stopping: Arc::new(tokio::sync::watch::Sender::new(false)),
        }
    }
}

/// The whole HTTP surface.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(health::router())
        .merge(routes::router(&state))
        .merge(openapi::router())
        .route("/metrics", axum::routing::get(metrics::render))
        .route_layer(axum::middleware::from_fn(metrics::track_requests))
        .fallback(error::not_found)
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes))
        .layer(axum::middleware::from_fn(error::json_errors))
        // Merged after the API's layers: the dashboard answers in HTML, errors included.
        .merge(ui::router(&state))
        .with_state(state)
}

/// Serves the API on `listener` until `shutdown` resolves, then lets in-flight requests
/// finish. The caller owns the listener (tests bind port 0) and the shutdown signal.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let stopping = state.stopping.clone();
    let shutdown = async move {
        shutdown.await;
        stopping.send_replace(true);
    };
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}
