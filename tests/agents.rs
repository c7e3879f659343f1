//! Agent steps under a real `duro serve`, against scripted model servers on loopback that
//! speak the OpenAI Chat Completions and Anthropic Messages wire formats and count the
//! requests they answer: a 3-turn agent with an http tool and an action tool; SIGKILL with a
//! tool call in flight (no model call repeated, each side effect once); approval denied;
//! ask_user; budgets; a malformed reply fed back once; a 429 with Retry-After.

mod support;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use llm::test_server::ScriptedModel;
use llm::Protocol;
use reqwest::Method;
use serde_json::{json, Value};
use support::api::Api;
use support::{free_port, Serve, Server};

const KEY: &str = "agents-test-bootstrap-key-0123456789";

/// A tool endpoint that records each distinct Idempotency-Key (its side effects) and every
/// request; while `hold` is set, the first request is left unanswered.
#[derive(Clone, Default)]
struct ToolServer {
    keys: Arc<Mutex<Vec<String>>>,
    bodies: Arc<Mutex<Vec<Value>>>,
    hold: Arc<Mutex<Option<Arc<tokio::sync::Notify>>>>,
}

impl ToolServer {
    async fn start(&self) -> String {
        let state = self.clone();
        let app = Router::new().route(
            "/{*path}",
            post(move |headers: HeaderMap, body: String| {
                let state = state.clone();
                async move {
                    let key = headers
                        .get("idempotency-key")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned();
                    let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                    state.bodies.lock().expect("lock").push(body.clone());
                    let hold = state.hold.lock().expect("lock").take();
                    if let Some(arrived) = hold {
                        arrived.notify_one();
                        std::future::pending::<()>().await;
                    }
                    state.keys.lock().expect("lock").push(key);
                    (
                        StatusCode::OK,
                        Json(json!({"ok": true, "channel": "C1", "ts": "1.2", "echo": body})),
                    )
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        url
    }

    /// Side effects: distinct keys of answered requests.
    fn effects(&self) -> usize {
        let keys = self.keys.lock().expect("lock");
        keys.iter().collect::<HashSet<_>>().len()
    }
}

struct Setup {
    dir: tempfile::TempDir,
    port: u16,
    api: Api,
}

impl Setup {
    fn new() -> Setup {
        let port = free_port();
        Setup {
            dir: tempfile::tempdir().expect("tempdir"),
            port,
            api: Api::new(&format!("http://127.0.0.1:{port}"), KEY),
        }
    }

    fn serve(&self) -> Server {
        Serve::new()
            .bootstrap_key(KEY)
            .env_remove("DURO_CONFIG")
            .data_dir(self.dir.path())
            .port(self.port)
            .start()
    }

    async fn connection(&self, body: Value) {
        let (status, answer) = self
            .api
            .call(Method::POST, "/api/v1/connections", Some(body))
            .await;
        assert_eq!(status, 201, "{answer}");
    }

    /// The model connection `conn_model` at `model`, and the Slack connection at `tools`.
    async fn connections(&self, protocol: &str, model: &ScriptedModel, tools: &str) {
        self.connection(
            json!({"id": "conn_model", "name": "model", "provider": protocol,
                               "kind": "bearer", "token": "sk-model-secret-0123456789",
                               "baseUrl": model.base_url}),
        )
        .await;
        self.connection(
            json!({"id": "conn_slack", "name": "slack", "provider": "slack",
                               "kind": "bearer", "token": "xoxb-slack-secret-0123",
                               "baseUrl": tools}),
        )
        .await;
    }
}

fn agent_workflow(tools_url: &str, extra: Value) -> Value {
    let mut config = json!({
        "connection": "conn_model",
        "model": "gpt-test",
        "systemPrompt": "You help with orders.",
        "prompt": "Check the weather in {{input.city}} and tell the team.",
        "tools": [
            {"name": "get_weather", "description": "The weather in a city.",
             "parameters": {"type": "object", "required": ["city"],
                            "properties": {"city": {"type": "string"}}},
             "http": {"method": "POST", "url": format!("{tools_url}/weather"),
                      "body": {"city": "{{args.city}}"}}},
            "slack.postMessage",
            "ask_user"
        ]
    });
    if let Value::Object(extra) = extra {
        for (key, value) in extra {
            config[key] = value;
        }
    }
    json!({"name": "agent", "steps": [{"id": "assist", "type": "agent", "config": config}]})
}

fn step<'a>(run: &'a Value, id: &str) -> &'a Value {
    run["steps"]
        .as_array()
        .and_then(|steps| steps.iter().find(|s| s["id"] == id))
        .unwrap_or_else(|| panic!("no step {id} in {run}"))
}

async fn paused(api: &Api, run_id: &str) -> Value {
    api.until_status(run_id, &["paused"], Duration::from_secs(30))
        .await
}

async fn resume(api: &Api, run_id: &str, payload: Value) {
    let (status, body) = api
        .call(
            Method::POST,
            &format!("/api/v1/runs/{run_id}/resume"),
            Some(json!({ "payload": payload })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_three_turn_agent_calls_an_http_tool_and_an_action_tool() {
    let tools = ToolServer::default();
    let tools_url = tools.start().await;
    let model = ScriptedModel::start(Protocol::OpenAi).await;
    model.push_tool_calls(vec![("call_1", "get_weather", r#"{"city":"Paris"}"#)]);
    model.push_tool_calls(vec![(
        "call_2",
        "slack_postMessage",
        r##"{"channel":"#ops","text":"Paris: sunny"}"##,
    )]);
    model.push_text("Told the team: Paris is sunny.");
    let setup = Setup::new();
    let _server = setup.serve();
    setup.connections("openai", &model, &tools_url).await;
    let workflow = setup
        .api
        .active_workflow(agent_workflow(&tools_url, json!({})))
        .await;
    let run_id = setup
        .api
        .start_run(&workflow, json!({"city": "Paris"}))
        .await
        .expect("run");
    let run = setup.api.ended(&run_id, Duration::from_secs(30)).await;
    assert_eq!(run["status"], "completed", "{run}");
    let output = &step(&run, "assist")["output"];
    assert_eq!(output["message"], "Told the team: Paris is sunny.", "{run}");
    assert_eq!(
        output["usage"],
        json!({"inputTokens": 30, "outputTokens": 15})
    );
    // The run's usage sums its model calls.
    assert_eq!(run["usage"], json!({"inputTokens": 30, "outputTokens": 15}));
    assert_eq!(model.count(), 3);
    for id in [
        "assist.m1",
        "assist.t1.call_1",
        "assist.m2",
        "assist.t2.call_2",
        "assist.m3",
    ] {
        assert_eq!(step(&run, id)["status"], "completed", "{id}: {run}");
    }
    assert_eq!(
        step(&run, "assist.m1")["output"]["toolCalls"][0]["name"],
        "get_weather"
    );
    // The tools ran with the model's arguments; the model saw their results.
    let bodies = tools.bodies.lock().expect("lock").clone();
    assert_eq!(bodies[0], json!({"city": "Paris"}));
    assert_eq!(bodies[1]["channel"], "#ops");
    let second = &model.requests()[1];
    let said = second.to_string();
    assert!(said.contains("You help with orders."), "{said}");
    assert!(said.contains("Check the weather in Paris"), "{said}");
    assert!(said.contains("call_1"), "{said}");
    assert_eq!(tools.effects(), 2);

    // Replay: the timeline shows what each model call was sent; against a definition with
    // another system prompt it diverges at the first model call.
    let (status, replay) = setup
        .api
        .call(Method::GET, &format!("/api/v1/runs/{run_id}/replay"), None)
        .await;
    assert_eq!(status, 200, "{replay}");
    let first_call = replay["data"]["steps"]
        .as_array()
        .and_then(|steps| steps.iter().find(|s| s["id"] == "assist.m1"))
        .expect("assist.m1 in the replay");
    assert_eq!(
        first_call["input"]["system"], "You help with orders.",
        "{first_call}"
    );
    let mut changed = agent_workflow(&tools_url, json!({}));
    changed["steps"][0]["config"]["systemPrompt"] = json!("You are terse.");
    let (status, replay) = setup
        .api
        .call(
            Method::POST,
            &format!("/api/v1/runs/{run_id}/replay"),
            Some(json!({ "definition": changed })),
        )
        .await;
    assert_eq!(status, 200, "{replay}");
    let divergence = &replay["data"]["divergence"];
    assert_eq!(divergence["kind"], "request", "{replay}");
    assert_eq!(divergence["stepId"], "assist.m1", "{replay}");
    // Against its own definition: none.
    let (_, replay) = setup
        .api
        .call(
            Method::POST,
            &format!("/api/v1/runs/{run_id}/replay"),
            Some(json!({ "definition": agent_workflow(&tools_url, json!({})) })),
        )
        .await;
    assert_eq!(replay["data"]["divergence"], Value::Null, "{replay}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_with_a_tool_call_in_flight_repeats_no_model_call_and_no_side_effect() {
    let tools = ToolServer::default();
    let tools_url = tools.start().await;
    let arrived = Arc::new(tokio::sync::Notify::new());
    *tools.hold.lock().expect("lock") = Some(arrived.clone());
    let model = ScriptedModel::start(Protocol::OpenAi).await;
    model.push_tool_calls(vec![(
        "call_1",
        "slack_postMessage",
        r#"{"channel":"C1","text":"hello"}"#,
    )]);
    model.push_text("Posted.");
    let setup = Setup::new();
    let mut server = setup.serve();
    setup.connections("openai", &model, &tools_url).await;
    let workflow = setup
        .api
        .active_workflow(agent_workflow(&tools_url, json!({})))
        .await;
    let run_id = setup
        .api
        .start_run(&workflow, json!({"city": "Oslo"}))
        .await
        .expect("run");
    tokio::time::timeout(Duration::from_secs(30), arrived.notified())
        .await
        .expect("the tool call arrives");
    // The model's reply with the tool call is on record; the tool's request is in flight.
    server.child.kill().expect("SIGKILL");
    server.child.wait().expect("reaped");
    let _server = setup.serve();
    let run = setup.api.ended(&run_id, Duration::from_secs(30)).await;
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(step(&run, "assist")["output"]["message"], "Posted.");
    // As many model calls as without the crash; the post happened once (same key twice).
    assert_eq!(model.count(), 2);
    assert_eq!(tools.effects(), 1);
    assert_eq!(tools.bodies.lock().expect("lock").len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denied_approval_is_told_to_the_model_and_ask_user_waits_for_the_answer() {
    let tools = ToolServer::default();
    let tools_url = tools.start().await;
    let model = ScriptedModel::start(Protocol::OpenAi).await;
    model.push_tool_calls(vec![("q1", "ask_user", r#"{"question":"Which channel?"}"#)]);
    model.push_tool_calls(vec![(
        "p1",
        "slack_postMessage",
        r##"{"channel":"#general","text":"hi"}"##,
    )]);
    model.push_text("I did not post, as you asked.");
    let setup = Setup::new();
    let _server = setup.serve();
    setup.connections("openai", &model, &tools_url).await;
    let workflow = setup
        .api
        .active_workflow(agent_workflow(
            &tools_url,
            json!({"requireApproval": ["slack.postMessage"]}),
        ))
        .await;
    let run_id = setup
        .api
        .start_run(&workflow, json!({"city": "Rome"}))
        .await
        .expect("run");
    let run = paused(&setup.api, &run_id).await;
    assert_eq!(
        run["waitingFor"],
        json!({"type": "input", "question": "Which channel?", "stepId": "assist.t1.q1"})
    );
    resume(&setup.api, &run_id, json!({"message": "#general"})).await;
    let run = paused(&setup.api, &run_id).await;
    assert_eq!(run["waitingFor"]["type"], "approval", "{run}");
    // A payload that is no approval is refused, and nothing is recorded.
    let (status, body) = setup
        .api
        .call(
            Method::POST,
            &format!("/api/v1/runs/{run_id}/resume"),
            Some(json!({"payload": {"ok": "sure"}})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["error"]["details"][0]["path"],
        json!(["payload", "approved"])
    );
    assert_eq!(run["waitingFor"]["tool"], "slack_postMessage");
    assert_eq!(run["waitingFor"]["arguments"]["channel"], "#general");
    resume(&setup.api, &run_id, json!({"approved": false})).await;
    let run = setup.api.ended(&run_id, Duration::from_secs(30)).await;
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(
        tools.bodies.lock().expect("lock").len(),
        0,
        "nothing was posted"
    );
    let requests = model.requests();
    assert_eq!(requests.len(), 3);
    assert!(
        requests[1].to_string().contains("#general"),
        "the answer reached the model"
    );
    assert!(
        requests[2].to_string().contains("denied"),
        "the denial reached the model"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn budgets_malformed_replies_and_rate_limits() {
    let tools = ToolServer::default();
    let tools_url = tools.start().await;
    let model = ScriptedModel::start(Protocol::OpenAi).await;
    let setup = Setup::new();
    let _server = setup.serve();
    setup.connections("openai", &model, &tools_url).await;
    let run = |extra: Value| {
        let setup = &setup;
        let tools_url = tools_url.clone();
        async move {
            let workflow = setup
                .api
                .active_workflow(agent_workflow(&tools_url, extra))
                .await;
            let run_id = setup
                .api
                .start_run(&workflow, json!({"city": "Lima"}))
                .await
                .expect("run");
            setup.api.ended(&run_id, Duration::from_secs(30)).await
        }
    };
    // maxTurns: a model that keeps calling tools.
    model.push_tool_calls(vec![("w1", "get_weather", r#"{"city":"Lima"}"#)]);
    let ended = run(json!({"maxTurns": 1})).await;
    assert_eq!(ended["status"], "failed");
    assert_eq!(ended["error"]["code"], "MAX_TURNS_EXCEEDED", "{ended}");
    // maxTokens: each reply costs 15.
    model.push_text("too long");
    let ended = run(json!({"maxTokens": 12})).await;
    assert_eq!(ended["error"]["code"], "MAX_TOKENS_EXCEEDED", "{ended}");
    // An unknown tool is fed back once; the model then answers.
    model.push_tool_calls(vec![("x1", "launch_rockets", "{}")]);
    model.push_text("Sorry, no such tool.");
    let ended = run(json!({})).await;
    assert_eq!(ended["status"], "completed", "{ended}");
    let fed_back = model.requests().last().expect("a request").to_string();
    assert!(fed_back.contains("launch_rockets"), "{fed_back}");
    // Twice in a row: the step fails.
    model.push_tool_calls(vec![("x2", "get_weather", "not json")]);
    model.push_tool_calls(vec![("x3", "get_weather", "still not json")]);
    let ended = run(json!({})).await;
    assert_eq!(ended["error"]["code"], "MODEL_REPLY_INVALID", "{ended}");
    // A 429 with a retry delay is waited out, then answered.
    let before = model.count();
    // OpenAI's retry-after-ms: a wait the test does not have to sit through for a second.
    model.push_error_with_headers(
        429,
        json!({"error": {"message": "Rate limit reached", "type": "rate_limit"}}),
        &[("retry-after-ms", "50")],
    );
    model.push_text("Lima is mild.");
    let ended = run(json!({})).await;
    assert_eq!(ended["status"], "completed", "{ended}");
    assert_eq!(model.count() - before, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_anthropic_agent_uses_the_messages_api() {
    let tools = ToolServer::default();
    let tools_url = tools.start().await;
    let model = ScriptedModel::start(Protocol::Anthropic).await;
    model.push_tool_calls(vec![("toolu_1", "get_weather", r#"{"city":"Kyiv"}"#)]);
    model.push_text("Kyiv: cold.");
    let setup = Setup::new();
    let _server = setup.serve();
    setup.connections("anthropic", &model, &tools_url).await;
    let workflow = setup
        .api
        .active_workflow(agent_workflow(&tools_url, json!({"model": "claude-test"})))
        .await;
    let run_id = setup
        .api
        .start_run(&workflow, json!({"city": "Kyiv"}))
        .await
        .expect("run");
    let run = setup.api.ended(&run_id, Duration::from_secs(30)).await;
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(step(&run, "assist")["output"]["message"], "Kyiv: cold.");
    let second = model.requests()[1].to_string();
    assert!(second.contains("tool_result"), "{second}");
    let headers = model.request_headers();
    assert!(headers[0]
        .iter()
        .any(|(name, value)| name == "x-api-key" && value == "sk-model-secret-0123456789"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workflow_tool_runs_a_child_and_the_output_schema_is_enforced_once() {
    let tools = ToolServer::default();
    let tools_url = tools.start().await;
    let model = ScriptedModel::start(Protocol::OpenAi).await;
    let setup = Setup::new();
    let _server = setup.serve();
    setup.connections("openai", &model, &tools_url).await;
    let child = setup
        .api
        .active_workflow(json!({"name": "double", "steps": [
            {"id": "double", "type": "transform",
             "config": {"mapping": {"doubled": "{{input.n | times: 2}}"}}}]}))
        .await;
    let definition = json!({"name": "agent with a child", "steps": [{
        "id": "assist", "type": "agent",
        "config": {
            "connection": "conn_model", "model": "gpt-test", "prompt": "Double 21.",
            "tools": [{"workflow": child, "name": "double",
                       "parameters": {"type": "object", "required": ["n"],
                                      "properties": {"n": {"type": "number"}}}}],
            "output": {"type": "object", "required": ["result"],
                       "properties": {"result": {"type": "number"}}}
        }
    }]});
    let workflow = setup.api.active_workflow(definition).await;
    model.push_tool_calls(vec![("d1", "double", r#"{"n":21}"#)]);
    model.push_text("It is 42.");
    model.push_text("```json\n{\"result\": 42}\n```");
    let run_id = setup
        .api
        .start_run(&workflow, json!({}))
        .await
        .expect("run");
    let run = setup.api.ended(&run_id, Duration::from_secs(30)).await;
    assert_eq!(run["status"], "completed", "{run}");
    let output = &step(&run, "assist")["output"];
    assert_eq!(output["output"], json!({"result": 42}), "{run}");
    assert_eq!(model.count(), 3);
    // The child ran with the model's arguments; its output went back to the model.
    let children = run["children"].as_array().expect("children");
    assert_eq!(children.len(), 1, "{run}");
    assert_eq!(children[0]["stepId"], "assist.t1.d1");
    let child_run = setup
        .api
        .run(children[0]["runId"].as_str().expect("id"))
        .await
        .expect("child");
    assert_eq!(child_run["output"], json!({"doubled": 42}));
    let requests = model.requests();
    assert!(
        requests[1].to_string().contains("doubled"),
        "{}",
        requests[1]
    );
    assert!(
        requests[2].to_string().contains("JSON Schema"),
        "{}",
        requests[2]
    );
}
