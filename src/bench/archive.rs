//! `duro bench archive`: fills a journal with N 256-byte events over many streams (concurrent
//! appends of 100 events), then times `journal export`, `verify --in` and `import` of it and
//! prints events/s and MB/s for each (figures for docs/benchmarks.md; not run in CI).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use journal::archive::{verify_file, ArchiveScope};
use journal::{
    EmbeddedConfig, EmbeddedStore, EventStore, EventType, ExpectedVersion, NewEvent, StreamName,
};
use serde::Serialize;

use super::round2;

const EVENT_DATA_BYTES: usize = 256;
const EVENTS_PER_APPEND: u64 = 100;
const WRITERS: u64 = 32;
const STREAMS_PER_WRITER: u64 = 32;

#[derive(Args)]
pub struct ArchiveBenchArgs {
    /// Events in the journal.
    #[arg(long, default_value_t = 1_000_000)]
    events: u64,
    /// Directory for the benchmark (created; its `source`, `restored` and the archive are
    /// replaced).
    #[arg(long)]
    data_dir: PathBuf,
    /// Print one JSON line instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Phase {
    seconds: f64,
    events_per_sec: f64,
    mb_per_sec: f64,
}

#[derive(Serialize)]
struct ArchiveBenchResult {
    events: u64,
    archive_bytes: u64,
    fill: Phase,
    export: Phase,
    verify: Phase,
    import: Phase,
}

fn phase(events: u64, bytes: u64, started: Instant) -> Phase {
    let seconds = started.elapsed().as_secs_f64().max(1e-9);
    Phase {
        seconds: round2(seconds),
        events_per_sec: (events as f64 / seconds).round(),
        mb_per_sec: round2(bytes as f64 / seconds / 1e6),
    }
}

pub fn run(args: ArchiveBenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.events >= 1, "--events must be at least 1");
    let source = args.data_dir.join("source");
    let restored = args.data_dir.join("restored");
    let file = args.data_dir.join("journal.duroarch");
    for dir in [&source, &restored] {
        if dir.exists() {
            std::fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))?;
        }
    }
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating {}", args.data_dir.display()))?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let result = runtime.block_on(async {
        let started = Instant::now();
        let store = EmbeddedStore::open(EmbeddedConfig::new(&source)).context("opening")?;
        let store: Arc<dyn EventStore> = Arc::new(store);
        fill(&store, args.events).await?;
        let fill = phase(args.events, args.events * EVENT_DATA_BYTES as u64, started);

        let started = Instant::now();
        let summary = crate::journal_cmd::export_store(
            store.clone(),
            &ArchiveScope::All,
            "bench".into(),
            &file,
        )
        .await?;
        let export = phase(summary.records, summary.bytes, started);
        drop(store);

        let started = Instant::now();
        let verified = tokio::task::spawn_blocking({
            let file = file.clone();
            move || verify_file(&file, |_, _| {})
        })
        .await
        .context("verifying")??;
        let verify = phase(verified.records, verified.bytes, started);

        let started = Instant::now();
        let target = EmbeddedStore::open(EmbeddedConfig::new(&restored)).context("opening")?;
        let target: Arc<dyn EventStore> = Arc::new(target);
        let imported = crate::journal_cmd::import_archive(&target, &file, summary.records).await?;
        anyhow::ensure!(imported == args.events, "imported {imported} events");
        let import = phase(imported, summary.bytes, started);
        anyhow::Ok(ArchiveBenchResult {
            events: args.events,
            archive_bytes: summary.bytes,
            fill,
            export,
            verify,
            import,
        })
    })?;
    if args.json {
        println!("{}", serde_json::to_string(&result)?);
    } else {
        println!(
            "{} events of {EVENT_DATA_BYTES} bytes, archive {} bytes",
            result.events, result.archive_bytes
        );
        for (name, p) in [
            ("fill", &result.fill),
            ("export", &result.export),
            ("verify", &result.verify),
            ("import", &result.import),
        ] {
            println!(
                "{name:>7}: {:>8.2} s, {:>10.0} events/s, {:>8.2} MB/s",
                p.seconds, p.events_per_sec, p.mb_per_sec
            );
        }
    }
    Ok(())
}

/// `WRITERS` tasks append `EVENTS_PER_APPEND` events at a time, round robin over their own
/// streams, until `events` are written.
async fn fill(store: &Arc<dyn EventStore>, events: u64) -> anyhow::Result<()> {
    let appends = events.div_ceil(EVENTS_PER_APPEND);
    let mut tasks = Vec::new();
    for writer in 0..WRITERS {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut append = writer;
            while append < appends {
                let count = EVENTS_PER_APPEND.min(events - append * EVENTS_PER_APPEND);
                let stream = StreamName::new(format!(
                    "bench-{writer}-{}",
                    (append / WRITERS) % STREAMS_PER_WRITER
                ))?;
                let batch = (0..count)
                    .map(|_| NewEvent::new(EventType(1), vec![0x5a; EVENT_DATA_BYTES]))
                    .collect();
                store.append(&stream, ExpectedVersion::Any, batch).await?;
                append += WRITERS;
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await.context("a writer task")??;
    }
    Ok(())
}
