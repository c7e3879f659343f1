//! The journal commands against PostgreSQL, and moving an embedded deployment there: a real
//! embedded `duro serve` completes one run and pauses another; `duro journal export` of its
//! data directory, `duro journal import --database-url` into an empty database (refused a
//! second time, and while a server runs on it), `duro journal verify --database-url`, a
//! `duro serve --database-url` on a new data directory that lists both runs and finishes the
//! paused one, an export from the database while that server runs, `duro projections
//! rebuild --database-url`, and verify naming a run event damaged in the database.
//!
//! Needs PostgreSQL at `DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/test`); the
//! test creates and drops databases of its own, and is skipped with a printed reason only
//! when no server answers.

mod support;
// Only the PostgreSQL tests link sqlx: the helper is not part of `support`.
#[path = "support/pg.rs"]
mod pg;

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use serde_json::json;
use sqlx::{Connection, Executor, PgConnection};
use support::api::Api;
use support::{expect_code, stderr, stdout, Serve};

const KEY: &str = "postgres-journal-test-key-0123456789";

/// `duro ARGS` with `DURO_DATABASE_URL` and `DURO_DATA_DIR` only as the test gives them.
async fn duro(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        support::duro_command()
            .args(&args)
            .env_remove("DURO_DATABASE_URL")
            .env_remove("DURO_DATA_DIR")
            .env_remove("DURO_URL")
            .output()
            .expect("run duro")
    })
    .await
    .expect("join")
}

fn args(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|part| (*part).to_owned()).collect()
}

fn path(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 path")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_embedded_deployment_moves_to_postgresql_by_export_and_import() {
    pg::with_databases("duro_move", 1, |urls| scenario(urls[0].clone())).await;
}

async fn scenario(database_url: String) {
    let scratch = tempfile::tempdir().expect("tempdir");
    let embedded_dir = scratch.path().join("embedded");
    let archive = scratch.path().join("backup.duro");

    // An embedded deployment: one run completed, one paused.
    let (done, paused) = {
        let server = Serve::new()
            .bootstrap_key(KEY)
            .env_remove("DURO_CONFIG")
            .env_remove("DURO_DATABASE_URL")
            .data_dir(&embedded_dir)
            .start();
        let api = Api::new(&server.url, KEY);
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
        let quick = api
            .active_workflow(json!({
                "name": "greet",
                "steps": [{"id": "greet", "type": "transform",
                           "config": {"mapping": {"greeting": "Hi {{input.name}}"}}}]
            }))
            .await;
        let done = api
            .start_run(&quick, json!({"name": "Grace"}))
            .await
            .expect("a run");
        let paused = api
            .start_run(&workflow, json!({"name": "Ada"}))
            .await
            .expect("a run");
        api.until_status(&done, &["completed"], Duration::from_secs(30))
            .await;
        api.until_status(&paused, &["paused"], Duration::from_secs(30))
            .await;
        (done, paused)
    }; // The server is killed when dropped.

    let output = duro(args(&[
        "journal",
        "export",
        "--data-dir",
        path(&embedded_dir),
        "--out",
        path(&archive),
        "--json",
    ]))
    .await;
    let exported = support::json_of(&output);
    let records = exported["records"].as_u64().expect("records");

    // Import into the empty database, with read models in a new data directory.
    let models_dir = scratch.path().join("models");
    let output = duro(args(&[
        "journal",
        "import",
        "--database-url",
        &database_url,
        "--in",
        path(&archive),
        "--data-dir",
        path(&models_dir),
    ]))
    .await;
    expect_code(&output, 0);
    let text = stdout(&output);
    assert!(
        text.contains(&format!("imported {records} events"))
            && text.contains("into the PostgreSQL journal")
            && text.contains("rebuilt the read models"),
        "{text}"
    );
    // The password-free URL is not printed anywhere either way; a second import is refused.
    let output = duro(args(&[
        "journal",
        "import",
        "--database-url",
        &database_url,
        "--in",
        path(&archive),
    ]))
    .await;
    expect_code(&output, 1);
    assert!(
        stderr(&output).contains(&format!("already holds {records} events")),
        "{}",
        stderr(&output)
    );

    // The database's journal is sound and holds exactly the archive.
    let output = duro(args(&[
        "journal",
        "verify",
        "--database-url",
        &database_url,
    ]))
    .await;
    expect_code(&output, 0);
    let text = stdout(&output);
    assert!(
        text.contains(&format!("{records} events")) && text.ends_with("ok\n"),
        "{text}"
    );

    // A server on PostgreSQL with a new data directory has both runs and finishes the paused.
    let serve_dir = scratch.path().join("serve");
    let server = Serve::new()
        .bootstrap_key(KEY)
        .env_remove("DURO_CONFIG")
        .env("DURO_DATABASE_URL", &database_url)
        .data_dir(&serve_dir)
        .start();
    let api = Api::new(&server.url, KEY);
    let listed = api.listed_runs().await;
    for run_id in [&done, &paused] {
        assert!(listed.iter().any(|(id, _)| id == run_id), "{listed:?}");
    }
    let run = api.run(&done).await.expect("the completed run");
    assert_eq!(run["output"]["greeting"], "Hi Grace", "{run}");
    let (status, body) = api
        .call(
            reqwest::Method::POST,
            &format!("/api/v1/runs/{paused}/resume"),
            Some(json!({"payload": {"ok": true}})),
        )
        .await;
    assert!(status == 200 || status == 202, "{status} {body}");
    let ended = api.ended(&paused, Duration::from_secs(30)).await;
    assert_eq!(
        ended["output"]["greeting"], "Hello Ada, approved: true",
        "{ended}"
    );

    // While it runs: an export from the database works, an import into it is refused.
    let second_archive = scratch.path().join("from-postgres.duro");
    let output = duro(args(&[
        "journal",
        "export",
        "--database-url",
        &database_url,
        "--out",
        path(&second_archive),
        "--json",
    ]))
    .await;
    let exported_again = support::json_of(&output);
    assert!(
        exported_again["records"].as_u64().expect("records") > records,
        "the resume and the run's end were appended: {exported_again}"
    );
    let output = duro(args(&[
        "journal",
        "import",
        "--database-url",
        &database_url,
        "--in",
        path(&archive),
    ]))
    .await;
    expect_code(&output, 1);
    assert!(
        stderr(&output).contains("a duro serve uses this PostgreSQL database"),
        "{}",
        stderr(&output)
    );
    drop(server);

    // The read models of the server's data directory, rebuilt from PostgreSQL.
    let output = duro(args(&[
        "projections",
        "rebuild",
        "--data-dir",
        path(&serve_dir),
        "--database-url",
        &database_url,
    ]))
    .await;
    expect_code(&output, 0);
    assert!(stdout(&output).contains("2 runs"), "{}", stdout(&output));

    // Damage one run event in the database: verify names the run and exits 1.
    let mut connection = PgConnection::connect(&database_url).await.expect("connect");
    let damaged = connection
        .execute(
            sqlx::query(
                "UPDATE journal_events SET data = '\\x00ff'::bytea \
                 WHERE position = (SELECT max(position) FROM journal_events WHERE stream = $1)",
            )
            .bind(format!("run-{done}")),
        )
        .await
        .expect("update");
    assert_eq!(damaged.rows_affected(), 1);
    let output = duro(args(&[
        "journal",
        "verify",
        "--database-url",
        &database_url,
    ]))
    .await;
    expect_code(&output, 1);
    let text = stdout(&output);
    assert!(
        text.contains(&format!("run {done} is quarantined (corrupt)")),
        "{text}"
    );
}
