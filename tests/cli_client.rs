//! The `duro` CLI as a client of a real `duro serve`: each subcommand's output (tables for
//! people, `--json` for scripts) and exit code on success, on a bad argument (2), on an API
//! error (1, with the error code on stderr) and with the server down (3).
//!
//! The `replay_*` and `rerun_*` tests need the replay and rerun routes
//! (`/api/v1/runs/{id}/replay`, `/api/v1/runs/{id}/rerun`).

mod support;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::{expect_code, free_port, json_of, stderr as err, stdout as out, Server};

const BOOTSTRAP: &str = "cli-client-test-bootstrap-key-0123456789";

fn start_server() -> Server {
    support::start_server(BOOTSTRAP)
}

/// `duro ARGS` against `url` with the bootstrap key (through DURO_URL and DURO_API_KEY).
fn duro_at(url: &str, args: &[&str], stdin: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_duro"));
    command
        .args(args)
        .env("DURO_URL", url)
        .env("DURO_API_KEY", BOOTSTRAP)
        .env_remove("DURO_DATA_DIR")
        .env_remove("NO_COLOR")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
    let mut child = command.spawn().expect("run duro");
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(text.as_bytes())
            .expect("write stdin");
    }
    child.wait_with_output().expect("duro output")
}

fn duro(server: &Server, args: &[&str]) -> Output {
    duro_at(&server.url, args, None)
}

/// Exit 1 with `error: CODE:` on stderr and nothing on stdout.
#[track_caller]
fn expect_api_error(output: &Output, code: &str) {
    expect_code(output, 1);
    assert!(
        err(output).contains(&format!("error: {code}: ")),
        "{}",
        err(output)
    );
    assert!(out(output).is_empty(), "{}", out(output));
}

fn write_json(dir: &Path, name: &str, value: &Value) -> String {
    let path = dir.join(name);
    std::fs::write(&path, value.to_string()).expect("write file");
    path.to_str().expect("utf-8 path").to_owned()
}

fn transform_workflow(name: &str) -> Value {
    json!({
        "name": name,
        "steps": [
            {"id": "greet", "type": "transform",
             "config": {"mapping": {"greeting": "hello {{input.who}}"}}},
            {"id": "shout", "type": "transform",
             "config": {"mapping": {"loud": "{{steps.greet.output.greeting}}!"}}}
        ]
    })
}

/// A workflow whose only step fails at once (nothing listens on port 1).
fn failing_workflow() -> Value {
    json!({
        "name": "failing",
        "steps": [{"id": "call", "type": "http", "config": {"url": "http://127.0.0.1:1/"},
                   "retry": {"maxAttempts": 1}}]
    })
}

/// Applies and activates `definition`; returns the workflow's id.
fn active_workflow(server: &Server, dir: &Path, definition: &Value) -> String {
    let file = write_json(dir, "wf.json", definition);
    let applied = json_of(&duro(
        server,
        &["workflows", "apply", "-f", &file, "--activate", "--json"],
    ));
    assert_eq!(applied["status"], "active", "{applied}");
    applied["id"].as_str().expect("id").to_owned()
}

