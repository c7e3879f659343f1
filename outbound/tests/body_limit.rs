//! Response bodies past the limit: refused, and the rest never read.

mod support;

use std::time::Duration;

use outbound::{OutboundError, OutboundPolicy};
use support::{client, get};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const LIMIT: usize = 1024 * 1024;
const CHUNK_BYTES: usize = 64 * 1024;
const BODY_BYTES: usize = 64 * 1024 * 1024;

/// Serves one response of `BODY_BYTES` in chunks, with or without a declared length, and
/// returns how many body bytes it managed to write before the client went away.
async fn serve_huge_body(declare_length: bool) -> (String, tokio::task::JoinHandle<usize>) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let url = format!("http://{}/huge", listener.local_addr().expect("address"));
    let writer = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.expect("accept");
        read_request_head(&mut stream).await;
        let head = if declare_length {
            format!("HTTP/1.1 200 OK\r\nContent-Length: {BODY_BYTES}\r\n\r\n")
        } else {
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_string()
        };
        if stream.write_all(head.as_bytes()).await.is_err() {
            return 0;
        }
        let payload = vec![b'x'; CHUNK_BYTES];
        let mut n_written = 0;
        while n_written < BODY_BYTES {
            let written = if declare_length {
                stream.write_all(&payload).await
            } else {
                let mut frame = format!("{CHUNK_BYTES:x}\r\n").into_bytes();
                frame.extend_from_slice(&payload);
                frame.extend_from_slice(b"\r\n");
                stream.write_all(&frame).await
            };
            if written.is_err() {
                break;
            }
            n_written += CHUNK_BYTES;
        }
        n_written
    });
    (url, writer)
}

async fn read_request_head(stream: &mut tokio::net::TcpStream) {
    let mut head = Vec::new();
    let mut buffer = [0u8; 1024];
    while !head.windows(4).any(|window| window == b"\r\n\r\n") {
        let n_read = stream.read(&mut buffer).await.expect("read request");
        if n_read == 0 {
            return;
        }
        head.extend_from_slice(&buffer[..n_read]);
    }
}

async fn check_refused(declare_length: bool) {
    let (url, writer) = serve_huge_body(declare_length).await;
    let outbound = client(OutboundPolicy {
        max_response_bytes: LIMIT,
        ..OutboundPolicy::default()
    });
    let error = outbound
        .send(get(&url))
        .await
        .expect_err("body is too large");
    assert!(
        matches!(error, OutboundError::TooLarge { limit: LIMIT }),
        "{error:?}"
    );
    assert_eq!(error.code(), "RESPONSE_TOO_LARGE");
    assert_eq!(error.to_string(), "response body exceeds 1048576 bytes");
    let n_written = tokio::time::timeout(Duration::from_secs(10), writer)
        .await
        .expect("the server stops writing once the client is gone")
        .expect("server task ends");
    assert!(
        n_written < 16 * 1024 * 1024,
        "the server wrote {n_written} bytes: the body was read past the limit"
    );
}

#[tokio::test]
async fn streamed_body_past_the_limit_is_cut_off() {
    check_refused(false).await;
}

#[tokio::test]
async fn declared_length_past_the_limit_is_refused() {
    check_refused(true).await;
}

#[tokio::test]
async fn body_of_exactly_the_limit_is_read() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/", listener.local_addr().expect("address"));
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.expect("accept");
        read_request_head(&mut stream).await;
        let body = vec![b'y'; LIMIT];
        let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
        let _ = stream.write_all(head.as_bytes()).await;
        let _ = stream.write_all(&body).await;
    });
    let outbound = client(OutboundPolicy {
        max_response_bytes: LIMIT,
        ..OutboundPolicy::default()
    });
    let response = outbound
        .send(get(&url))
        .await
        .expect("exactly the limit is fine");
    assert_eq!(response.body.len(), LIMIT);
}
