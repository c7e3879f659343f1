//! StackAI's project triggers (seed 004) through the router: created DISABLED, enable and
//! disable, the same resource as `/api/v1/triggers/{id}`, provider webhooks delivered at
//! `/v1/webhooks/{webhook_id}` only when enabled, the provider catalog, listings, delete,
//! keys and scopes, bad bodies.

mod support;

use api::keys::Scope;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::{json, Value};
use support::{assert_error, order_workflow, TestApi};

/// A workflow that takes any input (webhook deliveries are `{body, headers}`).
async fn open_workflow(api: &TestApi) -> String {
    api.active_workflow(
        json!({"name": "any", "steps": [{"id": "t", "type": "transform",
        "config": {"mapping": {"x": "1"}}}]}),
    )
    .await
}

fn ids(reply: &support::Reply) -> Vec<String> {
    reply.body["data"]
        .as_array()
        .expect("items")
        .iter()
        .map(|t| t["project_trigger_id"].as_str().expect("id").to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_trigger_starts_disabled_and_enable_disable_flip_it() {
    let api = TestApi::new().await;
    let workflow = api.active_workflow(order_workflow()).await;
    let created = api
        .post(
            &format!("/projects/{workflow}/triggers"),
            json!({"provider_id": "cron", "trigger_id": "daily",
                   "trigger_config": {"cron": "0 9 * * *", "timezone": "Europe/London"}}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["success"], true);
    let data = &created.body["data"];
    assert_eq!(data["status"], "DISABLED");
    assert_eq!(data["project_id"], json!(workflow));
    assert_eq!(data["provider_id"], "cron");
    assert_eq!(data["trigger_id"], "daily");
    assert_eq!(data["trigger_config"]["cron"], "0 9 * * *");
    assert_eq!(data["webhook_data"], Value::Null);
    assert_eq!(data["connection_id"], Value::Null);
    for field in ["created_by", "updated_by", "created_at", "updated_at"] {
        assert!(data[field].is_string(), "{field}: {data}");
    }
    assert!(data.get("cursor_data").is_some(), "{data}");
    let id = data["project_trigger_id"].as_str().expect("id").to_owned();

    // The same resource on the canonical route: a schedule trigger, disabled.
    let canonical = api.get(&format!("/api/v1/triggers/{id}")).await;
    assert_eq!(canonical.status, StatusCode::OK, "{}", canonical.body);
    assert_eq!(canonical.body["data"]["type"], "schedule");
    assert_eq!(canonical.body["data"]["status"], "disabled");
    assert_eq!(canonical.body["data"]["providerId"], "cron");
    assert_eq!(canonical.body["data"]["triggerName"], "daily");

    let enabled = api
        .post(&format!("/triggers/{id}/enable"), Value::Null)
        .await;
    assert_eq!(enabled.status, StatusCode::OK, "{}", enabled.body);
    assert_eq!(enabled.body["data"]["status"], "ENABLED");
    let canonical = api.get(&format!("/api/v1/triggers/{id}")).await;
    assert_eq!(canonical.body["data"]["status"], "enabled");
    let detail = api.get(&format!("/triggers/{id}")).await;
    assert_eq!(detail.body["data"]["status"], "ENABLED");

    let disabled = api
        .post(&format!("/triggers/{id}/disable"), Value::Null)
        .await;
    assert_eq!(disabled.body["data"]["status"], "DISABLED");
    let canonical = api.get(&format!("/api/v1/triggers/{id}")).await;
    assert_eq!(canonical.body["data"]["status"], "disabled");

    // A canonical change shows on StackAI's route too.
    api.patch(
        &format!("/api/v1/triggers/{id}/status"),
        json!({"status": "enabled"}),
    )
    .await;
    let detail = api.get(&format!("/triggers/{id}")).await;
    assert_eq!(detail.body["data"]["status"], "ENABLED");

    // status ENABLED at creation.
    let on = api
        .post(
            &format!("/projects/{workflow}/triggers"),
            json!({"provider_id": "manual", "trigger_id": "manual", "status": "ENABLED"}),
        )
        .await;
    assert_eq!(on.status, StatusCode::CREATED, "{}", on.body);
    assert_eq!(on.body["data"]["status"], "ENABLED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_trigger_is_a_webhook_that_runs_only_when_enabled() {
    let api = TestApi::new().await;
    let workflow = open_workflow(&api).await;
    let created = api
        .post(
            &format!("/projects/{workflow}/triggers"),
            json!({"provider_id": "stripe", "trigger_id": "on_customer_created",
                   "connection_id": "conn_stripe",
                   "webhook_data": {"webhook_tag": "stackai-webhook"}}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let data = &created.body["data"];
    assert_eq!(data["provider_id"], "stripe");
    assert_eq!(data["trigger_id"], "on_customer_created");
    assert_eq!(data["connection_id"], "conn_stripe");
    assert_eq!(data["status"], "DISABLED");
    assert_eq!(data["webhook_data"]["webhook_tag"], "stackai-webhook");
    let webhook_id = data["webhook_data"]["webhook_id"]
        .as_str()
        .expect("webhook_id")
        .to_owned();
    assert_eq!(webhook_id.len(), 64);
    assert!(data["webhook_data"]["webhook_url"]
        .as_str()
        .is_some_and(|u| u.ends_with(&format!("/v1/webhooks/{webhook_id}"))));
    let id = data["project_trigger_id"].as_str().expect("id").to_owned();
    let canonical = api.get(&format!("/api/v1/triggers/{id}")).await;
    assert_eq!(canonical.body["data"]["type"], "webhook");
    assert_eq!(canonical.body["data"]["webhookId"], json!(webhook_id));
    assert_eq!(canonical.body["data"]["providerId"], "stripe");
    assert_eq!(canonical.body["data"]["triggerName"], "on_customer_created");

    let deliver = |n: u32| {
        Request::post(format!("/v1/webhooks/{webhook_id}"))
            .header("content-type", "application/json")
            .header("x-delivery-id", format!("evt_{n}"))
            .body(Body::from(
                json!({"id": format!("evt_{n}"), "type": "customer.created"}).to_string(),
            ))
            .expect("request")
    };
    let refused = api.raw(deliver(1)).await;
    assert_error(&refused, StatusCode::BAD_REQUEST, "INVALID_STATUS");
    let detail = api.get(&format!("/api/v1/triggers/{id}")).await;
    assert_eq!(detail.body["data"]["fired"], 0, "{}", detail.body);
    let enabled = api
        .post(&format!("/triggers/{id}/enable"), Value::Null)
        .await;
    assert_eq!(
        enabled.body["data"]["status"], "ENABLED",
        "{}",
        enabled.body
    );
    let accepted = api.raw(deliver(2)).await;
    assert_eq!(accepted.status, StatusCode::ACCEPTED, "{}", accepted.body);
    assert_eq!(accepted.body["data"]["triggerId"], json!(id));
    assert!(accepted.body["data"]["runId"].is_string());
    let detail = api.get(&format!("/api/v1/triggers/{id}")).await;
    assert_eq!(detail.body["data"]["fired"], 1, "{}", detail.body);
    api.post(&format!("/triggers/{id}/disable"), Value::Null)
        .await;
    let refused = api.raw(deliver(3)).await;
    assert_error(&refused, StatusCode::BAD_REQUEST, "INVALID_STATUS");
    let detail = api.get(&format!("/api/v1/triggers/{id}")).await;
    assert_eq!(detail.body["data"]["fired"], 1, "{}", detail.body);

    // A signature secret in trigger_config is never shown.
    let signed = api
        .post(
            &format!("/projects/{workflow}/triggers"),
            json!({"provider_id": "stripe", "trigger_id": "on_invoice_paid",
                   "trigger_config": {"signature": {"scheme": "stripe", "secret": "whsec_hidden"}}}),
        )
        .await;
    assert_eq!(signed.status, StatusCode::CREATED, "{}", signed.body);
    assert_eq!(
        signed.body["data"]["trigger_config"]["signature"]["secret"],
        "********"
    );
    assert!(!signed.body.to_string().contains("whsec_hidden"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_provider_catalog_lists_each_trigger_type() {
    let api = TestApi::new().await;
    for kind in ["schedule", "webhook", "polling", "manual"] {
        let list = api.get(&format!("/providers/{kind}/triggers")).await;
        assert_eq!(list.status, StatusCode::OK, "{}", list.body);
        let items = list.body["data"].as_array().expect("items");
        assert_eq!(items.len(), 1);
        assert_eq!(items[0]["provider_id"], kind);
        assert_eq!(items[0]["trigger_id"], kind);
        assert!(items[0]["trigger_name"].is_string());
        assert!(items[0]["description"].is_string());
        assert!(items[0]["trigger_config_schema"].is_object());
        let one = api.get(&format!("/providers/{kind}/triggers/{kind}")).await;
        assert_eq!(one.status, StatusCode::OK, "{}", one.body);
        assert_eq!(one.body["data"], items[0]);
    }
    let polling = api.get("/providers/polling/triggers/polling").await;
    assert_eq!(
        polling.body["data"]["trigger_config_schema"]["required"],
        json!(["url"])
    );
    assert_error(
        &api.get("/providers/stripe/triggers").await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    );
    assert_error(
        &api.get("/providers/stripe/triggers/on_customer_created")
            .await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    );
    assert_error(
        &api.get("/providers/webhook/triggers/schedule").await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn triggers_are_listed_by_project_and_deleted() {
    let api = TestApi::new().await;
    let first = api.active_workflow(order_workflow()).await;
    let second = open_workflow(&api).await;
    let mut made = Vec::new();
    for (workflow, provider) in [
        (&first, "manual"),
        (&second, "webhook"),
        (&first, "manual"),
        (&first, "slack"),
    ] {
        let reply = api
            .post(
                &format!("/projects/{workflow}/triggers"),
                json!({"provider_id": provider, "trigger_id": "t"}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        made.push(
            reply.body["data"]["project_trigger_id"]
                .as_str()
                .expect("id")
                .to_owned(),
        );
    }
    let of_first = api.get(&format!("/projects/{first}/triggers")).await;
    assert_eq!(of_first.status, StatusCode::OK, "{}", of_first.body);
    assert_eq!(
        ids(&of_first),
        [made[0].clone(), made[2].clone(), made[3].clone()]
    );
    assert!(of_first.body["pagination"].is_object());
    let of_second = api.get(&format!("/projects/{second}/triggers")).await;
    assert_eq!(ids(&of_second), [made[1].clone()]);

    // Pages of two over every trigger, each with its project's name.
    let page = api.get("/triggers?limit=2").await;
    assert_eq!(ids(&page), made[..2]);
    assert_eq!(
        page.body["data"][0]["project_name"],
        "Process Customer Order"
    );
    assert_eq!(page.body["data"][1]["project_name"], "any");
    let cursor = page.body["pagination"]["nextCursor"]
        .as_str()
        .expect("cursor")
        .to_owned();
    let rest = api.get(&format!("/triggers?limit=2&cursor={cursor}")).await;
    assert_eq!(ids(&rest), made[2..]);
    assert_error(
        &api.get("/triggers?limit=0").await,
        StatusCode::BAD_REQUEST,
        "VALIDATION_ERROR",
    );
    assert_error(
        &api.get("/projects/wf_nope/triggers").await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    );

    let deleted = api
        .call(
            Method::DELETE,
            &format!("/triggers/{}", made[0]),
            Value::Null,
        )
        .await;
    // The seed: "No content".
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.body);
    assert_eq!(deleted.body, Value::Null);
    for path in [
        format!("/triggers/{}", made[0]),
        format!("/api/v1/triggers/{}", made[0]),
    ] {
        assert_error(&api.get(&path).await, StatusCode::NOT_FOUND, "NOT_FOUND");
    }
    assert_error(
        &api.post(&format!("/triggers/{}/enable", made[0]), Value::Null)
            .await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    );
    assert_error(
        &api.call(
            Method::DELETE,
            &format!("/triggers/{}", made[0]),
            Value::Null,
        )
        .await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    );
    assert_error(
        &api.get("/triggers/trg_missing").await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    );
    let of_first = api.get(&format!("/projects/{first}/triggers")).await;
    assert_eq!(ids(&of_first), [made[2].clone(), made[3].clone()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_scopes_and_bad_bodies_are_refused_with_nothing_written() {
    let api = TestApi::new().await;
    let workflow = api.active_workflow(order_workflow()).await;
    let create = format!("/projects/{workflow}/triggers");
    let made = api
        .post(
            &create,
            json!({"provider_id": "manual", "trigger_id": "manual"}),
        )
        .await;
    let id = made.body["data"]["project_trigger_id"]
        .as_str()
        .expect("id")
        .to_owned();
    let good = json!({"provider_id": "manual", "trigger_id": "manual"});
    let reader = api.key(&[Scope::TriggersRead]).await;
    let position = api.journal_position();

    // 401 without a key, on read and write routes alike.
    for (method, path) in [
        (Method::GET, create.clone()),
        (Method::POST, create.clone()),
        (Method::GET, "/triggers".to_owned()),
        (Method::GET, format!("/triggers/{id}")),
        (Method::DELETE, format!("/triggers/{id}")),
        (Method::POST, format!("/triggers/{id}/enable")),
        (Method::POST, format!("/triggers/{id}/disable")),
        (Method::GET, "/providers/webhook/triggers".to_owned()),
        (
            Method::GET,
            "/providers/webhook/triggers/webhook".to_owned(),
        ),
    ] {
        let reply = api.call_as("", method.clone(), &path, good.clone()).await;
        assert_error(&reply, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    }

    // 403 naming triggers:write for a key that may only read.
    for (method, path) in [
        (Method::POST, create.clone()),
        (Method::DELETE, format!("/triggers/{id}")),
        (Method::POST, format!("/triggers/{id}/enable")),
        (Method::POST, format!("/triggers/{id}/disable")),
    ] {
        let reply = api.call_as(&reader, method, &path, good.clone()).await;
        let error = assert_error(&reply, StatusCode::FORBIDDEN, "FORBIDDEN");
        assert!(
            error["message"]
                .as_str()
                .is_some_and(|m| m.contains("triggers:write")),
            "{error}"
        );
    }
    let read = api
        .call_as(
            &reader,
            Method::GET,
            &format!("/triggers/{id}"),
            Value::Null,
        )
        .await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.body);

    // Bad bodies: 400 VALIDATION_ERROR naming the field.
    let cases: Vec<(Value, &str)> = vec![
        (json!({"trigger_id": "t"}), "provider_id"),
        (json!({"provider_id": "manual"}), "trigger_id"),
        (
            json!({"provider_id": " ", "trigger_id": "t"}),
            "provider_id",
        ),
        (json!({"provider_id": 5, "trigger_id": "t"}), "provider_id"),
        (
            json!({"provider_id": "manual", "trigger_id": "t", "status": "ON"}),
            "status",
        ),
        (
            json!({"provider_id": "manual", "trigger_id": "t", "trigger_config": [1]}),
            "trigger_config",
        ),
        (
            json!({"provider_id": "manual", "trigger_id": "t", "webhook_data": "x"}),
            "webhook_data",
        ),
        (
            json!({"provider_id": "polling", "trigger_id": "t", "trigger_config": {}}),
            "trigger_config",
        ),
        (
            json!({"provider_id": "cron", "trigger_id": "t", "trigger_config": {"timezone": "UTC"}}),
            "trigger_config",
        ),
        (
            json!({"provider_id": "manual", "trigger_id": "t", "project_id": "wf_other"}),
            "project_id",
        ),
        (
            json!({"provider_id": "manual", "trigger_id": "t", "bogus": 1}),
            "bogus",
        ),
    ];
    for (body, field) in cases {
        let reply = api.post(&create, body.clone()).await;
        let error = assert_error(&reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
        let named = error["details"][0]["path"][0] == json!(field)
            || error["message"].as_str().is_some_and(|m| m.contains(field));
        assert!(named, "{body} should name {field}: {error}");
    }
    let polling = api
        .post(
            &create,
            json!({"provider_id": "polling", "trigger_id": "t", "trigger_config": {}}),
        )
        .await;
    assert_eq!(
        polling.body["error"]["details"][0]["path"],
        json!(["trigger_config", "url"])
    );
    let malformed = Request::post(&create)
        .header("x-api-key", &api.admin)
        .body(Body::from("{not json"))
        .expect("request");
    assert_error(
        &api.raw(malformed).await,
        StatusCode::BAD_REQUEST,
        "VALIDATION_ERROR",
    );
    // An unknown project is 404.
    assert_error(
        &api.post("/projects/wf_nope/triggers", good.clone()).await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    );
    assert_eq!(
        api.journal_position(),
        position,
        "refused requests write nothing"
    );
}
