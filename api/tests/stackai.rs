//! StackAI's routes (seed 004) called the way a StackAI client calls them: its paths, its
//! bodies, its plain response models (no envelope; lists as arrays), FastAPI's error shapes
//! (422 `{"detail": [{"loc", "msg", "type"}]}`, `{"detail": "..."}`), UUID ids in both
//! forms, the provider catalog, `/v1/webhooks/{provider}` with a Stripe-signed delivery and
//! Slack's challenge, the deprecated key-in-path routes, test samples, and a polling trigger
//! read by time across a restart.

mod support;

use std::sync::{Arc, Mutex};

use api::{router, ApiConfig, AppState};
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use credentials::keys::Scope;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use support::{order_workflow, Reply, TestApi};

const STRIPE_SECRET: &str = "whsec_test_secret_for_duro";
const SLACK_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";

/// A workflow that takes any input (webhook deliveries are `{body, headers}`).
async fn open_workflow(api: &TestApi) -> String {
    api.active_workflow(
        json!({"name": "any", "steps": [{"id": "t", "type": "transform",
        "config": {"mapping": {"x": "1"}}}]}),
    )
    .await
}

fn hmac_hex(secret: &str, parts: &[&[u8]]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    for part in parts {
        mac.update(part);
    }
    hex::encode(mac.finalize().into_bytes())
}

/// `Stripe-Signature: t=...,v1=HMAC-SHA256(secret, "t.body")`, as Stripe computes it.
fn stripe_signature(secret: &str, body: &[u8]) -> String {
    let t = chrono::Utc::now().timestamp().to_string();
    format!("t={t},v1={}", hmac_hex(secret, &[t.as_bytes(), b".", body]))
}

/// Slack's `X-Slack-Request-Timestamp` and `X-Slack-Signature` for `body`.
fn slack_headers(secret: &str, body: &[u8]) -> Vec<(&'static str, String)> {
    let t = chrono::Utc::now().timestamp().to_string();
    let signature = format!(
        "v0={}",
        hmac_hex(secret, &[b"v0:", t.as_bytes(), b":", body])
    );
    vec![
        ("x-slack-request-timestamp", t),
        ("x-slack-signature", signature),
    ]
}

async fn post_raw(api: &TestApi, path: &str, body: &[u8], headers: &[(&str, String)]) -> Reply {
    let mut request = Request::post(path).header("content-type", "application/json");
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    api.raw(request.body(Body::from(body.to_vec())).expect("request"))
        .await
}

/// The Duro id of a project_trigger_id UUID.
fn duro_id(uuid: &str) -> String {
    format!("trg_{}", uuid.replace('-', ""))
}

fn is_uuid(value: &Value) -> bool {
    value
        .as_str()
        .is_some_and(|s| uuid::Uuid::try_parse(s).is_ok() && s.len() == 36)
}

/// Asserts a FastAPI 422 naming `loc` with `kind`.
fn assert_422(reply: &Reply, loc: Value, kind: &str) {
    assert_eq!(
        reply.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        reply.body
    );
    let details = reply.body["detail"].as_array().expect("detail list");
    assert!(
        details
            .iter()
            .any(|d| d["loc"] == loc && d["type"] == kind && d["msg"].is_string()),
        "{loc} {kind} in {}",
        reply.body
    );
}

/// Asserts FastAPI's `{"detail": "..."}` with `status`.
fn assert_detail(reply: &Reply, status: StatusCode) {
    assert_eq!(reply.status, status, "{}", reply.body);
    assert!(reply.body["detail"].is_string(), "{}", reply.body);
    assert!(reply.body.get("success").is_none(), "{}", reply.body);
}

