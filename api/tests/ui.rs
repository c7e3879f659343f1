//! The dashboard (`/ui`) through the router, no browser: sign-in and sessions, the scope
//! message page, the runs and run pages, escaping, the security headers and CSRF.

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
    let mut page = get(&api, &rerun_page, Some(&cookie)).await;
    for _ in 0..200 {
        if page.body.contains(r#"class="status ok">completed"#) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        page = get(&api, &rerun_page, Some(&cookie)).await;
    }
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
