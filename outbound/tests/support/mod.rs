//! Local servers and helpers shared by the integration tests. Everything listens on
//! 127.0.0.1 port 0; nothing reaches beyond loopback.

#![allow(dead_code, reason = "each test binary uses a different part")]

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::IntoResponse;
use axum::routing::any;
use axum::Router;
use outbound::{Outbound, OutboundError, OutboundPolicy, OutboundRequest, OutboundResponse};
use tokio::net::TcpListener;

/// Long enough for any loopback call on a loaded machine, short enough to fail a hung test.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `router` on a fresh loopback port until the test's runtime ends.
pub async fn serve(router: Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let address = listener.local_addr().expect("listener has an address");
    tokio::spawn(async move { axum::serve(listener, router).await });
    address
}

/// `/echo` answers with what it received, one `key=value` a line; `/hops/{n}` redirects
/// (302) n times before answering; `/redirect/{status}?to=URL` redirects once with `status`.
pub fn test_router() -> Router {
    Router::new()
        .route("/echo", any(echo))
        .route("/hops/{n_hops}", any(hops))
        .route("/redirect/{status}", any(redirect))
}

async fn echo(method: Method, headers: HeaderMap, body: Bytes) -> String {
    let header_text = |name: header::HeaderName| {
        headers
            .get(name)
            .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
            .unwrap_or_else(|| "-".to_string())
    };
    format!(
        "method={method}\nauthorization={}\ncookie={}\ncontent-type={}\nbody={}\n",
        header_text(header::AUTHORIZATION),
        header_text(header::COOKIE),
        header_text(header::CONTENT_TYPE),
        String::from_utf8_lossy(&body),
    )
}

async fn hops(axum::extract::Path(n_hops): axum::extract::Path<u32>) -> impl IntoResponse {
    if n_hops == 0 {
        return (StatusCode::OK, HeaderMap::new(), "arrived");
    }
    let mut headers = HeaderMap::new();
    let location = format!("/hops/{}", n_hops - 1);
    headers.insert(
        header::LOCATION,
        location.parse().expect("location is a header value"),
    );
    (StatusCode::FOUND, headers, "")
}

async fn redirect(
    axum::extract::Path(status): axum::extract::Path<u16>,
    axum::extract::Query(query): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> impl IntoResponse {
    let status = StatusCode::from_u16(status).expect("test status is valid");
    let location = query
        .get("to")
        .cloned()
        .unwrap_or_else(|| "/echo".to_string());
    let mut headers = HeaderMap::new();
    headers.insert(
        header::LOCATION,
        location.parse().expect("location is a header value"),
    );
    (status, headers)
}

pub fn client(policy: OutboundPolicy) -> Outbound {
    Outbound::new(policy).expect("client builds")
}

pub fn get(url: &str) -> OutboundRequest {
    OutboundRequest {
        method: "GET".to_string(),
        url: url.to_string(),
        headers: Vec::new(),
        body: None,
        timeout: TIMEOUT,
    }
}

pub fn body_text(response: &OutboundResponse) -> String {
    String::from_utf8_lossy(&response.body).into_owned()
}

/// Asserts a denial naming `host`, with the stable code.
pub fn assert_denied(result: Result<OutboundResponse, OutboundError>, host: &str) {
    let error = result.expect_err("the call is denied");
    assert!(
        matches!(&error, OutboundError::Denied { host: denied, .. } if denied == host),
        "expected a denial of {host}, got {error:?}"
    );
    assert_eq!(error.code(), "OUTBOUND_DENIED");
    assert!(!error.retryable());
    assert!(error.to_string().contains(host), "{error} names {host}");
}