/// Polls `runs show --json` until the run has `status`.
fn wait_for_status(server: &Server, run: &str, status: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let detail = json_of(&duro(server, &["runs", "show", run, "--json"]));
        if detail["status"] == status {
            return detail;
        }
        assert!(
            Instant::now() < deadline,
            "run {run} never became {status}: {detail}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn help_lists_the_client_commands_and_exit_codes() {
    let output = Command::new(env!("CARGO_BIN_EXE_duro"))
        .arg("--help")
        .output()
        .expect("run duro");
    expect_code(&output, 0);
    let help = out(&output);
    for command in ["workflows", "run ", "runs", "triggers", "keys"] {
        assert!(help.contains(&format!("  {command}")), "{command}: {help}");
    }
    for group in ["workflows", "runs", "triggers", "keys", "run"] {
        let output = Command::new(env!("CARGO_BIN_EXE_duro"))
            .args([group, "--help"])
            .output()
            .expect("run duro");
        expect_code(&output, 0);
        let help = out(&output);
        assert!(help.contains("Exit codes: 0 success"), "{group}: {help}");
    }
    let output = Command::new(env!("CARGO_BIN_EXE_duro"))
        .args(["runs", "--help"])
        .output()
        .expect("run duro");
    for sub in [
        "list", "show", "events", "cancel", "resume", "replay", "rerun",
    ] {
        assert!(out(&output).contains(sub), "{sub}");
    }
}

#[test]
fn bad_arguments_exit_2_without_calling_the_server() {
    let dir = tempfile::tempdir().expect("tempdir");
    let no_slug = write_json(dir.path(), "trigger.json", &json!({"type": "manual"}));
    let not_json = dir.path().join("bad.json");
    std::fs::write(&not_json, "{ not json").expect("write");
    let not_json = not_json.to_str().expect("utf-8");
    // Nothing listens here: a command that got as far as a request would exit 3.
    let url = format!("http://127.0.0.1:{}", free_port());
    let cases: Vec<Vec<&str>> = vec![
        vec!["workflows", "apply"],
        vec!["workflows", "apply", "-f", "/nonexistent/wf.json"],
        vec!["workflows", "apply", "-f", not_json],
        vec!["workflows", "list", "--limit", "many"],
        vec!["workflows", "show"],
        vec!["workflows", "frobnicate"],
        vec!["run"],
        vec!["run", "wf_x", "--wait", "soon"],
        vec!["run", "wf_x", "--input", "{nope"],
        vec!["run", "wf_x", "--input", "@/nonexistent/input.json"],
        vec!["runs", "list", "--limit", "-3"],
        vec!["runs", "show"],
        vec!["runs", "events"],
        vec!["runs", "cancel"],
        vec!["runs", "resume", "run_x"],
        vec!["runs", "resume", "run_x", "--payload", "{"],
        vec!["runs", "replay"],
        vec![
            "runs",
            "replay",
            "run_x",
            "--version",
            "1",
            "--definition",
            "wf.json",
        ],
        vec!["runs", "replay", "run_x", "--definition", not_json],
        vec!["runs", "rerun", "--from-step", "a"],
        vec!["runs", "rerun", "run_x"],
        vec![
            "runs",
            "rerun",
            "run_x",
            "--from-step",
            "a",
            "--workflow",
            "w",
        ],
        vec!["runs", "rerun", "run_x", "--from-step", "a", "--rate", "5"],
        vec![
            "runs",
            "rerun",
            "--workflow",
            "w",
            "--from-step",
            "a",
            "--rate",
            "0",
        ],
        vec!["triggers", "list", "--bogus"],
        vec!["triggers", "upsert"],
        vec!["triggers", "upsert", "-f", &no_slug],
        vec!["triggers", "upsert", "-f", not_json],
        vec!["triggers", "enable"],
        vec!["triggers", "disable"],
        vec!["triggers", "fire", "trg_x", "--input", "nope"],
        vec!["keys", "create", "--name", "ci"],
        vec!["keys", "revoke"],
        vec!["workflows", "list", "--url", "not a url"],
    ];
    for args in cases {
        let output = duro_at(&url, &args, None);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}\nstdout: {}\nstderr: {}",
            out(&output),
            err(&output)
        );
        assert!(out(&output).is_empty(), "{args:?}: {}", out(&output));
        assert!(!err(&output).is_empty(), "{args:?} says why");
    }
    // `keys` with neither a data directory nor a server says to give one.
    let output = Command::new(env!("CARGO_BIN_EXE_duro"))
        .args(["keys", "list"])
        .env_remove("DURO_URL")
        .env_remove("DURO_DATA_DIR")
        .output()
        .expect("run duro");
    expect_code(&output, 2);
    assert!(err(&output).contains("--data-dir"), "{}", err(&output));
}

#[test]
fn a_server_that_cannot_be_reached_is_exit_3() {
    let url = format!("http://127.0.0.1:{}", free_port());
    for args in [
        vec!["workflows", "list"],
        vec!["workflows", "show", "wf_x"],
        vec!["run", "wf_x", "--input", "{}"],
        vec!["runs", "list", "--json"],
        vec!["runs", "show", "run_x"],
        vec!["runs", "events", "run_x"],
        vec!["runs", "cancel", "run_x"],
        vec!["runs", "replay", "run_x"],
        vec!["runs", "rerun", "run_x", "--from-step", "a"],
        vec!["triggers", "list"],
        vec!["triggers", "fire", "trg_x"],
        vec!["keys", "list"],
    ] {
        let output = duro_at(&url, &args, None);
        assert_eq!(output.status.code(), Some(3), "{args:?}: {}", err(&output));
        assert!(
            err(&output).contains("cannot reach the server at"),
            "{args:?}: {}",
            err(&output)
        );
        assert!(out(&output).is_empty(), "{args:?}");
    }
}

