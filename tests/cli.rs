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
        let stream = StreamName::new(format!("run-{}", i % 3)).expect("stream");
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
