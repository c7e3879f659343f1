//! The dashboard in a real headless Chromium (Debian's, through chromedriver) against a real
//! `duro serve`: signing in by keyboard, a run started through the REST API appearing and
//! completing on the Runs page without a reload, a failed run's step and error, the workflow
//! fixed and the run replayed against the fix and rerun from the failing step (earlier steps
//! reused), a paused run resumed with a JSON payload, an XSS payload shown as text, and a
//! `runs:read` key that cannot cancel. Every page is photographed into
//! `target/ui-screenshots/` at 1280 px and 390 px wide.
//!
//! Without Chromium the test prints why and passes, unless `CI=true`.

mod support;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::any;
use axum::Router;
use serde_json::{json, Value};
use support::api::Api;
use support::browser::{Browser, Element};
use support::{Serve, Server};

const KEY: &str = "duro_browser_test_admin_key_0123456789abcdef";
/// The longest any page condition is waited for (the Runs page refreshes every 3 s).
const PATIENCE: Duration = Duration::from_secs(30);
const ENTER: &str = "\u{E007}";
const TAB: &str = "\u{E004}";

/// Requests seen by the counter server, by path.
type Counts = Arc<Mutex<HashMap<String, u32>>>;

/// A server that counts requests per path: `/ok/{name}` answers 200, `/fail/{name}` 400.
async fn counter_server() -> (String, Counts) {
    let counts: Counts = Arc::default();
    let app = Router::new()
        .route(
            "/{kind}/{name}",
            any(
                |State(counts): State<Counts>, Path((kind, name)): Path<(String, String)>| async move {
                    *counts
                        .lock()
                        .expect("lock")
                        .entry(format!("/{kind}/{name}"))
                        .or_default() += 1;
                    if kind == "fail" {
                        (StatusCode::BAD_REQUEST, format!("{{\"error\":\"{name} refused\"}}"))
                    } else {
                        (StatusCode::OK, format!("{{\"done\":\"{name}\"}}"))
                    }
                },
            ),
        )
        .with_state(counts.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{address}"), counts)
}

fn count(counts: &Counts, path: &str) -> u32 {
    counts.lock().expect("lock").get(path).copied().unwrap_or(0)
}

/// fetch (http) → calc (transform) → charge (http to `charge_url`) → notify (http).
fn order_steps(base: &str, charge_url: &str) -> Value {
    json!([
        { "id": "fetch", "type": "http", "config": { "url": format!("{base}/ok/fetch") } },
        { "id": "calc", "type": "transform", "config": { "mapping": { "total": "{{input.amount | times: 2}}" } } },
        { "id": "charge", "type": "http", "config": {
            "method": "POST", "url": charge_url, "body": { "total": "{{steps.calc.output.total}}" } } },
        { "id": "notify", "type": "http", "config": { "method": "POST", "url": format!("{base}/ok/notify") } },
    ])
}

fn screenshots() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/ui-screenshots")
}

/// The test's world: a server, the API as admin, a browser.
struct World {
    server: Server,
    api: Api,
    browser: Browser,
    /// The server's standard error (its log).
    log: PathBuf,
}

