//! `duro journal export | import | verify --in` as users run them: a journal goes through an
//! archive into a fresh data directory unchanged, and a damaged archive is rejected with the
//! place of the damage, importing nothing. The online path (`--url`, through
//! `GET /api/v1/journal/export` of a real `duro serve`) is checked too.

mod support;

use std::path::Path;
use std::process::Output;

use engine::events::RunEvent;
use journal::archive::ArchiveReader;
use journal::{
    EmbeddedConfig, EmbeddedStore, EventStore, EventType, ExpectedVersion, NewEvent, StreamName,
};
use serde_json::Value;
use support::{start_server, Server};

fn duro(args: &[&str]) -> Output {
    support::duro_output(args, None, &["DURO_DATA_DIR", "DURO_URL", "DURO_API_KEY"])
}

fn text(output: &Output) -> String {
    format!(
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn run_started(run_id: &str, workflow_id: &str) -> NewEvent {
    let event = RunEvent::RunStarted {
        run_id: run_id.into(),
        workflow_id: workflow_id.into(),
        workflow_version: 1,
        input_json: "{}".into(),
        idempotency_key: None,
        connection_id: None,
    };
    NewEvent::new(event.tag(), event.encode())
}

/// Two workflows, three runs (r1 and r3 of wf1, r2 of wf2), and other streams between.
async fn write_journal(data_dir: &Path) {
    let store = EmbeddedStore::open(EmbeddedConfig::new(data_dir)).expect("open");
    let append = |stream: &str, event: NewEvent| {
        let stream = StreamName::new(stream).expect("stream");
        let store = &store;
        async move {
            store
                .append(&stream, ExpectedVersion::Any, vec![event])
                .await
                .expect("append");
        }
    };
    let opaque = |i: usize| NewEvent::new(EventType(7), format!("opaque {i}"));
    // A run stream holds run events only: `journal verify` reports any other as a corrupt run.
    let step = |i: usize| {
        let event = RunEvent::TimerFired {
            step_id: format!("step {i}"),
        };
        NewEvent::new(event.tag(), event.encode())
    };
    append("workflow-wf1", opaque(0)).await;
    append("workflow-wf2", opaque(1)).await;
    append("run-r1", run_started("r1", "wf1")).await;
    append("run-r2", run_started("r2", "wf2")).await;
    for i in 0..30 {
        let stream = ["run-r1", "run-r2", "other-x"][i % 3];
        let event = if stream == "other-x" {
            opaque(i)
        } else {
            step(i)
        };
        append(stream, event).await;
    }
    append("run-r3", run_started("r3", "wf1")).await;
    append("workflow-wf1", opaque(99)).await;
    append("run-r3", step(100)).await;
}

fn export_json(args: &[&str]) -> Value {
    let output = duro(&[&["journal", "export", "--json"], args].concat());
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    serde_json::from_slice(&output.stdout).expect("one JSON object")
}

fn streams_in(file: &Path) -> Vec<String> {
    let bytes = std::fs::read(file).expect("read archive");
    let mut names: Vec<String> = ArchiveReader::new(bytes.as_slice())
        .expect("archive")
        .map(|event| event.expect("record").stream.as_str().to_owned())
        .collect();
    names.sort();
    names.dedup();
    names
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_journal_goes_through_an_archive_into_a_fresh_directory_unchanged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (old, new) = (dir.path().join("old"), dir.path().join("new"));
    write_journal(&old).await;
    let file = dir.path().join("backup.duroarch");

    let exported = export_json(&["--data-dir", path(&old), "--out", path(&file)]);
    assert_eq!(exported["records"], 37);
    assert_eq!(exported["streams"], 6);
    assert!(!dir.path().join("backup.duroarch.tmp").exists());

    let verified = duro(&["journal", "verify", "--in", path(&file)]);
    assert_eq!(verified.status.code(), Some(0), "{}", text(&verified));
    assert!(String::from_utf8_lossy(&verified.stdout).contains("37 records"));

    let imported = duro(&[
        "journal",
        "import",
        "--data-dir",
        path(&new),
        "--in",
        path(&file),
    ]);
    assert_eq!(imported.status.code(), Some(0), "{}", text(&imported));
    let out = String::from_utf8_lossy(&imported.stdout);
    assert!(out.contains("imported 37 events"), "{out}");
    assert!(out.contains("rebuilt the read models"), "{out}");
    assert!(out.contains("secret.key"), "{out}");

    let journal = duro(&["journal", "verify", "--data-dir", path(&new)]);
    assert_eq!(journal.status.code(), Some(0), "{}", text(&journal));
    assert!(String::from_utf8_lossy(&journal.stdout).contains("6 streams, 37 events"));

    let again = export_json(&[
        "--data-dir",
        path(&new),
        "--out",
        path(&dir.path().join("again")),
    ]);
    for field in [
        "records",
        "streams",
        "recordsDigest",
        "firstPosition",
        "lastPosition",
    ] {
        assert_eq!(again[field], exported[field], "{field}");
    }
    assert_ne!(again["digest"], exported["digest"], "the headers differ");

    // A second import into the now full directory is refused.
    let refused = duro(&[
        "journal",
        "import",
        "--data-dir",
        path(&new),
        "--in",
        path(&file),
    ]);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("already holds a journal with 37 events")
    );
}

/// An archive is damaged: verify --in exits 1 naming the offset, import exits 1 and the
/// target directory gets no events.
fn assert_rejected(file: &Path, target: &Path, expected: &str) {
    let verified = duro(&["journal", "verify", "--in", path(file)]);
    assert_eq!(verified.status.code(), Some(1), "{}", text(&verified));
    let out = String::from_utf8_lossy(&verified.stdout);
    assert!(out.contains(expected), "{expected:?} in {out}");

    let imported = duro(&[
        "journal",
        "import",
        "--data-dir",
        path(target),
        "--in",
        path(file),
    ]);
    assert_eq!(imported.status.code(), Some(1), "{}", text(&imported));
    let err = String::from_utf8_lossy(&imported.stderr);
    assert!(
        err.contains(expected) && err.contains("nothing was imported"),
        "{err}"
    );
    assert!(
        !target.join("journal").exists(),
        "the target directory has no journal"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flipped_byte_or_a_cut_is_rejected_with_the_offset_and_nothing_is_imported() {
    let dir = tempfile::tempdir().expect("tempdir");
    let old = dir.path().join("old");
    write_journal(&old).await;
    let file = dir.path().join("backup.duroarch");
    export_json(&["--data-dir", path(&old), "--out", path(&file)]);
    let bytes = std::fs::read(&file).expect("read");

    // The frame of the 10th record: walk the frames after the preamble.
    let mut at = 10;
    let mut frames = Vec::new();
    while at < bytes.len() {
        frames.push(at);
        at += 9 + u32::from_le_bytes([bytes[at + 1], bytes[at + 2], bytes[at + 3], bytes[at + 4]])
            as usize;
    }
    let tenth = frames[10];
    let mut flipped = bytes.clone();
    flipped[tenth + 12] ^= 0x01;
    let damaged = dir.path().join("flipped.duroarch");
    std::fs::write(&damaged, &flipped).expect("write");
    assert_rejected(
        &damaged,
        &dir.path().join("t1"),
        &format!("CRC mismatch at offset {tenth} (record 10)"),
    );

    let cut = dir.path().join("cut.duroarch");
    std::fs::write(&cut, &bytes[..tenth + 20]).expect("write");
    assert_rejected(
        &cut,
        &dir.path().join("t2"),
        &format!("truncated at offset {tenth} (record 10)"),
    );

    let trailing = dir.path().join("trailing.duroarch");
    let mut longer = bytes.clone();
    longer.push(0);
    std::fs::write(&trailing, &longer).expect("write");
    assert_rejected(
        &trailing,
        &dir.path().join("t3"),
        &format!("trailing bytes at offset {}", bytes.len()),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_or_a_workflow_exports_only_its_streams() {
    let dir = tempfile::tempdir().expect("tempdir");
    let old = dir.path().join("old");
    write_journal(&old).await;

    let run = dir.path().join("run.duroarch");
    let summary = export_json(&["--data-dir", path(&old), "--out", path(&run), "--run", "r1"]);
    assert_eq!(
        summary["scope"],
        serde_json::json!({"kind": "run", "id": "r1"})
    );
    assert_eq!(streams_in(&run), ["run-r1", "workflow-wf1"]);
    assert_eq!(summary["records"], 1 + 10 + 2);

    let workflow = dir.path().join("wf.duroarch");
    export_json(&[
        "--data-dir",
        path(&old),
        "--out",
        path(&workflow),
        "--workflow",
        "wf1",
    ]);
    assert_eq!(streams_in(&workflow), ["run-r1", "run-r3", "workflow-wf1"]);

    // A run export is a journal of its own: it imports into an empty directory.
    let new = dir.path().join("new");
    let imported = duro(&[
        "journal",
        "import",
        "--data-dir",
        path(&new),
        "--in",
        path(&run),
    ]);
    assert_eq!(imported.status.code(), Some(0), "{}", text(&imported));

    let missing = duro(&[
        "journal",
        "export",
        "--data-dir",
        path(&old),
        "--out",
        path(&dir.path().join("x")),
        "--run",
        "nope",
    ]);
    assert_eq!(missing.status.code(), Some(1), "{}", text(&missing));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("Run not found"));
}

const BOOTSTRAP: &str = "journal-archive-test-bootstrap-key-0123456789";

/// A client command (`workflows`, `run`, `keys`) against `server` with `key`, its stdout as
/// JSON (`--json` is added).
fn client_json(server: &Server, key: &str, args: &[&str]) -> Value {
    let output = duro(&[args, &["--url", &server.url, "--api-key", key, "--json"]].concat());
    assert_eq!(output.status.code(), Some(0), "{args:?}: {}", text(&output));
    serde_json::from_slice(&output.stdout).expect("one JSON document")
}

/// Creates an active one-step workflow and runs it to completion; returns (workflow, run).
fn workflow_with_a_run(server: &Server, dir: &Path, name: &str) -> (String, String) {
    let file = dir.join(format!("{name}.json"));
    let definition = serde_json::json!({
        "name": name,
        "steps": [{"id": "greet", "type": "transform",
                   "config": {"mapping": {"greeting": "hello {{input.who}}"}}}]
    });
    std::fs::write(&file, definition.to_string()).expect("write definition");
    let workflow = client_json(
        server,
        BOOTSTRAP,
        &["workflows", "apply", "-f", path(&file), "--activate"],
    );
    let workflow = workflow["id"].as_str().expect("workflow id").to_owned();
    let run = client_json(
        server,
        BOOTSTRAP,
        &[
            "run",
            &workflow,
            "--input",
            r#"{"who": "ops"}"#,
            "--wait",
            "20",
        ],
    );
    assert_eq!(run["status"], "completed", "{run}");
    let run = run["runId"].as_str().expect("run id").to_owned();
    (workflow, run)
}

/// The numbers `duro journal verify --in FILE` prints: (records, streams).
fn verified_counts(file: &Path) -> (u64, u64) {
    let output = duro(&["journal", "verify", "--in", path(file)]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.lines().any(|line| line == "ok"), "{stdout}");
    // "N records, M streams, B bytes, positions ..."
    let line = stdout
        .lines()
        .find(|line| line.contains(" records, "))
        .unwrap_or_else(|| panic!("no counts in {stdout}"));
    let number = |word: &str| -> u64 {
        let words: Vec<&str> = line.split([' ', ',']).filter(|w| !w.is_empty()).collect();
        let at = words
            .iter()
            .position(|w| *w == word)
            .unwrap_or_else(|| panic!("{word} in {line}"));
        words[at - 1].parse().expect("a count")
    };
    (number("records"), number("streams"))
}

#[test]
fn a_running_server_exports_over_http_for_admin_keys_only() {
    let server = start_server(BOOTSTRAP);
    let dir = tempfile::tempdir().expect("tempdir");
    let (wf1, run1) = workflow_with_a_run(&server, dir.path(), "first");
    let (wf2, run2) = workflow_with_a_run(&server, dir.path(), "second");

    // The whole journal, with the bootstrap (admin) key.
    let all = dir.path().join("all.duroarch");
    let summary = export_json(&[
        "--url",
        &server.url,
        "--api-key",
        BOOTSTRAP,
        "--out",
        path(&all),
    ]);
    assert_eq!(summary["scope"], serde_json::json!({"kind": "all"}));
    assert!(!dir.path().join("all.duroarch.tmp").exists());
    let records = summary["records"].as_u64().expect("records");
    let streams = summary["streams"].as_u64().expect("streams");
    assert_eq!(verified_counts(&all), (records, streams));
    assert_eq!(summary["firstPosition"], 1, "{summary}");
    assert_eq!(summary["lastPosition"], records, "{summary}");
    let names = streams_in(&all);
    for stream in [
        format!("workflow-{wf1}"),
        format!("workflow-{wf2}"),
        format!("run-{run1}"),
        format!("run-{run2}"),
    ] {
        assert!(names.contains(&stream), "{stream} in {names:?}");
    }

    // One run: its stream and its workflow's, nothing else.
    let one = dir.path().join("run.duroarch");
    let summary = export_json(&[
        "--url",
        &server.url,
        "--api-key",
        BOOTSTRAP,
        "--out",
        path(&one),
        "--run",
        &run1,
    ]);
    assert_eq!(
        summary["scope"],
        serde_json::json!({"kind": "run", "id": run1})
    );
    assert_eq!(
        streams_in(&one),
        [format!("run-{run1}"), format!("workflow-{wf1}")]
    );
    let (run_records, run_streams) = verified_counts(&one);
    assert_eq!(summary["records"], run_records);
    assert_eq!(run_streams, 2);

    // An unknown run: the server's 404 is reported and no file is left.
    let missing = dir.path().join("missing.duroarch");
    let output = duro(&[
        "journal",
        "export",
        "--url",
        &server.url,
        "--api-key",
        BOOTSTRAP,
        "--out",
        path(&missing),
        "--run",
        "run_nope",
    ]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("NOT_FOUND"),
        "{}",
        text(&output)
    );
    assert!(!missing.exists() && !dir.path().join("missing.duroarch.tmp").exists());

    // A key without `admin` is refused: exit 1, FORBIDDEN, no file.
    let reader = client_json(
        &server,
        BOOTSTRAP,
        &[
            "keys",
            "create",
            "--name",
            "reader",
            "--scopes",
            "runs:read",
        ],
    );
    let reader = reader["key"].as_str().expect("secret");
    let refused = dir.path().join("refused.duroarch");
    let output = duro(&[
        "journal",
        "export",
        "--url",
        &server.url,
        "--api-key",
        reader,
        "--out",
        path(&refused),
        "--json",
    ]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("FORBIDDEN"),
        "{}",
        text(&output)
    );
    assert!(output.stdout.is_empty(), "{}", text(&output));
    assert!(!refused.exists() && !dir.path().join("refused.duroarch.tmp").exists());
}