#[test]
fn workflows_are_applied_listed_and_shown() {
    let server = start_server();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write_json(dir.path(), "wf.json", &transform_workflow("greeter"));

    // Create: a file without an id.
    let created = duro(&server, &["workflows", "apply", "-f", &file]);
    expect_code(&created, 0);
    let line = out(&created);
    assert!(line.starts_with("created wf_"), "{line}");
    assert!(line.contains("version 1"), "{line}");
    assert!(line.contains("status draft"), "{line}");
    assert!(
        !line.contains('\x1b'),
        "no colours when stdout is not a terminal"
    );
    let id = line.split_whitespace().nth(1).expect("the id").to_owned();

    // show --json, changed and applied again: an update making version 2, from stdin.
    let mut detail = json_of(&duro(&server, &["workflows", "show", &id, "--json"]));
    assert_eq!(detail["id"], id.as_str());
    assert_eq!(detail["name"], "greeter");
    assert_eq!(detail["version"], 1);
    detail["steps"][1]["config"]["mapping"]["loud"] = json!("{{steps.greet.output.greeting}}!!");
    let updated = duro_at(
        &server.url,
        &["workflows", "apply", "-f", "-", "--activate"],
        Some(&detail.to_string()),
    );
    expect_code(&updated, 0);
    assert!(
        out(&updated).starts_with(&format!("updated {id}  version 2  status active")),
        "{}",
        out(&updated)
    );

    // An id the server does not know creates a workflow (with a new id), and says so.
    let mut unknown = transform_workflow("second");
    unknown["id"] = json!("wf_00000000000000000000000000000000");
    let file2 = write_json(dir.path(), "wf2.json", &unknown);
    let applied = duro(&server, &["workflows", "apply", "-f", &file2, "--json"]);
    let second = json_of(&applied);
    assert_ne!(second["id"], unknown["id"]);
    assert_eq!(second["status"], "draft");
    assert!(err(&applied).contains("unknown"), "{}", err(&applied));

    // list: a table, and --json an array of items.
    let listed = duro(&server, &["workflows", "list"]);
    expect_code(&listed, 0);
    let table = out(&listed);
    assert!(table.starts_with("ID"), "{table}");
    assert!(table.contains("STATUS"), "{table}");
    let row = table
        .lines()
        .find(|l| l.contains(&id))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(row.contains("greeter") && row.contains("active"), "{row}");
    let items = json_of(&duro(
        &server,
        &["workflows", "list", "--status", "active", "--json"],
    ));
    let items = items.as_array().expect("an array");
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0]["id"], id.as_str());
    assert_eq!(items[0]["version"], 2);
    let page = duro(&server, &["workflows", "list", "--limit", "1", "--json"]);
    assert_eq!(json_of(&page).as_array().map(Vec::len), Some(1));
    assert!(err(&page).contains("--cursor"), "{}", err(&page));
    let all = json_of(&duro(
        &server,
        &["workflows", "list", "--limit", "1", "--all", "--json"],
    ));
    assert_eq!(all.as_array().map(Vec::len), Some(2));

    // show for people: fields and the steps table.
    let shown = duro(&server, &["workflows", "show", &id]);
    expect_code(&shown, 0);
    let text = out(&shown);
    assert!(text.contains(&id) && text.contains("active"), "{text}");
    assert!(
        text.contains("greet") && text.contains("transform"),
        "{text}"
    );

    // API errors: exit 1 with the code.
    expect_api_error(
        &duro(&server, &["workflows", "show", "wf_nope"]),
        "NOT_FOUND",
    );
    let invalid = write_json(
        dir.path(),
        "bad.json",
        &json!({"name": "bad", "steps": [{"id": "x", "type": "teleport"}]}),
    );
    let refused = duro(&server, &["workflows", "apply", "-f", &invalid]);
    expect_api_error(&refused, "VALIDATION_ERROR");
    assert!(err(&refused).contains("teleport"), "{}", err(&refused));
    let unauthorized = duro(
        &server,
        &["workflows", "list", "--api-key", "duro_not_a_key"],
    );
    expect_api_error(&unauthorized, "UNAUTHORIZED");
}