impl World {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.url)
    }

    async fn open(&self, path: &str) {
        self.browser.goto(&self.url(path)).await;
    }

    /// Opens `path` again until the element `css` has text containing `want`.
    async fn reload_until(&self, path: &str, css: &str, want: &str) {
        let deadline = std::time::Instant::now() + PATIENCE;
        loop {
            self.open(path).await;
            for element in &self.browser.find_all(css).await {
                if self.browser.text(element).await.contains(want) {
                    return;
                }
            }
            if std::time::Instant::now() >= deadline {
                // What the API says of the run, and the end of the server's log, to tell why.
                let run = match path.strip_prefix("/ui/runs/") {
                    Some(id) => format!("{:?}", self.api.run(id).await),
                    None => String::new(),
                };
                let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(40).collect();
                panic!(
                    "waited {PATIENCE:?} for {css} to say {want:?} on {path}; the page says:\n{}\n\
                     the API says: {run}\nthe server's log ends:\n{}",
                    self.browser.page_text().await,
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The page has no horizontal scroll at the current width (wide tables scroll in their
    /// own box).
    async fn fits_the_width(&self, page: &str) {
        let sizes = self
            .browser
            .script(
                "return [document.documentElement.scrollWidth, window.innerWidth];",
                vec![],
            )
            .await;
        let (scroll, inner) = (sizes[0].as_u64(), sizes[1].as_u64());
        assert!(
            scroll <= inner,
            "{page} is wider than the window: {scroll:?} > {inner:?}"
        );
    }

    /// A run's status through the API.
    async fn status(&self, run_id: &str) -> String {
        let run = self.api.run(run_id).await.expect("the run");
        run["status"].as_str().unwrap_or_default().to_owned()
    }

    /// Waits (through the API) for the run's status.
    async fn wait_status(&self, run_id: &str, want: &str) {
        self.browser
            .wait_for(&format!("run {run_id} to be {want}"), PATIENCE, || async {
                (self.status(run_id).await == want).then_some(())
            })
            .await;
    }

    /// The step's row of the Run page.
    async fn step_row(&self, step: &str) -> Element {
        self.browser.find(&format!("tr[data-step='{step}']")).await
    }
}

/// Signs in by keyboard: the key typed into the focused field, then Enter.
async fn sign_in(world: &World, key: &str) {
    world.open("/ui/runs").await;
    assert!(
        world.browser.url().await.ends_with("/ui/login"),
        "without a session the dashboard asks to sign in"
    );
    let field = world.browser.find("input#key").await;
    let focused = world
        .browser
        .script("return document.activeElement.id;", vec![])
        .await;
    assert_eq!(focused, "key", "the key field has the focus");
    world
        .browser
        .type_into(&field, &format!("{key}{ENTER}"))
        .await;
    world
        .browser
        .wait_for("the Runs page", PATIENCE, || async {
            world
                .browser
                .url()
                .await
                .ends_with("/ui/runs")
                .then_some(())
        })
        .await;
}

async fn sign_out(world: &World) {
    let button = world.browser.find("form.signout button").await;
    world.browser.click(&button).await;
    world
        .browser
        .wait_for("the sign-in form", PATIENCE, || async {
            world
                .browser
                .url()
                .await
                .ends_with("/ui/login")
                .then_some(())
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_in_a_real_browser() {
    let Some(browser) = Browser::start(&screenshots()).await else {
        return;
    };
    let log = screenshots().join("duro-serve.log");
    let server = Serve::new()
        .bootstrap_key(KEY)
        .env_remove("DURO_CONFIG")
        .stderr_file(&log)
        .env("RUST_LOG", "info,duro_engine=debug,duro_api=debug")
        .start();
    let api = Api::new(&server.url, KEY);
    let world = World {
        server,
        api,
        browser,
        log,
    };
    let (base, counts) = counter_server().await;

    // Sign in: a wrong key is refused on the form, the right one (typed, Enter) lands on Runs.
    world.open("/ui/login").await;
    world.browser.screenshot("01-login").await;
    let field = world.browser.find("input#key").await;
    world
        .browser
        .type_into(&field, &format!("duro_wrong{ENTER}"))
        .await;
    let alert = world.browser.find("p.error[role=alert]").await;
    assert!(world.browser.text(&alert).await.contains("not accepted"));
    sign_in(&world, KEY).await;
    assert_eq!(world.browser.title().await, "Runs · Duro");

    by_keyboard(&world).await;
    live_runs(&world).await;
    failed_fixed_and_rerun(&world, &base, &counts).await;
    let paused = resumed_with_a_payload(&world).await;
    script_in_an_output_is_text(&world).await;
    an_agent_asks_for_approval(&world, &base, &counts).await;
    workflows(&world).await;
    triggers(&world).await;
    overview(&world).await;
    narrow_screens(&world).await;
    a_reader_cannot_cancel(&world, &paused).await;
}

/// The keyboard alone gets around: Tab first reaches "Skip to content" (Enter moves the focus
/// past the navigation), then the navigation's links in order; Enter on one follows it.
async fn by_keyboard(world: &World) {
    world.open("/ui/runs").await;
    let focused = || async {
        world
            .browser
            .script(
                "var e = document.activeElement; return [e.tagName, e.textContent.trim(), e.getAttribute('href')];",
                vec![],
            )
            .await
    };
    world.browser.press(TAB).await;
    assert_eq!(focused().await[1], "Skip to content");
    world.browser.press(TAB).await;
    assert_eq!(focused().await[1], "Duro");
    let mut links = Vec::new();
    for _ in 0..4 {
        world.browser.press(TAB).await;
        links.push(focused().await[2].as_str().unwrap_or_default().to_owned());
    }
    assert_eq!(
        links,
        ["/ui/overview", "/ui/runs", "/ui/workflows", "/ui/triggers"],
        "the navigation in order"
    );
    // Enter on the focused Triggers link opens it.
    world.browser.press(ENTER).await;
    world
        .browser
        .wait_for("the Triggers page", PATIENCE, || async {
            world
                .browser
                .url()
                .await
                .ends_with("/ui/triggers")
                .then_some(())
        })
        .await;
    // A visible focus ring: the outline the stylesheet gives focused links.
    world.browser.find("table.triggers").await;
    world
        .browser
        .wait_for("the page loaded", PATIENCE, || async {
            let state = world
                .browser
                .script("return document.readyState;", vec![])
                .await;
            (state == "complete").then_some(())
        })
        .await;
    world.browser.press(TAB).await;
    world.browser.press(TAB).await;
    let outline = world
        .browser
        .script(
            "return getComputedStyle(document.activeElement).outlineStyle;",
            vec![],
        )
        .await;
    assert_eq!(outline, "solid", "the focus is visible");
}

/// A run started through the API appears on the open Runs page and completes there, while
/// the page is never reloaded (a marker set on the window survives), through the page's
/// event stream (it never polled).
async fn live_runs(world: &World) {
    let workflow = world
        .api
        .active_workflow(json!({
            "name": "napper",
            "steps": [
                {"id": "nap", "type": "delay", "config": {"duration": "2s"}},
                {"id": "done", "type": "transform", "config": {"mapping": {"ok": true}}}
            ]
        }))
        .await;
    world.open("/ui/runs").await;
    world
        .browser
        .script("window.duroNotReloaded = true; return null;", vec![])
        .await;
    let run_id = world
        .api
        .start_run(&workflow, json!({}))
        .await
        .expect("a run");
    let row = format!("#runs-rows a[href='/ui/runs/{run_id}']");
    world
        .browser
        .wait_for("the new run in the table", PATIENCE, || async {
            world.browser.find_all(&row).await.into_iter().next()
        })
        .await;
    world.browser.screenshot("02-runs-live").await;

    world
        .browser
        .wait_for("the run completed in the table", PATIENCE, || async {
            for tr in world.browser.find_all("#runs-rows tr").await {
                let text = world.browser.text(&tr).await;
                if text.contains(&run_id) && text.contains("completed") {
                    return Some(());
                }
            }
            None
        })
        .await;
    let marker = world
        .browser
        .script("return window.duroNotReloaded === true;", vec![])
        .await;
    assert_eq!(marker, true, "the page was not reloaded");
    // Through Server-Sent Events, not by polling the rows (the script marks which).
    let by = world
        .browser
        .attribute(&world.browser.find("#runs-rows").await, "data-updated-by")
        .await;
    assert_eq!(by.as_deref(), Some("stream"));
    world.browser.full_screenshot("03-runs", 1280).await;
    // Another run's page, opened while it sleeps, shows it complete by itself.
    let run_id = world
        .api
        .start_run(&workflow, json!({}))
        .await
        .expect("a run");
    world.open(&format!("/ui/runs/{run_id}")).await;
    let first = world
        .browser
        .text(&world.browser.find(".facts .status").await)
        .await;
    world
        .browser
        .script("window.duroNotReloaded = true; return null;", vec![])
        .await;
    world
        .browser
        .wait_for("the run page to say completed", PATIENCE, || async {
            let status = world.browser.find_all(".facts .status").await;
            let text = world.browser.text(status.first()?).await;
            (text == "completed").then_some(())
        })
        .await;
    let marker = world
        .browser
        .script("return window.duroNotReloaded === true;", vec![])
        .await;
    assert_eq!(marker, true, "the run page was not reloaded");
    if first != "completed" {
        let by = world
            .browser
            .attribute(&world.browser.find("#run").await, "data-updated-by")
            .await;
        assert_eq!(by.as_deref(), Some("stream"), "it was {first} at first");
    }
    let timeline = world
        .browser
        .text(&world.browser.find("table.timeline").await)
        .await;
    assert!(timeline.contains("Timer set"), "{timeline}");
    assert!(timeline.contains("Timer fired"), "{timeline}");
    world.browser.full_screenshot("02b-run-live", 1280).await;
}

/// A run failing at `charge`: its page names the step and the error; the workflow is fixed
/// (version 2) through the API; replaying against version 2 shows where it diverges; the
/// rerun from `charge` on version 2 completes with `fetch` and `calc` reused (not requested
/// again).
async fn failed_fixed_and_rerun(world: &World, base: &str, counts: &Counts) {
    let workflow = world
        .api
        .active_workflow(json!({
            "name": "Order",
            "steps": order_steps(base, &format!("{base}/fail/charge")),
        }))
        .await;
    let run_id = world
        .api
        .start_run(&workflow, json!({"amount": 21}))
        .await
        .expect("a run");
    let run = world.api.ended(&run_id, PATIENCE).await;
    assert_eq!(run["status"], "failed", "{run}");

    // Found from the Runs page's failed filter.
    world.open("/ui/runs").await;
    let status = world.browser.find("select[name=status]").await;
    world.browser.click(&status).await;
    world
        .browser
        .click(
            &world
                .browser
                .find("select[name=status] option[value=failed]")
                .await,
        )
        .await;
    world
        .browser
        .click(&world.browser.find("form.filters button[type=submit]").await)
        .await;
    // The filtered page (the unfiltered one listed the run too, so wait for the new URL).
    world
        .browser
        .wait_for("the filtered Runs page", PATIENCE, || async {
            world
                .browser
                .url()
                .await
                .contains("status=failed")
                .then_some(())
        })
        .await;
    let link = format!("#runs-rows a[href='/ui/runs/{run_id}']");
    world
        .browser
        .wait_for("the failed run listed", PATIENCE, || async {
            world.browser.find_all(&link).await.into_iter().next()
        })
        .await;
    let statuses = world
        .browser
        .script(
            "return Array.from(document.querySelectorAll('#runs-rows tr'))\
             .map(function (r) { return r.dataset.status; });",
            vec![],
        )
        .await;
    assert_eq!(statuses, json!(["failed"]), "only the failed run is listed");
    world.browser.click_css(&link).await;
    world
        .browser
        .wait_for("the run page", PATIENCE, || async {
            world.browser.url().await.ends_with(&run_id).then_some(())
        })
        .await;
    let error = world
        .browser
        .text(&world.browser.find("p.error").await)
        .await;
    assert!(error.contains("charge"), "the failing step: {error}");
    assert!(error.contains("400"), "the error: {error}");
    let row = world.step_row("charge").await;
    assert_eq!(
        world
            .browser
            .attribute(&row, "data-status")
            .await
            .as_deref(),
        Some("failed")
    );
    let row_text = world.browser.text(&row).await;
    assert!(
        row_text.contains("charge refused"),
        "the step's error, open: {row_text}"
    );
    world.browser.full_screenshot("04-run-failed", 1280).await;

    // Fix the workflow: version 2 charges at a URL that works.
    let (status, body) = world
        .api
        .call(
            reqwest::Method::PATCH,
            &format!("/api/v1/workflows/{workflow}"),
            Some(json!({ "steps": order_steps(base, &format!("{base}/ok/charge")) })),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    // Replay against version 2: the history diverges at charge's request.
    world.open(&format!("/ui/runs/{run_id}")).await;
    let against = world.browser.find("form.replay select[name=against]").await;
    assert_eq!(
        world.browser.property(&against, "value").await.as_deref(),
        Some("2")
    );
    world
        .browser
        .click(&world.browser.find("form.replay button").await)
        .await;
    let section = world
        .browser
        .wait_for("the replay", PATIENCE, || async {
            world
                .browser
                .find_all("section.divergence")
                .await
                .into_iter()
                .next()
        })
        .await;
    let divergence = world.browser.text(&section).await;
    assert!(
        divergence.contains("Replay against version 2"),
        "{divergence}"
    );
    assert!(divergence.contains("charge"), "{divergence}");
    assert!(divergence.contains("request"), "{divergence}");
    world.browser.screenshot("05-run-replay").await;

    // Rerun from the failing step (chosen already) on version 2 (the current one).
    let from = world.browser.find("form.rerun select[name=fromStep]").await;
    assert_eq!(
        world.browser.property(&from, "value").await.as_deref(),
        Some("charge"),
        "the failing step is the rerun's default"
    );
    let fetched = count(counts, "/ok/fetch");
    assert_eq!(fetched, 1);
    world
        .browser
        .click(&world.browser.find("form.rerun button").await)
        .await;
    let rerun_path = world
        .browser
        .wait_for("the rerun's page", PATIENCE, || async {
            let url = world.browser.url().await;
            let path = url.strip_prefix(&world.server.url)?.to_owned();
            (path.starts_with("/ui/runs/") && !path.contains(&run_id)).then_some(path)
        })
        .await;
    world
        .reload_until(&rerun_path, ".facts .status", "completed")
        .await;
    for step in ["fetch", "calc"] {
        let text = world.browser.text(&world.step_row(step).await).await;
        assert!(text.contains("reused"), "{step} is reused: {text}");
    }
    let charge = world.browser.text(&world.step_row("charge").await).await;
    assert!(!charge.contains("reused"), "{charge}");
    let parent = world
        .browser
        .text(&world.browser.find(".facts").await)
        .await;
    assert!(parent.contains(&run_id), "the parent link: {parent}");
    assert!(parent.contains("rerun from charge"), "{parent}");
    assert_eq!(
        count(counts, "/ok/fetch"),
        1,
        "fetch was not requested again"
    );
    assert_eq!(count(counts, "/ok/charge"), 1);
    world.browser.full_screenshot("06-run-rerun", 1280).await;
}

/// A paused run is resumed from its page with a JSON payload, which becomes the waiting
/// step's output; a payload that is not JSON is explained and changes nothing. Returns
/// another paused run, for the reader.
async fn resumed_with_a_payload(world: &World) -> String {
    let workflow = world
        .api
        .active_workflow(json!({
            "name": "approval",
            "steps": [
                {"id": "approve", "type": "wait"},
                {"id": "after", "type": "transform",
                 "config": {"mapping": {"said": "{{steps.approve.output.answer}}"}}}
            ]
        }))
        .await;
    let run_id = world
        .api
        .start_run(&workflow, json!({}))
        .await
        .expect("a run");
    world.wait_status(&run_id, "paused").await;
    let path = format!("/ui/runs/{run_id}");
    world.open(&path).await;
    assert!(
        world.browser.find_all("form.rerun").await.is_empty(),
        "a paused run cannot be rerun"
    );

    // Not JSON: a page says so, the run stays paused.
    let payload = world.browser.find("textarea[name=payload]").await;
    world.browser.type_into(&payload, "{answer: nope").await;
    world
        .browser
        .click(&world.browser.find("form.resume button").await)
        .await;
    let message = world
        .browser
        .wait_for("the refusal", PATIENCE, || async {
            world.browser.find_all("p.message").await.into_iter().next()
        })
        .await;
    assert!(world
        .browser
        .text(&message)
        .await
        .contains("not valid JSON"));
    assert_eq!(world.status(&run_id).await, "paused");

    world.open(&path).await;
    world.browser.screenshot("07-run-paused").await;
    let payload = world.browser.find("textarea[name=payload]").await;
    world
        .browser
        .type_into(&payload, r#"{"answer": "ship it"}"#)
        .await;
    world.browser.click_to_navigate("form.resume button").await;
    world
        .reload_until(&path, ".facts .status", "completed")
        .await;
    let output = world.browser.text(&world.step_row("after").await).await;
    let run = world.api.run(&run_id).await.expect("run");
    assert_eq!(run["output"]["said"], "ship it", "{run}");
    assert!(
        world.browser.find_all("form.resume").await.is_empty(),
        "{output}"
    );

    let other = world
        .api
        .start_run(&workflow, json!({}))
        .await
        .expect("a run");
    world.wait_status(&other, "paused").await;
    other
}

/// A run whose output holds markup shows it as text: no element is made from it, no script
/// runs.
async fn script_in_an_output_is_text(world: &World) {
    let workflow = world
        .api
        .active_workflow(json!({
            "name": "xss",
            "steps": [{"id": "echo", "type": "transform",
                       "config": {"mapping": {"html": "{{input.payload}}"}}}]
        }))
        .await;
    let payload = r#"<img src=x onerror="document.title='pwned'"><script>alert(1)</script>"#;
    let run_id = world
        .api
        .start_run(&workflow, json!({ "payload": payload }))
        .await
        .expect("a run");
    world.api.ended(&run_id, PATIENCE).await;
    world.open(&format!("/ui/runs/{run_id}")).await;
    // Open every Output block.
    for summary in world.browser.find_all("details.json summary").await {
        if world.browser.text(&summary).await == "Output" {
            world.browser.click(&summary).await;
        }
    }
    let shown = world
        .browser
        .script(
            "return Array.from(document.querySelectorAll('details.json pre'))\
             .map(function (p) { return p.textContent; }).join('\\n');",
            vec![],
        )
        .await;
    let shown = shown.as_str().unwrap_or_default();
    assert!(
        shown.contains(r#"<img src=x onerror=\"document.title='pwned'\">"#),
        "the markup as text: {shown}"
    );
    let made = world
        .browser
        .script(
            "return document.querySelectorAll('main img, main script').length;",
            vec![],
        )
        .await;
    assert_eq!(made, 0, "no element was made from the output");
    assert_ne!(world.browser.title().await, "pwned");
    assert_eq!(world.browser.alert_text().await, None, "no script ran");
    world.browser.full_screenshot("08-run-xss", 1280).await;
}

/// An agent wants to call a tool that needs approval: its run page says so with the
/// arguments and the conversation so far; Approve (a click) lets the call go (the test's
/// server sees it once) and the agent finishes, its conversation showing both turns.
async fn an_agent_asks_for_approval(world: &World, base: &str, counts: &Counts) {
    use llm::test_server::ScriptedModel;
    let model = ScriptedModel::start(llm::Protocol::OpenAi).await;
    model.push_tool_calls(vec![("n1", "notify", r#"{"text":"deploy done"}"#)]);
    model.push_text("I told the team.");
    let (status, body) = world
        .api
        .call(
            reqwest::Method::POST,
            "/api/v1/connections",
            Some(
                json!({"id": "conn_model", "name": "model", "provider": "openai",
                        "kind": "bearer", "token": "sk-model-secret-0123456789",
                        "baseUrl": model.base_url}),
            ),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = world
        .api
        .call(
            reqwest::Method::POST,
            "/api/v1/workflow/manager/create",
            Some(json!({"name": "Release bot", "description": "d", "systemPrompt": "Be brief.",
                        "model": "gpt-test", "connectionId": "conn_model",
                        "requireApproval": ["notify"],
                        "tools": [{"name": "notify", "description": "Tell the team.",
                                   "parameters": {"type": "object", "properties": {"text": {"type": "string"}}},
                                   "http": {"method": "POST", "url": format!("{base}/ok/notify-team"),
                                            "body": {"text": "{{args.text}}"}}}]})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let workflow = body["data"]["id"].as_str().expect("id").to_owned();
    let run_id = world
        .api
        .start_run(
            &workflow,
            json!({"message": "Tell the team the deploy is done"}),
        )
        .await
        .expect("a run");
    world.wait_status(&run_id, "paused").await;
    let path = format!("/ui/runs/{run_id}");
    world.open(&path).await;
    let waiting = world
        .browser
        .text(&world.browser.find("section.waiting").await)
        .await;
    assert!(
        waiting.contains("notify") && waiting.contains("deploy done"),
        "{waiting}"
    );
    world
        .browser
        .full_screenshot("22-agent-approval", 1280)
        .await;
    assert_eq!(
        count(counts, "/ok/notify-team"),
        0,
        "not before the approval"
    );
    world.browser.click_to_navigate("form.approve button").await;
    world
        .reload_until(&path, ".facts .status", "completed")
        .await;
    assert_eq!(
        count(counts, "/ok/notify-team"),
        1,
        "the approved call, once"
    );
    let talk = world
        .browser
        .text(&world.browser.find("section.conversation").await)
        .await;
    assert!(
        talk.contains("Model, turn 1") && talk.contains("Calls notify"),
        "{talk}"
    );
    assert!(talk.contains("I told the team."), "{talk}");
    world
        .browser
        .full_screenshot("23-agent-conversation", 1280)
        .await;
}

/// The Workflows page lists a workflow; its page draws the condition's branches and the
/// foreach's body; a run with an input its inputSchema refuses is explained, and one it
/// accepts starts and completes.
async fn workflows(world: &World) {
    let workflow = world
        .api
        .active_workflow(json!({
            "name": "Route orders",
            "inputSchema": {"type": "object", "required": ["total"],
                            "properties": {"total": {"type": "number"}, "items": {"type": "array"}}},
            "steps": [
                {"id": "check", "type": "condition",
                 "config": {"left": "{{input.total}}", "operator": "greaterThan", "right": 100,
                            "then": [{"id": "big", "type": "transform", "config": {"mapping": {"size": "big"}}}],
                            "else": [{"id": "small", "type": "transform", "config": {"mapping": {"size": "small"}}}]}},
                {"id": "each", "type": "foreach",
                 "config": {"items": "{{input.items}}", "concurrency": 2,
                            "steps": [{"id": "line", "type": "transform", "config": {"mapping": {"n": "{{item}}"}}}]}},
                {"id": "notify", "type": "delay", "config": {"duration": "1s"}}
            ]
        }))
        .await;
    world.open("/ui/runs").await;
    world
        .browser
        .click_to_navigate("nav a[href='/ui/workflows']")
        .await;
    let link = world
        .browser
        .wait_for("the workflow listed", PATIENCE, || async {
            world
                .browser
                .find_all(&format!("a[href='/ui/workflows/{workflow}']"))
                .await
                .into_iter()
                .next()
        })
        .await;
    world.browser.screenshot("13-workflows").await;
    world.browser.click(&link).await;
    let then_branch = world
        .browser
        .wait_for("the diagram", PATIENCE, || async {
            world
                .browser
                .find_all("li[data-step=check] [data-branch=then] li[data-step=big]")
                .await
                .into_iter()
                .next()
        })
        .await;
    assert!(world.browser.text(&then_branch).await.contains("big"));
    let body = world
        .browser
        .find("li[data-step=each] [data-branch=each] li[data-step=line]")
        .await;
    assert!(world.browser.text(&body).await.contains("line"));
    world.browser.full_screenshot("14-workflow", 1280).await;

    // The schema refuses an input without `total`, naming it.
    let input = world.browser.find("form.run textarea[name=input]").await;
    world.browser.type_into(&input, r#"{"items": [1]}"#).await;
    world
        .browser
        .click(&world.browser.find("form.run button").await)
        .await;
    let message = world
        .browser
        .wait_for("the refusal", PATIENCE, || async {
            world.browser.find_all("p.message").await.into_iter().next()
        })
        .await;
    let text = world.browser.text(&message).await;
    assert!(text.contains("total"), "{text}");
    world.browser.screenshot("15-workflow-run-refused").await;
    // Go back: the form as it was filled in, to fix.
    world.browser.click_css("a[data-back]").await;
    let input = world
        .browser
        .wait_for("the form again", PATIENCE, || async {
            world
                .browser
                .find_all("form.run textarea[name=input]")
                .await
                .into_iter()
                .next()
        })
        .await;
    assert_eq!(
        world.browser.property(&input, "value").await.as_deref(),
        Some(r#"{"items": [1]}"#),
        "the input kept"
    );

    world.open(&format!("/ui/workflows/{workflow}")).await;
    let input = world.browser.find("form.run textarea[name=input]").await;
    world
        .browser
        .type_into(&input, r#"{"total": 250, "items": [1, 2, 3]}"#)
        .await;
    world
        .browser
        .click(&world.browser.find("form.run button").await)
        .await;
    let run_path = world
        .browser
        .wait_for("the new run's page", PATIENCE, || async {
            let url = world.browser.url().await;
            let path = url.strip_prefix(&world.server.url)?.to_owned();
            path.starts_with("/ui/runs/run_").then_some(path)
        })
        .await;
    world
        .reload_until(&run_path, ".facts .status", "completed")
        .await;
    let big = world.browser.text(&world.step_row("big").await).await;
    assert!(big.contains("completed"), "the then branch ran: {big}");
}

/// The Triggers page lists a schedule and a webhook; the schedule shows its next fires and
/// is disabled from its page; the webhook's URL is copied and the trigger run now.
async fn triggers(world: &World) {
    let workflow = world
        .api
        .active_workflow(json!({"name": "hooked", "steps": [
            {"id": "x", "type": "transform", "config": {"mapping": {"got": "{{input.n}}"}}}]}))
        .await;
    let mut ids = Vec::new();
    for (slug, body) in [
        (
            "nightly",
            json!({"type": "schedule", "workflowId": workflow,
                           "config": {"cron": "0 2 * * *", "timezone": "Europe/Paris"}}),
        ),
        (
            "orders-hook",
            json!({"type": "webhook", "workflowId": workflow,
                               "config": {"signature": {"scheme": "github", "secret": "s3cret"}}}),
        ),
    ] {
        let (status, answer) = world
            .api
            .call(
                reqwest::Method::PUT,
                &format!("/api/v1/triggers/{slug}"),
                Some(body),
            )
            .await;
        assert_eq!(status, 201, "{answer}");
        ids.push(answer["data"]["id"].as_str().expect("id").to_owned());
    }
    let (schedule, hook) = (&ids[0], &ids[1]);
    world.open("/ui/triggers").await;
    let rows = world
        .browser
        .wait_for("both triggers listed", PATIENCE, || async {
            let rows = world.browser.find_all("tr[data-trigger]").await;
            (rows.len() >= 2).then_some(rows)
        })
        .await;
    assert_eq!(rows.len(), 2);
    world.browser.screenshot("16-triggers").await;

    // Disable the schedule from its page.
    world
        .browser
        .click(
            &world
                .browser
                .find(&format!("a[href='/ui/triggers/{schedule}']"))
                .await,
        )
        .await;
    let fires = world
        .browser
        .wait_for("the next fires", PATIENCE, || async {
            let fires = world.browser.find_all("ol.fires li").await;
            (!fires.is_empty()).then_some(fires)
        })
        .await;
    assert_eq!(fires.len(), 5);
    world.browser.screenshot("17-trigger-schedule").await;
    world
        .browser
        .click(&world.browser.find("form.toggle button").await)
        .await;
    world
        .browser
        .wait_for("the trigger disabled", PATIENCE, || async {
            let status = world.browser.find_all(".facts .status").await;
            let first = status.first()?;
            (world.browser.text(first).await == "disabled").then_some(())
        })
        .await;
    assert!(world.browser.find_all("form.fire").await.is_empty());
    let (_, answer) = world
        .api
        .call(
            reqwest::Method::GET,
            &format!("/api/v1/triggers/{schedule}"),
            None,
        )
        .await;
    assert_eq!(answer["data"]["status"], "disabled", "{answer}");

    // The webhook: copy its URL, run it now.
    world.open(&format!("/ui/triggers/{hook}")).await;
    let url = world
        .browser
        .text(&world.browser.find("#webhook-url").await)
        .await;
    assert!(
        url.starts_with(&world.server.url) && url.contains("/api/v1/webhooks/"),
        "{url}"
    );
    world
        .browser
        .click(&world.browser.find("button[data-copy=webhook-url]").await)
        .await;
    let said = world
        .browser
        .wait_for("the copy's answer", PATIENCE, || async {
            let said = world.browser.find_all(".copied").await;
            let text = world.browser.text(said.first()?).await;
            (!text.is_empty()).then_some(text)
        })
        .await;
    assert!(said == "Copied" || said.starts_with("Select"), "{said}");
    let input = world.browser.find("form.fire textarea[name=input]").await;
    world.browser.type_into(&input, r#"{"n": 42}"#).await;
    world
        .browser
        .click(&world.browser.find("form.fire button").await)
        .await;
    let run_path = world
        .browser
        .wait_for("the fired run's page", PATIENCE, || async {
            let url = world.browser.url().await;
            let path = url.strip_prefix(&world.server.url)?.to_owned();
            path.starts_with("/ui/runs/run_").then_some(path)
        })
        .await;
    world
        .reload_until(&run_path, ".facts .status", "completed")
        .await;
    let run_id = run_path.trim_start_matches("/ui/runs/").to_owned();
    let run = world.api.run(&run_id).await.expect("run");
    assert_eq!(run["output"]["got"], 42, "{run}");
    world.open(&format!("/ui/triggers/{hook}")).await;
    let history = world
        .browser
        .text(&world.browser.find("table.history").await)
        .await;
    assert!(
        history.contains(&run_id) && history.contains("fired"),
        "{history}"
    );
    world
        .browser
        .full_screenshot("18-trigger-webhook", 1280)
        .await;
}

/// The Overview page charts the hour's runs: every run the test started, the failed one
/// among the failures, and their latencies.
async fn overview(world: &World) {
    let started = world.api.listed_runs().await.len();
    world.browser.click_css("nav a[href='/ui/overview']").await;
    let stat = world
        .browser
        .wait_for("the overview", PATIENCE, || async {
            world
                .browser
                .find_all("[data-stat=started]")
                .await
                .into_iter()
                .next()
        })
        .await;
    assert_eq!(world.browser.text(&stat).await, started.to_string());
    let failed = world
        .browser
        .text(&world.browser.find("[data-stat=failed]").await)
        .await;
    assert_ne!(failed, "0", "the failed run of the rerun story");
    for chart in [
        "runs-per-minute",
        "failures-per-minute",
        "latency-per-minute",
    ] {
        let bars = world.browser.find_all(&format!("#{chart} svg rect")).await;
        assert!(!bars.is_empty(), "{chart} has bars");
    }
    world.browser.screenshot("19-overview").await;
}

/// At 390 px the Runs, Run, Overview, Workflow, Triggers and a webhook trigger's pages fit
/// the width (tables scroll in their own box, long URLs wrap).
async fn narrow_screens(world: &World) {
    world.browser.resize(390, 844).await;
    world.open("/ui/runs").await;
    world.fits_the_width("the Runs page").await;
    world.browser.screenshot("09-runs-390").await;
    world.browser.click_css("#runs-rows a").await;
    world
        .browser
        .wait_for("a run page", PATIENCE, || async {
            world
                .browser
                .find_all("table.steps")
                .await
                .into_iter()
                .next()
        })
        .await;
    world.fits_the_width("a Run page").await;
    world.browser.screenshot("10-run-390").await;
    world.open("/ui/overview").await;
    world.fits_the_width("the Overview page").await;
    world.browser.screenshot("20-overview-390").await;
    world.open("/ui/workflows").await;
    world.browser.click_css("table.workflows a").await;
    world
        .browser
        .wait_for("a workflow page", PATIENCE, || async {
            world.browser.find_all("ol.flow").await.into_iter().next()
        })
        .await;
    world.fits_the_width("a Workflow page").await;
    world.browser.screenshot("21-workflow-390").await;
    world.open("/ui/triggers").await;
    world.fits_the_width("the Triggers page").await;
    // The webhook's page: its long URL wraps.
    let href = world
        .browser
        .script(
            "var links = document.querySelectorAll('tr[data-trigger] td:first-child a');\
             for (var i = 0; i < links.length; i++) {\
               if (links[i].textContent === 'orders-hook') return links[i].getAttribute('href');\
             }\
             return null;",
            vec![],
        )
        .await;
    world
        .open(href.as_str().expect("the webhook trigger listed"))
        .await;
    world.browser.find("#webhook-url").await;
    world.fits_the_width("a webhook trigger's page").await;
    world.browser.screenshot("24-trigger-390").await;
    world.browser.resize(1280, 900).await;
}

/// A key with `runs:read` only sees the paused run without Cancel or Resume, and a cancel
/// posted anyway (with its session's CSRF token) is refused with the page naming
/// `runs:write`; the run stays paused.
async fn a_reader_cannot_cancel(world: &World, paused: &str) {
    let (status, body) = world
        .api
        .call(
            reqwest::Method::POST,
            "/api/v1/keys",
            Some(json!({"name": "reader", "scopes": ["runs:read"]})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let reader = body["data"]["key"].as_str().expect("the key").to_owned();
    sign_out(world).await;
    sign_in(world, &reader).await;
    world.open(&format!("/ui/runs/{paused}")).await;
    assert!(world
        .browser
        .text(&world.browser.find(".facts").await)
        .await
        .contains("paused"));
    for form in ["form.resume", "form.rerun", "form[action$='/cancel']"] {
        assert!(
            world.browser.find_all(form).await.is_empty(),
            "a reader has no {form}"
        );
    }
    world.browser.screenshot("11-run-reader").await;
    // As a forged form would: the session's own token, posted to cancel.
    world
        .browser
        .script(
            "var form = document.createElement('form');\
             form.method = 'post'; form.action = arguments[0];\
             var token = document.querySelector('input[name=csrf]').cloneNode();\
             form.appendChild(token); document.body.appendChild(form); form.submit();\
             return null;",
            vec![json!(format!("/ui/runs/{paused}/cancel"))],
        )
        .await;
    let message = world
        .browser
        .wait_for("the refusal", PATIENCE, || async {
            world.browser.find_all("p.message").await.into_iter().next()
        })
        .await;
    let text = world.browser.text(&message).await;
    assert!(text.contains("runs:write"), "{text}");
    world.browser.screenshot("12-forbidden").await;
    assert_eq!(world.status(paused).await, "paused");
}
