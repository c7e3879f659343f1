//! A counter server for tests of side effects: it records every request's path and
//! Idempotency-Key; `/count` answers 200, `/flaky` answers 503 to the first two requests of
//! each run (the run id is the key's first `:`-separated part), then 200.

use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;

/// Every request the counter server saw: (path, Idempotency-Key).
pub type Seen = Arc<Mutex<Vec<(String, String)>>>;

pub async fn counter_server() -> (String, Seen) {
    let seen: Seen = Arc::new(Mutex::new(Vec::new()));
    let record = |path: &'static str, seen: Seen| {
        move |headers: HeaderMap| {
            let seen = seen.clone();
            async move {
                let key = headers
                    .get("idempotency-key")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string();
                let mut seen = seen.lock().expect("lock");
                seen.push((path.to_string(), key.clone()));
                // /flaky fails the first two requests of each run.
                let run = key.split(':').next().unwrap_or_default().to_string();
                let tries = seen
                    .iter()
                    .filter(|(p, k)| p == path && k.starts_with(&format!("{run}:")))
                    .count();
                if path == "/flaky" && tries <= 2 {
                    (StatusCode::SERVICE_UNAVAILABLE, "{}")
                } else {
                    (StatusCode::OK, "{\"ok\":true}")
                }
            }
        }
    };
    let app = Router::new()
        .route("/count", post(record("/count", seen.clone())))
        .route("/flaky", post(record("/flaky", seen.clone())));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}
