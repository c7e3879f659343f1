//! Webhook deliveries through the router: signed (GitHub scheme) and unsigned triggers, bad
//! signatures refused with an event and no run, duplicate deliveries deduplicated, disabled
//! triggers firing nothing, oversize bodies, samples.

mod support;

use api::ApiConfig;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use hmac::{Hmac, Mac};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use sha2::Sha256;
use support::{assert_error, TestApi};
use tower::ServiceExt;

const SECRET: &str = "It's a Secret to Everybody";

fn github_signature(body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).expect("key");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

async fn echo_workflow(api: &TestApi) -> String {
    api.active_workflow(json!({
        "name": "On push",
        "steps": [{"id": "seen", "type": "transform", "config": {"mapping": {
            "ref": "{{input.body.ref}}", "event": "{{input.headers.x-github-event}}"
        }}}]
    }))
    .await
}

async fn hook(api: &TestApi, workflow: &str, config: Value) -> (String, String) {
    let created = api
        .call(
            Method::PUT,
            "/api/v1/triggers/push-hook",
            json!({"type": "webhook", "workflowId": workflow, "config": config}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    (
        created.body["data"]["id"].as_str().expect("id").to_owned(),
        created.body["data"]["webhookId"]
            .as_str()
            .expect("webhookId")
            .to_owned(),
    )
}

async fn deliver(
    api: &TestApi,
    path: &str,
    body: &[u8],
    headers: &[(&str, String)],
) -> support::Reply {
    let mut request = Request::post(path);
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    api.raw(request.body(Body::from(body.to_vec())).expect("request"))
        .await
}

async fn history_types(api: &TestApi, trigger: &str) -> Vec<String> {
    api.state
        .triggers
        .history(trigger)
        .await
        .expect("history")
        .into_iter()
        .map(|(_, event)| {
            format!("{event:?}")
                .split([' ', '{'])
                .next()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_deliveries_run_once_and_bad_signatures_are_refused() {
    let api = TestApi::new().await;
    let workflow = echo_workflow(&api).await;
    let (trigger, webhook) = hook(
        &api,
        &workflow,
        json!({"signature": {"scheme": "github", "secret": SECRET}}),
    )
    .await;
    let body = br#"{"ref": "refs/heads/main"}"#;
    let headers = vec![
        ("x-hub-signature-256", github_signature(body)),
        (
            "x-github-delivery",
            "72d3162e-cc78-11e3-81ab-4c9367dc0958".to_owned(),
        ),
        ("x-github-event", "push".to_owned()),
    ];
    // StackAI's path reaches the same trigger, answering StackAI's plain shape.
    let accepted = deliver(&api, &format!("/v1/webhooks/{webhook}"), body, &headers).await;
    assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.body);
    assert_eq!(
        accepted.body["runs"][0]["duplicate"], false,
        "{}",
        accepted.body
    );
    let run_id = accepted.body["runs"][0]["run_id"]
        .as_str()
        .expect("run_id")
        .to_owned();
    let run = api
        .state
        .runs
        .wait_for_end(&run_id, std::time::Duration::from_secs(30))
        .await
        .expect("run");
    assert_eq!(
        run.output,
        Some(json!({"ref": "refs/heads/main", "event": "push"}))
    );
    assert!(
        run.input["headers"].get("x-hub-signature-256").is_none(),
        "signatures are not input"
    );

    // The same delivery again: the same run, no second run.
    let again = deliver(&api, &format!("/api/v1/webhooks/{webhook}"), body, &headers).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert_eq!(again.body["data"]["runId"], json!(run_id));
    assert_eq!(again.body["data"]["duplicate"], true);

    // A changed body with the old signature: 401, an event, no run.
    let position = api.journal_position();
    let forged = deliver(
        &api,
        &format!("/api/v1/webhooks/{webhook}"),
        br#"{"ref": "x"}"#,
        &headers,
    )
    .await;
    let error = assert_error(&forged, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.contains("does not match")),
        "{error}"
    );
    let unsigned = deliver(
        &api,
        &format!("/api/v1/webhooks/{webhook}"),
        body,
        &headers[1..],
    )
    .await;
    assert_error(&unsigned, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    assert!(api.journal_position() > position, "rejections are recorded");
    assert_eq!(
        history_types(&api, &trigger).await,
        [
            "TriggerUpserted",
            "TriggerFired",
            "TriggerSkipped",
            "TriggerRejected",
            "TriggerRejected"
        ]
    );
    let runs = api
        .get(&format!("/api/v1/runs?workflowId={workflow}"))
        .await;
    assert_eq!(
        runs.body["data"].as_array().map(Vec::len),
        Some(1),
        "one run in all"
    );

    let samples = api
        .get(&format!("/api/v1/triggers/{trigger}/samples"))
        .await;
    assert_eq!(samples.status, StatusCode::OK, "{}", samples.body);
    assert_eq!(
        samples.body["data"][0]["payload"]["body"]["ref"],
        "refs/heads/main"
    );
    // StackAI's route: the same samples in the seed's object shape (tests/stackai.rs).
    let stackai = api
        .get(&format!("/api/v0/project-triggers/{trigger}/test-samples"))
        .await;
    assert_eq!(stackai.status, StatusCode::OK, "{}", stackai.body);
    assert_eq!(
        stackai.body["samples"][0]["data"],
        samples.body["data"][0]["payload"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_disabled_and_oversize_deliveries_start_nothing() {
    let api = TestApi::with_config(ApiConfig {
        max_body_bytes: 2048,
        ..ApiConfig::default()
    })
    .await;
    let workflow = echo_workflow(&api).await;
    let (trigger, webhook) = hook(&api, &workflow, json!({})).await;
    let unknown = deliver(
        &api,
        &format!("/api/v1/webhooks/{}", "0".repeat(64)),
        b"{}",
        &[],
    )
    .await;
    assert_error(&unknown, StatusCode::NOT_FOUND, "NOT_FOUND");
    let huge = vec![b'x'; 4096];
    let oversize = deliver(&api, &format!("/api/v1/webhooks/{webhook}"), &huge, &[]).await;
    assert_error(
        &oversize,
        StatusCode::PAYLOAD_TOO_LARGE,
        "PAYLOAD_TOO_LARGE",
    );
    // Unsigned: accepted without a key, text bodies kept as raw.
    let plain = deliver(&api, &format!("/api/v1/webhooks/{webhook}"), b"hello", &[]).await;
    assert_eq!(plain.status, StatusCode::ACCEPTED, "{}", plain.body);
    api.patch(
        &format!("/api/v1/triggers/{trigger}/status"),
        json!({"status": "disabled"}),
    )
    .await;
    let disabled = deliver(&api, &format!("/api/v1/webhooks/{webhook}"), b"{}", &[]).await;
    assert_error(&disabled, StatusCode::BAD_REQUEST, "INVALID_STATUS");
    let runs = api
        .get(&format!("/api/v1/runs?workflowId={workflow}"))
        .await;
    assert_eq!(runs.body["data"].as_array().map(Vec::len), Some(1));
    let bad_config = api
        .call(
            Method::PUT,
            "/api/v1/triggers/bad-hook",
            json!({"type": "webhook", "workflowId": workflow,
                   "config": {"signature": {"scheme": "standard", "secret": "whsec_not base64!"}}}),
        )
        .await;
    let error = assert_error(&bad_config, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    assert_eq!(error["details"][0]["path"], json!(["config", "signature"]));
}

fn slack_signature(timestamp: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).expect("key");
    mac.update(format!("v0:{timestamp}:").as_bytes());
    mac.update(body);
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn url_checks_of_slack_and_microsoft_graph_are_answered_without_a_run() {
    let api = TestApi::new().await;
    let workflow = echo_workflow(&api).await;
    let (trigger, webhook) = hook(
        &api,
        &workflow,
        json!({"signature": {"scheme": "slack", "secret": SECRET}}),
    )
    .await;
    // Slack's url_verification, signed as Slack signs it, on StackAI's path and ours.
    let body =
        json!({"token": "t", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
                      "type": "url_verification"})
        .to_string();
    let timestamp = chrono::Utc::now().timestamp().to_string();
    for path in [
        format!("/v1/webhooks/{webhook}"),
        format!("/api/v1/webhooks/{webhook}"),
    ] {
        let answer = deliver(
            &api,
            &path,
            body.as_bytes(),
            &[
                ("content-type", "application/json".to_owned()),
                ("x-slack-request-timestamp", timestamp.clone()),
                (
                    "x-slack-signature",
                    slack_signature(&timestamp, body.as_bytes()),
                ),
            ],
        )
        .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        assert_eq!(
            answer.body["challenge"],
            "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
        );
    }
    // Unsigned, the challenge is refused like any unsigned delivery.
    let unsigned = deliver(
        &api,
        &format!("/v1/webhooks/{webhook}"),
        body.as_bytes(),
        &[],
    )
    .await;
    assert_eq!(
        unsigned.status,
        StatusCode::UNAUTHORIZED,
        "{}",
        unsigned.body
    );
    // Microsoft Graph's subscription check: the token echoed as text.
    let graph = api
        .router
        .clone()
        .oneshot(
            Request::post(format!(
                "/v1/webhooks/{webhook}?validationToken=Validation%3A%20Testing"
            ))
            .body(Body::empty())
            .expect("request"),
        )
        .await
        .expect("response");
    assert_eq!(graph.status(), StatusCode::OK);
    assert!(graph.headers()["content-type"]
        .to_str()
        .is_ok_and(|t| t.starts_with("text/plain")));
    let text = graph.into_body().collect().await.expect("body").to_bytes();
    assert_eq!(&text[..], b"Validation: Testing");
    let runs = api
        .get(&format!("/api/v1/runs?workflowId={workflow}"))
        .await;
    assert_eq!(
        runs.body["data"],
        json!([]),
        "no run started: {}",
        runs.body
    );
    assert!(!history_types(&api, &trigger)
        .await
        .iter()
        .any(|t| t == "TriggerFired"));
}
