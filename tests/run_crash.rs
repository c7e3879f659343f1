//! Runs survive kill -9: a real `duro debug run-load` process starts 200 runs of a 5-step
//! workflow (HTTP calls to a counter server run by this test, a 1 s delay, a call that fails
//! twice per run) and is SIGKILLed at random moments at least 10 times (after a random
//! amount of progress: lines it printed and requests the counter server saw), then restarted
//! until every run has ended. Then every run is completed, every step has exactly one
//! StepCompleted in its journal, and every request the counter server saw for a (run, step)
//! carried that pair in its Idempotency-Key.

mod support;

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use journal::{EmbeddedConfig, EmbeddedStore, EventStore, Seq, StreamName};
use rand::Rng;
use support::counter::{counter_server, Seen};

const RUNS: usize = 200;
const KILLS: usize = 10;

fn spawn_child(data_dir: &Path, counter_url: &str) -> (Child, Arc<Mutex<Vec<String>>>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_duro"))
        .args([
            "debug",
            "run-load",
            "--runs",
            &RUNS.to_string(),
            "--counter-url",
            counter_url,
            "--data-dir",
        ])
        .arg(data_dir)
        .env("RUST_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start duro debug run-load");
    let stdout = child.stdout.take().expect("stdout");
    let lines = Arc::new(Mutex::new(Vec::new()));
    {
        let lines = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                lines.lock().expect("lines").push(line);
            }
        });
    }
    (child, lines)
}

/// Progress of the whole load: a line per run started and `all done` (per child), and a
/// request per /count call and per /flaky attempt (at least three a run).
const PROGRESS_PER_CHILD: usize = RUNS + 1;
const REQUESTS_AT_LEAST: usize = RUNS * 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_finish_exactly_once_across_sigkills() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (url, seen) = counter_server().await;
    let mut rng = rand::rng();
    for _ in 0..KILLS {
        let (mut child, lines) = spawn_child(dir.path(), &url);
        // Kill after a random amount of the progress still to come: while runs start, while
        // they call, sleep or retry, or as they end.
        let requests_before = seen.lock().expect("lock").len();
        let left = PROGRESS_PER_CHILD + REQUESTS_AT_LEAST.saturating_sub(requests_before);
        let target = rng.random_range(1..=left);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let printed = lines.lock().expect("lines").len();
            let requests = seen.lock().expect("lock").len() - requests_before;
            if printed + requests >= target || child.try_wait().expect("child").is_some() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "no progress to {target} within 60 s ({printed} lines, {requests} requests)"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
    }
    // Restart once more and let every run finish.
    let (mut child, lines) = spawn_child(dir.path(), &url);
    let deadline = Instant::now() + Duration::from_secs(180);
    while !lines.lock().expect("lines").iter().any(|l| l == "all done") {
        assert!(
            Instant::now() < deadline,
            "runs did not all end within 180 s"
        );
        assert!(
            child.try_wait().expect("child").is_none(),
            "the child exited early"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    child.wait().expect("reap");
    let started: HashMap<String, String> = lines
        .lock()
        .expect("lines")
        .iter()
        .filter_map(|l| {
            let mut words = l.strip_prefix("started ")?.split(' ');
            Some((words.next()?.to_string(), words.next()?.to_string()))
        })
        .collect();
    assert_eq!(started.len(), RUNS);
    check_journal(dir.path(), &started, &seen).await;
}

async fn check_journal(dir: &Path, started: &HashMap<String, String>, seen: &Seen) {
    let mut config = EmbeddedConfig::new(dir);
    config.segment_bytes = 1024 * 1024;
    let store = EmbeddedStore::open(config).expect("open");
    let run_streams = store
        .list_streams("run-", None, 10_000)
        .await
        .expect("list");
    assert_eq!(run_streams.len(), RUNS, "one run per idempotency key");
    let run_ids: HashSet<&str> = started.values().map(String::as_str).collect();
    for run_id in &run_ids {
        let stream = StreamName::new(format!("run-{run_id}")).expect("stream");
        let events = store
            .read_stream(&stream, Seq(1), 1000)
            .await
            .expect("read");
        let (completions, completed) = support::run_events::completions(&events);
        assert_eq!(completed, 1, "run {run_id} completed once");
        for step in ["prepare", "call-a", "nap", "flaky", "finish"] {
            assert_eq!(
                completions.get(step),
                Some(&1),
                "run {run_id} step {step}: {completions:?}"
            );
        }
    }
    let seen = seen.lock().expect("lock");
    assert!(
        seen.len() >= RUNS * 4,
        "every run called /count once and /flaky three times at least"
    );
    for (path, key) in seen.iter() {
        let mut parts = key.split(':');
        let (run, step, attempt) = (parts.next(), parts.next(), parts.next());
        assert!(
            run.is_some_and(|r| run_ids.contains(r)),
            "{path} saw key {key:?}"
        );
        let expected_step = if path == "/count" { "call-a" } else { "flaky" };
        assert_eq!(step, Some(expected_step), "{path} saw key {key:?}");
        assert!(
            attempt.is_some_and(|a| a.parse::<u32>().is_ok()),
            "{path} saw key {key:?}"
        );
    }
}
