//! `duro bench rebuild`: how long opening the embedded store takes with a sound index (redb's
//! integrity check of every page included) and with the index deleted (rebuilt from the log),
//! on a journal of N events, and the peak memory of each.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use journal::{
    EmbeddedConfig, EmbeddedStore, EventStore, EventType, ExpectedVersion, NewEvent, StreamName,
};
use serde::Serialize;

use super::round2;

const EVENT_DATA_BYTES: usize = 256;
const WRITERS: usize = 64;

#[derive(Args)]
pub struct RebuildBenchArgs {
    /// Directory for the benchmark's journal (created if missing; reused if it already holds
    /// at least --events events).
    #[arg(long)]
    data_dir: PathBuf,
    /// Events in the journal.
    #[arg(long, default_value_t = 1_000_000)]
    events: u64,
    /// Streams the events are spread over (a workflow engine's runs).
    #[arg(long, default_value_t = 50_000)]
    streams: u64,
    /// Print one JSON line instead of text.
    #[arg(long)]
    json: bool,
}

/// The figures, under the names scripts read (`--json`).
#[derive(Serialize)]
struct RebuildBenchResult {
    events: u64,
    streams: u64,
    open_ms: f64,
    open_peak_rss_mib: f64,
    rebuild_ms: f64,
    rebuild_events_per_sec: f64,
    rebuild_peak_rss_mib: f64,
    index_bytes: u64,
}

pub fn run(args: RebuildBenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.events >= 1, "--events must be at least 1");
    anyhow::ensure!(args.streams >= 1, "--streams must be at least 1");
    let config = EmbeddedConfig::new(&args.data_dir);
    let written = {
        let store = EmbeddedStore::open(config.clone())
            .with_context(|| format!("opening {}", args.data_dir.display()))?;
        let have = store.committed().0;
        if have < args.events {
            fill(store, args.events - have, args.streams)?;
        }
        have.max(args.events)
    };
    let (open_ms, open_peak_rss_mib) = timed_open(&config)?;
    std::fs::remove_dir_all(config.index_dir())
        .with_context(|| format!("deleting {}", config.index_dir().display()))?;
    let (rebuild_ms, rebuild_peak_rss_mib) = timed_open(&config)?;
    let result = RebuildBenchResult {
        events: written,
        streams: args.streams,
        open_ms: round2(open_ms),
        open_peak_rss_mib: round2(open_peak_rss_mib),
        rebuild_ms: round2(rebuild_ms),
        rebuild_events_per_sec: round2(written as f64 / (rebuild_ms / 1000.0)),
        rebuild_peak_rss_mib: round2(rebuild_peak_rss_mib),
        index_bytes: dir_bytes(&config.index_dir()),
    };
    if args.json {
        println!("{}", serde_json::to_string(&result)?);
    } else {
        println!(
            "{} events over {} streams: open with a sound index {} ms (peak {} MiB); \
             rebuild of a deleted index {} ms, {} events/s (peak {} MiB); index {} bytes",
            result.events,
            result.streams,
            result.open_ms,
            result.open_peak_rss_mib,
            result.rebuild_ms,
            result.rebuild_events_per_sec,
            result.rebuild_peak_rss_mib,
            result.index_bytes
        );
    }
    Ok(())
}

/// Appends `count` events of `EVENT_DATA_BYTES` over `streams` streams, 1-4 per append, from
/// `WRITERS` concurrent writers.
fn fill(store: EmbeddedStore, count: u64, streams: u64) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let store = Arc::new(store);
    runtime.block_on(async {
        let mut tasks = Vec::new();
        for writer in 0..WRITERS as u64 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let mut written = 0u64;
                let share = count / WRITERS as u64 + u64::from(writer < count % WRITERS as u64);
                let mut turn = writer;
                while written < share {
                    let stream = StreamName::new(format!("run-bench-{:08}", turn % streams))
                        .expect("a valid stream name");
                    let n = (1 + turn % 4).min(share - written);
                    let events = (0..n)
                        .map(|_| NewEvent::new(EventType(1), vec![b'x'; EVENT_DATA_BYTES]))
                        .collect();
                    store.append(&stream, ExpectedVersion::Any, events).await?;
                    written += n;
                    turn += WRITERS as u64;
                }
                Ok::<_, journal::StoreError>(())
            }));
        }
        for task in tasks {
            task.await.context("a writer panicked")??;
        }
        anyhow::Ok(())
    })
}

/// Opens the store and closes it: (milliseconds to open, peak resident MiB while open).
fn timed_open(config: &EmbeddedConfig) -> anyhow::Result<(f64, f64)> {
    reset_peak_rss();
    let started = Instant::now();
    let store = EmbeddedStore::open(config.clone()).context("opening the store")?;
    let elapsed = started.elapsed().as_secs_f64() * 1000.0;
    let peak = peak_rss_mib().unwrap_or(0.0);
    drop(store);
    Ok((elapsed, peak))
}

/// Resets VmHWM to the current resident size (Linux: `echo 5 > /proc/self/clear_refs`).
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}
