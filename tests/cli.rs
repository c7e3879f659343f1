//! The `duro` binary as users run it: `journal verify` and `serve`.

mod support;

use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use journal::record::decode_record;
use journal::{
    EmbeddedConfig, EmbeddedStore, EventStore, EventType, ExpectedVersion, NewEvent, StreamName,
};
use support::Serve;

fn duro(args: &[&str], data_dir: &Path) -> Output {
    support::duro_output(args, Some(data_dir), &[])
}

async fn write_events(data_dir: &Path, count: usize) {
    let store = EmbeddedStore::open(EmbeddedConfig::new(data_dir)).expect("open");
    for i in 0..count {
        let stream = StreamName::new(format!("demo-{}", i % 3)).expect("stream");
        store
            .append(
                &stream,
                ExpectedVersion::Any,
                vec![NewEvent::new(EventType(1), format!("event {i}"))],
            )
            .await
            .expect("append");
    }
}

#[tokio::test]
async fn verify_summarises_a_sound_journal() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_events(dir.path(), 10).await;
    let output = duro(&["journal", "verify"], dir.path());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("3 streams, 10 events"), "{stdout}");
    assert!(stdout.contains("last position 10"), "{stdout}");
}

#[tokio::test]
async fn verify_names_the_position_of_a_flipped_byte_and_exits_non_zero() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_events(dir.path(), 10).await;
    let segment = dir.path().join("journal").join("0000000001.seg");
    let bytes = std::fs::read(&segment).expect("read segment");
    // Walk to the fourth record and damage a byte of its body.
    let mut offset = 0;
    for _ in 0..3 {
        offset += decode_record(&bytes[offset..]).expect("record").1;
    }
    let file = OpenOptions::new().write(true).open(&segment).expect("open");
    file.write_all_at(&[bytes[offset + 20] ^ 0xFF], (offset + 20) as u64)
        .expect("flip");
    drop(file);

    let output = duro(&["journal", "verify"], dir.path());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "problem at position 4 (segment 1, offset {offset})"
        )),
        "{stdout}"
    );
    assert!(stdout.contains("checksum mismatch"), "{stdout}");
}

/// A data directory holding two paused runs, the first with an event after its pause that no
/// run event decodes from; returns (corrupt run, sound run, the bad event's seq).
async fn journal_with_a_corrupt_run(data_dir: &Path) -> (String, String, u64) {
    use engine::executor::{Runs, StartRun, SystemClock};
    let store =
        std::sync::Arc::new(EmbeddedStore::open(EmbeddedConfig::new(data_dir)).expect("open"));
    let runs = Runs::new(store.clone(), std::sync::Arc::new(SystemClock));
    let spec = serde_json::from_value(serde_json::json!({
        "name": "approval", "steps": [{"id": "approve", "type": "wait"}]
    }))
    .expect("spec");
    runs.workflows()
        .create("wf_a", &spec)
        .await
        .expect("create");
    runs.workflows()
        .set_status("wf_a", engine::definition::WorkflowStatus::Active)
        .await
        .expect("activate");
    let mut ids = Vec::new();
    for _ in 0..2 {
        let started = runs
            .start(StartRun {
                workflow_id: "wf_a".into(),
                input: Some(serde_json::json!({})),
                ..StartRun::default()
            })
            .await
            .expect("start");
        let mut status = engine::run::RunStatus::Pending;
        for _ in 0..1000 {
            status = runs.get(&started.run_id).await.expect("get").status;
            if status == engine::run::RunStatus::Paused {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(status, engine::run::RunStatus::Paused);
        ids.push(started.run_id);
    }
    let stream = StreamName::new(format!("run-{}", ids[0])).expect("stream");
    let appended = store
        .append(
            &stream,
            ExpectedVersion::Any,
            vec![NewEvent::new(EventType(102), vec![0xff; 12])],
        )
        .await
        .expect("append");
    drop(runs);
    drop(store);
    let sound = ids.pop().expect("sound");
    let corrupt = ids.pop().expect("corrupt");
    (corrupt, sound, appended.first_seq.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_run_is_named_by_verify_and_quarantined_by_serve() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (corrupt, sound, seq) = journal_with_a_corrupt_run(dir.path()).await;

    let output = duro(&["journal", "verify"], dir.path());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "run {corrupt} is quarantined (corrupt): event {seq} of its journal cannot be decoded"
        )),
        "{stdout}"
    );
    assert!(stdout.contains("1 problems found"), "{stdout}");

    // The server starts beside it: the corrupt run is shown as such, the other resumes.
    let key = "quarantine-test-key-0123456789";
    let server = Serve::new()
        .data_dir(dir.path())
        .bootstrap_key(key)
        .env_remove("DURO_CONFIG")
        .start();
    let client = reqwest::Client::new();
    let get = |id: &str| {
        client
            .get(format!("{}/api/v1/runs/{id}", server.url))
            .header("x-api-key", key)
            .send()
    };
    let shown: serde_json::Value = get(&corrupt)
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(shown["data"]["status"], "corrupt", "{shown}");
    assert_eq!(shown["data"]["error"]["code"], "CORRUPT_EVENT", "{shown}");
    let resumed = client
        .post(format!("{}/api/v1/runs/{sound}/resume?wait=10", server.url))
        .header("x-api-key", key)
        .json(&serde_json::json!({"payload": {"ok": true}}))
        .send()
        .await
        .expect("resume");
    assert_eq!(resumed.status().as_u16(), 200);
    let mut status = serde_json::Value::Null;
    for _ in 0..1000 {
        let run: serde_json::Value = get(&sound).await.expect("get").json().await.expect("json");
        status = run["data"]["status"].clone();
        if status == "completed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(status, "completed");
}

#[test]
fn verify_of_a_directory_without_a_journal_says_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = duro(&["journal", "verify"], dir.path());
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no journal directory"), "{stderr}");
}

/// Sends one HTTP/1.1 GET and returns (status code, body).
fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split(' ').nth(1)?.parse().ok()?;
    let body = response.split("\r\n\r\n").nth(1)?.to_string();
    Some((status, body))
}

#[test]
fn serve_answers_health_checks_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut server = Serve::new().data_dir(dir.path()).spawn();
    let port = server.port;
    let deadline = Instant::now() + Duration::from_secs(60);
    let health = loop {
        if let Some(answer) = http_get(port, "/healthz") {
            break answer;
        }
        assert!(
            Instant::now() < deadline,
            "duro serve did not answer within 60 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(health.0, 200);
    assert!(health.1.contains("\"success\":true"), "{}", health.1);
    let ready = http_get(port, "/readyz").expect("readyz");
    assert_eq!(ready.0, 200, "{}", ready.1);
    let missing = http_get(port, "/api/v1/nope").expect("404");
    assert_eq!(missing.0, 404);
    assert!(missing.1.contains("NOT_FOUND"), "{}", missing.1);

    let pid = server.child.id().to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    let status = server.child.wait().expect("wait");
    assert_eq!(status.code(), Some(0), "SIGTERM exits 0");
    // The data directory is free again: the journal opens.
    EmbeddedStore::open(EmbeddedConfig::new(dir.path())).expect("reopen after shutdown");
}
