//! Calls the policy refuses: forbidden addresses as literals, behind names, and after a
//! redirect; and the allow list letting them through.

mod support;

use std::time::Duration;

use outbound::{OutboundError, OutboundPolicy};
use support::{assert_denied, body_text, client, get, serve, test_router};

fn deny_private() -> OutboundPolicy {
    OutboundPolicy {
        deny_private: true,
        ..OutboundPolicy::default()
    }
}

fn allowing(entry: &str) -> OutboundPolicy {
    deny_private()
        .with_allow(&[entry.to_string()])
        .expect("allow entry parses")
}

#[tokio::test]
async fn metadata_address_is_denied_before_connecting() {
    let outbound = client(OutboundPolicy::default());
    let mut request = get("http://169.254.169.254/latest/meta-data");
    // A connection attempt would end in Timeout (nothing answers there from a test box);
    // Denied proves none was made.
    request.timeout = Duration::from_millis(50);
    let result = outbound.send(request).await;
    let error = result.as_ref().expect_err("denied");
    assert_eq!(
        error.to_string(),
        "outbound call to 169.254.169.254 denied: link-local address (cloud metadata)"
    );
    assert_denied(result, "169.254.169.254");
}

#[tokio::test]
async fn ipv4_mapped_metadata_address_is_denied() {
    let outbound = client(OutboundPolicy::default());
    let mut request = get("http://[::ffff:169.254.169.254]/latest/meta-data");
    request.timeout = Duration::from_millis(50);
    let result = outbound.send(request).await;
    let error = result.as_ref().expect_err("denied");
    assert!(
        matches!(error, OutboundError::Denied { address: Some(address), .. }
            if address.to_string() == "::ffff:169.254.169.254"),
        "{error:?}"
    );
    assert_denied(result, "[::ffff:a9fe:a9fe]");
}

#[tokio::test]
async fn redirect_to_metadata_is_denied_naming_the_host() {
    let server = serve(test_router()).await;
    let outbound = client(OutboundPolicy::default());
    let url = format!("http://{server}/redirect/302?to=http://169.254.169.254/latest/meta-data");
    assert_denied(outbound.send(get(&url)).await, "169.254.169.254");
}

#[tokio::test]
async fn localhost_is_reachable_by_default() {
    let server = serve(test_router()).await;
    let outbound = client(OutboundPolicy::default());
    let url = format!("http://localhost:{}/echo", server.port());
    let response = outbound
        .send(get(&url))
        .await
        .expect("localhost is allowed");
    assert_eq!(response.status, 200);
    assert!(body_text(&response).starts_with("method=GET"));
}

#[tokio::test]
async fn localhost_is_denied_under_deny_private() {
    let server = serve(test_router()).await;
    let outbound = client(deny_private());
    let by_name = format!("http://localhost:{}/echo", server.port());
    assert_denied(outbound.send(get(&by_name)).await, "localhost");
    let by_address = format!("http://{server}/echo");
    assert_denied(outbound.send(get(&by_address)).await, "127.0.0.1");
}

#[tokio::test]
async fn allow_list_lets_localhost_through() {
    let server = serve(test_router()).await;
    for entry in ["127.0.0.1/32", "localhost"] {
        let outbound = client(allowing(entry));
        let url = format!("http://localhost:{}/echo", server.port());
        let response = outbound
            .send(get(&url))
            .await
            .unwrap_or_else(|error| panic!("allowed by {entry}: {error}"));
        assert_eq!(response.status, 200, "{entry}");
    }
}

#[tokio::test]
async fn resolve_returns_only_permitted_addresses() {
    let open = client(OutboundPolicy::default());
    let addresses = open.resolve("localhost", 25).await.expect("resolves");
    assert!(!addresses.is_empty());
    assert!(addresses
        .iter()
        .all(|address| address.ip().is_loopback() && address.port() == 25));

    let closed = client(deny_private());
    let error = closed
        .resolve("localhost", 25)
        .await
        .expect_err("loopback is denied");
    assert_eq!(error.code(), "OUTBOUND_DENIED");
    assert!(error.to_string().contains("localhost"), "{error}");

    let error = open
        .resolve("169.254.169.254", 25)
        .await
        .expect_err("metadata is denied");
    assert_eq!(error.code(), "OUTBOUND_DENIED");

    let allowed = client(allowing("127.0.0.1"));
    let addresses = allowed.resolve("localhost", 25).await.expect("resolves");
    assert_eq!(
        addresses,
        vec!["127.0.0.1:25".parse().expect("address parses")]
    );
}

#[tokio::test]
async fn unresponsive_server_times_out_and_is_retryable() {
    // Bound but never accepted: the kernel completes the handshake, nobody answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let address = listener.local_addr().expect("listener has an address");
    let outbound = client(OutboundPolicy::default());
    let mut request = get(&format!("http://{address}/"));
    request.timeout = Duration::from_millis(50);
    let error = outbound.send(request).await.expect_err("times out");
    assert_eq!(error.code(), "TIMEOUT", "{error:?}");
    assert!(error.retryable());
}

#[tokio::test]
async fn bad_requests_are_refused_before_sending() {
    let outbound = client(OutboundPolicy::default());
    for (method, url) in [
        ("GET", "not a url"),
        ("GET", "file:///etc/passwd"),
        ("GE T", "http://127.0.0.1/"),
    ] {
        let mut request = get(url);
        request.method = method.to_string();
        let error = outbound.send(request).await.expect_err("refused");
        assert_eq!(error.code(), "BAD_REQUEST", "{method} {url}: {error}");
    }
    let mut request = get("http://127.0.0.1/");
    request.headers = vec![("bad header".to_string(), "x".to_string())];
    let error = outbound.send(request).await.expect_err("refused");
    assert_eq!(error.code(), "BAD_REQUEST", "{error}");
}