#[test]
fn runs_are_started_listed_shown_cancelled_and_resumed() {
    let server = start_server();
    let dir = tempfile::tempdir().expect("tempdir");
    let wf = active_workflow(&server, dir.path(), &transform_workflow("greeter"));

    // run without waiting: the short form.
    let started = duro(&server, &["run", &wf, "--input", r#"{"who": "ann"}"#]);
    expect_code(&started, 0);
    let line = out(&started);
    assert!(line.starts_with("run run_"), "{line}");
    assert!(line.contains(&format!("workflow {wf}@1")), "{line}");
    assert!(line.contains("status pending"), "{line}");
    let first = line.split_whitespace().nth(1).expect("run id").to_owned();

    // run --wait --json: the run's detail once ended; --input @file.
    let input = write_json(dir.path(), "input.json", &json!({"who": "bob"}));
    let waited = json_of(&duro(
        &server,
        &[
            "run",
            &wf,
            "--input",
            &format!("@{input}"),
            "--wait",
            "--json",
        ],
    ));
    assert_eq!(waited["status"], "completed", "{waited}");
    assert_eq!(waited["output"]["loud"], "hello bob!", "{waited}");
    let second = waited["runId"].as_str().expect("runId").to_owned();

    // run --wait for people: the detail and its steps table.
    let shown = duro(
        &server,
        &["run", &wf, "--input", r#"{"who":"cy"}"#, "--wait", "30"],
    );
    expect_code(&shown, 0);
    assert!(out(&shown).contains("completed"), "{}", out(&shown));
    assert!(out(&shown).contains("shout"), "{}", out(&shown));

    // The same idempotency key answers with the first run.
    let once = json_of(&duro(
        &server,
        &["run", &wf, "--idempotency-key", "k-1", "--json"],
    ));
    let again = json_of(&duro(
        &server,
        &["run", &wf, "--idempotency-key", "k-1", "--json"],
    ));
    assert_eq!(once["runId"], again["runId"]);

    // A run that fails: exit 1 with --wait, the detail still printed.
    let failing = active_workflow(&server, dir.path(), &failing_workflow());
    let failed = duro(&server, &["run", &failing, "--wait"]);
    expect_code(&failed, 1);
    assert!(out(&failed).contains("failed"), "{}", out(&failed));
    assert!(err(&failed).contains("failed"), "{}", err(&failed));
    let failed_json = duro(&server, &["run", &failing, "--wait", "--json"]);
    expect_code(&failed_json, 1);
    let failed_run: Value = serde_json::from_str(&out(&failed_json)).expect("JSON");
    assert_eq!(failed_run["status"], "failed");

    // A workflow that is not active: the server's error.
    let draft_file = write_json(dir.path(), "draft.json", &transform_workflow("draft"));
    let draft = json_of(&duro(
        &server,
        &["workflows", "apply", "-f", &draft_file, "--json"],
    ));
    expect_api_error(
        &duro(&server, &["run", draft["id"].as_str().expect("id")]),
        "INVALID_STATUS",
    );
    expect_api_error(&duro(&server, &["run", "wf_nope"]), "NOT_FOUND");

    // runs list: table, filters, --json.
    let listed = duro(&server, &["runs", "list", "--workflow", &wf]);
    expect_code(&listed, 0);
    let table = out(&listed);
    assert!(table.starts_with("RUN"), "{table}");
    assert!(table.contains(&first) && table.contains(&second), "{table}");
    let failed_items = json_of(&duro(
        &server,
        &["runs", "list", "--status", "failed", "--json"],
    ));
    let failed_items = failed_items.as_array().expect("array");
    assert_eq!(failed_items.len(), 2, "{failed_items:?}");
    assert!(failed_items.iter().all(|r| r["status"] == "failed"));
    assert!(failed_items
        .iter()
        .all(|r| r["workflowId"] == failing.as_str()));
    let all = json_of(&duro(
        &server,
        &["runs", "list", "--limit", "2", "--all", "--json"],
    ));
    assert_eq!(all.as_array().map(Vec::len), Some(6), "{all}");
    expect_api_error(
        &duro(&server, &["runs", "list", "--status", "sleepy"]),
        "VALIDATION_ERROR",
    );

    // runs show and events.
    let shown = duro(&server, &["runs", "show", &second]);
    expect_code(&shown, 0);
    let text = out(&shown);
    assert!(
        text.contains(&second) && text.contains("completed"),
        "{text}"
    );
    assert!(text.contains("STEP") && text.contains("greet"), "{text}");
    let detail = json_of(&duro(&server, &["runs", "show", &second, "--json"]));
    assert_eq!(detail["runId"], second.as_str());
    assert_eq!(detail["steps"].as_array().map(Vec::len), Some(2));
    let events = duro(&server, &["runs", "events", &second]);
    expect_code(&events, 0);
    assert!(out(&events).contains("RunStarted"), "{}", out(&events));
    assert!(out(&events).contains("RunCompleted"), "{}", out(&events));
    let events = json_of(&duro(&server, &["runs", "events", &second, "--json"]));
    let events = events.as_array().expect("array");
    assert_eq!(events[0]["type"], "RunStarted");
    assert_eq!(events[0]["seq"], 1);
    expect_api_error(&duro(&server, &["runs", "show", "run_nope"]), "NOT_FOUND");
    expect_api_error(&duro(&server, &["runs", "events", "run_nope"]), "NOT_FOUND");

    // cancel a sleeping run; cancelling it again is the server's error.
    let sleeper = active_workflow(
        &server,
        dir.path(),
        &json!({"name": "sleeper", "steps": [{"id": "nap", "type": "delay",
            "config": {"duration": "60s"}}]}),
    );
    let sleeping = json_of(&duro(&server, &["run", &sleeper, "--json"]));
    let sleeping = sleeping["runId"].as_str().expect("runId").to_owned();
    let cancelled = duro(&server, &["runs", "cancel", &sleeping, "--reason", "test"]);
    expect_code(&cancelled, 0);
    assert!(
        out(&cancelled).starts_with(&format!("cancelled {sleeping}  status cancelled")),
        "{}",
        out(&cancelled)
    );
    expect_api_error(
        &duro(&server, &["runs", "cancel", &sleeping]),
        "INVALID_STATUS",
    );
    expect_api_error(&duro(&server, &["runs", "cancel", "run_nope"]), "NOT_FOUND");

    // resume a paused run with a payload.
    let waiter = active_workflow(
        &server,
        dir.path(),
        &json!({"name": "approval", "steps": [{"id": "approve", "type": "wait",
            "config": {}}]}),
    );
    let paused = json_of(&duro(&server, &["run", &waiter, "--json"]));
    let paused = paused["runId"].as_str().expect("runId").to_owned();
    wait_for_status(&server, &paused, "paused");
    let resumed = duro(
        &server,
        &[
            "runs",
            "resume",
            &paused,
            "--payload",
            r#"{"approved": true}"#,
        ],
    );
    expect_code(&resumed, 0);
    assert!(
        out(&resumed).starts_with(&format!("resumed {paused}")),
        "{}",
        out(&resumed)
    );
    let done = wait_for_status(&server, &paused, "completed");
    assert_eq!(done["output"]["approved"], true, "{done}");
    expect_api_error(
        &duro(&server, &["runs", "resume", &paused, "--payload", "{}"]),
        "INVALID_STATUS",
    );
}

#[test]
fn triggers_are_upserted_listed_enabled_disabled_and_fired() {
    let server = start_server();
    let dir = tempfile::tempdir().expect("tempdir");
    let wf = active_workflow(&server, dir.path(), &transform_workflow("greeter"));
    let trigger = json!({"slug": "nightly-greet", "type": "manual", "workflowId": wf,
        "status": "enabled"});
    let file = write_json(dir.path(), "trigger.json", &trigger);

    let created = duro(&server, &["triggers", "upsert", "-f", &file]);
    expect_code(&created, 0);
    let line = out(&created);
    assert!(line.starts_with("created trg_"), "{line}");
    assert!(line.contains("(nightly-greet)"), "{line}");
    assert!(line.contains("status enabled"), "{line}");
    let id = line.split_whitespace().nth(1).expect("id").to_owned();
    let updated = json_of(&duro(
        &server,
        &["triggers", "upsert", "-f", &file, "--json"],
    ));
    assert_eq!(
        updated["id"],
        id.as_str(),
        "the same slug is the same trigger"
    );
    let again = duro(&server, &["triggers", "upsert", "-f", &file]);
    assert!(
        out(&again).starts_with(&format!("updated {id}")),
        "{}",
        out(&again)
    );

    let listed = duro(&server, &["triggers", "list"]);
    expect_code(&listed, 0);
    let table = out(&listed);
    assert!(table.starts_with("ID"), "{table}");
    assert!(
        table.contains(&id) && table.contains("nightly-greet"),
        "{table}"
    );
    let items = json_of(&duro(
        &server,
        &[
            "triggers",
            "list",
            "--workflow",
            &wf,
            "--type",
            "manual",
            "--json",
        ],
    ));
    assert_eq!(items.as_array().map(Vec::len), Some(1), "{items}");
    assert_eq!(items[0]["slug"], "nightly-greet");
    let none = json_of(&duro(
        &server,
        &["triggers", "list", "--type", "webhook", "--json"],
    ));
    assert_eq!(none, json!([]));
    let shown = duro(&server, &["triggers", "show", &id]);
    expect_code(&shown, 0);
    assert!(out(&shown).contains("manual"), "{}", out(&shown));

    let disabled = duro(&server, &["triggers", "disable", &id]);
    expect_code(&disabled, 0);
    assert!(
        out(&disabled).contains("status disabled"),
        "{}",
        out(&disabled)
    );
    expect_api_error(&duro(&server, &["triggers", "fire", &id]), "INVALID_STATUS");
    let enabled = json_of(&duro(&server, &["triggers", "enable", &id, "--json"]));
    assert_eq!(enabled["status"], "enabled");

    let fired = json_of(&duro(
        &server,
        &[
            "triggers",
            "fire",
            &id,
            "--input",
            r#"{"who": "dee"}"#,
            "--wait",
            "--json",
        ],
    ));
    assert_eq!(fired["status"], "completed", "{fired}");
    assert_eq!(fired["output"]["loud"], "hello dee!", "{fired}");
    let fired = duro(&server, &["triggers", "fire", &id]);
    expect_code(&fired, 0);
    assert!(out(&fired).starts_with("run run_"), "{}", out(&fired));

    expect_api_error(
        &duro(&server, &["triggers", "enable", "trg_nope"]),
        "NOT_FOUND",
    );
    let bad = write_json(
        dir.path(),
        "bad.json",
        &json!({"slug": "x", "type": "manual", "workflowId": "wf_nope"}),
    );
    expect_api_error(
        &duro(&server, &["triggers", "upsert", "-f", &bad]),
        "NOT_FOUND",
    );
}

#[test]
fn keys_are_managed_through_the_server_with_url() {
    let server = start_server();
    let created = json_of(&duro(
        &server,
        &[
            "keys",
            "create",
            "--name",
            "ci deploys",
            "--scopes",
            "workflows:read,runs:write",
            "--json",
        ],
    ));
    let id = created["id"].as_str().expect("id").to_owned();
    let secret = created["key"].as_str().expect("key").to_owned();
    assert!(id.starts_with("key_"), "{id}");
    assert!(secret.starts_with("duro_"), "{secret}");
    assert_eq!(created["name"], "ci deploys");
    assert_eq!(created["scopes"], json!(["workflows:read", "runs:write"]));

    // Text form: as offline, the secret on a line of its own.
    let text = duro(
        &server,
        &[
            "keys",
            "create",
            "--name",
            "reader",
            "--scopes",
            "runs:read",
        ],
    );
    expect_code(&text, 0);
    let lines: Vec<String> = out(&text).lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].starts_with("created key_") && lines[0].contains("\"reader\""));
    assert!(lines[1].starts_with("duro_"));

    // The new key works, within its scopes.
    let listed = duro_at(
        &server.url,
        &["workflows", "list", "--api-key", &secret, "--json"],
        None,
    );
    assert_eq!(json_of(&listed), json!([]));
    expect_api_error(
        &duro_at(&server.url, &["keys", "list", "--api-key", &secret], None),
        "FORBIDDEN",
    );

    let listed = duro(&server, &["keys", "list"]);
    expect_code(&listed, 0);
    let text = out(&listed);
    assert!(
        text.contains(&id) && text.contains("workflows:read,runs:write"),
        "{text}"
    );
    assert!(!text.contains(&secret));
    assert_eq!(text.matches("active").count(), 3, "bootstrap too: {text}");

    let revoked = duro(&server, &["keys", "revoke", "--id", &id]);
    expect_code(&revoked, 0);
    assert!(
        out(&revoked).starts_with(&format!("revoked {id}")),
        "{}",
        out(&revoked)
    );
    let keys = json_of(&duro(&server, &["keys", "list", "--json"]));
    let key = keys
        .as_array()
        .and_then(|k| k.iter().find(|k| k["id"] == id.as_str()))
        .expect("the revoked key is listed");
    assert!(key["revokedAt"].is_string(), "{key}");
    assert!(key.get("key").is_none(), "{key}");
    expect_api_error(
        &duro_at(
            &server.url,
            &["workflows", "list", "--api-key", &secret],
            None,
        ),
        "UNAUTHORIZED",
    );
    expect_api_error(
        &duro(
            &server,
            &[
                "keys",
                "revoke",
                "--id",
                "key_00000000000000000000000000000000",
            ],
        ),
        "NOT_FOUND",
    );
    expect_api_error(
        &duro(
            &server,
            &["keys", "create", "--name", " ", "--scopes", "admin"],
        ),
        "VALIDATION_ERROR",
    );
}

/// Needs `GET|POST /api/v1/runs/{id}/replay`.
#[test]
fn replay_prints_the_history_and_exits_1_on_divergence() {
    let server = start_server();
    let dir = tempfile::tempdir().expect("tempdir");
    let wf = active_workflow(&server, dir.path(), &transform_workflow("greeter"));
    let run = json_of(&duro(
        &server,
        &[
            "run",
            &wf,
            "--input",
            r#"{"who": "eve"}"#,
            "--wait",
            "--json",
        ],
    ));
    let run = run["runId"].as_str().expect("runId").to_owned();

    let replayed = duro(&server, &["runs", "replay", &run]);
    expect_code(&replayed, 0);
    let text = out(&replayed);
    assert!(
        text.contains(&run) && text.contains(&format!("{wf}@1")),
        "{text}"
    );
    assert!(
        text.contains("RunStarted") && text.contains("greet"),
        "{text}"
    );
    assert!(text.contains("stopped: "), "{text}");

    let same = duro(&server, &["runs", "replay", &run, "--version", "1"]);
    expect_code(&same, 0);
    assert!(out(&same).contains("no divergence"), "{}", out(&same));
    let json = json_of(&duro(
        &server,
        &["runs", "replay", &run, "--version", "1", "--json"],
    ));
    assert_eq!(json["runId"], run.as_str());
    assert!(
        json["timeline"].is_array() && json["steps"].is_array(),
        "{json}"
    );
    assert!(json["divergence"].is_null(), "{json}");
    assert_eq!(json["against"]["source"], "version");

    // Against a definition whose first step is another: diverges, exit 1.
    let other = json!({"name": "greeter", "steps": [
        {"id": "wave", "type": "transform", "config": {"mapping": {"x": "1"}}}]});
    let other = write_json(dir.path(), "other.json", &other);
    let diverged = duro(&server, &["runs", "replay", &run, "--definition", &other]);
    expect_code(&diverged, 1);
    assert!(
        out(&diverged).contains("DIVERGES at seq"),
        "{}",
        out(&diverged)
    );
    let diverged = duro(
        &server,
        &["runs", "replay", &run, "--definition", &other, "--json"],
    );
    expect_code(&diverged, 1);
    let body: Value = serde_json::from_str(&out(&diverged)).expect("JSON");
    assert!(body["divergence"]["seq"].is_u64(), "{body}");

    expect_api_error(&duro(&server, &["runs", "replay", "run_nope"]), "NOT_FOUND");
}

/// `duro replay --journal FILE`: a failed run exported for a bug report is replayed with
/// no server, and checked against a fixed definition.
#[test]
fn an_exported_run_replays_offline() {
    let server = start_server();
    let dir = tempfile::tempdir().expect("tempdir");
    let wf = active_workflow(&server, dir.path(), &failing_workflow());
    let mut runs = Vec::new();
    for _ in 0..2 {
        let started = duro(&server, &["run", &wf, "--wait", "--json"]);
        expect_code(&started, 1);
        let run: Value = serde_json::from_str(&out(&started)).expect("JSON");
        assert_eq!(run["status"], "failed", "{run}");
        runs.push(run["runId"].as_str().expect("runId").to_owned());
    }
    let one = dir.path().join("one-run.duro");
    let exported = duro(
        &server,
        &[
            "journal",
            "export",
            "--run",
            &runs[0],
            "--out",
            one.to_str().expect("path"),
        ],
    );
    expect_code(&exported, 0);
    let all = dir.path().join("workflow.duro");
    let exported = duro(
        &server,
        &[
            "journal",
            "export",
            "--workflow",
            &wf,
            "--out",
            all.to_str().expect("path"),
        ],
    );
    expect_code(&exported, 0);
    drop(server);

    let offline = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_duro"))
            .arg("replay")
            .args(args)
            .env_remove("DURO_URL")
            .output()
            .expect("run duro replay")
    };
    let one = one.to_str().expect("path");
    let replayed = offline(&["--journal", one]);
    expect_code(&replayed, 0);
    let text = out(&replayed);
    assert!(
        text.contains(&runs[0]) && text.contains("RunFailed"),
        "{text}"
    );
    assert!(text.contains("failed at step call"), "{text}");

    let json = json_of(&offline(&["--journal", one, "--json"]));
    assert_eq!(json["runId"], runs[0].as_str());
    assert_eq!(json["stopped"]["stepId"], "call", "{json}");
    assert_eq!(json["steps"][0]["error"]["code"], "NETWORK", "{json}");

    let fixed = json!({"name": "failing", "steps": [{"id": "call", "type": "http",
        "config": {"url": "http://127.0.0.1:2/"}, "retry": {"maxAttempts": 1}}]});
    let fixed = write_json(dir.path(), "fixed.json", &fixed);
    let diverged = offline(&["--journal", one, "--definition", &fixed, "--json"]);
    expect_code(&diverged, 1);
    let body: Value = serde_json::from_str(&out(&diverged)).expect("JSON");
    assert_eq!(body["divergence"]["stepId"], "call", "{body}");
    assert_eq!(body["divergence"]["kind"], "request", "{body}");
    expect_code(&offline(&["--journal", one, "--version", "1"]), 0);

    // An archive of several runs needs --run; a run it does not hold is named.
    let all = all.to_str().expect("path");
    let ambiguous = offline(&["--journal", all]);
    expect_code(&ambiguous, 2);
    assert!(err(&ambiguous).contains("--run"), "{}", err(&ambiguous));
    expect_code(&offline(&["--journal", all, "--run", &runs[1]]), 0);
    let missing = offline(&["--journal", one, "--run", &runs[1]]);
    expect_code(&missing, 1);
    assert!(err(&missing).contains(&runs[1]), "{}", err(&missing));

    // A damaged archive is refused, naming where.
    let mut bytes = std::fs::read(one).expect("read archive");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    let damaged = dir.path().join("damaged.duro");
    std::fs::write(&damaged, bytes).expect("write");
    let refused = offline(&["--journal", damaged.to_str().expect("path")]);
    expect_code(&refused, 1);
    assert!(
        err(&refused).contains("not a sound archive"),
        "{}",
        err(&refused)
    );
    expect_code(&offline(&["--journal", "/nonexistent/file.duro"]), 2);
}

