//! `duro serve --database-url`: the journal in PostgreSQL. A real server on a fresh database
//! pauses a run, a second node on the same database sees it, the first is SIGKILLed, and a server started on the same
//! database with a NEW, empty data directory finds the paused run (its read models rebuilt
//! from the PostgreSQL journal), resumes it and finishes it.
//!
//! Needs PostgreSQL at `DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/test`); the
//! test creates and drops a database of its own, and is skipped with a printed reason only
//! when no server answers.

mod support;
// Only the PostgreSQL tests link sqlx: the helper is not part of `support`.
#[path = "support/pg.rs"]
mod pg;

use std::time::Duration;

use serde_json::json;
use support::api::Api;
use support::Serve;

const KEY: &str = "postgres-serve-test-key-0123456789";
/// The key sealing connection secrets, the same on every node.
const SECRET_KEY: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_run_outlives_a_sigkill_and_a_new_data_directory() {
    pg::with_databases("duro_serve", 1, |urls| scenario(urls[0].clone())).await;
}

async fn scenario(database_url: String) {
    let first_dir = tempfile::tempdir().expect("tempdir");
    let serve = |dir: &std::path::Path| {
        Serve::new()
            .bootstrap_key(KEY)
            .env_remove("DURO_CONFIG")
            .env("DURO_DATABASE_URL", &database_url)
            .env("DURO_SECRET_KEY", SECRET_KEY)
            .data_dir(dir)
    };
    let mut first = serve(first_dir.path()).start();
    let api = Api::new(&first.url, KEY);
    let workflow = api
        .active_workflow(json!({
            "name": "approve then greet",
            "steps": [
                {"id": "approval", "type": "wait"},
                {"id": "greet", "type": "transform",
                 "config": {"mapping": {"greeting": "Hello {{input.name}}, approved: {{steps.approval.output.ok}}"}}}
            ]
        }))
        .await;
    let run_id = api
        .start_run(&workflow, json!({"name": "Ada"}))
        .await
        .expect("the run starts");
    api.until_status(&run_id, &["paused"], Duration::from_secs(30))
        .await;

    // A second node on the same database starts beside it (each node its own data
    // directory and node id) and sees the paused run through the shared journal.
    let second_dir = tempfile::tempdir().expect("tempdir");
    let second = serve(second_dir.path())
        .env("DURO_NODE_ID", "second")
        .start();
    let beside = Api::new(&second.url, KEY);
    let run = beside
        .run(&run_id)
        .await
        .expect("the second node reads the run");
    assert_eq!(run["status"], "paused", "{run}");
    let metrics = beside.text("/metrics").await;
    assert!(
        metrics.contains("node=\"second\""),
        "every series names the node: {metrics}"
    );
    drop(second);

    // A node with another secret key would write secrets the others cannot open: refused.
    let odd_dir = tempfile::tempdir().expect("tempdir");
    let log = odd_dir.path().join("serve.log");
    let odd = serve(&odd_dir.path().join("data"))
        .env("DURO_SECRET_KEY", "fe".repeat(32))
        .stderr_file(&log)
        .spawn();
    let exited = tokio::task::spawn_blocking(move || {
        let mut odd = odd;
        odd.child.wait().expect("the odd node exits")
    })
    .await
    .expect("join");
    assert!(
        !exited.success(),
        "a node with another secret key must not start"
    );
    let logged = std::fs::read_to_string(&log).expect("the log");
    assert!(
        logged.contains("give every node the same DURO_SECRET_KEY"),
        "{logged}"
    );

    // kill -9, then a server with a new, empty data directory on the same database.
    let _ = first.child.kill();
    let _ = first.child.wait();
    let third_dir = tempfile::tempdir().expect("tempdir");
    let third = serve(third_dir.path()).start();
    let api = Api::new(&third.url, KEY);
    let run = api.run(&run_id).await.expect("the run is in the journal");
    assert_eq!(run["status"], "paused", "{run}");
    let (status, body) = api
        .call(
            reqwest::Method::POST,
            &format!("/api/v1/runs/{run_id}/resume"),
            Some(json!({"payload": {"ok": true}})),
        )
        .await;
    assert!(status == 200 || status == 202, "{status} {body}");
    let ended = api.ended(&run_id, Duration::from_secs(30)).await;
    assert_eq!(ended["status"], "completed", "{ended}");
    assert_eq!(
        ended["output"]["greeting"], "Hello Ada, approved: true",
        "{ended}"
    );
    // The listing comes from the new data directory's read models, rebuilt from PostgreSQL.
    let listed = api.listed_runs().await;
    assert!(listed.iter().any(|(id, _)| *id == run_id), "{listed:?}");
    drop(third);
}