async fn create(api: &TestApi, project: &str, body: Value) -> Value {
    let created = api
        .post(&format!("/projects/{project}/triggers"), body)
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    created.body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn triggers_are_plain_models_with_uuid_ids_accepted_both_ways() {
    let api = TestApi::new().await;
    let workflow = api.active_workflow(order_workflow()).await;
    let trigger = create(
        &api,
        &workflow,
        json!({"provider_id": "cron", "trigger_id": "daily",
               "trigger_config": {"cron": "0 9 * * *", "timezone": "Europe/London"}}),
    )
    .await;
    assert!(trigger.get("success").is_none(), "no envelope: {trigger}");
    assert_eq!(trigger["status"], "DISABLED");
    assert_eq!(trigger["project_id"], json!(workflow));
    assert_eq!(trigger["provider_id"], "cron");
    assert_eq!(trigger["trigger_id"], "daily");
    assert_eq!(trigger["trigger_config"]["cron"], "0 9 * * *");
    assert_eq!(trigger["connection_id"], Value::Null);
    assert_eq!(trigger["cursor_data"], Value::Null);
    assert!(is_uuid(&trigger["project_trigger_id"]), "{trigger}");
    assert!(is_uuid(&trigger["created_by"]), "{trigger}");
    assert!(is_uuid(&trigger["updated_by"]), "{trigger}");
    // The scheduler's job is on record in webhook_data.
    assert!(
        trigger["webhook_data"]["cron_job_id"].is_string(),
        "{trigger}"
    );
    let uuid = trigger["project_trigger_id"]
        .as_str()
        .expect("id")
        .to_owned();
    let id = duro_id(&uuid);

    // Both forms name it, here and on the canonical route.
    for path in [
        format!("/triggers/{uuid}"),
        format!("/triggers/{id}"),
        format!("/triggers/{}", uuid.to_uppercase()),
    ] {
        let detail = api.get(&path).await;
        assert_eq!(detail.status, StatusCode::OK, "{path}: {}", detail.body);
        assert_eq!(detail.body["project_trigger_id"], json!(uuid));
    }
    let canonical = api.get(&format!("/api/v1/triggers/{id}")).await;
    assert_eq!(canonical.body["data"]["type"], "schedule");
    assert_eq!(canonical.body["data"]["triggerName"], "daily");

    let enabled = api
        .post(&format!("/triggers/{uuid}/enable"), Value::Null)
        .await;
    assert_eq!(enabled.status, StatusCode::OK, "{}", enabled.body);
    assert_eq!(enabled.body["status"], "ENABLED");
    let disabled = api
        .post(&format!("/triggers/{id}/disable"), Value::Null)
        .await;
    assert_eq!(disabled.body["status"], "DISABLED");
    let canonical = api.get(&format!("/api/v1/triggers/{id}")).await;
    assert_eq!(canonical.body["data"]["status"], "disabled");

    // A connection's id is a UUID too: a Duro connection id or its UUID, either way.
    let connection = api
        .post(
            "/api/v1/connections",
            json!({"name": "Stripe", "provider": "stripe", "kind": "bearer",
                   "token": "sk_test_0123456789abcdef"}),
        )
        .await;
    let connection_id = connection.body["data"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let connection_uuid = {
        let hex = connection_id.trim_start_matches("conn_");
        uuid::Uuid::try_parse(hex)
            .expect("hex")
            .hyphenated()
            .to_string()
    };
    for given in [&connection_id, &connection_uuid] {
        let made = create(
            &api,
            &workflow,
            json!({"provider_id": "manual", "trigger_id": "manual", "connection_id": given,
                   "status": "ENABLED"}),
        )
        .await;
        assert_eq!(made["connection_id"], json!(connection_uuid), "{made}");
        assert_eq!(made["status"], "ENABLED");
        let canonical = api
            .get(&format!(
                "/api/v1/triggers/{}",
                duro_id(made["project_trigger_id"].as_str().expect("id"))
            ))
            .await;
        assert_eq!(canonical.body["data"]["connectionId"], json!(connection_id));
    }

    // DELETE: 204, no body; then 404 in FastAPI's shape on every route.
    let deleted = api
        .call(Method::DELETE, &format!("/triggers/{uuid}"), Value::Null)
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.body);
    assert_eq!(deleted.body, Value::Null);
    assert_detail(
        &api.get(&format!("/triggers/{uuid}")).await,
        StatusCode::NOT_FOUND,
    );
    assert_detail(
        &api.post(&format!("/triggers/{uuid}/enable"), Value::Null)
            .await,
        StatusCode::NOT_FOUND,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_are_plain_arrays_and_errors_are_fastapis() {
    let api = TestApi::new().await;
    let first = api.active_workflow(order_workflow()).await;
    let second = open_workflow(&api).await;
    let mut made = Vec::new();
    for (workflow, provider, trigger) in [
        (&first, "manual", "a"),
        (&second, "webhook", "b"),
        (&first, "manual", "c"),
        (&first, "slack", "on_message"),
    ] {
        let body = create(
            &api,
            workflow,
            json!({"provider_id": provider, "trigger_id": trigger}),
        )
        .await;
        made.push(body["project_trigger_id"].as_str().expect("id").to_owned());
    }
    let ids = |reply: &Reply| -> Vec<String> {
        reply
            .body
            .as_array()
            .expect("a plain array")
            .iter()
            .map(|t| t["project_trigger_id"].as_str().expect("id").to_owned())
            .collect()
    };
    let of_first = api.get(&format!("/projects/{first}/triggers")).await;
    assert_eq!(of_first.status, StatusCode::OK, "{}", of_first.body);
    assert_eq!(
        ids(&of_first),
        [made[0].clone(), made[2].clone(), made[3].clone()]
    );
    assert!(of_first.headers.get("x-next-cursor").is_none());
    // Every trigger with its project's name; `limit` pages, the cursor in a header.
    let all = api.get("/triggers").await;
    assert_eq!(ids(&all), made);
    assert_eq!(all.body[0]["project_name"], "Process Customer Order");
    let page = api.get("/triggers?limit=2").await;
    assert_eq!(ids(&page), made[..2]);
    let cursor = page.headers["x-next-cursor"]
        .to_str()
        .expect("cursor")
        .to_owned();
    let rest = api.get(&format!("/triggers?limit=2&cursor={cursor}")).await;
    assert_eq!(ids(&rest), made[2..]);
    assert_422(
        &api.get("/triggers?limit=0").await,
        json!(["query", "limit"]),
        "value_error",
    );
    assert_detail(
        &api.get("/projects/wf_nope/triggers").await,
        StatusCode::NOT_FOUND,
    );

    // Validation errors: 422 with loc and pydantic's types; nothing written.
    let reader = api.key(&[Scope::TriggersRead]).await;
    let position = api.journal_position();
    let path = format!("/projects/{first}/triggers");
    for (body, loc, kind) in [
        (
            json!({"trigger_id": "t"}),
            json!(["body", "provider_id"]),
            "missing",
        ),
        (
            json!({"provider_id": "manual"}),
            json!(["body", "trigger_id"]),
            "missing",
        ),
        (
            json!({"provider_id": 5, "trigger_id": "t"}),
            json!(["body", "provider_id"]),
            "string_type",
        ),
        (
            json!({"provider_id": "manual", "trigger_id": "t", "bogus": 1}),
            json!(["body", "bogus"]),
            "extra_forbidden",
        ),
        (
            json!({"provider_id": "manual", "trigger_id": "t", "status": "ON"}),
            json!(["body", "status"]),
            "enum",
        ),
        (
            json!({"provider_id": "manual", "trigger_id": "t", "trigger_config": [1]}),
            json!(["body", "trigger_config"]),
            "dict_type",
        ),
        (
            json!({"provider_id": "manual", "trigger_id": "t", "connection_id": "not a uuid!"}),
            json!(["body", "connection_id"]),
            "uuid_parsing",
        ),
        (
            json!({"provider_id": "polling", "trigger_id": "t", "trigger_config": {}}),
            json!(["body", "trigger_config", "url"]),
            "missing",
        ),
        (
            json!({"provider_id": "stripe", "trigger_id": "on_nothing"}),
            json!(["body", "trigger_id"]),
            "value_error",
        ),
        (
            json!({"provider_id": "carrier-pigeon", "trigger_id": "t"}),
            json!(["body", "provider_id"]),
            "value_error",
        ),
        (
            json!({"provider_id": "stripe", "trigger_id": "on_customer_created",
                "trigger_config": {"signing_secret": 5}}),
            json!(["body", "trigger_config", "signing_secret"]),
            "value_error",
        ),
    ] {
        let reply = api.post(&path, body.clone()).await;
        assert_422(&reply, loc, kind);
    }
    let malformed = Request::post(&path)
        .header("x-api-key", &api.admin)
        .body(Body::from("{not json"))
        .expect("request");
    let malformed = api.raw(malformed).await;
    assert_eq!(malformed.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(malformed.body["detail"][0]["type"], "json_invalid");
    assert_422(
        &api.get("/triggers/trg_missing").await,
        json!(["path", "project_trigger_id"]),
        "uuid_parsing",
    );
    assert_detail(
        &api.get("/triggers/01900000-0000-7000-8000-000000000000")
            .await,
        StatusCode::NOT_FOUND,
    );
    // Keys and scopes, in FastAPI's shape too.
    assert_detail(
        &api.call_as("", Method::GET, "/triggers", Value::Null).await,
        StatusCode::UNAUTHORIZED,
    );
    let forbidden = api
        .call_as(
            &reader,
            Method::POST,
            &path,
            json!({"provider_id": "manual", "trigger_id": "t"}),
        )
        .await;
    assert_detail(&forbidden, StatusCode::FORBIDDEN);
    assert!(forbidden.body["detail"]
        .as_str()
        .is_some_and(|d| d.contains("triggers:write")));
    assert_eq!(
        api.journal_position(),
        position,
        "refused requests write nothing"
    );
    // The canonical routes keep their envelope.
    let canonical = api.get("/api/v1/triggers/trg_missing").await;
    assert_eq!(canonical.body["success"], false, "{}", canonical.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_provider_catalog_serves_provider_and_generic_triggers() {
    let api = TestApi::new().await;
    for (provider, trigger, scheme) in [
        ("stripe", "on_customer_created", "stripe"),
        ("github", "on_push", "github"),
        ("slack", "on_message", "slack"),
        ("typeform", "on_form_response", "typeform"),
    ] {
        let list = api.get(&format!("/providers/{provider}/triggers")).await;
        assert_eq!(list.status, StatusCode::OK, "{}", list.body);
        let items = list.body.as_array().expect("a plain array");
        let entry = items
            .iter()
            .find(|t| t["trigger_id"] == trigger)
            .unwrap_or_else(|| panic!("{provider} lists {trigger}: {}", list.body));
        assert_eq!(entry["provider_id"], provider);
        assert_eq!(entry["trigger_type"], "webhook");
        assert_eq!(entry["signature_scheme"], scheme);
        assert_eq!(entry["version"], "1.0.0");
        for field in ["trigger_name", "description", "icon"] {
            assert!(entry[field].is_string(), "{field}: {entry}");
        }
        assert!(entry["tags"].is_array());
        assert!(entry["webhook_requires_verification"].is_boolean());
        assert_eq!(entry["can_get_test_samples"], true);
        let one = api
            .get(&format!("/providers/{provider}/triggers/{trigger}"))
            .await;
        assert_eq!(one.status, StatusCode::OK, "{}", one.body);
        assert_eq!(&one.body, entry);
    }
    let slack = api.get("/providers/slack/triggers/on_message").await;
    assert_eq!(slack.body["webhook_requires_verification"], true);
    assert_eq!(slack.body["events"], json!(["message"]));
    for kind in ["schedule", "webhook", "polling", "manual"] {
        let list = api.get(&format!("/providers/{kind}/triggers")).await;
        assert_eq!(list.body[0]["trigger_id"], kind, "{}", list.body);
        assert!(list.body[0]["trigger_config_schema"].is_object());
    }
    assert_detail(
        &api.get("/providers/nope/triggers").await,
        StatusCode::NOT_FOUND,
    );
    assert_detail(
        &api.get("/providers/stripe/triggers/on_nothing").await,
        StatusCode::NOT_FOUND,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stripe_signed_delivery_to_v1_webhooks_stripe_starts_exactly_one_run() {
    let api = TestApi::new().await;
    let workflow = open_workflow(&api).await;
    let trigger = create(
        &api,
        &workflow,
        json!({"provider_id": "stripe", "trigger_id": "on_customer_created",
               "trigger_config": {"signing_secret": STRIPE_SECRET}, "status": "ENABLED"}),
    )
    .await;
    assert_eq!(trigger["trigger_config"]["signature"]["scheme"], "stripe");
    assert_eq!(trigger["trigger_config"]["signature"]["secret"], "********");
    assert!(!trigger.to_string().contains(STRIPE_SECRET));
    let uuid = trigger["project_trigger_id"]
        .as_str()
        .expect("id")
        .to_owned();
    // Another Stripe trigger, for another event, and one with another secret.
    create(
        &api,
        &workflow,
        json!({"provider_id": "stripe", "trigger_id": "on_invoice_paid",
               "trigger_config": {"signing_secret": STRIPE_SECRET}, "status": "ENABLED"}),
    )
    .await;
    let other_account = create(
        &api,
        &workflow,
        json!({"provider_id": "stripe", "trigger_id": "on_customer_created",
               "trigger_config": {"signing_secret": "whsec_someone_else"}, "status": "ENABLED"}),
    )
    .await;

    let event = json!({"id": "evt_1NG8Du2eZvKYlo2CUI79vXWy", "object": "event",
                       "type": "customer.created",
                       "data": {"object": {"id": "cus_NffrFeUfNV2Hib", "object": "customer"}}})
    .to_string();
    let signature = stripe_signature(STRIPE_SECRET, event.as_bytes());
    let first = post_raw(
        &api,
        "/v1/webhooks/stripe",
        event.as_bytes(),
        &[("stripe-signature", signature.clone())],
    )
    .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    let runs = first.body["runs"].as_array().expect("runs");
    assert_eq!(
        runs.len(),
        1,
        "only the trigger of this event and secret: {}",
        first.body
    );
    assert_eq!(runs[0]["project_trigger_id"], json!(uuid));
    assert_eq!(runs[0]["duplicate"], false);
    let run_id = runs[0]["run_id"].as_str().expect("run").to_owned();
    let run = api
        .state
        .runs
        .wait_for_end(&run_id, std::time::Duration::from_secs(30))
        .await
        .expect("run");
    assert_eq!(
        run.input["body"]["data"]["object"]["id"],
        "cus_NffrFeUfNV2Hib"
    );

    // Stripe's retry of the same event starts nothing new.
    let again = post_raw(
        &api,
        "/v1/webhooks/stripe",
        event.as_bytes(),
        &[(
            "stripe-signature",
            stripe_signature(STRIPE_SECRET, event.as_bytes()),
        )],
    )
    .await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert_eq!(again.body["runs"][0]["run_id"], json!(run_id));
    assert_eq!(again.body["runs"][0]["duplicate"], true);
    let api_ref = &api;
    let fired = |id: &str| {
        let path = format!("/api/v1/triggers/{}", duro_id(id));
        async move { api_ref.get(&path).await.body["data"]["fired"].clone() }
    };
    assert_eq!(fired(&uuid).await, 1);
    assert_eq!(
        fired(other_account["project_trigger_id"].as_str().expect("id")).await,
        0,
        "another secret does not verify"
    );

    // A forged signature is 401; an event no trigger takes is 200 with no runs.
    let forged = post_raw(
        &api,
        "/v1/webhooks/stripe",
        event.as_bytes(),
        &[(
            "stripe-signature",
            stripe_signature("whsec_forged", event.as_bytes()),
        )],
    )
    .await;
    assert_detail(&forged, StatusCode::UNAUTHORIZED);
    let refund = json!({"id": "evt_2", "type": "charge.refunded"}).to_string();
    let ignored = post_raw(
        &api,
        "/v1/webhooks/stripe",
        refund.as_bytes(),
        &[(
            "stripe-signature",
            stripe_signature(STRIPE_SECRET, refund.as_bytes()),
        )],
    )
    .await;
    assert_eq!(ignored.status, StatusCode::OK, "{}", ignored.body);
    assert_eq!(ignored.body["runs"], json!([]));
    assert_eq!(fired(&uuid).await, 1);

    // The trigger's own UUID is a webhook id too (the seed: "or a project trigger UUID").
    let event2 = json!({"id": "evt_3", "type": "customer.created"}).to_string();
    let by_uuid = post_raw(
        &api,
        &format!("/v1/webhooks/{uuid}"),
        event2.as_bytes(),
        &[(
            "stripe-signature",
            stripe_signature(STRIPE_SECRET, event2.as_bytes()),
        )],
    )
    .await;
    assert_eq!(by_uuid.status, StatusCode::OK, "{}", by_uuid.body);
    assert_eq!(by_uuid.body["runs"][0]["project_trigger_id"], json!(uuid));
    assert_eq!(fired(&uuid).await, 2);
    assert_detail(
        &post_raw(&api, "/v1/webhooks/carrier-pigeon", b"{}", &[]).await,
        StatusCode::NOT_FOUND,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slacks_challenge_and_events_through_v1_webhooks_slack() {
    let api = TestApi::new().await;
    let workflow = open_workflow(&api).await;
    let trigger = create(
        &api,
        &workflow,
        json!({"provider_id": "slack", "trigger_id": "on_message", "status": "ENABLED",
               "trigger_config": {"signing_secret": SLACK_SECRET, "team_id": "T0001"}}),
    )
    .await;
    let challenge = json!({"token": "Jhj5dZrVaK7ZwHHjRyZWjbDl",
        "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
        "type": "url_verification"})
    .to_string();
    let answer = post_raw(
        &api,
        "/v1/webhooks/slack",
        challenge.as_bytes(),
        &slack_headers(SLACK_SECRET, challenge.as_bytes()),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(
        answer.body,
        json!({"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"})
    );
    let unsigned = post_raw(&api, "/v1/webhooks/slack", challenge.as_bytes(), &[]).await;
    assert_detail(&unsigned, StatusCode::UNAUTHORIZED);

    let message = |team: &str, event_id: &str| {
        json!({"type": "event_callback", "team_id": team, "event_id": event_id,
               "event": {"type": "message", "channel": "C1", "text": "hello"}})
        .to_string()
    };
    let ours = message("T0001", "Ev01");
    let delivered = post_raw(
        &api,
        "/v1/webhooks/slack",
        ours.as_bytes(),
        &slack_headers(SLACK_SECRET, ours.as_bytes()),
    )
    .await;
    assert_eq!(
        delivered.body["runs"].as_array().map(Vec::len),
        Some(1),
        "{}",
        delivered.body
    );
    assert_eq!(
        delivered.body["runs"][0]["project_trigger_id"],
        trigger["project_trigger_id"]
    );
    let other_team = message("T0002", "Ev02");
    let elsewhere = post_raw(
        &api,
        "/v1/webhooks/slack",
        other_team.as_bytes(),
        &slack_headers(SLACK_SECRET, other_team.as_bytes()),
    )
    .await;
    assert_eq!(elsewhere.body["runs"], json!([]), "{}", elsewhere.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deprecated_key_routes_and_test_samples_work_as_the_seed_lists_them() {
    let api = TestApi::new().await;
    let workflow = open_workflow(&api).await;
    let hook = create(
        &api,
        &workflow,
        json!({"provider_id": "webhook", "trigger_id": "inbound", "status": "ENABLED"}),
    )
    .await;
    let uuid = hook["project_trigger_id"].as_str().expect("id").to_owned();
    let executor = api.key(&[Scope::WorkflowsExecute]).await;
    let path = format!("/organizations/org_1/triggers/{uuid}/webhook/key/{executor}");
    let delivered = post_raw(
        &api,
        &format!("{path}?provider_id=webhook&trigger_id=inbound"),
        br#"{"order": 42}"#,
        &[("x-delivery-id", "d-1".to_owned())],
    )
    .await;
    assert_eq!(
        delivered.status,
        StatusCode::NO_CONTENT,
        "{}",
        delivered.body
    );
    let run_id = delivered.headers["x-run-id"]
        .to_str()
        .expect("run")
        .to_owned();
    assert!(!run_id.is_empty());
    let again = post_raw(
        &api,
        &path,
        br#"{"order": 42}"#,
        &[("x-delivery-id", "d-1".to_owned())],
    )
    .await;
    assert_eq!(
        again.headers["x-run-id"].to_str().ok(),
        Some(run_id.as_str()),
        "deduplicated"
    );
    assert_detail(
        &post_raw(
            &api,
            &format!("/organizations/org_1/triggers/{uuid}/webhook/key/nope"),
            b"{}",
            &[],
        )
        .await,
        StatusCode::UNAUTHORIZED,
    );
    let reader = api.key(&[Scope::TriggersRead]).await;
    assert_detail(
        &post_raw(
            &api,
            &format!("/organizations/org_1/triggers/{uuid}/webhook/key/{reader}"),
            b"{}",
            &[],
        )
        .await,
        StatusCode::FORBIDDEN,
    );
    assert_422(
        &post_raw(&api, &format!("{path}?provider_id=stripe"), b"{}", &[]).await,
        json!(["query", "provider_id"]),
        "value_error",
    );
    // A schedule run now, through the scheduled route; the webhook route refuses it.
    let schedule = create(
        &api,
        &workflow,
        json!({"provider_id": "scheduled", "trigger_id": "nightly", "status": "ENABLED",
               "trigger_config": {"cron": "0 3 * * *"}}),
    )
    .await;
    let schedule_uuid = schedule["project_trigger_id"].as_str().expect("id");
    let fired = post_raw(
        &api,
        &format!("/organizations/org_1/triggers/{schedule_uuid}/scheduled/key/{executor}"),
        b"",
        &[],
    )
    .await;
    assert_eq!(fired.status, StatusCode::NO_CONTENT, "{}", fired.body);
    assert!(fired.headers.contains_key("x-run-id"));
    assert_detail(
        &post_raw(
            &api,
            &format!("/organizations/org_1/triggers/{schedule_uuid}/webhook/key/{executor}"),
            b"{}",
            &[],
        )
        .await,
        StatusCode::BAD_REQUEST,
    );

    // Test samples: an object (the seed: "Other properties: any") holding the payloads.
    let samples = api
        .get(&format!("/api/v0/project-triggers/{uuid}/test-samples"))
        .await;
    assert_eq!(samples.status, StatusCode::OK, "{}", samples.body);
    assert_eq!(samples.body["project_trigger_id"], json!(uuid));
    assert_eq!(samples.body["provider_id"], "webhook");
    let items = samples.body["samples"].as_array().expect("samples");
    assert_eq!(items.len(), 1, "{}", samples.body);
    assert_eq!(items[0]["data"]["body"], json!({"order": 42}));
    assert!(items[0]["received_at"].is_string());
    assert_422(
        &api.get("/api/v0/project-triggers/nope/test-samples").await,
        json!(["path", "project_trigger_id"]),
        "uuid_parsing",
    );
}

/// The same journal under a new server: fresh caches, runner and cursor, as after a restart.
async fn restarted(api: &TestApi) -> TestApi {
    let store = api.store.clone();
    let read_models = readmodels::ReadModels::temporary(store.clone()).expect("read models");
    let state = AppState::new(
        store.clone(),
        Arc::new(engine::executor::SystemClock),
        ApiConfig::default(),
        read_models,
        credentials::connections::SecretKey::generate(),
    );
    TestApi {
        router: router(state.clone()),
        state,
        store,
        admin: api.admin.clone(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_polling_trigger_read_by_time_resumes_its_cursor_after_a_restart() {
    use axum::routing::get;
    let feed: Arc<Mutex<Value>> = Arc::new(Mutex::new(json!({"events": [
        {"id": "e1", "created": "2025-03-02 10:30:08"},
        {"id": "e2", "created": "2025-03-02 10:30:09"},
    ]})));
    let served = feed.clone();
    let app = axum::Router::new().route(
        "/events",
        get(move || {
            let served = served.clone();
            async move { axum::Json(served.lock().expect("lock").clone()) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await });

    let api = TestApi::new().await;
    let workflow = open_workflow(&api).await;
    let trigger = create(
        &api,
        &workflow,
        json!({"provider_id": "polling", "trigger_id": "new_events", "status": "ENABLED",
               "trigger_config": {"url": format!("http://{address}/events"),
                                  "itemsPointer": "/events", "timestampField": "created",
                                  "polling_frequency": "10000"}}),
    )
    .await;
    assert_eq!(trigger["trigger_config"]["polling_frequency"], "10000");
    assert!(trigger["webhook_data"]["cron_job_id"].is_string());
    let uuid = trigger["project_trigger_id"]
        .as_str()
        .expect("id")
        .to_owned();
    // The outside scheduler's call (deprecated route): one poll now, both items.
    let poll = |api: &TestApi| {
        let path = format!(
            "/organizations/org/triggers/{uuid}/polling/key/{}",
            api.admin
        );
        let router = api.router.clone();
        async move {
            let request = Request::post(path).body(Body::empty()).expect("request");
            let response = tower::ServiceExt::oneshot(router, request)
                .await
                .expect("response");
            assert_eq!(response.status(), StatusCode::NO_CONTENT);
            response.headers()["x-runs-started"]
                .to_str()
                .expect("count")
                .to_owned()
        }
    };
    assert_eq!(poll(&api).await, "2");
    let detail = api.get(&format!("/triggers/{uuid}")).await;
    assert_eq!(
        detail.body["cursor_data"],
        json!({"last_processed_event_timestamp": "2025-03-02 10:30:09", "seen": ["e2"]})
    );
    assert_eq!(poll(&api).await, "0", "nothing newer");

    // Restart; the feed now holds an older new item, the old ones, and one newer.
    let api = restarted(&api).await;
    *feed.lock().expect("lock") = json!({"events": [
        {"id": "e0", "created": "2025-03-02 09:00:00"},
        {"id": "e1", "created": "2025-03-02 10:30:08"},
        {"id": "e2", "created": "2025-03-02 10:30:09"},
        {"id": "e3", "created": "2025-03-02T10:31:00Z"},
    ]});
    assert_eq!(poll(&api).await, "1", "only the newer item");
    let detail = api.get(&format!("/triggers/{uuid}")).await;
    assert_eq!(
        detail.body["cursor_data"],
        json!({"last_processed_event_timestamp": "2025-03-02T10:31:00Z", "seen": ["e3"]})
    );
    let history = api
        .state
        .triggers
        .history(&duro_id(&uuid))
        .await
        .expect("history");
    let keys: Vec<String> = history
        .iter()
        .filter_map(|(_, event)| match event {
            triggers::instances::TriggerEvent::TriggerFired {
                idempotency_key, ..
            } => idempotency_key.clone(),
            _ => None,
        })
        .collect();
    let id = duro_id(&uuid);
    assert_eq!(
        keys,
        [format!("{id}:e1"), format!("{id}:e2"), format!("{id}:e3")]
    );
}