/// Needs `POST /api/v1/runs/{id}/rerun` and `parent`/`reruns` in the run detail.
#[test]
fn rerun_starts_from_a_step_one_run_or_many() {
    let server = start_server();
    let dir = tempfile::tempdir().expect("tempdir");
    let wf = active_workflow(&server, dir.path(), &transform_workflow("greeter"));
    let parent = json_of(&duro(
        &server,
        &[
            "run",
            &wf,
            "--input",
            r#"{"who": "fay"}"#,
            "--wait",
            "--json",
        ],
    ));
    let parent = parent["runId"].as_str().expect("runId").to_owned();

    let rerun = duro(&server, &["runs", "rerun", &parent, "--from-step", "shout"]);
    expect_code(&rerun, 0);
    let line = out(&rerun);
    assert!(line.starts_with("run run_"), "{line}");
    assert!(
        line.contains(&format!("rerun of {parent} from step shout")),
        "{line}"
    );
    let waited = json_of(&duro(
        &server,
        &[
            "runs",
            "rerun",
            &parent,
            "--from-step",
            "shout",
            "--wait",
            "--json",
        ],
    ));
    assert_eq!(waited["status"], "completed", "{waited}");
    assert_eq!(waited["parent"]["runId"], parent.as_str(), "{waited}");
    let shown = duro(&server, &["runs", "show", &parent]);
    expect_code(&shown, 0);
    assert!(out(&shown).contains("reruns"), "{}", out(&shown));
    let child = waited["runId"].as_str().expect("runId").to_owned();
    let shown = duro(&server, &["runs", "show", &child]);
    assert!(
        out(&shown).contains(&format!("{parent} (from step shout)")),
        "{}",
        out(&shown)
    );

    expect_api_error(
        &duro(
            &server,
            &["runs", "rerun", "run_nope", "--from-step", "shout"],
        ),
        "NOT_FOUND",
    );
    expect_api_error(
        &duro(&server, &["runs", "rerun", &parent, "--from-step", "nope"]),
        "VALIDATION_ERROR",
    );

    // Bulk: every failed run of a workflow, at a rate.
    let failing = active_workflow(&server, dir.path(), &failing_workflow());
    for _ in 0..3 {
        expect_code(&duro(&server, &["run", &failing, "--wait"]), 1);
    }
    let bulk = json_of(&duro(
        &server,
        &[
            "runs",
            "rerun",
            "--workflow",
            &failing,
            "--from-step",
            "call",
            "--rate",
            "50",
            "--json",
        ],
    ));
    let made = bulk.as_array().expect("array");
    assert_eq!(made.len(), 3, "{bulk}");
    assert!(made
        .iter()
        .all(|m| m["parentRunId"].is_string() && m["runId"].is_string()));
    let text = duro(
        &server,
        &[
            "runs",
            "rerun",
            "--workflow",
            &wf,
            "--status",
            "completed",
            "--from-step",
            "shout",
        ],
    );
    expect_code(&text, 0);
    assert!(out(&text).contains("reruns made: "), "{}", out(&text));
    assert!(out(&text).contains("failures: 0"), "{}", out(&text));
}
