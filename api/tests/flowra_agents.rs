//! Seed 002's agent workflows on Flowra's paths, through the router, against a scripted
//! OpenAI-compatible model server on loopback: a CreateAgentDto without steps becomes an
//! active workflow with one agent step; execute with a message, poll the thread, answer the
//! agent's question and an approval on Flowra's resume path; the execution lists each model
//! turn and tool call. DTOs that cannot make an agent are refused naming their fields.

mod support;

use std::time::Duration;

use axum::http::StatusCode;
use llm::test_server::ScriptedModel;
use llm::Protocol;
use serde_json::{json, Value};
use support::{assert_error, TestApi};

const M: &str = "/api/v1/workflow/manager";

/// The model connection `conn_model`, served by `model`.
async fn model_connection(api: &TestApi, model: &ScriptedModel) {
    let created = api
        .post(
            "/api/v1/connections",
            json!({"id": "conn_model", "name": "model", "provider": "openai",
                   "kind": "bearer", "token": "sk-model-secret-0123456789",
                   "baseUrl": model.base_url}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
}

/// A CreateAgentDto: name, description, systemPrompt, model, tools and the model connection.
fn support_bot(tools: Value) -> Value {
    json!({
        "name": "Support bot",
        "description": "Answers support questions",
        "systemPrompt": "You are a friendly support bot.",
        "model": "gpt-test",
        "tools": tools,
        "connectionId": "conn_model"
    })
}

async fn create(api: &TestApi, dto: Value) -> Value {
    let created = api.post(&format!("{M}/create"), dto).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    created.body["data"].clone()
}

/// Executes workflow `id` with `body`; returns the thread id.
async fn execute(api: &TestApi, id: &str, body: Value) -> String {
    let started = api.post(&format!("{M}/execute/{id}"), body).await;
    assert!(started.status.is_success(), "{}", started.body);
    started.body["data"]["threadId"]
        .as_str()
        .expect("threadId")
        .to_owned()
}

/// Polls the thread's status until `stop` holds of it (bounded); returns it.
async fn poll(api: &TestApi, thread_id: &str, stop: impl Fn(&Value) -> bool) -> Value {
    let mut status = Value::Null;
    for _ in 0..1_000 {
        let reply = api
            .get(&format!("{M}/executions/thread/{thread_id}/status"))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        status = reply.body["data"].clone();
        if stop(&status) {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the thread did not get there: {status}");
}

async fn resume(api: &TestApi, thread_id: &str, body: Value) -> Value {
    let reply = api
        .post(&format!("{M}/executions/thread/{thread_id}/resume"), body)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body["data"].clone()
}

fn step<'a>(run: &'a Value, id: &str) -> &'a Value {
    run["steps"]
        .as_array()
        .and_then(|steps| steps.iter().find(|s| s["id"] == id))
        .unwrap_or_else(|| panic!("no step {id} in {run}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_workflow_is_created_executed_asks_the_user_and_is_resumed() {
    let api = TestApi::new().await;
    let model = ScriptedModel::start(Protocol::OpenAi).await;
    model.push_tool_calls(vec![("q1", "ask_user", r#"{"question":"Which channel?"}"#)]);
    model.push_text("Posted the summary to #ops.");
    model_connection(&api, &model).await;

    // Given a workflow made from CreateAgentDto's fields only.
    let workflow = create(&api, support_bot(json!(["ask_user"]))).await;
    assert_eq!(workflow["status"], "active", "{workflow}");
    assert_eq!(workflow["systemPrompt"], "You are a friendly support bot.");
    assert_eq!(workflow["model"], "gpt-test");
    assert_eq!(workflow["tools"], json!(["ask_user"]));
    assert_eq!(workflow["connectionId"], "conn_model");
    assert_eq!(
        workflow["steps"],
        json!([{"id": "agent", "type": "agent", "config": {
            "connection": "conn_model",
            "model": "gpt-test",
            "systemPrompt": "You are a friendly support bot.",
            "tools": ["ask_user"],
            "prompt": "{{input.message}}"
        }}])
    );
    let id = workflow["id"].as_str().expect("id");
    let detail = api.get(&format!("{M}/detail/{id}")).await;
    assert_eq!(detail.body["data"]["connectionId"], "conn_model");

    // When it is executed with a bare message, the agent asks the user a question.
    let thread_id = execute(&api, id, json!({"message": "Summarize today's tickets"})).await;
    let waiting = poll(&api, &thread_id, |s| s["paused"] == true).await;
    assert_eq!(waiting["status"], "paused");
    assert_eq!(
        waiting["waitingFor"],
        json!({"type": "input", "question": "Which channel?", "stepId": "agent.t1.q1"})
    );
    assert_eq!(model.count(), 1);

    // Then the answer, on Flowra's resume path, reaches the model and the run completes.
    let resumed = resume(&api, &thread_id, json!({"message": "#ops"})).await;
    assert_eq!(resumed["threadId"], json!(thread_id));
    let done = poll(&api, &thread_id, |s| s["done"] == true).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["output"]["message"], "Posted the summary to #ops.");
    assert_eq!(
        done["output"]["usage"],
        json!({"inputTokens": 20, "outputTokens": 10})
    );
    assert_eq!(done["waitingFor"], Value::Null);

    let execution = api.get(&format!("{M}/executions/{thread_id}")).await;
    assert_eq!(execution.status, StatusCode::OK, "{}", execution.body);
    let run = &execution.body["data"];
    assert_eq!(
        run["input"],
        json!({"message": "Summarize today's tickets"})
    );
    let ids: Vec<&str> = run["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter_map(|s| s["id"].as_str())
        .collect();
    for expected in ["agent.m1", "agent.t1.q1", "agent.m2", "agent"] {
        assert!(ids.contains(&expected), "{expected} in {ids:?}");
        assert_eq!(step(run, expected)["status"], "completed", "{expected}");
    }
    assert_eq!(step(run, "agent.m1")["kind"], "model");
    assert_eq!(step(run, "agent.m2")["turn"], 2);
    let question = step(run, "agent.t1.q1");
    assert_eq!(question["kind"], "tool");
    assert_eq!(question["tool"], "ask_user");
    assert_eq!(question["callId"], "q1");
    assert_eq!(question["output"], json!({"message": "#ops"}));

    // The model was called exactly twice; the second call carries the user's answer.
    assert_eq!(model.count(), 2);
    let requests = model.requests();
    let first = requests[0].to_string();
    assert!(first.contains("You are a friendly support bot."), "{first}");
    assert!(first.contains("Summarize today's tickets"), "{first}");
    assert_eq!(requests[0]["model"], "gpt-test");
    let second = requests[1].to_string();
    assert!(second.contains("#ops"), "{second}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_is_answered_on_flowra_resume_path_and_updates_rebuild_the_agent() {
    let api = TestApi::new().await;
    let model = ScriptedModel::start(Protocol::OpenAi).await;
    model.push_tool_calls(vec![("n1", "notify", r#"{"text":"hello"}"#)]);
    model.push_text("I did not notify anyone.");
    model_connection(&api, &model).await;
    // Port 9 (discard): the tool must never be called, as its call is denied.
    let notify = json!({"name": "notify", "description": "Tell the team.",
                        "parameters": {"type": "object",
                                       "properties": {"text": {"type": "string"}}},
                        "http": {"method": "POST", "url": "http://127.0.0.1:9/notify",
                                 "body": {"text": "{{args.text}}"}}});
    let mut dto = support_bot(json!([notify]));
    dto["requireApproval"] = json!(["notify"]);
    let workflow = create(&api, dto).await;
    let id = workflow["id"].as_str().expect("id");
    assert_eq!(
        workflow["steps"][0]["config"]["requireApproval"],
        json!(["notify"])
    );

    // The DTO's fields rebuild the agent step (a new version).
    let updated = api
        .patch(&format!("{M}/update/{id}"), json!({"model": "gpt-test-2"}))
        .await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.body);
    let updated = &updated.body["data"];
    assert_eq!(updated["model"], "gpt-test-2");
    assert_eq!(updated["steps"][0]["config"]["model"], "gpt-test-2");
    assert_eq!(
        updated["steps"][0]["config"]["requireApproval"],
        json!(["notify"])
    );
    assert_eq!(updated["version"], 2);
    let refused = api
        .patch(&format!("{M}/update/{id}"), json!({"connectionId": "nope"}))
        .await;
    let error = assert_error(&refused, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    assert_eq!(error["details"][0]["path"], json!(["connectionId"]));

    let thread_id = execute(
        &api,
        id,
        json!({"input": {"message": "Tell the team hello"}}),
    )
    .await;
    let waiting = poll(&api, &thread_id, |s| s["paused"] == true).await;
    assert_eq!(waiting["waitingFor"]["type"], "approval", "{waiting}");
    assert_eq!(waiting["waitingFor"]["tool"], "notify");
    assert_eq!(waiting["waitingFor"]["arguments"], json!({"text": "hello"}));

    // A body that is not an answer to an approval is refused, naming `approved`.
    let bad = api
        .post(
            &format!("{M}/executions/thread/{thread_id}/resume"),
            json!({"message": "sure"}),
        )
        .await;
    let error = assert_error(&bad, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    assert_eq!(error["details"][0]["path"], json!(["approved"]));

    resume(&api, &thread_id, json!({"approved": false})).await;
    let done = poll(&api, &thread_id, |s| s["done"] == true).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["output"]["message"], "I did not notify anyone.");
    assert_eq!(model.count(), 2);
    let requests = model.requests();
    assert_eq!(requests[0]["model"], "gpt-test-2");
    assert!(
        requests[1].to_string().contains("denied"),
        "{}",
        requests[1]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dto_that_cannot_make_an_agent_is_refused_naming_its_fields() {
    let api = TestApi::new().await;
    let model = ScriptedModel::start(Protocol::OpenAi).await;
    model_connection(&api, &model).await;
    let slack = api
        .post(
            "/api/v1/connections",
            json!({"id": "conn_slack", "name": "slack", "provider": "slack",
                   "kind": "bearer", "token": "xoxb-slack-secret-0123"}),
        )
        .await;
    assert_eq!(slack.status, StatusCode::CREATED, "{}", slack.body);

    let without = |field: &str| {
        let mut dto = support_bot(json!(["ask_user"]));
        dto.as_object_mut().expect("object").remove(field);
        dto
    };
    let with = |field: &str, value: Value| {
        let mut dto = support_bot(json!(["ask_user"]));
        dto[field] = value;
        dto
    };
    let cases = [
        (without("model"), vec![json!(["model"])]),
        (with("model", json!("  ")), vec![json!(["model"])]),
        (without("connectionId"), vec![json!(["connectionId"])]),
        (
            json!({"name": "Support bot", "systemPrompt": "Be kind."}),
            vec![json!(["model"]), json!(["connectionId"])],
        ),
        (json!({"name": "Support bot"}), vec![json!(["steps"])]),
        (
            with("connectionId", json!("nope")),
            vec![json!(["connectionId"])],
        ),
        (
            with("connectionId", json!("conn_slack")),
            vec![json!(["connectionId"])],
        ),
        (
            with("tools", json!(["ask_user", "teleport.now"])),
            vec![json!(["tools", "1"])],
        ),
        (with("maxTurns", json!(0)), vec![json!(["maxTurns"])]),
    ];
    for (dto, expected) in cases {
        let refused = api.post(&format!("{M}/create"), dto.clone()).await;
        let error = assert_error(&refused, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
        let paths: Vec<Value> = error["details"]
            .as_array()
            .expect("details")
            .iter()
            .map(|d| d["path"].clone())
            .collect();
        assert_eq!(paths, expected, "{dto}");
    }
    let listed = api.get(&format!("{M}/list")).await;
    assert_eq!(listed.body["data"], json!([]), "nothing was created");
    assert_eq!(model.count(), 0);
}
