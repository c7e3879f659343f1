//! `/metrics` in the Prometheus text format: runs by workflow, HTTP requests by route and
//! status, journal append latency.

mod support;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::json;
use support::{order_input, order_workflow, TestApi};
use tower::ServiceExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_runs_requests_and_appends() {
    let api = TestApi::new().await;
    let id = api.active_workflow(order_workflow()).await;
    let done = api
        .post(
            &format!("/api/v1/workflows/{id}/run?wait=30"),
            json!({"input": order_input()}),
        )
        .await;
    assert_eq!(done.body["data"]["status"], "completed", "{}", done.body);
    api.get("/api/v1/runs/run_missing").await;

    // The run's driver counts its end as it exits, which may be just after the reply.
    let ended = format!("duro_runs_ended_total{{workflow=\"{id}\",status=\"completed\"}} 1");
    let mut text = String::new();
    for _ in 0..500 {
        text = scrape(&api).await;
        if text.contains(&ended) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let has = |needle: &str| text.lines().any(|line| line.contains(needle));
    assert!(
        has(&format!("duro_runs_started_total{{workflow=\"{id}\"}} 1")),
        "{text}"
    );
    assert!(
        has(&format!(
            "duro_runs_ended_total{{workflow=\"{id}\",status=\"completed\"}} 1"
        )),
        "{text}"
    );
    assert!(
        has("route=\"/api/v1/workflows/{id}/run\",status=\"200\""),
        "{text}"
    );
    assert!(has("route=\"/api/v1/runs/{id}\",status=\"404\""), "{text}");
    assert!(has("duro_journal_append_seconds"), "{text}");
}

async fn scrape(api: &TestApi) -> String {
    let response = api
        .router
        .clone()
        .oneshot(
            Request::get("/metrics")
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("response");
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    String::from_utf8(bytes.to_vec()).expect("utf-8")
}
