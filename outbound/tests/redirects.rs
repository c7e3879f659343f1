//! Redirects followed by the client itself: the hop limit, method changes, and credentials
//! kept within an origin and dropped outside it.

mod support;

use outbound::{OutboundError, OutboundPolicy, OutboundRequest};
use support::{body_text, client, get, serve, test_router};

fn with_authorization(mut request: OutboundRequest) -> OutboundRequest {
    request.headers = vec![
        ("Authorization".to_string(), "Bearer secret".to_string()),
        ("Cookie".to_string(), "session=1".to_string()),
    ];
    request
}

#[tokio::test]
async fn five_hops_are_followed() {
    let server = serve(test_router()).await;
    let outbound = client(OutboundPolicy::default());
    let response = outbound
        .send(get(&format!("http://{server}/hops/5")))
        .await
        .expect("five hops are within the limit");
    assert_eq!(response.status, 200);
    assert_eq!(body_text(&response), "arrived");
    assert_eq!(response.url, format!("http://{server}/hops/0"));
}

#[tokio::test]
async fn six_hops_are_too_many() {
    let server = serve(test_router()).await;
    let outbound = client(OutboundPolicy::default());
    let error = outbound
        .send(get(&format!("http://{server}/hops/6")))
        .await
        .expect_err("six hops exceed the limit");
    assert!(
        matches!(error, OutboundError::TooManyRedirects { limit: 5 }),
        "{error:?}"
    );
    assert_eq!(error.code(), "TOO_MANY_REDIRECTS");
}

#[tokio::test]
async fn see_other_after_post_becomes_get_without_body() {
    let server = serve(test_router()).await;
    let outbound = client(OutboundPolicy::default());
    let mut request = get(&format!("http://{server}/redirect/303"));
    request.method = "POST".to_string();
    request.headers = vec![("Content-Type".to_string(), "text/plain".to_string())];
    request.body = Some(b"payload".to_vec());
    let response = outbound.send(request).await.expect("redirect followed");
    assert_eq!(
        body_text(&response),
        "method=GET\nauthorization=-\ncookie=-\ncontent-type=-\nbody=\n"
    );
}

#[tokio::test]
async fn temporary_redirect_repeats_post_with_body() {
    let server = serve(test_router()).await;
    let outbound = client(OutboundPolicy::default());
    let mut request = get(&format!("http://{server}/redirect/307"));
    request.method = "POST".to_string();
    request.body = Some(b"payload".to_vec());
    let response = outbound.send(request).await.expect("redirect followed");
    let text = body_text(&response);
    assert!(text.starts_with("method=POST\n"), "{text}");
    assert!(text.ends_with("body=payload\n"), "{text}");
}

#[tokio::test]
async fn credentials_kept_on_same_origin() {
    let server = serve(test_router()).await;
    let outbound = client(OutboundPolicy::default());
    let request = with_authorization(get(&format!("http://{server}/redirect/302")));
    let response = outbound.send(request).await.expect("redirect followed");
    let text = body_text(&response);
    assert!(text.contains("authorization=Bearer secret\n"), "{text}");
    assert!(text.contains("cookie=session=1\n"), "{text}");
}

#[tokio::test]
async fn credentials_dropped_on_cross_origin_hop() {
    let first = serve(test_router()).await;
    let second = serve(test_router()).await;
    let outbound = client(OutboundPolicy::default());
    let url = format!("http://{first}/redirect/302?to=http://{second}/echo");
    let response = outbound
        .send(with_authorization(get(&url)))
        .await
        .expect("redirect followed");
    assert_eq!(response.url, format!("http://{second}/echo"));
    let text = body_text(&response);
    assert!(text.contains("authorization=-\n"), "{text}");
    assert!(text.contains("cookie=-\n"), "{text}");
}
