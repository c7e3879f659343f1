//! `duro debug append-loop`: the child process of the crash tests. It appends batches whose
//! contents say what they should be, and prints a line for every append acknowledged, so a
//! test can kill it at any moment and check the journal against what was acknowledged.
//!
//! Output, one line each, flushed as they happen:
//! `ready <committed position>` once the store is open, then
//! `ack <stream> <first seq> <count> <first position> <append id>` per acknowledged append.
//! Event `i` of an append carries the data `<append id>:<i>:<count>:<padding>`.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use journal::{
    EmbeddedConfig, EmbeddedStore, EventStore, EventType, ExpectedVersion, NewEvent, StreamName,
};

#[derive(Args)]
pub struct AppendLoopArgs {
    #[arg(long)]
    data_dir: PathBuf,
    /// Concurrent writers; writer w appends to streams crash-w-0 .. crash-w-2.
    #[arg(long, default_value_t = 4)]
    writers: usize,
    /// Segment size, small to exercise roll-over under crashes.
    #[arg(long, default_value_t = 1024 * 1024)]
    segment_bytes: u64,
}

pub fn append_loop(args: AppendLoopArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(run(args))
}

async fn run(args: AppendLoopArgs) -> anyhow::Result<()> {
    let mut config = EmbeddedConfig::new(&args.data_dir);
    config.segment_bytes = args.segment_bytes;
    let store = Arc::new(EmbeddedStore::open(config).context("opening the journal")?);
    say(&format!("ready {}", store.committed().0));
    let pid = std::process::id();
    let mut tasks = Vec::new();
    for writer in 0..args.writers {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for counter in 0u64.. {
                let stream = StreamName::new(format!("crash-{writer}-{}", counter % 3))?;
                // Only this writer appends to its streams, so the version it reads is exact.
                let version = store.stream_version(&stream).await?;
                let count = 1 + (counter % 4) as usize;
                let append_id = format!("{pid}.{writer}.{counter}");
                let events = (0..count)
                    .map(|i| {
                        let padding = "p".repeat((counter as usize * 37 + i * 11) % 300);
                        let data = format!("{append_id}:{i}:{count}:{padding}");
                        NewEvent::new(EventType(1), data.into_bytes())
                    })
                    .collect();
                let result = store
                    .append(&stream, ExpectedVersion::Exact(version), events)
                    .await?;
                say(&format!(
                    "ack {stream} {} {count} {} {append_id}",
                    result.first_seq.0, result.first_position.0
                ));
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(())
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}
