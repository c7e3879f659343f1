//! The dashboard (`/ui`) through the router, no browser: sign-in and sessions, the scope
//! message page, escaping, the security headers and CSRF; the overview, runs (and their live
//! stream), run (resume, rerun, replay against a version, its timeline, its live stream, an
//! agent's approval), workflows (diagram, versions, run, deactivate) and triggers (next
//! fires, webhook URL, disable, run now) pages. The real browser's tests are
//! `tests/ui_browser.rs` at the root.

mod support;

use axum::body::Body;
use axum::http::{header, HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::json;
use support::{order_input, order_workflow, TestApi};
use tower::ServiceExt;

use credentials::keys::Scope;

struct Page {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Page {
    fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    fn set_cookie(&self) -> &str {
        self.headers
            .get(header::SET_COOKIE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    /// The CSRF token of the page's forms.
    fn csrf(&self) -> String {
        let marker = r#"name="csrf" value=""#;
        let start = self.body.find(marker).expect("a form with a CSRF token") + marker.len();
        let end = self.body[start..].find('"').expect("end of the token");
        self.body[start..start + end].to_owned()
    }
}

/// Checks every dashboard answer for the security headers, then returns it.
async fn send(api: &TestApi, request: Request<Body>) -> Page {
    let response = api.router.clone().oneshot(request).await.expect("response");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let csp = headers
        .get(header::CONTENT_SECURITY_POLICY)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("{status}: no CSP"));
    let script_src = csp
        .split(';')
        .map(str::trim)
        .find(|d| d.starts_with("script-src"))
        .expect("script-src");
    assert_eq!(script_src, "script-src 'self'", "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(
        headers
            .get(header::X_CONTENT_TYPE_OPTIONS)
            .expect("nosniff"),
        "nosniff"
    );
    Page {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

async fn get(api: &TestApi, path: &str, cookie: Option<&str>) -> Page {
    let mut request = Request::builder().method(Method::GET).uri(path);
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    send(api, request.body(Body::empty()).expect("request")).await
}

async fn post_form(api: &TestApi, path: &str, cookie: Option<&str>, form: &str) -> Page {
    let mut request = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    send(
        api,
        request.body(Body::from(form.to_owned())).expect("request"),
    )
    .await
}

/// Signs in with `key`; returns the `name=value` to send back as the cookie.
async fn sign_in(api: &TestApi, key: &str) -> String {
    let page = post_form(api, "/ui/login", None, &format!("key={key}")).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert_eq!(page.location(), "/ui/runs");
    page.set_cookie()
        .split(';')
        .next()
        .expect("cookie pair")
        .to_owned()
}

/// Starts a run of `workflow` with `input` and waits for its end; returns its id.
async fn finished_run(
    api: &TestApi,
    workflow: serde_json::Value,
    input: serde_json::Value,
) -> String {
    let id = api.active_workflow(workflow).await;
    let done = api
        .post(
            &format!("/api/v1/workflows/{id}/run?wait=30"),
            json!({ "input": input }),
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    done.body["data"]["id"].as_str().expect("run id").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_good_key_signs_in_with_a_strict_http_only_cookie_and_a_bad_one_does_not() {
    let api = TestApi::new().await;
    let form = get(&api, "/ui/login", None).await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.body.contains(r#"name="key""#), "{}", form.body);

    let page = post_form(&api, "/ui/login", None, &format!("key={}", api.admin)).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.location(), "/ui/runs");
    let cookie = page.set_cookie();
    assert!(cookie.starts_with("duro_session="), "{cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Strict"), "{cookie}");
    assert!(cookie.contains("Path=/ui"), "{cookie}");
    assert!(!cookie.contains(&api.admin), "the key is not the cookie");

    let bad = post_form(&api, "/ui/login", None, "key=duro_not_a_key").await;
    assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
    assert!(bad.body.contains("not accepted"), "{}", bad.body);
    assert!(bad.body.contains(r#"name="key""#), "the form again");
    assert!(bad.headers.get(header::SET_COOKIE).is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_without_a_session_redirect_to_the_sign_in_form() {
    let api = TestApi::new().await;
    for path in ["/ui/runs", "/ui/runs/run_x", "/ui/runs/rows"] {
        let page = get(&api, path, None).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(page.location(), "/ui/login", "{path}");
        let forged = get(&api, path, Some("duro_session=forged")).await;
        assert_eq!(forged.location(), "/ui/login", "{path}");
    }
    // Assets and unknown pages answer too, with the same headers.
    let css = get(&api, "/ui/assets/duro.css", None).await;
    assert_eq!(css.status, StatusCode::OK);
    assert!(css
        .headers
        .get(header::CACHE_CONTROL)
        .is_some_and(|v| v.to_str().unwrap_or_default().contains("max-age=31536000")));
    let missing = get(&api, "/ui/nothing-here", None).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(missing.body.contains("<html"), "{}", missing.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_without_runs_read_sees_a_message_naming_the_scope() {
    let api = TestApi::new().await;
    let key = api.key(&[Scope::WorkflowsRead]).await;
    let cookie = sign_in(&api, &key).await;
    let page = get(&api, "/ui/runs", Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(page.body.contains("runs:read"), "{}", page.body);
    assert!(page.body.contains("<html"), "an HTML page: {}", page.body);
    assert!(!page.body.contains("\"success\""), "not a JSON envelope");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_runs_page_lists_runs_and_filters_them() {
    let api = TestApi::new().await;
    let run_id = finished_run(&api, order_workflow(), order_input()).await;
    let cookie = sign_in(&api, &api.admin).await;
    let page = get(&api, "/ui/runs", Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains(&run_id), "{}", page.body);
    assert!(page.body.contains(&format!(r#"href="/ui/runs/{run_id}""#)));
    assert!(page.body.contains("<time datetime="), "{}", page.body);
    assert!(page.body.contains("completed"));
    assert!(page.body.contains(r#"src="/ui/assets/duro.js?v="#));

    let failed = get(&api, "/ui/runs?status=failed", Some(&cookie)).await;
    assert_eq!(failed.status, StatusCode::OK);
    assert!(!failed.body.contains(&run_id), "{}", failed.body);
    let rows = get(&api, "/ui/runs/rows?status=completed", Some(&cookie)).await;
    assert_eq!(rows.status, StatusCode::OK);
    assert!(
        rows.body.contains(&run_id) && !rows.body.contains("<html"),
        "{}",
        rows.body
    );
    // Rows that have not changed answer 304 to their entity tag, which the page carries.
    let tag = rows
        .headers
        .get(header::ETAG)
        .and_then(|v| v.to_str().ok())
        .expect("an ETag")
        .to_owned();
    let full = get(&api, "/ui/runs?status=completed", Some(&cookie)).await;
    assert!(
        full.body
            .contains(&format!("data-etag=\"{}\"", tag.replace('"', "&quot;"))),
        "{}",
        full.body
    );
    let request = Request::builder()
        .uri("/ui/runs/rows?status=completed")
        .header(header::COOKIE, &cookie)
        .header(header::IF_NONE_MATCH, &tag)
        .body(Body::empty())
        .expect("request");
    let same = send(&api, request).await;
    assert_eq!(same.status, StatusCode::NOT_MODIFIED);
    assert!(same.body.is_empty());
    // A datetime-local value is read as UTC; a bad filter is explained on the page.
    let since = get(&api, "/ui/runs?from=2000-01-01T00:00", Some(&cookie)).await;
    assert!(since.body.contains(&run_id), "{}", since.body);
    let bad = get(&api, "/ui/runs?status=bogus", Some(&cookie)).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("must be one of"), "{}", bad.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_script_in_a_run_output_is_shown_as_text() {
    let api = TestApi::new().await;
    let workflow = json!({
        "name": "xss",
        "steps": [{
            "id": "echo",
            "type": "transform",
            "config": { "mapping": { "html": "{{input.payload}}" } }
        }]
    });
    let run_id = finished_run(
        &api,
        workflow,
        json!({ "payload": "<script>alert(1)</script>" }),
    )
    .await;
    let detail = api.get(&format!("/api/v1/runs/{run_id}")).await;
    assert_eq!(
        detail.body["data"]["output"]["html"],
        "<script>alert(1)</script>"
    );

    let cookie = sign_in(&api, &api.admin).await;
    let page = get(&api, &format!("/ui/runs/{run_id}"), Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("<script>alert"), "{}", page.body);
    assert!(page.body.contains("echo"), "the step: {}", page.body);
    assert!(
        page.body.contains("RunCompleted"),
        "the events: {}",
        page.body
    );
    assert!(
        !page.body.contains("Cancel run"),
        "an ended run cannot be cancelled"
    );
}

// Paused time: the `?wait=0.2` below ends at once when the run has paused.
#[tokio::test(start_paused = true)]
async fn cancel_needs_the_csrf_token_and_runs_write() {
    let api = TestApi::new().await;
    let id = api
        .active_workflow(json!({"name": "w", "steps": [{"id": "w", "type": "wait"}]}))
        .await;
    let started = api
        .post(&format!("/api/v1/workflows/{id}/run?wait=0.2"), json!({}))
        .await;
    let run_id = started.body["data"]["id"].as_str().expect("id").to_owned();
    let path = format!("/ui/runs/{run_id}/cancel");

    // A reader sees the run without the button and cannot cancel it.
    let reader = sign_in(&api, &api.key(&[Scope::RunsRead]).await).await;
    let page = get(&api, &format!("/ui/runs/{run_id}"), Some(&reader)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(!page.body.contains("Cancel run"));
    let denied = post_form(&api, &path, Some(&reader), &format!("csrf={}", page.csrf())).await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
    assert!(denied.body.contains("runs:write"), "{}", denied.body);

    let cookie = sign_in(&api, &api.admin).await;
    let page = get(&api, &format!("/ui/runs/{run_id}"), Some(&cookie)).await;
    assert!(page.body.contains("Cancel run"), "{}", page.body);
    let token = page.csrf();
    for form in [
        String::new(),
        "csrf=wrong".to_owned(),
        format!("csrf={}", token.chars().rev().collect::<String>()),
    ] {
        let refused = post_form(&api, &path, Some(&cookie), &form).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{form}");
    }
    let status = api.get(&format!("/api/v1/runs/{run_id}")).await.body["data"]["status"].clone();
    assert_eq!(status, "paused");

    let done = post_form(&api, &path, Some(&cookie), &format!("csrf={token}")).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(done.location(), format!("/ui/runs/{run_id}"));
    let run = api.get(&format!("/api/v1/runs/{run_id}")).await;
    assert_eq!(run.body["data"]["status"], "cancelled", "{}", run.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_out_ends_the_session() {
    let api = TestApi::new().await;
    let cookie = sign_in(&api, &api.admin).await;
    let page = get(&api, "/ui/runs", Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::OK);
    let refused = post_form(&api, "/ui/logout", Some(&cookie), "csrf=nope").await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    let out = post_form(
        &api,
        "/ui/logout",
        Some(&cookie),
        &format!("csrf={}", page.csrf()),
    )
    .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(out.location(), "/ui/login");
    assert!(
        out.set_cookie().contains("Max-Age=0"),
        "{}",
        out.set_cookie()
    );
    let after = get(&api, "/ui/runs", Some(&cookie)).await;
    assert_eq!(after.location(), "/ui/login", "the old cookie is dead");

    // Revoking a key ends its sessions too.
    let (info, key) = api
        .state
        .keys
        .create("short-lived", &[Scope::RunsRead])
        .await
        .expect("key");
    let cookie = sign_in(&api, &key).await;
    api.state.keys.revoke(&info.id).await.expect("revoke");
    let after = get(&api, "/ui/runs", Some(&cookie)).await;
    assert_eq!(after.location(), "/ui/login");
}

/// A form body: the CSRF token, then `rest` (already URL-encoded).
fn with_token(token: &str, rest: &str) -> String {
    if rest.is_empty() {
        format!("csrf={token}")
    } else {
        format!("csrf={token}&{rest}")
    }
}

// Paused time: the `?wait=0.2` below ends at once when the run has paused.
#[tokio::test(start_paused = true)]
async fn resume_takes_a_json_payload_with_the_csrf_token_and_runs_write() {
    let api = TestApi::new().await;
    let id = api
        .active_workflow(json!({"name": "approval", "steps": [
            {"id": "approve", "type": "wait"},
            {"id": "after", "type": "transform",
             "config": {"mapping": {"said": "{{steps.approve.output.answer}}"}}}
        ]}))
        .await;
    let started = api
        .post(&format!("/api/v1/workflows/{id}/run?wait=0.2"), json!({}))
        .await;
    let run_id = started.body["data"]["id"].as_str().expect("id").to_owned();
    let path = format!("/ui/runs/{run_id}/resume");
    let status = || async {
        api.get(&format!("/api/v1/runs/{run_id}")).await.body["data"]["status"].clone()
    };

    // A reader has no form and cannot resume.
    let reader = sign_in(&api, &api.key(&[Scope::RunsRead]).await).await;
    let page = get(&api, &format!("/ui/runs/{run_id}"), Some(&reader)).await;
    assert!(!page.body.contains(r#"name="payload""#), "{}", page.body);
    let denied = post_form(
        &api,
        &path,
        Some(&reader),
        &with_token(&page.csrf(), "payload=%7B%7D"),
    )
    .await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
    assert!(denied.body.contains("runs:write"), "{}", denied.body);

    let cookie = sign_in(&api, &api.admin).await;
    let page = get(&api, &format!("/ui/runs/{run_id}"), Some(&cookie)).await;
    assert!(page.body.contains(r#"name="payload""#), "{}", page.body);
    assert!(page.body.contains("Resume run"), "{}", page.body);
    let token = page.csrf();
    let forged = post_form(&api, &path, Some(&cookie), "csrf=nope&payload=1").await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let bad = post_form(
        &api,
        &path,
        Some(&cookie),
        &with_token(&token, "payload=%7Banswer%3A"),
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("not valid JSON"), "{}", bad.body);
    assert_eq!(status().await, "paused");

    // {"answer": "ship <it>"}
    let done = post_form(
        &api,
        &path,
        Some(&cookie),
        &with_token(
            &token,
            "payload=%7B%22answer%22%3A%20%22ship%20%3Cit%3E%22%7D",
        ),
    )
    .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(done.location(), format!("/ui/runs/{run_id}"));
    let mut run = api.get(&format!("/api/v1/runs/{run_id}")).await.body["data"].clone();
    for _ in 0..100 {
        if run["status"] == "completed" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        run = api.get(&format!("/api/v1/runs/{run_id}")).await.body["data"].clone();
    }
    assert_eq!(run["output"]["said"], "ship <it>", "{run}");
    let page = get(&api, &format!("/ui/runs/{run_id}"), Some(&cookie)).await;
    assert!(page.body.contains("ship &lt;it&gt;"), "{}", page.body);
    assert!(
        !page.body.contains("Resume run"),
        "an ended run has no resume"
    );
    let again = post_form(&api, &path, Some(&cookie), &with_token(&token, "")).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST, "{}", again.body);
}

fn two_steps(second: &str) -> serde_json::Value {
    json!({"name": "pair", "steps": [
        {"id": "first", "type": "transform", "config": {"mapping": {"n": "{{input.n}}"}}},
        {"id": "second", "type": "transform", "config": {"mapping": {"says": second}}}
    ]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rerun_from_a_step_needs_workflows_execute_and_reuses_the_steps_before_it() {
    let api = TestApi::new().await;
    let run_id = finished_run(&api, two_steps("one"), json!({"n": 7})).await;
    let workflow = api.get(&format!("/api/v1/runs/{run_id}")).await.body["data"]["workflowId"]
        .as_str()
        .expect("workflow")
        .to_owned();
    let fixed = api
        .patch(
            &format!("/api/v1/workflows/{workflow}"),
            json!({"steps": two_steps("two")["steps"]}),
        )
        .await;
    assert_eq!(fixed.status, StatusCode::OK, "{}", fixed.body);
    let path = format!("/ui/runs/{run_id}/rerun");

    // runs:read and runs:write are not enough: a rerun starts a run.
    let operator = sign_in(&api, &api.key(&[Scope::RunsRead, Scope::RunsWrite]).await).await;
    let page = get(&api, &format!("/ui/runs/{run_id}"), Some(&operator)).await;
    assert!(!page.body.contains(r#"name="fromStep""#), "{}", page.body);
    let denied = post_form(
        &api,
        &path,
        Some(&operator),
        &with_token(&page.csrf(), "fromStep=second"),
    )
    .await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
    assert!(denied.body.contains("workflows:execute"), "{}", denied.body);

    let cookie = sign_in(&api, &api.admin).await;
    let page = get(&api, &format!("/ui/runs/{run_id}"), Some(&cookie)).await;
    assert!(
        page.body
            .contains(r#"<option value="second">second</option>"#),
        "{}",
        page.body
    );
    assert!(page.body.contains("2 (current)"), "{}", page.body);
    let token = page.csrf();
    let forged = post_form(&api, &path, Some(&cookie), "fromStep=second").await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let unknown = post_form(
        &api,
        &path,
        Some(&cookie),
        &with_token(&token, "fromStep=nowhere&version=2"),
    )
    .await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST, "{}", unknown.body);
    assert!(unknown.body.contains("nowhere"), "{}", unknown.body);

    let done = post_form(
        &api,
        &path,
        Some(&cookie),
        &with_token(&token, "fromStep=second&version=2"),
    )
    .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let rerun_page = done.location().to_owned();
    let rerun_id = rerun_page.strip_prefix("/ui/runs/").expect("a run page");
    assert_ne!(rerun_id, run_id);
    let rerun = api.get(&format!("/api/v1/runs/{rerun_id}")).await.body["data"].clone();
    assert_eq!(rerun["parent"]["runId"], run_id.as_str(), "{rerun}");
    assert_eq!(rerun["workflowVersion"], 2, "{rerun}");
    let mut status = rerun["status"].clone();
    for _ in 0..500 {
        if status == "completed" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        status = api.get(&format!("/api/v1/runs/{rerun_id}")).await.body["data"]["status"].clone();
    }
    assert_eq!(status, "completed");
    let page = get(&api, &rerun_page, Some(&cookie)).await;
    assert!(page.body.contains("reused"), "{}", page.body);
    assert!(page.body.contains("rerun from"), "{}", page.body);
    assert!(
        page.body.contains("&quot;two&quot;") || page.body.contains("\"two\""),
        "{}",
        page.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_against_another_version_shows_the_divergence() {
    let api = TestApi::new().await;
    let run_id = finished_run(&api, two_steps("one"), json!({"n": 7})).await;
    let workflow = api.get(&format!("/api/v1/runs/{run_id}")).await.body["data"]["workflowId"]
        .as_str()
        .expect("workflow")
        .to_owned();
    let changed = api
        .patch(
            &format!("/api/v1/workflows/{workflow}"),
            json!({"steps": two_steps("two")["steps"]}),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    // A reader may replay: it changes nothing.
    let reader = sign_in(&api, &api.key(&[Scope::RunsRead]).await).await;
    let page = get(&api, &format!("/ui/runs/{run_id}"), Some(&reader)).await;
    assert!(page.body.contains(r#"name="against""#), "{}", page.body);

    let other = get(&api, &format!("/ui/runs/{run_id}?against=2"), Some(&reader)).await;
    assert_eq!(other.status, StatusCode::OK, "{}", other.body);
    assert!(
        other.body.contains("Replay against version 2"),
        "{}",
        other.body
    );
    assert!(other.body.contains("Diverges at event"), "{}", other.body);
    assert!(other.body.contains("second"), "{}", other.body);

    let own = get(&api, &format!("/ui/runs/{run_id}?against=1"), Some(&reader)).await;
    assert!(own.body.contains("replays identically"), "{}", own.body);
    let missing = get(&api, &format!("/ui/runs/{run_id}?against=9"), Some(&reader)).await;
    assert_eq!(missing.status, StatusCode::OK);
    assert!(missing.body.contains("role=\"alert\""), "{}", missing.body);
    let bad = get(
        &api,
        &format!("/ui/runs/{run_id}?against=two"),
        Some(&reader),
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.body);
}

/// A workflow with a condition (two branches) and a foreach, to draw.
fn branching_workflow() -> serde_json::Value {
    json!({
        "name": "Route <orders>",
        "inputSchema": {"type": "object", "required": ["total"],
                        "properties": {"total": {"type": "number"}, "items": {"type": "array"}}},
        "steps": [
            {"id": "check", "type": "condition",
             "config": {"left": "{{input.total}}", "operator": "greaterThan", "right": 100,
                        "then": [{"id": "big", "type": "transform", "config": {"mapping": {"size": "big"}}}],
                        "else": [{"id": "small", "type": "transform", "config": {"mapping": {"size": "small"}}}]}},
            {"id": "each", "type": "foreach",
             "config": {"items": "{{input.items}}", "concurrency": 2,
                        "steps": [{"id": "line", "type": "transform", "config": {"mapping": {"n": "{{item}}"}}}]}}
        ]
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_workflows_pages_draw_the_steps_and_list_the_versions() {
    let api = TestApi::new().await;
    let id = api.active_workflow(branching_workflow()).await;
    let mut changed = branching_workflow();
    changed["steps"][1]["config"]["concurrency"] = json!(3);
    let patched = api
        .patch(
            &format!("/api/v1/workflows/{id}"),
            json!({"steps": changed["steps"]}),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);

    let reader = sign_in(&api, &api.key(&[Scope::WorkflowsRead]).await).await;
    let list = get(&api, "/ui/workflows", Some(&reader)).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    assert!(list.body.contains(&format!(r#"href="/ui/workflows/{id}""#)));
    assert!(list.body.contains("Route &lt;orders&gt;"), "escaped name");
    let page = get(&api, &format!("/ui/workflows/{id}"), Some(&reader)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    for needle in [
        r#"data-step="check" data-type="condition""#,
        r#"data-branch="then""#,
        r#"data-branch="else""#,
        r#"data-step="big""#,
        r#"data-step="small""#,
        r#"data-step="each" data-type="foreach""#,
        r#"data-step="line""#,
        "3 at a time",
        "step each changed: config.concurrency",
        "first version",
        "Version 2",
    ] {
        assert!(page.body.contains(needle), "{needle}: {}", page.body);
    }
    // A reader has no forms; version 1's diagram is one link away.
    assert!(!page.body.contains("Deactivate") && !page.body.contains(">Run<"));
    let first = get(
        &api,
        &format!("/ui/workflows/{id}?version=1"),
        Some(&reader),
    )
    .await;
    assert!(first.body.contains("2 at a time"), "{}", first.body);
    let none = get(
        &api,
        &format!("/ui/workflows/{id}?version=7"),
        Some(&reader),
    )
    .await;
    assert_eq!(none.status, StatusCode::NOT_FOUND);
    let runs_only = sign_in(&api, &api.key(&[Scope::RunsRead]).await).await;
    let denied = get(&api, "/ui/workflows", Some(&runs_only)).await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
    assert!(denied.body.contains("workflows:read"), "{}", denied.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workflow_runs_with_an_input_checked_against_its_schema_and_can_be_deactivated() {
    let api = TestApi::new().await;
    let id = api.active_workflow(branching_workflow()).await;
    let path = format!("/ui/workflows/{id}");
    let cookie = sign_in(&api, &api.admin).await;
    let page = get(&api, &path, Some(&cookie)).await;
    assert!(page.body.contains("Deactivate"), "{}", page.body);
    assert!(page.body.contains(r#"name="input""#), "{}", page.body);
    let token = page.csrf();

    // Without the token, nothing starts.
    let forged = post_form(&api, &format!("{path}/run"), Some(&cookie), "input=%7B%7D").await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    // {"items": []}: total is required.
    let invalid = post_form(
        &api,
        &format!("{path}/run"),
        Some(&cookie),
        &with_token(&token, "input=%7B%22items%22%3A%5B%5D%7D"),
    )
    .await;
    assert_eq!(invalid.status, StatusCode::BAD_REQUEST, "{}", invalid.body);
    assert!(invalid.body.contains("total"), "{}", invalid.body);
    let not_object = post_form(
        &api,
        &format!("{path}/run"),
        Some(&cookie),
        &with_token(&token, "input=%5B1%5D"),
    )
    .await;
    assert_eq!(not_object.status, StatusCode::BAD_REQUEST);
    let listed = api.get(&format!("/api/v1/runs?workflowId={id}")).await;
    assert_eq!(
        listed.body["data"].as_array().map(Vec::len),
        Some(0),
        "nothing started"
    );

    // {"total": 250, "items": [1, 2]}
    let started = post_form(
        &api,
        &format!("{path}/run"),
        Some(&cookie),
        &with_token(
            &token,
            "input=%7B%22total%22%3A250%2C%22items%22%3A%5B1%2C2%5D%7D",
        ),
    )
    .await;
    assert_eq!(started.status, StatusCode::SEE_OTHER, "{}", started.body);
    let run_id = started
        .location()
        .strip_prefix("/ui/runs/")
        .expect("the run's page")
        .to_owned();
    let run = api.get(&format!("/api/v1/runs/{run_id}")).await;
    assert_eq!(run.body["data"]["input"]["total"], 250, "{}", run.body);

    // Deactivate: needs workflows:write; then no run form.
    let reader = sign_in(
        &api,
        &api.key(&[Scope::WorkflowsRead, Scope::WorkflowsExecute])
            .await,
    )
    .await;
    let reader_page = get(&api, &path, Some(&reader)).await;
    let denied = post_form(
        &api,
        &format!("{path}/status"),
        Some(&reader),
        &with_token(&reader_page.csrf(), "status=inactive"),
    )
    .await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
    assert!(denied.body.contains("workflows:write"), "{}", denied.body);
    let done = post_form(
        &api,
        &format!("{path}/status"),
        Some(&cookie),
        &with_token(&token, "status=inactive"),
    )
    .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let workflow = api.get(&format!("/api/v1/workflows/{id}")).await;
    assert_eq!(workflow.body["data"]["status"], "inactive");
    let page = get(&api, &path, Some(&cookie)).await;
    assert!(page.body.contains("Activate"), "{}", page.body);
    assert!(
        !page.body.contains(r#"name="input""#),
        "an inactive workflow has no run form"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_triggers_pages_show_schedules_and_webhooks_and_their_actions() {
    let api = TestApi::new().await;
    let workflow = api
        .active_workflow(json!({"name": "t", "steps": [
            {"id": "x", "type": "transform", "config": {"mapping": {"got": "{{input}}"}}}]}))
        .await;
    let schedule = api
        .call(
            Method::PUT,
            "/api/v1/triggers/daily-digest",
            json!({"type": "schedule", "workflowId": workflow,
                   "config": {"cron": "0 9 * * *", "timezone": "Europe/London"}}),
        )
        .await;
    assert_eq!(schedule.status, StatusCode::CREATED, "{}", schedule.body);
    let schedule_id = schedule.body["data"]["id"].as_str().expect("id").to_owned();
    let hook = api
        .call(
            Method::PUT,
            "/api/v1/triggers/orders-hook",
            json!({"type": "webhook", "workflowId": workflow,
                   "config": {"signature": {"scheme": "github", "secret": "s3cret-value"}}}),
        )
        .await;
    assert_eq!(hook.status, StatusCode::CREATED, "{}", hook.body);
    let hook_id = hook.body["data"]["id"].as_str().expect("id").to_owned();
    let webhook_id = hook.body["data"]["webhookId"]
        .as_str()
        .expect("webhookId")
        .to_owned();

    let reader = sign_in(&api, &api.key(&[Scope::TriggersRead]).await).await;
    let list = get(&api, "/ui/triggers", Some(&reader)).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    assert!(list.body.contains("daily-digest") && list.body.contains("orders-hook"));
    assert!(
        list.body.contains("<time datetime="),
        "the next fire: {}",
        list.body
    );
    let page = get(&api, &format!("/ui/triggers/{schedule_id}"), Some(&reader)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_eq!(
        page.body.matches("<li><time datetime=").count(),
        5,
        "{}",
        page.body
    );
    assert!(
        !page.body.contains("Disable trigger"),
        "a reader has no actions"
    );
    let hook_page = get(&api, &format!("/ui/triggers/{hook_id}"), Some(&reader)).await;
    assert!(hook_page
        .body
        .contains(&format!("/api/v1/webhooks/{webhook_id}")));
    assert!(hook_page.body.contains(r#"data-copy="webhook-url""#));
    assert!(
        !hook_page.body.contains("s3cret-value"),
        "the secret stays hidden"
    );

    // Disable needs triggers:write and the token; a disabled schedule has no next fires.
    let cookie = sign_in(&api, &api.admin).await;
    let page = get(&api, &format!("/ui/triggers/{schedule_id}"), Some(&cookie)).await;
    assert!(page.body.contains("Disable trigger") && page.body.contains("Run now"));
    let token = page.csrf();
    let status_path = format!("/ui/triggers/{schedule_id}/status");
    let forged = post_form(&api, &status_path, Some(&cookie), "enabled=false").await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let reader_token = get(&api, "/ui/triggers", Some(&reader)).await.csrf();
    let denied = post_form(
        &api,
        &status_path,
        Some(&reader),
        &with_token(&reader_token, "enabled=false"),
    )
    .await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
    assert!(denied.body.contains("triggers:write"), "{}", denied.body);
    let done = post_form(
        &api,
        &status_path,
        Some(&cookie),
        &with_token(&token, "enabled=false"),
    )
    .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let after = api.get(&format!("/api/v1/triggers/{schedule_id}")).await;
    assert_eq!(after.body["data"]["status"], "disabled");
    let page = get(&api, &format!("/ui/triggers/{schedule_id}"), Some(&cookie)).await;
    assert!(page.body.contains("none while disabled"), "{}", page.body);
    assert!(page.body.contains("Enable trigger") && !page.body.contains("Run now"));
    let refused = post_form(
        &api,
        &format!("/ui/triggers/{schedule_id}/fire"),
        Some(&cookie),
        &with_token(&token, ""),
    )
    .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
    assert!(refused.body.contains("disabled"), "{}", refused.body);

    // Run the webhook trigger now, with an input: a run, and a fire in its history.
    let fired = post_form(
        &api,
        &format!("/ui/triggers/{hook_id}/fire"),
        Some(&cookie),
        &with_token(&token, "input=%7B%22n%22%3A1%7D"),
    )
    .await;
    assert_eq!(fired.status, StatusCode::SEE_OTHER, "{}", fired.body);
    let run_id = fired
        .location()
        .strip_prefix("/ui/runs/")
        .expect("the run's page")
        .to_owned();
    let page = get(&api, &format!("/ui/triggers/{hook_id}"), Some(&cookie)).await;
    assert!(
        page.body.contains(&run_id),
        "the fire in the history: {}",
        page.body
    );
    assert!(page.body.contains("fired"), "{}", page.body);

    // An unsigned webhook's delivery: its sample (escaped) and its fire on the page.
    let open = api
        .call(
            Method::PUT,
            "/api/v1/triggers/open-hook",
            json!({"type": "webhook", "workflowId": workflow}),
        )
        .await;
    assert_eq!(open.status, StatusCode::CREATED, "{}", open.body);
    let open_id = open.body["data"]["id"].as_str().expect("id").to_owned();
    let open_hook = open.body["data"]["webhookId"]
        .as_str()
        .expect("hook")
        .to_owned();
    let page = get(&api, &format!("/ui/triggers/{open_id}"), Some(&cookie)).await;
    assert!(
        page.body.contains("No deliveries received yet."),
        "{}",
        page.body
    );
    let delivered = api
        .raw(
            Request::builder()
                .method(Method::POST)
                .uri(format!("/api/v1/webhooks/{open_hook}"))
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(r#"{"note": "<i>sample</i>"}"#))
                .expect("request"),
        )
        .await;
    assert!(delivered.status.is_success(), "{}", delivered.body);
    let page = get(&api, &format!("/ui/triggers/{open_id}"), Some(&cookie)).await;
    assert!(page.body.contains("Recent samples"), "{}", page.body);
    assert!(
        page.body.contains("&lt;i&gt;sample&lt;/i&gt;"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("<i>sample"), "{}", page.body);
    assert!(
        page.body.contains("fired</span> webhook"),
        "the fire's reason: {}",
        page.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_overview_charts_the_last_hour() {
    let api = TestApi::new().await;
    let cookie = sign_in(&api, &api.admin).await;
    let empty = get(&api, "/ui/overview", Some(&cookie)).await;
    assert_eq!(empty.status, StatusCode::OK, "{}", empty.body);
    assert!(
        empty.body.contains(r#"data-stat="started">0<"#),
        "{}",
        empty.body
    );
    assert_eq!(
        empty.body.matches("<rect").count(),
        0,
        "no bars: {}",
        empty.body
    );

    finished_run(&api, two_steps("one"), json!({"n": 1})).await;
    finished_run(&api, two_steps("one"), json!({"n": 2})).await;
    let failing = json!({"name": "bad", "steps": [
        {"id": "boom", "type": "transform", "config": {"mapping": {"x": "{{input.n | divided_by: 0}}"}}}
    ]});
    let failing_id = api.active_workflow(failing).await;
    let failed = api
        .post(
            &format!("/api/v1/workflows/{failing_id}/run?wait=30"),
            json!({"input": {"n": 1}}),
        )
        .await;
    assert_eq!(failed.body["data"]["status"], "failed", "{}", failed.body);

    let page = get(&api, "/ui/overview", Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body.contains(r#"data-stat="started">3<"#),
        "{}",
        page.body
    );
    for chart in [
        "runs-per-minute",
        "failures-per-minute",
        "latency-per-minute",
    ] {
        assert!(page.body.contains(&format!(r#"id="{chart}""#)), "{chart}");
    }
    assert!(
        page.body.contains(r#"role="img""#),
        "charts are labelled images"
    );
    assert!(page.body.contains("<svg"), "{}", page.body);
    assert!(page.body.contains(r#"class="bar""#), "a bar of runs");
    assert!(
        page.body.contains(r#"class="bar bad""#),
        "a bar of failures"
    );
    assert!(
        page.body.contains(r#"data-stat="rate">33.3 %<"#),
        "{}",
        page.body
    );
    assert!(
        !page.body.contains("style="),
        "no inline style under the CSP"
    );

    let reader = sign_in(&api, &api.key(&[Scope::WorkflowsRead]).await).await;
    let denied = get(&api, "/ui/overview", Some(&reader)).await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
    assert!(denied.body.contains("runs:read"));
}

/// The next chunk of a streaming body (an SSE event), within 10 s.
async fn next_chunk(body: &mut Body) -> String {
    loop {
        let frame = tokio::time::timeout(std::time::Duration::from_secs(10), body.frame())
            .await
            .expect("an event within 10 s")
            .expect("the stream goes on")
            .expect("a frame");
        if let Ok(data) = frame.into_data() {
            let text = String::from_utf8_lossy(&data).into_owned();
            if !text.starts_with(':') {
                return text;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_runs_page_streams_its_rows_as_they_change() {
    let api = TestApi::new().await;
    let first = finished_run(&api, two_steps("one"), json!({"n": 1})).await;
    let cookie = sign_in(&api, &api.admin).await;
    let page = get(&api, "/ui/runs", Some(&cookie)).await;
    assert!(
        page.body.contains(r#"data-live="/ui/runs/live?"#),
        "{}",
        page.body
    );

    let open = |last: Option<String>| {
        let mut request = Request::builder()
            .uri("/ui/runs/live")
            .header(header::COOKIE, &cookie);
        if let Some(last) = last {
            request = request.header("last-event-id", last);
        }
        api.router
            .clone()
            .oneshot(request.body(Body::empty()).expect("request"))
    };
    // Without a tag: the rows at once.
    let response = open(None).await.expect("response");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers().get(header::CONTENT_TYPE).expect("type"),
        "text/event-stream"
    );
    let mut body = response.into_body();
    let event = next_chunk(&mut body).await;
    assert!(event.starts_with("event: rows\n"), "{event}");
    assert!(event.contains(&first), "{event}");
    let tag = event
        .lines()
        .find_map(|line| line.strip_prefix("id: "))
        .expect("an id")
        .to_owned();
    drop(body);

    // With the tag of the rows shown: the next event is the change, a new run.
    let response = open(Some(tag)).await.expect("response");
    let mut body = response.into_body();
    let workflow = api.active_workflow(two_steps("two")).await;
    let started = api
        .post(
            &format!("/api/v1/workflows/{workflow}/run"),
            json!({"input": {"n": 2}}),
        )
        .await;
    let second = started.body["data"]["runId"]
        .as_str()
        .expect("run")
        .to_owned();
    let event = next_chunk(&mut body).await;
    assert!(event.contains(&second), "{event}");

    // Signing out ends the stream.
    let out = post_form(
        &api,
        "/ui/logout",
        Some(&cookie),
        &format!("csrf={}", page.csrf()),
    )
    .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    api.active_workflow(two_steps("three")).await;
    let end = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        loop {
            match body.frame().await {
                None => return,
                Some(Ok(_)) => continue,
                Some(Err(e)) => panic!("{e}"),
            }
        }
    })
    .await;
    assert!(end.is_ok(), "the stream ended with the session");
    let after = get(&api, "/ui/runs/live", Some(&cookie)).await;
    assert_eq!(after.location(), "/ui/login");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_run_timeline_tells_timers_retries_and_foreach_items() {
    let api = TestApi::new().await;
    // Nothing listens on port 9 of loopback: each attempt fails with a network error.
    let id = api
        .active_workflow(json!({"name": "story", "steps": [
            {"id": "nap", "type": "delay", "config": {"duration": "200ms"}},
            {"id": "each", "type": "foreach",
             "config": {"items": "{{input.items}}",
                        "steps": [{"id": "line", "type": "transform", "config": {"mapping": {"n": "{{item}}"}}}]}},
            {"id": "call", "type": "http", "config": {"url": "http://127.0.0.1:9/down"},
             "retry": {"maxAttempts": 2, "initialInterval": "200ms", "jitter": 0}}
        ]}))
        .await;
    let run = api
        .post(
            &format!("/api/v1/workflows/{id}/run?wait=30"),
            json!({"input": {"items": [1, 2]}}),
        )
        .await;
    assert_eq!(run.body["data"]["status"], "failed", "{}", run.body);
    let run_id = run.body["data"]["id"].as_str().expect("id").to_owned();
    let cookie = sign_in(&api, &api.admin).await;
    let page = get(&api, &format!("/ui/runs/{run_id}"), Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    for needle in [
        r#"<table class="timeline">"#,
        // 0.200 s after the event that set it, less the time that event took to record.
        "Timer set: fires in 0.",
        "Timer fired",
        "Foreach over 2 items",
        "each[1].line",
        "Attempt 1 failed",
        "Retry: attempt 2 in 0.",
        "Attempt 2 started",
        r#"data-kind="retry""#,
        "Run failed",
    ] {
        assert!(page.body.contains(needle), "{needle}: {}", page.body);
    }
}

// Paused time: the `?wait=0.2` below ends at once when the run has paused.
#[tokio::test(start_paused = true)]
async fn the_run_page_is_told_when_its_run_changes() {
    let api = TestApi::new().await;
    let id = api
        .active_workflow(json!({"name": "w", "steps": [
            {"id": "approve", "type": "wait"},
            {"id": "after", "type": "transform", "config": {"mapping": {"ok": true}}}]}))
        .await;
    let started = api
        .post(&format!("/api/v1/workflows/{id}/run?wait=0.2"), json!({}))
        .await;
    let run_id = started.body["data"]["id"].as_str().expect("id").to_owned();
    let cookie = sign_in(&api, &api.admin).await;
    let page = get(&api, &format!("/ui/runs/{run_id}"), Some(&cookie)).await;
    let marker = format!(r#"data-live="/ui/runs/{run_id}/live?since="#);
    let start = page.body.find(&marker).expect("a live run page") + marker.len();
    let since: String = page.body[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();

    let request = Request::builder()
        .uri(format!("/ui/runs/{run_id}/live?since={since}"))
        .header(header::COOKIE, &cookie)
        .body(Body::empty())
        .expect("request");
    let response = api.router.clone().oneshot(request).await.expect("response");
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.into_body();
    let resumed = api
        .post(
            &format!("/api/v1/runs/{run_id}/resume"),
            json!({"payload": 1}),
        )
        .await;
    assert_eq!(resumed.status, StatusCode::OK, "{}", resumed.body);
    let mut told = Vec::new();
    loop {
        let event = next_chunk(&mut body).await;
        assert!(event.starts_with("event: changed\n"), "{event}");
        told.push(event.clone());
        if event.contains("data: completed") {
            break;
        }
    }
    let end = tokio::time::timeout(std::time::Duration::from_secs(10), body.frame()).await;
    assert!(
        matches!(end, Ok(None)),
        "the stream ends with the run: {told:?}"
    );

    // An ended run's page does not listen; a late stream is told there is nothing more.
    let page = get(&api, &format!("/ui/runs/{run_id}"), Some(&cookie)).await;
    assert!(!page.body.contains("data-live="), "{}", page.body);
    let events = api.get(&format!("/api/v1/runs/{run_id}/events")).await;
    let count = events.body["data"].as_array().map_or(0, Vec::len);
    let late = get(
        &api,
        &format!("/ui/runs/{run_id}/live?since={count}"),
        Some(&cookie),
    )
    .await;
    assert_eq!(late.status, StatusCode::NO_CONTENT);
}

/// Polls the run until its status is `want` (every 10 ms, at most 10 s); its detail.
async fn run_until(api: &TestApi, run_id: &str, want: &str) -> serde_json::Value {
    let mut run = serde_json::Value::Null;
    for _ in 0..1_000 {
        run = api.get(&format!("/api/v1/runs/{run_id}")).await.body["data"].clone();
        if run["status"] == want {
            return run;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("run {run_id} is not {want}: {run}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_s_approval_is_answered_from_the_run_page_and_its_conversation_shown() {
    use llm::test_server::ScriptedModel;
    let api = TestApi::new().await;
    let model = ScriptedModel::start(llm::Protocol::OpenAi).await;
    model.push_tool_calls(vec![("n1", "notify", r#"{"text":"<b>hi</b>"}"#)]);
    model.push_text("I did not notify <anyone>.");
    let connection = api
        .post(
            "/api/v1/connections",
            json!({"id": "conn_model", "name": "model", "provider": "openai",
                   "kind": "bearer", "token": "sk-model-secret-0123456789",
                   "baseUrl": model.base_url}),
        )
        .await;
    assert_eq!(
        connection.status,
        StatusCode::CREATED,
        "{}",
        connection.body
    );
    // Port 9: the tool is never called, as its call is denied.
    let created = api
        .post(
            "/api/v1/workflow/manager/create",
            json!({"name": "Support bot", "description": "d", "systemPrompt": "Be brief.",
                   "model": "gpt-test", "connectionId": "conn_model",
                   "requireApproval": ["notify"],
                   "tools": [{"name": "notify", "description": "Tell the team.",
                              "parameters": {"type": "object", "properties": {"text": {"type": "string"}}},
                              "http": {"method": "POST", "url": "http://127.0.0.1:9/notify"}}]}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let workflow = created.body["data"]["id"].as_str().expect("id").to_owned();
    let started = api
        .post(
            &format!("/api/v1/workflows/{workflow}/run"),
            json!({"input": {"message": "Tell the team hi"}}),
        )
        .await;
    let run_id = started.body["data"]["runId"]
        .as_str()
        .expect("run")
        .to_owned();
    let paused = run_until(&api, &run_id, "paused").await;
    assert_eq!(paused["waitingFor"]["type"], "approval", "{paused}");
    let path = format!("/ui/runs/{run_id}");

    let reader = sign_in(&api, &api.key(&[Scope::RunsRead]).await).await;
    let seen = get(&api, &path, Some(&reader)).await;
    assert!(
        seen.body.contains("Waiting for your approval"),
        "{}",
        seen.body
    );
    assert!(
        seen.body.contains("&lt;b&gt;hi&lt;/b&gt;"),
        "escaped: {}",
        seen.body
    );
    assert!(!seen.body.contains(">Approve<"), "a reader cannot answer");

    let cookie = sign_in(&api, &api.admin).await;
    let page = get(&api, &path, Some(&cookie)).await;
    assert!(
        page.body.contains(">Approve<") && page.body.contains(">Deny<"),
        "{}",
        page.body
    );
    assert!(page.body.contains("Conversation of"), "{}", page.body);
    assert!(
        page.body.contains("Be brief."),
        "the system prompt: {}",
        page.body
    );
    assert!(
        page.body.contains("Tell the team hi"),
        "the user's message: {}",
        page.body
    );
    assert!(
        page.body.contains("Calls <strong>notify</strong>"),
        "{}",
        page.body
    );
    let token = page.csrf();
    let forged = post_form(
        &api,
        &format!("{path}/resume"),
        Some(&cookie),
        "approved=false",
    )
    .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let denied = post_form(
        &api,
        &format!("{path}/resume"),
        Some(&cookie),
        &with_token(&token, "approved=false"),
    )
    .await;
    assert_eq!(denied.status, StatusCode::SEE_OTHER, "{}", denied.body);
    let done = run_until(&api, &run_id, "completed").await;
    assert_eq!(
        done["output"]["message"], "I did not notify <anyone>.",
        "{done}"
    );
    let page = get(&api, &path, Some(&cookie)).await;
    assert!(
        !page.body.contains("Waiting for your approval"),
        "{}",
        page.body
    );
    assert!(page.body.contains("Model, turn 2"), "{}", page.body);
    assert!(
        page.body.contains("I did not notify &lt;anyone&gt;."),
        "{}",
        page.body
    );
    assert!(model.requests()[1].to_string().contains("denied"));
}
