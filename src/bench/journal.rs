//! `duro bench journal`: durable appends of 256-byte events with N concurrent writers (group
//! commit), and in the same run the raw write+fdatasync latency of a preallocated file in the
//! same directory, the floor any durable append pays.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use journal::{
    EmbeddedConfig, EmbeddedStore, EventStore, EventType, ExpectedVersion, NewEvent, StreamName,
};
use serde::Serialize;

use super::{percentile, round2};

const EVENT_DATA_BYTES: usize = 256;
const RAW_PROBE_FILE_BYTES: u64 = 64 * 1024 * 1024;

#[derive(Args)]
pub struct JournalBenchArgs {
    /// Directory for the benchmark's journal (created if missing).
    #[arg(long)]
    data_dir: PathBuf,
    /// Concurrent writers, each appending one event at a time to its own stream.
    #[arg(long, default_value_t = 64)]
    writers: usize,
    /// How long the appends run.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Print one JSON line instead of text.
    #[arg(long)]
    json: bool,
}

/// The figures, under the names scripts read (`--json`).
#[derive(Serialize)]
struct JournalBenchResult {
    writers: usize,
    events: u64,
    seconds: f64,
    events_per_sec: f64,
    p50_us: u64,
    p99_us: u64,
    raw_fdatasync_p50_us: u64,
    raw_fdatasync_per_sec: f64,
}

pub fn run(args: JournalBenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.writers >= 1, "--writers must be at least 1");
    anyhow::ensure!(args.seconds > 0.0, "--seconds must be positive");
    fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating {}", args.data_dir.display()))?;
    let probe_seconds = (args.seconds / 4.0).clamp(1.0, 5.0);
    let (raw_p50_us, raw_per_sec) = raw_fdatasync(&args.data_dir, probe_seconds)?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let (events, elapsed, mut latencies) = runtime.block_on(appends(&args))?;
    latencies.sort_unstable();
    let result = JournalBenchResult {
        writers: args.writers,
        events,
        seconds: round2(elapsed),
        events_per_sec: round2(events as f64 / elapsed),
        p50_us: percentile(&latencies, 0.50),
        p99_us: percentile(&latencies, 0.99),
        raw_fdatasync_p50_us: raw_p50_us,
        raw_fdatasync_per_sec: round2(raw_per_sec),
    };
    if args.json {
        println!("{}", serde_json::to_string(&result)?);
    } else {
        println!(
            "journal bench: {} writers, {} s, {} events of {EVENT_DATA_BYTES} bytes",
            result.writers, result.seconds, result.events
        );
        println!(
            "  durable appends: {:.0} events/s, p50 {} us, p99 {} us",
            result.events_per_sec, result.p50_us, result.p99_us
        );
        println!(
            "  raw write+fdatasync (preallocated file): p50 {} us, {:.0} per second",
            result.raw_fdatasync_p50_us, result.raw_fdatasync_per_sec
        );
    }
    Ok(())
}

/// Runs the writers for the configured time; returns events, elapsed seconds and each
/// append's latency in microseconds.
async fn appends(args: &JournalBenchArgs) -> anyhow::Result<(u64, f64, Vec<u64>)> {
    let config = EmbeddedConfig::new(&args.data_dir);
    let store = tokio::task::spawn_blocking(move || EmbeddedStore::open(config))
        .await?
        .context("opening the benchmark journal")?;
    let store = Arc::new(store);
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(args.seconds);
    let mut tasks = Vec::with_capacity(args.writers);
    for writer in 0..args.writers {
        let store = store.clone();
        let stream = StreamName::new(format!("bench-{writer}"))?;
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let event = NewEvent::new(EventType(1), vec![b'x'; EVENT_DATA_BYTES]);
                let begun = Instant::now();
                store
                    .append(&stream, ExpectedVersion::Any, vec![event])
                    .await?;
                latencies.push(begun.elapsed().as_micros() as u64);
            }
            anyhow::Ok(latencies)
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    Ok((latencies.len() as u64, elapsed, latencies))
}

/// Writes record-sized chunks one after another into a zero-filled, synced file, each
/// followed by fdatasync, for `seconds`. Returns (p50 in microseconds, syncs per second).
fn raw_fdatasync(dir: &Path, seconds: f64) -> anyhow::Result<(u64, f64)> {
    let path = dir.join("raw-fdatasync.probe");
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(&path)
        .with_context(|| format!("creating {}", path.display()))?;
    let zeros = vec![0u8; 1024 * 1024];
    for _ in 0..RAW_PROBE_FILE_BYTES / zeros.len() as u64 {
        file.write_all(&zeros)?;
    }
    file.sync_all()?;
    // The size of one encoded 256-byte event record in the journal.
    let chunk = vec![b'r'; EVENT_DATA_BYTES + 48];
    let mut latencies = Vec::new();
    let mut offset = 0u64;
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(seconds);
    while Instant::now() < deadline && offset + (chunk.len() as u64) < RAW_PROBE_FILE_BYTES {
        let begun = Instant::now();
        file.write_all_at(&chunk, offset)?;
        file.sync_data()?;
        latencies.push(begun.elapsed().as_micros() as u64);
        offset += chunk.len() as u64;
    }
    let elapsed = started.elapsed().as_secs_f64();
    drop(file);
    fs::remove_file(&path)?;
    latencies.sort_unstable();
    Ok((
        percentile(&latencies, 0.5),
        latencies.len() as f64 / elapsed,
    ))
}
