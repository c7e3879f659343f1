//! Crash recovery with a real process: `duro debug append-loop` appends checkable batches and
//! prints each acknowledged append; the test SIGKILLs it at random moments (once it has
//! printed a random number of lines: from none, which kills it while it opens the store, to
//! 120), reopens the store each time, and checks that every acknowledged event is present and
//! intact and that no append is partly visible.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use journal::embedded::verify;
use journal::{EmbeddedConfig, EmbeddedStore, EventStore, Position, Seq, StreamName};
use rand::Rng;

const KILLS: usize = 30;
const SEGMENT_BYTES: u64 = 256 * 1024;

/// An append the child said was acknowledged.
#[derive(Clone, Debug)]
struct Ack {
    stream: String,
    first_seq: u64,
    count: u64,
    first_position: u64,
    append_id: String,
}

fn parse_ack(line: &str) -> Option<Ack> {
    let mut words = line.strip_prefix("ack ")?.split(' ');
    Some(Ack {
        stream: words.next()?.to_string(),
        first_seq: words.next()?.parse().ok()?,
        count: words.next()?.parse().ok()?,
        first_position: words.next()?.parse().ok()?,
        append_id: words.next()?.to_string(),
    })
}

/// Runs the child until it is killed once it has printed `lines_before_kill` lines (`ready`,
/// then acks); returns the acks it printed in full.
fn run_and_kill(data_dir: &Path, lines_before_kill: usize) -> Vec<Ack> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_duro"))
        .args(["debug", "append-loop", "--writers", "4", "--segment-bytes"])
        .arg(SEGMENT_BYTES.to_string())
        .arg("--data-dir")
        .arg(data_dir)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start duro debug append-loop");
    let stdout = child.stdout.take().expect("stdout");
    let lines = Arc::new(Mutex::new(Vec::new()));
    let reader = {
        let lines = lines.clone();
        std::thread::spawn(move || {
            // `lines()` yields a final unterminated line too; a line cut by the kill fails to
            // parse (or parses with a cut id, which the checks below would catch as missing).
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap_or(0) > 0 {
                if line.ends_with('\n') {
                    lines
                        .lock()
                        .expect("lines")
                        .push(line.trim_end().to_string());
                }
                line.clear();
            }
        })
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while lines.lock().expect("lines").len() < lines_before_kill {
        assert!(
            child.try_wait().expect("child").is_none(),
            "the child exited early"
        );
        assert!(
            Instant::now() < deadline,
            "the child printed fewer than {lines_before_kill} lines in 60 s"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    child.kill().expect("SIGKILL the child");
    child.wait().expect("reap the child");
    reader.join().expect("reader thread");
    let lines = lines.lock().expect("lines");
    lines.iter().filter_map(|l| parse_ack(l)).collect()
}

/// Every acknowledged append is present, intact, at its position; no append is partial.
async fn check(data_dir: &Path, acks: &[Ack]) {
    let mut config = EmbeddedConfig::new(data_dir);
    config.segment_bytes = SEGMENT_BYTES;
    let store = EmbeddedStore::open(config).expect("reopen after SIGKILL");
    for ack in acks {
        let stream = StreamName::new(ack.stream.as_str()).expect("stream");
        let events = store
            .read_stream(&stream, Seq(ack.first_seq), ack.count as usize)
            .await
            .expect("read acknowledged events");
        assert_eq!(
            events.len() as u64,
            ack.count,
            "acknowledged append {ack:?} is whole"
        );
        for (i, event) in events.iter().enumerate() {
            assert_eq!(event.position, Position(ack.first_position + i as u64));
            let data = String::from_utf8(event.data.clone()).expect("utf8");
            let prefix = format!("{}:{i}:{}:", ack.append_id, ack.count);
            assert!(
                data.starts_with(&prefix),
                "event {i} of {ack:?} holds {data:?}"
            );
        }
    }
    // Group everything in the journal by append: each append has all its events or none.
    let mut appends: HashMap<String, (u64, u64)> = HashMap::new();
    let mut from = Position::START;
    loop {
        let batch = store.read_all(from, 5000).await.expect("read all");
        let Some(last) = batch.last() else { break };
        from = last.position.next();
        for event in &batch {
            let data = String::from_utf8(event.data.clone()).expect("utf8");
            let mut parts = data.split(':');
            let id = parts.next().expect("id").to_string();
            let _index = parts.next();
            let count: u64 = parts.next().and_then(|c| c.parse().ok()).expect("count");
            let entry = appends.entry(id).or_insert((0, count));
            entry.0 += 1;
        }
    }
    for (id, (seen, count)) in &appends {
        assert_eq!(seen, count, "append {id} is partly visible");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_appends_survive_sigkill() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut rng = rand::rng();
    let mut acks: Vec<Ack> = Vec::new();
    let mut rounds_with_acks = 0;
    for _ in 0..KILLS {
        let new = run_and_kill(dir.path(), rng.random_range(0..=120));
        if !new.is_empty() {
            rounds_with_acks += 1;
        }
        acks.extend(new);
        check(dir.path(), &acks).await;
    }
    assert!(
        rounds_with_acks >= KILLS / 2,
        "the child made progress in most rounds"
    );
    assert!(acks.len() > 100, "only {} appends acknowledged", acks.len());
    let report = verify(dir.path()).expect("verify");
    assert!(report.is_ok(), "{:?}", report.problems);
    let acked_events: u64 = acks.iter().map(|a| a.count).sum();
    assert!(report.events >= acked_events);
}
