//! Liveness and readiness: `/healthz` answers while the process runs; `/readyz` answers 200
//! only while the journal can be read.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;

use crate::contract::operations::{Health, HealthResponse, Ready, ReadyResponse};
use crate::error::ErrorEnvelope;
use crate::reply;
use crate::{ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

/// Liveness
///
/// No API key. Answers while the process runs.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    responses((status = 200, description = "The process is up.", body = HealthResponse)),
    security(())
)]
pub(crate) async fn healthz() -> Response {
    let health = Health {
        status: "ok".to_owned(),
    };
    reply::json(StatusCode::OK, &HealthResponse::new(health))
}

/// Readiness
///
/// No API key. Answers 200 only while the journal can be read.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    responses(
        (status = 200, description = "Ready; the journal's committed position.", body = ReadyResponse),
        (status = 503, description = "UNAVAILABLE: the journal cannot be read.", body = ErrorEnvelope),
    ),
    security(())
)]
pub(crate) async fn readyz(State(state): State<AppState>) -> Result<Response, ApiError> {
    let committed = state.engine.committed_position();
    // Reading the last committed record proves the journal is readable, not just open.
    if committed.0 > 0 {
        state
            .engine
            .store()
            .read_all(committed, 1)
            .await
            .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    }
    let ready = Ready {
        status: "ready".to_owned(),
        journal_position: committed.0,
    };
    Ok(reply::json(StatusCode::OK, &ReadyResponse::new(ready)))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use engine::executor::SystemClock;
    use http_body_util::BodyExt;
    use journal::MemoryStore;
    use serde_json::Value;
    use tower::ServiceExt;

    use crate::{router, ApiConfig, AppState};

    async fn get(path: &str) -> (StatusCode, Value) {
        let store = Arc::new(MemoryStore::new());
        let read_models = readmodels::ReadModels::temporary(store.clone()).expect("read models");
        let state = AppState::new(
            store,
            Arc::new(SystemClock),
            ApiConfig::default(),
            read_models,
            credentials::connections::SecretKey::generate(),
        );
        let response = router(state)
            .oneshot(Request::get(path).body(Body::empty()).expect("request"))
            .await
            .expect("response");
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        (status, serde_json::from_slice(&bytes).expect("json body"))
    }

    #[tokio::test]
    async fn health_and_readiness_answer_with_the_envelope() {
        let (status, body) = get("/healthz").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["success"], true);
        let (status, body) = get("/readyz").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["data"]["status"], "ready");
        assert_eq!(body["data"]["journalPosition"], 0);
    }

    #[tokio::test]
    async fn unknown_routes_get_a_json_not_found() {
        let (status, body) = get("/api/v1/nothing-here").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(body["success"], false);
        assert_eq!(body["error"]["code"], "NOT_FOUND");
        assert!(body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("/api/v1/nothing-here")));
    }
}
