//! The routes, grouped by the scope they need. Each group is its own router with the scope
//! check as a route layer; groups sharing a path with different methods merge into one route.

pub mod connections;
pub mod flowra;
pub mod journal;
pub mod keys;
pub mod lists;
pub mod providers;
pub mod runs;
pub mod stackai;
pub mod stream;
pub mod triggers;
pub mod webhooks;
pub mod workflows;

use axum::middleware::from_fn_with_state;
use axum::Router;

use crate::auth::{limit_execute, require_scope};
use crate::AppState;
use credentials::keys::Scope;

/// `routes`, each requiring `scope`.
pub fn scoped(state: &AppState, scope: Scope, routes: Router<AppState>) -> Router<AppState> {
    routes.route_layer(from_fn_with_state((state.clone(), scope), require_scope))
}

/// Run/execute `routes`: scope `workflows:execute` and the per-key execute rate limit.
pub fn executing(state: &AppState, routes: Router<AppState>) -> Router<AppState> {
    let limited = routes.route_layer(from_fn_with_state(state.limits.clone(), limit_execute));
    scoped(state, Scope::WorkflowsExecute, limited)
}

pub fn router(state: &AppState) -> Router<AppState> {
    Router::new()
        .merge(workflows::router(state))
        .merge(runs::router(state))
        .merge(stream::router(state))
        .merge(keys::router(state))
        .merge(journal::router(state))
        .merge(connections::router(state))
        .merge(providers::router(state))
        .merge(flowra::router(state))
        .merge(triggers::router(state))
        .merge(stackai::router(state))
        .merge(webhooks::router(state))
}
